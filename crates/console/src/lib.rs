//! The management console: the pages a contract's people use in a browser, served under `/`
//! on the `[http]` listener beside the REST API.
//!
//! It owns the console's sessions and login (password, optional TOTP, rate limits, CSRF), its
//! two languages and the user's time zone, and the HTML; it owns no data and no policy. Every
//! page reads and changes a contract's data through the REST API's own router, in process, as
//! the logged-in user ([`bridge`]): the API's permission table, tenant checks and masking apply
//! to the console exactly as to a key of the user's role. Pages are server-rendered (askama)
//! and every form works without JavaScript; htmx (partial updates) and uPlot (the delivery
//! graph) are vendored under `assets/`, embedded in the binary and served from it.

pub mod availability;
pub mod bridge;
pub mod clock;
pub mod graphs;
pub mod i18n;
mod login;
pub mod operator;
mod pages;
pub mod session;
pub mod settings;

/// The longest import form the console reads (a body of URL-encoded CSV).
pub use pages::IMPORT_FORM_LIMIT;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use clock::Zone;
use hikyaku_model::{ApiCaller, Timestamp};
use hikyaku_store::{ConsoleUser, Store};
use i18n::Lang;
use session::{LoginLimits, SESSION_COOKIE};
use std::sync::Arc;

/// What the console's handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ConsoleState(Arc<Inner>);

struct Inner {
    store: Store,
    /// The REST API's router (not nested): the console's way to every contract's data.
    api: Router,
    limits: LoginLimits,
    /// `retention.report_days`: the graphs refuse ranges that begin before what is kept.
    report_days: u32,
    /// `api.max_body_bytes`: the largest file an import takes, told to the user who picks one
    /// larger.
    upload_limit: u64,
}

impl ConsoleState {
    /// The console over `store`, reaching contracts' data through `api` (the router of
    /// [`hikyaku_api::v1::router`], built from the same state the listener serves).
    pub fn new(store: Store, api: Router) -> Self {
        ConsoleState(Arc::new(Inner {
            store,
            api,
            limits: LoginLimits::default(),
            report_days: hikyaku_config::RetentionConfig::default().report_days,
            upload_limit: hikyaku_config::ApiConfig::default().max_body_bytes.0,
        }))
    }

    /// The API takes request bodies of at most `bytes` (`api.max_body_bytes`), as an import's
    /// refusal tells users.
    pub fn with_upload_limit(mut self, bytes: u64) -> Self {
        Arc::get_mut(&mut self.0)
            .expect("the console state is set up before it is shared")
            .upload_limit = bytes;
        self
    }

    fn upload_limit(&self) -> usize {
        usize::try_from(self.0.upload_limit).unwrap_or(usize::MAX)
    }

    /// Report data is kept `days` days (`retention.report_days`), as the graphs tell users.
    pub fn with_report_days(mut self, days: u32) -> Self {
        Arc::get_mut(&mut self.0)
            .expect("the console state is set up before it is shared")
            .report_days = days;
        self
    }

    fn report_days(&self) -> u32 {
        self.0.report_days
    }

    fn store(&self) -> &Store {
        &self.0.store
    }

    fn api(&self) -> &Router {
        &self.0.api
    }
}

/// The policy of every console page: nothing from elsewhere, no inline script or style, no
/// framing, forms only to ourselves.
pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// The console's routes, to be merged at `/` into the HTTP listener's router.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(pages::login_page).post(pages::login))
        .route(
            "/login/totp",
            get(login::code_page::<pages::Contracts>).post(login::code::<pages::Contracts>),
        )
        .route("/logout", post(login::logout::<pages::Contracts>))
        .route("/log", get(pages::log_search))
        .route("/log/messages/{message_id}", get(pages::message_view))
        .route("/graph", get(graphs::graph))
        .route("/graph/data", get(graphs::graph_data))
        .route("/errors", get(graphs::errors))
        .route("/suppressions", get(pages::suppressions))
        .route("/suppressions/add", post(pages::suppression_add))
        .route("/suppressions/remove", post(pages::suppression_remove))
        .route(
            "/suppressions/import",
            post(pages::suppression_import).layer(axum::extract::DefaultBodyLimit::max(
                pages::IMPORT_FORM_LIMIT,
            )),
        )
        .route(
            "/suppressions/imports/{id}",
            get(pages::suppression_import_page),
        )
        .route(
            "/suppressions/imports/{id}/status",
            get(pages::suppression_import_status),
        )
        .route(
            "/suppressions/imports/{id}/errors.csv",
            get(pages::suppression_import_errors),
        )
        .route("/suppressions/export.csv", get(pages::suppression_export))
        .route("/availability", get(availability::page))
        .route("/settings", get(pages::settings))
        .route("/settings/language", post(pages::set_language))
        .route("/settings/time-zone", post(pages::set_time_zone))
        .route("/settings/totp", post(pages::set_totp))
        .merge(settings::routes())
        .route(
            "/inquiry",
            get(operator::inquiry::page).post(operator::inquiry::send),
        )
        .merge(operator::routes())
        .layer(axum::middleware::map_response(page_headers))
        .route("/assets/{name}", get(asset))
        .with_state(state)
}

async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages show a contract's data: no cache keeps a copy after logout.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The vendored and our own static files, by name; the versioned names never change content.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "htmx-2.0.11.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/htmx-2.0.11.min.js"),
    ),
    (
        "uPlot-1.6.32.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/uPlot-1.6.32.iife.min.js"),
    ),
    (
        "uPlot-1.6.32.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/uPlot-1.6.32.min.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/console.css"),
    ),
];

async fn asset(Path(name): Path<String>) -> Response {
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Versioned files are kept a year; ours (same name across releases) an hour.
    let cache = if name.contains(char::is_numeric) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    (
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        *bytes,
    )
        .into_response()
}

/// The logged-in user of a request, with their language and time zone. A request without a
/// live session is sent to the login page (an htmx request is told to go there itself).
pub struct Viewer {
    pub user: ConsoleUser,
    pub caller: ApiCaller,
    pub lang: Lang,
    /// `None`: the language follows the browser.
    pub language_setting: Option<String>,
    pub zone: Zone,
    pub totp_on: bool,
    /// The session cookie's token: the CSRF token of the user's forms is derived from it.
    token: String,
}

impl Viewer {
    pub fn csrf(&self) -> String {
        session::csrf_token(&self.token)
    }

    pub fn csrf_ok(&self, presented: &str) -> bool {
        session::csrf_matches(&self.token, presented)
    }

    pub fn token_hash(&self) -> Vec<u8> {
        session::token_hash(&self.token)
    }
}

fn to_login(parts: &Parts) -> Response {
    if parts.headers.contains_key("hx-request") {
        return (StatusCode::UNAUTHORIZED, [("hx-redirect", "/login")]).into_response();
    }
    Redirect::to("/login").into_response()
}

impl FromRequestParts<ConsoleState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Response> {
        let Some(token) = session::cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login(parts));
        };
        let store = state.store();
        let session = match store
            .console_session(&session::token_hash(&token), Timestamp::now())
            .await
        {
            Ok(Some(session)) => session,
            Ok(None) => return Err(to_login(parts)),
            Err(error) => return Err(pages::store_failure(error)),
        };
        if session.second_factor_pending {
            return Err(Redirect::to("/login/totp").into_response());
        }
        // The user and the contract are checked on every request: a removed user or a
        // terminated contract is out from the next page on.
        let user = match store
            .console_user(&session.customer_id, &session.user_id)
            .await
        {
            Ok(Some(user)) => user,
            Ok(None) => return Err(to_login(parts)),
            Err(error) => return Err(pages::store_failure(error)),
        };
        let settings = store
            .console_settings(&user.customer_id, &user.user_id)
            .await
            .map_err(pages::store_failure)?;
        let accept = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let lang = settings
            .language
            .as_deref()
            .and_then(Lang::parse)
            .unwrap_or_else(|| Lang::from_accept_language(accept));
        let zone = settings
            .time_zone
            .as_deref()
            .and_then(Zone::parse)
            .unwrap_or_default();
        Ok(Viewer {
            caller: user.caller(),
            user,
            lang,
            language_setting: settings.language,
            zone,
            totp_on: settings.totp_secret.is_some(),
            token,
        })
    }
}
