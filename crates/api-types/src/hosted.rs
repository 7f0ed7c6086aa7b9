//! The shapes of the hosted service's API (Customers Mail Cloud, "v2"), which Hikyaku answers
//! under `/api/v2` and `/transaction/v2` so that its customers' programs move over by changing a
//! base URL, and which the hosted-format event webhook posts.
//!
//! The records are built from the same send-log events as the native shapes: one
//! [`DeliveryRecord`] per event of a kind the hosted service lists (accepted, delivered,
//! deferred, bounced, expired, suppressed), a [`BounceRecord`] for each failure, a
//! [`BlockRecord`] per suppression-list entry. The field names are the hosted service's
//! (`camelCase`), and so are its value conventions: times are `YYYY-MM-DD HH:MM:SS` in the
//! platform's `contracts.usage_time_zone` (lists and webhooks alike), and a bounce's or block's
//! status is its *error status number* as a string of digits. [`error_status`] is the one
//! table from our bounce reasons to those numbers. An event knows nothing of its message's
//! source address and subject: the caller adds them ([`DeliveryRecord::of_message`]).

use hikyaku_model::{Event, EventDetails, EventKind, Reason, Timestamp};
use serde::{Deserialize, Serialize};

/// The metadata key under which a message sent through the hosted API keeps its `X-Api-Data`:
/// returned as `apiData` and searched by `api_data`.
pub const API_DATA_KEY: &str = "api_data";

/// A time as the hosted service writes it: `2026-12-06 21:05:09`, in the zone `offset_minutes`
/// east of UTC (540 for Asia/Tokyo, which has kept +09:00 all year since 1951).
pub fn hosted_time(at: Timestamp, offset_minutes: i32) -> String {
    let local = Timestamp(at.as_millis() + i64::from(offset_minutes) * 60_000);
    // `2026-12-06T21:05:09.123Z`: the date and the time to the second, a space between them.
    let text = local.to_string();
    format!("{} {}", &text[..10], &text[11..19])
}

/// A calendar day (`YYYY-MM-DD`) as the hosted service writes it, in the same zone.
pub fn hosted_date(at: Timestamp, offset_minutes: i32) -> String {
    hosted_time(at, offset_minutes)[..10].to_string()
}

/// The hosted service's error status numbers: why a recipient was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorStatus {
    /// 1: the domain could not be resolved.
    UnknownHost = 1,
    /// 2: the address does not exist.
    UnknownUser = 2,
    /// 3: no connection, or temporary failures until the message's lifetime ran out.
    RetransmissionTimeout = 3,
    /// 4: refused by the destination's policy.
    Rejection = 4,
    /// 5: the mailbox or the server is full.
    OverCapacity = 5,
    /// 6: forwarding to another address failed. No reason of ours says this; kept for the table.
    ForwardError = 6,
    /// 7: the destination server is misconfigured or does not take mail for the domain.
    ReceivingServerError = 7,
    /// 8: the message is too large for the destination.
    Oversized = 8,
    /// 9: the address is not a valid address.
    AddressFormatError = 9,
    /// 10: not sent: the address is on the contract's suppression list after a bounce or
    /// complaint (or put there by hand).
    BlockedAddress = 10,
    /// 11: not sent: the recipient unsubscribed.
    Unsubscribed = 11,
    /// 99: anything else.
    Others = 99,
}

impl ErrorStatus {
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// Our bounce reasons (Sisimai's names) onto the hosted service's error status numbers: the one
/// table, documented in the README's "Hosted-API compatibility" section. An exhaustive match,
/// so a new reason cannot be added without deciding its number.
pub fn error_status(reason: Reason) -> ErrorStatus {
    use ErrorStatus::*;
    match reason {
        Reason::HostUnknown => UnknownHost,
        Reason::UserUnknown | Reason::HasMoved | Reason::Suspend => UnknownUser,
        Reason::Expired | Reason::NetworkError => RetransmissionTimeout,
        Reason::Rejected
        | Reason::Blocked
        | Reason::Filtered
        | Reason::SpamDetected
        | Reason::VirusDetected
        | Reason::PolicyViolation
        | Reason::SecurityError
        | Reason::BadReputation
        | Reason::RequirePtr
        | Reason::AuthFailure
        | Reason::ContentError
        | Reason::NotCompliantRfc
        | Reason::Speeding
        | Reason::TooManyConn => Rejection,
        Reason::MailboxFull | Reason::SystemFull => OverCapacity,
        Reason::NoRelaying
        | Reason::NotAccept
        | Reason::SystemError
        | Reason::MailerError
        | Reason::FailedStartTls => ReceivingServerError,
        Reason::MesgTooBig | Reason::ExceedLimit => Oversized,
        Reason::SyntaxError => AddressFormatError,
        Reason::Suppressed => BlockedAddress,
        Reason::OnHold
        | Reason::Undefined
        | Reason::Delivered
        | Reason::Feedback
        | Reason::Vacation => Others,
    }
}

/// The error status of a failure event: its reason's number, except that a recipient not sent
/// to because it unsubscribed is 11, not 10. `None` for an event that is no failure.
pub fn event_error_status(details: &EventDetails) -> Option<ErrorStatus> {
    match details {
        EventDetails::Suppressed { note, .. } if note.as_deref() == Some(UNSUBSCRIBE_NOTE) => {
            Some(ErrorStatus::Unsubscribed)
        }
        EventDetails::Bounced { .. }
        | EventDetails::Expired { .. }
        | EventDetails::Suppressed { .. } => details.reason().map(error_status),
        _ => None,
    }
}

/// The suppression list's reason for an address that unsubscribed, as its `suppressed` events
/// carry it in `note` (the store's `UNSUBSCRIBED_REASON`; the API's tests check they agree).
pub const UNSUBSCRIBE_NOTE: &str = "unsubscribed";

/// The hosted service's delivery status of an event: `queued`, `succeeded`, `failed`,
/// `deferred`; `None` for kinds it does not list (complaints, inbound mail, deletions,
/// unsubscriptions).
pub fn delivery_status(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Accepted => Some("queued"),
        EventKind::Delivered => Some("succeeded"),
        EventKind::Deferred => Some("deferred"),
        EventKind::Bounced | EventKind::Expired | EventKind::Suppressed => Some("failed"),
        EventKind::Complaint
        | EventKind::Inbound
        | EventKind::Deleted
        | EventKind::Unsubscribed => None,
    }
}

/// The kinds of events [`delivery_status`] lists, for searching the send log.
pub const DELIVERY_KINDS: [EventKind; 6] = [
    EventKind::Accepted,
    EventKind::Delivered,
    EventKind::Deferred,
    EventKind::Bounced,
    EventKind::Expired,
    EventKind::Suppressed,
];

/// The kinds of events that are bounces in the hosted service's sense.
pub const BOUNCE_KINDS: [EventKind; 3] = [
    EventKind::Bounced,
    EventKind::Expired,
    EventKind::Suppressed,
];

/// One entry of `deliveries`: what happened to one recipient of one message at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub created: String,
    /// The envelope sender the message was submitted with.
    pub return_path: String,
    /// The sender; the send log keeps the envelope sender only, so it is `returnPath` again.
    pub from: String,
    pub to: String,
    /// The platform's message ID.
    pub message_id: String,
    /// What the remote server (or this node) said: `550 5.1.1 user unknown`; for a
    /// suppressed recipient, the suppression list entry's reason. Empty when nothing was said.
    pub reason: String,
    /// The address of the server the attempt talked to; empty when none was reached.
    pub sender_ip: String,
    /// The address of the client that submitted the message (SMTP or HTTP); empty when not
    /// known.
    pub source_ip: String,
    /// `queued`, `succeeded`, `failed` or `deferred`.
    pub status: String,
    /// The message's Subject, decoded, at most 255 characters; empty when it had none.
    pub subject: String,
    /// The `X-Api-Data` the message was sent with; empty when none.
    pub api_data: String,
}

impl DeliveryRecord {
    /// The record of a send-log event; `None` for a kind the hosted service does not list.
    pub fn of(event: &Event, offset_minutes: i32) -> Option<DeliveryRecord> {
        let status = delivery_status(event.kind())?;
        let exchange = event.details.exchange();
        let reason = match &event.details {
            EventDetails::Suppressed { note, .. } => note.clone().unwrap_or_default(),
            _ => exchange.and_then(|e| e.summary()).unwrap_or_default(),
        };
        let sender_ip = exchange
            .and_then(|e| e.remote.as_ref())
            .and_then(|r| r.ip)
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        Some(DeliveryRecord {
            created: hosted_time(event.at, offset_minutes),
            return_path: event.mail_from.clone(),
            from: event.mail_from.clone(),
            to: event.recipient.clone(),
            message_id: event.message_id.to_string(),
            reason,
            sender_ip,
            source_ip: String::new(),
            status: status.to_string(),
            subject: String::new(),
            api_data: event
                .metadata
                .get(API_DATA_KEY)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

impl DeliveryRecord {
    /// The record with what the send log keeps of its message besides the event: the
    /// submitting client's address and the subject.
    pub fn of_message(self, source_ip: &str, subject: Option<&str>) -> DeliveryRecord {
        DeliveryRecord {
            source_ip: source_ip.to_string(),
            subject: subject.unwrap_or_default().to_string(),
            ..self
        }
    }
}

/// One entry of `bounces`: a delivery record whose `status` is the error status number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BounceRecord {
    pub created: String,
    pub return_path: String,
    pub from: String,
    pub to: String,
    pub message_id: String,
    pub reason: String,
    pub sender_ip: String,
    pub source_ip: String,
    /// The error status number, as a string of digits (`"2"`).
    pub status: String,
    pub subject: String,
    pub api_data: String,
}

impl BounceRecord {
    /// The record of a failure event (bounced, expired, suppressed); `None` for others.
    pub fn of(event: &Event, offset_minutes: i32) -> Option<BounceRecord> {
        let status = event_error_status(&event.details)?;
        let d = DeliveryRecord::of(event, offset_minutes)?;
        Some(BounceRecord {
            created: d.created,
            return_path: d.return_path,
            from: d.from,
            to: d.to,
            message_id: d.message_id,
            reason: d.reason,
            sender_ip: d.sender_ip,
            source_ip: d.source_ip,
            status: status.number().to_string(),
            subject: d.subject,
            api_data: d.api_data,
        })
    }
}

impl BounceRecord {
    /// As [`DeliveryRecord::of_message`].
    pub fn of_message(self, source_ip: &str, subject: Option<&str>) -> BounceRecord {
        BounceRecord {
            source_ip: source_ip.to_string(),
            subject: subject.unwrap_or_default().to_string(),
            ..self
        }
    }
}

/// One entry of `blocks`: an address on the contract's suppression list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// When the address was listed.
    pub created: String,
    pub email: String,
    /// Stable for the entry and opaque: derived from the keyed look-up hash of its address,
    /// so it says nothing of the address.
    pub id: String,
    /// How many failures listed it, as a string of digits: always `"1"` here (the list keeps
    /// the first).
    pub occurred: String,
    /// The error status number of the failure that listed it, as a string of digits.
    pub status: String,
}

/// One entry of `statistics`: one day's counts (or the month's, with `date` `"total"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatisticsRecord {
    /// `YYYY-MM-DD`, or `total`.
    pub date: String,
    /// Recipients taken in.
    pub queued: u64,
    /// Recipients delivered.
    pub succeeded: u64,
    /// Recipients that bounced or expired.
    pub failed: u64,
    /// Recipients not sent to because they are on the suppression list.
    pub blocked: u64,
    /// `queued` less `blocked`: the recipients that were to be sent.
    pub valid: u64,
}

/// `{"deliveries": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryRecord>,
}

/// `{"bounces": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BounceList {
    pub bounces: Vec<BounceRecord>,
}

/// `{"blocks": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockList {
    pub blocks: Vec<BlockRecord>,
}

/// `{"statistics": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatisticsList {
    pub statistics: Vec<StatisticsRecord>,
}

/// The answer to a sent message: `{"id": "<message id>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentId {
    pub id: String,
}

/// Every failure answer of the hosted API: `{"errors":[{"code":"NN-NNN","field","message"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedErrors {
    pub errors: Vec<HostedError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedError {
    /// Stable: programs branch on it. The codes are listed in the README.
    pub code: String,
    /// The request field at fault; empty when none is.
    pub field: String,
    /// For people, in English or Japanese as `Accept-Language` asks; may change.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hikyaku_model::{EventSource, Exchange, Remote};

    #[test]
    fn times_are_written_in_the_contracts_zone() {
        let at: Timestamp = "2026-12-06T20:59:58.999Z".parse().unwrap();
        assert_eq!(hosted_time(at, 540), "2026-12-07 05:59:58");
        assert_eq!(hosted_time(at, 0), "2026-12-06 20:59:58");
        assert_eq!(hosted_date(at, 540), "2026-12-07");
        assert_eq!(hosted_time(at, -300), "2026-12-06 15:59:58");
    }

    #[test]
    fn every_reason_has_a_documented_number() {
        let allowed = [1, 2, 3, 4, 5, 7, 8, 9, 10, 99];
        for reason in Reason::ALL {
            let n = error_status(reason).number();
            assert!(allowed.contains(&n), "{reason}: {n}");
        }
        let table = [
            (Reason::HostUnknown, 1),
            (Reason::UserUnknown, 2),
            (Reason::Expired, 3),
            (Reason::Rejected, 4),
            (Reason::Blocked, 4),
            (Reason::MailboxFull, 5),
            (Reason::SystemError, 7),
            (Reason::MesgTooBig, 8),
            (Reason::SyntaxError, 9),
            (Reason::Suppressed, 10),
            (Reason::Undefined, 99),
        ];
        for (reason, n) in table {
            assert_eq!(error_status(reason).number(), n, "{reason}");
        }
    }

    fn event(details: EventDetails) -> Event {
        Event {
            at: "2026-12-06T00:00:01Z".parse().unwrap(),
            customer_id: "shop42".parse().unwrap(),
            message_id: hikyaku_model::MessageId::new(Timestamp(1_780_000_000_000)),
            mail_from: "info@shop.example.jp".into(),
            recipient: "taro@example.jp".into(),
            details,
            tags: vec![],
            metadata: [(API_DATA_KEY.to_string(), "order-42".to_string())].into(),
        }
    }

    #[test]
    fn a_bounce_is_a_failed_delivery_and_a_bounce_with_its_number() {
        let exchange = Exchange {
            remote: Some(Remote {
                host: "mx.example.jp".into(),
                ip: Some("192.0.2.7".parse().unwrap()),
                port: Some(25),
                tls: Some(true),
            }),
            code: Some(550),
            status: Some("5.1.1".parse().unwrap()),
            text: Some("no such user".into()),
            ..Exchange::by(EventSource::Smtp)
        };
        let e = event(EventDetails::Bounced {
            exchange,
            reason: Reason::UserUnknown,
            hard: true,
        });
        let d = DeliveryRecord::of(&e, 540).unwrap();
        assert_eq!(d.status, "failed");
        assert_eq!(d.created, "2026-12-06 09:00:01");
        assert_eq!(d.reason, "550 5.1.1 no such user");
        assert_eq!(d.sender_ip, "192.0.2.7");
        assert_eq!(d.api_data, "order-42");
        let b = BounceRecord::of(&e, 540).unwrap();
        assert_eq!(b.status, "2");
        let json = serde_json::to_value(&b).unwrap();
        for key in [
            "created",
            "returnPath",
            "from",
            "to",
            "messageId",
            "reason",
            "senderIp",
            "sourceIp",
            "status",
            "subject",
            "apiData",
        ] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        assert_eq!(json.as_object().unwrap().len(), 11);
    }

    #[test]
    fn suppressed_recipients_are_blocked_or_unsubscribed() {
        let listed = event(EventDetails::Suppressed {
            source: EventSource::SuppressionList,
            note: Some("userunknown".into()),
        });
        assert_eq!(BounceRecord::of(&listed, 0).unwrap().status, "10");
        let gone = event(EventDetails::Suppressed {
            source: EventSource::SuppressionList,
            note: Some(UNSUBSCRIBE_NOTE.into()),
        });
        assert_eq!(BounceRecord::of(&gone, 0).unwrap().status, "11");
        assert!(BounceRecord::of(&event(EventDetails::Accepted), 0).is_none());
        assert_eq!(
            DeliveryRecord::of(&event(EventDetails::Accepted), 0)
                .unwrap()
                .status,
            "queued"
        );
        assert!(DeliveryRecord::of(&event(EventDetails::Inbound), 0).is_none());
    }
}
