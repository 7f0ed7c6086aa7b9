//! The operator area: contracts and plans. Only the operator's key reaches it, and it never
//! shows a contract's own data (lists, logs, addresses).

use super::ApiState;
use super::access::OperatorCaller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Failures, id_in_path};
use super::paging::{ListKind, PageQuery, page_of};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hikyaku_api_types::{Contract, ContractPage, NewContract, PlanList};
use hikyaku_model::{ContractState, CustomerId};

/// The longest contract name taken.
const MAX_NAME_LEN: usize = 200;

fn shown(contract: hikyaku_model::Contract) -> Contract {
    Contract {
        customer_id: contract.customer_id.to_string(),
        name: contract.name,
        plan: contract.plan,
        state: contract.state.as_str().to_string(),
        created_at: contract.created_at.into(),
        last_used_at: contract.last_used_at.map(Into::into),
    }
}

/// Every contract, oldest first.
#[utoipa::path(
    get,
    path = "/operator/contracts",
    tag = "operator",
    params(PageQuery),
    responses((status = 200, body = ContractPage), Failures)
)]
pub async fn list_contracts(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ContractPage>, ApiError> {
    let contracts = state.store().contracts().await?;
    let (contracts, next_cursor) = page_of(ListKind::Contracts, &query, contracts, |c| {
        // Creation time, then ID: new contracts sort after every existing one.
        let mut position = c.created_at.as_millis().to_be_bytes().to_vec();
        position.extend_from_slice(c.customer_id.as_str().as_bytes());
        position
    })?;
    Ok(Json(ContractPage {
        data: contracts.into_iter().map(shown).collect(),
        next_cursor,
    }))
}

/// Opens a contract (in `trial`) under a new customer ID.
#[utoipa::path(
    post,
    path = "/operator/contracts",
    tag = "operator",
    request_body = NewContract,
    responses((status = 201, body = Contract), Failures)
)]
pub async fn create_contract(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiJson(new): ApiJson<NewContract>,
) -> Result<(StatusCode, Json<Contract>), ApiError> {
    let name = new.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            format!("a contract name is 1 to {MAX_NAME_LEN} bytes, without control characters"),
        ));
    }
    let plans = &state.0.plans;
    let plan = match new.plan {
        Some(plan) if plans.iter().any(|p| p.name == plan) => plan,
        Some(plan) => {
            let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
            return Err(ApiError::invalid(
                "plan",
                format!("unknown plan {plan:?}: the plans are {}", names.join(", ")),
            ));
        }
        None => plans
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_else(|| "standard".into()),
    };
    let contract = state.store().create_contract(name, &plan).await?;
    Ok((StatusCode::CREATED, Json(shown(contract))))
}

fn customer_id(text: &str) -> Result<CustomerId, ApiError> {
    id_in_path(text, "contract")
}

/// One contract.
#[utoipa::path(
    get,
    path = "/operator/contracts/{customer_id}",
    tag = "operator",
    params(("customer_id" = String, Path)),
    responses((status = 200, body = Contract), Failures)
)]
pub async fn show_contract(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Contract>, ApiError> {
    let id = customer_id(&id)?;
    match state.store().contract(&id).await? {
        Some(contract) => Ok(Json(shown(contract))),
        None => Err(ApiError::not_found("contract")),
    }
}

async fn set_state(
    state: &ApiState,
    id: &str,
    to: ContractState,
) -> Result<Json<Contract>, ApiError> {
    let id = customer_id(id)?;
    let contract = state.store().set_contract_state(&id, to).await?;
    Ok(Json(shown(contract)))
}

/// Suspends a contract: its mail is refused until it is resumed.
#[utoipa::path(
    post,
    path = "/operator/contracts/{customer_id}/suspend",
    tag = "operator",
    params(("customer_id" = String, Path)),
    responses((status = 200, body = Contract), Failures)
)]
pub async fn suspend_contract(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Contract>, ApiError> {
    set_state(&state, &id, ContractState::Suspended).await
}

/// Makes a contract active (from trial or suspended).
#[utoipa::path(
    post,
    path = "/operator/contracts/{customer_id}/resume",
    tag = "operator",
    params(("customer_id" = String, Path)),
    responses((status = 200, body = Contract), Failures)
)]
pub async fn resume_contract(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Contract>, ApiError> {
    set_state(&state, &id, ContractState::Active).await
}

/// Terminates a contract, for good: it can never change again.
#[utoipa::path(
    post,
    path = "/operator/contracts/{customer_id}/terminate",
    tag = "operator",
    params(("customer_id" = String, Path)),
    responses((status = 200, body = Contract), Failures)
)]
pub async fn terminate_contract(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Contract>, ApiError> {
    set_state(&state, &id, ContractState::Terminated).await
}

/// The plans the operator offers, the default first.
#[utoipa::path(
    get,
    path = "/operator/plans",
    tag = "operator",
    responses((status = 200, body = PlanList), Failures)
)]
pub async fn plans(State(state): State<ApiState>, _: OperatorCaller) -> Json<PlanList> {
    Json(PlanList {
        data: state.0.plans.clone(),
    })
}
