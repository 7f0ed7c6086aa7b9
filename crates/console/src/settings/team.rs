//! Who acts for the contract: its console users (a generated password shown once) and its API
//! keys (the key shown once). Admins only, by the API's table.

use super::{
    DoneQuery, FRESH, Fields, Frame, Menu, Outcome, Secret, SettingsTexts, change, list_path, may,
    next_link, render, role_label,
};
use crate::bridge;
use crate::pages::Chrome;
use crate::{ConsoleState, Viewer};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use hikyaku_api_types::{ApiKeyPage, CreatedApiKey, NewUser, UserPage};
use serde_json::json;

const ROLES: [&str; 4] = ["admin", "sender", "viewer", "billing"];

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    pub see_addresses: bool,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "settings/users.html")]
struct UsersPage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    can_write: bool,
    /// Only a user who sees addresses may grant seeing them.
    can_grant_addresses: bool,
    roles: Vec<(&'static str, &'static str)>,
    rows: Vec<UserRow>,
    next: Option<String>,
}

fn roles(s: &'static SettingsTexts) -> Vec<(&'static str, &'static str)> {
    ROLES.iter().map(|&r| (r, role_label(s, r))).collect()
}

async fn users_page(
    state: &ConsoleState,
    viewer: &Viewer,
    query: &DoneQuery,
    outcome: Outcome,
) -> Response {
    let mut f = Frame::new(viewer, |s| s.users_title, "/settings/users").with(outcome);
    let s = f.s;
    let page: Option<UserPage> = f.read(state, viewer, &list_path("/users", query)).await;
    let (rows, next) = page.map_or((Vec::new(), None), |p| {
        (
            p.data
                .into_iter()
                .map(|u| UserRow {
                    id: u.id,
                    email: u.email,
                    role: role_label(s, u.role.as_str()),
                    see_addresses: u.see_addresses,
                    created_at: viewer.zone.format(u.created_at.0.as_millis()),
                })
                .collect(),
            next_link("/settings/users", p.next_cursor),
        )
    });
    show!(
        f,
        UsersPage {
            can_write: may(viewer, Method::POST, "/users"),
            can_grant_addresses: viewer.user.see_addresses,
            roles: roles(s),
            rows,
            next,
        }
    )
}

pub async fn users(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Response {
    let outcome = query.outcome(viewer.lang);
    users_page(&state, &viewer, &query, outcome).await
}

pub async fn user_add(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let mut body = json!({
        "email": fields.trimmed("email"),
        "role": fields.trimmed("role"),
        "see_addresses": fields.on("see_addresses"),
    });
    if !fields.get("password").is_empty() {
        body["password"] = fields.get("password").into();
    }
    let s = viewer.lang.settings_texts();
    change(&state, &viewer, &fields, Method::POST, "/users", Some(body))
        .await
        .made_or(
            |created: NewUser| match created.password {
                Some(password) => Ok(Outcome {
                    notice: Some(s.added),
                    ..Outcome::secret(s.generated_password, created.user.email, password)
                }),
                None => Err("/settings/users?done=added"),
            },
            |o| users_page(&state, &viewer, &FRESH, o),
        )
        .await
}

pub async fn user_remove(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!("/users/{}", bridge::encode(fields.trimmed("id")));
    change(&state, &viewer, &fields, Method::DELETE, &path, None)
        .await
        .redirect_or("/settings/users?done=removed", |o| {
            users_page(&state, &viewer, &FRESH, o)
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// API keys

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub role: &'static str,
    pub see_addresses: bool,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "settings/keys.html")]
struct KeysPage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    can_write: bool,
    can_grant_addresses: bool,
    roles: Vec<(&'static str, &'static str)>,
    rows: Vec<KeyRow>,
    next: Option<String>,
}

async fn keys_page(
    state: &ConsoleState,
    viewer: &Viewer,
    query: &DoneQuery,
    outcome: Outcome,
) -> Response {
    let mut f = Frame::new(viewer, |s| s.keys_title, "/settings/api-keys").with(outcome);
    let s = f.s;
    let page: Option<ApiKeyPage> = f.read(state, viewer, &list_path("/api-keys", query)).await;
    let (rows, next) = page.map_or((Vec::new(), None), |p| {
        (
            p.data
                .into_iter()
                .map(|k| KeyRow {
                    id: k.id,
                    name: k.name,
                    prefix: k.prefix,
                    role: role_label(s, k.role.as_str()),
                    see_addresses: k.see_addresses,
                    created_at: viewer.zone.format(k.created_at.0.as_millis()),
                })
                .collect(),
            next_link("/settings/api-keys", p.next_cursor),
        )
    });
    show!(
        f,
        KeysPage {
            can_write: may(viewer, Method::POST, "/api-keys"),
            can_grant_addresses: viewer.user.see_addresses,
            roles: roles(s),
            rows,
            next,
        }
    )
}

pub async fn keys(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Response {
    let outcome = query.outcome(viewer.lang);
    keys_page(&state, &viewer, &query, outcome).await
}

pub async fn key_add(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let body = json!({
        "name": fields.trimmed("name"),
        "role": fields.trimmed("role"),
        "see_addresses": fields.on("see_addresses"),
    });
    let s = viewer.lang.settings_texts();
    change(
        &state,
        &viewer,
        &fields,
        Method::POST,
        "/api-keys",
        Some(body),
    )
    .await
    .made_or(
        |created: CreatedApiKey| {
            Ok(Outcome {
                notice: Some(s.added),
                ..Outcome::secret(s.new_key, created.api_key.name, created.key)
            })
        },
        |o| keys_page(&state, &viewer, &FRESH, o),
    )
    .await
}

pub async fn key_revoke(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!("/api-keys/{}", bridge::encode(fields.trimmed("id")));
    change(&state, &viewer, &fields, Method::DELETE, &path, None)
        .await
        .redirect_or("/settings/api-keys?done=removed", |o| {
            keys_page(&state, &viewer, &FRESH, o)
        })
        .await
}
