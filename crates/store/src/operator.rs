//! The operator area's data: the operator's console users and sessions, contracts' inquiries,
//! maintenance notices, plan changes and the nodes that serve this store.
//!
//! Operator users belong to no contract and live in tables of their own, so no look-up of a
//! contract's users or sessions can ever find one (or the other way round). An inquiry and a
//! maintenance notice are each recorded in one transaction with the contract notices that mail
//! them (kind `inquiry`, to the operator; kind `maintenance`, one per contract to its admins):
//! the notice mailer's lease then makes the mail at least once, whatever stops in between.

use crate::credentials::{blocking, check_password, hash_password, password_matches};
use crate::error::{is_foreign_key_violation, is_unique_violation};
use crate::queue::corrupt;
use crate::sessions::{SessionArea, SessionUser};
use crate::{Store, StoreError, check_suppression_address};
use hikyaku_model::{Contract, ContractState, CustomerId, NoticeKind, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How often each serving node records its heartbeat ([`Store::node_heartbeat`]).
pub const NODE_HEARTBEAT: Duration = Duration::from_secs(30);

/// An operator's console user (never the password or its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorUser {
    pub user_id: String,
    /// As it was given (the login ignores case).
    pub email: String,
    /// Whether the user has a TOTP second factor.
    pub totp: bool,
    pub created_at: Timestamp,
}

/// An operator's session as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSession {
    pub user_id: String,
    /// The password was right but the TOTP code is still to come: no page yet.
    pub second_factor_pending: bool,
    pub expires_at: Timestamp,
}

/// A contract's inquiry to the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inquiry {
    pub id: i64,
    pub customer_id: CustomerId,
    /// The console user or API key that sent it.
    pub sent_by: String,
    /// The sender's address, when a console user sent it (replies go there).
    pub email: Option<String>,
    pub subject: String,
    pub body: String,
    pub created_at: Timestamp,
    pub handled_at: Option<Timestamp>,
}

/// What an inquiry says, sealed as one JSON value.
#[derive(Serialize, Deserialize)]
struct InquiryContent {
    email: Option<String>,
    subject: String,
    body: String,
}

/// A maintenance notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub emergency: bool,
    pub created_at: Timestamp,
}

/// A maintenance notice to announce.
#[derive(Debug, Clone)]
pub struct NewMaintenance<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub emergency: bool,
}

/// A node serving this store, as its last heartbeat told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub node: String,
    pub version: String,
    /// What it listens on (`smtp 0.0.0.0:25`, …), as it said.
    pub listeners: Vec<String>,
    /// Its messages still to deliver.
    pub queue_size: u64,
    pub started_at: Timestamp,
    pub last_seen: Timestamp,
    /// When it said it was stopping (a clean shutdown), unless it has beaten since.
    pub stopped_at: Option<Timestamp>,
}

impl NodeStatus {
    /// Whether the node is serving: it has not said it stopped, and its last heartbeat is
    /// within three `period`s of `now` (one that missed three is stopped, cut off or stuck, not
    /// merely slow).
    pub fn healthy(&self, now: Timestamp, period: Duration) -> bool {
        self.stopped_at.is_none() && self.last_seen.saturating_add(period * 3) >= now
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    user_id: String,
    email: String,
    totp_sealed: Option<Vec<u8>>,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

#[derive(sqlx::FromRow)]
struct InquiryRow {
    inquiry_id: i64,
    customer_id: String,
    sent_by: String,
    content_sealed: Vec<u8>,
    created_at: i64,
    handled_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct MaintenanceRow {
    maintenance_id: i64,
    title: String,
    body: String,
    starts_at: i64,
    ends_at: i64,
    emergency: bool,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct NodeRow {
    node: String,
    version: String,
    listeners: String,
    queue_size: i64,
    started_at: i64,
    last_seen: i64,
    stopped_at: Option<i64>,
}

const USER_COLUMNS: &str = "user_id, email, totp_sealed, created_at";
const INQUIRY_COLUMNS: &str =
    "inquiry_id, customer_id, sent_by, content_sealed, created_at, handled_at";
const MAINTENANCE_COLUMNS: &str =
    "maintenance_id, title, body, starts_at, ends_at, emergency, created_at";

fn user_from_row(row: UserRow) -> OperatorUser {
    OperatorUser {
        user_id: row.user_id,
        email: row.email,
        totp: row.totp_sealed.is_some(),
        created_at: Timestamp(row.created_at),
    }
}

fn maintenance_from_row(row: MaintenanceRow) -> Maintenance {
    Maintenance {
        id: row.maintenance_id,
        title: row.title,
        body: row.body,
        starts_at: Timestamp(row.starts_at),
        ends_at: Timestamp(row.ends_at),
        emergency: row.emergency,
        created_at: Timestamp(row.created_at),
    }
}

/// A new operator user ID: `op`, the time in hexadecimal milliseconds, random letters.
fn new_user_id() -> String {
    const TAIL: &[u8] = b"23456789abcdfghjkmnpqrstvwxyz";
    let tail: String = (0..6)
        .map(|_| TAIL[rand::random_range(0..TAIL.len())] as char)
        .collect();
    format!("op{:011x}{tail}", Timestamp::now().as_millis().max(0))
}

impl Store {
    /// Adds an operator user. Refused: a malformed address or password, and an address (in
    /// any case) that already has one.
    pub async fn create_operator_user(
        &self,
        email: &str,
        password: &str,
    ) -> Result<OperatorUser, StoreError> {
        let email = check_suppression_address(email)
            .map_err(|reason| StoreError::invalid("e-mail address", reason))?;
        check_password(password)?;
        let password = password.to_owned();
        let phc = blocking(move || hash_password(&password)).await?;
        let user = OperatorUser {
            user_id: new_user_id(),
            email: email.to_string(),
            totp: false,
            created_at: Timestamp::now(),
        };
        let _turn = self.write_turn().await;
        let inserted = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO operator_users (user_id, email, email_key, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&user.user_id)
            .bind(&user.email)
            .bind(user.email.to_lowercase())
            .bind(&phc)
            .bind(user.created_at.as_millis())
            .execute(pool)
            .await
            .map(|_| ())
        });
        match inserted {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(StoreError::invalid(
                "e-mail address",
                "an operator user with this address exists already",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Every operator user, oldest first.
    pub async fn operator_users(&self) -> Result<Vec<OperatorUser>, StoreError> {
        let rows: Vec<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM operator_users ORDER BY user_id"
            )))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(user_from_row).collect())
    }

    /// The operator user with this ID: what an operator session checks on every request, so a
    /// removed user is out at once.
    pub async fn operator_user(&self, user_id: &str) -> Result<Option<OperatorUser>, StoreError> {
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM operator_users WHERE user_id = $1"
            )))
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(user_from_row))
    }

    /// Removes the operator user named by ID or address (any case); their sessions go with
    /// them. Returns who was removed.
    pub async fn remove_operator_user(
        &self,
        id_or_email: &str,
    ) -> Result<Option<OperatorUser>, StoreError> {
        let id_or_email = id_or_email.trim();
        let _turn = self.write_turn().await;
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "DELETE FROM operator_users WHERE user_id = $1 OR email_key = $2 \
                 RETURNING {USER_COLUMNS}"
            )))
            .bind(id_or_email)
            .bind(id_or_email.to_lowercase())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(user_from_row))
    }

    /// The operator user with this address (any case) if the password is theirs. An unknown
    /// address costs the same argon2 work as a wrong password.
    pub async fn verify_operator_login(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Option<OperatorUser>, StoreError> {
        let row: Option<LoginRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS}, password_hash FROM operator_users WHERE email_key = $1"
            )))
            .bind(email.trim().to_lowercase())
            .fetch_optional(pool)
            .await?
        });
        let phc = match &row {
            Some(row) => row.password_hash.clone(),
            None => self.dummy_hash().await?,
        };
        let password = password.to_owned();
        let matches = blocking(move || password_matches(&phc, &password)).await?;
        match row {
            Some(row) if matches => Ok(Some(user_from_row(row.user))),
            _ => Ok(None),
        }
    }

    /// The operator user's TOTP secret, if they have one.
    pub async fn operator_totp(&self, user_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let sealed: Option<Option<Vec<u8>>> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT totp_sealed FROM operator_users WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        sealed
            .flatten()
            .map(|sealed| self.key.open(&sealed))
            .transpose()
    }

    /// Gives the operator user a TOTP second factor with this secret, or takes it away.
    /// Returns `false` for an unknown user.
    pub async fn set_operator_totp(
        &self,
        user_id: &str,
        secret: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let sealed = secret.map(|s| self.key.seal(s));
        let _turn = self.write_turn().await;
        let updated = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE operator_users SET totp_sealed = $2, totp_last_step = NULL \
                 WHERE user_id = $1",
            )
            .bind(user_id)
            .bind(sealed)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }

    /// Takes a TOTP code's 30-second `step` for the operator user: `false` when a code of this
    /// step or a later one was taken already.
    pub async fn take_operator_totp_step(
        &self,
        user_id: &str,
        step: i64,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let taken = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE operator_users SET totp_last_step = $2 WHERE user_id = $1 \
                 AND (totp_last_step IS NULL OR totp_last_step < $2)",
            )
            .bind(user_id)
            .bind(step)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(taken == 1)
    }

    /// Records a new session of the operator user, and forgets expired ones.
    pub async fn create_operator_session(
        &self,
        user_id: &str,
        token_hash: &[u8],
        second_factor_pending: bool,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let user = SessionUser::Operator { user_id };
        self.create_session(user, token_hash, second_factor_pending, expires_at)
            .await
    }

    /// The operator session whose token hashes to `token_hash`, unless expired by `now`.
    pub async fn operator_session(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<OperatorSession>, StoreError> {
        let row: Option<(String, bool, i64)> = self
            .find_session(SessionArea::Operator, token_hash, now)
            .await?;
        Ok(row.map(|(user_id, pending, expires_at)| OperatorSession {
            user_id,
            second_factor_pending: pending,
            expires_at: Timestamp(expires_at),
        }))
    }

    /// Ends the operator session.
    pub async fn delete_operator_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.delete_session(SessionArea::Operator, token_hash).await
    }

    /// Moves the contract to another plan. A terminated contract refuses every change.
    pub async fn set_contract_plan(
        &self,
        id: &CustomerId,
        plan: &str,
    ) -> Result<Contract, StoreError> {
        let plan = plan.trim();
        if plan.is_empty() {
            return Err(StoreError::invalid("plan", "must not be empty"));
        }
        let _turn = self.write_turn().await;
        let row: Option<crate::contracts::ContractRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE contracts SET plan = $2 WHERE customer_id = $1 AND state <> $3 \
                 RETURNING customer_id, name, plan, state, created_at, last_used_at",
            )
            .bind(id.as_str())
            .bind(plan)
            .bind(ContractState::Terminated.as_str())
            .fetch_optional(pool)
            .await?
        });
        drop(_turn);
        match row {
            Some(row) => row.into_contract(),
            None => match self.contract(id).await? {
                Some(_) => Err(StoreError::ContractTerminated(id.clone())),
                None => Err(StoreError::ContractNotFound(id.clone())),
            },
        }
    }

    fn inquiry_from_row(&self, row: InquiryRow) -> Result<Inquiry, StoreError> {
        let content: InquiryContent =
            serde_json::from_str(&self.key.open_string(&row.content_sealed)?)
                .map_err(|e| corrupt("inquiries.content_sealed", e))?;
        Ok(Inquiry {
            id: row.inquiry_id,
            customer_id: row
                .customer_id
                .parse()
                .map_err(|e| corrupt("inquiries.customer_id", e))?,
            sent_by: row.sent_by,
            email: content.email,
            subject: content.subject,
            body: content.body,
            created_at: Timestamp(row.created_at),
            handled_at: row.handled_at.map(Timestamp),
        })
    }

    /// Records the contract's inquiry and, in the same transaction, its notice (kind
    /// `inquiry`) for the mailer to take to the operator.
    pub async fn create_inquiry(
        &self,
        customer_id: &CustomerId,
        sent_by: &str,
        email: Option<&str>,
        subject: &str,
        body: &str,
        at: Timestamp,
    ) -> Result<Inquiry, StoreError> {
        let content = serde_json::to_string(&InquiryContent {
            email: email.map(str::to_owned),
            subject: subject.to_owned(),
            body: body.to_owned(),
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let content_sealed = self.key.seal_str(&content);
        let _turn = self.write_turn().await;
        let result: Result<i64, sqlx::Error> = with_pool!(self, pool => {
            async {
                let mut tx = pool.begin().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO inquiries (customer_id, sent_by, content_sealed, created_at) \
                     VALUES ($1, $2, $3, $4) RETURNING inquiry_id",
                )
                .bind(customer_id.as_str())
                .bind(sent_by)
                .bind(content_sealed.as_slice())
                .bind(at.as_millis())
                .fetch_one(&mut *tx)
                .await?;
                let details = serde_json::json!({
                    "inquiry_id": id,
                    "from": email,
                    "sent_by": sent_by,
                    "subject": subject,
                    "body": body,
                });
                sqlx::query(
                    "INSERT INTO notices (customer_id, kind, notice_key, details_sealed, \
                     created_at, mail_available_at) VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(customer_id.as_str())
                .bind(NoticeKind::Inquiry.as_str())
                .bind(id.to_string())
                .bind(self.key.seal_str(&details.to_string()))
                .bind(at.as_millis())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(id)
            }
            .await
        });
        let id = match result {
            Ok(id) => id,
            Err(e) if is_foreign_key_violation(&e) => {
                return Err(StoreError::ContractNotFound(customer_id.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Inquiry {
            id,
            customer_id: customer_id.clone(),
            sent_by: sent_by.to_owned(),
            email: email.map(str::to_owned),
            subject: subject.to_owned(),
            body: body.to_owned(),
            created_at: at,
            handled_at: None,
        })
    }

    /// Up to `limit` inquiries of every contract, newest first.
    pub async fn inquiries(&self, limit: u32) -> Result<Vec<Inquiry>, StoreError> {
        let rows: Vec<InquiryRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {INQUIRY_COLUMNS} FROM inquiries ORDER BY inquiry_id DESC LIMIT $1"
            )))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| self.inquiry_from_row(row))
            .collect()
    }

    /// Marks the inquiry handled at `at` (or not handled, with `None`). Returns it, or `None`
    /// for an unknown ID.
    pub async fn set_inquiry_handled(
        &self,
        id: i64,
        at: Option<Timestamp>,
    ) -> Result<Option<Inquiry>, StoreError> {
        let _turn = self.write_turn().await;
        let row: Option<InquiryRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE inquiries SET handled_at = $2 WHERE inquiry_id = $1 \
                 RETURNING {INQUIRY_COLUMNS}"
            )))
            .bind(id)
            .bind(at.map(|t| t.as_millis()))
            .fetch_optional(pool)
            .await?
        });
        row.map(|row| self.inquiry_from_row(row)).transpose()
    }

    /// Records a maintenance notice and, in the same transaction, a notice (kind
    /// `maintenance`) for every contract that is not terminated and not one of the service's
    /// own, for the mailer to take to each one's admins. Returns it and how many contracts
    /// are to be told. Whether it is far enough ahead is the caller's rule.
    pub async fn create_maintenance(
        &self,
        new: &NewMaintenance<'_>,
        at: Timestamp,
    ) -> Result<(Maintenance, u64), StoreError> {
        if new.title.trim().is_empty() {
            return Err(StoreError::invalid("title", "must not be empty"));
        }
        if new.ends_at <= new.starts_at {
            return Err(StoreError::invalid("ends_at", "must be after starts_at"));
        }
        let _turn = self.write_turn().await;
        let (row, told): (MaintenanceRow, u64) = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row: MaintenanceRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "INSERT INTO maintenance_notices (title, body, starts_at, ends_at, emergency, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {MAINTENANCE_COLUMNS}"
            )))
            .bind(new.title.trim())
            .bind(new.body)
            .bind(new.starts_at.as_millis())
            .bind(new.ends_at.as_millis())
            .bind(new.emergency)
            .bind(at.as_millis())
            .fetch_one(&mut *tx)
            .await?;
            let details = serde_json::json!({
                "maintenance_id": row.maintenance_id,
                "title": row.title,
                "body": row.body,
                "starts_at": Timestamp(row.starts_at).to_string(),
                "ends_at": Timestamp(row.ends_at).to_string(),
                "emergency": row.emergency,
            });
            let told = sqlx::query(
                "INSERT INTO notices (customer_id, kind, notice_key, details_sealed, created_at, \
                 mail_available_at) SELECT customer_id, $1, $2, $3, $4, $4 FROM contracts \
                 WHERE state <> $5 AND customer_id NOT IN (SELECT customer_id FROM system_contracts)",
            )
            .bind(NoticeKind::Maintenance.as_str())
            .bind(row.maintenance_id.to_string())
            .bind(self.key.seal_str(&details.to_string()))
            .bind(at.as_millis())
            .bind(ContractState::Terminated.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            (row, told)
        });
        Ok((maintenance_from_row(row), told))
    }

    /// Maintenance notices newest first; with `ending_after`, only those that end after it
    /// (what is upcoming or under way).
    pub async fn maintenance_notices(
        &self,
        ending_after: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<Maintenance>, StoreError> {
        let rows: Vec<MaintenanceRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {MAINTENANCE_COLUMNS} FROM maintenance_notices WHERE ends_at > $1 \
                 ORDER BY starts_at DESC, maintenance_id DESC LIMIT $2"
            )))
            .bind(ending_after.map_or(i64::MIN, |t| t.as_millis()))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(maintenance_from_row).collect())
    }

    /// Records this node's heartbeat: its version, its listeners and its messages still to
    /// deliver (counted now).
    pub async fn node_heartbeat(
        &self,
        node: &str,
        version: &str,
        listeners: &[String],
        started_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let queue_size: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM messages WHERE node = $1 AND completed_at IS NULL",
            )
            .bind(node)
            .fetch_one(pool)
            .await?
        });
        let listeners =
            serde_json::to_string(listeners).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO nodes (node, version, listeners, queue_size, started_at, last_seen) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node) DO UPDATE SET \
                 version = excluded.version, listeners = excluded.listeners, \
                 queue_size = excluded.queue_size, started_at = excluded.started_at, \
                 last_seen = excluded.last_seen, stopped_at = NULL",
            )
            .bind(node)
            .bind(version)
            .bind(listeners)
            .bind(queue_size)
            .bind(started_at.as_millis())
            .bind(now.as_millis())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Marks this node as stopped (a clean shutdown has begun): it is no longer healthy, so the
    /// DNS responder stops naming it at once rather than three heartbeats later.
    pub async fn node_stopped(&self, node: &str, now: Timestamp) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query("UPDATE nodes SET stopped_at = $2 WHERE node = $1")
                .bind(node)
                .bind(now.as_millis())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records this node's heartbeat at once and then every `period` ([`NODE_HEARTBEAT`] on a
    /// serving node) until `stop` ends, for the operator's list of nodes, and then marks the
    /// node stopped ([`Store::node_stopped`]). Never fails: a beat the database refuses is
    /// logged, and the next one tries again.
    pub async fn run_node_heartbeat(
        &self,
        node: &str,
        version: &str,
        listeners: &[String],
        period: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let started = Timestamp::now();
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = &mut stop => {
                    if let Err(error) = self.node_stopped(node, Timestamp::now()).await {
                        tracing::warn!(%error, "the node's stop was not recorded");
                    }
                    return;
                }
                _ = tick.tick() => {}
            }
            let beat = self.node_heartbeat(node, version, listeners, started, Timestamp::now());
            if let Err(error) = beat.await {
                tracing::warn!(%error, "the node's heartbeat was not recorded");
            }
        }
    }

    /// Every node that has sent a heartbeat, by name.
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, StoreError> {
        let rows: Vec<NodeRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT node, version, listeners, queue_size, started_at, last_seen, stopped_at \
                 FROM nodes ORDER BY node",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(NodeStatus {
                    listeners: serde_json::from_str(&row.listeners)
                        .map_err(|e| corrupt("nodes.listeners", e))?,
                    node: row.node,
                    version: row.version,
                    queue_size: u64::try_from(row.queue_size).unwrap_or(0),
                    started_at: Timestamp(row.started_at),
                    last_seen: Timestamp(row.last_seen),
                    stopped_at: row.stopped_at.map(Timestamp),
                })
            })
            .collect()
    }
}
