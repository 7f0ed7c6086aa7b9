//! The contract's webhook endpoints: add (secret shown once), edit, remove, rotate the secret
//! (the new one shown once), send a test event, and each endpoint's attempts.

use super::{
    Change, DoneQuery, Fields, Frame, Menu, Outcome, Secret, SettingsTexts, change, may, render,
    see_other,
};
use crate::bridge;
use crate::pages::Chrome;
use crate::{ConsoleState, Viewer};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use hikyaku_api_types::Time;
use serde::Deserialize;
use serde_json::json;

/// The event kinds an endpoint may receive, as the API names them.
const KINDS: [&str; 9] = [
    "accepted",
    "delivered",
    "deferred",
    "bounced",
    "expired",
    "suppressed",
    "complaint",
    "unsubscribed",
    "inbound",
];

fn kind_label(t: &'static crate::i18n::Texts, kind: &'static str) -> &'static str {
    match kind {
        "accepted" => t.kind_accepted,
        "delivered" => t.kind_delivered,
        "deferred" => t.kind_deferred,
        "bounced" => t.kind_bounced,
        "expired" => t.kind_expired,
        "suppressed" => t.kind_suppressed,
        "complaint" => t.kind_complaint,
        "unsubscribed" => t.kind_unsubscribed,
        "inbound" => t.kind_inbound,
        other => other,
    }
}

#[derive(Deserialize)]
struct Endpoint {
    id: i64,
    url: String,
    events: Vec<String>,
    #[serde(default)]
    one_per_request: bool,
    created_at: Time,
    #[serde(default)]
    failing_since: Option<Time>,
    #[serde(default)]
    disabled_reason: Option<String>,
    #[serde(default)]
    disabled_at: Option<Time>,
    format: String,
}

#[derive(Deserialize)]
struct EndpointList {
    endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
struct CreatedSecret {
    id: i64,
    secret: String,
    #[serde(default)]
    previous_secret_until: Option<Time>,
}

pub struct EndpointRow {
    pub id: i64,
    pub url: String,
    pub events: String,
    pub kinds: Vec<String>,
    pub one_per_request: bool,
    pub created_at: String,
    pub failing_since: Option<String>,
    pub disabled: Option<String>,
    pub enabled: bool,
    pub format: String,
}

impl EndpointRow {
    /// Whether the endpoint receives `kind`: its edit form's boxes start as it is.
    pub fn receives(&self, kind: &str) -> bool {
        self.kinds.iter().any(|k| k == kind)
    }
}

/// The body formats an endpoint may have, as the API names them.
const FORMATS: [&str; 3] = ["standard", "hosted-json", "hosted-form"];

#[derive(Template)]
#[template(path = "settings/webhooks.html")]
struct WebhooksPage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    can_write: bool,
    kinds: Vec<(&'static str, &'static str)>,
    formats: [&'static str; 3],
    rows: Vec<EndpointRow>,
}

async fn webhooks_page(state: &ConsoleState, viewer: &Viewer, outcome: Outcome) -> Response {
    let mut f = Frame::new(viewer, |s| s.webhooks_title, "/settings/webhooks").with(outcome);
    let t = f.c.t;
    let list: Option<EndpointList> = f.read(state, viewer, "/webhooks").await;
    let rows = list.map_or(Vec::new(), |l| {
        l.endpoints
            .into_iter()
            .map(|e| EndpointRow {
                id: e.id,
                url: e.url,
                events: e.events.join(", "),
                kinds: e.events,
                one_per_request: e.one_per_request,
                created_at: viewer.zone.format(e.created_at.0.as_millis()),
                failing_since: e
                    .failing_since
                    .map(|at| viewer.zone.format(at.0.as_millis())),
                disabled: e.disabled_reason,
                enabled: e.disabled_at.is_none(),
                format: e.format,
            })
            .collect()
    });
    let kinds = KINDS
        .iter()
        .map(|&kind| (kind, kind_label(t, kind)))
        .collect();
    show!(
        f,
        WebhooksPage {
            can_write: may(viewer, Method::POST, "/webhooks"),
            kinds,
            formats: FORMATS,
            rows,
        }
    )
}

pub async fn webhooks(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Response {
    let outcome = query.outcome(viewer.lang);
    webhooks_page(&state, &viewer, outcome).await
}

/// The page after a change that answered a secret: the secret, shown this once.
async fn with_secret(
    state: &ConsoleState,
    viewer: &Viewer,
    result: Change,
    about: impl FnOnce(&CreatedSecret) -> String,
) -> Response {
    let s = viewer.lang.settings_texts();
    result
        .made_or(
            |created: CreatedSecret| {
                let mut about = about(&created);
                if let Some(until) = created.previous_secret_until {
                    about = format!(
                        "{about} — {}: {}",
                        s.previous_secret_until,
                        viewer.zone.format(until.0.as_millis())
                    );
                }
                Ok(Outcome::secret(s.signing_secret, about, created.secret))
            },
            |o| webhooks_page(state, viewer, o),
        )
        .await
}

pub async fn webhook_add(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let events = fields.all("events");
    let mut body = json!({
        "url": fields.trimmed("url"),
        "one_per_request": fields.on("one_per_request"),
    });
    if !events.is_empty() {
        body["events"] = events.into();
    }
    let url = fields.trimmed("url").to_string();
    let result = change(
        &state,
        &viewer,
        &fields,
        Method::POST,
        "/webhooks",
        Some(body),
    )
    .await;
    with_secret(&state, &viewer, result, |created| {
        format!("#{} {url}", created.id)
    })
    .await
}

/// The edit form of an endpoint: its URL when one is given (the list shows it masked, so an
/// empty field keeps it), its kinds (when any box is ticked) and options as the boxes say, its
/// `api_key` replaced when one is given or removed when asked.
pub async fn webhook_edit(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let mut body = json!({
        "one_per_request": fields.on("one_per_request"),
        "enabled": fields.on("enabled"),
    });
    // No box ticked keeps the kinds, as an empty field keeps its value.
    let events = fields.all("events");
    if !events.is_empty() {
        body["events"] = events.into();
    }
    for name in ["url", "format"] {
        let value = fields.trimmed(name);
        if !value.is_empty() {
            body[name] = value.into();
        }
    }
    if fields.on("remove_api_key") {
        body["api_key"] = serde_json::Value::Null;
    } else if !fields.trimmed("api_key").is_empty() {
        body["api_key"] = fields.trimmed("api_key").into();
    }
    let path = format!("/webhooks/{}", bridge::encode(fields.trimmed("id")));
    change(&state, &viewer, &fields, Method::PATCH, &path, Some(body))
        .await
        .redirect_or("/settings/webhooks?done=saved", |o| {
            webhooks_page(&state, &viewer, o)
        })
        .await
}

pub async fn webhook_rotate(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!(
        "/webhooks/{}/rotate-secret",
        bridge::encode(fields.trimmed("id"))
    );
    let result = change(
        &state,
        &viewer,
        &fields,
        Method::POST,
        &path,
        Some(json!({})),
    )
    .await;
    with_secret(&state, &viewer, result, |created| {
        format!("#{}", created.id)
    })
    .await
}

pub async fn webhook_remove(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!("/webhooks/{}", bridge::encode(fields.trimmed("id")));
    change(&state, &viewer, &fields, Method::DELETE, &path, None)
        .await
        .redirect_or("/settings/webhooks?done=removed", |o| {
            webhooks_page(&state, &viewer, o)
        })
        .await
}

pub async fn webhook_test(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let id = fields.trimmed("id").to_string();
    let path = format!("/webhooks/{}/test", bridge::encode(&id));
    match change(&state, &viewer, &fields, Method::POST, &path, None).await {
        Change::Done(_) => see_other(&format!(
            "/settings/webhooks/{}/attempts?done=test",
            bridge::encode(&id)
        )),
        Change::Failed(failure) => webhooks_page(&state, &viewer, Outcome::failed(failure)).await,
        Change::Refused(response) => response,
    }
}

// ---------------------------------------------------------------------------------------------
// Attempts

#[derive(Deserialize)]
struct Attempt {
    webhook_id: String,
    time: Time,
    events: u32,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    error: Option<String>,
    latency_ms: i64,
    #[serde(default)]
    answer: Option<String>,
    outcome: String,
}

#[derive(Deserialize)]
struct AttemptList {
    attempts: Vec<Attempt>,
}

pub struct AttemptRow {
    pub time: String,
    pub webhook_id: String,
    pub events: u32,
    pub status: String,
    pub latency_ms: i64,
    pub outcome: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "settings/attempts.html")]
struct AttemptsPage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    id: String,
    rows: Vec<AttemptRow>,
}

pub async fn attempts(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let outcome = query.outcome(viewer.lang);
    let mut f = Frame::new(&viewer, |s| s.attempts_title, "/settings/webhooks").with(outcome);
    let path = format!("/webhooks/{}/attempts?limit=100", bridge::encode(&id));
    let list: Option<AttemptList> = f.read(&state, &viewer, &path).await;
    let rows = list.map_or(Vec::new(), |l| {
        l.attempts
            .into_iter()
            .map(|a| AttemptRow {
                time: viewer.zone.format(a.time.0.as_millis()),
                webhook_id: a.webhook_id,
                events: a.events,
                status: a.status.map(|s| s.to_string()).unwrap_or_default(),
                latency_ms: a.latency_ms,
                outcome: a.outcome,
                text: [a.error, a.answer]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" — "),
            })
            .collect()
    });
    show!(f, AttemptsPage { id, rows })
}
