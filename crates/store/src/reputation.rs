//! What the reputation guard reads and keeps: per contract and hour, the messages that reached
//! a final delivery outcome, the hard bounces and the complaints (`reputation_hour`, written
//! with the events they count, in the same transaction), and the contract's warning episode,
//! pause and last resume (`reputation_status`). The thresholds and what crossing them means
//! are the guard's (in the relay); this module only counts, sums and records.

use crate::HOUR_MS;
use crate::events::Conn;
use crate::quality::Observed;
use crate::queue::{corrupt, statement_chunks};
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, EventDetails, Timestamp};
use sqlx::QueryBuilder;
use std::collections::BTreeMap;
use std::time::Duration;

/// Where counted events come from: a delivery attempt's final outcome is a message sent; a
/// report (a bounce mail, a feedback report) is about a message already counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Delivery,
    Report,
}

/// The span the rates are taken over: the contract's last `messages` messages, but none older
/// than `max_age` (whole hours: the hour that reaches `messages` counts in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReputationWindow {
    pub messages: u64,
    pub max_age: Duration,
}

/// A contract's figures over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReputationFigures {
    /// Messages that reached a final delivery outcome (delivered, bounced, expired).
    pub messages: u64,
    /// Bounces whose reason says the address is gone, at delivery or reported later.
    pub hard_bounces: u64,
    pub complaints: u64,
    /// The first hour counted; `None` when nothing was.
    pub since: Option<Timestamp>,
}

impl ReputationFigures {
    /// Hard bounces per 100 messages; 0 without messages.
    pub fn hard_bounce_rate(&self) -> f64 {
        percent(self.hard_bounces, self.messages)
    }

    /// Complaints per 100 messages; 0 without messages.
    pub fn complaint_rate(&self) -> f64 {
        percent(self.complaints, self.messages)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    match whole {
        0 => 0.0,
        _ => part as f64 * 100.0 / whole as f64,
    }
}

/// Where a contract stands with the guard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReputationStatus {
    /// The current warning episode began then; `None` when the contract is not warned.
    pub warned_at: Option<Timestamp>,
    pub pause: Option<SendingPause>,
    /// The operator's last resume: figures before it do not count.
    pub resumed_at: Option<Timestamp>,
}

/// A contract's sending paused by the guard, until the operator resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingPause {
    pub since: Timestamp,
    /// Which rate crossed which threshold, in words for the customer.
    pub reason: String,
}

/// Adds `observed` to the hourly counters, in the caller's transaction.
pub(crate) async fn count(
    conn: Conn<'_>,
    observed: &[Observed<'_>],
    origin: Origin,
) -> Result<(), StoreError> {
    let mut hours: BTreeMap<(&str, i64), [i64; 3]> = BTreeMap::new();
    for o in observed {
        let message = origin == Origin::Delivery
            && matches!(
                o.details,
                EventDetails::Delivered { .. }
                    | EventDetails::Bounced { .. }
                    | EventDetails::Expired { .. }
            );
        let hard = matches!(o.details, EventDetails::Bounced { hard: true, .. });
        let complaint = matches!(o.details, EventDetails::Complaint { .. });
        if !(message || hard || complaint) {
            continue;
        }
        let hour = o.at.as_millis() - o.at.as_millis().rem_euclid(HOUR_MS);
        let slot = hours.entry((o.customer, hour)).or_default();
        slot[0] += i64::from(message);
        slot[1] += i64::from(hard);
        slot[2] += i64::from(complaint);
    }
    if hours.is_empty() {
        return Ok(());
    }
    macro_rules! write {
        ($c:expr) => {{
            let rows: Vec<_> = hours.iter().collect();
            for chunk in statement_chunks(&rows) {
                let mut upsert = QueryBuilder::new(
                    "INSERT INTO reputation_hour (customer_id, hour, messages, hard_bounces, \
                     complaints) ",
                );
                upsert.push_values(chunk, |mut row, ((customer, hour), n)| {
                    row.push_bind(*customer)
                        .push_bind(*hour)
                        .push_bind(n[0])
                        .push_bind(n[1])
                        .push_bind(n[2]);
                });
                upsert.push(
                    " ON CONFLICT (customer_id, hour) DO UPDATE SET \
                     messages = reputation_hour.messages + excluded.messages, \
                     hard_bounces = reputation_hour.hard_bounces + excluded.hard_bounces, \
                     complaints = reputation_hour.complaints + excluded.complaints",
                );
                upsert.build().execute(&mut *$c).await?;
            }
            Ok::<(), StoreError>(())
        }};
    }
    match conn {
        Conn::Sqlite(c) => write!(c),
        Conn::Postgres(c) => write!(c),
    }
}

#[derive(sqlx::FromRow)]
struct HourRow {
    hour: i64,
    messages: i64,
    hard_bounces: i64,
    complaints: i64,
}

#[derive(sqlx::FromRow, Default)]
struct StatusRow {
    warned_at: Option<i64>,
    paused_at: Option<i64>,
    paused_reason: Option<String>,
    resumed_at: Option<i64>,
    baseline_hour: Option<i64>,
    baseline_messages: i64,
    baseline_hard_bounces: i64,
    baseline_complaints: i64,
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// The contract's figures over `window` ending at `now`, from the hourly counters (at most
    /// one row per hour of the window), after its last resume.
    pub async fn reputation_figures(
        &self,
        customer: &CustomerId,
        now: Timestamp,
        window: ReputationWindow,
    ) -> Result<ReputationFigures, StoreError> {
        let status = self.reputation_status_row(customer).await?;
        let oldest = now.as_millis() - window.max_age.as_millis().min(i64::MAX as u128) as i64;
        let oldest = oldest - oldest.rem_euclid(HOUR_MS);
        let from = status.baseline_hour.map_or(oldest, |b| b.max(oldest));
        let rows: Vec<HourRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT hour, messages, hard_bounces, complaints FROM reputation_hour \
                 WHERE customer_id = $1 AND hour >= $2 AND hour <= $3 ORDER BY hour DESC",
            )
            .bind(customer.as_str())
            .bind(from)
            .bind(now.as_millis())
            .fetch_all(pool)
            .await?
        });
        let mut figures = ReputationFigures {
            messages: 0,
            hard_bounces: 0,
            complaints: 0,
            since: None,
        };
        for row in rows {
            let (mut messages, mut hard, mut complaints) =
                (row.messages, row.hard_bounces, row.complaints);
            if status.baseline_hour == Some(row.hour) {
                messages -= status.baseline_messages;
                hard -= status.baseline_hard_bounces;
                complaints -= status.baseline_complaints;
            }
            figures.messages += non_negative(messages);
            figures.hard_bounces += non_negative(hard);
            figures.complaints += non_negative(complaints);
            figures.since = Some(Timestamp(row.hour));
            if figures.messages >= window.messages {
                break;
            }
        }
        Ok(figures)
    }

    /// Contracts with counted outcomes in an hour from `since` on: the ones whose figures may
    /// have changed.
    pub async fn reputation_active_contracts(
        &self,
        since: Timestamp,
    ) -> Result<Vec<CustomerId>, StoreError> {
        let hour = since.as_millis() - since.as_millis().rem_euclid(HOUR_MS);
        let ids: Vec<String> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT DISTINCT customer_id FROM reputation_hour WHERE hour >= $1 \
                 ORDER BY customer_id",
            )
            .bind(hour)
            .fetch_all(pool)
            .await?
        });
        ids.into_iter()
            .map(|id| {
                id.parse()
                    .map_err(|e| corrupt("reputation_hour.customer_id", e))
            })
            .collect()
    }

    async fn reputation_status_row(&self, customer: &CustomerId) -> Result<StatusRow, StoreError> {
        let row: Option<StatusRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT warned_at, paused_at, paused_reason, resumed_at, baseline_hour, \
                 baseline_messages, baseline_hard_bounces, baseline_complaints \
                 FROM reputation_status WHERE customer_id = $1",
            )
            .bind(customer.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.unwrap_or_default())
    }

    /// Where the contract stands with the guard (all `None` for one never warned).
    pub async fn reputation_status(
        &self,
        customer: &CustomerId,
    ) -> Result<ReputationStatus, StoreError> {
        let row = self.reputation_status_row(customer).await?;
        Ok(ReputationStatus {
            warned_at: row.warned_at.map(Timestamp),
            pause: row.paused_at.map(|since| SendingPause {
                since: Timestamp(since),
                reason: row.paused_reason.clone().unwrap_or_default(),
            }),
            resumed_at: row.resumed_at.map(Timestamp),
        })
    }

    /// The contract's pause, if its sending is paused: what the relay asks before taking a
    /// message.
    pub async fn sending_pause(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<SendingPause>, StoreError> {
        let row: Option<(i64, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT paused_at, paused_reason FROM reputation_status \
                 WHERE customer_id = $1 AND paused_at IS NOT NULL",
            )
            .bind(customer.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(since, reason)| SendingPause {
            since: Timestamp(since),
            reason: reason.unwrap_or_default(),
        }))
    }

    /// Starts a warning episode at `at` unless one is running, or the contract was resumed
    /// since `last_resume` (see [`Store::pause_sending`]). Returns whether this call started it
    /// (several nodes may see the same figures: one of them tells the contract).
    pub async fn begin_reputation_warning(
        &self,
        customer: &CustomerId,
        at: Timestamp,
        last_resume: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let started: Option<String> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO reputation_status (customer_id, warned_at) VALUES ($1, $2) \
                 ON CONFLICT (customer_id) DO UPDATE SET warned_at = excluded.warned_at \
                 WHERE reputation_status.warned_at IS NULL \
                 AND reputation_status.resumed_at IS NOT DISTINCT FROM $3 RETURNING customer_id",
            )
            .bind(customer.as_str())
            .bind(at.as_millis())
            .bind(last_resume.map(Timestamp::as_millis))
            .fetch_optional(pool)
            .await?
        });
        Ok(started.is_some())
    }

    /// Ends the contract's warning episode (its rates are back under the warning thresholds),
    /// so that the next crossing warns again. Returns whether one was running.
    pub async fn end_reputation_warning(&self, customer: &CustomerId) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let ended = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE reputation_status SET warned_at = NULL \
                 WHERE customer_id = $1 AND warned_at IS NOT NULL AND paused_at IS NULL",
            )
            .bind(customer.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(ended > 0)
    }

    /// Pauses the contract's sending from `at` unless it is paused already; the warning
    /// episode starts with it if none was running. Returns whether this call paused it.
    ///
    /// `last_resume` is the contract's `resumed_at` as the caller read it before the figures it
    /// acts on. When the operator has resumed the contract since (another process or node, in
    /// between), those figures are the ones the resume set aside: nothing is written, and the
    /// next check reads afresh. Compared by value, not by clock, so nodes' clocks need not agree.
    pub async fn pause_sending(
        &self,
        customer: &CustomerId,
        at: Timestamp,
        reason: &str,
        last_resume: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let paused: Option<String> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO reputation_status (customer_id, warned_at, paused_at, paused_reason) \
                 VALUES ($1, $2, $2, $3) \
                 ON CONFLICT (customer_id) DO UPDATE SET \
                 warned_at = COALESCE(reputation_status.warned_at, excluded.warned_at), \
                 paused_at = excluded.paused_at, paused_reason = excluded.paused_reason \
                 WHERE reputation_status.paused_at IS NULL \
                 AND reputation_status.resumed_at IS NOT DISTINCT FROM $4 RETURNING customer_id",
            )
            .bind(customer.as_str())
            .bind(at.as_millis())
            .bind(reason)
            .bind(last_resume.map(Timestamp::as_millis))
            .fetch_optional(pool)
            .await?
        });
        Ok(paused.is_some())
    }

    /// The operator's resume: the contract may send again, its warning episode ends, and its
    /// figures start afresh from `at` (the counts of `at`'s hour so far become the baseline
    /// that is subtracted). Returns whether it was paused. A contract that does not exist is
    /// [`StoreError::ContractNotFound`].
    pub async fn resume_sending(
        &self,
        customer: &CustomerId,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        if self.contract(customer).await?.is_none() {
            return Err(StoreError::ContractNotFound(customer.clone()));
        }
        let hour = at.as_millis() - at.as_millis().rem_euclid(HOUR_MS);
        let _turn = self.write_turn().await;
        let was_paused = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let paused: Option<Option<i64>> = sqlx::query_scalar(
                "SELECT paused_at FROM reputation_status WHERE customer_id = $1",
            )
            .bind(customer.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let counts: Option<(i64, i64, i64)> = sqlx::query_as(
                "SELECT messages, hard_bounces, complaints FROM reputation_hour \
                 WHERE customer_id = $1 AND hour = $2",
            )
            .bind(customer.as_str())
            .bind(hour)
            .fetch_optional(&mut *tx)
            .await?;
            let (messages, hard, complaints) = counts.unwrap_or_default();
            sqlx::query(
                "INSERT INTO reputation_status (customer_id, resumed_at, baseline_hour, \
                 baseline_messages, baseline_hard_bounces, baseline_complaints) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (customer_id) DO UPDATE SET warned_at = NULL, paused_at = NULL, \
                 paused_reason = NULL, resumed_at = excluded.resumed_at, \
                 baseline_hour = excluded.baseline_hour, \
                 baseline_messages = excluded.baseline_messages, \
                 baseline_hard_bounces = excluded.baseline_hard_bounces, \
                 baseline_complaints = excluded.baseline_complaints",
            )
            .bind(customer.as_str())
            .bind(at.as_millis())
            .bind(hour)
            .bind(messages)
            .bind(hard)
            .bind(complaints)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            paused.flatten().is_some()
        });
        Ok(was_paused)
    }
}
