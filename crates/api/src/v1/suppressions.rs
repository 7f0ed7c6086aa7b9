//! The contract's suppression list: list, look up, add, remove, import and export.

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Failures, body_rejection, media_type};
use super::paging::{ListKind, PageQuery, encode};
use super::suppression_csv::{checked_address, checked_reason, csv_rows};
use super::suppression_imports::unreadable;
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hikyaku_api_types::{
    ImportResult, NewSuppression, Suppression, SuppressionImport, SuppressionPage,
};
use hikyaku_model::Timestamp;
use hikyaku_store::{SuppressionEntry, SuppressionPosition, SuppressionSource};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Entries read from the store per query while exporting.
const EXPORT_CHUNK: u32 = 5000;

fn shown(caller: &ContractCaller, entry: SuppressionEntry) -> Suppression {
    Suppression {
        address: caller.show(&entry.address),
        source: entry.source.as_str().to_string(),
        reason: entry.reason,
        message_id: entry.message_id.map(|id| id.to_string()),
        created_at: entry.created_at.into(),
    }
}

/// One page of the list, in a fixed order that is not alphabetical.
#[utoipa::path(
    get,
    path = "/suppressions",
    tag = "suppressions",
    params(PageQuery),
    responses((status = 200, body = SuppressionPage), Failures)
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<SuppressionPage>, ApiError> {
    let limit = query.limit()?;
    let after = query
        .after(ListKind::Suppressions)?
        .map(SuppressionPosition::from_bytes);
    let mut rows = state
        .store()
        .suppressions_after(&caller.customer_id, after.as_ref(), Some(limit + 1))
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last()
            .map(|(position, _)| encode(ListKind::Suppressions, position.as_bytes()))
    } else {
        None
    };
    Ok(Json(SuppressionPage {
        data: rows
            .into_iter()
            .map(|(_, entry)| shown(&caller, entry))
            .collect(),
        next_cursor,
    }))
}

/// The entry for one address (in any case).
#[utoipa::path(
    get,
    path = "/suppressions/{address}",
    tag = "suppressions",
    params(("address" = String, Path, description = "The address, URL-encoded")),
    responses((status = 200, body = Suppression), Failures)
)]
pub async fn show(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(address): ApiPath<String>,
) -> Result<Json<Suppression>, ApiError> {
    match state
        .store()
        .suppression(&caller.customer_id, &address)
        .await?
    {
        Some(entry) => Ok(Json(shown(&caller, entry))),
        None => Err(ApiError::not_found("address on the suppression list")),
    }
}

/// Puts an address on the list. `201` when newly listed, `200` with the entry it already had.
#[utoipa::path(
    post,
    path = "/suppressions",
    tag = "suppressions",
    request_body = NewSuppression,
    responses(
        (status = 201, body = Suppression, description = "Listed now"),
        (status = 200, body = Suppression, description = "Already listed: its first entry"),
        Failures
    )
)]
pub async fn add(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiJson(new): ApiJson<NewSuppression>,
) -> Result<Response, ApiError> {
    let new = [new];
    let entries = checked(&new, |_, field| field.to_string())?;
    let added = state
        .store()
        .add_suppressions(&caller.customer_id, &entries, Timestamp::now())
        .await?;
    let entry = state
        .store()
        .suppression(&caller.customer_id, entries[0].address)
        .await?
        .ok_or_else(ApiError::internal)?;
    let status = if added > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(shown(&caller, entry))).into_response())
}

/// Takes an address (in any case) off the list.
#[utoipa::path(
    delete,
    path = "/suppressions/{address}",
    tag = "suppressions",
    params(("address" = String, Path, description = "The address, URL-encoded")),
    responses((status = 204, description = "Removed"), Failures)
)]
pub async fn remove(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(address): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store()
        .remove_suppression(&caller.customer_id, &address)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("address on the suppression list"))
    }
}

/// Checks every entry before any is listed, naming the first bad one's field.
fn checked<'a>(
    entries: &'a [NewSuppression],
    field: impl Fn(usize, &str) -> String,
) -> Result<Vec<hikyaku_store::NewSuppression<'a>>, ApiError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let refused = |fault: super::suppression_csv::RowFault| {
                ApiError::invalid(field(i, fault.field), fault.message)
            };
            let address = checked_address(&entry.address).map_err(refused)?;
            let reason = checked_reason(entry.reason.as_deref()).map_err(refused)?;
            Ok(hikyaku_store::NewSuppression {
                address,
                source: SuppressionSource::Manual,
                reason,
                message_id: None,
            })
        })
        .collect()
}

/// An import's body: JSON or CSV, by its content type.
pub struct ImportBody(Vec<NewSuppression>, ImportSyntax);

#[derive(Clone, Copy)]
enum ImportSyntax {
    Json,
    Csv,
}

impl<S: Send + Sync> FromRequest<S> for ImportBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let media = media_type(req.headers());
        let syntax = match media.as_deref() {
            Some("application/json") => ImportSyntax::Json,
            Some("text/csv") => ImportSyntax::Csv,
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "an import is application/json or text/csv",
                ));
            }
        };
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        let entries = match syntax {
            ImportSyntax::Json => super::error::parse_json::<SuppressionImport>(&bytes)?.entries,
            ImportSyntax::Csv => parse_csv(&bytes)?,
        };
        Ok(ImportBody(entries, syntax))
    }
}

/// The file's rows (see [`super::suppression_csv`]); a row without an address column refuses
/// the file.
fn parse_csv(bytes: &[u8]) -> Result<Vec<NewSuppression>, ApiError> {
    csv_rows(bytes)
        .map_err(unreadable)?
        .into_iter()
        .map(|row| match row.address {
            Some(address) => Ok(NewSuppression {
                address,
                reason: row.reason,
            }),
            None => Err(ApiError::invalid(
                format!("line {}", row.line),
                "no address column",
            )),
        })
        .collect()
}

/// Lists many addresses in one transaction (JSON `{"entries":[…]}` or CSV): all or none.
#[utoipa::path(
    post,
    path = "/suppressions/import",
    tag = "suppressions",
    request_body(content(
        (SuppressionImport = "application/json"),
        (String = "text/csv", example = "address,reason\ntaro@example.jp,moved\n")
    )),
    responses((status = 200, body = ImportResult), Failures)
)]
pub async fn import(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ImportBody(entries, syntax): ImportBody,
) -> Result<Json<ImportResult>, ApiError> {
    let checked = checked(&entries, |i, field| match syntax {
        ImportSyntax::Json => format!("entries[{i}].{field}"),
        ImportSyntax::Csv => format!("row {}: {field}", i + 1),
    })?;
    let added = state
        .store()
        .add_suppressions(&caller.customer_id, &checked, Timestamp::now())
        .await?;
    Ok(Json(ImportResult {
        received: checked.len() as u64,
        added,
    }))
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Json,
    Csv,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (an array of entries, the default) or `csv`
    /// (`address,source,reason,message_id,created_at`, which import reads back).
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// The whole list at once.
#[utoipa::path(
    get,
    path = "/suppressions/export",
    tag = "suppressions",
    params(ExportQuery),
    responses(
        (status = 200, content(
            (Vec<Suppression> = "application/json"),
            (String = "text/csv")
        )),
        Failures
    )
)]
pub async fn export(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let mut all = Vec::new();
    let mut after: Option<SuppressionPosition> = None;
    loop {
        let page = state
            .store()
            .suppressions_after(&caller.customer_id, after.as_ref(), Some(EXPORT_CHUNK))
            .await?;
        let done = page.len() < EXPORT_CHUNK as usize;
        after = page.last().map(|(position, _)| position.clone());
        all.extend(page.into_iter().map(|(_, entry)| shown(&caller, entry)));
        if done {
            break;
        }
    }
    match query.format.unwrap_or_default() {
        ExportFormat::Json => Ok(Json(all).into_response()),
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            let written: Result<(), csv::Error> = (|| {
                writer.write_record(["address", "source", "reason", "message_id", "created_at"])?;
                for e in &all {
                    writer.write_record([
                        e.address.as_str(),
                        e.source.as_str(),
                        e.reason.as_deref().unwrap_or(""),
                        e.message_id.as_deref().unwrap_or(""),
                        &e.created_at.to_string(),
                    ])?;
                }
                Ok(())
            })();
            written.map_err(|_| ApiError::internal())?;
            let body = writer.into_inner().map_err(|_| ApiError::internal())?;
            Ok((
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"suppressions.csv\"",
                    ),
                ],
                body,
            )
                .into_response())
        }
    }
}
