//! The operator's quality counters and the reputation guard's counters and state, written with
//! the outcomes and reports they count, on SQLite and PostgreSQL.

mod common;

use common::{Fixture, accepted, new_contract, on_both_backends};
use hikyaku_model::{
    EnhancedStatus, EventDetails, EventKind, EventSource, Exchange, MessageId, Reason, Timestamp,
};
use hikyaku_store::{
    AcceptedMessage, BounceEvent, Outcome, RecipientOutcome, ReputationWindow, SoftBouncePolicy,
    Store, SuppressionEffect,
};
use std::time::Duration;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// A day boundary far from the epoch, so that day and hour arithmetic is not trivially zero.
const T0: i64 = 20_000 * DAY;

fn reply(code: u16, status: (u8, u16, u16), text: &str) -> Exchange {
    Exchange {
        code: Some(code),
        status: Some(EnhancedStatus::new(status.0, status.1, status.2)),
        text: Some(text.to_string()),
        ..Exchange::by(EventSource::Smtp)
    }
}

fn delivered(m: &AcceptedMessage, index: u32, at: i64) -> RecipientOutcome {
    RecipientOutcome {
        message_id: m.id,
        recipient_index: index,
        at: Timestamp(at),
        outcome: Outcome::Delivered,
        details: EventDetails::Delivered {
            exchange: reply(250, (2, 0, 0), "Ok: queued as 4R1xyz3Kq2z9B"),
        },
        suppression: SuppressionEffect::Nothing,
    }
}

fn bounced(m: &AcceptedMessage, index: u32, at: i64, text: &str, hard: bool) -> RecipientOutcome {
    RecipientOutcome {
        message_id: m.id,
        recipient_index: index,
        at: Timestamp(at),
        outcome: Outcome::Bounced,
        details: EventDetails::Bounced {
            exchange: reply(550, (5, 1, 1), text),
            reason: if hard {
                Reason::UserUnknown
            } else {
                Reason::MailboxFull
            },
            hard,
        },
        suppression: SuppressionEffect::Nothing,
    }
}

fn deferred(m: &AcceptedMessage, index: u32, at: i64, text: &str) -> RecipientOutcome {
    RecipientOutcome {
        message_id: m.id,
        recipient_index: index,
        at: Timestamp(at),
        outcome: Outcome::Deferred {
            next_attempt_at: Timestamp(at + HOUR),
        },
        details: EventDetails::Deferred {
            exchange: reply(451, (4, 7, 1), text),
            reason: None,
        },
        suppression: SuppressionEffect::Nothing,
    }
}

fn complaint(m: &AcceptedMessage, index: usize, at: i64) -> BounceEvent {
    BounceEvent {
        customer_id: m.customer_id.clone(),
        message_id: m.id,
        recipient: m.envelope.recipients[index].clone(),
        mail_from: m.envelope.mail_from.clone(),
        at: Timestamp(at),
        details: EventDetails::Complaint {
            exchange: Exchange::by(EventSource::Report),
            feedback_type: Some("abuse".into()),
        },
        effect: SuppressionEffect::Nothing,
    }
}

async fn record(store: &Store, outcomes: &[RecipientOutcome]) {
    store
        .record_outcomes(outcomes, &SoftBouncePolicy::OFF)
        .await
        .unwrap();
}

on_both_backends!(
    outcomes_are_counted_by_domain_and_by_normalised_reply_without_addresses,
    reputation_figures_sum_the_window_from_hourly_counters,
    warnings_pauses_and_resumes_are_conditional_and_start_figures_afresh,
    a_resume_wins_over_a_guard_that_read_the_figures_before_it,
);

async fn outcomes_are_counted_by_domain_and_by_normalised_reply_without_addresses(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let ma = accepted(
        &a,
        T0,
        "app@a.example",
        &[
            "ann@Mail.Example.JP",
            "bob@mail.example.jp",
            "cat@other.example",
        ],
    );
    let mut mb = accepted(
        &b,
        T0,
        "app@b.example",
        &["dan@mail.example.jp", "eve@mail.example.jp"],
    );
    mb.id = MessageId::new(Timestamp(T0 + 1));
    store
        .record_accepted(&[ma.clone(), mb.clone()])
        .await
        .unwrap();
    // The same refusal, to two people of two contracts, reads as one reply.
    record(
        store,
        &[
            delivered(&ma, 0, T0 + HOUR),
            bounced(
                &ma,
                1,
                T0 + HOUR,
                "<bob@mail.example.jp>: Recipient address rejected: User unknown",
                true,
            ),
            deferred(&ma, 2, T0 + HOUR, "[192.0.2.7] greylisted, id=8A7B31C0F2"),
            bounced(
                &mb,
                0,
                T0 + 2 * HOUR,
                "<dan@mail.example.jp>: Recipient address rejected: User unknown",
                true,
            ),
        ],
    )
    .await;
    // The next day: a delivery, and a complaint reported about it.
    record(store, &[delivered(&mb, 1, T0 + DAY + HOUR)]).await;
    store
        .record_bounces(
            &[complaint(&mb, 1, T0 + DAY + 2 * HOUR)],
            &SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();

    let domains = store.quality_by_domain(Timestamp(T0), 10).await.unwrap();
    let names: Vec<&str> = domains.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(names, ["mail.example.jp", "other.example"], "most first");
    let jp = &domains[0];
    assert_eq!(
        (jp.delivered, jp.bounced, jp.deferred, jp.complaint),
        (2, 2, 0, 1)
    );
    assert_eq!((domains[1].deferred, domains[1].total()), (1, 1));
    // From the second day only, and a limit.
    let later = store
        .quality_by_domain(Timestamp(T0 + DAY + 5 * HOUR), 10)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!((later[0].delivered, later[0].complaint), (1, 1));
    assert_eq!(
        store
            .quality_by_domain(Timestamp(T0), 1)
            .await
            .unwrap()
            .len(),
        1
    );

    let replies = store.quality_by_reply(Timestamp(T0), 10).await.unwrap();
    assert_eq!(replies.len(), 2, "{replies:#?}");
    assert_eq!(replies[0].kind, EventKind::Bounced);
    assert_eq!(
        replies[0].reply,
        "550 5.1.1 <{address}>: recipient address rejected: user unknown"
    );
    assert_eq!(replies[0].count, 2);
    assert_eq!(replies[1].kind, EventKind::Deferred);
    assert_eq!(replies[1].reply, "451 4.7.1 [{ip}] greylisted, id={id}");
    assert!(
        store
            .quality_by_reply(Timestamp(T0 + DAY), 10)
            .await
            .unwrap()
            .is_empty(),
        "no bounce or deferral on the second day"
    );

    // No address, no contract in the rows: what a person with the database sees.
    let raw = f
        .raw_bytes_of(&["quality_domain_day", "quality_reply_day"])
        .await;
    let raw = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    assert!(raw.contains("mail.example.jp"));
    for secret in ["bob@", "dan@", "ann@", "192.0.2.7", "8a7b31c0f2"] {
        assert!(!raw.contains(secret), "{secret} in the quality tables");
    }
    // (SQLite's files hold the whole database, so contract IDs are only checked on PostgreSQL,
    // where each table is read alone.)
    if f.url.starts_with("postgres") {
        for id in [a.as_str(), b.as_str()] {
            assert!(!raw.contains(&id.to_ascii_lowercase()), "{id}");
        }
    }
}

fn window(messages: u64, days: u64) -> ReputationWindow {
    ReputationWindow {
        messages,
        max_age: Duration::from_secs(days * 86_400),
    }
}

/// Records `count` messages to one contract at `at`, of which `hard` bounce hard and
/// `soft` bounce soft; returns them.
async fn send(
    store: &Store,
    customer: &hikyaku_model::CustomerId,
    at: i64,
    count: usize,
    hard: usize,
    soft: usize,
) -> Vec<AcceptedMessage> {
    let messages: Vec<AcceptedMessage> = (0..count)
        .map(|i| {
            let mut m = accepted(customer, at, "app@s.example", &["r@x.example"]);
            m.id = MessageId::new(Timestamp(at + i as i64));
            m
        })
        .collect();
    store.record_accepted(&messages).await.unwrap();
    let outcomes: Vec<RecipientOutcome> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| match i {
            i if i < hard => bounced(m, 0, at, "user unknown", true),
            i if i < hard + soft => bounced(m, 0, at, "mailbox full", false),
            _ => delivered(m, 0, at),
        })
        .collect();
    record(store, &outcomes).await;
    messages
}

async fn reputation_figures_sum_the_window_from_hourly_counters(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Lists").await;
    let other = new_contract(store, "Other").await;
    let now = T0 + 10 * DAY;
    // Eight days ago: outside a 7-day window.
    send(store, &c, now - 8 * DAY, 10, 10, 0).await;
    // Three hours ago: 20 messages, 4 hard and 3 soft bounces.
    send(store, &c, now - 3 * HOUR, 20, 4, 3).await;
    // One hour ago: 10 messages, 1 hard bounce, and a complaint about one of them.
    let recent = send(store, &c, now - HOUR, 10, 1, 0).await;
    store
        .record_bounces(
            &[complaint(&recent[5], 0, now - HOUR + 1)],
            &SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    // A bounce reported later is a hard bounce but not another message.
    store
        .record_bounces(
            &[BounceEvent {
                details: EventDetails::Bounced {
                    exchange: Exchange::by(EventSource::Report),
                    reason: Reason::UserUnknown,
                    hard: true,
                },
                ..complaint(&recent[6], 0, now - HOUR + 2)
            }],
            &SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    send(store, &other, now - HOUR, 5, 5, 0).await;

    let figures = store
        .reputation_figures(&c, Timestamp(now), window(10_000, 7))
        .await
        .unwrap();
    assert_eq!(
        (figures.messages, figures.hard_bounces, figures.complaints),
        (30, 6, 1)
    );
    assert_eq!(
        figures.since,
        Some(Timestamp(now - 3 * HOUR - (now - 3 * HOUR) % HOUR))
    );
    assert!((figures.hard_bounce_rate() - 20.0).abs() < 1e-9);
    // The last 10 messages: the newest hour alone.
    let last_ten = store
        .reputation_figures(&c, Timestamp(now), window(10, 7))
        .await
        .unwrap();
    assert_eq!(
        (
            last_ten.messages,
            last_ten.hard_bounces,
            last_ten.complaints
        ),
        (10, 2, 1)
    );
    // A 9-day window reaches the old hour too.
    let long = store
        .reputation_figures(&c, Timestamp(now), window(10_000, 9))
        .await
        .unwrap();
    assert_eq!((long.messages, long.hard_bounces), (40, 16));

    let active = store
        .reputation_active_contracts(Timestamp(now - 2 * HOUR))
        .await
        .unwrap();
    let mut expected = vec![c.clone(), other.clone()];
    expected.sort();
    assert_eq!(active, expected);
    assert!(
        store
            .reputation_active_contracts(Timestamp(now + HOUR))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn warnings_pauses_and_resumes_are_conditional_and_start_figures_afresh(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Paused").await;
    let now = T0 + HOUR / 2;
    send(store, &c, now, 10, 6, 0).await;
    assert_eq!(store.sending_pause(&c).await.unwrap(), None);
    assert_eq!(
        store.reputation_status(&c).await.unwrap(),
        Default::default()
    );

    // One warning per episode, however many nodes see it.
    assert!(
        store
            .begin_reputation_warning(&c, Timestamp(now), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .begin_reputation_warning(&c, Timestamp(now + 1), None)
            .await
            .unwrap()
    );
    assert_eq!(
        store.reputation_status(&c).await.unwrap().warned_at,
        Some(Timestamp(now))
    );
    assert!(store.end_reputation_warning(&c).await.unwrap());
    assert!(!store.end_reputation_warning(&c).await.unwrap());
    assert!(
        store
            .begin_reputation_warning(&c, Timestamp(now + 2), None)
            .await
            .unwrap()
    );

    // One pause.
    assert!(
        store
            .pause_sending(&c, Timestamp(now + 3), "too many", None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .pause_sending(&c, Timestamp(now + 4), "again", None)
            .await
            .unwrap()
    );
    let pause = store.sending_pause(&c).await.unwrap().unwrap();
    assert_eq!(
        (pause.since, pause.reason.as_str()),
        (Timestamp(now + 3), "too many")
    );
    // A paused contract's warning does not end by itself.
    assert!(!store.end_reputation_warning(&c).await.unwrap());

    // The resume lifts the pause, and the figures that caused it no longer count, even those
    // of the same hour; new outcomes of that hour do.
    assert!(store.resume_sending(&c, Timestamp(now + 5)).await.unwrap());
    assert_eq!(store.sending_pause(&c).await.unwrap(), None);
    let status = store.reputation_status(&c).await.unwrap();
    assert_eq!(
        (status.warned_at, status.resumed_at),
        (None, Some(Timestamp(now + 5)))
    );
    let figures = store
        .reputation_figures(&c, Timestamp(now + 10), window(10_000, 7))
        .await
        .unwrap();
    assert_eq!((figures.messages, figures.hard_bounces), (0, 0));
    send(store, &c, now + 6, 4, 1, 0).await;
    let figures = store
        .reputation_figures(&c, Timestamp(now + 10), window(10_000, 7))
        .await
        .unwrap();
    assert_eq!((figures.messages, figures.hard_bounces), (4, 1));
    assert!(
        !store.resume_sending(&c, Timestamp(now + 11)).await.unwrap(),
        "not paused"
    );

    // A pause without a warning before starts the episode with it.
    let d = new_contract(store, "Sudden").await;
    assert!(
        store
            .pause_sending(&d, Timestamp(now), "sudden", None)
            .await
            .unwrap()
    );
    assert_eq!(
        store.reputation_status(&d).await.unwrap().warned_at,
        Some(Timestamp(now))
    );
}

/// The guard reads a contract's figures, then writes what they call for; the operator's resume
/// (another process, or another node) may land in between. The guard's write must then not
/// pause or warn again on figures the resume has made obsolete: it names the resume it read
/// (none here), and the store refuses the write once another has happened.
async fn a_resume_wins_over_a_guard_that_read_the_figures_before_it(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Raced").await;
    let now = T0 + HOUR / 2;
    send(store, &c, now, 10, 6, 0).await;
    assert!(
        store
            .pause_sending(&c, Timestamp(now), "first", None)
            .await
            .unwrap()
    );
    // The guard reads: paused, never resumed. The operator resumes. A round that read the
    // figures before the resume then asks to pause (and to warn) on them.
    let seen = store.reputation_status(&c).await.unwrap().resumed_at;
    assert!(store.resume_sending(&c, Timestamp(now + 1)).await.unwrap());
    assert!(
        !store
            .pause_sending(&c, Timestamp(now + 2), "stale", seen)
            .await
            .unwrap()
    );
    assert!(
        !store
            .begin_reputation_warning(&c, Timestamp(now + 2), seen)
            .await
            .unwrap()
    );
    let status = store.reputation_status(&c).await.unwrap();
    assert_eq!(status.pause, None);
    assert_eq!(status.warned_at, None);
    // A round that read the figures after the resume may pause again.
    let seen = status.resumed_at;
    assert_eq!(seen, Some(Timestamp(now + 1)));
    assert!(
        store
            .pause_sending(&c, Timestamp(now + 3), "fresh", seen)
            .await
            .unwrap()
    );
}
