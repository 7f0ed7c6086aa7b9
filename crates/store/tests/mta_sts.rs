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

async fn a_saved_policy_outlives_the_store_until_it_expires(f: Fixture) {
    let t0 = 1_800_000_000_000;
    let day = 86_400_000;
    let saved = policy(
        "example.test",
        "20260101",
        &["mx.example.test", "*.mx.example.test"],
        t0,
    );
    f.store
        .save_mta_sts_policy(&saved, Timestamp(t0))
        .await
        .unwrap();
    assert_eq!(
        f.store
            .mta_sts_policy("nothing.test", Timestamp(t0))
            .await
            .unwrap(),
        None
    );

    // A node started anew on the same database finds it.
    let reopened = Store::connect(&f.url, SealingKey::from_bytes(f.key))
        .await
        .unwrap();
    let found = reopened
        .mta_sts_policy("example.test", Timestamp(t0 + 1))
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&saved));
    // Expired, it is no policy.
    assert_eq!(
        reopened
            .mta_sts_policy("example.test", Timestamp(t0 + day))
            .await
            .unwrap(),
        None
    );

    // A later fetch replaces it; an earlier one that arrives late does not.
    let newer = StoredStsPolicy {
        mode: "testing".into(),
        ..policy("example.test", "20260102", &["mx2.example.test"], t0 + 1000)
    };
    reopened
        .save_mta_sts_policy(&newer, Timestamp(t0 + 1000))
        .await
        .unwrap();
    let late = policy("example.test", "20251231", &["old.example.test"], t0 + 500);
    f.store
        .save_mta_sts_policy(&late, Timestamp(t0 + 1000))
        .await
        .unwrap();
    assert_eq!(
        f.store
            .mta_sts_policy("example.test", Timestamp(t0 + 2000))
            .await
            .unwrap(),
        Some(newer.clone())
    );

    // All of them at once, for a node's start: the unexpired ones.
    assert_eq!(
        f.store
            .mta_sts_policies(Timestamp(t0 + 2000))
            .await
            .unwrap(),
        vec![newer.clone()]
    );
    assert_eq!(
        f.store
            .mta_sts_policies(Timestamp(t0 + 2 * day))
            .await
            .unwrap(),
        vec![]
    );

    // Saving deletes the expired rows: asked with an earlier time, the old one is gone.
    let other = policy("other.test", "1", &["mx.other.test"], t0 + 2 * day);
    f.store
        .save_mta_sts_policy(&other, Timestamp(t0 + 2 * day))
        .await
        .unwrap();
    assert_eq!(
        f.store
            .mta_sts_policy("example.test", Timestamp(t0 + 2000))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        f.store
            .mta_sts_policy("other.test", Timestamp(t0 + 2 * day))
            .await
            .unwrap(),
        Some(other)
    );
    reopened.close().await;
}
