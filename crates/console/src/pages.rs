//! The console's pages. Each reads through [`crate::bridge`] (the REST API as the user) and
//! renders a template; forms post back here, carry the CSRF token and redirect (so reloading
//! a page never repeats a change).

use crate::bridge::{self, ApiFailure};
use crate::clock::{Zone, offered_zones};
use crate::i18n::{Lang, Texts};
use crate::login::{self, ClientAddress, Realm, Refusal, Step, accept_language, see_other};
use crate::session::{self, SESSION_COOKIE};
use crate::{ConsoleState, Viewer};
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use hikyaku_api::v1::access::allowed;
use hikyaku_api_types::Time;
use hikyaku_model::{ApiCaller, CustomerId, Timestamp};
use hikyaku_store::{Store, StoreError};
use serde::Deserialize;
use std::time::Instant;

/// What every page's frame shows.
pub struct Chrome {
    pub t: &'static Texts,
    pub lang: &'static str,
    pub title: &'static str,
    pub current: &'static str,
    pub csrf: String,
    pub user: Option<UserLine>,
    pub zone: String,
    pub notice: Option<&'static str>,
    pub error: Option<ErrorBox>,
}

pub struct UserLine {
    pub email: String,
    pub customer_id: String,
    pub role: String,
}

pub struct ErrorBox {
    pub summary: &'static str,
    pub detail: String,
}

impl Chrome {
    pub(crate) fn of(
        viewer: &Viewer,
        title: fn(&Texts) -> &'static str,
        current: &'static str,
    ) -> Chrome {
        let t = viewer.lang.texts();
        Chrome {
            t,
            lang: viewer.lang.code(),
            title: title(t),
            current,
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

    fn anonymous(lang: Lang, title: fn(&Texts) -> &'static str) -> Chrome {
        let t = lang.texts();
        Chrome {
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

    pub(crate) fn failed(mut self, failure: &ApiFailure) -> Chrome {
        self.error = Some(error_box(self.t, failure));
        self
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

pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// The answer when the store is away: the page cannot be built.
pub(crate) fn store_failure(error: StoreError) -> Response {
    tracing::warn!(%error, "console: store error");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "the database is not answering; try again shortly",
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
}

/// A form without the right CSRF token: refused, nothing changed.
fn csrf_refused(c: Chrome) -> Response {
    let mut c = c;
    c.error = Some(ErrorBox {
        summary: c.t.csrf_refused,
        detail: String::new(),
    });
    render(StatusCode::FORBIDDEN, &ErrorPage { c })
}

/// Whether the user's role may call the API's `method path` (the API's own table).
fn may(caller: &ApiCaller, method: Method, path: &str) -> bool {
    allowed(&method, path).is_some_and(|a| a.admits(caller))
}

// ---------------------------------------------------------------------------------------------
// Login, second factor, logout

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    csrf: String,
    customer_id: String,
    email: String,
}

pub async fn login_page(headers: HeaderMap) -> Response {
    login::login_form(&headers, |csrf| {
        let page = LoginPage {
            c: Chrome::anonymous(accept_language(&headers), |t| t.login_title),
            csrf,
            customer_id: String::new(),
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
    customer_id: String,
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
        return Contracts::csrf_refused(lang, Step::Password);
    };
    let again = |summary: fn(&Texts) -> &'static str, status: StatusCode| {
        let mut c = Chrome::anonymous(lang, |t| t.login_title);
        c.error = Some(ErrorBox {
            summary: summary(c.t),
            detail: String::new(),
        });
        let page = LoginPage {
            c,
            csrf: session::csrf_token(&pre),
            customer_id: form.customer_id.clone(),
            email: form.email.clone(),
        };
        render(status, &page)
    };
    let account = format!(
        "{}\0{}",
        form.customer_id.trim().to_ascii_lowercase(),
        form.email.trim().to_lowercase()
    );
    if !login::attempt_allowed(&state, address, &account) {
        return again(|t| t.login_rate_limited, StatusCode::TOO_MANY_REQUESTS);
    }
    let Ok(customer) = form.customer_id.trim().parse::<CustomerId>() else {
        return again(|t| t.login_failed, StatusCode::UNAUTHORIZED);
    };
    let store = state.store();
    let user = match store
        .verify_console_login(&customer, &form.email, &form.password)
        .await
    {
        Ok(Some(user)) => user,
        Ok(None) => return again(|t| t.login_failed, StatusCode::UNAUTHORIZED),
        Err(error) => return store_failure(error),
    };
    let settings = match store.console_settings(&customer, &user.user_id).await {
        Ok(settings) => settings,
        Err(error) => return store_failure(error),
    };
    let second_factor = settings.totp_secret.is_some();
    tracing::info!(customer_id = %customer, user_id = %user.user_id, second_factor, "console login");
    login::open_session::<Contracts>(store, &(customer, user.user_id), second_factor)
        .await
        .unwrap_or_else(store_failure)
}

#[derive(Template)]
#[template(path = "totp.html")]
struct TotpPage {
    c: Chrome,
    csrf: String,
}

/// Contracts' users: sessions in `console_sessions`, the `hk_session` cookie, the pages at `/`.
pub struct Contracts;

impl Realm for Contracts {
    type Principal = (CustomerId, String);

    const COOKIE: &'static str = SESSION_COOKIE;
    const LOGIN_PATH: &'static str = "/login";
    const CODE_PATH: &'static str = "/login/totp";
    const HOME_PATH: &'static str = "/";

    fn session_cookie(token: Option<&str>, lifetime: std::time::Duration) -> String {
        session::set_cookie(SESSION_COOKIE, token, lifetime)
    }

    fn code_account((_, user_id): &Self::Principal) -> String {
        format!("totp\0{user_id}")
    }

    async fn session(
        store: &Store,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<(Self::Principal, bool)>, StoreError> {
        Ok(store
            .console_session(token_hash, now)
            .await?
            .map(|s| ((s.customer_id, s.user_id), s.second_factor_pending)))
    }

    async fn create_session(
        store: &Store,
        (customer, user_id): &Self::Principal,
        token_hash: &[u8],
        second_factor_pending: bool,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        store
            .create_console_session(
                customer,
                user_id,
                token_hash,
                second_factor_pending,
                expires_at,
            )
            .await
    }

    async fn delete_session(store: &Store, token_hash: &[u8]) -> Result<(), StoreError> {
        store.delete_console_session(token_hash).await
    }

    async fn totp_secret(
        store: &Store,
        (customer, user_id): &Self::Principal,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(store.console_settings(customer, user_id).await?.totp_secret)
    }

    async fn take_code_step(
        store: &Store,
        (customer, user_id): &Self::Principal,
        step: i64,
    ) -> Result<bool, StoreError> {
        store.take_totp_step(customer, user_id, step).await
    }

    fn code_page(lang: Lang, csrf: String, refusal: Option<Refusal>) -> Response {
        let mut c = Chrome::anonymous(lang, |t| t.totp_title);
        c.error = refusal.map(|refusal| ErrorBox {
            summary: match refusal {
                Refusal::RateLimited => c.t.login_rate_limited,
                Refusal::Failed => c.t.totp_failed,
            },
            detail: String::new(),
        });
        render(StatusCode::OK, &TotpPage { c, csrf })
    }

    fn csrf_refused(lang: Lang, step: Step) -> Response {
        csrf_refused(match step {
            Step::Password => Chrome::anonymous(lang, |t| t.login_title),
            Step::Code => Chrome::anonymous(lang, |t| t.totp_title),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Dashboard

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct Counts {
    #[serde(default)]
    accepted: u64,
    #[serde(default)]
    delivered: u64,
    #[serde(default)]
    deferred: u64,
    #[serde(default)]
    bounced: u64,
    #[serde(default)]
    expired: u64,
    #[serde(default)]
    suppressed: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, o: &Counts) {
        self.accepted += o.accepted;
        self.delivered += o.delivered;
        self.deferred += o.deferred;
        self.bounced += o.bounced;
        self.expired += o.expired;
        self.suppressed += o.suppressed;
    }

    pub(crate) fn values(&self) -> [u64; 6] {
        [
            self.accepted,
            self.delivered,
            self.deferred,
            self.bounced,
            self.expired,
            self.suppressed,
        ]
    }
}

pub(crate) fn kind_labels(t: &Texts) -> [&'static str; 6] {
    [
        t.kind_accepted,
        t.kind_delivered,
        t.kind_deferred,
        t.kind_bounced,
        t.kind_expired,
        t.kind_suppressed,
    ]
}

pub(crate) const KIND_NAMES: [&str; 6] = [
    "accepted",
    "delivered",
    "deferred",
    "bounced",
    "expired",
    "suppressed",
];

#[derive(Deserialize)]
pub(crate) struct Point {
    pub(crate) start: Time,
    #[serde(flatten)]
    pub(crate) counts: Counts,
}

#[derive(Deserialize)]
struct Series {
    points: Vec<Point>,
}

#[derive(Template)]
#[template(path = "counts.html")]
struct CountsTable {
    caption: String,
    rows: Vec<(&'static str, u64)>,
}

#[derive(Deserialize)]
pub struct PlanUsage {
    pub sent: u64,
    pub plan: String,
    pub monthly_volume: Option<u64>,
    pub excess_units: u64,
}

pub struct DomainLine {
    pub domain: String,
    pub keys: Vec<KeyLine>,
}

pub struct KeyLine {
    pub selector: String,
    pub state: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    counts: Option<String>,
    usage: Option<PlanUsage>,
    domains: Option<Vec<DomainLine>>,
    problems: Option<String>,
    maintenance: Option<String>,
}

async fn series(
    state: &ConsoleState,
    viewer: &Viewer,
    from: i64,
    to: i64,
    granularity: &str,
) -> Result<Vec<Point>, ApiFailure> {
    let path = format!(
        "/stats{}",
        bridge::query(&[
            ("from", &Time(Timestamp(from)).to_string()),
            ("to", &Time(Timestamp(to)).to_string()),
            ("granularity", granularity),
        ])
    );
    let series: Series = bridge::get(state.api(), &viewer.caller, &path).await?;
    Ok(series.points)
}

pub async fn dashboard(State(state): State<ConsoleState>, viewer: Viewer) -> Response {
    let t = viewer.lang.texts();
    let mut c = Chrome::of(&viewer, |t| t.dashboard_title, "dashboard");
    let now = Timestamp::now().as_millis();
    // The current bucket is counted too: `to` is the end of this hour.
    let to = (now / 3_600_000 + 1) * 3_600_000;
    // The page's reads are asked for together: none needs another's answer, and the page
    // costs the dearest of them instead of their sum.
    let may_stats = may(&viewer.caller, Method::GET, "/stats");
    let may_events = may(&viewer.caller, Method::GET, "/events");
    let counts_since = |from: i64| {
        let (state, viewer) = (&state, &viewer);
        async move {
            if may_stats {
                Some(series(state, viewer, from, to, "hour").await)
            } else {
                None
            }
        }
    };
    let (today, month, usage, domain_list, recent, maintenance) = tokio::join!(
        counts_since(viewer.zone.day_start(now)),
        counts_since(viewer.zone.month_start(now)),
        bridge::get::<PlanUsage>(state.api(), &viewer.caller, "/usage"),
        bridge::get::<hikyaku_api_types::SenderDomainList>(
            state.api(),
            &viewer.caller,
            "/settings/sender-domains",
        ),
        async {
            let recent = "/events?kind=bounced,expired&limit=10";
            if may_events {
                Some(bridge::get::<EventList>(state.api(), &viewer.caller, recent).await)
            } else {
                None
            }
        },
        crate::operator::inquiry::maintenance_banner(&state, &viewer),
    );
    let mut counts = None;
    if let (Some(today), Some(month)) = (today, month) {
        match (today, month) {
            (Ok(today), Ok(month)) => {
                let mut html = String::new();
                for (caption, points) in [(t.today, today), (t.this_month, month)] {
                    let mut sum = Counts::default();
                    points.iter().for_each(|p| sum.add(&p.counts));
                    let table = CountsTable {
                        caption: caption.to_string(),
                        rows: kind_labels(t).into_iter().zip(sum.values()).collect(),
                    };
                    html.push_str(&table.render().unwrap_or_default());
                }
                counts = Some(html);
            }
            (Err(failure), _) | (_, Err(failure)) => c = c.failed(&failure),
        }
    }
    let usage = match usage {
        Ok(usage) => Some(usage),
        Err(failure) if failure.status == StatusCode::FORBIDDEN => None,
        Err(failure) => {
            c = c.failed(&failure);
            None
        }
    };
    let domains = match domain_list {
        Ok(list) => Some(
            list.domains
                .into_iter()
                .map(|d| DomainLine {
                    domain: d.domain,
                    keys: d
                        .keys
                        .into_iter()
                        .map(|k| KeyLine {
                            state: match k.state.as_str() {
                                "active" => t.dkim_active,
                                "pending" => t.dkim_pending,
                                _ => t.dkim_retired,
                            },
                            selector: k.selector,
                        })
                        .collect(),
                })
                .collect(),
        ),
        Err(failure) if failure.status == StatusCode::FORBIDDEN => None,
        Err(failure) => {
            c = c.failed(&failure);
            None
        }
    };
    let problems = match recent {
        Some(Ok(list)) => Some(events_fragment(&viewer, list, None)),
        Some(Err(failure)) => {
            c = c.failed(&failure);
            None
        }
        None => None,
    };
    render(
        StatusCode::OK,
        &DashboardPage {
            c,
            counts,
            usage,
            domains,
            problems,
            maintenance,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Send log and message view

#[derive(Deserialize, Default)]
struct ApiRemote {
    host: String,
    tls: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ApiDetails {
    remote: Option<ApiRemote>,
    code: Option<u16>,
    status: Option<String>,
    text: Option<String>,
    reason: Option<String>,
    attempt: Option<u32>,
    note: Option<String>,
}

#[derive(Deserialize)]
struct ApiEvent {
    kind: String,
    time: Time,
    message_id: String,
    #[serde(default)]
    sender: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    details: ApiDetails,
}

#[derive(Deserialize)]
struct EventList {
    data: Vec<ApiEvent>,
    next_cursor: Option<String>,
}

pub struct EventRow {
    pub kind: String,
    pub kind_label: &'static str,
    pub time: String,
    pub recipient: String,
    pub sender: String,
    pub message_id: String,
    pub message_id_path: String,
    pub summary: String,
    pub remote_host: Option<String>,
    pub tls: Option<bool>,
    pub code: Option<String>,
    pub text: Option<String>,
    pub reason: Option<String>,
    pub attempt: Option<u32>,
}

pub(crate) fn kind_label(t: &'static Texts, kind: &str) -> &'static str {
    match kind {
        "accepted" => t.kind_accepted,
        "delivered" => t.kind_delivered,
        "deferred" => t.kind_deferred,
        "bounced" => t.kind_bounced,
        "expired" => t.kind_expired,
        "suppressed" => t.kind_suppressed,
        "complaint" => t.kind_complaint,
        "inbound" => t.kind_inbound,
        "deleted" => t.kind_deleted,
        "unsubscribed" => t.kind_unsubscribed,
        _ => t.details,
    }
}

fn event_row(viewer: &Viewer, e: ApiEvent) -> EventRow {
    let t = viewer.lang.texts();
    let d = e.details;
    let code = match (d.code, &d.status) {
        (Some(code), Some(status)) => Some(format!("{code} {status}")),
        (Some(code), None) => Some(code.to_string()),
        (None, Some(status)) => Some(status.clone()),
        (None, None) => None,
    };
    let summary = [
        d.remote.as_ref().map(|r| r.host.clone()),
        code.clone(),
        d.reason.clone(),
        d.note.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    EventRow {
        kind_label: kind_label(t, &e.kind),
        kind: e.kind,
        time: viewer.zone.format(e.time.0.as_millis()),
        recipient: e.recipient,
        sender: e.sender,
        message_id_path: bridge::encode(&e.message_id),
        message_id: e.message_id,
        summary,
        remote_host: d.remote.as_ref().map(|r| r.host.clone()),
        tls: d.remote.as_ref().and_then(|r| r.tls),
        code,
        text: d.text,
        reason: d.reason,
        attempt: d.attempt,
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsFragment {
    t: &'static Texts,
    rows: Vec<EventRow>,
    next: Option<String>,
}

fn events_fragment(viewer: &Viewer, list: EventList, next: Option<String>) -> String {
    EventsFragment {
        t: viewer.lang.texts(),
        rows: list
            .data
            .into_iter()
            .map(|e| event_row(viewer, e))
            .collect(),
        next,
    }
    .render()
    .unwrap_or_default()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LogForm {
    since: String,
    until: String,
    recipient: String,
    sender: String,
    message_id: String,
    kind: String,
    reason: String,
    tag: String,
    cursor: String,
}

#[derive(Template)]
#[template(path = "log.html")]
struct LogPage {
    c: Chrome,
    form: LogForm,
    kinds: Vec<(&'static str, &'static str, bool)>,
    results: String,
}

const SEARCHABLE_KINDS: [&str; 8] = [
    "accepted",
    "delivered",
    "deferred",
    "bounced",
    "expired",
    "suppressed",
    "complaint",
    "unsubscribed",
];

pub async fn log_search(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(form): Query<LogForm>,
) -> Response {
    let t = viewer.lang.texts();
    let mut c = Chrome::of(&viewer, |t| t.log_title, "log");
    let since = viewer
        .zone
        .from_local_input(&form.since)
        .unwrap_or_default();
    let until = viewer
        .zone
        .from_local_input(&form.until)
        .unwrap_or_default();
    let mut status = StatusCode::OK;
    let results = if (!form.since.is_empty() && since.is_empty())
        || (!form.until.is_empty() && until.is_empty())
    {
        status = StatusCode::UNPROCESSABLE_ENTITY;
        c.error = Some(ErrorBox {
            summary: t.error_invalid,
            detail: String::new(),
        });
        String::new()
    } else {
        let path = format!(
            "/events{}",
            bridge::query(&[
                ("since", &since),
                ("until", &until),
                ("recipient", &form.recipient),
                ("sender", &form.sender),
                ("message_id", &form.message_id),
                ("kind", &form.kind),
                ("reason", &form.reason),
                ("tag", &form.tag),
                ("cursor", &form.cursor),
                ("limit", "50"),
            ])
        );
        match bridge::get::<EventList>(state.api(), &viewer.caller, &path).await {
            Ok(list) => {
                let next = list.next_cursor.as_ref().map(|cursor| {
                    format!(
                        "/log{}",
                        bridge::query(&[
                            ("since", &form.since),
                            ("until", &form.until),
                            ("recipient", &form.recipient),
                            ("sender", &form.sender),
                            ("message_id", &form.message_id),
                            ("kind", &form.kind),
                            ("reason", &form.reason),
                            ("tag", &form.tag),
                            ("cursor", cursor),
                        ])
                    )
                });
                events_fragment(&viewer, list, next)
            }
            Err(failure) => {
                status = failure.status;
                let error = error_box(t, &failure);
                c.error = Some(ErrorBox {
                    summary: error.summary,
                    detail: error.detail,
                });
                // The summary is one of our own strings: nothing to escape.
                format!(
                    "<div id=\"results\"><p role=\"alert\">{}</p></div>",
                    c.error.as_ref().map_or("", |e| e.summary)
                )
            }
        }
    };
    // htmx asks for the results only: they replace the old ones in place.
    if headers.contains_key("hx-request") && !headers.contains_key("hx-boosted") {
        return (status, Html(results)).into_response();
    }
    let kinds = SEARCHABLE_KINDS
        .iter()
        .map(|k| (*k, kind_label(t, k), form.kind == *k))
        .collect();
    render(
        status,
        &LogPage {
            c,
            form,
            kinds,
            results,
        },
    )
}

#[derive(Deserialize)]
struct ApiHistory {
    message_id: String,
    #[serde(default)]
    sender: String,
    #[serde(default)]
    tags: Vec<String>,
    events: Vec<ApiEvent>,
}

pub struct MessageView {
    pub message_id: String,
    pub sender: String,
    pub tags: String,
    pub events: Vec<EventRow>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    c: Chrome,
    m: MessageView,
}

pub async fn message_view(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Path(message_id): Path<String>,
) -> Response {
    let c = Chrome::of(&viewer, |t| t.message_title, "log");
    let path = format!("/messages/{}", bridge::encode(&message_id));
    match bridge::get::<ApiHistory>(state.api(), &viewer.caller, &path).await {
        Ok(history) => {
            let m = MessageView {
                message_id: history.message_id,
                sender: history.sender,
                tags: history.tags.join(", "),
                events: history
                    .events
                    .into_iter()
                    .map(|e| event_row(&viewer, e))
                    .collect(),
            };
            render(StatusCode::OK, &MessagePage { c, m })
        }
        Err(failure) => render(
            failure.status,
            &ErrorPage {
                c: c.failed(&failure),
            },
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Suppression list

#[derive(Deserialize)]
struct ApiSuppression {
    address: String,
    source: String,
    reason: Option<String>,
    created_at: Time,
}

#[derive(Deserialize)]
struct SuppressionPage {
    data: Vec<ApiSuppression>,
    next_cursor: Option<String>,
}

pub struct SuppressionRow {
    pub address: String,
    pub source: String,
    pub reason: String,
    pub created_at: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SuppressionQuery {
    address: String,
    cursor: String,
    done: String,
}

#[derive(Template)]
#[template(path = "suppressions.html")]
struct SuppressionsPage {
    c: Chrome,
    address: String,
    found: Option<Option<SuppressionRow>>,
    can_write: bool,
    can_remove_rows: bool,
    list: Vec<SuppressionRow>,
    next: Option<String>,
    imports: Vec<ImportView>,
    /// The import form's help, with the largest file it takes.
    import_help: String,
}

fn suppression_row(viewer: &Viewer, s: ApiSuppression) -> SuppressionRow {
    SuppressionRow {
        address: s.address,
        source: s.source,
        reason: s.reason.unwrap_or_default(),
        created_at: viewer.zone.format(s.created_at.0.as_millis()),
    }
}

async fn suppressions_page(
    state: &ConsoleState,
    viewer: &Viewer,
    query: &SuppressionQuery,
    mut c: Chrome,
    mut status: StatusCode,
) -> Response {
    let t = viewer.lang.texts();
    c.notice = match query.done.as_str() {
        "added" => Some(t.added_one),
        "removed" => Some(t.removed_one),
        "imported" => Some(t.import_done),
        _ => c.notice,
    };
    let address = query.address.trim().to_string();
    let mut found = None;
    if !address.is_empty() {
        let path = format!("/suppressions/{}", bridge::encode(&address));
        match bridge::get::<ApiSuppression>(state.api(), &viewer.caller, &path).await {
            Ok(s) => found = Some(Some(suppression_row(viewer, s))),
            Err(failure) if failure.status == StatusCode::NOT_FOUND => found = Some(None),
            Err(failure) => {
                status = failure.status;
                c = c.failed(&failure);
            }
        }
    }
    let path = format!(
        "/suppressions{}",
        bridge::query(&[("cursor", &query.cursor), ("limit", "50")])
    );
    let (list, next) = match bridge::get::<SuppressionPage>(state.api(), &viewer.caller, &path)
        .await
    {
        Ok(page) => (
            page.data
                .into_iter()
                .map(|s| suppression_row(viewer, s))
                .collect(),
            page.next_cursor
                .map(|cursor| format!("/suppressions{}", bridge::query(&[("cursor", &cursor)]))),
        ),
        Err(failure) => {
            if status.is_success() {
                status = failure.status;
            }
            c = c.failed(&failure);
            (Vec::new(), None)
        }
    };
    let can_write = may(&viewer.caller, Method::POST, "/suppressions");
    // The list of imports is a convenience: without it the page still shows the list.
    let imports =
        bridge::get::<ApiImportList>(state.api(), &viewer.caller, "/suppressions/imports")
            .await
            .map(|list| {
                list.data
                    .into_iter()
                    .map(|job| import_view(viewer, job))
                    .collect()
            })
            .unwrap_or_default();
    render(
        status,
        &SuppressionsPage {
            c,
            address,
            found,
            can_write,
            // A masked address cannot be given back to remove it: rows get a button only for
            // users who see addresses (others look the address up and remove it from there).
            can_remove_rows: can_write && viewer.user.see_addresses,
            list,
            next,
            imports,
            import_help: t.import_help.replace(
                "{size}",
                &hikyaku_api::v1::suppression_imports::size_in_words(state.upload_limit()),
            ),
        },
    )
}

pub async fn suppressions(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<SuppressionQuery>,
) -> Response {
    let c = Chrome::of(&viewer, |t| t.suppressions_title, "suppressions");
    suppressions_page(&state, &viewer, &query, c, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct SuppressionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    csv: String,
}

/// Runs a change through the API; on success back to the list with a notice, on failure the
/// list again with the API's reason.
async fn suppression_change(
    state: &ConsoleState,
    viewer: &Viewer,
    form: &SuppressionForm,
    method: Method,
    path: String,
    body: Option<(&'static str, Vec<u8>)>,
    done: &str,
) -> Response {
    let c = Chrome::of(viewer, |t| t.suppressions_title, "suppressions");
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(c);
    }
    match bridge::call(state.api(), &viewer.caller, method, &path, body).await {
        Ok(_) => see_other(&format!("/suppressions?done={done}")),
        Err(failure) => {
            let query = SuppressionQuery::default();
            let status = failure.status;
            suppressions_page(state, viewer, &query, c.failed(&failure), status).await
        }
    }
}

pub async fn suppression_add(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Form(form): Form<SuppressionForm>,
) -> Response {
    let mut body = serde_json::json!({ "address": form.address.trim() });
    if !form.reason.trim().is_empty() {
        body["reason"] = form.reason.trim().into();
    }
    let body = Some(("application/json", body.to_string().into_bytes()));
    suppression_change(
        &state,
        &viewer,
        &form,
        Method::POST,
        "/suppressions".into(),
        body,
        "added",
    )
    .await
}

pub async fn suppression_remove(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Form(form): Form<SuppressionForm>,
) -> Response {
    let path = format!("/suppressions/{}", bridge::encode(form.address.trim()));
    suppression_change(
        &state,
        &viewer,
        &form,
        Method::DELETE,
        path,
        None,
        "removed",
    )
    .await
}

/// The API's CSV export, passed through as a download.
pub async fn suppression_export(State(state): State<ConsoleState>, viewer: Viewer) -> Response {
    match bridge::call(
        state.api(),
        &viewer.caller,
        Method::GET,
        "/suppressions/export?format=csv",
        None,
    )
    .await
    {
        Ok((_, _, bytes)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"suppressions.csv\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(failure) => {
            let c = Chrome::of(&viewer, |t| t.suppressions_title, "suppressions");
            render(
                failure.status,
                &ErrorPage {
                    c: c.failed(&failure),
                },
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Suppression import jobs

#[derive(Deserialize)]
struct ApiImportError {
    line: u64,
    value: String,
    reason: String,
    message: String,
}

#[derive(Deserialize)]
struct ApiImport {
    id: i64,
    state: String,
    total_rows: u64,
    done_rows: u64,
    added: u64,
    already_listed: u64,
    failed_rows: u64,
    errors: Vec<ApiImportError>,
    errors_truncated: bool,
    created_at: Time,
}

#[derive(Deserialize)]
struct ApiImportList {
    data: Vec<ApiImport>,
}

pub struct ImportErrorRow {
    pub line: u64,
    pub value: String,
    pub problem: &'static str,
}

/// An import job as its page and its status fragment show it.
pub struct ImportView {
    pub id: i64,
    pub state: String,
    pub state_text: &'static str,
    pub done: bool,
    pub total_rows: u64,
    pub done_rows: u64,
    pub percent: u64,
    pub added: u64,
    pub already_listed: u64,
    pub failed_rows: u64,
    pub errors: Vec<ImportErrorRow>,
    pub errors_truncated: bool,
    pub created_at: String,
}

fn import_view(viewer: &Viewer, job: ApiImport) -> ImportView {
    let t = viewer.lang.texts();
    let state_text = match job.state.as_str() {
        "done" => t.import_state_done,
        "running" => t.import_state_running,
        _ => t.import_state_queued,
    };
    ImportView {
        id: job.id,
        done: job.state == "done",
        state: job.state,
        state_text,
        total_rows: job.total_rows,
        done_rows: job.done_rows,
        percent: (job.done_rows * 100)
            .checked_div(job.total_rows)
            .unwrap_or(100),
        added: job.added,
        already_listed: job.already_listed,
        failed_rows: job.failed_rows,
        errors: job
            .errors
            .into_iter()
            .map(|e| ImportErrorRow {
                line: e.line,
                value: e.value,
                problem: match e.reason.as_str() {
                    "too_long" => t.problem_too_long,
                    "bad_reason" => t.problem_bad_reason,
                    "no_address" => t.problem_no_address,
                    "duplicate" => t.problem_duplicate,
                    _ => t.problem_bad_address,
                },
            })
            .collect(),
        errors_truncated: job.errors_truncated,
        created_at: viewer.zone.format(job.created_at.0.as_millis()),
    }
}

#[derive(Template)]
#[template(path = "suppression_import.html")]
struct ImportPage {
    c: Chrome,
    t: &'static Texts,
    job: ImportView,
}

#[derive(Template)]
#[template(path = "import_status.html")]
struct ImportStatus {
    t: &'static Texts,
    job: ImportView,
}

/// The largest import form the console reads: the API takes at most `api.max_body_bytes` of
/// CSV and says so; form encoding makes a file up to three times longer on the way.
pub const IMPORT_FORM_LIMIT: usize = 48 << 20;

/// A file over the API's limit, said in the page's language with the limit as a size.
fn import_too_large(t: &'static Texts, limit: usize) -> ApiFailure {
    ApiFailure {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "body_too_large".into(),
        message: t.import_too_large.replace(
            "{size}",
            &hikyaku_api::v1::suppression_imports::size_in_words(limit),
        ),
    }
}

/// Starts an import job with the form's CSV and shows its page, or the list again with the
/// API's reason.
pub async fn suppression_import(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    form: Result<Form<SuppressionForm>, FormRejection>,
) -> Response {
    let c = Chrome::of(&viewer, |t| t.suppressions_title, "suppressions");
    let form = match form {
        Ok(Form(form)) => form,
        // A form even larger than the console reads: the same words as the API's refusal.
        // Nothing is done, so the token it may carry needs no checking.
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let failure = import_too_large(c.t, state.upload_limit());
            let query = SuppressionQuery::default();
            return suppressions_page(&state, &viewer, &query, c.failed(&failure), failure.status)
                .await;
        }
        Err(rejection) => return rejection.into_response(),
    };
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(c);
    }
    let body = Some(("text/csv", form.csv.into_bytes()));
    let answer = bridge::call(
        state.api(),
        &viewer.caller,
        Method::POST,
        "/suppressions/imports",
        body,
    )
    .await;
    let failure = match answer.map(|(_, _, bytes)| serde_json::from_slice::<ApiImport>(&bytes)) {
        Ok(Ok(job)) => return see_other(&format!("/suppressions/imports/{}", job.id)),
        Ok(Err(e)) => ApiFailure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal".into(),
            message: format!("unexpected answer from the API: {e}"),
        },
        // The API's words name the limit in English; the page says it in its own language.
        Err(failure) if failure.code == "body_too_large" => {
            import_too_large(c.t, state.upload_limit())
        }
        Err(failure) => failure,
    };
    let query = SuppressionQuery::default();
    let status = failure.status;
    suppressions_page(&state, &viewer, &query, c.failed(&failure), status).await
}

async fn import_job(
    state: &ConsoleState,
    viewer: &Viewer,
    id: &str,
) -> Result<ImportView, ApiFailure> {
    let path = format!("/suppressions/imports/{}", bridge::encode(id));
    let job = bridge::get::<ApiImport>(state.api(), &viewer.caller, &path).await?;
    Ok(import_view(viewer, job))
}

/// An import job's page: its progress, polled every second by htmx (without script, the
/// page's own link reloads it), and its refused rows once it is done.
pub async fn suppression_import_page(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let c = Chrome::of(&viewer, |t| t.suppressions_title, "suppressions");
    match import_job(&state, &viewer, &id).await {
        Ok(job) => render(StatusCode::OK, &ImportPage { t: c.t, c, job }),
        Err(failure) => render(
            failure.status,
            &ErrorPage {
                c: c.failed(&failure),
            },
        ),
    }
}

/// The job's status alone, for the page's polling.
pub async fn suppression_import_status(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    match import_job(&state, &viewer, &id).await {
        Ok(job) => render(
            StatusCode::OK,
            &ImportStatus {
                t: viewer.lang.texts(),
                job,
            },
        ),
        Err(failure) => (failure.status, failure.message).into_response(),
    }
}

/// The refused rows as a CSV file: `line,value,reason,message`.
pub async fn suppression_import_errors(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/suppressions/imports/{}", bridge::encode(&id));
    let job = match bridge::get::<ApiImport>(state.api(), &viewer.caller, &path).await {
        Ok(job) => job,
        Err(failure) => {
            let c = Chrome::of(&viewer, |t| t.suppressions_title, "suppressions");
            return render(
                failure.status,
                &ErrorPage {
                    c: c.failed(&failure),
                },
            );
        }
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    let written: Result<(), csv::Error> = (|| {
        writer.write_record(["line", "value", "reason", "message"])?;
        for e in &job.errors {
            writer.write_record([
                e.line.to_string().as_str(),
                e.value.as_str(),
                e.reason.as_str(),
                e.message.as_str(),
            ])?;
        }
        Ok(())
    })();
    let body = written
        .ok()
        .and_then(|()| writer.into_inner().ok())
        .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"import-{}-refused-rows.csv\"",
                    job.id
                ),
            ),
        ],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Settings

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    c: Chrome,
    language: String,
    zones: Vec<(String, bool)>,
    totp_on: bool,
    new_secret: String,
    otpauth: String,
    menu: crate::settings::Menu,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SettingsQuery {
    done: String,
    failed: String,
}

async fn settings_page(viewer: &Viewer, query: &SettingsQuery, status: StatusCode) -> Response {
    let mut c = Chrome::of(viewer, |t| t.settings_title, "settings");
    if query.done == "saved" {
        c.notice = Some(c.t.saved);
    }
    if query.failed == "totp" {
        c.error = Some(ErrorBox {
            summary: c.t.totp_failed,
            detail: String::new(),
        });
    }
    let mut secret = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let new_secret = session::base32(&secret);
    let otpauth = format!(
        "otpauth://totp/Hikyaku:{}?secret={new_secret}&issuer=Hikyaku&algorithm=SHA1&digits=6&period=30",
        bridge::encode(&viewer.user.email)
    );
    render(
        status,
        &SettingsPage {
            c,
            language: viewer.language_setting.clone().unwrap_or_default(),
            zones: offered_zones()
                .into_iter()
                .map(|z| {
                    let selected = z == viewer.zone.name;
                    (z, selected)
                })
                .collect(),
            totp_on: viewer.totp_on,
            new_secret,
            otpauth,
            menu: crate::settings::menu(viewer, "/settings"),
        },
    )
}

pub async fn settings(viewer: Viewer, Query(query): Query<SettingsQuery>) -> Response {
    settings_page(&viewer, &query, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct SettingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
}

fn invalid_setting(viewer: &Viewer) -> Response {
    let mut c = Chrome::of(viewer, |t| t.settings_title, "settings");
    c.error = Some(ErrorBox {
        summary: c.t.error_invalid,
        detail: String::new(),
    });
    render(StatusCode::UNPROCESSABLE_ENTITY, &ErrorPage { c })
}

pub async fn set_language(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Form(form): Form<SettingForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(Chrome::of(&viewer, |t| t.settings_title, "settings"));
    }
    let language = match form.language.as_str() {
        "" => None,
        code => match Lang::parse(code) {
            Some(lang) => Some(lang.code()),
            None => return invalid_setting(&viewer),
        },
    };
    let user = &viewer.user;
    match state
        .store()
        .set_console_language(&user.customer_id, &user.user_id, language)
        .await
    {
        Ok(()) => see_other("/settings?done=saved"),
        Err(error) => store_failure(error),
    }
}

pub async fn set_time_zone(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Form(form): Form<SettingForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(Chrome::of(&viewer, |t| t.settings_title, "settings"));
    }
    let Some(zone) = Zone::parse(&form.time_zone) else {
        return invalid_setting(&viewer);
    };
    let user = &viewer.user;
    match state
        .store()
        .set_console_time_zone(&user.customer_id, &user.user_id, Some(&zone.name))
        .await
    {
        Ok(()) => see_other("/settings?done=saved"),
        Err(error) => store_failure(error),
    }
}

/// Turns the second factor on (with a code from the new secret, so a mistyped secret never
/// locks the user out) or off (with a code from the current one).
pub async fn set_totp(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Form(form): Form<SettingForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return csrf_refused(Chrome::of(&viewer, |t| t.settings_title, "settings"));
    }
    let user = &viewer.user;
    let store = state.store();
    let account = Contracts::code_account(&(user.customer_id.clone(), user.user_id.clone()));
    if !state.0.limits.account.take(&account, Instant::now()) {
        return see_other("/settings?failed=totp");
    }
    let secret = match form.action.as_str() {
        "enable" => match session::from_base32(&form.secret) {
            Some(secret) if secret.len() >= 16 => secret,
            _ => return invalid_setting(&viewer),
        },
        "disable" => match store
            .console_settings(&user.customer_id, &user.user_id)
            .await
        {
            Ok(settings) => match settings.totp_secret {
                Some(secret) => secret,
                None => return see_other("/settings"),
            },
            Err(error) => return store_failure(error),
        },
        _ => return invalid_setting(&viewer),
    };
    let Some(step) = session::totp_verify(&secret, &form.code, login::unix_seconds()) else {
        return see_other("/settings?failed=totp");
    };
    let new = (form.action == "enable").then_some(secret.as_slice());
    if let Err(error) = store
        .set_console_totp(&user.customer_id, &user.user_id, new)
        .await
    {
        return store_failure(error);
    }
    // The code just given is spent: it cannot log anyone in afterwards.
    match store
        .take_totp_step(&user.customer_id, &user.user_id, step as i64)
        .await
    {
        Ok(_) => see_other("/settings?done=saved"),
        Err(error) => store_failure(error),
    }
}
