//! The operator's login form and its realm: the login steps themselves (limits, CSRF, the TOTP
//! code, logout) are [`crate::login`]'s, the same as contracts' users go through, with the
//! operator's own session table, cookie and pages, and login limits keyed apart.

use super::{OPERATOR_COOKIE, OpChrome, csrf_refused, operator_cookie, render};
use crate::ConsoleState;
use crate::i18n::Lang;
use crate::login::{self, ClientAddress, Realm, Refusal, Step, accept_language};
use crate::pages::store_failure;
use crate::session;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hikyaku_model::Timestamp;
use hikyaku_store::{Store, StoreError};
use serde::Deserialize;
use std::time::Duration;

use super::texts::OpTexts;

#[derive(Template)]
#[template(path = "operator/login.html")]
struct LoginPage {
    c: OpChrome,
    csrf: String,
    email: String,
}

pub async fn login_page(headers: HeaderMap) -> Response {
    login::login_form(&headers, |csrf| {
        let page = LoginPage {
            c: OpChrome::anonymous(accept_language(&headers), |t| t.login_title),
            csrf,
            email: String::new(),
        };
        render(StatusCode::OK, &page)
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn login(
    State(state): State<ConsoleState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = accept_language(&headers);
    let Some(pre) = login::checked_pre_session(&headers, &form.csrf) else {
        return Operators::csrf_refused(lang, Step::Password);
    };
    let again = |summary: fn(&OpTexts) -> &'static str, status: StatusCode| {
        let page = LoginPage {
            c: OpChrome::anonymous(lang, |t| t.login_title).refused(summary),
            csrf: session::csrf_token(&pre),
            email: form.email.clone(),
        };
        render(status, &page)
    };
    // Keyed apart from contracts' accounts: an operator address never shares their bucket.
    let account = format!("operator\0{}", form.email.trim().to_lowercase());
    if !login::attempt_allowed(&state, address, &account) {
        return again(|t| t.login_rate_limited, StatusCode::TOO_MANY_REQUESTS);
    }
    let store = state.store();
    let user = match store
        .verify_operator_login(&form.email, &form.password)
        .await
    {
        Ok(Some(user)) => user,
        Ok(None) => return again(|t| t.login_failed, StatusCode::UNAUTHORIZED),
        Err(error) => return store_failure(error),
    };
    tracing::info!(operator_user = %user.user_id, second_factor = user.totp, "operator console login");
    login::open_session::<Operators>(store, &user.user_id, user.totp)
        .await
        .unwrap_or_else(store_failure)
}

#[derive(Template)]
#[template(path = "operator/totp.html")]
struct TotpPage {
    c: OpChrome,
    csrf: String,
}

/// Operator users: sessions in `operator_sessions`, the `hk_operator` cookie (sent only under
/// `/operator`), the pages under `/operator`.
pub struct Operators;

impl Realm for Operators {
    type Principal = String;

    const COOKIE: &'static str = OPERATOR_COOKIE;
    const LOGIN_PATH: &'static str = "/operator/login";
    const CODE_PATH: &'static str = "/operator/login/totp";
    const HOME_PATH: &'static str = "/operator";

    fn session_cookie(token: Option<&str>, lifetime: Duration) -> String {
        operator_cookie(token, lifetime)
    }

    fn code_account(user_id: &String) -> String {
        format!("operator-totp\0{user_id}")
    }

    async fn session(
        store: &Store,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<(String, bool)>, StoreError> {
        Ok(store
            .operator_session(token_hash, now)
            .await?
            .map(|s| (s.user_id, s.second_factor_pending)))
    }

    async fn create_session(
        store: &Store,
        user_id: &String,
        token_hash: &[u8],
        second_factor_pending: bool,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        store
            .create_operator_session(user_id, token_hash, second_factor_pending, expires_at)
            .await
    }

    async fn delete_session(store: &Store, token_hash: &[u8]) -> Result<(), StoreError> {
        store.delete_operator_session(token_hash).await
    }

    async fn totp_secret(store: &Store, user_id: &String) -> Result<Option<Vec<u8>>, StoreError> {
        store.operator_totp(user_id).await
    }

    async fn take_code_step(
        store: &Store,
        user_id: &String,
        step: i64,
    ) -> Result<bool, StoreError> {
        store.take_operator_totp_step(user_id, step).await
    }

    fn code_page(lang: Lang, csrf: String, refusal: Option<Refusal>) -> Response {
        let mut c = OpChrome::anonymous(lang, |t| t.totp_title);
        if let Some(refusal) = refusal {
            c = c.refused(match refusal {
                Refusal::RateLimited => |t: &OpTexts| t.login_rate_limited,
                Refusal::Failed => |t: &OpTexts| t.totp_failed,
            });
        }
        render(StatusCode::OK, &TotpPage { c, csrf })
    }

    fn csrf_refused(lang: Lang, step: Step) -> Response {
        csrf_refused(match step {
            Step::Password => OpChrome::anonymous(lang, |t| t.login_title),
            Step::Code => OpChrome::anonymous(lang, |t| t.totp_title),
        })
    }
}
