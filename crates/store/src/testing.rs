//! Test support for this crate and the crates above it: a fresh PostgreSQL database per test,
//! so that tests against the shared server run in parallel without seeing each other.
//!
//! The server comes from `TEST_DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`).
//! Without it a test skips with a note, except under `CI=true`, where skipping would hide a
//! missing database behind a green run.

use sqlx::Connection;

pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// A database created for one test and dropped (forcibly, even with connections left open)
/// when this value is dropped, including when the test panics.
pub struct PostgresTestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresTestDatabase {
    /// Creates `hk_<random>` on the server of `TEST_DATABASE_URL`. Returns `None`, after
    /// printing why, when the variable is unset outside CI; panics when it is unset under CI.
    pub async fn create() -> Option<PostgresTestDatabase> {
        let Ok(admin_url) = std::env::var(TEST_DATABASE_URL) else {
            let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!in_ci, "{TEST_DATABASE_URL} must be set under CI=true");
            eprintln!("skipping the PostgreSQL half of this test: {TEST_DATABASE_URL} is not set");
            return None;
        };
        let name = format!("hk_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {TEST_DATABASE_URL}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(PostgresTestDatabase {
            admin_url,
            name,
            url,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PostgresTestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside or outside a runtime, possibly while unwinding: a thread with its
        // own runtime works in every case, and nothing here may panic.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop the test database {}: {e}", self.name),
            Err(_) => eprintln!(
                "could not drop the test database {}: the dropper panicked",
                self.name
            ),
        }
    }
}

/// `url` with its database (the path) replaced by `database`, query parameters kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Writes `events` send-log events for `customer` through the intake's own writer
/// (`record_accepted`, one recipient a message), spread evenly over the `days` before now:
/// 1,000 distinct recipients over 50 domains (`user{n % 1000}@d{n % 50}.example`), in batches
/// of 500. `progress` is told the number written after each 100,000. What the send-log and
/// console benchmarks fill their store with.
#[cfg(any(test, feature = "test-util"))]
pub async fn fill_send_log(
    store: &crate::Store,
    customer: &hikyaku_model::CustomerId,
    events: usize,
    days: i64,
    mut progress: impl FnMut(usize),
) -> Result<(), crate::StoreError> {
    use hikyaku_model::{Envelope, MessageId, Timestamp};
    const DAY: i64 = 86_400_000;
    let start = Timestamp::now().as_millis() - days * DAY;
    let step = (days * DAY / i64::try_from(events.max(1)).unwrap_or(i64::MAX)).max(1);
    let mut written = 0;
    while written < events {
        let batch: Vec<crate::AcceptedMessage> = (written..events.min(written + 500))
            .map(|n| {
                let at = Timestamp(start + i64::try_from(n).unwrap_or(i64::MAX) * step);
                crate::AcceptedMessage {
                    id: MessageId::new(at),
                    customer_id: customer.clone(),
                    envelope: Envelope {
                        mail_from: "notifications@sender.example".into(),
                        recipients: vec![format!("user{}@d{}.example", n % 1000, n % 50)],
                    },
                    size: 4096,
                    received_at: at,
                    source_ip: "192.0.2.10".into(),
                    node: "node-a".into(),
                    tags: Vec::new(),
                    metadata: Default::default(),
                    subject: None,
                }
            })
            .collect();
        written += batch.len();
        store.record_accepted(&batch).await?;
        if written % 100_000 == 0 {
            progress(written);
        }
    }
    Ok(())
}

/// What [`fill_send_log_bulk`] made: the events written, and how many messages carry each
/// benchmark tag.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone, Default)]
pub struct BulkFill {
    pub events: u64,
    pub messages: u64,
    pub tagged: Vec<(String, u64)>,
}

/// The tags [`fill_send_log_bulk`] puts on messages, with one message in how many carrying each:
/// common ones, one near the size where a tag search stops starting from the tagged messages,
/// and a rare one.
#[cfg(any(test, feature = "test-util"))]
pub const BULK_TAGS: [(&str, i64); 5] = [
    ("receipt", 5),
    ("newsletter", 3),
    ("password-reset", 50),
    ("campaign-7", 2_000),
    ("rare", 100_000),
];

/// Writes about `events` send-log events for `customer` straight into the tables, in a few large
/// `INSERT … SELECT` statements over a generated series of messages, spread evenly over the
/// `days` before now: what [`fill_send_log`] would take hours for at ten million. The traffic
/// is shaped like a real contract's: per 1,000 messages 900 delivered, 40 deferred then
/// delivered, 35 bounced (user unknown, mailbox full, filtered, host unknown), 2 expired after
/// three days of deferrals, 15 suppressed, 2 complaints two days after delivery and 6
/// unsubscribes a day after it; 20,000 recipients over 200 domains, a fifth of the messages on
/// the 5 largest; 4 senders; the tags of [`BULK_TAGS`]. Addresses and details are sealed with
/// the store's key (the same ciphertext reused for a recipient), so every page opens them as
/// it would real ones. Events that would lie in the future are left out.
///
/// The statistics, reason, domain and usage counters of the contract are then recounted from
/// the log, so graphs and the log agree as they do when written event by event. The events
/// table's secondary indexes are dropped for the fill and built again after it (far quicker
/// than keeping them up to date row by row): use it on a store nothing else writes to meanwhile.
/// `progress` is told the number of messages written after each batch.
#[cfg(any(test, feature = "test-util"))]
pub async fn fill_send_log_bulk(
    store: &crate::Store,
    customer: &hikyaku_model::CustomerId,
    events: u64,
    days: i64,
    mut progress: impl FnMut(u64),
) -> Result<BulkFill, crate::StoreError> {
    use crate::events::seal_details;
    use hikyaku_model::{
        EnhancedStatus, EventDetails, EventSource, Exchange, Reason, Remote, Timestamp,
        UnsubscribeMethod,
    };
    use sqlx::QueryBuilder;
    const DAY: i64 = 86_400_000;
    const RECIPIENTS: i64 = 20_000;
    const SENDERS: [&str; 4] = [
        "notifications@sender.example",
        "billing@sender.example",
        "news@sender.example",
        "security@sender.example",
    ];
    const BATCH: i64 = 250_000;
    let postgres = store.backend_name() == "postgres";

    let smtp = |code: u16, status: EnhancedStatus, text: &str| Exchange {
        source: EventSource::Smtp,
        remote: Some(Remote {
            host: "mx1.d0.example".into(),
            ip: Some("192.0.2.25".parse().expect("an IP address")),
            port: Some(25),
            tls: Some(true),
        }),
        code: Some(code),
        status: Some(status),
        text: Some(text.into()),
        delay_ms: Some(1_800),
        attempt: Some(1),
    };
    let bounce =
        |reason: Reason, code: u16, status: EnhancedStatus, text: &str| EventDetails::Bounced {
            exchange: smtp(code, status, text),
            reason,
            hard: code >= 500,
        };
    // (outcome, delay after acceptance in ms, details); the kind and reason follow from them.
    let delivered = EventDetails::Delivered {
        exchange: smtp(250, EnhancedStatus::new(2, 0, 0), "ok queued"),
    };
    let plans: Vec<(i64, i64, EventDetails)> = vec![
        (0, 0, EventDetails::Accepted),
        (0, 1_800, delivered.clone()),
        (1, 0, EventDetails::Accepted),
        (
            1,
            1_500,
            EventDetails::Deferred {
                exchange: smtp(421, EnhancedStatus::new(4, 7, 0), "too many connections"),
                reason: Some(Reason::Speeding),
            },
        ),
        (1, 900_000, delivered.clone()),
        (2, 0, EventDetails::Accepted),
        (
            2,
            2_000,
            bounce(
                Reason::UserUnknown,
                550,
                EnhancedStatus::new(5, 1, 1),
                "no such user",
            ),
        ),
        (3, 0, EventDetails::Accepted),
        (
            3,
            2_000,
            bounce(
                Reason::MailboxFull,
                552,
                EnhancedStatus::new(5, 2, 2),
                "mailbox full",
            ),
        ),
        (4, 0, EventDetails::Accepted),
        (
            4,
            2_000,
            bounce(
                Reason::Filtered,
                550,
                EnhancedStatus::new(5, 7, 1),
                "refused by policy",
            ),
        ),
        (5, 0, EventDetails::Accepted),
        (
            5,
            1_000,
            EventDetails::Bounced {
                exchange: Exchange::by(EventSource::Local),
                reason: Reason::HostUnknown,
                hard: true,
            },
        ),
        (6, 0, EventDetails::Accepted),
        (
            6,
            60_000,
            EventDetails::Deferred {
                exchange: Exchange::by(EventSource::Local),
                reason: Some(Reason::NetworkError),
            },
        ),
        (
            6,
            3 * DAY,
            EventDetails::Expired {
                exchange: Exchange::by(EventSource::Local),
            },
        ),
        (7, 0, EventDetails::Accepted),
        (
            7,
            0,
            EventDetails::Suppressed {
                source: EventSource::SuppressionList,
                note: None,
            },
        ),
        (8, 0, EventDetails::Accepted),
        (8, 1_800, delivered.clone()),
        (
            8,
            2 * DAY,
            EventDetails::Complaint {
                exchange: Exchange::by(EventSource::Report),
                feedback_type: Some("abuse".into()),
            },
        ),
        (9, 0, EventDetails::Accepted),
        (9, 1_800, delivered),
        (
            9,
            DAY,
            EventDetails::Unsubscribed {
                method: UnsubscribeMethod::OneClick,
            },
        ),
    ];
    // Outcome by the message's bucket out of 1,000 (upper bounds, exclusive).
    let outcomes: [(i64, i64); 10] = [
        (900, 0),
        (940, 1),
        (960, 2),
        (965, 3),
        (970, 4),
        (975, 5),
        (977, 6),
        (992, 7),
        (994, 8),
        (1_000, 9),
    ];
    let mut per_thousand = 0;
    let mut lower = 0;
    for (upper, outcome) in outcomes {
        let steps = plans.iter().filter(|p| p.0 == outcome).count() as i64;
        per_thousand += (upper - lower) * steps;
        lower = upper;
    }
    let messages = (i64::try_from(events).unwrap_or(i64::MAX) * 1_000 / per_thousand).max(1);
    let now = Timestamp::now().as_millis();
    let start = now - days * DAY;
    let step = (days * DAY / messages).max(1);

    let blob = if postgres { "BYTEA" } else { "BLOB" };
    let setup = [
        format!(
            "CREATE TABLE bench_recipients (r BIGINT PRIMARY KEY, sealed {blob} NOT NULL, \
             hash {blob} NOT NULL, domain TEXT NOT NULL)"
        ),
        format!(
            "CREATE TABLE bench_senders (s BIGINT PRIMARY KEY, sealed {blob} NOT NULL, \
             hash {blob} NOT NULL)"
        ),
        format!(
            "CREATE TABLE bench_plans (outcome BIGINT NOT NULL, delay BIGINT NOT NULL, \
             kind TEXT NOT NULL, reason TEXT, details {blob})"
        ),
        "CREATE INDEX bench_plans_by_outcome ON bench_plans (outcome)".to_string(),
        "CREATE TABLE bench_buckets (b BIGINT PRIMARY KEY, outcome BIGINT NOT NULL)".to_string(),
    ];
    // The events' secondary indexes, to build again after the fill.
    let index_sql = if postgres {
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events' \
         AND indexname NOT LIKE '%pkey'"
    } else {
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' \
         AND sql IS NOT NULL"
    };
    let alphabet = "'0123456789abcdefghjkmnpqrstvwxyz'";
    // The message ID's text (`MessageId::new`): 48 bits of time, then the message's number in
    // the 80 "random" bits, in 26 characters of Crockford base32.
    let char_of = |value: &str, shift: i64| {
        format!("substr({alphabet}, CAST((({value}) >> {shift}) & 31 AS INTEGER) + 1, 1)")
    };
    let mut id_parts: Vec<String> = (0..10).map(|i| char_of("m.at", 5 * (9 - i))).collect();
    for i in 10..26 {
        let shift = 5 * (25 - i);
        id_parts.push(if shift >= 63 {
            "'0'".to_string()
        } else {
            char_of("m.n", shift)
        });
    }
    let message_id = id_parts.join(" || ");
    let series = if postgres {
        "SELECT n FROM generate_series(CAST($1 AS BIGINT), CAST($2 AS BIGINT) - 1) AS g(n)"
    } else {
        "WITH RECURSIVE seq(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < $2) \
         SELECT n FROM seq"
    };
    // A message's recipient: the fifth of recipients on the 5 largest domains is the same fifth
    // the 4,000 largest-domain users get by `r % 5 = 0`; spread so neighbours differ.
    let insert_events = format!(
        "INSERT INTO events (at, kind, customer_id, message_id, mail_from_sealed, mail_from_hash, \
         recipient_sealed, recipient_hash, recipient_domain, reason, details_sealed) \
         SELECT m.at + p.delay, p.kind, $3, {message_id}, s.sealed, s.hash, r.sealed, r.hash, \
         r.domain, p.reason, p.details \
         FROM (SELECT n, $4 + n * $5 AS at, (n * 7919) % 1000 AS b, (n * 48271) % {RECIPIENTS} AS r, \
               n % 4 AS s FROM ({series}) AS seq) AS m \
         JOIN bench_buckets k ON k.b = m.b JOIN bench_plans p ON p.outcome = k.outcome \
         JOIN bench_recipients r ON r.r = m.r JOIN bench_senders s ON s.s = m.s \
         WHERE m.at + p.delay <= $6 ORDER BY m.at + p.delay, m.n"
    );
    let insert_tags = format!(
        "INSERT INTO message_tags (message_id, customer_id, tag) \
         SELECT {message_id}, $3, $4 FROM (SELECT n, $5 + n * $6 AS at FROM ({series}) AS seq) AS m \
         WHERE m.n % $7 = $8"
    );
    let recount = [
        "INSERT INTO stats_minute (customer_id, minute, kind, n) SELECT customer_id, \
         at - at % 60000, kind, COUNT(*) FROM events WHERE customer_id = $1 \
         GROUP BY customer_id, at - at % 60000, kind",
        "INSERT INTO stats_hour (customer_id, hour, kind, n) SELECT customer_id, \
         at - at % 3600000, kind, COUNT(*) FROM events WHERE customer_id = $1 \
         GROUP BY customer_id, at - at % 3600000, kind",
        "INSERT INTO stats_reason_hour (customer_id, hour, kind, reason, n) SELECT customer_id, \
         at - at % 3600000, kind, reason, COUNT(*) FROM events WHERE customer_id = $1 \
         AND reason IS NOT NULL GROUP BY customer_id, at - at % 3600000, kind, reason",
        "INSERT INTO stats_domain_hour (customer_id, hour, domain, kind, n) SELECT customer_id, \
         at - at % 3600000, recipient_domain, kind, COUNT(*) FROM events WHERE customer_id = $1 \
         AND recipient_domain IS NOT NULL \
         GROUP BY customer_id, at - at % 3600000, recipient_domain, kind",
        "INSERT INTO stats_domain_day (customer_id, day, domain, kind, n) SELECT customer_id, \
         at - at % 86400000, recipient_domain, kind, COUNT(*) FROM events WHERE customer_id = $1 \
         AND recipient_domain IS NOT NULL \
         GROUP BY customer_id, at - at % 86400000, recipient_domain, kind",
        "INSERT INTO usage_hour (customer_id, hour, sent) SELECT customer_id, at - at % 3600000, \
         SUM(CASE kind WHEN 'accepted' THEN 1 WHEN 'suppressed' THEN -1 ELSE 0 END) \
         FROM events WHERE customer_id = $1 GROUP BY customer_id, at - at % 3600000 \
         HAVING SUM(CASE kind WHEN 'accepted' THEN 1 WHEN 'suppressed' THEN -1 ELSE 0 END) <> 0",
    ];

    let mut recipients = Vec::with_capacity(RECIPIENTS as usize);
    for r in 0..RECIPIENTS {
        let domain = if r % 5 == 0 { r / 5 % 5 } else { 5 + r % 195 };
        let address = format!("user{r}@d{domain}.example");
        recipients.push((
            r,
            store.key.seal_str(&address),
            store.key.address_hash(&address),
            format!("d{domain}.example"),
        ));
    }
    let mut sealed_plans = Vec::with_capacity(plans.len());
    for (outcome, delay, details) in &plans {
        sealed_plans.push((
            *outcome,
            *delay,
            details.kind().as_str(),
            details.reason().map(Reason::as_str),
            seal_details(store, details)?,
        ));
    }
    let mut buckets = Vec::with_capacity(1_000);
    let mut lower = 0;
    for (upper, outcome) in outcomes {
        buckets.extend((lower..upper).map(|b| (b, outcome)));
        lower = upper;
    }

    let mut fill = BulkFill {
        messages: messages as u64,
        ..BulkFill::default()
    };
    let _turn = store.write_turn().await;
    with_pool!(store, pool => {
        let mut c = pool.acquire().await?;
        for sql in &setup {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).execute(&mut *c).await?;
        }
        for chunk in recipients.chunks(1_000) {
            let mut insert = QueryBuilder::new("INSERT INTO bench_recipients (r, sealed, hash, domain) ");
            insert.push_values(chunk, |mut row, (r, sealed, hash, domain)| {
                row.push_bind(*r).push_bind(sealed.as_slice()).push_bind(hash.as_slice()).push_bind(domain.as_str());
            });
            insert.build().execute(&mut *c).await?;
        }
        let mut insert = QueryBuilder::new("INSERT INTO bench_senders (s, sealed, hash) ");
        insert.push_values(SENDERS.iter().enumerate(), |mut row, (s, address)| {
            row.push_bind(s as i64).push_bind(store.key.seal_str(address)).push_bind(store.key.address_hash(address));
        });
        insert.build().execute(&mut *c).await?;
        let mut insert = QueryBuilder::new("INSERT INTO bench_plans (outcome, delay, kind, reason, details) ");
        insert.push_values(&sealed_plans, |mut row, (outcome, delay, kind, reason, details)| {
            row.push_bind(*outcome).push_bind(*delay).push_bind(*kind).push_bind(*reason).push_bind(details.as_deref());
        });
        insert.build().execute(&mut *c).await?;
        let mut insert = QueryBuilder::new("INSERT INTO bench_buckets (b, outcome) ");
        insert.push_values(&buckets, |mut row, (b, outcome)| {
            row.push_bind(*b).push_bind(*outcome);
        });
        insert.build().execute(&mut *c).await?;

        let indexes: Vec<(String, String)> = sqlx::query_as(index_sql).fetch_all(&mut *c).await?;
        for (name, _) in &indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}"))).execute(&mut *c).await?;
        }
        let mut first = 0;
        while first < messages {
            let last = (first + BATCH).min(messages);
            sqlx::query(sqlx::AssertSqlSafe(insert_events.as_str()))
                .bind(first)
                .bind(last)
                .bind(customer.as_str())
                .bind(start)
                .bind(step)
                .bind(now)
                .execute(&mut *c)
                .await?;
            for (i, (tag, every)) in BULK_TAGS.into_iter().enumerate() {
                sqlx::query(sqlx::AssertSqlSafe(insert_tags.as_str()))
                    .bind(first)
                    .bind(last)
                    .bind(customer.as_str())
                    .bind(tag)
                    .bind(start)
                    .bind(step)
                    .bind(every)
                    // A different remainder for each tag, so the tags fall on different messages.
                    .bind((i as i64 + 1) % every)
                    .execute(&mut *c)
                    .await?;
            }
            first = last;
            progress(first as u64);
        }
        for (_, sql) in &indexes {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).execute(&mut *c).await?;
        }
        for table in ["stats_minute", "stats_hour", "stats_reason_hour", "stats_domain_hour", "stats_domain_day", "usage_hour"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE customer_id = $1")))
                .bind(customer.as_str())
                .execute(&mut *c)
                .await?;
        }
        for sql in recount {
            sqlx::query(sql).bind(customer.as_str()).execute(&mut *c).await?;
        }
        for table in ["bench_recipients", "bench_senders", "bench_plans", "bench_buckets"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}"))).execute(&mut *c).await?;
        }
        let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE customer_id = $1")
            .bind(customer.as_str())
            .fetch_one(&mut *c)
            .await?;
        fill.events = written as u64;
        for (tag, _) in BULK_TAGS {
            let tagged: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM message_tags WHERE customer_id = $1 AND tag = $2",
            )
            .bind(customer.as_str())
            .bind(tag)
            .fetch_one(&mut *c)
            .await?;
            fill.tagged.push((tag.to_string(), tagged as u64));
        }
        if postgres {
            // What autovacuum does to a table within a minute or two of a large insert
            // (PostgreSQL 13 and later vacuum on inserts): it marks the new pages all-visible,
            // so index-only scans need not visit the table. Done here, before the timing, it
            // neither runs beside the timed requests nor leaves them a state that production
            // stays in only for those minutes.
            sqlx::query("VACUUM events").execute(&mut *c).await?;
            sqlx::query("ANALYZE").execute(&mut *c).await?;
        }
        Ok::<(), crate::StoreError>(())
    })?;
    Ok(fill)
}

#[cfg(test)]
mod tests {
    use super::{BULK_TAGS, fill_send_log_bulk, with_database};
    use crate::{EventQuery, SealingKey, Store};
    use hikyaku_model::{EventKind, MessageId};

    /// The bulk fill writes what the pages read as real traffic: events that open, message IDs
    /// that carry their acceptance time, counters that add up to the log, tags where said.
    async fn bulk_fill_is_a_consistent_log(store: Store) {
        let customer = store
            .create_contract("Bulk", "standard")
            .await
            .unwrap()
            .customer_id;
        let fill = fill_send_log_bulk(&store, &customer, 30_000, 40, |_| {})
            .await
            .unwrap();
        assert!(
            (27_000..=30_500).contains(&fill.events),
            "{} events",
            fill.events
        );
        let page = store
            .search_events(&EventQuery {
                customer: Some(customer.clone()),
                limit: Some(2_000),
                ..EventQuery::default()
            })
            .await
            .unwrap();
        let kinds: std::collections::BTreeSet<EventKind> =
            page.events.iter().map(|e| e.details.kind()).collect();
        for kind in [
            EventKind::Accepted,
            EventKind::Delivered,
            EventKind::Bounced,
        ] {
            assert!(kinds.contains(&kind), "{kinds:?}");
        }
        for event in &page.events {
            assert!(event.recipient.ends_with(".example"), "{}", event.recipient);
            if event.details.kind() == EventKind::Accepted {
                assert_eq!(event.message_id.timestamp(), event.at);
            }
        }
        let history = store
            .message_history(&customer, page.events[0].message_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(history.events[0].details.kind(), EventKind::Accepted);
        let counted: i64 = with_pool!(store, pool => {
            sqlx::query_scalar("SELECT CAST(SUM(n) AS BIGINT) FROM stats_hour WHERE customer_id = $1")
                .bind(customer.as_str())
                .fetch_one(pool)
                .await
                .unwrap()
        });
        assert_eq!(counted as u64, fill.events);
        for ((tag, every), (name, tagged)) in BULK_TAGS.iter().zip(&fill.tagged) {
            assert_eq!(tag, name);
            let expected = fill.messages / *every as u64;
            assert!(
                tagged.abs_diff(expected) <= 1,
                "{tag}: {tagged} of {}",
                fill.messages
            );
        }
        let tagged = store
            .search_events(&EventQuery {
                customer: Some(customer.clone()),
                tag: Some("password-reset".into()),
                limit: Some(5),
                ..EventQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(tagged.events.len(), 5);
        assert!(
            tagged
                .events
                .iter()
                .all(|e| e.tags.iter().any(|t| t == "password-reset"))
        );
        let _: MessageId = tagged.events[0].message_id;
        store.close().await;
    }

    #[tokio::test]
    async fn bulk_fill_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bulk.db").display());
        let store = Store::connect(&url, SealingKey::generate()).await.unwrap();
        bulk_fill_is_a_consistent_log(store).await;
    }

    #[tokio::test]
    async fn bulk_fill_on_postgres() {
        let Some(database) = super::PostgresTestDatabase::create().await else {
            return;
        };
        let store = Store::connect(database.url(), SealingKey::generate())
            .await
            .unwrap();
        bulk_fill_is_a_consistent_log(store).await;
    }

    #[test]
    fn replaces_only_the_database() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/hk_1",
            ),
            ("postgres://127.0.0.1", "postgres://127.0.0.1/hk_1"),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/hk_1?sslmode=disable",
            ),
        ] {
            assert_eq!(with_database(url, "hk_1"), expected);
        }
    }
}
