//! The MTA-STS policies delivery fetched (RFC 8461), one per recipient domain, kept so that a
//! node that restarts goes on applying them until they expire: without them its first mail to
//! each domain would wait on a fetch, and an attacker who blocks that fetch would have the
//! node deliver as if the domain had no policy. What a policy means is delivery's; this keeps
//! its text fields and times.

use crate::{Store, StoreError};
use hikyaku_model::Timestamp;
use std::time::Duration;

/// One fetched policy, as delivery parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStsPolicy {
    /// The recipient (policy) domain, lower case.
    pub domain: String,
    /// The `_mta-sts` TXT record's id it was fetched for.
    pub policy_id: String,
    /// `enforce`, `testing` or `none`.
    pub mode: String,
    /// The `mx` patterns as the policy gives them (`*.` for one label).
    pub mx: Vec<String>,
    pub max_age: Duration,
    pub fetched_at: Timestamp,
    /// `fetched_at` plus `max_age`: not used from then on.
    pub expires_at: Timestamp,
}

impl Store {
    /// Saves the policy of its domain, unless the row holds one fetched later (nodes sharing a
    /// PostgreSQL database fetch on their own; a slow fetch must not undo a newer one). Rows
    /// expired at `now` go in the same transaction: nothing reads them again.
    pub async fn save_mta_sts_policy(
        &self,
        policy: &StoredStsPolicy,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if policy.mx.iter().any(|p| p.contains('\n')) {
            return Err(StoreError::invalid("mx", "a pattern holds a line break"));
        }
        let mx = policy.mx.join("\n");
        let max_age = i64::try_from(policy.max_age.as_secs()).unwrap_or(i64::MAX);
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM mta_sts_policies WHERE expires_at <= $1")
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO mta_sts_policies \
                 (domain, policy_id, mode, mx, max_age, fetched_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (domain) DO UPDATE SET \
                 policy_id = excluded.policy_id, mode = excluded.mode, mx = excluded.mx, \
                 max_age = excluded.max_age, fetched_at = excluded.fetched_at, \
                 expires_at = excluded.expires_at \
                 WHERE mta_sts_policies.fetched_at <= excluded.fetched_at",
            )
            .bind(&policy.domain)
            .bind(&policy.policy_id)
            .bind(&policy.mode)
            .bind(&mx)
            .bind(max_age)
            .bind(policy.fetched_at.as_millis())
            .bind(policy.expires_at.as_millis())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The saved policy of `domain` if it has not expired at `now`.
    pub async fn mta_sts_policy(
        &self,
        domain: &str,
        now: Timestamp,
    ) -> Result<Option<StoredStsPolicy>, StoreError> {
        let row: Option<PolicyRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT_POLICIES} WHERE domain = $1 AND expires_at > $2"
            )))
            .bind(domain)
            .bind(now.as_millis())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(stored_policy))
    }

    /// Every saved policy that has not expired at `now`, for a node's start (there is one per
    /// recipient domain that publishes a policy, not per domain mail went to).
    pub async fn mta_sts_policies(
        &self,
        now: Timestamp,
    ) -> Result<Vec<StoredStsPolicy>, StoreError> {
        let rows: Vec<PolicyRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{SELECT_POLICIES} WHERE expires_at > $1 ORDER BY domain"
            )))
            .bind(now.as_millis())
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(stored_policy).collect())
    }
}

const SELECT_POLICIES: &str = "SELECT domain, policy_id, mode, mx, max_age, fetched_at, \
     expires_at FROM mta_sts_policies";

type PolicyRow = (String, String, String, String, i64, i64, i64);

fn stored_policy(
    (domain, policy_id, mode, mx, max_age, fetched_at, expires_at): PolicyRow,
) -> StoredStsPolicy {
    StoredStsPolicy {
        domain,
        policy_id,
        mode,
        mx: mx
            .lines()
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        max_age: Duration::from_secs(u64::try_from(max_age).unwrap_or(0)),
        fetched_at: Timestamp(fetched_at),
        expires_at: Timestamp(expires_at),
    }
}
