//! The contract's side of the operator area: the inquiry form (any role may write to the
//! operator) and the banner of coming maintenance on the dashboard. Both go through the REST
//! API as the logged-in user, like every contract page.

use crate::bridge::{self, ApiFailure};
use crate::pages::{Chrome, ErrorBox, UserLine};
use crate::{ConsoleState, Viewer};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use hikyaku_api_types::Time;
use serde::Deserialize;

fn chrome(viewer: &Viewer) -> Chrome {
    let t = viewer.lang.texts();
    Chrome {
        t,
        lang: viewer.lang.code(),
        title: t.inquiry_title,
        current: "inquiry",
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

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "inquiry.html")]
struct InquiryPage {
    c: Chrome,
    subject: String,
    body: String,
}

#[derive(Deserialize, Default)]
pub struct SentQuery {
    #[serde(default)]
    sent: String,
}

pub async fn page(viewer: Viewer, Query(query): Query<SentQuery>) -> Response {
    let mut c = chrome(&viewer);
    if query.sent == "1" {
        c.notice = Some(c.t.inquiry_sent);
    }
    render(
        StatusCode::OK,
        &InquiryPage {
            c,
            subject: String::new(),
            body: String::new(),
        },
    )
}

#[derive(Deserialize)]
pub struct InquiryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
}

pub async fn send(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Form(form): Form<InquiryForm>,
) -> Response {
    let mut c = chrome(&viewer);
    if !viewer.csrf_ok(&form.csrf) {
        c.error = Some(ErrorBox {
            summary: c.t.csrf_refused,
            detail: String::new(),
        });
        return render(
            StatusCode::FORBIDDEN,
            &InquiryPage {
                c,
                subject: form.subject,
                body: form.body,
            },
        );
    }
    let body = serde_json::json!({ "subject": form.subject, "body": form.body });
    let sent = bridge::call(
        state.api(),
        &viewer.caller,
        Method::POST,
        "/inquiries",
        Some(("application/json", body.to_string().into_bytes())),
    )
    .await;
    match sent {
        Ok(_) => Redirect::to("/inquiry?sent=1").into_response(),
        Err(failure) => {
            c.error = Some(error_box(c.t, &failure));
            render(
                failure.status,
                &InquiryPage {
                    c,
                    subject: form.subject,
                    body: form.body,
                },
            )
        }
    }
}

fn error_box(t: &'static crate::i18n::Texts, failure: &ApiFailure) -> ErrorBox {
    let summary = match failure.status {
        StatusCode::FORBIDDEN => t.error_forbidden,
        StatusCode::TOO_MANY_REQUESTS => t.error_rate_limited,
        s if s.is_client_error() => t.error_invalid,
        _ => t.error_other,
    };
    ErrorBox {
        summary,
        detail: failure.message.clone(),
    }
}

#[derive(Deserialize)]
struct ApiMaintenance {
    title: String,
    body: String,
    starts_at: Time,
    ends_at: Time,
    emergency: bool,
}

#[derive(Deserialize)]
struct ApiMaintenanceList {
    data: Vec<ApiMaintenance>,
}

pub struct BannerRow {
    pub title: String,
    pub body: String,
    pub period: String,
    pub emergency: bool,
}

#[derive(Template)]
#[template(path = "maintenance_banner.html")]
struct Banner {
    t: &'static crate::i18n::Texts,
    rows: Vec<BannerRow>,
}

/// The dashboard's list of maintenance to come (or under way), as HTML; `None` when there is
/// none or it cannot be read (the dashboard shows its own data regardless).
pub async fn maintenance_banner(state: &ConsoleState, viewer: &Viewer) -> Option<String> {
    let list: ApiMaintenanceList = bridge::get(state.api(), &viewer.caller, "/maintenance")
        .await
        .ok()?;
    if list.data.is_empty() {
        return None;
    }
    let rows = list
        .data
        .into_iter()
        .map(|m| BannerRow {
            period: format!(
                "{} – {} ({})",
                viewer.zone.format(m.starts_at.0.as_millis()),
                viewer.zone.format(m.ends_at.0.as_millis()),
                viewer.zone.name
            ),
            title: m.title,
            body: m.body,
            emergency: m.emergency,
        })
        .collect();
    Banner {
        t: viewer.lang.texts(),
        rows,
    }
    .render()
    .ok()
}
