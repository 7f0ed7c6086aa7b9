//! Key rotation on SQLite and PostgreSQL: a new key, every sealed value re-sealed under it in
//! batches (resumable from the saved cursor by another store), the old key destroyed; every
//! address reads back and the old key material opens nothing left in the database.

mod common;

use common::{Fixture, accepted, new_contract, on_both_backends};
use hikyaku_model::{CustomerId, Timestamp};
use hikyaku_store::{
    EventQuery, KeyState, NewSuppression, RotationSettings, RotationStep, SealingKey, Store,
    SuppressionFilter, SuppressionSource, opens_with, sealing_key_id,
};
use std::collections::BTreeSet;
use std::time::Duration;

fn settings(owner: &str, batch_size: u32) -> RotationSettings {
    RotationSettings {
        owner: owner.to_string(),
        batch_size,
        batch_pause: Duration::ZERO,
        lease: Duration::from_secs(30),
        refresh_interval: Duration::from_millis(200),
    }
}

/// Messages, events and suppressions of one contract: `n` recipients.
async fn fill(store: &Store, customer: &CustomerId, n: usize, tag: &str) -> BTreeSet<String> {
    let addresses: Vec<String> = (0..n).map(|i| format!("{tag}-{i}@example.jp")).collect();
    let at = Timestamp::now().as_millis();
    for (i, chunk) in addresses.chunks(5).enumerate() {
        let to: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let message = accepted(customer, at + i as i64, "app@example.com", &to);
        store.record_accepted(&[message]).await.unwrap();
    }
    let entries: Vec<NewSuppression<'_>> = addresses
        .iter()
        .map(|a| NewSuppression {
            address: a,
            source: SuppressionSource::Manual,
            reason: Some("asked to be left alone"),
            message_id: None,
        })
        .collect();
    store
        .add_suppressions(customer, &entries, Timestamp::now())
        .await
        .unwrap();
    addresses.into_iter().collect()
}

/// Every address reads back through the send log (by recipient) and the suppression list.
async fn reads_back(store: &Store, customer: &CustomerId, addresses: &BTreeSet<String>) {
    let listed: BTreeSet<String> = store
        .suppressions(
            customer,
            &SuppressionFilter {
                limit: Some(100_000),
                ..SuppressionFilter::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            assert_eq!(e.reason.as_deref(), Some("asked to be left alone"));
            e.address
        })
        .collect();
    assert_eq!(&listed, addresses);
    for address in addresses.iter().step_by(7) {
        let page = store
            .search_events(&EventQuery {
                customer: Some(customer.clone()),
                recipient: Some(address.to_uppercase()),
                ..EventQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page.events.len(), 1, "{address}");
        assert_eq!(&page.events[0].recipient, address);
        assert_eq!(page.events[0].mail_from, "app@example.com");
    }
}

/// Runs steps until the rotation finishes; returns the steps taken.
async fn finish(store: &Store, settings: &RotationSettings) -> Vec<RotationStep> {
    let mut steps = Vec::new();
    loop {
        let step = store.reseal_step(settings).await.unwrap();
        match step {
            RotationStep::Finished { .. } => {
                steps.push(step);
                return steps;
            }
            RotationStep::Waiting { .. } => tokio::time::sleep(Duration::from_millis(20)).await,
            RotationStep::Idle | RotationStep::Busy { .. } => panic!("{step:?} after {steps:?}"),
            _ => steps.push(step),
        }
        assert!(steps.len() < 10_000, "the rotation does not end");
    }
}

async fn rotate_reseal_and_retire(f: Fixture) {
    let store = &f.store;
    let customer = new_contract(store, "Rotating").await;
    let addresses = fill(store, &customer, 60, "before").await;
    let sealed = store.sealed_values().await.unwrap();
    assert!(sealed.len() > 200, "{}", sealed.len());
    assert!(sealed.iter().all(|(_, _, v)| sealing_key_id(v) == 0));
    assert_eq!(
        store.unlisted_sealed_columns().await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.reseal_step(&settings("a", 10)).await.unwrap(),
        RotationStep::Idle
    );

    let started = store
        .start_key_rotation(Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(started.key, 1);
    // A second start is refused while the first runs.
    let err = store.start_key_rotation(Duration::ZERO).await.unwrap_err();
    assert!(err.to_string().contains("still running"), "{err}");
    // Not active yet: nothing is re-sealed, new values still go under key 0.
    assert!(matches!(
        store.reseal_step(&settings("a", 10)).await.unwrap(),
        RotationStep::Waiting { .. }
    ));
    assert_eq!(store.active_sealing_key(), 0);
    let status = store.key_status(true).await.unwrap();
    assert_eq!(status.keys[1].state, KeyState::Pending);
    assert_eq!(status.keys[0].state, KeyState::Active);
    let new_key = store
        .data_key_material(1)
        .await
        .unwrap()
        .expect("key 1 is stored");

    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(store.active_sealing_key(), 1);
    // Written while the rotation runs: sealed under the new key at once.
    let during = fill(store, &customer, 10, "during").await;
    let under_key0 = store
        .sealed_values()
        .await
        .unwrap()
        .iter()
        .filter(|(_, _, v)| sealing_key_id(v) == 0)
        .count();
    let steps = finish(store, &settings("a", 10)).await;
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, RotationStep::PassDone { pass: 1 })),
        "{steps:?}"
    );
    assert_eq!(
        steps.last(),
        Some(&RotationStep::Finished {
            key: 1,
            retired: vec![0]
        })
    );

    let mut all = addresses.clone();
    all.extend(during);
    reads_back(store, &customer, &all).await;
    // Everything is under key 1; the old key opens nothing; the new key opens all.
    let sealed = store.sealed_values().await.unwrap();
    for (table, column, value) in &sealed {
        assert_eq!(sealing_key_id(value), 1, "{table}.{column}");
        assert!(
            !opens_with(0, f.key, value),
            "{table}.{column} opens with key 0"
        );
        assert!(opens_with(1, new_key, value), "{table}.{column}");
    }
    let status = store.key_status(true).await.unwrap();
    assert_eq!(status.keys[0].state, KeyState::Retired);
    assert_eq!(status.keys[1].state, KeyState::Active);
    let rotation = status.rotation.unwrap();
    assert!(rotation.finished_at.is_some());
    assert_eq!(
        rotation.resealed as usize, under_key0,
        "each old value re-sealed once"
    );
    assert!(under_key0 < sealed.len());
    assert!(rotation.tables.iter().all(|t| t.left == Some(0)));

    // A store opened afterwards loads key 1 from the database.
    let reopened = Store::connect(&f.url, SealingKey::from_bytes(f.key))
        .await
        .unwrap();
    reads_back(&reopened, &customer, &all).await;

    // A second rotation retires key 1 by destroying its material.
    let second = store.start_key_rotation(Duration::ZERO).await.unwrap();
    assert_eq!(second.key, 2);
    let steps = finish(store, &settings("a", 1000)).await;
    assert_eq!(
        steps.last(),
        Some(&RotationStep::Finished {
            key: 2,
            retired: vec![1]
        })
    );
    assert_eq!(store.data_key_material(1).await.unwrap(), None);
    for (table, column, value) in store.sealed_values().await.unwrap() {
        assert_eq!(sealing_key_id(&value), 2, "{table}.{column}");
        assert!(
            !opens_with(1, new_key, &value),
            "{table}.{column} opens with key 1"
        );
    }
    reads_back(store, &customer, &all).await;
}

/// A walk stopped part-way (a killed node) is taken over from its cursor by another store once
/// the lease has run out; rows behind the cursor are not walked twice in that pass.
async fn resumes_from_the_cursor(f: Fixture) {
    let store = &f.store;
    let customer = new_contract(store, "Resuming").await;
    let addresses = fill(store, &customer, 50, "r").await;
    store.start_key_rotation(Duration::ZERO).await.unwrap();
    let short_lease = RotationSettings {
        lease: Duration::from_millis(200),
        ..settings("node-a", 7)
    };
    // One batch: 7 of the 10 messages.
    for _ in 0..1 {
        assert!(matches!(
            store.reseal_step(&short_lease).await.unwrap(),
            RotationStep::Batch { .. }
        ));
    }
    let status = store.key_status(false).await.unwrap();
    let done_before = status.rotation.as_ref().unwrap().resealed;
    assert!(done_before > 0);
    drop(status);

    // node-a "dies" here. node-b is told to wait while node-a's lease lasts.
    let b = Store::connect(&f.url, SealingKey::from_bytes(f.key))
        .await
        .unwrap();
    let b_settings = settings("node-b", 7);
    assert!(matches!(
        b.reseal_step(&b_settings).await.unwrap(),
        RotationStep::Busy { ref owner, .. } if owner == "node-a"
    ));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let first = b.reseal_step(&b_settings).await.unwrap();
    let RotationStep::Batch { table, pass: 1, .. } = first else {
        panic!("{first:?}")
    };
    // Where node-a stopped: still in the first table, not back at its start.
    assert_eq!(table, "messages");
    finish(&b, &b_settings).await;
    // node-a, back, has lost the walk.
    assert_eq!(
        store.reseal_step(&short_lease).await.unwrap(),
        RotationStep::Idle
    );
    let rotation = b.key_status(false).await.unwrap().rotation.unwrap();
    let total = b.sealed_values().await.unwrap().len() as u64;
    assert_eq!(rotation.resealed, total, "each value re-sealed once");
    reads_back(&b, &customer, &addresses).await;
    store.refresh_keyring().await.unwrap();
    reads_back(store, &customer, &addresses).await;
}

/// A second node learns of the new key when it reloads its keyring: before the key's
/// activation it opens values under it but still seals under the old one; afterwards it seals
/// under the new key without another reload.
async fn a_second_node_learns_the_key_after_refresh(f: Fixture) {
    let a = &f.store;
    let b = Store::connect(&f.url, SealingKey::from_bytes(f.key))
        .await
        .unwrap();
    let customer = new_contract(a, "Two nodes").await;
    a.start_key_rotation(Duration::from_millis(600))
        .await
        .unwrap();
    // Sealed by a under the new key ahead of its activation (as the walk would).
    let early = fill(a, &customer, 0, "none").await;
    assert!(early.is_empty());
    assert_eq!(b.active_sealing_key(), 0);
    b.refresh_keyring().await.unwrap();
    assert_eq!(b.active_sealing_key(), 0, "loaded, not yet active");
    let before = fill(&b, &customer, 5, "b-before").await;
    assert!(
        b.sealed_values()
            .await
            .unwrap()
            .iter()
            .all(|(_, _, v)| sealing_key_id(v) == 0)
    );
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(b.active_sealing_key(), 1);
    let customer_b = new_contract(&b, "After").await;
    let after = fill(&b, &customer_b, 5, "b-after").await;
    let under_1 = b
        .sealed_values()
        .await
        .unwrap()
        .iter()
        .filter(|(_, _, v)| sealing_key_id(v) == 1)
        .count();
    assert!(under_1 >= 15, "{under_1}");
    // Each node reads what the other wrote.
    reads_back(a, &customer, &before).await;
    reads_back(a, &customer_b, &after).await;
    reads_back(&b, &customer_b, &after).await;
    finish(a, &settings("a", 100)).await;
    // b still holds key 0 until it reloads; after that, only key 1.
    b.refresh_keyring().await.unwrap();
    reads_back(&b, &customer, &before).await;
    reads_back(&b, &customer_b, &after).await;
}

on_both_backends!(
    rotate_reseal_and_retire,
    resumes_from_the_cursor,
    a_second_node_learns_the_key_after_refresh,
);
