//! The login steps both kinds of console user go through: contracts' users and the operator.
//!
//! A login form carries a CSRF token derived from a pre-session cookie; a right password under
//! the login limits (per client address and per account) opens a session, or a five-minute
//! half-session when the user has a TOTP second factor; a code, again under the account's
//! limit and good only once, replaces the half-session with a full one under a new token;
//! logout ends the session. What differs between the two kinds — which table holds the
//! sessions, which cookie carries them, which pages show — is a [`Realm`], so the rules above
//! are written once.

use crate::ConsoleState;
use crate::i18n::Lang;
use crate::pages::store_failure;
use crate::session::{self, PRE_COOKIE};
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use hikyaku_model::Timestamp;
use hikyaku_store::{Store, StoreError};
use serde::Deserialize;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Why a login page is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    RateLimited,
    Failed,
}

/// Which form a CSRF refusal answers: its page keeps that form's title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Password,
    Code,
}

/// One kind of console user: where its sessions live and which pages it sees.
pub trait Realm: Send + Sync + 'static {
    /// Whom a session belongs to.
    type Principal: Send + Sync;

    /// The session cookie's name.
    const COOKIE: &'static str;
    const LOGIN_PATH: &'static str;
    const CODE_PATH: &'static str;
    const HOME_PATH: &'static str;

    /// A `Set-Cookie` value for the session (`None` clears it).
    fn session_cookie(token: Option<&str>, lifetime: Duration) -> String;

    /// The login-limit key of the principal's TOTP codes, apart from every password key.
    fn code_account(principal: &Self::Principal) -> String;

    /// The live session whose token hashes to `token_hash`, and whether it still owes a code.
    fn session(
        store: &Store,
        token_hash: &[u8],
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<(Self::Principal, bool)>, StoreError>> + Send;

    fn create_session(
        store: &Store,
        principal: &Self::Principal,
        token_hash: &[u8],
        second_factor_pending: bool,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn delete_session(
        store: &Store,
        token_hash: &[u8],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn totp_secret(
        store: &Store,
        principal: &Self::Principal,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Takes the code's 30-second step: `false` for a replayed or older code.
    fn take_code_step(
        store: &Store,
        principal: &Self::Principal,
        step: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The code form, with the refusal that brings it back if any.
    fn code_page(lang: Lang, csrf: String, refusal: Option<Refusal>) -> Response;

    /// The page that refuses a form without the right CSRF token.
    fn csrf_refused(lang: Lang, step: Step) -> Response;
}

pub(crate) fn accept_language(headers: &HeaderMap) -> Lang {
    Lang::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn with_cookie(mut response: Response, cookie: String) -> Response {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The client's IP address, when the listener records it (it does in `hikyaku serve`).
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip()),
        ))
    }
}

/// The login form as `page` renders it with its CSRF token, which derives from a pre-session
/// cookie: a browser without one is given one with the page.
pub(crate) fn login_form(headers: &HeaderMap, page: impl FnOnce(String) -> Response) -> Response {
    let (pre, set) = match session::cookie(headers, PRE_COOKIE) {
        Some(pre) => (pre, None),
        None => {
            let pre = session::new_token();
            let cookie = session::set_cookie(PRE_COOKIE, Some(&pre), Duration::from_secs(3600));
            (pre, Some(cookie))
        }
    };
    let response = page(session::csrf_token(&pre));
    match set {
        Some(cookie) => with_cookie(response, cookie),
        None => response,
    }
}

/// The pre-session's token if the form's CSRF token matches it.
pub(crate) fn checked_pre_session(headers: &HeaderMap, presented: &str) -> Option<String> {
    session::cookie(headers, PRE_COOKIE).filter(|pre| session::csrf_matches(pre, presented))
}

/// Takes a login attempt from the client's address and the account's bucket: `false` when
/// either is spent. `account` must name the realm too, so the two kinds never share a bucket.
pub(crate) fn attempt_allowed(
    state: &ConsoleState,
    address: Option<std::net::IpAddr>,
    account: &str,
) -> bool {
    let now = Instant::now();
    let limits = &state.0.limits;
    let address_ok = address.is_none_or(|a| limits.address.take(&a.to_string(), now));
    address_ok && limits.account.take(account, now)
}

/// After a right password: a session (a half-session when a code is owed) and its cookie.
pub(crate) async fn open_session<R: Realm>(
    store: &Store,
    principal: &R::Principal,
    second_factor: bool,
) -> Result<Response, StoreError> {
    let lifetime = if second_factor {
        session::SECOND_FACTOR_LIFETIME
    } else {
        session::SESSION_LIFETIME
    };
    let token = session::new_token();
    R::create_session(
        store,
        principal,
        &session::token_hash(&token),
        second_factor,
        Timestamp::now().saturating_add(lifetime),
    )
    .await?;
    let to = if second_factor {
        R::CODE_PATH
    } else {
        R::HOME_PATH
    };
    Ok(with_cookie(
        see_other(to),
        R::session_cookie(Some(&token), lifetime),
    ))
}

/// The half-session of a user who gave the right password and owes a TOTP code.
async fn pending_session<R: Realm>(
    state: &ConsoleState,
    headers: &HeaderMap,
) -> Result<(String, R::Principal), Response> {
    let Some(token) = session::cookie(headers, R::COOKIE) else {
        return Err(see_other(R::LOGIN_PATH));
    };
    match R::session(
        state.store(),
        &session::token_hash(&token),
        Timestamp::now(),
    )
    .await
    {
        Ok(Some((principal, true))) => Ok((token, principal)),
        Ok(Some((_, false))) => Err(see_other(R::HOME_PATH)),
        Ok(None) => Err(see_other(R::LOGIN_PATH)),
        Err(error) => Err(store_failure(error)),
    }
}

pub async fn code_page<R: Realm>(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
) -> Response {
    match pending_session::<R>(&state, &headers).await {
        Ok((token, _)) => {
            R::code_page(accept_language(&headers), session::csrf_token(&token), None)
        }
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub(crate) fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub async fn code<R: Realm>(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = accept_language(&headers);
    let (token, principal) = match pending_session::<R>(&state, &headers).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !session::csrf_matches(&token, &form.csrf) {
        return R::csrf_refused(lang, Step::Code);
    }
    let again = |refusal: Refusal, status: StatusCode| {
        let mut response = R::code_page(lang, session::csrf_token(&token), Some(refusal));
        *response.status_mut() = status;
        response
    };
    // Six digits are a million guesses: the account's login limit covers codes too.
    if !state
        .0
        .limits
        .account
        .take(&R::code_account(&principal), Instant::now())
    {
        return again(Refusal::RateLimited, StatusCode::TOO_MANY_REQUESTS);
    }
    let store = state.store();
    let secret = match R::totp_secret(store, &principal).await {
        Ok(Some(secret)) => secret,
        Ok(None) => return see_other(R::LOGIN_PATH),
        Err(error) => return store_failure(error),
    };
    let Some(step) = session::totp_verify(&secret, &form.code, unix_seconds()) else {
        return again(Refusal::Failed, StatusCode::UNAUTHORIZED);
    };
    match R::take_code_step(store, &principal, step as i64).await {
        Ok(true) => {}
        Ok(false) => return again(Refusal::Failed, StatusCode::UNAUTHORIZED),
        Err(error) => return store_failure(error),
    }
    // A new token for the full session: the half-session's token is worth nothing afterwards.
    let full = match open_session::<R>(store, &principal, false).await {
        Ok(full) => full,
        Err(error) => return store_failure(error),
    };
    match R::delete_session(store, &session::token_hash(&token)).await {
        Ok(()) => full,
        Err(error) => store_failure(error),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout<R: Realm>(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some(token) = session::cookie(&headers, R::COOKIE) else {
        return see_other(R::LOGIN_PATH);
    };
    if !session::csrf_matches(&token, &form.csrf) {
        return R::csrf_refused(accept_language(&headers), Step::Password);
    }
    if let Err(error) = R::delete_session(state.store(), &session::token_hash(&token)).await {
        return store_failure(error);
    }
    with_cookie(
        see_other(R::LOGIN_PATH),
        R::session_cookie(None, Duration::ZERO),
    )
}
