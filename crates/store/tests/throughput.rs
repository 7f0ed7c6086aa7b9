//! A rough measure of the hot paths on both backends: the relay's `record_accepted`, and the
//! delivery engine's start (`pending_messages`) and `record_outcomes`. Ignored by default (they
//! measure, they do not check much); run them with
//! `cargo test -p hikyaku-store --release --test throughput -- --ignored --nocapture`.

use hikyaku_model::{
    CustomerId, EnhancedStatus, Envelope, EventDetails, EventSource, Exchange, MessageId, Remote,
    Timestamp,
};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{AcceptedMessage, Outcome, RecipientOutcome, SealingKey, Store};
use std::time::Instant;

const MESSAGES: usize = 20_000;

fn batch(customer: &CustomerId, size: usize, recipients: usize) -> Vec<AcceptedMessage> {
    (0..size)
        .map(|_| AcceptedMessage {
            id: MessageId::generate(),
            customer_id: customer.clone(),
            envelope: Envelope {
                mail_from: "notifications@sender.example".into(),
                recipients: (0..recipients)
                    .map(|i| format!("user{i}@recipient.example"))
                    .collect(),
            },
            size: 4096,
            received_at: Timestamp::now(),
            source_ip: "192.0.2.10".into(),
            node: "node-a".into(),
            tags: Vec::new(),
            metadata: Default::default(),
            subject: None,
        })
        .collect()
}

async fn measure(label: &str, store: &Store) {
    let customer = store
        .create_contract("Bench", "standard")
        .await
        .unwrap()
        .customer_id;
    for (batch_size, recipients) in [(1, 1), (10, 1), (100, 1), (100, 3)] {
        let batches: Vec<_> = (0..MESSAGES / batch_size)
            .map(|_| batch(&customer, batch_size, recipients))
            .collect();
        let started = Instant::now();
        for b in &batches {
            store.record_accepted(b).await.unwrap();
        }
        let elapsed = started.elapsed();
        let per_batch = elapsed / batches.len() as u32;
        println!(
            "{label:8} batch {batch_size:3} x {recipients} rcpt: {:7.0} messages/s, {:8.2?} per batch",
            MESSAGES as f64 / elapsed.as_secs_f64(),
            per_batch,
        );
        let probe: Vec<MessageId> = batches.iter().flatten().map(|m| m.id).collect();
        let started = Instant::now();
        let known = store.known_message_ids(&probe).await.unwrap();
        assert_eq!(known.len(), probe.len());
        if batch_size == 100 && recipients == 3 {
            println!(
                "{label:8} known_message_ids over {} IDs: {:.2?}",
                probe.len(),
                started.elapsed()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn record_accepted_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = Store::connect(&url, SealingKey::generate()).await.unwrap();
    measure("sqlite", &sqlite).await;

    if let Some(database) = PostgresTestDatabase::create().await {
        let postgres = Store::connect(database.url(), SealingKey::generate())
            .await
            .unwrap();
        measure("postgres", &postgres).await;
        postgres.close().await;
    }
}

/// Messages queued on the node before the engine starts: 100,000 recipients in all.
const BACKLOG: usize = 50_000;

async fn measure_delivery(label: &str, store: &Store) {
    let customer = store
        .create_contract("Bench", "standard")
        .await
        .unwrap()
        .customer_id;
    for chunk in (0..BACKLOG).collect::<Vec<_>>().chunks(1000) {
        store
            .record_accepted(&batch(&customer, chunk.len(), 2))
            .await
            .unwrap();
    }

    let started = Instant::now();
    let mut pending = Vec::new();
    loop {
        let after = pending.last().map(|m: &hikyaku_store::PendingMessage| m.id);
        let page = store.pending_messages("node-a", after, 1000).await.unwrap();
        if page.is_empty() {
            break;
        }
        pending.extend(page);
    }
    let elapsed = started.elapsed();
    let recipients: usize = pending.iter().map(|m| m.recipients.len()).sum();
    assert_eq!(recipients, BACKLOG * 2);
    println!(
        "{label:8} pending_messages: {recipients} recipients in {elapsed:.2?} ({:.0} recipients/s)",
        recipients as f64 / elapsed.as_secs_f64()
    );

    for batch_size in [1, 10, 100, 1000] {
        // One commit per outcome is slow (an fsync each): fewer of them tell as much.
        let count = if batch_size == 1 { 1_000 } else { 10_000 };
        let outcomes: Vec<RecipientOutcome> = pending
            .drain(..count / 2)
            .flat_map(|m| {
                m.recipients.into_iter().map(move |r| RecipientOutcome {
                    message_id: m.id,
                    recipient_index: r.index,
                    at: Timestamp::now(),
                    outcome: Outcome::Delivered,
                    details: EventDetails::Delivered {
                        exchange: Exchange {
                            remote: Some(Remote {
                                host: "mx.recipient.example".into(),
                                ip: Some("127.0.0.25".parse().unwrap()),
                                port: None,
                                tls: Some(true),
                            }),
                            code: Some(250),
                            status: Some(EnhancedStatus::new(2, 0, 0)),
                            text: Some("Ok: queued as 4Xk2".into()),
                            delay_ms: Some(1234),
                            attempt: Some(1),
                            ..Exchange::by(EventSource::Smtp)
                        },
                    },
                    suppression: hikyaku_store::SuppressionEffect::Nothing,
                })
            })
            .collect();
        let started = Instant::now();
        let mut completed = 0;
        for b in outcomes.chunks(batch_size) {
            completed += store
                .record_outcomes(b, &hikyaku_store::SoftBouncePolicy::OFF)
                .await
                .unwrap()
                .len();
        }
        let elapsed = started.elapsed();
        assert_eq!(completed * 2, outcomes.len());
        println!(
            "{label:8} record_outcomes batch {batch_size:4}: {:7.0} outcomes/s over {}",
            outcomes.len() as f64 / elapsed.as_secs_f64(),
            outcomes.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn delivery_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = Store::connect(&url, SealingKey::generate()).await.unwrap();
    measure_delivery("sqlite", &sqlite).await;

    if let Some(database) = PostgresTestDatabase::create().await {
        let postgres = Store::connect(database.url(), SealingKey::generate())
            .await
            .unwrap();
        measure_delivery("postgres", &postgres).await;
        postgres.close().await;
    }
}

/// Send-log events written (through `record_accepted`, one event per recipient) before the
/// searches are timed; `HIKYAKU_BENCH_EVENTS` sets another number (10,000,000 for the real
/// measure: expect it to take a while).
fn bench_events() -> usize {
    std::env::var("HIKYAKU_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
}

/// Whether this backend's send log is measured: `HIKYAKU_BENCH_BACKEND=sqlite` or `postgres`
/// measures only that one (a 10-million-event fill takes half an hour per backend).
fn bench_backend(name: &str) -> bool {
    std::env::var("HIKYAKU_BENCH_BACKEND").map_or(true, |only| only == name)
}

fn percentiles(
    mut samples: Vec<std::time::Duration>,
) -> (std::time::Duration, std::time::Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

async fn measure_send_log(label: &str, store: &Store) {
    const DAY: i64 = 86_400_000;
    let customer = store
        .create_contract("Bench", "standard")
        .await
        .unwrap()
        .customer_id;
    let events = bench_events();
    let start = Timestamp::now().as_millis() - 40 * DAY;
    let started = Instant::now();
    hikyaku_store::testing::fill_send_log(store, &customer, events, 40, |written| {
        println!("{label:8} {written} events written");
    })
    .await
    .unwrap();
    println!(
        "{label:8} {events} events written in {:.1?}",
        started.elapsed()
    );
    let mut search = Vec::new();
    let mut stats = Vec::new();
    for i in 0..100 {
        let started = Instant::now();
        let page = store
            .search_events(&hikyaku_store::EventQuery {
                customer: Some(customer.clone()),
                recipient: Some(format!("user{}@d{}.example", i * 7 % 1000, i * 7 % 50)),
                limit: Some(50),
                ..Default::default()
            })
            .await
            .unwrap();
        search.push(started.elapsed());
        assert!(!page.events.is_empty());
        let started = Instant::now();
        let series = store
            .stats(
                &customer,
                Timestamp(start),
                Timestamp(start + 40 * DAY),
                hikyaku_store::Granularity::Day,
            )
            .await
            .unwrap();
        stats.push(started.elapsed());
        assert_eq!(
            series.iter().map(|p| p.counts.accepted).sum::<u64>(),
            events as u64
        );
    }
    let (p50, p99) = percentiles(search);
    println!("{label:8} recipient search (50 newest): p50 {p50:.2?}, p99 {p99:.2?}");
    let (p50, p99) = percentiles(stats);
    println!("{label:8} 40-day daily statistics: p50 {p50:.2?}, p99 {p99:.2?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn send_log_search_and_statistics() {
    let dir = tempfile::tempdir().unwrap();
    if bench_backend("sqlite") {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let sqlite = Store::connect(&url, SealingKey::generate()).await.unwrap();
        measure_send_log("sqlite", &sqlite).await;
    }
    if !bench_backend("postgres") {
        return;
    }
    if let Some(database) = PostgresTestDatabase::create().await {
        let postgres = Store::connect(database.url(), SealingKey::generate())
            .await
            .unwrap();
        measure_send_log("postgres", &postgres).await;
        postgres.close().await;
    }
}
