//! The contract's settings pages: allowed IP ranges, SMTP credentials, sender domains with
//! their DKIM records and a DNS check, send control, webhooks with their attempts, inbound
//! routes, S/MIME certificates, users and API keys.
//!
//! Like every console page they read and change the contract's data only through the REST
//! API's router as the logged-in user ([`crate::bridge`]): what a role sees and may change is
//! the API's permission table, so a page never decides it on its own. A page shows its forms
//! only to roles the table lets change it (a hidden form is a courtesy: the API refuses the
//! change anyway). A secret the API gives once (a generated password, a key, a signing secret)
//! is shown in the answer to the form that made it and never again: that answer is a page, not
//! a redirect, and carries `Cache-Control: no-store` like every page.

/// Answers with the settings page `$page` made of the frame's parts (`c`, `s`, `menu`,
/// `secret`) and the page's own fields, with the status of the frame's first failure. A macro,
/// not a function: each page is a struct of its own for its template.
macro_rules! show {
    ($frame:expr, $page:ident { $($field:tt)* }) => {{
        let Frame {
            c,
            s,
            menu,
            secret,
            status,
        } = $frame;
        render(status, &$page { c, s, menu, secret, $($field)* })
    }};
}

mod access;
mod domains;
mod hooks;
mod team;
pub mod texts;

use crate::bridge::{self, ApiFailure};
use crate::i18n::Texts;
use crate::pages::{Chrome, ErrorBox, UserLine};
use crate::{ConsoleState, Viewer};
use askama::Template;
use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hikyaku_api::v1::access::allowed;
use serde::Deserialize;
pub use texts::SettingsTexts;

/// The settings pages' routes, merged into the console's router.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/settings/allowed-ips", get(access::ips))
        .route("/settings/allowed-ips/add", post(access::ip_add))
        .route("/settings/allowed-ips/remove", post(access::ip_remove))
        .route("/settings/smtp-credentials", get(access::smtp))
        .route("/settings/smtp-credentials/add", post(access::smtp_add))
        .route(
            "/settings/smtp-credentials/remove",
            post(access::smtp_remove),
        )
        .route("/settings/inbound-routes", get(access::inbound))
        .route("/settings/inbound-routes/add", post(access::inbound_add))
        .route("/settings/inbound-routes/edit", post(access::inbound_edit))
        .route(
            "/settings/inbound-routes/remove",
            post(access::inbound_remove),
        )
        .route("/settings/send-control", get(access::send_control))
        .route("/settings/sender-domains", get(domains::domains))
        .route("/settings/sender-domains/add", post(domains::domain_add))
        .route(
            "/settings/sender-domains/remove",
            post(domains::domain_remove),
        )
        .route(
            "/settings/sender-domains/check",
            post(domains::domain_check),
        )
        .route("/settings/smime", get(domains::smime))
        .route("/settings/smime/install", post(domains::smime_install))
        .route("/settings/smime/remove", post(domains::smime_remove))
        .route("/settings/webhooks", get(hooks::webhooks))
        .route("/settings/webhooks/add", post(hooks::webhook_add))
        .route("/settings/webhooks/edit", post(hooks::webhook_edit))
        .route("/settings/webhooks/remove", post(hooks::webhook_remove))
        .route("/settings/webhooks/test", post(hooks::webhook_test))
        .route("/settings/webhooks/rotate", post(hooks::webhook_rotate))
        .route("/settings/webhooks/{id}/attempts", get(hooks::attempts))
        .route("/settings/users", get(team::users))
        .route("/settings/users/add", post(team::user_add))
        .route("/settings/users/remove", post(team::user_remove))
        .route("/settings/api-keys", get(team::keys))
        .route("/settings/api-keys/add", post(team::key_add))
        .route("/settings/api-keys/revoke", post(team::key_revoke))
}

/// One entry of the settings menu.
pub struct MenuItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The settings menu: the pages the user's role may read, by the API's table.
pub struct Menu {
    pub label: &'static str,
    pub items: Vec<MenuItem>,
}

/// The menu for `viewer`, `current` marked.
pub fn menu(viewer: &Viewer, current: &str) -> Menu {
    let s = viewer.lang.settings_texts();
    let entries: [(&'static str, &'static str, Option<&str>); 10] = [
        ("/settings", s.menu_personal, None),
        (
            "/settings/allowed-ips",
            s.ips_title,
            Some("/settings/allowed-ips"),
        ),
        (
            "/settings/smtp-credentials",
            s.smtp_title,
            Some("/settings/smtp-credentials"),
        ),
        (
            "/settings/sender-domains",
            s.domains_title,
            Some("/settings/sender-domains"),
        ),
        (
            "/settings/send-control",
            s.send_control_title,
            Some("/settings/send-control"),
        ),
        ("/settings/webhooks", s.webhooks_title, Some("/webhooks")),
        (
            "/settings/inbound-routes",
            s.inbound_title,
            Some("/settings/inbound-routes"),
        ),
        (
            "/settings/smime",
            s.smime_title,
            Some("/settings/smime-certificates"),
        ),
        ("/settings/users", s.users_title, Some("/users")),
        ("/settings/api-keys", s.keys_title, Some("/api-keys")),
    ];
    Menu {
        label: s.menu_label,
        items: entries
            .into_iter()
            .filter(|(_, _, api)| api.is_none_or(|path| may(viewer, Method::GET, path)))
            .map(|(href, label, _)| MenuItem {
                href,
                label,
                current: href == current,
            })
            .collect(),
    }
}

/// Whether the user's role may call the API's `method path` (the API's own table).
fn may(viewer: &Viewer, method: Method, path: &str) -> bool {
    allowed(&method, path).is_some_and(|a| a.admits(&viewer.caller))
}

/// The frame of a settings page titled `title`.
fn chrome(viewer: &Viewer, title: &'static str) -> Chrome {
    Chrome {
        t: viewer.lang.texts(),
        lang: viewer.lang.code(),
        title,
        current: "settings",
        csrf: viewer.csrf(),
        user: Some(UserLine {
            email: viewer.user.email.clone(),
            customer_id: viewer.user.customer_id.to_string(),
            role: viewer.user.role.as_str().to_string(),
        }),
        zone: viewer.zone.name.clone(),
        notice: None,
        error: None,
    }
}

fn error_box(t: &'static Texts, failure: &ApiFailure) -> ErrorBox {
    let summary = match failure.status {
        StatusCode::FORBIDDEN => t.error_forbidden,
        StatusCode::NOT_FOUND => t.error_not_found,
        StatusCode::TOO_MANY_REQUESTS => t.error_rate_limited,
        StatusCode::SERVICE_UNAVAILABLE => t.error_unavailable,
        s if s.is_client_error() => t.error_invalid,
        _ => t.error_other,
    };
    ErrorBox {
        summary,
        detail: failure.message.clone(),
    }
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a console settings template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
}

/// A form without the right CSRF token: refused, nothing changed.
fn csrf_refused(viewer: &Viewer) -> Response {
    let mut c = chrome(viewer, viewer.lang.texts().error_title);
    c.error = Some(ErrorBox {
        summary: c.t.csrf_refused,
        detail: String::new(),
    });
    render(StatusCode::FORBIDDEN, &ErrorPage { c })
}

/// A secret the API answered once, shown on the page that answers the form.
pub struct Secret {
    pub label: &'static str,
    /// What it belongs to (a user name, a key's name, an endpoint).
    pub about: String,
    pub value: String,
}

/// What a page shows above its content: the result of the form that led to it.
#[derive(Default)]
pub struct Outcome {
    pub notice: Option<&'static str>,
    pub failure: Option<ApiFailure>,
    pub secret: Option<Secret>,
}

impl Outcome {
    fn failed(failure: ApiFailure) -> Outcome {
        Outcome {
            failure: Some(failure),
            ..Outcome::default()
        }
    }

    fn secret(label: &'static str, about: String, value: String) -> Outcome {
        Outcome {
            secret: Some(Secret {
                label,
                about,
                value,
            }),
            ..Outcome::default()
        }
    }
}

/// The parts every settings page has.
pub struct Frame {
    pub c: Chrome,
    pub s: &'static SettingsTexts,
    pub menu: Menu,
    pub secret: Option<Secret>,
    /// The status of the answer: the first failure's.
    status: StatusCode,
}

impl Frame {
    fn new(viewer: &Viewer, title: fn(&SettingsTexts) -> &'static str, href: &str) -> Frame {
        let s = viewer.lang.settings_texts();
        Frame {
            c: chrome(viewer, title(s)),
            s,
            menu: menu(viewer, href),
            secret: None,
            status: StatusCode::OK,
        }
    }

    fn with(mut self, outcome: Outcome) -> Frame {
        self.c.notice = outcome.notice.or(self.c.notice);
        self.secret = outcome.secret;
        if let Some(failure) = outcome.failure {
            self.fail(&failure);
        }
        self
    }

    /// Shows the first failure (the cause; later ones are its consequences) and answers with
    /// its status.
    fn fail(&mut self, failure: &ApiFailure) {
        if self.c.error.is_none() {
            self.c.error = Some(error_box(self.c.t, failure));
            self.status = failure.status;
        }
    }

    /// A list read from the API, or empty with the failure shown.
    async fn read<T: serde::de::DeserializeOwned>(
        &mut self,
        state: &ConsoleState,
        viewer: &Viewer,
        path: &str,
    ) -> Option<T> {
        match bridge::get::<T>(state.api(), &viewer.caller, path).await {
            Ok(value) => Some(value),
            Err(failure) => {
                self.fail(&failure);
                None
            }
        }
    }
}

/// The notice a redirect after a change names (`?done=…`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DoneQuery {
    done: String,
    cursor: String,
}

impl DoneQuery {
    fn outcome(&self, lang: crate::i18n::Lang) -> Outcome {
        let s = lang.settings_texts();
        Outcome {
            notice: match self.done.as_str() {
                "added" => Some(s.added),
                "removed" => Some(s.removed),
                "saved" => Some(lang.texts().saved),
                "test" => Some(s.test_queued),
                _ => None,
            },
            ..Outcome::default()
        }
    }
}

/// The query of a page shown in answer to a form: no notice, the list's first page.
static FRESH: DoneQuery = DoneQuery {
    done: String::new(),
    cursor: String::new(),
};

/// A form's fields as the browser sent them (a name may repeat: checkboxes).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn trimmed(&self, name: &str) -> &str {
        self.get(name).trim()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    fn on(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Fields(pairs))
    }
}

/// What a change through the API came to.
enum Change {
    /// The API's answer body.
    Done(bytes::Bytes),
    Failed(ApiFailure),
    /// The form's CSRF token was wrong: this is the answer, nothing was asked of the API.
    Refused(Response),
}

/// Calls the API for a form of `viewer`, once its CSRF token is checked.
async fn change(
    state: &ConsoleState,
    viewer: &Viewer,
    fields: &Fields,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Change {
    if !viewer.csrf_ok(fields.get("csrf")) {
        return Change::Refused(csrf_refused(viewer));
    }
    let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
    match bridge::call(state.api(), &viewer.caller, method, path, body).await {
        Ok((_, _, bytes)) => Change::Done(bytes),
        Err(failure) => Change::Failed(failure),
    }
}

impl Change {
    /// The answer to a form whose change goes on to `done` (a redirect), or shows `page`
    /// again with the failure.
    async fn redirect_or<P: Future<Output = Response>>(
        self,
        done: &str,
        page: impl FnOnce(Outcome) -> P,
    ) -> Response {
        match self {
            Change::Done(_) => see_other(done),
            Change::Failed(failure) => page(Outcome::failed(failure)).await,
            Change::Refused(response) => response,
        }
    }

    /// The answer to a form whose change answers what it made (`T`): `made` says what to show
    /// of it, or where to go instead when there is nothing to show once; `page` shows that, or
    /// the failure.
    async fn made_or<T: serde::de::DeserializeOwned, P: Future<Output = Response>>(
        self,
        made: impl FnOnce(T) -> Result<Outcome, &'static str>,
        page: impl FnOnce(Outcome) -> P,
    ) -> Response {
        let outcome = match self {
            Change::Done(bytes) => match serde_json::from_slice::<T>(&bytes) {
                Ok(created) => match made(created) {
                    Ok(outcome) => outcome,
                    Err(to) => return see_other(to),
                },
                Err(error) => Outcome::failed(unexpected(error)),
            },
            Change::Failed(failure) => Outcome::failed(failure),
            Change::Refused(response) => return response,
        };
        page(outcome).await
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A failure made of an API answer that was not the JSON expected.
fn unexpected(error: serde_json::Error) -> ApiFailure {
    ApiFailure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "internal".into(),
        message: format!("unexpected answer from the API: {error}"),
    }
}

/// The role names as the page shows them.
fn role_label(s: &'static SettingsTexts, role: &str) -> &'static str {
    match role {
        "admin" => s.role_admin,
        "sender" => s.role_sender,
        "viewer" => s.role_viewer,
        "billing" => s.role_billing,
        _ => "?",
    }
}

/// The path of the next page of a list, when the API said there is one.
fn next_link(base: &str, next_cursor: Option<String>) -> Option<String> {
    next_cursor.map(|cursor| format!("{base}{}", bridge::query(&[("cursor", &cursor)])))
}

/// A list path of the API with the page's cursor.
fn list_path(api_path: &str, query: &DoneQuery) -> String {
    format!(
        "{api_path}{}",
        bridge::query(&[("limit", "100"), ("cursor", &query.cursor)])
    )
}
