//! Suppression-list imports as jobs: an uploaded CSV kept (sealed: it is a file of addresses)
//! until a worker has gone through it, how far the worker got, its counts, and the first rows
//! it refused with why.
//!
//! The store does not read CSV: a worker gives it one batch at a time
//! ([`Store::record_suppression_import_batch`]), and the batch's entries, its refused rows and
//! the job's new position are committed in one transaction that first checks the job is still
//! where the worker found it. A worker killed at any point leaves the job at the end of its last
//! committed batch, and two workers on one job (a restart while the first still runs, two nodes)
//! never count a row twice: the second one's batch finds the position moved and changes nothing.

use crate::queue::corrupt;
use crate::suppression::insert_suppressions;
use crate::{NewSuppression, Store, StoreError};
use hikyaku_model::{CustomerId, Timestamp};

/// Refused rows kept per import, the first ones in file order; the rest are only counted.
pub const MAX_STORED_IMPORT_ERRORS: u64 = 1000;

/// Why a row of an import was not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportRowProblem {
    /// Not an e-mail address.
    BadAddress,
    /// An address longer than an address can be.
    TooLong,
    /// The reason column is too long or holds control characters.
    BadReason,
    /// The row has no field in the address column.
    NoAddress,
    /// The same address (in any case) as an earlier row of the file: skipped.
    Duplicate { first_line: u64 },
}

impl ImportRowProblem {
    pub fn code(&self) -> &'static str {
        match self {
            ImportRowProblem::BadAddress => "bad_address",
            ImportRowProblem::TooLong => "too_long",
            ImportRowProblem::BadReason => "bad_reason",
            ImportRowProblem::NoAddress => "no_address",
            ImportRowProblem::Duplicate { .. } => "duplicate",
        }
    }

    fn parse(code: &str, first_line: Option<i64>) -> Option<Self> {
        Some(match code {
            "bad_address" => ImportRowProblem::BadAddress,
            "too_long" => ImportRowProblem::TooLong,
            "bad_reason" => ImportRowProblem::BadReason,
            "no_address" => ImportRowProblem::NoAddress,
            "duplicate" => ImportRowProblem::Duplicate {
                first_line: u64::try_from(first_line?).ok()?,
            },
            _ => return None,
        })
    }
}

/// A refused row: where it is in the file, what it held (cut short when long) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRowError {
    /// The file's line the row starts on (the header is line 1).
    pub line: u64,
    pub value: String,
    pub problem: ImportRowProblem,
}

/// An import job as its contract sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionImportJob {
    pub import_id: i64,
    pub customer_id: CustomerId,
    pub upload_bytes: u64,
    /// Data rows in the file (no header, no blank lines).
    pub total_rows: u64,
    /// Rows gone through so far, in file order.
    pub done_rows: u64,
    /// Of those, newly listed.
    pub added: u64,
    /// Of those, listed already (by anything, this file's earlier rows excepted).
    pub already_listed: u64,
    /// Of those, refused (the first [`MAX_STORED_IMPORT_ERRORS`] are kept).
    pub failed_rows: u64,
    pub created_at: Timestamp,
    /// When the last row was gone through; `None` while there are rows to go.
    pub finished_at: Option<Timestamp>,
}

/// What a worker needs to go on with a job.
#[derive(Debug, Clone)]
pub struct ImportWork {
    pub import_id: i64,
    pub customer_id: CustomerId,
    pub upload: Vec<u8>,
    pub done_rows: u64,
    pub failed_rows: u64,
}

/// One batch of a job: rows `from..to` of the file's data rows.
pub struct ImportBatch<'a> {
    pub from: u64,
    pub to: u64,
    /// The batch's good rows, each address once.
    pub entries: &'a [NewSuppression<'a>],
    pub errors: &'a [ImportRowError],
    /// Whether `to` is the last row.
    pub last: bool,
    pub at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    import_id: i64,
    customer_id: String,
    upload_bytes: i64,
    total_rows: i64,
    done_rows: i64,
    added: i64,
    already_listed: i64,
    failed_rows: i64,
    created_at: i64,
    finished_at: Option<i64>,
}

const JOB_COLUMNS: &str = "SELECT import_id, customer_id, upload_bytes, total_rows, done_rows, \
     added, already_listed, failed_rows, created_at, finished_at FROM suppression_imports";

/// Longest stored value of a refused row, in characters: enough to recognise it.
const MAX_STORED_VALUE_CHARS: usize = 200;

fn count(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|e| corrupt(what, e))
}

fn job_from_row(row: JobRow) -> Result<SuppressionImportJob, StoreError> {
    Ok(SuppressionImportJob {
        import_id: row.import_id,
        customer_id: row
            .customer_id
            .parse()
            .map_err(|e| corrupt("suppression_imports.customer_id", e))?,
        upload_bytes: count(row.upload_bytes, "suppression_imports.upload_bytes")?,
        total_rows: count(row.total_rows, "suppression_imports.total_rows")?,
        done_rows: count(row.done_rows, "suppression_imports.done_rows")?,
        added: count(row.added, "suppression_imports.added")?,
        already_listed: count(row.already_listed, "suppression_imports.already_listed")?,
        failed_rows: count(row.failed_rows, "suppression_imports.failed_rows")?,
        created_at: Timestamp(row.created_at),
        finished_at: row.finished_at.map(Timestamp),
    })
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Keeps an uploaded file as a new import job of `total_rows` rows, committed (durable on
    /// both backends) before this returns: the caller may then answer that it has the file.
    pub async fn create_suppression_import(
        &self,
        customer: &CustomerId,
        upload: &[u8],
        total_rows: u64,
        at: Timestamp,
    ) -> Result<SuppressionImportJob, StoreError> {
        let sealed = self.key.seal(upload);
        let _turn = self.write_turn().await;
        let inserted: Result<i64, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO suppression_imports (customer_id, upload_sealed, upload_bytes, \
                 total_rows, done_rows, added, already_listed, failed_rows, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, 0, 0, 0, 0, $5, $5) RETURNING import_id",
            )
            .bind(customer.as_str())
            .bind(sealed.as_slice())
            .bind(as_i64(upload.len() as u64))
            .bind(as_i64(total_rows))
            .bind(at.as_millis())
            .fetch_one(pool)
            .await
        });
        let import_id = match inserted {
            Ok(id) => id,
            Err(e) if crate::error::is_foreign_key_violation(&e) => {
                return Err(StoreError::ContractNotFound(customer.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(SuppressionImportJob {
            import_id,
            customer_id: customer.clone(),
            upload_bytes: upload.len() as u64,
            total_rows,
            done_rows: 0,
            added: 0,
            already_listed: 0,
            failed_rows: 0,
            created_at: at,
            finished_at: None,
        })
    }

    /// The contract's import job `import_id`; `None` when it has no such job (another
    /// contract's is not its).
    pub async fn suppression_import(
        &self,
        customer: &CustomerId,
        import_id: i64,
    ) -> Result<Option<SuppressionImportJob>, StoreError> {
        let row: Option<JobRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{JOB_COLUMNS} WHERE customer_id = $1 AND import_id = $2"
            )))
                .bind(customer.as_str())
                .bind(import_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(job_from_row).transpose()
    }

    /// The contract's `limit` newest import jobs, newest first.
    pub async fn suppression_imports(
        &self,
        customer: &CustomerId,
        limit: u32,
    ) -> Result<Vec<SuppressionImportJob>, StoreError> {
        let rows: Vec<JobRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{JOB_COLUMNS} WHERE customer_id = $1 ORDER BY import_id DESC LIMIT $2"
            )))
            .bind(customer.as_str())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(job_from_row).collect()
    }

    /// The refused rows kept for the contract's job, in file order.
    pub async fn suppression_import_errors(
        &self,
        customer: &CustomerId,
        import_id: i64,
    ) -> Result<Vec<ImportRowError>, StoreError> {
        let rows: Vec<(i64, Vec<u8>, String, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT line, value_sealed, problem, first_line FROM suppression_import_errors \
                 WHERE customer_id = $1 AND import_id = $2 ORDER BY line",
            )
            .bind(customer.as_str())
            .bind(import_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(line, value, problem, first_line)| {
                Ok(ImportRowError {
                    line: count(line, "suppression_import_errors.line")?,
                    value: self.key.open_string(&value)?,
                    problem: ImportRowProblem::parse(&problem, first_line).ok_or_else(|| {
                        corrupt("suppression_import_errors.problem", problem.clone())
                    })?,
                })
            })
            .collect()
    }

    /// Every job with rows still to go, oldest first, each with when it last moved: a worker
    /// starting takes them all; one running picks those that stopped moving.
    pub async fn unfinished_suppression_imports(
        &self,
    ) -> Result<Vec<(i64, Timestamp)>, StoreError> {
        let rows: Vec<(i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT import_id, updated_at FROM suppression_imports \
                 WHERE finished_at IS NULL ORDER BY import_id",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, at)| (id, Timestamp(at)))
            .collect())
    }

    /// The file and position of a job with rows still to go; `None` when it is finished or
    /// gone (its contract deleted).
    pub async fn suppression_import_work(
        &self,
        import_id: i64,
    ) -> Result<Option<ImportWork>, StoreError> {
        let row: Option<(String, Option<Vec<u8>>, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT customer_id, upload_sealed, done_rows, failed_rows \
                 FROM suppression_imports WHERE import_id = $1 AND finished_at IS NULL",
            )
            .bind(import_id)
            .fetch_optional(pool)
            .await?
        });
        let Some((customer, Some(upload), done_rows, failed_rows)) = row else {
            return Ok(None);
        };
        Ok(Some(ImportWork {
            import_id,
            customer_id: customer
                .parse()
                .map_err(|e| corrupt("suppression_imports.customer_id", e))?,
            upload: self.key.open(&upload)?,
            done_rows: count(done_rows, "suppression_imports.done_rows")?,
            failed_rows: count(failed_rows, "suppression_imports.failed_rows")?,
        }))
    }

    /// Lists a batch's entries, keeps its refused rows (while fewer than
    /// [`MAX_STORED_IMPORT_ERRORS`] are kept) and moves the job to `batch.to`, in one
    /// transaction, only if the job is still at `batch.from`. Returns `false`, changing
    /// nothing, when it is not (another worker went on with it, or it is gone). The last batch
    /// also drops the file: nothing needs it any more.
    pub async fn record_suppression_import_batch(
        &self,
        work: &ImportWork,
        batch: &ImportBatch<'_>,
    ) -> Result<bool, StoreError> {
        let sealed = self.seal_suppressions(batch.entries)?;
        let room = MAX_STORED_IMPORT_ERRORS.saturating_sub(work.failed_rows) as usize;
        let kept: Vec<(i64, Vec<u8>, &'static str, Option<i64>)> = batch
            .errors
            .iter()
            .take(room)
            .map(|e| {
                let value: String = e.value.chars().take(MAX_STORED_VALUE_CHARS).collect();
                let first_line = match e.problem {
                    ImportRowProblem::Duplicate { first_line } => Some(as_i64(first_line)),
                    _ => None,
                };
                (
                    as_i64(e.line),
                    self.key.seal_str(&value),
                    e.problem.code(),
                    first_line,
                )
            })
            .collect();
        let customer = &work.customer_id;
        let at = batch.at;
        let _turn = self.write_turn().await;
        let moved = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // The job's row first: it takes the write lock (SQLite) or the row lock
            // (PostgreSQL), so a second worker waits here and then finds the job moved.
            let moved = sqlx::query(
                "UPDATE suppression_imports SET updated_at = $3 \
                 WHERE import_id = $1 AND done_rows = $2 AND finished_at IS NULL",
            )
            .bind(work.import_id)
            .bind(as_i64(batch.from))
            .bind(at.as_millis())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 0 {
                tx.rollback().await?;
                false
            } else {
                let added = insert_suppressions!(tx, customer, &sealed, at).await?;
                for (line, value, problem, first_line) in &kept {
                    sqlx::query(
                        "INSERT INTO suppression_import_errors (import_id, line, customer_id, \
                         value_sealed, problem, first_line) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (import_id, line) DO NOTHING",
                    )
                    .bind(work.import_id)
                    .bind(*line)
                    .bind(customer.as_str())
                    .bind(value.as_slice())
                    .bind(*problem)
                    .bind(*first_line)
                    .execute(&mut *tx)
                    .await?;
                }
                let listed = batch.entries.len() as u64;
                sqlx::query(
                    "UPDATE suppression_imports SET done_rows = $2, added = added + $3, \
                     already_listed = already_listed + $4, failed_rows = failed_rows + $5, \
                     finished_at = $6, \
                     upload_sealed = CASE WHEN $7 THEN NULL ELSE upload_sealed END \
                     WHERE import_id = $1",
                )
                .bind(work.import_id)
                .bind(as_i64(batch.to))
                .bind(as_i64(added))
                .bind(as_i64(listed.saturating_sub(added)))
                .bind(as_i64(batch.errors.len() as u64))
                .bind(batch.last.then_some(at.as_millis()))
                .bind(batch.last)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                true
            }
        });
        Ok(moved)
    }
}
