//! The delivery graph and the error graph: the range a user chose (a preset, or from and to in
//! their time zone), checked here so that every refusal reads in their language, then read
//! through the API's statistics (`/stats`, `/stats/reasons`, `/stats/domains`).
//!
//! Days are the user's days: the API counts days in UTC, so a day series is asked for by the
//! hour and summed into local days here (zones are fixed offsets, so a day is 24 hours).

use crate::bridge::{self, ApiFailure};
use crate::clock::Zone;
use crate::i18n::Texts;
use crate::pages::{Chrome, Counts, ErrorBox, KIND_NAMES, Point, kind_label, kind_labels, render};
use crate::{ConsoleState, Viewer};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hikyaku_api_types::Time;
use hikyaku_model::Timestamp;
use hikyaku_store::DOMAIN_MINUTES_MAX_SPAN_MS;
use serde::Deserialize;
use std::collections::BTreeMap;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The most points one graph draws: a day of minutes. More than that is more points than the
/// graph has pixels, and a costlier read for nothing.
pub const MAX_GRAPH_POINTS: i64 = 1_500;

/// What the graphs' forms carry. Every field is text as typed; [`GraphForm::window`] reads it.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct GraphForm {
    /// `24h`, `7d`, `30d`, or `custom` for `from` and `to`.
    pub range: String,
    /// `datetime-local` values in the user's zone.
    pub from: String,
    pub to: String,
    /// `minute`, `hour`, `day`, or empty for one that suits the span.
    pub granularity: String,
    /// One recipient domain, or empty for all.
    pub domain: String,
    /// The error graph's drawing: `bars` (the default) or `pie`.
    pub view: String,
}

/// The width of a graph's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Minute,
    Hour,
    Day,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Minute => "minute",
            Step::Hour => "hour",
            Step::Day => "day",
        }
    }

    fn millis(self) -> i64 {
        match self {
            Step::Minute => MINUTE,
            Step::Hour => HOUR,
            Step::Day => DAY,
        }
    }

    /// The step a span is drawn with when the user chose none: about a hundred to a few
    /// hundred points.
    fn suiting(span: i64) -> Step {
        if span <= 6 * HOUR {
            Step::Minute
        } else if span <= 7 * DAY {
            Step::Hour
        } else {
            Step::Day
        }
    }
}

/// A range checked and ready to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The preset chosen, `None` for from and to typed in.
    pub preset: Option<&'static str>,
    /// Milliseconds; `to` exclusive.
    pub from: i64,
    pub to: i64,
    pub step: Step,
    /// Lower case, as the send log keeps it.
    pub domain: Option<String>,
}

/// Why a range was not drawn: each reads as a sentence in the user's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    BadFrom,
    BadTo,
    Reversed,
    /// The earliest instant still kept, and for how many days.
    BeyondRetention {
        earliest: i64,
        days: u32,
    },
    TooManyPoints {
        points: i64,
    },
    BadDomain,
    /// Minutes of one domain asked for over more than their span.
    DomainMinutes,
}

impl Refusal {
    pub fn message(&self, t: &Texts, zone: &Zone) -> String {
        match self {
            Refusal::BadFrom => t.graph_bad_from.to_string(),
            Refusal::BadTo => t.graph_bad_to.to_string(),
            Refusal::Reversed => t.graph_reversed.to_string(),
            Refusal::BeyondRetention { earliest, days } => t
                .graph_beyond_retention
                .replace("{days}", &days.to_string())
                .replace("{earliest}", &to_minute(zone, *earliest)),
            Refusal::TooManyPoints { points } => t
                .graph_too_many_points
                .replace("{points}", &points.to_string())
                .replace("{max}", &MAX_GRAPH_POINTS.to_string()),
            Refusal::BadDomain => t.graph_bad_domain.to_string(),
            Refusal::DomainMinutes => t
                .graph_domain_minutes
                .replace("{hours}", &(DOMAIN_MINUTES_MAX_SPAN_MS / HOUR).to_string()),
        }
    }
}

impl GraphForm {
    fn custom(&self) -> bool {
        self.range == "custom"
            || (self.range.is_empty()
                && !(self.from.trim().is_empty() && self.to.trim().is_empty()))
    }

    /// The range asked for at `now`, report data being kept `report_days` days: a preset ends
    /// at the current minute's end; from and to are the user's zone's; a step too fine for the
    /// span, a range past what is kept, a reversed one or a hostile domain are refused.
    pub fn window(&self, zone: &Zone, now: i64, report_days: u32) -> Result<Window, Refusal> {
        let end_now = (now.div_euclid(MINUTE) + 1) * MINUTE;
        let kept_from = now - i64::from(report_days) * DAY;
        let earliest = (kept_from + MINUTE - 1).div_euclid(MINUTE) * MINUTE;
        let local = |text: &str| -> Option<i64> {
            zone.from_local_input(text)?
                .parse::<Timestamp>()
                .ok()
                .map(|t| t.as_millis())
        };
        let (preset, from, to) = if self.custom() {
            let to = match self.to.trim() {
                "" => end_now,
                text => local(text).ok_or(Refusal::BadTo)?,
            };
            let from = match self.from.trim() {
                "" => to - DAY,
                text => local(text).ok_or(Refusal::BadFrom)?,
            };
            (None, from, to)
        } else {
            let (name, span) = match self.range.as_str() {
                "7d" => ("7d", 7 * DAY),
                "30d" => ("30d", 30 * DAY),
                _ => ("24h", DAY),
            };
            // A preset longer than what is kept shows what is kept.
            (Some(name), (end_now - span).max(earliest), end_now)
        };
        let domain =
            hikyaku_store::recipient_domain(&self.domain).map_err(|_| Refusal::BadDomain)?;
        if from >= to {
            return Err(Refusal::Reversed);
        }
        if from < earliest {
            return Err(Refusal::BeyondRetention {
                earliest,
                days: report_days,
            });
        }
        let step = match self.granularity.as_str() {
            "minute" => Step::Minute,
            "hour" => Step::Hour,
            "day" => Step::Day,
            _ => Step::suiting(to - from),
        };
        let first = match step {
            Step::Day => zone.day_start(from),
            _ => from - from.rem_euclid(step.millis()),
        };
        let points = (to - first + step.millis() - 1) / step.millis();
        if points > MAX_GRAPH_POINTS {
            return Err(Refusal::TooManyPoints { points });
        }
        if domain.is_some() && step == Step::Minute && to - first > DOMAIN_MINUTES_MAX_SPAN_MS {
            return Err(Refusal::DomainMinutes);
        }
        Ok(Window {
            preset,
            from,
            to,
            step,
            domain,
        })
    }

    /// The same form as a query string (for the graph's data, fetched by the page's script).
    fn query(&self, path: &str) -> String {
        format!(
            "{path}{}",
            bridge::query(&[
                ("range", &self.range),
                ("from", &self.from),
                ("to", &self.to),
                ("granularity", &self.granularity),
                ("domain", &self.domain),
            ])
        )
    }
}

fn rfc3339(millis: i64) -> String {
    Time(Timestamp(millis)).to_string()
}

/// The window's points, every one present, each starting at `.0` (milliseconds).
async fn points(
    state: &ConsoleState,
    viewer: &Viewer,
    w: &Window,
) -> Result<Vec<(i64, Counts)>, ApiFailure> {
    let (from, asked) = match w.step {
        Step::Day => (viewer.zone.day_start(w.from), Step::Hour),
        step => (w.from, step),
    };
    let path = format!(
        "/stats{}",
        bridge::query(&[
            ("from", &rfc3339(from)),
            ("to", &rfc3339(w.to)),
            ("granularity", asked.name()),
            ("recipient_domain", w.domain.as_deref().unwrap_or("")),
        ])
    );
    #[derive(Deserialize)]
    struct Series {
        points: Vec<Point>,
    }
    let series: Series = bridge::get(state.api(), &viewer.caller, &path).await?;
    let points = series
        .points
        .into_iter()
        .map(|p| (p.start.0.as_millis(), p.counts));
    if w.step != Step::Day {
        return Ok(points.collect());
    }
    let mut days: BTreeMap<i64, Counts> = BTreeMap::new();
    let mut day = from;
    while day < w.to {
        days.insert(day, Counts::default());
        day += DAY;
    }
    for (start, counts) in points {
        days.entry(viewer.zone.day_start(start))
            .or_default()
            .add(&counts);
    }
    Ok(days.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------
// Delivery graph

#[derive(Template)]
#[template(path = "graph.html")]
struct GraphPage {
    c: Chrome,
    ranges: Vec<(&'static str, &'static str, bool)>,
    from: String,
    to: String,
    granularities: Vec<(&'static str, &'static str, bool)>,
    domain: String,
    /// The contract's busiest recipient domains of the range, offered as the field's choices.
    domain_choices: Vec<String>,
    /// What the graph shows, in words; empty when the range was refused.
    shown: String,
    data_src: String,
    labels: [&'static str; 6],
    table: Vec<(String, [u64; 6])>,
}

/// The preset ranges, the chosen one marked.
fn ranges(t: &Texts, chosen: &str) -> Vec<(&'static str, &'static str, bool)> {
    [
        ("24h", t.last_24_hours),
        ("7d", t.last_7_days),
        ("30d", t.last_30_days),
        ("custom", t.graph_custom_range),
    ]
    .map(|(v, l)| (v, l, v == chosen))
    .to_vec()
}

#[derive(Deserialize)]
struct ApiDomainNames {
    data: Vec<ApiDomainName>,
}

#[derive(Deserialize)]
struct ApiDomainName {
    domain: String,
}

/// A graph page's range as its form shows it back: the window when it was taken (a refusal
/// goes to the page's error box), the from and to fields, the range list's choice.
struct Chosen {
    window: Option<Window>,
    from: String,
    to: String,
    range: String,
    status: StatusCode,
}

fn choose(form: &GraphForm, viewer: &Viewer, report_days: u32, c: &mut Chrome) -> Chosen {
    let t = viewer.lang.texts();
    let zone = &viewer.zone;
    match form.window(zone, Timestamp::now().as_millis(), report_days) {
        Ok(w) => Chosen {
            from: zone.local_input(w.from),
            to: zone.local_input(w.to),
            range: w.preset.unwrap_or("custom").to_string(),
            window: Some(w),
            status: StatusCode::OK,
        },
        Err(refusal) => {
            c.error = Some(ErrorBox {
                summary: t.error_invalid,
                detail: refusal.message(t, zone),
            });
            Chosen {
                window: None,
                from: form.from.clone(),
                to: form.to.clone(),
                range: if form.custom() {
                    "custom".to_string()
                } else {
                    form.range.clone()
                },
                status: StatusCode::UNPROCESSABLE_ENTITY,
            }
        }
    }
}

/// `2026-12-06 18:30` in the user's zone.
fn to_minute(zone: &Zone, millis: i64) -> String {
    zone.format(millis)[..16].to_string()
}

pub async fn graph(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(form): Query<GraphForm>,
) -> Response {
    let t = viewer.lang.texts();
    let zone = &viewer.zone;
    let mut c = Chrome::of(&viewer, |t| t.graph_title, "graph");
    let chosen = choose(&form, &viewer, state.report_days(), &mut c);
    let mut status = chosen.status;
    let mut shown = String::new();
    let mut table = Vec::new();
    let mut domain_choices = Vec::new();
    if let Some(w) = &chosen.window {
        shown = t
            .graph_shown
            .replace("{from}", &to_minute(zone, w.from))
            .replace("{to}", &to_minute(zone, w.to))
            .replace("{step}", step_label(t, w.step))
            .replace("{domain}", w.domain.as_deref().unwrap_or(t.all_domains));
        // The choices: the range's 50 busiest domains (whole days are read from the daily
        // domain counters, so a month costs about as much as a day did). Asked for beside the
        // points, not after them: the two are the page's dearest reads and need not wait for
        // each other.
        let busiest = format!(
            "/stats/domains{}",
            bridge::query(&[
                ("from", &rfc3339(w.from)),
                ("to", &rfc3339(w.to)),
                ("limit", "50"),
            ])
        );
        let (points, choices) = tokio::join!(
            points(&state, &viewer, w),
            bridge::get::<ApiDomainNames>(state.api(), &viewer.caller, &busiest)
        );
        match points {
            Ok(points) => {
                table = points
                    .iter()
                    .filter(|(_, counts)| counts.values().iter().any(|v| *v > 0))
                    .map(|(start, counts)| (to_minute(zone, *start), counts.values()))
                    .collect();
            }
            Err(failure) => {
                status = failure.status;
                c = c.failed(&failure);
            }
        }
        // Only a help for typing: the field takes any domain without it.
        if let Ok(list) = choices {
            domain_choices = list.data.into_iter().map(|d| d.domain).collect();
        }
    }
    let page = GraphPage {
        ranges: ranges(t, &chosen.range),
        from: chosen.from,
        to: chosen.to,
        granularities: [
            ("", t.granularity_auto),
            ("minute", t.per_minute),
            ("hour", t.per_hour),
            ("day", t.per_day),
        ]
        .map(|(v, l)| (v, l, v == form.granularity))
        .to_vec(),
        domain: form.domain.trim().to_string(),
        domain_choices,
        data_src: match chosen.window {
            Some(_) => form.query("/graph/data"),
            None => String::new(),
        },
        shown,
        labels: kind_labels(t),
        table,
        c,
    };
    render(status, &page)
}

fn step_label(t: &Texts, step: Step) -> &'static str {
    match step {
        Step::Minute => t.per_minute,
        Step::Hour => t.per_hour,
        Step::Day => t.per_day,
    }
}

/// The graph's figures as uPlot takes them: `x` (Unix seconds) and one array per series, with
/// the labels in the user's language and the user's zone offset for the axis. A refused range
/// answers `422` with the refusal in the user's language.
pub async fn graph_data(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(form): Query<GraphForm>,
) -> Response {
    let t = viewer.lang.texts();
    let failed = |status: StatusCode, code: &str, message: String| {
        (
            status,
            axum::Json(serde_json::json!({ "error": { "code": code, "message": message } })),
        )
            .into_response()
    };
    let window = match form.window(
        &viewer.zone,
        Timestamp::now().as_millis(),
        state.report_days(),
    ) {
        Ok(window) => window,
        Err(refusal) => {
            return failed(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                refusal.message(t, &viewer.zone),
            );
        }
    };
    match points(&state, &viewer, &window).await {
        Ok(points) => {
            let x: Vec<i64> = points.iter().map(|(start, _)| start / 1000).collect();
            let series: Vec<serde_json::Value> = KIND_NAMES
                .iter()
                .zip(kind_labels(t))
                .enumerate()
                .map(|(i, (name, label))| {
                    let values: Vec<u64> = points.iter().map(|(_, c)| c.values()[i]).collect();
                    serde_json::json!({ "kind": name, "label": label, "values": values })
                })
                .collect();
            axum::Json(serde_json::json!({
                "x": x,
                "series": series,
                "step": window.step.name(),
                "recipient_domain": window.domain,
                "offset_minutes": viewer.zone.offset_minutes,
            }))
            .into_response()
        }
        Err(failure) => failed(failure.status, &failure.code, failure.message),
    }
}

// ---------------------------------------------------------------------------------------------
// Error graph

#[derive(Deserialize)]
struct ApiReason {
    kind: String,
    reason: String,
    count: u64,
}

#[derive(Deserialize)]
struct ApiReasons {
    data: Vec<ApiReason>,
}

#[derive(Deserialize)]
pub struct DomainFailures {
    pub domain: String,
    #[serde(default)]
    pub bounced: u64,
    #[serde(default)]
    pub expired: u64,
    #[serde(default)]
    pub deferred: u64,
}

impl DomainFailures {
    pub fn failed(&self) -> u64 {
        self.bounced + self.expired + self.deferred
    }
}

#[derive(Deserialize)]
struct ApiDomains {
    data: Vec<DomainFailures>,
}

pub struct ReasonLine {
    pub kind: &'static str,
    pub label: String,
    pub count: u64,
}

/// One slice of a pie, drawn server-side as an SVG path: no script, nothing inline that the
/// pages' policy would refuse (the colour is a class of the console's stylesheet).
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub label: String,
    pub count: u64,
    /// `12.5 %`.
    pub share: String,
    /// `c0` … `c6`, or `other`.
    pub class: &'static str,
    pub path: String,
}

/// Slices with a colour of their own; the rest are one slice, "other".
const PIE_COLOURS: usize = 7;

/// The pie of `items` (label, count), largest first as given: the first [`PIE_COLOURS`]
/// items, then the rest as one `other` slice. Paths are in a 200 × 200 box.
pub fn pie(items: &[(String, u64)], other: &str) -> Vec<Slice> {
    let total: u64 = items.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Vec::new();
    }
    const CLASSES: [&str; PIE_COLOURS] = ["c0", "c1", "c2", "c3", "c4", "c5", "c6"];
    let mut parts: Vec<(String, u64, &'static str)> = items
        .iter()
        .take(PIE_COLOURS)
        .zip(CLASSES)
        .filter(|((_, n), _)| *n > 0)
        .map(|((label, n), class)| (label.clone(), *n, class))
        .collect();
    let rest: u64 = items.iter().skip(PIE_COLOURS).map(|(_, n)| n).sum();
    if rest > 0 {
        parts.push((other.to_string(), rest, "other"));
    }
    let (cx, cy, r) = (100.0_f64, 100.0_f64, 90.0_f64);
    let point = |angle: f64| (cx + r * angle.sin(), cy - r * angle.cos());
    let mut angle = 0.0_f64;
    parts
        .into_iter()
        .map(|(label, count, class)| {
            let share = count as f64 / total as f64;
            let sweep = share * std::f64::consts::TAU;
            let path = if share >= 0.999_999 {
                // A whole circle: one arc cannot start and end at the same point.
                format!(
                    "M{cx},{} A{r},{r} 0 1,1 {cx},{} A{r},{r} 0 1,1 {cx},{} Z",
                    cy - r,
                    cy + r,
                    cy - r
                )
            } else {
                let (x0, y0) = point(angle);
                let (x1, y1) = point(angle + sweep);
                let large = u8::from(sweep > std::f64::consts::PI);
                format!("M{cx},{cy} L{x0:.2},{y0:.2} A{r},{r} 0 {large},1 {x1:.2},{y1:.2} Z")
            };
            angle += sweep;
            Slice {
                label,
                count,
                share: format!("{:.1} %", share * 100.0),
                class,
                path,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "errors.html")]
struct ErrorsPage {
    c: Chrome,
    ranges: Vec<(&'static str, &'static str, bool)>,
    from: String,
    to: String,
    pie: bool,
    shown: String,
    reasons: Vec<ReasonLine>,
    reason_slices: Vec<Slice>,
    max_reason: u64,
    domains: Vec<DomainFailures>,
    domain_slices: Vec<Slice>,
    max_domain: u64,
}

/// Bounces, expiries and deferrals by reason and by recipient domain over a range, as bars or
/// pies, each with its table (the text alternative), from the API's `GET /stats/reasons` and
/// `GET /stats/domains`.
pub async fn errors(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(form): Query<GraphForm>,
) -> Response {
    let t = viewer.lang.texts();
    let zone = &viewer.zone;
    let mut c = Chrome::of(&viewer, |t| t.errors_title, "errors");
    // The breakdowns are by reason and by domain already: the form has no step or domain.
    let form = GraphForm {
        granularity: String::new(),
        domain: String::new(),
        ..form
    };
    let chosen = choose(&form, &viewer, state.report_days(), &mut c);
    let mut status = chosen.status;
    let mut shown = String::new();
    let mut reasons = Vec::new();
    let mut domains = Vec::new();
    if let Some(w) = &chosen.window {
        shown = t
            .errors_shown
            .replace("{from}", &to_minute(zone, w.from))
            .replace("{to}", &to_minute(zone, w.to));
        let range = bridge::query(&[("from", &rfc3339(w.from)), ("to", &rfc3339(w.to))]);
        // The two tallies are asked for together: neither needs the other's answer.
        let by_reason_path = format!("/stats/reasons{range}");
        let by_domain_path = format!("/stats/domains{range}&limit=1000");
        let (by_reason, by_domain) = tokio::join!(
            bridge::get::<ApiReasons>(state.api(), &viewer.caller, &by_reason_path),
            bridge::get::<ApiDomains>(state.api(), &viewer.caller, &by_domain_path)
        );
        match by_reason {
            Ok(list) => {
                reasons = list
                    .data
                    .into_iter()
                    .filter(|r| matches!(r.kind.as_str(), "bounced" | "expired" | "deferred"))
                    .map(|r| ReasonLine {
                        kind: kind_label(t, &r.kind),
                        label: r.reason,
                        count: r.count,
                    })
                    .collect()
            }
            Err(failure) => {
                status = failure.status;
                c = c.failed(&failure);
            }
        }
        match by_domain {
            Ok(list) => {
                domains = list.data.into_iter().filter(|d| d.failed() > 0).collect();
                domains.sort_by(|a, b| b.failed().cmp(&a.failed()).then(a.domain.cmp(&b.domain)));
                domains.truncate(50);
            }
            Err(failure) => {
                if status.is_success() {
                    status = failure.status;
                    c = c.failed(&failure);
                }
            }
        }
    }
    let reason_items: Vec<(String, u64)> = reasons
        .iter()
        .map(|r| (format!("{} · {}", r.kind, r.label), r.count))
        .collect();
    let domain_items: Vec<(String, u64)> = domains
        .iter()
        .map(|d| (d.domain.clone(), d.failed()))
        .collect();
    let page = ErrorsPage {
        c,
        ranges: ranges(t, &chosen.range),
        from: chosen.from,
        to: chosen.to,
        pie: form.view == "pie",
        shown,
        reason_slices: pie(&reason_items, t.other),
        max_reason: reasons.iter().map(|r| r.count).max().unwrap_or(1).max(1),
        reasons,
        domain_slices: pie(&domain_items, t.other),
        max_domain: domains.iter().map(|d| d.failed()).max().unwrap_or(1).max(1),
        domains,
    };
    render(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-06T15:30:20Z.
    const NOW: i64 = 1_796_571_020_000;

    fn form(pairs: &[(&str, &str)]) -> GraphForm {
        let mut f = GraphForm::default();
        for (k, v) in pairs {
            let v = v.to_string();
            match *k {
                "range" => f.range = v,
                "from" => f.from = v,
                "to" => f.to = v,
                "granularity" => f.granularity = v,
                "domain" => f.domain = v,
                _ => unreachable!(),
            }
        }
        f
    }

    fn window(pairs: &[(&str, &str)]) -> Result<Window, Refusal> {
        form(pairs).window(&Zone::default(), NOW, 40)
    }

    #[test]
    fn presets_end_now_and_pick_a_step_for_their_span() {
        let end = NOW - NOW % MINUTE + MINUTE;
        let w = window(&[]).unwrap();
        assert_eq!(
            (w.preset, w.from, w.to, w.step),
            (Some("24h"), end - DAY, end, Step::Hour)
        );
        let w = window(&[("range", "30d")]).unwrap();
        assert_eq!((w.from, w.step), (end - 30 * DAY, Step::Day));
        let w = window(&[("range", "7d"), ("granularity", "minute")]);
        assert_eq!(
            w,
            Err(Refusal::TooManyPoints {
                points: 7 * 24 * 60
            })
        );
        // Kept for fewer days than the preset: the preset shows what is kept.
        let w = form(&[("range", "30d")])
            .window(&Zone::default(), NOW, 10)
            .unwrap();
        assert_eq!(w.from, NOW - NOW % MINUTE + MINUTE - 10 * DAY);
    }

    #[test]
    fn from_and_to_are_the_user_s_zone_s() {
        // Tokyo's 2026-12-06 09:00 is 00:00 UTC.
        let w = window(&[("from", "2026-12-06T09:00"), ("to", "2026-12-06T12:00")]).unwrap();
        let utc_midnight: Timestamp = "2026-12-06T00:00:00Z".parse().unwrap();
        assert_eq!(w.preset, None);
        assert_eq!(
            (w.from, w.to),
            (
                utc_midnight.as_millis(),
                utc_midnight.as_millis() + 3 * HOUR
            )
        );
        assert_eq!(w.step, Step::Minute);
        // `custom` with only a start: up to now.
        let w = window(&[("range", "custom"), ("from", "2026-12-06T09:00")]).unwrap();
        assert_eq!(w.to, NOW - NOW % MINUTE + MINUTE);
        // A preset named with dates typed: the preset, the dates are last page's.
        let w = window(&[("range", "7d"), ("from", "2026-12-06T09:00")]).unwrap();
        assert_eq!(w.preset, Some("7d"));
    }

    #[test]
    fn hostile_ranges_are_refused_with_their_reason() {
        for (pairs, refusal) in [
            (vec![("from", "yesterday")], Refusal::BadFrom),
            (vec![("from", "2026-02-30T10:00")], Refusal::BadFrom),
            (
                vec![("from", "2026-12-06T10:00"), ("to", "2026-12-06T25:00")],
                Refusal::BadTo,
            ),
            (
                vec![("from", "2026-12-06T10:00"), ("to", "2026-12-06T10:00")],
                Refusal::Reversed,
            ),
            (
                vec![("from", "2026-12-06T10:00"), ("to", "2026-12-05T10:00")],
                Refusal::Reversed,
            ),
            (vec![("domain", "x@gmail.com")], Refusal::BadDomain),
            (vec![("domain", "gmail.com\nevil")], Refusal::BadDomain),
            (vec![("domain", "a b.example")], Refusal::BadDomain),
            (vec![("domain", "<script>")], Refusal::BadDomain),
            (
                vec![
                    ("from", "2026-12-06T00:00"),
                    ("to", "2026-12-06T12:00"),
                    ("granularity", "minute"),
                    ("domain", "gmail.com"),
                ],
                Refusal::DomainMinutes,
            ),
            (
                vec![
                    ("from", "2026-01-01T00:00"),
                    ("to", "2026-12-06T12:00"),
                    ("granularity", "minute"),
                ],
                Refusal::BeyondRetention {
                    earliest: NOW - NOW % MINUTE + MINUTE - 40 * DAY,
                    days: 40,
                },
            ),
        ] {
            assert_eq!(window(&pairs), Err(refusal), "{pairs:?}");
        }
        let w = window(&[("domain", " Gmail.COM.\n")]).unwrap();
        assert_eq!(w.domain.as_deref(), Some("gmail.com"));
        let message = Refusal::BeyondRetention {
            earliest: NOW,
            days: 40,
        }
        .message(crate::i18n::Lang::En.texts(), &Zone::default());
        assert!(
            message.contains("40") && message.contains("2026-12-07 00:30"),
            "{message}"
        );
        let message = Refusal::TooManyPoints { points: 10_080 }
            .message(crate::i18n::Lang::Ja.texts(), &Zone::default());
        assert!(
            message.contains("10080") && message.contains("1500"),
            "{message}"
        );
    }

    #[test]
    fn a_pie_s_slices_add_up_to_a_circle() {
        let items: Vec<(String, u64)> = (0..9).map(|i| (format!("r{i}"), 10 - i)).collect();
        let slices = pie(&items, "other");
        assert_eq!(slices.len(), 8);
        assert_eq!(slices[7].label, "other");
        assert_eq!(slices[7].count, 3 + 2);
        assert_eq!(slices[0].class, "c0");
        assert_eq!(slices[0].share, "18.5 %");
        // The first starts at twelve o'clock; the last ends there.
        assert!(
            slices[0].path.starts_with("M100,100 L100.00,10.00 "),
            "{}",
            slices[0].path
        );
        assert!(
            slices[7].path.ends_with(" 100.00,10.00 Z"),
            "{}",
            slices[7].path
        );
        let whole = pie(&[("all".into(), 5)], "other");
        assert_eq!(whole.len(), 1);
        assert!(
            whole[0].path.contains("A90,90 0 1,1 100,190"),
            "{}",
            whole[0].path
        );
        assert!(pie(&[("none".into(), 0)], "other").is_empty());
    }
}
