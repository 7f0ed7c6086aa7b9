//! Key rotation: a new address-sealing key, every sealed value re-sealed under it in the
//! background, and the old key destroyed once nothing needs it.
//!
//! 1. [`Store::start_key_rotation`] adds a random data key to `sealing_keys` (wrapped under the
//!    key file), active only from `activation_delay` later: every node reloads its keyring at
//!    least that often ([`Store::refresh_keyring`]), so every node opens values sealed under the
//!    new key before any node seals with it.
//! 2. Once the key is active, [`Store::reseal_step`] walks every table of [`SEALED_TABLES`] in
//!    primary-key order, a bounded batch per short transaction, re-sealing the values not under
//!    the new key. Each update is conditional on the value it read, so a row changed meanwhile
//!    (by the delivery engine, say) is never overwritten with its old content. The cursor is
//!    saved with every batch: a killed node's successor goes on where it stopped. One node at a
//!    time walks, by a lease renewed in every batch's transaction.
//! 3. A pass that found nothing left to re-seal ends the walk (at the earliest the second pass:
//!    the first may have raced writes that began before the key's activation). The old keys are
//!    then retired in one transaction: their material is deleted, and key 0 (the key file's)
//!    is marked so that values without a header stop opening.
//!
//! Reads work throughout: the keyring opens values under the old and the new key alike.

use crate::keyring::{self, KeyRow, new_data_key};
use crate::{Store, StoreError};
use hikyaku_model::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::time::Duration;

/// The type of a key column, to read a cursor back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Int,
    Text,
    Bytes,
}

/// A table with sealed columns, walked by its primary (or unique) key.
#[derive(Debug, Clone, Copy)]
pub struct SealedTable {
    pub table: &'static str,
    pub(crate) key: &'static [(&'static str, KeyKind)],
    /// Every column of the table that holds a sealed value.
    pub columns: &'static [&'static str],
}

const fn sealed(
    table: &'static str,
    key: &'static [(&'static str, KeyKind)],
    columns: &'static [&'static str],
) -> SealedTable {
    SealedTable {
        table,
        key,
        columns,
    }
}

use KeyKind::{Bytes, Int, Text};

/// Every column that holds a sealed value, by table: what a rotation re-seals. A new sealed
/// column is one entry here (a test compares this list with the schema's `*_sealed` columns).
pub const SEALED_TABLES: &[SealedTable] = &[
    sealed(
        "messages",
        &[("message_id", Text)],
        &["mail_from_sealed", "metadata_sealed", "subject_sealed"],
    ),
    sealed(
        "message_recipients",
        &[("message_id", Text), ("recipient_index", Int)],
        &["address_sealed", "last_reply_sealed"],
    ),
    sealed(
        "events",
        &[("event_id", Int)],
        &["mail_from_sealed", "recipient_sealed", "details_sealed"],
    ),
    sealed(
        "suppressions",
        &[("customer_id", Text), ("address_hash", Bytes)],
        &["address_sealed", "reason_sealed"],
    ),
    sealed(
        "inbound_routes",
        &[("route_id", Int)],
        &["pattern_sealed", "signing_secret_sealed", "api_key_sealed"],
    ),
    sealed(
        "inbound_posts",
        &[("post_id", Int)],
        &["mail_from_sealed", "recipient_sealed", "message_sealed"],
    ),
    sealed("console_users", &[("user_id", Text)], &["email_sealed"]),
    sealed(
        "console_user_settings",
        &[("user_id", Text)],
        &["totp_sealed"],
    ),
    sealed(
        "webhook_endpoints",
        &[("endpoint_id", Int)],
        &["secret_sealed", "previous_secret_sealed", "api_key_sealed"],
    ),
    sealed(
        "webhook_attempts",
        &[("attempt_id", Int)],
        &["answer_sealed"],
    ),
    sealed(
        "idempotency_keys",
        &[("customer_id", Text), ("key_hash", Bytes)],
        &["response_sealed"],
    ),
    sealed(
        "smime_certificates",
        &[("certificate_id", Int)],
        &[
            "subject_sealed",
            "chain_sealed",
            "key_sealed",
            "addresses_sealed",
        ],
    ),
    sealed("dkim_keys", &[("key_id", Int)], &["key_sealed"]),
    sealed("notices", &[("notice_id", Int)], &["details_sealed"]),
    sealed("inquiries", &[("inquiry_id", Int)], &["content_sealed"]),
    sealed("operator_users", &[("user_id", Text)], &["totp_sealed"]),
    sealed(
        "suppression_imports",
        &[("import_id", Int)],
        &["upload_sealed"],
    ),
    sealed(
        "suppression_import_errors",
        &[("import_id", Int), ("line", Int)],
        &["value_sealed"],
    ),
];

/// One value of a row's key, as a cursor keeps it (JSON in `key_rotation_tables`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum KeyValue {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// How the re-sealing job paces itself and who it is.
#[derive(Debug, Clone)]
pub struct RotationSettings {
    /// This process, as the lease names it (unique among the nodes sharing the database).
    pub owner: String,
    /// Rows read per batch (one transaction writes at most this many rows' values).
    pub batch_size: u32,
    /// The pause after each batch, in which other writers get their turn.
    pub batch_pause: Duration,
    /// How long the walk stays this node's without a batch; renewed by each batch. Another
    /// node takes over after a crash once it has run out.
    pub lease: Duration,
    /// How often [`Store::run_key_rotation`] reloads the keyring and looks for a rotation.
    pub refresh_interval: Duration,
}

/// What one call of [`Store::reseal_step`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationStep {
    /// No rotation is running.
    Idle,
    /// The new key seals from `until` on; the walk starts then.
    Waiting { until: Timestamp },
    /// Another process holds the walk's lease.
    Busy { owner: String, until: Timestamp },
    /// One batch of `table` in pass `pass`: `resealed` values re-sealed.
    Batch {
        table: &'static str,
        pass: u32,
        resealed: u64,
    },
    /// Pass `pass` reached the end of every table and re-sealed something: another follows.
    PassDone { pass: u32 },
    /// The rotation is over: `key` seals everything, `retired` are destroyed.
    Finished { key: u32, retired: Vec<u32> },
}

/// A rotation just started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedRotation {
    pub key: u32,
    pub active_from: Timestamp,
}

/// What a key is for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Made by a rotation, not yet sealing: nodes are loading it.
    Pending,
    /// The key new values are sealed under.
    Active,
    /// Replaced, but values sealed under it may remain: it still opens them.
    Previous,
    /// Destroyed (key 0: no longer used).
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Previous => "previous",
            KeyState::Retired => "retired",
        }
    }
}

#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// 0 is the key derived from the key file.
    pub id: u32,
    pub created_at: Option<Timestamp>,
    pub active_from: Timestamp,
    pub retired_at: Option<Timestamp>,
    pub state: KeyState,
}

#[derive(Debug, Clone)]
pub struct TableProgress {
    pub table: &'static str,
    /// The last pass that reached the table's end.
    pub finished_pass: u32,
    /// Values re-sealed in this table during the rotation.
    pub resealed: u64,
    /// Values of the table not under the rotation's key, when counted (a scan of the table).
    pub left: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct RotationStatus {
    pub key: u32,
    pub pass: u32,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub resealed: u64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub tables: Vec<TableProgress>,
}

#[derive(Debug, Clone)]
pub struct KeyStatus {
    pub keys: Vec<KeyInfo>,
    /// The last rotation, running or finished; `None` before the first.
    pub rotation: Option<RotationStatus>,
}

/// The `key_rotation` row.
struct RotationRow {
    target: Option<u32>,
    pass: u32,
    pass_resealed: i64,
    resealed: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
}

/// A `key_rotation_tables` row.
struct TableRow {
    table: String,
    pass: u32,
    cursor: Option<String>,
    finished_pass: u32,
    resealed: i64,
}

/// A row of a batch: its key and its sealed columns (in [`SealedTable::columns`] order).
struct BatchRow {
    key: Vec<KeyValue>,
    values: Vec<Option<Vec<u8>>>,
}

/// One value to re-seal: the row, the column, what was read and what replaces it.
struct Reseal {
    row: usize,
    column: &'static str,
    old: Vec<u8>,
    new: Vec<u8>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn id_of(raw: i64) -> Result<u32, StoreError> {
    u32::try_from(raw).map_err(|_| StoreError::Corrupt(format!("sealing key ID {raw}")))
}

/// The SQL condition "some sealed column of `t` is not under the key whose header is `$1`".
fn needs_reseal(t: &SealedTable) -> String {
    t.columns
        .iter()
        .map(|c| format!("({c} IS NOT NULL AND substr({c}, 1, 8) <> $1)"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

fn key_list(t: &SealedTable) -> String {
    t.key.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
}

/// The next batch of `t` after the cursor (parameters `$2…`), or from the start.
fn batch_sql(t: &SealedTable, after_cursor: bool, batch: u32) -> String {
    let keys = key_list(t);
    let mut sql = format!(
        "SELECT {keys}, {} FROM {} WHERE ({})",
        t.columns.join(", "),
        t.table,
        needs_reseal(t)
    );
    if after_cursor {
        let params: Vec<String> = (0..t.key.len()).map(|i| format!("${}", i + 2)).collect();
        sql += &format!(" AND ({keys}) > ({})", params.join(", "));
    }
    sql += &format!(" ORDER BY {keys} LIMIT {batch}");
    sql
}

/// The conditional update of one value: `$1` the new value, `$2` the old, `$3…` the row's key.
fn update_sql(t: &SealedTable, column: &str) -> String {
    let row = t
        .key
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ${}", i + 3))
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "UPDATE {} SET {column} = $1 WHERE {column} = $2 AND {row}",
        t.table
    )
}

macro_rules! bind_key {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match value {
                KeyValue::Int(i) => query.bind(*i),
                KeyValue::Text(s) => query.bind(s.clone()),
                KeyValue::Bytes(b) => query.bind(b.clone()),
            };
        }
        query
    }};
}

/// `UPDATE key_rotation` renewing the lease, as the first statement of every transaction of
/// the walk: when it changes no row, another node took the walk over and this one stops.
const RENEW_LEASE: &str = "UPDATE key_rotation SET lease_until = $1 \
     WHERE singleton = 1 AND lease_owner = $2 AND target_key = $3 AND finished_at IS NULL";

/// Renews the lease as the first statement of transaction `$tx`; false when it is lost.
macro_rules! renew_lease {
    ($tx:expr, $until:expr, $settings:expr, $target:expr) => {
        sqlx::query(RENEW_LEASE)
            .bind($until)
            .bind(&$settings.owner)
            .bind(i64::from($target))
            .execute(&mut *$tx)
            .await?
            .rows_affected()
            == 1
    };
}

impl Store {
    /// Reads `sealing_keys` into this store's keyring (shared by all its clones). A running
    /// node calls it every `[keys] refresh_interval`; a new store reads it on connecting.
    pub async fn refresh_keyring(&self) -> Result<(), StoreError> {
        type Raw = (i64, Option<Vec<u8>>, i64, Option<i64>);
        let rows: Vec<Raw> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT key_id, wrapped_key, active_from, retired_at FROM sealing_keys \
                 ORDER BY key_id",
            )
            .fetch_all(pool)
            .await?
        });
        let rows = rows
            .into_iter()
            .map(|(id, wrapped, active_from, retired_at)| {
                Ok(KeyRow {
                    id: id_of(id)?,
                    wrapped,
                    active_from,
                    retired: retired_at.is_some(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.key.load(&rows);
        Ok(())
    }

    pub(crate) async fn with_keyring(self) -> Result<Store, StoreError> {
        self.refresh_keyring().await?;
        Ok(self)
    }

    /// The key this store seals new values under now (0: the key file's).
    pub fn active_sealing_key(&self) -> u32 {
        self.key.active_key(Timestamp::now())
    }

    /// Starts a rotation: a new random key, sealing from `activation_delay` after now, which
    /// must be longer than the interval at which every node reloads its keyring. Fails while
    /// another rotation is running.
    pub async fn start_key_rotation(
        &self,
        activation_delay: Duration,
    ) -> Result<StartedRotation, StoreError> {
        let now = Timestamp::now();
        let active_from = now.saturating_add(activation_delay);
        let data_key = new_data_key();
        let started = {
            let _turn = self.write_turn().await;
            with_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                // The claim comes first: of two concurrent starts, one finds the row taken.
                let claimed = sqlx::query(
                    "UPDATE key_rotation SET started_at = $1, finished_at = NULL \
                     WHERE singleton = 1 AND (target_key IS NULL OR finished_at IS NOT NULL)",
                )
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if claimed == 0 {
                    let running: Option<i64> = sqlx::query_scalar(
                        "SELECT target_key FROM key_rotation WHERE singleton = 1",
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    return Err(StoreError::invalid(
                        "key rotation",
                        format!(
                            "the rotation to key {} is still running; wait for it to finish \
                             (hikyaku keys status)",
                            running.unwrap_or_default()
                        ),
                    ));
                }
                let last: i64 = sqlx::query_scalar("SELECT MAX(key_id) FROM sealing_keys")
                    .fetch_one(&mut *tx)
                    .await?;
                let id = id_of(last + 1)?;
                sqlx::query(
                    "INSERT INTO sealing_keys (key_id, wrapped_key, created_at, active_from) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(i64::from(id))
                .bind(self.key.master().wrap_data_key(id, &data_key))
                .bind(now.as_millis())
                .bind(active_from.as_millis())
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE key_rotation SET target_key = $1, pass = 1, pass_resealed = 0, \
                     resealed = 0, lease_owner = NULL, lease_until = NULL WHERE singleton = 1",
                )
                .bind(i64::from(id))
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM key_rotation_tables")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                StartedRotation {
                    key: id,
                    active_from,
                }
            })
        };
        self.refresh_keyring().await?;
        Ok(started)
    }

    async fn rotation_row(&self) -> Result<RotationRow, StoreError> {
        type Raw = (
            Option<i64>,
            i64,
            i64,
            i64,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<i64>,
        );
        let raw: Raw = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT target_key, pass, pass_resealed, resealed, started_at, finished_at, \
                 lease_owner, lease_until FROM key_rotation WHERE singleton = 1",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(RotationRow {
            target: raw.0.map(id_of).transpose()?,
            pass: u32::try_from(raw.1).unwrap_or(0),
            pass_resealed: raw.2,
            resealed: raw.3,
            started_at: raw.4,
            finished_at: raw.5,
            lease_owner: raw.6,
            lease_until: raw.7,
        })
    }

    async fn table_rows(&self) -> Result<Vec<TableRow>, StoreError> {
        let raw: Vec<(String, i64, Option<String>, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT table_name, pass, cursor, finished_pass, resealed \
                 FROM key_rotation_tables",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(raw
            .into_iter()
            .map(|(table, pass, cursor, finished_pass, resealed)| TableRow {
                table,
                pass: u32::try_from(pass).unwrap_or(0),
                cursor,
                finished_pass: u32::try_from(finished_pass).unwrap_or(0),
                resealed,
            })
            .collect())
    }

    /// One step of the running rotation, if any: one batch of re-sealing, the end of a pass,
    /// or the retirement of the old keys. Call it again (after `batch_pause`) until it returns
    /// [`RotationStep::Idle`] or [`RotationStep::Finished`]; [`Store::run_key_rotation`] does.
    /// Several processes may call it: one at a time holds the lease, the others are told
    /// [`RotationStep::Busy`].
    pub async fn reseal_step(
        &self,
        settings: &RotationSettings,
    ) -> Result<RotationStep, StoreError> {
        let now = Timestamp::now();
        let rotation = self.rotation_row().await?;
        let Some(target) = rotation.target.filter(|_| rotation.finished_at.is_none()) else {
            return Ok(RotationStep::Idle);
        };
        let active_from: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT active_from FROM sealing_keys WHERE key_id = $1")
                .bind(i64::from(target))
                .fetch_one(pool)
                .await?
        });
        if now.as_millis() < active_from {
            return Ok(RotationStep::Waiting {
                until: Timestamp(active_from),
            });
        }
        if !self.key.has(target) {
            self.refresh_keyring().await?;
            if !self.key.has(target) {
                return Err(StoreError::Corrupt(format!(
                    "the new sealing key {target} does not open with this node's key file"
                )));
            }
        }

        let lease_until = now.as_millis().saturating_add(ms(settings.lease));
        let taken = {
            let _turn = self.write_turn().await;
            with_pool!(self, pool => {
                sqlx::query(
                    "UPDATE key_rotation SET lease_owner = $1, lease_until = $2 \
                     WHERE singleton = 1 AND target_key = $3 AND finished_at IS NULL \
                     AND (lease_owner = $1 OR lease_owner IS NULL OR lease_until < $4)",
                )
                .bind(&settings.owner)
                .bind(lease_until)
                .bind(i64::from(target))
                .bind(now.as_millis())
                .execute(pool)
                .await?
                .rows_affected()
            })
        };
        if taken == 0 {
            let rotation = self.rotation_row().await?;
            return Ok(match rotation.finished_at {
                Some(_) => RotationStep::Idle,
                None => RotationStep::Busy {
                    owner: rotation.lease_owner.unwrap_or_default(),
                    until: Timestamp(rotation.lease_until.unwrap_or_default()),
                },
            });
        }

        let tables = self.table_rows().await?;
        let pass = rotation.pass.max(1);
        let next = SEALED_TABLES.iter().find_map(|t| {
            let row = tables.iter().find(|r| r.table == t.table);
            match row {
                Some(r) if r.finished_pass >= pass => None,
                Some(r) if r.pass == pass => Some((t, r.cursor.clone(), r.finished_pass)),
                Some(r) => Some((t, None, r.finished_pass)),
                None => Some((t, None, 0)),
            }
        });
        match next {
            Some((table, cursor, finished_pass)) => {
                let cursor = match cursor {
                    Some(text) => {
                        Some(serde_json::from_str::<Vec<KeyValue>>(&text).map_err(|e| {
                            StoreError::Corrupt(format!("key rotation cursor {text:?}: {e}"))
                        })?)
                    }
                    None => None,
                };
                self.reseal_batch(
                    settings,
                    target,
                    pass,
                    table,
                    cursor,
                    finished_pass,
                    lease_until,
                )
                .await
            }
            None if pass >= 2 && rotation.pass_resealed == 0 => {
                self.retire_old_keys(settings, target, lease_until).await
            }
            None => {
                let _turn = self.write_turn().await;
                with_pool!(self, pool => {
                    let mut tx = pool.begin().await?;
                    if !renew_lease!(tx, lease_until, settings, target) {
                        return Ok(RotationStep::Busy {
                            owner: String::new(),
                            until: Timestamp(0),
                        });
                    }
                    sqlx::query(
                        "UPDATE key_rotation SET pass = $1, pass_resealed = 0 WHERE singleton = 1",
                    )
                    .bind(i64::from(pass + 1))
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                });
                tracing::info!(
                    key = target,
                    pass,
                    resealed = rotation.pass_resealed,
                    "key rotation: pass done, checking every table once more"
                );
                Ok(RotationStep::PassDone { pass })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn reseal_batch(
        &self,
        settings: &RotationSettings,
        target: u32,
        pass: u32,
        table: &'static SealedTable,
        cursor: Option<Vec<KeyValue>>,
        finished_pass: u32,
        lease_until: i64,
    ) -> Result<RotationStep, StoreError> {
        let header = keyring::header(target);
        let batch = settings.batch_size.max(1);
        let sql = batch_sql(table, cursor.is_some(), batch);
        let rows: Vec<BatchRow> = with_pool!(self, pool => {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(header.to_vec());
            let query = match &cursor {
                Some(values) => bind_key!(query, values),
                None => query,
            };
            let fetched = query.fetch_all(pool).await?;
            let nk = table.key.len();
            let mut rows = Vec::with_capacity(fetched.len());
            for row in &fetched {
                let mut key = Vec::with_capacity(nk);
                for (i, (_, kind)) in table.key.iter().enumerate() {
                    key.push(match kind {
                        KeyKind::Int => KeyValue::Int(row.try_get::<i64, _>(i)?),
                        KeyKind::Text => KeyValue::Text(row.try_get::<String, _>(i)?),
                        KeyKind::Bytes => KeyValue::Bytes(row.try_get::<Vec<u8>, _>(i)?),
                    });
                }
                let mut values = Vec::with_capacity(table.columns.len());
                for j in 0..table.columns.len() {
                    values.push(row.try_get::<Option<Vec<u8>>, _>(nk + j)?);
                }
                rows.push(BatchRow { key, values });
            }
            rows
        });

        let mut reseals = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            for (column, value) in table.columns.iter().zip(&row.values) {
                let Some(old) = value else { continue };
                if old.starts_with(&header) {
                    continue;
                }
                // A value that opens with no key is not re-sealed, and the walk stops here:
                // no key is destroyed while a value may still need it.
                let plain = self.key.open(old).map_err(|_| {
                    StoreError::Corrupt(format!(
                        "key rotation: {}.{column} of the row {:?} opens with no key \
                         (damaged?); the rotation cannot go on past it",
                        table.table, row.key
                    ))
                })?;
                let new = self.key.seal_under(target, &plain).ok_or_else(|| {
                    StoreError::Corrupt(format!("the new sealing key {target} is not loaded"))
                })?;
                reseals.push(Reseal {
                    row: r,
                    column,
                    old: old.clone(),
                    new,
                });
            }
        }

        let reached_end = rows.len() < batch as usize;
        let new_cursor = match (reached_end, rows.last()) {
            (false, Some(last)) => Some(
                serde_json::to_string(&last.key)
                    .map_err(|e| StoreError::Corrupt(format!("key rotation cursor: {e}")))?,
            ),
            _ => None,
        };
        let finished_pass = if reached_end { pass } else { finished_pass };
        let attempted = reseals.len() as i64;
        let mut resealed = 0u64;
        {
            let _turn = self.write_turn().await;
            with_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                if !renew_lease!(tx, lease_until, settings, target) {
                    return Ok(RotationStep::Busy {
                        owner: String::new(),
                        until: Timestamp(0),
                    });
                }
                for reseal in &reseals {
                    let sql = update_sql(table, reseal.column);
                    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(reseal.new.clone())
                        .bind(reseal.old.clone());
                    let query = bind_key!(query, &rows[reseal.row].key);
                    resealed += query.execute(&mut *tx).await?.rows_affected();
                }
                sqlx::query(
                    "INSERT INTO key_rotation_tables \
                     (table_name, pass, cursor, finished_pass, resealed) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (table_name) DO UPDATE SET pass = excluded.pass, \
                     cursor = excluded.cursor, finished_pass = excluded.finished_pass, \
                     resealed = key_rotation_tables.resealed + excluded.resealed",
                )
                .bind(table.table)
                .bind(i64::from(pass))
                .bind(new_cursor.as_deref())
                .bind(i64::from(finished_pass))
                .bind(resealed as i64)
                .execute(&mut *tx)
                .await?;
                // A value changed under the walk's feet counts as found: the pass is not clean
                // and another follows, which sees what the other writer left.
                sqlx::query(
                    "UPDATE key_rotation SET resealed = resealed + $1, \
                     pass_resealed = pass_resealed + $2 WHERE singleton = 1",
                )
                .bind(resealed as i64)
                .bind(attempted)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            });
        }
        tracing::debug!(
            table = table.table,
            pass,
            resealed,
            end = reached_end,
            "key rotation: batch"
        );
        Ok(RotationStep::Batch {
            table: table.table,
            pass,
            resealed,
        })
    }

    /// Deletes the material of every key but `target` and marks them retired, ending the
    /// rotation, in one transaction.
    async fn retire_old_keys(
        &self,
        settings: &RotationSettings,
        target: u32,
        lease_until: i64,
    ) -> Result<RotationStep, StoreError> {
        let now = Timestamp::now().as_millis();
        let retired: Vec<i64> = {
            let _turn = self.write_turn().await;
            with_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                if !renew_lease!(tx, lease_until, settings, target) {
                    return Ok(RotationStep::Busy {
                        owner: String::new(),
                        until: Timestamp(0),
                    });
                }
                let retired: Vec<i64> = sqlx::query_scalar(
                    "SELECT key_id FROM sealing_keys WHERE key_id <> $1 AND retired_at IS NULL \
                     ORDER BY key_id",
                )
                .bind(i64::from(target))
                .fetch_all(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE sealing_keys SET wrapped_key = NULL, retired_at = $1 \
                     WHERE key_id <> $2 AND retired_at IS NULL",
                )
                .bind(now)
                .bind(i64::from(target))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE key_rotation SET finished_at = $1, lease_owner = NULL, \
                     lease_until = NULL WHERE singleton = 1",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE key_rotation_tables SET cursor = NULL")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                retired
            })
        };
        self.refresh_keyring().await?;
        let retired = retired
            .into_iter()
            .map(id_of)
            .collect::<Result<Vec<_>, _>>()?;
        tracing::info!(
            key = target,
            ?retired,
            "key rotation finished: old keys destroyed"
        );
        Ok(RotationStep::Finished {
            key: target,
            retired,
        })
    }

    /// The keys and the last rotation's progress. With `count_left`, each table's values not
    /// yet under the rotation's key are counted (a scan of every table with sealed columns).
    pub async fn key_status(&self, count_left: bool) -> Result<KeyStatus, StoreError> {
        let now = Timestamp::now().as_millis();
        let rows: Vec<(i64, i64, i64, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT key_id, created_at, active_from, retired_at FROM sealing_keys \
                 ORDER BY key_id",
            )
            .fetch_all(pool)
            .await?
        });
        let active = rows
            .iter()
            .filter(|(_, _, from, retired)| retired.is_none() && *from <= now)
            .map(|(id, ..)| *id)
            .max();
        let mut keys = Vec::with_capacity(rows.len());
        for (id, created_at, active_from, retired_at) in rows {
            let state = if retired_at.is_some() {
                KeyState::Retired
            } else if active_from > now {
                KeyState::Pending
            } else if Some(id) == active {
                KeyState::Active
            } else {
                KeyState::Previous
            };
            keys.push(KeyInfo {
                id: id_of(id)?,
                created_at: (id != 0).then_some(Timestamp(created_at)),
                active_from: Timestamp(active_from),
                retired_at: retired_at.map(Timestamp),
                state,
            });
        }
        let row = self.rotation_row().await?;
        let rotation = match row.target {
            None => None,
            Some(target) => {
                let recorded = self.table_rows().await?;
                let running = row.finished_at.is_none();
                let mut tables = Vec::with_capacity(SEALED_TABLES.len());
                for t in SEALED_TABLES {
                    let r = recorded.iter().find(|r| r.table == t.table);
                    let left = if count_left && running {
                        let sql =
                            format!("SELECT COUNT(*) FROM {} WHERE {}", t.table, needs_reseal(t));
                        let n: i64 = with_pool!(self, pool => {
                            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                                .bind(keyring::header(target).to_vec())
                                .fetch_one(pool)
                                .await?
                        });
                        Some(n.max(0) as u64)
                    } else if running {
                        None
                    } else {
                        Some(0)
                    };
                    tables.push(TableProgress {
                        table: t.table,
                        finished_pass: r.map_or(0, |r| r.finished_pass),
                        resealed: r.map_or(0, |r| r.resealed.max(0) as u64),
                        left,
                    });
                }
                Some(RotationStatus {
                    key: target,
                    pass: row.pass,
                    started_at: row.started_at.map(Timestamp),
                    finished_at: row.finished_at.map(Timestamp),
                    resealed: row.resealed.max(0) as u64,
                    lease_owner: row.lease_owner.filter(|_| running),
                    lease_until: row.lease_until.filter(|_| running).map(Timestamp),
                    tables,
                })
            }
        };
        Ok(KeyStatus { keys, rotation })
    }

    /// The background side of rotation on a running node, until `stop`: reloads the keyring
    /// every `refresh_interval`, and walks a running rotation when this node gets its lease.
    /// Never fails: a database error is logged and tried again after `refresh_interval`.
    pub async fn run_key_rotation(
        &self,
        settings: RotationSettings,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut refreshed = tokio::time::Instant::now();
        loop {
            if refreshed.elapsed() >= settings.refresh_interval {
                if let Err(e) = self.refresh_keyring().await {
                    tracing::warn!(error = %e, "cannot reload the sealing keys");
                }
                refreshed = tokio::time::Instant::now();
            }
            let until_refresh = settings
                .refresh_interval
                .saturating_sub(refreshed.elapsed());
            let pause = match self.reseal_step(&settings).await {
                Ok(RotationStep::Idle) => until_refresh,
                Ok(RotationStep::Waiting { until }) | Ok(RotationStep::Busy { until, .. }) => {
                    let left = until.as_millis() - Timestamp::now().as_millis();
                    Duration::from_millis(u64::try_from(left).unwrap_or(0)).clamp(
                        Duration::from_millis(100),
                        until_refresh.max(Duration::from_millis(100)),
                    )
                }
                Ok(RotationStep::Batch { .. }) | Ok(RotationStep::PassDone { .. }) => {
                    settings.batch_pause
                }
                Ok(RotationStep::Finished { .. }) => Duration::ZERO,
                Err(e) => {
                    tracing::warn!(error = %e, "key rotation: re-sealing failed; trying again later");
                    settings.refresh_interval
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Test support: every sealed value the database holds, as (table, column, bytes).
    #[cfg(any(test, feature = "test-util"))]
    pub async fn sealed_values(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let mut values = Vec::new();
        for t in SEALED_TABLES {
            for column in t.columns {
                let sql = format!(
                    "SELECT {column} FROM {} WHERE {column} IS NOT NULL",
                    t.table
                );
                let found: Vec<Vec<u8>> = with_pool!(self, pool => {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?
                });
                values.extend(
                    found
                        .into_iter()
                        .map(|v| (t.table.to_string(), column.to_string(), v)),
                );
            }
        }
        Ok(values)
    }

    /// Test support: the columns of the schema named `*_sealed` that [`SEALED_TABLES`] lacks.
    #[cfg(any(test, feature = "test-util"))]
    pub async fn unlisted_sealed_columns(&self) -> Result<Vec<String>, StoreError> {
        let columns: Vec<(String, String)> =
            match &self.backend {
                crate::Backend::Sqlite(pool) => {
                    sqlx::query_as(
                        "SELECT m.name, c.name FROM sqlite_master m \
                     JOIN pragma_table_info(m.name) c WHERE m.type = 'table'",
                    )
                    .fetch_all(pool)
                    .await?
                }
                crate::Backend::Postgres(pool) => sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema()",
                )
                .fetch_all(pool)
                .await?,
            };
        Ok(columns
            .into_iter()
            .filter(|(_, c)| c.ends_with("_sealed"))
            .filter(|(t, c)| {
                !SEALED_TABLES
                    .iter()
                    .any(|s| s.table == t && s.columns.contains(&c.as_str()))
            })
            .map(|(t, c)| format!("{t}.{c}"))
            .collect())
    }

    /// Test support: the raw material of data key `id`, while it is not retired.
    #[cfg(any(test, feature = "test-util"))]
    pub async fn data_key_material(&self, id: u32) -> Result<Option<[u8; 32]>, StoreError> {
        let wrapped: Option<Option<Vec<u8>>> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT wrapped_key FROM sealing_keys WHERE key_id = $1")
                .bind(i64::from(id))
                .fetch_optional(pool)
                .await?
        });
        Ok(wrapped
            .flatten()
            .and_then(|w| self.key.master().unwrap_data_key(id, &w)))
    }
}
