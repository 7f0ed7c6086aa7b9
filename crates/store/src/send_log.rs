//! Reading the send log (the `events` table): one message's history, and searches by contract,
//! recipient, message, outcome and time, decrypted for the operator's CLI, the console and the API.

use crate::queue::corrupt;
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, Event, EventKind, MessageId, SendLogFields, Timestamp};
use sqlx::QueryBuilder;

/// Which send-log entries to find. Every field narrows the search; the default finds all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this contract's entries. Set it whenever the search is made for a contract: nothing
    /// else keeps other contracts' entries out.
    pub customer: Option<CustomerId>,
    /// Matched without regard to case, through the look-up hash.
    pub recipient: Option<String>,
    pub message_id: Option<MessageId>,
    pub kind: Option<EventKind>,
    /// Entries at or after this time.
    pub since: Option<Timestamp>,
    /// Entries before this time.
    pub until: Option<Timestamp>,
    pub limit: Option<u32>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    at: i64,
    kind: String,
    customer_id: String,
    message_id: String,
    mail_from_sealed: Vec<u8>,
    recipient_sealed: Vec<u8>,
    details_sealed: Option<Vec<u8>>,
}

const EVENT_COLUMNS: &str = "SELECT at, kind, customer_id, message_id, mail_from_sealed, \
                             recipient_sealed, details_sealed FROM events";

impl Store {
    /// The message's send-log entries in the order they were recorded.
    pub async fn events_for_message(&self, id: MessageId) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(EVENT_COLUMNS);
            select
                .push(" WHERE message_id = ")
                .push_bind(id.to_string())
                .push(" ORDER BY event_id");
            select.build_query_as().fetch_all(pool).await?
        });
        self.events_from_rows(rows)
    }

    /// The contract's send-log entries for one recipient address (matched without regard to
    /// case, through the look-up hash), newest first, at most `limit`.
    pub async fn events_for_recipient(
        &self,
        customer_id: &CustomerId,
        recipient: &str,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        self.search_events(&LogFilter {
            customer: Some(customer_id.clone()),
            recipient: Some(recipient.to_string()),
            limit: Some(limit),
            ..LogFilter::default()
        })
        .await
    }

    /// Send-log entries matching `filter`, newest first.
    pub async fn search_events(&self, filter: &LogFilter) -> Result<Vec<Event>, StoreError> {
        let recipient_hash = filter
            .recipient
            .as_deref()
            .map(|r| self.key.address_hash(r));
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(EVENT_COLUMNS);
            select.push(" WHERE 1 = 1");
            if let Some(customer) = &filter.customer {
                select.push(" AND customer_id = ").push_bind(customer.as_str());
            }
            if let Some(hash) = &recipient_hash {
                select.push(" AND recipient_hash = ").push_bind(hash.as_slice());
            }
            if let Some(id) = filter.message_id {
                select.push(" AND message_id = ").push_bind(id.to_string());
            }
            if let Some(kind) = filter.kind {
                select.push(" AND kind = ").push_bind(kind.as_str());
            }
            if let Some(since) = filter.since {
                select.push(" AND at >= ").push_bind(since.as_millis());
            }
            if let Some(until) = filter.until {
                select.push(" AND at < ").push_bind(until.as_millis());
            }
            select.push(" ORDER BY at DESC, event_id DESC");
            if let Some(limit) = filter.limit {
                select.push(" LIMIT ").push_bind(i64::from(limit));
            }
            select.build_query_as().fetch_all(pool).await?
        });
        self.events_from_rows(rows)
    }

    fn events_from_rows(&self, rows: Vec<EventRow>) -> Result<Vec<Event>, StoreError> {
        rows.into_iter()
            .map(|row| self.event_from_row(row))
            .collect()
    }

    fn event_from_row(&self, row: EventRow) -> Result<Event, StoreError> {
        let details: SendLogFields = match row.details_sealed {
            Some(sealed) => serde_json::from_slice(&self.key.open(&sealed)?)
                .map_err(|e| corrupt("events.details_sealed", e))?,
            None => SendLogFields::default(),
        };
        Ok(Event {
            at: Timestamp(row.at),
            kind: row.kind.parse().map_err(|e| corrupt("events.kind", e))?,
            customer_id: row
                .customer_id
                .parse()
                .map_err(|e| corrupt("events.customer_id", e))?,
            message_id: row
                .message_id
                .parse()
                .map_err(|e| corrupt("events.message_id", e))?,
            mail_from: self.key.open_string(&row.mail_from_sealed)?,
            recipient: self.key.open_string(&row.recipient_sealed)?,
            details,
        })
    }
}
