use crate::events::{NewEvent, domain_of, insert_events, seal_details};
use crate::{Store, StoreError};
use hikyaku_model::{
    CustomerId, Envelope, EventDetails, EventKind, EventSource, MessageId, QueuedMessage,
    QueuedRecipient, Reason, RecipientState, Timestamp,
};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A message the relay has durably spooled, as it enters the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedMessage {
    pub id: MessageId,
    pub customer_id: CustomerId,
    pub envelope: Envelope,
    pub size: u64,
    pub received_at: Timestamp,
    pub source_ip: String,
    /// The node whose spool holds the message bytes.
    pub node: String,
    /// Labels the sender put on the message (HTTP sends; empty for SMTP), searchable.
    pub tags: Vec<String>,
    /// Key-value pairs the sender attached (HTTP sends; empty for SMTP), returned with every
    /// event of the message. Sealed at rest: values are the customer's free text.
    pub metadata: BTreeMap<String, String>,
    /// The decoded Subject, for the hosted API's records; cut to [`MAX_SUBJECT_CHARS`] when
    /// kept. Sealed at rest like the metadata.
    pub subject: Option<String>,
}

/// The longest subject the send log keeps, in characters: enough to recognise a message by, and
/// a bound on what one message adds to every record of it.
pub const MAX_SUBJECT_CHARS: usize = 255;

/// What the send log keeps of a message besides its events: where it came from and its
/// subject, which the hosted API's records carry as `sourceIp` and `subject`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFacts {
    /// The address of the client that handed the message over.
    pub source_ip: String,
    pub subject: Option<String>,
}

/// Which queued messages to list. The default lists all of them, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    pub customer: Option<CustomerId>,
    /// Only messages with at least one recipient in one of these states (empty: any message).
    pub states: Vec<RecipientState>,
    pub limit: Option<u32>,
}

/// `source` of the `suppressed` event of a recipient skipped because it is on the list.
pub const SUPPRESSION_LIST_SOURCE: EventSource = EventSource::SuppressionList;

/// Multi-row statements are built in chunks of these sizes only, so that any batch size reuses
/// a handful of prepared statements instead of preparing a new text for every size.
const CHUNK_SIZES: [usize; 4] = [64, 16, 4, 1];
/// `IN (...)` look-ups always bind this many IDs (the last chunk is padded by repeating an ID,
/// which changes nothing), for the same reason.
pub(crate) const LOOKUP_CHUNK: usize = 256;

pub(crate) fn statement_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let size = CHUNK_SIZES.into_iter().find(|&size| size <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// `ids` in chunks of exactly [`LOOKUP_CHUNK`], the last one padded with its own last ID.
pub(crate) fn lookup_chunks(ids: &[String]) -> impl Iterator<Item = Vec<&str>> {
    ids.chunks(LOOKUP_CHUNK).map(|chunk| {
        let mut padded: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let last = *padded.last().expect("chunks are never empty");
        padded.resize(LOOKUP_CHUNK, last);
        padded
    })
}

pub(crate) fn in_list_sql(prefix: &str, suffix: &str) -> String {
    let placeholders: Vec<String> = (1..=LOOKUP_CHUNK).map(|i| format!("${i}")).collect();
    format!("{prefix} IN ({}) {suffix}", placeholders.join(", "))
}

/// An accepted message with its addresses already sealed, so that no crypto runs while the
/// transaction holds the write lock.
struct SealedMessage<'a> {
    id: String,
    message: &'a AcceptedMessage,
    size: i64,
    mail_from_sealed: Vec<u8>,
    mail_from_hash: Vec<u8>,
    recipients: Vec<SealedAddress>,
    metadata_sealed: Option<Vec<u8>>,
    subject_sealed: Option<Vec<u8>>,
}

struct SealedAddress {
    sealed: Vec<u8>,
    hash: Vec<u8>,
    domain: Option<String>,
}

/// One recipient of one newly inserted message: its row and its `accepted` event.
struct RecipientRow<'a> {
    message: &'a SealedMessage<'a>,
    index: i64,
}

impl RecipientRow<'_> {
    fn address(&self) -> &SealedAddress {
        &self.message.recipients[self.index as usize]
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    message_id: String,
    customer_id: String,
    mail_from_sealed: Vec<u8>,
    size: i64,
    received_at: i64,
    source_ip: String,
    node: String,
}

#[derive(sqlx::FromRow)]
struct QueuedRecipientRow {
    message_id: String,
    address_sealed: Vec<u8>,
    state: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_reply_sealed: Option<Vec<u8>>,
}

/// `text` cut to its first `max` characters (never inside one).
fn cut_chars(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(end, _)| &text[..end])
}

pub(crate) fn corrupt(column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {e}"))
}

impl Store {
    fn seal_message<'a>(
        &self,
        message: &'a AcceptedMessage,
    ) -> Result<SealedMessage<'a>, StoreError> {
        let size = i64::try_from(message.size)
            .map_err(|_| StoreError::invalid("message size", message.size.to_string()))?;
        let mail_from = &message.envelope.mail_from;
        let metadata_sealed = if message.metadata.is_empty() {
            None
        } else {
            let json = serde_json::to_vec(&message.metadata)
                .map_err(|e| StoreError::invalid("message metadata", e.to_string()))?;
            Some(self.key.seal(&json))
        };
        let subject_sealed = message
            .subject
            .as_deref()
            .map(|subject| self.key.seal_str(cut_chars(subject, MAX_SUBJECT_CHARS)));
        Ok(SealedMessage {
            id: message.id.to_string(),
            message,
            size,
            mail_from_sealed: self.key.seal_str(mail_from),
            mail_from_hash: self.key.address_hash(mail_from),
            recipients: message
                .envelope
                .recipients
                .iter()
                .map(|address| SealedAddress {
                    sealed: self.key.seal_str(address),
                    hash: self.key.address_hash(address),
                    domain: domain_of(address),
                })
                .collect(),
            metadata_sealed,
            subject_sealed,
        })
    }

    /// Enters a batch of spooled messages into the queue in one transaction: each message, its
    /// recipients in state `queued` (due at once), one `accepted` event per recipient, and the
    /// contracts' `last_used_at`.
    ///
    /// A recipient on its contract's suppression list is recorded as `suppressed` instead of
    /// `queued` (never to be sent), with a `suppressed` event after its `accepted` one; a
    /// message whose every recipient is suppressed is complete at once. Returns those
    /// recipients' indexes (ascending) for each message that has any, so the caller hands the
    /// delivery engine only the rest. The list costs one indexed look-up per statement chunk.
    ///
    /// Idempotent per message ID: a message already present (from an earlier call, another
    /// node, or earlier in the same batch) is skipped entirely, so recovery may replay a spool
    /// without duplicating recipients or events.
    pub async fn record_accepted(
        &self,
        batch: &[AcceptedMessage],
    ) -> Result<HashMap<MessageId, Vec<u32>>, StoreError> {
        let mut seen = HashSet::with_capacity(batch.len());
        let sealed: Vec<SealedMessage> = batch
            .iter()
            .filter(|m| seen.insert(m.id))
            .map(|m| self.seal_message(m))
            .collect::<Result<_, _>>()?;
        if sealed.is_empty() {
            return Ok(HashMap::new());
        }
        let _turn = self.write_turn().await;
        let suppressed = with_pool!(self, pool => {
            // The first statement writes, so SQLite takes the write lock at once and never has
            // to upgrade a read lock (which fails with SQLITE_BUSY instead of waiting).
            let mut tx = pool.begin().await?;
            #[cfg(any(test, feature = "test-util"))]
            if let Some(error) = self.faults.injected(crate::RecordStep::Insert) {
                return Err(error);
            }
            let mut inserted = HashSet::with_capacity(sealed.len());
            for chunk in statement_chunks(&sealed) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO messages (message_id, customer_id, mail_from_sealed, \
                     mail_from_hash, size, received_at, source_ip, node, metadata_sealed, \
                     subject_sealed) ",
                );
                insert.push_values(chunk, |mut row, m| {
                    row.push_bind(m.id.as_str())
                        .push_bind(m.message.customer_id.as_str())
                        .push_bind(m.mail_from_sealed.as_slice())
                        .push_bind(m.mail_from_hash.as_slice())
                        .push_bind(m.size)
                        .push_bind(m.message.received_at.as_millis())
                        .push_bind(m.message.source_ip.as_str())
                        .push_bind(m.message.node.as_str())
                        .push_bind(m.metadata_sealed.as_deref())
                        .push_bind(m.subject_sealed.as_deref());
                });
                insert.push(" ON CONFLICT (message_id) DO NOTHING RETURNING message_id");
                let ids: Vec<String> = insert.build_query_scalar().fetch_all(&mut *tx).await?;
                inserted.extend(ids);
            }

            let rows: Vec<RecipientRow> = sealed
                .iter()
                .filter(|m| inserted.contains(&m.id))
                .flat_map(|m| (0..m.recipients.len()).map(move |i| RecipientRow { message: m, index: i as i64 }))
                .collect();
            // Which of them are on their contract's suppression list, by position in `rows`,
            // with the entry's sealed reason.
            let mut listed: HashMap<usize, Option<Vec<u8>>> = HashMap::new();
            let numbered: Vec<(usize, &RecipientRow)> = rows.iter().enumerate().collect();
            for chunk in statement_chunks(&numbered) {
                let mut select = QueryBuilder::new("SELECT v.column1, s.reason_sealed FROM (");
                select.push_values(chunk, |mut row, (position, r)| {
                    row.push_bind(*position as i64)
                        .push_bind(r.message.message.customer_id.as_str())
                        .push_bind(r.address().hash.as_slice());
                });
                select.push(
                    ") AS v JOIN suppressions s \
                     ON s.customer_id = v.column2 AND s.address_hash = v.column3",
                );
                let found: Vec<(i64, Option<Vec<u8>>)> =
                    select.build_query_as().fetch_all(&mut *tx).await?;
                for (position, reason) in found {
                    listed.insert(position as usize, reason);
                }
            }
            for chunk in statement_chunks(&numbered) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO message_recipients (message_id, recipient_index, address_sealed, \
                     address_hash, state, attempts, next_attempt_at, domain) ",
                );
                insert.push_values(chunk, |mut row, (position, r)| {
                    let suppressed = listed.contains_key(position);
                    let state = if suppressed { RecipientState::Suppressed } else { RecipientState::Queued };
                    row.push_bind(r.message.id.as_str())
                        .push_bind(r.index)
                        .push_bind(r.address().sealed.as_slice())
                        .push_bind(r.address().hash.as_slice())
                        .push_bind(state.as_str())
                        .push_bind(0_i64)
                        .push_bind((!suppressed).then(|| r.message.message.received_at.as_millis()))
                        .push_bind(r.address().domain.as_deref());
                });
                insert.build().execute(&mut *tx).await?;
            }
            let tags: Vec<(&str, &str, &str)> = sealed
                .iter()
                .filter(|m| inserted.contains(&m.id))
                .flat_map(|m| {
                    let mut tags: Vec<&str> = m.message.tags.iter().map(String::as_str).collect();
                    tags.sort_unstable();
                    tags.dedup();
                    tags.into_iter()
                        .map(move |tag| (m.id.as_str(), m.message.customer_id.as_str(), tag))
                })
                .collect();
            for chunk in statement_chunks(&tags) {
                let mut insert =
                    QueryBuilder::new("INSERT INTO message_tags (message_id, customer_id, tag) ");
                insert.push_values(chunk, |mut row, (message, customer, tag)| {
                    row.push_bind(*message).push_bind(*customer).push_bind(*tag);
                });
                insert.build().execute(&mut *tx).await?;
            }
            // Rare: the few texts sealed here are not worth a pass before the transaction.
            let mut suppressed: HashMap<MessageId, Vec<u32>> = HashMap::new();
            let mut suppressed_details: HashMap<usize, Option<Vec<u8>>> = HashMap::new();
            let mut positions: Vec<usize> = listed.keys().copied().collect();
            positions.sort_unstable();
            for &position in &positions {
                let r = &rows[position];
                let note = listed[&position]
                    .as_deref()
                    .map(|sealed| self.key.open_string(sealed))
                    .transpose()?;
                let details = EventDetails::Suppressed { source: SUPPRESSION_LIST_SOURCE, note };
                suppressed_details.insert(position, seal_details(self, &details)?);
                suppressed.entry(r.message.message.id).or_default().push(r.index as u32);
            }
            // Every recipient's `accepted`, then the `suppressed` of the listed ones. The
            // recipient row's ciphertext is reused: sealing the same address twice would only
            // cost time, as the look-up hash already links the two rows.
            let mut events = Vec::with_capacity(rows.len() + positions.len());
            let mut later = Vec::with_capacity(positions.len());
            for (position, r) in rows.iter().enumerate() {
                let event = |kind, reason, details_sealed| NewEvent {
                    at: r.message.message.received_at,
                    kind,
                    customer_id: r.message.message.customer_id.as_str(),
                    message_id: r.message.id.as_str(),
                    mail_from_sealed: &r.message.mail_from_sealed,
                    mail_from_hash: &r.message.mail_from_hash,
                    recipient_sealed: &r.address().sealed,
                    recipient_hash: &r.address().hash,
                    recipient_domain: r.address().domain.as_deref(),
                    reason,
                    details_sealed,
                };
                events.push(event(EventKind::Accepted, None, None));
                if let Some(details) = suppressed_details.get(&position) {
                    later.push(event(EventKind::Suppressed, Some(Reason::Suppressed), details.as_deref()));
                }
            }
            events.append(&mut later);
            insert_events((&mut *tx).into(), &events).await?;
            if !listed.is_empty() {
                for m in sealed.iter().filter(|m| {
                    suppressed.get(&m.message.id).is_some_and(|s| s.len() == m.recipients.len())
                }) {
                    sqlx::query("UPDATE messages SET completed_at = $2 WHERE message_id = $1")
                        .bind(m.id.as_str())
                        .bind(m.message.received_at.as_millis())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            // Trial contracts idle for 90 days get suspended: keep `last_used_at` current in
            // the same transaction, since a second one per batch would cost the intake a commit.
            let mut latest: Vec<(&str, i64)> = Vec::new();
            for m in sealed.iter().filter(|m| inserted.contains(&m.id)) {
                let customer = m.message.customer_id.as_str();
                let at = m.message.received_at.as_millis();
                match latest.iter_mut().find(|(id, _)| *id == customer) {
                    Some(entry) => entry.1 = entry.1.max(at),
                    None => latest.push((customer, at)),
                }
            }
            for (customer, at) in latest {
                sqlx::query(
                    "UPDATE contracts SET last_used_at = $2 \
                     WHERE customer_id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                )
                .bind(customer)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            #[cfg(any(test, feature = "test-util"))]
            if let Some(error) = self.faults.injected(crate::RecordStep::Commit) {
                sqlx::raw_sql("ROLLBACK").execute(&mut *tx).await?;
                return Err(error);
            }
            tx.commit().await?;
            suppressed
        });
        Ok(suppressed)
    }

    /// Removes every trace of a message whose acceptance did not complete (its spool file
    /// never became durable, so its client was not told `250` and will send it again): the
    /// message, its recipients, its events. `false` when the queue did not hold it.
    pub async fn withdraw_accepted(&self, id: MessageId) -> Result<bool, StoreError> {
        #[cfg(any(test, feature = "test-util"))]
        if let Some(error) = self.faults.injected(crate::RecordStep::Withdraw) {
            return Err(error);
        }
        let id = id.to_string();
        let _turn = self.write_turn().await;
        let removed = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            crate::events::delete_events_of_message((&mut *tx).into(), &id).await?;
            for sql in [
                "DELETE FROM message_tags WHERE message_id = $1",
                "DELETE FROM queue_commands WHERE message_id = $1",
                "DELETE FROM message_recipients WHERE message_id = $1",
            ] {
                sqlx::query(sql).bind(id.as_str()).execute(&mut *tx).await?;
            }
            let removed = sqlx::query("DELETE FROM messages WHERE message_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            removed
        });
        Ok(removed > 0)
    }

    /// The messages of `node` that still have recipients to deliver (whose spool files must
    /// therefore exist), in ID order.
    pub async fn unfinished_message_ids(&self, node: &str) -> Result<Vec<MessageId>, StoreError> {
        let ids: Vec<String> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT message_id FROM messages WHERE node = $1 AND completed_at IS NULL \
                 ORDER BY message_id",
            )
            .bind(node)
            .fetch_all(pool)
            .await?
        });
        ids.iter()
            .map(|id| id.parse().map_err(|e| corrupt("messages.message_id", e)))
            .collect()
    }

    /// Which of `ids` the queue already holds: what spool recovery must not record again.
    pub async fn known_message_ids(
        &self,
        ids: &[MessageId],
    ) -> Result<HashSet<MessageId>, StoreError> {
        let texts: Vec<String> = ids.iter().map(MessageId::to_string).collect();
        let sql = in_list_sql("SELECT message_id FROM messages WHERE message_id", "");
        let mut known = HashSet::new();
        for chunk in lookup_chunks(&texts) {
            let found: Vec<String> = with_pool!(self, pool => {
                let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()));
                for id in chunk {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await?
            });
            for id in found {
                known.insert(id.parse().map_err(|e| corrupt("messages.message_id", e))?);
            }
        }
        Ok(known)
    }

    /// The facts of the contract's messages among `ids`, by ID; a message of another contract,
    /// or one no longer kept, is not among them. One look-up per [`LOOKUP_CHUNK`] IDs.
    pub async fn message_facts(
        &self,
        customer: &CustomerId,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, MessageFacts>, StoreError> {
        let mut texts: Vec<String> = ids.iter().map(MessageId::to_string).collect();
        texts.sort_unstable();
        texts.dedup();
        let sql = in_list_sql(
            "SELECT message_id, source_ip, subject_sealed FROM messages WHERE message_id",
            &format!("AND customer_id = ${}", LOOKUP_CHUNK + 1),
        );
        let mut facts = HashMap::with_capacity(texts.len());
        for chunk in lookup_chunks(&texts) {
            let rows: Vec<(String, String, Option<Vec<u8>>)> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
                for id in &chunk {
                    query = query.bind(*id);
                }
                query.bind(customer.as_str()).fetch_all(pool).await?
            });
            for (id, source_ip, subject_sealed) in rows {
                let id: MessageId = id.parse().map_err(|e| corrupt("messages.message_id", e))?;
                let subject = subject_sealed
                    .map(|sealed| self.key.open_string(&sealed))
                    .transpose()?;
                facts.insert(id, MessageFacts { source_ip, subject });
            }
        }
        Ok(facts)
    }

    pub async fn queued_message(&self, id: MessageId) -> Result<Option<QueuedMessage>, StoreError> {
        let row: Option<MessageRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT message_id, customer_id, mail_from_sealed, size, received_at, source_ip, node \
                 FROM messages WHERE message_id = $1",
            )
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?
        });
        let Some(row) = row else { return Ok(None) };
        let mut messages = self.assemble(vec![row]).await?;
        Ok(messages.pop())
    }

    /// Queued messages with their recipients, oldest first (message IDs sort by time).
    pub async fn queue(&self, filter: QueueFilter) -> Result<Vec<QueuedMessage>, StoreError> {
        let rows: Vec<MessageRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(
                "SELECT m.message_id, m.customer_id, m.mail_from_sealed, m.size, m.received_at, \
                 m.source_ip, m.node FROM messages m WHERE 1 = 1",
            );
            if let Some(customer) = &filter.customer {
                select.push(" AND m.customer_id = ").push_bind(customer.as_str());
            }
            if !filter.states.is_empty() {
                select.push(
                    " AND EXISTS (SELECT 1 FROM message_recipients r \
                     WHERE r.message_id = m.message_id AND r.state IN (",
                );
                let mut states = select.separated(", ");
                for state in &filter.states {
                    states.push_bind(state.as_str());
                }
                select.push("))");
            }
            select.push(" ORDER BY m.message_id");
            if let Some(limit) = filter.limit {
                select.push(" LIMIT ").push_bind(i64::from(limit));
            }
            select.build_query_as().fetch_all(pool).await?
        });
        self.assemble(rows).await
    }

    /// Unseals message rows and attaches their recipients, keeping the rows' order.
    async fn assemble(&self, rows: Vec<MessageRow>) -> Result<Vec<QueuedMessage>, StoreError> {
        let ids: Vec<String> = rows.iter().map(|row| row.message_id.clone()).collect();
        let mut recipients = self.recipients_of(&ids).await?;
        rows.into_iter()
            .map(|row| {
                Ok(QueuedMessage {
                    id: row
                        .message_id
                        .parse()
                        .map_err(|e| corrupt("messages.message_id", e))?,
                    customer_id: row
                        .customer_id
                        .parse()
                        .map_err(|e| corrupt("messages.customer_id", e))?,
                    mail_from: self.key.open_string(&row.mail_from_sealed)?,
                    size: u64::try_from(row.size).map_err(|e| corrupt("messages.size", e))?,
                    received_at: Timestamp(row.received_at),
                    source_ip: row.source_ip,
                    node: row.node,
                    recipients: recipients.remove(&row.message_id).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn recipients_of(
        &self,
        message_ids: &[String],
    ) -> Result<HashMap<String, Vec<QueuedRecipient>>, StoreError> {
        let sql = in_list_sql(
            "SELECT message_id, address_sealed, state, attempts, next_attempt_at, \
             last_reply_sealed FROM message_recipients WHERE message_id",
            "ORDER BY message_id, recipient_index",
        );
        let mut by_message: HashMap<String, Vec<QueuedRecipient>> = HashMap::new();
        for chunk in lookup_chunks(message_ids) {
            let rows: Vec<QueuedRecipientRow> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
                for id in chunk {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await?
            });
            for row in rows {
                let recipient = QueuedRecipient {
                    address: self.key.open_string(&row.address_sealed)?,
                    state: row
                        .state
                        .parse()
                        .map_err(|e| corrupt("message_recipients.state", e))?,
                    attempts: u32::try_from(row.attempts)
                        .map_err(|e| corrupt("message_recipients.attempts", e))?,
                    next_attempt_at: row.next_attempt_at.map(Timestamp),
                    last_reply: row
                        .last_reply_sealed
                        .map(|sealed| self.key.open_string(&sealed))
                        .transpose()?,
                };
                by_message
                    .entry(row.message_id)
                    .or_default()
                    .push(recipient);
            }
        }
        Ok(by_message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_once_with_few_distinct_sizes() {
        for n in 0..300usize {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&rows).collect();
            let flat: Vec<usize> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(flat, rows);
            assert!(chunks.iter().all(|c| CHUNK_SIZES.contains(&c.len())));
            assert!(chunks.len() <= n / 64 + 9, "{n}: {}", chunks.len());
        }
    }

    #[test]
    fn lookup_chunks_are_padded_to_one_size() {
        let ids: Vec<String> = (0..600).map(|i| i.to_string()).collect();
        let chunks: Vec<Vec<&str>> = lookup_chunks(&ids).collect();
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| c.len() == LOOKUP_CHUNK));
        let distinct: HashSet<&str> = chunks.iter().flatten().copied().collect();
        assert_eq!(distinct.len(), 600);
        assert_eq!(chunks[2][LOOKUP_CHUNK - 1], "599");
        assert_eq!(lookup_chunks(&[]).count(), 0);
    }
}
