//! The monitor over real sockets and a real store (SQLite, and PostgreSQL when
//! `TEST_DATABASE_URL` is set): an HTTP listener and an SMTP listener on 127.0.0.1 ephemeral
//! ports, the SMTP one stopped for a few minutes; an injected clock lets a minute pass per
//! probe, so no test waits a real minute.

use hikyaku_availability::sla::{MINUTE_MS, minute_of};
use hikyaku_availability::{Monitor, MonitorSettings, Observations, Target, availability};
use hikyaku_model::{ContractState, NoticeKind, Timestamp};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{NewMaintenance, SealingKey, Store};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// 2026-11-10T00:00:05Z: five seconds into a minute, as the loop probes.
const BASE: i64 = 1_794_268_805_000;

/// An HTTP/1.1 listener that answers as a node does: `/healthz` 200, any API path without a
/// key 401 with a JSON body.
async fn http_node(listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 512];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let answer = if head.starts_with("GET /healthz ") {
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n"
                    .to_string()
            } else {
                let body = r#"{"error":{"code":"unauthorized"}}"#;
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n\
                     content-length: {}\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(answer.as_bytes()).await;
        });
    }
}

/// An SMTP listener that greets 220 and answers QUIT 221.
async fn smtp_node(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut stream = BufReader::new(stream);
            let _ = stream
                .get_mut()
                .write_all(b"220-relay.test ESMTP\r\n220 ready\r\n")
                .await;
            let mut line = String::new();
            let _ = stream.read_line(&mut line).await;
            let _ = stream.get_mut().write_all(b"221 bye\r\n").await;
        });
    }
}

struct Node {
    http: SocketAddr,
    smtp: SocketAddr,
    smtp_task: Option<JoinHandle<()>>,
}

impl Node {
    async fn start() -> Node {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let smtp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (http_addr, smtp_addr) = (http.local_addr().unwrap(), smtp.local_addr().unwrap());
        tokio::spawn(http_node(http));
        Node {
            http: http_addr,
            smtp: smtp_addr,
            smtp_task: Some(tokio::spawn(smtp_node(smtp))),
        }
    }

    fn target(&self) -> Target {
        Target::from_url(
            "node-a",
            &format!("http://{}", self.http),
            &self.smtp.to_string(),
        )
        .unwrap()
    }

    /// Stops the SMTP listener: its port refuses connections.
    async fn stop_smtp(&mut self) {
        let task = self.smtp_task.take().unwrap();
        task.abort();
        let _ = task.await;
    }

    /// Listens on the same port again.
    async fn start_smtp(&mut self) {
        let listener = TcpListener::bind(self.smtp).await.unwrap();
        self.smtp_task = Some(tokio::spawn(smtp_node(listener)));
    }
}

struct Clock(Arc<AtomicI64>);

impl Clock {
    fn new() -> Clock {
        Clock(Arc::new(AtomicI64::new(BASE)))
    }
    fn injected(&self) -> hikyaku_availability::Clock {
        let now = self.0.clone();
        Arc::new(move || Timestamp(now.load(Ordering::SeqCst)))
    }
    fn minute(&self) -> i64 {
        minute_of(Timestamp(self.0.load(Ordering::SeqCst)))
    }
    fn pass_minutes(&self, n: i64) {
        self.0.fetch_add(n * MINUTE_MS, Ordering::SeqCst);
    }
}

fn monitor(store: &Store, node: &Node, clock: &Clock, name: &str) -> Monitor {
    Monitor::new(
        store.clone(),
        vec![node.target()],
        MonitorSettings {
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
            probed_by: name.to_string(),
            announce_after: Duration::from_secs(120),
        },
    )
    .with_clock(clock.injected())
}

async fn outage_notices(store: &Store) -> Vec<hikyaku_store::Notice> {
    let mut notices = store.list_notices(None, 100).await.unwrap();
    notices.retain(|n| n.kind == NoticeKind::Outage);
    notices
}

async fn an_outage_is_measured_and_announced_once(store: Store) {
    let customer = store.create_contract("Shop", "standard").await.unwrap();
    let gone = store.create_contract("Gone", "standard").await.unwrap();
    store
        .set_contract_state(&gone.customer_id, ContractState::Terminated)
        .await
        .unwrap();
    let clock = Clock::new();
    let mut node = Node::start().await;
    let a = monitor(&store, &node, &clock, "node-a");
    let b = monitor(&store, &node, &clock, "outside");
    let first = clock.minute();

    // Minutes 0-2 up; 3-5 the SMTP listener is stopped; minute 6 nothing probes at all (every
    // node down, no monitor running); from minute 7 up again.
    for _ in 0..3 {
        let probes = a.probe_once().await.unwrap();
        assert!(probes[0].1.up(), "{probes:?}");
        clock.pass_minutes(1);
    }
    node.stop_smtp().await;
    for _ in 0..3 {
        let probes = a.probe_once().await.unwrap();
        assert!(probes[0].1.http_up && !probes[0].1.smtp_up, "{probes:?}");
        assert!(
            a.announce_outages().await.unwrap().is_empty(),
            "still going on"
        );
        clock.pass_minutes(1);
    }
    clock.pass_minutes(1);
    node.start_smtp().await;
    assert!(a.probe_once().await.unwrap()[0].1.up());
    // The minute after the outage is not settled yet: nothing is announced.
    assert!(a.announce_outages().await.unwrap().is_empty());
    clock.pass_minutes(1);
    b.probe_once().await.unwrap();
    clock.pass_minutes(1);
    let announced = b.announce_outages().await.unwrap();
    assert_eq!(announced.len(), 1, "{announced:?}");
    let outage = announced[0];
    assert_eq!(minute_of(outage.starts_at), first + 3);
    assert_eq!(minute_of(outage.ends_at), first + 7);
    assert_eq!(outage.minutes, 4);
    // Every monitor looks again after every probe: the notice stays one per contract.
    assert!(a.announce_outages().await.unwrap().is_empty());
    assert!(b.announce_outages().await.unwrap().is_empty());
    let notices = outage_notices(&store).await;
    assert_eq!(
        notices.len(),
        1,
        "one contract told, the terminated one not"
    );
    assert_eq!(notices[0].customer_id, customer.customer_id);
    assert_eq!(notices[0].key, outage.starts_at.to_string());
    assert_eq!(notices[0].details["minutes"], 4);

    // The arithmetic over what was recorded: 4 outage minutes of the 8 settled ones.
    let answered: BTreeSet<i64> = store
        .answered_minutes(first - 100, first + 100)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let seen = availability(&Observations {
        from: Timestamp((first - 60) * MINUTE_MS),
        to: Timestamp((first + 60) * MINUTE_MS),
        now: Timestamp(clock.minute() * MINUTE_MS),
        monitoring_since: store.monitoring_since().await.unwrap(),
        answered: &answered,
        maintenance: &[],
    });
    assert_eq!((seen.measured_minutes, seen.outage_minutes), (8, 4));
    assert_eq!(seen.availability_percent, 99.990);

    // An outage inside a maintenance announced 15 days ahead is not announced.
    let starts = clock.minute() + 1;
    store
        .create_maintenance(
            &NewMaintenance {
                title: "Database upgrade",
                body: "",
                starts_at: Timestamp(starts * MINUTE_MS),
                ends_at: Timestamp((starts + 2) * MINUTE_MS),
                emergency: false,
            },
            Timestamp(starts * MINUTE_MS - 15 * 86_400_000),
        )
        .await
        .unwrap();
    a.probe_once().await.unwrap();
    clock.pass_minutes(1);
    smtp_down_for(&mut node, &a, &clock, 2).await;
    assert!(a.announce_outages().await.unwrap().is_empty());
    assert_eq!(outage_notices(&store).await.len(), 1);

    // An outage shorter than `announce_after` (one minute, a restart across a probe) counts in
    // the month but is not announced.
    smtp_down_for(&mut node, &a, &clock, 1).await;
    assert!(a.announce_outages().await.unwrap().is_empty());
    assert_eq!(outage_notices(&store).await.len(), 1);
}

/// The node's SMTP listener stopped for `minutes` probes, then up again for three (so the
/// outage is over and settled when the caller looks).
async fn smtp_down_for(node: &mut Node, monitor: &Monitor, clock: &Clock, minutes: usize) {
    node.stop_smtp().await;
    for _ in 0..minutes {
        assert!(!monitor.probe_once().await.unwrap()[0].1.up());
        clock.pass_minutes(1);
    }
    node.start_smtp().await;
    for _ in 0..3 {
        assert!(monitor.probe_once().await.unwrap()[0].1.up());
        clock.pass_minutes(1);
    }
}

async fn a_gap_longer_than_the_look_back_is_announced_from_its_true_start(store: Store) {
    store.create_contract("Shop", "standard").await.unwrap();
    let clock = Clock::new();
    let node = Node::start().await;
    let a = monitor(&store, &node, &clock, "node-a");
    let first = clock.minute();
    a.probe_once().await.unwrap();
    // The whole platform stopped for three days.
    clock.pass_minutes(3 * 1440 + 1);
    a.probe_once().await.unwrap();
    clock.pass_minutes(2);
    let announced = a.announce_outages().await.unwrap();
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert_eq!(minute_of(announced[0].starts_at), first + 1);
    assert_eq!(announced[0].minutes, 3 * 1440);
    assert!(a.announce_outages().await.unwrap().is_empty());
}

async fn minutes_are_kept_400_days_whatever_the_report_age(store: Store) {
    let now = Timestamp(BASE);
    let day = 1440;
    let minute = minute_of(now);
    for (age, target) in [(401 * day, "old"), (399 * day, "kept")] {
        store
            .record_monitor_minute(minute - age, target, true, true, "node-a")
            .await
            .unwrap();
    }
    let policy = hikyaku_store::RetentionPolicy {
        report_age: Duration::from_secs(40 * 86_400),
        batch_size: 100,
        batch_pause: Duration::ZERO,
    };
    let purged = store.purge_report_data(now, &policy).await.unwrap();
    let monitor = purged
        .iter()
        .find(|c| c.table == "monitor_minutes")
        .unwrap();
    assert_eq!(monitor.rows, 1);
    assert_eq!(
        store
            .answered_minutes(minute - 500 * day, minute)
            .await
            .unwrap(),
        [minute - 399 * day]
    );
}

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hikyaku.db").display());
    let store = Store::connect(&url, SealingKey::from_bytes([7; 32]))
        .await
        .unwrap();
    (store, dir)
}

async fn postgres() -> Option<(Store, PostgresTestDatabase)> {
    let database = PostgresTestDatabase::create().await?;
    let store = Store::connect(database.url(), SealingKey::from_bytes([7; 32]))
        .await
        .unwrap();
    Some((store, database))
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = super::sqlite().await;
                super::$name(store).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some((store, _db)) = super::postgres().await {
                    super::$name(store).await;
                }
            }
        }
    )*};
}

on_both_backends!(
    an_outage_is_measured_and_announced_once,
    a_gap_longer_than_the_look_back_is_announced_from_its_true_start,
    minutes_are_kept_400_days_whatever_the_report_age,
);
