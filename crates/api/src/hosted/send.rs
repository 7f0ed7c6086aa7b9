//! `emails/send` and `emails/bulk`: the hosted service's parameters read into the native
//! [`SendRequest`], then the native composer and the relay's submitter, as `POST
//! /api/v1/messages` does. What is added is the hosted service's own rules: at most 10
//! addresses in each of `to`, `cc`, `bcc`; `((#key#))` merge fields for bulk, at most 1,000
//! recipients with at most 100 properties of at most 5 KB each; `envfrom`; `X-Api-Data`; and
//! refusing a From domain the contract has no active DKIM key for (`13-006`).

use super::body::Fields;
use super::errors::{self, Code, Failure};
use super::ok;
use crate::v1::ApiState;
use crate::v1::access::ContractCaller;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use hikyaku_api_types::hosted::{API_DATA_KEY, SentId};
use hikyaku_api_types::{Address, Attachment, Charset, NamedAddress, SendRequest};
use hikyaku_compose::{ComposeError, ComposedMessage};
use hikyaku_model::{DkimKeyState, MessageId, Timestamp};
use hikyaku_relay::SubmitError;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// At most this many addresses in each of `to`, `cc` and `bcc` of `emails/send`.
pub const MAX_SEND_ADDRESSES: usize = 10;
/// At most this many recipients in `to` of `emails/bulk`.
pub const MAX_BULK_RECIPIENTS: usize = 1000;
/// At most this many merge properties per bulk recipient, besides `name` and `address`.
pub const MAX_PROPERTIES: usize = 100;
/// The longest merge property value.
pub const MAX_PROPERTY_BYTES: usize = 5 * 1024;
/// The longest `X-Api-Data`: it rides in every event and webhook of the message.
pub const MAX_API_DATA_BYTES: usize = 1024;

/// What `emails/send` and `emails/bulk` share: everything but the recipients.
struct Message {
    from: Address,
    reply_to: Vec<Address>,
    subject: String,
    text: Option<String>,
    html: Option<String>,
    headers: BTreeMap<String, String>,
    charset: Charset,
    envfrom: Option<String>,
    api_data: Option<String>,
    attachments: Vec<Attachment>,
}

pub(super) async fn send(
    state: &ApiState,
    caller: &ContractCaller,
    client: IpAddr,
    http_headers: &HeaderMap,
    fields: &Fields,
) -> Result<Response, Failure> {
    let sending = state.sending_if_any().ok_or_else(unavailable)?;
    let message = Message::read(fields, http_headers)?;
    let to = addresses(fields, "to")?;
    let cc = addresses(fields, "cc")?;
    let bcc = addresses(fields, "bcc")?;
    if to.is_empty() && cc.is_empty() && bcc.is_empty() {
        return Err(Failure::new(errors::RECIPIENT_INVALID, "to").detail("to is required"));
    }
    check_dkim(state, caller, &message.from).await?;
    let request = message.request(to, cc, bcc, &BTreeMap::new());
    let composed = message.compose(&sending.composer, &request, "")?;
    let outcome = sending
        .submitter
        .submit(&caller.customer_id, client, composed)
        .await
        .map_err(submit_failure)?;
    ok(&SentId {
        id: outcome.id.to_string(),
    })
}

/// The answer to a bulk send: the first message's ID as `id` (what the hosted service's
/// clients read), every message's in `ids`, in the order of `to`.
#[derive(Debug, Serialize)]
struct BulkAnswer {
    id: String,
    ids: Vec<Option<String>>,
    /// Recipients the submitter refused while others were taken in (their `ids` are `null`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<hikyaku_api_types::hosted::HostedError>,
}

pub(super) async fn bulk(
    state: &ApiState,
    caller: &ContractCaller,
    client: IpAddr,
    http_headers: &HeaderMap,
    fields: &Fields,
) -> Result<Response, Failure> {
    let sending = state.sending_if_any().ok_or_else(unavailable)?;
    let message = Message::read(fields, http_headers)?;
    let recipients = bulk_recipients(fields)?;
    check_dkim(state, caller, &message.from).await?;
    // Every message is built before any is sent: a bad entry refuses the request as a whole,
    // so that a corrected retry cannot send the good entries twice.
    let mut composed = Vec::with_capacity(recipients.len());
    for (i, (address, properties)) in recipients.into_iter().enumerate() {
        let request = message.request(vec![address], vec![], vec![], &properties);
        composed.push(message.compose(&sending.composer, &request, &format!("to[{i}]"))?);
    }
    let results = sending
        .submitter
        .submit_all(&caller.customer_id, client, composed)
        .await;
    let mut ids = Vec::with_capacity(results.len());
    let mut refused = Vec::new();
    let mut first_refusal = None;
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(outcome) => ids.push(Some(outcome.id.to_string())),
            Err(error) => {
                ids.push(None);
                let failure = submit_failure(error);
                refused.push(hikyaku_api_types::hosted::HostedError {
                    code: failure.code.code.to_string(),
                    field: format!("to[{i}]"),
                    message: failure.code.en.to_string(),
                });
                first_refusal.get_or_insert(failure);
            }
        }
    }
    let Some(id) = ids.iter().flatten().next().cloned() else {
        return Err(first_refusal.unwrap_or_else(Failure::internal));
    };
    ok(&BulkAnswer {
        id,
        ids,
        errors: refused,
    })
}

impl Message {
    fn read(fields: &Fields, http_headers: &HeaderMap) -> Result<Message, Failure> {
        let from = match fields.structured("from")? {
            Some(value) => address(&value)
                .map_err(|why| Failure::new(errors::FROM_INVALID, "from").detail(why))?,
            None => return Err(Failure::new(errors::FROM_INVALID, "from").detail("required")),
        };
        let reply_to = match fields.structured("replyto")? {
            Some(value) => one_or_many(&value)
                .map_err(|why| Failure::new(errors::REPLYTO_INVALID, "replyto").detail(why))?,
            None => Vec::new(),
        };
        let subject = fields
            .text("subject")?
            .ok_or_else(|| Failure::new(errors::SUBJECT_INVALID, "subject").detail("required"))?;
        let text = fields.text("text")?;
        let html = fields.text("html")?;
        if text.is_none() && html.is_none() {
            return Err(
                Failure::new(errors::BODY_INVALID, "text").detail("text or html is required")
            );
        }
        let headers = match fields.structured("headers")? {
            Some(value) => header_map(&value)
                .map_err(|why| Failure::new(errors::HEADERS_INVALID, "headers").detail(why))?,
            None => BTreeMap::new(),
        };
        let charset = match fields.text("charset")? {
            None => Charset::Utf8,
            Some(c) if c.trim().eq_ignore_ascii_case("utf-8") => Charset::Utf8,
            Some(c) if c.trim().eq_ignore_ascii_case("iso-2022-jp") => Charset::Iso2022Jp,
            Some(c) => return Err(Failure::new(errors::CHARSET_INVALID, "charset").detail(c)),
        };
        let envfrom = match fields.text("envfrom")? {
            Some(envfrom) => {
                let envfrom = envfrom.trim().to_string();
                hikyaku_compose::check::check_address(&envfrom)
                    .map_err(|why| Failure::new(errors::ENVFROM_INVALID, "envfrom").detail(why))?;
                Some(envfrom)
            }
            None => None,
        };
        let api_data = api_data(fields, &headers, http_headers)?;
        let attachments = attachments(fields)?;
        Ok(Message {
            from,
            reply_to,
            subject,
            text,
            html,
            headers,
            charset,
            envfrom,
            api_data,
            attachments,
        })
    }

    /// The native request for these recipients, `((#key#))` replaced by `properties`.
    fn request(
        &self,
        to: Vec<Address>,
        cc: Vec<Address>,
        bcc: Vec<Address>,
        properties: &BTreeMap<String, String>,
    ) -> SendRequest {
        let merge = |text: &str| merge(text, properties);
        SendRequest {
            from: self.from.clone(),
            to,
            cc,
            bcc,
            reply_to: self.reply_to.clone(),
            subject: merge(&self.subject),
            text: self.text.as_deref().map(merge),
            html: self.html.as_deref().map(merge),
            attachments: self.attachments.clone(),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), merge(value)))
                .collect(),
            tags: Vec::new(),
            metadata: self
                .api_data
                .iter()
                .map(|data| (API_DATA_KEY.to_string(), data.clone()))
                .collect(),
            charset: self.charset,
        }
    }

    /// Composes `request`; `prefix` names the bulk entry in a refusal's field (`to[3]`).
    fn compose(
        &self,
        composer: &hikyaku_compose::Composer,
        request: &SendRequest,
        prefix: &str,
    ) -> Result<ComposedMessage, Failure> {
        let now = Timestamp::now();
        let mut composed = composer
            .compose(request, MessageId::new(now), now)
            .map_err(|e| compose_failure(e, prefix))?;
        if let Some(envfrom) = &self.envfrom {
            composed.envelope.mail_from = envfrom.clone();
        }
        Ok(composed)
    }
}

/// `((#key#))` replaced by the property `key`; a merge field without a property stays as it
/// is, so that a missing value shows in the mail rather than vanishing.
fn merge(text: &str, properties: &BTreeMap<String, String>) -> String {
    if properties.is_empty() || !text.contains("((#") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("((#") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        match after.find("#))") {
            Some(end) if properties.contains_key(&after[..end]) => {
                out.push_str(&properties[&after[..end]]);
                rest = &after[end + 3..];
            }
            _ => {
                out.push_str("((#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// An address: `"a@b.jp"` or `{"name": …, "address": …}` (an empty name is none).
fn address(value: &Value) -> Result<Address, String> {
    match value {
        Value::String(s) => Ok(Address::Plain(s.trim().to_string())),
        Value::Object(map) => {
            let address = match map.get("address") {
                Some(Value::String(a)) if !a.trim().is_empty() => a.trim().to_string(),
                _ => return Err("an address object needs its address".into()),
            };
            let name = match map.get("name") {
                None | Some(Value::Null) => None,
                Some(Value::String(n)) if n.is_empty() => None,
                Some(Value::String(n)) => Some(n.clone()),
                Some(_) => return Err("name must be a string".into()),
            };
            Ok(Address::Named(NamedAddress { name, address }))
        }
        _ => Err("must be an address or {name, address}".into()),
    }
}

fn one_or_many(value: &Value) -> Result<Vec<Address>, String> {
    match value {
        Value::Array(items) => items.iter().map(address).collect(),
        one => Ok(vec![address(one)?]),
    }
}

fn addresses(fields: &Fields, name: &str) -> Result<Vec<Address>, Failure> {
    let Some(value) = fields.structured(name)? else {
        return Ok(Vec::new());
    };
    let list = one_or_many(&value)
        .map_err(|why| Failure::new(errors::RECIPIENT_INVALID, name).detail(why))?;
    if list.len() > MAX_SEND_ADDRESSES {
        return Err(Failure::new(errors::TOO_MANY_RECIPIENTS, name)
            .detail(format!("at most {MAX_SEND_ADDRESSES} addresses")));
    }
    Ok(list)
}

/// Bulk `to`: each entry an address object whose other properties are its merge values.
/// A bulk recipient's merge values, by property name.
type Properties = BTreeMap<String, String>;

fn bulk_recipients(fields: &Fields) -> Result<Vec<(Address, Properties)>, Failure> {
    let entries = match fields.structured("to")? {
        Some(Value::Array(entries)) => entries,
        Some(one @ (Value::Object(_) | Value::String(_))) => vec![one],
        Some(_) => {
            return Err(Failure::new(errors::RECIPIENT_INVALID, "to")
                .detail("must be a list of {name, address, …}"));
        }
        None => return Err(Failure::new(errors::RECIPIENT_INVALID, "to").detail("to is required")),
    };
    if entries.is_empty() {
        return Err(Failure::new(errors::RECIPIENT_INVALID, "to").detail("to is empty"));
    }
    if entries.len() > MAX_BULK_RECIPIENTS {
        return Err(Failure::new(errors::TOO_MANY_RECIPIENTS, "to")
            .detail(format!("at most {MAX_BULK_RECIPIENTS} recipients")));
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let field = format!("to[{i}]");
            let recipient = address(entry).map_err(|why| {
                Failure::new(errors::RECIPIENT_INVALID, field.clone()).detail(why)
            })?;
            let mut properties = BTreeMap::new();
            if let Value::Object(map) = entry {
                let extra = map
                    .keys()
                    .filter(|k| *k != "name" && *k != "address")
                    .count();
                if extra > MAX_PROPERTIES {
                    return Err(Failure::new(errors::PROPERTIES_INVALID, field)
                        .detail(format!("at most {MAX_PROPERTIES} properties")));
                }
                for (key, value) in map {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => String::new(),
                        _ => {
                            return Err(Failure::new(
                                errors::PROPERTIES_INVALID,
                                format!("{field}.{key}"),
                            )
                            .detail("must be a string"));
                        }
                    };
                    if text.len() > MAX_PROPERTY_BYTES {
                        return Err(Failure::new(
                            errors::PROPERTIES_INVALID,
                            format!("{field}.{key}"),
                        )
                        .detail(format!("at most {MAX_PROPERTY_BYTES} bytes")));
                    }
                    properties.insert(key.clone(), text);
                }
            }
            Ok((recipient, properties))
        })
        .collect()
}

/// `headers`: `[{"name": …, "value": …}]` as documented, or `{"name": "value"}` as some
/// clients send it.
fn header_map(value: &Value) -> Result<BTreeMap<String, String>, String> {
    let text = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("header values must be strings".to_string()),
    };
    let mut headers = BTreeMap::new();
    match value {
        Value::Array(items) => {
            for item in items {
                let Value::Object(map) = item else {
                    return Err("each header must be {name, value}".into());
                };
                let Some(Value::String(name)) = map.get("name") else {
                    return Err("each header needs a name".into());
                };
                let value = map.get("value").map(text).transpose()?.unwrap_or_default();
                headers.insert(name.trim().to_string(), value);
            }
        }
        Value::Object(map) => {
            for (name, value) in map {
                headers.insert(name.trim().to_string(), text(value)?);
            }
        }
        _ => return Err("must be [{name, value}] or an object".into()),
    }
    Ok(headers)
}

/// `X-Api-Data`: from `headers`, else a body field of that name (or `api_data`), else the
/// HTTP request's own header.
fn api_data(
    fields: &Fields,
    headers: &BTreeMap<String, String>,
    http_headers: &HeaderMap,
) -> Result<Option<String>, Failure> {
    let from_headers = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-api-data"))
        .map(|(_, value)| value.clone());
    let from_fields = match from_headers {
        Some(value) => Some(value),
        None => match fields.text("X-Api-Data")? {
            Some(value) => Some(value),
            None => fields.text("api_data")?,
        },
    };
    let value = match from_fields {
        Some(value) => Some(value),
        None => http_headers
            .get("x-api-data")
            .map(|v| {
                v.to_str().map(str::to_string).map_err(|_| {
                    Failure::new(errors::API_DATA_INVALID, "X-Api-Data").detail("not visible ASCII")
                })
            })
            .transpose()?,
    };
    match value {
        Some(value) if value.len() > MAX_API_DATA_BYTES => {
            Err(Failure::new(errors::API_DATA_INVALID, "X-Api-Data")
                .detail(format!("at most {MAX_API_DATA_BYTES} bytes")))
        }
        Some(value) if value.chars().any(char::is_control) => {
            Err(Failure::new(errors::API_DATA_INVALID, "X-Api-Data")
                .detail("no control characters"))
        }
        Some(value) if value.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// The files `attachment1..N`; `attachments` says N (all `attachmentK` files when it is absent).
fn attachments(fields: &Fields) -> Result<Vec<Attachment>, Failure> {
    let count = match fields.text("attachments")? {
        Some(n) => Some(n.trim().parse::<usize>().map_err(|_| {
            Failure::new(errors::ATTACHMENTS_INVALID, "attachments").detail("must be a number")
        })?),
        None => None,
    };
    let number = |field: &str| {
        field
            .strip_prefix("attachment")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n >= 1)
    };
    let mut files: Vec<(usize, &super::body::File)> = fields
        .files
        .iter()
        .filter_map(|f| number(&f.field).map(|n| (n, f)))
        .collect();
    files.sort_by_key(|(n, _)| *n);
    if let Some(count) = count {
        for k in 1..=count {
            if !files.iter().any(|(n, _)| *n == k) {
                return Err(
                    Failure::new(errors::ATTACHMENTS_INVALID, format!("attachment{k}")).detail(
                        format!("attachments says {count} files; attachment{k} is missing"),
                    ),
                );
            }
        }
        files.retain(|(n, _)| *n <= count);
    }
    Ok(files
        .into_iter()
        .map(|(_, file)| Attachment {
            filename: file.filename.clone(),
            content: base64::engine::general_purpose::STANDARD.encode(&file.bytes),
            // The part's parameters (`; charset=…`) are not the attachment's type.
            content_type: file
                .content_type
                .as_deref()
                .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
                .filter(|t| !t.is_empty()),
        })
        .collect())
}

/// The From domain (or its nearest registered parent, as the relay's DKIM stage chooses) must
/// have an active DKIM key of the contract: the hosted service refuses to send unsigned mail
/// from its customers' domains, and so does this surface.
async fn check_dkim(
    state: &ApiState,
    caller: &ContractCaller,
    from: &Address,
) -> Result<(), Failure> {
    let domain = from
        .address()
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default();
    let mut candidate = domain.as_str();
    while candidate.contains('.') {
        if let Some(sender) = state
            .store()
            .sender_domain(Some(&caller.customer_id), candidate)
            .await?
        {
            if sender.keys_in(DkimKeyState::Active).next().is_some() {
                return Ok(());
            }
            // The nearest registered domain decides, as it does for signing.
            break;
        }
        candidate = candidate.split_once('.').map_or("", |(_, parent)| parent);
    }
    Err(Failure::new(errors::NO_DKIM, "from").detail(domain))
}

fn unavailable() -> Failure {
    let mut failure = Failure::new(errors::UNAVAILABLE, "").detail("this node does not take mail");
    failure.retry_after = Some(60);
    failure
}

/// A composer refusal, the native field path turned into the hosted parameter's name.
fn compose_failure(error: ComposeError, prefix: &str) -> Failure {
    let (field, message) = match error {
        ComposeError::Invalid { field, message } => (field, message),
        too_large @ ComposeError::TooLarge { .. } => {
            return Failure::new(errors::MESSAGE_TOO_LARGE, "").detail(too_large.to_string());
        }
    };
    let head = field
        .split(['[', '.'])
        .next()
        .unwrap_or_default()
        .to_string();
    let (code, name): (Code, String) = match head.as_str() {
        "from" => (errors::FROM_INVALID, field.clone()),
        "to" | "cc" | "bcc" if !prefix.is_empty() => {
            (errors::RECIPIENT_INVALID, prefix.to_string())
        }
        "to" | "cc" | "bcc" => (errors::RECIPIENT_INVALID, field.clone()),
        "reply_to" => (
            errors::REPLYTO_INVALID,
            field.replacen("reply_to", "replyto", 1),
        ),
        "subject" => (errors::SUBJECT_INVALID, field.clone()),
        "text" | "html" => (errors::BODY_INVALID, field.clone()),
        "headers" => (errors::HEADERS_INVALID, field.clone()),
        "charset" => (errors::CHARSET_INVALID, field.clone()),
        "metadata" => (errors::API_DATA_INVALID, "X-Api-Data".to_string()),
        "attachments" => {
            let k = field
                .strip_prefix("attachments[")
                .and_then(|rest| rest.split(']').next())
                .and_then(|n| n.parse::<usize>().ok());
            let name = k.map_or("attachments".to_string(), |k| {
                format!("attachment{}", k + 1)
            });
            (errors::ATTACHMENTS_INVALID, name)
        }
        _ => (errors::FIELD_INVALID, field.clone()),
    };
    let name = if prefix.is_empty() || name.starts_with(prefix) {
        name
    } else {
        format!("{prefix}.{name}")
    };
    Failure::new(code, name).detail(message)
}

fn submit_failure(error: SubmitError) -> Failure {
    let code = match &error {
        SubmitError::ContractMissing(_) | SubmitError::ContractRefused { .. } => {
            errors::CONTRACT_CANNOT_SEND
        }
        SubmitError::SendingPaused { .. } => errors::SENDING_PAUSED,
        SubmitError::TooLarge { .. } => errors::MESSAGE_TOO_LARGE,
        SubmitError::TooManyRecipients { .. } => errors::TOO_MANY_RECIPIENTS,
        SubmitError::SenderDomainNotRegistered { .. } => errors::NO_DKIM,
        SubmitError::OutOfSpace(_) | SubmitError::Unavailable(_) => errors::UNAVAILABLE,
    };
    let mut failure = Failure::new(code, "").detail(error.to_string());
    failure.retry_after = error.retry_after().map(|d| d.as_secs().max(1));
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_fields_are_replaced_and_unknown_ones_kept() {
        let properties: BTreeMap<String, String> = [
            ("name".to_string(), "山田".to_string()),
            ("item1".to_string(), "((#name#))".to_string()),
        ]
        .into();
        assert_eq!(
            merge(
                "((#name#))様 ((#item1#)) ((#nope#)) ((# ((#name",
                &properties
            ),
            "山田様 ((#name#)) ((#nope#)) ((# ((#name"
        );
        assert_eq!(merge("plain", &properties), "plain");
    }

    #[test]
    fn headers_come_as_a_list_or_a_map() {
        let list = serde_json::json!([{"name": "X-A", "value": "1"}, {"name": "X-B", "value": 2}]);
        let map = serde_json::json!({"X-A": "1", "X-B": "2"});
        assert_eq!(header_map(&list).unwrap(), header_map(&map).unwrap());
        assert!(header_map(&serde_json::json!("X-A: 1")).is_err());
        assert!(header_map(&serde_json::json!([{"value": "1"}])).is_err());
    }
}
