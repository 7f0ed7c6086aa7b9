//! Trial expiry: a trial contract that has not been used (no message accepted, no API call) for
//! the operator's idle period is suspended, and warned a week before. A contract's last use is
//! `last_used_at` (its creation when it was never used): the intake keeps it current with every
//! accepted message, [`Store::note_api_use`] with API calls.
//!
//! The scan only reads; the caller records the notice, then applies the change, each change
//! conditional on the contract still being idle since the same instant. A crash between the two
//! repeats the notice at the next scan (the notice's key, which names the idle spell, lets its
//! recorder see it is the same one), never loses the change.

use crate::{Store, StoreError};
use hikyaku_model::{ContractState, CustomerId, Timestamp};

/// API calls move `last_used_at` forward at most this often, so that they cost a write
/// once an hour per contract, not once per request.
const API_USE_GRANULARITY_MS: i64 = 3_600_000;

/// When idle trial contracts are warned and suspended.
#[derive(Debug, Clone, Copy)]
pub struct TrialPolicy {
    /// Unused this long, a trial contract is suspended.
    pub idle: std::time::Duration,
    /// This long before the suspension, it is warned.
    pub warning: std::time::Duration,
}

/// What is due for an idle trial contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrialAction {
    /// To be told that it will be suspended at `suspend_at`.
    Warn {
        customer_id: CustomerId,
        idle_since: Timestamp,
        suspend_at: Timestamp,
    },
    /// To be suspended now.
    Suspend {
        customer_id: CustomerId,
        idle_since: Timestamp,
    },
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// The trial contracts due for a warning or a suspension at `now`; each contract at most
    /// once, a suspension before a warning. A contract already warned since its last use is
    /// not warned again.
    pub async fn idle_trials(
        &self,
        now: Timestamp,
        policy: &TrialPolicy,
    ) -> Result<Vec<TrialAction>, StoreError> {
        let idle = millis(policy.idle);
        let warn_after = idle.saturating_sub(millis(policy.warning)).max(0);
        let rows: Vec<(String, i64, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT customer_id, COALESCE(last_used_at, created_at), trial_warned_at \
                 FROM contracts WHERE state = $1 AND COALESCE(last_used_at, created_at) <= $2 \
                 ORDER BY customer_id",
            )
            .bind(ContractState::Trial.as_str())
            .bind(now.as_millis().saturating_sub(warn_after))
            .fetch_all(pool)
            .await?
        });
        let mut due = Vec::new();
        for (id, idle_since, warned_at) in rows {
            let customer_id: CustomerId = id
                .parse()
                .map_err(|e| crate::queue::corrupt("contracts.customer_id", e))?;
            let suspend_at = Timestamp(idle_since.saturating_add(idle));
            if now >= suspend_at {
                due.push(TrialAction::Suspend {
                    customer_id,
                    idle_since: Timestamp(idle_since),
                });
            } else if warned_at.is_none_or(|at| at < idle_since) {
                due.push(TrialAction::Warn {
                    customer_id,
                    idle_since: Timestamp(idle_since),
                    suspend_at,
                });
            }
        }
        Ok(due)
    }

    /// Suspends a trial contract if it is still a trial idle since `idle_since` (it was not
    /// used, resumed or ended meanwhile). Whether it did.
    pub async fn suspend_idle_trial(
        &self,
        id: &CustomerId,
        idle_since: Timestamp,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let changed = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE contracts SET state = $2 WHERE customer_id = $1 AND state = $3 \
                 AND COALESCE(last_used_at, created_at) = $4",
            )
            .bind(id.as_str())
            .bind(ContractState::Suspended.as_str())
            .bind(ContractState::Trial.as_str())
            .bind(idle_since.as_millis())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Notes that an idle trial contract was warned at `at`, if it is still idle since
    /// `idle_since`. Whether it was.
    pub async fn mark_trial_warned(
        &self,
        id: &CustomerId,
        idle_since: Timestamp,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let changed = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE contracts SET trial_warned_at = $2 WHERE customer_id = $1 \
                 AND state = $3 AND COALESCE(last_used_at, created_at) = $4",
            )
            .bind(id.as_str())
            .bind(at.as_millis())
            .bind(ContractState::Trial.as_str())
            .bind(idle_since.as_millis())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Records that the contract called the API at `at`: its `last_used_at`, to the hour. One
    /// indexed read when it is current, a write at most once an hour.
    pub async fn note_api_use(&self, id: &CustomerId, at: Timestamp) -> Result<(), StoreError> {
        let last: Option<Option<i64>> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT last_used_at FROM contracts WHERE customer_id = $1")
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?
        });
        let Some(last) = last else {
            return Ok(());
        };
        if last.is_some_and(|last| last > at.as_millis() - API_USE_GRANULARITY_MS) {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE contracts SET last_used_at = $2 \
                 WHERE customer_id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(id.as_str())
            .bind(at.as_millis())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }
}
