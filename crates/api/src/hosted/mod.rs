//! The hosted service's API (Customers Mail Cloud, v2) as a thin surface over the native one,
//! so that its customers' programs move to Hikyaku by changing a base URL: `POST
//! /api/v2/emails/{send,bulk}.json` and `POST /transaction/v2/{deliveries,bounces,blocks,
//! statistics}/list.json`.
//!
//! Nothing here is a second pipeline: requests are read into the native shapes and go through
//! the same composer, relay submitter, store queries, key store, rate limits and role table as
//! `/api/v1`. What is its own is the hosted service's manners: credentials in the body
//! (`api_user` is the API key's name, `api_key` its secret), JSON, form or multipart bodies,
//! answers in its record shapes (`hikyaku_api_types::hosted`) and its error body with stable
//! `NN-NNN` codes ([`errors`]).

mod body;
pub mod errors;
mod lists;
mod send;

use crate::v1::ApiState;
use crate::v1::access::{ContractCaller, allowed};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use body::Fields;
use errors::{Failure, Language};
use hikyaku_model::{ApiCaller, CustomerId};
use serde::Serialize;
use std::time::Instant;

/// What a hosted endpoint may do, in the native table's words: sending is `POST /messages`,
/// reading the send log is `GET /events`, so a key's role allows here what it allows there.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Send,
    Read,
}

impl Operation {
    fn native(self) -> (Method, &'static str) {
        match self {
            Operation::Send => (Method::POST, "/messages"),
            Operation::Read => (Method::GET, "/events"),
        }
    }
}

/// The hosted API's routes, to be merged at the root of the HTTP listener. Each path answers
/// with and without its `.json` suffix; any other method is `02-004`, any other path under
/// the two prefixes `02-005`, always in the hosted error shape.
pub fn router(state: ApiState) -> Router {
    let mut routes = Router::new();
    for (path, handler) in [
        ("/api/v2/emails/send", Endpoint::Send),
        ("/api/v2/emails/bulk", Endpoint::Bulk),
        ("/transaction/v2/deliveries/list", Endpoint::Deliveries),
        ("/transaction/v2/bounces/list", Endpoint::Bounces),
        ("/transaction/v2/blocks/list", Endpoint::Blocks),
        ("/transaction/v2/statistics/list", Endpoint::Statistics),
    ] {
        for path in [path.to_string(), format!("{path}.json")] {
            let route = post(
                move |axum::extract::State(state): axum::extract::State<ApiState>,
                      crate::v1::send::ClientIp(client): crate::v1::send::ClientIp,
                      headers: HeaderMap,
                      body: Body| async move {
                    serve(handler, state, client, headers, body).await
                },
            )
            .fallback(|headers: HeaderMap| async move {
                Failure::new(errors::METHOD_NOT_ALLOWED, "").respond(Language::of(&headers))
            });
            routes = routes.route(&path, route);
        }
    }
    let unknown = |uri: axum::http::Uri, headers: HeaderMap| async move {
        let mut failure = Failure::new(errors::UNKNOWN_ENDPOINT, "");
        // The hosted service documents `.xml` beside `.json` but publishes no XML answer
        // shape; a guessed one would mislead a client more than a clear refusal does.
        if uri.path().ends_with(".xml") {
            failure = failure.detail("the XML forms are not served: use the .json endpoint");
        }
        failure.respond(Language::of(&headers))
    };
    routes
        .route("/api/v2/{*rest}", any(unknown))
        .route("/transaction/v2/{*rest}", any(unknown))
        .with_state(state)
}

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Send,
    Bulk,
    Deliveries,
    Bounces,
    Blocks,
    Statistics,
}

async fn serve(
    endpoint: Endpoint,
    state: ApiState,
    client: std::net::IpAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let language = Language::of(&headers);
    let answer = async {
        let fields = body::read(&headers, body, state.max_body_bytes()).await?;
        let operation = match endpoint {
            Endpoint::Send | Endpoint::Bulk => Operation::Send,
            _ => Operation::Read,
        };
        let caller = authorize(&state, &fields, operation).await?;
        match endpoint {
            Endpoint::Send => send::send(&state, &caller, client, &headers, &fields).await,
            Endpoint::Bulk => send::bulk(&state, &caller, client, &headers, &fields).await,
            Endpoint::Deliveries => lists::deliveries(&state, &caller, &fields).await,
            Endpoint::Bounces => lists::bounces(&state, &caller, &fields).await,
            Endpoint::Blocks => lists::blocks(&state, &caller, &fields).await,
            Endpoint::Statistics => lists::statistics(&state, &caller, &fields).await,
        }
    };
    match answer.await {
        Ok(response) => response,
        Err(failure) => failure.respond(language),
    }
}

/// A success: `200` with the JSON body, as the hosted service's clients expect.
fn ok(body: &impl Serialize) -> Result<Response, Failure> {
    let bytes = serde_json::to_vec(body).map_err(|_| Failure::internal())?;
    Ok((
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        bytes,
    )
        .into_response())
}

/// Checks `api_user` and `api_key` as the native guard checks a bearer key (the same key
/// store, the same rate limit, the same role table), and that `api_user` is the key's name.
async fn authorize(
    state: &ApiState,
    fields: &Fields,
    operation: Operation,
) -> Result<ContractCaller, Failure> {
    let api_user = fields
        .text("api_user")?
        .ok_or_else(|| Failure::new(errors::API_USER_MISSING, "api_user"))?;
    let api_key = fields
        .text("api_key")?
        .ok_or_else(|| Failure::new(errors::API_KEY_MISSING, "api_key"))?;
    let failed = || Failure::new(errors::AUTHENTICATION_FAILED, "api_key");
    let caller = state
        .authenticator()
        .authenticate(api_key.trim())
        .await?
        .ok_or_else(failed)?;
    // The operator's key reaches no contract's data, here as there.
    let ApiCaller::Contract {
        customer_id,
        key_id,
        role,
        see_addresses,
    } = caller
    else {
        return Err(failed());
    };
    let key = state
        .store()
        .api_key(&customer_id, &key_id)
        .await?
        .ok_or_else(failed)?;
    // A wrong name is refused like a wrong secret: neither says which one was wrong.
    if key.name != api_user.trim() {
        return Err(failed());
    }
    if let Err(wait) = state.limiter().take(&key_id, Instant::now()) {
        let mut failure = Failure::new(errors::RATE_LIMITED, "");
        failure.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        return Err(failure);
    }
    let (method, path) = operation.native();
    let caller = ApiCaller::Contract {
        customer_id: customer_id.clone(),
        key_id,
        role,
        see_addresses,
    };
    if !allowed(&method, path).is_some_and(|a| a.admits(&caller)) {
        return Err(Failure::new(errors::NOT_PERMITTED, ""));
    }
    Ok(ContractCaller {
        customer_id,
        role,
        see_addresses,
    })
}

/// `server_composition` names the contract the request is about: it must be the caller's own.
fn check_composition(
    fields: &Fields,
    caller: &ContractCaller,
    required: bool,
) -> Result<(), Failure> {
    match fields.text("server_composition")? {
        None if required => Err(Failure::new(
            errors::SERVER_COMPOSITION_MISSING,
            "server_composition",
        )),
        None => Ok(()),
        Some(named) => {
            let same = named
                .trim()
                .parse::<CustomerId>()
                .is_ok_and(|id| id == caller.customer_id);
            if same {
                Ok(())
            } else {
                Err(Failure::new(errors::OTHER_CONTRACT, "server_composition"))
            }
        }
    }
}
