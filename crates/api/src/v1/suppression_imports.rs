//! Suppression-list imports as jobs, for files too large to list in one request: the file is
//! read for its shape and committed to the store before the `202` (so an acknowledged file is
//! never lost), then gone through in batches of [`BATCH_ROWS`] by a task started right away.
//! Each batch commits its entries, its refused rows and the job's progress together, so a
//! node killed mid-job leaves it at its last batch; [`resume_imports`] (run by every node)
//! takes such jobs up again, at start and whenever one has stopped moving.

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiPath, Failures, body_rejection, media_type};
use super::mask::scrubbed_free_text;
use super::suppression_csv::{CsvProblem, CsvRow, checked_row, csv_rows};
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hikyaku_api_types::{ImportRowError, SuppressionImportJob, SuppressionImportList};
use hikyaku_model::Timestamp;
use hikyaku_store::{
    ImportBatch, ImportRowProblem, MAX_STORED_IMPORT_ERRORS, NewSuppression, Store, StoreError,
    SuppressionSource,
};
use std::collections::HashMap;
use std::time::Duration;

/// Rows per transaction: the page's progress moves every batch, and a batch holds the
/// database (SQLite's one writer) for a few milliseconds at most.
pub const BATCH_ROWS: usize = 1000;
/// Imports the list shows.
const LISTED_IMPORTS: u32 = 20;
/// A job that has not moved for this long is taken up again by any node's [`resume_imports`]:
/// a running one moves every batch, well within it.
const STALLED_AFTER: Duration = Duration::from_secs(60);
/// How often [`resume_imports`] looks for stalled jobs.
const SWEEP_EVERY: Duration = Duration::from_secs(15);

/// The uploaded file: `text/csv`, at most `api.max_body_bytes`.
pub struct CsvUpload(bytes::Bytes);

/// A size in the words of a contract's user, rounded down so that the limit it states is
/// never more than the real one: `4 MB` (a megabyte of 1,048,576 bytes, as file managers
/// count), `1.5 MB`, `512 kB`.
pub fn size_in_words(bytes: usize) -> String {
    const MB: u128 = 1 << 20;
    let bytes = bytes as u128;
    if bytes >= MB {
        let tenths = bytes * 10 / MB;
        match tenths % 10 {
            0 => format!("{} MB", tenths / 10),
            d => format!("{}.{d} MB", tenths / 10),
        }
    } else {
        format!("{} kB", bytes / 1024)
    }
}

/// The answer to a file over the limit, in the user's terms: a contract's user knows the size
/// of a file, not the server's settings.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "the file is larger than {}, the most one import takes: split it into smaller \
             files and import each",
            size_in_words(limit)
        ),
    )
    .with_field("file")
}

impl FromRequest<ApiState> for CsvUpload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, ApiError> {
        if media_type(req.headers()).as_deref() != Some("text/csv") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "an import job takes the file itself, as text/csv",
            ));
        }
        bytes::Bytes::from_request(req, state)
            .await
            .map(CsvUpload)
            .map_err(|rejection| match body_rejection(rejection) {
                e if e.status == StatusCode::PAYLOAD_TOO_LARGE => too_large(state.max_body_bytes()),
                e => e,
            })
    }
}

/// A file that cannot be read, as the answer names it.
pub(crate) fn unreadable(problem: CsvProblem) -> ApiError {
    ApiError::invalid(format!("line {}", problem.line), problem.message)
}

fn message(problem: ImportRowProblem) -> String {
    match problem {
        ImportRowProblem::BadAddress => "not an e-mail address".into(),
        ImportRowProblem::TooLong => "longer than an address can be (254 bytes)".into(),
        ImportRowProblem::BadReason => {
            "the reason is over 1000 bytes or holds control characters".into()
        }
        ImportRowProblem::NoAddress => "the row has no field in the address column".into(),
        ImportRowProblem::Duplicate { first_line } => {
            format!("the same address as line {first_line}: skipped")
        }
    }
}

fn shown_job(
    caller: &ContractCaller,
    job: hikyaku_store::SuppressionImportJob,
    errors: Vec<hikyaku_store::ImportRowError>,
) -> SuppressionImportJob {
    let state = match (job.finished_at, job.done_rows) {
        (Some(_), _) => "done",
        (None, 0) => "queued",
        (None, _) => "running",
    };
    SuppressionImportJob {
        id: job.import_id,
        state: state.into(),
        file_bytes: job.upload_bytes,
        total_rows: job.total_rows,
        done_rows: job.done_rows,
        added: job.added,
        already_listed: job.already_listed,
        failed_rows: job.failed_rows,
        errors_truncated: job.failed_rows > MAX_STORED_IMPORT_ERRORS,
        errors: errors
            .into_iter()
            .map(|e| ImportRowError {
                line: e.line,
                // A refused value may still be someone's address, whole or in part.
                value: if caller.see_addresses {
                    e.value
                } else {
                    scrubbed_free_text(&e.value, &[])
                },
                reason: e.problem.code().into(),
                message: message(e.problem),
            })
            .collect(),
        created_at: job.created_at.into(),
        finished_at: job.finished_at.map(Into::into),
    }
}

fn import_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found("suppression import"))
}

/// Takes a CSV file as an import job; its rows are listed in the background.
///
/// The file is read for its shape first (UTF-8, CSV, an `address` column, at least one row):
/// a file that cannot be read is refused whole, naming the line. Its rows are then checked
/// one by one as the job goes: a bad row is counted and kept in `errors`, the others listed.
#[utoipa::path(
    post,
    path = "/suppressions/imports",
    tag = "suppressions",
    request_body(content(
        (String = "text/csv", example = "address,reason\ntaro@example.jp,moved\n")
    )),
    responses(
        (status = 202, body = SuppressionImportJob, description = "The file is kept; \
            follow the job at its Location",
            headers(("Location" = String, description = "The job's URL"))),
        Failures
    )
)]
pub async fn create(
    State(state): State<ApiState>,
    caller: ContractCaller,
    CsvUpload(bytes): CsvUpload,
) -> Result<Response, ApiError> {
    let rows = csv_rows(&bytes).map_err(unreadable)?;
    if rows.is_empty() {
        return Err(ApiError::invalid(
            "file",
            "the file has no rows: nothing to import",
        ));
    }
    let job = state
        .store()
        .create_suppression_import(
            &caller.customer_id,
            &bytes,
            rows.len() as u64,
            Timestamp::now(),
        )
        .await?;
    start(state.store().clone(), job.import_id);
    let location = format!("{}/suppressions/imports/{}", super::PREFIX, job.import_id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(shown_job(&caller, job, Vec::new())),
    )
        .into_response())
}

/// An import job: its progress and, as it goes, the rows it refused.
#[utoipa::path(
    get,
    path = "/suppressions/imports/{import_id}",
    tag = "suppressions",
    params(("import_id" = i64, Path, description = "The job's ID")),
    responses((status = 200, body = SuppressionImportJob), Failures)
)]
pub async fn show(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SuppressionImportJob>, ApiError> {
    let id = import_id(&id)?;
    let store = state.store();
    let job = store
        .suppression_import(&caller.customer_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("suppression import"))?;
    let errors = store
        .suppression_import_errors(&caller.customer_id, id)
        .await?;
    Ok(Json(shown_job(&caller, job, errors)))
}

/// The contract's newest import jobs (20), newest first, without their refused rows.
#[utoipa::path(
    get,
    path = "/suppressions/imports",
    tag = "suppressions",
    responses((status = 200, body = SuppressionImportList), Failures)
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: ContractCaller,
) -> Result<Json<SuppressionImportList>, ApiError> {
    let jobs = state
        .store()
        .suppression_imports(&caller.customer_id, LISTED_IMPORTS)
        .await?;
    Ok(Json(SuppressionImportList {
        data: jobs
            .into_iter()
            .map(|job| shown_job(&caller, job, Vec::new()))
            .collect(),
    }))
}

/// Goes through job `import_id` on a task of its own.
fn start(store: Store, import_id: i64) {
    tokio::spawn(async move {
        if let Err(error) = run_import(&store, import_id).await {
            // It stays where its last batch left it; the sweep takes it up again.
            tracing::warn!(%error, import_id, "suppression import stopped");
        }
    });
}

/// A row's entry, or why it is refused. `seen` holds each address (lower case) with the line
/// it was first on: a later row with it is a duplicate.
fn classify<'a>(
    row: &'a CsvRow,
    seen: &mut HashMap<String, u64>,
) -> Result<NewSuppression<'a>, hikyaku_store::ImportRowError> {
    let refused = |value: &str, problem| hikyaku_store::ImportRowError {
        line: row.line,
        value: value.to_string(),
        problem,
    };
    let (address, reason) = checked_row(row).map_err(|fault| {
        let problem = match fault.code {
            "no_address" => ImportRowProblem::NoAddress,
            "too_long" => ImportRowProblem::TooLong,
            "bad_reason" => ImportRowProblem::BadReason,
            _ => ImportRowProblem::BadAddress,
        };
        let value = match fault.field {
            "reason" => row.reason.as_deref(),
            _ => row.address.as_deref(),
        };
        refused(value.unwrap_or_default(), problem)
    })?;
    if let Some(&first_line) = seen.get(&address.to_lowercase()) {
        return Err(refused(address, ImportRowProblem::Duplicate { first_line }));
    }
    seen.insert(address.to_lowercase(), row.line);
    Ok(NewSuppression {
        address,
        source: SuppressionSource::Manual,
        reason,
        message_id: None,
    })
}

/// Goes through the rest of job `import_id`, batch by batch, until it is done or another
/// worker is found to have gone on with it. Nothing to do for a finished or unknown job.
pub async fn run_import(store: &Store, import_id: i64) -> Result<(), StoreError> {
    let Some(mut work) = store.suppression_import_work(import_id).await? else {
        return Ok(());
    };
    // The file was read at upload; a file that no longer reads (it cannot change) ends the job
    // with what it has rather than looping on it.
    let rows = csv_rows(&work.upload).unwrap_or_else(|problem| {
        tracing::error!(
            import_id,
            ?problem,
            "a kept suppression import no longer reads"
        );
        Vec::new()
    });
    let mut seen = HashMap::new();
    let mut from = usize::try_from(work.done_rows).map_or(rows.len(), |d| d.min(rows.len()));
    // The rows before the position are replayed only to know their addresses: a duplicate of
    // one of them is still a duplicate after a restart.
    for row in &rows[..from] {
        let _ = classify(row, &mut seen);
    }
    loop {
        let to = (from + BATCH_ROWS).min(rows.len());
        let mut entries = Vec::with_capacity(to - from);
        let mut errors = Vec::new();
        for row in &rows[from..to] {
            match classify(row, &mut seen) {
                Ok(entry) => entries.push(entry),
                Err(error) => errors.push(error),
            }
        }
        let batch = ImportBatch {
            from: from as u64,
            to: to as u64,
            entries: &entries,
            errors: &errors,
            last: to == rows.len(),
            at: Timestamp::now(),
        };
        if !store.record_suppression_import_batch(&work, &batch).await? || batch.last {
            return Ok(());
        }
        work.failed_rows += errors.len() as u64;
        work.done_rows = to as u64;
        from = to;
    }
}

/// Takes up import jobs a stopped node left: every unfinished one at once, then every
/// [`SWEEP_EVERY`] those that have not moved for [`STALLED_AFTER`], until `stop`. Two nodes on
/// one job are harmless (each batch checks the job's position), only wasteful.
pub async fn resume_imports(store: Store, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut first = true;
    loop {
        match store.unfinished_suppression_imports().await {
            Ok(jobs) => {
                let stalled_before = Timestamp::now().as_millis()
                    - i64::try_from(STALLED_AFTER.as_millis()).unwrap_or(i64::MAX);
                for (import_id, moved_at) in jobs {
                    if first || moved_at.as_millis() < stalled_before {
                        start(store.clone(), import_id);
                    }
                }
                first = false;
            }
            Err(error) => tracing::warn!(%error, "cannot look for suppression imports"),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
    }
}
