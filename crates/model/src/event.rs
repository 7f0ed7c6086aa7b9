use crate::named_enum;
use crate::{CustomerId, MessageId, Timestamp};
use serde::{Deserialize, Serialize};

named_enum! {
    /// What happened to one recipient of one message. The names are those of the webhooks and the
    /// send log, so they are part of the public API: never rename one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    }
}

/// The delivery-attempt details of a send-log entry. Empty for events that involve
/// no remote server, such as `accepted` or `suppressed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendLogFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// The destination's TCP port: two servers on one host are two destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enhanced_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_text: Option<String>,
    /// Milliseconds from acceptance to this event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Sisimai-style reason name for bounces and deferrals (`userunknown`, `mailboxfull`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For bounces: whether sending to the address again is pointless (a hard bounce), as the
    /// bounce analyser judged it. Hard bounces put the address on the suppression list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard: Option<bool>,
    /// Whose words the code and text are: `"smtp"` (the remote server's reply during our
    /// delivery), `"local"` (this node decided without a remote server saying so: a DNS
    /// failure, a refused connection, a server lacking SMTPUTF8, an unreadable spool file,
    /// expiry) or `"report"` (a bounce mail or feedback report the error server received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// For complaints: the feedback report's `Feedback-Type` (`abuse`, `fraud`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_type: Option<String>,
}

/// One entry of the send log: one event for one recipient of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    pub kind: EventKind,
    pub customer_id: CustomerId,
    pub message_id: MessageId,
    pub mail_from: String,
    pub recipient: String,
    #[serde(flatten)]
    pub details: SendLogFields,
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
}
