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

/// An outage to announce: consecutive minutes in which no node answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageNotice {
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub minutes: i64,
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

    /// Records the outage's notice (kind `outage`, keyed by its start) for every contract
    /// that is not terminated and not one of the service's own, for the mailer to take to
    /// each one's admins. Returns how many were new: 0 when the outage was announced already
    /// (by this node or another), so every node may call it for every outage it sees.
    pub async fn record_outage_notices(
        &self,
        outage: &OutageNotice,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let details = serde_json::json!({
            "starts_at": outage.starts_at.to_string(),
            "ends_at": outage.ends_at.to_string(),
            "minutes": outage.minutes,
        });
        let details_sealed = self.key.seal_str(&details.to_string());
        let _turn = self.write_turn().await;
        Ok(with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO notices (customer_id, kind, notice_key, details_sealed, created_at, \
                 mail_available_at) SELECT customer_id, $1, $2, $3, $4, $4 FROM contracts \
                 WHERE state <> $5 AND customer_id NOT IN (SELECT customer_id FROM system_contracts) \
                 ON CONFLICT (customer_id, kind, notice_key) DO NOTHING",
            )
            .bind(NoticeKind::Outage.as_str())
            .bind(outage.starts_at.to_string())
            .bind(details_sealed.as_slice())
            .bind(at.as_millis())
            .bind(ContractState::Terminated.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}
