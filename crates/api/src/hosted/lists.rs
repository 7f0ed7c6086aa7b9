//! `transaction/v2/{deliveries,bounces,blocks,statistics}/list`: the native send-log search,
//! suppression list and statistics counters, answered in the hosted service's records.
//!
//! The hosted service pages by number (`p` from 0, `r` rows of at most 100) and matches
//! `from`, `to`, `email` and `api_data` by substring. Addresses are sealed at rest and found
//! in the database only by a keyed hash of the whole address, so those filters are applied
//! to the decrypted records of the period asked for (deliveries always name one day), and a
//! page is found by reading the period's records in order: page `p` costs the `p × r`
//! records before it. Records come newest first, the send log's order.

use super::body::Fields;
use super::errors::{self, Failure};
use super::{check_composition, ok};
use crate::v1::ApiState;
use crate::v1::access::ContractCaller;
use axum::response::Response;
use hikyaku_api_types::hosted::{
    BOUNCE_KINDS, BlockList, BlockRecord, BounceList, BounceRecord, DELIVERY_KINDS, DeliveryList,
    DeliveryRecord, ErrorStatus, StatisticsList, StatisticsRecord, error_status,
    event_error_status, hosted_date, hosted_time,
};
use hikyaku_model::{Event, EventKind, MessageId, Reason, Timestamp};
use hikyaku_store::{EventQuery, Granularity, SuppressionSource};

const DAY_MS: i64 = 86_400_000;
/// Events read from the store per query while a page is looked for.
const SCAN_BATCH: u32 = 500;

/// `p` and `r`: which rows of the result.
struct Paging {
    skip: usize,
    take: usize,
}

fn paging(fields: &Fields) -> Result<Paging, Failure> {
    let number = |name: &str, default: usize| -> Result<usize, Failure> {
        match fields.text(name)? {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<usize>()
                .map_err(|_| Failure::new(errors::PAGING_INVALID, name)),
        }
    };
    let page = number("p", 0)?;
    let rows = number("r", 10)?;
    if !(1..=100).contains(&rows) {
        return Err(Failure::new(errors::PAGING_INVALID, "r"));
    }
    // Far pages are refused rather than read: 100,000 rows in is past any day's reading.
    let skip = page
        .checked_mul(rows)
        .filter(|skip| *skip <= 100_000)
        .ok_or_else(|| Failure::new(errors::PAGING_INVALID, "p"))?;
    Ok(Paging { skip, take: rows })
}

/// A day `yyyy-mm-dd` in the contract's zone: the instant it starts.
fn day(text: &str, offset_minutes: i32) -> Option<Timestamp> {
    let text = text.trim();
    if text.len() != 10 {
        return None;
    }
    let utc_midnight: Timestamp = text.parse().ok()?;
    Some(Timestamp(
        utc_midnight.as_millis() - i64::from(offset_minutes) * 60_000,
    ))
}

fn boolean(fields: &Fields, name: &str) -> Result<bool, Failure> {
    match fields.text(name)?.map(|t| t.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(t) if t == "true" || t == "1" => Ok(true),
        Some(t) if t == "false" || t == "0" => Ok(false),
        Some(_) => Err(Failure::new(errors::BOOLEAN_INVALID, name)),
    }
}

/// A substring filter, without regard to case, as the hosted service matches.
fn contains(haystack: &str, needle: &Option<String>) -> bool {
    needle
        .as_ref()
        .is_none_or(|n| haystack.to_lowercase().contains(&n.to_lowercase()))
}

/// The period asked for: `date` (one day, narrowed by `hour` and `minute`), or `start_date`
/// to `end_date` (whole days, both included) when `period` allows them.
fn period(
    fields: &Fields,
    offset: i32,
    date_required: bool,
) -> Result<(Option<Timestamp>, Option<Timestamp>), Failure> {
    let date = fields.text("date")?;
    let hour = fields.text("hour")?;
    let minute = fields.text("minute")?;
    if let Some(date) = date {
        let start = day(&date, offset).ok_or_else(|| Failure::new(errors::DATE_INVALID, "date"))?;
        let number = |name: &str, text: &str, max: i64| {
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| Failure::new(errors::TIME_INVALID, name))
        };
        return match (hour, minute) {
            (None, None) => Ok((Some(start), Some(Timestamp(start.as_millis() + DAY_MS)))),
            (Some(h), None) => {
                let from = start.as_millis() + number("hour", &h, 23)? * 3_600_000;
                Ok((Some(Timestamp(from)), Some(Timestamp(from + 3_600_000))))
            }
            (Some(h), Some(m)) => {
                let from = start.as_millis()
                    + number("hour", &h, 23)? * 3_600_000
                    + number("minute", &m, 59)? * 60_000;
                Ok((Some(Timestamp(from)), Some(Timestamp(from + 60_000))))
            }
            (None, Some(_)) => Err(Failure::new(errors::TIME_INVALID, "minute")),
        };
    }
    if date_required {
        return Err(Failure::new(errors::DATE_INVALID, "date").detail("required"));
    }
    if hour.is_some() || minute.is_some() {
        return Err(Failure::new(errors::TIME_INVALID, "hour").detail("only with date"));
    }
    let bound = |name: &str| -> Result<Option<Timestamp>, Failure> {
        fields
            .text(name)?
            .map(|t| day(&t, offset).ok_or_else(|| Failure::new(errors::PERIOD_INVALID, name)))
            .transpose()
    };
    let start = bound("start_date")?;
    // The end day is included: the period ends at the next day's start.
    let end = bound("end_date")?.map(|t| Timestamp(t.as_millis() + DAY_MS));
    if let (Some(start), Some(end)) = (start, end)
        && start >= end
    {
        return Err(Failure::new(errors::PERIOD_INVALID, "start_date"));
    }
    Ok((start, end))
}

/// Reads the contract's events of `kinds` in the period, newest first, keeping those `keep`
/// makes a record of, and returns the page `paging` asks for, each record with its message's
/// ID.
async fn page_of<T>(
    state: &ApiState,
    caller: &ContractCaller,
    kinds: Vec<EventKind>,
    (since, until): (Option<Timestamp>, Option<Timestamp>),
    paging: &Paging,
    mut keep: impl FnMut(&Event) -> Option<T>,
) -> Result<Vec<(MessageId, T)>, Failure> {
    let mut query = EventQuery {
        customer: Some(caller.customer_id.clone()),
        kinds,
        since,
        until,
        limit: Some(SCAN_BATCH),
        ..EventQuery::default()
    };
    let mut skipped = 0;
    let mut out = Vec::with_capacity(paging.take);
    loop {
        let page = state.store().search_events(&query).await?;
        for event in &page.events {
            if let Some(record) = keep(event) {
                if skipped < paging.skip {
                    skipped += 1;
                } else {
                    out.push((event.message_id, record));
                    if out.len() == paging.take {
                        return Ok(out);
                    }
                }
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(out),
        }
    }
}

/// The page's records with what the send log keeps of their messages besides the events (the
/// submitting client's address, the subject), read in one look-up for the page only.
async fn of_messages<T>(
    state: &ApiState,
    caller: &ContractCaller,
    page: Vec<(MessageId, T)>,
    fill: impl Fn(T, &str, Option<&str>) -> T,
) -> Result<Vec<T>, Failure> {
    let ids: Vec<MessageId> = page.iter().map(|(id, _)| *id).collect();
    let facts = state
        .store()
        .message_facts(&caller.customer_id, &ids)
        .await?;
    Ok(page
        .into_iter()
        .map(|(id, record)| match facts.get(&id) {
            Some(f) => fill(record, &f.source_ip, f.subject.as_deref()),
            None => record,
        })
        .collect())
}

/// The send-log filters `deliveries` and `bounces` share.
struct Filters {
    from: Option<String>,
    to: Option<String>,
    api_data: Option<String>,
}

impl Filters {
    fn read(fields: &Fields) -> Result<Filters, Failure> {
        Ok(Filters {
            from: fields.text("from")?,
            to: fields.text("to")?,
            api_data: fields.text("api_data")?,
        })
    }

    fn admit(&self, from: &str, to: &str, api_data: &str) -> bool {
        contains(from, &self.from) && contains(to, &self.to) && contains(api_data, &self.api_data)
    }
}

/// Addresses as the key may see them (masked for keys without `see_addresses`), after the
/// filters have matched the clear ones.
fn shown(caller: &ContractCaller, mut record: DeliveryRecord) -> DeliveryRecord {
    record.to = caller.show(&record.to);
    record.from = caller.show(&record.from);
    record.return_path = caller.show(&record.return_path);
    record
}

pub(super) async fn deliveries(
    state: &ApiState,
    caller: &ContractCaller,
    fields: &Fields,
) -> Result<Response, Failure> {
    check_composition(fields, caller, true)?;
    let offset = state.zone_offset_minutes();
    let kinds: Vec<EventKind> = match fields.text("status")?.as_deref().map(str::trim) {
        None => DELIVERY_KINDS.to_vec(),
        Some("queued") => vec![EventKind::Accepted],
        Some("succeeded") => vec![EventKind::Delivered],
        Some("deferred") => vec![EventKind::Deferred],
        Some("failed") => BOUNCE_KINDS.to_vec(),
        Some(_) => return Err(Failure::new(errors::STATUS_INVALID, "status")),
    };
    let filters = Filters::read(fields)?;
    let period = period(fields, offset, true)?;
    let paging = paging(fields)?;
    let page = page_of(state, caller, kinds, period, &paging, |event| {
        let record = DeliveryRecord::of(event, offset)?;
        filters
            .admit(&record.from, &record.to, &record.api_data)
            .then(|| shown(caller, record))
    })
    .await?;
    let deliveries = of_messages(state, caller, page, DeliveryRecord::of_message).await?;
    ok(&DeliveryList { deliveries })
}

pub(super) async fn bounces(
    state: &ApiState,
    caller: &ContractCaller,
    fields: &Fields,
) -> Result<Response, Failure> {
    check_composition(fields, caller, true)?;
    let offset = state.zone_offset_minutes();
    let status = match fields.text("status")? {
        None => None,
        Some(text) => Some(
            text.trim()
                .parse::<u8>()
                .map_err(|_| Failure::new(errors::STATUS_INVALID, "status"))?,
        ),
    };
    let filters = Filters::read(fields)?;
    let period = period(fields, offset, false)?;
    let paging = paging(fields)?;
    let page = page_of(
        state,
        caller,
        BOUNCE_KINDS.to_vec(),
        period,
        &paging,
        |event| {
            let number = event_error_status(&event.details)?.number();
            if status.is_some_and(|s| s != number) {
                return None;
            }
            let record = BounceRecord::of(event, offset)?;
            if !filters.admit(&record.from, &record.to, &record.api_data) {
                return None;
            }
            Some(BounceRecord {
                to: caller.show(&record.to),
                from: caller.show(&record.from),
                return_path: caller.show(&record.return_path),
                ..record
            })
        },
    )
    .await?;
    let bounces = of_messages(state, caller, page, BounceRecord::of_message).await?;
    ok(&BounceList { bounces })
}

/// The error status of a suppression-list entry: what listed it.
fn block_status(source: SuppressionSource, reason: Option<&str>) -> ErrorStatus {
    match source {
        SuppressionSource::Unsubscribe => ErrorStatus::Unsubscribed,
        _ => reason
            .and_then(|r| r.parse::<Reason>().ok())
            .map_or(ErrorStatus::Others, error_status),
    }
}

pub(super) async fn blocks(
    state: &ApiState,
    caller: &ContractCaller,
    fields: &Fields,
) -> Result<Response, Failure> {
    check_composition(fields, caller, true)?;
    let offset = state.zone_offset_minutes();
    let email = fields.text("email")?;
    let (since, until) = period(fields, offset, false)?;
    let removed = boolean(fields, "removed")?;
    let paging = paging(fields)?;
    // Removing an address deletes its entry: there are no removed entries to list.
    if removed {
        return ok(&BlockList { blocks: Vec::new() });
    }
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let batch = state
            .store()
            .suppressions_after(&caller.customer_id, after.as_ref(), Some(1000))
            .await?;
        let full = batch.len() == 1000;
        for (position, entry) in batch {
            let in_period = since.is_none_or(|s| entry.created_at >= s)
                && until.is_none_or(|u| entry.created_at < u);
            if in_period && contains(&entry.address, &email) {
                let id: String = position.as_bytes()[..position.as_bytes().len().min(10)]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                found.push((
                    entry.created_at,
                    BlockRecord {
                        created: hosted_time(entry.created_at, offset),
                        email: caller.show(&entry.address),
                        id,
                        occurred: "1".to_string(),
                        status: block_status(entry.source, entry.reason.as_deref())
                            .number()
                            .to_string(),
                    },
                ));
            }
            after = Some(position);
        }
        if !full {
            break;
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let blocks = found
        .into_iter()
        .skip(paging.skip)
        .take(paging.take)
        .map(|(_, record)| record)
        .collect();
    ok(&BlockList { blocks })
}

pub(super) async fn statistics(
    state: &ApiState,
    caller: &ContractCaller,
    fields: &Fields,
) -> Result<Response, Failure> {
    check_composition(fields, caller, false)?;
    let offset = state.zone_offset_minutes();
    let number = |name: &str| -> Result<i64, Failure> {
        fields
            .text(name)?
            .and_then(|t| t.trim().parse::<i64>().ok())
            .ok_or_else(|| Failure::new(errors::MONTH_INVALID, name))
    };
    let (year, month) = (number("year")?, number("month")?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
        return Err(Failure::new(errors::MONTH_INVALID, "month"));
    }
    let total = boolean(fields, "total")?;
    let first = day(&format!("{year:04}-{month:02}-01"), offset)
        .ok_or_else(|| Failure::new(errors::MONTH_INVALID, "month"))?;
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let end = day(&format!("{next_year:04}-{next_month:02}-01"), offset)
        .ok_or_else(|| Failure::new(errors::MONTH_INVALID, "month"))?;
    // Hour counters, summed into the zone's days: a zone of whole hours starts its days on
    // hour boundaries (every zone the configuration accepts).
    let hours = state
        .store()
        .stats(&caller.customer_id, first, end, Granularity::Hour)
        .await?;
    let days = ((end.as_millis() - first.as_millis()) / DAY_MS) as usize;
    let mut records: Vec<StatisticsRecord> = (0..days)
        .map(|i| StatisticsRecord {
            date: hosted_date(Timestamp(first.as_millis() + i as i64 * DAY_MS), offset),
            queued: 0,
            succeeded: 0,
            failed: 0,
            blocked: 0,
            valid: 0,
        })
        .collect();
    for point in hours {
        let index = (point.start.as_millis() - first.as_millis()).div_euclid(DAY_MS);
        let Some(record) = usize::try_from(index).ok().and_then(|i| records.get_mut(i)) else {
            continue;
        };
        let c = point.counts;
        record.queued += c.accepted;
        record.succeeded += c.delivered;
        record.failed += c.bounced + c.expired;
        record.blocked += c.suppressed;
    }
    for record in &mut records {
        record.valid = record.queued.saturating_sub(record.blocked);
    }
    let statistics = if total {
        let mut sum = StatisticsRecord {
            date: "total".to_string(),
            queued: 0,
            succeeded: 0,
            failed: 0,
            blocked: 0,
            valid: 0,
        };
        for r in &records {
            sum.queued += r.queued;
            sum.succeeded += r.succeeded;
            sum.failed += r.failed;
            sum.blocked += r.blocked;
            sum.valid += r.valid;
        }
        vec![sum]
    } else {
        records
    };
    ok(&StatisticsList { statistics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_start_at_the_zones_midnight() {
        assert_eq!(
            day("2026-12-06", 540).unwrap(),
            "2026-12-05T15:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            day("2026-12-06", 0).unwrap(),
            "2026-12-06T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        for bad in [
            "2026-12-6",
            "2026-13-01",
            "2026-12-06T00:00:00Z",
            "",
            "yesterday",
        ] {
            assert!(day(bad, 540).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_unsubscribed_note_is_the_stores() {
        assert_eq!(
            hikyaku_api_types::hosted::UNSUBSCRIBE_NOTE,
            hikyaku_store::UNSUBSCRIBED_REASON
        );
    }

    #[test]
    fn blocks_say_what_listed_them() {
        assert_eq!(
            block_status(SuppressionSource::HardBounce, Some("userunknown")).number(),
            2
        );
        assert_eq!(
            block_status(SuppressionSource::Unsubscribe, Some("unsubscribed")).number(),
            11
        );
        assert_eq!(
            block_status(SuppressionSource::Manual, Some("asked by phone")).number(),
            99
        );
    }
}
