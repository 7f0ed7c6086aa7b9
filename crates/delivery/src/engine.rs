//! The engine: scheduled queue → per-destination ready queues → connections → outcomes.
//!
//! Two tiers, as in KumoMTA: the [`Schedule`] holds when each (message, domain) is next due;
//! when it is, the domain is resolved and the work becomes a [`Job`] in the ready queue of its
//! destination group (a rule, or one site = set of MX hosts), which enforces the group's
//! connection limit, messages per connection, rate and back-off across every connection of this
//! node. Connection workers take jobs of their site until the queue is empty, the per-connection
//! limit is reached, or the destination says stop. Every attempt's outcome goes to the store in
//! group-committed batches; a message whose recipients are all final leaves the spool.

use crate::classify::{Refusal, reason, recipient_state};
use crate::client::{EnhancedStatus, Reply};
use crate::rules::{GroupKey, Limits, Rules};
use crate::schedule::{Due, Schedule, next_attempt};
use crate::throttle::{Backoff, RateLimiter};
use crate::transport::{Attempt, Connection, SiteTarget, Transport};
use bytes::Bytes;
use hikyaku_model::{
    EventKind, MessageId, RecipientState, SendLogFields, Timestamp, VerpAddress, VerpKey,
    VerpRecipient,
};
use hikyaku_spool::{RecordedMessage, Spool, SpoolError, SpooledMessage};
use hikyaku_store::{Outcome as StoreOutcome, QueueAction, RecipientOutcome, Store};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

/// How long a connection with nothing to do stays open for more work.
const IDLE_CONNECTION: Duration = Duration::from_secs(5);
/// The most outcomes written in one database transaction.
const MAX_OUTCOME_BATCH: usize = 512;
/// Bytes of new messages kept in memory for their first attempt (beyond it, and for every
/// retry, the spool file is read).
const BODY_CACHE_BYTES: usize = 64 << 20;

/// Everything the engine is told at start.
pub struct EngineSettings {
    pub node: String,
    pub lifetime: Duration,
    pub retry_intervals: Vec<Duration>,
    pub rules: Rules,
    /// VERP return paths on this domain; without it the original envelope sender is kept.
    pub bounce_domain: Option<String>,
    pub verp_key: VerpKey,
    /// No attempt starts while this many outcomes wait for the database (see
    /// `delivery.max_unrecorded_outcomes`).
    pub max_unrecorded_outcomes: usize,
}

/// A running delivery engine.
pub struct Engine {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
    recorder: tokio::task::JoinHandle<()>,
}

struct Shared {
    settings: EngineSettings,
    store: Store,
    spool: Spool,
    transport: Transport,
    core: Mutex<Core>,
    /// Wakes the scheduler: new work, or shutdown.
    wake: Notify,
    /// To the recorder; taken at shutdown once nothing else can produce an outcome, so the
    /// recorder ends after committing the last of them.
    outcomes: Mutex<Option<mpsc::UnboundedSender<RecipientOutcome>>>,
    /// Outcomes sent to the recorder and not yet committed.
    unrecorded: AtomicUsize,
    /// Signalled by the recorder after each commit.
    recorded: Notify,
    workers: Mutex<JoinSet<()>>,
}

#[derive(Default)]
struct Core {
    messages: HashMap<MessageId, MessageEntry>,
    schedule: Schedule,
    groups: HashMap<GroupKey, Group>,
    stopping: bool,
    /// Sum of the `body` lengths held by `messages`.
    cached_body_bytes: usize,
}

impl Core {
    fn forget_message(&mut self, id: &MessageId) {
        if let Some(entry) = self.messages.remove(id) {
            self.cached_body_bytes -= entry.body.map_or(0, |b| b.len());
        }
    }

    fn drop_body(&mut self, id: &MessageId) {
        if let Some(body) = self.messages.get_mut(id).and_then(|e| e.body.take()) {
            self.cached_body_bytes -= body.len();
        }
    }
}

struct MessageEntry {
    mail_from: String,
    received_at: Timestamp,
    recipients: Vec<RecipientEntry>,
    /// The message bytes, while they are in memory (see [`BODY_CACHE_BYTES`]).
    body: Option<Bytes>,
}

struct RecipientEntry {
    address: String,
    attempts: u32,
    last_reply: Option<String>,
    done: bool,
}

/// The recipients of one message at one domain, ready to go to one site.
#[derive(Debug, Clone)]
struct Job {
    message: MessageId,
    recipients: Vec<u32>,
    site: Arc<SiteTarget>,
}

struct Group {
    limits: Limits,
    jobs: VecDeque<Job>,
    connections: usize,
    idle: usize,
    rate: Option<RateLimiter>,
    backoff: Backoff,
    more_work: Arc<Notify>,
}

impl Engine {
    /// Loads this node's unfinished work from the store and starts delivering.
    pub async fn start(
        settings: EngineSettings,
        store: Store,
        spool: Spool,
        transport: Transport,
        mut accepted: mpsc::UnboundedReceiver<RecordedMessage>,
    ) -> Result<Engine, hikyaku_store::StoreError> {
        let mut pending = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .pending_messages(&settings.node, after, 10_000)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            pending.extend(page);
        }
        let pending_ids: HashSet<MessageId> = pending.iter().map(|m| m.id).collect();
        remove_finished_files(&store, &spool, &pending_ids).await;
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            settings,
            store,
            spool,
            transport,
            core: Mutex::new(Core::default()),
            wake: Notify::new(),
            outcomes: Mutex::new(Some(outcomes_tx)),
            unrecorded: AtomicUsize::new(0),
            recorded: Notify::new(),
            workers: Mutex::new(JoinSet::new()),
        });
        {
            let mut core = shared.core.lock().unwrap();
            let now = Timestamp::now();
            for message in pending {
                let slots = message
                    .recipients
                    .iter()
                    .map(|r| r.index as usize + 1)
                    .max()
                    .unwrap_or(0);
                let mut recipients: Vec<RecipientEntry> = (0..slots)
                    .map(|_| RecipientEntry {
                        address: String::new(),
                        attempts: 0,
                        last_reply: None,
                        done: true,
                    })
                    .collect();
                let mut by_domain: HashMap<String, (Timestamp, Vec<u32>)> = HashMap::new();
                for r in &message.recipients {
                    recipients[r.index as usize] = RecipientEntry {
                        address: r.address.clone(),
                        attempts: r.attempts,
                        last_reply: None,
                        done: false,
                    };
                    let slot = by_domain
                        .entry(domain_of(&r.address))
                        .or_insert((r.next_attempt_at, Vec::new()));
                    slot.0 = slot.0.min(r.next_attempt_at);
                    slot.1.push(r.index);
                }
                for (domain, (at, indexes)) in by_domain {
                    core.schedule.push(Due {
                        at: at.min(now),
                        message: message.id,
                        domain,
                        recipients: indexes,
                    });
                }
                core.messages.insert(
                    message.id,
                    MessageEntry {
                        mail_from: message.mail_from,
                        received_at: message.received_at,
                        recipients,
                        body: None,
                    },
                );
            }
            tracing::info!(
                messages = core.messages.len(),
                due_groups = core.schedule.len(),
                "delivery queue loaded"
            );
        }
        let mut tasks = JoinSet::new();
        tasks.spawn(run_scheduler(Arc::clone(&shared)));
        tasks.spawn(run_operator_commands(Arc::clone(&shared)));
        let intake = Arc::clone(&shared);
        tasks.spawn(async move {
            while let Some(message) = accepted.recv().await {
                intake.add_message(message);
            }
        });
        let recorder = tokio::spawn(run_recorder(Arc::clone(&shared), outcomes_rx));
        Ok(Engine {
            shared,
            tasks,
            recorder,
        })
    }

    /// Stops taking new work, lets connections finish the transaction they are in (bounded by
    /// `patience`), and records every outcome before returning.
    pub async fn shutdown(mut self, patience: Duration) {
        self.shared.core.lock().unwrap().stopping = true;
        self.shared.wake.notify_one();
        for group in self.shared.core.lock().unwrap().groups.values() {
            group.more_work.notify_waiters();
        }
        let mut workers = std::mem::take(&mut *self.shared.workers.lock().unwrap());
        let drained = tokio::time::timeout(patience, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("connections still busy at shutdown; their recipients stay queued");
            workers.abort_all();
        }
        // Nothing else produces outcomes once the scheduler, the intake and the operator
        // commands are stopped too; closing the channel then lets the recorder commit what it
        // holds and end. A graceful stop loses no outcome: only a crash may send twice.
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.shared.outcomes.lock().unwrap().take();
        if tokio::time::timeout(patience, &mut self.recorder)
            .await
            .is_err()
        {
            let unrecorded = self.shared.unrecorded.load(Ordering::SeqCst);
            tracing::error!(
                unrecorded,
                "the database did not take the last delivery outcomes; those recipients will be sent again"
            );
            self.recorder.abort();
        }
    }

    /// Messages in memory, for tests and metrics.
    pub fn queued_messages(&self) -> usize {
        self.shared.core.lock().unwrap().messages.len()
    }
}

/// Removes the spool files of messages the store holds as done. A finished message's file is
/// unlinked after its outcome's commit, without an fsync, so a crash between the two, or one
/// that undoes the unlink, leaves the file of a message nobody will send again. Only messages
/// whose every recipient is final go: one recorded since `pending` was read has queued
/// recipients, and one the store does not know is the intake's to reconcile.
async fn remove_finished_files(store: &Store, spool: &Spool, pending: &HashSet<MessageId>) {
    let spooled = match spool.list().await {
        Ok(ids) => ids,
        Err(error) => {
            tracing::warn!(%error, "cannot list the spool to remove finished messages");
            return;
        }
    };
    let mut removed = 0;
    for id in spooled.into_iter().filter(|id| !pending.contains(id)) {
        match store.queued_message(id).await {
            Ok(Some(message)) if message.recipients.iter().all(|r| r.state.is_final()) => {
                match spool.remove(id).await {
                    Ok(()) => removed += 1,
                    Err(error) => {
                        tracing::warn!(message = %id, %error, "cannot remove a finished message from the spool");
                    }
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(message = %id, %error, "cannot tell whether a spooled message is finished");
            }
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            "removed the spool files of messages finished before the last stop"
        );
    }
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl Shared {
    /// Schedules a newly recorded message. Its suppressed recipients are final in the store
    /// already: they are marked done and never attempted.
    fn add_message(&self, recorded: RecordedMessage) {
        let RecordedMessage {
            message: SpooledMessage { meta, body },
            suppressed,
        } = recorded;
        let now = Timestamp::now();
        let mut by_domain: HashMap<String, Vec<u32>> = HashMap::new();
        for (index, address) in meta.envelope.recipients.iter().enumerate() {
            if suppressed.binary_search(&(index as u32)).is_ok() {
                continue;
            }
            by_domain
                .entry(domain_of(address))
                .or_default()
                .push(index as u32);
        }
        if by_domain.is_empty() {
            // Nothing to send: no outcome would ever complete it here.
            return;
        }
        let mut core = self.core.lock().unwrap();
        let body = (core.cached_body_bytes + body.len() <= BODY_CACHE_BYTES).then_some(body);
        core.cached_body_bytes += body.as_ref().map_or(0, |b| b.len());
        core.messages.insert(
            meta.id,
            MessageEntry {
                mail_from: meta.envelope.mail_from,
                received_at: meta.received_at,
                recipients: meta
                    .envelope
                    .recipients
                    .into_iter()
                    .enumerate()
                    .map(|(index, address)| RecipientEntry {
                        address,
                        attempts: 0,
                        last_reply: None,
                        done: suppressed.binary_search(&(index as u32)).is_ok(),
                    })
                    .collect(),
                body,
            },
        );
        for (domain, recipients) in by_domain {
            core.schedule.push(Due {
                at: now,
                message: meta.id,
                domain,
                recipients,
            });
        }
        drop(core);
        self.wake.notify_one();
    }

    /// The envelope sender on the wire: a VERP address when a bounce domain is configured.
    fn return_path(&self, message: MessageId, recipients: &[u32], original: &str) -> String {
        match &self.settings.bounce_domain {
            Some(domain) => {
                let recipient = match recipients {
                    [only] => VerpRecipient::Index(*only),
                    _ => VerpRecipient::Message,
                };
                self.settings
                    .verp_key
                    .encode(VerpAddress { message, recipient }, domain)
            }
            None => original.to_string(),
        }
    }

    /// Hands an outcome to the recorder.
    fn record(&self, outcome: RecipientOutcome) {
        self.unrecorded.fetch_add(1, Ordering::SeqCst);
        let sent = match &*self.outcomes.lock().unwrap() {
            Some(recorder) => recorder.send(outcome).is_ok(),
            None => false,
        };
        if !sent {
            self.unrecorded.fetch_sub(1, Ordering::SeqCst);
            tracing::error!("a delivery outcome came after the recorder stopped; it is not recorded");
        }
    }

    /// Waits while too many outcomes wait for the database: an attempt made now could not be
    /// recorded either, and a crash would send it again.
    async fn room_for_outcomes(&self) {
        let mut warned = false;
        loop {
            let recorded = self.recorded.notified();
            if self.unrecorded.load(Ordering::SeqCst) < self.settings.max_unrecorded_outcomes
                || self.core.lock().unwrap().stopping
            {
                return;
            }
            if !warned {
                tracing::warn!(
                    limit = self.settings.max_unrecorded_outcomes,
                    "delivery paused: outcomes are waiting for the database"
                );
                warned = true;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), recorded).await;
        }
    }

    /// Records results for recipients of one message and reschedules the deferred ones.
    fn conclude(
        &self,
        message: MessageId,
        results: Vec<(u32, Result<Reply, Refusal>)>,
        details: &SendLogFields,
    ) {
        let now = Timestamp::now();
        let mut core = self.core.lock().unwrap();
        let Some(entry) = core.messages.get_mut(&message) else {
            return;
        };
        let expires_at = received_expiry(entry.received_at, self.settings.lifetime);
        let delay_ms = now.0 - entry.received_at.0;
        let mut retry: Vec<u32> = Vec::new();
        let mut retry_at = expires_at;
        for (index, result) in results {
            let Some(recipient) = entry.recipients.get_mut(index as usize) else {
                continue;
            };
            if recipient.done {
                continue;
            }
            recipient.attempts += 1;
            let reply = match &result {
                Ok(reply) => reply,
                Err(refusal) => &refusal.reply,
            };
            let mut state = recipient_state(reply.code);
            if result.is_ok() {
                state = RecipientState::Delivered;
            } else if state == RecipientState::Delivered {
                // A refusal with a positive code is a protocol oddity: treat it as temporary.
                state = RecipientState::Deferred;
            }
            let mut kind = match state {
                RecipientState::Delivered => EventKind::Delivered,
                RecipientState::Bounced => EventKind::Bounced,
                _ => EventKind::Deferred,
            };
            let mut next_attempt_at = None;
            if state == RecipientState::Deferred {
                if now >= expires_at {
                    state = RecipientState::Expired;
                    kind = EventKind::Expired;
                } else {
                    let at = next_attempt(
                        recipient.attempts,
                        &self.settings.retry_intervals,
                        now,
                        expires_at,
                    );
                    next_attempt_at = Some(at);
                    retry.push(index);
                    retry_at = retry_at.min(at);
                }
            }
            recipient.done = state.is_final();
            recipient.last_reply = Some(reply.to_string());
            let mut fields = details.clone();
            fields.smtp_code = Some(reply.code);
            fields.enhanced_status = reply.enhanced.map(|e| e.to_string());
            fields.remote_text = Some(reply.text.clone());
            fields.delay_ms = Some(delay_ms);
            fields.attempt = Some(recipient.attempts);
            fields.reason = match kind {
                EventKind::Expired => Some("expired".to_string()),
                EventKind::Delivered => None,
                _ => details.reason.clone().or_else(|| match &result {
                    Err(refusal) => reason(refusal).map(str::to_string),
                    Ok(_) => None,
                }),
            };
            // A hard bounce (the address does not exist, or its domain takes no mail) puts the
            // address on the contract's suppression list, exactly as its bounce mail would.
            let mut suppress = false;
            if kind == EventKind::Bounced {
                suppress = fields
                    .reason
                    .as_deref()
                    .and_then(|r| r.parse::<hikyaku_bounce::Reason>().ok())
                    .is_some_and(|r| r.is_hard(true));
                fields.hard = Some(suppress);
                fields.source = Some("smtp".to_string());
            }
            let outcome = match (state, next_attempt_at) {
                (RecipientState::Delivered, _) => StoreOutcome::Delivered,
                (RecipientState::Bounced, _) => StoreOutcome::Bounced,
                (RecipientState::Deferred, Some(next_attempt_at)) => {
                    StoreOutcome::Deferred { next_attempt_at }
                }
                _ => StoreOutcome::Expired,
            };
            debug_assert_eq!(outcome.event_kind(), kind);
            self.record(RecipientOutcome {
                message_id: message,
                recipient_index: index,
                at: now,
                outcome,
                details: fields,
                suppress,
            });
        }
        if !retry.is_empty() {
            let domain = domain_of(&entry.recipients[retry[0] as usize].address);
            // The retry is minutes away: memory is better spent on new messages.
            core.drop_body(&message);
            core.schedule.push(Due {
                at: retry_at,
                message,
                domain,
                recipients: retry,
            });
            drop(core);
            self.wake.notify_one();
        }
    }

    /// Puts due work into the ready queues, resolving each domain.
    async fn dispatch_due(self: &Arc<Self>, due: Vec<Due>) {
        for item in due {
            let (received_at, live) = {
                let core = self.core.lock().unwrap();
                let Some(entry) = core.messages.get(&item.message) else {
                    continue;
                };
                let live: Vec<u32> = item
                    .recipients
                    .iter()
                    .copied()
                    .filter(|i| entry.recipients.get(*i as usize).is_some_and(|r| !r.done))
                    .collect();
                (entry.received_at, live)
            };
            if live.is_empty() {
                continue;
            }
            if Timestamp::now() >= received_expiry(received_at, self.settings.lifetime) {
                self.expire(item.message, &live);
                continue;
            }
            match self.transport.resolve(&item.domain).await {
                Ok(site) => self.enqueue(
                    &item.domain,
                    Job {
                        message: item.message,
                        recipients: live,
                        site,
                    },
                ),
                Err(failure) => {
                    let results = live
                        .iter()
                        .map(|i| {
                            let refusal = Refusal {
                                reply: failure.reply.clone(),
                                stage: failure.stage,
                            };
                            (*i, Err(refusal))
                        })
                        .collect();
                    // The resolver's own reason (networkerror for a DNS failure, hostunknown
                    // for no route) says more than one guessed from the enhanced status.
                    self.conclude(item.message, results, &failure.details);
                }
            }
        }
    }

    fn expire(&self, message: MessageId, recipients: &[u32]) {
        let mut core = self.core.lock().unwrap();
        let Some(entry) = core.messages.get_mut(&message) else {
            return;
        };
        let now = Timestamp::now();
        for &index in recipients {
            let Some(recipient) = entry.recipients.get_mut(index as usize) else {
                continue;
            };
            recipient.done = true;
            let details = SendLogFields {
                remote_text: Some(format!(
                    "not delivered within the message lifetime; last reply: {}",
                    recipient.last_reply.as_deref().unwrap_or("none")
                )),
                delay_ms: Some(now.0 - entry.received_at.0),
                attempt: Some(recipient.attempts),
                reason: Some("expired".to_string()),
                ..SendLogFields::default()
            };
            self.record(RecipientOutcome {
                message_id: message,
                recipient_index: index,
                at: now,
                outcome: StoreOutcome::Expired,
                details,
                suppress: false,
            });
        }
    }

    fn enqueue(self: &Arc<Self>, domain: &str, job: Job) {
        let mx_hosts: Vec<&str> = job.site.hosts.iter().map(|h| h.name.as_str()).collect();
        let (key, limits) = self.settings.rules.classify(domain, &mx_hosts);
        let mut core = self.core.lock().unwrap();
        let group = core.groups.entry(key.clone()).or_insert_with(|| Group {
            rate: limits.max_rate.map(|r| RateLimiter::new(r, Instant::now())),
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
    fn start_connections(self: &Arc<Self>, core: &mut Core, key: &GroupKey) {
        if core.stopping {
            return;
        }
        let Some(group) = core.groups.get_mut(key) else {
            return;
        };
        if group.backoff.blocked_until(Instant::now()).is_some() {
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
    async fn next_job(&self, key: &GroupKey, site: &SiteTarget) -> Option<Job> {
        let deadline = tokio::time::Instant::now() + IDLE_CONNECTION;
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
            if tokio::time::timeout_at(deadline, notify.notified())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Waits for the group's rate limit to allow one message.
    async fn rate_permit(&self, key: &GroupKey) {
        loop {
            let wait = {
                let mut core = self.core.lock().unwrap();
                let Some(group) = core.groups.get_mut(key) else {
                    return;
                };
                match group.rate.as_mut().map(|r| r.try_take(Instant::now())) {
                    None | Some(Ok(())) => return,
                    Some(Err(wait)) => wait,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// A connection finished a job and waits for the next.
    fn mark_idle(&self, key: &GroupKey) {
        if let Some(group) = self.core.lock().unwrap().groups.get_mut(key) {
            group.idle += 1;
        }
    }

    fn connection_ended(self: &Arc<Self>, key: &GroupKey, was_idle: bool) {
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
    fn forget_when_spent(self: &Arc<Self>, core: &mut Core, key: &GroupKey) {
        let now = Instant::now();
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
        let Some(until) = busy_until else {
            core.groups.remove(key);
            return;
        };
        let shared = Arc::clone(self);
        let key = key.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            let mut core = shared.core.lock().unwrap();
            shared.forget_when_spent(&mut core, &key);
        });
    }

    /// The destination asked us to slow down: pause new connections to the whole group.
    fn throttle(self: &Arc<Self>, key: &GroupKey) {
        let mut core = self.core.lock().unwrap();
        if let Some(group) = core.groups.get_mut(key) {
            let base = group.limits.backoff;
            group.backoff.throttled(Instant::now(), base);
            tracing::info!(group = ?key, until = ?group.backoff.blocked_until(Instant::now()), "destination backing off");
        }
        let shared = Arc::clone(self);
        let key = key.clone();
        // Resume by itself when the pause ends.
        tokio::spawn(async move {
            let until = shared
                .core
                .lock()
                .unwrap()
                .groups
                .get(&key)
                .and_then(|g| g.backoff.blocked_until(Instant::now()));
            if let Some(until) = until {
                tokio::time::sleep_until(until.into()).await;
                let mut core = shared.core.lock().unwrap();
                shared.start_connections(&mut core, &key);
            }
        });
    }

    /// Every job of this site in the group, taken out (the site cannot be reached now).
    fn take_site_jobs(&self, key: &GroupKey, site: &SiteTarget) -> Vec<Job> {
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

fn received_expiry(received_at: Timestamp, lifetime: Duration) -> Timestamp {
    received_at.saturating_add(lifetime)
}

async fn run_scheduler(shared: Arc<Shared>) {
    loop {
        let (due, next) = {
            let mut core = shared.core.lock().unwrap();
            if core.stopping {
                return;
            }
            let due = core.schedule.take_due(Timestamp::now());
            (due, core.schedule.next_at())
        };
        if !due.is_empty() {
            shared.room_for_outcomes().await;
            tracing::debug!(due = due.len(), "dispatching due work");
            shared.dispatch_due(due).await;
            continue;
        }
        let sleep = next
            .map(|at| Duration::from_millis((at.0 - Timestamp::now().0).clamp(0, 60_000) as u64))
            .unwrap_or(Duration::from_secs(60));
        let _ = tokio::time::timeout(sleep, shared.wake.notified()).await;
    }
}

/// One connection's life: connect to the site, deliver jobs until done, quit.
async fn run_connection(shared: Arc<Shared>, key: GroupKey, site: Arc<SiteTarget>) {
    let limits = shared.settings.rules.limits(&key).clone();
    let mut connection = match shared.transport.connect(&site, limits.tls).await {
        Ok(connection) => connection,
        Err(failure) => {
            // No host of the site could be reached: every job waiting for it is deferred (or
            // bounced, when the failure is permanent), and the site gets a pause.
            for job in shared.take_site_jobs(&key, &site) {
                let results = job
                    .recipients
                    .iter()
                    .map(|i| {
                        let refusal = Refusal {
                            reply: failure.reply.clone(),
                            stage: failure.stage,
                        };
                        (*i, Err(refusal))
                    })
                    .collect();
                shared.conclude(job.message, results, &failure.details);
            }
            if failure.throttled || !failure.permanent {
                shared.throttle(&key);
            }
            shared.connection_ended(&key, true);
            return;
        }
    };
    let mut sent = 0;
    // A new connection counts as idle until it takes its first job (see `start_connections`).
    let mut idle = true;
    while sent < limits.max_messages_per_connection {
        shared.room_for_outcomes().await;
        let Some(job) = shared.next_job(&key, &site).await else {
            break;
        };
        idle = false;
        shared.rate_permit(&key).await;
        let message = job.message;
        let throttled = deliver_job(&shared, &mut connection, job).await;
        tracing::debug!(group = ?key, %message, throttled, "transaction done");
        sent += 1;
        if throttled {
            shared.throttle(&key);
            break;
        }
        if let Some(group) = shared.core.lock().unwrap().groups.get_mut(&key) {
            group.backoff.succeeded();
        }
        if !connection.is_reusable() {
            break;
        }
        shared.mark_idle(&key);
        idle = true;
    }
    connection.quit().await;
    tracing::debug!(group = ?key, sent, "connection closed");
    shared.connection_ended(&key, idle);
}

/// One transaction for one job. Returns whether the destination asked us to slow down.
async fn deliver_job(shared: &Arc<Shared>, connection: &mut Connection, job: Job) -> bool {
    let envelope = {
        let core = shared.core.lock().unwrap();
        core.messages.get(&job.message).map(|entry| {
            let addresses: Vec<String> = job
                .recipients
                .iter()
                .map(|i| entry.recipients[*i as usize].address.clone())
                .collect();
            (entry.mail_from.clone(), addresses, entry.body.clone())
        })
    };
    let Some((mail_from, addresses, in_memory)) = envelope else {
        return false;
    };
    let read = match in_memory {
        Some(body) => Ok(body),
        None => shared
            .spool
            .read(job.message)
            .await
            .map(|(_, body)| Bytes::from(body)),
    };
    let body = match read {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(message = %job.message, %error, "message bytes unreadable; bouncing");
            let reply = Reply {
                code: 554,
                enhanced: Some(EnhancedStatus::new(5, 3, 0)),
                text: format!("local error: message unreadable ({error})"),
            };
            let results = job
                .recipients
                .iter()
                .map(|i| (*i, Err(Refusal::unplaced(reply.clone()))))
                .collect();
            shared.conclude(job.message, results, &SendLogFields::default());
            return false;
        }
    };
    let return_path = shared.return_path(job.message, &job.recipients, &mail_from);
    let attempt: Attempt = connection.send(&return_path, &addresses, &body).await;
    let results = job
        .recipients
        .iter()
        .copied()
        .zip(attempt.per_recipient)
        .collect();
    shared.conclude(job.message, results, &attempt.details);
    attempt.throttled
}

/// Applies `hikyaku queue retry|delete`, which the CLI leaves in the store for this node.
async fn run_operator_commands(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let commands = match shared
            .store
            .take_queue_commands(&shared.settings.node)
            .await
        {
            Ok(commands) => commands,
            Err(error) => {
                tracing::warn!(%error, "cannot read operator queue commands");
                continue;
            }
        };
        for command in commands {
            let message = command.message_id;
            match command.action {
                QueueAction::Retry => {
                    let mut core = shared.core.lock().unwrap();
                    let Some(entry) = core.messages.get(&message) else {
                        continue;
                    };
                    let mut by_domain: HashMap<String, Vec<u32>> = HashMap::new();
                    for (index, r) in entry.recipients.iter().enumerate().filter(|(_, r)| !r.done) {
                        by_domain
                            .entry(domain_of(&r.address))
                            .or_default()
                            .push(index as u32);
                    }
                    let now = Timestamp::now();
                    for (domain, recipients) in by_domain {
                        core.schedule.push(Due {
                            at: now,
                            message,
                            domain,
                            recipients,
                        });
                    }
                    drop(core);
                    shared.wake.notify_one();
                    tracing::info!(%message, "operator retry");
                }
                QueueAction::Delete => {
                    // The store already ended its recipients as `deleted`; forget the message
                    // (an attempt in flight finds it gone) and free its spool space.
                    shared.core.lock().unwrap().forget_message(&message);
                    match shared.spool.remove(message).await {
                        // Deleted while the node was down: its file went at the start.
                        Ok(()) | Err(SpoolError::NotFound(_)) => {}
                        Err(error) => {
                            tracing::warn!(%message, %error, "deleted message could not be removed from the spool");
                        }
                    }
                    tracing::info!(%message, "operator delete");
                }
            }
        }
    }
}

/// Writes outcomes in batches and removes finished messages from the spool.
async fn run_recorder(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<RecipientOutcome>) {
    let mut batch = Vec::with_capacity(MAX_OUTCOME_BATCH);
    while rx.recv_many(&mut batch, MAX_OUTCOME_BATCH).await > 0 {
        let completed = loop {
            match shared.store.record_outcomes(&batch).await {
                Ok(completed) => break completed,
                Err(error) => {
                    // The outcome must not be lost: retry until the database is back.
                    tracing::error!(%error, "cannot record delivery outcomes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        shared.unrecorded.fetch_sub(batch.len(), Ordering::SeqCst);
        shared.recorded.notify_waiters();
        batch.clear();
        if completed.is_empty() {
            continue;
        }
        {
            let mut core = shared.core.lock().unwrap();
            for message in &completed {
                core.forget_message(message);
            }
        }
        let removals = match shared.spool.remove_many(completed).await {
            Ok(removals) => removals,
            Err(error) => {
                tracing::warn!(%error, "finished messages could not be removed from the spool");
                continue;
            }
        };
        for (message, removal) in removals {
            if let Err(error) = removal {
                tracing::warn!(%message, %error, "finished message could not be removed from the spool");
            }
        }
    }
}
