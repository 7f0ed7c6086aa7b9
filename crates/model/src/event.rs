use crate::named_enum;
use crate::smtp::{EnhancedStatus, Reason, Reply};
use crate::{CustomerId, MessageId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

named_enum! {
    /// What happened to one recipient of one message. The names are those of the webhooks and the
    /// send log, so they are part of the public API: never rename one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum EventKind: "event kind" {
        Accepted = "accepted",
        Delivered = "delivered",
        Deferred = "deferred",
        Bounced = "bounced",
        Expired = "expired",
        Suppressed = "suppressed",
        Complaint = "complaint",
        Inbound = "inbound",
        /// The operator deleted the message from the queue before this recipient's delivery.
        Deleted = "deleted",
        /// The recipient used the message's unsubscribe link (RFC 8058) or its mailto address.
        Unsubscribed = "unsubscribed",
    }
}

named_enum! {
    /// How a recipient unsubscribed. Part of the public API: never rename one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum UnsubscribeMethod: "unsubscribe method" {
        /// A POST to the `List-Unsubscribe` URL, as a mailbox provider's button sends it
        /// (RFC 8058), or the confirmation page's button.
        OneClick = "one-click",
        /// A mail to the `List-Unsubscribe` mailto address.
        Mailto = "mailto",
    }
}

named_enum! {
    /// Whose words an event's code and text are. Part of the public API: never rename one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum EventSource: "event source" {
        /// The remote server's reply during our delivery.
        Smtp = "smtp",
        /// This node decided without a remote server saying so: a DNS failure, a refused
        /// connection, a server lacking SMTPUTF8, an unreadable spool file, expiry.
        Local = "local",
        /// A bounce mail or feedback report the error server received.
        Report = "report",
        /// The contract's suppression list: the recipient was not sent to.
        SuppressionList = "suppression-list",
    }
}

/// The server an attempt talked to (or tried to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remote {
    /// The MX host name as resolved, or the reporting MTA's name in a bounce report.
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The destination's TCP port: two servers on one host are two destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Whether the session was encrypted; `None` when unknown (a bounce report's MTA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
}

/// What one exchange with a server (or this node's own decision) said about a recipient: the
/// fields every attempt-like event shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub source: EventSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Remote>,
    /// The SMTP reply code (a bounce report may carry none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EnhancedStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Milliseconds from acceptance to this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<i64>,
    /// Which attempt of the recipient this was (1 for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

impl Exchange {
    /// An exchange that says nothing yet but who speaks.
    pub fn by(source: EventSource) -> Exchange {
        Exchange {
            source,
            remote: None,
            code: None,
            status: None,
            text: None,
            delay_ms: None,
            attempt: None,
        }
    }

    /// Sets code, status and text from an SMTP reply.
    pub fn with_reply(mut self, reply: &Reply) -> Exchange {
        self.code = Some(reply.code);
        self.status = reply.enhanced;
        self.text = Some(reply.text.clone());
        self
    }

    /// What a person reads as the last reply: `451 4.7.1 try later`; `None` when nothing was said.
    pub fn summary(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.code.map(|code| code.to_string()),
            self.status.map(|status| status.to_string()),
            self.text.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// What the send log knows of one event, one variant per kind, each with only the fields that
/// kind has. In JSON the variant is the `kind` field beside its own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EventDetails {
    Accepted,
    Delivered {
        #[serde(flatten)]
        exchange: Exchange,
    },
    Deferred {
        #[serde(flatten)]
        exchange: Exchange,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Reason>,
    },
    Bounced {
        #[serde(flatten)]
        exchange: Exchange,
        reason: Reason,
        /// Whether sending to the address again is pointless (a hard bounce), as the analyser
        /// or the delivery engine judged it. Hard bounces put the address on the suppression list.
        hard: bool,
    },
    Expired {
        #[serde(flatten)]
        exchange: Exchange,
    },
    Suppressed {
        source: EventSource,
        /// The suppression list entry's reason: a reason name or an operator's note.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Complaint {
        #[serde(flatten)]
        exchange: Exchange,
        /// The feedback report's `Feedback-Type` (`abuse`, `fraud`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        feedback_type: Option<String>,
    },
    Inbound,
    Deleted,
    Unsubscribed {
        method: UnsubscribeMethod,
    },
}

impl EventDetails {
    pub fn kind(&self) -> EventKind {
        match self {
            EventDetails::Accepted => EventKind::Accepted,
            EventDetails::Delivered { .. } => EventKind::Delivered,
            EventDetails::Deferred { .. } => EventKind::Deferred,
            EventDetails::Bounced { .. } => EventKind::Bounced,
            EventDetails::Expired { .. } => EventKind::Expired,
            EventDetails::Suppressed { .. } => EventKind::Suppressed,
            EventDetails::Complaint { .. } => EventKind::Complaint,
            EventDetails::Inbound => EventKind::Inbound,
            EventDetails::Deleted => EventKind::Deleted,
            EventDetails::Unsubscribed { .. } => EventKind::Unsubscribed,
        }
    }

    /// The reason the event is searched and counted by: a bounce's or deferral's reason,
    /// `expired`, `suppressed`, `feedback` for complaints.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            EventDetails::Deferred { reason, .. } => *reason,
            EventDetails::Bounced { reason, .. } => Some(*reason),
            EventDetails::Expired { .. } => Some(Reason::Expired),
            EventDetails::Suppressed { .. } => Some(Reason::Suppressed),
            EventDetails::Complaint { .. } => Some(Reason::Feedback),
            EventDetails::Accepted
            | EventDetails::Delivered { .. }
            | EventDetails::Inbound
            | EventDetails::Deleted
            | EventDetails::Unsubscribed { .. } => None,
        }
    }

    /// Whose words the event's code and text are (for a suppression: the list's).
    pub fn source(&self) -> Option<EventSource> {
        match self {
            EventDetails::Suppressed { source, .. } => Some(*source),
            other => other.exchange().map(|e| e.source),
        }
    }

    /// For bounces: whether the bounce was hard.
    pub fn hard(&self) -> Option<bool> {
        match self {
            EventDetails::Bounced { hard, .. } => Some(*hard),
            _ => None,
        }
    }

    /// The exchange the event reports, for the kinds that have one.
    pub fn exchange(&self) -> Option<&Exchange> {
        match self {
            EventDetails::Delivered { exchange }
            | EventDetails::Deferred { exchange, .. }
            | EventDetails::Bounced { exchange, .. }
            | EventDetails::Expired { exchange }
            | EventDetails::Complaint { exchange, .. } => Some(exchange),
            _ => None,
        }
    }

    /// Whether the variant carries nothing but its kind (stored without a sealed detail).
    pub fn is_bare(&self) -> bool {
        matches!(
            self,
            EventDetails::Accepted | EventDetails::Inbound | EventDetails::Deleted
        )
    }
}

/// One entry of the send log: one event for one recipient of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    pub customer_id: CustomerId,
    pub message_id: MessageId,
    pub mail_from: String,
    pub recipient: String,
    pub details: EventDetails,
    /// The message's tags, as its sender set them (HTTP sends; empty for SMTP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The message's metadata, as its sender set it (HTTP sends; empty for SMTP).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        self.details.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_text_and_json() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    fn samples() -> Vec<EventDetails> {
        let exchange = Exchange {
            remote: Some(Remote {
                host: "mx.example.jp".into(),
                ip: Some("192.0.2.1".parse().unwrap()),
                port: Some(25),
                tls: Some(true),
            }),
            delay_ms: Some(1200),
            attempt: Some(2),
            ..Exchange::by(EventSource::Smtp)
        }
        .with_reply(&Reply::new(
            550,
            EnhancedStatus::new(5, 1, 1),
            "no such user",
        ));
        vec![
            EventDetails::Accepted,
            EventDetails::Delivered {
                exchange: exchange.clone(),
            },
            EventDetails::Deferred {
                exchange: exchange.clone(),
                reason: None,
            },
            EventDetails::Bounced {
                exchange: exchange.clone(),
                reason: Reason::UserUnknown,
                hard: true,
            },
            EventDetails::Expired {
                exchange: Exchange::by(EventSource::Local),
            },
            EventDetails::Suppressed {
                source: EventSource::SuppressionList,
                note: Some("asked to stop".into()),
            },
            EventDetails::Complaint {
                exchange: Exchange::by(EventSource::Report),
                feedback_type: Some("abuse".into()),
            },
            EventDetails::Inbound,
            EventDetails::Deleted,
            EventDetails::Unsubscribed {
                method: UnsubscribeMethod::Mailto,
            },
        ]
    }

    #[test]
    fn every_kind_has_one_variant_that_round_trips_through_json() {
        let samples = samples();
        let kinds: Vec<EventKind> = samples.iter().map(EventDetails::kind).collect();
        assert_eq!(kinds, EventKind::ALL);
        for details in samples {
            let json = serde_json::to_value(&details).unwrap();
            assert_eq!(json["kind"], details.kind().as_str());
            let back: EventDetails = serde_json::from_value(json).unwrap();
            assert_eq!(back, details);
        }
    }

    #[test]
    fn the_json_is_flat_and_readable() {
        let bounced = &samples()[3];
        let json = serde_json::to_value(bounced).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "bounced", "source": "smtp",
                "remote": {"host": "mx.example.jp", "ip": "192.0.2.1", "port": 25, "tls": true},
                "code": 550, "status": "5.1.1", "text": "no such user",
                "delay_ms": 1200, "attempt": 2, "reason": "userunknown", "hard": true,
            })
        );
        assert_eq!(bounced.reason(), Some(Reason::UserUnknown));
    }

    #[test]
    fn hostile_details_are_refused_not_trusted() {
        for bad in [
            r#"{"kind":"bounced","source":"smtp","reason":"nosuch","hard":true}"#,
            r#"{"kind":"bounced","source":"smtp","hard":true}"#,
            r#"{"kind":"delivered","source":"somewhere"}"#,
            r#"{"kind":"teleported"}"#,
            r#"{"kind":"delivered","source":"smtp","remote":{"host":"h","ip":"999.1.1.1"}}"#,
            r#"{"kind":"deferred","source":"smtp","status":"9.9.9"}"#,
            r#"{"source":"smtp"}"#,
        ] {
            assert!(serde_json::from_str::<EventDetails>(bad).is_err(), "{bad}");
        }
    }
}
