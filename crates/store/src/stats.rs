//! Statistics, read from the counters the event writer keeps (`events` module):
//! never by scanning the send log, so a 40-day chart costs what its buckets cost. Monthly usage
//! is in the `usage` module.

use crate::queue::corrupt;
use crate::{Store, StoreError};
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
            Granularity::Minute => 60_000,
            Granularity::Hour => 3_600_000,
            Granularity::Day => 86_400_000,
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
        Ok(series)
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
            .bind(floor(from, 3_600_000))
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

    /// The contract's events per recipient domain from `from` to `to`, hour-exact, the
    /// `limit` domains with the most events first.
    pub async fn stats_by_domain(
        &self,
        customer: &CustomerId,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<DomainCounts>, StoreError> {
        let rows: Vec<(String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT domain, kind, CAST(SUM(n) AS BIGINT) FROM stats_domain_hour \
                 WHERE customer_id = $1 AND hour >= $2 AND hour < $3 GROUP BY domain, kind",
            )
            .bind(customer.as_str())
            .bind(floor(from, 3_600_000))
            .bind(to.as_millis())
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
