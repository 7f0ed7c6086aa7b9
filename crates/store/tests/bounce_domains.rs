//! Contracts' own bounce domains against real databases: every test body runs once on SQLite
//! and once on PostgreSQL.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::{ContractState, CustomerId};
use hikyaku_store::{StoreError, normalize_bounce_domain};

on_both_backends!(
    a_contract_sets_replaces_shows_and_clears_its_bounce_domain,
    a_domain_serves_one_contract_only,
    a_terminated_contracts_domain_is_free_again,
    concurrent_claims_of_one_domain_leave_one_holder,
);

async fn a_contract_sets_replaces_shows_and_clears_its_bounce_domain(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    assert_eq!(store.bounce_domain(&a).await.unwrap(), None);

    let set = store
        .set_bounce_domain(&a, " Bounce.Example.COM. ")
        .await
        .unwrap();
    assert_eq!(set.domain, "bounce.example.com");
    assert_eq!(set.customer_id, a);
    assert_eq!(store.bounce_domain(&a).await.unwrap(), Some(set.clone()));
    for spelling in [
        "bounce.example.com",
        "BOUNCE.example.com.",
        "bounce.EXAMPLE.com",
    ] {
        assert_eq!(
            store.bounce_domain_holder(spelling).await.unwrap(),
            Some(set.clone()),
            "{spelling}"
        );
    }
    assert_eq!(
        store.bounce_domain_holder("example.com").await.unwrap(),
        None
    );
    assert_eq!(
        store.bounce_domain_holder("not a domain").await.unwrap(),
        None
    );

    // The same domain again changes nothing, not even its time.
    let again = store
        .set_bounce_domain(&a, "bounce.example.com")
        .await
        .unwrap();
    assert_eq!(again, set);

    // Another one replaces it: the old domain is nobody's now.
    let replaced = store.set_bounce_domain(&a, "rp.example.com").await.unwrap();
    assert_eq!(replaced.domain, "rp.example.com");
    assert_eq!(
        store.bounce_domain(&a).await.unwrap(),
        Some(replaced.clone())
    );
    assert_eq!(
        store
            .bounce_domain_holder("bounce.example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.bounce_domains().await.unwrap(),
        std::slice::from_ref(&replaced)
    );

    assert_eq!(store.clear_bounce_domain(&a).await.unwrap(), Some(replaced));
    assert_eq!(store.bounce_domain(&a).await.unwrap(), None);
    assert_eq!(store.clear_bounce_domain(&a).await.unwrap(), None);
    assert!(store.bounce_domains().await.unwrap().is_empty());

    for bad in [
        "",
        "localhost",
        "bounce..example.com",
        "-bounce.example.com",
        "bounce_x.example.com",
        "bounce@example.com",
        "bounce.例え.jp",
        &format!("{}.example.com", "a".repeat(64)),
    ] {
        let err = store.set_bounce_domain(&a, bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{bad}: {err}");
    }
    assert_eq!(
        normalize_bounce_domain("xn--r8jz45g.jp").unwrap(),
        "xn--r8jz45g.jp"
    );
    let unknown = CustomerId::generate();
    let err = store
        .set_bounce_domain(&unknown, "bounce.example.org")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");
}

async fn a_domain_serves_one_contract_only(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    store
        .set_bounce_domain(&a, "bounce.shared.example")
        .await
        .unwrap();
    let err = store
        .set_bounce_domain(&b, "Bounce.Shared.Example")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BounceDomainTaken(_)), "{err}");
    assert!(
        !err.to_string().contains(a.as_str()),
        "the refusal does not say whose it is: {err}"
    );
    assert_eq!(store.bounce_domain(&b).await.unwrap(), None);
    // B's own domain is untouched by its failed claim.
    store
        .set_bounce_domain(&b, "bounce.b.example")
        .await
        .unwrap();
    let err = store
        .set_bounce_domain(&b, "bounce.shared.example")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BounceDomainTaken(_)), "{err}");
    assert_eq!(
        store.bounce_domain(&b).await.unwrap().unwrap().domain,
        "bounce.b.example"
    );
    let holders: Vec<(String, CustomerId)> = store
        .bounce_domains()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.domain, d.customer_id))
        .collect();
    assert_eq!(
        holders,
        [
            ("bounce.b.example".to_string(), b.clone()),
            ("bounce.shared.example".to_string(), a.clone()),
        ]
    );
    // Once A lets it go, B may have it.
    store.clear_bounce_domain(&a).await.unwrap();
    store
        .set_bounce_domain(&b, "bounce.shared.example")
        .await
        .unwrap();
    assert_eq!(
        store
            .bounce_domain_holder("bounce.shared.example")
            .await
            .unwrap()
            .unwrap()
            .customer_id,
        b
    );
}

async fn a_terminated_contracts_domain_is_free_again(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    store
        .set_bounce_domain(&a, "bounce.old.example")
        .await
        .unwrap();
    store
        .set_contract_state(&a, ContractState::Terminated)
        .await
        .unwrap();
    // Bounces of its last messages still come in until someone else takes the domain.
    assert_eq!(
        store
            .bounce_domain_holder("bounce.old.example")
            .await
            .unwrap()
            .unwrap()
            .customer_id,
        a
    );
    let err = store
        .set_bounce_domain(&a, "bounce.other.example")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractTerminated(_)), "{err}");
    store
        .set_bounce_domain(&b, "bounce.old.example")
        .await
        .unwrap();
    assert_eq!(store.bounce_domain(&a).await.unwrap(), None);
    assert_eq!(
        store.bounce_domain(&b).await.unwrap().unwrap().domain,
        "bounce.old.example"
    );
}

async fn concurrent_claims_of_one_domain_leave_one_holder(f: Fixture) {
    let store = &f.store;
    let mut contracts = Vec::new();
    for i in 0..6 {
        contracts.push(new_contract(store, &format!("C{i}")).await);
    }
    let claims = contracts.iter().map(|id| {
        let store = store.clone();
        let id = id.clone();
        tokio::spawn(async move { store.set_bounce_domain(&id, "bounce.race.example").await })
    });
    let mut won = Vec::new();
    for (claim, id) in futures_join(claims).await.into_iter().zip(&contracts) {
        match claim {
            Ok(domain) => won.push(domain.customer_id),
            Err(StoreError::BounceDomainTaken(_)) => {}
            Err(other) => panic!("{id}: {other}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one claim wins: {won:?}");
    let holder = store
        .bounce_domain_holder("bounce.race.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder.customer_id, won[0]);
}

/// Awaits every task, in order.
async fn futures_join<T>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}
