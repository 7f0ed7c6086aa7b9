//! The webhook sender's side of the store: which endpoints are due (batch window, batch size,
//! one per request, back-off, disabling, the claim), requests whose events and ID survive a
//! retry, the attempt log, secret rotation and test events.

mod common;

use common::{Fixture, accepted, new_contract, on_both_backends};
use hikyaku_model::{EventKind, Timestamp};
use hikyaku_store::{
    AcceptedMessage, EndpointNext, FollowOn, Store, WebhookAttempt, WebhookEndpoint, WebhookEvent,
    WebhookOutcome,
};
use std::time::Duration;

on_both_backends!(
    endpoints_are_due_by_window_size_and_back_off,
    a_request_keeps_its_events_and_id_until_it_is_done,
    attempts_are_logged_newest_first_and_answers_sealed,
    rotation_and_test_events,
    a_busy_endpoint_keeps_its_claim_and_its_next_request_is_fixed_with_the_last_attempt,
);

/// 2026-11-25T00:00:00Z.
const T0: i64 = 1_795_564_800_000;
const WINDOW: Duration = Duration::from_secs(1);
const LEASE: Duration = Duration::from_secs(60);

async fn accept(store: &Store, customer: &hikyaku_model::CustomerId, at: i64, n: i64) {
    let batch: Vec<AcceptedMessage> = (0..n)
        .map(|i| accepted(customer, at + i, "app@s.example", &["to@r.example"]))
        .collect();
    store.record_accepted(&batch).await.unwrap();
}

async fn claim(store: &Store, now: i64, batch_max: u32) -> Vec<i64> {
    store
        .claim_webhook_endpoints(Timestamp(now), LEASE, WINDOW, batch_max, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

fn attempt(id: &str, at: i64, outcome: WebhookOutcome, status: Option<u16>) -> WebhookAttempt {
    WebhookAttempt {
        webhook_id: id.to_string(),
        events: 1,
        at: Timestamp(at),
        http_status: status,
        error: status.is_none().then(|| "timed out".to_string()),
        latency_ms: 12,
        answer: status.map(|s| format!("answer {s} for to@r.example")),
        outcome,
    }
}

async fn endpoint(store: &Store, c: &hikyaku_model::CustomerId, id: i64) -> WebhookEndpoint {
    store.webhook_endpoint(c, id).await.unwrap().unwrap()
}

async fn endpoints_are_due_by_window_size_and_back_off(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Hooks").await;
    let other = new_contract(store, "Other").await;
    let batched = store
        .create_webhook_endpoint(
            &c,
            "https://a.example/",
            "whsec_AAAA",
            &[EventKind::Accepted],
            false,
            Timestamp(T0),
        )
        .await
        .unwrap();
    let single = store
        .create_webhook_endpoint(
            &other,
            "https://b.example/",
            "whsec_BBBB",
            &[EventKind::Accepted],
            true,
            Timestamp(T0),
        )
        .await
        .unwrap();
    assert!(
        claim(store, T0 + 10_000, 3).await.is_empty(),
        "no events, nothing due"
    );

    accept(store, &c, T0 + 1_000, 2).await;
    accept(store, &other, T0 + 1_000, 1).await;
    // Within the window only the endpoint that wants every event at once is due.
    assert_eq!(claim(store, T0 + 1_500, 3).await, [single]);
    // It is claimed: not again within the lease.
    assert!(claim(store, T0 + 1_600, 3).await.is_empty());
    // The window has passed for the oldest event.
    assert_eq!(claim(store, T0 + 2_000, 3).await, [batched]);
    store
        .release_webhook_endpoint(batched, Timestamp(T0 + 2_000))
        .await
        .unwrap();
    // A full batch is due at once, within its window.
    let third = new_contract(store, "Third").await;
    let full = store
        .create_webhook_endpoint(
            &third,
            "https://c.example/",
            "whsec_CCCC",
            &[EventKind::Accepted],
            false,
            Timestamp(T0),
        )
        .await
        .unwrap();
    accept(store, &third, T0 + 2_500, 3).await;
    assert!(!claim(store, T0 + 2_600, 4).await.contains(&full));
    assert_eq!(claim(store, T0 + 2_600, 3).await, [full]);
    accept(store, &c, T0 + 3_000, 1).await;

    // A failure holds the endpoint back until its retry time, whatever is waiting.
    let e = endpoint(store, &c, batched).await;
    let batch = store
        .next_webhook_batch(batched, 3, "msg_1")
        .await
        .unwrap()
        .unwrap();
    store
        .finish_webhook_attempt(
            &e,
            &batch,
            &attempt("msg_1", T0 + 3_100, WebhookOutcome::Retry, Some(500)),
            &EndpointNext::RetryAt(Timestamp(T0 + 60_000)),
            None,
        )
        .await
        .unwrap();
    let e = endpoint(store, &c, batched).await;
    assert_eq!(
        (e.failing_since, e.failures),
        (Some(Timestamp(T0 + 3_100)), 1)
    );
    assert!(!claim(store, T0 + 59_999, 3).await.contains(&batched));
    assert!(claim(store, T0 + 60_000, 3).await.contains(&batched));

    // Disabled: never due, and its contract's new events no longer queue for it.
    let batch = store
        .next_webhook_batch(batched, 3, "msg_2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        batch.webhook_id, "msg_1",
        "the retry sends the same request"
    );
    store
        .finish_webhook_attempt(
            &e,
            &batch,
            &attempt("msg_1", T0 + 61_000, WebhookOutcome::Retry, None),
            &EndpointNext::Disable {
                reason: "failing for days".into(),
            },
            None,
        )
        .await
        .unwrap();
    let e = endpoint(store, &c, batched).await;
    assert_eq!(
        e.disabled,
        Some((Timestamp(T0 + 61_000), "failing for days".to_string()))
    );
    accept(store, &c, T0 + 62_000, 5).await;
    assert!(!claim(store, T0 + 999_999, 3).await.contains(&batched));
    // Enabled again: the waiting events (3, not the 5 written while it was disabled) go out.
    assert!(
        store
            .set_webhook_endpoint_disabled(&c, batched, None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_webhook_endpoint_disabled(&other, batched, None)
            .await
            .unwrap(),
        "another contract's endpoint"
    );
    assert!(claim(store, T0 + 999_999, 3).await.contains(&batched));
    let batch = store
        .next_webhook_batch(batched, 100, "msg_3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.events.len(), 3);
    let e = endpoint(store, &c, batched).await;
    assert_eq!((e.failing_since, e.failures, e.disabled), (None, 0, None));
}

async fn a_request_keeps_its_events_and_id_until_it_is_done(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Batches").await;
    let id = store
        .create_webhook_endpoint(
            &c,
            "https://a.example/",
            "whsec_AAAA",
            &[EventKind::Accepted],
            false,
            Timestamp(T0),
        )
        .await
        .unwrap();
    accept(store, &c, T0, 5).await;
    let first = store
        .next_webhook_batch(id, 3, "msg_a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.webhook_id, "msg_a");
    assert_eq!(first.events.len(), 3);
    assert_eq!(first.oldest, Timestamp(T0));
    let times: Vec<Timestamp> = first
        .events
        .iter()
        .map(|e| match e {
            WebhookEvent::Logged(e) => e.at,
            WebhookEvent::Test(_) => panic!("a test event"),
        })
        .collect();
    assert_eq!(
        times,
        [Timestamp(T0), Timestamp(T0 + 1), Timestamp(T0 + 2)],
        "oldest first"
    );
    // More events arrive; the request begun is sent again as it was, under its ID.
    accept(store, &c, T0 + 10, 4).await;
    let again = store
        .next_webhook_batch(id, 100, "msg_b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, first);
    // Done: the next request has the rest, under the new ID, at most the batch size.
    let e = endpoint(store, &c, id).await;
    store
        .finish_webhook_attempt(
            &e,
            &first,
            &attempt("msg_a", T0 + 20, WebhookOutcome::Delivered, Some(204)),
            &EndpointNext::Healthy,
            None,
        )
        .await
        .unwrap();
    let second = store
        .next_webhook_batch(id, 5, "msg_c")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (second.webhook_id.as_str(), second.events.len()),
        ("msg_c", 5)
    );
    assert!(
        second
            .outbox_ids
            .iter()
            .all(|o| !first.outbox_ids.contains(o))
    );
    // Given up: its events go too.
    store
        .finish_webhook_attempt(
            &e,
            &second,
            &attempt("msg_c", T0 + 30, WebhookOutcome::GaveUp, Some(500)),
            &EndpointNext::RetryAt(Timestamp(T0 + 40)),
            None,
        )
        .await
        .unwrap();
    let last = store
        .next_webhook_batch(id, 5, "msg_d")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.events.len(), 1);
    store
        .finish_webhook_attempt(
            &e,
            &last,
            &attempt("msg_d", T0 + 50, WebhookOutcome::Delivered, Some(200)),
            &EndpointNext::Healthy,
            None,
        )
        .await
        .unwrap();
    assert!(
        store
            .next_webhook_batch(id, 5, "msg_e")
            .await
            .unwrap()
            .is_none()
    );
    // Removing the endpoint takes its waiting events with it.
    accept(store, &c, T0 + 60, 2).await;
    assert!(store.remove_webhook_endpoint(&c, id).await.unwrap());
    assert!(
        store
            .next_webhook_batch(id, 5, "msg_f")
            .await
            .unwrap()
            .is_none()
    );
}

async fn attempts_are_logged_newest_first_and_answers_sealed(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Log").await;
    let other = new_contract(store, "Other").await;
    let id = store
        .create_webhook_endpoint(
            &c,
            "https://a.example/",
            "whsec_AAAA",
            &[EventKind::Accepted],
            true,
            Timestamp(T0),
        )
        .await
        .unwrap();
    accept(store, &c, T0, 1).await;
    let e = endpoint(store, &c, id).await;
    let batch = store
        .next_webhook_batch(id, 1, "msg_x")
        .await
        .unwrap()
        .unwrap();
    let tries = [
        attempt("msg_x", T0 + 1, WebhookOutcome::Retry, None),
        attempt("msg_x", T0 + 2, WebhookOutcome::Retry, Some(503)),
        attempt("msg_x", T0 + 3, WebhookOutcome::Delivered, Some(200)),
    ];
    for (i, a) in tries.iter().enumerate() {
        let next = if i < 2 {
            EndpointNext::RetryAt(Timestamp(T0 + 1))
        } else {
            EndpointNext::Healthy
        };
        store
            .finish_webhook_attempt(&e, &batch, a, &next, None)
            .await
            .unwrap();
    }
    let logged = store.webhook_attempts(&c, id, 10).await.unwrap();
    let newest_first: Vec<&WebhookAttempt> = tries.iter().rev().collect();
    assert_eq!(
        logged.iter().map(|l| &l.attempt).collect::<Vec<_>>(),
        newest_first
    );
    assert_eq!(store.webhook_attempts(&c, id, 1).await.unwrap().len(), 1);
    assert!(
        store
            .webhook_attempts(&other, id, 10)
            .await
            .unwrap()
            .is_empty(),
        "another contract's log"
    );
    let raw = f.raw_bytes_of(&["webhook_attempts"]).await;
    assert!(
        !raw.windows(b"to@r.example".len())
            .any(|w| w == b"to@r.example"),
        "answers are sealed at rest"
    );
}

async fn rotation_and_test_events(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Rotate").await;
    let other = new_contract(store, "Other").await;
    let id = store
        .create_webhook_endpoint(
            &c,
            "https://a.example/",
            "whsec_old",
            &[EventKind::Delivered],
            false,
            Timestamp(T0),
        )
        .await
        .unwrap();
    let e = endpoint(store, &c, id).await;
    assert_eq!(e.signing_secrets(Timestamp(T0)), ["whsec_old"]);
    assert!(
        !store
            .rotate_webhook_secret(&other, id, "whsec_x", Timestamp(T0))
            .await
            .unwrap()
    );
    assert!(
        store
            .rotate_webhook_secret(&c, id, "whsec_new", Timestamp(T0 + 1_000))
            .await
            .unwrap()
    );
    let e = endpoint(store, &c, id).await;
    assert_eq!(
        e.signing_secrets(Timestamp(T0 + 999)),
        ["whsec_new", "whsec_old"]
    );
    assert_eq!(e.signing_secrets(Timestamp(T0 + 1_000)), ["whsec_new"]);

    assert!(
        !store
            .enqueue_webhook_test(&other, id, Timestamp(T0))
            .await
            .unwrap()
    );
    assert!(
        store
            .enqueue_webhook_test(&c, id, Timestamp(T0 + 5))
            .await
            .unwrap()
    );
    let batch = store
        .next_webhook_batch(id, 10, "msg_t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.events, [WebhookEvent::Test(Timestamp(T0 + 5))]);
}

async fn a_busy_endpoint_keeps_its_claim_and_its_next_request_is_fixed_with_the_last_attempt(
    f: Fixture,
) {
    let store = &f.store;
    let c = new_contract(store, "Busy").await;
    let id = store
        .create_webhook_endpoint(
            &c,
            "https://busy.example/",
            "whsec_BUSY",
            &[EventKind::Accepted],
            false,
            Timestamp(T0),
        )
        .await
        .unwrap();
    accept(store, &c, T0, 7).await;
    assert_eq!(claim(store, T0 + 100, 3).await, [id], "a full batch is due");
    let e = endpoint(store, &c, id).await;
    let first = store
        .next_webhook_batch(id, 3, "msg_1")
        .await
        .unwrap()
        .unwrap();
    let only_full = |new_webhook_id| FollowOn {
        max: 3,
        new_webhook_id,
        due_by: Timestamp(T0 - 1),
        claim_until: Timestamp(T0 + 100_000),
    };

    // A failed attempt never carries on: the endpoint waits for its retry time.
    let following = store
        .finish_webhook_attempt(
            &e,
            &first,
            &attempt("msg_1", T0 + 200, WebhookOutcome::Retry, Some(503)),
            &EndpointNext::RetryAt(Timestamp(T0 + 300)),
            Some(&only_full("msg_never")),
        )
        .await
        .unwrap();
    assert_eq!(following, None);
    assert_eq!(claim(store, T0 + 299, 3).await, Vec::<i64>::new());
    assert_eq!(claim(store, T0 + 300, 3).await, [id]);

    // Delivered, and a full batch waits: it is fixed under the new ID and the claim is kept.
    let second = store
        .finish_webhook_attempt(
            &e,
            &first,
            &attempt("msg_1", T0 + 400, WebhookOutcome::Delivered, Some(204)),
            &EndpointNext::Healthy,
            Some(&only_full("msg_2")),
        )
        .await
        .unwrap()
        .expect("the next full batch follows at once");
    assert_eq!(
        (second.webhook_id.as_str(), second.events.len()),
        ("msg_2", 3)
    );
    assert!(
        second
            .outbox_ids
            .iter()
            .all(|o| !first.outbox_ids.contains(o))
    );
    assert_eq!(
        claim(store, T0 + 99_999, 3).await,
        Vec::<i64>::new(),
        "still claimed by the sender that carries on"
    );
    // A sender that dies now leaves the request fixed: the next one sends it as it was.
    let again = store
        .next_webhook_batch(id, 3, "msg_other")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, second);

    // One event is left: not a full batch and not old enough, so the endpoint is released and
    // the event stays unfixed for the next claim.
    let following = store
        .finish_webhook_attempt(
            &e,
            &second,
            &attempt("msg_2", T0 + 500, WebhookOutcome::Delivered, Some(204)),
            &EndpointNext::Healthy,
            Some(&only_full("msg_3")),
        )
        .await
        .unwrap();
    assert_eq!(following, None);
    assert_eq!(claim(store, T0 + 2_000, 3).await, [id], "released");
    let third = store
        .next_webhook_batch(id, 3, "msg_4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (third.webhook_id.as_str(), third.events.len()),
        ("msg_4", 1)
    );

    // An event old enough is due although the batch is not full.
    accept(store, &c, T0 + 3_000, 1).await;
    let fourth = store
        .finish_webhook_attempt(
            &e,
            &third,
            &attempt("msg_4", T0 + 3_100, WebhookOutcome::Delivered, Some(204)),
            &EndpointNext::Healthy,
            Some(&FollowOn {
                due_by: Timestamp(T0 + 3_000),
                ..only_full("msg_5")
            }),
        )
        .await
        .unwrap()
        .expect("the window has passed for the waiting event");
    assert_eq!(fourth.events.len(), 1);

    // A disabled endpoint is not carried on with, whatever waits.
    accept(store, &c, T0 + 4_000, 3).await;
    store
        .set_webhook_endpoint_disabled(&c, id, Some((Timestamp(T0 + 4_000), "by its owner")))
        .await
        .unwrap();
    let following = store
        .finish_webhook_attempt(
            &e,
            &fourth,
            &attempt("msg_5", T0 + 4_100, WebhookOutcome::Delivered, Some(204)),
            &EndpointNext::Healthy,
            Some(&only_full("msg_6")),
        )
        .await
        .unwrap();
    assert_eq!(following, None);
}
