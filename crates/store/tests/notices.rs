//! Contract notices on both backends: recorded once per (contract, kind, key), listed newest
//! first per contract or for all, details sealed at rest, and their mail claimed with a lease
//! (a claim that is never finished comes back when the lease ends; two claimers never share
//! one), finished once; the notices' sender contract is made once.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::{ContractState, NoticeKind, Timestamp};
use hikyaku_store::{MAX_NOTICE_KEY_LEN, StoreError};
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    a_notice_is_recorded_once_per_contract_kind_and_key,
    notices_are_listed_newest_first_per_contract,
    details_are_sealed_at_rest,
    mail_is_claimed_with_a_lease_and_finished_once,
    concurrent_claims_never_share_a_notice,
    bad_keys_and_unknown_contracts_are_refused,
    the_sender_contract_is_made_once,
);

const T0: Timestamp = Timestamp(1_800_000_000_000);

async fn a_notice_is_recorded_once_per_contract_kind_and_key(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let expiring = NoticeKind::SmimeCertificateExpiring;
    let first = store
        .record_notice(&a, expiring, "7", json!({"certificate_id": 7}), T0)
        .await
        .unwrap();
    assert!(first.is_some());
    // The daily scan sees the same certificate again: nothing new.
    let again = store
        .record_notice(
            &a,
            expiring,
            "7",
            json!({"certificate_id": 7, "later": true}),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(again, None);
    // Another kind, another key, another contract: each new.
    for (customer, kind, key) in [
        (&a, NoticeKind::SmimeCertificateExpired, "7"),
        (&a, expiring, "8"),
        (&b, expiring, "7"),
    ] {
        let id = store
            .record_notice(customer, kind, key, json!({}), T0)
            .await
            .unwrap();
        assert!(id > first, "{kind} {key}");
    }
    let listed = store.list_notices(Some(&a), 10).await.unwrap();
    assert_eq!(listed.len(), 3);
    let original = listed.iter().find(|n| Some(n.id) == first).unwrap();
    assert_eq!(original.details, json!({"certificate_id": 7}));
    assert_eq!(original.kind, expiring);
    assert_eq!(original.key, "7");
    assert_eq!(original.created_at, T0);
    assert_eq!(original.mailed_at, None);
}

async fn notices_are_listed_newest_first_per_contract(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    for i in 0..5 {
        let customer = if i % 2 == 0 { &a } else { &b };
        store
            .record_notice(
                customer,
                NoticeKind::TrialExpiring,
                &format!("k{i}"),
                json!({"i": i}),
                Timestamp(T0.as_millis() + i),
            )
            .await
            .unwrap()
            .unwrap();
    }
    let all = store.list_notices(None, 10).await.unwrap();
    let keys: Vec<&str> = all.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(keys, ["k4", "k3", "k2", "k1", "k0"]);
    let of_a = store.list_notices(Some(&a), 10).await.unwrap();
    let keys: Vec<&str> = of_a.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(keys, ["k4", "k2", "k0"]);
    assert!(of_a.iter().all(|n| n.customer_id == a));
    let limited = store.list_notices(Some(&b), 1).await.unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].key, "k3");
    assert_eq!(limited[0].details, json!({"i": 3}));
}

async fn details_are_sealed_at_rest(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    store
        .record_notice(
            &a,
            NoticeKind::SmimeCertificateExpired,
            "1",
            json!({"subject": "EMAIL=secret-owner@example.jp,CN=Owner"}),
            T0,
        )
        .await
        .unwrap();
    let raw = f.raw_bytes_of(&["notices"]).await;
    let needle = b"secret-owner@example.jp";
    assert!(!raw.windows(needle.len()).any(|w| w == needle));
}

async fn mail_is_claimed_with_a_lease_and_finished_once(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let lease = Duration::from_secs(60);
    let mut ids = Vec::new();
    for key in ["1", "2", "3"] {
        ids.push(
            store
                .record_notice(&a, NoticeKind::ReputationWarning, key, json!({}), T0)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    // Not yet due before it was recorded.
    let early = Timestamp(T0.as_millis() - 1);
    assert!(
        store
            .claim_notices_to_mail(early, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_notices_to_mail(T0, lease, 2).await.unwrap();
    assert_eq!(claimed.iter().map(|n| n.id).collect::<Vec<_>>(), ids[..2]);
    assert!(claimed.iter().all(|n| n.mail_attempts == 1));
    // Claimed ones are not handed out again during their lease.
    let rest = store.claim_notices_to_mail(T0, lease, 10).await.unwrap();
    assert_eq!(rest.iter().map(|n| n.id).collect::<Vec<_>>(), [ids[2]]);
    assert!(store.finish_notice_mail(ids[0], T0, 2).await.unwrap());
    assert!(!store.finish_notice_mail(ids[0], T0, 2).await.unwrap());
    assert!(store.finish_notice_mail(ids[2], T0, 0).await.unwrap());
    // The mailer of ids[1] stopped: after the lease it is due again, and only it.
    let within = Timestamp(T0.as_millis() + 59_000);
    assert!(
        store
            .claim_notices_to_mail(within, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let after = Timestamp(T0.as_millis() + 60_000);
    let again = store.claim_notices_to_mail(after, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, ids[1]);
    assert_eq!(again[0].mail_attempts, 2);
    assert!(store.finish_notice_mail(ids[1], after, 1).await.unwrap());
    let far = Timestamp(T0.as_millis() + 86_400_000);
    assert!(
        store
            .claim_notices_to_mail(far, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let listed = store.list_notices(Some(&a), 10).await.unwrap();
    let mailed: Vec<(Option<Timestamp>, Option<u32>)> = listed
        .iter()
        .rev()
        .map(|n| (n.mailed_at, n.mailed_to))
        .collect();
    assert_eq!(
        mailed,
        [
            (Some(T0), Some(2)),
            (Some(after), Some(1)),
            (Some(T0), Some(0))
        ]
    );
}

async fn concurrent_claims_never_share_a_notice(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    for i in 0..40 {
        store
            .record_notice(&a, NoticeKind::SendingPaused, &i.to_string(), json!({}), T0)
            .await
            .unwrap();
    }
    let lease = Duration::from_secs(60);
    let claims = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store.claim_notices_to_mail(T0, lease, 3).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|n| n.id));
            }
        })
    });
    let mut all: Vec<i64> = Vec::new();
    for claim in claims.collect::<Vec<_>>() {
        all.extend(claim.await.unwrap());
    }
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(count, 40);
    assert_eq!(all.len(), 40);
}

async fn bad_keys_and_unknown_contracts_are_refused(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let kind = NoticeKind::WebhookEndpointDisabled;
    for key in [String::new(), "x".repeat(MAX_NOTICE_KEY_LEN + 1)] {
        let refused = store.record_notice(&a, kind, &key, json!({}), T0).await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{refused:?}"
        );
    }
    let longest = "x".repeat(MAX_NOTICE_KEY_LEN);
    assert!(
        store
            .record_notice(&a, kind, &longest, json!({}), T0)
            .await
            .unwrap()
            .is_some()
    );
    let unknown = "cnobody".parse().unwrap();
    let refused = store
        .record_notice(&unknown, kind, "1", json!({}), T0)
        .await;
    assert!(
        matches!(refused, Err(StoreError::ContractNotFound(_))),
        "{refused:?}"
    );
    assert!(
        store
            .list_notices(Some(&unknown), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_sender_contract_is_made_once(f: Fixture) {
    let store = &f.store;
    let (first, second) = tokio::join!(
        store.notice_sender_contract("Hikyaku notices"),
        store.notice_sender_contract("Hikyaku notices"),
    );
    let first = first.unwrap();
    assert_eq!(second.unwrap(), first);
    assert_eq!(store.notice_sender_contract("other").await.unwrap(), first);
    let contract = store.contract(&first).await.unwrap().unwrap();
    assert_eq!(contract.state, ContractState::Active);
    assert_eq!(contract.plan, "system");
    assert_eq!(contract.name, "Hikyaku notices");
    // The loser of a race leaves no stray contract behind.
    assert_eq!(store.contracts().await.unwrap().len(), 1);
}
