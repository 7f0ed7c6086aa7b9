//! The availability monitor's record: which targets answered in which minute, and the outage
//! notices. How the minutes add up to an availability is `hikyaku-availability`'s; this holds
//! the facts it reads.
//!
//! Minutes are counted since the Unix epoch (UTC): every month boundary of a whole-hour time
//! zone falls on one, and a row per minute needs no time arithmetic in SQL.

use crate::{Store, StoreError};
use hikyaku_model::{ContractState, NoticeKind, Timestamp};
use std::time::Duration;

/// How long the monitor's minutes are kept: a month's availability stays answerable for more
/// than a year (the retention job deletes older ones, whatever `retention.report_days` says).
pub const MONITOR_KEPT: Duration = Duration::from_secs(400 * 86_400);

/// An outage as a monitor sees it: consecutive minutes in which no node answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageNotice {
    pub starts_at: Timestamp,
    /// The end of its last minute; `None` while it goes on.
    pub ends_at: Option<Timestamp>,
    /// Its minutes (so far, while it goes on).
    pub minutes: i64,
}

/// Which notice an outage's announcement recorded for every contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageAnnouncement {
    /// `outage`, `ongoing: true`: it began at its start and goes on.
    Began,
    /// `outage_resolved`: the one told as begun is over, with its end and minutes.
    Resolved,
    /// `outage`, `ongoing: false`: first seen when it was already over, so one notice tells its
    /// start, end and minutes.
    Over,
}

impl Store {
    /// Records what a probe of `target` found in `minute`. Monitors that probe the same
    /// target in the same minute share its row: it is up if any of them saw both HTTP and
    /// SMTP answer.
    pub async fn record_monitor_minute(
        &self,
        minute: i64,
        target: &str,
        http_up: bool,
        smtp_up: bool,
        probed_by: &str,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO monitor_minutes (minute, target, up, http_up, smtp_up, probed_by) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (minute, target) DO UPDATE SET \
                 up = (monitor_minutes.up OR excluded.up), \
                 http_up = (monitor_minutes.http_up OR excluded.http_up), \
                 smtp_up = (monitor_minutes.smtp_up OR excluded.smtp_up), \
                 probed_by = CASE WHEN excluded.up THEN excluded.probed_by \
                 ELSE monitor_minutes.probed_by END",
            )
            .bind(minute)
            .bind(target)
            .bind(http_up && smtp_up)
            .bind(http_up)
            .bind(smtp_up)
            .bind(probed_by)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The minutes in `[from, to)` in which some target answered both HTTP and SMTP, in order.
    pub async fn answered_minutes(&self, from: i64, to: i64) -> Result<Vec<i64>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT DISTINCT minute FROM monitor_minutes \
                 WHERE minute >= $1 AND minute < $2 AND up ORDER BY minute",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The first minute any monitor recorded (of those still kept).
    pub async fn monitoring_since(&self) -> Result<Option<i64>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar("SELECT MIN(minute) FROM monitor_minutes")
                .fetch_one(pool)
                .await?
        }))
    }

    /// The last minute before `minute` in which some target answered.
    pub async fn last_answered_minute_before(
        &self,
        minute: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(minute) FROM monitor_minutes WHERE minute < $1 AND up")
                .bind(minute)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Announces what `outage` shows to every contract that is not terminated and not one of
    /// the service's own, as notices for the mailer to take to each one's admins: that it began
    /// (it goes on), that it is over (it was told as begun), or both at once (first seen over).
    /// Each of those is recorded once per outage (keyed by its start) whoever calls, so every
    /// monitor may call this for every outage it sees after every probe. Returns what was
    /// recorded now, `None` when it was announced already.
    pub async fn announce_outage(
        &self,
        outage: &OutageNotice,
        at: Timestamp,
    ) -> Result<Option<OutageAnnouncement>, StoreError> {
        let starts_minute = outage.starts_at.as_millis().div_euclid(crate::MINUTE_MS);
        let key = outage.starts_at.to_string();
        let _turn = self.write_turn().await;
        Ok(with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // The outage's row decides, under its lock, which notice is due.
            let first_seen = sqlx::query(
                "INSERT INTO outage_announcements (starts_minute, began_at, resolved_at, \
                 ends_at, minutes) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (starts_minute) DO NOTHING",
            )
            .bind(starts_minute)
            .bind(outage.ends_at.is_none().then_some(at.as_millis()))
            .bind(outage.ends_at.map(|_| at.as_millis()))
            .bind(outage.ends_at.map(Timestamp::as_millis))
            .bind(outage.ends_at.map(|_| outage.minutes))
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let announced = match (first_seen, outage.ends_at) {
                (true, ends_at) => {
                    let details = match ends_at {
                        None => serde_json::json!({ "starts_at": key, "ongoing": true }),
                        Some(ends_at) => serde_json::json!({
                            "starts_at": key,
                            "ends_at": ends_at.to_string(),
                            "minutes": outage.minutes,
                            "ongoing": false,
                        }),
                    };
                    sqlx::query(
                        "INSERT INTO notices (customer_id, kind, notice_key, details_sealed, \
                         created_at, mail_available_at) SELECT customer_id, $1, $2, $3, $4, $4 \
                         FROM contracts WHERE state <> $5 AND customer_id NOT IN \
                         (SELECT customer_id FROM system_contracts) \
                         ON CONFLICT (customer_id, kind, notice_key) DO NOTHING",
                    )
                    .bind(NoticeKind::Outage.as_str())
                    .bind(&key)
                    .bind(self.key.seal_str(&details.to_string()))
                    .bind(at.as_millis())
                    .bind(ContractState::Terminated.as_str())
                    .execute(&mut *tx)
                    .await?;
                    Some(if ends_at.is_none() {
                        OutageAnnouncement::Began
                    } else {
                        OutageAnnouncement::Over
                    })
                }
                (false, None) => None,
                (false, Some(ends_at)) => {
                    let resolved_now = sqlx::query(
                        "UPDATE outage_announcements SET resolved_at = $2, ends_at = $3, \
                         minutes = $4 WHERE starts_minute = $1 AND resolved_at IS NULL",
                    )
                    .bind(starts_minute)
                    .bind(at.as_millis())
                    .bind(ends_at.as_millis())
                    .bind(outage.minutes)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if resolved_now {
                        let details = serde_json::json!({
                            "starts_at": key,
                            "ends_at": ends_at.to_string(),
                            "minutes": outage.minutes,
                        });
                        // Those told it began: a contract made during the outage heard of none.
                        sqlx::query(
                            "INSERT INTO notices (customer_id, kind, notice_key, details_sealed, \
                             created_at, mail_available_at) SELECT n.customer_id, $1, $2, $3, \
                             $4, $4 FROM notices n JOIN contracts c ON c.customer_id = \
                             n.customer_id WHERE n.kind = $5 AND n.notice_key = $2 \
                             AND c.state <> $6 \
                             ON CONFLICT (customer_id, kind, notice_key) DO NOTHING",
                        )
                        .bind(NoticeKind::OutageResolved.as_str())
                        .bind(&key)
                        .bind(self.key.seal_str(&details.to_string()))
                        .bind(at.as_millis())
                        .bind(NoticeKind::Outage.as_str())
                        .bind(ContractState::Terminated.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                    resolved_now.then_some(OutageAnnouncement::Resolved)
                }
            };
            tx.commit().await?;
            announced
        }))
    }
}
