//! Received mail → the JSON document POSTed to an inbound route's endpoint. Synchronous and
//! free of I/O. The input is hostile (anyone on the Internet can write to a route), so every
//! part of the output is bounded, and a parser panic yields a document of what could be read
//! instead of taking the poster down.

use base64::Engine;
use mail_parser::{Address, Encoding, HeaderName, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

/// Header fields kept, in their order; the rest are dropped (and `truncated` set).
pub const MAX_HEADERS: usize = 500;
/// Bytes of one header value kept.
pub const MAX_HEADER_VALUE: usize = 16 << 10;
/// Characters of `text` and of `html` kept, each.
pub const MAX_BODY_TEXT: usize = 1 << 20;
/// Attachments listed; their content is included up to [`MAX_ATTACHMENT_BYTES`] in all.
pub const MAX_ATTACHMENTS: usize = 100;
/// Decoded attachment bytes included, in all; later attachments are listed without content.
pub const MAX_ATTACHMENT_BYTES: usize = 3 << 20;
/// Addresses kept per address field.
pub const MAX_ADDRESSES: usize = 100;
/// Input beyond this is not read (the queue holds at most about 2 MB anyway).
const MAX_INPUT: usize = 4 << 20;

/// What the mail says about itself, as the endpoint receives it (inside [`InboundDocument`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedMail {
    /// Every header field of the top level in order: name as written, value unfolded and
    /// undecoded (encoded words stay as they are).
    pub headers: Vec<HeaderField>,
    /// Decoded (RFC 2047), as are the names in the address fields.
    pub subject: Option<String>,
    pub from: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    /// RFC 3339, with the offset the `Date` field had.
    pub date: Option<String>,
    /// Without the angle brackets.
    pub message_id: Option<String>,
    /// The `text/plain` body parts, decoded to UTF-8 and joined by a newline.
    pub text: Option<String>,
    /// The `text/html` body parts, decoded to UTF-8 and joined by a newline.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Something was cut to the limits above, or the MIME structure could not be read.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderField {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: Option<String>,
    /// `type/subtype` in lower case, `application/octet-stream` when the part says nothing.
    pub content_type: String,
    pub content_id: Option<String>,
    /// `Content-Disposition: inline` (an image the HTML shows, say).
    pub inline: bool,
    /// Decoded bytes.
    pub size: usize,
    /// The decoded bytes in base64; absent when the total of [`MAX_ATTACHMENT_BYTES`] was
    /// already reached.
    pub content: Option<String>,
}

/// The body of an inbound POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundDocument {
    /// The platform's ID of this mail: the same in every attempt, so a receiver can drop a
    /// repeated POST.
    pub id: String,
    pub route_id: i64,
    /// RFC 3339.
    pub received_at: String,
    pub envelope: EnvelopeFields,
    #[serde(flatten)]
    pub mail: ParsedMail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeFields {
    /// The SMTP `MAIL FROM` (empty for a null sender).
    pub from: String,
    /// The SMTP `RCPT TO` that matched the route.
    pub to: String,
}

/// Reads the mail as well as it can be read. Never panics, whatever `raw` holds.
pub fn parse_mail(raw: &[u8]) -> ParsedMail {
    let input_cut = raw.len() > MAX_INPUT;
    let raw = &raw[..raw.len().min(MAX_INPUT)];
    // The MIME parser is a dependency reading hostile input: should it ever panic, the mail is
    // read as plain text instead.
    let parsed = std::panic::catch_unwind(|| read_structured(raw));
    let mut mail = match parsed {
        Ok(Some(mail)) => mail,
        Ok(None) | Err(_) => read_as_text(raw),
    };
    mail.truncated |= input_cut;
    mail
}

fn read_structured(raw: &[u8]) -> Option<ParsedMail> {
    let message = MessageParser::default().parse(raw)?;
    let mut mail = ParsedMail::default();

    for header in message.headers() {
        if mail.headers.len() == MAX_HEADERS {
            mail.truncated = true;
            break;
        }
        let value = raw
            .get(header.offset_start as usize..header.offset_end as usize)
            .unwrap_or_default();
        let (value, cut) = unfold(value);
        mail.truncated |= cut;
        mail.headers.push(HeaderField {
            name: header.name.as_str().to_string(),
            value,
        });
    }
    mail.subject = message
        .subject()
        .map(|s| bounded(s, MAX_HEADER_VALUE, &mut mail.truncated));
    let mut addresses = |name: HeaderName<'_>| -> Vec<Mailbox> {
        let Some(address) = message.header(name).and_then(|v| v.as_address()) else {
            return Vec::new();
        };
        mailboxes(address, &mut mail.truncated)
    };
    let from = addresses(HeaderName::From);
    let to = addresses(HeaderName::To);
    let cc = addresses(HeaderName::Cc);
    let reply_to = addresses(HeaderName::ReplyTo);
    (mail.from, mail.to, mail.cc, mail.reply_to) = (from, to, cc, reply_to);
    mail.date = message.date().map(|d| d.to_rfc3339());
    mail.message_id = message
        .message_id()
        .map(|id| bounded(id, MAX_HEADER_VALUE, &mut mail.truncated));

    let mut texts = Vec::new();
    let mut htmls = Vec::new();
    for part in message.text_bodies() {
        if let PartType::Text(text) = &part.body {
            texts.push(text.as_ref());
        }
    }
    for part in message.html_bodies() {
        if let PartType::Html(html) = &part.body {
            htmls.push(html.as_ref());
        }
    }
    mail.text = join_bounded(&texts, &mut mail.truncated);
    mail.html = join_bounded(&htmls, &mut mail.truncated);

    let mut content_budget = MAX_ATTACHMENT_BYTES;
    for part in message.attachments() {
        if mail.attachments.len() == MAX_ATTACHMENTS {
            mail.truncated = true;
            break;
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .map(|ct| ct.to_ascii_lowercase())
            .unwrap_or_else(|| match part.body {
                PartType::Message(_) => "message/rfc822".to_string(),
                _ => "application/octet-stream".to_string(),
            });
        let bytes = attachment_bytes(raw, part);
        let content = if bytes.len() <= content_budget {
            content_budget -= bytes.len();
            Some(base64::engine::general_purpose::STANDARD.encode(&bytes))
        } else {
            mail.truncated = true;
            content_budget = 0;
            None
        };
        let mut cut = false;
        mail.attachments.push(Attachment {
            filename: part.attachment_name().map(|n| bounded(n, 1024, &mut cut)),
            content_type: bounded(&content_type, 256, &mut cut),
            content_id: part.content_id().map(|id| bounded(id, 1024, &mut cut)),
            inline: part
                .content_disposition()
                .is_some_and(|cd| cd.ctype().eq_ignore_ascii_case("inline")),
            size: bytes.len(),
            content,
        });
        mail.truncated |= cut;
    }
    Some(mail)
}

/// The attachment's bytes as they were sent, once the transfer encoding is undone. The parser
/// hands text parts over converted to UTF-8; a text attachment (a CSV in Shift_JIS, say) must
/// reach the endpoint as the file it was, so its bytes are decoded again from the raw body.
fn attachment_bytes(raw: &[u8], part: &mail_parser::MessagePart<'_>) -> Vec<u8> {
    if let PartType::Text(_) | PartType::Html(_) = part.body {
        let body = raw.get(part.offset_body as usize..part.offset_end as usize);
        let decoded = body.and_then(|body| match part.encoding {
            Encoding::Base64 => mail_parser::decoders::base64::base64_decode(body),
            Encoding::QuotedPrintable => {
                mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
            }
            Encoding::None => Some(body.to_vec()),
        });
        if let Some(bytes) = decoded {
            return bytes;
        }
    }
    part.contents().to_vec()
}

fn mailboxes(address: &Address<'_>, truncated: &mut bool) -> Vec<Mailbox> {
    let mut out = Vec::new();
    for addr in address.iter() {
        if out.len() == MAX_ADDRESSES {
            *truncated = true;
            break;
        }
        out.push(Mailbox {
            name: addr.name.as_deref().map(|n| bounded(n, 1024, truncated)),
            address: addr.address.as_deref().map(|a| bounded(a, 1024, truncated)),
        });
    }
    out
}

/// A header value without its line breaks (a folded line keeps its leading white space, as
/// RFC 5322 unfolding says), trimmed, cut to [`MAX_HEADER_VALUE`]. Bytes that are not UTF-8
/// become U+FFFD.
fn unfold(value: &[u8]) -> (String, bool) {
    let value = value.trim_ascii_start();
    let cut = value.len() > MAX_HEADER_VALUE;
    let value = &value[..value.len().min(MAX_HEADER_VALUE)];
    let text = String::from_utf8_lossy(value);
    let unfolded: String = text.chars().filter(|&c| c != '\r' && c != '\n').collect();
    (unfolded.trim().to_string(), cut)
}

fn bounded(text: &str, max: usize, truncated: &mut bool) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    *truncated = true;
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn join_bounded(parts: &[&str], truncated: &mut bool) -> Option<String> {
    if parts.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let room = MAX_BODY_TEXT.saturating_sub(out.len());
        if part.len() > room {
            out.push_str(&bounded(part, room, truncated));
            break;
        }
        out.push_str(part);
    }
    Some(out)
}

/// The fallback when MIME cannot be read: the header block split by hand, the rest as text.
fn read_as_text(raw: &[u8]) -> ParsedMail {
    let mut mail = ParsedMail {
        truncated: true,
        ..ParsedMail::default()
    };
    let end = header_end(raw);
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut current: Option<HeaderField> = None;
    for line in head.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(field) = &mut current
                && field.value.len() < MAX_HEADER_VALUE
            {
                field.value.push_str(line);
            }
            continue;
        }
        if let Some(field) = current.take()
            && mail.headers.len() < MAX_HEADERS
        {
            mail.headers.push(field);
        }
        if let Some((name, value)) = line.split_once(':') {
            current = Some(HeaderField {
                name: name.trim().to_string(),
                value: value.trim().to_string(),
            });
        }
    }
    if let Some(field) = current
        && mail.headers.len() < MAX_HEADERS
    {
        mail.headers.push(field);
    }
    for field in &mut mail.headers {
        field.value = bounded(field.value.trim(), MAX_HEADER_VALUE, &mut false);
    }
    let body = String::from_utf8_lossy(&raw[end..]);
    mail.text = Some(bounded(&body, MAX_BODY_TEXT, &mut false));
    mail
}

/// Where the body starts: after the first empty line, or at the end.
fn header_end(raw: &[u8]) -> usize {
    let mut i = 0;
    while let Some(offset) = raw[i..].iter().position(|&b| b == b'\n') {
        let next = i + offset + 1;
        match raw.get(next..) {
            Some([b'\n', ..]) => return next + 1,
            Some([b'\r', b'\n', ..]) => return next + 2,
            _ => i = next,
        }
    }
    raw.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolding_keeps_the_white_space_of_continuations() {
        assert_eq!(
            unfold(b" a\r\n b\r\n\tc\r\n"),
            ("a b\tc".to_string(), false)
        );
        let (long, cut) = unfold(&vec![b'x'; MAX_HEADER_VALUE + 10]);
        assert!(cut);
        assert_eq!(long.len(), MAX_HEADER_VALUE);
    }

    #[test]
    fn header_end_finds_the_empty_line() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody"), 8);
        assert_eq!(header_end(b"A: b\n\nbody"), 6);
        assert_eq!(header_end(b"A: b\r\n"), 6);
        assert_eq!(header_end(b""), 0);
    }

    #[test]
    fn joined_bodies_stop_at_the_limit() {
        let mut cut = false;
        let big = "é".repeat(MAX_BODY_TEXT);
        let joined = join_bounded(&["start", &big], &mut cut).unwrap();
        assert!(cut);
        assert!(joined.len() <= MAX_BODY_TEXT);
        assert!(joined.starts_with("start\né"));
        assert_eq!(join_bounded(&[], &mut cut), None);
    }
}
