//! The contract's settings: allowed IP ranges, SMTP credentials, inbound routes; and its plan.

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Failures, id_in_path};
use super::paging::{ListKind, PageQuery, page_of};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hikyaku_api_types::{
    AllowedIpRange, AllowedIpRangePage, ContractPlan, CreatedInboundRoute, CreatedSmtpCredential,
    InboundRoute, InboundRoutePage, InboundRoutePatch, NewAllowedIpRange, NewInboundRoute,
    NewSmtpCredential, Plan, SmtpCredential, SmtpCredentialPage,
};
use hikyaku_model::{Contract, ContractState};
use hikyaku_store::InboundFormat;
use ipnet::IpNet;
use sha2::{Digest, Sha256};

/// The caller's contract, which must still be able to change.
pub(super) async fn changeable(
    state: &ApiState,
    caller: &ContractCaller,
) -> Result<Contract, ApiError> {
    let contract = state
        .store()
        .contract(&caller.customer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("contract"))?;
    if contract.state == ContractState::Terminated {
        return Err(ApiError::conflict(
            "contract_terminated",
            "the contract is terminated: its settings can no longer change",
        ));
    }
    Ok(contract)
}

fn range_position(net: &IpNet) -> Vec<u8> {
    let mut position = match net.network() {
        std::net::IpAddr::V4(ip) => [&[4u8][..], &ip.octets()].concat(),
        std::net::IpAddr::V6(ip) => [&[6u8][..], &ip.octets()].concat(),
    };
    position.push(net.prefix_len());
    position
}

/// The ranges the contract's hosts may relay from without authenticating, in address order.
#[utoipa::path(
    get,
    path = "/settings/allowed-ips",
    tag = "settings",
    params(PageQuery),
    responses((status = 200, body = AllowedIpRangePage), Failures)
)]
pub async fn list_allowed_ips(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<AllowedIpRangePage>, ApiError> {
    let ranges = state.store().allowed_ips(&caller.customer_id).await?;
    let (ranges, next_cursor) = page_of(ListKind::AllowedIps, &query, ranges, |r| {
        range_position(&r.cidr)
    })?;
    Ok(Json(AllowedIpRangePage {
        data: ranges
            .into_iter()
            .map(|r| AllowedIpRange {
                cidr: r.cidr.to_string(),
                created_at: r.created_at.into(),
            })
            .collect(),
        next_cursor,
    }))
}

/// Allows relaying from a range. Ranges broader than the operator's minimum prefix
/// (`relay.min_allowed_prefix_v4`/`_v6`) are refused, as are ranges overlapping another
/// contract's.
#[utoipa::path(
    post,
    path = "/settings/allowed-ips",
    tag = "settings",
    request_body = NewAllowedIpRange,
    responses((status = 201, body = AllowedIpRange), Failures)
)]
pub async fn add_allowed_ip(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiJson(new): ApiJson<NewAllowedIpRange>,
) -> Result<(StatusCode, Json<AllowedIpRange>), ApiError> {
    let cidr: IpNet =
        new.cidr.trim().parse().map_err(|_| {
            ApiError::invalid("cidr", "not an IP range (192.0.2.0/24, 2001:db8::/48)")
        })?;
    changeable(&state, &caller).await?;
    let minimum = match cidr {
        IpNet::V4(_) => state.0.min_allowed_prefix_v4,
        IpNet::V6(_) => state.0.min_allowed_prefix_v6,
    };
    let loopback = cidr.network().is_loopback() && cidr.broadcast().is_loopback();
    if cidr.prefix_len() < minimum && !loopback {
        return Err(ApiError::invalid(
            "cidr",
            format!(
                "{} is broader than /{minimum}: every host in it could relay in the contract's \
                 name (the operator can allow it)",
                cidr.trunc()
            ),
        ));
    }
    let range = state
        .store()
        .add_allowed_ip(&caller.customer_id, cidr)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AllowedIpRange {
            cidr: range.cidr.to_string(),
            created_at: range.created_at.into(),
        }),
    ))
}

/// Removes a range (`192.0.2.0%2F24`).
#[utoipa::path(
    delete,
    path = "/settings/allowed-ips/{cidr}",
    tag = "settings",
    params(("cidr" = String, Path, description = "The range, its `/` URL-encoded as `%2F`")),
    responses((status = 204, description = "Removed"), Failures)
)]
pub async fn remove_allowed_ip(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(cidr): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let Ok(cidr) = cidr.trim().parse::<IpNet>() else {
        return Err(ApiError::not_found("allowed IP range"));
    };
    if state
        .store()
        .remove_allowed_ip(&caller.customer_id, cidr)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("allowed IP range"))
    }
}

/// The contract's SMTP AUTH user names (never a password).
#[utoipa::path(
    get,
    path = "/settings/smtp-credentials",
    tag = "settings",
    params(PageQuery),
    responses((status = 200, body = SmtpCredentialPage), Failures)
)]
pub async fn list_smtp_credentials(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<SmtpCredentialPage>, ApiError> {
    let credentials = state.store().smtp_credentials(&caller.customer_id).await?;
    // A user name may be an address: its cursor position is a digest of it.
    let (credentials, next_cursor) =
        page_of(ListKind::SmtpCredentials, &query, credentials, |c| {
            Sha256::digest(c.username.as_bytes()).to_vec()
        })?;
    Ok(Json(SmtpCredentialPage {
        data: credentials
            .into_iter()
            .map(|c| SmtpCredential {
                username: c.username,
                created_at: c.created_at.into(),
            })
            .collect(),
        next_cursor,
    }))
}

/// Adds an SMTP user name. Without a password, one is generated and shown in this answer only.
#[utoipa::path(
    post,
    path = "/settings/smtp-credentials",
    tag = "settings",
    request_body = NewSmtpCredential,
    responses((status = 201, body = CreatedSmtpCredential), Failures)
)]
pub async fn add_smtp_credential(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiJson(new): ApiJson<NewSmtpCredential>,
) -> Result<(StatusCode, Json<CreatedSmtpCredential>), ApiError> {
    changeable(&state, &caller).await?;
    let generated = new.password.is_none();
    let password = new
        .password
        .unwrap_or_else(hikyaku_store::generate_password);
    let credential = state
        .store()
        .add_smtp_credential(&caller.customer_id, &new.username, &password)
        .await
        .map_err(|e| match e {
            hikyaku_store::StoreError::Invalid { what, reason } => {
                let field = if what.contains("password") {
                    "password"
                } else {
                    "username"
                };
                ApiError::invalid(field, format!("invalid {what}: {reason}"))
            }
            e => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSmtpCredential {
            username: credential.username,
            created_at: credential.created_at.into(),
            password: generated.then_some(password),
        }),
    ))
}

/// Removes an SMTP user name.
#[utoipa::path(
    delete,
    path = "/settings/smtp-credentials/{username}",
    tag = "settings",
    params(("username" = String, Path, description = "The user name, URL-encoded")),
    responses((status = 204, description = "Removed"), Failures)
)]
pub async fn remove_smtp_credential(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store()
        .remove_smtp_credential(&caller.customer_id, &username)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("SMTP credential"))
    }
}

fn shown_route(caller: &ContractCaller, route: hikyaku_store::InboundRoute) -> InboundRoute {
    InboundRoute {
        id: route.id,
        pattern: caller.show(&route.pattern),
        endpoint: route.endpoint,
        forward_raw: route.forward_raw,
        format: route.format.as_str().to_string(),
        api_key_set: route.api_key.is_some(),
        created_at: route.created_at.into(),
    }
}

/// Where the contract's inbound mail is POSTed, oldest first.
#[utoipa::path(
    get,
    path = "/settings/inbound-routes",
    tag = "settings",
    params(PageQuery),
    responses((status = 200, body = InboundRoutePage), Failures)
)]
pub async fn list_inbound_routes(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<InboundRoutePage>, ApiError> {
    let routes = state
        .store()
        .inbound_routes(Some(&caller.customer_id))
        .await?;
    let (routes, next_cursor) = page_of(ListKind::InboundRoutes, &query, routes, |r| {
        r.id.to_be_bytes().to_vec()
    })?;
    Ok(Json(InboundRoutePage {
        data: routes
            .into_iter()
            .map(|r| shown_route(&caller, r))
            .collect(),
        next_cursor,
    }))
}

/// Adds an inbound route; the answer carries the key that signs its POSTs, shown this once.
#[utoipa::path(
    post,
    path = "/settings/inbound-routes",
    tag = "settings",
    request_body = NewInboundRoute,
    responses((status = 201, body = CreatedInboundRoute), Failures)
)]
pub async fn add_inbound_route(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiJson(new): ApiJson<NewInboundRoute>,
) -> Result<(StatusCode, Json<CreatedInboundRoute>), ApiError> {
    changeable(&state, &caller).await?;
    let format = inbound_format(&new)?;
    let (route, signing_secret) = state
        .store()
        .add_inbound_route_as(
            &caller.customer_id,
            &new.pattern,
            &new.endpoint,
            format,
            new.api_key.as_deref(),
        )
        .await
        .map_err(route_refused)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedInboundRoute {
            route: shown_route(&caller, route),
            signing_secret,
        }),
    ))
}

/// A route the store would not take, with the request's field at fault.
fn route_refused(error: hikyaku_store::StoreError) -> ApiError {
    match error {
        hikyaku_store::StoreError::Invalid { what, reason } => {
            let field = if what.contains("endpoint") {
                "endpoint"
            } else if what.contains("api_key") {
                "api_key"
            } else {
                "pattern"
            };
            ApiError::invalid(field, format!("invalid {what}: {reason}"))
        }
        e => e.into(),
    }
}

/// Edits an inbound route: the fields given replace its own, checked as for a new route; its
/// signing key and queued posts stay.
#[utoipa::path(
    patch,
    path = "/settings/inbound-routes/{id}",
    tag = "settings",
    params(("id" = i64, Path, description = "The route's ID")),
    request_body = InboundRoutePatch,
    responses((status = 200, body = InboundRoute), Failures)
)]
pub async fn edit_inbound_route(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<InboundRoutePatch>,
) -> Result<Json<InboundRoute>, ApiError> {
    let not_found = || ApiError::not_found("inbound route");
    let id: i64 = id_in_path(&id, "inbound route")?;
    changeable(&state, &caller).await?;
    // Route IDs are global: another contract's route is no route of this one.
    let current = state
        .store()
        .inbound_route(id)
        .await?
        .filter(|route| route.customer_id == caller.customer_id)
        .ok_or_else(not_found)?;
    let format = match (patch.format.as_deref(), patch.forward_raw) {
        (Some(name), forward_raw) => {
            let format = parse_inbound_format(name)?;
            if forward_raw.is_some_and(|raw| raw != (format == InboundFormat::Raw)) {
                return Err(ApiError::invalid(
                    "forward_raw",
                    format!("forward_raw does not agree with format {name:?}"),
                ));
            }
            format
        }
        (None, Some(true)) => InboundFormat::Raw,
        (None, Some(false)) if current.format == InboundFormat::Raw => InboundFormat::Json,
        (None, _) => current.format,
    };
    let hosted = matches!(
        format,
        InboundFormat::HostedJson | InboundFormat::HostedMultipart
    );
    let api_key = match patch.api_key {
        Some(key) => key,
        // Only the hosted formats carry a key: leaving them drops it.
        None if hosted => current.api_key.clone(),
        None => None,
    };
    let route = state
        .store()
        .update_inbound_route_of(
            &caller.customer_id,
            id,
            patch.pattern.as_deref().unwrap_or(&current.pattern),
            patch.endpoint.as_deref().unwrap_or(&current.endpoint),
            format,
            api_key.as_deref(),
        )
        .await
        .map_err(route_refused)?
        .ok_or_else(not_found)?;
    Ok(Json(shown_route(&caller, route)))
}

fn parse_inbound_format(name: &str) -> Result<InboundFormat, ApiError> {
    name.parse().map_err(|_| {
        ApiError::invalid(
            "format",
            format!(
                "unknown inbound format {name:?} (one of: json, raw, hosted-json, hosted-multipart)"
            ),
        )
    })
}

/// The route's format from `format` and the older `forward_raw`, which must agree.
fn inbound_format(new: &NewInboundRoute) -> Result<InboundFormat, ApiError> {
    let format = match new.format.as_deref() {
        None if new.forward_raw => InboundFormat::Raw,
        None => InboundFormat::Json,
        Some(name) => {
            let format = parse_inbound_format(name)?;
            if new.forward_raw && format != InboundFormat::Raw {
                return Err(ApiError::invalid(
                    "forward_raw",
                    format!("forward_raw is true but format is {name:?}"),
                ));
            }
            format
        }
    };
    if new.api_key.is_some()
        && !matches!(
            format,
            InboundFormat::HostedJson | InboundFormat::HostedMultipart
        )
    {
        return Err(ApiError::invalid(
            "api_key",
            "only the hosted formats (hosted-json, hosted-multipart) send an api_key",
        ));
    }
    Ok(format)
}

/// Removes an inbound route with its queued posts.
#[utoipa::path(
    delete,
    path = "/settings/inbound-routes/{id}",
    tag = "settings",
    params(("id" = i64, Path, description = "The route's ID")),
    responses((status = 204, description = "Removed"), Failures)
)]
pub async fn remove_inbound_route(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found("inbound route");
    let id: i64 = id_in_path(&id, "inbound route")?;
    // Route IDs are global: the delete itself names the contract.
    match state
        .store()
        .remove_inbound_route_of(&caller.customer_id, id)
        .await?
    {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(not_found()),
    }
}

/// The calling contract's plan and state.
#[utoipa::path(
    get,
    path = "/plan",
    tag = "plan",
    responses((status = 200, body = ContractPlan), Failures)
)]
pub async fn plan(
    State(state): State<ApiState>,
    caller: ContractCaller,
) -> Result<Json<ContractPlan>, ApiError> {
    let contract = state
        .store()
        .contract(&caller.customer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("contract"))?;
    let plan = state
        .0
        .plans
        .iter()
        .find(|p| p.name == contract.plan)
        .cloned()
        .unwrap_or(Plan {
            name: contract.plan.clone(),
            monthly_volume: None,
        });
    Ok(Json(ContractPlan {
        customer_id: contract.customer_id.to_string(),
        state: contract.state.as_str().to_string(),
        plan,
    }))
}
