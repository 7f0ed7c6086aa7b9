//! The contracts' suppression lists on both backends: adding, finding, paging and removing
//! entries, keeping contracts apart, sealing at rest, the relay's look-up in `record_accepted`,
//! the delivery engine's look-up before each attempt (`listed_among`) and its hard bounces in
//! `record_outcomes`, and the error server's `record_bounces` with each effect and the
//! soft-bounce window.

mod common;

use common::{Fixture, accepted, new_contract, on_both_backends};
use hikyaku_model::{
    CustomerId, EventDetails, EventKind, EventSource, Exchange, MessageId, Reason, RecipientState,
    Timestamp,
};
use hikyaku_store::{
    BounceEvent, NewSuppression, Outcome, RecipientOutcome, SUPPRESSION_LIST_SOURCE,
    SoftBouncePolicy, StoreError, SuppressionEffect, SuppressionFilter, SuppressionSource,
};
use std::collections::HashSet;
use std::time::Duration;

on_both_backends!(
    add_find_page_and_remove,
    contracts_never_see_each_others_lists,
    bad_addresses_and_unknown_contracts_are_refused,
    suppressed_addresses_are_sealed_at_rest,
    accepted_recipients_on_the_list_are_suppressed_not_queued,
    listed_recipients_are_found_in_every_statement_chunk,
    hard_bounces_in_outcomes_suppress,
    bounces_and_complaints_take_their_effect,
    soft_bounces_count_only_within_the_window,
    the_engine_finds_a_jobs_listed_recipients_in_one_look_up,
);

fn manual<'a>(address: &'a str, reason: Option<&'a str>) -> NewSuppression<'a> {
    NewSuppression {
        address,
        source: SuppressionSource::Manual,
        reason,
        message_id: None,
    }
}

async fn add_find_page_and_remove(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Lists").await;
    let added = store
        .add_suppressions(
            &c,
            &[
                manual("Alice@Example.jp", Some("asked to stop")),
                manual("bob@example.jp", None),
                // The same address again, in another case, in the same call.
                manual("ALICE@example.JP", Some("second")),
            ],
            Timestamp(1_000),
        )
        .await
        .unwrap();
    assert_eq!(added, 2);
    // Already listed: the first entry stays.
    let again = store
        .add_suppressions(
            &c,
            &[manual("alice@example.jp", Some("third"))],
            Timestamp(2_000),
        )
        .await
        .unwrap();
    assert_eq!(again, 0);
    let alice = store
        .suppression(&c, " aLiCe@example.jp ")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.address, "Alice@Example.jp");
    assert_eq!(alice.customer_id, c);
    assert_eq!(alice.source, SuppressionSource::Manual);
    assert_eq!(alice.reason.as_deref(), Some("asked to stop"));
    assert_eq!(alice.message_id, None);
    assert_eq!(alice.created_at, Timestamp(1_000));
    assert_eq!(
        store.suppression(&c, "carol@example.jp").await.unwrap(),
        None
    );

    // 101 more, paged through three at a time: every entry exactly once.
    let many: Vec<String> = (0..101).map(|i| format!("user{i}@example.net")).collect();
    let entries: Vec<NewSuppression> = many.iter().map(|a| manual(a, None)).collect();
    assert_eq!(
        store
            .add_suppressions(&c, &entries, Timestamp(3_000))
            .await
            .unwrap(),
        101
    );
    assert_eq!(store.suppression_count(&c).await.unwrap(), 103);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .suppressions(
                &c,
                &SuppressionFilter {
                    after: after.clone(),
                    limit: Some(3),
                },
            )
            .await
            .unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.address.clone());
        seen.extend(page.into_iter().map(|e| e.address));
    }
    assert_eq!(seen.len(), 103);
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 103);
    assert!(many.iter().all(|a| distinct.contains(a)));
    // Without a limit, one page holds everything, in the same order.
    let all = store
        .suppressions(&c, &SuppressionFilter::default())
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.address.clone()).collect::<Vec<_>>(),
        seen
    );
    // A cursor whose address has gone still works. The list is in the order of the keyed
    // hash, which a new key shuffles every run: the gone address is one of the 101 from the
    // middle of the list, never alice's or bob's, which the checks below still need.
    let gone = (50..)
        .find(|&i| many.contains(&seen[i]))
        .expect("the 101 fill the middle of the list");
    assert!(store.remove_suppression(&c, &seen[gone]).await.unwrap());
    let rest = store
        .suppressions(
            &c,
            &SuppressionFilter {
                after: Some(seen[gone].clone()),
                limit: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.len(), 102 - gone);
    assert_eq!(rest[0].address, seen[gone + 1]);

    assert!(
        store
            .remove_suppression(&c, "BOB@example.jp")
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_suppression(&c, "bob@example.jp")
            .await
            .unwrap()
    );
    assert_eq!(store.suppression(&c, "bob@example.jp").await.unwrap(), None);
    assert_eq!(store.suppression_count(&c).await.unwrap(), 101);
    assert_eq!(
        store.add_suppressions(&c, &[], Timestamp(1)).await.unwrap(),
        0
    );
}

async fn contracts_never_see_each_others_lists(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    store
        .add_suppressions(
            &a,
            &[
                manual("shared@example.jp", Some("a's")),
                manual("only-a@example.jp", None),
            ],
            Timestamp(1_000),
        )
        .await
        .unwrap();
    store
        .add_suppressions(
            &b,
            &[manual("shared@example.jp", Some("b's"))],
            Timestamp(2_000),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .suppression(&b, "shared@example.jp")
            .await
            .unwrap()
            .unwrap()
            .reason
            .as_deref(),
        Some("b's")
    );
    assert_eq!(
        store.suppression(&b, "only-a@example.jp").await.unwrap(),
        None
    );
    let listed_b = store
        .suppressions(&b, &SuppressionFilter::default())
        .await
        .unwrap();
    assert_eq!(listed_b.len(), 1);
    assert_eq!(listed_b[0].customer_id, b);
    assert_eq!(store.suppression_count(&a).await.unwrap(), 2);
    assert_eq!(store.suppression_count(&b).await.unwrap(), 1);

    // B cannot remove A's entry; removing its own leaves A's.
    assert!(
        !store
            .remove_suppression(&b, "only-a@example.jp")
            .await
            .unwrap()
    );
    assert!(
        store
            .remove_suppression(&b, "shared@example.jp")
            .await
            .unwrap()
    );
    assert!(
        store
            .suppression(&a, "shared@example.jp")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .suppression(&a, "only-a@example.jp")
            .await
            .unwrap()
            .is_some()
    );

    // The relay honours each contract's own list only.
    let to_a = accepted(&a, 5_000, "app@a.example", &["only-a@example.jp"]);
    let to_b = accepted(&b, 5_001, "app@b.example", &["only-a@example.jp"]);
    let suppressed = store
        .record_accepted(&[to_a.clone(), to_b.clone()])
        .await
        .unwrap();
    assert_eq!(suppressed.get(&to_a.id), Some(&vec![0]));
    assert_eq!(suppressed.get(&to_b.id), None);
    let shown_b = store.queued_message(to_b.id).await.unwrap().unwrap();
    assert_eq!(shown_b.recipients[0].state, RecipientState::Queued);

    // A contract's end takes its list with it.
    sqlx_delete_contract(&f, &a).await;
    assert_eq!(store.suppression_count(&a).await.unwrap(), 0);
}

/// There is no API to delete a contract yet: its rows go with the contract's row.
async fn sqlx_delete_contract(f: &Fixture, customer: &CustomerId) {
    if f.url.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = f.url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(options.foreign_keys(true))
            .await
            .unwrap();
        sqlx::query("DELETE FROM contracts WHERE customer_id = $1")
            .bind(customer.as_str())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&f.url).await.unwrap();
        sqlx::query("DELETE FROM contracts WHERE customer_id = $1")
            .bind(customer.as_str())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

async fn bad_addresses_and_unknown_contracts_are_refused(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Strict").await;
    let err = store
        .add_suppressions(
            &c,
            &[
                manual("good@example.jp", None),
                manual("not an address", None),
            ],
            Timestamp(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    // Nothing of the call was added.
    assert_eq!(store.suppression_count(&c).await.unwrap(), 0);
    let nobody: CustomerId = "cnobody00".parse().unwrap();
    let err = store
        .add_suppressions(&nobody, &[manual("good@example.jp", None)], Timestamp(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");
}

async fn suppressed_addresses_are_sealed_at_rest(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sealed").await;
    store
        .add_suppressions(
            &c,
            &[manual(
                "Qx-Listed-4c1@Example.org",
                Some("note on qx-noted-9d2@example.org"),
            )],
            Timestamp(1_000),
        )
        .await
        .unwrap();
    let message = accepted(&c, 2_000, "app@example.com", &["qx-listed-4c1@example.org"]);
    store
        .record_accepted(std::slice::from_ref(&message))
        .await
        .unwrap();
    store
        .record_bounces(
            &[BounceEvent {
                customer_id: c.clone(),
                message_id: message.id,
                recipient: "qx-soft-77e@example.org".into(),
                mail_from: "app@example.com".into(),
                at: Timestamp(3_000),
                details: EventDetails::Bounced {
                    exchange: Exchange::by(EventSource::Report),
                    reason: Reason::MailboxFull,
                    hard: false,
                },
                effect: SuppressionEffect::CountSoft,
            }],
            &SoftBouncePolicy {
                limit: 5,
                window: Duration::from_secs(3600),
            },
        )
        .await
        .unwrap();
    let entry = store
        .suppression(&c, "qx-listed-4c1@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        entry.reason.as_deref(),
        Some("note on qx-noted-9d2@example.org")
    );

    let raw = f
        .raw_bytes_of(&[
            "suppressions",
            "soft_bounces",
            "events",
            "message_recipients",
        ])
        .await;
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for needle in [
        "Qx-Listed-4c1",
        "qx-listed-4c1",
        "qx-noted-9d2",
        "qx-soft-77e",
    ] {
        for form in [needle.to_string(), hex(needle)] {
            assert!(
                !raw.windows(form.len()).any(|w| w == form.as_bytes()),
                "{form:?} is stored in plaintext"
            );
        }
    }
    // The check can fail: what is not sealed is found.
    assert!(raw.windows(6).any(|w| w == b"manual"));
}

async fn accepted_recipients_on_the_list_are_suppressed_not_queued(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Relay").await;
    store
        .add_suppressions(
            &c,
            &[
                manual("gone@example.jp", Some("userunknown")),
                manual("Quiet@example.jp", None),
            ],
            Timestamp(1_000),
        )
        .await
        .unwrap();
    let mixed = accepted(
        &c,
        10_000,
        "app@example.com",
        &["ok@example.jp", "GONE@example.jp", "other@example.jp"],
    );
    let all_listed = accepted(
        &c,
        10_001,
        "app@example.com",
        &["gone@example.jp", "quiet@EXAMPLE.jp"],
    );
    let clean = accepted(&c, 10_002, "app@example.com", &["ok@example.jp"]);
    let suppressed = store
        .record_accepted(&[mixed.clone(), all_listed.clone(), clean.clone()])
        .await
        .unwrap();
    assert_eq!(suppressed.len(), 2, "{suppressed:?}");
    assert_eq!(suppressed[&mixed.id], vec![1]);
    assert_eq!(suppressed[&all_listed.id], vec![0, 1]);

    let shown = store.queued_message(mixed.id).await.unwrap().unwrap();
    let states: Vec<RecipientState> = shown.recipients.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [
            RecipientState::Queued,
            RecipientState::Suppressed,
            RecipientState::Queued
        ]
    );
    assert_eq!(shown.recipients[1].next_attempt_at, None);
    let events = store.events_for_message(mixed.id).await.unwrap();
    let kinds: Vec<(EventKind, &str)> = events
        .iter()
        .map(|e| (e.kind(), e.recipient.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventKind::Accepted, "ok@example.jp"),
            (EventKind::Accepted, "GONE@example.jp"),
            (EventKind::Accepted, "other@example.jp"),
            (EventKind::Suppressed, "GONE@example.jp"),
        ]
    );
    let event = &events[3];
    assert_eq!(
        event.details,
        EventDetails::Suppressed {
            source: SUPPRESSION_LIST_SOURCE,
            note: Some("userunknown".into())
        }
    );
    assert_eq!(event.at, mixed.received_at);

    // The engine gets the partly suppressed message's other recipients only; the wholly
    // suppressed one is complete, with no work left anywhere.
    let pending = store.pending_messages("node-a", None, 100).await.unwrap();
    let ids: Vec<MessageId> = pending.iter().map(|m| m.id).collect();
    assert_eq!(ids, [mixed.id, clean.id]);
    let indexes: Vec<u32> = pending[0].recipients.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [0, 2]);
    let done = store.queued_message(all_listed.id).await.unwrap().unwrap();
    assert!(
        done.recipients
            .iter()
            .all(|r| r.state == RecipientState::Suppressed)
    );
    let events = store.events_for_message(all_listed.id).await.unwrap();
    let quiet = events
        .iter()
        .find(|e| e.kind() == EventKind::Suppressed && e.recipient == "quiet@EXAMPLE.jp")
        .unwrap();
    assert!(matches!(
        quiet.details,
        EventDetails::Suppressed { note: None, .. }
    ));

    // Replaying the batch changes nothing and reports nothing new.
    let replayed = store
        .record_accepted(&[mixed.clone(), all_listed.clone()])
        .await
        .unwrap();
    assert!(replayed.is_empty());
    assert_eq!(store.events_for_message(mixed.id).await.unwrap().len(), 4);
}

async fn hard_bounces_in_outcomes_suppress(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Delivery").await;
    let message = accepted(
        &c,
        1_000,
        "app@example.com",
        &["Unknown@example.jp", "full@example.jp"],
    );
    store
        .record_accepted(std::slice::from_ref(&message))
        .await
        .unwrap();
    let bounce = |index: u32, reason: &str, suppress: bool| RecipientOutcome {
        message_id: message.id,
        recipient_index: index,
        at: Timestamp(2_000),
        outcome: Outcome::Bounced,
        details: EventDetails::Bounced {
            exchange: Exchange {
                code: Some(550),
                ..Exchange::by(EventSource::Smtp)
            },
            reason: reason.parse().unwrap(),
            hard: suppress,
        },
        suppression: if suppress {
            SuppressionEffect::Suppress(SuppressionSource::HardBounce)
        } else {
            SuppressionEffect::CountSoft
        },
    };
    let completed = store
        .record_outcomes(
            &[
                bounce(0, "userunknown", true),
                bounce(1, "mailboxfull", false),
            ],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    assert_eq!(completed, [message.id]);
    let entry = store
        .suppression(&c, "unknown@example.jp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.address, "Unknown@example.jp");
    assert_eq!(entry.source, SuppressionSource::HardBounce);
    assert_eq!(entry.reason.as_deref(), Some("userunknown"));
    assert_eq!(entry.message_id, Some(message.id));
    assert_eq!(entry.created_at, Timestamp(2_000));
    assert_eq!(
        store.suppression(&c, "full@example.jp").await.unwrap(),
        None
    );
    let events = store.events_for_message(message.id).await.unwrap();
    let bounced = events
        .iter()
        .find(|e| e.kind() == EventKind::Bounced)
        .unwrap();
    assert_eq!(bounced.details.hard(), Some(true));
    assert_eq!(bounced.details.source(), Some(EventSource::Smtp));

    // The next message to that address is suppressed at once.
    let next = accepted(&c, 3_000, "app@example.com", &["unknown@EXAMPLE.jp"]);
    let suppressed = store
        .record_accepted(std::slice::from_ref(&next))
        .await
        .unwrap();
    assert_eq!(suppressed[&next.id], vec![0]);
}

fn bounce_event(
    customer: &CustomerId,
    message: MessageId,
    recipient: &str,
    at: i64,
    kind: EventKind,
    reason: &str,
    effect: SuppressionEffect,
) -> BounceEvent {
    BounceEvent {
        customer_id: customer.clone(),
        message_id: message,
        recipient: recipient.to_string(),
        mail_from: "app@example.com".into(),
        at: Timestamp(at),
        details: match kind {
            EventKind::Complaint => EventDetails::Complaint {
                exchange: Exchange::by(EventSource::Report),
                feedback_type: Some("abuse".to_string()),
            },
            _ => EventDetails::Bounced {
                exchange: Exchange::by(EventSource::Report),
                reason: reason.parse().unwrap(),
                hard: false,
            },
        },
        effect,
    }
}

async fn bounces_and_complaints_take_their_effect(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Bounces").await;
    let other = new_contract(store, "Other").await;
    let m = MessageId::new(Timestamp(1_000));
    let policy = SoftBouncePolicy {
        limit: 5,
        window: Duration::from_secs(7 * 86_400),
    };
    store
        .add_suppressions(&c, &[manual("listed@example.jp", None)], Timestamp(500))
        .await
        .unwrap();
    let listed = store
        .record_bounces(
            &[
                bounce_event(
                    &c,
                    m,
                    "hard@example.jp",
                    2_000,
                    EventKind::Bounced,
                    "userunknown",
                    SuppressionEffect::Suppress(SuppressionSource::HardBounce),
                ),
                bounce_event(
                    &c,
                    m,
                    "angry@example.jp",
                    2_001,
                    EventKind::Complaint,
                    "feedback",
                    SuppressionEffect::Suppress(SuppressionSource::Complaint),
                ),
                bounce_event(
                    &c,
                    m,
                    "vacation@example.jp",
                    2_002,
                    EventKind::Bounced,
                    "vacation",
                    SuppressionEffect::Nothing,
                ),
                bounce_event(
                    &c,
                    m,
                    "soft@example.jp",
                    2_003,
                    EventKind::Bounced,
                    "mailboxfull",
                    SuppressionEffect::CountSoft,
                ),
                // Already listed by hand: it stays listed, with its first entry.
                bounce_event(
                    &c,
                    m,
                    "LISTED@example.jp",
                    2_004,
                    EventKind::Bounced,
                    "mailboxfull",
                    SuppressionEffect::Nothing,
                ),
                // The same address hard-bouncing for another contract lists it there only.
                bounce_event(
                    &other,
                    m,
                    "soft@example.jp",
                    2_005,
                    EventKind::Bounced,
                    "hostunknown",
                    SuppressionEffect::Suppress(SuppressionSource::HardBounce),
                ),
            ],
            &policy,
        )
        .await
        .unwrap();
    assert_eq!(listed, [true, true, false, false, true, true]);

    let hard = store
        .suppression(&c, "hard@example.jp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hard.source, SuppressionSource::HardBounce);
    assert_eq!(hard.reason.as_deref(), Some("userunknown"));
    assert_eq!(hard.message_id, Some(m));
    assert_eq!(hard.created_at, Timestamp(2_000));
    let angry = store
        .suppression(&c, "angry@example.jp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(angry.source, SuppressionSource::Complaint);
    let by_hand = store
        .suppression(&c, "listed@example.jp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_hand.source, SuppressionSource::Manual);
    assert_eq!(
        store.suppression(&c, "soft@example.jp").await.unwrap(),
        None
    );
    assert!(
        store
            .suppression(&other, "soft@example.jp")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.suppression_count(&c).await.unwrap(), 3);

    // One event each, with its kind and sealed details, in the contract's send log.
    let events = store.events_for_message(m).await.unwrap();
    assert_eq!(events.len(), 6);
    let complaint = events
        .iter()
        .find(|e| e.recipient == "angry@example.jp")
        .unwrap();
    assert_eq!(complaint.kind(), EventKind::Complaint);
    assert_eq!(complaint.customer_id, c);
    assert_eq!(complaint.mail_from, "app@example.com");
    assert!(
        matches!(&complaint.details, EventDetails::Complaint { feedback_type: Some(t), .. } if t == "abuse")
    );
    assert_eq!(complaint.details.source(), Some(EventSource::Report));
    let vacation = events
        .iter()
        .find(|e| e.recipient == "vacation@example.jp")
        .unwrap();
    assert_eq!(vacation.kind(), EventKind::Bounced);
    assert_eq!(vacation.details.reason(), Some(Reason::Vacation));
    assert_eq!(events.iter().filter(|e| e.customer_id == other).count(), 1);
    assert!(store.record_bounces(&[], &policy).await.unwrap().is_empty());
}

async fn soft_bounces_count_only_within_the_window(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Soft").await;
    let m = MessageId::new(Timestamp(1_000));
    let hour = 3_600_000;
    let policy = SoftBouncePolicy {
        limit: 3,
        window: Duration::from_secs(3_600),
    };
    let soft = |address: &str, at: i64| {
        bounce_event(
            &c,
            m,
            address,
            at,
            EventKind::Bounced,
            "mailboxfull",
            SuppressionEffect::CountSoft,
        )
    };
    // Two old soft bounces, then two more over an hour later: the old ones no longer count.
    for at in [0, 10 * 60_000] {
        let listed = store
            .record_bounces(&[soft("full@example.jp", at)], &policy)
            .await
            .unwrap();
        assert_eq!(listed, [false]);
    }
    let listed = store
        .record_bounces(
            &[
                soft("full@example.jp", 2 * hour),
                soft("Full@example.jp", 2 * hour + 60_000),
            ],
            &policy,
        )
        .await
        .unwrap();
    assert_eq!(
        listed,
        [false, false],
        "the bounces of the first hour counted"
    );
    assert_eq!(
        store.suppression(&c, "full@example.jp").await.unwrap(),
        None
    );
    // The third within the hour lists it, in the same call as the second address's first.
    let listed = store
        .record_bounces(
            &[
                soft("other@example.jp", 2 * hour + 90_000),
                soft("FULL@example.jp", 2 * hour + 120_000),
            ],
            &policy,
        )
        .await
        .unwrap();
    assert_eq!(listed, [false, true]);
    let entry = store
        .suppression(&c, "full@example.jp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.source, SuppressionSource::SoftBounces);
    assert_eq!(entry.reason.as_deref(), Some("mailboxfull"));
    assert_eq!(entry.message_id, Some(m));
    assert_eq!(entry.created_at, Timestamp(2 * hour + 120_000));
    // Three in a burst within one call count too.
    let listed = store
        .record_bounces(
            &[
                soft("burst@example.jp", 5 * hour),
                soft("burst@example.jp", 5 * hour + 1),
                soft("burst@example.jp", 5 * hour + 2),
            ],
            &policy,
        )
        .await
        .unwrap();
    assert_eq!(listed, [false, false, true]);

    // A limit of 0 turns the rule off.
    let off = SoftBouncePolicy {
        limit: 0,
        window: Duration::from_secs(3_600),
    };
    for i in 0..5 {
        let listed = store
            .record_bounces(&[soft("never@example.jp", 6 * hour + i)], &off)
            .await
            .unwrap();
        assert_eq!(listed, [false]);
    }
    // The events are all there all the same.
    let events = store
        .events_for_recipient(&c, "never@example.jp", 100)
        .await
        .unwrap();
    assert_eq!(events.len(), 5);
}

async fn listed_recipients_are_found_in_every_statement_chunk(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Chunks").await;
    let other = new_contract(store, "Other").await;
    // 2 messages of 150 recipients: the look-up runs in chunks of 64, 16 and 4 rows.
    let addresses: Vec<String> = (0..150).map(|i| format!("r{i}@example.jp")).collect();
    let to: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let listed = [0, 63, 64, 70, 127, 128, 143, 149];
    let entries: Vec<NewSuppression> = listed
        .iter()
        .map(|&i| manual(&addresses[i], None))
        .collect();
    store
        .add_suppressions(&c, &entries, Timestamp(1))
        .await
        .unwrap();
    // The other contract lists everything: it must change nothing here.
    let everything: Vec<NewSuppression> = addresses.iter().map(|a| manual(a, None)).collect();
    store
        .add_suppressions(&other, &everything, Timestamp(1))
        .await
        .unwrap();
    let batch: Vec<_> = (0..2)
        .map(|m| accepted(&c, 10_000 + m, "app@example.com", &to))
        .collect();
    let suppressed = store.record_accepted(&batch).await.unwrap();
    let expected: Vec<u32> = listed.iter().map(|&i| i as u32).collect();
    for message in &batch {
        assert_eq!(suppressed[&message.id], expected);
        let shown = store.queued_message(message.id).await.unwrap().unwrap();
        let states: Vec<usize> = shown
            .recipients
            .iter()
            .enumerate()
            .filter(|(_, r)| r.state == RecipientState::Suppressed)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(states, listed);
    }
}

async fn the_engine_finds_a_jobs_listed_recipients_in_one_look_up(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Engine look-up").await;
    let other = new_contract(store, "Another").await;
    store
        .add_suppressions(
            &c,
            &[manual("Gone@Example.jp", Some("asked to stop"))],
            Timestamp(1_000),
        )
        .await
        .unwrap();
    store
        .add_suppressions(&other, &[manual("kept@example.jp", None)], Timestamp(1_000))
        .await
        .unwrap();
    let found = store
        .listed_among(
            &c,
            &["kept@example.jp", "gone@example.JP", "new@example.jp"],
        )
        .await
        .unwrap();
    let got: Vec<Option<(&str, Option<&str>)>> = found
        .iter()
        .map(|e| {
            e.as_ref()
                .map(|e| (e.address.as_str(), e.reason.as_deref()))
        })
        .collect();
    assert_eq!(
        got,
        [None, Some(("Gone@Example.jp", Some("asked to stop"))), None],
        "in the asked order, any case, and never another contract's entry"
    );
    assert!(store.listed_among(&c, &[]).await.unwrap().is_empty());
    // More addresses than one look-up chunk still answer each in place.
    let many: Vec<String> = (0..300).map(|i| format!("r{i}@example.jp")).collect();
    let mut asked: Vec<&str> = many.iter().map(String::as_str).collect();
    asked.push("GONE@example.jp");
    let found = store.listed_among(&c, &asked).await.unwrap();
    assert_eq!(found.len(), 301);
    assert!(found[..300].iter().all(Option::is_none));
    assert_eq!(
        found[300].as_ref().unwrap().source,
        SuppressionSource::Manual
    );
}
