//! Statistics, read from the counters the event writer keeps (`events` module):
//! never by scanning the send log, so a 40-day chart costs what its buckets cost. Monthly usage
//! is in the `usage` module.

use crate::queue::corrupt;
use crate::{DAY_MS, HOUR_MS, MINUTE_MS, Store, StoreError};
use hikyaku_model::{CustomerId, EventKind, Reason, Timestamp, named_enum};
use std::collections::BTreeMap;

named_enum! {
    /// The width of one point of a statistics series.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Granularity: "granularity" {
        Minute = "minute",
        Hour = "hour",
        Day = "day",
    }
}

impl Granularity {
    pub fn millis(self) -> i64 {
        match self {
            Granularity::Minute => MINUTE_MS,
            Granularity::Hour => HOUR_MS,
            Granularity::Day => DAY_MS,
        }
    }
}

/// Most points one series may have: a minute series over 40 days is 57,600.
pub const MAX_STATS_POINTS: i64 = 100_000;

/// How many events of each outcome kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub accepted: u64,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub expired: u64,
    pub suppressed: u64,
    pub complaint: u64,
    /// Recipients who used a message's unsubscribe link or mailto address.
    pub unsubscribed: u64,
}

impl KindCounts {
    fn add(&mut self, kind: &str, n: i64) {
        let Ok(kind) = kind.parse::<EventKind>() else {
            return;
        };
        let slot = match kind {
            EventKind::Accepted => &mut self.accepted,
            EventKind::Delivered => &mut self.delivered,
            EventKind::Deferred => &mut self.deferred,
            EventKind::Bounced => &mut self.bounced,
            EventKind::Expired => &mut self.expired,
            EventKind::Suppressed => &mut self.suppressed,
            EventKind::Complaint => &mut self.complaint,
            EventKind::Unsubscribed => &mut self.unsubscribed,
            EventKind::Inbound | EventKind::Deleted => return,
        };
        *slot = slot.saturating_add_signed(n);
    }

    pub fn total(&self) -> u64 {
        self.accepted
            + self.delivered
            + self.deferred
            + self.bounced
            + self.expired
            + self.suppressed
            + self.complaint
            + self.unsubscribed
    }
}

/// One bucket of a statistics series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsPoint {
    /// The bucket's first instant.
    pub start: Timestamp,
    pub counts: KindCounts,
}

/// Events of one kind with one reason over a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonCount {
    pub kind: EventKind,
    pub reason: Reason,
    pub count: u64,
}

/// A recipient domain's events over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainCounts {
    pub domain: String,
    pub counts: KindCounts,
}

fn floor(at: Timestamp, width: i64) -> i64 {
    at.as_millis() - at.as_millis().rem_euclid(width)
}

/// The widest range a minute series of one recipient domain may span. Minutes per domain have
/// no counter table (it would be a row per domain and minute): they are counted from the send
/// log's domain index, whose cost grows with the range, so the range is kept short; longer
/// ranges of one domain take hours or days from `stats_domain_hour`.
pub const DOMAIN_MINUTES_MAX_SPAN_MS: i64 = 6 * HOUR_MS;

/// A recipient domain as a person or program typed it, as the send log keeps it (lower case,
/// no final dot): `Ok(None)` when empty; `Err` for what cannot be a domain name (anything but
/// letters, digits, `-`, `_` and `.`, or over 255 bytes), so that no address or markup is taken
/// for one.
pub fn recipient_domain(text: &str) -> Result<Option<String>, StoreError> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return Ok(None);
    }
    if domain.len() > 255
        || !domain
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(StoreError::invalid(
            "recipient domain",
            "a domain name has only letters, digits, hyphens and dots (example.co.jp)",
        ));
    }
    Ok(Some(domain))
}

/// A range's hours (those that begin in it) as the UTC days wholly inside them,
/// `[days_from, days_to)`, and the hours before and after those days:
/// `[hours_from, days_from)` and `[days_to, hours_to)`. Without a whole day, both day bounds
/// are `hours_to`, so the hours before them are the whole range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DaySplit {
    hours_from: i64,
    days_from: i64,
    days_to: i64,
    hours_to: i64,
}

impl DaySplit {
    fn of(from: Timestamp, to: Timestamp) -> DaySplit {
        let hours_from = floor(from, HOUR_MS);
        // The first hour not beginning before `to`.
        let hours_to = ceil(to.as_millis(), HOUR_MS).max(hours_from);
        let days_from = ceil(hours_from, DAY_MS);
        let days_to = hours_to - hours_to.rem_euclid(DAY_MS);
        if days_from < days_to {
            DaySplit {
                hours_from,
                days_from,
                days_to,
                hours_to,
            }
        } else {
            DaySplit {
                hours_from,
                days_from: hours_to,
                days_to: hours_to,
                hours_to,
            }
        }
    }
}

fn ceil(at: i64, width: i64) -> i64 {
    at + (width - at.rem_euclid(width)).rem_euclid(width)
}

/// The first bucket and the number of buckets of a series, refused when it has too many.
fn buckets(
    from: Timestamp,
    to: Timestamp,
    granularity: Granularity,
) -> Result<(i64, i64), StoreError> {
    let width = granularity.millis();
    let start = floor(from, width);
    let points = (to.as_millis() - start + width - 1)
        .div_euclid(width)
        .max(0);
    if points > MAX_STATS_POINTS {
        return Err(StoreError::invalid(
            "statistics range",
            format!("{points} {granularity} points (at most {MAX_STATS_POINTS})"),
        ));
    }
    Ok((start, points))
}

/// Every bucket from `start`, empty ones as zeros, filled from `(bucket, kind, n)` rows.
fn series_of(
    start: i64,
    points: i64,
    width: i64,
    rows: Vec<(i64, String, i64)>,
) -> Vec<StatsPoint> {
    let mut series: Vec<StatsPoint> = (0..points)
        .map(|i| StatsPoint {
            start: Timestamp(start + i * width),
            counts: KindCounts::default(),
        })
        .collect();
    for (bucket, kind, n) in rows {
        let index = (bucket - start).div_euclid(width);
        if let Some(point) = usize::try_from(index).ok().and_then(|i| series.get_mut(i)) {
            point.counts.add(&kind, n);
        }
    }
    series
}

impl Store {
    /// The contract's events per `granularity` bucket from `from` (rounded down to its bucket)
    /// to `to` (exclusive), every bucket present, empty ones as zeros. The breakdowns by reason
    /// and domain are hourly; this series is minute-exact.
    pub async fn stats(
        &self,
        customer: &CustomerId,
        from: Timestamp,
        to: Timestamp,
        granularity: Granularity,
    ) -> Result<Vec<StatsPoint>, StoreError> {
        let width = granularity.millis();
        let (start, points) = buckets(from, to, granularity)?;
        // Minute and hour counters exist; a day is 24 hour rows.
        let (table, column) = match granularity {
            Granularity::Minute => ("stats_minute", "minute"),
            Granularity::Hour | Granularity::Day => ("stats_hour", "hour"),
        };
        let sql = format!(
            "SELECT {column} / $1 * $1 AS bucket, kind, CAST(SUM(n) AS BIGINT) FROM {table} \
             WHERE customer_id = $2 AND {column} >= $3 AND {column} < $4 \
             GROUP BY 1, 2 ORDER BY 1"
        );
        let rows: Vec<(i64, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(width)
                .bind(customer.as_str())
                .bind(start)
                .bind(to.as_millis())
                .fetch_all(pool)
                .await?
        });
        Ok(series_of(start, points, width, rows))
    }

    /// The contract's events to one recipient `domain` (lower-case, as the send log keeps it)
    /// per bucket, as [`Store::stats`] gives them for all domains. Hours and days come from the
    /// hourly domain counters; minutes are counted from the send log, for ranges of at most
    /// [`DOMAIN_MINUTES_MAX_SPAN_MS`].
    pub async fn stats_of_domain(
        &self,
        customer: &CustomerId,
        domain: &str,
        from: Timestamp,
        to: Timestamp,
        granularity: Granularity,
    ) -> Result<Vec<StatsPoint>, StoreError> {
        let width = granularity.millis();
        let (start, points) = buckets(from, to, granularity)?;
        let sql = match granularity {
            Granularity::Minute => {
                if to.as_millis() - start > DOMAIN_MINUTES_MAX_SPAN_MS {
                    return Err(StoreError::invalid(
                        "statistics range",
                        "minutes of one domain span at most 6 hours",
                    ));
                }
                // The index (customer_id, recipient_domain, at) holds exactly these rows.
                "SELECT at / $1 * $1 AS bucket, kind, CAST(COUNT(*) AS BIGINT) FROM events \
                 WHERE customer_id = $2 AND recipient_domain = $3 AND at >= $4 AND at < $5 \
                 GROUP BY 1, 2 ORDER BY 1"
            }
            Granularity::Hour | Granularity::Day => {
                "SELECT hour / $1 * $1 AS bucket, kind, CAST(SUM(n) AS BIGINT) \
                 FROM stats_domain_hour \
                 WHERE customer_id = $2 AND domain = $3 AND hour >= $4 AND hour < $5 \
                 GROUP BY 1, 2 ORDER BY 1"
            }
        };
        let rows: Vec<(i64, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(width)
                .bind(customer.as_str())
                .bind(domain)
                .bind(start)
                .bind(to.as_millis())
                .fetch_all(pool)
                .await?
        });
        Ok(series_of(start, points, width, rows))
    }

    /// The contract's events by kind and reason from `from` to `to`, hour-exact (the hours
    /// that begin in the range), most frequent first.
    pub async fn stats_by_reason(
        &self,
        customer: &CustomerId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReasonCount>, StoreError> {
        let rows: Vec<(String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT kind, reason, CAST(SUM(n) AS BIGINT) FROM stats_reason_hour \
                 WHERE customer_id = $1 AND hour >= $2 AND hour < $3 \
                 GROUP BY kind, reason ORDER BY 3 DESC, kind, reason",
            )
            .bind(customer.as_str())
            .bind(floor(from, HOUR_MS))
            .bind(to.as_millis())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .filter(|(_, _, n)| *n > 0)
            .map(|(kind, reason, n)| {
                Ok(ReasonCount {
                    kind: kind
                        .parse()
                        .map_err(|e| corrupt("stats_reason_hour.kind", e))?,
                    reason: reason
                        .parse()
                        .map_err(|e| corrupt("stats_reason_hour.reason", e))?,
                    count: n as u64,
                })
            })
            .collect()
    }

    /// The contract's events per recipient domain from `from` to `to`, hour-exact (the hours
    /// that begin in the range), the `limit` domains with the most events first.
    pub async fn stats_by_domain(
        &self,
        customer: &CustomerId,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<DomainCounts>, StoreError> {
        let split = DaySplit::of(from, to);
        // The whole days from the daily counters, the hours before and after them from the
        // hourly ones: a month is ~30 rows per domain and kind instead of ~720.
        let rows: Vec<(String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT domain, kind, CAST(SUM(n) AS BIGINT) FROM stats_domain_day \
                 WHERE customer_id = $1 AND day >= $2 AND day < $3 GROUP BY domain, kind \
                 UNION ALL \
                 SELECT domain, kind, CAST(SUM(n) AS BIGINT) FROM stats_domain_hour \
                 WHERE customer_id = $1 AND hour >= $4 AND hour < $2 GROUP BY domain, kind \
                 UNION ALL \
                 SELECT domain, kind, CAST(SUM(n) AS BIGINT) FROM stats_domain_hour \
                 WHERE customer_id = $1 AND hour >= $3 AND hour < $5 GROUP BY domain, kind",
            )
            .bind(customer.as_str())
            .bind(split.days_from)
            .bind(split.days_to)
            .bind(split.hours_from)
            .bind(split.hours_to)
            .fetch_all(pool)
            .await?
        });
        let mut domains: BTreeMap<String, KindCounts> = BTreeMap::new();
        for (domain, kind, n) in rows {
            domains.entry(domain).or_default().add(&kind, n);
        }
        let mut domains: Vec<DomainCounts> = domains
            .into_iter()
            .map(|(domain, counts)| DomainCounts { domain, counts })
            .filter(|d| d.counts.total() > 0)
            .collect();
        domains.sort_by(|a, b| {
            b.counts
                .total()
                .cmp(&a.counts.total())
                .then_with(|| a.domain.cmp(&b.domain))
        });
        domains.truncate(limit as usize);
        Ok(domains)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MS;
    const D: i64 = DAY_MS;

    /// (from, to) → (hours_from, days_from, days_to, hours_to)
    #[test]
    fn a_range_splits_into_whole_days_and_the_hours_around_them() {
        let cases = [
            // Exactly one day.
            ((10 * D, 11 * D), (10 * D, 10 * D, 11 * D, 11 * D)),
            // Mid-morning to mid-morning three days later: two whole days.
            (
                (10 * D + 9 * H + 5, 13 * D + 9 * H),
                (10 * D + 9 * H, 11 * D, 13 * D, 13 * D + 9 * H),
            ),
            // `to` inside an hour: that hour begins in the range, so it counts.
            (
                (10 * D, 10 * D + 23 * H + 1),
                (10 * D, 10 * D, 11 * D, 11 * D),
            ),
            // Less than a day: hours only.
            (
                (10 * D + H, 10 * D + 5 * H),
                (10 * D + H, 10 * D + 5 * H, 10 * D + 5 * H, 10 * D + 5 * H),
            ),
            // Across midnight but no whole day.
            (
                (10 * D + 20 * H, 11 * D + 3 * H),
                (
                    10 * D + 20 * H,
                    11 * D + 3 * H,
                    11 * D + 3 * H,
                    11 * D + 3 * H,
                ),
            ),
            // Empty and reversed ranges read nothing.
            ((10 * D, 10 * D), (10 * D, 10 * D, 10 * D, 10 * D)),
            ((11 * D, 10 * D), (11 * D, 11 * D, 11 * D, 11 * D)),
        ];
        for ((from, to), (hours_from, days_from, days_to, hours_to)) in cases {
            assert_eq!(
                DaySplit::of(Timestamp(from), Timestamp(to)),
                DaySplit {
                    hours_from,
                    days_from,
                    days_to,
                    hours_to
                },
                "{from}..{to}"
            );
        }
    }
}
