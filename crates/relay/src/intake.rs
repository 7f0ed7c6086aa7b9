//! Hands accepted messages durably to the spool and records them in the store before the
//! client hears `250`.
//!
//! The spool is the durability point for the bytes (its commit fsyncs); the store is the
//! queue's index. Both are written at once, since each waits for its own fsync and the client
//! waits for the slower one rather than for both in turn. Database writes are group-committed:
//! one committer task takes every message that is waiting and records them all in one
//! transaction, so concurrent sessions share its cost.
//!
//! `250` needs both. If one fails, the other is undone and the client is told to retry. If the
//! process dies with only one of them done, the client never heard `250` and will retry, so the
//! next start undoes that one: [`Intake::discard_unrecorded`] removes a spool file the store
//! does not know, [`Intake::withdraw_unspooled`] a record whose spool file never became
//! durable. Every acknowledged message is in the queue exactly once, and no unacknowledged one
//! is (except one the process died *after* finishing but before the `250` was written, as with
//! any MTA).

use hikyaku_spool::{RecordedMessage, Reservation, Spool, SpoolError, SpoolMeta, SpooledMessage};
use hikyaku_store::{AcceptedMessage, Store, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most messages recorded in one database transaction.
const MAX_BATCH: usize = 256;
/// Pauses between attempts to withdraw a record whose message was not spooled.
const WITHDRAW_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(100);
const WITHDRAW_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(30);

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
    /// Whether the failure is a lack of space, in the spool or in the database: the client is
    /// told `452 4.3.1` rather than `451 4.3.0`. Every intake failure is the platform's, never
    /// the message's, so the client is always told to retry.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            IntakeError::Spool(e) => e.is_out_of_space(),
            IntakeError::Store(e) => e.is_out_of_space(),
            IntakeError::ShuttingDown => false,
        }
    }
}

/// Messages waiting for the committer, recorded in one transaction (several when they are
/// copies of one message); answered with each one's suppressed recipients' indexes.
struct Pending {
    records: Vec<AcceptedMessage>,
    done: oneshot::Sender<Result<Vec<Vec<u32>>, Arc<StoreError>>>,
}

/// One copy of a message for [`Intake::accept_copies`].
pub struct Copy {
    pub meta: SpoolMeta,
    pub body: Vec<u8>,
    pub reservation: Reservation,
}

/// The durable path from a finished DATA to the queue. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    spool: Spool,
    store: Store,
    node: String,
    committer: mpsc::Sender<Pending>,
    /// The delivery engine, told of every message once it is durable and recorded.
    recorded: Option<mpsc::UnboundedSender<RecordedMessage>>,
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
        tokio::spawn(run_committer(store.clone(), rx));
        Intake {
            spool,
            store,
            node,
            committer: tx,
            recorded,
        }
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Makes the message durable and queued. Returns only when both are done, with the indexes
    /// (ascending) of the recipients that are on the contract's suppression list and were
    /// recorded as suppressed rather than queued; on any error nothing of the message remains,
    /// so the client's retry cannot create a duplicate.
    pub async fn accept(
        &self,
        meta: SpoolMeta,
        body: Vec<u8>,
        reservation: Reservation,
    ) -> Result<Vec<u32>, IntakeError> {
        let body = bytes::Bytes::from(body);
        let id = meta.id;
        let record = record_of(&meta, &body, &self.node);
        let (spooled, recorded) = tokio::join!(
            self.spool.commit(reservation, &meta, body.clone()),
            self.record_one(record)
        );
        let suppressed = match (spooled, recorded) {
            (Ok(()), Ok(suppressed)) => suppressed,
            (Ok(()), Err(error)) => {
                // The client will be told to retry, so the spooled copy must go; if removing it
                // fails too, reconciliation would queue it again on restart: say so loudly.
                if let Err(remove_error) = self.spool.remove(id).await {
                    tracing::error!(%id, %error, %remove_error, "message spooled but not recorded, and could not be removed: it may be delivered twice");
                }
                return Err(error);
            }
            (Err(error), Ok(_)) => {
                // Recorded but not durable: the record must go, or the queue would hold a
                // message the client is about to send again. On a full disk even the delete
                // can fail: it is retried until it works, and the start-up check catches it
                // should the process stop first.
                if let Err(withdraw_error) = self.store.withdraw_accepted(id).await {
                    tracing::error!(%id, %error, %withdraw_error, "message recorded but not spooled, and the record could not be withdrawn yet; retrying");
                    self.withdraw_later(id);
                }
                return Err(error.into());
            }
            (Err(error), Err(_)) => return Err(error.into()),
        };
        self.hand_on(meta, body, &suppressed);
        Ok(suppressed)
    }

    /// Makes several copies of one message durable and queued, all or none: each copy is a
    /// message of its own (its own ID, its own recipients), but the client hears one reply for
    /// them all. The copies are spooled first and recorded only once every one is durable, in
    /// one transaction. A crash before that commit leaves spool files without records, which
    /// [`Intake::discard_unrecorded`] removes at the next start (the client, told nothing,
    /// sends again); after it, every copy is durable and queued. Returns each copy's
    /// suppressed recipients' indexes, in order; on any error nothing of any copy remains.
    pub async fn accept_copies(&self, copies: Vec<Copy>) -> Result<Vec<Vec<u32>>, IntakeError> {
        let mut commits = tokio::task::JoinSet::new();
        let mut spooled = Vec::with_capacity(copies.len());
        for (i, copy) in copies.into_iter().enumerate() {
            let body = bytes::Bytes::from(copy.body);
            let spool = self.spool.clone();
            let meta = copy.meta.clone();
            let bytes = body.clone();
            commits.spawn(async move { (i, spool.commit(copy.reservation, &meta, bytes).await) });
            spooled.push((copy.meta, body));
        }
        let mut failed = None;
        let mut durable = Vec::with_capacity(spooled.len());
        while let Some(done) = commits.join_next().await {
            match done {
                Ok((i, Ok(()))) => durable.push(i),
                Ok((_, Err(error))) => failed = Some(IntakeError::Spool(error)),
                Err(join) => {
                    failed = Some(IntakeError::Spool(SpoolError::Io {
                        action: "commit a copy",
                        path: self.spool.dir().to_owned(),
                        source: std::io::Error::other(join.to_string()),
                    }))
                }
            }
        }
        if let Some(error) = failed {
            for i in durable {
                self.remove_unacknowledged(spooled[i].0.id).await;
            }
            return Err(error);
        }
        let records = spooled
            .iter()
            .map(|(meta, body)| record_of(meta, body, &self.node))
            .collect();
        let suppressed = match self.record(records).await {
            Ok(suppressed) => suppressed,
            Err(error) => {
                for (meta, _) in &spooled {
                    self.remove_unacknowledged(meta.id).await;
                }
                return Err(error);
            }
        };
        for ((meta, body), suppressed) in spooled.into_iter().zip(&suppressed) {
            self.hand_on(meta, body, suppressed);
        }
        Ok(suppressed)
    }

    /// Removes a spooled copy the client is about to be told to retry; if that fails,
    /// reconciliation would queue it again on restart: say so loudly.
    async fn remove_unacknowledged(&self, id: hikyaku_model::MessageId) {
        if let Err(error) = self.spool.remove(id).await {
            tracing::error!(%id, %error, "a copy spooled but not acknowledged could not be removed: it may be delivered twice");
        }
    }

    /// After the message is durable and recorded: to the delivery engine, or out of the spool
    /// when every recipient is suppressed.
    fn hand_on(&self, meta: SpoolMeta, body: bytes::Bytes, suppressed: &[u32]) {
        let id = meta.id;
        if suppressed.len() == meta.envelope.recipients.len() {
            // Every recipient is on the suppression list: the message is complete already.
            // Off the client's path; the engine's start-up clean-up removes it should we die.
            let spool = self.spool.clone();
            tokio::spawn(async move {
                if let Err(error) = spool.remove(id).await {
                    tracing::warn!(%id, %error, "a message with every recipient suppressed could not be removed from the spool");
                }
            });
        } else if let Some(delivery) = &self.recorded {
            let _ = delivery.send(RecordedMessage {
                message: SpooledMessage { meta, body },
                suppressed: suppressed.to_vec(),
            });
        }
    }

    /// Withdraws the record of `id` in the background, trying again with growing pauses
    /// until the database takes the delete.
    fn withdraw_later(&self, id: hikyaku_model::MessageId) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut pause = WITHDRAW_RETRY_FIRST;
            loop {
                tokio::time::sleep(pause).await;
                match store.withdraw_accepted(id).await {
                    Ok(_) => {
                        tracing::info!(%id, "withdrew the record of a message that was not spooled");
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%id, %error, "record of a message that was not spooled still not withdrawn");
                        pause = (pause * 2).min(WITHDRAW_RETRY_MAX);
                    }
                }
            }
        });
    }

    /// The message's queue record, group-committed with those of other sessions.
    async fn record_one(&self, record: AcceptedMessage) -> Result<Vec<u32>, IntakeError> {
        let mut suppressed = self.record(vec![record]).await?;
        Ok(suppressed.pop().unwrap_or_default())
    }

    /// The records, in one transaction (group-committed with those of other sessions).
    async fn record(&self, records: Vec<AcceptedMessage>) -> Result<Vec<Vec<u32>>, IntakeError> {
        let (done, result) = oneshot::channel();
        match self.committer.send(Pending { records, done }).await {
            Ok(()) => result
                .await
                .map_err(|_| IntakeError::ShuttingDown)
                .and_then(|r| r.map_err(IntakeError::from)),
            Err(_) => Err(IntakeError::ShuttingDown),
        }
    }

    /// Withdraws every record of this node's unfinished messages whose spool file is not
    /// among `spooled` (the spool's recovery scan): the process died after recording it and
    /// before its spool file was durable, so the client never heard `250` and will send it
    /// again. Files the scan quarantined as damaged are passed in `quarantined` and kept: those
    /// messages were acknowledged. Returns how many were withdrawn.
    pub async fn withdraw_unspooled(
        &self,
        spooled: &[SpoolMeta],
        quarantined: &[hikyaku_model::MessageId],
    ) -> Result<usize, IntakeError> {
        let on_disk: HashSet<_> = spooled
            .iter()
            .map(|m| m.id)
            .chain(quarantined.iter().copied())
            .collect();
        let unfinished = self
            .store
            .unfinished_message_ids(&self.node)
            .await
            .map_err(Arc::new)?;
        let mut withdrawn = 0;
        for id in unfinished.into_iter().filter(|id| !on_disk.contains(id)) {
            self.store.withdraw_accepted(id).await.map_err(Arc::new)?;
            withdrawn += 1;
        }
        Ok(withdrawn)
    }

    /// Removes every spooled message the store does not know. The store records a message
    /// (durably) before the client hears `250`, so such a message was never acknowledged: the
    /// process died between the two steps, the client saw the connection drop and will send
    /// it again. Queueing it too would deliver it twice. Returns how many were removed.
    pub async fn discard_unrecorded(&self, spooled: &[SpoolMeta]) -> Result<usize, IntakeError> {
        let mut removed = 0;
        for chunk in spooled.chunks(1000) {
            let ids: Vec<_> = chunk.iter().map(|m| m.id).collect();
            let known: HashSet<_> = self.store.known_message_ids(&ids).await.map_err(Arc::new)?;
            for meta in chunk.iter().filter(|m| !known.contains(&m.id)) {
                self.spool.remove(meta.id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn record_of(meta: &SpoolMeta, body: &[u8], node: &str) -> AcceptedMessage {
    AcceptedMessage {
        id: meta.id,
        customer_id: meta.customer_id.clone(),
        envelope: meta.envelope.clone(),
        size: meta.size,
        received_at: meta.received_at,
        source_ip: meta.source_ip.clone(),
        node: node.to_string(),
        // SMTP sets neither; the HTTP send's travel in the spool's metadata, so a replay of
        // the spool after a crash records them too.
        tags: meta.tags.clone(),
        metadata: meta.metadata.clone(),
        // Read from the bytes being spooled, so SMTP and HTTP sends are recorded alike.
        subject: crate::subject::subject_of(body),
    }
}

async fn run_committer(store: Store, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut records = Vec::with_capacity(MAX_BATCH);
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        for Pending {
            records: group,
            done,
        } in batch.drain(..)
        {
            let ids: Vec<_> = group.iter().map(|r| r.id).collect();
            records.extend(group);
            waiting.push((ids, done));
        }
        let mut suppressed = store.record_accepted(&records).await.map_err(Arc::new);
        metrics::histogram!("hikyaku_intake_batch_size").record(records.len() as f64);
        records.clear();
        for (ids, done) in waiting.drain(..) {
            let answer = match &mut suppressed {
                Ok(listed) => Ok(ids
                    .iter()
                    .map(|id| listed.remove(id).unwrap_or_default())
                    .collect()),
                Err(error) => Err(Arc::clone(error)),
            };
            let _ = done.send(answer);
        }
    }
}
