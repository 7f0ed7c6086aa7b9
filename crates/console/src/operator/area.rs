//! The operator area's pages: contracts (create, plan, suspend, resume, terminate), the usage
//! of every contract, the platform's availability, inquiries, maintenance notices and the nodes. Each reads and changes
//! through the REST API's operator endpoints as the operator; forms carry the CSRF token and
//! redirect when done, so reloading never repeats a change.

use super::{OpChrome, Operator, csrf_refused, render, see_other};
use crate::ConsoleState;
use crate::availability::{AvailabilityView, MonthQuery, month_view};
use crate::bridge::{self, ApiFailure};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use hikyaku_api_types::Time;
use serde::Deserialize;
use serde_json::json;

/// Contracts shown on one page.
const CONTRACTS_PER_PAGE: u32 = 200;

async fn post_json(
    state: &ConsoleState,
    operator: &Operator,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<(), ApiFailure> {
    let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
    bridge::call(state.api(), &operator.caller(), Method::POST, path, body)
        .await
        .map(|_| ())
}

fn when(operator: &Operator, time: &Time) -> String {
    operator.zone.format(time.0.as_millis())
}

// ---------------------------------------------------------------------------------------------
// Contracts

#[derive(Deserialize)]
struct ApiContract {
    customer_id: String,
    name: String,
    plan: String,
    state: String,
    created_at: Time,
    last_used_at: Option<Time>,
}

#[derive(Deserialize)]
struct ApiContractPage {
    data: Vec<ApiContract>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ApiPlan {
    name: String,
}

#[derive(Deserialize)]
struct ApiPlans {
    data: Vec<ApiPlan>,
}

pub struct ContractRow {
    pub customer_id: String,
    pub name: String,
    pub plan: String,
    pub state: String,
    pub state_name: &'static str,
    pub terminated: bool,
    pub created_at: String,
    pub last_used_at: String,
}

#[derive(Template)]
#[template(path = "operator/contracts.html")]
struct ContractsPage {
    c: OpChrome,
    contracts: Vec<ContractRow>,
    plans: Vec<String>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ContractsQuery {
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    done: String,
}

async fn contracts_page(
    state: &ConsoleState,
    operator: &Operator,
    query: &ContractsQuery,
    failure: Option<(StatusCode, ApiFailure)>,
) -> Response {
    let mut c = OpChrome::of(operator, |t| t.contracts_title, "contracts");
    c.notice = match query.done.as_str() {
        "created" => Some(c.t.created),
        "changed" => Some(c.t.changed),
        _ => None,
    };
    let caller = operator.caller();
    let limit = CONTRACTS_PER_PAGE.to_string();
    let path = format!(
        "/operator/contracts{}",
        bridge::query(&[("limit", &limit), ("cursor", &query.cursor)])
    );
    let (contracts, next) = match bridge::get::<ApiContractPage>(state.api(), &caller, &path).await
    {
        Ok(page) => (page.data, page.next_cursor),
        Err(failure) => {
            c = c.failed(&failure);
            (Vec::new(), None)
        }
    };
    let plans = match bridge::get::<ApiPlans>(state.api(), &caller, "/operator/plans").await {
        Ok(plans) => plans.data.into_iter().map(|p| p.name).collect(),
        Err(failure) => {
            c = c.failed(&failure);
            Vec::new()
        }
    };
    let t = c.t;
    let status = match failure {
        Some((status, failure)) => {
            c = c.failed(&failure);
            status
        }
        None => StatusCode::OK,
    };
    let rows = contracts
        .into_iter()
        .map(|k| ContractRow {
            state_name: t.state_name(&k.state),
            terminated: k.state == "terminated",
            created_at: when(operator, &k.created_at),
            last_used_at: k
                .last_used_at
                .as_ref()
                .map_or_else(|| "—".to_string(), |at| when(operator, at)),
            customer_id: k.customer_id,
            name: k.name,
            plan: k.plan,
            state: k.state,
        })
        .collect();
    render(
        status,
        &ContractsPage {
            c,
            contracts: rows,
            plans,
            next,
        },
    )
}

pub async fn contracts(
    State(state): State<ConsoleState>,
    operator: Operator,
    Query(query): Query<ContractsQuery>,
) -> Response {
    contracts_page(&state, &operator, &query, None).await
}

#[derive(Deserialize)]
pub struct ContractForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    plan: String,
}

pub async fn create_contract(
    State(state): State<ConsoleState>,
    operator: Operator,
    Form(form): Form<ContractForm>,
) -> Response {
    if !operator.csrf_ok(&form.csrf) {
        return csrf_refused(OpChrome::of(&operator, |t| t.contracts_title, "contracts"));
    }
    let plan = Some(form.plan.trim()).filter(|p| !p.is_empty());
    let body = json!({ "name": form.name, "plan": plan });
    match post_json(&state, &operator, "/operator/contracts", Some(body)).await {
        Ok(()) => see_other("/operator?done=created"),
        Err(failure) => {
            let query = ContractsQuery::default();
            contracts_page(&state, &operator, &query, Some((failure.status, failure))).await
        }
    }
}

pub async fn change_contract(
    State(state): State<ConsoleState>,
    operator: Operator,
    Path((customer_id, action)): Path<(String, String)>,
    Form(form): Form<ContractForm>,
) -> Response {
    if !operator.csrf_ok(&form.csrf) {
        return csrf_refused(OpChrome::of(&operator, |t| t.contracts_title, "contracts"));
    }
    let id = bridge::encode(&customer_id);
    let (path, body) = match action.as_str() {
        "plan" => (
            format!("/operator/contracts/{id}/plan"),
            Some(json!({ "plan": form.plan })),
        ),
        "suspend" | "resume" | "terminate" => (format!("/operator/contracts/{id}/{action}"), None),
        _ => {
            let failure = ApiFailure {
                status: StatusCode::NOT_FOUND,
                code: "not_found".into(),
                message: String::new(),
            };
            let query = ContractsQuery::default();
            return contracts_page(&state, &operator, &query, Some((failure.status, failure)))
                .await;
        }
    };
    match post_json(&state, &operator, &path, body).await {
        Ok(()) => see_other("/operator?done=changed"),
        Err(failure) => {
            let query = ContractsQuery::default();
            contracts_page(&state, &operator, &query, Some((failure.status, failure))).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Usage

#[derive(Deserialize)]
pub struct UsageRow {
    pub customer_id: String,
    pub sent: u64,
    pub plan: String,
    pub monthly_volume: Option<u64>,
    pub excess_units: u64,
}

#[derive(Deserialize)]
struct ApiUsageList {
    month: String,
    data: Vec<UsageRow>,
}

#[derive(Template)]
#[template(path = "operator/usage.html")]
struct UsagePage {
    c: OpChrome,
    month: String,
    rows: Vec<UsageRow>,
}

#[derive(Deserialize, Default)]
pub struct UsageQuery {
    #[serde(default)]
    month: String,
}

pub async fn usage(
    State(state): State<ConsoleState>,
    operator: Operator,
    Query(query): Query<UsageQuery>,
) -> Response {
    let mut c = OpChrome::of(&operator, |t| t.usage_title, "usage");
    let path = format!(
        "/operator/usage{}",
        bridge::query(&[("month", &query.month)])
    );
    let (status, month, rows) =
        match bridge::get::<ApiUsageList>(state.api(), &operator.caller(), &path).await {
            Ok(list) => (StatusCode::OK, list.month, list.data),
            Err(failure) => {
                c = c.failed(&failure);
                (failure.status, query.month.clone(), Vec::new())
            }
        };
    render(status, &UsagePage { c, month, rows })
}

// ---------------------------------------------------------------------------------------------
// Availability

#[derive(Template)]
#[template(path = "operator/availability.html")]
struct AvailabilityPage {
    c: OpChrome,
    a: AvailabilityView,
}

/// The platform's availability in a month, as the API's `GET /operator/availability`.
pub async fn availability(
    State(state): State<ConsoleState>,
    operator: Operator,
    Query(query): Query<MonthQuery>,
) -> Response {
    let (a, status, failure) = month_view(
        state.api(),
        &operator.caller(),
        "/operator/availability",
        &query,
        operator.lang,
        &operator.zone,
    )
    .await;
    let mut c = OpChrome::of(&operator, |t| t.availability_title, "availability");
    if let Some(failure) = &failure {
        c = c.failed(failure);
    }
    render(status, &AvailabilityPage { c, a })
}

// ---------------------------------------------------------------------------------------------
// Inquiries

#[derive(Deserialize)]
struct ApiInquiry {
    id: i64,
    customer_id: String,
    from: Option<String>,
    sent_by: String,
    subject: String,
    body: String,
    created_at: Time,
    handled_at: Option<Time>,
}

#[derive(Deserialize)]
struct ApiInquiries {
    data: Vec<ApiInquiry>,
}

pub struct InquiryRow {
    pub id: i64,
    pub customer_id: String,
    pub from: String,
    pub subject: String,
    pub body: String,
    pub created_at: String,
    pub handled_at: Option<String>,
}

#[derive(Template)]
#[template(path = "operator/inquiries.html")]
struct InquiriesPage {
    c: OpChrome,
    rows: Vec<InquiryRow>,
}

pub async fn inquiries(State(state): State<ConsoleState>, operator: Operator) -> Response {
    let mut c = OpChrome::of(&operator, |t| t.inquiries_title, "inquiries");
    let (status, list) =
        match bridge::get::<ApiInquiries>(state.api(), &operator.caller(), "/operator/inquiries")
            .await
        {
            Ok(list) => (StatusCode::OK, list.data),
            Err(failure) => {
                c = c.failed(&failure);
                (failure.status, Vec::new())
            }
        };
    let rows = list
        .into_iter()
        .map(|i| InquiryRow {
            id: i.id,
            customer_id: i.customer_id,
            from: i.from.unwrap_or(i.sent_by),
            subject: i.subject,
            body: i.body,
            created_at: when(&operator, &i.created_at),
            handled_at: i.handled_at.as_ref().map(|at| when(&operator, at)),
        })
        .collect();
    render(status, &InquiriesPage { c, rows })
}

#[derive(Deserialize)]
pub struct HandledForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    handled: String,
}

pub async fn mark_inquiry(
    State(state): State<ConsoleState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<HandledForm>,
) -> Response {
    if !operator.csrf_ok(&form.csrf) {
        return csrf_refused(OpChrome::of(&operator, |t| t.inquiries_title, "inquiries"));
    }
    let path = format!("/operator/inquiries/{}/handled", bridge::encode(&id));
    let body = json!({ "handled": form.handled != "false" });
    match post_json(&state, &operator, &path, Some(body)).await {
        Ok(()) => see_other("/operator/inquiries"),
        Err(failure) => {
            let c = OpChrome::of(&operator, |t| t.inquiries_title, "inquiries").failed(&failure);
            render(failure.status, &super::ErrorPage { c })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Maintenance notices

#[derive(Deserialize)]
struct ApiMaintenance {
    title: String,
    body: String,
    starts_at: Time,
    ends_at: Time,
    emergency: bool,
    created_at: Time,
}

#[derive(Deserialize)]
struct ApiMaintenanceList {
    data: Vec<ApiMaintenance>,
}

pub struct MaintenanceRow {
    pub title: String,
    pub body: String,
    pub starts_at: String,
    pub ends_at: String,
    pub emergency: bool,
    pub created_at: String,
}

#[derive(Deserialize, Default)]
pub struct MaintenanceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub emergency: Option<String>,
}

#[derive(Template)]
#[template(path = "operator/maintenance.html")]
struct MaintenancePage {
    c: OpChrome,
    form: MaintenanceForm,
    rows: Vec<MaintenanceRow>,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

async fn maintenance_page(
    state: &ConsoleState,
    operator: &Operator,
    mut c: OpChrome,
    form: MaintenanceForm,
    status: StatusCode,
) -> Response {
    let list = match bridge::get::<ApiMaintenanceList>(
        state.api(),
        &operator.caller(),
        "/operator/maintenance",
    )
    .await
    {
        Ok(list) => list.data,
        Err(failure) => {
            c = c.failed(&failure);
            Vec::new()
        }
    };
    let rows = list
        .into_iter()
        .map(|m| MaintenanceRow {
            title: m.title,
            body: m.body,
            starts_at: when(operator, &m.starts_at),
            ends_at: when(operator, &m.ends_at),
            emergency: m.emergency,
            created_at: when(operator, &m.created_at),
        })
        .collect();
    render(status, &MaintenancePage { c, form, rows })
}

pub async fn maintenance(
    State(state): State<ConsoleState>,
    operator: Operator,
    Query(query): Query<DoneQuery>,
) -> Response {
    let mut c = OpChrome::of(&operator, |t| t.maintenance_title, "maintenance");
    if query.done == "announced" {
        c.notice = Some(c.t.announced);
    }
    maintenance_page(
        &state,
        &operator,
        c,
        MaintenanceForm::default(),
        StatusCode::OK,
    )
    .await
}

pub async fn create_maintenance(
    State(state): State<ConsoleState>,
    operator: Operator,
    Form(form): Form<MaintenanceForm>,
) -> Response {
    let c = OpChrome::of(&operator, |t| t.maintenance_title, "maintenance");
    if !operator.csrf_ok(&form.csrf) {
        return csrf_refused(c);
    }
    // The form's times are the operator's local times; the API takes RFC 3339.
    let starts = operator.zone.from_local_input(&form.starts_at);
    let ends = operator.zone.from_local_input(&form.ends_at);
    let (Some(starts_at), Some(ends_at)) = (starts, ends) else {
        let c = c.refused(|t| t.bad_time);
        return maintenance_page(&state, &operator, c, form, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    };
    let body = json!({
        "title": form.title,
        "body": form.body,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "emergency": form.emergency.is_some(),
    });
    match post_json(&state, &operator, "/operator/maintenance", Some(body)).await {
        Ok(()) => see_other("/operator/maintenance?done=announced"),
        Err(failure) => {
            let c = c.failed(&failure);
            maintenance_page(&state, &operator, c, form, failure.status).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes

#[derive(Deserialize)]
struct ApiNode {
    node: String,
    version: String,
    listeners: Vec<String>,
    queue_size: u64,
    started_at: Time,
    last_seen: Time,
    healthy: bool,
}

#[derive(Deserialize)]
struct ApiNodes {
    data: Vec<ApiNode>,
}

pub struct NodeRow {
    pub node: String,
    pub version: String,
    pub listeners: String,
    pub queue_size: u64,
    pub started_at: String,
    pub last_seen: String,
    pub healthy: bool,
}

#[derive(Template)]
#[template(path = "operator/nodes.html")]
struct NodesPage {
    c: OpChrome,
    rows: Vec<NodeRow>,
}

pub async fn nodes(State(state): State<ConsoleState>, operator: Operator) -> Response {
    let mut c = OpChrome::of(&operator, |t| t.nodes_title, "nodes");
    let (status, list) =
        match bridge::get::<ApiNodes>(state.api(), &operator.caller(), "/operator/nodes").await {
            Ok(list) => (StatusCode::OK, list.data),
            Err(failure) => {
                c = c.failed(&failure);
                (failure.status, Vec::new())
            }
        };
    let rows = list
        .into_iter()
        .map(|n| NodeRow {
            listeners: n.listeners.join(", "),
            started_at: when(&operator, &n.started_at),
            last_seen: when(&operator, &n.last_seen),
            node: n.node,
            version: n.version,
            queue_size: n.queue_size,
            healthy: n.healthy,
        })
        .collect();
    render(status, &NodesPage { c, rows })
}
