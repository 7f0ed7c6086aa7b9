//! `hikyaku keys`: the address-sealing keys. `keys rotate` starts a rotation (and with
//! `--wait` sees it through), `keys finish` drives a running one to its end where no node
//! runs, `keys status` shows the keys and the rotation's progress. The re-sealing itself is
//! the store's (`Store::reseal_step`); a running `serve` does it in the background.

use crate::admin::{Output, Table};
use hikyaku_config::Config;
use hikyaku_model::Timestamp;
use hikyaku_store::{KeyStatus, RotationSettings, RotationStep, Store};
use serde_json::json;
use std::io::IsTerminal;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Make a new address-sealing key and re-seal every stored address under it in the
    /// background (a running `serve` node does it); the old key is destroyed at the end. The
    /// new key seals from keys.activation_delay on, once every node has loaded it.
    Rotate {
        /// Wait for the rotation to finish, re-sealing here if no node does, with progress.
        #[arg(long)]
        wait: bool,
    },
    /// See a running rotation through from here (when no `serve` node runs), with progress.
    Finish,
    /// The keys (which one seals, which ones still open) and the rotation's progress per table.
    Status,
}

/// The job's settings from `[keys]`, for a process named `owner`.
pub fn rotation_settings(config: &Config, owner: String) -> RotationSettings {
    let k = &config.keys;
    RotationSettings {
        owner,
        batch_size: k.batch_size,
        batch_pause: k.batch_pause.as_std(),
        lease: k.lease.as_std(),
        refresh_interval: k.refresh_interval.as_std(),
    }
}

pub async fn run(
    cmd: KeysCommand,
    store: &Store,
    config: &Config,
    json: bool,
) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        KeysCommand::Rotate { wait } => {
            let started = store
                .start_key_rotation(config.keys.activation_delay.as_std())
                .await?;
            if !wait {
                return out.print(
                    &json!({
                        "key": started.key,
                        "activates_at": started.active_from.as_millis(),
                        "finished_at": null,
                    }),
                    || {
                        format!(
                            "key {} made; it seals from {} on. A running `hikyaku serve` node \
                             re-seals every stored value under it in the background (`hikyaku \
                             keys status` shows how far); without one, run `hikyaku keys finish`.\n",
                            started.key, started.active_from
                        )
                    },
                );
            }
            if !json {
                eprintln!(
                    "key {} made; it seals from {} on (keys.activation_delay: every node loads it first)",
                    started.key, started.active_from
                );
            }
            finish(store, config, out).await
        }
        KeysCommand::Finish => finish(store, config, out).await,
        KeysCommand::Status => {
            let status = store.key_status(true).await?;
            out.print(&status_json(&status), || status_text(&status))
        }
    }
}

/// Drives the running rotation to its end, re-sealing here whenever this process holds the
/// lease, and waiting while another node does.
async fn finish(store: &Store, config: &Config, out: Output) -> anyhow::Result<()> {
    let owner = format!("cli-{}-{}", hostname(), std::process::id());
    let settings = rotation_settings(config, owner);
    let before = store.key_status(true).await?;
    let Some(rotation) = before.rotation.as_ref().filter(|r| r.finished_at.is_none()) else {
        anyhow::bail!("no key rotation is running (hikyaku keys rotate starts one)");
    };
    let key = rotation.key;
    let left: u64 = rotation.tables.iter().filter_map(|t| t.left).sum();
    let bar = if std::io::stderr().is_terminal() && !out.json {
        let bar = indicatif::ProgressBar::new(left.max(1));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} values re-sealed {msg} ({elapsed}, {eta} left)",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let start_count = rotation.resealed;
    loop {
        let step = store.reseal_step(&settings).await?;
        let pause = match &step {
            RotationStep::Idle => break,
            RotationStep::Finished { .. } => break,
            RotationStep::Waiting { until } => {
                bar.set_message(format!("(key {key} seals from {until} on)"));
                Duration::from_millis(
                    u64::try_from(until.as_millis() - Timestamp::now().as_millis()).unwrap_or(0),
                )
                .clamp(Duration::from_millis(50), Duration::from_secs(1))
            }
            RotationStep::Busy { owner, .. } => {
                bar.set_message(format!("(by {owner})"));
                Duration::from_secs(1)
            }
            RotationStep::Batch { table, pass, .. } => {
                bar.set_message(format!("({table}, pass {pass})"));
                settings.batch_pause
            }
            RotationStep::PassDone { .. } => settings.batch_pause,
        };
        if let Ok(status) = store.key_status(false).await
            && let Some(r) = status.rotation
        {
            bar.set_position(r.resealed.saturating_sub(start_count).min(left.max(1)));
        }
        tokio::time::sleep(pause).await;
    }
    bar.finish_and_clear();
    let status = store.key_status(false).await?;
    let rotation = status.rotation.as_ref();
    let finished_at = rotation.and_then(|r| r.finished_at);
    let retired: Vec<u32> = status
        .keys
        .iter()
        .filter(|k| k.retired_at.is_some() && k.retired_at == finished_at)
        .map(|k| k.id)
        .collect();
    out.print(
        &json!({
            "key": key,
            "finished_at": finished_at.map(|t| t.as_millis()),
            "resealed": rotation.map_or(0, |r| r.resealed),
            "retired": retired,
        }),
        || {
            format!(
                "key rotation finished: key {key} seals everything ({} values re-sealed); \
                 retired and destroyed: {}\n",
                rotation.map_or(0, |r| r.resealed),
                retired
                    .iter()
                    .map(|k| format!("key {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    )
}

fn status_json(status: &KeyStatus) -> serde_json::Value {
    json!({
        "keys": status.keys.iter().map(|k| json!({
            "id": k.id,
            "state": k.state.as_str(),
            "created_at": k.created_at.map(|t| t.as_millis()),
            "activates_at": (k.id != 0).then_some(k.active_from.as_millis()),
            "retired_at": k.retired_at.map(|t| t.as_millis()),
        })).collect::<Vec<_>>(),
        "rotation": status.rotation.as_ref().map(|r| json!({
            "key": r.key,
            "pass": r.pass,
            "started_at": r.started_at.map(|t| t.as_millis()),
            "finished_at": r.finished_at.map(|t| t.as_millis()),
            "resealed": r.resealed,
            "lease_owner": r.lease_owner,
            "lease_until_at": r.lease_until.map(|t| t.as_millis()),
            "tables": r.tables.iter().map(|t| json!({
                "table": t.table,
                "finished_pass": t.finished_pass,
                "resealed": t.resealed,
                "left": t.left,
            })).collect::<Vec<_>>(),
        })),
    })
}

fn status_text(status: &KeyStatus) -> String {
    let mut keys = Table::new(["KEY", "STATE", "CREATED", "SEALS FROM", "RETIRED"]);
    for k in &status.keys {
        keys.row([
            k.id.to_string(),
            k.state.as_str().to_string(),
            k.created_at
                .map_or_else(|| "(from the key file)".to_string(), |t| t.to_string()),
            if k.id == 0 {
                "-".to_string()
            } else {
                k.active_from.to_string()
            },
            k.retired_at.map_or_else(String::new, |t| t.to_string()),
        ]);
    }
    let mut text = keys.render("no keys");
    match &status.rotation {
        None => text += "\nno rotation yet\n",
        Some(r) => {
            let state = match (r.finished_at, &r.lease_owner) {
                (Some(at), _) => format!("finished {at}"),
                (None, Some(owner)) => format!("running (pass {}, by {owner})", r.pass),
                (None, None) => format!(
                    "waiting for a node (pass {}; `hikyaku keys finish` runs it here)",
                    r.pass
                ),
            };
            text += &format!(
                "\nrotation to key {}: {state}; {} values re-sealed\n",
                r.key, r.resealed
            );
            let mut tables = Table::new(["TABLE", "RE-SEALED", "LEFT"]);
            for t in &r.tables {
                tables.row([
                    t.table.to_string(),
                    t.resealed.to_string(),
                    t.left.map_or_else(|| "?".to_string(), |n| n.to_string()),
                ]);
            }
            text += &tables.render("no tables");
        }
    }
    text
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}
