//! Times as a user reads and types them: in their time zone (Asia/Tokyo unless they chose
//! another), which is a fixed offset from UTC like the usage months' zone (no zone database in
//! the tree; the zones offered have had one offset for decades, or are written as offsets).

use hikyaku_config::UsageTimeZone;

const DAY_MS: i64 = 86_400_000;

/// A user's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// As the user chose it (`Asia/Tokyo`, `UTC`, `+08:00`).
    pub name: String,
    pub offset_minutes: i32,
}

impl Default for Zone {
    fn default() -> Self {
        Zone {
            name: "Asia/Tokyo".into(),
            offset_minutes: 540,
        }
    }
}

/// The zones the settings page offers: the named ones, then every whole-hour offset.
pub fn offered_zones() -> Vec<String> {
    let mut zones = vec!["Asia/Tokyo".to_string(), "UTC".to_string()];
    for hours in -12i32..=14 {
        if hours != 0 {
            let sign = if hours < 0 { '-' } else { '+' };
            zones.push(format!("{sign}{:02}:00", hours.abs()));
        }
    }
    zones
}

impl Zone {
    /// `None` for a zone we cannot place (the settings page offers only ones we can).
    pub fn parse(name: &str) -> Option<Zone> {
        let zone: UsageTimeZone = name.parse().ok()?;
        Some(Zone {
            name: name.trim().to_string(),
            offset_minutes: zone.offset_minutes(),
        })
    }

    fn offset_ms(&self) -> i64 {
        i64::from(self.offset_minutes) * 60_000
    }

    /// `2026-12-06 18:30:05` in this zone.
    pub fn format(&self, millis: i64) -> String {
        let local = millis + self.offset_ms();
        let days = local.div_euclid(DAY_MS);
        let (y, m, d) = civil_from_days(days);
        let ms = local.rem_euclid(DAY_MS) / 1000;
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            ms / 3600,
            ms / 60 % 60,
            ms % 60
        )
    }

    /// The first instant of `millis`'s day in this zone.
    pub fn day_start(&self, millis: i64) -> i64 {
        let local = millis + self.offset_ms();
        local.div_euclid(DAY_MS) * DAY_MS - self.offset_ms()
    }

    /// The first instant of `millis`'s calendar month in this zone.
    pub fn month_start(&self, millis: i64) -> i64 {
        let local = millis + self.offset_ms();
        let (y, m, _) = civil_from_days(local.div_euclid(DAY_MS));
        days_from_civil(y, m, 1) * DAY_MS - self.offset_ms()
    }

    /// `millis` as a `datetime-local` field's value in this zone (`2026-12-06T18:30`, with
    /// seconds only when there are some), the inverse of [`Zone::from_local_input`].
    pub fn local_input(&self, millis: i64) -> String {
        let text = self.format(millis).replacen(' ', "T", 1);
        match text.strip_suffix(":00") {
            Some(minutes) => minutes.to_string(),
            None => text,
        }
    }

    /// A `datetime-local` field's value (`2026-12-06T18:30`, seconds optional) in this zone as
    /// RFC 3339, for the API; `None` for anything else.
    pub fn from_local_input(&self, text: &str) -> Option<String> {
        let text = text.trim();
        let (date, time) = text.split_once('T')?;
        let shaped = |s: &str, n: usize| {
            s.split(['-', ':']).count() == n
                && s.split(['-', ':'])
                    .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
        };
        if date.len() != 10 || !shaped(date, 3) || !(shaped(time, 2) || shaped(time, 3)) {
            return None;
        }
        let time = if time.len() == 5 {
            format!("{time}:00")
        } else {
            time.to_string()
        };
        if time.len() != 8 {
            return None;
        }
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let offset = self.offset_minutes.abs();
        Some(format!(
            "{date}T{time}{sign}{:02}:{:02}",
            offset / 60,
            offset % 60
        ))
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-06T15:30:00Z
    const T: i64 = 1_796_571_000_000;

    #[test]
    fn tokyo_is_nine_hours_ahead_and_its_days_start_at_15_utc() {
        let tokyo = Zone::default();
        assert_eq!(tokyo.format(T), "2026-12-07 00:30:00");
        assert_eq!(Zone::parse("UTC").unwrap().format(T), "2026-12-06 15:30:00");
        assert_eq!(tokyo.day_start(T), T - 30 * 60_000);
        assert_eq!(tokyo.format(tokyo.day_start(T)), "2026-12-07 00:00:00");
        assert_eq!(tokyo.format(tokyo.month_start(T)), "2026-12-01 00:00:00");
        let minus5 = Zone::parse("-05:00").unwrap();
        assert_eq!(minus5.format(minus5.month_start(T)), "2026-12-01 00:00:00");
        assert_eq!(tokyo.format(0), "1970-01-01 09:00:00");
        assert_eq!(
            Zone::parse("UTC").unwrap().format(-1000),
            "1969-12-31 23:59:59"
        );
        assert!(Zone::parse("Europe/Paris").is_none() && Zone::parse("").is_none());
        for zone in offered_zones() {
            assert!(Zone::parse(&zone).is_some(), "{zone}");
        }
    }

    #[test]
    fn local_inputs_become_rfc3339_with_the_zone_s_offset() {
        let tokyo = Zone::default();
        assert_eq!(
            tokyo.from_local_input("2026-12-06T18:30").as_deref(),
            Some("2026-12-06T18:30:00+09:00")
        );
        assert_eq!(
            Zone::parse("-05:00")
                .unwrap()
                .from_local_input("2026-12-06T18:30:15")
                .as_deref(),
            Some("2026-12-06T18:30:15-05:00")
        );
        assert_eq!(tokyo.local_input(T), "2026-12-07T00:30");
        assert_eq!(tokyo.local_input(T + 5_000), "2026-12-07T00:30:05");
        let back: hikyaku_model::Timestamp = tokyo
            .from_local_input(&tokyo.local_input(T + 5_000))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(back.as_millis(), T + 5_000);
        for bad in [
            "",
            "2026-12-06",
            "2026-12-06T",
            "2026-12-06T18",
            "x026-12-06T18:30",
            "2026-12-06T18:30Z",
            "2026-12-06T18:30:00+01:00",
            "2026-12-06 18:30",
            "2026-12-06T1:3",
        ] {
            assert!(tokyo.from_local_input(bad).is_none(), "{bad}");
        }
    }
}
