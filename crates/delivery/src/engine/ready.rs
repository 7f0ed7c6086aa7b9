//! The ready queues: one per destination group (a rule, or one site), each enforcing its
//! group's connection limit, messages per connection, rate and back-off across every
//! connection of this node, and the connections' side of it (taking jobs, going idle, ending).

use super::{Core, IDLE_CONNECTION, Shared, run::run_connection};
use crate::rules::{GroupKey, Limits};
use crate::throttle::{Backoff, RateLimiter};
use crate::transport::SiteTarget;
use hikyaku_model::MessageId;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// The recipients of one message at one domain, ready to go to one site.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) message: MessageId,
    pub(super) recipients: Vec<u32>,
    pub(super) site: Arc<SiteTarget>,
}

pub(super) struct Group {
    /// The group's label on metrics (see `metrics::destination`).
    pub(super) label: String,
    pub(super) limits: Limits,
    pub(super) jobs: VecDeque<Job>,
    pub(super) connections: usize,
    idle: usize,
    rate: Option<RateLimiter>,
    pub(super) backoff: Backoff,
    pub(super) more_work: Arc<Notify>,
}

impl Shared {
    pub(super) fn enqueue(self: &Arc<Self>, domain: &str, job: Job) {
        let mx_hosts: Vec<&str> = job.site.hosts.iter().map(|h| h.name.as_str()).collect();
        let (key, limits) = self
            .settings
            .rules
            .classify(domain, &mx_hosts, &job.site.id);
        let now = self.clock.instant();
        let mut core = self.core.lock().unwrap();
        let group = core.groups.entry(key.clone()).or_insert_with(|| Group {
            label: self.settings.rules.label(&key).to_string(),
            rate: limits.max_rate.map(|r| RateLimiter::new(r, now)),
            limits: limits.clone(),
            jobs: VecDeque::new(),
            connections: 0,
            idle: 0,
            backoff: Backoff::default(),
            more_work: Arc::new(Notify::new()),
        });
        group.jobs.push_back(job);
        tracing::debug!(group = ?key, jobs = group.jobs.len(), connections = group.connections, idle = group.idle, "job ready");
        group.more_work.notify_one();
        self.start_connections(&mut core, &key);
    }

    /// Opens connections for a group while it has more jobs than idle connections, within its
    /// limit and outside back-off. Called with the core locked.
    pub(super) fn start_connections(self: &Arc<Self>, core: &mut Core, key: &GroupKey) {
        if core.stopping {
            return;
        }
        let Some(group) = core.groups.get_mut(key) else {
            return;
        };
        if group.backoff.blocked_until(self.clock.instant()).is_some() {
            return;
        }
        while group.connections < group.limits.max_connections && group.jobs.len() > group.idle {
            let Some(site) = group.jobs.front().map(|j| Arc::clone(&j.site)) else {
                break;
            };
            group.connections += 1;
            group.idle += 1;
            let shared = Arc::clone(self);
            let key = key.clone();
            self.workers
                .lock()
                .unwrap()
                .spawn(async move { run_connection(shared, key, site).await });
        }
    }

    /// Takes the next job for a connection to `site`, waiting up to [`IDLE_CONNECTION`].
    pub(super) async fn next_job(&self, key: &GroupKey, site: &SiteTarget) -> Option<Job> {
        let mut idle_ends = self
            .clock
            .sleep_until(self.clock.instant() + IDLE_CONNECTION);
        loop {
            let notify = {
                let mut core = self.core.lock().unwrap();
                if core.stopping {
                    return None;
                }
                let group = core.groups.get_mut(key)?;
                if let Some(position) = group.jobs.iter().position(|j| j.site.id == site.id) {
                    group.idle = group.idle.saturating_sub(1);
                    return group.jobs.remove(position);
                }
                Arc::clone(&group.more_work)
            };
            tokio::select! {
                () = notify.notified() => {}
                () = &mut idle_ends => return None,
            }
        }
    }

    /// Waits for the group's rate limit to allow one message.
    pub(super) async fn rate_permit(&self, key: &GroupKey) {
        loop {
            let wait = {
                let mut core = self.core.lock().unwrap();
                let Some(group) = core.groups.get_mut(key) else {
                    return;
                };
                match group
                    .rate
                    .as_mut()
                    .map(|r| r.try_take(self.clock.instant()))
                {
                    None | Some(Ok(())) => return,
                    Some(Err(wait)) => wait,
                }
            };
            self.clock.sleep_until(self.clock.instant() + wait).await;
        }
    }

    /// A connection finished a job and waits for the next.
    pub(super) fn mark_idle(&self, key: &GroupKey) {
        if let Some(group) = self.core.lock().unwrap().groups.get_mut(key) {
            group.idle += 1;
        }
    }

    pub(super) fn connection_ended(self: &Arc<Self>, key: &GroupKey, was_idle: bool) {
        let mut core = self.core.lock().unwrap();
        if let Some(group) = core.groups.get_mut(key) {
            group.connections = group.connections.saturating_sub(1);
            if was_idle {
                group.idle = group.idle.saturating_sub(1);
            }
        }
        self.start_connections(&mut core, key);
        self.forget_when_spent(&mut core, key);
    }

    /// Forgets a group with no connection and no job once that loses nothing: its back-off
    /// over and its rate bucket full again. Forgotten earlier, the next job would start a
    /// fresh group, free of the pause the destination asked for and with a full bucket. Until
    /// then, looks again when that will be. Called with the core locked.
    pub(super) fn forget_when_spent(self: &Arc<Self>, core: &mut Core, key: &GroupKey) {
        let now = self.clock.instant();
        let Some(group) = core.groups.get(key) else {
            return;
        };
        if group.connections > 0 || !group.jobs.is_empty() {
            return;
        }
        let busy_until = [
            group.backoff.blocked_until(now),
            group.rate.as_ref().and_then(|rate| rate.full_at(now)),
        ]
        .into_iter()
        .flatten()
        .max();
        match busy_until {
            Some(until) => self.at(until, key, Shared::forget_when_spent),
            None => {
                core.groups.remove(key);
            }
        }
    }

    /// Calls `then` for the group, with the core locked, once the clock reaches `until`.
    fn at(
        self: &Arc<Self>,
        until: Instant,
        key: &GroupKey,
        then: fn(&Arc<Shared>, &mut Core, &GroupKey),
    ) {
        let shared = Arc::clone(self);
        let key = key.clone();
        let due = self.clock.sleep_until(until);
        tokio::spawn(async move {
            due.await;
            let mut core = shared.core.lock().unwrap();
            then(&shared, &mut core, &key);
        });
    }

    /// The destination asked us to slow down: pause new connections to the whole group.
    pub(super) fn throttle(self: &Arc<Self>, key: &GroupKey) {
        let mut core = self.core.lock().unwrap();
        if let Some(group) = core.groups.get_mut(key) {
            let base = group.limits.backoff;
            let now = self.clock.instant();
            group.backoff.throttled(now, base);
            let pause = group
                .backoff
                .blocked_until(now)
                .map(|until| until.duration_since(now));
            tracing::info!(destination = %group.label, group = ?key, ?pause, "destination backing off");
        }
        let until = core
            .groups
            .get(key)
            .and_then(|g| g.backoff.blocked_until(self.clock.instant()));
        drop(core);
        // Resume by itself when the pause ends.
        if let Some(until) = until {
            self.at(until, key, Shared::start_connections);
        }
    }

    /// Every job of this site in the group, taken out (the site cannot be reached now).
    pub(super) fn take_site_jobs(&self, key: &GroupKey, site: &SiteTarget) -> Vec<Job> {
        let mut core = self.core.lock().unwrap();
        let Some(group) = core.groups.get_mut(key) else {
            return Vec::new();
        };
        let (mine, others): (VecDeque<Job>, VecDeque<Job>) =
            group.jobs.drain(..).partition(|j| j.site.id == site.id);
        group.jobs = others;
        mine.into()
    }
}
