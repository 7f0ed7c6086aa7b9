//! The contract's statistics (a time series, by reason, by recipient domain) and its monthly
//! usage against its plan; every contract's usage for the operator. All read from the counters
//! the event writer keeps, never by scanning the send log.

use super::ApiState;
use super::access::{ContractCaller, OperatorCaller};
use super::error::{ApiError, ApiQuery, Failures};
use super::send_log::bad_query;
use axum::Json;
use axum::extract::State;
use hikyaku_api_types::{
    Counts, DomainStats, DomainStatsList, PlanUsage, ReasonStats, ReasonStatsList, StatsPoint,
    StatsSeries, Time, UsageList,
};
use hikyaku_model::{CustomerId, Timestamp};
use hikyaku_store::{DOMAIN_MINUTES_MAX_SPAN_MS, Granularity, KindCounts, UsageMonth};
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The default range: the last day.
const DEFAULT_SPAN_MS: i64 = DAY_MS;
/// The widest range asked for at once: past the send log's usual retention, short of a
/// request that makes the database sum years of counters.
const MAX_SPAN_MS: i64 = 400 * DAY_MS;
/// The most points one series may have: a week of minutes.
const MAX_POINTS: i64 = 7 * 24 * 60;
const DEFAULT_DOMAINS: u32 = 20;
const MAX_DOMAINS: u32 = 1000;

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GranularityName {
    Minute,
    #[default]
    Hour,
    Day,
}

impl From<GranularityName> for Granularity {
    fn from(g: GranularityName) -> Self {
        match g {
            GranularityName::Minute => Granularity::Minute,
            GranularityName::Hour => Granularity::Hour,
            GranularityName::Day => Granularity::Day,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// The range's start (RFC 3339; 24 hours before `to` when left out), rounded down to its
    /// bucket.
    from: Option<Time>,
    /// The range's end, exclusive (RFC 3339; now when left out). At most 400 days after `from`.
    to: Option<Time>,
    /// One point per `minute`, `hour` (the default) or `day` (UTC); at most 10,080 points.
    #[param(inline)]
    granularity: Option<GranularityName>,
    /// Only the events to recipients at this domain (without regard to case; letters, digits,
    /// `-`, `_` and `.`). Per minute, a range of at most 6 hours.
    #[param(max_length = 255)]
    recipient_domain: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// The range's start (RFC 3339; 24 hours before `to` when left out), to its hour.
    from: Option<Time>,
    /// The range's end, exclusive (RFC 3339; now when left out). At most 400 days after `from`.
    to: Option<Time>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DomainQuery {
    /// The range's start (RFC 3339; 24 hours before `to` when left out), to its hour.
    from: Option<Time>,
    /// The range's end, exclusive (RFC 3339; now when left out). At most 400 days after `from`.
    to: Option<Time>,
    /// How many domains, 1 to 1000 (20 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The range asked for, with its defaults, refused when empty, reversed or too wide.
fn range(from: Option<Time>, to: Option<Time>) -> Result<(Timestamp, Timestamp), ApiError> {
    let to: Timestamp = to.map(Into::into).unwrap_or_else(Timestamp::now);
    let from: Timestamp = from
        .map(Into::into)
        .unwrap_or(Timestamp(to.as_millis() - DEFAULT_SPAN_MS));
    if from >= to {
        return Err(ApiError::invalid("to", "to must be after from"));
    }
    if to.as_millis() - from.as_millis() > MAX_SPAN_MS {
        return Err(ApiError::invalid(
            "from",
            "a range is at most 400 days: ask for it in parts",
        ));
    }
    Ok((from, to))
}

/// The recipient domain asked for, as the send log keeps it; `None` when left out or empty.
fn recipient_domain(text: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    // The document's maxLength counts characters before any trimming.
    if text.chars().count() > 255 {
        return Err(ApiError::invalid(
            "recipient_domain",
            "recipient_domain is at most 255 characters",
        ));
    }
    hikyaku_store::recipient_domain(text).map_err(|_| {
        ApiError::invalid(
            "recipient_domain",
            "recipient_domain must be a domain name such as example.co.jp: letters, digits, \
             hyphens and dots, no address",
        )
    })
}

fn counts(c: KindCounts) -> Counts {
    Counts {
        accepted: c.accepted,
        delivered: c.delivered,
        deferred: c.deferred,
        bounced: c.bounced,
        expired: c.expired,
        suppressed: c.suppressed,
        complaint: c.complaint,
        unsubscribed: c.unsubscribed,
    }
}

/// The contract's events per minute, hour or day, every bucket of the range present; all
/// recipient domains or one.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "statistics",
    params(StatsQuery),
    responses((status = 200, body = StatsSeries), Failures)
)]
pub async fn series(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Json<StatsSeries>, ApiError> {
    let (from, to) = range(q.from, q.to)?;
    let granularity: Granularity = q.granularity.unwrap_or_default().into();
    let width = granularity.millis();
    let start = from.as_millis() - from.as_millis().rem_euclid(width);
    let points = (to.as_millis() - start + width - 1) / width;
    if points > MAX_POINTS {
        return Err(ApiError::invalid(
            "granularity",
            format!(
                "{points} {granularity} points asked for, at most {MAX_POINTS}: narrow the \
                 range or take a coarser granularity"
            ),
        ));
    }
    let domain = recipient_domain(q.recipient_domain.as_deref())?;
    // Minutes of one domain are counted from the send log: their range is kept short.
    if domain.is_some()
        && granularity == Granularity::Minute
        && to.as_millis() - start > DOMAIN_MINUTES_MAX_SPAN_MS
    {
        return Err(ApiError::invalid(
            "granularity",
            "per minute, one recipient domain's range is at most 6 hours: narrow the range or \
             take hour or day",
        ));
    }
    let store = state.store();
    let series = match &domain {
        None => {
            store
                .stats(&caller.customer_id, from, to, granularity)
                .await?
        }
        Some(domain) => {
            store
                .stats_of_domain(&caller.customer_id, domain, from, to, granularity)
                .await?
        }
    };
    Ok(Json(StatsSeries {
        granularity: granularity.as_str().to_string(),
        from: Timestamp(start).into(),
        to: to.into(),
        recipient_domain: domain,
        points: series
            .into_iter()
            .map(|p| StatsPoint {
                start: p.start.into(),
                counts: counts(p.counts),
            })
            .collect(),
    }))
}

/// The contract's failures and complaints by kind and reason, most frequent first (by hour).
#[utoipa::path(
    get,
    path = "/stats/reasons",
    tag = "statistics",
    params(RangeQuery),
    responses((status = 200, body = ReasonStatsList), Failures)
)]
pub async fn by_reason(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<ReasonStatsList>, ApiError> {
    let (from, to) = range(q.from, q.to)?;
    let rows = state
        .store()
        .stats_by_reason(&caller.customer_id, from, to)
        .await?;
    Ok(Json(ReasonStatsList {
        from: Timestamp(from.as_millis() - from.as_millis().rem_euclid(HOUR_MS)).into(),
        to: to.into(),
        data: rows
            .into_iter()
            .map(|r| ReasonStats {
                kind: r.kind.as_str().to_string(),
                reason: r.reason.as_str().to_string(),
                count: r.count,
            })
            .collect(),
    }))
}

/// The recipient domains with the most events, with their counts by kind (by hour).
#[utoipa::path(
    get,
    path = "/stats/domains",
    tag = "statistics",
    params(DomainQuery),
    responses((status = 200, body = DomainStatsList), Failures)
)]
pub async fn by_domain(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(q): ApiQuery<DomainQuery>,
) -> Result<Json<DomainStatsList>, ApiError> {
    let (from, to) = range(q.from, q.to)?;
    let limit = match q.limit {
        None => DEFAULT_DOMAINS,
        Some(n) if (1..=MAX_DOMAINS).contains(&n) => n,
        Some(_) => return Err(bad_query("limit", "limit must be 1 to 1000")),
    };
    let rows = state
        .store()
        .stats_by_domain(&caller.customer_id, from, to, limit)
        .await?;
    Ok(Json(DomainStatsList {
        from: Timestamp(from.as_millis() - from.as_millis().rem_euclid(HOUR_MS)).into(),
        to: to.into(),
        data: rows
            .into_iter()
            .map(|d| DomainStats {
                domain: d.domain,
                counts: counts(d.counts),
            })
            .collect(),
    }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MonthQuery {
    /// The calendar month as `YYYY-MM`, in the operator's usage time zone
    /// (`contracts.usage_time_zone`, Asia/Tokyo unless changed); the current month when left out.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$", example = "2026-11")]
    pub(crate) month: Option<String>,
}

/// The month asked for (`YYYY-MM`), or the current one in the usage time zone.
fn month_of(state: &ApiState, text: Option<&str>) -> Result<UsageMonth, ApiError> {
    Ok(month_asked(text)?
        .unwrap_or_else(|| UsageMonth::containing(Timestamp::now(), state.0.usage_offset_minutes)))
}

/// The month asked for (`YYYY-MM`), if any: a query's `month` that is not one is refused.
pub(crate) fn month_asked(text: Option<&str>) -> Result<Option<UsageMonth>, ApiError> {
    text.map(|text| {
        text.parse()
            .map_err(|_| bad_query("month", "month must be YYYY-MM"))
    })
    .transpose()
}

fn plan_usage(
    state: &ApiState,
    customer_id: &CustomerId,
    plan: &str,
    month: UsageMonth,
    sent: u64,
) -> PlanUsage {
    let volume = state
        .0
        .plans
        .iter()
        .find(|p| p.name == plan)
        .and_then(|p| p.monthly_volume);
    PlanUsage {
        customer_id: customer_id.to_string(),
        month: month.to_string(),
        sent,
        plan: plan.to_string(),
        monthly_volume: volume,
        excess_units: PlanUsage::excess_units(sent, volume),
    }
}

/// What the contract sent in a month (recipients accepted, less those suppressed) against its
/// plan's monthly volume, and the excess in units of 1,000.
#[utoipa::path(
    get,
    path = "/usage",
    tag = "plan",
    params(MonthQuery),
    responses((status = 200, body = PlanUsage), Failures)
)]
pub async fn usage(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Result<Json<PlanUsage>, ApiError> {
    let month = month_of(&state, q.month.as_deref())?;
    let contract = state
        .store()
        .contract(&caller.customer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("contract"))?;
    let sent = state
        .store()
        .usage(&caller.customer_id, month, state.0.usage_offset_minutes)
        .await?;
    Ok(Json(plan_usage(
        &state,
        &caller.customer_id,
        &contract.plan,
        month,
        sent,
    )))
}

/// Every contract's month against its plan, by contract ID, those that sent nothing included.
#[utoipa::path(
    get,
    path = "/operator/usage",
    tag = "operator",
    params(MonthQuery),
    responses((status = 200, body = UsageList), Failures)
)]
pub async fn usage_of_all(
    State(state): State<ApiState>,
    _: OperatorCaller,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Result<Json<UsageList>, ApiError> {
    let month = month_of(&state, q.month.as_deref())?;
    let sent: HashMap<CustomerId, u64> = state
        .store()
        .usage_of_all(month, state.0.usage_offset_minutes)
        .await?
        .into_iter()
        .map(|u| (u.customer_id, u.sent))
        .collect();
    let mut contracts = state.store().contracts().await?;
    contracts.sort_by(|a, b| a.customer_id.as_str().cmp(b.customer_id.as_str()));
    Ok(Json(UsageList {
        month: month.to_string(),
        data: contracts
            .iter()
            .map(|c| {
                let n = sent.get(&c.customer_id).copied().unwrap_or(0);
                plan_usage(&state, &c.customer_id, &c.plan, month, n)
            })
            .collect(),
    }))
}
