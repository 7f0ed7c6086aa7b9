//! The monitor's loop: every interval, probe each target, record the minute in the store, and
//! announce the outages the record shows. Any number of monitors may run against one store
//! (every `serve` node probes itself; `hikyaku monitor` probes from outside): they share the
//! minutes, and an outage's notice is recorded once whoever finds it first.
//!
//! The clock is injected ([`Clock`]) so that a test can let a minute pass per probe; the loop's
//! own pace is real time, aligned to the interval so that a 60-second interval probes once in
//! every minute.

use crate::probe::{Probe, Target, probe};
use crate::sla::{self, MaintenanceWindow, Observations, minute_of, minute_start};
use hikyaku_model::Timestamp;
use hikyaku_store::{OutageAnnouncement, OutageNotice, Store, StoreError, UsageMonth};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// What the monitor takes as "now".
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// How far back each round looks for outages to announce; an older start is found through
/// the last answered minute before it.
const LOOKBACK_MINUTES: i64 = 2 * 1440;

/// How the monitor runs.
#[derive(Debug, Clone)]
pub struct MonitorSettings {
    /// Time between probes (60 seconds: one probe in every minute).
    pub interval: Duration,
    /// Limit on each probe's HTTP and SMTP exchange.
    pub timeout: Duration,
    /// Who probes (this node's name), recorded beside each minute.
    pub probed_by: String,
    /// Outages shorter than this (whole minutes) count in the month but are not announced.
    pub announce_after: Duration,
}

/// Probes targets and records what it finds.
#[derive(Clone)]
pub struct Monitor {
    store: Store,
    targets: Vec<Target>,
    settings: MonitorSettings,
    clock: Clock,
}

impl Monitor {
    pub fn new(store: Store, targets: Vec<Target>, settings: MonitorSettings) -> Monitor {
        Monitor {
            store,
            targets,
            settings,
            clock: Arc::new(Timestamp::now),
        }
    }

    /// The same monitor with another clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Monitor {
        self.clock = clock;
        self
    }

    /// Probes every target once and records the minute it is in; returns what each showed.
    pub async fn probe_once(&self) -> Result<Vec<(String, Probe)>, StoreError> {
        let minute = minute_of((self.clock)());
        // All at once: a minute holds a probe of every target even when several time out.
        let mut probes = tokio::task::JoinSet::new();
        for (i, target) in self.targets.iter().cloned().enumerate() {
            let timeout = self.settings.timeout;
            probes.spawn(async move { (i, target.name.clone(), probe(&target, timeout).await) });
        }
        let mut results: Vec<(usize, String, Probe)> = probes.join_all().await;
        results.sort_by_key(|(i, _, _)| *i);
        let results: Vec<(String, Probe)> =
            results.into_iter().map(|(_, name, p)| (name, p)).collect();
        for (name, p) in &results {
            self.store
                .record_monitor_minute(minute, name, p.http_up, p.smtp_up, &self.settings.probed_by)
                .await?;
        }
        Ok(results)
    }

    /// Announces to every contract each outage of the last two days (an outage that began
    /// earlier is announced with its true start) that has lasted `announce_after`: once it has
    /// gone on that long, that it began and goes on; once it is over, that it is resolved; and
    /// an outage first seen when it was already over (every node was down, and so was every
    /// monitor), both in one notice. The store records each once, so this may run on every
    /// monitor after every probe. Returns the announcements that were new.
    pub async fn announce_outages(
        &self,
    ) -> Result<Vec<(OutageNotice, OutageAnnouncement)>, StoreError> {
        let now = (self.clock)();
        let Some(since) = self.store.monitoring_since().await? else {
            return Ok(Vec::new());
        };
        let to = minute_of(now);
        let from = (to - LOOKBACK_MINUTES).max(since);
        // The minute under way too: a node that answers in it ends an outage not yet settled.
        let answered: BTreeSet<i64> = self
            .store
            .answered_minutes(from, to + 1)
            .await?
            .into_iter()
            .collect();
        let maintenance = maintenance_windows(&self.store, minute_start(from)).await?;
        let seen = sla::availability(&Observations {
            from: minute_start(from),
            to: minute_start(to),
            now,
            monitoring_since: Some(since),
            answered: &answered,
            maintenance: &maintenance,
        });
        let announce_after_minutes =
            i64::try_from(self.settings.announce_after.as_secs().div_ceil(60)).unwrap_or(i64::MAX);
        let mut announced = Vec::new();
        for outage in &seen.outages {
            let end = minute_of(outage.ends_at);
            if outage.ongoing && answered.range(end..).next().is_some() {
                // Over, but its end is not settled: announced next minute, start and end at
                // once, rather than "it goes on" a minute after it stopped.
                continue;
            }
            let mut start = minute_of(outage.starts_at);
            if start == from && from > since {
                // Cut off by the look-back: it began after the last minute anything answered.
                let last = self.store.last_answered_minute_before(from).await?;
                start = last.map_or(since, |m| m + 1).max(since);
            }
            let notice = OutageNotice {
                starts_at: minute_start(start),
                ends_at: (!outage.ongoing).then_some(outage.ends_at),
                minutes: end - start,
            };
            if notice.minutes < announce_after_minutes {
                continue;
            }
            let Some(what) = self.store.announce_outage(&notice, now).await? else {
                continue;
            };
            match notice.ends_at {
                None => tracing::warn!(starts_at = %notice.starts_at, minutes = notice.minutes,
                    "outage: no node answers; every contract is told it goes on"),
                Some(ends_at) => tracing::warn!(starts_at = %notice.starts_at, %ends_at,
                    minutes = notice.minutes, ?what, "outage over; every contract is told"),
            }
            announced.push((notice, what));
        }
        Ok(announced)
    }

    /// Probes and announces every interval until `stop`. Never fails: a round the database
    /// refuses is logged, and the next one tries again.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            match self.probe_once().await {
                Ok(results) => {
                    for (name, p) in results.iter().filter(|(_, p)| !p.up()) {
                        tracing::warn!(target = %name, http = p.http_up, smtp = p.smtp_up,
                            "the monitor's probe found a target not answering");
                    }
                }
                Err(error) => tracing::warn!(%error, "the monitor's minute was not recorded"),
            }
            if let Err(error) = self.announce_outages().await {
                tracing::warn!(%error, "the monitor could not look for outages");
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(until_next_round(self.settings.interval)) => {}
            }
        }
    }
}

/// Every maintenance that ends after `from`, as the arithmetic takes it.
pub async fn maintenance_windows(
    store: &Store,
    from: Timestamp,
) -> Result<Vec<MaintenanceWindow>, StoreError> {
    Ok(store
        .maintenance_notices(Some(from), 10_000)
        .await?
        .into_iter()
        .map(|m| MaintenanceWindow {
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            announced_at: m.created_at,
        })
        .collect())
}

/// Real time to the next multiple of `interval` plus a twentieth of it (3 seconds into each
/// minute at 60 s): probes start in a minute, not at its edge, so a late timer never moves one
/// into the next minute and leaves a minute without a probe.
fn until_next_round(interval: Duration) -> Duration {
    let period = interval.as_millis().max(1) as i64;
    let now = Timestamp::now().as_millis();
    let next = (now.div_euclid(period) + 1) * period + period / 20;
    Duration::from_millis((next - now).max(1) as u64)
}

/// The availability of a calendar month in the zone `offset_minutes` east of UTC
/// (`contracts.usage_time_zone`), the month containing `now` when `month` is `None`, with the
/// month it is of. The CLI and the API both ask this, so they cannot count a different month.
pub async fn measure_month(
    store: &Store,
    month: Option<UsageMonth>,
    offset_minutes: i32,
    now: Timestamp,
) -> Result<(UsageMonth, sla::Availability), StoreError> {
    let month = month.unwrap_or_else(|| UsageMonth::containing(now, offset_minutes));
    let (from, to) = month.range(offset_minutes);
    Ok((month, measure(store, from, to, now).await?))
}

/// The availability of `[from, to)` (a month) from what the monitors recorded, at `now`:
/// what the CLI and the API show.
pub async fn measure(
    store: &Store,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Result<sla::Availability, StoreError> {
    let answered: BTreeSet<i64> = store
        .answered_minutes(minute_of(from), minute_of(to))
        .await?
        .into_iter()
        .collect();
    let maintenance = maintenance_windows(store, from).await?;
    Ok(sla::availability(&Observations {
        from,
        to,
        now,
        monitoring_since: store.monitoring_since().await?,
        answered: &answered,
        maintenance: &maintenance,
    }))
}
