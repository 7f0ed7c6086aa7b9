//! The operator's login (password, then the TOTP code of a user who has one) and logout. The
//! same rate limits as contracts' logins, keyed apart; the same CSRF rule (the login form's
//! token comes from the pre-session cookie).

use super::{
    OPERATOR_COOKIE, OpChrome, accept_language, csrf_refused, operator_cookie, render, see_other,
    with_cookie,
};
use crate::ConsoleState;
use crate::pages::store_failure;
use crate::session::{self, PRE_COOKIE};
use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hikyaku_model::Timestamp;
use hikyaku_store::OperatorSession;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::texts::OpTexts;

#[derive(Template)]
#[template(path = "operator/login.html")]
struct LoginPage {
    c: OpChrome,
    csrf: String,
    email: String,
}

pub async fn login_page(headers: HeaderMap) -> Response {
    let lang = accept_language(&headers);
    let (pre, set) = match session::cookie(&headers, PRE_COOKIE) {
        Some(pre) => (pre, None),
        None => {
            let pre = session::new_token();
            let cookie =
                session::set_cookie(PRE_COOKIE, Some(&pre), std::time::Duration::from_secs(3600));
            (pre, Some(cookie))
        }
    };
    let page = LoginPage {
        c: OpChrome::anonymous(lang, |t| t.login_title),
        csrf: session::csrf_token(&pre),
        email: String::new(),
    };
    let response = render(StatusCode::OK, &page);
    match set {
        Some(cookie) => with_cookie(response, cookie),
        None => response,
    }
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

/// The client's IP address, when the listener records it (it does in `hikyaku serve`).
pub struct ClientIp(Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip()),
        ))
    }
}

pub async fn login(
    State(state): State<ConsoleState>,
    ClientIp(address): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = accept_language(&headers);
    let Some(pre) = session::cookie(&headers, PRE_COOKIE) else {
        return csrf_refused(OpChrome::anonymous(lang, |t| t.login_title));
    };
    if !session::csrf_matches(&pre, &form.csrf) {
        return csrf_refused(OpChrome::anonymous(lang, |t| t.login_title));
    }
    let again = |summary: fn(&OpTexts) -> &'static str, status: StatusCode| {
        let page = LoginPage {
            c: OpChrome::anonymous(lang, |t| t.login_title).refused(summary),
            csrf: session::csrf_token(&pre),
            email: form.email.clone(),
        };
        render(status, &page)
    };
    let now = Instant::now();
    // Keyed apart from contracts' accounts: an operator address never shares their bucket.
    let account = format!("operator\0{}", form.email.trim().to_lowercase());
    let limits = &state.0.limits;
    let address_ok = address.is_none_or(|a| limits.address.take(&a.to_string(), now));
    if !address_ok || !limits.account.take(&account, now) {
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
    let pending = user.totp;
    let lifetime = if pending {
        session::SECOND_FACTOR_LIFETIME
    } else {
        session::SESSION_LIFETIME
    };
    let token = session::new_token();
    if let Err(error) = store
        .create_operator_session(
            &user.user_id,
            &session::token_hash(&token),
            pending,
            Timestamp::now().saturating_add(lifetime),
        )
        .await
    {
        return store_failure(error);
    }
    tracing::info!(operator_user = %user.user_id, second_factor = pending, "operator console login");
    let to = if pending {
        "/operator/login/totp"
    } else {
        "/operator"
    };
    with_cookie(see_other(to), operator_cookie(Some(&token), lifetime))
}

#[derive(Template)]
#[template(path = "operator/totp.html")]
struct TotpPage {
    c: OpChrome,
    csrf: String,
}

/// The half-session of an operator who gave the right password and owes a TOTP code.
async fn pending_session(
    state: &ConsoleState,
    headers: &HeaderMap,
) -> Result<(String, OperatorSession), Response> {
    let Some(token) = session::cookie(headers, OPERATOR_COOKIE) else {
        return Err(see_other("/operator/login"));
    };
    match state
        .store()
        .operator_session(&session::token_hash(&token), Timestamp::now())
        .await
    {
        Ok(Some(found)) if found.second_factor_pending => Ok((token, found)),
        Ok(Some(_)) => Err(see_other("/operator")),
        Ok(None) => Err(see_other("/operator/login")),
        Err(error) => Err(store_failure(error)),
    }
}

pub async fn totp_page(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let (token, _) = match pending_session(&state, &headers).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let page = TotpPage {
        c: OpChrome::anonymous(accept_language(&headers), |t| t.totp_title),
        csrf: session::csrf_token(&token),
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub async fn totp(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = accept_language(&headers);
    let (token, pending) = match pending_session(&state, &headers).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !session::csrf_matches(&token, &form.csrf) {
        return csrf_refused(OpChrome::anonymous(lang, |t| t.totp_title));
    }
    let again = |summary: fn(&OpTexts) -> &'static str, status| {
        render(
            status,
            &TotpPage {
                c: OpChrome::anonymous(lang, |t| t.totp_title).refused(summary),
                csrf: session::csrf_token(&token),
            },
        )
    };
    let account = format!("operator-totp\0{}", pending.user_id);
    if !state.0.limits.account.take(&account, Instant::now()) {
        return again(|t| t.login_rate_limited, StatusCode::TOO_MANY_REQUESTS);
    }
    let store = state.store();
    let secret = match store.operator_totp(&pending.user_id).await {
        Ok(Some(secret)) => secret,
        Ok(None) => return see_other("/operator/login"),
        Err(error) => return store_failure(error),
    };
    let Some(step) = session::totp_verify(&secret, &form.code, unix_seconds()) else {
        return again(|t| t.totp_failed, StatusCode::UNAUTHORIZED);
    };
    match store
        .take_operator_totp_step(&pending.user_id, step as i64)
        .await
    {
        Ok(true) => {}
        Ok(false) => return again(|t| t.totp_failed, StatusCode::UNAUTHORIZED),
        Err(error) => return store_failure(error),
    }
    // A new token for the full session: the half-session's is worth nothing afterwards.
    let new = session::new_token();
    if let Err(error) = store
        .create_operator_session(
            &pending.user_id,
            &session::token_hash(&new),
            false,
            Timestamp::now().saturating_add(session::SESSION_LIFETIME),
        )
        .await
    {
        return store_failure(error);
    }
    if let Err(error) = store
        .delete_operator_session(&session::token_hash(&token))
        .await
    {
        return store_failure(error);
    }
    with_cookie(
        see_other("/operator"),
        operator_cookie(Some(&new), session::SESSION_LIFETIME),
    )
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some(token) = session::cookie(&headers, OPERATOR_COOKIE) else {
        return see_other("/operator/login");
    };
    if !session::csrf_matches(&token, &form.csrf) {
        return csrf_refused(OpChrome::anonymous(accept_language(&headers), |t| {
            t.login_title
        }));
    }
    if let Err(error) = state
        .store()
        .delete_operator_session(&session::token_hash(&token))
        .await
    {
        return store_failure(error);
    }
    with_cookie(
        see_other("/operator/login"),
        operator_cookie(None, std::time::Duration::ZERO),
    )
}
