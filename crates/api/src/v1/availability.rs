//! The platform's availability in a calendar month, for the operator and for every contract:
//! the figures `hikyaku availability` prints, from the same computation. They are the
//! platform's, not a contract's, so they hold no address and any role may read them.

use super::ApiState;
use super::access::{ContractCaller, OperatorCaller};
use super::error::{ApiError, ApiQuery, Failures};
use super::stats::{MonthQuery, month_asked};
use axum::Json;
use axum::extract::State;
use hikyaku_api_types::{MonthAvailability, OutagePeriod};
use hikyaku_availability::Availability;
use hikyaku_model::Timestamp;
use hikyaku_store::UsageMonth;

/// A month's figures as the API and the CLI show them (`time_zone` as `+09:00`).
pub fn shown_availability(
    month: UsageMonth,
    time_zone: &str,
    a: &Availability,
) -> MonthAvailability {
    MonthAvailability {
        month: month.to_string(),
        time_zone: time_zone.to_string(),
        minutes: a.minutes,
        measured_minutes: a.measured_minutes,
        outage_minutes: a.outage_minutes,
        maintenance_minutes: a.maintenance_minutes,
        availability_percent: a.availability_percent,
        credit_percent: a.credit_percent,
        outages: a
            .outages
            .iter()
            .map(|o| OutagePeriod {
                starts_at: o.starts_at.into(),
                ends_at: o.ends_at.into(),
                minutes: o.minutes,
                ongoing: o.ongoing,
            })
            .collect(),
    }
}

async fn month_figures(state: &ApiState, q: &MonthQuery) -> Result<MonthAvailability, ApiError> {
    let month = month_asked(q.month.as_deref())?;
    let (month, a) = hikyaku_availability::measure_month(
        state.store(),
        month,
        state.0.usage_offset_minutes,
        Timestamp::now(),
    )
    .await?;
    Ok(shown_availability(month, &state.0.usage_time_zone, &a))
}

/// The platform's availability in a month: measured and outage minutes, announced maintenance,
/// the availability and the credit it earns, and the outage periods.
#[utoipa::path(
    get,
    path = "/operator/availability",
    tag = "operator",
    params(MonthQuery),
    responses((status = 200, body = MonthAvailability), Failures)
)]
pub async fn of_operator(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Result<Json<MonthAvailability>, ApiError> {
    Ok(Json(month_figures(&state, &q).await?))
}

/// The platform's availability in a month and the credit it earns under the terms: the same
/// figures the operator sees, for any role of the contract.
#[utoipa::path(
    get,
    path = "/availability",
    tag = "availability",
    params(MonthQuery),
    responses((status = 200, body = MonthAvailability), Failures)
)]
pub async fn of_contract(
    State(state): State<ApiState>,
    _: ContractCaller,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Result<Json<MonthAvailability>, ApiError> {
    Ok(Json(month_figures(&state, &q).await?))
}
