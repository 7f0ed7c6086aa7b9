//! Login sessions of both consoles (a contract's and the operator's) on both backends: found by
//! their token's hash until they expire or end, made only for a user who is there, kept apart
//! by area, and expired ones forgotten when a new one is made.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::{CustomerId, Role, Timestamp};
use hikyaku_store::{
    ConsoleSession, ConsoleUser, NewConsoleUser, OperatorSession, OperatorUser, Store,
};

on_both_backends!(
    console_sessions_live_until_they_expire_or_end,
    operator_sessions_live_until_they_expire_or_end,
    sessions_need_a_user_who_is_there,
    the_areas_never_find_each_others_sessions,
    a_new_session_forgets_the_expired_ones,
);

const HOUR: i64 = 3_600_000;

async fn console_user(store: &Store, customer: &CustomerId) -> ConsoleUser {
    let new = NewConsoleUser {
        email: "taro@example.jp",
        password: "correct horse",
        role: Role::Admin,
        see_addresses: false,
    };
    store.create_console_user(customer, &new).await.unwrap()
}

async fn operator_user(store: &Store) -> OperatorUser {
    let op = store.create_operator_user("ops@example.jp", "correct horse");
    op.await.unwrap()
}

async fn console_sessions_live_until_they_expire_or_end(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "A").await;
    let user = console_user(store, &c).await;
    let now = Timestamp::now();
    let expires_at = Timestamp(now.as_millis() + HOUR);
    store
        .create_console_session(&c, &user.user_id, b"hash-1", true, expires_at)
        .await
        .unwrap();
    let expected = ConsoleSession {
        customer_id: c.clone(),
        user_id: user.user_id.clone(),
        second_factor_pending: true,
        expires_at,
    };
    let found = store.console_session(b"hash-1", now).await.unwrap();
    assert_eq!(found, Some(expected));
    assert_eq!(store.console_session(b"hash-2", now).await.unwrap(), None);
    assert_eq!(
        store.console_session(b"hash-1", expires_at).await.unwrap(),
        None,
        "a session is over at its expiry"
    );
    store.delete_console_session(b"hash-1").await.unwrap();
    assert_eq!(store.console_session(b"hash-1", now).await.unwrap(), None);
}

async fn operator_sessions_live_until_they_expire_or_end(f: Fixture) {
    let store = &f.store;
    let op = operator_user(store).await;
    let now = Timestamp::now();
    let expires_at = Timestamp(now.as_millis() + HOUR);
    store
        .create_operator_session(&op.user_id, b"hash-1", false, expires_at)
        .await
        .unwrap();
    let expected = OperatorSession {
        user_id: op.user_id.clone(),
        second_factor_pending: false,
        expires_at,
    };
    let found = store.operator_session(b"hash-1", now).await.unwrap();
    assert_eq!(found, Some(expected));
    assert_eq!(store.operator_session(b"hash-2", now).await.unwrap(), None);
    assert_eq!(
        store.operator_session(b"hash-1", expires_at).await.unwrap(),
        None,
        "a session is over at its expiry"
    );
    store.delete_operator_session(b"hash-1").await.unwrap();
    assert_eq!(store.operator_session(b"hash-1", now).await.unwrap(), None);
}

async fn sessions_need_a_user_who_is_there(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let user = console_user(store, &a).await;
    let now = Timestamp::now();
    let expires_at = Timestamp(now.as_millis() + HOUR);
    // Another contract's user ID, and IDs nobody has, make no session.
    store
        .create_console_session(&b, &user.user_id, b"other contract", false, expires_at)
        .await
        .unwrap();
    store
        .create_console_session(&a, "u-nobody", b"nobody", false, expires_at)
        .await
        .unwrap();
    store
        .create_operator_session("op-nobody", b"no operator", false, expires_at)
        .await
        .unwrap();
    assert_eq!(
        store.console_session(b"other contract", now).await.unwrap(),
        None
    );
    assert_eq!(store.console_session(b"nobody", now).await.unwrap(), None);
    assert_eq!(
        store.operator_session(b"no operator", now).await.unwrap(),
        None
    );
}

async fn the_areas_never_find_each_others_sessions(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "A").await;
    let user = console_user(store, &c).await;
    let op = operator_user(store).await;
    let now = Timestamp::now();
    let expires_at = Timestamp(now.as_millis() + HOUR);
    store
        .create_console_session(&c, &user.user_id, b"console", false, expires_at)
        .await
        .unwrap();
    store
        .create_operator_session(&op.user_id, b"operator", false, expires_at)
        .await
        .unwrap();
    assert_eq!(store.operator_session(b"console", now).await.unwrap(), None);
    assert_eq!(store.console_session(b"operator", now).await.unwrap(), None);
    // Ending one area's session leaves the other's token alone, even under the same hash.
    store
        .create_operator_session(&op.user_id, b"console", false, expires_at)
        .await
        .unwrap();
    store.delete_operator_session(b"console").await.unwrap();
    assert!(
        store
            .console_session(b"console", now)
            .await
            .unwrap()
            .is_some()
    );
    store.delete_console_session(b"operator").await.unwrap();
    assert!(
        store
            .operator_session(b"operator", now)
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_new_session_forgets_the_expired_ones(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "A").await;
    let user = console_user(store, &c).await;
    let op = operator_user(store).await;
    let now = Timestamp::now();
    let expired = Timestamp(now.as_millis() - HOUR);
    let later = Timestamp(now.as_millis() + HOUR);
    let long_ago = Timestamp(now.as_millis() - 2 * HOUR);
    store
        .create_console_session(&c, &user.user_id, b"old console", false, expired)
        .await
        .unwrap();
    store
        .create_operator_session(&op.user_id, b"old operator", false, expired)
        .await
        .unwrap();
    // Asked as of before their expiry, the expired sessions are still in their tables ...
    assert!(
        store
            .console_session(b"old console", long_ago)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .operator_session(b"old operator", long_ago)
            .await
            .unwrap()
            .is_some()
    );
    // ... until a new session of their area is made.
    store
        .create_console_session(&c, &user.user_id, b"new console", false, later)
        .await
        .unwrap();
    assert_eq!(
        store
            .console_session(b"old console", long_ago)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .operator_session(b"old operator", long_ago)
            .await
            .unwrap()
            .is_some(),
        "a console session forgets only the console's"
    );
    store
        .create_operator_session(&op.user_id, b"new operator", false, later)
        .await
        .unwrap();
    assert_eq!(
        store
            .operator_session(b"old operator", long_ago)
            .await
            .unwrap(),
        None
    );
}
