//! The contract's webhook endpoints (admins only: their secrets sign what the contract's
//! systems trust): list, create, edit, delete, a test event, the attempt log, secret rotation.

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Failures, id_in_path};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hikyaku_api_types::{
    NewWebhookEndpoint, RotateWebhookSecret, WebhookAttemptList, WebhookEndpointList,
    WebhookEndpointPatch, WebhookSecret,
};
use hikyaku_model::Timestamp;
use hikyaku_store::WebhookFormat;
use hikyaku_webhooks::{EndpointEdit, EndpointOptions, WebhookError};
use serde::Deserialize;
use utoipa::IntoParams;

/// How long the old secret signs beside the new one when the rotation does not say.
const DEFAULT_OVERLAP: &str = "24h";

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AttemptsQuery {
    /// The newest this many attempts, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

fn endpoint_id(text: &str) -> Result<i64, ApiError> {
    id_in_path(text, "webhook endpoint")
}

fn refused(error: WebhookError) -> ApiError {
    match error {
        WebhookError::InvalidUrl { .. } => ApiError::invalid("url", error.to_string()),
        WebhookError::UnknownKind(_) => ApiError::invalid("events", error.to_string()),
        WebhookError::Invalid { field, .. } => ApiError::invalid(field, error.to_string()),
        WebhookError::Store(e) => e.into(),
        other => {
            tracing::error!(error = %other, "webhook management failed");
            ApiError::internal()
        }
    }
}

/// The contract's webhook endpoints, oldest first (never their secrets).
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    responses((status = 200, body = WebhookEndpointList), Failures)
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: ContractCaller,
) -> Result<Json<WebhookEndpointList>, ApiError> {
    let endpoints = state.store().webhook_endpoints(&caller.customer_id).await?;
    Ok(Json(WebhookEndpointList {
        endpoints: endpoints.iter().map(hikyaku_webhooks::shown).collect(),
    }))
}

/// Adds an endpoint. Its signing secret is in this answer only.
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    request_body = NewWebhookEndpoint,
    responses((status = 201, body = WebhookSecret), Failures)
)]
pub async fn create(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiJson(new): ApiJson<NewWebhookEndpoint>,
) -> Result<(StatusCode, Json<WebhookSecret>), ApiError> {
    let format = match new.format.as_deref() {
        Some(name) => hikyaku_webhooks::parse_format(name).map_err(refused)?,
        None => WebhookFormat::Standard,
    };
    let kinds =
        hikyaku_webhooks::parse_kinds_for(new.events.as_deref(), format).map_err(refused)?;
    let options = EndpointOptions {
        one_per_request: new.one_per_request,
        format,
        api_key: new.api_key,
    };
    let (id, secret) = hikyaku_webhooks::add_endpoint_with(
        state.store(),
        &caller.customer_id,
        &new.url,
        &kinds,
        &options,
        state.0.allow_private_webhooks,
    )
    .await
    .map_err(refused)?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookSecret {
            id,
            secret,
            previous_secret_until: None,
        }),
    ))
}

/// Edits an endpoint: the fields given replace its own, checked as for a new endpoint; its
/// secret stays (rotating it is `rotate-secret`). Events already queued go out as the endpoint
/// now says.
#[utoipa::path(
    patch,
    path = "/webhooks/{endpoint_id}",
    tag = "webhooks",
    params(("endpoint_id" = i64, Path, description = "The endpoint's ID")),
    request_body = WebhookEndpointPatch,
    responses((status = 200, body = hikyaku_api_types::WebhookEndpoint), Failures)
)]
pub async fn edit(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<WebhookEndpointPatch>,
) -> Result<Json<hikyaku_api_types::WebhookEndpoint>, ApiError> {
    let id = endpoint_id(&id)?;
    let format = patch
        .format
        .as_deref()
        .map(hikyaku_webhooks::parse_format)
        .transpose()
        .map_err(refused)?;
    let kinds = match &patch.events {
        Some(names) => {
            Some(hikyaku_webhooks::parse_kinds(Some(names.as_slice())).map_err(refused)?)
        }
        None => None,
    };
    let edit = EndpointEdit {
        url: patch.url.map(|url| url.trim().to_string()),
        kinds,
        one_per_request: patch.one_per_request,
        format,
        api_key: patch.api_key,
        enabled: patch.enabled,
    };
    let edited = hikyaku_webhooks::edit_endpoint(
        state.store(),
        &caller.customer_id,
        id,
        &edit,
        state.0.allow_private_webhooks,
    )
    .await
    .map_err(refused)?;
    match edited {
        Some(endpoint) => Ok(Json(hikyaku_webhooks::shown(&endpoint))),
        None => Err(ApiError::not_found("webhook endpoint")),
    }
}

/// Removes an endpoint; its events not yet sent go with it.
#[utoipa::path(
    delete,
    path = "/webhooks/{endpoint_id}",
    tag = "webhooks",
    params(("endpoint_id" = i64, Path, description = "The endpoint's ID")),
    responses((status = 204, description = "Removed"), Failures)
)]
pub async fn remove(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = endpoint_id(&id)?;
    match state
        .store()
        .remove_webhook_endpoint(&caller.customer_id, id)
        .await?
    {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found("webhook endpoint")),
    }
}

/// Queues a test event (kind `test`) for the endpoint, sent like every other request: signed,
/// retried, in the attempt log.
#[utoipa::path(
    post,
    path = "/webhooks/{endpoint_id}/test",
    tag = "webhooks",
    params(("endpoint_id" = i64, Path, description = "The endpoint's ID")),
    responses((status = 202, description = "Queued"), Failures)
)]
pub async fn test(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = endpoint_id(&id)?;
    match state
        .store()
        .enqueue_webhook_test(&caller.customer_id, id, Timestamp::now())
        .await?
    {
        true => Ok(StatusCode::ACCEPTED),
        false => Err(ApiError::not_found("webhook endpoint")),
    }
}

/// The endpoint's delivery attempts, newest first.
#[utoipa::path(
    get,
    path = "/webhooks/{endpoint_id}/attempts",
    tag = "webhooks",
    params(("endpoint_id" = i64, Path, description = "The endpoint's ID"), AttemptsQuery),
    responses((status = 200, body = WebhookAttemptList), Failures)
)]
pub async fn attempts(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<AttemptsQuery>,
) -> Result<Json<WebhookAttemptList>, ApiError> {
    let id = endpoint_id(&id)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "limit is 1 to 1000"));
    }
    if state
        .store()
        .webhook_endpoint(&caller.customer_id, id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("webhook endpoint"));
    }
    let attempts = state
        .store()
        .webhook_attempts(&caller.customer_id, id, limit)
        .await?;
    Ok(Json(WebhookAttemptList {
        attempts: attempts
            .iter()
            .map(hikyaku_webhooks::attempt_shown)
            .collect(),
    }))
}

/// Gives the endpoint a new secret (in this answer only). Until `previous_secret_until`,
/// requests carry the old secret's signature beside the new one's.
#[utoipa::path(
    post,
    path = "/webhooks/{endpoint_id}/rotate-secret",
    tag = "webhooks",
    params(("endpoint_id" = i64, Path, description = "The endpoint's ID")),
    request_body = RotateWebhookSecret,
    responses((status = 200, body = WebhookSecret), Failures)
)]
pub async fn rotate_secret(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(rotation): ApiJson<RotateWebhookSecret>,
) -> Result<Json<WebhookSecret>, ApiError> {
    let id = endpoint_id(&id)?;
    let overlap: hikyaku_config::Duration = rotation
        .overlap
        .as_deref()
        .unwrap_or(DEFAULT_OVERLAP)
        .parse()
        .map_err(|e: String| ApiError::invalid("overlap", e))?;
    if overlap.as_std() > std::time::Duration::from_secs(30 * 86_400) {
        return Err(ApiError::invalid("overlap", "at most 30 days"));
    }
    let rotated =
        hikyaku_webhooks::rotate_secret(state.store(), &caller.customer_id, id, overlap.as_std())
            .await
            .map_err(refused)?;
    match rotated {
        Some((secret, until)) => Ok(Json(WebhookSecret {
            id,
            secret,
            previous_secret_until: Some(until.into()),
        })),
        None => Err(ApiError::not_found("webhook endpoint")),
    }
}
