//! One recipient domain's statistics series: the same figures as a count of the send log's
//! events to that domain, minutes (counted from the log) and hours and days (from the hourly
//! domain counters) alike; nothing of another contract's; minutes refused past their span.

mod common;

use common::{EarlierSchema, Fixture, accepted, bare_details, new_contract, on_both_backends};
use hikyaku_model::{CustomerId, EventKind, Timestamp};
use hikyaku_store::{
    DOMAIN_MINUTES_MAX_SPAN_MS, EventQuery, Granularity, Outcome, RecipientOutcome, SealingKey,
    SoftBouncePolicy, StatsPoint, Store, SuppressionEffect,
};
use std::collections::HashMap;

on_both_backends!(a_domain_s_series_equals_a_count_of_its_events,);

/// 2026-11-25T00:00:00Z.
const T0: i64 = 1_795_564_800_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn tally(series: &[StatsPoint]) -> HashMap<(i64, EventKind), u64> {
    let mut got = HashMap::new();
    for p in series {
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
    got
}

async fn a_domain_s_series_equals_a_count_of_its_events(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "Domains A").await;
    let b = new_contract(store, "Domains B").await;
    let domains = ["a.example", "b.example", "Mixed.Example"];
    let mut messages = Vec::new();
    let mut outcomes = Vec::new();
    for i in 0..80i64 {
        let customer = if i % 3 == 0 { &b } else { &a };
        // Within the first 5 hours, so that a minute series can cover them all.
        let at = T0 + rand::random_range(0..5 * HOUR);
        let to: Vec<String> = (0..rand::random_range(1..4usize))
            .map(|r| format!("r{i}-{r}@{}", domains[rand::random_range(0..3)]))
            .collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        let m = accepted(customer, at, "app@s.example", &to);
        for index in 0..to.len() as u32 {
            let outcome = match rand::random_range(0..3) {
                0 => Outcome::Delivered,
                1 => Outcome::Bounced,
                _ => Outcome::Expired,
            };
            outcomes.push(RecipientOutcome {
                message_id: m.id,
                recipient_index: index,
                at: Timestamp(at + rand::random_range(1..50 * MINUTE)),
                details: bare_details(outcome),
                outcome,
                suppression: SuppressionEffect::Nothing,
            });
        }
        messages.push(m);
    }
    store.record_accepted(&messages).await.unwrap();
    store
        .record_outcomes(&outcomes, &SoftBouncePolicy::OFF)
        .await
        .unwrap();

    let from = Timestamp(T0 - 3 * MINUTE);
    let to = Timestamp(T0 + 6 * HOUR - 3 * MINUTE);
    for customer in [&a, &b] {
        let events = store
            .search_events(&EventQuery {
                customer: Some(customer.clone()),
                ..EventQuery::default()
            })
            .await
            .unwrap()
            .events;
        assert!(!events.is_empty());
        for domain in ["a.example", "mixed.example", "none.example"] {
            for granularity in [Granularity::Minute, Granularity::Hour, Granularity::Day] {
                let width = granularity.millis();
                let mut expected: HashMap<(i64, EventKind), u64> = HashMap::new();
                for e in events.iter().filter(|e| {
                    e.recipient
                        .to_ascii_lowercase()
                        .ends_with(&format!("@{domain}"))
                }) {
                    let bucket = e.at.as_millis() - e.at.as_millis().rem_euclid(width);
                    *expected.entry((bucket, e.kind())).or_default() += 1;
                }
                let series = store
                    .stats_of_domain(customer, domain, from, to, granularity)
                    .await
                    .unwrap();
                let start = from.as_millis() - from.as_millis().rem_euclid(width);
                assert_eq!(series[0].start, Timestamp(start), "{granularity}");
                assert!(
                    series
                        .windows(2)
                        .all(|w| w[1].start.as_millis() - w[0].start.as_millis() == width),
                    "every bucket present"
                );
                assert_eq!(tally(&series), expected, "{domain} by {granularity}");
                assert_eq!(
                    expected.is_empty(),
                    domain == "none.example",
                    "the test data reaches the domains it asks for"
                );
            }
        }
    }
    // Past their span, minutes of one domain are refused: they are counted from the log.
    assert!(
        store
            .stats_of_domain(
                &a,
                "a.example",
                Timestamp(T0),
                Timestamp(T0 + DOMAIN_MINUTES_MAX_SPAN_MS + MINUTE),
                Granularity::Minute,
            )
            .await
            .is_err()
    );
    assert!(
        store
            .stats_of_domain(
                &a,
                "a.example",
                Timestamp(T0),
                Timestamp(T0 + 40 * 24 * HOUR),
                Granularity::Hour,
            )
            .await
            .is_ok()
    );
}

/// A store that kept hourly domain counters before the daily ones existed: the migration that
/// adds the daily counters fills them from the hours it finds, so a range of whole days reads
/// the same figures before and after it.
async fn migration_counts_the_days_of_kept_hours(url: &str, backend: &str) {
    let earlier = EarlierSchema::create(url, backend, "0027").await;
    let day = 24 * HOUR;
    let mut rows = Vec::new();
    // Two days and a bit of a third, two domains, two kinds, one customer and a neighbour.
    for (customer, hour, domain, kind, n) in [
        ("cold00001", T0, "a.example", "accepted", 3),
        ("cold00001", T0 + 5 * HOUR, "a.example", "accepted", 4),
        ("cold00001", T0 + 23 * HOUR, "a.example", "bounced", 2),
        ("cold00001", T0 + day + HOUR, "a.example", "accepted", 10),
        (
            "cold00001",
            T0 + day + 2 * HOUR,
            "b.example",
            "delivered",
            7,
        ),
        (
            "cold00001",
            T0 + 2 * day + HOUR,
            "b.example",
            "delivered",
            100,
        ),
        ("cold00002", T0 + HOUR, "a.example", "accepted", 1000),
    ] {
        rows.push(format!("('{customer}', {hour}, '{domain}', '{kind}', {n})"));
    }
    earlier
        .execute(&format!(
            "INSERT INTO stats_domain_hour (customer_id, hour, domain, kind, n) VALUES {}",
            rows.join(", ")
        ))
        .await;
    earlier.close().await;

    let store = Store::connect(url, SealingKey::generate()).await.unwrap();
    let customer: CustomerId = "cold00001".parse().unwrap();
    let counted = |from: i64, to: i64| {
        let store = &store;
        let customer = &customer;
        async move {
            store
                .stats_by_domain(customer, Timestamp(from), Timestamp(to), 10)
                .await
                .unwrap()
                .into_iter()
                .map(|d| {
                    (
                        d.domain,
                        d.counts.accepted,
                        d.counts.delivered,
                        d.counts.bounced,
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    // Two whole days: read from the daily counters the migration made.
    assert_eq!(
        counted(T0, T0 + 2 * day).await,
        [
            ("a.example".to_string(), 17, 0, 2),
            ("b.example".to_string(), 0, 7, 0)
        ]
    );
    // Whole days and the hours around them.
    assert_eq!(
        counted(T0 + 5 * HOUR, T0 + 2 * day + 2 * HOUR).await,
        [
            ("b.example".to_string(), 0, 107, 0),
            ("a.example".to_string(), 14, 0, 2)
        ]
    );
    store.close().await;
}

#[tokio::test]
async fn migration_counts_the_days_of_kept_hours_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    migration_counts_the_days_of_kept_hours(&url, "sqlite").await;
}

#[tokio::test]
async fn migration_counts_the_days_of_kept_hours_on_postgres() {
    if let Some(database) = hikyaku_store::testing::PostgresTestDatabase::create().await {
        migration_counts_the_days_of_kept_hours(database.url(), "postgres").await;
    }
}
