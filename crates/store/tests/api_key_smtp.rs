//! An API key presented as SMTP AUTH credentials (its name and its secret), as the hosted
//! service's API users send by SMTP with the same pair: on SQLite and PostgreSQL.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::{ContractState, Role};
use hikyaku_store::NewApiKey;

on_both_backends!(an_api_key_is_an_smtp_credential_of_its_contract);

async fn an_api_key_is_an_smtp_credential_of_its_contract(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let create = |customer, name, role| async move {
        store
            .create_api_key(
                customer,
                &NewApiKey {
                    name,
                    role,
                    see_addresses: false,
                },
            )
            .await
            .unwrap()
            .1
    };
    let sender = create(&a, "app@a.example", Role::Sender).await;
    let viewer = create(&a, "viewer@a.example", Role::Viewer).await;
    let other = create(&b, "app@b.example", Role::Admin).await;

    let verify = |user: &'static str, password: String| async move {
        store.verify_api_key_as_smtp(user, &password).await.unwrap()
    };
    assert_eq!(
        verify("app@a.example", sender.clone()).await,
        Some(a.clone())
    );
    assert_eq!(
        verify("app@b.example", other.clone()).await,
        Some(b.clone())
    );
    // The name must be the key's own, exactly.
    assert_eq!(verify("app@b.example", sender.clone()).await, None);
    assert_eq!(verify("APP@A.EXAMPLE", sender.clone()).await, None);
    // A key that may not send, a wrong secret, a password that is no key.
    assert_eq!(verify("viewer@a.example", viewer).await, None);
    assert_eq!(verify("app@a.example", format!("{sender}x")).await, None);
    assert_eq!(
        verify("app@a.example", "correct horse battery".into()).await,
        None
    );
    // A terminated contract's keys stop working.
    store
        .set_contract_state(&b, ContractState::Terminated)
        .await
        .unwrap();
    assert_eq!(verify("app@b.example", other).await, None);
}
