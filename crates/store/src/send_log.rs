//! Reading the send log (the `events` table): searches by contract, time, recipient, domain,
//! sender, message, kind, reason and tag, page by page; one message's history; a contract's
//! bounces; and its retention purge. Decrypted for the operator's CLI, the console and the API.

use crate::events::details_from_json;
use crate::queue::{corrupt, in_list_sql, lookup_chunks};
use crate::{DAY_MS, HOUR_MS, MINUTE_MS};
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, Event, EventKind, MessageId, Reason, Timestamp};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

/// Which send-log entries to find. Every field narrows the search; the default finds all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Only this contract's entries. Set it whenever the search is made for a contract: nothing
    /// else keeps other contracts' entries out.
    pub customer: Option<CustomerId>,
    /// Matched without regard to case, through the look-up hash.
    pub recipient: Option<String>,
    /// The recipient's domain, without regard to case. Events recorded before the domain was
    /// kept (migration 0007) have none and are not found this way.
    pub recipient_domain: Option<String>,
    /// The envelope sender, matched without regard to case through the look-up hash.
    pub sender: Option<String>,
    pub message_id: Option<MessageId>,
    /// Any of these kinds (empty: every kind).
    pub kinds: Vec<EventKind>,
    pub reason: Option<Reason>,
    /// Events of messages carrying this tag.
    pub tag: Option<String>,
    /// Entries at or after this time.
    pub since: Option<Timestamp>,
    /// Entries before this time.
    pub until: Option<Timestamp>,
    /// Continue after this entry: the `next` of the previous page.
    pub after: Option<EventCursor>,
    pub limit: Option<u32>,
}

/// Where a page of a search ended: the position of its last entry in the newest-first order.
/// Its text form is opaque to clients; a new entry never moves a position, so paging on while
/// events are recorded returns every older entry exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    at: i64,
    event_id: i64,
}

impl fmt::Display for EventCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{:x}", self.at, self.event_id)
    }
}

impl FromStr for EventCursor {
    type Err = hikyaku_model::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || hikyaku_model::ParseError {
            kind: "event cursor",
            text: s.to_string(),
        };
        let (at, id) = s.split_once('.').ok_or_else(bad)?;
        let hex = |t: &str| {
            (!t.is_empty() && t.len() <= 16 && t.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| u64::from_str_radix(t, 16).ok())
                .flatten()
                .and_then(|v| i64::try_from(v).ok())
        };
        Ok(EventCursor {
            at: hex(at).ok_or_else(bad)?,
            event_id: hex(id).ok_or_else(bad)?,
        })
    }
}

/// One page of a search, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Where the next page starts; `None` when this page is the last (the search reads one
    /// event past the page to know, so a client never asks for an empty last page).
    pub next: Option<EventCursor>,
}

/// Which of a contract's bounces to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BounceFilter {
    pub reason: Option<Reason>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub after: Option<EventCursor>,
    pub limit: Option<u32>,
}

/// Everything the send log holds about one message of a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHistory {
    pub message_id: MessageId,
    pub customer_id: CustomerId,
    pub mail_from: String,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// In the order they were recorded.
    pub events: Vec<Event>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    event_id: i64,
    at: i64,
    kind: String,
    customer_id: String,
    message_id: String,
    mail_from_sealed: Vec<u8>,
    recipient_sealed: Vec<u8>,
    details_sealed: Option<Vec<u8>>,
}

/// Where an event stands in the search's order: the tagged drive sorts these alone and reads
/// the whole rows of one page only.
#[derive(sqlx::FromRow)]
struct EventKey {
    event_id: i64,
}

/// One row of a statement's plan: PostgreSQL's `EXPLAIN` gives one text column, SQLite's
/// `EXPLAIN QUERY PLAN` the step in its `detail` column.
#[cfg(any(test, feature = "test-util"))]
struct PlanLine(String);

#[cfg(any(test, feature = "test-util"))]
impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for PlanLine {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(PlanLine(row.try_get(0)?))
    }
}

#[cfg(any(test, feature = "test-util"))]
impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for PlanLine {
    fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(PlanLine(row.try_get("detail")?))
    }
}

const EVENT_FIELDS: &str = "SELECT e.event_id, e.at, e.kind, e.customer_id, e.message_id, \
                            e.mail_from_sealed, e.recipient_sealed, e.details_sealed";
const KEY_FIELDS: &str = "SELECT e.event_id";
const EVENT_COLUMNS: &str = "SELECT e.event_id, e.at, e.kind, e.customer_id, e.message_id, \
                             e.mail_from_sealed, e.recipient_sealed, e.details_sealed FROM events e";

/// The most messages a tag may carry for a search by it to start from those messages. Each
/// costs a look-up of its events, all of which must be read (an old message's event may be
/// the newest: a complaint comes days later); beyond this, walking the log in time order and
/// testing each event finds a page sooner.
const TAGGED_DRIVE_MAX: i64 = 5_000;

/// Which index walks the send log for a search ([`Store::search_events`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drive {
    /// The events in time order through the index of the most selective equality the query
    /// has (message, recipient, sender, domain, else the contract's time), each tested.
    Scan,
    /// The messages carrying the query's tag, then their events' keys from
    /// `events_by_message` (message, time; the event ID rides along), sorted; then the rows of
    /// the page alone. Reading every row of a few thousand messages to sort them was the
    /// dearest page of the console.
    Tagged,
    /// One range of `events_by_customer_kind` per kind, newest first, merged.
    Kinds,
    /// One range of `events_by_customer_reason` (events with a reason only), newest first.
    Reason,
}

/// A search's conditions as bound: addresses as their look-up hashes, the domain folded.
struct Filters<'q> {
    customer: Option<&'q str>,
    recipient_hash: Option<Vec<u8>>,
    sender_hash: Option<Vec<u8>>,
    domain: Option<String>,
    message_id: Option<String>,
    kinds: Vec<&'static str>,
    reason: Option<&'static str>,
    tag: Option<&'q str>,
    since: Option<i64>,
    until: Option<i64>,
    after: Option<EventCursor>,
    limit: Option<u32>,
}

impl<'q> Filters<'q> {
    fn of(store: &Store, query: &'q EventQuery) -> Filters<'q> {
        Filters {
            customer: query.customer.as_ref().map(CustomerId::as_str),
            recipient_hash: query
                .recipient
                .as_deref()
                .map(|r| store.key.address_hash(r)),
            sender_hash: query.sender.as_deref().map(|s| store.key.address_hash(s)),
            domain: query
                .recipient_domain
                .as_deref()
                .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase()),
            message_id: query.message_id.map(|id| id.to_string()),
            kinds: query.kinds.iter().map(|k| k.as_str()).collect(),
            reason: query.reason.map(Reason::as_str),
            tag: query.tag.as_deref(),
            since: query.since.map(Timestamp::as_millis),
            until: query.until.map(Timestamp::as_millis),
            after: query.after,
            // One past the page: whether it is there says whether a next page exists.
            limit: query.limit.map(|limit| limit.saturating_add(1)),
        }
    }

    /// The kinds asked for, each once and in a fixed order: the kinds drive runs one
    /// statement per kind.
    fn kinds_one_by_one(&self) -> BTreeSet<&'static str> {
        self.kinds.iter().copied().collect()
    }

    /// The SQLite index a scan must take. SQLite keeps no statistics here, and with several
    /// equalities its guess can walk the contract's whole history for a page.
    fn sqlite_index(&self, drive: Drive) -> Option<&'static str> {
        if self.message_id.is_some() {
            Some("events_by_message")
        } else if self.recipient_hash.is_some() {
            Some("events_by_recipient")
        } else if self.sender_hash.is_some() {
            Some("events_by_sender")
        } else if self.customer.is_none() {
            None
        } else if drive == Drive::Reason {
            Some("events_by_customer_reason")
        } else if drive == Drive::Kinds {
            Some("events_by_customer_kind")
        } else if self.domain.is_some() {
            Some("events_by_customer_domain")
        } else {
            Some("events_by_customer_time")
        }
    }
}

impl Store {
    /// The message's send-log entries in the order they were recorded.
    pub async fn events_for_message(&self, id: MessageId) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(EVENT_COLUMNS);
            select
                .push(" WHERE e.message_id = ")
                .push_bind(id.to_string())
                .push(" ORDER BY e.event_id");
            select.build_query_as().fetch_all(pool).await?
        });
        self.events_from_rows(rows).await
    }

    /// The contract's history of one message: its tags, metadata and every event, or `None`
    /// when the contract has no such message in the send log.
    pub async fn message_history(
        &self,
        customer: &CustomerId,
        id: MessageId,
    ) -> Result<Option<MessageHistory>, StoreError> {
        let events: Vec<Event> = self
            .events_for_message(id)
            .await?
            .into_iter()
            .filter(|e| &e.customer_id == customer)
            .collect();
        let Some(first) = events.first() else {
            return Ok(None);
        };
        Ok(Some(MessageHistory {
            message_id: id,
            customer_id: customer.clone(),
            mail_from: first.mail_from.clone(),
            tags: first.tags.clone(),
            metadata: first.metadata.clone(),
            events,
        }))
    }

    /// The contract's send-log entries for one recipient address (matched without regard to
    /// case, through the look-up hash), newest first, at most `limit`.
    pub async fn events_for_recipient(
        &self,
        customer_id: &CustomerId,
        recipient: &str,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let page = self
            .search_events(&EventQuery {
                customer: Some(customer_id.clone()),
                recipient: Some(recipient.to_string()),
                limit: Some(limit),
                ..EventQuery::default()
            })
            .await?;
        Ok(page.events)
    }

    /// The contract's bounces, newest first.
    pub async fn bounces(
        &self,
        customer: &CustomerId,
        filter: &BounceFilter,
    ) -> Result<EventPage, StoreError> {
        self.search_events(&EventQuery {
            customer: Some(customer.clone()),
            kinds: vec![EventKind::Bounced],
            reason: filter.reason,
            since: filter.since,
            until: filter.until,
            after: filter.after,
            limit: filter.limit,
            ..EventQuery::default()
        })
        .await
    }

    /// Send-log entries matching `query`, newest first, one page of at most `query.limit`.
    ///
    /// Which index walks the log follows from the query's shape ([`Drive`]), not from the
    /// database's planner: a filter that few events match must never be tested event by event
    /// along a contract's whole history. Every drive returns the same rows in the same order.
    pub async fn search_events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let drive = self.drive_for(query).await?;
        self.search_driven(query, drive).await
    }

    /// How `query` walks the log. A message, a recipient or a sender picks out a few events
    /// through its own index; a tag that few messages carry, through those messages; a reason
    /// through the contract's events of that reason; kinds through one range of the contract's
    /// events per kind. Otherwise (or without a contract) the contract's events in time order,
    /// each tested.
    async fn drive_for(&self, query: &EventQuery) -> Result<Drive, StoreError> {
        let Some(customer) = &query.customer else {
            return Ok(Drive::Scan);
        };
        if query.message_id.is_some() || query.recipient.is_some() || query.sender.is_some() {
            return Ok(Drive::Scan);
        }
        if let Some(tag) = &query.tag {
            // Bounded: counting a common tag's messages would cost what walking the log does.
            let tagged: i64 = with_pool!(self, pool => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM message_tags WHERE customer_id = $1 \
                     AND tag = $2 LIMIT $3) AS tagged",
                )
                .bind(customer.as_str())
                .bind(tag.as_str())
                .bind(TAGGED_DRIVE_MAX + 1)
                .fetch_one(pool)
                .await?
            });
            if tagged <= TAGGED_DRIVE_MAX {
                return Ok(Drive::Tagged);
            }
        }
        // A reason before kinds: a reason belongs to one or two kinds while a kind spans every
        // reason, so the reason's range is the narrower walk to a page. When the kinds asked
        // for never carry the reason (deliveries of reason `userunknown`), the answer is empty
        // either way, and the reason's range is still the shorter one to find that out: the
        // events of one reason against every event of those kinds.
        if query.reason.is_some() {
            return Ok(Drive::Reason);
        }
        if !query.kinds.is_empty() {
            return Ok(Drive::Kinds);
        }
        Ok(Drive::Scan)
    }

    /// [`Store::search_events`] along the given drive.
    async fn search_driven(
        &self,
        query: &EventQuery,
        drive: Drive,
    ) -> Result<EventPage, StoreError> {
        let filters = Filters::of(self, query);
        let mut rows = match drive {
            Drive::Kinds => {
                let mut rows: Vec<EventRow> = Vec::new();
                for kind in filters.kinds_one_by_one() {
                    rows.extend(
                        self.select_events(EVENT_FIELDS, &filters, Some(kind), drive)
                            .await?,
                    );
                }
                // Each range came newest first and stopped at the limit: the page is the
                // newest `limit` of their union.
                rows.sort_unstable_by_key(|r| std::cmp::Reverse((r.at, r.event_id)));
                rows
            }
            Drive::Tagged => {
                let keys: Vec<EventKey> = self
                    .select_events(KEY_FIELDS, &filters, None, drive)
                    .await?;
                let ids: Vec<i64> = keys.iter().map(|k| k.event_id).collect();
                let mut rows = self.event_rows_by_id(&ids, filters.customer).await?;
                rows.sort_unstable_by_key(|r| std::cmp::Reverse((r.at, r.event_id)));
                rows
            }
            Drive::Scan | Drive::Reason => {
                self.select_events(EVENT_FIELDS, &filters, None, drive)
                    .await?
            }
        };
        let next = match query.limit {
            Some(limit) if rows.len() > limit as usize => {
                rows.truncate(limit as usize);
                rows.last().map(|last| EventCursor {
                    at: last.at,
                    event_id: last.event_id,
                })
            }
            _ => None,
        };
        let events = self.events_from_rows(rows).await?;
        Ok(EventPage { events, next })
    }

    /// One statement of a search: `fields` of the events matching `filters` (of only `kind`
    /// when given, instead of the query's kinds), newest first, at most the limit.
    async fn select_events<Row>(
        &self,
        fields: &str,
        filters: &Filters<'_>,
        kind: Option<&'static str>,
        drive: Drive,
    ) -> Result<Vec<Row>, StoreError>
    where
        Row: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let sqlite = matches!(self.backend, crate::Backend::Sqlite(_));
        let rows: Vec<Row> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(fields);
            match drive {
                Drive::Tagged => {
                    // The tagged messages are the outer loop on both backends: SQLite keeps
                    // a CROSS JOIN's order, and PostgreSQL cannot reorder a LATERAL one
                    // (OFFSET 0 keeps it from flattening the subquery into a plain join).
                    if sqlite {
                        select.push(
                            " FROM message_tags t CROSS JOIN events e INDEXED BY events_by_message \
                             WHERE e.message_id = t.message_id",
                        );
                    } else {
                        select.push(
                            " FROM message_tags t CROSS JOIN LATERAL (SELECT * FROM events x \
                             WHERE x.message_id = t.message_id OFFSET 0) e WHERE 1 = 1",
                        );
                    }
                    select
                        .push(" AND t.customer_id = ")
                        .push_bind(filters.customer.unwrap_or_default())
                        .push(" AND t.tag = ")
                        .push_bind(filters.tag.unwrap_or_default());
                }
                Drive::Kinds | Drive::Scan | Drive::Reason => {
                    select.push(" FROM events e");
                    if sqlite && let Some(index) = filters.sqlite_index(drive) {
                        select.push(" INDEXED BY ").push(index);
                    }
                    select.push(" WHERE 1 = 1");
                }
            }
            // The tagged drive has the contract on the tags (a message is one contract's), and
            // its keys must come from the index alone; the rows it reads are held to the
            // contract there (`event_rows_by_id`).
            if drive != Drive::Tagged && let Some(customer) = filters.customer {
                select.push(" AND e.customer_id = ").push_bind(customer);
            }
            if let Some(hash) = &filters.recipient_hash {
                select.push(" AND e.recipient_hash = ").push_bind(hash.as_slice());
            }
            if let Some(domain) = &filters.domain {
                select.push(" AND e.recipient_domain = ").push_bind(domain.as_str());
            }
            if let Some(hash) = &filters.sender_hash {
                select.push(" AND e.mail_from_hash = ").push_bind(hash.as_slice());
            }
            if let Some(id) = &filters.message_id {
                select.push(" AND e.message_id = ").push_bind(id.as_str());
            }
            match kind {
                Some(kind) => {
                    select.push(" AND e.kind = ").push_bind(kind);
                }
                None if !filters.kinds.is_empty() => {
                    select.push(" AND e.kind IN (");
                    let mut kinds = select.separated(", ");
                    for kind in &filters.kinds {
                        kinds.push_bind(*kind);
                    }
                    select.push(")");
                }
                None => {}
            }
            if let Some(reason) = filters.reason {
                select.push(" AND e.reason = ").push_bind(reason);
            }
            if drive != Drive::Tagged && let Some(tag) = filters.tag {
                select
                    .push(" AND EXISTS (SELECT 1 FROM message_tags t WHERE t.message_id = e.message_id \
                           AND t.customer_id = e.customer_id AND t.tag = ")
                    .push_bind(tag)
                    .push(")");
            }
            if let Some(since) = filters.since {
                select.push(" AND e.at >= ").push_bind(since);
            }
            if let Some(until) = filters.until {
                select.push(" AND e.at < ").push_bind(until);
            }
            if let Some(after) = filters.after {
                select
                    .push(" AND (e.at, e.event_id) < (")
                    .push_bind(after.at)
                    .push(", ")
                    .push_bind(after.event_id)
                    .push(")");
            }
            select.push(" ORDER BY e.at DESC, e.event_id DESC");
            if let Some(limit) = filters.limit {
                select.push(" LIMIT ").push_bind(i64::from(limit));
            }
            select.build_query_as().fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// The database's plan for each statement [`Store::search_events`] would run for `query`
    /// (`EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite), one line a row, the drive's
    /// name first: for tests that hold each query shape to its index on a filled log.
    #[cfg(any(test, feature = "test-util"))]
    pub async fn explain_search(&self, query: &EventQuery) -> Result<String, StoreError> {
        let drive = self.drive_for(query).await?;
        let filters = Filters::of(self, query);
        let explain = match self.backend {
            crate::Backend::Sqlite(_) => "EXPLAIN QUERY PLAN ",
            crate::Backend::Postgres(_) => "EXPLAIN ",
        };
        let (fields, kinds) = match drive {
            Drive::Tagged => (KEY_FIELDS, vec![None]),
            Drive::Kinds => (
                EVENT_FIELDS,
                filters.kinds_one_by_one().into_iter().map(Some).collect(),
            ),
            Drive::Scan | Drive::Reason => (EVENT_FIELDS, vec![None]),
        };
        let mut plan = format!("drive: {drive:?}\n");
        for kind in kinds {
            let lines: Vec<PlanLine> = self
                .select_events(&format!("{explain}{fields}"), &filters, kind, drive)
                .await?;
            for PlanLine(line) in lines {
                plan.push_str(&line);
                plan.push('\n');
            }
        }
        Ok(plan)
    }

    /// The events with these IDs, by ID (missing ones left out).
    pub(crate) async fn events_by_id(
        &self,
        ids: &[i64],
    ) -> Result<HashMap<i64, Event>, StoreError> {
        let rows = self.event_rows_by_id(ids, None).await?;
        let row_ids: Vec<i64> = rows.iter().map(|r| r.event_id).collect();
        let events = self.events_from_rows(rows).await?;
        Ok(row_ids.into_iter().zip(events).collect())
    }

    /// The rows of the events with these IDs (of this contract only, when given), in no
    /// particular order; missing ones left out.
    async fn event_rows_by_id(
        &self,
        ids: &[i64],
        customer: Option<&str>,
    ) -> Result<Vec<EventRow>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(256) {
            let rows: Vec<EventRow> = with_pool!(self, pool => {
                let mut select = QueryBuilder::new(EVENT_COLUMNS);
                select.push(" WHERE e.event_id IN (");
                let mut list = select.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                select.push(")");
                select.build_query_as().fetch_all(pool).await?
            });
            // Held to the contract here, not in the statement: with the contract in it, SQLite
            // (no statistics) walked the contract's time index and tested every event against
            // the list, a second at ten million events, instead of looking the IDs up.
            found.extend(
                rows.into_iter()
                    .filter(|row| customer.is_none_or(|c| row.customer_id == c)),
            );
        }
        Ok(found)
    }

    async fn events_from_rows(&self, rows: Vec<EventRow>) -> Result<Vec<Event>, StoreError> {
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.message_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (tags, metadata) = self.labels_of(&ids).await?;
        rows.into_iter()
            .map(|row| {
                let tags = tags.get(&row.message_id).cloned().unwrap_or_default();
                let metadata = metadata.get(&row.message_id).cloned().unwrap_or_default();
                self.event_from_row(row, tags, metadata)
            })
            .collect()
    }

    /// The tags and metadata of these messages.
    #[allow(clippy::type_complexity)]
    async fn labels_of(
        &self,
        message_ids: &[String],
    ) -> Result<
        (
            HashMap<String, Vec<String>>,
            HashMap<String, BTreeMap<String, String>>,
        ),
        StoreError,
    > {
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        let mut metadata = HashMap::new();
        if message_ids.is_empty() {
            return Ok((tags, metadata));
        }
        let tag_sql = in_list_sql(
            "SELECT message_id, tag FROM message_tags WHERE message_id",
            "ORDER BY message_id, tag",
        );
        let metadata_sql = in_list_sql(
            "SELECT message_id, metadata_sealed FROM messages WHERE metadata_sealed IS NOT NULL \
             AND message_id",
            "",
        );
        for chunk in lookup_chunks(message_ids) {
            let (tag_rows, metadata_rows): (Vec<(String, String)>, Vec<(String, Vec<u8>)>) = with_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(tag_sql.as_str()));
                for id in &chunk {
                    query = query.bind(*id);
                }
                let tag_rows = query.fetch_all(pool).await?;
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(metadata_sql.as_str()));
                for id in &chunk {
                    query = query.bind(*id);
                }
                (tag_rows, query.fetch_all(pool).await?)
            });
            for (message_id, tag) in tag_rows {
                let list = tags.entry(message_id).or_default();
                // The padding of the last chunk repeats an ID: its rows come back twice.
                if !list.contains(&tag) {
                    list.push(tag);
                }
            }
            for (message_id, sealed) in metadata_rows {
                let json = self.key.open(&sealed)?;
                let map: BTreeMap<String, String> = serde_json::from_slice(&json)
                    .map_err(|e| corrupt("messages.metadata_sealed", e))?;
                metadata.insert(message_id, map);
            }
        }
        Ok((tags, metadata))
    }

    fn event_from_row(
        &self,
        row: EventRow,
        tags: Vec<String>,
        metadata: BTreeMap<String, String>,
    ) -> Result<Event, StoreError> {
        let kind: EventKind = row.kind.parse().map_err(|e| corrupt("events.kind", e))?;
        let details = match row.details_sealed {
            Some(sealed) => details_from_json(kind, Some(&self.key.open(&sealed)?))?,
            None => details_from_json(kind, None)?,
        };
        Ok(Event {
            at: Timestamp(row.at),
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
            tags,
            metadata,
        })
    }

    /// Drops the send log's entries recorded before `before`, with the statistics counters
    /// and webhook deliveries of that time. Monthly usage stays: it is what contracts are billed
    /// on, long after the entries are gone. Returns the number of entries dropped.
    pub async fn purge_send_log(&self, before: Timestamp) -> Result<u64, StoreError> {
        let before = before.as_millis();
        // Counters of a bucket that began before `before` but ends after it stay whole.
        let minute = before - before.rem_euclid(MINUTE_MS);
        let hour = before - before.rem_euclid(HOUR_MS);
        let day = before - before.rem_euclid(DAY_MS);
        let _turn = self.write_turn().await;
        let dropped = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let dropped = sqlx::query("DELETE FROM events WHERE at < $1")
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            for (sql, bound) in [
                ("DELETE FROM webhook_outbox WHERE created_at < $1", before),
                ("DELETE FROM stats_minute WHERE minute < $1", minute),
                ("DELETE FROM stats_hour WHERE hour < $1", hour),
                ("DELETE FROM stats_reason_hour WHERE hour < $1", hour),
                ("DELETE FROM stats_domain_hour WHERE hour < $1", hour),
                ("DELETE FROM stats_domain_day WHERE day < $1", day),
            ] {
                sqlx::query(sql).bind(bound).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            dropped
        });
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SealingKey;
    use hikyaku_model::{EventDetails, EventSource};

    /// A row as versions before typed events wrote it (an untagged bag of fields, no search
    /// columns), read through the store.
    async fn legacy_rows_read_as_typed_events(store: Store) {
        let customer = store
            .create_contract("Legacy", "standard")
            .await
            .unwrap()
            .customer_id;
        let id = MessageId::new(Timestamp(1_000));
        let old = br#"{"remote_host":"mx.example.jp","remote_ip":"192.0.2.7","smtp_code":550,
            "enhanced_status":"5.1.1","remote_text":"no such user","attempt":1,
            "reason":"userunknown","hard":true,"source":"smtp"}"#;
        let sealed = store.key.seal(old);
        let from = store.key.seal_str("app@example.com");
        let to = store.key.seal_str("bob@example.jp");
        let hash = store.key.address_hash("bob@example.jp");
        with_pool!(store, pool => {
            for (kind, details) in [("accepted", None), ("bounced", Some(sealed.as_slice()))] {
                sqlx::query(
                    "INSERT INTO events (at, kind, customer_id, message_id, mail_from_sealed, \
                     mail_from_hash, recipient_sealed, recipient_hash, details_sealed) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(1_000_i64)
                .bind(kind)
                .bind(customer.as_str())
                .bind(id.to_string())
                .bind(from.as_slice())
                .bind(hash.as_slice())
                .bind(to.as_slice())
                .bind(hash.as_slice())
                .bind(details)
                .execute(pool)
                .await
                .unwrap();
            }
        });
        let events = store.events_for_message(id).await.unwrap();
        assert_eq!(events[0].details, EventDetails::Accepted);
        let EventDetails::Bounced {
            exchange,
            reason,
            hard,
        } = &events[1].details
        else {
            panic!("{:?}", events[1].details)
        };
        assert_eq!((*reason, *hard), (Reason::UserUnknown, true));
        assert_eq!(exchange.source, EventSource::Smtp);
        assert_eq!(exchange.code, Some(550));
        assert_eq!(
            exchange.remote.as_ref().unwrap().ip,
            Some("192.0.2.7".parse().unwrap())
        );
        // Found by what the old row has (its recipient), not by the columns it lacks.
        let found = store
            .events_for_recipient(&customer, "BOB@example.jp", 10)
            .await
            .unwrap();
        assert_eq!(found.len(), 2);
        store.close().await;
    }

    #[tokio::test]
    async fn legacy_rows_read_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("legacy.db").display());
        let store = Store::connect(&url, SealingKey::generate()).await.unwrap();
        legacy_rows_read_as_typed_events(store).await;
    }

    #[tokio::test]
    async fn legacy_rows_read_on_postgres() {
        let Some(database) = crate::testing::PostgresTestDatabase::create().await else {
            return;
        };
        let store = Store::connect(database.url(), SealingKey::generate())
            .await
            .unwrap();
        legacy_rows_read_as_typed_events(store).await;
    }

    /// A send log where the index-driven searches have something to get wrong: two contracts
    /// sharing tag names, events of one millisecond (ordered by ID only), and old messages with
    /// the newest events (a complaint days after an acceptance).
    async fn seed_log(store: &Store) -> (CustomerId, CustomerId) {
        use crate::events::{NewEvent, insert_events};
        let a = store
            .create_contract("A", "standard")
            .await
            .unwrap()
            .customer_id;
        let b = store
            .create_contract("B", "standard")
            .await
            .unwrap()
            .customer_id;
        let kinds = [
            (EventKind::Delivered, None),
            (EventKind::Bounced, Some(Reason::UserUnknown)),
            (EventKind::Deferred, Some(Reason::Speeding)),
            (EventKind::Bounced, Some(Reason::Filtered)),
            (EventKind::Expired, Some(Reason::Expired)),
            (EventKind::Complaint, Some(Reason::Feedback)),
        ];
        let from = store.key.seal_str("app@sender.example");
        let from_hash = store.key.address_hash("app@sender.example");
        let recipients: Vec<(Vec<u8>, Vec<u8>, String)> = (0..5)
            .map(|r| {
                let address = format!("user{r}@d{}.example", r % 3);
                let domain = format!("d{}.example", r % 3);
                (
                    store.key.seal_str(&address),
                    store.key.address_hash(&address),
                    domain,
                )
            })
            .collect();
        let mut tags = Vec::new();
        for n in 0..120_i64 {
            let customer = if n % 4 == 3 { &b } else { &a };
            // Three messages a millisecond: their events tie on time.
            let accepted = 1_000_000 + n / 3 * 1_000;
            let id = MessageId::new(Timestamp(accepted)).to_string();
            let (sealed, hash, domain) = &recipients[(n % 5) as usize];
            let event = |at: i64, kind: EventKind, reason: Option<Reason>| NewEvent {
                at: Timestamp(at),
                kind,
                customer_id: customer.as_str(),
                message_id: &id,
                mail_from_sealed: &from,
                mail_from_hash: &from_hash,
                recipient_sealed: sealed,
                recipient_hash: hash,
                recipient_domain: Some(domain),
                reason,
                details_sealed: None,
            };
            let (kind, reason) = kinds[(n % 6) as usize];
            // Every seventh outcome comes a long time after every acceptance.
            let outcome_at = if n % 7 == 0 {
                9_000_000 - n
            } else {
                accepted + 10
            };
            let rows = [
                event(accepted, EventKind::Accepted, None),
                event(outcome_at, kind, reason),
            ];
            with_pool!(store, pool => {
                let mut tx = pool.begin().await.unwrap();
                insert_events((&mut *tx).into(), &rows).await.unwrap();
                tx.commit().await.unwrap();
            });
            for (tag, every) in [("few", 9), ("half", 2), ("many", 5)] {
                if n % every == 0 {
                    tags.push((id.clone(), customer.as_str().to_string(), tag));
                }
            }
        }
        // A tag on more messages than a tagged search starts from (they need no events).
        for n in 0..=TAGGED_DRIVE_MAX {
            let id = MessageId::new(Timestamp(2_000_000 + n)).to_string();
            tags.push((id, a.as_str().to_string(), "many"));
        }
        with_pool!(store, pool => {
            for chunk in tags.chunks(500) {
                let mut insert = QueryBuilder::new("INSERT INTO message_tags (message_id, customer_id, tag) ");
                insert.push_values(chunk, |mut row, (id, customer, tag)| {
                    row.push_bind(id.as_str()).push_bind(customer.as_str()).push_bind(*tag);
                });
                insert.build().execute(pool).await.unwrap();
            }
        });
        (a, b)
    }

    /// Every search, page by page at several sizes, returns the same events in the same order
    /// with the same cursors along every drive that can answer it as along the plain scan; and
    /// the drive chosen for each shape is the index-driven one.
    async fn drives_agree_with_the_scan(store: Store) {
        let (a, b) = seed_log(&store).await;
        let query = |customer: &CustomerId| EventQuery {
            customer: Some(customer.clone()),
            ..EventQuery::default()
        };
        let table: Vec<(EventQuery, Drive)> = vec![
            (query(&a), Drive::Scan),
            (EventQuery::default(), Drive::Scan),
            (
                EventQuery {
                    reason: Some(Reason::Speeding),
                    ..EventQuery::default()
                },
                Drive::Scan,
            ),
            (
                EventQuery {
                    kinds: vec![EventKind::Bounced, EventKind::Expired],
                    ..query(&a)
                },
                Drive::Kinds,
            ),
            (
                EventQuery {
                    kinds: vec![EventKind::Bounced],
                    ..query(&b)
                },
                Drive::Kinds,
            ),
            (
                EventQuery {
                    kinds: vec![
                        EventKind::Complaint,
                        EventKind::Accepted,
                        EventKind::Complaint,
                    ],
                    ..query(&a)
                },
                Drive::Kinds,
            ),
            (
                EventQuery {
                    kinds: vec![EventKind::Bounced, EventKind::Deferred],
                    reason: Some(Reason::Filtered),
                    ..query(&a)
                },
                Drive::Reason,
            ),
            (
                EventQuery {
                    reason: Some(Reason::UserUnknown),
                    ..query(&a)
                },
                Drive::Reason,
            ),
            (
                EventQuery {
                    reason: Some(Reason::Filtered),
                    ..query(&b)
                },
                Drive::Reason,
            ),
            (
                EventQuery {
                    reason: Some(Reason::Feedback),
                    since: Some(Timestamp(1_005_000)),
                    until: Some(Timestamp(8_999_950)),
                    ..query(&a)
                },
                Drive::Reason,
            ),
            (
                EventQuery {
                    reason: Some(Reason::Speeding),
                    tag: Some("many".into()),
                    ..query(&a)
                },
                Drive::Reason,
            ),
            (
                EventQuery {
                    reason: Some(Reason::Filtered),
                    tag: Some("few".into()),
                    ..query(&a)
                },
                Drive::Tagged,
            ),
            (
                EventQuery {
                    // Complaints carry the reason, deliveries never do.
                    kinds: vec![EventKind::Delivered, EventKind::Complaint],
                    reason: Some(Reason::Feedback),
                    ..query(&a)
                },
                Drive::Reason,
            ),
            (
                EventQuery {
                    reason: Some(Reason::UserUnknown),
                    recipient_domain: Some("d1.example".into()),
                    ..query(&a)
                },
                Drive::Reason,
            ),
            (
                EventQuery {
                    kinds: vec![EventKind::Bounced, EventKind::Delivered],
                    recipient_domain: Some("D1.example.".into()),
                    since: Some(Timestamp(1_010_000)),
                    until: Some(Timestamp(1_030_000)),
                    ..query(&a)
                },
                Drive::Kinds,
            ),
            (
                EventQuery {
                    tag: Some("few".into()),
                    ..query(&a)
                },
                Drive::Tagged,
            ),
            (
                EventQuery {
                    tag: Some("few".into()),
                    ..query(&b)
                },
                Drive::Tagged,
            ),
            (
                EventQuery {
                    tag: Some("half".into()),
                    kinds: vec![EventKind::Accepted, EventKind::Complaint],
                    ..query(&a)
                },
                Drive::Tagged,
            ),
            (
                EventQuery {
                    tag: Some("half".into()),
                    recipient_domain: Some("d2.example".into()),
                    until: Some(Timestamp(5_000_000)),
                    ..query(&a)
                },
                Drive::Tagged,
            ),
            (
                EventQuery {
                    tag: Some("nothing".into()),
                    ..query(&a)
                },
                Drive::Tagged,
            ),
            (
                EventQuery {
                    tag: Some("many".into()),
                    ..query(&a)
                },
                Drive::Scan,
            ),
            (
                EventQuery {
                    tag: Some("many".into()),
                    kinds: vec![EventKind::Accepted],
                    ..query(&a)
                },
                Drive::Kinds,
            ),
            (
                EventQuery {
                    recipient: Some("USER3@d0.example".into()),
                    kinds: vec![EventKind::Accepted],
                    tag: Some("few".into()),
                    ..query(&a)
                },
                Drive::Scan,
            ),
            (
                EventQuery {
                    sender: Some("app@sender.example".into()),
                    reason: Some(Reason::Filtered),
                    ..query(&b)
                },
                Drive::Scan,
            ),
            (
                EventQuery {
                    recipient_domain: Some("d1.example".into()),
                    ..query(&a)
                },
                Drive::Scan,
            ),
        ];
        for (base, expected) in table {
            assert_eq!(store.drive_for(&base).await.unwrap(), expected, "{base:?}");
            let mut drives = vec![Drive::Scan, expected];
            if base.customer.is_some() && !base.kinds.is_empty() {
                drives.push(Drive::Kinds);
            }
            if base.customer.is_some() && base.tag.is_some() {
                drives.push(Drive::Tagged);
            }
            if base.customer.is_some() && base.reason.is_some() {
                drives.push(Drive::Reason);
            }
            for limit in [None, Some(1), Some(3), Some(7), Some(500)] {
                let mut reference = Vec::new();
                let mut after = None;
                loop {
                    let q = EventQuery {
                        after,
                        limit,
                        ..base.clone()
                    };
                    let page = store.search_driven(&q, Drive::Scan).await.unwrap();
                    for &drive in &drives {
                        assert_eq!(
                            store.search_driven(&q, drive).await.unwrap(),
                            page,
                            "{drive:?} {q:?}"
                        );
                    }
                    assert_eq!(store.search_events(&q).await.unwrap(), page, "{q:?}");
                    reference.extend(page.events);
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                // The table is honest only if its searches find something to order, and
                // the contracts stay apart.
                if base.tag.as_deref() != Some("nothing") {
                    assert!(!reference.is_empty(), "{base:?} finds nothing");
                }
                if let Some(customer) = &base.customer {
                    assert!(reference.iter().all(|e| &e.customer_id == customer));
                }
                assert!(reference.windows(2).all(|w| w[0].at >= w[1].at));
            }
        }
        store.close().await;
    }

    #[tokio::test]
    async fn drives_agree_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("drives.db").display());
        let store = Store::connect(&url, SealingKey::generate()).await.unwrap();
        drives_agree_with_the_scan(store).await;
    }

    #[tokio::test]
    async fn drives_agree_on_postgres() {
        let Some(database) = crate::testing::PostgresTestDatabase::create().await else {
            return;
        };
        let store = Store::connect(database.url(), SealingKey::generate())
            .await
            .unwrap();
        drives_agree_with_the_scan(store).await;
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = EventCursor {
            at: 1_795_577_520_123,
            event_id: 42,
        };
        assert_eq!(cursor.to_string().parse::<EventCursor>(), Ok(cursor));
        for bad in [
            "",
            ".",
            "1.",
            ".1",
            "1.2.3",
            "x.1",
            "-1.1",
            "+1.1",
            "ffffffffffffffff.1",
            "11111111111111111.1",
            " 1.1",
        ] {
            assert!(bad.parse::<EventCursor>().is_err(), "{bad:?}");
        }
    }
}
