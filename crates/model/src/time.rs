use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time as milliseconds since the Unix epoch (UTC).
///
/// Stored as a plain integer in both databases so that ranges and ordering work the same way
/// on SQLite and PostgreSQL; rendered as RFC 3339 for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    /// RFC 5322 date-time, as used in `Received` and `Date` header fields.
    pub fn to_rfc5322(self) -> String {
        let c = Civil::from_millis(self.0);
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let weekday = DAYS[self.0.div_euclid(86_400_000).rem_euclid(7) as usize];
        format!(
            "{weekday}, {} {} {} {:02}:{:02}:{:02} +0000",
            c.day,
            MONTHS[(c.month - 1) as usize],
            c.year,
            c.hour,
            c.minute,
            c.second
        )
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(d.as_millis() as i64),
            Err(e) => Timestamp(-(e.duration().as_millis() as i64)),
        }
    }
}

/// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-25T03:32:00.123Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = Civil::from_millis(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
        )
    }
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
}

impl Civil {
    /// Howard Hinnant's days-to-civil algorithm: exact for the proleptic Gregorian calendar.
    fn from_millis(ms: i64) -> Self {
        let days = ms.div_euclid(86_400_000);
        let rest = ms.rem_euclid(86_400_000);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: (rest / 3_600_000) as u32,
            minute: (rest / 60_000 % 60) as u32,
            second: (rest / 1000 % 60) as u32,
            millis: (rest % 1000) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_instants() {
        let cases = [
            (
                0,
                "1970-01-01T00:00:00.000Z",
                "Thu, 1 Jan 1970 00:00:00 +0000",
            ),
            (
                951_782_400_000,
                "2000-02-29T00:00:00.000Z",
                "Tue, 29 Feb 2000 00:00:00 +0000",
            ),
            (
                1_795_577_520_123,
                "2026-11-25T03:32:00.123Z",
                "Wed, 25 Nov 2026 03:32:00 +0000",
            ),
            (
                -1,
                "1969-12-31T23:59:59.999Z",
                "Wed, 31 Dec 1969 23:59:59 +0000",
            ),
        ];
        for (ms, rfc3339, rfc5322) in cases {
            assert_eq!(Timestamp(ms).to_string(), rfc3339, "{ms}");
            assert_eq!(Timestamp(ms).to_rfc5322(), rfc5322, "{ms}");
        }
    }
}
