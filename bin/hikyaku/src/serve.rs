//! `hikyaku serve`: opens the data, binds the listeners, runs until SIGTERM or SIGINT.

use crate::tls::{self, CertificateSource};
use anyhow::Context;
use hikyaku_config::{Config, ResolverSetting};
use hikyaku_delivery::{Engine, EngineSettings, Rules, Transport};
use hikyaku_error_server::{ErrorServer, ErrorServerSettings};
use hikyaku_relay::{Intake, RelayHandler, RelayPolicy};
use hikyaku_smtp_server::{AuthPolicy, Server, ServerConfig};
use hikyaku_spool::Spool;
use hikyaku_store::SoftBouncePolicy;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// `operator_command` is how to run the CLI on this service's configuration and data.
pub async fn run(config: Config, operator_command: &str) -> anyhow::Result<()> {
    let hostname = config
        .relay
        .hostname
        .clone()
        .unwrap_or_else(system_hostname);
    let node = config.node_name.clone().unwrap_or_else(system_hostname);

    // Everything that can fail on bad configuration or data fails before a port is bound.
    let (store, verp_key) = crate::open_store(&config).await?;
    let (spool, recovery) = Spool::open(&config.spool_dir(), config.relay.spool_limit.0)
        .with_context(|| format!("cannot open the spool in {}", config.spool_dir().display()))?;
    spool
        .disk_reserve()
        .set_min_free(config.relay.min_free_disk.0);
    crate::permissions::warn_if_others_can_read(&config);
    let (tls, certificate) = tls::server_config(&config, &hostname)?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;

    let transport = delivery_transport(&config, &hostname, Some(&store))?;
    let (to_delivery, accepted) = tokio::sync::mpsc::unbounded_channel();
    let intake = Intake::start(
        spool.clone(),
        store.clone(),
        node.clone(),
        config.delivery.enabled.then_some(to_delivery),
    );
    let orphans = intake
        .discard_unrecorded(&recovery.messages)
        .await
        .context("cannot reconcile the spool with the database")?;
    // A damaged file's name still says which message it was: that message was acknowledged.
    let quarantined = spool
        .quarantined_ids()
        .context("cannot list the spool's quarantined files")?;
    let unspooled = intake
        .withdraw_unspooled(&recovery.messages, &quarantined)
        .await
        .context("cannot reconcile the database with the spool")?;
    if orphans > 0 || unspooled > 0 || recovery.removed_tmp > 0 || !recovery.quarantined.is_empty()
    {
        tracing::warn!(
            orphans,
            unspooled,
            partial = recovery.removed_tmp,
            quarantined = recovery.quarantined.len(),
            "removed messages whose acceptance was cut short by the last stop (never acknowledged)"
        );
    }

    let delivery = match transport {
        Some(transport) => {
            let settings = EngineSettings {
                node: node.clone(),
                lifetime: config.delivery.lifetime.as_std(),
                retry_intervals: config
                    .delivery
                    .retry_intervals
                    .iter()
                    .map(|d| d.as_std())
                    .collect(),
                rules: Rules::new(&config.delivery.destination),
                bounce_domain: config.bounce.domain.clone(),
                verp_key: verp_key.clone(),
                max_unrecorded_outcomes: config.delivery.max_unrecorded_outcomes.max(1),
                soft_bounces: soft_bounce_policy(&config),
                simulator_domain: Some(config.delivery.simulator_domain.to_ascii_lowercase())
                    .filter(|d| !d.is_empty()),
            };
            let engine = Engine::start(settings, store.clone(), spool.clone(), transport, accepted)
                .await
                .context("cannot start the delivery engine")?;
            Some(engine)
        }
        None => None,
    };

    // The error server queues inbound mail through `inbound`; the poster runs below if enabled
    // (the queue is shared, so a node without a poster still takes inbound mail in).
    let inbound = inbound_poster(&config, store.clone())?;
    let webhooks = config
        .webhooks
        .enabled
        .then(|| webhook_sender(&config, store.clone()))
        .transpose()?;

    let relay_listener = TcpListener::bind(config.relay.listen)
        .await
        .with_context(|| format!("cannot listen for SMTP on {}", config.relay.listen))?;
    let errors_listener = match config.bounce.enabled {
        true => Some(
            TcpListener::bind(config.bounce.listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen for the error server on {}",
                        config.bounce.listen
                    )
                })?,
        ),
        false => None,
    };
    let http_listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http.listen))?;
    // The service zone's DNS responder: it reads the platform and the heartbeats once here,
    // so its first answer is already right, then every heartbeat period in the background.
    let dns_responder = match crate::dns_cmd::responder_settings(&config) {
        Some(settings) => {
            // This node's heartbeat first, so that the first answer counts it (rather than
            // warning that no node is healthy on a fresh start); the heartbeat loop below
            // beats again at once with every listener.
            let now = hikyaku_model::Timestamp::now();
            let version = env!("CARGO_PKG_VERSION");
            if let Err(error) = store.node_heartbeat(&node, version, &[], now, now).await {
                tracing::warn!(%error, "the node's heartbeat was not recorded");
            }
            let source = crate::dns_cmd::ServiceZone {
                config: config.clone(),
                store: store.clone(),
            };
            Some(
                hikyaku_dns_responder::Responder::start(settings, Arc::new(source))
                    .await
                    .context("cannot start the DNS responder")?,
            )
        }
        None => None,
    };
    let dns_addrs: Vec<std::net::SocketAddr> = dns_responder
        .as_ref()
        .map(|r| r.local_addrs().to_vec())
        .unwrap_or_default();
    let smtp_addr = relay_listener.local_addr()?;
    let errors_addr = errors_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    let http_addr = http_listener.local_addr()?;

    let relay = &config.relay;
    let mut smtp_config = ServerConfig::new(hostname.clone());
    smtp_config.max_connections = relay.max_connections;
    smtp_config.max_message_size = usize::try_from(relay.max_message_size.0).unwrap_or(usize::MAX);
    smtp_config.max_recipients = relay.max_recipients;
    smtp_config.max_errors = relay.max_errors;
    smtp_config.command_timeout = relay.command_timeout.as_std();
    smtp_config.data_timeout = relay.data_timeout.as_std();
    smtp_config.tls = Some(tls.clone());
    smtp_config.auth = AuthPolicy {
        enabled: true,
        allow_plaintext_on_loopback: relay.allow_plaintext_auth_on_loopback,
        failure_limit: relay.auth_failure_limit,
        failure_window: relay.auth_failure_window.as_std(),
    };
    // One-click unsubscribe links lead to the public URL; without one none can be made.
    let links = config
        .public_base_url()
        .map(|base_url| hikyaku_relay::UnsubscribeLinks {
            base_url,
            bounce_domain: config.bounce.domain.clone(),
        });
    match &links {
        None => tracing::warn!(
            "neither http.public_url nor service_domain is set: no List-Unsubscribe links are added, even for contracts that turned them on"
        ),
        Some(links) if !links.base_url.starts_with("https://") => tracing::warn!(
            base_url = %links.base_url,
            "http.public_url is not HTTPS: mailbox providers do not offer one-click unsubscribe for such links"
        ),
        Some(_) => {}
    }
    let unsubscribe = hikyaku_relay::UnsubscribeStage::new(store.clone(), links);
    // The HTTP API's way in: the same intake, limits and contract checks as SMTP.
    let sending = hikyaku_api::v1::send::Sending {
        composer: hikyaku_compose::Composer::new(
            hostname.clone(),
            usize::try_from(relay.max_message_size.0).unwrap_or(usize::MAX),
        ),
        submitter: hikyaku_relay::Submitter::new(
            store.clone(),
            intake.clone(),
            hikyaku_relay::SubmitPolicy {
                hostname: hostname.clone(),
                max_message_size: relay.max_message_size.0,
                max_recipients: relay.max_recipients,
            },
            unsubscribe.clone(),
        ),
    };
    // Contract notices: the daily S/MIME scan and the mail to each contract's admins, through
    // the same submit path as the API's mail.
    let notices = config.notices.enabled.then(|| {
        let mut settings = hikyaku_notices::NoticeSettings::new(config.notices_from(&hostname));
        settings.poll_interval = config.notices.poll_interval.as_std();
        settings.scan_interval = config.notices.scan_interval.as_std();
        settings.lease = config.notices.lease.as_std();
        settings.operator_email = config.operator.email.clone();
        settings.public_url = config.public_base_url();
        hikyaku_notices::Notices::new(
            store.clone(),
            sending.composer.clone(),
            sending.submitter.clone(),
            settings,
        )
    });
    let handler = RelayHandler::new(
        store.clone(),
        intake,
        RelayPolicy {
            hostname: hostname.clone(),
            max_message_size: relay.max_message_size.0,
        },
        unsubscribe,
    );
    // Certificates that expired or end within 30 days: a WARN line now and every day.
    hikyaku_relay::smime_stage::spawn_expiry_reporter(store.clone());

    let errors_server = errors_listener.map(|listener| {
        let b = &config.bounce;
        let mut errors_config = ServerConfig::new(hostname.clone());
        errors_config.listener = "errors".to_string();
        errors_config.max_connections = b.max_connections;
        errors_config.max_message_size =
            usize::try_from(b.max_message_size.0).unwrap_or(usize::MAX);
        errors_config.max_recipients = b.max_recipients;
        errors_config.max_errors = relay.max_errors;
        errors_config.command_timeout = relay.command_timeout.as_std();
        errors_config.data_timeout = relay.data_timeout.as_std();
        errors_config.tls = Some(tls);
        // Bounces and inbound mail come from anywhere and need no login.
        errors_config.auth = AuthPolicy {
            enabled: false,
            ..AuthPolicy::default()
        };
        let handler = ErrorServer::new(
            store.clone(),
            inbound.clone(),
            ErrorServerSettings {
                bounce_domain: b.domain.clone(),
                feedback_addresses: b.feedback_addresses.clone(),
                verp_key: verp_key.clone(),
                hostname: hostname.clone(),
                soft_bounces: soft_bounce_policy(&config),
            },
        );
        let handler = handler.with_disk_reserve(spool.disk_reserve().clone());
        (Server::new(errors_config, Arc::new(handler)), listener)
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let smtp = tokio::spawn(
        Server::new(smtp_config, Arc::new(handler)).serve(relay_listener, stopped(stop_rx.clone())),
    );
    let errors = errors_server
        .map(|(server, listener)| tokio::spawn(server.serve(listener, stopped(stop_rx.clone()))));
    let notices = notices.map(|notices| tokio::spawn(notices.run(stopped(stop_rx.clone()))));
    let inbound_poster = config.inbound.enabled.then(|| {
        let stop = stopped(stop_rx.clone());
        let inbound = inbound.clone();
        tokio::spawn(async move { inbound.run(stop).await })
    });
    // Off the send path: it reads the outbox the event writer fills.
    let webhook_sender = webhooks.map(|sender| {
        let stop = stopped(stop_rx.clone());
        tokio::spawn(sender.run(stop))
    });
    // Retention, contract deletion, trial expiry: every retention.interval on every node.
    let lifecycle = crate::lifecycle_cmd::Lifecycle::new(store.clone(), &config).on_node(
        spool.clone(),
        node.clone(),
        delivery.is_some(),
    );
    let lifecycle_job = tokio::spawn(
        lifecycle.run_every(config.retention.interval.as_std(), stopped(stop_rx.clone())),
    );
    // The guard only reads counters and flips conditional rows: it can stop anywhere.
    let reputation_guard = config.reputation.enabled.then(|| {
        let guard = hikyaku_relay::reputation::Guard::new(
            store.clone(),
            hikyaku_relay::reputation::GuardSettings::from_config(&config.reputation),
        );
        tokio::spawn(guard.run())
    });
    // Reloads the sealing keys every keys.refresh_interval and re-seals for a running key
    // rotation when this node holds its lease; intake never waits on it.
    let key_rotation = {
        let store = store.clone();
        let settings = crate::keys_cmd::rotation_settings(&config, node.clone());
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move { store.run_key_rotation(settings, stop).await })
    };
    // Suppression imports a stopped node left half done are taken up again (any node may).
    let suppression_imports = tokio::spawn(hikyaku_api::v1::suppression_imports::resume_imports(
        store.clone(),
        stopped(stop_rx.clone()),
    ));
    // HTTP outlives the SMTP listeners' drain, so that `/readyz` can say the node is draining.
    let (http_stop_tx, http_stop_rx) = watch::channel(false);
    let api = hikyaku_api::v1::ApiState::new(store.clone(), Arc::new(store.clone()), &config)
        .with_sending(sending);
    // The console reaches contracts' data through the API's own router (same state, same
    // rate limits), mounted at `/` beside it.
    let console =
        hikyaku_console::ConsoleState::new(store.clone(), hikyaku_api::v1::router(api.clone()))
            .with_report_days(config.retention.report_days)
            .with_upload_limit(config.api.max_body_bytes.0);
    let heartbeat = spawn_heartbeat(
        store.clone(),
        node.clone(),
        [
            Some(format!("smtp {smtp_addr}")),
            errors_addr.map(|a| format!("errors {a}")),
            Some(format!("http {http_addr}")),
        ]
        .into_iter()
        .flatten()
        .chain(dns_addrs.iter().map(|a| format!("dns {a}")))
        .collect(),
        stopped(stop_rx.clone()),
    );
    // The availability monitor: this node's own listeners (or the configured targets) every
    // monitor.interval, outages announced to every contract.
    let monitor = if config.monitor.enabled {
        let targets =
            crate::availability_cmd::targets(&config, Some((&node, http_addr, smtp_addr)))?;
        let monitor = crate::availability_cmd::monitor(store.clone(), &config, targets, &node);
        Some(tokio::spawn(monitor.run(stopped(stop_rx.clone()))))
    } else {
        None
    };
    let app = hikyaku_api::router(
        hikyaku_api::HttpState {
            store,
            spool,
            metrics,
            draining: stop_rx,
        },
        api,
    )
    .merge(hikyaku_console::router(console));
    let http = tokio::spawn(
        // With the client's address: the `Received` field of a message sent over HTTP names it.
        axum::serve(
            http_listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(stopped(http_stop_rx))
        .into_future(),
    );

    print_banner(
        &config,
        operator_command,
        &node,
        &Listening {
            smtp: smtp_addr,
            errors: errors_addr,
            http: http_addr,
            dns: dns_addrs,
        },
        &certificate,
    );

    wait_for_signal().await?;
    tracing::info!("shutting down: finishing the transactions in flight");
    if let Some(guard) = reputation_guard {
        guard.abort();
    }
    let _ = stop_tx.send(true);
    smtp.await?.context("SMTP listener failed")?;
    if let Some(errors) = errors {
        errors.await?.context("error server listener failed")?;
    }
    if let Some(responder) = dns_responder {
        responder.shutdown().await;
    }
    let _ = http_stop_tx.send(true);
    http.await?.context("HTTP listener failed")?;
    if let Some(notices) = notices {
        notices.await.context("the notice mailer failed")?;
    }
    let _ = lifecycle_job.await;
    let _ = suppression_imports.await;
    let _ = key_rotation.await;
    let _ = heartbeat.await;
    if let Some(monitor) = monitor {
        let _ = monitor.await;
    }
    if let Some(poster) = inbound_poster {
        poster.await.context("inbound poster failed")?;
    }
    if let Some(sender) = webhook_sender {
        sender.await.context("webhook sender failed")?;
    }
    if let Some(engine) = delivery {
        engine.shutdown(std::time::Duration::from_secs(30)).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The inbound parse poster with the `[inbound]` settings.
fn inbound_poster(
    config: &Config,
    store: hikyaku_store::Store,
) -> anyhow::Result<hikyaku_inbound_parse::Inbound> {
    let c = &config.inbound;
    let settings = hikyaku_inbound_parse::InboundSettings {
        lifetime: c.lifetime.as_std(),
        backoff: hikyaku_inbound_parse::post::Backoff {
            initial: c.retry_initial.as_std(),
            max: c.retry_max.as_std(),
        },
        max_in_flight: c.max_in_flight,
        request_timeout: c.request_timeout.as_std(),
        ..hikyaku_inbound_parse::InboundSettings::default()
    };
    hikyaku_inbound_parse::Inbound::new(store, settings).context("cannot start the inbound poster")
}

/// The webhook sender with the `[webhooks]` settings.
pub(crate) fn webhook_sender(
    config: &Config,
    store: hikyaku_store::Store,
) -> anyhow::Result<hikyaku_webhooks::Sender> {
    use hikyaku_webhooks::{DnsSource, HickoryResolve};
    let c = &config.webhooks;
    let source = match c.resolver {
        ResolverSetting::System => DnsSource::System,
        ResolverSetting::Static => DnsSource::None,
        ResolverSetting::Server(addr) => DnsSource::Server(addr),
    };
    let resolver = HickoryResolve::new(source)
        .map_err(|e| anyhow::anyhow!("invalid [webhooks] resolver: {e}"))?;
    let settings = hikyaku_webhooks::WebhookSettings {
        batch_max: c.batch_max_events,
        batch_window: c.batch_window.as_std(),
        retry_for: c.retry_for.as_std(),
        backoff: hikyaku_http_post::Backoff {
            initial: c.retry_initial.as_std(),
            max: c.retry_max.as_std(),
        },
        disable_after: c.disable_after.as_std(),
        request_timeout: c.request_timeout.as_std(),
        connect_timeout: c.connect_timeout.as_std(),
        answer_limit: usize::try_from(c.answer_limit.0).unwrap_or(usize::MAX),
        max_in_flight: c.max_in_flight,
        allow_private_endpoints: c.allow_private_endpoints,
        resolver: Some(std::sync::Arc::new(resolver)),
        records_offset_minutes: config.contracts.usage_time_zone.offset_minutes(),
        ..hikyaku_webhooks::WebhookSettings::default()
    };
    hikyaku_webhooks::Sender::new(store, settings).context("cannot start the webhook sender")
}

/// The resolver and SMTP client of the delivery engine, or `None` when delivery is off. MTA-STS
/// policies are kept in `store` across restarts (`check-config` opens none).
pub(crate) fn delivery_transport(
    config: &Config,
    hostname: &str,
    store: Option<&hikyaku_store::Store>,
) -> anyhow::Result<Option<Transport>> {
    use hikyaku_delivery::client::{Client, ClientConfig};
    use hikyaku_delivery::resolve::{MxResolver, ResolverMode, ResolverOptions, StaticRoute};
    use hikyaku_delivery::sts::{MtaSts, StsOptions};
    let delivery = &config.delivery;
    if !delivery.enabled {
        return Ok(None);
    }
    let mode = match delivery.resolver {
        ResolverSetting::System => ResolverMode::System,
        ResolverSetting::Static => ResolverMode::Static,
        ResolverSetting::Server(addr) => ResolverMode::Server(addr),
    };
    let routes: Vec<StaticRoute> = delivery
        .route
        .iter()
        .map(|r| StaticRoute {
            domain: r.domain.clone(),
            host: r.host.clone(),
        })
        .collect();
    let options = ResolverOptions {
        ipv6: delivery.ipv6,
        smtp_port: delivery.smtp_port,
        dane: delivery.dane,
        ..ResolverOptions::default()
    };
    let resolver =
        MxResolver::new(mode, &routes, options).context("invalid [delivery] resolver or routes")?;
    let helo = delivery
        .helo_name
        .clone()
        .unwrap_or_else(|| hostname.to_string());
    let mut client_config = ClientConfig::new(helo);
    client_config.timeouts.connect = delivery.connect_timeout.as_std();
    let client = Client::new(client_config).context("invalid [delivery] client settings")?;
    let mta_sts = if delivery.mta_sts {
        let options = StsOptions {
            https_port: delivery.mta_sts_port,
            ..StsOptions::default()
        };
        let roots = client.config().root_store.clone();
        MtaSts::new(&resolver, roots, Rules::new(&delivery.destination), options)
            .context("MTA-STS policy client")?
            .map(|sts| match store {
                Some(store) => sts.with_store(store.clone()),
                None => sts,
            })
    } else {
        None
    };
    let transport = Transport::new(resolver, client);
    Ok(Some(match mta_sts {
        Some(mta_sts) => transport.with_mta_sts(mta_sts),
        None => transport,
    }))
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// `[suppression]`'s soft-bounce rule, the same for the error server and the delivery engine.
fn soft_bounce_policy(config: &Config) -> SoftBouncePolicy {
    SoftBouncePolicy {
        limit: config.suppression.soft_bounce_limit,
        window: config.suppression.soft_bounce_window.as_std(),
    }
}

pub(crate) fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Where the node's listeners are bound.
struct Listening {
    smtp: std::net::SocketAddr,
    errors: Option<std::net::SocketAddr>,
    http: std::net::SocketAddr,
    /// The DNS responder's addresses (none when it does not run).
    dns: Vec<std::net::SocketAddr>,
}

/// Tells a person where to connect and what to do next. Test harnesses read the `smtp://`,
/// `dns://` and `http://` addresses from it, so keep those as they are.
fn print_banner(
    config: &Config,
    hikyaku: &str,
    node: &str,
    listening: &Listening,
    certificate: &CertificateSource,
) {
    let Listening {
        smtp,
        errors,
        http,
        dns,
    } = listening;
    let certificate = match certificate {
        CertificateSource::Configured(path) => format!("certificate {}", path.display()),
        CertificateSource::SelfSigned(path) => {
            format!("self-signed certificate {}", path.display())
        }
    };
    let database = crate::database_name(config);
    println!(
        "Hikyaku {} is running (node {node})",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "  relay SMTP  smtp://{smtp}  (STARTTLS with {certificate}; AUTH PLAIN/LOGIN over TLS)"
    );
    if let Some(errors) = errors {
        let domain = match &config.bounce.domain {
            Some(domain) => format!("bounces to *@{domain}, inbound routes"),
            None => "inbound routes; set [bounce] domain for bounces".to_string(),
        };
        println!("  error server smtp://{errors}  ({domain})");
    }
    // Before the HTTP line: test harnesses stop reading the banner after it.
    if !dns.is_empty() {
        let addrs: Vec<String> = dns.iter().map(|a| format!("dns://{a}")).collect();
        let zone = config.service_domain.as_deref().unwrap_or_default();
        let smtp_host = config
            .dns
            .smtp_host(config.service_domain.as_deref())
            .unwrap_or_default();
        println!(
            "  DNS         {}  (UDP and TCP; authoritative for {zone}; {smtp_host} lists the healthy relay nodes)",
            addrs.join(" ")
        );
    }
    println!(
        "  HTTP        http://{http}/  (the console at /; /healthz, /readyz, /metrics, /api/v1, /api/v1/docs)"
    );
    println!(
        "  data        {}  (database {database})",
        config.data_dir.display()
    );
    println!();
    println!("To send mail, create a contract and let it relay (in another terminal):");
    println!("  {hikyaku} contract create --name \"My Company\"");
    println!("      prints the customer ID");
    println!("  {hikyaku} allowed-ip add CUSTOMER_ID 127.0.0.1");
    println!("      relay from this host without AUTH");
    println!("  {hikyaku} smtp-credential add CUSTOMER_ID --username app");
    println!("      or log in with SMTP AUTH (prints a generated password once)");
    println!("Stop with Ctrl-C (or SIGTERM): mail in flight is finished first.");
}

/// Records this node's heartbeat (version, listeners, queue size) every
/// [`hikyaku_store::NODE_HEARTBEAT`] until `stop`, for the operator area's list of nodes.
fn spawn_heartbeat(
    store: hikyaku_store::Store,
    node: String,
    listeners: Vec<String>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let version = env!("CARGO_PKG_VERSION");
        store
            .run_node_heartbeat(
                &node,
                version,
                &listeners,
                hikyaku_store::NODE_HEARTBEAT,
                stop,
            )
            .await
    })
}
