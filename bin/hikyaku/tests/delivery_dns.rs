//! Delivery routed by DNS: the real `hikyaku serve` asks an authoritative DNS server on
//! 127.0.0.1 (`TestDns`) for MX and address records, and delivers to a scripted MX on the
//! port given by `[delivery] smtp_port`. Every record points into 127.0.0.0/8.

mod delivery_support;

use delivery_support::{delivered_by, event, kinds, outcome, send, start, wait_for_events};
use hikyaku_testkit::{HikyakuProcess, Sink, TestDns};
use serde_json::json;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A node whose resolver is `dns` and whose MX hosts listen on the sink's port.
fn start_with_dns(dns: &TestDns, sink: &Sink) -> HikyakuProcess {
    let (node, _) = start(|b| {
        b.set("delivery", "resolver", &format!("\"{}\"", dns.addr()));
        b.set("delivery", "smtp_port", &sink.addr().port().to_string());
        b.set("delivery", "ipv6", "false");
    });
    node
}

/// A listener on `ip` at `port` that hangs up on every connection without a greeting, and
/// counts them: an MX host that is up but unusable, whose tries can be seen.
fn hang_up_listener(ip: &str, port: u16) -> Arc<AtomicUsize> {
    let listener = TcpListener::bind((ip, port)).unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_hosts_are_tried_in_preference_order() {
    let dns = TestDns::start().await.unwrap();
    let sink = Sink::start().await.unwrap();
    let port = sink.addr().port();
    // refused.test: its first MX has nothing listening. hangup.test: its first MX accepts and
    // hangs up, so the try is seen; its third MX must never be needed.
    let first_tries = hang_up_listener("127.0.0.2", port);
    let third_tries = hang_up_listener("127.0.0.3", port);
    dns.mx("refused.test", 10, "mx1.refused.test")
        .await
        .mx("refused.test", 20, "mx2.refused.test")
        .await
        .a("mx1.refused.test", "127.0.0.4")
        .await
        .a("mx2.refused.test", "127.0.0.1")
        .await;
    dns.mx("hangup.test", 30, "mx3.hangup.test")
        .await
        .mx("hangup.test", 10, "mx1.hangup.test")
        .await
        .mx("hangup.test", 20, "mx2.hangup.test")
        .await
        .a("mx1.hangup.test", "127.0.0.2")
        .await
        .a("mx2.hangup.test", "127.0.0.1")
        .await
        .a("mx3.hangup.test", "127.0.0.3")
        .await;
    let node = start_with_dns(&dns, &sink);

    let refused = send(&node, &["user@refused.test"]).await;
    let delivered = event(&node, &refused, "delivered");
    assert_eq!(
        outcome(&delivered),
        delivered_by("mx2.refused.test", "127.0.0.1", false, 1)
    );

    let hangup = send(&node, &["user@hangup.test"]).await;
    let delivered = event(&node, &hangup, "delivered");
    assert_eq!(
        outcome(&delivered),
        delivered_by("mx2.hangup.test", "127.0.0.1", false, 1)
    );
    assert!(first_tries.load(Ordering::SeqCst) >= 1, "MX 10 never tried");
    assert_eq!(third_tries.load(Ordering::SeqCst), 0, "MX 30 tried");

    let received = sink.received();
    let recipients: Vec<_> = received.iter().map(|m| m.recipients.clone()).collect();
    assert_eq!(
        recipients,
        [["user@refused.test"], ["user@hangup.test"]],
        "each message once, at the second MX"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_without_mx_is_its_own_mail_host() {
    let dns = TestDns::start().await.unwrap();
    let sink = Sink::start().await.unwrap();
    dns.a("implicit.test", "127.0.0.1").await;
    let node = start_with_dns(&dns, &sink);

    let id = send(&node, &["user@implicit.test"]).await;
    let delivered = event(&node, &id, "delivered");
    assert_eq!(
        outcome(&delivered),
        delivered_by("implicit.test", "127.0.0.1", false, 1)
    );
    assert_eq!(sink.received()[0].recipients, ["user@implicit.test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_mx_and_unknown_domains_bounce_at_once() {
    let dns = TestDns::start().await.unwrap();
    let sink = Sink::start().await.unwrap();
    dns.null_mx("nomail.test").await;
    let node = start_with_dns(&dns, &sink);

    let null_mx = send(&node, &["user@nomail.test"]).await;
    let nxdomain = send(&node, &["user@nowhere.test"]).await;

    let events = wait_for_events(&node, &null_mx, "bounced", 1);
    assert_eq!(kinds(&events), ["accepted", "bounced"], "no retry");
    let bounce = &events[1];
    assert_eq!(
        outcome(bounce),
        json!(["bounced", 550, "5.1.10", "notaccept", null, null, null, 1])
    );
    assert!(
        bounce["details"]["text"]
            .as_str()
            .unwrap()
            .contains("nomail.test: domain does not accept mail (null MX)"),
        "{bounce:#?}"
    );

    let events = wait_for_events(&node, &nxdomain, "bounced", 1);
    assert_eq!(kinds(&events), ["accepted", "bounced"], "no retry");
    let bounce = &events[1];
    assert_eq!(
        outcome(bounce),
        json!(["bounced", 550, "5.1.2", "hostunknown", null, null, null, 1])
    );
    assert!(
        bounce["details"]["text"]
            .as_str()
            .unwrap()
            .contains("NXDOMAIN"),
        "{bounce:#?}"
    );
    assert!(sink.received().is_empty());
    assert_eq!(sink.total_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_name_server_defers_until_it_heals() {
    let dns = TestDns::start().await.unwrap();
    let sink = Sink::start().await.unwrap();
    dns.mx("flaky.test", 10, "mx.flaky.test")
        .await
        .a("mx.flaky.test", "127.0.0.1")
        .await
        .servfail("flaky.test");
    let node = start_with_dns(&dns, &sink);

    let id = send(&node, &["user@flaky.test"]).await;
    let deferred = event(&node, &id, "deferred");
    assert_eq!(
        outcome(&deferred),
        json!([
            "deferred",
            451,
            "4.4.3",
            "networkerror",
            null,
            null,
            null,
            1
        ])
    );
    assert!(
        deferred["details"]["text"]
            .as_str()
            .unwrap()
            .contains("flaky.test: temporary DNS failure"),
        "{deferred:#?}"
    );
    assert!(sink.received().is_empty());

    dns.heal("flaky.test");
    let delivered = event(&node, &id, "delivered");
    let attempt = delivered["details"]["attempt"].as_u64().unwrap();
    assert!(attempt >= 2, "{delivered:#?}");
    assert_eq!(
        outcome(&delivered),
        delivered_by("mx.flaky.test", "127.0.0.1", false, attempt)
    );
    assert_eq!(
        sink.wait_for(1, Duration::from_secs(5))
            .await
            .unwrap()
            .len(),
        1
    );
}
