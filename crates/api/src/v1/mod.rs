//! The REST API under `/api/v1`: the frame (authentication, the permission table, rate limits,
//! JSON errors, pagination, masking) and the endpoints over the store.
//!
//! Adding an endpoint is a handler with its `#[utoipa::path]`, one `routes!` line in
//! [`operations`] and one line in [`access::PERMISSIONS`]; the OpenAPI document, the guard and
//! the tenant-isolation walk in the tests pick it up from there.

pub mod access;
mod availability;
pub use availability::shown_availability;
mod domains;
pub use domains::{
    GeneratedKey, KeyGenerationError, dns_platform, generate_keys, key_record, shown_sender_domain,
};
pub mod error;
pub mod mask;
mod messages;
mod notices;
mod operator;
mod operator_area;
pub mod paging;
pub mod send;
mod send_control;
mod send_log;
mod settings;
mod smime;
mod stats;
mod suppression_csv;
pub mod suppression_imports;
mod suppressions;
mod users;
mod webhooks;

use access::{Authenticator, RateLimiter};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hikyaku_api_types::Plan;
use hikyaku_config::Config;
use hikyaku_store::Store;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the API is mounted on the HTTP listener.
pub const PREFIX: &str = "/api/v1";

/// What the API's handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState(Arc<Inner>);

struct Inner {
    store: Store,
    authenticator: Arc<dyn Authenticator>,
    limiter: RateLimiter,
    max_body_bytes: usize,
    /// The configured plans, the default first.
    plans: Vec<Plan>,
    /// Minutes east of UTC of the zone whose calendar months usage is counted in.
    usage_offset_minutes: i32,
    /// That zone as the availability figures name it (`+09:00`).
    usage_time_zone: String,
    min_allowed_prefix_v4: u8,
    min_allowed_prefix_v6: u8,
    /// `[webhooks] allow_private_endpoints`: plain HTTP and private addresses for endpoints.
    allow_private_webhooks: bool,
    /// Present on a node that runs the relay's intake; without it sending answers `503`.
    sending: Option<send::Sending>,
    /// The platform's DNS as the sender domains' check needs it.
    dns: domains::DnsSetting,
    /// The platform's send-control rules, as contracts read them.
    send_control: hikyaku_api_types::SendControlRules,
}

impl ApiState {
    /// The API over `store`, with keys looked up by `authenticator`, as `config` sets it up.
    pub fn new(store: Store, authenticator: Arc<dyn Authenticator>, config: &Config) -> Self {
        let plans = config
            .contracts
            .plans
            .iter()
            .map(|name| Plan {
                name: name.clone(),
                monthly_volume: config.plans.get(name).and_then(|p| p.monthly_volume),
            })
            .collect();
        ApiState(Arc::new(Inner {
            store,
            authenticator,
            limiter: RateLimiter::new(config.api.requests_per_second, config.api.burst),
            max_body_bytes: usize::try_from(config.api.max_body_bytes.0).unwrap_or(usize::MAX),
            plans,
            usage_offset_minutes: config.contracts.usage_time_zone.offset_minutes(),
            usage_time_zone: config.contracts.usage_time_zone.to_string(),
            min_allowed_prefix_v4: config.relay.min_allowed_prefix_v4,
            min_allowed_prefix_v6: config.relay.min_allowed_prefix_v6,
            allow_private_webhooks: config.webhooks.allow_private_endpoints,
            sending: None,
            dns: domains::DnsSetting::of(config),
            send_control: send_control::rules_of(config),
        }))
    }

    /// Lets the API send, through `sending`'s composer and submitter.
    pub fn with_sending(mut self, sending: send::Sending) -> Self {
        Arc::get_mut(&mut self.0)
            .expect("the API state is set up before it is shared")
            .sending = Some(sending);
        self
    }

    fn sending(&self) -> Result<&send::Sending, error::ApiError> {
        self.0.sending.as_ref().ok_or_else(|| {
            let mut error = error::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "this node does not take mail",
            );
            error.retry_after = Some(60);
            error
        })
    }

    pub(crate) fn store(&self) -> &Store {
        &self.0.store
    }

    /// For the hosted-API surface ([`crate::hosted`]), which authenticates, limits and sends
    /// through the same parts as this API.
    pub(crate) fn authenticator(&self) -> &dyn Authenticator {
        self.0.authenticator.as_ref()
    }

    pub(crate) fn limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }

    pub(crate) fn sending_if_any(&self) -> Option<&send::Sending> {
        self.0.sending.as_ref()
    }

    pub(crate) fn max_body_bytes(&self) -> usize {
        self.0.max_body_bytes
    }

    /// Minutes east of UTC of the contracts' time zone (`contracts.usage_time_zone`).
    pub(crate) fn zone_offset_minutes(&self) -> i32 {
        self.0.usage_offset_minutes
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hikyaku API",
        description = "The REST API of Hikyaku, a self-hosted transactional e-mail platform. \
            Every request carries `Authorization: Bearer <key>`. Failures are always \
            `{\"error\":{\"code\",\"message\",\"field\"}}`. Lists page with `limit` and the \
            opaque `cursor` of the previous page's `next_cursor`."
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    components(schemas(hikyaku_api_types::ErrorBody, hikyaku_api_types::ErrorDetail)),
    tags(
        (name = "messages", description = "Sending, one message or a batch"),
        (name = "send log", description = "The contract's events, messages and bounces"),
        (name = "statistics", description = "The contract's counts over time, by reason, by domain"),
        (name = "suppressions", description = "The contract's suppression list"),
        (name = "settings", description = "Allowed IP ranges, SMTP credentials, inbound routes, sender domains and DKIM, S/MIME certificates, send control"),
        (name = "plan", description = "The contract's plan and usage"),
        (name = "notices", description = "What happened to the contract: certificates running out, …"),
        (name = "users", description = "The contract's console users and API keys (admins)"),
        (name = "webhooks", description = "The contract's webhook endpoints and their attempt log (admins)"),
        (name = "operator", description = "The operator area: contracts and plans"),
        (name = "inquiries", description = "The contract's inquiries to the operator"),
        (name = "availability", description = "The platform's availability in a month and the credit it earns"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some("An API key (`hk_…`) or the operator's key".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Every operation, registered with the router and the document in one call each.
fn operations() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(send::send))
        .routes(routes!(send::send_batch))
        .routes(routes!(suppressions::list, suppressions::add))
        .routes(routes!(suppressions::show, suppressions::remove))
        .routes(routes!(suppressions::import))
        .routes(routes!(
            suppression_imports::list,
            suppression_imports::create
        ))
        .routes(routes!(suppression_imports::show))
        .routes(routes!(suppressions::export))
        .routes(routes!(
            settings::list_allowed_ips,
            settings::add_allowed_ip
        ))
        .routes(routes!(settings::remove_allowed_ip))
        .routes(routes!(
            settings::list_smtp_credentials,
            settings::add_smtp_credential
        ))
        .routes(routes!(settings::remove_smtp_credential))
        .routes(routes!(
            settings::list_inbound_routes,
            settings::add_inbound_route
        ))
        .routes(routes!(
            settings::edit_inbound_route,
            settings::remove_inbound_route
        ))
        .routes(routes!(settings::plan))
        .routes(routes!(notices::list))
        .routes(routes!(operator::list_contracts, operator::create_contract))
        .routes(routes!(operator::show_contract))
        .routes(routes!(operator::suspend_contract))
        .routes(routes!(operator::resume_contract))
        .routes(routes!(operator::terminate_contract))
        .routes(routes!(operator::plans))
        .routes(routes!(stats::usage_of_all))
        .routes(routes!(send_log::search))
        .routes(routes!(messages::history))
        .routes(routes!(send_log::bounces))
        .routes(routes!(stats::series))
        .routes(routes!(stats::by_reason))
        .routes(routes!(stats::by_domain))
        .routes(routes!(stats::usage))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::show_user, users::remove_user))
        .routes(routes!(users::list_api_keys, users::create_api_key))
        .routes(routes!(users::show_api_key, users::revoke_api_key))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::edit, webhooks::remove))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::attempts))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(domains::list, domains::add))
        .routes(routes!(domains::show, domains::remove))
        .routes(routes!(domains::check))
        .routes(routes!(smime::list, smime::install))
        .routes(routes!(smime::remove))
        .routes(routes!(send_control::rules))
        .routes(routes!(operator_area::change_plan))
        .routes(routes!(operator_area::send_inquiry))
        .routes(routes!(operator_area::list_inquiries))
        .routes(routes!(operator_area::mark_inquiry))
        .routes(routes!(
            operator_area::list_maintenance,
            operator_area::create_maintenance
        ))
        .routes(routes!(operator_area::upcoming_maintenance))
        .routes(routes!(operator_area::nodes))
        .routes(routes!(availability::of_operator))
        .routes(routes!(availability::of_contract))
}

/// The OpenAPI 3.1 document of the API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    operations().into_openapi()
}

/// The API's router, to be nested at [`PREFIX`].
pub fn router(state: ApiState) -> Router {
    let (routes, document) = operations().split_for_parts();
    let document: Arc<str> = document
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
        .into();
    let max_body = state.0.max_body_bytes;
    let routes = routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::guard,
        ))
        // The document and its reference page are public: they describe, they hold no data.
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        document.to_string(),
                    )
                }
            }),
        )
        .route("/docs", get(reference_page))
        .route("/docs/redoc.standalone.js", get(redoc_script));
    framed(routes, max_body).with_state(state)
}

/// What every API route gets around it: JSON for unknown routes and methods, the body limit,
/// and a handler's panic answered `500` JSON instead of a dropped connection.
fn framed<S: Clone + Send + Sync + 'static>(routes: Router<S>, max_body: usize) -> Router<S> {
    routes
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
}

const REDOC: &[u8] = include_bytes!("../../assets/redoc.standalone.js");

const REFERENCE_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hikyaku API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
<redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="/api/v1/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// Nothing on the page may come from elsewhere: the policy says so to the browser as well.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'";

async fn reference_page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
        ],
        REFERENCE_PAGE,
    )
        .into_response()
}

async fn redoc_script() -> Response {
    let mut response = REDOC.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_json_and_the_server_goes_on() {
        let routes: Router<()> = Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "fine" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, framed(routes, 1024)).await.unwrap();
        });
        let get = |path: &'static str| async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        };
        let answer = get("/boom").await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains("application/json") && answer.contains("\"code\":\"internal\""));
        assert!(!answer.contains("a bug"), "a panic's text stays in the log");
        assert!(get("/fine").await.ends_with("fine"));
        server.abort();
    }
}
