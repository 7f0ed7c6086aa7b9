//! `hikyaku webhook`: a contract's webhook endpoints (add, list, remove, enable, test, attempts,
//! rotate-secret), on the store directly like the other operator commands. A running sender
//! sees a change at its next look at the outbox; nothing needs restarting.

use crate::admin::{Output, Table, field, require_contract};
use anyhow::bail;
use hikyaku_api_types as api;
use hikyaku_config::Config;
use hikyaku_model::{CustomerId, Timestamp};
use hikyaku_store::Store;

#[derive(clap::Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint and print its ID and signing secret (shown this once).
    Add {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The endpoint: https:// (http:// and private addresses only with
        /// [webhooks] allow_private_endpoints = true).
        #[arg(long)]
        url: String,
        /// The event kinds to send (comma-separated): accepted, delivered, deferred, bounced,
        /// expired, suppressed, complaint, unsubscribed, inbound. All of them without it.
        #[arg(long, value_name = "KINDS", value_delimiter = ',')]
        events: Option<Vec<String>>,
        /// One event per request instead of batches.
        #[arg(long)]
        one_per_request: bool,
        /// The requests' body: standard (Standard Webhooks, the default), hosted-json or
        /// hosted-form (the hosted service's event webhook, as JSON or form-encoded).
        #[arg(long, value_name = "FORMAT", default_value = "standard")]
        format: String,
        /// A key the hosted formats send as `api_key`, for the receiver to check.
        #[arg(long, value_name = "KEY")]
        api_key: Option<String>,
    },
    /// List a contract's endpoints: URL, events, state.
    List {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
    /// Remove an endpoint; its events not yet sent go with it.
    Remove {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The endpoint's ID, as `webhook add` and `webhook list` show it.
        id: i64,
    },
    /// Enable an endpoint that was disabled after failing too long.
    Enable {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The endpoint's ID.
        id: i64,
    },
    /// Send a test event (kind `test`) through the real path: queued, signed, retried, logged.
    Test {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The endpoint's ID.
        id: i64,
    },
    /// The endpoint's delivery attempts, newest first: time, status, latency, answer.
    Attempts {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The endpoint's ID.
        id: i64,
        /// At most this many attempts (the newest).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Give the endpoint a new secret and print it; requests carry both signatures during the
    /// overlap, so receivers can switch without losing a request.
    RotateSecret {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The endpoint's ID.
        id: i64,
        /// How long the old secret still signs beside the new one ("24h", "30m", "0s").
        #[arg(long, default_value = "24h")]
        overlap: hikyaku_config::Duration,
    },
}

pub async fn run(
    cmd: WebhookCommand,
    store: &Store,
    config: &Config,
    json: bool,
) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        WebhookCommand::Add {
            customer_id,
            url,
            events,
            one_per_request,
            format,
            api_key,
        } => {
            let allow_private = config.webhooks.allow_private_endpoints;
            hikyaku_webhooks::check_endpoint_url(&url, allow_private)?;
            let format = hikyaku_webhooks::parse_format(&format)?;
            let kinds = hikyaku_webhooks::parse_kinds_for(events.as_deref(), format)?;
            let options = hikyaku_webhooks::EndpointOptions {
                one_per_request,
                format,
                api_key,
            };
            options.check(&kinds)?;
            require_contract(store, &customer_id).await?;
            let (id, secret) = hikyaku_webhooks::add_endpoint_with(
                store,
                &customer_id,
                &url,
                &kinds,
                &options,
                allow_private,
            )
            .await?;
            let created = api::WebhookSecret {
                id,
                secret,
                previous_secret_until: None,
            };
            out.print(&created, || {
                [
                    field("endpoint ID", &id.to_string()),
                    field("secret", &created.secret),
                    "(verify requests with the secret and a Standard Webhooks library; it is not shown again)\n"
                        .to_string(),
                ]
                .concat()
            })
        }
        WebhookCommand::List { customer_id } => {
            require_contract(store, &customer_id).await?;
            let endpoints: Vec<api::WebhookEndpoint> = store
                .webhook_endpoints(&customer_id)
                .await?
                .iter()
                .map(hikyaku_webhooks::shown)
                .collect();
            out.print(
                &api::WebhookEndpointList {
                    endpoints: endpoints.clone(),
                },
                || {
                    let mut table =
                        Table::new(["ID", "URL", "EVENTS", "BATCH", "FORMAT", "STATE", "ADDED"]);
                    for e in &endpoints {
                        table.row([
                            e.id.to_string(),
                            e.url.clone(),
                            e.events.join(","),
                            if e.one_per_request { "1" } else { "batch" }.to_string(),
                            e.format.clone(),
                            state(e),
                            e.created_at.to_string(),
                        ]);
                    }
                    table.render("no webhook endpoints")
                },
            )
        }
        WebhookCommand::Remove { customer_id, id } => {
            require_contract(store, &customer_id).await?;
            if !store.remove_webhook_endpoint(&customer_id, id).await? {
                bail!("contract {customer_id} has no webhook endpoint {id}");
            }
            out.print(&serde_json::json!({ "removed": id }), || {
                format!("removed webhook endpoint {id}\n")
            })
        }
        WebhookCommand::Enable { customer_id, id } => {
            require_contract(store, &customer_id).await?;
            if !store
                .set_webhook_endpoint_disabled(&customer_id, id, None)
                .await?
            {
                bail!("contract {customer_id} has no webhook endpoint {id}");
            }
            out.print(&serde_json::json!({ "enabled": id }), || {
                format!("enabled webhook endpoint {id}\n")
            })
        }
        WebhookCommand::Test { customer_id, id } => {
            require_contract(store, &customer_id).await?;
            if !store
                .enqueue_webhook_test(&customer_id, id, Timestamp::now())
                .await?
            {
                bail!("contract {customer_id} has no webhook endpoint {id}");
            }
            out.print(&serde_json::json!({ "queued": id }), || {
                format!(
                    "queued a test event for webhook endpoint {id}; `webhook attempts {customer_id} {id}` shows how it went\n"
                )
            })
        }
        WebhookCommand::Attempts {
            customer_id,
            id,
            limit,
        } => {
            require_contract(store, &customer_id).await?;
            if store.webhook_endpoint(&customer_id, id).await?.is_none() {
                bail!("contract {customer_id} has no webhook endpoint {id}");
            }
            let attempts: Vec<api::WebhookAttempt> = store
                .webhook_attempts(&customer_id, id, limit)
                .await?
                .iter()
                .map(hikyaku_webhooks::attempt_shown)
                .collect();
            out.print(
                &api::WebhookAttemptList {
                    attempts: attempts.clone(),
                },
                || {
                    let mut table = Table::new([
                        "TIME",
                        "WEBHOOK ID",
                        "EVENTS",
                        "STATUS",
                        "LATENCY",
                        "OUTCOME",
                        "ANSWER",
                    ]);
                    for a in &attempts {
                        let answer = a
                            .error
                            .clone()
                            .or_else(|| a.answer.clone())
                            .unwrap_or_default();
                        table.row([
                            a.time.to_string(),
                            a.webhook_id.clone(),
                            a.events.to_string(),
                            a.status.map_or_else(|| "-".into(), |s| s.to_string()),
                            format!("{}ms", a.latency_ms),
                            a.outcome.clone(),
                            one_line(&answer, 60),
                        ]);
                    }
                    table.render("no attempts")
                },
            )
        }
        WebhookCommand::RotateSecret {
            customer_id,
            id,
            overlap,
        } => {
            require_contract(store, &customer_id).await?;
            let Some((secret, until)) =
                hikyaku_webhooks::rotate_secret(store, &customer_id, id, overlap.as_std()).await?
            else {
                bail!("contract {customer_id} has no webhook endpoint {id}");
            };
            let rotated = api::WebhookSecret {
                id,
                secret,
                previous_secret_until: Some(until.into()),
            };
            out.print(&rotated, || {
                [
                    field("endpoint ID", &id.to_string()),
                    field("secret", &rotated.secret),
                    field("old secret signs until", &until.to_string()),
                ]
                .concat()
            })
        }
    }
}

fn state(e: &api::WebhookEndpoint) -> String {
    match (&e.disabled_at, &e.failing_since) {
        (Some(at), _) => format!("disabled {at}"),
        (None, Some(since)) => format!("failing since {since}"),
        (None, None) => "ok".to_string(),
    }
}

/// The first `max` characters of `text` on one line.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}
