//! `hikyaku stats domains|replies` (the operator's quality data: outcomes of every contract by
//! recipient domain and by normalised remote reply, per day, with no address or contract in
//! them) and `hikyaku reputation` (each contract's figures before the reputation guard, and
//! the operator's `resume` of a paused contract). On the store directly, like `admin`.

use crate::admin::{Output, Table, require_contract};
use hikyaku_config::Config;
use hikyaku_model::{CustomerId, Timestamp};
use hikyaku_relay::reputation::{GuardSettings, Standing, assess};
use hikyaku_store::Store;
use serde::Serialize;

const DAY_MS: i64 = 86_400_000;

#[derive(clap::Subcommand)]
pub enum StatsCommand {
    /// Outcomes by recipient domain, all contracts together, most outcomes first.
    Domains {
        /// From this day on (RFC 3339 date or time, or a duration ago: 7d); the last 7 days
        /// without it.
        #[arg(long, value_name = "TIME", value_parser = crate::admin::parse_time)]
        since: Option<Timestamp>,
        /// At most this many domains.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Deferrals and bounces by the remote reply, its addresses, IDs and IP addresses taken
    /// out, all contracts together, most frequent first.
    Replies {
        /// From this day on (as for `stats domains`).
        #[arg(long, value_name = "TIME", value_parser = crate::admin::parse_time)]
        since: Option<Timestamp>,
        /// At most this many replies.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReputationArgs {
    #[command(subcommand)]
    action: Option<ReputationAction>,
    /// Only this contract (every contract without it).
    #[arg(long, value_name = "CUSTOMER_ID")]
    contract: Option<CustomerId>,
}

#[derive(clap::Subcommand)]
enum ReputationAction {
    /// Let a contract paused by the reputation guard send again; its figures start afresh.
    Resume {
        /// The contract's customer ID.
        customer_id: CustomerId,
    },
}

fn since_or_a_week(since: Option<Timestamp>) -> Timestamp {
    since.unwrap_or_else(|| Timestamp(Timestamp::now().as_millis() - 7 * DAY_MS))
}

pub async fn run_stats(cmd: StatsCommand, store: &Store, json: bool) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        StatsCommand::Domains { since, limit } => {
            let since = since_or_a_week(since);
            let domains = store.quality_by_domain(since, limit).await?;
            #[derive(Serialize)]
            struct Row<'a> {
                domain: &'a str,
                delivered: u64,
                deferred: u64,
                bounced: u64,
                expired: u64,
                suppressed: u64,
                complaint: u64,
            }
            let rows: Vec<Row> = domains
                .iter()
                .map(|d| Row {
                    domain: &d.domain,
                    delivered: d.delivered,
                    deferred: d.deferred,
                    bounced: d.bounced,
                    expired: d.expired,
                    suppressed: d.suppressed,
                    complaint: d.complaint,
                })
                .collect();
            out.print(
                &serde_json::json!({ "since_at": day_of(since), "domains": rows }),
                || {
                    let mut table = Table::new([
                        "DOMAIN",
                        "DELIVERED",
                        "DEFERRED",
                        "BOUNCED",
                        "EXPIRED",
                        "SUPPRESSED",
                        "COMPLAINT",
                    ]);
                    for d in &domains {
                        table.row([
                            d.domain.clone(),
                            d.delivered.to_string(),
                            d.deferred.to_string(),
                            d.bounced.to_string(),
                            d.expired.to_string(),
                            d.suppressed.to_string(),
                            d.complaint.to_string(),
                        ]);
                    }
                    table.render("no outcomes in this period")
                },
            )
        }
        StatsCommand::Replies { since, limit } => {
            let since = since_or_a_week(since);
            let replies = store.quality_by_reply(since, limit).await?;
            #[derive(Serialize)]
            struct Row<'a> {
                kind: &'a str,
                reply: &'a str,
                count: u64,
            }
            let rows: Vec<Row> = replies
                .iter()
                .map(|r| Row {
                    kind: r.kind.as_str(),
                    reply: &r.reply,
                    count: r.count,
                })
                .collect();
            out.print(
                &serde_json::json!({ "since_at": day_of(since), "replies": rows }),
                || {
                    let mut table = Table::new(["COUNT", "KIND", "REPLY"]);
                    for r in &replies {
                        table.row([r.count.to_string(), r.kind.to_string(), r.reply.clone()]);
                    }
                    table.render("no deferrals or bounces in this period")
                },
            )
        }
    }
}

/// The first instant of `at`'s UTC day: what the day counters were read from.
fn day_of(at: Timestamp) -> i64 {
    at.as_millis() - at.as_millis().rem_euclid(DAY_MS)
}

/// One contract's line of `hikyaku reputation`.
#[derive(Serialize)]
struct ReputationLine {
    customer_id: CustomerId,
    messages: u64,
    hard_bounces: u64,
    complaints: u64,
    /// Percentages.
    hard_bounce_rate: f64,
    complaint_rate: f64,
    /// The first hour in the window.
    window_start_at: Option<i64>,
    /// `good`, `warning` (above a warning threshold), `over-pause-threshold` (the guard pauses
    /// it at its next round), or `paused`.
    standing: &'static str,
    warned_at: Option<i64>,
    paused_at: Option<i64>,
    paused_reason: Option<String>,
    resumed_at: Option<i64>,
}

pub async fn run_reputation(
    args: ReputationArgs,
    store: &Store,
    config: &Config,
    json: bool,
) -> anyhow::Result<()> {
    let out = Output { json };
    if let Some(ReputationAction::Resume { customer_id }) = args.action {
        require_contract(store, &customer_id).await?;
        let was_paused = store.resume_sending(&customer_id, Timestamp::now()).await?;
        return out.print(
            &serde_json::json!({ "customer_id": customer_id, "resumed": was_paused }),
            || match was_paused {
                true => {
                    format!("contract {customer_id} may send again; its figures start afresh\n")
                }
                false => format!(
                    "contract {customer_id} was not paused; its figures start afresh all the same\n"
                ),
            },
        );
    }
    let contracts = match &args.contract {
        Some(id) => vec![require_contract(store, id).await?.customer_id],
        None => store
            .contracts()
            .await?
            .into_iter()
            .map(|c| c.customer_id)
            .collect(),
    };
    let settings = GuardSettings::from_config(&config.reputation);
    let now = Timestamp::now();
    let mut lines = Vec::with_capacity(contracts.len());
    for customer_id in contracts {
        let figures = store
            .reputation_figures(&customer_id, now, settings.window)
            .await?;
        let status = store.reputation_status(&customer_id).await?;
        // The pause is the guard's act; the figures may be over a threshold before its next
        // round acts on them.
        let standing = match (&status.pause, assess(&figures, &settings)) {
            (Some(_), _) => "paused",
            (None, Standing::Pause(_)) => "over-pause-threshold",
            (None, Standing::Warn(_)) => "warning",
            (None, Standing::Good) => "good",
        };
        lines.push(ReputationLine {
            customer_id,
            messages: figures.messages,
            hard_bounces: figures.hard_bounces,
            complaints: figures.complaints,
            hard_bounce_rate: round(figures.hard_bounce_rate()),
            complaint_rate: round(figures.complaint_rate()),
            window_start_at: figures.since.map(Timestamp::as_millis),
            standing,
            warned_at: status.warned_at.map(Timestamp::as_millis),
            paused_at: status.pause.as_ref().map(|p| p.since.as_millis()),
            paused_reason: status.pause.map(|p| p.reason),
            resumed_at: status.resumed_at.map(Timestamp::as_millis),
        });
    }
    out.print(
        &serde_json::json!({
            "thresholds": {
                "min_messages": settings.min_messages,
                "window_messages": settings.window.messages,
                "window_seconds": settings.window.max_age.as_secs(),
                "warn_hard_bounce_rate": settings.warn_hard_bounce_rate,
                "warn_complaint_rate": settings.warn_complaint_rate,
                "pause_hard_bounce_rate": settings.pause_hard_bounce_rate,
                "pause_complaint_rate": settings.pause_complaint_rate,
            },
            "contracts": lines,
        }),
        || {
            let mut table = Table::new([
                "CUSTOMER ID",
                "MESSAGES",
                "HARD BOUNCES",
                "COMPLAINTS",
                "STANDING",
                "PAUSED SINCE",
            ]);
            for l in &lines {
                table.row([
                    l.customer_id.to_string(),
                    l.messages.to_string(),
                    format!("{} ({:.2} %)", l.hard_bounces, l.hard_bounce_rate),
                    format!("{} ({:.3} %)", l.complaints, l.complaint_rate),
                    l.standing.to_string(),
                    l.paused_at
                        .map_or_else(|| "-".into(), |at| Timestamp(at).to_string()),
                ]);
            }
            let mut text = table.render("no contracts");
            text += &format!(
                "(warning above {} % hard bounces or {} % complaints, pause above {} % or {} %, from {} messages)\n",
                settings.warn_hard_bounce_rate,
                settings.warn_complaint_rate,
                settings.pause_hard_bounce_rate,
                settings.pause_complaint_rate,
                settings.min_messages
            );
            text
        },
    )
}

/// Rates shown to four decimals: 0.08 % must not read as 0.1 %.
fn round(rate: f64) -> f64 {
    (rate * 10_000.0).round() / 10_000.0
}
