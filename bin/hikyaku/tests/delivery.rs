//! Delivery end to end: the real `hikyaku serve`, a static route to a scripted MX on 127.0.0.1,
//! and the send log read back through the CLI.
//!
//! The tests run on a multi-threaded runtime: they poll the CLI with blocking calls, and the
//! scripted MX, which lives on the test's runtime, must keep answering meanwhile.

use hikyaku_testkit::{HikyakuProcess, ProcessBuilder, Sink, SmtpClient};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");

fn start(sink: &Sink, configure: impl FnOnce(&mut ProcessBuilder)) -> (HikyakuProcess, String) {
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("relay", "hostname", "\"relay.hikyaku.test\"");
    builder.set("delivery", "enabled", "true");
    builder.set("delivery", "resolver", "\"static\"");
    builder.set("delivery", "retry_intervals", "[\"1s\"]");
    builder.set(
        "delivery",
        "route",
        &format!("[{{ domain = \"*\", host = \"{}\" }}]", sink.addr()),
    );
    builder.set("bounce", "domain", "\"bounce.hikyaku.test\"");
    configure(&mut builder);
    let node = builder.start().expect("hikyaku serve starts");
    let out = node
        .cli_ok(&["contract", "create", "--name", "Delivery", "--json"])
        .unwrap();
    let customer = serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    node.cli_ok(&["allowed-ip", "add", &customer, "127.0.0.1"])
        .unwrap();
    (node, customer)
}

async fn send(node: &HikyakuProcess, to: &[&str]) -> String {
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    let body = "From: app@example.com\r\nSubject: hello\r\n\r\nHello.\r\n";
    let reply = c.send_mail("app@example.com", to, body).await.unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
    reply.lines[0].rsplit(' ').next().unwrap().to_string()
}

/// The send log of one message, oldest first.
fn log(node: &HikyakuProcess, id: &str) -> Vec<serde_json::Value> {
    let out = node
        .cli_ok(&["log", "search", "--message-id", id, "--json"])
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let mut events = json["events"].as_array().unwrap().clone();
    events.reverse();
    events
}

/// Waits until the message's log has an event of `kind` (for every recipient: `count`).
fn wait_for_events(
    node: &HikyakuProcess,
    id: &str,
    kind: &str,
    count: usize,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = log(node, id);
        let kind_of = |e: &serde_json::Value| {
            e["kind"]
                .as_str()
                .or(e["outcome"].as_str())
                .unwrap_or("")
                .to_string()
        };
        if events.iter().filter(|e| kind_of(e) == kind).count() >= count {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} event for {id}: {events:#?}\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kind(event: &serde_json::Value) -> &str {
    event["kind"]
        .as_str()
        .or(event["outcome"].as_str())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_with_verp_and_logs_every_field() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(&sink, |_| {});
    let id = send(&node, &["user@example.jp"]).await;

    let received = sink.wait_for(1, Duration::from_secs(30)).await.unwrap();
    let message = &received[0];
    assert_eq!(message.recipients, ["user@example.jp"]);
    assert!(
        message.mail_from.starts_with(&format!("b-{id}-0-")),
        "VERP return path: {}",
        message.mail_from
    );
    assert!(
        message.mail_from.ends_with("@bounce.hikyaku.test"),
        "{}",
        message.mail_from
    );
    assert_eq!(message.helo, "relay.hikyaku.test");
    let data = String::from_utf8_lossy(&message.data);
    assert!(data.starts_with("Received: from app.example.com"), "{data}");
    assert!(
        data.contains(&format!("X-Hikyaku-Message-Id: {id}")),
        "{data}"
    );

    let events = wait_for_events(&node, &id, "delivered", 1);
    let delivered = events.iter().find(|e| kind(e) == "delivered").unwrap();
    assert_eq!(delivered["message_id"], id.as_str());
    assert_eq!(delivered["customer_id"], customer.as_str());
    assert_eq!(delivered["recipient"], "user@example.jp");
    assert_eq!(delivered["sender"], "app@example.com");
    assert_eq!(
        delivered["details"]["remote"]["host"],
        sink.addr().ip().to_string()
    );
    assert_eq!(delivered["details"]["remote"]["ip"], "127.0.0.1");
    assert_eq!(delivered["details"]["remote"]["tls"], false);
    assert_eq!(delivered["details"]["code"], 250);
    assert_eq!(delivered["details"]["attempt"], 1);
    assert!(delivered["details"]["delay_ms"].as_i64().unwrap() >= 0);

    // Finished messages leave the spool.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = node.cli_ok(&["queue", "show", &id, "--json"]).unwrap();
        if out.contains("\"delivered\"") && !out.contains("\"queued\"") {
            break;
        }
        assert!(Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounces_defers_retries_and_expires() {
    let sink = Sink::builder().tempfail_times(2).start().await.unwrap();
    let (node, _) = start(&sink, |b| {
        b.set("delivery", "lifetime", "\"4s\"");
    });
    let bounced = send(&node, &["reject@example.jp"]).await;
    let retried = send(&node, &["tempfail-then-ok@example.jp"]).await;
    let expired = send(&node, &["tempfail@example.jp"]).await;

    let events = wait_for_events(&node, &bounced, "bounced", 1);
    let bounce = events.iter().find(|e| kind(e) == "bounced").unwrap();
    assert_eq!(bounce["details"]["code"], 550);
    assert_eq!(bounce["details"]["status"], "5.1.1");
    assert_eq!(bounce["details"]["reason"], "userunknown");

    let events = wait_for_events(&node, &retried, "delivered", 1);
    let kinds: Vec<_> = events.iter().map(kind).collect();
    assert_eq!(
        kinds,
        ["accepted", "deferred", "deferred", "delivered"],
        "{events:#?}"
    );
    assert_eq!(events[3]["details"]["attempt"], 3);
    assert_eq!(events[1]["details"]["code"], 451);

    let events = wait_for_events(&node, &expired, "expired", 1);
    let last = events.last().unwrap();
    assert_eq!(kind(last), "expired");
    assert_eq!(last["details"]["reason"], "expired");
    assert!(
        events.iter().filter(|e| kind(e) == "deferred").count() >= 2,
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_carries_several_messages_and_limits_hold() {
    let sink = Sink::start().await.unwrap();
    let (node, _) = start(&sink, |b| {
        b.set(
            "delivery",
            "destination",
            "[{ match = \"*\", max_connections = 2, max_messages_per_connection = 5 }]",
        );
    });
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(send(&node, &[&format!("slow-50+{i}@example.jp")]).await);
    }
    let received = sink.wait_for(20, Duration::from_secs(60)).await.unwrap();
    assert_eq!(received.len(), 20);
    assert!(
        sink.peak_connections() <= 2,
        "peak {} connections",
        sink.peak_connections()
    );
    assert!(
        sink.total_connections() >= 4,
        "5 messages per connection at most: {}",
        sink.total_connections()
    );
    assert!(
        sink.total_connections() < 20,
        "connections are reused: {}",
        sink.total_connections()
    );
}
