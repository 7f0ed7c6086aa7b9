//! Who may call what: the bearer key's look-up behind a seam, the per-key rate limit, and the
//! one table of which roles may use each operation. The guard runs before every handler of a
//! listed route; a route missing from the table is refused to everyone, so forgetting a line
//! fails closed (and the OpenAPI walk in the tests names the route).

use super::ApiState;
use super::error::ApiError;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hikyaku_model::{ApiCaller, CustomerId, Role};
use hikyaku_store::StoreError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Finds the caller a presented bearer key stands for: `None` for an unknown or revoked key.
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    async fn authenticate(&self, presented: &str) -> Result<Option<ApiCaller>, StoreError>;
}

/// The key store: contract keys (`hk_…`) and the operator's (`hko_…`), refused once revoked or
/// once their contract is terminated.
#[async_trait::async_trait]
impl Authenticator for hikyaku_store::Store {
    async fn authenticate(&self, presented: &str) -> Result<Option<ApiCaller>, StoreError> {
        let caller = self.authenticate_api_key(presented).await?;
        // An API call is a use of the contract: an idle trial is suspended only without any.
        if let Some(ApiCaller::Contract { customer_id, .. }) = &caller {
            self.note_api_use(customer_id, hikyaku_model::Timestamp::now())
                .await?;
        }
        Ok(caller)
    }
}

/// Keys held in memory, for tests of the API's frame without the key store.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Default)]
pub struct KeyTable {
    keys: Mutex<HashMap<String, ApiCaller>>,
}

#[cfg(any(test, feature = "test-util"))]
impl KeyTable {
    pub fn insert(&self, presented: &str, caller: ApiCaller) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(presented.to_string(), caller);
    }

    pub fn revoke(&self, presented: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(presented);
    }
}

#[cfg(any(test, feature = "test-util"))]
#[async_trait::async_trait]
impl Authenticator for KeyTable {
    async fn authenticate(&self, presented: &str) -> Result<Option<ApiCaller>, StoreError> {
        Ok(self
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(presented)
            .cloned())
    }
}

/// A caller that code in this process has authenticated already (the console, by its
/// session), put in a request's extensions instead of an `Authorization` header. Nothing from
/// the network can place it there: only a request built in-process carries it, and it is still
/// rate-limited and checked against [`PERMISSIONS`] like a key, so the console reaches exactly
/// what a key of the same role would.
#[derive(Debug, Clone)]
pub struct Delegated(pub ApiCaller);

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// The contract roles that may; empty for operator-only operations.
    pub roles: &'static [Role],
    /// Whether the operator's key may. It never reaches a contract's own data.
    pub operator: bool,
}

const EVERY_ROLE: &[Role] = &[Role::Admin, Role::Sender, Role::Viewer, Role::Billing];
const READERS: &[Role] = &[Role::Admin, Role::Sender, Role::Viewer];
const WRITERS: &[Role] = &[Role::Admin, Role::Sender];
const ADMINS: &[Role] = &[Role::Admin];

/// Read the contract's data (lists, look-ups, exports).
const READ: Allowed = Allowed {
    roles: READERS,
    operator: false,
};
/// Change the contract's data and settings, other than users and keys.
const WRITE: Allowed = Allowed {
    roles: WRITERS,
    operator: false,
};
/// Send mail (the same roles that change the contract's data).
const SEND: Allowed = WRITE;
/// The contract's plan and usage.
const BILLING: Allowed = Allowed {
    roles: EVERY_ROLE,
    operator: false,
};
/// The contract's users and API keys.
const USERS: Allowed = Allowed {
    roles: ADMINS,
    operator: false,
};
/// The contract's webhook endpoints: their secrets sign what the contract's systems trust.
const WEBHOOKS: Allowed = Allowed {
    roles: ADMINS,
    operator: false,
};
/// Ask the operator, and see the platform's maintenance and availability: anyone of the
/// contract.
const EVERYONE: Allowed = Allowed {
    roles: EVERY_ROLE,
    operator: false,
};
/// The operator area.
const OPERATOR: Allowed = Allowed {
    roles: &[],
    operator: true,
};

/// Every operation of the API, by method and path as the OpenAPI document names them (relative
/// to `/api/v1`). A new route needs its line here or no one may call it.
pub const PERMISSIONS: &[(Method, &str, Allowed)] = &[
    (Method::POST, "/messages", SEND),
    (Method::POST, "/messages/batch", SEND),
    (Method::GET, "/suppressions", READ),
    (Method::POST, "/suppressions", WRITE),
    (Method::GET, "/suppressions/{address}", READ),
    (Method::DELETE, "/suppressions/{address}", WRITE),
    (Method::POST, "/suppressions/import", WRITE),
    (Method::GET, "/suppressions/imports", READ),
    (Method::POST, "/suppressions/imports", WRITE),
    (Method::GET, "/suppressions/imports/{import_id}", READ),
    (Method::GET, "/suppressions/export", READ),
    (Method::GET, "/settings/allowed-ips", READ),
    (Method::POST, "/settings/allowed-ips", WRITE),
    (Method::DELETE, "/settings/allowed-ips/{cidr}", WRITE),
    (Method::GET, "/settings/smtp-credentials", READ),
    (Method::POST, "/settings/smtp-credentials", WRITE),
    (
        Method::DELETE,
        "/settings/smtp-credentials/{username}",
        WRITE,
    ),
    (Method::GET, "/settings/inbound-routes", READ),
    (Method::POST, "/settings/inbound-routes", WRITE),
    (Method::PATCH, "/settings/inbound-routes/{id}", WRITE),
    (Method::DELETE, "/settings/inbound-routes/{id}", WRITE),
    (Method::GET, "/plan", BILLING),
    (Method::GET, "/notices", READ),
    (Method::GET, "/users", USERS),
    (Method::POST, "/users", USERS),
    (Method::GET, "/users/{user_id}", USERS),
    (Method::DELETE, "/users/{user_id}", USERS),
    (Method::GET, "/api-keys", USERS),
    (Method::POST, "/api-keys", USERS),
    (Method::GET, "/api-keys/{key_id}", USERS),
    (Method::DELETE, "/api-keys/{key_id}", USERS),
    (Method::GET, "/operator/contracts", OPERATOR),
    (Method::POST, "/operator/contracts", OPERATOR),
    (Method::GET, "/operator/contracts/{customer_id}", OPERATOR),
    (
        Method::POST,
        "/operator/contracts/{customer_id}/suspend",
        OPERATOR,
    ),
    (
        Method::POST,
        "/operator/contracts/{customer_id}/resume",
        OPERATOR,
    ),
    (
        Method::POST,
        "/operator/contracts/{customer_id}/terminate",
        OPERATOR,
    ),
    (Method::GET, "/operator/plans", OPERATOR),
    (Method::GET, "/operator/usage", OPERATOR),
    (Method::GET, "/events", READ),
    (Method::GET, "/messages/{message_id}", READ),
    (Method::GET, "/bounces", READ),
    (Method::GET, "/stats", READ),
    (Method::GET, "/stats/reasons", READ),
    (Method::GET, "/stats/domains", READ),
    (Method::GET, "/usage", BILLING),
    (Method::GET, "/webhooks", WEBHOOKS),
    (Method::POST, "/webhooks", WEBHOOKS),
    (Method::PATCH, "/webhooks/{endpoint_id}", WEBHOOKS),
    (Method::DELETE, "/webhooks/{endpoint_id}", WEBHOOKS),
    (Method::POST, "/webhooks/{endpoint_id}/test", WEBHOOKS),
    (Method::GET, "/webhooks/{endpoint_id}/attempts", WEBHOOKS),
    (
        Method::POST,
        "/webhooks/{endpoint_id}/rotate-secret",
        WEBHOOKS,
    ),
    (Method::GET, "/settings/sender-domains", READ),
    (Method::POST, "/settings/sender-domains", WRITE),
    (Method::GET, "/settings/sender-domains/{domain}", READ),
    (Method::DELETE, "/settings/sender-domains/{domain}", WRITE),
    (
        Method::POST,
        "/settings/sender-domains/{domain}/check",
        WRITE,
    ),
    (Method::GET, "/settings/smime-certificates", READ),
    (Method::POST, "/settings/smime-certificates", WRITE),
    (
        Method::DELETE,
        "/settings/smime-certificates/{certificate_id}",
        WRITE,
    ),
    (Method::GET, "/settings/send-control", READ),
    (
        Method::POST,
        "/operator/contracts/{customer_id}/plan",
        OPERATOR,
    ),
    (Method::POST, "/inquiries", EVERYONE),
    (Method::GET, "/maintenance", EVERYONE),
    (Method::GET, "/operator/inquiries", OPERATOR),
    (
        Method::POST,
        "/operator/inquiries/{inquiry_id}/handled",
        OPERATOR,
    ),
    (Method::GET, "/operator/maintenance", OPERATOR),
    (Method::POST, "/operator/maintenance", OPERATOR),
    (Method::GET, "/operator/nodes", OPERATOR),
    (Method::GET, "/operator/availability", OPERATOR),
    (Method::GET, "/availability", EVERYONE),
];

/// Who may call `method path` (`path` relative to `/api/v1`); `None` for an unlisted route.
pub fn allowed(method: &Method, path: &str) -> Option<Allowed> {
    PERMISSIONS
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, allowed)| *allowed)
}

impl Allowed {
    pub fn admits(&self, caller: &ApiCaller) -> bool {
        match caller {
            ApiCaller::Contract { role, .. } => self.roles.contains(role),
            ApiCaller::Operator { .. } => self.operator,
        }
    }
}

/// The route's path relative to `/api/v1`, however the router was nested.
fn relative(path: &str) -> &str {
    path.strip_prefix(super::PREFIX).unwrap_or(path)
}

/// Authenticates, rate-limits and checks the table, in that order: an unknown key learns
/// nothing about limits or permissions, and a key over its limit is told so before anything
/// else is decided for it.
pub(crate) async fn guard(
    State(state): State<ApiState>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let delegated = request.extensions_mut().remove::<Delegated>();
    let caller = match delegated {
        Some(Delegated(caller)) => caller,
        None => match authenticate(&state, request.headers()).await {
            Ok(caller) => caller,
            Err(error) => return error.into_response(),
        },
    };
    if let Err(wait) = state.0.limiter.take(caller_key(&caller), Instant::now()) {
        return ApiError::rate_limited(wait.as_secs_f64().ceil().max(1.0) as u64).into_response();
    }
    // HEAD is answered by the GET route: it may what GET may.
    let method = match request.method() {
        &Method::HEAD => Method::GET,
        other => other.clone(),
    };
    let permitted = matched
        .as_ref()
        .and_then(|m| allowed(&method, relative(m.as_str())))
        .is_some_and(|allowed| allowed.admits(&caller));
    if !permitted {
        return ApiError::forbidden().into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

async fn authenticate(
    state: &ApiState,
    headers: &axum::http::HeaderMap,
) -> Result<ApiCaller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "an API key is needed: Authorization: Bearer <key>",
        ));
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, key) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        })
        .filter(|key| !key.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be Bearer <key>"))?;
    match state.0.authenticator.authenticate(presented).await {
        Ok(Some(caller)) => Ok(caller),
        Ok(None) => Err(ApiError::unauthorized("unknown or revoked API key")),
        Err(error) => Err(error.into()),
    }
}

fn caller_key(caller: &ApiCaller) -> &str {
    match caller {
        ApiCaller::Contract { key_id, .. } | ApiCaller::Operator { key_id } => key_id,
    }
}

/// A token bucket per key, in this node's memory: each node limits on its own, so behind `n`
/// nodes a key may reach `n` times the rate; good enough to stop a runaway client.
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets kept before full ones are forgotten (a full bucket is the same as none).
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    pub(crate) fn new(per_second: f64, burst: u32) -> Self {
        RateLimiter {
            per_second,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `key`, or says how long until one is there.
    pub(crate) fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + rate * now.duration_since(b.at).as_secs_f64() < burst);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

/// The contract an authenticated request acts for (the guard has checked the role).
#[derive(Debug, Clone)]
pub struct ContractCaller {
    pub customer_id: CustomerId,
    pub role: Role,
    pub see_addresses: bool,
}

impl ContractCaller {
    /// An address as this caller may see it: in clear, or masked.
    pub fn show(&self, address: &str) -> String {
        super::mask::shown_address(address, self.see_addresses)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ContractCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<ApiCaller>() {
            Some(ApiCaller::Contract {
                customer_id,
                role,
                see_addresses,
                ..
            }) => Ok(ContractCaller {
                customer_id: customer_id.clone(),
                role: *role,
                see_addresses: *see_addresses,
            }),
            _ => Err(ApiError::forbidden()),
        }
    }
}

/// The operator's authenticated request.
#[derive(Debug, Clone)]
pub struct OperatorCaller {
    #[allow(dead_code)]
    pub key_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for OperatorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<ApiCaller>() {
            Some(ApiCaller::Operator { key_id }) => Ok(OperatorCaller {
                key_id: key_id.clone(),
            }),
            _ => Err(ApiError::forbidden()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_its_burst_then_its_rate() {
        let limiter = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("k", t0).is_ok());
        }
        let wait = limiter.take("k", t0).unwrap_err();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        assert!(
            limiter.take("other", t0).is_ok(),
            "keys have their own buckets"
        );
        assert!(limiter.take("k", t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.take("k", t0 + Duration::from_millis(500)).is_err());
        // Idle time fills the bucket up to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.take("k", later).is_ok());
        }
        assert!(limiter.take("k", later).is_err());
    }

    #[test]
    fn the_table_follows_the_roles() {
        let contract = |role| ApiCaller::Contract {
            customer_id: "abc123".parse().unwrap(),
            key_id: "k".into(),
            role,
            see_addresses: false,
        };
        let operator = ApiCaller::Operator { key_id: "o".into() };
        let list = allowed(&Method::GET, "/suppressions").unwrap();
        let add = allowed(&Method::POST, "/suppressions").unwrap();
        let plan = allowed(&Method::GET, "/plan").unwrap();
        let contracts = allowed(&Method::GET, "/operator/contracts").unwrap();
        assert!(list.admits(&contract(Role::Viewer)) && !list.admits(&contract(Role::Billing)));
        assert!(add.admits(&contract(Role::Sender)) && !add.admits(&contract(Role::Viewer)));
        assert!(plan.admits(&contract(Role::Billing)) && !plan.admits(&operator));
        assert!(!list.admits(&operator) && !add.admits(&operator));
        assert!(contracts.admits(&operator) && !contracts.admits(&contract(Role::Admin)));
        assert!(allowed(&Method::PUT, "/suppressions").is_none());
        let mut seen = std::collections::HashSet::new();
        for (method, path, _) in PERMISSIONS {
            assert!(
                seen.insert((method.clone(), *path)),
                "{method} {path} twice"
            );
        }
    }
}
