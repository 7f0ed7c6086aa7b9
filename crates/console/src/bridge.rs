//! The console's one way to a contract's data: a request to the REST API's own router, in
//! process, for the session's user. The API's guard checks the user's role against its
//! permission table and the handlers name only the user's contract and mask addresses as for
//! a key of the same role, so the console holds no second copy of any of that.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use hikyaku_api::v1::access::Delegated;
use hikyaku_model::ApiCaller;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

/// What the API answered, when it was not a success.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub code: String,
    /// The API's own words (English), shown under the translated summary.
    pub message: String,
}

/// An answer's body: at most this many bytes are read (an export is streamed, not read here).
const MAX_ANSWER: usize = 64 << 20;

/// Calls the API as `caller`: `path_and_query` relative to `/api/v1`.
pub async fn call(
    api: &Router,
    caller: &ApiCaller,
    method: Method,
    path_and_query: &str,
    body: Option<(&'static str, Vec<u8>)>,
) -> Result<(StatusCode, axum::http::HeaderMap, bytes::Bytes), ApiFailure> {
    let mut request = Request::builder().method(method).uri(path_and_query);
    let body = match body {
        Some((content_type, bytes)) => {
            request = request.header(header::CONTENT_TYPE, content_type);
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    let mut request = request.body(body).map_err(|e| ApiFailure {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_query".into(),
        message: e.to_string(),
    })?;
    request.extensions_mut().insert(Delegated(caller.clone()));
    let response = match api.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let bytes = http_body_util::Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| ApiFailure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal".into(),
            message: e.to_string(),
        })?
        .to_bytes();
    if parts.status.is_success() {
        return Ok((parts.status, parts.headers, bytes));
    }
    let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Err(ApiFailure {
        status: parts.status,
        code: error["error"]["code"].as_str().unwrap_or("").to_string(),
        message: error["error"]["message"].as_str().unwrap_or("").to_string(),
    })
}

/// A `GET` whose JSON answer is read as `T`.
pub async fn get<T: DeserializeOwned>(
    api: &Router,
    caller: &ApiCaller,
    path_and_query: &str,
) -> Result<T, ApiFailure> {
    let (_, _, bytes) = call(api, caller, Method::GET, path_and_query, None).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiFailure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "internal".into(),
        message: format!("unexpected answer from the API: {e}"),
    })
}

/// A query string of the non-empty pairs, each value percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        out.push_str(&encode(value.trim()));
    }
    out
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for a path segment or a
/// query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_encode_what_a_user_typed() {
        assert_eq!(
            query(&[("recipient", "a+b@x.jp"), ("kind", ""), ("tag", "a&b=c d")]),
            "?recipient=a%2Bb%40x.jp&tag=a%26b%3Dc%20d"
        );
        assert_eq!(query(&[("x", "  ")]), "");
        assert_eq!(encode("../%2F/日"), "..%2F%252F%2F%E6%97%A5");
    }
}
