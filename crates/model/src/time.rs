use crate::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
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

    /// The first instant of this instant's calendar month (UTC): the key of monthly counters.
    pub fn month_start(self) -> Timestamp {
        let c = Civil::from_millis(self.0);
        Timestamp(days_from_civil(c.year, i64::from(c.month), 1) * 86_400_000)
    }

    /// The first instant of the calendar month after this instant's (UTC).
    pub fn next_month_start(self) -> Timestamp {
        let c = Civil::from_millis(self.0);
        let (year, month) = if c.month == 12 {
            (c.year + 1, 1)
        } else {
            (c.year, i64::from(c.month) + 1)
        };
        Timestamp(days_from_civil(year, month, 1) * 86_400_000)
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

/// RFC 3339: `2026-11-25T03:32:00Z`, with optional fractional seconds (kept to the
/// millisecond) and any offset (`+09:00`); `t`/`z` in lowercase and a space for `T` too, as the
/// RFC allows. A bare date (`2026-11-25`) means its midnight in UTC, as people type it.
impl FromStr for Timestamp {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_rfc3339(s.as_bytes()).ok_or_else(|| ParseError {
            kind: "RFC 3339 timestamp",
            text: s.to_string(),
        })
    }
}

fn parse_rfc3339(s: &[u8]) -> Option<Timestamp> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = s.get(range)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let expect = |at: usize, allowed: &[u8]| s.get(at).is_some_and(|c| allowed.contains(c));
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if !expect(4, b"-") || !expect(7, b"-") || !(1..=12).contains(&month) {
        return None;
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let midnight = days_from_civil(year, month, day) * 86_400_000;
    if s.len() == 10 {
        return Some(Timestamp(midnight));
    }
    if !expect(10, b"Tt ") || !expect(13, b":") || !expect(16, b":") {
        return None;
    }
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // 60 is a leap second; counting it as the next minute's first is close enough for logs.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for (i, digit) in fraction[..digits.min(3)].iter().enumerate() {
            millis += i64::from(digit - b'0') * [100, 10, 1][i];
        }
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let field = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (hours, minutes) = (field(*h1, *h2)?, field(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let minutes = hours * 60 + minutes;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let local = midnight + ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    Some(Timestamp(local - offset_minutes * 60_000))
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days-from-civil: the inverse of [`Civil::from_millis`]'s date part.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn months_start_at_their_first_midnight() {
        let table = [
            (
                "2026-11-25T03:32:00.123Z",
                "2026-11-01T00:00:00.000Z",
                "2026-12-01T00:00:00.000Z",
            ),
            (
                "2026-12-31T23:59:59.999Z",
                "2026-12-01T00:00:00.000Z",
                "2027-01-01T00:00:00.000Z",
            ),
            (
                "2024-02-29T12:00:00.000Z",
                "2024-02-01T00:00:00.000Z",
                "2024-03-01T00:00:00.000Z",
            ),
            (
                "2026-01-01T00:00:00.000Z",
                "2026-01-01T00:00:00.000Z",
                "2026-02-01T00:00:00.000Z",
            ),
        ];
        for (at, start, next) in table {
            let at: Timestamp = at.parse().unwrap();
            assert_eq!(at.month_start().to_string(), start, "{at}");
            assert_eq!(at.next_month_start().to_string(), next, "{at}");
        }
    }

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
            assert_eq!(rfc3339.parse::<Timestamp>(), Ok(Timestamp(ms)), "{rfc3339}");
        }
    }

    #[test]
    fn parses_rfc3339_forms() {
        let table = [
            ("2026-11-25T03:32:00Z", Some(1_795_577_520_000)),
            ("2026-11-25t03:32:00z", Some(1_795_577_520_000)),
            ("2026-11-25 03:32:00Z", Some(1_795_577_520_000)),
            ("2026-11-25T12:32:00+09:00", Some(1_795_577_520_000)),
            ("2026-11-24T22:02:00-05:30", Some(1_795_577_520_000)),
            ("2026-11-25T03:32:00.1Z", Some(1_795_577_520_100)),
            ("2026-11-25T03:32:00.123456789Z", Some(1_795_577_520_123)),
            ("2026-11-25", Some(1_795_564_800_000)),
            ("2000-02-29T00:00:00Z", Some(951_782_400_000)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("1969-12-31T23:59:59.999Z", Some(-1)),
            ("2016-12-31T23:59:60Z", Some(1_483_228_800_000)),
            ("2026-11-25T03:32:00", None),
            ("2026-11-25T03:32Z", None),
            ("2026-11-25T03:32:00.Z", None),
            ("2026-11-25T03:32:00+0900", None),
            ("2026-11-25T24:00:00Z", None),
            ("2026-13-01T00:00:00Z", None),
            ("2026-02-29", None),
            ("1900-02-29", None),
            ("2026-04-31", None),
            ("2026-1-05", None),
            ("+026-11-25", None),
            ("2026-11-25T03:32:00Z ", None),
            ("", None),
            ("1h", None),
        ];
        for (text, expected) in table {
            assert_eq!(
                text.parse::<Timestamp>().ok(),
                expected.map(Timestamp),
                "{text:?}"
            );
        }
    }

    #[test]
    fn every_day_round_trips_through_text() {
        // Every day from 1600 to 2400, at a time that exercises every field.
        let start = days_from_civil(1600, 1, 1);
        let end = days_from_civil(2400, 1, 1);
        for day in start..end {
            let t = Timestamp(day * 86_400_000 + 45_296_789);
            assert_eq!(t.to_string().parse::<Timestamp>(), Ok(t), "{t}");
        }
    }
}
