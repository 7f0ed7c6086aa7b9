//! The contract's send log: the event search and the bounce list, page by page, newest first.
//! The contract searched is always the caller's: no parameter names one.

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiQuery, Failures};
use super::paging::{ListKind, PageQuery, encode};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hikyaku_api_types::{Bounce, BounceList, Event, EventList, Time};
use hikyaku_model::{EventKind, MessageId, Reason, Timestamp};
use hikyaku_store::{EventCursor, EventQuery};
use utoipa::IntoParams;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};

/// A query parameter that does not fit, named.
pub(crate) fn bad_query(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message).with_field(field)
}

/// An event as `caller` may see it: the addresses masked unless the key may see them, also
/// where the remote server's reply or the list entry's note repeats them.
pub(crate) fn shown_event(caller: &ContractCaller, e: &hikyaku_model::Event) -> Event {
    let mut shown = Event::from(e);
    if !caller.see_addresses {
        let addresses = [e.recipient.as_str(), e.mail_from.as_str()];
        let scrub = |text: &mut Option<String>| {
            if let Some(t) = text {
                *t = super::mask::scrubbed_free_text(t, &addresses);
            }
        };
        scrub(&mut shown.details.text);
        scrub(&mut shown.details.note);
        // Metadata and tags are the sender's free text: programs often put the recipient there.
        for value in shown.metadata.values_mut().chain(shown.tags.iter_mut()) {
            *value = super::mask::scrubbed_free_text(value, &addresses);
        }
        shown.recipient = caller.show(&shown.recipient);
        shown.sender = caller.show(&shown.sender);
    }
    shown
}

fn shown_bounce(caller: &ContractCaller, e: &hikyaku_model::Event) -> Option<Bounce> {
    let mut bounce = Bounce::of(e)?;
    if !caller.see_addresses {
        if let Some(text) = &mut bounce.text {
            *text = super::mask::scrubbed_free_text(
                text,
                &[e.recipient.as_str(), e.mail_from.as_str()],
            );
        }
        bounce.recipient = caller.show(&bounce.recipient);
    }
    Some(bounce)
}

/// The event kinds, for the document: a list of the kind names.
fn kind_list_schema() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(EventKind::ALL.map(EventKind::as_str))),
        )
        .build()
}

/// The reasons, for the document.
fn reason_schema() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Reason::ALL.map(Reason::as_str)))
        .build()
}

/// The search's parameters. Read by hand from the query's pairs (see [`EventSearch::parse`])
/// because `kind` may be repeated; this type describes them for the document.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EventSearch {
    /// Events at or after this time (RFC 3339).
    since: Option<Time>,
    /// Events before this time (RFC 3339).
    until: Option<Time>,
    /// The recipient's address, exactly (without regard to case).
    recipient: Option<String>,
    /// The recipient's domain (without regard to case).
    recipient_domain: Option<String>,
    /// The envelope sender's address, exactly (without regard to case).
    sender: Option<String>,
    /// One message's events.
    message_id: Option<String>,
    /// Any of these kinds: repeat the parameter or separate them with commas.
    #[param(schema_with = kind_list_schema)]
    kind: Option<Vec<String>>,
    /// Why it was not delivered, in Sisimai's names (`userunknown`, `mailboxfull`, ...).
    #[param(schema_with = reason_schema)]
    reason: Option<String>,
    /// Events of messages carrying this tag.
    tag: Option<String>,
    /// Entries per page, 1 to 1000 (100 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page; leave it out for the first.
    cursor: Option<String>,
}

/// What a search asks for, parsed.
struct Search {
    query: EventQuery,
    page: PageQuery,
}

impl EventSearch {
    /// The query's pairs as a search: unknown parameters, a single-valued one given twice and
    /// values that do not parse are refused, naming the parameter.
    fn parse(pairs: Vec<(String, String)>) -> Result<Search, ApiError> {
        let mut query = EventQuery::default();
        let mut page = PageQuery::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in pairs {
            if name != "kind" {
                if seen.contains(&name) {
                    return Err(bad_query(&name, format!("{name} is given twice")));
                }
                seen.push(name.clone());
            }
            let text = || Some(value.clone()).filter(|v| !v.is_empty());
            let time = || {
                value
                    .parse::<Timestamp>()
                    .map(Some)
                    .map_err(|_| bad_query(&name, format!("{name} must be an RFC 3339 time")))
            };
            match name.as_str() {
                "since" => query.since = time()?,
                "until" => query.until = time()?,
                "recipient" => query.recipient = text(),
                "recipient_domain" => query.recipient_domain = text(),
                "sender" => query.sender = text(),
                "tag" => query.tag = text(),
                "message_id" => {
                    query.message_id = Some(
                        value
                            .parse::<MessageId>()
                            .map_err(|_| bad_query(&name, "not a message ID"))?,
                    )
                }
                "reason" => query.reason = Some(reason(&value)?),
                "kind" => {
                    for item in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                        let kind = item.parse::<EventKind>().map_err(|_| {
                            bad_query(&name, format!("unknown kind {item:?}: {}", kind_names()))
                        })?;
                        if !query.kinds.contains(&kind) {
                            query.kinds.push(kind);
                        }
                    }
                }
                "limit" => {
                    page.limit = Some(
                        value
                            .parse()
                            .map_err(|_| bad_query(&name, "limit must be 1 to 1000"))?,
                    )
                }
                "cursor" => page.cursor = Some(value.clone()),
                other => {
                    return Err(bad_query(other, format!("unknown parameter {other:?}")));
                }
            }
        }
        Ok(Search { query, page })
    }
}

fn kind_names() -> String {
    EventKind::ALL.map(EventKind::as_str).join(", ")
}

pub(crate) fn reason(text: &str) -> Result<Reason, ApiError> {
    text.parse::<Reason>()
        .map_err(|_| bad_query("reason", format!("unknown reason {text:?}")))
}

/// The position a cursor of `kind` carries.
fn cursor_of(kind: ListKind, page: &PageQuery) -> Result<Option<EventCursor>, ApiError> {
    page.after(kind)?
        .map(|position| {
            std::str::from_utf8(&position)
                .ok()
                .and_then(|text| text.parse::<EventCursor>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_cursor",
                        "not a cursor of this list: give back a next_cursor as it was received",
                    )
                    .with_field("cursor")
                })
        })
        .transpose()
}

/// One page of `query` and the cursor of the next, `None` when nothing is left (the store
/// reads one event past the page to know, so a client never fetches an empty last page).
async fn page_of_events(
    state: &ApiState,
    kind: ListKind,
    mut query: EventQuery,
    page: &PageQuery,
) -> Result<(Vec<hikyaku_model::Event>, Option<String>), ApiError> {
    query.limit = Some(page.limit()?);
    query.after = cursor_of(kind, page)?;
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since >= until
    {
        return Err(ApiError::invalid("until", "until must be after since"));
    }
    let found = state.store().search_events(&query).await?;
    let next = found
        .next
        .map(|next| encode(kind, next.to_string().as_bytes()));
    Ok((found.events, next))
}

/// The contract's send log, newest first, narrowed by any of the parameters.
#[utoipa::path(
    get,
    path = "/events",
    tag = "send log",
    params(EventSearch),
    responses((status = 200, body = EventList), Failures)
)]
pub async fn search(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Json<EventList>, ApiError> {
    let Search { mut query, page } = EventSearch::parse(pairs)?;
    query.customer = Some(caller.customer_id.clone());
    let (events, next_cursor) = page_of_events(&state, ListKind::Events, query, &page).await?;
    Ok(Json(EventList {
        data: events.iter().map(|e| shown_event(&caller, e)).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BounceQuery {
    /// Bounces at or after this time (RFC 3339).
    since: Option<Time>,
    /// Bounces before this time (RFC 3339).
    until: Option<Time>,
    /// Only bounces for this reason, in Sisimai's names (`userunknown`, `mailboxfull`, ...).
    #[param(schema_with = reason_schema)]
    reason: Option<String>,
    /// Entries per page, 1 to 1000 (100 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page; leave it out for the first.
    cursor: Option<String>,
}

/// The addresses the contract's mail bounced from, with why, newest first.
#[utoipa::path(
    get,
    path = "/bounces",
    tag = "send log",
    params(BounceQuery),
    responses((status = 200, body = BounceList), Failures)
)]
pub async fn bounces(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(q): ApiQuery<BounceQuery>,
) -> Result<Json<BounceList>, ApiError> {
    // The same query as `Store::bounces`, built here so the page can look one entry past itself.
    let query = EventQuery {
        customer: Some(caller.customer_id.clone()),
        kinds: vec![EventKind::Bounced],
        reason: q.reason.as_deref().map(reason).transpose()?,
        since: q.since.map(Into::into),
        until: q.until.map(Into::into),
        ..EventQuery::default()
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let (events, next_cursor) = page_of_events(&state, ListKind::Bounces, query, &page).await?;
    Ok(Json(BounceList {
        data: events
            .iter()
            .filter_map(|e| shown_bounce(&caller, e))
            .collect(),
        next_cursor,
    }))
}
