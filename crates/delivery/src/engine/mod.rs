//! The engine: scheduled queue → per-destination ready queues → connections → outcomes.
//!
//! Two tiers, as in KumoMTA: the [`Schedule`] holds when each (message, domain) is next due;
//! when it is, the domain is resolved and the work becomes a [`ready::Job`] in the ready queue
//! of its destination group (a rule, or one site: its hosts with their ports), which enforces
//! the group's connection limit, messages per connection, rate and back-off across every
//! connection of this node. Connection workers take jobs of their site until the queue is
//! empty, the per-connection limit is reached, or the destination says stop. Every attempt's
//! outcome goes to the store in group-committed batches; a message whose recipients are all
//! final leaves the spool.
//!
//! Split by concern: [`ready`] (the ready queues and their limits), [`outcome`] (what a reply
//! means, as a pure function, and recording it), [`run`] (the loops), [`metrics`]. Time
//! ([`Clock`]), resolution and connections ([`Transport`]) come in from outside, so the tests
//! below drive the whole engine in memory.

mod metrics;
mod outcome;
mod ready;
mod run;
#[cfg(test)]
mod tests;

use crate::clock::{Clock, SystemClock};
use crate::rules::{GroupKey, Rules};
use crate::schedule::{Due, Schedule};
use crate::transport::Transport;
use bytes::Bytes;
use hikyaku_model::{CustomerId, MessageId, Timestamp, VerpAddress, VerpKey, VerpRecipient};
use hikyaku_spool::{RecordedMessage, Spool, SpooledMessage};
use hikyaku_store::{BounceEvent, RecipientOutcome, SoftBouncePolicy, Store};
use ready::Group;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

/// How long a connection with nothing to do stays open for more work.
const IDLE_CONNECTION: Duration = Duration::from_secs(5);
/// The most outcomes written in one database transaction.
const MAX_OUTCOME_BATCH: usize = 512;
/// Bytes of new messages kept in memory for their first attempt (beyond it, and for every
/// retry, the spool file is read).
const BODY_CACHE_BYTES: usize = 64 << 20;

/// How long a contract's bounce domain, once read from the store, is used without reading it
/// again: a change made with the CLI reaches delivery within this time, while a busy engine
/// asks the store once a minute per sending contract instead of once per transaction.
const BOUNCE_DOMAIN_REFRESH: Duration = Duration::from_secs(60);

/// Everything the engine is told at start.
pub struct EngineSettings {
    pub node: String,
    pub lifetime: Duration,
    pub retry_intervals: Vec<Duration>,
    pub rules: Rules,
    /// The platform's bounce domain: VERP return paths are on it, unless the message's contract
    /// has a bounce domain of its own (in the store), which then wins. Without either the
    /// original envelope sender is kept.
    pub bounce_domain: Option<String>,
    pub verp_key: VerpKey,
    /// No attempt starts while this many outcomes wait for the database (see
    /// `delivery.max_unrecorded_outcomes`).
    pub max_unrecorded_outcomes: usize,
    /// When soft bounces at delivery list an address (`[suppression]`), as they do when
    /// a bounce mail reports them.
    pub soft_bounces: SoftBouncePolicy,
    /// The mailbox simulator's domain (lower-case), whose recipients the engine answers itself
    /// (see the `simulator` module); `None` turns it off.
    pub simulator_domain: Option<String>,
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
    clock: Arc<dyn Clock>,
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
    /// Contracts' own bounce domains as last read, each until its refresh time.
    bounce_domains: Mutex<HashMap<CustomerId, KnownBounceDomain>>,
    /// Reports the mailbox simulator makes after a delivery (a complaint), keyed by the
    /// recipient they follow: the recorder writes each once that delivery is committed, so the
    /// send log shows them in the order a real recipient's would come.
    follow_ups: Mutex<HashMap<(MessageId, u32), BounceEvent>>,
}

struct KnownBounceDomain {
    /// The contract's own; `None`: it has none (the platform's applies).
    domain: Option<String>,
    until: std::time::Instant,
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
    /// Whose suppression list applies.
    customer_id: CustomerId,
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

impl Engine {
    /// Loads this node's unfinished work from the store and starts delivering.
    pub async fn start(
        settings: EngineSettings,
        store: Store,
        spool: Spool,
        transport: Transport,
        accepted: mpsc::UnboundedReceiver<RecordedMessage>,
    ) -> Result<Engine, hikyaku_store::StoreError> {
        Engine::start_with_clock(
            settings,
            store,
            spool,
            transport,
            accepted,
            Arc::new(SystemClock),
        )
        .await
    }

    /// [`Engine::start`] on a given clock.
    pub(crate) async fn start_with_clock(
        settings: EngineSettings,
        store: Store,
        spool: Spool,
        transport: Transport,
        mut accepted: mpsc::UnboundedReceiver<RecordedMessage>,
        clock: Arc<dyn Clock>,
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
            clock,
            core: Mutex::new(Core::default()),
            wake: Notify::new(),
            outcomes: Mutex::new(Some(outcomes_tx)),
            unrecorded: AtomicUsize::new(0),
            recorded: Notify::new(),
            workers: Mutex::new(JoinSet::new()),
            bounce_domains: Mutex::new(HashMap::new()),
            follow_ups: Mutex::new(HashMap::new()),
        });
        {
            let mut core = shared.core.lock().unwrap();
            let now = shared.clock.now();
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
                        customer_id: message.customer_id,
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
        metrics::describe(&shared.settings.rules);
        tasks.spawn(run::run_scheduler(Arc::clone(&shared)));
        tasks.spawn(metrics::run_gauges(Arc::clone(&shared)));
        tasks.spawn(run::run_operator_commands(Arc::clone(&shared)));
        let intake = Arc::clone(&shared);
        tasks.spawn(async move {
            while let Some(message) = accepted.recv().await {
                intake.add_message(message);
            }
        });
        let recorder = tokio::spawn(run::run_recorder(Arc::clone(&shared), outcomes_rx));
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
        let now = self.clock.now();
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
                customer_id: meta.customer_id,
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

    /// The envelope sender on the wire: a VERP address on the contract's bounce domain, else on
    /// the platform's; the original sender when there is neither.
    async fn return_path(
        &self,
        customer: &CustomerId,
        message: MessageId,
        recipients: &[u32],
        original: &str,
    ) -> String {
        let own = self.own_bounce_domain(customer).await;
        match own.as_deref().or(self.settings.bounce_domain.as_deref()) {
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

    /// The contract's own bounce domain, read from the store at most once per
    /// [`BOUNCE_DOMAIN_REFRESH`]. When the store cannot answer, the last known value is used,
    /// or none: a return path on the platform's domain still brings every bounce back (the
    /// error server takes both), so the message need not wait for the database.
    async fn own_bounce_domain(&self, customer: &CustomerId) -> Option<String> {
        let now = self.clock.instant();
        if let Some(known) = self.bounce_domains.lock().unwrap().get(customer)
            && known.until > now
        {
            return known.domain.clone();
        }
        match self.store.bounce_domain(customer).await {
            Ok(found) => {
                let domain = found.map(|d| d.domain);
                self.bounce_domains.lock().unwrap().insert(
                    customer.clone(),
                    KnownBounceDomain {
                        domain: domain.clone(),
                        until: now + BOUNCE_DOMAIN_REFRESH,
                    },
                );
                domain
            }
            Err(error) => {
                tracing::warn!(%customer, %error, "the contract's bounce domain could not be read; using the last known");
                self.bounce_domains
                    .lock()
                    .unwrap()
                    .get(customer)
                    .and_then(|known| known.domain.clone())
            }
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
            tracing::error!(
                "a delivery outcome came after the recorder stopped; it is not recorded"
            );
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
}
