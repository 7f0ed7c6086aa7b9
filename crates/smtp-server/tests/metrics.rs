//! The listener's metrics, read from a recorder of the test's own (installed only while the
//! server is built, so tests in parallel do not see each other's numbers).

mod common;

use common::{Recorder, TestServer, config, connect};
use hikyaku_smtp_server::Server;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every metric by its name and sorted labels, as `name{k=v,...}`.
#[derive(Default)]
struct Registry {
    values: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl Registry {
    fn cell(&self, key: &Key) -> Arc<AtomicU64> {
        let mut labels: Vec<_> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.values.lock().unwrap().entry(name).or_default().clone()
    }

    fn get(&self, name: &str) -> u64 {
        self.values
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |v| v.load(Ordering::SeqCst))
    }

    fn gauge(&self, name: &str) -> f64 {
        f64::from_bits(self.get(name))
    }
}

impl metrics::Recorder for Registry {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[tokio::test]
async fn counts_connections_messages_and_auth_failures() {
    let registry = Arc::new(Registry::default());
    let mut config = config();
    config.listener = "relay".to_string();
    config.max_connections = 1;
    config.max_message_size = 100;
    config.auth.allow_plaintext_on_loopback = true;
    let handler = Arc::new(Recorder::default());
    let server = metrics::with_local_recorder(&*registry, || Server::new(config, handler.clone()));
    let server = TestServer::serve(server, handler).await;

    let (mut client, _) = connect(server.addr).await;
    let (_, refused) = connect(server.addr).await;
    assert_eq!(refused.code, 421);
    assert_eq!(
        registry.gauge("hikyaku_smtp_connections_open{listener=relay}"),
        1.0
    );

    client.send(b"EHLO c\r\nAUTH PLAIN AHVzZXIAeA==\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\n").await.unwrap();
    assert_eq!(
        client.read_heads(5).await,
        ["250", "535 5.7.8", "250 2.1.0", "250 2.1.5", "354"]
    );
    client
        .send(b"0123456789\r\n.\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\n")
        .await
        .unwrap();
    assert_eq!(
        client.read_heads(4).await,
        ["250 2.0.0", "250 2.1.0", "250 2.1.5", "354"]
    );
    client
        .send(&[b"x".repeat(120), b"\r\n.\r\nQUIT\r\n".to_vec()].concat())
        .await
        .unwrap();
    assert_eq!(client.read_heads(2).await, ["552 5.3.4", "221 2.0.0"]);
    assert!(client.closed().await);
    tokio::time::sleep(Duration::from_millis(100)).await;

    for (name, expected) in [
        ("hikyaku_smtp_connections_total{listener=relay}", 2),
        ("hikyaku_smtp_connections_rejected_total{listener=relay}", 1),
        ("hikyaku_smtp_messages_accepted_total{listener=relay}", 1),
        ("hikyaku_smtp_message_bytes_total{listener=relay}", 12),
        (
            "hikyaku_smtp_messages_rejected_total{listener=relay,reason=size}",
            1,
        ),
        (
            "hikyaku_smtp_messages_rejected_total{listener=relay,reason=handler}",
            0,
        ),
        ("hikyaku_smtp_auth_failures_total{listener=relay}", 1),
    ] {
        assert_eq!(registry.get(name), expected, "{name}");
    }
    assert_eq!(
        registry.gauge("hikyaku_smtp_connections_open{listener=relay}"),
        0.0
    );
}
