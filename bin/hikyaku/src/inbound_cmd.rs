//! `hikyaku inbound`: the operator's commands for inbound parse, on the store directly like
//! the others in `admin`: routes (add, list, remove) and the log of POST attempts. A running
//! poster sees a new or removed route at its next POST; nothing needs restarting.

use crate::admin::{Output, Table, field, require_contract};
use hikyaku_model::CustomerId;
use hikyaku_model::masked_url;
use hikyaku_store::{InboundFormat, InboundLogFilter, InboundRoute, Store};
use serde::Serialize;

#[derive(clap::Subcommand)]
pub enum InboundCommand {
    /// Inbound routes: which recipients' mail goes to which endpoint.
    #[command(subcommand)]
    Route(RouteCommand),
    /// The POST attempts, newest first: time, HTTP status or error, duration, outcome.
    Log {
        /// Only this route's attempts (a route ID, as `route list` shows it).
        #[arg(long, value_name = "ROUTE_ID")]
        route: Option<i64>,
        /// Only this contract's attempts (a customer ID).
        #[arg(long, value_name = "CUSTOMER_ID")]
        customer: Option<CustomerId>,
        /// At most this many attempts (the newest).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(clap::Subcommand)]
pub enum RouteCommand {
    /// Send a contract's mail for PATTERN to URL and print the route's signing secret.
    /// PATTERN is an address (support@example.com), a domain (example.com: any address there)
    /// or *.example.com (any address at any subdomain); URL is http:// or https://.
    Add {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// support@example.com, example.com or *.example.com.
        pattern: String,
        /// The endpoint, http:// or https:// (credentials in it are kept, and shown masked).
        url: String,
        /// POST the message as it came (message/rfc822) instead of parsed JSON (the same as
        /// --format raw).
        #[arg(long, conflicts_with = "format")]
        raw: bool,
        /// The POSTs' body: json (this platform's parsed document, the default), raw,
        /// hosted-json or hosted-multipart (the hosted service's inbound webhook).
        #[arg(long, value_name = "FORMAT")]
        format: Option<InboundFormat>,
        /// A key the hosted formats send as `api_key`, for the receiver to check.
        #[arg(long, value_name = "KEY")]
        api_key: Option<String>,
    },
    /// List the routes of one contract, or of all.
    List {
        /// The contract's customer ID (all contracts' routes without it).
        customer_id: Option<CustomerId>,
    },
    /// Remove a route; mail for it not yet posted is dropped with it.
    Remove {
        /// The route's ID, as `route add` and `route list` show it.
        id: i64,
    },
}

pub async fn run(cmd: InboundCommand, store: &Store, json: bool) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        InboundCommand::Route(RouteCommand::Add {
            customer_id,
            pattern,
            url,
            raw,
            format,
            api_key,
        }) => {
            let format = match (raw, format) {
                (true, _) => InboundFormat::Raw,
                (false, format) => format.unwrap_or(InboundFormat::Json),
            };
            if api_key.is_some()
                && !matches!(
                    format,
                    InboundFormat::HostedJson | InboundFormat::HostedMultipart
                )
            {
                anyhow::bail!(
                    "--api-key goes with --format hosted-json or hosted-multipart (only they send it)"
                );
            }
            let (route, signing_secret) = store
                .add_inbound_route_as(&customer_id, &pattern, &url, format, api_key.as_deref())
                .await?;
            let route = shown(route);
            #[derive(Serialize)]
            struct Added<'a> {
                #[serde(flatten)]
                route: &'a InboundRoute,
                signing_secret: &'a str,
            }
            out.print(
                &Added {
                    route: &route,
                    signing_secret: &signing_secret,
                },
                || {
                    [
                        field("route ID", &route.id.to_string()),
                        field("pattern", &route.pattern),
                        field("endpoint", &route.endpoint),
                        field("format", route.format.as_str()),
                        field("secret", &signing_secret),
                        "(verify X-Hikyaku-Signature with the secret; `route list --json` shows it again)\n"
                            .to_string(),
                    ]
                    .concat()
                },
            )
        }
        InboundCommand::Route(RouteCommand::List { customer_id }) => {
            if let Some(id) = &customer_id {
                require_contract(store, id).await?;
            }
            let routes: Vec<InboundRoute> = store
                .inbound_routes(customer_id.as_ref())
                .await?
                .into_iter()
                .map(shown)
                .collect();
            #[derive(Serialize)]
            struct Listed<'a> {
                #[serde(flatten)]
                route: &'a InboundRoute,
                signing_secret: String,
            }
            let mut listed = Vec::with_capacity(routes.len());
            for route in &routes {
                let signing_secret = store
                    .inbound_signing_secret(route.id)
                    .await?
                    .unwrap_or_default();
                listed.push(Listed {
                    route,
                    signing_secret,
                });
            }
            out.print(&serde_json::json!({ "routes": listed }), || {
                let mut table = Table::new([
                    "ID",
                    "CUSTOMER ID",
                    "PATTERN",
                    "ENDPOINT",
                    "FORMAT",
                    "ADDED",
                ]);
                for r in &routes {
                    table.row([
                        r.id.to_string(),
                        r.customer_id.to_string(),
                        r.pattern.clone(),
                        r.endpoint.clone(),
                        r.format.to_string(),
                        r.created_at.to_string(),
                    ]);
                }
                table.render("no inbound routes")
            })
        }
        InboundCommand::Route(RouteCommand::Remove { id }) => {
            let route = shown(store.remove_inbound_route(id).await?);
            out.print(&serde_json::json!({ "removed": route }), || {
                format!(
                    "removed inbound route {} ({} → {})\n",
                    route.id, route.pattern, route.endpoint
                )
            })
        }
        InboundCommand::Log {
            route,
            customer,
            limit,
        } => {
            let attempts = store
                .inbound_attempts(&InboundLogFilter {
                    route,
                    customer,
                    post: None,
                    limit: Some(limit),
                })
                .await?;
            out.print(&serde_json::json!({ "attempts": attempts }), || {
                let mut table = Table::new([
                    "TIME", "ROUTE", "ID", "ATTEMPT", "STATUS", "DURATION", "OUTCOME", "ERROR",
                ]);
                for a in &attempts {
                    table.row([
                        a.at.to_string(),
                        a.route_id.to_string(),
                        a.message_id.to_string(),
                        a.attempt.to_string(),
                        a.http_status.map_or_else(|| "-".into(), |s| s.to_string()),
                        format!("{}ms", a.duration_ms),
                        a.outcome.to_string(),
                        a.error.clone().unwrap_or_default(),
                    ]);
                }
                table.render("no inbound attempts")
            })
        }
    }
}

/// The route as it may be printed: a password in its endpoint masked.
fn shown(route: InboundRoute) -> InboundRoute {
    InboundRoute {
        endpoint: masked_url(&route.endpoint),
        ..route
    }
}
