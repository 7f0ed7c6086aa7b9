//! The availability page, a contract's (`/availability`, any role) and the operator's
//! (`/operator/availability`): a month's measured, outage and announced-maintenance minutes,
//! the availability, the credit it earns and the outage periods. The figures are the
//! platform's, the same for every contract; both pages read them from the REST API as their
//! caller (the contract's route or the operator's), so they are the CLI's and the API's, from
//! the one computation, and this module only lays them out.

use crate::bridge::{self, ApiFailure};
use crate::clock::Zone;
use crate::i18n::Lang;
use crate::pages::{Chrome, render};
use crate::{ConsoleState, Viewer};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use hikyaku_api_types::MonthAvailability;
use hikyaku_model::{ApiCaller, Timestamp};
use serde::Deserialize;

/// Months offered in the picker, the current one included: the monitor's minutes are kept 400
/// days, so the 13 latest months are all answerable.
const MONTHS_OFFERED: usize = 13;

/// The page's query: `month=YYYY-MM`, the current month when left out.
#[derive(Deserialize, Default)]
pub struct MonthQuery {
    #[serde(default)]
    pub month: String,
}

/// What the figures' part of both pages shows (`availability_figures.html`).
pub struct AvailabilityView {
    pub t: &'static AvailabilityTexts,
    /// Where the month picker's form goes.
    pub action: &'static str,
    /// The month shown (`YYYY-MM`), or the one asked for when the API refused it.
    pub month: String,
    /// The picker's months, newest first.
    pub months: Vec<String>,
    /// `None` when the API refused (the page shows why).
    pub figures: Option<Figures>,
}

pub struct Figures {
    pub time_zone: String,
    pub minutes: i64,
    pub measured_minutes: i64,
    pub outage_minutes: i64,
    pub maintenance_minutes: i64,
    /// As the API rounds it: down, to 3 decimals.
    pub availability: String,
    pub credit_percent: u8,
    pub outages: Vec<OutageRow>,
}

pub struct OutageRow {
    pub starts_at: String,
    pub ends_at: String,
    pub minutes: i64,
    pub ongoing: bool,
}

/// The month's figures from the API's `path` (`/availability` or `/operator/availability`, the
/// page's own path too) as `caller`, laid out with times in `zone`, and the page's status; the
/// API's refusal as it came.
pub async fn month_view(
    api: &axum::Router,
    caller: &ApiCaller,
    path: &'static str,
    query: &MonthQuery,
    lang: Lang,
    zone: &Zone,
) -> (AvailabilityView, StatusCode, Option<ApiFailure>) {
    let api_path = format!("{path}{}", bridge::query(&[("month", &query.month)]));
    let answer = bridge::get::<MonthAvailability>(api, caller, &api_path).await;
    // The months are the API's (the usage time zone), not the viewer's.
    let month_zone = answer
        .as_ref()
        .ok()
        .and_then(|a| Zone::parse(&a.time_zone))
        .unwrap_or_default();
    let current = month_of(&month_zone, Timestamp::now());
    let mut view = AvailabilityView {
        t: AvailabilityTexts::of(lang),
        action: path,
        month: query.month.trim().to_string(),
        months: months_back(&current, MONTHS_OFFERED),
        figures: None,
    };
    match answer {
        Ok(a) => {
            view.month = a.month;
            view.figures = Some(Figures {
                time_zone: a.time_zone,
                minutes: a.minutes,
                measured_minutes: a.measured_minutes,
                outage_minutes: a.outage_minutes,
                maintenance_minutes: a.maintenance_minutes,
                availability: format!("{:.3}", a.availability_percent),
                credit_percent: a.credit_percent,
                outages: a
                    .outages
                    .into_iter()
                    .map(|o| OutageRow {
                        starts_at: zone.format(o.starts_at.0.as_millis()),
                        ends_at: zone.format(o.ends_at.0.as_millis()),
                        minutes: o.minutes,
                        ongoing: o.ongoing,
                    })
                    .collect(),
            });
            if !view.months.contains(&view.month) {
                // An older month typed into the address: it stays chosen in the picker.
                view.months.push(view.month.clone());
            }
            (view, StatusCode::OK, None)
        }
        Err(failure) => (view, failure.status, Some(failure)),
    }
}

#[derive(Template)]
#[template(path = "availability.html")]
struct AvailabilityPage {
    c: Chrome,
    a: AvailabilityView,
}

/// The contract's page: any role, as the API's `GET /availability`.
pub async fn page(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<MonthQuery>,
) -> Response {
    let (a, status, failure) = month_view(
        state.api(),
        &viewer.caller,
        "/availability",
        &query,
        viewer.lang,
        &viewer.zone,
    )
    .await;
    let mut c = Chrome::of(&viewer, |t| t.availability_title, "availability");
    if let Some(failure) = &failure {
        c = c.failed(failure);
    }
    render(status, &AvailabilityPage { c, a })
}

/// `YYYY-MM` of the month `at` falls in, in `zone`.
fn month_of(zone: &Zone, at: Timestamp) -> String {
    zone.format(at.as_millis())[..7].to_string()
}

/// `count` months ending with `current` (`YYYY-MM`), newest first.
fn months_back(current: &str, count: usize) -> Vec<String> {
    let parsed = current
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<i32>().ok()?)));
    let Some((year, month)) = parsed.filter(|(_, m)| (1..=12).contains(m)) else {
        return Vec::new();
    };
    let index = year * 12 + (month - 1);
    (0..count as i32)
        .map(|back| {
            let i = index - back;
            format!("{:04}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1)
        })
        .collect()
}

/// The figures' strings, shared by the contract's and the operator's page.
#[derive(Debug)]
pub struct AvailabilityTexts {
    pub month: &'static str,
    pub show: &'static str,
    pub availability: &'static str,
    pub credit: &'static str,
    pub credit_of_fee: &'static str,
    pub outage_minutes: &'static str,
    pub maintenance_minutes: &'static str,
    pub measured_minutes: &'static str,
    pub of_minutes: &'static str,
    pub months_in: &'static str,
    pub rules: &'static str,
    pub outages: &'static str,
    pub starts_at: &'static str,
    pub ends_at: &'static str,
    pub minutes: &'static str,
    pub ongoing: &'static str,
    pub no_outages: &'static str,
}

impl AvailabilityTexts {
    pub fn of(lang: Lang) -> &'static AvailabilityTexts {
        match lang {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }
}

static EN: AvailabilityTexts = AvailabilityTexts {
    month: "Month",
    show: "Show",
    availability: "Availability",
    credit: "Credit",
    credit_of_fee: "% of the month's fee",
    outage_minutes: "Outage minutes",
    maintenance_minutes: "Announced maintenance (minutes, not counted)",
    measured_minutes: "Measured minutes",
    of_minutes: "of",
    months_in: "Months in the time zone",
    rules: "Availability is (1 − outage minutes ÷ 43,200) × 100 for every month, rounded down. \
            A minute is an outage minute when no node answered both HTTP and SMTP in it; minutes \
            of a maintenance announced at least 14 days ahead do not count. The credit is 10 % \
            of the month's fee below 99.9 %, 25 % below 99.0 %, 50 % below 95.0 % and 100 % \
            below 90.0 %.",
    outages: "Outages",
    starts_at: "Began",
    ends_at: "Ended",
    minutes: "Minutes",
    ongoing: "Ongoing",
    no_outages: "No outage in this month.",
};

static JA: AvailabilityTexts = AvailabilityTexts {
    month: "月",
    show: "表示",
    availability: "稼働率",
    credit: "返金（クレジット）",
    credit_of_fee: "%（当月料金に対する割合）",
    outage_minutes: "停止時間（分）",
    maintenance_minutes: "事前告知済みメンテナンス（分・計上しない）",
    measured_minutes: "計測した時間（分）",
    of_minutes: "/",
    months_in: "月の区切りのタイムゾーン",
    rules: "稼働率は月の長さによらず (1 − 停止時間（分） ÷ 43,200) × 100 で、小数第3位未満を切り捨てます。\
            どのノードも HTTP と SMTP の両方に応答しなかった1分を停止時間とし、14日以上前に告知した\
            メンテナンスの時間は計上しません。返金は 99.9 % 未満で当月料金の 10 %、99.0 % 未満で 25 %、\
            95.0 % 未満で 50 %、90.0 % 未満で 100 % です。",
    outages: "停止",
    starts_at: "開始",
    ends_at: "終了",
    minutes: "分",
    ongoing: "継続中",
    no_outages: "この月の停止はありません。",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picker_offers_the_months_before_across_a_year() {
        assert_eq!(
            months_back("2026-02", 4),
            ["2026-02", "2026-01", "2025-12", "2025-11"]
        );
        assert_eq!(months_back("2026-12", 1), ["2026-12"]);
        assert_eq!(months_back("2026-01", 13).last().unwrap(), "2025-01");
        for bad in ["", "2026", "2026-13", "2026-00", "x-01", "2026-1x"] {
            assert!(months_back(bad, 3).is_empty(), "{bad}");
        }
    }

    #[test]
    fn the_month_is_the_zone_s() {
        // 2026-10-31T15:30Z is November in Tokyo, October in UTC.
        let at = Timestamp(1_793_460_600_000);
        assert_eq!(month_of(&Zone::default(), at), "2026-11");
        assert_eq!(month_of(&Zone::parse("UTC").unwrap(), at), "2026-10");
    }
}
