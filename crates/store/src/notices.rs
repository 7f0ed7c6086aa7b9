//! Contract notices: what happened to a contract rather than to one message (a certificate
//! running out, an endpoint disabled), recorded once per thing it is about, and the state of
//! the mail that tells the contract's admins: claimed with a lease, finished once handed to
//! the relay. Who records them and how the mail looks is not this crate's business.

use crate::error::is_foreign_key_violation;
use crate::queue::corrupt;
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, NoticeKind, Timestamp};
use std::time::Duration;

/// The longest key a notice may have, in bytes.
pub const MAX_NOTICE_KEY_LEN: usize = 200;

/// The purpose under which the contract that sends contract notices is kept.
const NOTICES_PURPOSE: &str = "notices";

/// One recorded notice.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub id: i64,
    pub customer_id: CustomerId,
    pub kind: NoticeKind,
    /// What the notice is about, unique per contract and kind (a certificate's ID).
    pub key: String,
    pub details: serde_json::Value,
    pub created_at: Timestamp,
    /// When its mail was handed to the relay; `None` while it is still to be mailed.
    pub mailed_at: Option<Timestamp>,
    /// To how many admins it was mailed.
    pub mailed_to: Option<u32>,
    /// Claims of its mail so far.
    pub mail_attempts: u32,
}

const COLUMNS: &str = "notice_id, customer_id, kind, notice_key, details_sealed, created_at, \
                       mailed_at, mailed_to, mail_attempts";

#[derive(sqlx::FromRow)]
struct Row {
    notice_id: i64,
    customer_id: String,
    kind: String,
    notice_key: String,
    details_sealed: Vec<u8>,
    created_at: i64,
    mailed_at: Option<i64>,
    mailed_to: Option<i32>,
    mail_attempts: i32,
}

impl Store {
    fn notice_from_row(&self, row: Row) -> Result<Notice, StoreError> {
        let details = self.key.open_string(&row.details_sealed)?;
        Ok(Notice {
            id: row.notice_id,
            customer_id: row
                .customer_id
                .parse()
                .map_err(|e| corrupt("notices.customer_id", e))?,
            kind: row.kind.parse().map_err(|e| corrupt("notices.kind", e))?,
            key: row.notice_key,
            details: serde_json::from_str(&details)
                .map_err(|e| corrupt("notices.details_sealed", e))?,
            created_at: Timestamp(row.created_at),
            mailed_at: row.mailed_at.map(Timestamp),
            mailed_to: row
                .mailed_to
                .map(u32::try_from)
                .transpose()
                .map_err(|e| corrupt("notices.mailed_to", e))?,
            mail_attempts: u32::try_from(row.mail_attempts)
                .map_err(|e| corrupt("notices.mail_attempts", e))?,
        })
    }

    /// Records a notice for the contract, to be mailed to its admins. Idempotent per
    /// (contract, kind, key): returns the new notice's ID, or `None` when that notice was
    /// already recorded (its details and time are then left as they were). Refused for an
    /// unknown contract and for an empty key or one longer than [`MAX_NOTICE_KEY_LEN`].
    pub async fn record_notice(
        &self,
        customer_id: &CustomerId,
        kind: NoticeKind,
        key: &str,
        details: serde_json::Value,
        at: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        if key.is_empty() || key.len() > MAX_NOTICE_KEY_LEN {
            return Err(StoreError::invalid(
                "notice key",
                format!("must be 1 to {MAX_NOTICE_KEY_LEN} bytes"),
            ));
        }
        let details_sealed = self.key.seal_str(&details.to_string());
        let _turn = self.write_turn().await;
        let inserted: Result<Option<i64>, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO notices (customer_id, kind, notice_key, details_sealed, created_at, \
                 mail_available_at) VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (customer_id, kind, notice_key) DO NOTHING RETURNING notice_id",
            )
            .bind(customer_id.as_str())
            .bind(kind.as_str())
            .bind(key)
            .bind(details_sealed.as_slice())
            .bind(at.as_millis())
            .fetch_optional(pool)
            .await
        });
        match inserted {
            Ok(id) => Ok(id),
            Err(e) if is_foreign_key_violation(&e) => {
                Err(StoreError::ContractNotFound(customer_id.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Up to `limit` notices, newest first: the contract's, or every contract's.
    pub async fn list_notices(
        &self,
        customer_id: Option<&CustomerId>,
        limit: u32,
    ) -> Result<Vec<Notice>, StoreError> {
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM notices WHERE ($1 IS NULL OR customer_id = $1) \
                 ORDER BY notice_id DESC LIMIT $2"
            )))
            .bind(customer_id.map(CustomerId::as_str))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| self.notice_from_row(row))
            .collect()
    }

    /// Claims up to `limit` notices whose mail is still to be sent and due at `now` (oldest
    /// first) for `lease`: no other claim returns them until the lease ends, when they are due
    /// again (their mailer stopped or failed). Two concurrent claimers never get the same one.
    pub async fn claim_notices_to_mail(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Notice>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now.saturating_add(lease);
        let lock = self.skip_locked();
        let sql = format!(
            "UPDATE notices SET mail_available_at = $1, mail_attempts = mail_attempts + 1 \
             WHERE notice_id IN (SELECT notice_id FROM notices \
             WHERE mailed_at IS NULL AND mail_available_at <= $2 \
             ORDER BY mail_available_at, notice_id LIMIT $3{lock}) \
             RETURNING {COLUMNS}"
        );
        let _turn = self.write_turn().await;
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(until.as_millis())
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        let mut notices: Vec<Notice> = rows
            .into_iter()
            .map(|row| self.notice_from_row(row))
            .collect::<Result<_, _>>()?;
        notices.sort_by_key(|n| n.id);
        Ok(notices)
    }

    /// Marks the notice's mail as handed to the relay at `at`, for `recipients` admins.
    /// Returns `false` when it was already marked (another mailer finished it first) or is
    /// gone.
    pub async fn finish_notice_mail(
        &self,
        notice_id: i64,
        at: Timestamp,
        recipients: u32,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let updated = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE notices SET mailed_at = $2, mailed_to = $3 \
                 WHERE notice_id = $1 AND mailed_at IS NULL",
            )
            .bind(notice_id)
            .bind(at.as_millis())
            .bind(i32::try_from(recipients).unwrap_or(i32::MAX))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(updated > 0)
    }

    /// The contract the service sends contract notices as, made on first use (named `name`,
    /// plan `system`, active) and the same for every node sharing the database.
    pub async fn notice_sender_contract(&self, name: &str) -> Result<CustomerId, StoreError> {
        if let Some(id) = self.system_contract(NOTICES_PURPOSE).await? {
            return Ok(id);
        }
        let contract = self.create_contract(name, "system").await?;
        self.set_contract_state(&contract.customer_id, hikyaku_model::ContractState::Active)
            .await?;
        let claimed = {
            let _turn = self.write_turn().await;
            with_pool!(self, pool => {
                sqlx::query(
                    "INSERT INTO system_contracts (purpose, customer_id) VALUES ($1, $2) \
                     ON CONFLICT (purpose) DO NOTHING",
                )
                .bind(NOTICES_PURPOSE)
                .bind(contract.customer_id.as_str())
                .execute(pool)
                .await?
                .rows_affected()
            })
        };
        if claimed == 0 {
            // Another node made one at the same moment: use theirs, drop ours.
            with_pool!(self, pool => {
                sqlx::query("DELETE FROM contracts WHERE customer_id = $1")
                    .bind(contract.customer_id.as_str())
                    .execute(pool)
                    .await?;
            });
        }
        self.system_contract(NOTICES_PURPOSE)
            .await?
            .ok_or_else(|| StoreError::Corrupt("system_contracts: the notices row vanished".into()))
    }

    async fn system_contract(&self, purpose: &str) -> Result<Option<CustomerId>, StoreError> {
        let id: Option<String> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT customer_id FROM system_contracts WHERE purpose = $1")
                .bind(purpose)
                .fetch_optional(pool)
                .await?
        });
        id.map(|id| {
            id.parse()
                .map_err(|e| corrupt("system_contracts.customer_id", e))
        })
        .transpose()
    }
}
