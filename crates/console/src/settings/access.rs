//! Who may send as the contract and where its inbound mail goes: allowed IP ranges, SMTP
//! credentials, inbound routes; and the platform's send-control rules, read-only.

use super::{
    DoneQuery, FRESH, Fields, Frame, Menu, Outcome, Secret, SettingsTexts, change, list_path, may,
    next_link, render,
};
use crate::bridge;
use crate::pages::Chrome;
use crate::{ConsoleState, Viewer};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use hikyaku_api_types::{
    AllowedIpRangePage, CreatedInboundRoute, CreatedSmtpCredential, InboundRoutePage,
    SendControlRules, SmtpCredentialPage,
};
use serde_json::json;

pub struct Row {
    pub key: String,
    pub cells: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Allowed IP ranges

#[derive(Template)]
#[template(path = "settings/ips.html")]
struct IpsPage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    can_write: bool,
    rows: Vec<Row>,
    next: Option<String>,
}

async fn ips_page(
    state: &ConsoleState,
    viewer: &Viewer,
    query: &DoneQuery,
    outcome: Outcome,
) -> Response {
    let mut f = Frame::new(viewer, |s| s.ips_title, "/settings/allowed-ips").with(outcome);
    let page: Option<AllowedIpRangePage> = f
        .read(state, viewer, &list_path("/settings/allowed-ips", query))
        .await;
    let (rows, next) = page.map_or((Vec::new(), None), |p| {
        (
            p.data
                .into_iter()
                .map(|r| Row {
                    key: r.cidr.clone(),
                    cells: vec![r.cidr, viewer.zone.format(r.created_at.0.as_millis())],
                })
                .collect(),
            next_link("/settings/allowed-ips", p.next_cursor),
        )
    });
    show!(
        f,
        IpsPage {
            can_write: may(viewer, Method::POST, "/settings/allowed-ips"),
            rows,
            next,
        }
    )
}

pub async fn ips(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Response {
    let outcome = query.outcome(viewer.lang);
    ips_page(&state, &viewer, &query, outcome).await
}

pub async fn ip_add(State(state): State<ConsoleState>, viewer: Viewer, fields: Fields) -> Response {
    let body = json!({ "cidr": fields.trimmed("cidr") });
    change(
        &state,
        &viewer,
        &fields,
        Method::POST,
        "/settings/allowed-ips",
        Some(body),
    )
    .await
    .redirect_or("/settings/allowed-ips?done=added", |o| {
        ips_page(&state, &viewer, &FRESH, o)
    })
    .await
}

pub async fn ip_remove(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!(
        "/settings/allowed-ips/{}",
        bridge::encode(fields.trimmed("cidr"))
    );
    change(&state, &viewer, &fields, Method::DELETE, &path, None)
        .await
        .redirect_or("/settings/allowed-ips?done=removed", |o| {
            ips_page(&state, &viewer, &FRESH, o)
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// SMTP credentials

#[derive(Template)]
#[template(path = "settings/smtp.html")]
struct SmtpPage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    can_write: bool,
    rows: Vec<Row>,
    next: Option<String>,
}

async fn smtp_page(
    state: &ConsoleState,
    viewer: &Viewer,
    query: &DoneQuery,
    outcome: Outcome,
) -> Response {
    let mut f = Frame::new(viewer, |s| s.smtp_title, "/settings/smtp-credentials").with(outcome);
    let page: Option<SmtpCredentialPage> = f
        .read(
            state,
            viewer,
            &list_path("/settings/smtp-credentials", query),
        )
        .await;
    let (rows, next) = page.map_or((Vec::new(), None), |p| {
        (
            p.data
                .into_iter()
                .map(|r| Row {
                    key: r.username.clone(),
                    cells: vec![r.username, viewer.zone.format(r.created_at.0.as_millis())],
                })
                .collect(),
            next_link("/settings/smtp-credentials", p.next_cursor),
        )
    });
    show!(
        f,
        SmtpPage {
            can_write: may(viewer, Method::POST, "/settings/smtp-credentials"),
            rows,
            next,
        }
    )
}

pub async fn smtp(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Response {
    let outcome = query.outcome(viewer.lang);
    smtp_page(&state, &viewer, &query, outcome).await
}

pub async fn smtp_add(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let mut body = json!({ "username": fields.trimmed("username") });
    // A password is taken as typed (spaces are allowed in one); empty asks for a generated one.
    if !fields.get("password").is_empty() {
        body["password"] = fields.get("password").into();
    }
    change(
        &state,
        &viewer,
        &fields,
        Method::POST,
        "/settings/smtp-credentials",
        Some(body),
    )
    .await
    .made_or(
        |created: CreatedSmtpCredential| match created.password {
            Some(password) => Ok(Outcome {
                notice: Some(viewer.lang.settings_texts().added),
                ..Outcome::secret(
                    viewer.lang.settings_texts().generated_password,
                    created.username,
                    password,
                )
            }),
            None => Err("/settings/smtp-credentials?done=added"),
        },
        |o| smtp_page(&state, &viewer, &FRESH, o),
    )
    .await
}

pub async fn smtp_remove(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!(
        "/settings/smtp-credentials/{}",
        bridge::encode(fields.trimmed("username"))
    );
    change(&state, &viewer, &fields, Method::DELETE, &path, None)
        .await
        .redirect_or("/settings/smtp-credentials?done=removed", |o| {
            smtp_page(&state, &viewer, &FRESH, o)
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// Inbound routes

pub struct RouteRow {
    pub id: i64,
    pub pattern: String,
    pub endpoint: String,
    pub forward_raw: bool,
    pub format: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "settings/inbound.html")]
struct InboundPage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    can_write: bool,
    rows: Vec<RouteRow>,
    next: Option<String>,
}

async fn inbound_page(
    state: &ConsoleState,
    viewer: &Viewer,
    query: &DoneQuery,
    outcome: Outcome,
) -> Response {
    let mut f = Frame::new(viewer, |s| s.inbound_title, "/settings/inbound-routes").with(outcome);
    let page: Option<InboundRoutePage> = f
        .read(state, viewer, &list_path("/settings/inbound-routes", query))
        .await;
    let (rows, next) = page.map_or((Vec::new(), None), |p| {
        (
            p.data
                .into_iter()
                .map(|r| RouteRow {
                    id: r.id,
                    pattern: r.pattern,
                    endpoint: r.endpoint,
                    forward_raw: r.forward_raw,
                    format: r.format,
                    created_at: viewer.zone.format(r.created_at.0.as_millis()),
                })
                .collect(),
            next_link("/settings/inbound-routes", p.next_cursor),
        )
    });
    show!(
        f,
        InboundPage {
            can_write: may(viewer, Method::POST, "/settings/inbound-routes"),
            rows,
            next,
        }
    )
}

pub async fn inbound(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Response {
    let outcome = query.outcome(viewer.lang);
    inbound_page(&state, &viewer, &query, outcome).await
}

pub async fn inbound_add(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let body = json!({
        "pattern": fields.trimmed("pattern"),
        "endpoint": fields.trimmed("endpoint"),
        "forward_raw": fields.on("forward_raw"),
    });
    let s = viewer.lang.settings_texts();
    change(
        &state,
        &viewer,
        &fields,
        Method::POST,
        "/settings/inbound-routes",
        Some(body),
    )
    .await
    .made_or(
        |created: CreatedInboundRoute| {
            Ok(Outcome {
                notice: Some(s.added),
                ..Outcome::secret(
                    s.signing_secret,
                    created.route.pattern,
                    created.signing_secret,
                )
            })
        },
        |o| inbound_page(&state, &viewer, &FRESH, o),
    )
    .await
}

/// The edit form of a route: the pattern and endpoint when given (an empty field keeps the
/// value: the list may show the pattern masked), the raw box as it is.
pub async fn inbound_edit(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let mut body = json!({"forward_raw": fields.on("forward_raw")});
    for name in ["pattern", "endpoint"] {
        let value = fields.trimmed(name);
        if !value.is_empty() {
            body[name] = value.into();
        }
    }
    let path = format!(
        "/settings/inbound-routes/{}",
        bridge::encode(fields.trimmed("id"))
    );
    change(&state, &viewer, &fields, Method::PATCH, &path, Some(body))
        .await
        .redirect_or("/settings/inbound-routes?done=saved", |o| {
            inbound_page(&state, &viewer, &FRESH, o)
        })
        .await
}

pub async fn inbound_remove(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!(
        "/settings/inbound-routes/{}",
        bridge::encode(fields.trimmed("id"))
    );
    change(&state, &viewer, &fields, Method::DELETE, &path, None)
        .await
        .redirect_or("/settings/inbound-routes?done=removed", |o| {
            inbound_page(&state, &viewer, &FRESH, o)
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// Send control (the operator's rules, read-only)

pub struct RuleRow {
    pub matches: String,
    pub max_connections: u64,
    pub per_connection: u64,
    pub rate: String,
    pub tls: String,
    pub backoff: String,
}

#[derive(Template)]
#[template(path = "settings/send_control.html")]
struct SendControlPage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    rules: Vec<RuleRow>,
    defaults: Option<RuleRow>,
}

pub async fn send_control(State(state): State<ConsoleState>, viewer: Viewer) -> Response {
    let mut f = Frame::new(&viewer, |s| s.send_control_title, "/settings/send-control");
    let found: Option<SendControlRules> = f.read(&state, &viewer, "/settings/send-control").await;
    let s = f.s;
    let row = |r: hikyaku_api_types::SendControlRule| RuleRow {
        matches: r.matches,
        max_connections: r.max_connections,
        per_connection: r.max_messages_per_connection,
        rate: r.max_rate.unwrap_or_else(|| s.no_limit.to_string()),
        tls: r.tls,
        backoff: format!("{} {}", r.backoff_seconds, s.seconds),
    };
    let (rules, defaults) = match found {
        Some(found) => (
            found.rules.into_iter().map(row).collect(),
            Some(row(found.defaults)),
        ),
        None => (Vec::new(), None),
    };
    show!(f, SendControlPage { rules, defaults })
}
