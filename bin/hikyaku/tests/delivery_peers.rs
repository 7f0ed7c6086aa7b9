//! Delivery through the real `hikyaku serve` to peers we did not write: Postfix's
//! `smtp-sink`, and a private Postfix instance acting as the recipient domain's MX, both on
//! 127.0.0.1. Skipped when Postfix is not installed; under `CI=true` a missing tool fails.

mod delivery_support;

use delivery_support::{
    delivered_by, event, kinds, log, outcome, route_everything, send, send_each, start,
    wait_for_kind,
};
use hikyaku_testkit::{PostfixMx, PostfixSink};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_messages_reach_smtp_sink() {
    let Some(sink) = PostfixSink::start(&[]) else {
        return;
    };
    let (node, _) = start(|b| route_everything(b, &sink.addr().to_string()));
    let recipients: Vec<String> = (0..50).map(|i| format!("user{i}@example.jp")).collect();
    let ids: HashSet<String> = send_each(&node, &recipients).await.into_iter().collect();
    assert_eq!(ids.len(), 50);

    let delivered = wait_for_kind(&node, "delivered", 50);
    assert_eq!(delivered.len(), 50, "each recipient delivered once");
    let logged: HashSet<String> = delivered
        .iter()
        .map(|d| d["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(logged, ids);
    for d in &delivered {
        assert_eq!(outcome(d), delivered_by("127.0.0.1", "127.0.0.1", false, 1));
    }
    let counts = sink.wait_for_messages(50, Duration::from_secs(10)).unwrap();
    assert_eq!(counts.messages, 50, "smtp-sink counted {counts:?}");
    // At most the default 20 connections (plus the probe that saw smtp-sink listen): several
    // messages went over one connection.
    assert!(counts.sessions <= 21, "smtp-sink counted {counts:?}");
    let dump = sink.dump();
    assert!(
        dump.contains("X-Helo-Args: relay.hikyaku.test\n"),
        "{}",
        &dump[..dump.len().min(2000)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_as_the_remote_mx_accepts_and_refuses() {
    let Some(mx) = PostfixMx::start() else {
        return;
    };
    let (node, _) = start(|b| route_everything(b, &mx.addr().to_string()));
    let unknown = format!("unknown@{}", PostfixMx::DOMAIN);
    // One transaction with both recipients: Postfix decides per recipient.
    let id = send(&node, &[PostfixMx::KNOWN_RECIPIENT, &unknown]).await;

    let delivered = event(&node, &id, "delivered");
    assert_eq!(delivered["recipient"], PostfixMx::KNOWN_RECIPIENT);
    assert_eq!(
        outcome(&delivered),
        delivered_by("127.0.0.1", "127.0.0.1", true, 1),
        "{}",
        mx.maillog()
    );
    let text = delivered["details"]["text"].as_str().unwrap();
    assert!(text.starts_with("Ok: queued as "), "{text}");
    let queue_id = text.trim_start_matches("Ok: queued as ").trim();

    let bounced = event(&node, &id, "bounced");
    assert_eq!(bounced["recipient"], unknown.as_str());
    assert_eq!(
        outcome(&bounced),
        json!([
            "bounced",
            550,
            "5.1.1",
            "userunknown",
            "127.0.0.1",
            "127.0.0.1",
            true,
            1
        ])
    );
    let text = bounced["details"]["text"].as_str().unwrap();
    assert!(text.contains("User unknown"), "{text}");
    let mut outcomes = kinds(&log(&node, &id))
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["accepted", "accepted", "bounced", "delivered"],
        "one attempt, one outcome per recipient"
    );

    // Postfix's side: it queued the message under that ID, over TLS, and delivered it (to
    // its discard transport) for the known recipient only.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = mx.maillog();
        let sent = format!("{queue_id}: to=<{}>", PostfixMx::KNOWN_RECIPIENT);
        if log
            .lines()
            .any(|l| l.contains(&sent) && l.contains("status=sent"))
        {
            assert!(log.contains("TLS connection established from"), "{log}");
            assert!(!log.contains(&format!("to=<{unknown}>, relay=")), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
