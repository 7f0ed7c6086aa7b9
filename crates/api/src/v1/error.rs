//! Every failure of the API as one JSON shape, including axum's own refusals (bad JSON, wrong
//! content type, a body too large, an unknown route or method) and a handler's panic: a client
//! never has to parse HTML or an empty body to learn what went wrong.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hikyaku_api_types::{ErrorBody, ErrorDetail};
use hikyaku_store::StoreError;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

/// A failure answer: its status, a stable `snake_case` code, a message for people and the
/// request field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds, for `429` and `503`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this key may not use this operation",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests for this key: try again in {retry_after} s"),
        );
        error.retry_after = Some(retry_after);
        error
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; it is logged (retrying is safe)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ContractNotFound(_) => ApiError::not_found("contract"),
            StoreError::ContractTerminated(id) => ApiError::conflict(
                "contract_terminated",
                format!("contract {id} is terminated: it can no longer change"),
            ),
            StoreError::UsernameTaken(name) => ApiError::conflict(
                "already_exists",
                format!("the SMTP user name {name:?} is already taken"),
            )
            .with_field("username"),
            e @ StoreError::RangeOverlaps { .. } => {
                ApiError::conflict("range_overlaps", e.to_string()).with_field("cidr")
            }
            StoreError::InboundPatternTaken(_) => ApiError::conflict(
                "already_exists",
                "an inbound route already has this pattern",
            )
            .with_field("pattern"),
            StoreError::InboundRouteNotFound(_) => ApiError::not_found("inbound route"),
            StoreError::Invalid { what, reason } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                format!("invalid {what}: {reason}"),
            ),
            e if e.is_transient() => {
                tracing::warn!(error = %e, "API request failed on the database");
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is not answering; try again",
                );
                error.retry_after = Some(1);
                error
            }
            e => {
                tracing::error!(error = %e, "API request failed");
                ApiError::internal()
            }
        }
    }
}

/// A JSON request body, refused with an [`ApiError`] naming the field when it does not fit:
/// syntax errors are `400 invalid_json`, a body of the wrong shape `422` (`unknown_field`,
/// `missing_field`, `invalid_field`), a missing or wrong content type `415`, a body over the
/// limit `413`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub(crate) fn is_json(headers: &axum::http::HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m == "application/json" || m.ends_with("+json"))
}

/// The content type without its parameters, lowercased.
pub(crate) fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

pub(crate) fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than this server takes (api.max_body_bytes)",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            rejection.body_text(),
        )
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let invalid_json = |inner: serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {inner}"),
        )
    };
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    value
        .map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if !inner.is_data() {
                return invalid_json(inner);
            }
            let message = inner.to_string();
            let named = |prefix: &str| {
                let rest = message.strip_prefix(prefix)?;
                let name = rest.split('`').next()?;
                Some(join_path(&path, name))
            };
            if let Some(field) = named("unknown field `") {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_field",
                    format!("unknown field {field:?}"),
                )
                .with_field(field)
            } else if let Some(field) = named("missing field `") {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "missing_field",
                    format!("missing field {field:?}"),
                )
                .with_field(field)
            } else {
                let field = if path == "." { None } else { Some(path) };
                let error =
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message);
                match field {
                    Some(field) => error.with_field(field),
                    None => error,
                }
            }
        })
        .and_then(|value| {
            deserializer.end().map_err(invalid_json)?;
            Ok(value)
        })
}

/// The failing field's full path: serde_path_to_error's path ends at the unknown field itself
/// but at the parent of a missing one.
fn join_path(path: &str, name: &str) -> String {
    if path == name || path.ends_with(&format!(".{name}")) {
        path.to_string()
    } else if path.is_empty() || path == "." {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Query parameters, refused as `400 invalid_query` when they do not fit.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text())
            })
    }
}

/// Path parameters, refused as `400 invalid_path` when they do not fit.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text())
            })
    }
}

/// A record's ID taken from the path. Text that is no ID of this kind names no record, so it
/// is answered as an ID that was never issued is (`404 not_found`), not as a malformed request
/// (`400 invalid_path`): either way there is no such record to act on.
pub(crate) fn id_in_path<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::not_found(what))
}

pub(crate) async fn route_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "no such API route (see /api/v1/openapi.json)",
    )
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take this method (see /api/v1/openapi.json)",
    )
}

/// A handler's panic, answered instead of a dropped connection.
pub(crate) fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %text, "API handler panicked");
    ApiError::internal().into_response()
}

/// The failure answers every operation may give, for the OpenAPI document: a `4XX` with
/// [`ErrorBody`].
pub struct Failures;

impl utoipa::IntoResponses for Failures {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        };
        BTreeMap::from([
            (
                "4XX".to_string(),
                error("The request was refused; see error.code"),
            ),
            (
                "5XX".to_string(),
                error("The server failed or the database is away; retrying is safe"),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        address: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        entries: Vec<Inner>,
    }

    #[test]
    fn json_failures_name_their_field() {
        let e =
            parse_json::<Outer>(br#"{"entries":[{"address":"a@b"},{"adress":"x"}]}"#).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("unknown_field", Some("entries[1].adress"))
        );
        let e = parse_json::<Outer>(br#"{"entries":[{}]}"#).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("missing_field", Some("entries[0].address"))
        );
        let e = parse_json::<Outer>(br#"{"entries":[{"address":5}]}"#).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("invalid_field", Some("entries[0].address"))
        );
        let e = parse_json::<Outer>(br#"{"entries":"#).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        let e = parse_json::<Outer>(br#"{"entries":[]} trailing"#).unwrap_err();
        assert_eq!(e.code, "invalid_json");
        assert!(parse_json::<Outer>(br#"{"entries":[]}"#).is_ok());
        let e = parse_json::<Outer>(b"\xff\xfe").unwrap_err();
        assert_eq!(e.code, "invalid_json");
    }
}
