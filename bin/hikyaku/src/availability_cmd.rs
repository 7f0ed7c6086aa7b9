//! The availability monitor from the command line: `hikyaku availability` (a month's figures
//! and credit), `hikyaku monitor` (the probe loop alone, against `[[monitor.target]]`, for a
//! machine outside the cluster), and the targets `serve` probes.

use crate::admin::{Output, Table};
use hikyaku_availability::{Monitor, MonitorSettings, Target};
use hikyaku_config::Config;
use hikyaku_model::Timestamp;
use hikyaku_store::{Store, UsageMonth};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(clap::Args)]
pub struct AvailabilityArgs {
    /// The calendar month, YYYY-MM, in contracts.usage_time_zone (the current one when left
    /// out).
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    month: Option<UsageMonth>,
}

fn parse_month(text: &str) -> Result<UsageMonth, String> {
    text.parse()
        .map_err(|_| format!("not a month: {text:?} (YYYY-MM, e.g. 2026-11)"))
}

/// `hikyaku availability [--month YYYY-MM]`: the figures the API answers, from the same call.
pub async fn availability(
    args: AvailabilityArgs,
    store: &Store,
    config: &Config,
    json: bool,
) -> anyhow::Result<()> {
    let zone = config.contracts.usage_time_zone;
    let (month, a) = hikyaku_availability::measure_month(
        store,
        args.month,
        zone.offset_minutes(),
        Timestamp::now(),
    )
    .await?;
    let shown = hikyaku_api::v1::shown_availability(month, &zone.to_string(), &a);
    Output { json }.print(&shown, || {
        let mut text = format!(
            "month {} ({})\nmeasured {} of {} minutes; outage {}; announced maintenance {}\n\
             availability {:.3} % (over 43,200 minutes); credit {} % of the month's fee\n",
            shown.month,
            shown.time_zone,
            shown.measured_minutes,
            shown.minutes,
            shown.outage_minutes,
            shown.maintenance_minutes,
            shown.availability_percent,
            shown.credit_percent
        );
        if !shown.outages.is_empty() {
            let mut table = Table::new(["STARTS", "ENDS", "MINUTES", ""]);
            for o in &shown.outages {
                table.row([
                    o.starts_at.to_string(),
                    o.ends_at.to_string(),
                    o.minutes.to_string(),
                    if o.ongoing { "ongoing" } else { "" }.to_string(),
                ]);
            }
            text.push_str(&table.render(""));
        }
        text
    })
}

/// What a monitor probes: the `[[monitor.target]]`s, or else this node's own listeners
/// (`own`: its name, HTTP and relay SMTP addresses), an unspecified address on loopback.
pub fn targets(
    config: &Config,
    own: Option<(&str, SocketAddr, SocketAddr)>,
) -> anyhow::Result<Vec<Target>> {
    if !config.monitor.target.is_empty() {
        return config
            .monitor
            .target
            .iter()
            .map(|t| {
                Target::from_url(&t.name, &t.http, &t.smtp)
                    .map_err(|e| anyhow::anyhow!("[[monitor.target]] {}: {e}", t.name))
            })
            .collect();
    }
    let Some((name, http, smtp)) = own else {
        anyhow::bail!("no [[monitor.target]] is configured: nothing to probe");
    };
    let loopback = |mut addr: SocketAddr| {
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        addr
    };
    Ok(vec![Target {
        name: name.to_string(),
        http: loopback(http).to_string(),
        http_base: String::new(),
        smtp: loopback(smtp).to_string(),
    }])
}

/// The monitor of `[monitor]` probing `targets`, recorded as probed by `node`.
pub fn monitor(store: Store, config: &Config, targets: Vec<Target>, node: &str) -> Monitor {
    Monitor::new(
        store,
        targets,
        MonitorSettings {
            interval: config.monitor.interval.as_std(),
            timeout: config.monitor.timeout.as_std(),
            probed_by: node.to_string(),
            announce_after: config.monitor.announce_after.as_std(),
        },
    )
}

/// `hikyaku monitor`: the probe loop alone, until SIGTERM or SIGINT.
pub async fn run_monitor(store: Store, config: &Config, node: &str) -> anyhow::Result<()> {
    let targets = targets(config, None)?;
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    println!(
        "monitoring {} every {:?} (Ctrl-C stops)",
        names.join(", "),
        config.monitor.interval.as_std()
    );
    let monitor = monitor(store, config, targets, node);
    let stop = async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    monitor.run(stop).await;
    Ok(())
}
