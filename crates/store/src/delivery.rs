//! What the delivery engine reads and writes: the pending work of a node, the outcomes of its
//! attempts, and the operator's retry/delete commands that it must apply to its schedule.

use crate::queue::{LOOKUP_CHUNK, corrupt, in_list_sql, lookup_chunks, statement_chunks};
use crate::suppression::{SuppressionTarget, apply_suppression};
use crate::{SoftBouncePolicy, Store, StoreError, SuppressionEffect};
use hikyaku_model::{
    CustomerId, EventDetails, EventKind, MessageId, RecipientState, Timestamp, named_enum,
};
use sqlx::QueryBuilder;
use std::collections::BTreeSet;

/// The states in which a recipient still waits for an attempt, as SQL. Every query about
/// pending work uses this list; a unit test keeps it in step with [`RecipientState::is_final`].
macro_rules! pending_states_sql {
    () => {
        "('queued', 'deferred')"
    };
}

/// A message with recipients still to deliver, as the engine schedules it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMessage {
    pub id: MessageId,
    pub customer_id: CustomerId,
    /// The envelope sender as the application gave it (empty for `<>`).
    pub mail_from: String,
    pub size: u64,
    pub received_at: Timestamp,
    /// Only the recipients that are queued or deferred, by index.
    pub recipients: Vec<PendingRecipient>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecipient {
    /// The recipient's position in the envelope: how outcomes and VERP addresses name it.
    pub index: u32,
    pub address: String,
    pub state: RecipientState,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
}

/// What one attempt (or the end of the lifetime) did to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// A temporary failure: try again at `next_attempt_at`.
    Deferred {
        next_attempt_at: Timestamp,
    },
    Bounced,
    Expired,
    /// Not attempted: the address went on its contract's suppression list while the message
    /// waited in the queue.
    Suppressed,
}

impl Outcome {
    pub fn state(self) -> RecipientState {
        match self {
            Outcome::Delivered => RecipientState::Delivered,
            Outcome::Deferred { .. } => RecipientState::Deferred,
            Outcome::Bounced => RecipientState::Bounced,
            Outcome::Expired => RecipientState::Expired,
            Outcome::Suppressed => RecipientState::Suppressed,
        }
    }

    pub fn event_kind(self) -> EventKind {
        match self {
            Outcome::Delivered => EventKind::Delivered,
            Outcome::Deferred { .. } => EventKind::Deferred,
            Outcome::Bounced => EventKind::Bounced,
            Outcome::Expired => EventKind::Expired,
            Outcome::Suppressed => EventKind::Suppressed,
        }
    }

    /// Whether the outcome ends an attempt: a recipient skipped for the suppression list was
    /// never tried.
    fn counts_as_attempt(self) -> bool {
        self != Outcome::Suppressed
    }

    fn next_attempt_at(self) -> Option<Timestamp> {
        match self {
            Outcome::Deferred { next_attempt_at } => Some(next_attempt_at),
            Outcome::Delivered | Outcome::Bounced | Outcome::Expired | Outcome::Suppressed => None,
        }
    }
}

/// The outcome of one attempt for one recipient, with its send-log details (of the outcome's
/// kind). Every outcome but `Suppressed` counts as one attempt: the exchange's `attempt` should
/// be the recipient's attempts so far plus one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientOutcome {
    pub message_id: MessageId,
    pub recipient_index: u32,
    pub at: Timestamp,
    pub outcome: Outcome,
    pub details: EventDetails,
    /// What the outcome does to the contract's suppression list (see
    /// [`AddressSignal`](crate::AddressSignal)), applied with the details' reason and the message
    /// ID in the same transaction as the outcome.
    pub suppression: SuppressionEffect,
}

named_enum! {
    /// What the operator asked of a queued message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum QueueAction: "queue action" {
        /// Its waiting recipients are due now.
        Retry = "retry",
        /// Its waiting recipients ended as `deleted`: never attempt them again.
        Delete = "delete",
    }
}

/// An operator action for the engine of `node` to apply to its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCommand {
    pub message_id: MessageId,
    pub action: QueueAction,
    pub issued_at: Timestamp,
}

/// What an operator action changed: the recipients it applied to, by address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueChange {
    pub message_id: MessageId,
    pub action: QueueAction,
    /// The node whose engine holds the message.
    pub node: String,
    pub recipients: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    message_id: String,
    customer_id: String,
    mail_from_sealed: Vec<u8>,
    size: i64,
    received_at: i64,
    recipient_index: i64,
    address_sealed: Vec<u8>,
    state: String,
    attempts: i64,
    next_attempt_at: i64,
}

/// An outcome with its texts already sealed, so that no crypto runs inside the transaction.
struct SealedOutcome<'a> {
    outcome: &'a RecipientOutcome,
    message_id: String,
    /// Position in the batch: events are written in the order the engine reported them.
    ordinal: i64,
    details_sealed: Option<Vec<u8>>,
    last_reply_sealed: Option<Vec<u8>>,
    /// The sealed reason of the suppression entry, when the outcome may list the address.
    suppression_reason_sealed: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
struct ChangedRecipientRow {
    recipient_index: i64,
    address_sealed: Vec<u8>,
    address_hash: Vec<u8>,
    domain: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SuppressedRecipientRow {
    customer_id: String,
    address_hash: Vec<u8>,
    address_sealed: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct MessageOwnerRow {
    customer_id: String,
    mail_from_sealed: Vec<u8>,
    mail_from_hash: Vec<u8>,
    node: String,
}

#[derive(sqlx::FromRow)]
struct CommandRow {
    command_id: i64,
    message_id: String,
    action: String,
    issued_at: i64,
}

/// What a person reads as the recipient's last reply: `451 4.7.1 try later`, or the reason when
/// no server answered (a connection failure).
fn reply_summary(details: &EventDetails) -> Option<String> {
    details
        .exchange()
        .and_then(|exchange| exchange.summary())
        .or_else(|| details.reason().map(|reason| reason.as_str().to_string()))
}

#[derive(sqlx::FromRow)]
struct OutcomeTargetRow {
    ordinal: i64,
    customer_id: String,
    mail_from_sealed: Vec<u8>,
    mail_from_hash: Vec<u8>,
    address_sealed: Vec<u8>,
    address_hash: Vec<u8>,
    domain: Option<String>,
}

impl Store {
    /// One page of the pending work of `node`: messages whose spool lives there and that have
    /// recipients still queued or deferred, in message ID order after `after`, at most `limit`
    /// messages. Call again with the last ID until a page comes back empty.
    pub async fn pending_messages(
        &self,
        node: &str,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<PendingMessage>, StoreError> {
        // Every message ID sorts after the empty text.
        let after = after.map(|id| id.to_string()).unwrap_or_default();
        let rows: Vec<PendingRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT m.message_id, m.customer_id, m.mail_from_sealed, m.size, m.received_at, \
                 r.recipient_index, r.address_sealed, r.state, r.attempts, \
                 COALESCE(r.next_attempt_at, m.received_at) AS next_attempt_at \
                 FROM (SELECT message_id FROM messages \
                       WHERE node = $1 AND completed_at IS NULL AND message_id > $2 \
                       ORDER BY message_id LIMIT $3) page \
                 JOIN messages m ON m.message_id = page.message_id \
                 JOIN message_recipients r ON r.message_id = m.message_id \
                 WHERE r.state IN ",
                pending_states_sql!(),
                " ORDER BY m.message_id, r.recipient_index"
            ))
            .bind(node)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        let mut messages: Vec<PendingMessage> = Vec::new();
        for row in rows {
            let recipient = PendingRecipient {
                index: u32::try_from(row.recipient_index)
                    .map_err(|e| corrupt("message_recipients.recipient_index", e))?,
                address: self.key.open_string(&row.address_sealed)?,
                state: row
                    .state
                    .parse()
                    .map_err(|e| corrupt("message_recipients.state", e))?,
                attempts: u32::try_from(row.attempts)
                    .map_err(|e| corrupt("message_recipients.attempts", e))?,
                next_attempt_at: Timestamp(row.next_attempt_at),
            };
            let id: MessageId = row
                .message_id
                .parse()
                .map_err(|e| corrupt("messages.message_id", e))?;
            match messages.last_mut() {
                Some(last) if last.id == id => last.recipients.push(recipient),
                _ => messages.push(PendingMessage {
                    id,
                    customer_id: row
                        .customer_id
                        .parse()
                        .map_err(|e| corrupt("messages.customer_id", e))?,
                    mail_from: self.key.open_string(&row.mail_from_sealed)?,
                    size: u64::try_from(row.size).map_err(|e| corrupt("messages.size", e))?,
                    received_at: Timestamp(row.received_at),
                    recipients: vec![recipient],
                }),
            }
        }
        Ok(messages)
    }

    /// Records a batch of outcomes (any number of messages) in one transaction: each recipient's
    /// new state, attempts + 1, next attempt time (deferred only) and last reply, and one event
    /// per outcome, and its `suppression` effect on the contract's list under `soft_bounces`
    /// (an address already listed keeps its entry).
    /// Returns the messages of the batch that became complete (no recipient left queued or
    /// deferred), in ID order, so the engine can remove their spool files.
    ///
    /// A recipient that is already final (the operator deleted its message while the attempt
    /// was in flight) keeps its state; the event is still written. Outcomes for recipients the
    /// queue does not hold are skipped with a warning rather than failing the whole batch.
    pub async fn record_outcomes(
        &self,
        batch: &[RecipientOutcome],
        soft_bounces: &SoftBouncePolicy,
    ) -> Result<Vec<MessageId>, StoreError> {
        let Some(completed_at) = batch.iter().map(|o| o.at).max() else {
            return Ok(Vec::new());
        };
        let sealed: Vec<SealedOutcome> = batch
            .iter()
            .enumerate()
            .map(|(ordinal, outcome)| {
                if outcome.details.kind() != outcome.outcome.event_kind() {
                    return Err(StoreError::invalid(
                        "outcome details",
                        format!(
                            "{} details for a {} outcome",
                            outcome.details.kind(),
                            outcome.outcome.event_kind()
                        ),
                    ));
                }
                Ok(SealedOutcome {
                    outcome,
                    message_id: outcome.message_id.to_string(),
                    ordinal: ordinal as i64,
                    details_sealed: crate::events::seal_details(self, &outcome.details)?,
                    // A recipient skipped for the list got no reply: its last one stays.
                    last_reply_sealed: reply_summary(&outcome.details)
                        .filter(|_| outcome.outcome.counts_as_attempt())
                        .map(|reply| self.key.seal_str(&reply)),
                    suppression_reason_sealed: outcome
                        .details
                        .reason()
                        .filter(|_| outcome.suppression != SuppressionEffect::Nothing)
                        .map(|reason| self.key.seal_str(reason.as_str())),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let touched: Vec<String> = sealed
            .iter()
            .map(|s| s.message_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let completion_sql = in_list_sql(
            "UPDATE messages SET completed_at = $257 WHERE message_id",
            concat!(
                "AND completed_at IS NULL AND NOT EXISTS (SELECT 1 FROM message_recipients r \
                 WHERE r.message_id = messages.message_id AND r.state IN ",
                pending_states_sql!(),
                ") RETURNING message_id"
            ),
        );
        debug_assert_eq!(
            LOOKUP_CHUNK, 256,
            "completion_sql numbers its last parameter 257"
        );

        let _turn = self.write_turn().await;
        let (events_written, completed): (usize, Vec<String>) = with_pool!(self, pool => {
            // The first statement writes, so SQLite takes the write lock at once.
            let mut tx = pool.begin().await?;
            for chunk in statement_chunks(&sealed) {
                let mut update = QueryBuilder::new(
                    "UPDATE message_recipients AS r SET state = v.column3, \
                     attempts = attempts + v.column6, next_attempt_at = v.column4, \
                     last_reply_sealed = COALESCE(v.column5, last_reply_sealed) FROM (",
                );
                update.push_values(chunk, |mut row, s| {
                    row.push_bind(s.message_id.as_str())
                        .push_bind(i64::from(s.outcome.recipient_index))
                        .push_bind(s.outcome.outcome.state().as_str())
                        .push_bind(s.outcome.outcome.next_attempt_at().map(Timestamp::as_millis))
                        .push_bind(s.last_reply_sealed.as_deref())
                        .push_bind(s.outcome.outcome.counts_as_attempt() as i64);
                });
                update.push(concat!(
                    ") AS v WHERE r.message_id = v.column1 AND r.recipient_index = v.column2 \
                     AND r.state IN ",
                    pending_states_sql!()
                ));
                update.build().execute(&mut *tx).await?;
            }
            // The rows the events are about, in the engine's order; an outcome for a recipient
            // the queue does not hold finds none and is skipped.
            let mut targets: Vec<OutcomeTargetRow> = Vec::with_capacity(sealed.len());
            for chunk in statement_chunks(&sealed) {
                let mut select = QueryBuilder::new(
                    "SELECT v.column3 AS ordinal, m.customer_id, m.mail_from_sealed, \
                     m.mail_from_hash, r.address_sealed, r.address_hash, r.domain FROM (",
                );
                select.push_values(chunk, |mut row, s| {
                    row.push_bind(s.message_id.as_str())
                        .push_bind(i64::from(s.outcome.recipient_index))
                        .push_bind(s.ordinal);
                });
                select.push(
                    ") AS v JOIN message_recipients r \
                     ON r.message_id = v.column1 AND r.recipient_index = v.column2 \
                     JOIN messages m ON m.message_id = v.column1",
                );
                let rows: Vec<OutcomeTargetRow> = select.build_query_as().fetch_all(&mut *tx).await?;
                targets.extend(rows);
            }
            targets.sort_by_key(|t| t.ordinal);
            // Recipients accepted before their domain was kept: rare, and only until they finish.
            let legacy_domains: Vec<Option<String>> = targets
                .iter()
                .map(|t| match &t.domain {
                    Some(_) => Ok(None),
                    None => Ok(crate::events::domain_of(&self.key.open_string(&t.address_sealed)?)),
                })
                .collect::<Result<_, StoreError>>()?;
            let events: Vec<crate::events::NewEvent> = targets
                .iter()
                .zip(&legacy_domains)
                .map(|(t, legacy)| {
                    let s = &sealed[t.ordinal as usize];
                    crate::events::NewEvent {
                        at: s.outcome.at,
                        kind: s.outcome.outcome.event_kind(),
                        customer_id: &t.customer_id,
                        message_id: &s.message_id,
                        mail_from_sealed: &t.mail_from_sealed,
                        mail_from_hash: &t.mail_from_hash,
                        recipient_sealed: &t.address_sealed,
                        recipient_hash: &t.address_hash,
                        recipient_domain: t.domain.as_deref().or(legacy.as_deref()),
                        reason: s.outcome.details.reason(),
                        details_sealed: s.details_sealed.as_deref(),
                    }
                })
                .collect();
            let events_written = crate::events::insert_events((&mut *tx).into(), &events).await?.len();
            let observed: Vec<crate::quality::Observed> = targets
                .iter()
                .zip(&legacy_domains)
                .map(|(t, legacy)| crate::quality::Observed {
                    customer: &t.customer_id,
                    at: sealed[t.ordinal as usize].outcome.at,
                    domain: t.domain.as_deref().or(legacy.as_deref()),
                    details: &sealed[t.ordinal as usize].outcome.details,
                })
                .collect();
            crate::quality::count((&mut *tx).into(), &observed).await?;
            crate::reputation::count((&mut *tx).into(), &observed, crate::reputation::Origin::Delivery)
                .await?;
            // Bounces are few: a few statements each. The recipient row's ciphertext is
            // reused, as in the events.
            for s in sealed.iter().filter(|s| match s.outcome.suppression {
                SuppressionEffect::Suppress(_) => true,
                SuppressionEffect::CountSoft => soft_bounces.counts(),
                SuppressionEffect::Nothing => false,
            }) {
                let row: Option<SuppressedRecipientRow> = sqlx::query_as(
                    "SELECT m.customer_id, r.address_hash, r.address_sealed \
                     FROM message_recipients r JOIN messages m ON m.message_id = r.message_id \
                     WHERE r.message_id = $1 AND r.recipient_index = $2",
                )
                .bind(s.message_id.as_str())
                .bind(i64::from(s.outcome.recipient_index))
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { continue };
                let target = SuppressionTarget {
                    customer: &row.customer_id,
                    hash: &row.address_hash,
                    sealed: &row.address_sealed,
                    effect: s.outcome.suppression,
                    reason_sealed: s.suppression_reason_sealed.as_deref(),
                    message_id: &s.message_id,
                    at: s.outcome.at.as_millis(),
                };
                apply_suppression!(tx, &target, soft_bounces).await?;
            }
            let mut completed = Vec::new();
            for chunk in lookup_chunks(&touched) {
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(completion_sql.as_str()));
                for id in chunk {
                    query = query.bind(id);
                }
                let ids: Vec<String> = query
                    .bind(completed_at.as_millis())
                    .fetch_all(&mut *tx)
                    .await?;
                completed.extend(ids);
            }
            tx.commit().await?;
            (events_written, completed)
        });
        if events_written < batch.len() {
            tracing::warn!(
                outcomes = batch.len(),
                recorded = events_written,
                "outcomes for recipients the queue does not hold were skipped"
            );
        }
        let mut completed: Vec<MessageId> = completed
            .into_iter()
            .map(|id| id.parse().map_err(|e| corrupt("messages.message_id", e)))
            .collect::<Result<_, _>>()?;
        completed.sort();
        Ok(completed)
    }

    /// Makes the message's queued and deferred recipients due at `at` (now), and tells the
    /// engine of its node. Fails with [`StoreError::MessageNotFound`] for an unknown ID and
    /// [`StoreError::NothingPending`] when every recipient is already final.
    pub async fn retry_message(
        &self,
        id: MessageId,
        at: Timestamp,
    ) -> Result<QueueChange, StoreError> {
        self.act_on_message(id, QueueAction::Retry, at).await
    }

    /// Ends the message's queued and deferred recipients as `deleted`, with a `deleted` event
    /// each, marks the message complete, and tells the engine of its node. Fails like
    /// [`Store::retry_message`].
    pub async fn delete_message(
        &self,
        id: MessageId,
        at: Timestamp,
    ) -> Result<QueueChange, StoreError> {
        self.act_on_message(id, QueueAction::Delete, at).await
    }

    /// One transaction: the action's change to the waiting recipients (and for a delete, their
    /// events and the message's completion), then the command for the engine of its node.
    async fn act_on_message(
        &self,
        id: MessageId,
        action: QueueAction,
        at: Timestamp,
    ) -> Result<QueueChange, StoreError> {
        let message_id = id.to_string();
        let _turn = self.write_turn().await;
        let (node, changed): (String, Vec<ChangedRecipientRow>) = with_pool!(self, pool => {
            // The first statement writes, so SQLite takes the write lock at once.
            let mut tx = pool.begin().await?;
            let change = match action {
                QueueAction::Retry => sqlx::query_as(concat!(
                    "UPDATE message_recipients SET next_attempt_at = $2 \
                     WHERE message_id = $1 AND state IN ",
                    pending_states_sql!(),
                    " RETURNING recipient_index, address_sealed, address_hash, domain"
                ))
                .bind(&message_id)
                .bind(at.as_millis()),
                QueueAction::Delete => sqlx::query_as(concat!(
                    "UPDATE message_recipients SET state = $2, next_attempt_at = NULL \
                     WHERE message_id = $1 AND state IN ",
                    pending_states_sql!(),
                    " RETURNING recipient_index, address_sealed, address_hash, domain"
                ))
                .bind(&message_id)
                .bind(RecipientState::Deleted.as_str()),
            };
            let mut changed: Vec<ChangedRecipientRow> = change.fetch_all(&mut *tx).await?;
            changed.sort_by_key(|r| r.recipient_index);
            let owner: Option<MessageOwnerRow> = sqlx::query_as(
                "SELECT customer_id, mail_from_sealed, mail_from_hash, node FROM messages \
                 WHERE message_id = $1",
            )
            .bind(&message_id)
            .fetch_optional(&mut *tx)
            .await?;
            let owner = owner.ok_or(StoreError::MessageNotFound(id))?;
            if changed.is_empty() {
                return Err(StoreError::NothingPending(id));
            }
            if action == QueueAction::Delete {
                let events: Vec<crate::events::NewEvent> = changed
                    .iter()
                    .map(|r| crate::events::NewEvent {
                        at,
                        kind: EventKind::Deleted,
                        customer_id: &owner.customer_id,
                        message_id: &message_id,
                        mail_from_sealed: &owner.mail_from_sealed,
                        mail_from_hash: &owner.mail_from_hash,
                        recipient_sealed: &r.address_sealed,
                        recipient_hash: &r.address_hash,
                        recipient_domain: r.domain.as_deref(),
                        reason: None,
                        details_sealed: None,
                    })
                    .collect();
                crate::events::insert_events((&mut *tx).into(), &events).await?;
                sqlx::query(
                    "UPDATE messages SET completed_at = $2 WHERE message_id = $1 \
                     AND completed_at IS NULL",
                )
                .bind(&message_id)
                .bind(at.as_millis())
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO queue_commands (node, message_id, action, issued_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&owner.node)
            .bind(&message_id)
            .bind(action.as_str())
            .bind(at.as_millis())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            (owner.node, changed)
        });
        Ok(QueueChange {
            message_id: id,
            action,
            node,
            recipients: changed
                .iter()
                .map(|r| self.key.open_string(&r.address_sealed))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Removes and returns the operator commands waiting for the engine of `node`, oldest
    /// first. Cheap when there are none (one indexed read, no write), so it can be polled.
    pub async fn take_queue_commands(&self, node: &str) -> Result<Vec<QueueCommand>, StoreError> {
        let mut rows: Vec<CommandRow> = with_pool!(self, pool => {
            let waiting: Option<i64> = sqlx::query_scalar(
                "SELECT command_id FROM queue_commands WHERE node = $1 LIMIT 1",
            )
            .bind(node)
            .fetch_optional(pool)
            .await?;
            if waiting.is_none() {
                return Ok(Vec::new());
            }
            sqlx::query_as(
                "DELETE FROM queue_commands WHERE node = $1 \
                 RETURNING command_id, message_id, action, issued_at",
            )
            .bind(node)
            .fetch_all(pool)
            .await?
        });
        rows.sort_by_key(|row| row.command_id);
        rows.into_iter()
            .map(|row| {
                Ok(QueueCommand {
                    message_id: row
                        .message_id
                        .parse()
                        .map_err(|e| corrupt("queue_commands.message_id", e))?,
                    action: row
                        .action
                        .parse()
                        .map_err(|e| corrupt("queue_commands.action", e))?,
                    issued_at: Timestamp(row.issued_at),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_states_in_sql_are_the_non_final_ones() {
        let listed: Vec<RecipientState> = pending_states_sql!()
            .trim_matches(['(', ')'])
            .split(", ")
            .map(|quoted| quoted.trim_matches('\'').parse().unwrap())
            .collect();
        let pending: Vec<RecipientState> = RecipientState::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(listed, pending);
    }

    #[test]
    fn outcomes_map_to_their_state_and_event() {
        let later = Timestamp(5);
        for (outcome, state, kind, next) in [
            (
                Outcome::Delivered,
                RecipientState::Delivered,
                EventKind::Delivered,
                None,
            ),
            (
                Outcome::Deferred {
                    next_attempt_at: later,
                },
                RecipientState::Deferred,
                EventKind::Deferred,
                Some(later),
            ),
            (
                Outcome::Bounced,
                RecipientState::Bounced,
                EventKind::Bounced,
                None,
            ),
            (
                Outcome::Expired,
                RecipientState::Expired,
                EventKind::Expired,
                None,
            ),
        ] {
            assert_eq!(outcome.state(), state);
            assert_eq!(outcome.event_kind(), kind);
            assert_eq!(outcome.state().as_str(), kind.as_str());
            assert_eq!(outcome.next_attempt_at(), next);
        }
    }

    #[test]
    fn last_reply_reads_like_the_servers_answer() {
        use hikyaku_model::{EnhancedStatus, EventSource, Exchange, Reason};
        let full = EventDetails::Deferred {
            exchange: Exchange {
                code: Some(451),
                status: Some(EnhancedStatus::new(4, 7, 1)),
                text: Some("try again later".into()),
                ..Exchange::by(EventSource::Smtp)
            },
            reason: Some(Reason::Blocked),
        };
        assert_eq!(
            reply_summary(&full).as_deref(),
            Some("451 4.7.1 try again later")
        );
        let code_only = EventDetails::Delivered {
            exchange: Exchange {
                code: Some(250),
                ..Exchange::by(EventSource::Smtp)
            },
        };
        assert_eq!(reply_summary(&code_only).as_deref(), Some("250"));
        let no_server = EventDetails::Deferred {
            exchange: Exchange::by(EventSource::Local),
            reason: Some(Reason::NetworkError),
        };
        assert_eq!(reply_summary(&no_server).as_deref(), Some("networkerror"));
        assert_eq!(reply_summary(&EventDetails::Deleted), None);
    }
}
