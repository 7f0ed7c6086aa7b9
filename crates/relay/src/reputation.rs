//! The reputation guard: a contract whose mail keeps bouncing hard or drawing complaints harms
//! every contract's sending IPs, so the terms let the platform stop it. Per contract, the rates
//! over its recent window (the store's hourly counters) are held against two thresholds each:
//! above a warning rate its admins are told once per episode; above a pause rate its sending
//! is paused (the relay answers `451 4.7.1`, the API `429`) until the operator resumes it.
//! Nothing triggers below a minimum volume.
//!
//! The decision is a pure function ([`assess`]); [`Guard::check`] applies it to the store, and
//! [`Guard::run`] does so every `check_interval` for the contracts that sent recently. Every
//! node may run it against a shared database: the store's transitions are conditional, so one
//! node starts an episode and one pauses.

use hikyaku_config::ReputationConfig;
use hikyaku_model::{CustomerId, NoticeKind, Timestamp};
use hikyaku_store::{ReputationFigures, ReputationWindow, Store, StoreError};
use std::time::Duration;

/// Reputation guard actions, by `action`: `warned` (an episode started), `paused`.
const GUARD_ACTIONS: &str = "hikyaku_reputation_actions_total";

/// The thresholds and the window, from `[reputation]`.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    pub window: ReputationWindow,
    pub min_messages: u64,
    pub warn_hard_bounce_rate: f64,
    pub warn_complaint_rate: f64,
    pub pause_hard_bounce_rate: f64,
    pub pause_complaint_rate: f64,
    pub check_interval: Duration,
}

impl GuardSettings {
    pub fn from_config(config: &ReputationConfig) -> GuardSettings {
        GuardSettings {
            window: ReputationWindow {
                messages: config.window_messages,
                max_age: config.window.as_std(),
            },
            min_messages: config.min_messages,
            warn_hard_bounce_rate: config.warn_hard_bounce_rate,
            warn_complaint_rate: config.warn_complaint_rate,
            pause_hard_bounce_rate: config.pause_hard_bounce_rate,
            pause_complaint_rate: config.pause_complaint_rate,
            check_interval: config.check_interval.as_std(),
        }
    }
}

/// What a contract's figures call for.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// Too few messages to judge, or every rate under its warning threshold.
    Good,
    /// A rate is above its warning threshold (why, in words).
    Warn(String),
    /// A rate is above its pause threshold (why, in words).
    Pause(String),
}

/// The standing `figures` call for under `settings`. A rate triggers when it is above its
/// threshold (equal is not above); the pause wins over the warning.
pub fn assess(figures: &ReputationFigures, settings: &GuardSettings) -> Standing {
    if figures.messages < settings.min_messages.max(1) {
        return Standing::Good;
    }
    let hard = figures.hard_bounce_rate();
    let complaints = figures.complaint_rate();
    let describe = |what: &str, rate: f64, threshold: f64| {
        format!(
            "{what} rate {rate:.2} % over the last {} messages is above {threshold} %",
            figures.messages
        )
    };
    if hard > settings.pause_hard_bounce_rate {
        return Standing::Pause(describe(
            "hard-bounce",
            hard,
            settings.pause_hard_bounce_rate,
        ));
    }
    if complaints > settings.pause_complaint_rate {
        return Standing::Pause(describe(
            "complaint",
            complaints,
            settings.pause_complaint_rate,
        ));
    }
    if hard > settings.warn_hard_bounce_rate {
        return Standing::Warn(describe(
            "hard-bounce",
            hard,
            settings.warn_hard_bounce_rate,
        ));
    }
    if complaints > settings.warn_complaint_rate {
        return Standing::Warn(describe(
            "complaint",
            complaints,
            settings.warn_complaint_rate,
        ));
    }
    Standing::Good
}

/// What one check of a contract did.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub figures: ReputationFigures,
    pub standing: Standing,
    /// This check started a warning episode (the contract's admins are to be told).
    pub warned: bool,
    /// This check paused the contract's sending.
    pub paused: bool,
}

/// The guard over one store.
#[derive(Clone)]
pub struct Guard {
    store: Store,
    settings: GuardSettings,
}

impl Guard {
    pub fn new(store: Store, settings: GuardSettings) -> Guard {
        metrics::describe_counter!(
            GUARD_ACTIONS,
            "reputation guard actions: warning episodes started and contracts paused"
        );
        for action in ["warned", "paused"] {
            metrics::counter!(GUARD_ACTIONS, "action" => action).increment(0);
        }
        Guard { store, settings }
    }

    pub fn settings(&self) -> &GuardSettings {
        &self.settings
    }

    /// Reads the contract's figures at `now` and applies what they call for: a warning
    /// episode starts (or ends, once the rates are back under the warning thresholds), the
    /// sending pauses. A paused contract stays paused whatever its figures: only the
    /// operator's resume ends a pause.
    pub async fn check(
        &self,
        customer: &CustomerId,
        now: Timestamp,
    ) -> Result<Checked, StoreError> {
        // The status before the figures: its last resume is what the writes below name, so
        // that a resume by the operator landing after this read (from another process or
        // node) makes them write nothing rather than pause again on the figures it set
        // aside. Read at all so that a contract in its usual state costs no write (on SQLite
        // every write, even one that changes nothing, waits for the single writer).
        let status = self.store.reputation_status(customer).await?;
        let figures = self
            .store
            .reputation_figures(customer, now, self.settings.window)
            .await?;
        let standing = assess(&figures, &self.settings);
        let mut checked = Checked {
            figures,
            standing: standing.clone(),
            warned: false,
            paused: false,
        };
        match &standing {
            Standing::Good => {
                if status.warned_at.is_some() && status.pause.is_none() {
                    self.store.end_reputation_warning(customer).await?;
                }
            }
            Standing::Warn(why) => {
                if status.warned_at.is_none() {
                    checked.warned = self
                        .store
                        .begin_reputation_warning(customer, now, status.resumed_at)
                        .await?;
                }
                if checked.warned {
                    tracing::warn!(%customer, reason = %why, "reputation warning");
                    metrics::counter!(GUARD_ACTIONS, "action" => "warned").increment(1);
                }
            }
            Standing::Pause(why) => {
                if status.pause.is_none() {
                    checked.paused = self
                        .store
                        .pause_sending(customer, now, why, status.resumed_at)
                        .await?;
                }
                if checked.paused {
                    checked.warned = status.warned_at.is_none();
                    tracing::warn!(%customer, reason = %why, "sending paused by the reputation guard");
                    metrics::counter!(GUARD_ACTIONS, "action" => "paused").increment(1);
                }
            }
        }
        self.notify_admins(customer, &standing, status, &checked, now)
            .await?;
        Ok(checked)
    }

    /// Records the notice of the contract's warning episode or pause (mailed to its admins by
    /// the notice mailer). Recorded from the stored state at every check, keyed by when the
    /// episode or pause began: a notice lost to a crash right after the state changed is
    /// recorded at the next check, and each episode gets one.
    async fn notify_admins(
        &self,
        customer: &CustomerId,
        standing: &Standing,
        status: hikyaku_store::ReputationStatus,
        checked: &Checked,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let status = if checked.warned || checked.paused {
            self.store.reputation_status(customer).await?
        } else {
            status
        };
        if let Some(pause) = &status.pause {
            self.store
                .record_notice(
                    customer,
                    NoticeKind::SendingPaused,
                    &pause.since.as_millis().to_string(),
                    serde_json::json!({
                        "reason": pause.reason,
                        "since": pause.since.to_string(),
                    }),
                    now,
                )
                .await?;
        } else if let (Some(warned_at), Standing::Warn(why)) = (status.warned_at, standing) {
            self.store
                .record_notice(
                    customer,
                    NoticeKind::ReputationWarning,
                    &warned_at.as_millis().to_string(),
                    serde_json::json!({
                        "reason": why,
                        "since": warned_at.to_string(),
                    }),
                    now,
                )
                .await?;
        }
        Ok(())
    }

    /// Checks, every `check_interval`, each contract with outcomes counted since the previous
    /// round (and the hour before, so that no contract falls between two rounds).
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.settings.check_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = Timestamp::now();
            let since = Timestamp(now.as_millis() - 3_600_000);
            let contracts = match self.store.reputation_active_contracts(since).await {
                Ok(contracts) => contracts,
                Err(error) => {
                    tracing::warn!(%error, "reputation guard: cannot list active contracts");
                    continue;
                }
            };
            for customer in contracts {
                if let Err(error) = self.check(&customer, now).await {
                    tracing::warn!(%customer, %error, "reputation guard: check failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GuardSettings {
        GuardSettings::from_config(&ReputationConfig::default())
    }

    fn figures(messages: u64, hard_bounces: u64, complaints: u64) -> ReputationFigures {
        ReputationFigures {
            messages,
            hard_bounces,
            complaints,
            since: None,
        }
    }

    #[test]
    fn thresholds_decide_above_the_minimum_volume() {
        let s = settings();
        let table: [(ReputationFigures, &str); 10] = [
            // Under the minimum volume nothing triggers, however bad.
            (figures(499, 499, 499), "good"),
            (figures(500, 0, 0), "good"),
            // 2 % exactly is not above 2 %.
            (figures(1000, 20, 0), "good"),
            (figures(1000, 21, 0), "warn"),
            (figures(1000, 50, 0), "warn"),
            (figures(1000, 51, 0), "pause"),
            // 0.08 % of 10,000 is 8 complaints.
            (figures(10_000, 0, 8), "good"),
            (figures(10_000, 0, 9), "warn"),
            (figures(10_000, 0, 11), "pause"),
            // The pause wins over a warning on the other rate.
            (figures(1000, 30, 2), "pause"),
        ];
        for (f, expected) in table {
            let got = match assess(&f, &s) {
                Standing::Good => "good",
                Standing::Warn(_) => "warn",
                Standing::Pause(_) => "pause",
            };
            assert_eq!(got, expected, "{f:?}");
        }
        let Standing::Pause(why) = assess(&figures(1000, 60, 0), &s) else {
            panic!()
        };
        assert!(why.contains("hard-bounce rate 6.00 %"), "{why}");
    }
}
