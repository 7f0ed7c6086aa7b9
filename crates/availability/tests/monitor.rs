//! The monitor over real sockets and a real store (SQLite, and PostgreSQL when
//! `TEST_DATABASE_URL` is set): an HTTP listener and an SMTP listener on 127.0.0.1 ephemeral
//! ports, the SMTP one stopped for a few minutes; an injected clock lets a minute pass per
//! probe, so no test waits a real minute. Two monitors look for outages after every probe, as
//! every node does, and each outage is still told once.

use hikyaku_availability::sla::{MINUTE_MS, minute_of};
use hikyaku_availability::{Monitor, MonitorSettings, Observations, Target, availability};
use hikyaku_model::{ContractState, NoticeKind, Timestamp};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{NewMaintenance, OutageAnnouncement, OutageNotice, SealingKey, Store};
use serde_json::json;
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
            announce_after: Duration::from_secs(300),
        },
    )
    .with_clock(clock.injected())
}

async fn notices_of(store: &Store, kind: NoticeKind) -> Vec<hikyaku_store::Notice> {
    let mut notices = store.list_notices(None, 100).await.unwrap();
    notices.retain(|n| n.kind == kind);
    notices
}

/// What every monitor announces when each looks once, as every monitor does after its probe.
async fn look(monitors: &[&Monitor]) -> Vec<(OutageNotice, OutageAnnouncement)> {
    let mut announced = Vec::new();
    for monitor in monitors {
        announced.extend(monitor.announce_outages().await.unwrap());
    }
    announced
}

async fn an_outage_going_on_is_announced_when_it_lasts_then_resolved_once(store: Store) {
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

    // Minutes 0-2 up; from minute 3 the SMTP listener is stopped, and both monitors look
    // after every probe, as they do.
    for _ in 0..3 {
        assert!(a.probe_once().await.unwrap()[0].1.up());
        assert!(look(&[&a, &b]).await.is_empty());
        clock.pass_minutes(1);
    }
    node.stop_smtp().await;
    let mut began = Vec::new();
    for _ in 3..11 {
        let probes = a.probe_once().await.unwrap();
        assert!(probes[0].1.http_up && !probes[0].1.smtp_up, "{probes:?}");
        for (notice, what) in look(&[&a, &b]).await {
            began.push((clock.minute() - first, notice, what));
        }
        clock.pass_minutes(1);
    }
    // At minute 9 the minutes 3-7 are settled: five, `announce_after`. Told once, by one
    // monitor, though both looked at every minute.
    assert_eq!(began.len(), 1, "{began:?}");
    let (at, notice, what) = began[0];
    assert_eq!((at, what), (9, OutageAnnouncement::Began));
    assert_eq!(minute_of(notice.starts_at), first + 3);
    assert_eq!((notice.ends_at, notice.minutes), (None, 5));
    let told = notices_of(&store, NoticeKind::Outage).await;
    assert_eq!(
        told.len(),
        1,
        "the live contract told, the terminated one not"
    );
    assert_eq!(told[0].customer_id, customer.customer_id);
    assert_eq!(told[0].key, notice.starts_at.to_string());
    assert_eq!(
        told[0].details,
        json!({"starts_at": notice.starts_at.to_string(), "ongoing": true})
    );

    // Back at minute 11: until minute 11 has ended a minute ago its end is not settled, so
    // nothing is told (and it is not told again as going on).
    node.start_smtp().await;
    for _ in 0..2 {
        assert!(a.probe_once().await.unwrap()[0].1.up());
        assert!(look(&[&a, &b]).await.is_empty());
        clock.pass_minutes(1);
    }
    assert!(b.probe_once().await.unwrap()[0].1.up());
    let resolved = look(&[&b, &a]).await;
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    let (notice, what) = resolved[0];
    assert_eq!(what, OutageAnnouncement::Resolved);
    assert_eq!(minute_of(notice.starts_at), first + 3);
    assert_eq!(notice.ends_at.map(minute_of), Some(first + 11));
    assert_eq!(notice.minutes, 8);
    clock.pass_minutes(1);
    assert!(look(&[&a, &b]).await.is_empty());
    assert_eq!(notices_of(&store, NoticeKind::Outage).await.len(), 1);
    let told = notices_of(&store, NoticeKind::OutageResolved).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].customer_id, customer.customer_id);
    assert_eq!(told[0].key, notice.starts_at.to_string());
    assert_eq!(
        told[0].details,
        json!({
            "starts_at": notice.starts_at.to_string(),
            "ends_at": notice.ends_at.unwrap().to_string(),
            "minutes": 8,
        })
    );

    // The arithmetic over what was recorded: 8 outage minutes of the 13 settled ones.
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
    assert_eq!((seen.measured_minutes, seen.outage_minutes), (13, 8));
    assert_eq!(seen.availability_percent, 99.981);
}

async fn an_outage_seen_only_when_over_is_announced_once_with_both(store: Store) {
    let customer = store.create_contract("Shop", "standard").await.unwrap();
    let clock = Clock::new();
    let node = Node::start().await;
    let a = monitor(&store, &node, &clock, "node-a");
    let b = monitor(&store, &node, &clock, "outside");
    let first = clock.minute();
    for _ in 0..3 {
        a.probe_once().await.unwrap();
        clock.pass_minutes(1);
    }
    // Minutes 3-9: every node down, so no monitor ran, probed or looked.
    clock.pass_minutes(7);
    // Up again at minute 10; its end is settled once minute 10 has ended a minute ago.
    for _ in 0..2 {
        assert!(a.probe_once().await.unwrap()[0].1.up());
        assert!(look(&[&a, &b]).await.is_empty(), "its end is not settled");
        clock.pass_minutes(1);
    }
    b.probe_once().await.unwrap();
    let announced = look(&[&a, &b]).await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    let (notice, what) = announced[0];
    assert_eq!(what, OutageAnnouncement::Over);
    assert_eq!(minute_of(notice.starts_at), first + 3);
    assert_eq!(notice.ends_at.map(minute_of), Some(first + 10));
    assert_eq!(notice.minutes, 7);
    clock.pass_minutes(1);
    assert!(look(&[&b, &a]).await.is_empty());
    let told = notices_of(&store, NoticeKind::Outage).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].customer_id, customer.customer_id);
    assert_eq!(
        told[0].details,
        json!({
            "starts_at": notice.starts_at.to_string(),
            "ends_at": notice.ends_at.unwrap().to_string(),
            "minutes": 7,
            "ongoing": false,
        })
    );
    assert!(
        notices_of(&store, NoticeKind::OutageResolved)
            .await
            .is_empty()
    );
}

async fn outages_in_announced_maintenance_or_short_are_not_announced(store: Store) {
    store.create_contract("Shop", "standard").await.unwrap();
    let clock = Clock::new();
    let mut node = Node::start().await;
    let a = monitor(&store, &node, &clock, "node-a");
    let b = monitor(&store, &node, &clock, "outside");
    a.probe_once().await.unwrap();
    clock.pass_minutes(1);

    // Eight minutes down inside a maintenance of eight announced 15 days ahead.
    let starts = clock.minute();
    store
        .create_maintenance(
            &NewMaintenance {
                title: "Database upgrade",
                body: "",
                starts_at: Timestamp(starts * MINUTE_MS),
                ends_at: Timestamp((starts + 8) * MINUTE_MS),
                emergency: false,
            },
            Timestamp(starts * MINUTE_MS - 15 * 86_400_000),
        )
        .await
        .unwrap();
    assert!(
        smtp_down_for(&mut node, &[&a, &b], &clock, 8)
            .await
            .is_empty()
    );

    // Four minutes (shorter than `announce_after`: a restart across a probe) count in the
    // month but are not announced, while going on or once over.
    assert!(
        smtp_down_for(&mut node, &[&a, &b], &clock, 4)
            .await
            .is_empty()
    );
    assert!(
        store
            .list_notices(None, 100)
            .await
            .unwrap()
            .iter()
            .all(|n| n.kind == NoticeKind::Maintenance)
    );

    // Five minutes outside the maintenance are told (once over: the fifth minute settles after
    // the node answers again): the cases above are quiet because of the rules, not because
    // nothing looks.
    let told = smtp_down_for(&mut node, &[&a, &b], &clock, 5).await;
    let kinds: Vec<OutageAnnouncement> = told.iter().map(|(_, what)| *what).collect();
    assert_eq!(kinds, [OutageAnnouncement::Over], "{told:?}");
    assert_eq!(told[0].0.minutes, 5);
}

/// The node's SMTP listener stopped for `minutes` probes, then up again for three (so the
/// outage is over and settled), every monitor looking after each probe; what they announced.
async fn smtp_down_for(
    node: &mut Node,
    monitors: &[&Monitor],
    clock: &Clock,
    minutes: usize,
) -> Vec<(OutageNotice, OutageAnnouncement)> {
    let mut announced = Vec::new();
    node.stop_smtp().await;
    for _ in 0..minutes {
        assert!(!monitors[0].probe_once().await.unwrap()[0].1.up());
        announced.extend(look(monitors).await);
        clock.pass_minutes(1);
    }
    node.start_smtp().await;
    for _ in 0..3 {
        assert!(monitors[0].probe_once().await.unwrap()[0].1.up());
        announced.extend(look(monitors).await);
        clock.pass_minutes(1);
    }
    announced
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
    let (notice, what) = announced[0];
    assert_eq!(what, OutageAnnouncement::Over);
    assert_eq!(minute_of(notice.starts_at), first + 1);
    assert_eq!(notice.minutes, 3 * 1440);
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
    an_outage_going_on_is_announced_when_it_lasts_then_resolved_once,
    an_outage_seen_only_when_over_is_announced_once_with_both,
    outages_in_announced_maintenance_or_short_are_not_announced,
    a_gap_longer_than_the_look_back_is_announced_from_its_true_start,
    minutes_are_kept_400_days_whatever_the_report_age,
);
