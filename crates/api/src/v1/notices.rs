//! The contract's notices: what happened to the contract rather than to one message (an
//! S/MIME certificate running out, …), as mailed to its admins.

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiQuery, Failures};
use super::paging::{ListKind, PageQuery, page_of};
use axum::Json;
use axum::extract::State;
use hikyaku_api_types::{Notice, NoticePage};
use hikyaku_model::NoticeKind;

/// A contract holds few notices (one per certificate and kind, …): the page is cut from all.
const MAX_NOTICES: u32 = 100_000;

/// The calling contract's notices, newest first.
#[utoipa::path(
    get,
    path = "/notices",
    tag = "notices",
    params(PageQuery),
    responses((status = 200, body = NoticePage), Failures)
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<NoticePage>, ApiError> {
    // An inquiry's notice is the contract's own message on its way to the operator, not
    // something that happened to the contract.
    let notices: Vec<_> = state
        .store()
        .list_notices(Some(&caller.customer_id), MAX_NOTICES)
        .await?
        .into_iter()
        .filter(|n| n.kind != NoticeKind::Inquiry)
        .collect();
    // Newest first: the position grows as the ID falls.
    let (notices, next_cursor) = page_of(ListKind::Notices, &query, notices, |n| {
        (i64::MAX - n.id).to_be_bytes().to_vec()
    })?;
    Ok(Json(NoticePage {
        data: notices
            .into_iter()
            .map(|n| Notice {
                id: n.id,
                customer_id: n.customer_id,
                kind: n.kind,
                key: n.key,
                details: n.details,
                created_at: n.created_at.into(),
                mailed_at: n.mailed_at.map(Into::into),
                mailed_to: n.mailed_to,
            })
            .collect(),
        next_cursor,
    }))
}
