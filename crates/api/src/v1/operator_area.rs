//! The operator area beyond contracts' states: plan changes, contracts' inquiries, maintenance
//! notices and the nodes; and the contracts' side of inquiries and maintenance (sending one,
//! seeing what is coming). The operator's routes never show a contract's own data (lists,
//! logs, addresses): an inquiry is the contract's message to the operator, written for them.

use super::ApiState;
use super::access::{ContractCaller, OperatorCaller};
use super::error::{ApiError, ApiJson, ApiPath, Failures, id_in_path};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use hikyaku_api_types::{
    Contract, CreatedMaintenanceNotice, Inquiry, InquiryHandled, InquiryList, MaintenanceList,
    MaintenanceNotice, NewInquiry, NewMaintenanceNotice, Node, NodeList, PlanChange,
};
use hikyaku_model::{ApiCaller, CustomerId, Timestamp};
use hikyaku_store::{NODE_HEARTBEAT, NewMaintenance};
use std::time::Duration;

/// How far ahead a maintenance that is not an emergency must be announced.
pub const MAINTENANCE_NOTICE_PERIOD: Duration = Duration::from_secs(14 * 86_400);
/// The longest subject or title taken, in characters.
const MAX_SUBJECT_CHARS: usize = 200;
/// The longest inquiry or notice body taken, in characters.
const MAX_BODY_CHARS: usize = 10_000;
/// Inquiries listed at once (newest first).
const MAX_INQUIRIES: u32 = 1_000;
/// Maintenance notices listed at once.
const MAX_MAINTENANCE: u32 = 500;

/// A control character, or the replacement character a decoder puts where its input was not
/// UTF-8 (a form posted in another encoding): what reaches the operator must be readable.
fn not_text(c: char) -> bool {
    c.is_control() || c == char::REPLACEMENT_CHARACTER
}

fn one_line(field: &str, text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_SUBJECT_CHARS || text.chars().any(not_text) {
        return Err(ApiError::invalid(
            field,
            format!("{field} is 1 to {MAX_SUBJECT_CHARS} characters of UTF-8 text on one line"),
        ));
    }
    Ok(text.to_string())
}

fn body_text(text: &str, required: bool) -> Result<String, ApiError> {
    let text = text.trim_end();
    // Line ends and tabs are a body's own; other control characters are not text.
    let strange = text
        .chars()
        .any(|c| not_text(c) && !matches!(c, '\n' | '\r' | '\t'));
    let chars = text.chars().count();
    if (required && text.trim().is_empty()) || chars > MAX_BODY_CHARS || strange {
        return Err(ApiError::invalid(
            "body",
            format!(
                "body is {} to {MAX_BODY_CHARS} characters of UTF-8 text",
                u8::from(required)
            ),
        ));
    }
    Ok(text.to_string())
}

fn shown_contract(contract: hikyaku_model::Contract) -> Contract {
    Contract {
        customer_id: contract.customer_id.to_string(),
        name: contract.name,
        plan: contract.plan,
        state: contract.state.as_str().to_string(),
        created_at: contract.created_at.into(),
        last_used_at: contract.last_used_at.map(Into::into),
    }
}

fn shown_inquiry(inquiry: hikyaku_store::Inquiry) -> Inquiry {
    Inquiry {
        id: inquiry.id,
        customer_id: inquiry.customer_id.to_string(),
        sent_by: inquiry.sent_by,
        from: inquiry.email,
        subject: inquiry.subject,
        body: inquiry.body,
        created_at: inquiry.created_at.into(),
        handled_at: inquiry.handled_at.map(Into::into),
    }
}

fn shown_maintenance(m: hikyaku_store::Maintenance) -> MaintenanceNotice {
    MaintenanceNotice {
        id: m.id,
        title: m.title,
        body: m.body,
        starts_at: m.starts_at.into(),
        ends_at: m.ends_at.into(),
        emergency: m.emergency,
        created_at: m.created_at.into(),
    }
}

/// Moves a contract to another of the configured plans.
#[utoipa::path(
    post,
    path = "/operator/contracts/{customer_id}/plan",
    tag = "operator",
    params(("customer_id" = String, Path)),
    request_body = PlanChange,
    responses((status = 200, body = Contract), Failures)
)]
pub async fn change_plan(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<PlanChange>,
) -> Result<Json<Contract>, ApiError> {
    let id: CustomerId = id_in_path(&id, "contract")?;
    let plans = &state.0.plans;
    if !plans.iter().any(|p| p.name == change.plan) {
        let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
        return Err(ApiError::invalid(
            "plan",
            format!(
                "unknown plan {:?}: the plans are {}",
                change.plan,
                names.join(", ")
            ),
        ));
    }
    let contract = state.store().set_contract_plan(&id, &change.plan).await?;
    Ok(Json(shown_contract(contract)))
}

/// Sends the operator an inquiry: it is stored, listed in the operator area and mailed to the
/// operator's address through the platform itself (replies go to the sending user's address).
#[utoipa::path(
    post,
    path = "/inquiries",
    tag = "inquiries",
    request_body = NewInquiry,
    responses((status = 201, body = Inquiry), Failures)
)]
pub async fn send_inquiry(
    State(state): State<ApiState>,
    caller: ContractCaller,
    Extension(who): Extension<ApiCaller>,
    ApiJson(new): ApiJson<NewInquiry>,
) -> Result<(StatusCode, Json<Inquiry>), ApiError> {
    let subject = one_line("subject", &new.subject)?;
    let body = body_text(&new.body, true)?;
    let ApiCaller::Contract { key_id, .. } = who else {
        return Err(ApiError::forbidden());
    };
    // A console user's requests carry their user ID: their address is where replies go. An
    // API key has none.
    let email = state
        .store()
        .console_user(&caller.customer_id, &key_id)
        .await?
        .map(|user| user.email);
    let inquiry = state
        .store()
        .create_inquiry(
            &caller.customer_id,
            &key_id,
            email.as_deref(),
            &subject,
            &body,
            Timestamp::now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(shown_inquiry(inquiry))))
}

/// Every contract's inquiries, newest first.
#[utoipa::path(
    get,
    path = "/operator/inquiries",
    tag = "operator",
    responses((status = 200, body = InquiryList), Failures)
)]
pub async fn list_inquiries(
    State(state): State<ApiState>,
    _: OperatorCaller,
) -> Result<Json<InquiryList>, ApiError> {
    let inquiries = state.store().inquiries(MAX_INQUIRIES).await?;
    Ok(Json(InquiryList {
        data: inquiries.into_iter().map(shown_inquiry).collect(),
    }))
}

/// Marks an inquiry handled (or open again).
#[utoipa::path(
    post,
    path = "/operator/inquiries/{inquiry_id}/handled",
    tag = "operator",
    params(("inquiry_id" = i64, Path)),
    request_body = InquiryHandled,
    responses((status = 200, body = Inquiry), Failures)
)]
pub async fn mark_inquiry(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(handled): ApiJson<InquiryHandled>,
) -> Result<Json<Inquiry>, ApiError> {
    let id: i64 = id_in_path(&id, "inquiry")?;
    let at = handled.handled.then(Timestamp::now);
    match state.store().set_inquiry_handled(id, at).await? {
        Some(inquiry) => Ok(Json(shown_inquiry(inquiry))),
        None => Err(ApiError::not_found("inquiry")),
    }
}

/// Announces a maintenance: saved, and mailed to the admins of every contract that is not
/// terminated (at least once each, through the platform). It must start at least 14 days
/// from now unless `emergency` is set.
#[utoipa::path(
    post,
    path = "/operator/maintenance",
    tag = "operator",
    request_body = NewMaintenanceNotice,
    responses((status = 201, body = CreatedMaintenanceNotice), Failures)
)]
pub async fn create_maintenance(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiJson(new): ApiJson<NewMaintenanceNotice>,
) -> Result<(StatusCode, Json<CreatedMaintenanceNotice>), ApiError> {
    let title = one_line("title", &new.title)?;
    let body = body_text(&new.body, false)?;
    let now = Timestamp::now();
    let (starts_at, ends_at): (Timestamp, Timestamp) = (new.starts_at.into(), new.ends_at.into());
    if ends_at <= starts_at {
        return Err(ApiError::invalid(
            "ends_at",
            "ends_at must be after starts_at",
        ));
    }
    if ends_at <= now {
        return Err(ApiError::invalid(
            "ends_at",
            "the maintenance is over already",
        ));
    }
    let earliest = now.saturating_add(MAINTENANCE_NOTICE_PERIOD);
    if !new.emergency && starts_at < earliest {
        return Err(ApiError::invalid(
            "starts_at",
            format!(
                "a maintenance must be announced at least 14 days ahead (start at {earliest} \
                 or later), unless it is marked as an emergency"
            ),
        ));
    }
    let (maintenance, told) = state
        .store()
        .create_maintenance(
            &NewMaintenance {
                title: &title,
                body: &body,
                starts_at,
                ends_at,
                emergency: new.emergency,
            },
            now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedMaintenanceNotice {
            maintenance: shown_maintenance(maintenance),
            contracts_notified: told,
        }),
    ))
}

/// Every maintenance notice, latest start first.
#[utoipa::path(
    get,
    path = "/operator/maintenance",
    tag = "operator",
    responses((status = 200, body = MaintenanceList), Failures)
)]
pub async fn list_maintenance(
    State(state): State<ApiState>,
    _: OperatorCaller,
) -> Result<Json<MaintenanceList>, ApiError> {
    let all = state
        .store()
        .maintenance_notices(None, MAX_MAINTENANCE)
        .await?;
    Ok(Json(MaintenanceList {
        data: all.into_iter().map(shown_maintenance).collect(),
    }))
}

/// The maintenance that is coming or under way (not yet ended), latest start first.
#[utoipa::path(
    get,
    path = "/maintenance",
    tag = "notices",
    responses((status = 200, body = MaintenanceList), Failures)
)]
pub async fn upcoming_maintenance(
    State(state): State<ApiState>,
    _: ContractCaller,
) -> Result<Json<MaintenanceList>, ApiError> {
    let upcoming = state
        .store()
        .maintenance_notices(Some(Timestamp::now()), MAX_MAINTENANCE)
        .await?;
    Ok(Json(MaintenanceList {
        data: upcoming.into_iter().map(shown_maintenance).collect(),
    }))
}

/// The nodes serving the platform's store and their health, as their heartbeats told.
#[utoipa::path(
    get,
    path = "/operator/nodes",
    tag = "operator",
    responses((status = 200, body = NodeList), Failures)
)]
pub async fn nodes(
    State(state): State<ApiState>,
    _: OperatorCaller,
) -> Result<Json<NodeList>, ApiError> {
    let now = Timestamp::now();
    let nodes = state.store().nodes().await?;
    Ok(Json(NodeList {
        data: nodes
            .into_iter()
            .map(|n| Node {
                healthy: n.healthy(now, NODE_HEARTBEAT),
                node: n.node,
                version: n.version,
                listeners: n.listeners,
                queue_size: n.queue_size,
                started_at: n.started_at.into(),
                last_seen: n.last_seen.into(),
            })
            .collect(),
        heartbeat_seconds: NODE_HEARTBEAT.as_secs(),
    }))
}
