//! The reputation guard in the real `hikyaku serve`: mail sent over SMTP to the simulator's
//! `bounce@` pushes a contract's hard-bounce rate over the pause threshold; the guard pauses it,
//! its next message gets `451 4.7.1`, `hikyaku reputation` shows it paused, and after
//! `hikyaku reputation resume` its mail is accepted again. On SQLite and on PostgreSQL (when
//! `TEST_DATABASE_URL` names a server).

mod delivery_support;

use delivery_support::{route_everything, send_each, wait_for_kind, wait_until};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_testkit::{HikyakuProcess, Sink, SmtpClient};
use serde_json::Value;
use std::time::Duration;

/// Messages before the guard may act (the test's `reputation.min_messages`).
const MIN_MESSAGES: usize = 20;

async fn try_send(node: &HikyakuProcess, to: &str) -> hikyaku_testkit::Reply {
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    c.send_mail(
        "app@example.com",
        &[to],
        "From: app@example.com\r\nSubject: after\r\n\r\nHello.\r\n",
    )
    .await
    .unwrap()
}

fn standing(node: &HikyakuProcess, customer: &str) -> Value {
    let out = node
        .cli_ok(&["reputation", "--contract", customer, "--json"])
        .unwrap();
    let json: Value = serde_json::from_str(out.trim()).unwrap();
    json["contracts"][0].clone()
}

async fn bounces_pause_a_contract_until_the_operator_resumes_it(database: Option<&str>) {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = delivery_support::start(|b| {
        route_everything(b, &sink.addr().to_string());
        b.set("reputation", "min_messages", &MIN_MESSAGES.to_string());
        b.set("reputation", "check_interval", "\"200ms\"");
        if let Some(url) = database {
            b.set("", "database_url", &format!("{url:?}"));
        }
    });
    // 18 delivered and 2 hard bounces: 10 %, above the 5 % pause rate, but only once there are
    // 20 messages. After the first 19 (1 bounce, 5.3 %), nothing happens.
    let mut first: Vec<String> = (0..18)
        .map(|i| format!("delivered+{i}@simulator.hikyaku.invalid"))
        .collect();
    first.push("bounce+1@simulator.hikyaku.invalid".to_string());
    send_each(&node, &first).await;
    wait_for_kind(&node, "bounced", 1);
    wait_for_kind(&node, "delivered", 18);
    // A few guard rounds: still under the minimum volume.
    std::thread::sleep(Duration::from_millis(800));
    let before = standing(&node, &customer);
    assert_eq!(before["messages"], 19, "{before:#}");
    assert_eq!(before["standing"], "good", "{before:#}");
    assert_eq!(
        try_send(&node, "delivered@simulator.hikyaku.invalid")
            .await
            .code,
        250
    );

    send_each(&node, &["bounce+2@simulator.hikyaku.invalid".to_string()]).await;
    wait_for_kind(&node, "bounced", 2);
    wait_until(
        "the guard to pause the contract",
        Duration::from_secs(20),
        || standing(&node, &customer)["standing"] == "paused",
    );
    let paused = standing(&node, &customer);
    assert_eq!(paused["hard_bounces"], 2, "{paused:#}");
    assert!(
        paused["paused_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("hard-bounce rate")),
        "{paused:#}"
    );
    assert!(paused["warned_at"].is_string(), "{paused:#}");

    let refused = try_send(&node, "delivered@simulator.hikyaku.invalid").await;
    assert_eq!(refused.head(), "451 4.7.1", "{refused:?}");
    assert!(refused.text().contains("reputation guard"), "{refused:?}");

    let out = node
        .cli_ok(&["reputation", "resume", &customer, "--json"])
        .unwrap();
    let resumed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(resumed["resumed"], true);
    let accepted = try_send(&node, "delivered@simulator.hikyaku.invalid").await;
    assert_eq!(accepted.code, 250, "{accepted:?}");
    // The figures start afresh: the guard does not pause it again for the old bounces.
    std::thread::sleep(Duration::from_millis(800));
    let after = standing(&node, &customer);
    assert_eq!(after["standing"], "good", "{after:#}");
    assert_eq!(after["hard_bounces"], 0, "{after:#}");
    assert!(after["resumed_at"].is_string(), "{after:#}");
    assert_eq!(
        try_send(&node, "delivered@simulator.hikyaku.invalid")
            .await
            .code,
        250
    );

    // The operator's quality data saw the same outcomes, by domain and by reply, with no
    // address in them.
    let out = node.cli_ok(&["stats", "domains", "--json"]).unwrap();
    let domains: Value = serde_json::from_str(out.trim()).unwrap();
    let simulator = &domains["domains"][0];
    assert_eq!(
        simulator["domain"], "simulator.hikyaku.invalid",
        "{domains:#}"
    );
    assert_eq!(simulator["bounced"], 2, "{domains:#}");
    let out = node
        .cli_ok(&["stats", "replies", "--since", "1d", "--json"])
        .unwrap();
    let replies: Value = serde_json::from_str(out.trim()).unwrap();
    let first = &replies["replies"][0];
    assert_eq!(first["kind"], "bounced", "{replies:#}");
    assert_eq!(first["count"], 2, "{replies:#}");
    assert!(
        first["reply"]
            .as_str()
            .is_some_and(|r| r.starts_with("550 5.1.1 simulated:") && !r.contains('@')),
        "{replies:#}"
    );
    let text = node.cli_ok(&["stats", "replies"]).unwrap();
    assert!(text.starts_with("COUNT"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounces_pause_a_contract_until_resumed_on_sqlite() {
    bounces_pause_a_contract_until_the_operator_resumes_it(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounces_pause_a_contract_until_resumed_on_postgres() {
    let Some(database) = PostgresTestDatabase::create().await else {
        return;
    };
    bounces_pause_a_contract_until_the_operator_resumes_it(Some(database.url())).await;
}
