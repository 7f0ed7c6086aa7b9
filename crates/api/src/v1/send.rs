//! Sending over HTTP: `POST /messages` (one message) and `POST /messages/batch` (a template for
//! up to 1,000 messages), with `Idempotency-Key`. The composer builds the message; the relay's
//! submitter takes it in through the same intake as SMTP (contract state, limits, suppression,
//! spool fsync and queue record before the answer, events, delivery).

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiJson, Failures};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hikyaku_api_types::{
    BatchItemResult, BatchSendRequest, BatchSendResponse, FieldError, SendRequest, SendResponse,
    SentCopy,
};
use hikyaku_compose::{ComposeError, Composer};
use hikyaku_model::{MessageId, Timestamp};
use hikyaku_relay::{SubmitError, SubmitOutcome, Submitter};
use hikyaku_store::{Begun, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The header a client repeats to make a retry safe.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on an answer replayed for a repeated idempotency key.
const REPLAYED: &str = "idempotent-replayed";

/// What the API needs to send: present on a node that runs the relay's intake.
#[derive(Clone)]
pub struct Sending {
    pub composer: Composer,
    pub submitter: Submitter,
}

/// The address of the API client, as the `Received` field and the send log record it. The
/// listener must be served with connect info; without it the address is unknown (`::`), which
/// only a test setting up the router by hand would see.
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |info| info.0.ip()),
        ))
    }
}

/// Sends one message. `202` once it is durably spooled and queued; its recipients on the
/// contract's suppression list are named in `suppressed` and never sent to. `422
/// sender_domain_not_registered` when the From domain is none of the contract's sender domains
/// and its policy for unregistered domains is `refuse`.
#[utoipa::path(
    post,
    path = "/messages",
    tag = "messages",
    request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Repeating a key within 24 hours answers the first answer again and sends nothing")),
    responses(
        (status = 202, body = SendResponse, description = "Spooled and queued"),
        Failures
    )
)]
pub async fn send(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SendRequest>,
) -> Result<Response, ApiError> {
    let sending = state.sending()?;
    idempotent(&state, &caller, &headers, "send", &request, async {
        let now = Timestamp::now();
        let composed = sending
            .composer
            .compose(&request, MessageId::new(now), now)
            .map_err(compose_error)?;
        let outcome = sending
            .submitter
            .submit(&caller.customer_id, client, composed)
            .await
            .map_err(submit_error)?;
        answer(StatusCode::ACCEPTED, &sent(&caller, outcome))
    })
    .await
}

/// Sends one message per entry of `recipients`, the template's `{{name}}`s replaced by the
/// entry's substitutions. `200` with one result per entry, in order: one bad entry does not
/// stop the others. A fault of the template itself refuses the whole batch.
#[utoipa::path(
    post,
    path = "/messages/batch",
    tag = "messages",
    request_body = BatchSendRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Repeating a key within 24 hours answers the first answer again and sends nothing")),
    responses(
        (status = 200, body = BatchSendResponse, description = "One result per entry, in order"),
        Failures
    )
)]
pub async fn send_batch(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    ApiJson(request): ApiJson<BatchSendRequest>,
) -> Result<Response, ApiError> {
    let sending = state.sending()?;
    idempotent(&state, &caller, &headers, "batch", &request, async {
        let now = Timestamp::now();
        let composed = sending
            .composer
            .compose_batch(&request, now, || MessageId::new(now))
            .map_err(compose_error)?;
        let mut results: Vec<Option<BatchItemResult>> = Vec::with_capacity(composed.len());
        let mut messages = Vec::new();
        let mut positions = Vec::new();
        for (i, item) in composed.into_iter().enumerate() {
            match item {
                Ok(message) => {
                    positions.push(i);
                    messages.push(message);
                    results.push(None);
                }
                Err(error) => results.push(Some(BatchItemResult::Rejected {
                    error: error.to_field_error(),
                })),
            }
        }
        let submitted = sending
            .submitter
            .submit_all(&caller.customer_id, client, messages)
            .await;
        for (i, outcome) in positions.into_iter().zip(submitted) {
            results[i] = Some(match outcome {
                Ok(outcome) => {
                    let SendResponse {
                        message_id,
                        accepted,
                        suppressed,
                        copies,
                    } = sent(&caller, outcome);
                    BatchItemResult::Accepted {
                        message_id,
                        accepted,
                        suppressed,
                        copies,
                    }
                }
                Err(error) => batch_failure(i, error),
            });
        }
        let results = results
            .into_iter()
            .map(|r| r.expect("every entry has its result"))
            .collect();
        answer(StatusCode::OK, &BatchSendResponse { results })
    })
    .await
}

/// The answer for a message taken in, addresses as the caller may see them.
fn sent(caller: &ContractCaller, outcome: SubmitOutcome) -> SendResponse {
    SendResponse {
        message_id: outcome.id.to_string(),
        accepted: outcome.accepted.iter().map(|a| caller.show(a)).collect(),
        suppressed: outcome.suppressed.iter().map(|a| caller.show(a)).collect(),
        copies: outcome
            .copies
            .iter()
            .map(|(id, recipient)| SentCopy {
                message_id: id.to_string(),
                recipient: caller.show(recipient),
            })
            .collect(),
    }
}

/// An entry the submitter refused: its own fault (too large, too many recipients) is
/// `rejected`, the platform's or the contract's state is `failed`.
fn batch_failure(index: usize, error: SubmitError) -> BatchItemResult {
    match error {
        SubmitError::TooLarge { .. } | SubmitError::TooManyRecipients { .. } => {
            BatchItemResult::Rejected {
                error: FieldError {
                    field: format!("recipients[{index}]"),
                    message: error.to_string(),
                },
            }
        }
        SubmitError::SenderDomainNotRegistered { .. } => BatchItemResult::Rejected {
            error: FieldError {
                field: "from".to_string(),
                message: error.to_string(),
            },
        },
        other => BatchItemResult::Failed {
            retryable: other.retry_after().is_some(),
            message: other.to_string(),
        },
    }
}

fn compose_error(error: ComposeError) -> ApiError {
    match error {
        ComposeError::Invalid { field, message } => ApiError::invalid(field, message),
        too_large @ ComposeError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_large",
            too_large.to_string(),
        ),
    }
}

fn submit_error(error: SubmitError) -> ApiError {
    let message = error.to_string();
    let mut answer = match &error {
        SubmitError::ContractMissing(_) | SubmitError::ContractRefused { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, "contract_cannot_send", message)
        }
        SubmitError::SendingPaused { .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "sending_paused", message)
        }
        SubmitError::TooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "message_too_large", message)
        }
        SubmitError::TooManyRecipients { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_recipients",
            message,
        )
        .with_field("to"),
        SubmitError::SenderDomainNotRegistered { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sender_domain_not_registered",
            message,
        )
        .with_field("from"),
        SubmitError::OutOfSpace(_) | SubmitError::Unavailable(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    };
    answer.retry_after = error.retry_after().map(|d| d.as_secs().max(1));
    answer
}

/// A served answer: its status and JSON body, kept as bytes so a replay is byte for byte.
struct Served {
    status: StatusCode,
    body: Vec<u8>,
}

fn answer(status: StatusCode, body: &impl Serialize) -> Result<Served, ApiError> {
    let body = serde_json::to_vec(body).map_err(|_| ApiError::internal())?;
    Ok(Served { status, body })
}

fn respond(served: Served, replayed: bool) -> Response {
    let mut response = (served.status, served.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert(REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// Serves `work` once per idempotency key (when the request has one): a repeat of the same
/// request within the window gets the first answer and nothing is done again. The request is
/// identified by a hash of its operation and its parsed form, so a retry that reorders JSON
/// keys or whitespace is still the same request. A refusal sends nothing, so it releases the
/// key: the corrected request may use it again.
async fn idempotent(
    state: &ApiState,
    caller: &ContractCaller,
    headers: &HeaderMap,
    operation: &str,
    request: &impl Serialize,
    work: impl Future<Output = Result<Served, ApiError>>,
) -> Result<Response, ApiError> {
    let Some(key) = headers.get(IDEMPOTENCY_KEY) else {
        return work.await.map(|served| respond(served, false));
    };
    let key = key
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII characters"))?;
    let mut hash = Sha256::new();
    hash.update(operation.as_bytes());
    hash.update([0]);
    hash.update(serde_json::to_vec(request).map_err(|_| ApiError::internal())?);
    let request_hash = hash.finalize();
    let store = state.store();
    let customer = &caller.customer_id;
    let begun = store
        .idempotency_begin(customer, key, &request_hash, Timestamp::now())
        .await
        .map_err(key_error)?;
    match begun {
        Begun::New => {}
        Begun::Replay { status, response } => {
            let status = StatusCode::from_u16(status).map_err(|_| ApiError::internal())?;
            return Ok(respond(
                Served {
                    status,
                    body: response,
                },
                true,
            ));
        }
        Begun::InProgress => {
            let mut error = ApiError::conflict(
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being served; try again shortly",
            )
            .with_field("Idempotency-Key");
            error.retry_after = Some(1);
            return Err(error);
        }
        Begun::Mismatch => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
            )
            .with_field("Idempotency-Key"));
        }
    }
    match work.await {
        Ok(served) => {
            // Should this fail, the key stays "in progress" until it expires: a retry is told
            // to wait rather than sending the message twice.
            if let Err(error) = store
                .idempotency_finish(customer, key, served.status.as_u16(), &served.body)
                .await
            {
                tracing::warn!(%error, "the answer to an idempotent request was not kept");
            }
            Ok(respond(served, false))
        }
        Err(refusal) => {
            if let Err(error) = store.idempotency_release(customer, key).await {
                tracing::warn!(%error, "an idempotency key of a refused request was not released");
            }
            Err(refusal)
        }
    }
}

fn key_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Invalid { reason, .. } => ApiError::invalid(
            "Idempotency-Key",
            format!("invalid Idempotency-Key: {reason}"),
        ),
        other => other.into(),
    }
}
