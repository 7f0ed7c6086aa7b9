//! Sending over HTTP: `POST /api/v1/messages` ([`SendRequest`] → [`SendResponse`]) and its
//! batch form `POST /api/v1/messages/batch` ([`BatchSendRequest`] → [`BatchSendResponse`]).
//!
//! The batch form is a message template and a list of recipients, as the hosted services do
//! it (SendGrid's personalizations, Mailgun's recipient variables): each entry of `recipients`
//! becomes one message of its own, built from the template with that entry's `{{name}}`
//! substitutions, and gets its own result, so one bad address does not fail the others.
//!
//! Checking what the fields say (address syntax, header names, sizes) is the composer's work
//! (`hikyaku-compose`); these types only fix the shape, and refuse unknown fields so that a
//! misspelt `htlm` is an error rather than a message without its HTML part.

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use utoipa::ToSchema;

/// The most entries of `recipients` in one batch request.
pub const MAX_BATCH_RECIPIENTS: usize = 1000;

/// One address: a bare `"taro@example.jp"` or `{"name": "山田 太郎", "address": "taro@example.jp"}`.
///
/// Read by hand rather than as an untagged enum: serde lets a struct be read from an array,
/// so `["a@x.jp", "b@x.jp"]` would silently become one address named `a@x.jp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Address {
    Plain(String),
    Named(NamedAddress),
}

/// An address with the display name shown beside it (any language; encoded as RFC 2047 asks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub address: String,
}

impl Address {
    pub fn address(&self) -> &str {
        match self {
            Address::Plain(address) => address,
            Address::Named(named) => &named.address,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Address::Plain(_) => None,
            Address::Named(named) => named.name.as_deref(),
        }
    }
}

/// The character set of the message's text: `UTF-8` (the default) or `ISO-2022-JP`, which
/// Japanese mail clients of the feature-phone era still expect (7bit body, RFC 1468).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Charset {
    #[default]
    #[serde(rename = "UTF-8", alias = "utf-8")]
    Utf8,
    #[serde(rename = "ISO-2022-JP", alias = "iso-2022-jp")]
    Iso2022Jp,
}

/// A file attached to the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The name the recipient sees (any language).
    pub filename: String,
    /// The file's bytes, base64 (RFC 4648, padding optional, line breaks allowed).
    pub content: String,
    /// The MIME type; `application/octet-stream` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// `POST /api/v1/messages`: one message to its recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub from: Address,
    /// One address or a list; at least one of `to`, `cc`, `bcc` is needed.
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Vec<Address>)]
    pub to: Vec<Address>,
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Vec<Address>)]
    pub cc: Vec<Address>,
    /// Receive the message but appear in no header.
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Vec<Address>)]
    pub bcc: Vec<Address>,
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Vec<Address>)]
    pub reply_to: Vec<Address>,
    pub subject: String,
    /// The plain-text body; `text`, `html` or both (then `multipart/alternative`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Extra header fields (`List-Unsubscribe`, `X-Campaign`, …). The fields that give the
    /// message its structure or identity (`From`, `Content-Type`, `Bcc`, …) are refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Labels returned in the message's events and webhooks: at most 10, each 1 to 128 bytes
    /// of `A-Z a-z 0-9 _ . : -`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Key/value pairs returned in the message's events and webhooks: at most 10 keys, keys
    /// 1 to 64 bytes of `A-Z a-z 0-9 _ . : -`, 2 KiB in all.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub charset: Charset,
}

/// The message of a batch, less its recipients: [`SendRequest`] without `to`, `cc`, `bcc`.
/// `{{name}}` in `subject`, `text`, `html` and header values is replaced by each recipient's
/// substitution of that name (HTML-escaped in `html`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageTemplate {
    pub from: Address,
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Vec<Address>)]
    pub reply_to: Vec<Address>,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Shared by every message; a recipient's own `metadata` is added over it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub charset: Charset,
}

/// One message of a batch: its recipients and what to put in the template's `{{name}}`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRecipient {
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Vec<Address>)]
    pub to: Vec<Address>,
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Vec<Address>)]
    pub cc: Vec<Address>,
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Vec<Address>)]
    pub bcc: Vec<Address>,
    /// Values of the template's `{{name}}`s; a name the template uses must be given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitutions: BTreeMap<String, String>,
    /// Added over the template's metadata (a key given in both takes this value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// `POST /api/v1/messages/batch`: one message per entry of `recipients`, at most 1,000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSendRequest {
    pub template: MessageTemplate,
    pub recipients: Vec<BatchRecipient>,
}

/// The answer to an accepted message (`202 Accepted`): the message is spooled durably and
/// queued. Suppressed recipients are recorded as such and will not be sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendResponse {
    /// The platform's message ID, as in events, webhooks and the `X-Hikyaku-Message-Id` field.
    pub message_id: String,
    /// Recipients queued for delivery.
    pub accepted: Vec<String>,
    /// Recipients on the contract's suppression list: never sent to.
    pub suppressed: Vec<String>,
    /// Present when each recipient got a copy of its own (the contract's one-click
    /// unsubscribe links name their recipient): each copy's message ID, which its events carry,
    /// and its recipient, in the order of the envelope; the first has `message_id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<SentCopy>,
}

/// One recipient's own copy of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SentCopy {
    pub message_id: String,
    pub recipient: String,
}

/// What is wrong with one field of a request, named by its path (`to[2].address`,
/// `headers.Content-Type`, `recipients[7].substitutions.name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// How one entry of a batch fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BatchItemResult {
    /// Spooled and queued, as [`SendResponse`] says.
    Accepted {
        message_id: String,
        accepted: Vec<String>,
        suppressed: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        copies: Vec<SentCopy>,
    },
    /// The entry itself is wrong (a bad address, a missing substitution): nothing was sent
    /// for it; fix it and send it again.
    Rejected { error: FieldError },
    /// The platform could not take it now (spool full, contract suspended meanwhile): nothing
    /// was sent for it; `retryable` says whether sending it again later can work.
    Failed { message: String, retryable: bool },
}

/// The answer to a batch: one result per entry of `recipients`, in the same order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSendResponse {
    pub results: Vec<BatchItemResult>,
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AddressVisitor)
    }
}

struct AddressVisitor;

impl<'de> Visitor<'de> for AddressVisitor {
    type Value = Address;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an address: a string or {\"name\", \"address\"}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Address, E> {
        Ok(Address::Plain(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Address, E> {
        Ok(Address::Plain(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Address, A::Error> {
        NamedAddress::deserialize(de::value::MapAccessDeserializer::new(map)).map(Address::Named)
    }
}

/// A list field that also takes one value alone: `"to": "a@example.jp"`.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Address>, D::Error> {
    struct OneOrMany;

    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<Address>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an address or a list of addresses")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            AddressVisitor.visit_str(v).map(|a| vec![a])
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            AddressVisitor.visit_map(map).map(|a| vec![a])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(address) = seq.next_element::<Address>()? {
                list.push(address);
            }
            Ok(list)
        }
    }

    deserializer.deserialize_any(OneOrMany)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_come_plain_or_named_alone_or_in_lists() {
        let request: SendRequest = serde_json::from_value(json!({
            "from": {"name": "山田 太郎", "address": "taro@example.jp"},
            "to": "hanako@example.jp",
            "cc": ["a@example.jp", {"address": "b@example.jp"}],
            "subject": "こんにちは",
            "text": "本文",
        }))
        .unwrap();
        assert_eq!(request.from.name(), Some("山田 太郎"));
        assert_eq!(request.to, vec![Address::Plain("hanako@example.jp".into())]);
        assert_eq!(request.cc[1].address(), "b@example.jp");
        assert_eq!(request.cc[1].name(), None);
        assert!(request.bcc.is_empty());
        assert_eq!(request.charset, Charset::Utf8);
        let two: SendRequest = serde_json::from_value(json!({
            "from": "a@example.jp", "subject": "s", "to": ["b@example.jp", "c@example.jp"],
        }))
        .unwrap();
        assert_eq!(two.to.len(), 2);
        assert_eq!(two.to[1].address(), "c@example.jp");
    }

    #[test]
    fn unknown_fields_and_charsets_are_refused() {
        for bad in [
            json!({"from": "a@example.jp", "to": "b@example.jp", "subject": "s", "htlm": "<p>"}),
            json!({"from": {"address": "a@example.jp", "nmae": "x"}, "subject": "s"}),
            json!({"from": "a@example.jp", "subject": "s", "charset": "Shift_JIS"}),
            json!({"from": "a@example.jp", "subject": "s", "to": 7}),
            json!({"from": "a@example.jp"}),
            // An array is not one address (serde would read a struct from it).
            json!({"from": ["Name", "a@example.jp"], "subject": "s"}),
            json!({"from": "a@example.jp", "subject": "s", "to": [["b@example.jp"]]}),
        ] {
            assert!(
                serde_json::from_value::<SendRequest>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        let jp: SendRequest = serde_json::from_value(
            json!({"from": "a@example.jp", "subject": "s", "charset": "iso-2022-jp"}),
        )
        .unwrap();
        assert_eq!(jp.charset, Charset::Iso2022Jp);
        assert_eq!(
            serde_json::to_value(jp.charset).unwrap(),
            json!("ISO-2022-JP")
        );
    }

    #[test]
    fn batch_results_name_their_status() {
        let response = BatchSendResponse {
            results: vec![
                BatchItemResult::Accepted {
                    message_id: "01jz5x0000000000000000000a".into(),
                    accepted: vec!["a@example.jp".into()],
                    suppressed: vec![],
                    copies: vec![],
                },
                BatchItemResult::Rejected {
                    error: FieldError {
                        field: "recipients[1].to[0]".into(),
                        message: "not an address".into(),
                    },
                },
            ],
        };
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["results"][0]["status"], "accepted");
        assert_eq!(json["results"][1]["status"], "rejected");
        assert_eq!(json["results"][1]["error"]["field"], "recipients[1].to[0]");
        assert_eq!(
            serde_json::from_value::<BatchSendResponse>(json).unwrap(),
            response
        );
    }

    /// The OpenAPI schema says what the JSON does: the charset's spelled values, the address
    /// either form, the lists as arrays.
    #[test]
    fn schemas_describe_the_wire_form() {
        use utoipa::PartialSchema;
        let request = serde_json::to_value(SendRequest::schema()).unwrap();
        let props = &request["properties"];
        for field in [
            "from",
            "to",
            "cc",
            "bcc",
            "reply_to",
            "subject",
            "text",
            "html",
            "attachments",
            "headers",
            "tags",
            "metadata",
            "charset",
        ] {
            assert!(props.get(field).is_some(), "{field} missing in {request}");
        }
        assert_eq!(props["to"]["type"], "array", "{request}");
        let charset = serde_json::to_string(&Charset::schema()).unwrap();
        assert!(
            charset.contains("\"UTF-8\"") && charset.contains("\"ISO-2022-JP\""),
            "{charset}"
        );
        let address = serde_json::to_string(&Address::schema()).unwrap();
        assert!(address.contains("oneOf"), "{address}");
        let result = serde_json::to_string(&BatchItemResult::schema()).unwrap();
        for status in ["accepted", "rejected", "failed"] {
            assert!(result.contains(status), "{result}");
        }
    }
}
