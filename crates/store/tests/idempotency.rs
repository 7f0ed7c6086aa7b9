//! Idempotency keys of the HTTP API on both backends: a repeat gets the first answer, a key is
//! per contract, a different request under the same key is a mismatch, an unfinished request is
//! in progress, released keys are free again, entries expire after 24 hours and are purged,
//! and neither the key nor the answer is kept in the clear.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::Timestamp;
use hikyaku_store::{Begun, IDEMPOTENCY_CLAIM_LEASE, IDEMPOTENCY_WINDOW, StoreError};

on_both_backends!(
    repeat_gets_the_first_answer,
    keys_are_per_contract,
    unfinished_and_released_keys,
    entries_expire_after_the_window_and_are_purged,
    keys_and_answers_are_not_kept_in_clear,
    bad_keys_are_refused,
);

const T0: i64 = 1_795_577_520_000;
const WINDOW_MS: i64 = IDEMPOTENCY_WINDOW.as_millis() as i64;

async fn repeat_gets_the_first_answer(f: Fixture) {
    let c = new_contract(&f.store, "acme").await;
    let store = &f.store;
    assert_eq!(
        store
            .idempotency_begin(&c, "order-1", b"hash-a", Timestamp(T0))
            .await
            .unwrap(),
        Begun::New
    );
    assert!(
        store
            .idempotency_finish(&c, "order-1", 202, br#"{"message_id":"x"}"#)
            .await
            .unwrap()
    );
    let replay = store
        .idempotency_begin(&c, "order-1", b"hash-a", Timestamp(T0 + 1000))
        .await
        .unwrap();
    assert_eq!(
        replay,
        Begun::Replay {
            status: 202,
            response: br#"{"message_id":"x"}"#.to_vec()
        }
    );
    // The same key with another body is the client's mistake, not a repeat.
    assert_eq!(
        store
            .idempotency_begin(&c, "order-1", b"hash-b", Timestamp(T0 + 2000))
            .await
            .unwrap(),
        Begun::Mismatch
    );
    // A finished entry cannot be finished twice, nor released.
    assert!(
        !store
            .idempotency_finish(&c, "order-1", 500, b"{}")
            .await
            .unwrap()
    );
    store.idempotency_release(&c, "order-1").await.unwrap();
    assert!(matches!(
        store
            .idempotency_begin(&c, "order-1", b"hash-a", Timestamp(T0 + 3000))
            .await
            .unwrap(),
        Begun::Replay { status: 202, .. }
    ));
    // Keys differ by case: they are the client's opaque strings.
    assert_eq!(
        store
            .idempotency_begin(&c, "ORDER-1", b"hash-a", Timestamp(T0 + 3000))
            .await
            .unwrap(),
        Begun::New
    );
}

async fn keys_are_per_contract(f: Fixture) {
    let a = new_contract(&f.store, "a").await;
    let b = new_contract(&f.store, "b").await;
    let store = &f.store;
    assert_eq!(
        store
            .idempotency_begin(&a, "k", b"h", Timestamp(T0))
            .await
            .unwrap(),
        Begun::New
    );
    store
        .idempotency_finish(&a, "k", 202, b"a's")
        .await
        .unwrap();
    // The other tenant's identical key and request is a new request, and never sees a's answer.
    assert_eq!(
        store
            .idempotency_begin(&b, "k", b"h", Timestamp(T0))
            .await
            .unwrap(),
        Begun::New
    );
    store
        .idempotency_finish(&b, "k", 400, b"b's")
        .await
        .unwrap();
    for (c, status, body) in [(&a, 202, &b"a's"[..]), (&b, 400, b"b's")] {
        assert_eq!(
            store
                .idempotency_begin(c, "k", b"h", Timestamp(T0 + 1))
                .await
                .unwrap(),
            Begun::Replay {
                status,
                response: body.to_vec()
            }
        );
    }
    let unknown = "c2222222".parse().unwrap();
    assert!(matches!(
        store
            .idempotency_begin(&unknown, "k", b"h", Timestamp(T0))
            .await,
        Err(StoreError::ContractNotFound(_))
    ));
}

async fn unfinished_and_released_keys(f: Fixture) {
    let c = new_contract(&f.store, "acme").await;
    let store = &f.store;
    assert_eq!(
        store
            .idempotency_begin(&c, "k", b"h", Timestamp(T0))
            .await
            .unwrap(),
        Begun::New
    );
    assert_eq!(
        store
            .idempotency_begin(&c, "k", b"h", Timestamp(T0 + 10))
            .await
            .unwrap(),
        Begun::InProgress
    );
    // A different request under a key still in use is a mismatch, whatever its state.
    assert_eq!(
        store
            .idempotency_begin(&c, "k", b"other", Timestamp(T0 + 10))
            .await
            .unwrap(),
        Begun::Mismatch
    );
    // A claim left unfinished past the lease (its server died) is taken over by a repeat;
    // a finished one is not.
    let lease = IDEMPOTENCY_CLAIM_LEASE.as_millis() as i64;
    assert_eq!(
        store
            .idempotency_begin(&c, "abandoned", b"h", Timestamp(T0))
            .await
            .unwrap(),
        Begun::New
    );
    assert_eq!(
        store
            .idempotency_begin(&c, "abandoned", b"h", Timestamp(T0 + lease - 1))
            .await
            .unwrap(),
        Begun::InProgress
    );
    assert_eq!(
        store
            .idempotency_begin(&c, "abandoned", b"h", Timestamp(T0 + lease))
            .await
            .unwrap(),
        Begun::New
    );
    store
        .idempotency_finish(&c, "abandoned", 202, b"{}")
        .await
        .unwrap();
    assert!(matches!(
        store
            .idempotency_begin(&c, "abandoned", b"h", Timestamp(T0 + 3 * lease))
            .await
            .unwrap(),
        Begun::Replay { status: 202, .. }
    ));
    store.idempotency_release(&c, "k").await.unwrap();
    assert_eq!(
        store
            .idempotency_begin(&c, "k", b"h", Timestamp(T0 + 20))
            .await
            .unwrap(),
        Begun::New
    );
    // Finishing a released claim keeps nothing.
    store.idempotency_release(&c, "k").await.unwrap();
    assert!(!store.idempotency_finish(&c, "k", 202, b"{}").await.unwrap());
}

async fn entries_expire_after_the_window_and_are_purged(f: Fixture) {
    let c = new_contract(&f.store, "acme").await;
    let store = &f.store;
    for key in ["old", "young"] {
        let at = if key == "old" { T0 } else { T0 + 1000 };
        assert_eq!(
            store
                .idempotency_begin(&c, key, b"h", Timestamp(at))
                .await
                .unwrap(),
            Begun::New
        );
        store.idempotency_finish(&c, key, 202, b"{}").await.unwrap();
    }
    // One millisecond before the end of its window the entry still answers.
    assert!(matches!(
        store
            .idempotency_begin(&c, "old", b"h", Timestamp(T0 + WINDOW_MS - 1))
            .await
            .unwrap(),
        Begun::Replay { .. }
    ));
    // At the end of the window it is gone: even another request may use the key.
    assert_eq!(
        store
            .idempotency_begin(&c, "old", b"new body", Timestamp(T0 + WINDOW_MS))
            .await
            .unwrap(),
        Begun::New
    );
    // Purging at T0 + 1000 + window removes "young" (and not the renewed "old").
    assert_eq!(
        store
            .purge_idempotency(Timestamp(T0 + 1000 + WINDOW_MS))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .idempotency_begin(&c, "young", b"other", Timestamp(T0 + 1001))
            .await
            .unwrap(),
        Begun::New
    );
    assert_eq!(
        store
            .idempotency_begin(&c, "old", b"new body", Timestamp(T0 + WINDOW_MS + 1))
            .await
            .unwrap(),
        Begun::InProgress
    );
}

async fn keys_and_answers_are_not_kept_in_clear(f: Fixture) {
    let c = new_contract(&f.store, "acme").await;
    let key = "signup-taro.yamada@example.jp";
    f.store
        .idempotency_begin(&c, key, b"h", Timestamp(T0))
        .await
        .unwrap();
    f.store
        .idempotency_finish(
            &c,
            key,
            202,
            br#"{"accepted":["hanako.suzuki@example.jp"]}"#,
        )
        .await
        .unwrap();
    let raw = f.raw_bytes_of(&["idempotency_keys"]).await;
    for clear in ["taro.yamada", "hanako.suzuki"] {
        assert!(
            !raw.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "{clear} is in the database in clear"
        );
    }
}

async fn bad_keys_are_refused(f: Fixture) {
    let c = new_contract(&f.store, "acme").await;
    let long = "k".repeat(256);
    for key in [
        "",
        "a b",
        "tab\there",
        "line\r\nInjected: x",
        "キー",
        long.as_str(),
    ] {
        assert!(
            matches!(
                f.store
                    .idempotency_begin(&c, key, b"h", Timestamp(T0))
                    .await,
                Err(StoreError::Invalid { .. })
            ),
            "{key:?}"
        );
    }
    assert_eq!(
        f.store
            .idempotency_begin(&c, &"k".repeat(255), b"h", Timestamp(T0))
            .await
            .unwrap(),
        Begun::New
    );
}
