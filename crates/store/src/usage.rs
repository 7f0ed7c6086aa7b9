//! Usage metering: what each contract sent (recipients accepted, less those suppressed) per
//! calendar month of the operator's time zone.
//!
//! The event writer counts per contract and UTC hour (`usage_hour`), in the event's own
//! transaction, so the figure is exact across restarts and nodes. A month is read as the sum of
//! its hours: the zone is needed only when reading, so nodes never disagree while writing, and
//! the zone must be a whole-hour offset from UTC (Japan's is +09:00, without daylight saving).

use crate::queue::corrupt;
use crate::{HOUR_MS, MINUTE_MS};
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, Timestamp};

/// A calendar month (`2026-11`), in whatever zone it is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsageMonth {
    /// The month's first instant read as if the zone were UTC (a "local" timestamp).
    local_start: Timestamp,
}

impl UsageMonth {
    /// The month that contains `at` in the zone `offset_minutes` east of UTC.
    pub fn containing(at: Timestamp, offset_minutes: i32) -> UsageMonth {
        let local = Timestamp(at.as_millis() + i64::from(offset_minutes) * MINUTE_MS);
        UsageMonth {
            local_start: local.month_start(),
        }
    }

    /// The month's first instant, and the next month's, in the zone `offset_minutes` east of UTC.
    pub fn range(self, offset_minutes: i32) -> (Timestamp, Timestamp) {
        let offset = i64::from(offset_minutes) * MINUTE_MS;
        (
            Timestamp(self.local_start.as_millis() - offset),
            Timestamp(self.local_start.next_month_start().as_millis() - offset),
        )
    }

    /// The month after this one.
    pub fn next(self) -> UsageMonth {
        UsageMonth {
            local_start: self.local_start.next_month_start(),
        }
    }
}

impl std::str::FromStr for UsageMonth {
    type Err = StoreError;
    /// `YYYY-MM`.
    fn from_str(text: &str) -> Result<Self, StoreError> {
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 7
            && bytes[4] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || b.is_ascii_digit());
        let start = shaped
            .then(|| format!("{text}-01").parse::<Timestamp>().ok())
            .flatten()
            .ok_or_else(|| StoreError::invalid("month", format!("{text:?} is not YYYY-MM")))?;
        Ok(UsageMonth { local_start: start })
    }
}

impl std::fmt::Display for UsageMonth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.local_start.to_string()[..7])
    }
}

/// A contract's usage in one calendar month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub customer_id: CustomerId,
    pub month: UsageMonth,
    /// Recipients accepted, less those suppressed.
    pub sent: u64,
}

/// The hour buckets of `month` in the zone: those that begin within it.
fn hour_range(month: UsageMonth, offset_minutes: i32) -> Result<(i64, i64), StoreError> {
    if i64::from(offset_minutes) * MINUTE_MS % HOUR_MS != 0 {
        return Err(StoreError::invalid(
            "usage time zone",
            "usage is counted per hour: the offset from UTC must be whole hours",
        ));
    }
    let (start, end) = month.range(offset_minutes);
    Ok((start.as_millis(), end.as_millis()))
}

impl Store {
    /// What the contract sent in `month` of the zone `offset_minutes` east of UTC.
    pub async fn usage(
        &self,
        customer: &CustomerId,
        month: UsageMonth,
        offset_minutes: i32,
    ) -> Result<u64, StoreError> {
        let (start, end) = hour_range(month, offset_minutes)?;
        let sent: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT CAST(SUM(sent) AS BIGINT) FROM usage_hour \
                 WHERE customer_id = $1 AND hour >= $2 AND hour < $3",
            )
            .bind(customer.as_str())
            .bind(start)
            .bind(end)
            .fetch_one(pool)
            .await?
        });
        Ok(sent.unwrap_or(0).max(0) as u64)
    }

    /// Every contract's usage in `month` (those that sent something), by contract ID.
    pub async fn usage_of_all(
        &self,
        month: UsageMonth,
        offset_minutes: i32,
    ) -> Result<Vec<Usage>, StoreError> {
        let (start, end) = hour_range(month, offset_minutes)?;
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT customer_id, CAST(SUM(sent) AS BIGINT) FROM usage_hour \
                 WHERE hour >= $1 AND hour < $2 GROUP BY customer_id ORDER BY customer_id",
            )
            .bind(start)
            .bind(end)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(customer, sent)| {
                Ok(Usage {
                    customer_id: customer
                        .parse()
                        .map_err(|e| corrupt("usage_hour.customer_id", e))?,
                    month,
                    sent: sent.max(0) as u64,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn months_are_read_in_the_zone() {
        const TOKYO: i32 = 540;
        let table = [
            ("2026-11-30T14:59:59.999Z", TOKYO, "2026-11"),
            ("2026-11-30T15:00:00Z", TOKYO, "2026-12"),
            ("2026-12-31T15:00:00Z", TOKYO, "2027-01"),
            ("2026-11-30T15:00:00Z", 0, "2026-11"),
            ("2026-12-01T04:59:59Z", -300, "2026-11"),
            ("2026-12-01T05:00:00Z", -300, "2026-12"),
            ("2028-02-28T15:00:00Z", TOKYO, "2028-02"),
            ("2028-02-29T15:00:00Z", TOKYO, "2028-03"),
        ];
        for (instant, offset, month) in table {
            assert_eq!(
                UsageMonth::containing(at(instant), offset).to_string(),
                month,
                "{instant} at {offset}"
            );
        }
        let november: UsageMonth = "2026-11".parse().unwrap();
        assert_eq!(
            november.range(TOKYO),
            (at("2026-10-31T15:00:00Z"), at("2026-11-30T15:00:00Z"))
        );
        assert_eq!(november.next().to_string(), "2026-12");
        assert_eq!(
            "2026-12".parse::<UsageMonth>().unwrap().next().to_string(),
            "2027-01"
        );
        for bad in [
            "2026-13",
            "2026-1",
            "26-11",
            "2026/11",
            "2026-11-01",
            "",
            "2026-00",
        ] {
            assert!(bad.parse::<UsageMonth>().is_err(), "{bad}");
        }
        assert!(hour_range(november, 330).is_err());
    }
}
