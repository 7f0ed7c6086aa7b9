//! The engine's loops: the scheduler (due work → resolution → ready queues), one task per
//! connection, the operator's queue commands, and the recorder that commits outcomes.

use super::outcome::{Listing, received_expiry};
use super::{MAX_OUTCOME_BATCH, Shared, domain_of, ready::Job};
use crate::classify::Refusal;
use crate::client::{EnhancedStatus, Reply};
use crate::rules::GroupKey;
use crate::schedule::Due;
use crate::simulator::{FollowUp, Mailbox, is_simulated};
use crate::transport::{Attempt, Session, SiteTarget};
use bytes::Bytes;
use hikyaku_model::{
    CustomerId, EventDetails, EventSource, Exchange, MessageId, Remote, Timestamp,
};
use hikyaku_spool::SpoolError;
use hikyaku_store::{BounceEvent, QueueAction, RecipientOutcome, SuppressionEffect};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

impl Shared {
    /// Puts due work into the ready queues, resolving each domain.
    pub(super) async fn dispatch_due(self: &Arc<Self>, due: Vec<Due>) {
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
            // The last retry is scheduled at the expiry itself, so that the final answer is a
            // fresh one: only work that became due after it (loaded after a stop, an operator's
            // retry) ends without an attempt.
            if item.at > received_expiry(received_at, self.settings.lifetime) {
                self.expire(item.message, &live);
                continue;
            }
            if is_simulated(self.settings.simulator_domain.as_deref(), &item.domain) {
                self.simulate(item.message, live).await;
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
                        .map(|i| (*i, Err(failure.refusal.clone())))
                        .collect();
                    // The resolver's own reason (networkerror for a DNS failure, hostunknown
                    // for no route) says more than one guessed from the enhanced status.
                    self.conclude(
                        item.message,
                        results,
                        failure.remote.as_ref(),
                        failure.reason,
                    );
                }
            }
        }
    }
}

pub(super) async fn run_scheduler(shared: Arc<Shared>) {
    loop {
        let (due, next) = {
            let mut core = shared.core.lock().unwrap();
            if core.stopping {
                return;
            }
            let due = core.schedule.take_due(shared.clock.now());
            (due, core.schedule.next_at())
        };
        if !due.is_empty() {
            shared.room_for_outcomes().await;
            tracing::debug!(due = due.len(), "dispatching due work");
            shared.dispatch_due(due).await;
            continue;
        }
        let sleep = next
            .map(|at| Duration::from_millis((at.0 - shared.clock.now().0).clamp(0, 60_000) as u64))
            .unwrap_or(Duration::from_secs(60));
        tokio::select! {
            () = shared.wake.notified() => {}
            () = shared.clock.sleep_until(shared.clock.instant() + sleep) => {}
        }
    }
}

/// One connection's life: connect to the site, deliver jobs until done, quit.
pub(super) async fn run_connection(shared: Arc<Shared>, key: GroupKey, site: Arc<SiteTarget>) {
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
                    .map(|i| (*i, Err(failure.refusal.clone())))
                    .collect();
                shared.conclude(
                    job.message,
                    results,
                    failure.remote.as_ref(),
                    failure.reason,
                );
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
        let throttled = deliver_job(&shared, connection.as_mut(), job).await;
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
async fn deliver_job(shared: &Arc<Shared>, connection: &mut dyn Session, mut job: Job) -> bool {
    let envelope = {
        let core = shared.core.lock().unwrap();
        core.messages.get(&job.message).map(|entry| {
            let addresses: Vec<String> = job
                .recipients
                .iter()
                .map(|i| entry.recipients[*i as usize].address.clone())
                .collect();
            (
                entry.customer_id.clone(),
                entry.mail_from.clone(),
                addresses,
                entry.body.clone(),
            )
        })
    };
    let Some((customer, mail_from, mut addresses, in_memory)) = envelope else {
        return false;
    };
    shared
        .skip_listed(&customer, job.message, &mut job.recipients, &mut addresses)
        .await;
    if job.recipients.is_empty() {
        return false;
    }
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
                text: format!("message unreadable on this node ({error})"),
            };
            let results = job
                .recipients
                .iter()
                .map(|i| (*i, Err(Refusal::local(reply.clone()))))
                .collect();
            shared.conclude(job.message, results, None, None);
            return false;
        }
    };
    let return_path = shared
        .return_path(&customer, job.message, &job.recipients, &mail_from)
        .await;
    let attempt: Attempt = connection.send(&return_path, &addresses, &body).await;
    let results = job
        .recipients
        .iter()
        .copied()
        .zip(attempt.per_recipient)
        .collect();
    shared.conclude(job.message, results, Some(&attempt.remote), None);
    attempt.throttled
}

impl Shared {
    /// Takes out of `recipients` (and `addresses`, in step with it) the recipients of
    /// `message` now on the contract's suppression list, ending them as `suppressed`: an
    /// address can be listed while its message waits in the queue. One indexed look-up per
    /// job. If the look-up fails, the job goes as it is: the list was honoured at acceptance,
    /// and holding mail back for a database hiccup would delay every recipient.
    async fn skip_listed(
        &self,
        customer: &CustomerId,
        message: MessageId,
        recipients: &mut Vec<u32>,
        addresses: &mut Vec<String>,
    ) {
        let wanted: Vec<&str> = addresses.iter().map(String::as_str).collect();
        let listed = match self.store.listed_among(customer, &wanted).await {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(
                    %message,
                    %error,
                    "cannot read the suppression list; sending without the check"
                );
                return;
            }
        };
        if listed.iter().all(Option::is_none) {
            return;
        }
        let mut suppressed = Vec::new();
        let mut kept_recipients = Vec::with_capacity(recipients.len());
        let mut kept_addresses = Vec::with_capacity(addresses.len());
        for ((index, address), entry) in recipients.iter().zip(addresses.drain(..)).zip(listed) {
            match entry {
                Some(entry) => suppressed.push((*index, entry)),
                None => {
                    kept_recipients.push(*index);
                    kept_addresses.push(address);
                }
            }
        }
        *recipients = kept_recipients;
        *addresses = kept_addresses;
        self.suppress(message, &suppressed);
    }

    /// Answers recipients on the simulator domain as their simulated mailboxes would, through
    /// the outcome path of a real reply (no resolution, no connection). The suppression list
    /// is checked first, as for a real job.
    async fn simulate(&self, message: MessageId, mut recipients: Vec<u32>) {
        let Some((customer, mail_from, mut addresses)) = ({
            let core = self.core.lock().unwrap();
            core.messages.get(&message).map(|entry| {
                let addresses: Vec<String> = recipients
                    .iter()
                    .map(|i| entry.recipients[*i as usize].address.clone())
                    .collect();
                (
                    entry.customer_id.clone(),
                    entry.mail_from.clone(),
                    addresses,
                )
            })
        }) else {
            return;
        };
        self.skip_listed(&customer, message, &mut recipients, &mut addresses)
            .await;
        if recipients.is_empty() {
            return;
        }
        let attempts: Vec<u32> = {
            let core = self.core.lock().unwrap();
            let Some(entry) = core.messages.get(&message) else {
                return;
            };
            recipients
                .iter()
                .map(|i| entry.recipients[*i as usize].attempts + 1)
                .collect()
        };
        let domain = self.settings.simulator_domain.clone().unwrap_or_default();
        let remote = Remote {
            host: domain.clone(),
            ip: None,
            port: None,
            tls: None,
        };
        let now = self.clock.now();
        let mut results = Vec::with_capacity(recipients.len());
        let mut listing = Vec::new();
        for ((index, address), attempt) in recipients.iter().zip(&addresses).zip(attempts) {
            let answer = Mailbox::of(address).answer(attempt);
            if answer.lists {
                listing.push(*index);
            }
            match answer.follow_up {
                FollowUp::Nothing => {}
                FollowUp::AutoReply => {
                    tracing::info!(target: "hikyaku::mail", %message, domain = %domain, "simulated auto-reply: recorded as nothing, as the error server records a real one");
                }
                FollowUp::Complaint => {
                    // Registered before the delivery is handed to the recorder, which writes
                    // it after committing that delivery.
                    let complaint = BounceEvent {
                        customer_id: customer.clone(),
                        message_id: message,
                        recipient: address.clone(),
                        mail_from: mail_from.clone(),
                        at: Timestamp(now.0 + 1),
                        details: EventDetails::Complaint {
                            exchange: Exchange {
                                remote: Some(remote.clone()),
                                text: Some(
                                    "simulated feedback report: the recipient marked the message as spam"
                                        .to_string(),
                                ),
                                ..Exchange::by(EventSource::Report)
                            },
                            feedback_type: Some("abuse".to_string()),
                        },
                        effect: SuppressionEffect::Nothing,
                    };
                    self.follow_ups
                        .lock()
                        .unwrap()
                        .insert((message, *index), complaint);
                }
            }
            results.push((*index, answer.result));
        }
        self.conclude_listing(
            message,
            results,
            Some(&remote),
            None,
            Listing::Only(&listing),
        );
    }
}

/// Applies `hikyaku queue retry|delete`, which the CLI leaves in the store for this node.
pub(super) async fn run_operator_commands(shared: Arc<Shared>) {
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
                    let now = shared.clock.now();
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
                    // (an attempt in flight finds it gone) and free its spool space. Its file is
                    // not recycled: withdrawn mail (a contract's end) must leave no copy.
                    shared.core.lock().unwrap().forget_message(&message);
                    match shared.spool.discard(message).await {
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
pub(super) async fn run_recorder(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<RecipientOutcome>,
) {
    let mut batch = Vec::with_capacity(MAX_OUTCOME_BATCH);
    while rx.recv_many(&mut batch, MAX_OUTCOME_BATCH).await > 0 {
        let completed = loop {
            match shared
                .store
                .record_outcomes(&batch, &shared.settings.soft_bounces)
                .await
            {
                Ok(completed) => break completed,
                Err(error) => {
                    // The outcome must not be lost: retry until the database is back.
                    tracing::error!(%error, "cannot record delivery outcomes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        record_follow_ups(&shared, &batch).await;
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

/// Writes the simulator's reports that follow outcomes of `committed` (a complaint after its
/// delivery). A crash before this loses them, as a real recipient may never complain.
async fn record_follow_ups(shared: &Shared, committed: &[RecipientOutcome]) {
    let follow_ups: Vec<BounceEvent> = {
        let mut waiting = shared.follow_ups.lock().unwrap();
        if waiting.is_empty() {
            return;
        }
        committed
            .iter()
            .filter_map(|o| waiting.remove(&(o.message_id, o.recipient_index)))
            .collect()
    };
    if follow_ups.is_empty() {
        return;
    }
    while let Err(error) = shared
        .store
        .record_bounces(&follow_ups, &shared.settings.soft_bounces)
        .await
    {
        tracing::error!(%error, "cannot record the mailbox simulator's reports; retrying");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
