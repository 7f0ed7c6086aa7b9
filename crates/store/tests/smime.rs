//! S/MIME certificates on both backends: installed, listed and removed per contract, keys and
//! addresses sealed at rest, the expiry report across contracts, bad input refused.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::{ContractState, Timestamp};
use hikyaku_store::{NewSmimeCertificate, StoreError};

on_both_backends!(
    certificates_are_kept_per_contract,
    keys_chains_and_addresses_are_sealed_at_rest,
    the_expiry_report_spans_contracts,
    bad_certificates_and_contracts_are_refused,
);

const DAY: i64 = 86_400_000;

fn new<'a>(
    addresses: &'a [String],
    only: &'a [String],
    not_after: Timestamp,
) -> NewSmimeCertificate<'a> {
    NewSmimeCertificate {
        subject: "EMAIL=alice@example.jp,CN=Alice",
        chain_pem: "-----BEGIN CERTIFICATE-----\nYWxpY2VAZXhhbXBsZS5qcA==\n-----END CERTIFICATE-----\n",
        key_pem: "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
        addresses,
        not_before: Timestamp(Timestamp::now().as_millis() - DAY),
        not_after,
        only_domains: only,
    }
}

async fn certificates_are_kept_per_contract(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let addresses = vec![
        "alice@example.jp".to_string(),
        "Billing@Example.jp".to_string(),
    ];
    let only = vec![
        "Gmail.COM.".to_string(),
        "example.net".to_string(),
        "gmail.com".to_string(),
    ];
    let later = Timestamp(Timestamp::now().as_millis() + 90 * DAY);
    let first = store
        .add_smime_certificate(&a, &new(&addresses, &only, later))
        .await
        .unwrap();
    assert_eq!(first.only_domains, ["gmail.com", "example.net"]);
    let second = store
        .add_smime_certificate(&a, &new(&addresses, &[], later))
        .await
        .unwrap();
    assert!(second.id > first.id);
    let listed = store.smime_certificates(&a).await.unwrap();
    assert_eq!(listed, [first.clone(), second.clone()]);
    assert_eq!(listed[0].addresses, addresses);
    assert!(listed[1].only_domains.is_empty());
    let with_keys = store.smime_signing_certificates(&a).await.unwrap();
    assert_eq!(with_keys.len(), 2);
    assert!(with_keys[0].1.contains("c2VjcmV0LWtleS1ieXRlcw=="));
    assert!(store.smime_certificates(&b).await.unwrap().is_empty());
    // Another contract cannot remove A's certificate.
    assert!(!store.remove_smime_certificate(&b, first.id).await.unwrap());
    assert!(store.remove_smime_certificate(&a, first.id).await.unwrap());
    assert!(!store.remove_smime_certificate(&a, first.id).await.unwrap());
    assert_eq!(store.smime_certificates(&a).await.unwrap(), [second]);
}

async fn keys_chains_and_addresses_are_sealed_at_rest(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let addresses = vec!["sealed-alice@example.jp".to_string()];
    let later = Timestamp(Timestamp::now().as_millis() + 90 * DAY);
    store
        .add_smime_certificate(&a, &new(&addresses, &[], later))
        .await
        .unwrap();
    let raw = f.raw_bytes_of(&["smime_certificates"]).await;
    for secret in [
        &b"sealed-alice"[..],
        b"alice@example.jp",
        b"c2VjcmV0LWtleS1ieXRlcw",
        b"YWxpY2VAZXhhbXBsZS5qcA",
        b"BEGIN",
    ] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret),
            "{} is in the database in clear",
            String::from_utf8_lossy(secret)
        );
    }
}

async fn the_expiry_report_spans_contracts(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let addresses = vec!["x@example.jp".to_string()];
    let now = Timestamp::now().as_millis();
    let expired = store
        .add_smime_certificate(&a, &new(&addresses, &[], Timestamp(now - DAY)))
        .await
        .unwrap();
    let soon = store
        .add_smime_certificate(&b, &new(&addresses, &[], Timestamp(now + 10 * DAY)))
        .await
        .unwrap();
    store
        .add_smime_certificate(&a, &new(&addresses, &[], Timestamp(now + 60 * DAY)))
        .await
        .unwrap();
    let report = store
        .smime_certificates_expiring(Timestamp(now + 30 * DAY))
        .await
        .unwrap();
    assert_eq!(report, [expired, soon]);
}

async fn bad_certificates_and_contracts_are_refused(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let later = Timestamp(Timestamp::now().as_millis() + DAY);
    let err = store
        .add_smime_certificate(&a, &new(&[], &[], later))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    let addresses = vec!["x@example.jp".to_string()];
    for bad in ["", "a b.example", "exa_mple.com", "a..b"] {
        let only = vec![bad.to_string()];
        let err = store
            .add_smime_certificate(&a, &new(&addresses, &only, later))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{bad:?}: {err}");
    }
    let missing: hikyaku_model::CustomerId = "nosuchcontract".parse().unwrap();
    let err = store
        .add_smime_certificate(&missing, &new(&addresses, &[], later))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");
    store
        .set_contract_state(&a, ContractState::Terminated)
        .await
        .unwrap();
    let err = store
        .add_smime_certificate(&a, &new(&addresses, &[], later))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractTerminated(_)), "{err}");
}
