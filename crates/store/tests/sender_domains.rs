//! Sender domains and DKIM keys on both backends: registered per contract and for the platform,
//! one contract per domain, the rotation's states, private keys sealed at rest, the contract's
//! policy for unregistered From domains.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::{ContractState, DkimKeyState, UnregisteredFrom};
use hikyaku_store::{NewDkimKey, StoreError};

on_both_backends!(
    domains_are_kept_per_contract_and_for_the_platform,
    a_domain_signs_for_one_contract,
    rotation_moves_keys_through_their_states,
    private_keys_are_sealed_at_rest,
    the_unregistered_from_policy_is_per_contract,
);

const PEM: &str = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWRraW0ta2V5\n-----END PRIVATE KEY-----\n";

fn key<'a>(selector: &'a str, algorithm: &'a str) -> NewDkimKey<'a> {
    NewDkimKey {
        selector,
        algorithm,
        public_key: "cHVibGlj",
        private_key_pem: PEM,
    }
}

async fn domains_are_kept_per_contract_and_for_the_platform(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let added = store
        .add_sender_domain(
            Some(&a),
            "Example.COM.",
            "dual",
            &[key("hk1r", "rsa-2048"), key("hk1e", "ed25519")],
        )
        .await
        .unwrap();
    assert_eq!(added.domain, "example.com");
    assert_eq!(added.customer_id.as_ref(), Some(&a));
    assert_eq!(added.keys.len(), 2);
    assert!(added.keys.iter().all(|k| k.state == DkimKeyState::Active));
    assert!(added.keys.iter().all(|k| k.activated_at.is_some()));
    store
        .add_sender_domain(Some(&a), "a.example.net", "ed25519", &[key("s", "ed25519")])
        .await
        .unwrap();
    let service = store
        .add_sender_domain(
            None,
            "mail.platform.example",
            "rsa-2048",
            &[key("p1", "rsa-2048")],
        )
        .await
        .unwrap();
    assert_eq!(service.customer_id, None);

    let listed = store.sender_domains(Some(&a)).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(names, ["a.example.net", "example.com"]);
    assert!(store.sender_domains(Some(&b)).await.unwrap().is_empty());
    assert_eq!(store.sender_domains(None).await.unwrap(), [service]);
    assert_eq!(
        store.sender_domain(Some(&a), "EXAMPLE.com").await.unwrap(),
        Some(added.clone())
    );
    assert_eq!(
        store.sender_domain(Some(&b), "example.com").await.unwrap(),
        None
    );
    assert_eq!(
        store.sender_domain(None, "example.com").await.unwrap(),
        None
    );

    let active = store.active_dkim_keys(Some(&a)).await.unwrap();
    let selectors: Vec<(&str, &str)> = active
        .iter()
        .map(|k| (k.domain.as_str(), k.selector.as_str()))
        .collect();
    assert_eq!(
        selectors,
        [
            ("a.example.net", "s"),
            ("example.com", "hk1r"),
            ("example.com", "hk1e")
        ]
    );
    assert!(active.iter().all(|k| k.private_key_pem == PEM));
    let platform = store.active_dkim_keys(None).await.unwrap();
    assert_eq!(platform.len(), 1);
    assert_eq!(platform[0].domain, "mail.platform.example");

    // Another contract cannot remove A's domain; A can, keys and all.
    assert!(
        !store
            .remove_sender_domain(Some(&b), "example.com")
            .await
            .unwrap()
    );
    assert!(
        store
            .remove_sender_domain(Some(&a), "example.com")
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_sender_domain(Some(&a), "example.com")
            .await
            .unwrap()
    );
    assert_eq!(store.active_dkim_keys(Some(&a)).await.unwrap().len(), 1);
}

async fn a_domain_signs_for_one_contract(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    store
        .add_sender_domain(Some(&a), "example.com", "rsa-2048", &[key("s", "rsa-2048")])
        .await
        .unwrap();
    for (customer, domain) in [
        (Some(&b), "EXAMPLE.COM"),
        (Some(&a), "example.com"),
        (None, "example.com."),
    ] {
        let err = store
            .add_sender_domain(customer, domain, "rsa-2048", &[key("s", "rsa-2048")])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::SenderDomainTaken(_)), "{err}");
    }
    for bad in [
        "",
        "localhost",
        "-a.example",
        "a..example",
        "exa mple.com",
        "例え.jp",
    ] {
        let err = store
            .add_sender_domain(Some(&b), bad, "rsa-2048", &[key("s", "rsa-2048")])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{bad}: {err}");
    }
    let unknown = "nosuchcontract".parse().unwrap();
    let err = store
        .add_sender_domain(
            Some(&unknown),
            "x.example",
            "rsa-2048",
            &[key("s", "rsa-2048")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");
    store
        .set_contract_state(&b, ContractState::Terminated)
        .await
        .unwrap();
    let err = store
        .add_sender_domain(Some(&b), "y.example", "rsa-2048", &[key("s", "rsa-2048")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractTerminated(_)), "{err}");
}

async fn rotation_moves_keys_through_their_states(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let domain = store
        .add_sender_domain(
            Some(&a),
            "example.com",
            "rsa-2048",
            &[key("old", "rsa-2048")],
        )
        .await
        .unwrap();
    // Nothing pending: nothing to activate.
    assert_eq!(
        store.activate_pending_dkim_keys(domain.id).await.unwrap(),
        0
    );
    let pending = store
        .add_pending_dkim_keys(domain.id, &[key("new", "rsa-2048")])
        .await
        .unwrap();
    assert_eq!(pending[0].state, DkimKeyState::Pending);
    assert_eq!(pending[0].activated_at, None);
    // A second rotation waits for the first; a selector is used once.
    let err = store
        .add_pending_dkim_keys(domain.id, &[key("newer", "rsa-2048")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    // The pending key signs nothing yet.
    let signing = store.active_dkim_keys(Some(&a)).await.unwrap();
    assert_eq!(signing.len(), 1);
    assert_eq!(signing[0].selector, "old");

    assert_eq!(
        store.activate_pending_dkim_keys(domain.id).await.unwrap(),
        1
    );
    let after = store
        .sender_domain(Some(&a), "example.com")
        .await
        .unwrap()
        .unwrap();
    let states: Vec<(&str, DkimKeyState)> = after
        .keys
        .iter()
        .map(|k| (k.selector.as_str(), k.state))
        .collect();
    assert_eq!(
        states,
        [
            ("old", DkimKeyState::Retired),
            ("new", DkimKeyState::Active)
        ]
    );
    let signing = store.active_dkim_keys(Some(&a)).await.unwrap();
    assert_eq!(signing.len(), 1);
    assert_eq!(signing[0].selector, "new");

    // The active key stays; the retired one goes; an unknown selector is reported.
    let err = store.remove_dkim_key(domain.id, "new").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    assert!(store.remove_dkim_key(domain.id, "old").await.unwrap());
    assert!(!store.remove_dkim_key(domain.id, "old").await.unwrap());
    let err = store
        .add_pending_dkim_keys(domain.id, &[key("new", "rsa-2048")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
}

async fn private_keys_are_sealed_at_rest(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    store
        .add_sender_domain(Some(&a), "example.com", "ed25519", &[key("s", "ed25519")])
        .await
        .unwrap();
    let raw = f.raw_bytes_of(&["dkim_keys", "sender_domains"]).await;
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(b"c2VjcmV0LWRraW0ta2V5"),
        "the private key is in clear"
    );
    assert!(
        !contains(b"BEGIN PRIVATE KEY"),
        "the private key is in clear"
    );
    // The public key and the domain are public by nature and stay readable.
    assert!(contains(b"cHVibGlj"));
    assert!(contains(b"example.com"));
}

async fn the_unregistered_from_policy_is_per_contract(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    assert_eq!(
        store.unregistered_from(&a).await.unwrap(),
        UnregisteredFrom::SignAsService
    );
    store
        .set_unregistered_from(&a, UnregisteredFrom::Refuse)
        .await
        .unwrap();
    assert_eq!(
        store.unregistered_from(&a).await.unwrap(),
        UnregisteredFrom::Refuse
    );
    assert_eq!(
        store.unregistered_from(&b).await.unwrap(),
        UnregisteredFrom::SignAsService
    );
    let unknown = "nosuchcontract".parse().unwrap();
    assert!(matches!(
        store.unregistered_from(&unknown).await,
        Err(StoreError::ContractNotFound(_))
    ));
    assert!(matches!(
        store
            .set_unregistered_from(&unknown, UnregisteredFrom::Refuse)
            .await,
        Err(StoreError::ContractNotFound(_))
    ));
}
