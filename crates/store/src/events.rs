//! Writing the send log: the one place that inserts into `events`. With each batch of events,
//! in the caller's transaction, it writes what is derived from them — the statistics and usage
//! counters and the webhook outbox — so that those can never disagree with the log.

use crate::queue::{LOOKUP_CHUNK, corrupt, lookup_chunks, statement_chunks};
use crate::{DAY_MS, HOUR_MS, MINUTE_MS};
use crate::{Store, StoreError};
use hikyaku_model::{
    EnhancedStatus, EventDetails, EventKind, EventSource, Exchange, Reason, Remote, Timestamp,
};
use serde::Deserialize;
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, BTreeSet};

/// One event to record, its addresses already sealed and hashed by the caller (most callers
/// reuse the ciphertext of the message's or recipient's row).
#[derive(Debug, Clone)]
pub(crate) struct NewEvent<'a> {
    pub at: Timestamp,
    pub kind: EventKind,
    pub customer_id: &'a str,
    pub message_id: &'a str,
    pub mail_from_sealed: &'a [u8],
    pub mail_from_hash: &'a [u8],
    pub recipient_sealed: &'a [u8],
    pub recipient_hash: &'a [u8],
    /// Lower-case; `None` only for rows older than the column.
    pub recipient_domain: Option<&'a str>,
    pub reason: Option<Reason>,
    /// `None` for the kinds that carry nothing ([`EventDetails::is_bare`]).
    pub details_sealed: Option<&'a [u8]>,
}

/// A connection inside a transaction, on either backend: what [`insert_events`] writes through.
pub(crate) enum Conn<'c> {
    Sqlite(&'c mut sqlx::SqliteConnection),
    Postgres(&'c mut sqlx::PgConnection),
}

impl<'c> From<&'c mut sqlx::SqliteConnection> for Conn<'c> {
    fn from(c: &'c mut sqlx::SqliteConnection) -> Self {
        Conn::Sqlite(c)
    }
}

impl<'c> From<&'c mut sqlx::PgConnection> for Conn<'c> {
    fn from(c: &'c mut sqlx::PgConnection) -> Self {
        Conn::Postgres(c)
    }
}

macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Postgres($c) => $body,
        }
    };
}

/// The lower-case domain of an address (after its last `@`), as the search column holds it.
pub(crate) fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.').trim_end_matches('>');
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// Seals an event's details, or `None` for a kind that carries nothing.
pub(crate) fn seal_details(
    store: &Store,
    details: &EventDetails,
) -> Result<Option<Vec<u8>>, StoreError> {
    if details.is_bare() {
        return Ok(None);
    }
    let json = serde_json::to_vec(details)
        .map_err(|e| StoreError::invalid("event details", e.to_string()))?;
    Ok(Some(store.key.seal(&json)))
}

macro_rules! write_counters {
    ($counters:expr, $c:expr) => {{
        let counters = $counters;
        let minutes: Vec<_> = counters.minutes.iter().collect();
        for chunk in statement_chunks(&minutes) {
            let mut upsert =
                QueryBuilder::new("INSERT INTO stats_minute (customer_id, minute, kind, n) ");
            upsert.push_values(chunk, |mut row, ((customer, minute, kind), n)| {
                row.push_bind(*customer)
                    .push_bind(*minute)
                    .push_bind(*kind)
                    .push_bind(**n);
            });
            upsert.push(
                " ON CONFLICT (customer_id, minute, kind) DO UPDATE SET n = stats_minute.n + excluded.n",
            );
            upsert.build().execute(&mut *$c).await?;
        }
        let hours: Vec<_> = counters.hours.iter().collect();
        for chunk in statement_chunks(&hours) {
            let mut upsert =
                QueryBuilder::new("INSERT INTO stats_hour (customer_id, hour, kind, n) ");
            upsert.push_values(chunk, |mut row, ((customer, hour, kind), n)| {
                row.push_bind(*customer)
                    .push_bind(*hour)
                    .push_bind(*kind)
                    .push_bind(**n);
            });
            upsert.push(
                " ON CONFLICT (customer_id, hour, kind) DO UPDATE SET n = stats_hour.n + excluded.n",
            );
            upsert.build().execute(&mut *$c).await?;
        }
        let reasons: Vec<_> = counters.reasons.iter().collect();
        for chunk in statement_chunks(&reasons) {
            let mut upsert = QueryBuilder::new(
                "INSERT INTO stats_reason_hour (customer_id, hour, kind, reason, n) ",
            );
            upsert.push_values(chunk, |mut row, ((customer, hour, kind, reason), n)| {
                row.push_bind(*customer)
                    .push_bind(*hour)
                    .push_bind(*kind)
                    .push_bind(*reason)
                    .push_bind(**n);
            });
            upsert.push(
                " ON CONFLICT (customer_id, hour, kind, reason) \
                 DO UPDATE SET n = stats_reason_hour.n + excluded.n",
            );
            upsert.build().execute(&mut *$c).await?;
        }
        let domains: Vec<_> = counters.domains.iter().collect();
        for chunk in statement_chunks(&domains) {
            let mut upsert = QueryBuilder::new(
                "INSERT INTO stats_domain_hour (customer_id, hour, domain, kind, n) ",
            );
            upsert.push_values(chunk, |mut row, ((customer, hour, domain, kind), n)| {
                row.push_bind(*customer)
                    .push_bind(*hour)
                    .push_bind(*domain)
                    .push_bind(*kind)
                    .push_bind(**n);
            });
            upsert.push(
                " ON CONFLICT (customer_id, hour, domain, kind) \
                 DO UPDATE SET n = stats_domain_hour.n + excluded.n",
            );
            upsert.build().execute(&mut *$c).await?;
        }
        let domain_days: Vec<_> = counters.domain_days.iter().collect();
        for chunk in statement_chunks(&domain_days) {
            let mut upsert = QueryBuilder::new(
                "INSERT INTO stats_domain_day (customer_id, day, domain, kind, n) ",
            );
            upsert.push_values(chunk, |mut row, ((customer, day, domain, kind), n)| {
                row.push_bind(*customer)
                    .push_bind(*day)
                    .push_bind(*domain)
                    .push_bind(*kind)
                    .push_bind(**n);
            });
            upsert.push(
                " ON CONFLICT (customer_id, day, domain, kind) \
                 DO UPDATE SET n = stats_domain_day.n + excluded.n",
            );
            upsert.build().execute(&mut *$c).await?;
        }
        let usage: Vec<_> = counters.usage.iter().collect();
        for chunk in statement_chunks(&usage) {
            let mut upsert = QueryBuilder::new("INSERT INTO usage_hour (customer_id, hour, sent) ");
            upsert.push_values(chunk, |mut row, ((customer, hour), n)| {
                row.push_bind(*customer).push_bind(*hour).push_bind(**n);
            });
            upsert.push(
                " ON CONFLICT (customer_id, hour) DO UPDATE SET sent = usage_hour.sent + excluded.sent",
            );
            upsert.build().execute(&mut *$c).await?;
        }
        Ok::<(), StoreError>(())
    }};
}

/// Records `rows` in the send log, in order, with their search columns, and in the same
/// transaction: the per-minute counts by kind, the per-hour counts by reason and by recipient
/// domain, the hourly usage (accepted minus suppressed) and one outbox row per event for each
/// enabled webhook endpoint of its contract that subscribed to its kind. Returns the events' IDs.
///
/// Counter rows are updated in key order, so two transactions touching the same counters take
/// their locks in the same order (PostgreSQL would otherwise deadlock them).
pub(crate) async fn insert_events(
    conn: Conn<'_>,
    rows: &[NewEvent<'_>],
) -> Result<Vec<i64>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let counters = Counters::of(rows);
    let customers: BTreeSet<&str> = rows.iter().map(|r| r.customer_id).collect();
    let ids = with_conn!(conn, c => {
        let mut ids = Vec::with_capacity(rows.len());
        for chunk in statement_chunks(rows) {
            let mut insert = QueryBuilder::new(
                "INSERT INTO events (at, kind, customer_id, message_id, mail_from_sealed, \
                 mail_from_hash, recipient_sealed, recipient_hash, recipient_domain, reason, \
                 details_sealed) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(e.at.as_millis())
                    .push_bind(e.kind.as_str())
                    .push_bind(e.customer_id)
                    .push_bind(e.message_id)
                    .push_bind(e.mail_from_sealed)
                    .push_bind(e.mail_from_hash)
                    .push_bind(e.recipient_sealed)
                    .push_bind(e.recipient_hash)
                    .push_bind(e.recipient_domain)
                    .push_bind(e.reason.map(Reason::as_str))
                    .push_bind(e.details_sealed);
            });
            insert.push(" RETURNING event_id");
            let chunk_ids: Vec<i64> = insert.build_query_scalar().fetch_all(&mut *c).await?;
            ids.extend(chunk_ids);
        }
        write_counters!(&counters, c)?;

        // Most contracts have no webhook: one indexed probe spares them the outbox statement.
        let mut probe = QueryBuilder::new(
            "SELECT customer_id FROM webhook_subscriptions WHERE customer_id IN (",
        );
        let mut list = probe.separated(", ");
        for customer in &customers {
            list.push_bind(*customer);
        }
        probe.push(") LIMIT 1");
        let subscribed: Option<String> = probe.build_query_scalar().fetch_optional(&mut *c).await?;
        if subscribed.is_some() {
            let texts: Vec<String> = ids.iter().map(i64::to_string).collect();
            for chunk in lookup_chunks(&texts) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO webhook_outbox (endpoint_id, event_id, customer_id, created_at) \
                     SELECT s.endpoint_id, e.event_id, e.customer_id, e.at \
                     FROM events e JOIN webhook_subscriptions s \
                     ON s.customer_id = e.customer_id AND s.kind = e.kind \
                     JOIN webhook_endpoints w ON w.endpoint_id = s.endpoint_id \
                     AND w.disabled_at IS NULL WHERE e.event_id IN (",
                );
                let mut list = insert.separated(", ");
                for id in &chunk {
                    list.push_bind(id.parse::<i64>().expect("formatted from an i64"));
                }
                insert.push(") ORDER BY e.event_id, s.endpoint_id");
                debug_assert_eq!(chunk.len(), LOOKUP_CHUNK);
                insert.build().execute(&mut *c).await?;
            }
        }
        ids
    });
    Ok(ids)
}

/// The counters a batch of events adds to, summed per key before they reach the database (a
/// multi-row upsert may not name one row twice on PostgreSQL). BTreeMaps keep the key order.
#[derive(Default)]
struct Counters<'a> {
    minutes: BTreeMap<(&'a str, i64, &'static str), i64>,
    hours: BTreeMap<(&'a str, i64, &'static str), i64>,
    reasons: BTreeMap<(&'a str, i64, &'static str, &'static str), i64>,
    domains: BTreeMap<(&'a str, i64, &'a str, &'static str), i64>,
    /// The same by UTC day: a month of failures by domain is 30 rows per domain, not 720.
    domain_days: BTreeMap<(&'a str, i64, &'a str, &'static str), i64>,
    usage: BTreeMap<(&'a str, i64), i64>,
}

impl<'a> Counters<'a> {
    fn of(rows: &[NewEvent<'a>]) -> Counters<'a> {
        let mut c = Counters::default();
        for e in rows {
            c.add(e.customer_id, e.at, e.kind, e.reason, e.recipient_domain, 1);
        }
        c
    }

    /// Counts one event `by` times (-1 takes a withdrawn event back).
    fn add(
        &mut self,
        customer: &'a str,
        at: Timestamp,
        kind: EventKind,
        reason: Option<Reason>,
        domain: Option<&'a str>,
        by: i64,
    ) {
        let ms = at.as_millis();
        let minute = ms - ms.rem_euclid(MINUTE_MS);
        let hour = ms - ms.rem_euclid(HOUR_MS);
        let name = kind.as_str();
        *self.minutes.entry((customer, minute, name)).or_default() += by;
        *self.hours.entry((customer, hour, name)).or_default() += by;
        if let Some(reason) = reason {
            *self
                .reasons
                .entry((customer, hour, name, reason.as_str()))
                .or_default() += by;
        }
        if let Some(domain) = domain {
            *self
                .domains
                .entry((customer, hour, domain, name))
                .or_default() += by;
            let day = ms - ms.rem_euclid(DAY_MS);
            *self
                .domain_days
                .entry((customer, day, domain, name))
                .or_default() += by;
        }
        let sent = match kind {
            EventKind::Accepted => by,
            EventKind::Suppressed => -by,
            _ => 0,
        };
        // Per UTC hour: a month in the configured zone is a range of hours (`usage` module).
        if sent != 0 {
            *self.usage.entry((customer, hour)).or_default() += sent;
        }
    }
}

#[derive(sqlx::FromRow)]
struct CountedRow {
    event_id: i64,
    at: i64,
    kind: String,
    customer_id: String,
    recipient_domain: Option<String>,
    reason: Option<String>,
}

/// Removes every event of a message whose acceptance is being withdrawn (it never happened, as
/// far as anyone outside was told), with what they added to the counters and the outbox.
pub(crate) async fn delete_events_of_message(
    conn: Conn<'_>,
    message_id: &str,
) -> Result<(), StoreError> {
    with_conn!(conn, c => {
        let rows: Vec<CountedRow> = sqlx::query_as(
            "SELECT event_id, at, kind, customer_id, recipient_domain, reason FROM events \
             WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_all(&mut *c)
        .await?;
        let mut counters = Counters::default();
        for row in &rows {
            let kind: EventKind = row.kind.parse().map_err(|e| corrupt("events.kind", e))?;
            let reason = row.reason.as_deref().map(str::parse::<Reason>).transpose()
                .map_err(|e| corrupt("events.reason", e))?;
            counters.add(&row.customer_id, Timestamp(row.at), kind, reason, row.recipient_domain.as_deref(), -1);
        }
        write_counters!(&counters, c)?;
        for row in &rows {
            sqlx::query("DELETE FROM webhook_outbox WHERE event_id = $1")
                .bind(row.event_id)
                .execute(&mut *c)
                .await?;
        }
        sqlx::query("DELETE FROM events WHERE message_id = $1")
            .bind(message_id)
            .execute(&mut *c)
            .await?;
        Ok::<(), StoreError>(())
    })
}

/// The send-log fields as rows before migration 0007 hold them: one bag of options for every
/// kind, with texts where the types are now. Read only.
#[derive(Debug, Default, Deserialize)]
struct LegacyFields {
    remote_host: Option<String>,
    remote_ip: Option<String>,
    remote_port: Option<u16>,
    tls: Option<bool>,
    smtp_code: Option<u16>,
    enhanced_status: Option<String>,
    remote_text: Option<String>,
    delay_ms: Option<i64>,
    attempt: Option<u32>,
    reason: Option<String>,
    hard: Option<bool>,
    source: Option<String>,
    feedback_type: Option<String>,
}

impl LegacyFields {
    fn into_details(self, kind: EventKind) -> EventDetails {
        let default_source = match kind {
            EventKind::Complaint => EventSource::Report,
            EventKind::Suppressed => EventSource::SuppressionList,
            _ if self.smtp_code.is_some() && self.remote_host.is_some() => EventSource::Smtp,
            _ => EventSource::Local,
        };
        let source = self
            .source
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default_source);
        let reason = self
            .reason
            .as_deref()
            .and_then(|r| r.parse::<Reason>().ok());
        let exchange = Exchange {
            source,
            remote: self.remote_host.map(|host| Remote {
                host,
                ip: self.remote_ip.as_deref().and_then(|ip| ip.parse().ok()),
                port: self.remote_port,
                tls: self.tls,
            }),
            code: self.smtp_code,
            status: self
                .enhanced_status
                .as_deref()
                .and_then(EnhancedStatus::parse),
            text: self.remote_text,
            delay_ms: self.delay_ms,
            attempt: self.attempt,
        };
        match kind {
            EventKind::Accepted => EventDetails::Accepted,
            EventKind::Delivered => EventDetails::Delivered { exchange },
            EventKind::Deferred => EventDetails::Deferred { exchange, reason },
            EventKind::Bounced => EventDetails::Bounced {
                exchange,
                reason: reason.unwrap_or(Reason::Undefined),
                hard: self.hard.unwrap_or(false),
            },
            EventKind::Expired => EventDetails::Expired { exchange },
            EventKind::Suppressed => EventDetails::Suppressed {
                source,
                note: self.reason,
            },
            EventKind::Complaint => EventDetails::Complaint {
                exchange,
                feedback_type: self.feedback_type,
            },
            EventKind::Inbound => EventDetails::Inbound,
            EventKind::Deleted => EventDetails::Deleted,
            // Written only with today's tagged details; a bare row can only mean the link.
            EventKind::Unsubscribed => EventDetails::Unsubscribed {
                method: hikyaku_model::UnsubscribeMethod::OneClick,
            },
        }
    }
}

/// The details of a stored event from its unsealed JSON: today's tagged form, or the untagged
/// bag of fields rows written before migration 0007 hold (read by the row's kind). Fails on
/// JSON that is neither, and on a tag that contradicts the row's kind.
pub(crate) fn details_from_json(
    kind: EventKind,
    json: Option<&[u8]>,
) -> Result<EventDetails, StoreError> {
    let Some(json) = json else {
        return Ok(LegacyFields::default().into_details(kind));
    };
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| corrupt("events.details_sealed", e))?;
    let details = if value.get("kind").is_some() {
        serde_json::from_value::<EventDetails>(value)
            .map_err(|e| corrupt("events.details_sealed", e))?
    } else {
        serde_json::from_value::<LegacyFields>(value)
            .map_err(|e| corrupt("events.details_sealed", e))?
            .into_details(kind)
    };
    if details.kind() != kind {
        return Err(corrupt(
            "events.details_sealed",
            format!("details of a {} event on a {kind} row", details.kind()),
        ));
    }
    Ok(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_lower_case_and_taken_after_the_last_at() {
        let table = [
            ("bob@Example.JP", Some("example.jp")),
            ("\"a@b\"@mx.example.jp", Some("mx.example.jp")),
            ("bob@example.jp.", Some("example.jp")),
            ("bob", None),
            ("bob@", None),
        ];
        for (address, domain) in table {
            assert_eq!(domain_of(address).as_deref(), domain, "{address}");
        }
    }

    #[test]
    fn rows_written_before_typed_events_still_read() {
        let old = br#"{"remote_host":"mx.example.jp","remote_ip":"192.0.2.7","remote_port":25,
            "tls":true,"smtp_code":550,"enhanced_status":"5.1.1","remote_text":"no such user",
            "delay_ms":1500,"attempt":1,"reason":"userunknown","hard":true,"source":"smtp"}"#;
        let details = details_from_json(EventKind::Bounced, Some(old)).unwrap();
        let EventDetails::Bounced {
            exchange,
            reason,
            hard,
        } = &details
        else {
            panic!("{details:?}")
        };
        assert_eq!((*reason, *hard), (Reason::UserUnknown, true));
        assert_eq!(exchange.source, EventSource::Smtp);
        assert_eq!(exchange.status, Some(EnhancedStatus::new(5, 1, 1)));
        let remote = exchange.remote.as_ref().unwrap();
        assert_eq!(remote.ip, Some("192.0.2.7".parse().unwrap()));
        assert_eq!((remote.port, remote.tls), (Some(25), Some(true)));

        let suppressed = br#"{"reason":"asked to stop","source":"suppression-list"}"#;
        assert_eq!(
            details_from_json(EventKind::Suppressed, Some(suppressed)).unwrap(),
            EventDetails::Suppressed {
                source: EventSource::SuppressionList,
                note: Some("asked to stop".into())
            }
        );
        let complaint = br#"{"reason":"feedback","source":"report","feedback_type":"abuse"}"#;
        let details = details_from_json(EventKind::Complaint, Some(complaint)).unwrap();
        assert!(
            matches!(details, EventDetails::Complaint { feedback_type: Some(ref t), .. } if t == "abuse")
        );
        // An old bounce with a reason this version does not know is still a bounce.
        let odd = br#"{"reason":"somethingnew","smtp_code":554}"#;
        let details = details_from_json(EventKind::Bounced, Some(odd)).unwrap();
        assert_eq!(details.reason(), Some(Reason::Undefined));
        assert_eq!(
            details_from_json(EventKind::Accepted, None).unwrap(),
            EventDetails::Accepted
        );
        assert_eq!(
            details_from_json(EventKind::Deleted, None).unwrap(),
            EventDetails::Deleted
        );
    }

    #[test]
    fn details_that_contradict_their_row_are_corrupt() {
        let new = serde_json::to_vec(&EventDetails::Delivered {
            exchange: Exchange::by(EventSource::Smtp),
        })
        .unwrap();
        assert!(details_from_json(EventKind::Delivered, Some(&new)).is_ok());
        assert!(details_from_json(EventKind::Bounced, Some(&new)).is_err());
        for bad in [
            &b"not json"[..],
            b"[1,2]",
            br#"{"kind":"bounced","source":"smtp"}"#,
        ] {
            assert!(
                details_from_json(EventKind::Bounced, Some(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
