//! The operator area under `/operator`, and the contract's inquiry form.
//!
//! The operator logs in apart from contracts' users: operator users live in their own table,
//! their session cookie (`hk_operator`, sent only under `/operator`) is looked up in its own
//! table, and the session acts as an operator caller of the REST API. So an operator session
//! reaches only the API's operator endpoints (the API's permission table refuses it every
//! contract's data), and a contract's session never opens an operator page. Like every other
//! page, these read and change data only through the API's router ([`crate::bridge`]).

mod area;
mod auth;
pub mod inquiry;
pub mod texts;

use crate::ConsoleState;
use crate::bridge::ApiFailure;
use crate::clock::Zone;
use crate::i18n::Lang;
use crate::login::{self, accept_language, see_other};
use crate::pages::render;
use crate::session;
use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hikyaku_model::{ApiCaller, Timestamp};
use hikyaku_store::OperatorUser;
use texts::OpTexts;

/// The operator's session cookie; sent by the browser only to `/operator` pages.
pub const OPERATOR_COOKIE: &str = "hk_operator";

/// A new TOTP secret: 20 random bytes (160 bits, as RFC 4226 recommends).
pub fn new_totp_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    secret
}

/// A `Set-Cookie` value for the operator's session (`None` clears it), scoped to `/operator`.
fn operator_cookie(value: Option<&str>, max_age: std::time::Duration) -> String {
    format!(
        "{OPERATOR_COOKIE}={}; Path=/operator; HttpOnly; Secure; SameSite=Lax; Max-Age={}",
        value.unwrap_or(""),
        if value.is_some() {
            max_age.as_secs()
        } else {
            0
        }
    )
}

/// The operator area's routes, to be merged into the console's router.
pub(crate) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/operator", get(area::contracts))
        .route("/operator/", get(area::contracts))
        .route("/operator/login", get(auth::login_page).post(auth::login))
        .route(
            "/operator/login/totp",
            get(login::code_page::<auth::Operators>).post(login::code::<auth::Operators>),
        )
        .route("/operator/logout", post(login::logout::<auth::Operators>))
        .route("/operator/contracts", post(area::create_contract))
        .route(
            "/operator/contracts/{customer_id}/{action}",
            post(area::change_contract),
        )
        .route("/operator/usage", get(area::usage))
        .route("/operator/availability", get(area::availability))
        .route("/operator/inquiries", get(area::inquiries))
        .route(
            "/operator/inquiries/{inquiry_id}/handled",
            post(area::mark_inquiry),
        )
        .route(
            "/operator/maintenance",
            get(area::maintenance).post(area::create_maintenance),
        )
        .route("/operator/nodes", get(area::nodes))
}

/// The logged-in operator of a request. A request without a live operator session is sent to
/// the operator's login page.
pub struct Operator {
    pub user: OperatorUser,
    pub lang: Lang,
    pub zone: Zone,
    token: String,
}

impl Operator {
    /// Who the operator's API requests act for: an operator caller, never a contract.
    pub fn caller(&self) -> ApiCaller {
        ApiCaller::Operator {
            key_id: format!("console:{}", self.user.user_id),
        }
    }

    pub fn csrf(&self) -> String {
        session::csrf_token(&self.token)
    }

    pub fn csrf_ok(&self, presented: &str) -> bool {
        session::csrf_matches(&self.token, presented)
    }
}

fn to_login(parts: &Parts) -> Response {
    if parts.headers.contains_key("hx-request") {
        return (
            StatusCode::UNAUTHORIZED,
            [("hx-redirect", "/operator/login")],
        )
            .into_response();
    }
    Redirect::to("/operator/login").into_response()
}

impl FromRequestParts<ConsoleState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Response> {
        let Some(token) = session::cookie(&parts.headers, OPERATOR_COOKIE) else {
            return Err(to_login(parts));
        };
        let store = state.store();
        let session = match store
            .operator_session(&session::token_hash(&token), Timestamp::now())
            .await
        {
            Ok(Some(session)) => session,
            Ok(None) => return Err(to_login(parts)),
            Err(error) => return Err(crate::pages::store_failure(error)),
        };
        if session.second_factor_pending {
            return Err(Redirect::to("/operator/login/totp").into_response());
        }
        // Checked on every request: a removed operator user is out from the next page on.
        let user = match store.operator_user(&session.user_id).await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(to_login(parts)),
            Err(error) => return Err(crate::pages::store_failure(error)),
        };
        Ok(Operator {
            user,
            lang: accept_language(&parts.headers),
            zone: Zone::default(),
            token,
        })
    }
}

/// What every operator page's frame shows.
pub struct OpChrome {
    pub t: &'static OpTexts,
    pub lang: &'static str,
    pub title: &'static str,
    pub current: &'static str,
    pub csrf: String,
    /// The operator's address; `None` on the login pages.
    pub user: Option<String>,
    pub zone: String,
    pub notice: Option<&'static str>,
    pub error: Option<OpError>,
}

pub struct OpError {
    pub summary: &'static str,
    pub detail: String,
}

impl OpChrome {
    fn of(
        operator: &Operator,
        title: fn(&OpTexts) -> &'static str,
        current: &'static str,
    ) -> OpChrome {
        let t = OpTexts::of(operator.lang);
        OpChrome {
            t,
            lang: operator.lang.code(),
            title: title(t),
            current,
            csrf: operator.csrf(),
            user: Some(operator.user.email.clone()),
            zone: operator.zone.name.clone(),
            notice: None,
            error: None,
        }
    }

    fn anonymous(lang: Lang, title: fn(&OpTexts) -> &'static str) -> OpChrome {
        let t = OpTexts::of(lang);
        OpChrome {
            t,
            lang: lang.code(),
            title: title(t),
            current: "",
            csrf: String::new(),
            user: None,
            zone: Zone::default().name,
            notice: None,
            error: None,
        }
    }

    fn failed(mut self, failure: &ApiFailure) -> OpChrome {
        let t = self.t;
        let summary = match failure.status {
            StatusCode::FORBIDDEN => t.error_forbidden,
            StatusCode::NOT_FOUND => t.error_not_found,
            StatusCode::CONFLICT => t.error_conflict,
            StatusCode::TOO_MANY_REQUESTS => t.error_rate_limited,
            s if s.is_client_error() => t.error_invalid,
            _ => t.error_other,
        };
        self.error = Some(OpError {
            summary,
            detail: failure.message.clone(),
        });
        self
    }

    fn refused(mut self, summary: fn(&OpTexts) -> &'static str) -> OpChrome {
        self.error = Some(OpError {
            summary: summary(self.t),
            detail: String::new(),
        });
        self
    }
}

#[derive(Template)]
#[template(path = "operator/error.html")]
struct ErrorPage {
    c: OpChrome,
}

/// A form without the right CSRF token: refused, nothing changed.
fn csrf_refused(c: OpChrome) -> Response {
    render(
        StatusCode::FORBIDDEN,
        &ErrorPage {
            c: c.refused(|t| t.csrf_refused),
        },
    )
}
