//! The send log's shapes: events, a message's history, bounces, statistics and usage.

use crate::Time;
use hikyaku_model::{EventDetails, Exchange};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One event of the send log: what happened to one recipient of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Event {
    /// `accepted`, `delivered`, `deferred`, `bounced`, `expired`, `suppressed`, `complaint`,
    /// `inbound`, `deleted` or `unsubscribed`.
    #[schema(example = "delivered")]
    pub kind: String,
    pub time: Time,
    pub message_id: String,
    pub customer_id: String,
    pub sender: String,
    pub recipient: String,
    pub details: Details,
    /// The message's tags, as its sender set them.
    pub tags: Vec<String>,
    /// The message's metadata, as its sender set it.
    pub metadata: BTreeMap<String, String>,
}

/// What the event's kind records. Only the fields that the kind has are present:
/// an attempt (`delivered`, `deferred`, `bounced`, `expired`, `complaint`) has `source` and
/// what the server said; every failure has a `reason` (`expired`, `suppressed` and `feedback`
/// for those kinds); `bounced` adds `hard`; `suppressed` adds the list entry's `note`;
/// `unsubscribed` has the `method`; `accepted`, `inbound` and `deleted` have none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Details {
    /// Whose words the code and text are: `smtp` (the remote server during our delivery),
    /// `local` (this node decided), `report` (a bounce or feedback mail), `suppression-list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<Remote>,
    /// The SMTP reply code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The RFC 3463 enhanced status code (`5.1.1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Milliseconds from acceptance to this event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<i64>,
    /// Which attempt this was (1 for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Why it was not delivered, in Sisimai's names (`userunknown`, `mailboxfull`,
    /// `expired`, `suppressed`, `feedback`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Bounces: whether sending to the address again is pointless.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard: Option<bool>,
    /// Suppressions: the list entry's reason or note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Complaints: the feedback report's `Feedback-Type` (`abuse`, `fraud`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_type: Option<String>,
    /// Unsubscriptions: `one-click` (a POST to the link) or `mailto`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// The server an attempt talked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Remote {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
}

impl From<&EventDetails> for Details {
    fn from(details: &EventDetails) -> Self {
        let mut out = details.exchange().map(Details::of).unwrap_or_default();
        out.source = details.source().map(|s| s.as_str().to_string());
        out.hard = details.hard();
        out.reason = details.reason().map(|r| r.as_str().to_string());
        match details {
            EventDetails::Suppressed { note, .. } => out.note = note.clone(),
            EventDetails::Complaint { feedback_type, .. } => {
                out.feedback_type = feedback_type.clone()
            }
            EventDetails::Unsubscribed { method } => out.method = Some(method.as_str().to_string()),
            _ => {}
        }
        out
    }
}

impl Details {
    fn of(exchange: &Exchange) -> Details {
        Details {
            source: None,
            remote: exchange.remote.as_ref().map(|r| Remote {
                host: r.host.clone(),
                ip: r.ip.map(|ip| ip.to_string()),
                port: r.port,
                tls: r.tls,
            }),
            code: exchange.code,
            status: exchange.status.map(|s| s.to_string()),
            text: exchange.text.clone(),
            delay_ms: exchange.delay_ms,
            attempt: exchange.attempt,
            ..Details::default()
        }
    }
}

impl From<&hikyaku_model::Event> for Event {
    fn from(e: &hikyaku_model::Event) -> Self {
        Event {
            kind: e.kind().as_str().to_string(),
            time: e.at.into(),
            message_id: e.message_id.to_string(),
            customer_id: e.customer_id.to_string(),
            sender: e.mail_from.clone(),
            recipient: e.recipient.clone(),
            details: (&e.details).into(),
            tags: e.tags.clone(),
            metadata: e.metadata.clone(),
        }
    }
}

/// One page of a search, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Everything the send log holds about one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MessageHistory {
    pub message_id: String,
    pub customer_id: String,
    pub sender: String,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// In the order they happened.
    pub events: Vec<Event>,
}

/// One bounce of a recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Bounce {
    pub time: Time,
    pub message_id: String,
    pub recipient: String,
    #[schema(example = "userunknown")]
    pub reason: String,
    pub hard: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `smtp` (refused during our delivery) or `report` (a bounce mail came back).
    pub source: String,
}

impl Bounce {
    /// The bounce of a `bounced` event; `None` for any other kind.
    pub fn of(e: &hikyaku_model::Event) -> Option<Bounce> {
        let EventDetails::Bounced {
            exchange,
            reason,
            hard,
        } = &e.details
        else {
            return None;
        };
        Some(Bounce {
            time: e.at.into(),
            message_id: e.message_id.to_string(),
            recipient: e.recipient.clone(),
            reason: reason.as_str().to_string(),
            hard: *hard,
            status: exchange.status.map(|s| s.to_string()),
            code: exchange.code,
            text: exchange.text.clone(),
            source: exchange.source.as_str().to_string(),
        })
    }
}

/// How many events of each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counts {
    pub accepted: u64,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub expired: u64,
    pub suppressed: u64,
    pub complaint: u64,
    pub unsubscribed: u64,
}

/// One bucket of a statistics series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatsPoint {
    /// The bucket's first instant.
    pub start: Time,
    #[serde(flatten)]
    pub counts: Counts,
}

/// A contract's events over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatsSeries {
    /// `minute`, `hour` or `day`.
    pub granularity: String,
    pub from: Time,
    pub to: Time,
    /// The one recipient domain counted (lower case), when the request named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_domain: Option<String>,
    pub points: Vec<StatsPoint>,
}

/// Events of one kind with one reason over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReasonStats {
    pub kind: String,
    pub reason: String,
    pub count: u64,
}

/// A recipient domain's events over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DomainStats {
    pub domain: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// What a contract sent in a calendar month: recipients accepted, less those suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Usage {
    pub customer_id: String,
    /// The month as `YYYY-MM`.
    #[schema(example = "2026-11")]
    pub month: String,
    pub sent: u64,
}

/// One page of the send log, newest first (`GET /events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EventList {
    pub data: Vec<Event>,
    /// Give it back as `cursor` for the next page; `null`: there is none. Opaque.
    pub next_cursor: Option<String>,
}

/// One page of a contract's bounces, newest first (`GET /bounces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BounceList {
    pub data: Vec<Bounce>,
    /// Give it back as `cursor` for the next page; `null`: there is none. Opaque.
    pub next_cursor: Option<String>,
}

/// A contract's events by kind and reason over a range, most frequent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReasonStatsList {
    pub from: Time,
    pub to: Time,
    pub data: Vec<ReasonStats>,
}

/// The recipient domains with the most events over a range, most first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DomainStatsList {
    pub from: Time,
    pub to: Time,
    pub data: Vec<DomainStats>,
}

/// A contract's month against its plan: what it sent, what the plan covers and the excess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PlanUsage {
    pub customer_id: String,
    /// The month as `YYYY-MM`, in the operator's usage time zone (Asia/Tokyo unless changed).
    #[schema(example = "2026-11")]
    pub month: String,
    /// Recipients accepted in the month, less those suppressed.
    pub sent: u64,
    pub plan: String,
    /// Messages a month the plan covers; `null`: the plan states no volume.
    pub monthly_volume: Option<u64>,
    /// Messages beyond the plan's volume, in started units of 1,000 (0 within the volume).
    pub excess_units: u64,
}

impl PlanUsage {
    /// The excess of `sent` over `volume` in started units of 1,000: 2,501 sent on a plan of
    /// 1,500 is 2 units; exactly the volume, or no stated volume, is none.
    pub fn excess_units(sent: u64, volume: Option<u64>) -> u64 {
        match volume {
            Some(volume) if sent > volume => (sent - volume).div_ceil(1000),
            _ => 0,
        }
    }
}

/// Every contract's month against its plan (operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageList {
    #[schema(example = "2026-11")]
    pub month: String,
    pub data: Vec<PlanUsage>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hikyaku_model::{
        CustomerId, EnhancedStatus, EventSource, MessageId, Reason, Remote as ModelRemote,
        Timestamp,
    };

    fn event(details: EventDetails) -> hikyaku_model::Event {
        hikyaku_model::Event {
            at: Timestamp(1_795_577_520_123),
            customer_id: "cdemo".parse::<CustomerId>().unwrap(),
            message_id: MessageId::new(Timestamp(1_795_577_520_000)),
            mail_from: "app@example.com".into(),
            recipient: "bob@example.jp".into(),
            details,
            tags: vec!["welcome".into()],
            metadata: [("user".to_string(), "42".to_string())].into(),
        }
    }

    #[test]
    fn a_bounce_shows_only_its_fields() {
        let e = event(EventDetails::Bounced {
            exchange: Exchange {
                remote: Some(ModelRemote {
                    host: "mx.example.jp".into(),
                    ip: Some("192.0.2.1".parse().unwrap()),
                    port: Some(25),
                    tls: Some(true),
                }),
                code: Some(550),
                status: Some(EnhancedStatus::new(5, 1, 1)),
                text: Some("no such user".into()),
                attempt: Some(1),
                ..Exchange::by(EventSource::Smtp)
            },
            reason: Reason::UserUnknown,
            hard: true,
        });
        let json = serde_json::to_value(Event::from(&e)).unwrap();
        assert_eq!(json["kind"], "bounced");
        assert_eq!(json["time"], "2026-11-25T03:32:00.123Z");
        assert_eq!(
            json["details"],
            serde_json::json!({
                "source": "smtp",
                "remote": {"host": "mx.example.jp", "ip": "192.0.2.1", "port": 25, "tls": true},
                "code": 550, "status": "5.1.1", "text": "no such user", "attempt": 1,
                "reason": "userunknown", "hard": true,
            })
        );
        assert_eq!(json["tags"], serde_json::json!(["welcome"]));
        assert_eq!(json["metadata"], serde_json::json!({"user": "42"}));
        let bounce = Bounce::of(&e).unwrap();
        assert_eq!((bounce.reason.as_str(), bounce.hard), ("userunknown", true));
    }

    #[test]
    fn excess_is_counted_in_started_thousands() {
        let table = [
            (0, Some(1000), 0),
            (1000, Some(1000), 0),
            (1001, Some(1000), 1),
            (2000, Some(1000), 1),
            (2001, Some(1000), 2),
            (2501, Some(1500), 2),
            (u64::MAX, Some(0), u64::MAX.div_ceil(1000)),
            (5000, None, 0),
        ];
        for (sent, volume, units) in table {
            assert_eq!(
                PlanUsage::excess_units(sent, volume),
                units,
                "{sent} {volume:?}"
            );
        }
    }

    #[test]
    fn bare_kinds_have_empty_details() {
        for details in [
            EventDetails::Accepted,
            EventDetails::Inbound,
            EventDetails::Deleted,
        ] {
            let json = serde_json::to_value(Event::from(&event(details))).unwrap();
            assert_eq!(json["details"], serde_json::json!({}));
        }
        let suppressed = event(EventDetails::Suppressed {
            source: EventSource::SuppressionList,
            note: Some("asked to stop".into()),
        });
        let json = serde_json::to_value(Event::from(&suppressed)).unwrap();
        assert_eq!(
            json["details"],
            serde_json::json!({
                "source": "suppression-list", "reason": "suppressed", "note": "asked to stop"
            })
        );
        assert!(Bounce::of(&suppressed).is_none());
    }
}
