//! A rough measure of the relay's hot path, `record_accepted`, on both backends. Ignored by
//! default (it measures, it does not check much); run it with
//! `cargo test -p hikyaku-store --release --test throughput -- --ignored --nocapture`.

use hikyaku_model::{CustomerId, Envelope, MessageId, Timestamp};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{AcceptedMessage, SealingKey, Store};
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
