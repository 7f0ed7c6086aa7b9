//! The data lifecycle's settings: how long report data is kept and how the background job that
//! removes it paces itself (`[retention]`), and the time zone monthly usage is counted in.

use crate::Duration;
use serde::Deserialize;

/// How long report data is kept, and how the lifecycle job (retention, contract deletion, trial
/// expiry) runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Report data (send log, statistics counters, inbound-parse logs, finished queue entries)
    /// older than this many days is deleted. Monthly usage is kept.
    pub report_days: u32,
    /// How often the lifecycle job runs on each node.
    pub interval: Duration,
    /// Rows deleted per transaction: one short transaction at a time, so that the relay's
    /// intake (the database's one writer on SQLite) never waits long.
    pub batch_size: u32,
    /// The pause between two batches, in which other writers get their turn.
    pub batch_pause: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            report_days: 40,
            interval: Duration::from_secs(3600),
            batch_size: 1000,
            batch_pause: Duration::from_millis(50),
        }
    }
}

impl RetentionConfig {
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if self.report_days == 0 {
            problems.push("retention.report_days must be at least 1".to_string());
        }
        if self.interval.as_std().is_zero() {
            problems.push("retention.interval must be longer than zero".to_string());
        }
        if !(1..=100_000).contains(&self.batch_size) {
            problems.push(format!(
                "retention.batch_size must be 1 to 100000, not {}",
                self.batch_size
            ));
        }
    }
}

/// The time zone calendar months are counted in for usage: a fixed offset from UTC in whole
/// hours. Without a time zone database in the tree, names are limited to zones that have had
/// one offset, without daylight saving time, for decades (`Asia/Tokyo`, `UTC`); any other zone
/// is written as its offset, e.g. `"+08:00"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageTimeZone {
    /// Minutes east of UTC (540 for Japan).
    offset_minutes: i32,
}

/// Zones that may be named, with their one offset in minutes.
const NAMED_ZONES: [(&str, i32); 4] = [
    ("Asia/Tokyo", 540),
    ("Japan", 540),
    ("UTC", 0),
    ("Etc/UTC", 0),
];

impl UsageTimeZone {
    pub const TOKYO: UsageTimeZone = UsageTimeZone {
        offset_minutes: 540,
    };
    pub const UTC: UsageTimeZone = UsageTimeZone { offset_minutes: 0 };

    pub fn offset_minutes(self) -> i32 {
        self.offset_minutes
    }
}

impl Default for UsageTimeZone {
    fn default() -> Self {
        UsageTimeZone::TOKYO
    }
}

impl std::str::FromStr for UsageTimeZone {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some((_, minutes)) = NAMED_ZONES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
        {
            return Ok(UsageTimeZone {
                offset_minutes: *minutes,
            });
        }
        let bad = || {
            format!(
                "not a time zone: {text:?} (Asia/Tokyo, UTC, or an offset from UTC in whole \
                 hours such as \"+09:00\" or \"-05:00\")"
            )
        };
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1, &text[1..]),
            Some(b'-') => (-1, &text[1..]),
            _ => return Err(bad()),
        };
        let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "00"));
        let shaped = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !shaped(hours) || !shaped(minutes) {
            return Err(bad());
        }
        let hours: i32 = hours.parse().map_err(|_| bad())?;
        if minutes != "00" {
            return Err(format!(
                "{text:?}: usage is counted in hourly buckets, so the offset must be whole hours"
            ));
        }
        if hours > 14 {
            return Err(bad());
        }
        Ok(UsageTimeZone {
            offset_minutes: sign * hours * 60,
        })
    }
}

impl<'de> Deserialize<'de> for UsageTimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for UsageTimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let minutes = self.offset_minutes.abs();
        write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_names_of_fixed_zones_or_whole_hour_offsets() {
        let table = [
            ("Asia/Tokyo", Some(540)),
            ("asia/tokyo", Some(540)),
            ("UTC", Some(0)),
            ("+09:00", Some(540)),
            ("+09", Some(540)),
            ("-05:00", Some(-300)),
            ("+00:00", Some(0)),
            ("+05:30", None),
            ("+15:00", None),
            ("09:00", None),
            ("Europe/Berlin", None),
            ("+9:00", None),
            ("", None),
            ("+", None),
            ("+０９:00", None),
        ];
        for (text, want) in table {
            assert_eq!(
                text.parse::<UsageTimeZone>()
                    .ok()
                    .map(|z| z.offset_minutes()),
                want,
                "{text:?}"
            );
        }
        assert_eq!(UsageTimeZone::default().to_string(), "+09:00");
        assert_eq!(
            "-05:00".parse::<UsageTimeZone>().unwrap().to_string(),
            "-05:00"
        );
    }
}
