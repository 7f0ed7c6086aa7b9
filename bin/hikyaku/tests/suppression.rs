//! The suppression list at work in the real `hikyaku serve`: the relay takes mail for listed
//! recipients but never sends it (they get `accepted` and `suppressed`, the others are
//! delivered to a scripted MX on 127.0.0.1), a wholly suppressed message leaves no spool file,
//! a `550 5.1.1` at RCPT puts the address on the list, and an address listed while its
//! message waits for a retry is not sent again.
//!
//! Multi-threaded runtime: the tests poll the CLI with blocking calls while the scripted MX,
//! on the test's runtime, keeps answering.

mod delivery_support;

use delivery_support::{route_everything, send, wait_for_events, wait_until};
use hikyaku_testkit::{HikyakuProcess, Sink, spool_message_files};
use serde_json::Value;
use std::time::Duration;

fn start(sink: &Sink) -> (HikyakuProcess, String) {
    delivery_support::start(|b| route_everything(b, &sink.addr().to_string()))
}

fn pairs(events: &[Value]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["recipient"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

fn pair(recipient: &str, kind: &str) -> (String, String) {
    (recipient.to_string(), kind.to_string())
}

fn listed(node: &HikyakuProcess, customer: &str) -> Vec<Value> {
    let out = node
        .cli_ok(&["suppression", "list", customer, "--json"])
        .unwrap();
    let json: Value = serde_json::from_str(out.trim()).unwrap();
    json["suppressions"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_recipients_are_accepted_but_never_sent() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(&sink);
    node.cli_ok(&[
        "suppression",
        "add",
        &customer,
        "Gone@example.jp",
        "--reason",
        "asked to stop",
    ])
    .unwrap();

    let mixed = send(&node, &["gone@EXAMPLE.jp", "user@example.jp"]).await;
    let received = sink.wait_for(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(received[0].recipients, ["user@example.jp"]);
    let events = wait_for_events(&node, &mixed, "delivered", 1);
    assert_eq!(
        pairs(&events),
        [
            pair("gone@EXAMPLE.jp", "accepted"),
            pair("gone@EXAMPLE.jp", "suppressed"),
            pair("user@example.jp", "accepted"),
            pair("user@example.jp", "delivered"),
        ],
        "{events:#?}"
    );
    let suppressed = events.iter().find(|e| e["kind"] == "suppressed").unwrap();
    assert_eq!(suppressed["details"]["note"], "asked to stop");
    assert_eq!(suppressed["details"]["code"], Value::Null);

    // Every recipient suppressed: answered 250 all the same, never sent, out of the spool.
    let all_listed = send(&node, &["gone@example.jp"]).await;
    let events = wait_for_events(&node, &all_listed, "suppressed", 1);
    assert_eq!(
        pairs(&events),
        [
            pair("gone@example.jp", "accepted"),
            pair("gone@example.jp", "suppressed")
        ]
    );
    wait_until("its spool file to go", Duration::from_secs(10), || {
        !spool_message_files(node.data_dir())
            .iter()
            .any(|f| f.contains(&all_listed))
    });
    let shown = node
        .cli_ok(&["queue", "show", &all_listed, "--json"])
        .unwrap();
    assert!(
        shown.contains("\"suppressed\"") && !shown.contains("\"queued\""),
        "{shown}"
    );

    // A message sent after it arrives; the suppressed one never did.
    let after = send(&node, &["later@example.jp"]).await;
    wait_for_events(&node, &after, "delivered", 1);
    let received = sink.received();
    assert_eq!(received.len(), 2, "{received:#?}");
    assert!(received.iter().all(|m| {
        m.recipients
            .iter()
            .all(|r| !r.eq_ignore_ascii_case("gone@example.jp"))
    }));
    assert!(
        sink.commands()
            .iter()
            .all(|c| !c.line.to_ascii_lowercase().contains("gone@example.jp")),
        "the listed address reached the MX"
    );
    // Nothing of a finished message stays in the spool.
    wait_until("an empty spool", Duration::from_secs(10), || {
        spool_message_files(node.data_dir()).is_empty()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_refusal_at_rcpt_lists_the_address() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(&sink);
    // `reject@` gets 550 5.1.1 (userunknown, hard); `552-5.2.2@` a full mailbox (not hard).
    let first = send(&node, &["Reject@example.jp", "552-5.2.2@example.jp"]).await;
    let events = wait_for_events(&node, &first, "bounced", 2);
    let bounced: Vec<&Value> = events.iter().filter(|e| e["kind"] == "bounced").collect();
    let unknown = bounced
        .iter()
        .find(|e| e["recipient"] == "Reject@example.jp")
        .unwrap();
    assert_eq!(unknown["details"]["code"], 550);
    assert_eq!(unknown["details"]["reason"], "userunknown");

    let entries = listed(&node, &customer);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let entry = &entries[0];
    assert_eq!(entry["address"], "Reject@example.jp");
    assert_eq!(entry["source"], "hard-bounce");
    assert_eq!(entry["reason"], "userunknown");
    assert_eq!(entry["message_id"], first.as_str());

    // The next message to it is suppressed; the full mailbox is tried again.
    let rcpts_before = sink
        .commands()
        .iter()
        .filter(|c| c.line.to_ascii_lowercase().contains("reject@example.jp"))
        .count();
    assert_eq!(rcpts_before, 1);
    let second = send(&node, &["reject@example.jp", "552-5.2.2@example.jp"]).await;
    let events = wait_for_events(&node, &second, "bounced", 1);
    assert_eq!(
        pairs(&events),
        [
            pair("552-5.2.2@example.jp", "accepted"),
            pair("552-5.2.2@example.jp", "bounced"),
            pair("reject@example.jp", "accepted"),
            pair("reject@example.jp", "suppressed"),
        ]
    );
    let suppressed = events.iter().find(|e| e["kind"] == "suppressed").unwrap();
    assert_eq!(suppressed["details"]["note"], "userunknown");
    assert_eq!(
        sink.commands()
            .iter()
            .filter(|c| c.line.to_ascii_lowercase().contains("reject@example.jp"))
            .count(),
        rcpts_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_listed_while_its_message_is_deferred_is_not_retried() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(&sink);
    let rcpts = || {
        sink.commands()
            .iter()
            .filter(|c| c.line.to_ascii_lowercase().contains("tempfail@example.jp"))
            .count()
    };
    // `tempfail@` is refused with 451 at every attempt, retried every second.
    let id = send(&node, &["tempfail@example.jp"]).await;
    wait_for_events(&node, &id, "deferred", 1);
    node.cli_ok(&[
        "suppression",
        "add",
        &customer,
        "TempFail@Example.jp",
        "--reason",
        "asked to stop",
    ])
    .unwrap();

    let events = wait_for_events(&node, &id, "suppressed", 1);
    let tried = rcpts();
    let suppressed = events.iter().find(|e| e["kind"] == "suppressed").unwrap();
    assert_eq!(suppressed["recipient"], "tempfail@example.jp");
    assert_eq!(suppressed["details"]["note"], "asked to stop");
    assert_eq!(suppressed["details"]["source"], "suppression-list");
    assert_eq!(suppressed["details"]["code"], Value::Null);
    wait_until("its spool file to go", Duration::from_secs(10), || {
        !spool_message_files(node.data_dir())
            .iter()
            .any(|f| f.contains(&id))
    });
    let shown: Value = serde_json::from_str(
        node.cli_ok(&["queue", "show", &id, "--json"])
            .unwrap()
            .trim(),
    )
    .unwrap();
    let recipient = &shown["message"]["recipients"][0];
    assert_eq!(recipient["state"], "suppressed", "{shown:#}");
    assert_eq!(recipient["attempts"], 1, "no attempt is counted: {shown:#}");
    assert!(
        recipient["last_reply"]
            .as_str()
            .is_some_and(|r| r.starts_with("451")),
        "the last reply stays the server's: {shown:#}"
    );
    // Several retry intervals later, the sink has seen the address no more.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        rcpts(),
        tried,
        "a retry reached the MX after the address was listed"
    );
    let events = delivery_support::log(&node, &id);
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "suppressed", "{events:#?}");
}
