//! Contract end: a terminated contract's data is deleted once its grace period is over — every
//! row of it in every table (its mail, send log, lists, users, keys, secrets, usage), leaving a
//! tombstone with its ID, name and the time of deletion, so that the ID is never given again
//! and the operator can tell what became of it.
//!
//! Its mail still in the queue is withdrawn first, as `queue delete` does: the recipients end
//! as `deleted` and the delivery engine of the message's node is told to drop it from its
//! schedule and remove its spool file. The rows go only once every engine has taken those
//! commands, so no engine ever sends, or keeps a file of, a contract that no longer exists.

use crate::retention::batch_delete_sql;
use crate::{Backend, Store, StoreError};
use hikyaku_model::{ContractState, CustomerId, MessageId, Timestamp};

/// What is left of a contract whose data was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedContract {
    pub customer_id: CustomerId,
    pub name: String,
    pub deleted_at: Timestamp,
}

/// Where the deletion of one contract stands after [`Store::delete_contract_data`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractDeletion {
    /// Its queued mail is withdrawn, but the delivery engines of these nodes have yet to drop
    /// it (they do within about a second when running): the rows stay until they have. With
    /// no node named, a message was accepted while the rows went: it is withdrawn next time.
    WaitingForNodes {
        /// Messages withdrawn by this call.
        withdrawn: u64,
        nodes: Vec<String>,
    },
    /// Deleted: this many rows, the tombstone written.
    Deleted { rows: u64 },
}

/// Rows of the contract's that hang off a message of it, by message.
const OF_ITS_MESSAGES: &str =
    "message_id IN (SELECT message_id FROM messages WHERE customer_id = $1)";

/// The contract's tables deleted first, in this order: large ones in batches before the rows
/// they hang off (so that no cascade deletes thousands of rows in one transaction), and key
/// material explicitly. Every other table with a `customer_id` column follows, found in the
/// schema, so that a table added later is never forgotten.
const FIRST: &[(&str, &str)] = &[
    ("events", "customer_id = $1"),
    ("message_tags", "customer_id = $1"),
    ("queue_commands", OF_ITS_MESSAGES),
    ("message_recipients", OF_ITS_MESSAGES),
    ("messages", "customer_id = $1"),
    ("webhook_outbox", "customer_id = $1"),
    ("inbound_attempts", "customer_id = $1"),
    ("inbound_posts", "customer_id = $1"),
    (
        "dkim_keys",
        "domain_id IN (SELECT domain_id FROM sender_domains WHERE customer_id = $1)",
    ),
];

/// Tables that keep the contract's ID by design.
const NOT_ITS_DATA: &[&str] = &["contracts", "deleted_contracts"];

/// Rows per transaction when a contract's data is deleted.
const DELETION_BATCH: u32 = 1000;

impl Store {
    /// When the contract was terminated (`None`: it is not).
    pub async fn terminated_at(&self, id: &CustomerId) -> Result<Option<Timestamp>, StoreError> {
        let at: Option<Option<i64>> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT terminated_at FROM contracts WHERE customer_id = $1 AND state = $2",
            )
            .bind(id.as_str())
            .bind(ContractState::Terminated.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(at.flatten().map(Timestamp))
    }

    /// The tombstone of a contract whose data was deleted.
    pub async fn deleted_contract(
        &self,
        id: &CustomerId,
    ) -> Result<Option<DeletedContract>, StoreError> {
        let row: Option<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT name, deleted_at FROM deleted_contracts WHERE customer_id = $1")
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(name, deleted_at)| DeletedContract {
            customer_id: id.clone(),
            name,
            deleted_at: Timestamp(deleted_at),
        }))
    }

    /// The terminated contracts whose data is due for deletion at `now`: terminated at least
    /// `grace` before it.
    pub async fn contracts_due_for_deletion(
        &self,
        now: Timestamp,
        grace: std::time::Duration,
    ) -> Result<Vec<CustomerId>, StoreError> {
        let grace = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let ids: Vec<String> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT customer_id FROM contracts WHERE state = $1 \
                 AND (terminated_at IS NULL OR terminated_at <= $2) ORDER BY customer_id",
            )
            .bind(ContractState::Terminated.as_str())
            .bind(now.as_millis().saturating_sub(grace))
            .fetch_all(pool)
            .await?
        });
        ids.iter()
            .map(|id| {
                id.parse()
                    .map_err(|e| crate::queue::corrupt("contracts.customer_id", e))
            })
            .collect()
    }

    /// Withdraws the terminated contract's queued mail and, once every delivery engine has
    /// dropped it, deletes every row of the contract and leaves its tombstone (deleted at
    /// `now`). Call again while it answers [`ContractDeletion::WaitingForNodes`]. Fails for a
    /// contract that is not terminated.
    pub async fn delete_contract_data(
        &self,
        id: &CustomerId,
        now: Timestamp,
    ) -> Result<ContractDeletion, StoreError> {
        let contract = self.require_contract(id).await?;
        if contract.state != ContractState::Terminated {
            return Err(StoreError::invalid(
                "contract deletion",
                format!("{id} is {}, not terminated", contract.state),
            ));
        }
        let withdrawn = self.withdraw_queued_mail(id, now).await?;
        let nodes: Vec<String> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT DISTINCT q.node FROM queue_commands q JOIN messages m \
                 ON m.message_id = q.message_id WHERE m.customer_id = $1 ORDER BY q.node",
            )
            .bind(id.as_str())
            .fetch_all(pool)
            .await?
        });
        if !nodes.is_empty() {
            return Ok(ContractDeletion::WaitingForNodes { withdrawn, nodes });
        }

        let mut tables: Vec<(String, &str)> = FIRST
            .iter()
            .map(|(table, condition)| (table.to_string(), *condition))
            .collect();
        for table in self.tables_with_customer_id().await? {
            if !NOT_ITS_DATA.contains(&table.as_str()) && !tables.iter().any(|(t, _)| *t == table) {
                tables.push((table, "customer_id = $1"));
            }
        }
        let mut rows = 0;
        for (table, condition) in &tables {
            rows += self.delete_contract_rows(table, condition, id).await?;
        }
        let _turn = self.write_turn().await;
        let ended = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // A message accepted while the rows went (its acceptance checked the state just
            // before the termination) holds the deletion back until it is withdrawn too.
            let removed = sqlx::query(
                "DELETE FROM contracts WHERE customer_id = $1 AND state = $2 \
                 AND NOT EXISTS (SELECT 1 FROM messages WHERE customer_id = $1)",
            )
            .bind(id.as_str())
            .bind(ContractState::Terminated.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if removed == 1 {
                sqlx::query(
                    "INSERT INTO deleted_contracts (customer_id, name, deleted_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(id.as_str())
                .bind(&contract.name)
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            removed
        });
        drop(_turn);
        if ended == 0 && self.contract(id).await?.is_some() {
            return Ok(ContractDeletion::WaitingForNodes {
                withdrawn: 0,
                nodes: Vec::new(),
            });
        }
        self.forget_deleted_pages().await;
        Ok(ContractDeletion::Deleted { rows: rows + ended })
    }

    /// Ends the contract's queued and deferred recipients as `deleted` and tells their nodes'
    /// engines, message by message (each one short transaction). Returns how many messages.
    async fn withdraw_queued_mail(
        &self,
        id: &CustomerId,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let pending: Vec<String> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT message_id FROM messages WHERE customer_id = $1 AND completed_at IS NULL \
                 ORDER BY message_id",
            )
            .bind(id.as_str())
            .fetch_all(pool)
            .await?
        });
        let mut withdrawn = 0;
        for message in pending {
            let message: MessageId = message
                .parse()
                .map_err(|e| crate::queue::corrupt("messages.message_id", e))?;
            match self.delete_message(message, now).await {
                Ok(_) => withdrawn += 1,
                // Finished meanwhile: nothing left to withdraw.
                Err(StoreError::NothingPending(_) | StoreError::MessageNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(withdrawn)
    }

    /// The tables of the schema that have a `customer_id` column.
    async fn tables_with_customer_id(&self) -> Result<Vec<String>, StoreError> {
        let tables: Vec<String> = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
                     WHERE m.type = 'table' AND c.name = 'customer_id' ORDER BY m.name",
                )
                .fetch_all(pool)
                .await?
            }
            Backend::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT c.table_name::text FROM information_schema.columns c \
                     JOIN information_schema.tables t ON t.table_schema = c.table_schema \
                     AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' \
                     WHERE c.table_schema = current_schema() AND c.column_name = 'customer_id' \
                     ORDER BY 1",
                )
                .fetch_all(pool)
                .await?
            }
        };
        Ok(tables)
    }

    /// Deletes the contract's rows of one table, a batch per transaction. On SQLite the freed
    /// space is overwritten (`secure_delete`), so the deleted data is not left in the file's
    /// free pages.
    async fn delete_contract_rows(
        &self,
        table: &str,
        condition: &str,
        id: &CustomerId,
    ) -> Result<u64, StoreError> {
        let sql = batch_delete_sql(self, table, condition, DELETION_BATCH);
        let mut total = 0;
        loop {
            let _turn = self.write_turn().await;
            let deleted = match &self.backend {
                Backend::Sqlite(pool) => {
                    let mut conn = pool.acquire().await?;
                    sqlx::raw_sql("PRAGMA secure_delete = ON")
                        .execute(&mut *conn)
                        .await?;
                    let deleted = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(id.as_str())
                        .execute(&mut *conn)
                        .await;
                    sqlx::raw_sql("PRAGMA secure_delete = FAST")
                        .execute(&mut *conn)
                        .await?;
                    deleted?.rows_affected()
                }
                Backend::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id.as_str())
                    .execute(pool)
                    .await?
                    .rows_affected(),
            };
            total += deleted;
            if deleted < u64::from(DELETION_BATCH) {
                return Ok(total);
            }
        }
    }

    /// On SQLite, moves the write-ahead log into the database file and empties it, so that
    /// the deleted rows' old page images do not linger there. Best effort: a reader that holds
    /// the log open makes it a partial checkpoint, and the log is reused soon anyway.
    async fn forget_deleted_pages(&self) {
        if let Backend::Sqlite(pool) = &self.backend {
            let _turn = self.write_turn().await;
            if let Err(e) = sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await
            {
                tracing::debug!(error = %e, "checkpoint after a contract's deletion failed");
            }
        }
    }
}
