//! What the delivery engine and the operator need from the store, against real databases: the
//! pending work of a node, outcome batches, retry/delete and how the engine learns of them, and
//! send-log searches. Every body runs on SQLite and on PostgreSQL.

mod common;

use common::{EarlierSchema, Fixture, accepted, new_contract, on_both_backends};
use hikyaku_model::{
    CustomerId, EnhancedStatus, Event, EventDetails, EventKind, EventSource, Exchange, MessageId,
    Reason, RecipientState, Remote, Timestamp,
};
use hikyaku_store::{
    AcceptedMessage, EventQuery, Outcome, PendingMessage, QueueAction, QueueCommand,
    RecipientOutcome, SealingKey, Store, StoreError,
};

on_both_backends!(
    pending_work_is_per_node_and_skips_final_recipients,
    pending_work_pages_through_every_message_once,
    outcome_batches_record_states_events_and_completion,
    outcomes_for_final_or_unknown_recipients,
    retry_makes_waiting_recipients_due_and_tells_the_engine,
    delete_ends_waiting_recipients_and_tells_the_engine,
    retry_and_delete_refuse_unknown_and_finished_messages,
    send_log_search_by_each_filter,
);

fn on_node(mut message: AcceptedMessage, node: &str) -> AcceptedMessage {
    message.node = node.to_string();
    message
}

fn outcome(message: &AcceptedMessage, index: u32, at: i64, outcome: Outcome) -> RecipientOutcome {
    RecipientOutcome {
        message_id: message.id,
        recipient_index: index,
        at: Timestamp(at),
        details: common::bare_details(outcome),
        outcome,
        suppression: hikyaku_store::SuppressionEffect::Nothing,
    }
}

fn deferred_until(at: i64) -> Outcome {
    Outcome::Deferred {
        next_attempt_at: Timestamp(at),
    }
}

/// Every send-log field set, with texts that differ per call so a mix-up shows.
fn full_details(tag: &str, code: u16, attempt: u32) -> EventDetails {
    let exchange = Exchange {
        source: if code == 451 {
            EventSource::Local
        } else {
            EventSource::Smtp
        },
        remote: Some(Remote {
            host: format!("mx-{tag}.example.net"),
            ip: Some("127.0.0.25".parse().unwrap()),
            port: Some(2525),
            tls: Some(code != 451),
        }),
        code: Some(code),
        status: Some(EnhancedStatus::new((code / 100) as u8, 0, attempt as u16)),
        text: Some(format!("reply {tag}")),
        delay_ms: Some(1_000 * i64::from(attempt)),
        attempt: Some(attempt),
    };
    match code {
        200..=299 => EventDetails::Delivered { exchange },
        400..=499 => EventDetails::Deferred {
            exchange,
            reason: Some(Reason::ALL[tag.len() % Reason::ALL.len()]),
        },
        _ => EventDetails::Bounced {
            exchange,
            reason: Reason::ALL[tag.len() % Reason::ALL.len()],
            hard: code >= 500,
        },
    }
}

/// The whole pending work of `node`, read in pages of `page` messages.
async fn all_pending(store: &Store, node: &str, page: u32) -> Vec<PendingMessage> {
    let mut all: Vec<PendingMessage> = Vec::new();
    loop {
        let after = all.last().map(|m| m.id);
        let next = store.pending_messages(node, after, page).await.unwrap();
        assert!(next.len() <= page as usize);
        if next.is_empty() {
            return all;
        }
        all.extend(next);
    }
}

/// `(message, recipient index)` of every pending recipient, in order.
fn pending_keys(messages: &[PendingMessage]) -> Vec<(MessageId, u32)> {
    messages
        .iter()
        .flat_map(|m| m.recipients.iter().map(move |r| (m.id, r.index)))
        .collect()
}

async fn states(store: &Store, id: MessageId) -> Vec<RecipientState> {
    let message = store.queued_message(id).await.unwrap().unwrap();
    message.recipients.iter().map(|r| r.state).collect()
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind()).collect()
}

async fn pending_work_is_per_node_and_skips_final_recipients(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sender").await;
    let m1 = accepted(
        &c,
        1_000,
        "app@s.example",
        &["a@x.example", "B@y.example", "c@z.example"],
    );
    let m2 = accepted(&c, 2_000, "", &["d@x.example"]);
    let elsewhere = on_node(
        accepted(&c, 1_500, "app@s.example", &["e@x.example"]),
        "node-b",
    );
    store
        .record_accepted(&[m1.clone(), m2.clone(), elsewhere.clone()])
        .await
        .unwrap();

    let pending = all_pending(store, "node-a", 100).await;
    assert_eq!(pending.len(), 2, "node-b's message is not node-a's work");
    let first = &pending[0];
    assert_eq!(first.id, m1.id);
    assert_eq!(first.customer_id, c);
    assert_eq!(first.mail_from, "app@s.example");
    assert_eq!(first.size, 1234);
    assert_eq!(first.received_at, Timestamp(1_000));
    let addresses: Vec<&str> = first
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(addresses, ["a@x.example", "B@y.example", "c@z.example"]);
    for (i, r) in first.recipients.iter().enumerate() {
        assert_eq!(r.index, i as u32);
        assert_eq!(r.state, RecipientState::Queued);
        assert_eq!(r.attempts, 0);
        assert_eq!(r.next_attempt_at, Timestamp(1_000), "due on arrival");
    }
    assert_eq!(pending[1].id, m2.id);
    assert_eq!(pending[1].mail_from, "", "the null sender stays empty");
    let b = all_pending(store, "node-b", 100).await;
    assert_eq!(pending_keys(&b), [(elsewhere.id, 0)]);
    assert!(all_pending(store, "node-c", 100).await.is_empty());

    // Final recipients leave the work; a deferred one stays, with its new time and attempts.
    store
        .record_outcomes(
            &[
                outcome(&m1, 0, 5_000, Outcome::Delivered),
                outcome(&m1, 1, 5_000, deferred_until(65_000)),
                outcome(&m2, 0, 5_000, Outcome::Bounced),
            ],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    let pending = all_pending(store, "node-a", 100).await;
    assert_eq!(pending_keys(&pending), [(m1.id, 1), (m1.id, 2)]);
    let deferred = &pending[0].recipients[0];
    assert_eq!(deferred.address, "B@y.example");
    assert_eq!(deferred.state, RecipientState::Deferred);
    assert_eq!(deferred.attempts, 1);
    assert_eq!(deferred.next_attempt_at, Timestamp(65_000));
    let untouched = &pending[0].recipients[1];
    assert_eq!(
        (untouched.state, untouched.attempts),
        (RecipientState::Queued, 0)
    );
    assert_eq!(
        pending_keys(&all_pending(store, "node-b", 100).await),
        [(elsewhere.id, 0)]
    );
}

async fn pending_work_pages_through_every_message_once(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Bulk").await;
    let mut batch: Vec<AcceptedMessage> = (0..130)
        .map(|i| {
            accepted(
                &c,
                10_000 + i,
                "bulk@s.example",
                &["r0@x.example", "r1@x.example"],
            )
        })
        .collect();
    // Interleaved with another node's messages, which no page may carry.
    batch.extend((0..40).map(|i| {
        on_node(
            accepted(&c, 10_000 + i, "b@s.example", &["o@x.example"]),
            "node-b",
        )
    }));
    store.record_accepted(&batch).await.unwrap();
    // Finished messages are skipped, even inside a page.
    let finished: Vec<RecipientOutcome> = batch[..130]
        .iter()
        .step_by(3)
        .flat_map(|m| {
            [
                outcome(m, 0, 20_000, Outcome::Delivered),
                outcome(m, 1, 20_000, Outcome::Expired),
            ]
        })
        .collect();
    store
        .record_outcomes(&finished, &hikyaku_store::SoftBouncePolicy::OFF)
        .await
        .unwrap();

    let mut expected: Vec<MessageId> = batch[..130]
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, m)| m.id)
        .collect();
    expected.sort();
    for page in [1, 7, 50, 1000] {
        let pending = all_pending(store, "node-a", page).await;
        let ids: Vec<MessageId> = pending.iter().map(|m| m.id).collect();
        assert_eq!(ids, expected, "page size {page}");
        assert!(pending.iter().all(|m| m.recipients.len() == 2));
    }
    assert_eq!(all_pending(store, "node-b", 16).await.len(), 40);
}

async fn outcome_batches_record_states_events_and_completion(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sender").await;
    let m1 = accepted(&c, 1_000, "app@s.example", &["a@x.example", "b@y.example"]);
    let m2 = accepted(&c, 2_000, "app@s.example", &["c@z.example"]);
    let m3 = accepted(&c, 3_000, "app@s.example", &["d@x.example", "e@x.example"]);
    store
        .record_accepted(&[m1.clone(), m2.clone(), m3.clone()])
        .await
        .unwrap();

    let mut delivered = outcome(&m1, 0, 10_000, Outcome::Delivered);
    delivered.details = full_details("one", 250, 1);
    let mut deferred = outcome(&m1, 1, 10_001, deferred_until(70_000));
    deferred.details = full_details("two", 451, 1);
    let mut bounced = outcome(&m2, 0, 10_002, Outcome::Bounced);
    bounced.details = full_details("three", 550, 1);
    let mut later = outcome(&m3, 0, 10_003, deferred_until(80_000));
    later.details = EventDetails::Deferred {
        exchange: Exchange {
            attempt: Some(1),
            ..Exchange::by(EventSource::Local)
        },
        reason: Some(Reason::NetworkError),
    };
    let completed = store
        .record_outcomes(
            &[
                delivered.clone(),
                deferred.clone(),
                bounced.clone(),
                later.clone(),
            ],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    assert_eq!(completed, [m2.id], "only m2 has nothing left");

    let q1 = store.queued_message(m1.id).await.unwrap().unwrap();
    let (a, b) = (&q1.recipients[0], &q1.recipients[1]);
    assert_eq!(
        (a.state, a.attempts, a.next_attempt_at),
        (RecipientState::Delivered, 1, None)
    );
    assert_eq!(a.last_reply.as_deref(), Some("250 2.0.1 reply one"));
    assert_eq!(
        (b.state, b.attempts, b.next_attempt_at),
        (RecipientState::Deferred, 1, Some(Timestamp(70_000)))
    );
    assert_eq!(b.last_reply.as_deref(), Some("451 4.0.1 reply two"));
    let q3 = store.queued_message(m3.id).await.unwrap().unwrap();
    assert_eq!(q3.recipients[0].last_reply.as_deref(), Some("networkerror"));
    assert_eq!(q3.recipients[1].state, RecipientState::Queued);

    // Each outcome is one event carrying every send-log field, sealed and opened again.
    let events = store.events_for_message(m1.id).await.unwrap();
    assert_eq!(
        kinds(&events),
        [
            EventKind::Accepted,
            EventKind::Accepted,
            EventKind::Delivered,
            EventKind::Deferred
        ]
    );
    for (event, sent, to) in [
        (&events[2], &delivered, "a@x.example"),
        (&events[3], &deferred, "b@y.example"),
    ] {
        assert_eq!(event.at, sent.at);
        assert_eq!(event.customer_id, c);
        assert_eq!(event.message_id, m1.id);
        assert_eq!(event.mail_from, "app@s.example");
        assert_eq!(event.recipient, to);
        assert_eq!(event.details, sent.details);
    }
    let bounce_events = store.events_for_message(m2.id).await.unwrap();
    assert_eq!(
        kinds(&bounce_events),
        [EventKind::Accepted, EventKind::Bounced]
    );
    assert_eq!(bounce_events[1].details, bounced.details);

    // The second attempt finishes m1; m3 ends with an expiry and a delivery in the same batch.
    let mut second = outcome(&m1, 1, 70_500, Outcome::Delivered);
    second.details = full_details("four", 250, 2);
    let completed = store
        .record_outcomes(
            &[
                outcome(&m3, 1, 70_600, Outcome::Delivered),
                second.clone(),
                outcome(&m3, 0, 80_100, Outcome::Expired),
            ],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    let mut both = vec![m1.id, m3.id];
    both.sort();
    assert_eq!(completed, both, "in ID order");
    let b = &store
        .queued_message(m1.id)
        .await
        .unwrap()
        .unwrap()
        .recipients[1];
    assert_eq!(
        (b.state, b.attempts, b.next_attempt_at),
        (RecipientState::Delivered, 2, None)
    );
    assert_eq!(
        states(store, m3.id).await,
        [RecipientState::Expired, RecipientState::Delivered]
    );
    let m1_events = store.events_for_message(m1.id).await.unwrap();
    assert_eq!(m1_events.len(), 5);
    assert_eq!(
        m1_events[4].details.exchange().and_then(|x| x.attempt),
        Some(2)
    );
    assert_eq!(m1_events[4].details, second.details);
    assert!(
        store
            .pending_messages("node-a", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .record_outcomes(&[], &hikyaku_store::SoftBouncePolicy::OFF)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn outcomes_for_final_or_unknown_recipients(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sender").await;
    let m1 = accepted(&c, 1_000, "app@s.example", &["a@x.example"]);
    let m2 = accepted(&c, 2_000, "app@s.example", &["b@x.example", "c@x.example"]);
    store
        .record_accepted(&[m1.clone(), m2.clone()])
        .await
        .unwrap();
    assert_eq!(
        store
            .record_outcomes(
                &[outcome(&m1, 0, 5_000, Outcome::Bounced)],
                &hikyaku_store::SoftBouncePolicy::OFF
            )
            .await
            .unwrap(),
        [m1.id]
    );

    // A late report for a final recipient is logged but changes nothing, and completes nothing
    // twice; outcomes naming recipients the queue does not hold are skipped, not fatal.
    let stranger = accepted(&c, 3_000, "app@s.example", &["z@x.example"]);
    let completed = store
        .record_outcomes(
            &[
                outcome(&m1, 0, 6_000, Outcome::Delivered),
                outcome(&stranger, 0, 6_000, Outcome::Delivered),
                outcome(&m2, 7, 6_000, Outcome::Delivered),
                outcome(&m2, 0, 6_000, Outcome::Delivered),
            ],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    assert!(completed.is_empty(), "{completed:?}");
    let q1 = store.queued_message(m1.id).await.unwrap().unwrap();
    assert_eq!(
        (q1.recipients[0].state, q1.recipients[0].attempts),
        (RecipientState::Bounced, 1)
    );
    assert_eq!(
        kinds(&store.events_for_message(m1.id).await.unwrap()),
        [
            EventKind::Accepted,
            EventKind::Bounced,
            EventKind::Delivered
        ]
    );
    assert!(
        store
            .events_for_message(stranger.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        states(store, m2.id).await,
        [RecipientState::Delivered, RecipientState::Queued]
    );
    assert_eq!(store.events_for_message(m2.id).await.unwrap().len(), 3);
}

async fn retry_makes_waiting_recipients_due_and_tells_the_engine(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sender").await;
    let m = accepted(
        &c,
        1_000,
        "app@s.example",
        &["a@x.example", "b@x.example", "c@x.example"],
    );
    let other = on_node(
        accepted(&c, 1_500, "app@s.example", &["d@x.example"]),
        "node-b",
    );
    store
        .record_accepted(&[m.clone(), other.clone()])
        .await
        .unwrap();
    store
        .record_outcomes(
            &[
                outcome(&m, 0, 2_000, Outcome::Delivered),
                outcome(&m, 1, 2_000, deferred_until(9_000_000)),
            ],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    // Outcomes leave no command: only the operator's actions do.
    assert!(
        store
            .take_queue_commands("node-a")
            .await
            .unwrap()
            .is_empty()
    );

    let change = store.retry_message(m.id, Timestamp(3_000)).await.unwrap();
    assert_eq!(change.message_id, m.id);
    assert_eq!(change.action, QueueAction::Retry);
    assert_eq!(change.node, "node-a");
    assert_eq!(change.recipients, ["b@x.example", "c@x.example"]);
    let pending = store.pending_messages("node-a", None, 10).await.unwrap();
    let due: Vec<(u32, RecipientState, u32, Timestamp)> = pending[0]
        .recipients
        .iter()
        .map(|r| (r.index, r.state, r.attempts, r.next_attempt_at))
        .collect();
    assert_eq!(
        due,
        [
            (1, RecipientState::Deferred, 1, Timestamp(3_000)),
            (2, RecipientState::Queued, 0, Timestamp(3_000)),
        ],
        "due now; state and attempts unchanged"
    );
    assert_eq!(states(store, m.id).await[0], RecipientState::Delivered);

    // The engine of the message's node, and only it, takes the command, once.
    assert!(
        store
            .take_queue_commands("node-b")
            .await
            .unwrap()
            .is_empty()
    );
    let retry = QueueCommand {
        message_id: m.id,
        action: QueueAction::Retry,
        issued_at: Timestamp(3_000),
    };
    assert_eq!(store.take_queue_commands("node-a").await.unwrap(), [retry]);
    assert!(
        store
            .take_queue_commands("node-a")
            .await
            .unwrap()
            .is_empty()
    );

    // Several commands come back oldest first; another node's stay for that node.
    store
        .retry_message(other.id, Timestamp(4_000))
        .await
        .unwrap();
    store.retry_message(m.id, Timestamp(5_000)).await.unwrap();
    store.delete_message(m.id, Timestamp(6_000)).await.unwrap();
    let taken = store.take_queue_commands("node-a").await.unwrap();
    let actions: Vec<(QueueAction, Timestamp)> =
        taken.iter().map(|c| (c.action, c.issued_at)).collect();
    assert_eq!(
        actions,
        [
            (QueueAction::Retry, Timestamp(5_000)),
            (QueueAction::Delete, Timestamp(6_000))
        ]
    );
    assert_eq!(
        store.take_queue_commands("node-b").await.unwrap(),
        [QueueCommand {
            message_id: other.id,
            action: QueueAction::Retry,
            issued_at: Timestamp(4_000),
        }]
    );
}

async fn delete_ends_waiting_recipients_and_tells_the_engine(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sender").await;
    let m = accepted(
        &c,
        1_000,
        "app@s.example",
        &["a@x.example", "b@x.example", "c@x.example"],
    );
    let kept = accepted(&c, 1_100, "app@s.example", &["k@x.example"]);
    store
        .record_accepted(&[m.clone(), kept.clone()])
        .await
        .unwrap();
    store
        .record_outcomes(
            &[
                outcome(&m, 0, 2_000, Outcome::Delivered),
                outcome(&m, 2, 2_000, deferred_until(90_000)),
            ],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();

    let change = store.delete_message(m.id, Timestamp(3_000)).await.unwrap();
    assert_eq!(change.action, QueueAction::Delete);
    assert_eq!(change.node, "node-a");
    assert_eq!(change.recipients, ["b@x.example", "c@x.example"]);
    assert_eq!(
        states(store, m.id).await,
        [
            RecipientState::Delivered,
            RecipientState::Deleted,
            RecipientState::Deleted
        ]
    );
    let shown = store.queued_message(m.id).await.unwrap().unwrap();
    assert!(
        shown.recipients[1..]
            .iter()
            .all(|r| r.next_attempt_at.is_none())
    );
    // The log shows the deletion, per recipient, as such.
    let events = store.events_for_message(m.id).await.unwrap();
    let deleted: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind() == EventKind::Deleted)
        .collect();
    let recipients: Vec<&str> = deleted.iter().map(|e| e.recipient.as_str()).collect();
    assert_eq!(recipients, ["b@x.example", "c@x.example"]);
    for e in &deleted {
        assert_eq!(
            (e.at, &e.customer_id, e.mail_from.as_str()),
            (Timestamp(3_000), &c, "app@s.example")
        );
        assert_eq!(e.details, EventDetails::Deleted);
    }
    // It is no longer work; the other message is.
    let pending = store.pending_messages("node-a", None, 10).await.unwrap();
    assert_eq!(pending_keys(&pending), [(kept.id, 0)]);
    assert_eq!(
        store.take_queue_commands("node-a").await.unwrap(),
        [QueueCommand {
            message_id: m.id,
            action: QueueAction::Delete,
            issued_at: Timestamp(3_000),
        }]
    );

    // An attempt that was in flight reports afterwards: logged, but the recipient stays deleted
    // and the message is not completed a second time.
    let completed = store
        .record_outcomes(
            &[outcome(&m, 1, 3_500, Outcome::Delivered)],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    assert!(completed.is_empty());
    assert_eq!(states(store, m.id).await[1], RecipientState::Deleted);
    let last = store.events_for_message(m.id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.kind(), last.recipient.as_str()),
        (EventKind::Delivered, "b@x.example")
    );
}

async fn retry_and_delete_refuse_unknown_and_finished_messages(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sender").await;
    let done = accepted(&c, 1_000, "app@s.example", &["a@x.example"]);
    store
        .record_accepted(std::slice::from_ref(&done))
        .await
        .unwrap();
    store
        .record_outcomes(
            &[outcome(&done, 0, 2_000, Outcome::Delivered)],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    let unknown = MessageId::new(Timestamp(5));
    for result in [
        store.retry_message(unknown, Timestamp(3_000)).await,
        store.delete_message(unknown, Timestamp(3_000)).await,
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(err, StoreError::MessageNotFound(id) if id == unknown),
            "{err}"
        );
        assert!(!err.is_transient());
    }
    for result in [
        store.retry_message(done.id, Timestamp(3_000)).await,
        store.delete_message(done.id, Timestamp(3_000)).await,
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(err, StoreError::NothingPending(id) if id == done.id),
            "{err}"
        );
        assert!(!err.is_transient());
    }
    // A refused action leaves no trace: no command, no event, no state change.
    assert!(
        store
            .take_queue_commands("node-a")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.events_for_message(done.id).await.unwrap().len(), 2);
    assert_eq!(states(store, done.id).await, [RecipientState::Delivered]);

    // Deleting twice: the second finds nothing left.
    let twice = accepted(&c, 4_000, "app@s.example", &["b@x.example"]);
    store
        .record_accepted(std::slice::from_ref(&twice))
        .await
        .unwrap();
    store
        .delete_message(twice.id, Timestamp(5_000))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_message(twice.id, Timestamp(6_000)).await,
        Err(StoreError::NothingPending(_))
    ));
    assert_eq!(store.take_queue_commands("node-a").await.unwrap().len(), 1);
}

async fn send_log_search_by_each_filter(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let shared = "Shared@Example.jp";
    let a1 = accepted(&a, 1_000, "app@a.example", &[shared, "only-a@example.jp"]);
    let a2 = accepted(&a, 2_000, "app@a.example", &["only-a@example.jp"]);
    let b1 = accepted(&b, 1_500, "app@b.example", &[shared]);
    store
        .record_accepted(&[a1.clone(), a2.clone(), b1.clone()])
        .await
        .unwrap();
    let mut bounce = outcome(&a1, 0, 10_000, Outcome::Bounced);
    bounce.details = full_details("a1", 550, 1);
    store
        .record_outcomes(
            &[
                bounce.clone(),
                outcome(&a1, 1, 11_000, Outcome::Delivered),
                outcome(&b1, 0, 12_000, deferred_until(99_000)),
                outcome(&a2, 0, 13_000, deferred_until(99_000)),
            ],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    store
        .delete_message(a2.id, Timestamp(14_000))
        .await
        .unwrap();

    let search = async |filter: EventQuery| -> Vec<(Timestamp, EventKind, MessageId, String)> {
        store
            .search_events(&filter)
            .await
            .unwrap()
            .events
            .into_iter()
            .map(|e| (e.at, e.kind(), e.message_id, e.recipient))
            .collect()
    };
    let of = |customer: &CustomerId| EventQuery {
        customer: Some(customer.clone()),
        ..EventQuery::default()
    };
    let row = |at: i64, kind: EventKind, m: &AcceptedMessage, to: &str| {
        (Timestamp(at), kind, m.id, to.to_string())
    };

    // Everything, newest first.
    let all = search(EventQuery::default()).await;
    assert_eq!(all.len(), 9, "4 accepted, 4 outcomes, 1 deleted");
    assert!(all.windows(2).all(|w| w[0].0 >= w[1].0), "{all:?}");
    assert_eq!(
        all[0],
        row(14_000, EventKind::Deleted, &a2, "only-a@example.jp")
    );

    // By contract: the other contract's entries never show, even for the same address.
    assert_eq!(
        search(of(&b)).await,
        [
            row(12_000, EventKind::Deferred, &b1, shared),
            row(1_500, EventKind::Accepted, &b1, shared)
        ]
    );
    let shared_for_a = search(EventQuery {
        recipient: Some("shared@example.JP".into()),
        ..of(&a)
    })
    .await;
    assert_eq!(
        shared_for_a,
        [
            row(10_000, EventKind::Bounced, &a1, shared),
            row(1_000, EventKind::Accepted, &a1, shared)
        ]
    );
    // By recipient across contracts (the operator's view).
    let shared_everywhere = search(EventQuery {
        recipient: Some(shared.into()),
        ..EventQuery::default()
    })
    .await;
    assert_eq!(shared_everywhere.len(), 4);
    assert!(
        search(EventQuery {
            recipient: Some("nobody@example.jp".into()),
            ..EventQuery::default()
        })
        .await
        .is_empty()
    );

    // By message and by outcome.
    let kinds_of_a2: Vec<EventKind> = search(EventQuery {
        message_id: Some(a2.id),
        ..EventQuery::default()
    })
    .await
    .into_iter()
    .map(|r| r.1)
    .collect();
    assert_eq!(
        kinds_of_a2,
        [EventKind::Deleted, EventKind::Deferred, EventKind::Accepted]
    );
    assert_eq!(
        search(EventQuery {
            kinds: vec![EventKind::Deferred],
            ..EventQuery::default()
        })
        .await,
        [
            row(13_000, EventKind::Deferred, &a2, "only-a@example.jp"),
            row(12_000, EventKind::Deferred, &b1, shared)
        ]
    );
    assert!(
        search(EventQuery {
            kinds: vec![EventKind::Deferred],
            message_id: Some(a1.id),
            ..EventQuery::default()
        })
        .await
        .is_empty()
    );

    // By time: since is inclusive, until exclusive; and a limit keeps the newest.
    let window = search(EventQuery {
        since: Some(Timestamp(11_000)),
        until: Some(Timestamp(13_000)),
        ..EventQuery::default()
    })
    .await;
    assert_eq!(
        window,
        [
            row(12_000, EventKind::Deferred, &b1, shared),
            row(11_000, EventKind::Delivered, &a1, "only-a@example.jp")
        ]
    );
    let newest_two = search(EventQuery {
        limit: Some(2),
        ..of(&a)
    })
    .await;
    assert_eq!(
        newest_two.iter().map(|r| r.0).collect::<Vec<_>>(),
        [Timestamp(14_000), Timestamp(13_000)]
    );

    // The rows carry every send-log field, opened.
    let found = store
        .search_events(&EventQuery {
            kinds: vec![EventKind::Bounced],
            ..of(&a)
        })
        .await
        .unwrap()
        .events;
    assert_eq!(found.len(), 1);
    let e = &found[0];
    assert_eq!(
        (
            e.customer_id.clone(),
            e.mail_from.as_str(),
            e.recipient.as_str()
        ),
        (a.clone(), "app@a.example", shared)
    );
    assert_eq!(e.details, bounce.details);

    // A wrong key finds nothing by address and opens nothing.
    store.close().await;
    let stranger = Store::connect(&f.url, SealingKey::generate())
        .await
        .unwrap();
    assert!(
        stranger
            .search_events(&EventQuery {
                recipient: Some(shared.into()),
                ..EventQuery::default()
            })
            .await
            .unwrap()
            .events
            .is_empty()
    );
    assert!(matches!(
        stranger.search_events(&of(&a)).await,
        Err(StoreError::Unseal)
    ));
    stranger.close().await;
}

/// Messages that were finished before `0002` are marked complete by it, so that the engine's
/// start skips them; the one with a deferred recipient stays work.
async fn migration_marks_finished_messages_complete(url: &str, backend: &str) {
    let first = EarlierSchema::create(url, backend, "0001").await;
    // Sealed columns hold placeholder bytes: nothing here is opened.
    first
        .execute(
            "INSERT INTO contracts (customer_id, name, created_at) VALUES ('cold00001', 'Old', 1); \
             INSERT INTO messages (message_id, customer_id, mail_from_sealed, mail_from_hash, size, \
                 received_at, source_ip, node) VALUES \
                 ('01aaaaaaaaaaaaaaaaaaaaaaaa', 'cold00001', 's', 'h', 1, 100, '192.0.2.1', 'node-a'), \
                 ('01bbbbbbbbbbbbbbbbbbbbbbbb', 'cold00001', 's', 'h', 1, 200, '192.0.2.1', 'node-a'); \
             INSERT INTO message_recipients (message_id, recipient_index, address_sealed, \
                 address_hash, state) VALUES \
                 ('01aaaaaaaaaaaaaaaaaaaaaaaa', 0, 'a', 'h', 'delivered'), \
                 ('01aaaaaaaaaaaaaaaaaaaaaaaa', 1, 'a', 'h', 'bounced'), \
                 ('01bbbbbbbbbbbbbbbbbbbbbbbb', 0, 'a', 'h', 'delivered'), \
                 ('01bbbbbbbbbbbbbbbbbbbbbbbb', 1, 'a', 'h', 'deferred');",
        )
        .await;
    first.close().await;

    let store = Store::connect(url, SealingKey::generate()).await.unwrap();
    store.close().await;
    let migrated = EarlierSchema::connect(url, backend).await;
    let rows: Vec<(String, Option<i64>)> = match &migrated {
        EarlierSchema::Sqlite(pool) => {
            sqlx::query_as("SELECT message_id, completed_at FROM messages ORDER BY message_id")
                .fetch_all(pool)
                .await
        }
        EarlierSchema::Postgres(pool) => {
            sqlx::query_as("SELECT message_id, completed_at FROM messages ORDER BY message_id")
                .fetch_all(pool)
                .await
        }
    }
    .unwrap();
    migrated.close().await;
    assert_eq!(
        rows,
        [
            ("01aaaaaaaaaaaaaaaaaaaaaaaa".to_string(), Some(100)),
            ("01bbbbbbbbbbbbbbbbbbbbbbbb".to_string(), None),
        ]
    );
}

#[tokio::test]
async fn migration_marks_finished_messages_complete_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    migration_marks_finished_messages_complete(&url, "sqlite").await;
}

#[tokio::test]
async fn migration_marks_finished_messages_complete_on_postgres() {
    if let Some(database) = hikyaku_store::testing::PostgresTestDatabase::create().await {
        migration_marks_finished_messages_complete(database.url(), "postgres").await;
    }
}
