//! The mailbox simulator in the real `hikyaku serve`: mail sent over SMTP to each simulated
//! mailbox gets the events a real recipient's would, in the send log, while every other domain
//! is routed to a scripted MX on 127.0.0.1 that must never see the simulator's recipients.
//! On SQLite and on PostgreSQL (when `TEST_DATABASE_URL` names a server).

mod delivery_support;

use delivery_support::{kinds, route_everything, send, send_each, wait_for_events, wait_for_log};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_testkit::{HikyakuProcess, Sink};
use serde_json::Value;

const DOMAIN: &str = "simulator.hikyaku.invalid";

fn at(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

fn start(sink: &Sink, database: Option<&str>) -> (HikyakuProcess, String) {
    delivery_support::start(|b| {
        route_everything(b, &sink.addr().to_string());
        if let Some(url) = database {
            b.set("", "database_url", &format!("{url:?}"));
        }
    })
}

/// Each mailbox's events after `accepted`, by the message sent to it alone.
async fn every_mailbox_gives_its_events(database: Option<&str>) {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(&sink, database);
    let mailboxes = [
        "delivered",
        "bounce",
        "bounce+abc",
        "mailboxfull",
        "complaint",
        "ooto",
        "suppressed",
        "defer",
        "someone-else",
    ];
    let recipients: Vec<String> = mailboxes.iter().map(|l| at(l)).collect();
    let ids = send_each(&node, &recipients).await;
    let by_mailbox: Vec<(&str, &String)> = mailboxes.iter().copied().zip(&ids).collect();

    for (mailbox, id) in &by_mailbox {
        let (expected, done): (&[&str], &str) = match *mailbox {
            "delivered" | "ooto" | "someone-else" => (&["accepted", "delivered"], "delivered"),
            "bounce" | "bounce+abc" | "mailboxfull" | "suppressed" => {
                (&["accepted", "bounced"], "bounced")
            }
            "complaint" => (&["accepted", "delivered", "complaint"], "complaint"),
            // Retried after 1 s, twice, then taken.
            "defer" => (
                &["accepted", "deferred", "deferred", "delivered"],
                "delivered",
            ),
            other => unreachable!("{other}"),
        };
        let events = wait_for_events(&node, id, done, 1);
        assert_eq!(kinds(&events), expected, "{mailbox}: {events:#?}");
        let last = events.last().unwrap();
        assert_eq!(last["recipient"], at(mailbox).as_str());
        if matches!(*mailbox, "bounce" | "bounce+abc") {
            assert_eq!(last["details"]["code"], 550);
            assert_eq!(last["details"]["status"], "5.1.1");
            assert_eq!(last["details"]["reason"], "userunknown");
            assert_eq!(last["details"]["hard"], true);
        }
        if *mailbox == "mailboxfull" {
            assert_eq!(last["details"]["code"], 552);
            assert_eq!(last["details"]["reason"], "mailboxfull");
            assert_eq!(last["details"]["hard"], false);
        }
        if *mailbox == "complaint" {
            assert_eq!(last["details"]["source"], "report");
            assert_eq!(last["details"]["feedback_type"], "abuse");
        }
    }

    // suppressed@ alone went on the contract's list, as a hard bounce puts an address there.
    let out = node
        .cli_ok(&["suppression", "list", &customer, "--json"])
        .unwrap();
    let listed: Value = serde_json::from_str(out.trim()).unwrap();
    let listed = listed["suppressions"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["address"], at("suppressed").as_str());
    assert_eq!(listed[0]["source"], "hard-bounce");

    // The next send to it is suppressed; bounce@ bounces again.
    let again = send(&node, &[&at("suppressed"), &at("bounce")]).await;
    let events = wait_for_log(&node, &again, "both outcomes", |events| {
        events.iter().filter(|e| e["kind"] != "accepted").count() >= 2
    });
    let outcome_of = |address: String| {
        events
            .iter()
            .find(|e| e["recipient"] == address.as_str() && e["kind"] != "accepted")
            .map(|e| e["kind"].as_str().unwrap().to_string())
    };
    assert_eq!(outcome_of(at("suppressed")).as_deref(), Some("suppressed"));
    assert_eq!(outcome_of(at("bounce")).as_deref(), Some("bounced"));

    // Never a connection: the MX that every other domain routes to saw none of it.
    assert!(sink.commands().is_empty(), "{:#?}", sink.commands());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mailbox_gives_its_events_on_sqlite() {
    every_mailbox_gives_its_events(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mailbox_gives_its_events_on_postgres() {
    let Some(database) = PostgresTestDatabase::create().await else {
        return;
    };
    every_mailbox_gives_its_events(Some(database.url())).await;
}
