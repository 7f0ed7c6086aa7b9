//! The availability monitor inside the real `hikyaku serve`: with `[monitor] interval = "1s"`
//! the node probes its own HTTP and SMTP listeners over 127.0.0.1 and records the minute as
//! answered within seconds; `hikyaku availability --json` then reads the month from the same
//! store, with no outage minute, and the node stops cleanly with its monitor.

mod cli_support;

use std::time::Duration;

use cli_support::BIN;
use hikyaku_model::Timestamp;
use hikyaku_store::{SealingKey, Store, UsageMonth};
use hikyaku_testkit::ProcessBuilder;

#[test]
fn serve_records_its_own_minutes_as_answered() {
    let node = ProcessBuilder::new(BIN)
        .set("", "node_name", "\"node-a\"")
        .set("contracts", "usage_time_zone", "\"UTC\"")
        .set("monitor", "interval", "\"1s\"")
        .set("monitor", "timeout", "\"2s\"")
        .start()
        .unwrap();
    let started = Timestamp::now();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answered = runtime.block_on(async {
        let key = SealingKey::load_or_create(&node.data_dir().join("secret.key")).unwrap();
        let url = format!("sqlite://{}", node.data_dir().join("hikyaku.db").display());
        let store = Store::connect(&url, key).await.unwrap();
        let from = started.as_millis().div_euclid(60_000) - 1;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let answered = store.answered_minutes(from, from + 10).await.unwrap();
            if !answered.is_empty() {
                store.close().await;
                return answered;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no answered minute recorded\n{}",
                node.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let now_minute = Timestamp::now().as_millis().div_euclid(60_000);
    assert!(
        answered.iter().all(|m| *m <= now_minute),
        "{answered:?} after {now_minute}"
    );

    // The CLI reads the month the monitor writes: monitoring began this minute, and every
    // minute it probed answered, so no minute of the month is an outage minute.
    let out = node
        .cli_ok(&["availability", "--json"])
        .unwrap_or_else(|e| panic!("{e}\n{}", node.log()));
    let figures: serde_json::Value = serde_json::from_str(&out).unwrap();
    let month = figures["month"].as_str().unwrap().to_string();
    assert!(
        month == UsageMonth::containing(started, 0).to_string()
            || month == UsageMonth::containing(Timestamp::now(), 0).to_string(),
        "{figures}"
    );
    assert_eq!(figures["time_zone"], "+00:00");
    assert_eq!(figures["outage_minutes"], 0, "{figures}");
    assert_eq!(figures["credit_percent"], 0, "{figures}");
    assert_eq!(figures["availability_percent"], 100.0, "{figures}");

    let (status, _) = node.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status:?}");
}
