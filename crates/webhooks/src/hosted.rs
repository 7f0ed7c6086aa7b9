//! The hosted service's event webhook: a batch's events as the bodies a receiver written for
//! that service reads, `{"api_key", "server_composition", "event_type", "event": {<event_type>:
//! [records]}}`, as JSON or form-encoded (`event` then a JSON string). The records are the
//! hosted API's list records (`hikyaku_api_types::hosted`), so a receiver sees the same fields
//! in a webhook as in `deliveries/list`, `bounces/list` and `blocks/list`.
//!
//! One request carries one `event_type`: a batch whose events make records of several types
//! becomes several requests, `deliveries` first, then `bounces`, then `blocks`. A failed event
//! is both: a `failed` delivery and a bounce with its error status number.

use hikyaku_api_types::hosted::{
    BlockRecord, BounceRecord, DeliveryRecord, ErrorStatus, error_status, hosted_time,
};
use hikyaku_model::{EventKind, MessageId};
use hikyaku_store::{MessageFacts, WebhookEndpoint, WebhookEvent, WebhookFormat};
use serde::Serialize;
use std::collections::HashMap;

/// The kinds of event a hosted-format endpoint may subscribe to: those that make a record.
pub const HOSTED_KINDS: [EventKind; 8] = [
    EventKind::Accepted,
    EventKind::Delivered,
    EventKind::Deferred,
    EventKind::Bounced,
    EventKind::Expired,
    EventKind::Suppressed,
    EventKind::Complaint,
    EventKind::Unsubscribed,
];

/// The zone of the records' times unless the sender is told another: the hosted service's
/// default, Asia/Tokyo (+09:00 all year), which is also `contracts.usage_time_zone`'s.
pub const DEFAULT_OFFSET_MINUTES: i32 = 540;

/// One request of a batch: its event type, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedRequest {
    /// `deliveries`, `bounces` or `blocks`.
    pub event_type: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

#[derive(Serialize)]
struct Body<'a, T: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
    server_composition: &'a str,
    event_type: &'a str,
    event: T,
}

/// The records of one event type, under its name.
#[derive(Serialize)]
#[serde(untagged)]
enum Records {
    Deliveries { deliveries: Vec<DeliveryRecord> },
    Bounces { bounces: Vec<BounceRecord> },
    Blocks { blocks: Vec<BlockRecord> },
}

impl Records {
    fn event_type(&self) -> &'static str {
        match self {
            Records::Deliveries { .. } => "deliveries",
            Records::Bounces { .. } => "bounces",
            Records::Blocks { .. } => "blocks",
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Records::Deliveries { deliveries } => deliveries.is_empty(),
            Records::Bounces { bounces } => bounces.is_empty(),
            Records::Blocks { blocks } => blocks.is_empty(),
        }
    }
}

/// The block-list record of an event that puts its recipient on the suppression list at the
/// recipient's own request: an unsubscription (error status 11) or a complaint (its reason's
/// number).
fn block_record(event: &hikyaku_model::Event, offset_minutes: i32) -> Option<BlockRecord> {
    let status = match event.kind() {
        EventKind::Unsubscribed => ErrorStatus::Unsubscribed,
        EventKind::Complaint => event
            .details
            .reason()
            .map_or(ErrorStatus::Others, error_status),
        _ => return None,
    };
    Some(BlockRecord {
        created: hosted_time(event.at, offset_minutes),
        email: event.recipient.clone(),
        id: event.message_id.to_string(),
        occurred: "1".to_string(),
        status: status.number().to_string(),
    })
}

/// The requests for `events` to `endpoint` (a hosted-format one), in the order they are sent,
/// with times `offset_minutes` east of UTC and each record's `sourceIp` and `subject` from its
/// message's `facts` (empty for a message not among them). A test event makes a `deliveries`
/// request with an empty list (there is no delivery to describe); events that make no record
/// (none do among [`HOSTED_KINDS`]) make no request.
pub fn requests(
    endpoint: &WebhookEndpoint,
    events: &[WebhookEvent],
    offset_minutes: i32,
    facts: &HashMap<MessageId, MessageFacts>,
) -> Vec<HostedRequest> {
    let mut deliveries = Vec::new();
    let mut bounces = Vec::new();
    let mut blocks = Vec::new();
    let mut test = false;
    for event in events {
        match event {
            WebhookEvent::Logged(event) => {
                let fact = facts.get(&event.message_id);
                let source_ip = fact.map_or("", |f| f.source_ip.as_str());
                let subject = fact.and_then(|f| f.subject.as_deref());
                deliveries.extend(
                    DeliveryRecord::of(event, offset_minutes)
                        .map(|r| r.of_message(source_ip, subject)),
                );
                bounces.extend(
                    BounceRecord::of(event, offset_minutes)
                        .map(|r| r.of_message(source_ip, subject)),
                );
                blocks.extend(block_record(event, offset_minutes));
            }
            WebhookEvent::Test(_) => test = true,
        }
    }
    let groups = [
        Records::Deliveries { deliveries },
        Records::Bounces { bounces },
        Records::Blocks { blocks },
    ];
    let mut out = Vec::new();
    for (i, records) in groups.into_iter().enumerate() {
        if records.is_empty() && !(test && i == 0) {
            continue;
        }
        out.push(request(endpoint, records));
    }
    out
}

fn request(endpoint: &WebhookEndpoint, records: Records) -> HostedRequest {
    let event_type = records.event_type();
    let body = Body {
        api_key: endpoint.api_key.as_deref(),
        server_composition: endpoint.customer_id.as_str(),
        event_type,
        event: records,
    };
    if endpoint.format == WebhookFormat::HostedForm {
        let event = serde_json::to_string(&body.event).expect("records are plain data");
        let mut fields = Vec::new();
        if let Some(key) = body.api_key {
            fields.push(("api_key", key));
        }
        fields.push(("server_composition", body.server_composition));
        fields.push(("event_type", event_type));
        fields.push(("event", &event));
        HostedRequest {
            event_type,
            content_type: "application/x-www-form-urlencoded",
            body: form_encoded(&fields).into_bytes(),
        }
    } else {
        HostedRequest {
            event_type,
            content_type: "application/json",
            body: serde_json::to_vec(&body).expect("records are plain data"),
        }
    }
}

/// `application/x-www-form-urlencoded`, as the URL standard serialises it: bytes other than
/// ASCII letters, digits and `*-._` percent-encoded (their UTF-8), a space as `+`.
fn form_encoded(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, name);
        out.push('=');
        encode_into(&mut out, value);
    }
    out
}

fn encode_into(out: &mut String, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// The `webhook-id` of the request of `event_type` in the batch `webhook_id`: stable over
/// retries like the batch's, and distinct per request, so a receiver dedupes on it.
pub fn request_id(webhook_id: &str, event_type: &str) -> String {
    format!("{webhook_id}-{event_type}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_is_the_url_standards() {
        assert_eq!(
            form_encoded(&[("a b", "x&y=z"), ("event", "{\"k\":\"é/+\"}")]),
            "a+b=x%26y%3Dz&event=%7B%22k%22%3A%22%C3%A9%2F%2B%22%7D"
        );
    }
}
