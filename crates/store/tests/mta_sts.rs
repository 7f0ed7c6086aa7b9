//! The MTA-STS policies delivery keeps across restarts, on both backends: a saved policy is
//! read back by a store opened anew on the same database until it expires; a newer fetch
//! replaces it and an older one (another node's, late) does not; expired rows go.

mod common;

use common::{Fixture, on_both_backends};
use hikyaku_model::Timestamp;
use hikyaku_store::{SealingKey, Store, StoredStsPolicy};
use std::time::Duration;

on_both_backends!(a_saved_policy_outlives_the_store_until_it_expires);

fn policy(domain: &str, id: &str, mx: &[&str], fetched_at: i64) -> StoredStsPolicy {
    let max_age = Duration::from_secs(86_400);
    StoredStsPolicy {
        domain: domain.into(),
        policy_id: id.into(),
        mode: "enforce".into(),
        mx: mx.iter().map(|m| m.to_string()).collect(),
        max_age,
        fetched_at: Timestamp(fetched_at),
        expires_at: Timestamp(fetched_at).saturating_add(max_age),
    }
}

async fn save(store: &Store, policy: &StoredStsPolicy, now: i64) {
    store
        .save_mta_sts_policy(policy, Timestamp(now))
        .await
        .unwrap();
}

async fn found(store: &Store, domain: &str, now: i64) -> Option<StoredStsPolicy> {
    store.mta_sts_policy(domain, Timestamp(now)).await.unwrap()
}

async fn all(store: &Store, now: i64) -> Vec<StoredStsPolicy> {
    store.mta_sts_policies(Timestamp(now)).await.unwrap()
}

async fn a_saved_policy_outlives_the_store_until_it_expires(f: Fixture) {
    let t0 = 1_800_000_000_000;
    let day = 86_400_000;
    let saved = policy(
        "example.test",
        "20260101",
        &["mx.example.test", "*.mx.example.test"],
        t0,
    );
    save(&f.store, &saved, t0).await;
    assert_eq!(found(&f.store, "nothing.test", t0).await, None);

    // A node started anew on the same database finds it.
    let reopened = Store::connect(&f.url, SealingKey::from_bytes(f.key))
        .await
        .unwrap();
    assert_eq!(
        found(&reopened, "example.test", t0 + 1).await,
        Some(saved.clone())
    );
    // Expired, it is no policy.
    assert_eq!(found(&reopened, "example.test", t0 + day).await, None);

    // A later fetch replaces it; an earlier one that arrives late does not.
    let newer = StoredStsPolicy {
        mode: "testing".into(),
        ..policy("example.test", "20260102", &["mx2.example.test"], t0 + 1000)
    };
    save(&reopened, &newer, t0 + 1000).await;
    let late = policy("example.test", "20251231", &["old.example.test"], t0 + 500);
    save(&f.store, &late, t0 + 1000).await;
    assert_eq!(
        found(&f.store, "example.test", t0 + 2000).await,
        Some(newer.clone())
    );

    // All of them at once, for a node's start: the unexpired ones.
    assert_eq!(all(&f.store, t0 + 2000).await, vec![newer.clone()]);
    assert_eq!(all(&f.store, t0 + 2 * day).await, vec![]);

    // Saving deletes the expired rows: asked with an earlier time, the old one is gone.
    let other = policy("other.test", "1", &["mx.other.test"], t0 + 2 * day);
    save(&f.store, &other, t0 + 2 * day).await;
    assert_eq!(found(&f.store, "example.test", t0 + 2000).await, None);
    assert_eq!(
        found(&f.store, "other.test", t0 + 2 * day).await,
        Some(other)
    );
    reopened.close().await;
}
