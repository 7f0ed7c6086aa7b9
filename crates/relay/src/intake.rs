//! Hands accepted messages durably to the spool and records them in the store, in that order,
//! before the client hears `250`.
//!
//! The spool is the durability point (its commit fsyncs); the store is the queue's index.
//! Database writes are group-committed: one committer task takes every message that is waiting
//! and records them all in one transaction, so concurrent sessions share its cost. If the process
//! dies between the two steps, the client never heard `250` and will retry, so on the next start
//! [`Intake::discard_unrecorded`] removes the orphaned spool file: every acknowledged message is
//! in the queue exactly once, and no unacknowledged one is.

use hikyaku_spool::{RecordedMessage, Reservation, Spool, SpoolError, SpoolMeta, SpooledMessage};
use hikyaku_store::{AcceptedMessage, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most messages recorded in one database transaction.
const MAX_BATCH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("spool: {0}")]
    Spool(#[from] SpoolError),
    #[error("database: {0}")]
    Store(#[from] Arc<StoreError>),
    #[error("the intake is shutting down")]
    ShuttingDown,
}

impl IntakeError {
    /// Whether retrying later may succeed. Every intake failure is the platform's, never the
    /// message's, so the client is always told to retry.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, IntakeError::Spool(e) if e.is_out_of_space())
    }
}

struct Pending {
    message: SpooledMessage,
    done: oneshot::Sender<Result<(), Arc<StoreError>>>,
}

/// The durable path from a finished DATA to the queue. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    spool: Spool,
    committer: mpsc::Sender<Pending>,
}

impl Intake {
    /// Starts the committer task on the current Tokio runtime. Every message recorded is then
    /// announced on `recorded` (to the delivery engine), if given, with its recipients on the
    /// suppression list; a message whose every recipient is suppressed is not announced, and
    /// its spool file is removed once it is recorded (the engine's start-up clean-up removes it
    /// if the process dies first).
    pub fn start(
        spool: Spool,
        store: Store,
        node: String,
        recorded: Option<mpsc::UnboundedSender<RecordedMessage>>,
    ) -> Intake {
        metrics::describe_histogram!(
            "hikyaku_intake_batch_size",
            "messages recorded per database transaction (group commit)"
        );
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run_committer(store, spool.clone(), node, rx, recorded));
        Intake {
            spool,
            committer: tx,
        }
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Makes the message durable and queued. Returns only when both are done; on any error
    /// nothing of the message remains, so the client's retry cannot create a duplicate.
    pub async fn accept(
        &self,
        meta: SpoolMeta,
        body: Vec<u8>,
        reservation: Reservation,
    ) -> Result<(), IntakeError> {
        let body = bytes::Bytes::from(body);
        self.spool.commit(reservation, &meta, body.clone()).await?;
        let id = meta.id;
        let (done, result) = oneshot::channel();
        let message = SpooledMessage { meta, body };
        let recorded = match self.committer.send(Pending { message, done }).await {
            Ok(()) => result
                .await
                .map_err(|_| IntakeError::ShuttingDown)
                .and_then(|r| r.map_err(IntakeError::from)),
            Err(_) => Err(IntakeError::ShuttingDown),
        };
        if let Err(error) = &recorded {
            // The client will be told to retry, so the spooled copy must go; if removing it
            // fails too, reconciliation would queue it again on restart: say so loudly.
            if let Err(remove_error) = self.spool.remove(id).await {
                tracing::error!(%id, %error, %remove_error, "message spooled but not recorded, and could not be removed: it may be delivered twice");
            }
        }
        recorded
    }

    /// Removes every spooled message the store does not know. The store records a message
    /// (durably) before the client hears `250`, so such a message was never acknowledged: the
    /// process died between the two steps, the client saw the connection drop and will send
    /// it again. Queueing it too would deliver it twice. Returns how many were removed.
    pub async fn discard_unrecorded(
        &self,
        store: &Store,
        spooled: &[SpoolMeta],
    ) -> Result<usize, IntakeError> {
        let mut removed = 0;
        for chunk in spooled.chunks(1000) {
            let ids: Vec<_> = chunk.iter().map(|m| m.id).collect();
            let known: HashSet<_> = store.known_message_ids(&ids).await.map_err(Arc::new)?;
            for meta in chunk.iter().filter(|m| !known.contains(&m.id)) {
                self.spool.remove(meta.id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn record_of(meta: &SpoolMeta, node: &str) -> AcceptedMessage {
    AcceptedMessage {
        id: meta.id,
        customer_id: meta.customer_id.clone(),
        envelope: meta.envelope.clone(),
        size: meta.size,
        received_at: meta.received_at,
        source_ip: meta.source_ip.clone(),
        node: node.to_string(),
    }
}

async fn run_committer(
    store: Store,
    spool: Spool,
    node: String,
    mut rx: mpsc::Receiver<Pending>,
    recorded: Option<mpsc::UnboundedSender<RecordedMessage>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let records: Vec<AcceptedMessage> = batch
            .iter()
            .map(|p| record_of(&p.message.meta, &node))
            .collect();
        let result = store.record_accepted(&records).await.map_err(Arc::new);
        metrics::histogram!("hikyaku_intake_batch_size").record(records.len() as f64);
        let (result, mut suppressed) = match result {
            Ok(suppressed) => (Ok(()), suppressed),
            Err(e) => (Err(e), HashMap::new()),
        };
        let mut finished = Vec::new();
        for pending in batch.drain(..) {
            let listed = suppressed
                .remove(&pending.message.meta.id)
                .unwrap_or_default();
            if result.is_ok() {
                if listed.len() == pending.message.meta.envelope.recipients.len() {
                    finished.push(pending.message.meta.id);
                } else if let Some(delivery) = &recorded {
                    let _ = delivery.send(RecordedMessage {
                        message: pending.message,
                        suppressed: listed,
                    });
                }
            }
            let _ = pending.done.send(result.clone());
        }
        if !finished.is_empty() {
            // Off the commit path: the next batch need not wait for these unlinks.
            let spool = spool.clone();
            tokio::spawn(async move {
                match spool.remove_many(finished).await {
                    Ok(removals) => {
                        for (id, removal) in removals {
                            if let Err(error) = removal {
                                tracing::warn!(%id, %error, "a message with every recipient suppressed could not be removed from the spool");
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "messages with every recipient suppressed could not be removed from the spool");
                    }
                }
            });
        }
    }
}
