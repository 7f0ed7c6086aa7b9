//! The month's arithmetic, without I/O: which minutes are outage minutes, the availability and
//! the credit. Everything that reads the store or a socket feeds this and shows its answer, so
//! the CLI, the API and the outage notices can never disagree.
//!
//! The rules, and why:
//! - A minute counts (is *measured*) from the first minute any monitor recorded, and only once
//!   it is settled: ended at least [`SETTLE_MINUTES`] ago, so that every monitor has had its
//!   turn. Minutes before monitoring began and minutes still to come are never outage minutes.
//! - A measured minute in which no node answered is an outage minute. That includes a minute
//!   with no record at all: the monitor runs inside the nodes, so when none runs, nothing
//!   answers either.
//! - A minute inside a maintenance window announced at least [`ANNOUNCEMENT_LEAD`] (14 days)
//!   ahead is not an outage minute, whatever happened in it: that is what the terms promise
//!   customers notice of. An emergency maintenance, or any announced later than that, excludes
//!   nothing: its minutes are outage minutes like any other.
//! - Availability is `(1 − outage minutes ÷ 43,200) × 100` for every month, as the terms
//!   write it, so a month of 31 days still divides by 43,200. Below 0 it is 0: a 31-day month
//!   that is down throughout has 44,640 outage minutes.
//! - The credit is compared in integers, so 43 outage minutes (99.9005 %) give none and 44
//!   (99.8981 %) give 10 %: no rounding decides a customer's money.

use hikyaku_model::Timestamp;
use std::collections::BTreeSet;
use std::time::Duration;

/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60_000;

/// The divisor of the availability formula: 30 days of minutes, whatever the month's length.
pub const SLA_MONTH_MINUTES: i64 = 43_200;

/// How long before its start a maintenance must be announced for its minutes not to count.
pub const ANNOUNCEMENT_LEAD: Duration = Duration::from_secs(14 * 86_400);

/// Whole minutes after its end before a minute counts: every monitor probes a minute within
/// it, and one that is slow to record must not make an outage that was none.
pub const SETTLE_MINUTES: i64 = 1;

/// The credit, in % of the month's fee, below each availability (in thousandths of a
/// percent), the deepest first.
const CREDIT_STEPS: [(i64, u8); 4] = [(90_000, 100), (95_000, 50), (99_000, 25), (99_900, 10)];

/// The minute (since the Unix epoch, UTC) an instant falls in.
pub fn minute_of(at: Timestamp) -> i64 {
    at.as_millis().div_euclid(MINUTE_MS)
}

/// The first instant of a minute.
pub fn minute_start(minute: i64) -> Timestamp {
    Timestamp(minute.saturating_mul(MINUTE_MS))
}

/// A maintenance window, with when it was announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub announced_at: Timestamp,
}

impl MaintenanceWindow {
    /// Whether it was announced far enough ahead for its minutes not to count.
    pub fn in_time(&self) -> bool {
        self.announced_at.saturating_add(ANNOUNCEMENT_LEAD) <= self.starts_at
    }

    /// Whether any part of the minute lies in the window: a maintenance that starts at 02:00:30
    /// covers the minute 02:00, in which customers may already have seen it.
    fn covers(&self, minute: i64) -> bool {
        let start = minute_start(minute).as_millis();
        start < self.ends_at.as_millis() && start + MINUTE_MS > self.starts_at.as_millis()
    }
}

/// What the monitors recorded, for one span of time (a month).
#[derive(Debug, Clone, Copy)]
pub struct Observations<'a> {
    /// The span, `[from, to)`; whole minutes.
    pub from: Timestamp,
    pub to: Timestamp,
    /// What time it is: later minutes, and the last ones not yet settled, do not count.
    pub now: Timestamp,
    /// The first minute any monitor recorded (`None`: never).
    pub monitoring_since: Option<i64>,
    /// The minutes in which some node answered both HTTP and SMTP.
    pub answered: &'a BTreeSet<i64>,
    /// Every maintenance that overlaps the span, announced in time or not.
    pub maintenance: &'a [MaintenanceWindow],
}

/// Consecutive outage minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// The first outage minute's start.
    pub starts_at: Timestamp,
    /// The end of its last minute.
    pub ends_at: Timestamp,
    pub minutes: i64,
    /// It reaches the last measured minute, so it may still be going on (or its end is
    /// not settled yet).
    pub ongoing: bool,
}

/// A span's availability, as the terms count it.
#[derive(Debug, Clone, PartialEq)]
pub struct Availability {
    /// Minutes in the span (44,640 in a month of 31 days).
    pub minutes: i64,
    /// Minutes that count: monitored and settled.
    pub measured_minutes: i64,
    /// Measured minutes in which no node answered, outside announced maintenance.
    pub outage_minutes: i64,
    /// Measured minutes inside a maintenance announced in time, not counted as outage minutes
    /// whatever happened in them.
    pub maintenance_minutes: i64,
    /// `(1 − outage_minutes ÷ 43,200) × 100`, at least 0, rounded down to 3 decimals.
    pub availability_percent: f64,
    /// The credit in % of the month's fee: 0, 10, 25, 50 or 100.
    pub credit_percent: u8,
    /// The outage minutes as periods, in time order.
    pub outages: Vec<Outage>,
}

/// The availability of `span` as its observations show it.
pub fn availability(span: &Observations<'_>) -> Availability {
    let first = minute_of(span.from);
    let end = minute_of(span.to);
    // Minutes up to `settled` (exclusive) have ended long enough ago to count.
    let settled = minute_of(span.now) - SETTLE_MINUTES;
    let measured_from = span.monitoring_since.map_or(end, |m| m.max(first));
    let measured_to = settled.min(end).max(measured_from);
    let announced: Vec<&MaintenanceWindow> =
        span.maintenance.iter().filter(|w| w.in_time()).collect();

    let mut outage_minutes = 0;
    let mut maintenance_minutes = 0;
    let mut outages: Vec<Outage> = Vec::new();
    let mut run: Option<i64> = None;
    let close = |outages: &mut Vec<Outage>, from: i64, to: i64| {
        outages.push(Outage {
            starts_at: minute_start(from),
            ends_at: minute_start(to),
            minutes: to - from,
            ongoing: to == measured_to,
        })
    };
    for minute in measured_from..measured_to {
        let excluded = announced.iter().any(|w| w.covers(minute));
        let outage = !excluded && !span.answered.contains(&minute);
        if excluded {
            maintenance_minutes += 1;
        }
        if outage {
            outage_minutes += 1;
            run.get_or_insert(minute);
        } else if let Some(from) = run.take() {
            close(&mut outages, from, minute);
        }
    }
    if let Some(from) = run {
        close(&mut outages, from, measured_to);
    }
    Availability {
        minutes: end - first,
        measured_minutes: measured_to - measured_from,
        outage_minutes,
        maintenance_minutes,
        availability_percent: percent(outage_minutes),
        credit_percent: credit(outage_minutes),
        outages,
    }
}

/// `(1 − outage ÷ 43,200) × 100`, at least 0, rounded down to 3 decimals (rounding up could
/// show 99.9 for an availability that earns a credit).
fn percent(outage_minutes: i64) -> f64 {
    let thousandths = (100_000
        - outage_minutes * 100_000 / SLA_MONTH_MINUTES
        - i64::from(outage_minutes * 100_000 % SLA_MONTH_MINUTES != 0))
    .max(0);
    thousandths as f64 / 1000.0
}

/// The credit for a month with this many outage minutes: availability below a step's
/// threshold `t` (in thousandths of a percent) means `outage × 100,000 > (100,000 − t) × 43,200`.
pub fn credit(outage_minutes: i64) -> u8 {
    CREDIT_STEPS
        .iter()
        .find(|(below, _)| outage_minutes * 100_000 > (100_000 - below) * SLA_MONTH_MINUTES)
        .map_or(0, |(_, credit)| *credit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-01T00:00Z, a month of 30 days.
    const NOV: i64 = 1_793_491_200_000;
    const DAY: i64 = 1440;

    fn at(minute_offset: i64) -> Timestamp {
        Timestamp(NOV + minute_offset * MINUTE_MS)
    }

    fn m(offset: i64) -> i64 {
        minute_of(at(offset))
    }

    struct Case {
        name: &'static str,
        since: Option<i64>,
        now: i64,
        down: Vec<(i64, i64)>,
        maintenance: Vec<MaintenanceWindow>,
        measured: i64,
        outage: i64,
        maintenance_minutes: i64,
        percent: f64,
        credit: u8,
    }

    fn window(from: i64, to: i64, announced_days_ahead: i64) -> MaintenanceWindow {
        MaintenanceWindow {
            starts_at: at(from),
            ends_at: at(to),
            announced_at: at(from - announced_days_ahead * DAY),
        }
    }

    fn run(case: &Case) -> Availability {
        let month_end = 30 * DAY;
        let answered: BTreeSet<i64> = (m(-100)..m(month_end + 100))
            .filter(|minute| {
                !case
                    .down
                    .iter()
                    .any(|&(a, b)| (a..b).contains(&(minute - m(0))))
            })
            .collect();
        availability(&Observations {
            from: at(0),
            to: at(month_end),
            now: at(case.now),
            monitoring_since: case.since.map(m),
            answered: &answered,
            maintenance: &case.maintenance,
        })
    }

    #[test]
    fn the_month_is_counted_as_the_terms_say() {
        let end = 30 * DAY;
        let cases = [
            Case {
                name: "never monitored: nothing measured, nothing owed",
                since: None,
                now: end + 10,
                down: vec![(0, end)],
                maintenance: vec![],
                measured: 0,
                outage: 0,
                maintenance_minutes: 0,
                percent: 100.0,
                credit: 0,
            },
            Case {
                name: "a whole month up",
                since: Some(-DAY),
                now: end + 10,
                down: vec![],
                maintenance: vec![],
                measured: end,
                outage: 0,
                maintenance_minutes: 0,
                percent: 100.0,
                credit: 0,
            },
            Case {
                name: "43 minutes down: 99.900 %, no credit",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(100, 143)],
                maintenance: vec![],
                measured: end,
                outage: 43,
                maintenance_minutes: 0,
                percent: 99.9,
                credit: 0,
            },
            Case {
                name: "44 minutes down: 99.898 %, 10 %",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(100, 120), (500, 524)],
                maintenance: vec![],
                measured: end,
                outage: 44,
                maintenance_minutes: 0,
                percent: 99.898,
                credit: 10,
            },
            Case {
                name: "432 minutes: exactly 99.0 %, still 10 %",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(0, 432)],
                maintenance: vec![],
                measured: end,
                outage: 432,
                maintenance_minutes: 0,
                percent: 99.0,
                credit: 10,
            },
            Case {
                name: "433 minutes: below 99 %, 25 %",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(0, 433)],
                maintenance: vec![],
                measured: end,
                outage: 433,
                maintenance_minutes: 0,
                percent: 98.997,
                credit: 25,
            },
            Case {
                name: "2161 minutes: below 95 %, 50 %",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(0, 2161)],
                maintenance: vec![],
                measured: end,
                outage: 2161,
                maintenance_minutes: 0,
                percent: 94.997,
                credit: 50,
            },
            Case {
                name: "4321 minutes: below 90 %, 100 %",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(0, 4321)],
                maintenance: vec![],
                measured: end,
                outage: 4321,
                maintenance_minutes: 0,
                percent: 89.997,
                credit: 100,
            },
            Case {
                name: "monitoring began mid-month: earlier minutes are not outages",
                since: Some(10 * DAY),
                now: end + 10,
                down: vec![(0, 10 * DAY)],
                maintenance: vec![],
                measured: 20 * DAY,
                outage: 0,
                maintenance_minutes: 0,
                percent: 100.0,
                credit: 0,
            },
            Case {
                name: "mid-month now: the future and the unsettled minute do not count",
                since: Some(-DAY),
                now: 100,
                down: vec![(90, DAY)],
                maintenance: vec![],
                measured: 99,
                outage: 9,
                maintenance_minutes: 0,
                percent: 99.979,
                credit: 0,
            },
            Case {
                name: "maintenance announced 14 days ahead excludes its minutes",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(600, 720)],
                maintenance: vec![window(600, 720, 14)],
                measured: end,
                outage: 0,
                maintenance_minutes: 120,
                percent: 100.0,
                credit: 0,
            },
            Case {
                name: "down beyond the window: only the minutes outside count",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(590, 730)],
                maintenance: vec![window(600, 720, 20)],
                measured: end,
                outage: 20,
                maintenance_minutes: 120,
                percent: 99.953,
                credit: 0,
            },
            Case {
                name: "an emergency (announced 2 days ahead) excludes nothing",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(600, 720)],
                maintenance: vec![window(600, 720, 2)],
                measured: end,
                outage: 120,
                maintenance_minutes: 0,
                percent: 99.722,
                credit: 10,
            },
            Case {
                name: "down all of a month of 30 days: 0 %",
                since: Some(-DAY),
                now: end + 10,
                down: vec![(0, end)],
                maintenance: vec![],
                measured: end,
                outage: end,
                maintenance_minutes: 0,
                percent: 0.0,
                credit: 100,
            },
        ];
        for case in &cases {
            let a = run(case);
            assert_eq!(a.minutes, end, "{}", case.name);
            assert_eq!(a.measured_minutes, case.measured, "{}", case.name);
            assert_eq!(a.outage_minutes, case.outage, "{}", case.name);
            assert_eq!(
                a.maintenance_minutes, case.maintenance_minutes,
                "{}",
                case.name
            );
            assert_eq!(a.availability_percent, case.percent, "{}", case.name);
            assert_eq!(a.credit_percent, case.credit, "{}", case.name);
            assert_eq!(
                a.outages.iter().map(|o| o.minutes).sum::<i64>(),
                a.outage_minutes,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn a_month_of_31_days_divides_by_43200_and_stops_at_zero() {
        // December 2026: 31 days.
        let from = Timestamp(NOV + 30 * DAY * MINUTE_MS);
        let to = Timestamp(from.as_millis() + 31 * DAY * MINUTE_MS);
        let answered = BTreeSet::new();
        let a = availability(&Observations {
            from,
            to,
            now: to.saturating_add(Duration::from_secs(3600)),
            monitoring_since: Some(0),
            answered: &answered,
            maintenance: &[],
        });
        assert_eq!(a.minutes, 44_640);
        assert_eq!(a.outage_minutes, 44_640);
        assert_eq!(a.availability_percent, 0.0);
        assert_eq!(a.credit_percent, 100);
    }

    #[test]
    fn outages_are_periods_and_the_last_may_be_ongoing() {
        let case = Case {
            name: "two outages, the second still going",
            since: Some(-DAY),
            now: 400,
            down: vec![(100, 130), (380, DAY)],
            maintenance: vec![window(200, 260, 30)],
            measured: 0,
            outage: 0,
            maintenance_minutes: 0,
            percent: 0.0,
            credit: 0,
        };
        let a = run(&case);
        assert_eq!(
            a.outages,
            [
                Outage {
                    starts_at: at(100),
                    ends_at: at(130),
                    minutes: 30,
                    ongoing: false,
                },
                Outage {
                    starts_at: at(380),
                    ends_at: at(399),
                    minutes: 19,
                    ongoing: true,
                },
            ]
        );
        assert_eq!(a.maintenance_minutes, 60);
    }

    #[test]
    fn a_window_covers_every_minute_it_touches() {
        let w = MaintenanceWindow {
            starts_at: Timestamp(at(10).as_millis() + 30_000),
            ends_at: Timestamp(at(12).as_millis() + 1),
            announced_at: at(-20 * DAY),
        };
        assert!(w.in_time());
        let covered: Vec<i64> = (5..15).filter(|&o| w.covers(m(o))).collect();
        assert_eq!(covered, [10, 11, 12]);
        let late = MaintenanceWindow {
            announced_at: Timestamp(w.starts_at.as_millis() - 14 * DAY * MINUTE_MS + 1),
            ..w
        };
        assert!(!late.in_time());
    }
}
