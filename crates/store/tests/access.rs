//! Console users, API keys and operator keys on both backends: the per-contract limit,
//! authentication by key (revocation at once, contracts kept apart, garbage refused), console
//! logins, e-mail addresses sealed at rest and unique within a contract only.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::{ApiCaller, ContractState, Role};
use hikyaku_store::{
    API_KEY_PREFIX, IdPage, KeepAnAdmin, MAX_CREDENTIALS_PER_CONTRACT, NewApiKey, NewConsoleUser,
    OPERATOR_KEY_PREFIX, StoreError,
};

on_both_backends!(
    the_511th_user_or_key_is_refused,
    concurrent_creators_never_pass_the_limit,
    api_keys_authenticate_as_their_contract_until_revoked,
    operator_keys_authenticate_as_the_operator,
    garbage_keys_are_refused,
    keys_of_a_terminated_contract_are_refused,
    console_logins_check_the_password,
    emails_are_sealed_at_rest,
    emails_are_unique_within_a_contract_only,
    listings_page_by_id,
    unknown_and_terminated_contracts_get_no_credentials,
    the_last_admin_user_is_kept_when_asked,
);

fn key(name: &str) -> NewApiKey<'_> {
    NewApiKey {
        name,
        role: Role::Sender,
        see_addresses: false,
    }
}

fn user<'a>(email: &'a str, password: &'a str) -> NewConsoleUser<'a> {
    NewConsoleUser {
        email,
        password,
        role: Role::Admin,
        see_addresses: false,
    }
}

async fn the_511th_user_or_key_is_refused(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Full").await;
    let other = new_contract(store, "Other").await;
    // A few users (argon2 is slow on purpose), the rest keys: the limit counts both.
    for i in 0..3 {
        store
            .create_console_user(&c, &user(&format!("u{i}@example.jp"), "password123"))
            .await
            .unwrap();
    }
    for i in 3..MAX_CREDENTIALS_PER_CONTRACT {
        store
            .create_api_key(&c, &key(&format!("key {i}")))
            .await
            .unwrap();
    }
    let err = store
        .create_api_key(&c, &key("one too many"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::TooManyCredentials { customer_id, limit: 510 } if customer_id == &c),
        "{err}"
    );
    assert!(!err.is_transient());
    let err = store
        .create_console_user(&c, &user("late@example.jp", "password123"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TooManyCredentials { .. }),
        "{err}"
    );
    // The other contract is not affected, and a removal makes room again.
    store.create_api_key(&other, &key("fine")).await.unwrap();
    let keys = store.api_keys(&c, &IdPage::default()).await.unwrap();
    assert_eq!(keys.len(), MAX_CREDENTIALS_PER_CONTRACT - 3);
    store
        .revoke_api_key(&c, &keys[0].key_id)
        .await
        .unwrap()
        .unwrap();
    store
        .create_console_user(&c, &user("late@example.jp", "password123"))
        .await
        .unwrap();
    let err = store.create_api_key(&c, &key("again")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooManyCredentials { .. }),
        "{err}"
    );
    assert!(
        store
            .remove_console_user(&c, "U0@Example.jp", KeepAnAdmin::No)
            .await
            .unwrap()
            .is_some()
    );
    store.create_api_key(&c, &key("again")).await.unwrap();
}

async fn concurrent_creators_never_pass_the_limit(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Race").await;
    for i in 0..MAX_CREDENTIALS_PER_CONTRACT - 1 {
        store
            .create_api_key(&c, &key(&format!("key {i}")))
            .await
            .unwrap();
    }
    // Twenty creators start at once for the last place, through two stores on the same
    // database (as two nodes, or the CLI beside a running server, would).
    let second =
        hikyaku_store::Store::connect(&f.url, hikyaku_store::SealingKey::from_bytes(f.key))
            .await
            .unwrap();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            store.clone()
        } else {
            second.clone()
        };
        let (c, start) = (c.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store.create_api_key(&c, &key(&format!("racer {i}"))).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::TooManyCredentials { .. }) => {}
            // SQLite's busy timeout may run out under twenty writers; that is a refusal too.
            Err(e) if e.is_transient() => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(created, 1, "exactly one creator gets the last place");
    let keys = store.api_keys(&c, &IdPage::default()).await.unwrap();
    assert_eq!(keys.len(), MAX_CREDENTIALS_PER_CONTRACT);
    second.close().await;
}

async fn api_keys_authenticate_as_their_contract_until_revoked(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let (key_a, secret_a) = store
        .create_api_key(
            &a,
            &NewApiKey {
                name: "reports",
                role: Role::Viewer,
                see_addresses: true,
            },
        )
        .await
        .unwrap();
    let (key_b, secret_b) = store.create_api_key(&b, &key("sender")).await.unwrap();
    assert!(secret_a.starts_with(API_KEY_PREFIX) && secret_a.len() >= 3 + 22);
    assert!(secret_a.starts_with(&key_a.prefix) && key_a.prefix.len() < secret_a.len() / 2);
    assert_eq!(key_a.name, "reports");
    assert_eq!(
        store.authenticate_api_key(&secret_a).await.unwrap(),
        Some(ApiCaller::Contract {
            customer_id: a.clone(),
            key_id: key_a.key_id.clone(),
            role: Role::Viewer,
            see_addresses: true,
        })
    );
    assert_eq!(
        store.authenticate_api_key(&secret_b).await.unwrap(),
        Some(ApiCaller::Contract {
            customer_id: b.clone(),
            key_id: key_b.key_id.clone(),
            role: Role::Sender,
            see_addresses: false,
        })
    );
    // A contract cannot revoke another's key, and the listing shows its own keys only.
    assert_eq!(store.revoke_api_key(&a, &key_b.key_id).await.unwrap(), None);
    assert!(
        store
            .authenticate_api_key(&secret_b)
            .await
            .unwrap()
            .is_some()
    );
    let listed = store.api_keys(&a, &IdPage::default()).await.unwrap();
    assert_eq!(listed, vec![key_a.clone()]);
    assert_eq!(
        store.api_key(&a, &key_a.key_id).await.unwrap().as_ref(),
        Some(&key_a)
    );
    assert_eq!(store.api_key(&a, &key_b.key_id).await.unwrap(), None);
    // Revocation counts from the next request on: nothing is cached.
    assert_eq!(
        store.revoke_api_key(&a, &key_a.key_id).await.unwrap(),
        Some(key_a.clone())
    );
    assert_eq!(store.authenticate_api_key(&secret_a).await.unwrap(), None);
    assert_eq!(store.revoke_api_key(&a, &key_a.key_id).await.unwrap(), None);
    assert_eq!(store.api_key(&a, &key_a.key_id).await.unwrap(), None);
    assert!(
        store
            .api_keys(&a, &IdPage::default())
            .await
            .unwrap()
            .is_empty()
    );
    // Neither the secret nor anything that leads back to it is in the database.
    let raw = f.raw_bytes_of(&["api_keys"]).await;
    assert!(!contains(&raw, secret_b.as_bytes()));
    assert!(!contains(&raw, &secret_b.as_bytes()[3..]));
}

async fn operator_keys_authenticate_as_the_operator(f: Fixture) {
    let store = &f.store;
    let (op, secret) = store.create_operator_key("ops laptop").await.unwrap();
    assert!(secret.starts_with(OPERATOR_KEY_PREFIX));
    assert_eq!(
        store.authenticate_api_key(&secret).await.unwrap(),
        Some(ApiCaller::Operator {
            key_id: op.key_id.clone()
        })
    );
    // The same secret under the contract prefix is a different (unknown) key.
    let as_contract_key = format!("{API_KEY_PREFIX}{}", &secret[OPERATOR_KEY_PREFIX.len()..]);
    assert_eq!(
        store.authenticate_api_key(&as_contract_key).await.unwrap(),
        None
    );
    assert_eq!(
        store.operator_keys(&IdPage::default()).await.unwrap(),
        vec![op.clone()]
    );
    assert_eq!(
        store.revoke_operator_key(&op.key_id).await.unwrap(),
        Some(op)
    );
    assert_eq!(store.authenticate_api_key(&secret).await.unwrap(), None);
    assert!(
        store
            .operator_keys(&IdPage::default())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn garbage_keys_are_refused(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "C").await;
    let (_, secret) = store.create_api_key(&c, &key("k")).await.unwrap();
    let mut flipped = secret.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'a' { b'b' } else { b'a' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [
        "",
        "hk_",
        "hko_",
        "Bearer x",
        &secret[..secret.len() - 1],
        &format!("{secret}x"),
        &format!(" {secret}"),
        &format!("{secret}\n"),
        &secret.to_uppercase(),
        &flipped,
        &secret[API_KEY_PREFIX.len()..],
        &"hk_".repeat(10_000),
        "hk_' OR '1'='1",
        "hk_\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    ] {
        assert_eq!(
            store.authenticate_api_key(bad).await.unwrap(),
            None,
            "{bad:?}"
        );
    }
    assert!(store.authenticate_api_key(&secret).await.unwrap().is_some());
}

async fn keys_of_a_terminated_contract_are_refused(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Ending").await;
    let (_, secret) = store.create_api_key(&c, &key("k")).await.unwrap();
    let boss = store
        .create_console_user(&c, &user("boss@example.jp", "password123"))
        .await
        .unwrap();
    store
        .set_contract_state(&c, ContractState::Suspended)
        .await
        .unwrap();
    assert!(store.authenticate_api_key(&secret).await.unwrap().is_some());
    store
        .set_contract_state(&c, ContractState::Terminated)
        .await
        .unwrap();
    assert_eq!(store.authenticate_api_key(&secret).await.unwrap(), None);
    assert_eq!(
        store
            .verify_console_login(&c, "boss@example.jp", "password123")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.console_user(&c, &boss.user_id).await.unwrap(), None);
}

async fn console_logins_check_the_password(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let created = store
        .create_console_user(
            &a,
            &NewConsoleUser {
                email: " Taro@Example.JP ",
                password: "correct horse",
                role: Role::Billing,
                see_addresses: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(created.email, "Taro@Example.JP");
    assert_eq!(created.role, Role::Billing);
    assert!(created.see_addresses);
    let found = store
        .verify_console_login(&a, "taro@example.jp", "correct horse")
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&created));
    assert_eq!(
        found.unwrap().caller(),
        ApiCaller::Contract {
            customer_id: a.clone(),
            key_id: created.user_id.clone(),
            role: Role::Billing,
            see_addresses: true,
        }
    );
    for (customer, email, password) in [
        (&a, "taro@example.jp", "correct horsE"),
        (&a, "taro@example.jp", ""),
        (&a, "jiro@example.jp", "correct horse"),
        // The same person's login names the contract: another contract's ID does not do.
        (&b, "taro@example.jp", "correct horse"),
    ] {
        assert_eq!(
            store
                .verify_console_login(customer, email, password)
                .await
                .unwrap(),
            None,
            "{customer} {email} {password}"
        );
    }
    let users = store.console_users(&a, &IdPage::default()).await.unwrap();
    assert_eq!(users, vec![created.clone()]);
    assert!(
        store
            .console_users(&b, &IdPage::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .console_user(&a, &created.user_id)
            .await
            .unwrap()
            .as_ref(),
        Some(&created)
    );
    assert_eq!(
        store.console_user(&b, &created.user_id).await.unwrap(),
        None
    );
    // Removal by another contract does nothing; by ID it works, and the login stops.
    assert_eq!(
        store
            .remove_console_user(&b, &created.user_id, KeepAnAdmin::No)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .remove_console_user(&a, &created.user_id, KeepAnAdmin::No)
            .await
            .unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store
            .verify_console_login(&a, "taro@example.jp", "correct horse")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.console_user(&a, &created.user_id).await.unwrap(),
        None
    );
    for (email, password) in [
        ("not an address", "password123"),
        ("@example.jp", "password123"),
        ("ok@example.jp", "short"),
    ] {
        let err = store
            .create_console_user(&a, &user(email, password))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{email}: {err}");
    }
}

async fn emails_are_sealed_at_rest(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sealed").await;
    store
        .create_console_user(&c, &user("hanako.yamada@example.jp", "password123"))
        .await
        .unwrap();
    let raw = f.raw_bytes_of(&["console_users"]).await;
    assert!(!contains(&raw, b"hanako.yamada"));
    assert!(!contains(&raw, b"hanako.yamada@example.jp"));
    assert!(!contains(&raw, b"password123"));
}

async fn emails_are_unique_within_a_contract_only(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    store
        .create_console_user(&a, &user("same@example.jp", "password-a"))
        .await
        .unwrap();
    let err = store
        .create_console_user(&a, &user("SAME@example.jp", "password-x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::EmailTaken(c) if c == &a),
        "{err}"
    );
    assert!(!err.to_string().to_lowercase().contains("same@"));
    store
        .create_console_user(&b, &user("same@example.jp", "password-b"))
        .await
        .unwrap();
    // Each contract's user logs in with their own password only.
    assert!(
        store
            .verify_console_login(&a, "same@example.jp", "password-a")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .verify_console_login(&b, "same@example.jp", "password-a")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .verify_console_login(&b, "same@example.jp", "password-b")
            .await
            .unwrap()
            .is_some()
    );
    // Removing by address removes only the contract's own user.
    let removed = store
        .remove_console_user(&b, "Same@Example.jp", KeepAnAdmin::No)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.customer_id, b);
    assert_eq!(
        store
            .console_users(&a, &IdPage::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn listings_page_by_id(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Pages").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            store
                .create_api_key(&c, &key(&format!("k{i}")))
                .await
                .unwrap()
                .0
                .key_id,
        );
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut page = IdPage {
        after: None,
        limit: Some(3),
    };
    loop {
        let keys = store.api_keys(&c, &page).await.unwrap();
        seen.extend(keys.iter().map(|k| k.key_id.clone()));
        if keys.len() < 3 {
            break;
        }
        page.after = keys.last().map(|k| k.key_id.clone());
    }
    assert_eq!(seen, ids);
    for i in 0..3 {
        store.create_operator_key(&format!("op{i}")).await.unwrap();
    }
    let first = store
        .operator_keys(&IdPage {
            after: None,
            limit: Some(2),
        })
        .await
        .unwrap();
    let rest = store
        .operator_keys(&IdPage {
            after: Some(first[1].key_id.clone()),
            limit: Some(2),
        })
        .await
        .unwrap();
    assert_eq!((first.len(), rest.len()), (2, 1));
    assert!(first[1].key_id < rest[0].key_id);
    let u1 = store
        .create_console_user(&c, &user("one@example.jp", "password123"))
        .await
        .unwrap();
    let u2 = store
        .create_console_user(&c, &user("two@example.jp", "password123"))
        .await
        .unwrap();
    let after_first = store
        .console_users(
            &c,
            &IdPage {
                after: Some(u1.user_id.clone()),
                limit: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(after_first, vec![u2]);
}

async fn unknown_and_terminated_contracts_get_no_credentials(f: Fixture) {
    let store = &f.store;
    let unknown: hikyaku_model::CustomerId = "cnobody".parse().unwrap();
    let err = store.create_api_key(&unknown, &key("k")).await.unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");
    let err = store
        .create_console_user(&unknown, &user("a@example.jp", "password123"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");
    let c = new_contract(store, "Gone").await;
    store
        .set_contract_state(&c, ContractState::Terminated)
        .await
        .unwrap();
    let err = store.create_api_key(&c, &key("k")).await.unwrap_err();
    assert!(matches!(err, StoreError::ContractTerminated(_)), "{err}");
    let err = store.create_api_key(&c, &key("  ")).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn the_last_admin_user_is_kept_when_asked(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Admins").await;
    let viewer = NewConsoleUser {
        role: Role::Viewer,
        ..user("viewer@example.jp", "password123")
    };
    let viewer = store.create_console_user(&c, &viewer).await.unwrap();
    let first = store
        .create_console_user(&c, &user("first@example.jp", "password123"))
        .await
        .unwrap();
    // A user who is not an admin goes; so does an admin while another remains.
    store
        .remove_console_user(&c, &viewer.user_id, KeepAnAdmin::Yes)
        .await
        .unwrap()
        .unwrap();

    // Two admins removing each other at once, through two stores on the same database (two
    // nodes): exactly one removal goes through.
    let second = store
        .create_console_user(&c, &user("second@example.jp", "password123"))
        .await
        .unwrap();
    let other = hikyaku_store::Store::connect(&f.url, hikyaku_store::SealingKey::from_bytes(f.key))
        .await
        .unwrap();
    let (one, two) = tokio::join!(
        store.remove_console_user(&c, &first.user_id, KeepAnAdmin::Yes),
        other.remove_console_user(&c, &second.user_id, KeepAnAdmin::Yes),
    );
    let removed = [&one, &two]
        .iter()
        .filter(|r| matches!(r, Ok(Some(_))))
        .count();
    let refused = [&one, &two]
        .iter()
        .filter(|r| matches!(r, Err(StoreError::LastAdmin(x)) if x == &c))
        .count();
    assert_eq!((removed, refused), (1, 1), "{one:?} {two:?}");
    let left = store.console_users(&c, &IdPage::default()).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].role, Role::Admin);

    // The last one stays, unless the operator removes it.
    let err = store
        .remove_console_user(&c, &left[0].user_id, KeepAnAdmin::Yes)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LastAdmin(_)), "{err}");
    assert_eq!(
        store
            .console_users(&c, &IdPage::default())
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .remove_console_user(&c, &left[0].user_id, KeepAnAdmin::No)
        .await
        .unwrap()
        .unwrap();
    other.close().await;
}
