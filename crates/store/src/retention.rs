//! Retention: report data past its age is deleted in short batches, one small transaction at a
//! time with a pause between, so that the relay's intake (on SQLite the database's one writer)
//! never waits behind a purge. Which tables hold report data, and how a row's age is read, is
//! the one list [`REPORT_TABLES`]. Monthly usage (`usage_hour`) is not on it: it is kept.

use crate::{DAY_MS, HOUR_MS, MINUTE_MS};
use crate::{Store, StoreError};
use hikyaku_model::{MessageId, Timestamp};

/// How a report table's rows are found old enough to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    /// `$1` is the cutoff in milliseconds.
    Millis,
    /// Counters per bucket of this width: `$1` is the cutoff rounded down to the bucket, so that
    /// a bucket that began before the cutoff but ends after it stays whole.
    Bucket(i64),
    /// `$1` is the smallest message ID of the cutoff's millisecond: IDs sort by acceptance time,
    /// so the primary key finds old queue entries without an index on their time.
    MessageId,
    /// Idempotency keys: `$1` is the end of their 24-hour window, not the report age.
    IdempotencyWindow,
    /// The availability monitor's minutes: `$1` is the minute (since the epoch)
    /// [`crate::MONITOR_KEPT`] ago, not the report age, so that a month's availability can be
    /// shown for a year and more after it.
    MonitorMinute,
}

/// One table of report data.
#[derive(Debug, Clone, Copy)]
pub struct ReportTable {
    pub table: &'static str,
    /// SQL condition true of the rows past their age, with `$1` the cutoff (see [`Age`]).
    older_than: &'static str,
    age: Age,
}

/// The queue entries whose message is finished and older than the cutoff.
const OLD_FINISHED_MESSAGE: &str = "message_id < $1 AND message_id IN \
     (SELECT message_id FROM messages WHERE message_id < $1 AND completed_at IS NOT NULL)";

/// The refused rows of import jobs that finished before the cutoff.
const OLD_FINISHED_IMPORT: &str =
    "import_id IN (SELECT import_id FROM suppression_imports WHERE finished_at < $1)";

/// Every table of report data, in the order they are purged: a table's dependants before it,
/// so that no batch cascades into thousands of rows. A new table of report data is one line
/// here. Not on it, by design: the monthly usage (`usage_hour`) and the operator's quality
/// data (`quality_domain_day`, `quality_reply_day`), which hold no address and outlive the
/// report data. The availability monitor's minutes and its outages' announcements are on it with
/// an age of their own ([`Age::MonitorMinute`]).
///
/// Suppression-list import jobs are a report on how an upload went (its counts and refused
/// rows, sealed addresses among them): they go at the report age counted from when the job
/// finished, so a job's page outlives the upload by as long as the send log of that time.
/// An unfinished job is never purged: it still holds the file a node is to go through.
pub const REPORT_TABLES: &[ReportTable] = &[
    table("events", "at < $1", Age::Millis),
    table("webhook_outbox", "created_at < $1", Age::Millis),
    table("webhook_attempts", "at < $1", Age::Millis),
    table("stats_minute", "minute < $1", Age::Bucket(MINUTE_MS)),
    table("stats_hour", "hour < $1", Age::Bucket(HOUR_MS)),
    table("stats_reason_hour", "hour < $1", Age::Bucket(HOUR_MS)),
    table("stats_domain_hour", "hour < $1", Age::Bucket(HOUR_MS)),
    table("stats_domain_day", "day < $1", Age::Bucket(DAY_MS)),
    table("reputation_hour", "hour < $1", Age::Bucket(HOUR_MS)),
    table("soft_bounces", "at < $1", Age::Millis),
    table("message_tags", OLD_FINISHED_MESSAGE, Age::MessageId),
    table("queue_commands", OLD_FINISHED_MESSAGE, Age::MessageId),
    table("message_recipients", OLD_FINISHED_MESSAGE, Age::MessageId),
    table(
        "messages",
        "message_id < $1 AND completed_at IS NOT NULL",
        Age::MessageId,
    ),
    table("inbound_attempts", "at < $1", Age::Millis),
    table(
        "inbound_posts",
        "next_attempt_at IS NULL AND received_at < $1",
        Age::Millis,
    ),
    table(
        "suppression_import_errors",
        OLD_FINISHED_IMPORT,
        Age::Millis,
    ),
    table("suppression_imports", "finished_at < $1", Age::Millis),
    table(
        "idempotency_keys",
        "created_at <= $1",
        Age::IdempotencyWindow,
    ),
    table("monitor_minutes", "minute < $1", Age::MonitorMinute),
    table(
        "outage_announcements",
        "starts_minute < $1",
        Age::MonitorMinute,
    ),
];

const fn table(table: &'static str, older_than: &'static str, age: Age) -> ReportTable {
    ReportTable {
        table,
        older_than,
        age,
    }
}

/// How old report data may get, and how the purge paces itself.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    /// Report data older than this goes.
    pub report_age: std::time::Duration,
    /// Rows per transaction.
    pub batch_size: u32,
    /// The pause after each full batch.
    pub batch_pause: std::time::Duration,
}

/// Rows of one table that went (or, for a dry run, would go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeCount {
    pub table: &'static str,
    pub rows: u64,
}

/// The value `$1` takes for a table.
enum Cutoff {
    Millis(i64),
    Text(String),
}

impl ReportTable {
    fn cutoff(&self, now: Timestamp, policy: &RetentionPolicy) -> Cutoff {
        let age = i64::try_from(policy.report_age.as_millis()).unwrap_or(i64::MAX);
        let before = now.as_millis().saturating_sub(age);
        match self.age {
            Age::Millis => Cutoff::Millis(before),
            Age::Bucket(width) => Cutoff::Millis(before - before.rem_euclid(width)),
            Age::MessageId => {
                let millis = before.clamp(0, (1 << 48) - 1) as u128;
                Cutoff::Text(MessageId::from_bytes((millis << 80).to_be_bytes()).to_string())
            }
            Age::IdempotencyWindow => Cutoff::Millis(
                now.as_millis()
                    .saturating_sub(crate::IDEMPOTENCY_WINDOW.as_millis() as i64),
            ),
            Age::MonitorMinute => Cutoff::Millis(
                now.as_millis()
                    .saturating_sub(crate::MONITOR_KEPT.as_millis() as i64)
                    .div_euclid(MINUTE_MS),
            ),
        }
    }
}

macro_rules! bind_cutoff {
    ($query:expr, $cutoff:expr) => {
        match $cutoff {
            Cutoff::Millis(ms) => $query.bind(*ms),
            Cutoff::Text(text) => $query.bind(text.as_str()),
        }
    };
}

impl Store {
    /// What [`Store::purge_report_data`] would delete at `now`, per table (a dry run).
    pub async fn report_data_past_retention(
        &self,
        now: Timestamp,
        policy: &RetentionPolicy,
    ) -> Result<Vec<PurgeCount>, StoreError> {
        let mut counts = Vec::with_capacity(REPORT_TABLES.len());
        for t in REPORT_TABLES {
            let cutoff = t.cutoff(now, policy);
            let sql = format!("SELECT COUNT(*) FROM {} WHERE {}", t.table, t.older_than);
            let rows: i64 = with_pool!(self, pool => {
                let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                bind_cutoff!(query, &cutoff).fetch_one(pool).await?
            });
            counts.push(PurgeCount {
                table: t.table,
                rows: rows.max(0) as u64,
            });
        }
        Ok(counts)
    }

    /// Deletes the report data past its age at `now` (monthly usage stays), table by table in
    /// transactions of at most `policy.batch_size` rows with `policy.batch_pause` after each
    /// full one. Returns the rows deleted per table. Safe to run on several nodes at once: a
    /// row is deleted once, whoever gets to it.
    pub async fn purge_report_data(
        &self,
        now: Timestamp,
        policy: &RetentionPolicy,
    ) -> Result<Vec<PurgeCount>, StoreError> {
        let mut counts = Vec::with_capacity(REPORT_TABLES.len());
        for t in REPORT_TABLES {
            let cutoff = t.cutoff(now, policy);
            let rows = self
                .delete_in_batches(t.table, t.older_than, &cutoff, policy)
                .await?;
            counts.push(PurgeCount {
                table: t.table,
                rows,
            });
        }
        Ok(counts)
    }

    /// Deletes the rows of `table` where `condition` holds for `$1` = `cutoff`, a batch per
    /// transaction, until none is left.
    async fn delete_in_batches(
        &self,
        table: &str,
        condition: &str,
        cutoff: &Cutoff,
        policy: &RetentionPolicy,
    ) -> Result<u64, StoreError> {
        let batch = policy.batch_size.max(1);
        let sql = batch_delete_sql(self, table, condition, batch);
        let mut total = 0;
        loop {
            let deleted = {
                let _turn = self.write_turn().await;
                with_pool!(self, pool => {
                    let query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                    bind_cutoff!(query, cutoff).execute(pool).await?.rows_affected()
                })
            };
            total += deleted;
            if deleted < u64::from(batch) {
                return Ok(total);
            }
            tokio::time::sleep(policy.batch_pause).await;
        }
    }
}

/// One batch's `DELETE`: at most `batch` rows of `table` where `condition` holds, picked by
/// their physical row identity (SQLite's `rowid`, PostgreSQL's `ctid`), which every table has
/// whatever its key.
pub(crate) fn batch_delete_sql(store: &Store, table: &str, condition: &str, batch: u32) -> String {
    match store.backend {
        crate::Backend::Sqlite(_) => format!(
            "DELETE FROM {table} WHERE rowid IN \
             (SELECT rowid FROM {table} WHERE {condition} LIMIT {batch})"
        ),
        crate::Backend::Postgres(_) => format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM {table} WHERE {condition} LIMIT {batch}))"
        ),
    }
}
