//! The data's lifecycle from the operator's side: the background job `serve` runs (report data
//! past its retention, terminated contracts past their grace period, idle trial contracts),
//! `hikyaku purge` to run it once or see what it would do, and `hikyaku usage`.

use crate::admin::{Output, Table, field, require_contract};
use anyhow::Context;
use hikyaku_config::Config;
use hikyaku_model::{Contract, ContractState, CustomerId, NoticeKind, Timestamp};
use hikyaku_spool::Spool;
use hikyaku_store::{
    ContractDeletion, DeletedContract, PurgeCount, QueueAction, RetentionPolicy, Store,
    TrialAction, TrialPolicy, UsageMonth,
};
use serde::Serialize;
#[cfg(test)]
use std::path::Path;
use std::time::Duration;

/// A trial contract is warned this long before its suspension.
const TRIAL_WARNING: Duration = Duration::from_secs(7 * 86_400);
/// How long one run waits for the delivery engines to drop a deleted contract's queued mail
/// (they take commands about once a second) before leaving its deletion to the next run.
const ENGINE_PATIENCE: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct PurgeArgs {
    /// Only show what would go (rows per table, contracts to delete, trials to warn or
    /// suspend); change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
pub struct UsageArgs {
    /// Only this contract (a customer ID); every contract when left out.
    #[arg(long, value_name = "CUSTOMER_ID")]
    contract: Option<CustomerId>,
    /// The calendar month, YYYY-MM, in contracts.usage_time_zone (the current one when left
    /// out).
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_month)]
    month: Option<UsageMonth>,
}

fn parse_month(text: &str) -> Result<UsageMonth, String> {
    text.parse()
        .map_err(|_| format!("not a month: {text:?} (YYYY-MM, e.g. 2026-11)"))
}

/// The job's settings, from the configuration.
#[derive(Clone)]
pub struct Lifecycle {
    store: Store,
    retention: RetentionPolicy,
    termination_grace: Duration,
    trials: Option<TrialPolicy>,
    /// In `serve`: this node's spool, so that the job empties the files kept for reuse (which
    /// hold delivered messages' old bytes) at every run.
    spool: Option<Spool>,
    /// This node's name when no delivery engine runs here: the job then drops the node's
    /// withdrawn messages itself, as the engine would.
    engineless: Option<String>,
}

/// What one run did (or, for a dry run, would do).
#[derive(Debug, Default, Serialize)]
pub struct RunReport {
    dry_run: bool,
    report_data: Vec<TableRows>,
    /// Terminated contracts whose data was deleted (would be, for a dry run).
    contracts_deleted: Vec<CustomerId>,
    /// Terminated contracts whose queued mail is withdrawn but not yet dropped by these nodes'
    /// delivery engines: deleted by a later run.
    contracts_waiting: Vec<WaitingContract>,
    trials_warned: Vec<CustomerId>,
    trials_suspended: Vec<CustomerId>,
}

#[derive(Debug, Serialize)]
struct TableRows {
    table: &'static str,
    rows: u64,
}

#[derive(Debug, Serialize)]
struct WaitingContract {
    customer_id: CustomerId,
    nodes: Vec<String>,
}

impl From<PurgeCount> for TableRows {
    fn from(c: PurgeCount) -> Self {
        TableRows {
            table: c.table,
            rows: c.rows,
        }
    }
}

impl Lifecycle {
    pub fn new(store: Store, config: &Config) -> Lifecycle {
        let r = &config.retention;
        let idle_days = config.contracts.trial_idle_days;
        Lifecycle {
            store,
            retention: RetentionPolicy {
                report_age: Duration::from_secs(u64::from(r.report_days) * 86_400),
                batch_size: r.batch_size,
                batch_pause: r.batch_pause.as_std(),
            },
            termination_grace: config.contracts.termination_grace.as_std(),
            trials: (idle_days > 0).then(|| TrialPolicy {
                idle: Duration::from_secs(u64::from(idle_days) * 86_400),
                warning: TRIAL_WARNING,
            }),
            spool: None,
            engineless: None,
        }
    }

    /// The job of a running node: it empties `spool`'s files kept for reuse at every run, and
    /// without a delivery engine (`engine_here` false) drops the node's withdrawn messages.
    pub fn on_node(mut self, spool: Spool, node: String, engine_here: bool) -> Lifecycle {
        self.spool = Some(spool);
        self.engineless = (!engine_here).then_some(node);
        self
    }

    /// Runs the job every `interval` (the first run at once) until `stop` resolves. A failed
    /// run is logged and tried again at the next interval.
    pub async fn run_every(self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                done = self.run_once(Timestamp::now(), false) => match done {
                    Ok(report) => report.log(),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "the lifecycle job failed; it runs again later"),
                },
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// One run at `now`: report data past its retention, contracts past their grace period,
    /// idle trials.
    pub async fn run_once(&self, now: Timestamp, dry_run: bool) -> anyhow::Result<RunReport> {
        let store = &self.store;
        let mut report = RunReport {
            dry_run,
            ..RunReport::default()
        };
        let counts = if dry_run {
            store.report_data_past_retention(now, &self.retention).await
        } else {
            store.purge_report_data(now, &self.retention).await
        };
        report.report_data = counts
            .context("cannot purge report data")?
            .into_iter()
            .map(TableRows::from)
            .collect();

        let due = store
            .contracts_due_for_deletion(now, self.termination_grace)
            .await?;
        for id in due {
            if dry_run {
                report.contracts_deleted.push(id);
                continue;
            }
            match self.delete_contract(&id, now).await? {
                ContractDeletion::Deleted { rows } => {
                    tracing::info!(customer_id = %id, rows, "deleted a terminated contract's data");
                    report.contracts_deleted.push(id);
                }
                ContractDeletion::WaitingForNodes { nodes, .. } => {
                    report.contracts_waiting.push(WaitingContract {
                        customer_id: id,
                        nodes,
                    });
                }
            }
        }

        // Delivered and deleted mail of every contract, the deleted contracts' included, may
        // still be in files the spool keeps for reuse: they go at every run.
        if let Some(spool) = self.spool.as_ref().filter(|_| !dry_run) {
            spool
                .forget_recycled()
                .await
                .context("cannot empty the spool's files kept for reuse")?;
        }

        if let Some(policy) = &self.trials {
            for action in store.idle_trials(now, policy).await? {
                match action {
                    TrialAction::Warn {
                        customer_id,
                        idle_since,
                        suspend_at,
                    } => {
                        if !dry_run {
                            record_trial_notice(
                                store,
                                &customer_id,
                                TrialNotice::Expiring { suspend_at },
                                idle_since,
                                now,
                            )
                            .await?;
                            store
                                .mark_trial_warned(&customer_id, idle_since, now)
                                .await?;
                        }
                        report.trials_warned.push(customer_id);
                    }
                    TrialAction::Suspend {
                        customer_id,
                        idle_since,
                    } => {
                        if !dry_run {
                            record_trial_notice(
                                store,
                                &customer_id,
                                TrialNotice::Suspended,
                                idle_since,
                                now,
                            )
                            .await?;
                            if !store.suspend_idle_trial(&customer_id, idle_since).await? {
                                continue;
                            }
                            tracing::info!(customer_id = %customer_id, "suspended an idle trial contract");
                        }
                        report.trials_suspended.push(customer_id);
                    }
                }
            }
        }
        Ok(report)
    }

    /// Withdraws the contract's queued mail and deletes its data once the delivery engines
    /// have dropped that mail, waiting for them a while.
    async fn delete_contract(
        &self,
        id: &CustomerId,
        now: Timestamp,
    ) -> anyhow::Result<ContractDeletion> {
        let started = std::time::Instant::now();
        loop {
            let progress = self
                .store
                .delete_contract_data(id, now)
                .await
                .with_context(|| format!("cannot delete the data of contract {id}"))?;
            let ContractDeletion::WaitingForNodes { nodes, .. } = &progress else {
                return Ok(progress);
            };
            if let (Some(spool), Some(node)) = (&self.spool, &self.engineless)
                && nodes.contains(node)
            {
                self.drop_withdrawn_here(spool, node).await?;
                continue;
            }
            if started.elapsed() >= ENGINE_PATIENCE {
                return Ok(progress);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// What the delivery engine does with the operator's commands, on a node without one: a
    /// deleted message's spool file goes (a retry has nothing to act on).
    async fn drop_withdrawn_here(&self, spool: &Spool, node: &str) -> anyhow::Result<()> {
        for command in self.store.take_queue_commands(node).await? {
            if command.action == QueueAction::Delete {
                spool.remove(command.message_id).await.with_context(|| {
                    format!("cannot remove the spool file of {}", command.message_id)
                })?;
            }
        }
        Ok(())
    }
}

impl RunReport {
    fn log(&self) {
        let purged: u64 = self.report_data.iter().map(|t| t.rows).sum();
        if purged > 0 {
            tracing::info!(rows = purged, "purged report data past its retention");
        }
        for waiting in &self.contracts_waiting {
            tracing::warn!(
                customer_id = %waiting.customer_id,
                nodes = %waiting.nodes.join(", "),
                "a terminated contract's data waits for these nodes' delivery engines to drop its queued mail"
            );
        }
    }

    fn text(&self) -> String {
        let verb = if self.dry_run { "would go" } else { "deleted" };
        let mut table = Table::new(["TABLE", "ROWS"]);
        for t in &self.report_data {
            table.row([t.table.to_string(), t.rows.to_string()]);
        }
        let mut text = format!("report data past its retention ({verb}):\n");
        text += &table.render("no report tables");
        let ids = |ids: &[CustomerId]| -> String {
            if ids.is_empty() {
                "none".into()
            } else {
                ids.iter()
                    .map(CustomerId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        text += &field(&format!("contracts {verb}"), &ids(&self.contracts_deleted));
        for w in &self.contracts_waiting {
            text += &field(
                "waiting",
                &format!(
                    "{}: queued mail withdrawn; the delivery engine of {} has yet to drop it",
                    w.customer_id,
                    w.nodes.join(", ")
                ),
            );
        }
        let (warned, suspended) = if self.dry_run {
            ("trials to warn", "trials to suspend")
        } else {
            ("trials warned", "trials suspended")
        };
        text += &field(warned, &ids(&self.trials_warned));
        text += &field(suspended, &ids(&self.trials_suspended));
        text
    }
}

/// The notices of trial expiry.
#[derive(Debug, Clone, Copy)]
enum TrialNotice {
    /// `trial_expiring`: the contract will be suspended at `suspend_at` unless it is used.
    Expiring { suspend_at: Timestamp },
    /// `trial_suspended`.
    Suspended,
}

/// Records a trial notice (mailed to the contract's admins by the notice mailer). Its key names
/// the idle spell, so that a notice repeated after a crash is recognised as the same one.
async fn record_trial_notice(
    store: &Store,
    customer_id: &CustomerId,
    notice: TrialNotice,
    idle_since: Timestamp,
    at: Timestamp,
) -> anyhow::Result<()> {
    let key = format!("{}:{}", notice_kind(notice), idle_since.as_millis());
    let (kind, details) = match notice {
        TrialNotice::Expiring { suspend_at } => (
            NoticeKind::TrialExpiring,
            serde_json::json!({ "idle_since": idle_since.to_string(), "suspend_at": suspend_at.to_string() }),
        ),
        TrialNotice::Suspended => (
            NoticeKind::TrialSuspended,
            serde_json::json!({ "idle_since": idle_since.to_string() }),
        ),
    };
    store
        .record_notice(customer_id, kind, &key, details, at)
        .await?;
    Ok(())
}

fn notice_kind(notice: TrialNotice) -> &'static str {
    match notice {
        TrialNotice::Expiring { .. } => "trial_expiring",
        TrialNotice::Suspended => "trial_suspended",
    }
}

/// `hikyaku purge [--dry-run]`: one run of the lifecycle job, now.
pub async fn purge(
    args: PurgeArgs,
    store: &Store,
    config: &Config,
    json: bool,
) -> anyhow::Result<()> {
    let report = Lifecycle::new(store.clone(), config)
        .run_once(Timestamp::now(), args.dry_run)
        .await?;
    Output { json }.print(&report, || report.text())
}

/// One contract's month against its plan.
#[derive(Debug, Serialize)]
struct UsageLine {
    customer_id: CustomerId,
    month: String,
    sent: u64,
    plan: String,
    monthly_volume: Option<u64>,
    excess_units: u64,
}

/// `hikyaku usage [--contract ID] [--month YYYY-MM]`.
pub async fn usage(
    args: UsageArgs,
    store: &Store,
    config: &Config,
    json: bool,
) -> anyhow::Result<()> {
    let zone = config.contracts.usage_time_zone;
    let month = args
        .month
        .unwrap_or_else(|| UsageMonth::containing(Timestamp::now(), zone.offset_minutes()));
    let line = |contract: &Contract, sent: u64| {
        let volume = config
            .plans
            .get(&contract.plan)
            .and_then(|p| p.monthly_volume);
        UsageLine {
            customer_id: contract.customer_id.clone(),
            month: month.to_string(),
            sent,
            plan: contract.plan.clone(),
            monthly_volume: volume,
            excess_units: hikyaku_api_types::PlanUsage::excess_units(sent, volume),
        }
    };
    let lines: Vec<UsageLine> = match &args.contract {
        Some(id) => {
            let contract = require_contract(store, id).await?;
            let sent = store.usage(id, month, zone.offset_minutes()).await?;
            vec![line(&contract, sent)]
        }
        None => {
            let sent: std::collections::HashMap<CustomerId, u64> = store
                .usage_of_all(month, zone.offset_minutes())
                .await?
                .into_iter()
                .map(|u| (u.customer_id, u.sent))
                .collect();
            let mut contracts = store.contracts().await?;
            contracts.sort_by(|a, b| a.customer_id.as_str().cmp(b.customer_id.as_str()));
            contracts
                .iter()
                .map(|c| line(c, sent.get(&c.customer_id).copied().unwrap_or(0)))
                .collect()
        }
    };
    let shown = serde_json::json!({
        "month": month.to_string(),
        "time_zone": zone.to_string(),
        "usage": lines,
    });
    Output { json }.print(&shown, || {
        let mut table = Table::new(["CUSTOMER ID", "PLAN", "SENT", "VOLUME", "EXCESS (x1000)"]);
        for l in &lines {
            table.row([
                l.customer_id.to_string(),
                l.plan.clone(),
                l.sent.to_string(),
                l.monthly_volume
                    .map_or_else(|| "-".into(), |v| v.to_string()),
                l.excess_units.to_string(),
            ]);
        }
        format!(
            "usage in {month} (UTC{zone}):\n{}",
            table.render("no contracts")
        )
    })
}

/// What `contract show` adds about a contract's end: when it was terminated and when its data
/// is (or was) deleted.
#[derive(Debug, Default, Serialize)]
pub struct ContractEnd {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<Timestamp>,
    /// When the lifecycle job deletes its data (at its first run from then on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_due_at: Option<Timestamp>,
}

impl ContractEnd {
    pub async fn of(
        store: &Store,
        config: &Config,
        contract: &Contract,
    ) -> anyhow::Result<ContractEnd> {
        if contract.state != ContractState::Terminated {
            return Ok(ContractEnd::default());
        }
        let terminated_at = store.terminated_at(&contract.customer_id).await?;
        Ok(ContractEnd {
            terminated_at,
            deletion_due_at: terminated_at
                .map(|at| at.saturating_add(config.contracts.termination_grace.as_std())),
        })
    }

    pub fn text(&self) -> String {
        let mut text = String::new();
        if let Some(at) = self.terminated_at {
            text += &field("terminated", &at.to_string());
        }
        if let Some(at) = self.deletion_due_at {
            text += &field("deletion due", &format!("{at} (its data is deleted then)"));
        }
        text
    }
}

/// `contract show` of a contract whose data was deleted: its tombstone.
pub fn show_deleted(gone: &DeletedContract, out: Output) -> anyhow::Result<()> {
    let shown = serde_json::json!({
        "customer_id": gone.customer_id,
        "name": gone.name,
        "state": "deleted",
        "deleted_at": gone.deleted_at,
    });
    out.print(&shown, || {
        [
            field("customer ID", gone.customer_id.as_str()),
            field("name", &gone.name),
            field("state", "deleted"),
            field(
                "deleted",
                &format!("{} (every other record of it is gone)", gone.deleted_at),
            ),
        ]
        .concat()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    async fn store_in(dir: &Path) -> Store {
        let url = format!("sqlite://{}", dir.join("hikyaku.db").display());
        Store::connect(&url, hikyaku_store::SealingKey::generate())
            .await
            .unwrap()
    }

    /// The job's trial step with an injected clock: warned once at day 83, suspended at day 90,
    /// the change reported; a contract used meanwhile left alone.
    #[tokio::test]
    async fn the_job_warns_then_suspends_idle_trials() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path()).await;
        let idle = store.create_contract("Idle", "standard").await.unwrap();
        let used = store.create_contract("Used", "standard").await.unwrap();
        let job = Lifecycle::new(store.clone(), &Config::default());
        let day = |n: i64| Timestamp(idle.created_at.as_millis() + n * DAY_MS + 60_000);

        let report = job.run_once(day(83), true).await.unwrap();
        assert_eq!(report.trials_warned.len(), 2, "dry run: {report:?}");
        assert_eq!(
            store
                .contract(&idle.customer_id)
                .await
                .unwrap()
                .unwrap()
                .state,
            ContractState::Trial
        );
        let report = job.run_once(day(83), false).await.unwrap();
        assert_eq!(report.trials_warned.len(), 2);
        let report = job.run_once(day(84), false).await.unwrap();
        assert!(report.trials_warned.is_empty(), "warned once: {report:?}");

        store
            .note_api_use(&used.customer_id, day(85))
            .await
            .unwrap();
        let report = job.run_once(day(90), false).await.unwrap();
        assert_eq!(
            report.trials_suspended,
            std::slice::from_ref(&idle.customer_id)
        );
        assert_eq!(
            store
                .contract(&idle.customer_id)
                .await
                .unwrap()
                .unwrap()
                .state,
            ContractState::Suspended
        );
        assert_eq!(
            store
                .contract(&used.customer_id)
                .await
                .unwrap()
                .unwrap()
                .state,
            ContractState::Trial
        );
        // Each warning and the suspension is a contract notice, recorded once.
        let notices = store.list_notices(None, 50).await.unwrap();
        let mut kinds: Vec<(String, &str)> = notices
            .iter()
            .map(|n| (n.customer_id.to_string(), n.kind.as_str()))
            .collect();
        kinds.sort();
        let mut expected = vec![
            (idle.customer_id.to_string(), "trial_expiring"),
            (idle.customer_id.to_string(), "trial_suspended"),
            (used.customer_id.to_string(), "trial_expiring"),
        ];
        expected.sort();
        assert_eq!(kinds, expected);
        let off = Config::from_toml("[contracts]\ntrial_idle_days = 0\n").unwrap();
        let report = Lifecycle::new(store.clone(), &off)
            .run_once(day(400), false)
            .await
            .unwrap();
        assert!(report.trials_suspended.is_empty() && report.trials_warned.is_empty());
        store.close().await;
    }
}
