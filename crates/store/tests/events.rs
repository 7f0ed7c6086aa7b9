//! The send log as the API sees it: one writer behind every path, its search columns, cursor
//! pages, statistics and usage counters, tenant isolation and the webhook outbox.

mod common;

use common::{Fixture, accepted, bare_details, new_contract, on_both_backends};
use hikyaku_model::{
    CustomerId, Event, EventDetails, EventKind, EventSource, Exchange, MessageId, Reason, Timestamp,
};
use hikyaku_store::{
    AcceptedMessage, BounceEvent, EventQuery, Granularity, NewSuppression, Outcome,
    RecipientOutcome, SoftBouncePolicy, Store, SuppressionEffect, SuppressionSource, UsageMonth,
    WebhookEvent,
};
use std::collections::{BTreeMap, HashMap, HashSet};

on_both_backends!(
    every_writer_path_fills_columns_counters_and_outbox,
    cursor_pages_return_every_event_once_while_events_arrive,
    one_contract_never_finds_another_contracts_events,
    statistics_equal_a_count_of_the_events,
    usage_excludes_suppressed_and_outlives_the_send_log,
    a_withdrawn_message_takes_its_counts_back,
);

/// 2026-11-25T00:00:00Z.
const T0: i64 = 1_795_564_800_000;

/// The calendar month (UTC) that contains `at`.
fn utc_month(at: i64) -> UsageMonth {
    UsageMonth::containing(Timestamp(at), 0)
}
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn tagged(mut m: AcceptedMessage, tags: &[&str], metadata: &[(&str, &str)]) -> AcceptedMessage {
    m.tags = tags.iter().map(|t| t.to_string()).collect();
    m.metadata = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    m
}

fn outcome(m: &AcceptedMessage, index: u32, at: i64, outcome: Outcome) -> RecipientOutcome {
    RecipientOutcome {
        message_id: m.id,
        recipient_index: index,
        at: Timestamp(at),
        details: bare_details(outcome),
        outcome,
        suppression: SuppressionEffect::Nothing,
    }
}

fn bounced(m: &AcceptedMessage, index: u32, at: i64, reason: Reason) -> RecipientOutcome {
    RecipientOutcome {
        details: EventDetails::Bounced {
            exchange: Exchange {
                code: Some(550),
                ..Exchange::by(EventSource::Smtp)
            },
            reason,
            hard: reason.is_hard(true),
        },
        ..outcome(m, index, at, Outcome::Bounced)
    }
}

async fn all(store: &Store, query: EventQuery) -> Vec<Event> {
    store.search_events(&query).await.unwrap().events
}

fn of(customer: &CustomerId) -> EventQuery {
    EventQuery {
        customer: Some(customer.clone()),
        ..EventQuery::default()
    }
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(Event::kind).collect()
}

async fn every_writer_path_fills_columns_counters_and_outbox(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "Writer").await;
    store
        .add_suppressions(
            &a,
            &[NewSuppression {
                address: "x@listed.example",
                source: SuppressionSource::Manual,
                reason: Some("asked to stop"),
                message_id: None,
            }],
            Timestamp(T0),
        )
        .await
        .unwrap();
    let hook = store
        .add_webhook_endpoint(
            &a,
            "https://hooks.example/a",
            "s3cret",
            &[EventKind::Bounced, EventKind::Delivered, EventKind::Bounced],
            Timestamp(T0),
        )
        .await
        .unwrap();
    let endpoints = store.webhook_endpoints(&a).await.unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].secret, "s3cret");
    assert_eq!(
        endpoints[0].kinds,
        [EventKind::Delivered, EventKind::Bounced]
    );

    // Accepted (with one recipient on the list), then delivered, bounced, deferred, deleted,
    // and a complaint from a report: every path through the one writer.
    let m = tagged(
        accepted(
            &a,
            T0 + 1_000,
            "App@Sender.example",
            &[
                "ok@Dom.example",
                "bounce@dom.example",
                "x@listed.example",
                "later@other.example",
            ],
        ),
        &["welcome", "batch", "welcome"],
        &[("user", "42"), ("plan", "gold")],
    );
    let suppressed = store
        .record_accepted(std::slice::from_ref(&m))
        .await
        .unwrap();
    assert_eq!(suppressed[&m.id], [2]);
    store
        .record_outcomes(
            &[
                outcome(&m, 0, T0 + MINUTE, Outcome::Delivered),
                bounced(&m, 1, T0 + MINUTE + 1, Reason::UserUnknown),
                outcome(
                    &m,
                    3,
                    T0 + MINUTE + 2,
                    Outcome::Deferred {
                        next_attempt_at: Timestamp(T0 + HOUR),
                    },
                ),
            ],
            &SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    store
        .delete_message(m.id, Timestamp(T0 + 2 * MINUTE))
        .await
        .unwrap();
    store
        .record_bounces(
            &[BounceEvent {
                customer_id: a.clone(),
                message_id: m.id,
                recipient: "ok@Dom.example".into(),
                mail_from: "App@Sender.example".into(),
                at: Timestamp(T0 + 3 * HOUR),
                details: EventDetails::Complaint {
                    exchange: Exchange::by(EventSource::Report),
                    feedback_type: Some("abuse".into()),
                },
                effect: SuppressionEffect::Nothing,
            }],
            &SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();

    let everything = all(store, of(&a)).await;
    assert_eq!(everything.len(), 10, "{:?}", kinds(&everything));
    for e in &everything {
        assert_eq!(e.tags, ["batch", "welcome"], "tags come back sorted, once");
        assert_eq!(
            e.metadata,
            BTreeMap::from([("plan".into(), "gold".into()), ("user".into(), "42".into())])
        );
    }

    // The domain column, lower-case, on every path's rows.
    let dom = all(
        store,
        EventQuery {
            recipient_domain: Some("DOM.Example".into()),
            ..of(&a)
        },
    )
    .await;
    let mut dom_kinds = kinds(&dom);
    dom_kinds.sort();
    assert_eq!(
        dom_kinds,
        [
            EventKind::Accepted,
            EventKind::Accepted,
            EventKind::Delivered,
            EventKind::Bounced,
            EventKind::Complaint
        ]
    );
    let other = all(
        store,
        EventQuery {
            recipient_domain: Some("other.example".into()),
            ..of(&a)
        },
    )
    .await;
    assert_eq!(
        kinds(&other),
        [EventKind::Deleted, EventKind::Deferred, EventKind::Accepted]
    );
    // The reason column.
    let unknown = all(
        store,
        EventQuery {
            reason: Some(Reason::UserUnknown),
            ..of(&a)
        },
    )
    .await;
    assert_eq!(kinds(&unknown), [EventKind::Bounced]);
    assert_eq!(unknown[0].recipient, "bounce@dom.example");
    let listed = all(
        store,
        EventQuery {
            reason: Some(Reason::Suppressed),
            ..of(&a)
        },
    )
    .await;
    assert_eq!(
        listed[0].details,
        EventDetails::Suppressed {
            source: EventSource::SuppressionList,
            note: Some("asked to stop".into())
        }
    );
    // The sender, through its hash, whatever its case; tags; kinds.
    let by_sender = all(
        store,
        EventQuery {
            sender: Some("app@sender.EXAMPLE".into()),
            ..of(&a)
        },
    )
    .await;
    assert_eq!(by_sender.len(), 10);
    let by_tag = all(
        store,
        EventQuery {
            tag: Some("welcome".into()),
            kinds: vec![EventKind::Delivered, EventKind::Deferred],
            ..of(&a)
        },
    )
    .await;
    assert_eq!(kinds(&by_tag), [EventKind::Deferred, EventKind::Delivered]);
    assert!(
        all(
            store,
            EventQuery {
                tag: Some("welcom".into()),
                ..of(&a)
            }
        )
        .await
        .is_empty()
    );
    let history = store.message_history(&a, m.id).await.unwrap().unwrap();
    assert_eq!(history.events.len(), 10);
    assert_eq!(history.events[0].kind(), EventKind::Accepted);
    assert_eq!(history.mail_from, "App@Sender.example");
    assert_eq!(history.tags, ["batch", "welcome"]);
    let bounces = store.bounces(&a, &Default::default()).await.unwrap();
    assert_eq!(bounces.events.len(), 1);
    assert_eq!(bounces.events[0].details.hard(), Some(true));

    // The counters, per minute and per hour, by reason and by domain.
    let series = store
        .stats(
            &a,
            Timestamp(T0),
            Timestamp(T0 + 4 * HOUR),
            Granularity::Minute,
        )
        .await
        .unwrap();
    assert_eq!(series.len(), 240);
    assert_eq!(
        (series[0].counts.accepted, series[0].counts.suppressed),
        (4, 1)
    );
    assert_eq!(
        (
            series[1].counts.delivered,
            series[1].counts.bounced,
            series[1].counts.deferred
        ),
        (1, 1, 1)
    );
    assert_eq!(series[180].counts.complaint, 1);
    let hours = store
        .stats(
            &a,
            Timestamp(T0),
            Timestamp(T0 + 4 * HOUR),
            Granularity::Hour,
        )
        .await
        .unwrap();
    assert_eq!(hours.len(), 4);
    assert_eq!(
        hours[0].counts.total(),
        8,
        "deleted is not an outcome counted"
    );
    assert_eq!(hours[3].counts.complaint, 1);
    let reasons: Vec<(EventKind, Reason, u64)> = store
        .stats_by_reason(&a, Timestamp(T0), Timestamp(T0 + 4 * HOUR))
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.kind, r.reason, r.count))
        .collect();
    let mut reasons_sorted = reasons.clone();
    reasons_sorted.sort();
    assert_eq!(
        reasons_sorted,
        [
            (EventKind::Bounced, Reason::UserUnknown, 1),
            (EventKind::Suppressed, Reason::Suppressed, 1),
            (EventKind::Complaint, Reason::Feedback, 1),
        ]
    );
    let domains = store
        .stats_by_domain(&a, Timestamp(T0), Timestamp(T0 + 4 * HOUR), 10)
        .await
        .unwrap();
    assert_eq!(
        domains
            .iter()
            .map(|d| d.domain.as_str())
            .collect::<Vec<_>>(),
        ["dom.example", "listed.example", "other.example"]
    );
    assert_eq!(
        (
            domains[0].counts.accepted,
            domains[0].counts.delivered,
            domains[0].counts.bounced,
            domains[0].counts.complaint
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(store.usage(&a, utc_month(T0), 0).await.unwrap(), 3);

    // One outbox row per subscribed event, written with it.
    let batch = store
        .next_webhook_batch(hook, 100, "msg_events")
        .await
        .unwrap()
        .expect("the endpoint has events to send");
    let logged: Vec<&Event> = batch
        .events
        .iter()
        .map(|e| match e {
            WebhookEvent::Logged(event) => event.as_ref(),
            WebhookEvent::Test(_) => panic!("no test event was queued"),
        })
        .collect();
    let kinds: Vec<EventKind> = logged.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, [EventKind::Delivered, EventKind::Bounced]);
    assert!(logged.iter().all(|e| e.customer_id == a));
    assert_eq!(logged[0].recipient, "ok@Dom.example");
    assert!(store.remove_webhook_endpoint(&a, hook).await.unwrap());
    assert!(
        store
            .next_webhook_batch(hook, 100, "msg_events_2")
            .await
            .unwrap()
            .is_none(),
        "an endpoint's rows go with it"
    );
}

async fn cursor_pages_return_every_event_once_while_events_arrive(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Pages").await;
    // Events share timestamps in threes, so the cursor must break ties by ID.
    let batch: Vec<AcceptedMessage> = (0..40)
        .map(|i| accepted(&c, T0 + (i / 3) * 1_000, "app@s.example", &["to@r.example"]))
        .collect();
    store.record_accepted(&batch).await.unwrap();
    let before: HashSet<MessageId> = batch.iter().map(|m| m.id).collect();

    let mut seen: Vec<MessageId> = Vec::new();
    let mut query = EventQuery {
        limit: Some(7),
        ..of(&c)
    };
    let mut pages = 0;
    loop {
        let page = store.search_events(&query).await.unwrap();
        assert!(page.events.len() <= 7);
        let times: Vec<Timestamp> = page.events.iter().map(|e| e.at).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
        seen.extend(page.events.iter().map(|e| e.message_id));
        pages += 1;
        // New events arrive between pages: newer ones, and ones as old as the page's last.
        let newer = accepted(
            &c,
            T0 + 100_000 + pages,
            "app@s.example",
            &["new@r.example"],
        );
        let same_time = page
            .events
            .last()
            .map(|e| accepted(&c, e.at.as_millis(), "app@s.example", &["late@r.example"]));
        store
            .record_accepted(&[newer].into_iter().chain(same_time).collect::<Vec<_>>())
            .await
            .unwrap();
        let Some(next) = page.next else { break };
        let text = next.to_string();
        query.after = Some(text.parse().unwrap());
        assert!(pages < 50, "paging ends");
    }
    let unique: HashSet<MessageId> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    assert!(
        before.is_subset(&unique),
        "every event that was there is seen"
    );
}

async fn one_contract_never_finds_another_contracts_events(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "Tenant A").await;
    let b = new_contract(store, "Tenant B").await;
    let ma = tagged(
        accepted(&a, T0, "app@same.example", &["bob@shared.example"]),
        &["t"],
        &[],
    );
    let mb = tagged(
        accepted(&b, T0 + 1, "app@same.example", &["bob@shared.example"]),
        &["t"],
        &[("secret", "b's")],
    );
    store
        .record_accepted(&[ma.clone(), mb.clone()])
        .await
        .unwrap();
    store
        .record_outcomes(
            &[
                bounced(&ma, 0, T0 + 5, Reason::UserUnknown),
                bounced(&mb, 0, T0 + 6, Reason::UserUnknown),
            ],
            &SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    let filters = [
        EventQuery::default(),
        EventQuery {
            recipient: Some("bob@shared.example".into()),
            ..EventQuery::default()
        },
        EventQuery {
            recipient_domain: Some("shared.example".into()),
            ..EventQuery::default()
        },
        EventQuery {
            sender: Some("app@same.example".into()),
            ..EventQuery::default()
        },
        EventQuery {
            tag: Some("t".into()),
            ..EventQuery::default()
        },
        EventQuery {
            reason: Some(Reason::UserUnknown),
            ..EventQuery::default()
        },
        EventQuery {
            message_id: Some(mb.id),
            ..EventQuery::default()
        },
    ];
    for filter in filters {
        let found = all(
            store,
            EventQuery {
                customer: Some(a.clone()),
                ..filter.clone()
            },
        )
        .await;
        assert!(
            found
                .iter()
                .all(|e| e.customer_id == a && e.message_id == ma.id),
            "{filter:?}: {found:?}"
        );
        assert!(found.iter().all(|e| e.metadata.is_empty()));
    }
    assert!(store.message_history(&a, mb.id).await.unwrap().is_none());
    assert_eq!(
        store.bounces(&a, &Default::default()).await.unwrap().events[0].message_id,
        ma.id
    );
    let stats = store
        .stats(
            &a,
            Timestamp(T0),
            Timestamp(T0 + MINUTE),
            Granularity::Minute,
        )
        .await
        .unwrap();
    assert_eq!((stats[0].counts.accepted, stats[0].counts.bounced), (1, 1));
    assert_eq!(store.usage(&a, utc_month(T0), 0).await.unwrap(), 1);
}

async fn statistics_equal_a_count_of_the_events(f: Fixture) {
    let store = &f.store;
    let contracts = [
        new_contract(store, "Stats A").await,
        new_contract(store, "Stats B").await,
    ];
    let domains = ["a.example", "b.example", "c.example"];
    let reasons = [Reason::UserUnknown, Reason::MailboxFull, Reason::Blocked];
    let mut messages = Vec::new();
    let mut outcomes = Vec::new();
    for i in 0..60i64 {
        let customer = &contracts[rand::random_range(0..2)];
        let at = T0 + rand::random_range(0..3 * 24 * HOUR);
        let to: Vec<String> = (0..rand::random_range(1..4usize))
            .map(|r| format!("r{i}-{r}@{}", domains[rand::random_range(0..3)]))
            .collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        let m = accepted(customer, at, "app@s.example", &to);
        for index in 0..to.len() as u32 {
            let later = at + rand::random_range(1..6 * HOUR);
            outcomes.push(match rand::random_range(0..4) {
                0 => outcome(&m, index, later, Outcome::Delivered),
                1 => bounced(&m, index, later, reasons[rand::random_range(0..3)]),
                2 => outcome(&m, index, later, Outcome::Expired),
                _ => RecipientOutcome {
                    details: EventDetails::Deferred {
                        exchange: Exchange::by(EventSource::Smtp),
                        reason: Some(reasons[rand::random_range(0..3)]),
                    },
                    ..outcome(
                        &m,
                        index,
                        later,
                        Outcome::Deferred {
                            next_attempt_at: Timestamp(later + HOUR),
                        },
                    )
                },
            });
        }
        messages.push(m);
    }
    store.record_accepted(&messages).await.unwrap();
    for chunk in outcomes.chunks(17) {
        store
            .record_outcomes(chunk, &SoftBouncePolicy::OFF)
            .await
            .unwrap();
    }
    let from = Timestamp(T0 - 5 * MINUTE);
    let to = Timestamp(T0 + 4 * 24 * HOUR);
    for customer in &contracts {
        let events = all(store, of(customer)).await;
        for granularity in [Granularity::Minute, Granularity::Hour, Granularity::Day] {
            let width = granularity.millis();
            let mut expected: HashMap<(i64, EventKind), u64> = HashMap::new();
            for e in &events {
                let bucket = e.at.as_millis() - e.at.as_millis().rem_euclid(width);
                *expected.entry((bucket, e.kind())).or_default() += 1;
            }
            let series = store.stats(customer, from, to, granularity).await.unwrap();
            let mut got: HashMap<(i64, EventKind), u64> = HashMap::new();
            for p in &series {
                for (kind, n) in [
                    (EventKind::Accepted, p.counts.accepted),
                    (EventKind::Delivered, p.counts.delivered),
                    (EventKind::Deferred, p.counts.deferred),
                    (EventKind::Bounced, p.counts.bounced),
                    (EventKind::Expired, p.counts.expired),
                ] {
                    if n > 0 {
                        got.insert((p.start.as_millis(), kind), n);
                    }
                }
            }
            assert_eq!(got, expected, "{granularity}");
        }
        let mut expected: HashMap<(EventKind, Reason), u64> = HashMap::new();
        let mut by_domain: HashMap<String, u64> = HashMap::new();
        for e in &events {
            if let Some(reason) = e.details.reason() {
                *expected.entry((e.kind(), reason)).or_default() += 1;
            }
            let domain = e.recipient.rsplit_once('@').unwrap().1.to_string();
            *by_domain.entry(domain).or_default() += 1;
        }
        let got: HashMap<(EventKind, Reason), u64> = store
            .stats_by_reason(customer, from, to)
            .await
            .unwrap()
            .into_iter()
            .map(|r| ((r.kind, r.reason), r.count))
            .collect();
        assert_eq!(got, expected);
        let got: HashMap<String, u64> = store
            .stats_by_domain(customer, from, to, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.domain, d.counts.total()))
            .collect();
        assert_eq!(got, by_domain);
        // Ranges that begin and end anywhere: whole days come from the daily counters, the
        // hours around them from the hourly ones, and together they are the hours that begin
        // in the range.
        for _ in 0..40 {
            let a = T0 - HOUR + rand::random_range(0..4 * 24 * HOUR);
            let b = T0 - HOUR + rand::random_range(0..4 * 24 * HOUR);
            let (start, end) = (a.min(b), a.max(b));
            let first_hour = start - start.rem_euclid(HOUR);
            let mut expected: HashMap<String, u64> = HashMap::new();
            for e in &events {
                let hour = e.at.as_millis() - e.at.as_millis().rem_euclid(HOUR);
                if hour >= first_hour && hour < end {
                    let domain = e.recipient.rsplit_once('@').unwrap().1.to_string();
                    *expected.entry(domain).or_default() += 1;
                }
            }
            let got: HashMap<String, u64> = store
                .stats_by_domain(customer, Timestamp(start), Timestamp(end), 100)
                .await
                .unwrap()
                .into_iter()
                .map(|d| (d.domain, d.counts.total()))
                .collect();
            assert_eq!(got, expected, "from {start} to {end}");
        }
    }
    assert!(
        store
            .stats(&contracts[0], Timestamp(0), to, Granularity::Minute)
            .await
            .is_err(),
        "a series of millions of points is refused"
    );
}

async fn usage_excludes_suppressed_and_outlives_the_send_log(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Usage").await;
    store
        .add_suppressions(
            &c,
            &[NewSuppression {
                address: "no@x.example",
                source: SuppressionSource::Manual,
                reason: None,
                message_id: None,
            }],
            Timestamp(T0),
        )
        .await
        .unwrap();
    let november = accepted(&c, T0, "app@s.example", &["a@x.example", "no@x.example"]);
    // 2026-12-01T00:00:00Z: the next month.
    let december_start = T0 + 6 * 24 * HOUR;
    let december = accepted(&c, december_start, "app@s.example", &["b@x.example"]);
    store
        .record_accepted(&[november.clone(), december.clone()])
        .await
        .unwrap();
    // Listed while queued: the engine reports it suppressed.
    store
        .add_suppressions(
            &c,
            &[NewSuppression {
                address: "b@x.example",
                source: SuppressionSource::Manual,
                reason: None,
                message_id: None,
            }],
            Timestamp(december_start + 1),
        )
        .await
        .unwrap();
    store
        .record_outcomes(
            &[outcome(
                &december,
                0,
                december_start + 2,
                Outcome::Suppressed,
            )],
            &SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    assert_eq!(store.usage(&c, utc_month(T0), 0).await.unwrap(), 1);
    assert_eq!(
        store.usage(&c, utc_month(december_start), 0).await.unwrap(),
        0
    );
    let all_usage = store.usage_of_all(utc_month(T0 + 1), 0).await.unwrap();
    assert_eq!(all_usage.len(), 1);
    assert_eq!((all_usage[0].month, all_usage[0].sent), (utc_month(T0), 1));

    // Retention drops the log and its statistics, not the usage.
    let dropped = store
        .purge_send_log(Timestamp(december_start + HOUR))
        .await
        .unwrap();
    assert_eq!(dropped, 5);
    assert!(all(store, of(&c)).await.is_empty());
    let series = store
        .stats(
            &c,
            Timestamp(T0),
            Timestamp(december_start + HOUR),
            Granularity::Day,
        )
        .await
        .unwrap();
    assert!(series.iter().all(|p| p.counts.total() == 0));
    assert_eq!(store.usage(&c, utc_month(T0), 0).await.unwrap(), 1);
}

async fn a_withdrawn_message_takes_its_counts_back(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Withdraw").await;
    let kept = accepted(&c, T0, "app@s.example", &["a@x.example"]);
    let gone = tagged(
        accepted(&c, T0 + 1, "app@s.example", &["b@x.example", "c@y.example"]),
        &["t"],
        &[],
    );
    store
        .record_accepted(&[kept.clone(), gone.clone()])
        .await
        .unwrap();
    assert_eq!(store.usage(&c, utc_month(T0), 0).await.unwrap(), 3);
    assert!(store.withdraw_accepted(gone.id).await.unwrap());
    assert_eq!(store.usage(&c, utc_month(T0), 0).await.unwrap(), 1);
    let series = store
        .stats(
            &c,
            Timestamp(T0),
            Timestamp(T0 + MINUTE),
            Granularity::Minute,
        )
        .await
        .unwrap();
    assert_eq!(series[0].counts.accepted, 1);
    let domains = store
        .stats_by_domain(&c, Timestamp(T0), Timestamp(T0 + HOUR), 10)
        .await
        .unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0].domain, "x.example");
    assert!(
        all(
            store,
            EventQuery {
                tag: Some("t".into()),
                ..of(&c)
            }
        )
        .await
        .is_empty()
    );
}
