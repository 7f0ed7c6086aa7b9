//! From a checked request to the message bytes, through mail-builder.

use crate::check::{self, MAX_RECIPIENTS};
use crate::substitute::{self, Context};
use crate::{ComposeError, ComposedMessage, iso2022jp};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hikyaku_api_types::{
    Address, Attachment, BatchRecipient, BatchSendRequest, Charset, MAX_BATCH_RECIPIENTS,
    SendRequest,
};
use hikyaku_model::{Envelope, MessageId, Timestamp};
use mail_builder::MessageBuilder;
use mail_builder::headers::HeaderType;
use mail_builder::headers::address::Address as MailAddress;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::message_id::MessageId as MailMessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

/// The most `reply_to` addresses: one is usual, a few are legal, many are abuse.
const MAX_REPLY_TO: usize = 10;
/// RFC 5322's hard line limit, without the CRLF: a 7bit body line may not be longer.
const MAX_LINE: usize = 998;

/// Padding optional, as base64 from every language's standard library comes one way or the
/// other.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Builds messages for one node: its host name names the `Message-ID` when the sender's
/// domain cannot (an internationalised domain), and the size limit is the relay's.
#[derive(Debug, Clone)]
pub struct Composer {
    hostname: String,
    max_message_size: usize,
}

/// The parts of a request shared by every message built from it, checked, with attachments
/// decoded once.
struct Common<'r> {
    prefix: &'static str,
    from: &'r Address,
    reply_to: &'r [Address],
    subject: &'r str,
    text: Option<&'r str>,
    html: Option<&'r str>,
    attachments: Vec<Decoded<'r>>,
    headers: &'r BTreeMap<String, String>,
    tags: &'r [String],
    metadata: &'r BTreeMap<String, String>,
    charset: Charset,
}

struct Decoded<'r> {
    filename: &'r str,
    content_type: &'r str,
    bytes: Vec<u8>,
}

/// One message's own parts: its recipients, and the texts after substitution.
struct Own<'a> {
    prefix: String,
    to: &'a [Address],
    cc: &'a [Address],
    bcc: &'a [Address],
    subject: Cow<'a, str>,
    text: Option<Cow<'a, str>>,
    html: Option<Cow<'a, str>>,
    headers: Vec<(&'a str, Cow<'a, str>)>,
    metadata: BTreeMap<String, String>,
}

impl Composer {
    pub fn new(hostname: impl Into<String>, max_message_size: usize) -> Composer {
        Composer {
            hostname: hostname.into(),
            max_message_size,
        }
    }

    /// One message from `request`, dated `at`, with the platform ID `id`.
    pub fn compose(
        &self,
        request: &SendRequest,
        id: MessageId,
        at: Timestamp,
    ) -> Result<ComposedMessage, ComposeError> {
        let common = self.common(
            "",
            Template {
                from: &request.from,
                reply_to: &request.reply_to,
                subject: &request.subject,
                text: request.text.as_deref(),
                html: request.html.as_deref(),
                attachments: &request.attachments,
                headers: &request.headers,
                tags: &request.tags,
                metadata: &request.metadata,
                charset: request.charset,
            },
        )?;
        let own = Own {
            prefix: String::new(),
            to: &request.to,
            cc: &request.cc,
            bcc: &request.bcc,
            subject: Cow::Borrowed(&request.subject),
            text: request.text.as_deref().map(Cow::Borrowed),
            html: request.html.as_deref().map(Cow::Borrowed),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), Cow::Borrowed(v.as_str())))
                .collect(),
            metadata: request.metadata.clone(),
        };
        self.build(&common, own, id, at)
    }

    /// One message per entry of `request.recipients`, each with its own result in the same
    /// order and its ID from `next_id`. A fault of the template fails the whole batch (every
    /// message would have it): that is the outer error.
    pub fn compose_batch(
        &self,
        request: &BatchSendRequest,
        at: Timestamp,
        mut next_id: impl FnMut() -> MessageId,
    ) -> Result<Vec<Result<ComposedMessage, ComposeError>>, ComposeError> {
        if request.recipients.is_empty() {
            return Err(ComposeError::invalid("recipients", "must not be empty"));
        }
        if request.recipients.len() > MAX_BATCH_RECIPIENTS {
            return Err(ComposeError::invalid(
                "recipients",
                format!("at most {MAX_BATCH_RECIPIENTS} entries in one batch"),
            ));
        }
        let t = &request.template;
        let common = self.common(
            "template.",
            Template {
                from: &t.from,
                reply_to: &t.reply_to,
                subject: &t.subject,
                text: t.text.as_deref(),
                html: t.html.as_deref(),
                attachments: &t.attachments,
                headers: &t.headers,
                tags: &t.tags,
                metadata: &t.metadata,
                charset: t.charset,
            },
        )?;
        Ok(request
            .recipients
            .iter()
            .enumerate()
            .map(|(i, recipient)| {
                let own = personalise(&common, recipient, i)?;
                self.build(&common, own, next_id(), at)
            })
            .collect())
    }

    /// Checks the parts every message of the request shares.
    fn common<'r>(
        &self,
        prefix: &'static str,
        t: Template<'r>,
    ) -> Result<Common<'r>, ComposeError> {
        let field = |name: &str| format!("{prefix}{name}");
        check_mailbox(t.from, &field("from"), t.charset)?;
        if t.reply_to.len() > MAX_REPLY_TO {
            return Err(ComposeError::invalid(
                field("reply_to"),
                format!("at most {MAX_REPLY_TO} addresses"),
            ));
        }
        for (i, address) in t.reply_to.iter().enumerate() {
            check_mailbox(address, &field(&format!("reply_to[{i}]")), t.charset)?;
        }
        if t.subject.trim().is_empty() {
            return Err(ComposeError::invalid(field("subject"), "must not be empty"));
        }
        check::check_header_text(t.subject, check::MAX_SUBJECT_LEN)
            .map_err(|m| ComposeError::invalid(field("subject"), m))?;
        if t.text.is_none() && t.html.is_none() {
            return Err(ComposeError::invalid(
                field("text"),
                "give text, html or both",
            ));
        }
        for (name, body) in [("text", t.text), ("html", t.html)] {
            if let Some(body) = body {
                check::check_body_text(body).map_err(|m| ComposeError::invalid(field(name), m))?;
            }
        }
        if t.headers.len() > check::MAX_CUSTOM_HEADERS {
            return Err(ComposeError::invalid(
                field("headers"),
                format!("at most {} custom headers", check::MAX_CUSTOM_HEADERS),
            ));
        }
        for (name, value) in t.headers {
            let at = field(&format!("headers.{name}"));
            check::check_header_name(name).map_err(|m| ComposeError::invalid(&at, m))?;
            check::check_header_text(value, check::MAX_HEADER_VALUE_LEN)
                .map_err(|m| ComposeError::invalid(&at, m))?;
        }
        check::check_tags(t.tags).map_err(|(i, m)| match i {
            Some(i) => ComposeError::invalid(field(&format!("tags[{i}]")), m),
            None => ComposeError::invalid(field("tags"), m),
        })?;
        check::check_metadata(t.metadata).map_err(|(k, m)| match k {
            Some(k) => ComposeError::invalid(field(&format!("metadata.{k}")), m),
            None => ComposeError::invalid(field("metadata"), m),
        })?;
        let attachments = self.decode_attachments(prefix, t.attachments)?;
        Ok(Common {
            prefix,
            from: t.from,
            reply_to: t.reply_to,
            subject: t.subject,
            text: t.text,
            html: t.html,
            attachments,
            headers: t.headers,
            tags: t.tags,
            metadata: t.metadata,
            charset: t.charset,
        })
    }

    fn decode_attachments<'r>(
        &self,
        prefix: &str,
        attachments: &'r [Attachment],
    ) -> Result<Vec<Decoded<'r>>, ComposeError> {
        if attachments.len() > check::MAX_ATTACHMENTS {
            return Err(ComposeError::invalid(
                format!("{prefix}attachments"),
                format!("at most {} attachments", check::MAX_ATTACHMENTS),
            ));
        }
        // Refuse what cannot fit before decoding it: base64 is 4 characters per 3 bytes.
        let encoded: usize = attachments.iter().map(|a| a.content.len()).sum();
        if encoded / 4 * 3 > self.max_message_size {
            return Err(ComposeError::TooLarge {
                size: encoded / 4 * 3,
                limit: self.max_message_size,
            });
        }
        let mut decoded = Vec::with_capacity(attachments.len());
        for (i, attachment) in attachments.iter().enumerate() {
            let field = |name: &str| format!("{prefix}attachments[{i}].{name}");
            if attachment.filename.trim().is_empty() {
                return Err(ComposeError::invalid(
                    field("filename"),
                    "must not be empty",
                ));
            }
            check::check_header_text(&attachment.filename, check::MAX_FILENAME_LEN)
                .map_err(|m| ComposeError::invalid(field("filename"), m))?;
            let content_type = attachment
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream");
            check::check_content_type(content_type)
                .map_err(|m| ComposeError::invalid(field("content_type"), m))?;
            let compact: Vec<u8> = attachment
                .content
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            let bytes = BASE64
                .decode(&compact)
                .map_err(|_| ComposeError::invalid(field("content"), "is not valid base64"))?;
            decoded.push(Decoded {
                filename: &attachment.filename,
                content_type,
                bytes,
            });
        }
        Ok(decoded)
    }

    fn build(
        &self,
        common: &Common<'_>,
        own: Own<'_>,
        id: MessageId,
        at: Timestamp,
    ) -> Result<ComposedMessage, ComposeError> {
        let envelope = envelope(common, &own)?;
        let charset = common.charset;
        let field = |name: &str| format!("{}{name}", own.prefix);
        let template_field = |name: &str| format!("{}{name}", common.prefix);

        let mut builder = MessageBuilder::new()
            .header("Date", Raw::new(at.to_rfc5322()))
            .header(
                "From",
                address_header(std::slice::from_ref(common.from), charset)
                    .map_err(|c| unmappable(template_field("from"), c))?,
            );
        for (name, list, path) in [
            ("To", own.to, field("to")),
            ("Cc", own.cc, field("cc")),
            ("Reply-To", common.reply_to, template_field("reply_to")),
        ] {
            if !list.is_empty() {
                builder = builder.header(
                    name,
                    address_header(list, charset).map_err(|c| unmappable(path, c))?,
                );
            }
        }
        builder = builder
            .header(
                "Subject",
                header_text(&own.subject, charset)
                    .map_err(|c| unmappable(template_field("subject"), c))?,
            )
            .header(
                "Message-ID",
                MailMessageId::new(format!("{id}@{}", self.id_domain(common.from.address()))),
            )
            .header("MIME-Version", Raw::new("1.0"));
        for (name, value) in &own.headers {
            builder = builder.header(
                name.to_string(),
                header_text(value, charset)
                    .map_err(|c| unmappable(template_field(&format!("headers.{name}")), c))?,
            );
        }

        let boundary = boundary_for(id, common, &own);
        let text = match &own.text {
            Some(text) => Some(
                text_part("text/plain", text, charset)
                    .map_err(|c| unmappable(template_field("text"), c))?,
            ),
            None => None,
        };
        let html = match &own.html {
            Some(html) => Some(
                text_part("text/html", html, charset)
                    .map_err(|c| unmappable(template_field("html"), c))?,
            ),
            None => None,
        };
        let body = match (text, html) {
            (Some(text), Some(html)) => MimePart::new(
                ContentType::new("multipart/alternative")
                    .attribute("boundary", format!("{boundary}_alt")),
                BodyPart::Multipart(vec![text, html]),
            ),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => unreachable!("common() requires text or html"),
        };
        let body = if common.attachments.is_empty() {
            body
        } else {
            let mut parts = Vec::with_capacity(common.attachments.len() + 1);
            parts.push(body);
            for attachment in &common.attachments {
                parts.push(
                    MimePart::new(
                        ContentType::new(attachment.content_type),
                        BodyPart::Binary(Cow::Borrowed(&attachment.bytes)),
                    )
                    .attachment(attachment.filename),
                );
            }
            MimePart::new(
                ContentType::new("multipart/mixed")
                    .attribute("boundary", format!("{boundary}_mix")),
                BodyPart::Multipart(parts),
            )
        };
        let mut message = Vec::new();
        builder.body(body).serialize(&mut message);
        if message.len() > self.max_message_size {
            return Err(ComposeError::TooLarge {
                size: message.len(),
                limit: self.max_message_size,
            });
        }
        let mut metadata = common.metadata.clone();
        metadata.extend(own.metadata);
        Ok(ComposedMessage {
            id,
            date: at,
            envelope,
            message,
            tags: common.tags.to_vec(),
            metadata,
        })
    }

    /// The sender's domain names the `Message-ID`, as its own mail would; an internationalised
    /// domain cannot appear there (RFC 5322 wants ASCII), so this node's name does.
    fn id_domain<'a>(&'a self, from: &'a str) -> Cow<'a, str> {
        match from.rsplit_once('@') {
            Some((_, domain)) if domain.is_ascii() => Cow::Owned(domain.to_ascii_lowercase()),
            _ => Cow::Borrowed(&self.hostname),
        }
    }
}

/// The fields of a single request or a batch template, borrowed.
struct Template<'r> {
    from: &'r Address,
    reply_to: &'r [Address],
    subject: &'r str,
    text: Option<&'r str>,
    html: Option<&'r str>,
    attachments: &'r [Attachment],
    headers: &'r BTreeMap<String, String>,
    tags: &'r [String],
    metadata: &'r BTreeMap<String, String>,
    charset: Charset,
}

/// Entry `i` of a batch: its substitutions checked and applied to the template's texts.
fn personalise<'a>(
    common: &Common<'a>,
    recipient: &'a BatchRecipient,
    i: usize,
) -> Result<Own<'a>, ComposeError> {
    let prefix = format!("recipients[{i}].");
    let values = &recipient.substitutions;
    if values.len() > check::MAX_SUBSTITUTIONS {
        return Err(ComposeError::invalid(
            format!("{prefix}substitutions"),
            format!("at most {} substitutions", check::MAX_SUBSTITUTIONS),
        ));
    }
    // Values that land in header fields must not break out of them.
    let in_headers: HashSet<&str> = substitute::names(common.subject)
        .into_iter()
        .chain(common.headers.values().flat_map(|v| substitute::names(v)))
        .collect();
    for (name, value) in values {
        let at = format!("{prefix}substitutions.{name}");
        if value.len() > check::MAX_SUBSTITUTION_LEN {
            return Err(ComposeError::invalid(
                at,
                format!("is longer than {} bytes", check::MAX_SUBSTITUTION_LEN),
            ));
        }
        let checked = if in_headers.contains(name.as_str()) {
            check::check_header_text(value, check::MAX_SUBSTITUTION_LEN)
                .map_err(|m| format!("{m} (it is used in a header field)"))
        } else {
            check::check_body_text(value)
        };
        checked.map_err(|m| ComposeError::invalid(&at, m))?;
    }
    check::check_metadata(&recipient.metadata).map_err(|(k, m)| match k {
        Some(k) => ComposeError::invalid(format!("{prefix}metadata.{k}"), m),
        None => ComposeError::invalid(format!("{prefix}metadata"), m),
    })?;
    let mut merged = common.metadata.clone();
    merged.extend(recipient.metadata.clone());
    check::check_metadata(&merged).map_err(|(_, m)| {
        ComposeError::invalid(
            format!("{prefix}metadata"),
            format!("with the template's: {m}"),
        )
    })?;

    let missing = |m: substitute::Missing| {
        ComposeError::invalid(
            format!("{prefix}substitutions.{}", m.0),
            "is used in the template but not given",
        )
    };
    let subject = substitute::substitute(common.subject, values, Context::Text).map_err(missing)?;
    check::check_header_text(&subject, check::MAX_SUBJECT_LEN).map_err(|m| {
        ComposeError::invalid(format!("{prefix}substitutions"), format!("the subject {m}"))
    })?;
    let text = common
        .text
        .map(|t| substitute::substitute(t, values, Context::Text))
        .transpose()
        .map_err(missing)?;
    let html = common
        .html
        .map(|t| substitute::substitute(t, values, Context::Html))
        .transpose()
        .map_err(missing)?;
    let mut headers = Vec::with_capacity(common.headers.len());
    for (name, value) in common.headers {
        let value = substitute::substitute(value, values, Context::Text).map_err(missing)?;
        check::check_header_text(&value, check::MAX_HEADER_VALUE_LEN).map_err(|m| {
            ComposeError::invalid(
                format!("{prefix}substitutions"),
                format!("header {name} {m}"),
            )
        })?;
        headers.push((name.as_str(), value));
    }
    Ok(Own {
        prefix,
        to: &recipient.to,
        cc: &recipient.cc,
        bcc: &recipient.bcc,
        subject,
        text,
        html,
        headers,
        metadata: recipient.metadata.clone(),
    })
}

fn check_mailbox(address: &Address, field: &str, charset: Charset) -> Result<(), ComposeError> {
    let (address_field, name_field) = match address {
        Address::Plain(_) => (field.to_string(), field.to_string()),
        Address::Named(_) => (format!("{field}.address"), format!("{field}.name")),
    };
    check::check_address(address.address())
        .map_err(|m| ComposeError::invalid(&address_field, format!("not an address: it {m}")))?;
    if charset == Charset::Iso2022Jp && !address.address().is_ascii() {
        return Err(ComposeError::invalid(
            address_field,
            "an internationalised address needs UTF-8, not ISO-2022-JP",
        ));
    }
    if let Some(name) = address.name() {
        check::check_header_text(name, check::MAX_DISPLAY_NAME_LEN)
            .map_err(|m| ComposeError::invalid(name_field, m))?;
    }
    Ok(())
}

/// The envelope: `from` as the reverse path, `to`, `cc`, `bcc` each address once (compared
/// without regard to case, as nearly every mailbox does), in that order.
fn envelope(common: &Common<'_>, own: &Own<'_>) -> Result<Envelope, ComposeError> {
    let mut seen = HashSet::new();
    let mut recipients = Vec::new();
    for (name, list) in [("to", own.to), ("cc", own.cc), ("bcc", own.bcc)] {
        for (i, address) in list.iter().enumerate() {
            check_mailbox(
                address,
                &format!("{}{name}[{i}]", own.prefix),
                common.charset,
            )?;
            if seen.insert(address.address().to_lowercase()) {
                recipients.push(address.address().to_string());
            }
        }
    }
    if recipients.is_empty() {
        return Err(ComposeError::invalid(
            format!("{}to", own.prefix),
            "give at least one recipient in to, cc or bcc",
        ));
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(ComposeError::invalid(
            format!("{}to", own.prefix),
            format!("at most {MAX_RECIPIENTS} recipients per message"),
        ));
    }
    Ok(Envelope {
        mail_from: common.from.address().to_string(),
        recipients,
    })
}

fn unmappable(field: String, c: char) -> ComposeError {
    ComposeError::invalid(
        field,
        format!(
            "contains {c:?} (U+{:04X}), which ISO-2022-JP cannot carry; use UTF-8",
            c as u32
        ),
    )
}

/// An address list field. UTF-8: mail-builder's (RFC 2047 for names, RFC 6532 addresses).
/// ISO-2022-JP: names as ISO-2022-JP encoded words, the rest as plain ASCII.
fn address_header(list: &[Address], charset: Charset) -> Result<HeaderType<'static>, char> {
    match charset {
        Charset::Utf8 => {
            let mut addresses: Vec<MailAddress<'static>> = list
                .iter()
                .map(|a| {
                    MailAddress::new_address(
                        a.name().map(|n| n.to_string()),
                        a.address().to_string(),
                    )
                })
                .collect();
            Ok(if addresses.len() == 1 {
                addresses.remove(0).into()
            } else {
                MailAddress::new_list(addresses).into()
            })
        }
        Charset::Iso2022Jp => {
            let mut out = Vec::with_capacity(list.len());
            for a in list {
                out.push(match a.name() {
                    None => a.address().to_string(),
                    Some(name) if name.is_ascii() => format!(
                        "\"{}\" <{}>",
                        name.replace('\\', "\\\\").replace('"', "\\\""),
                        a.address()
                    ),
                    Some(name) => {
                        format!("{} <{}>", iso2022jp::encoded_words(name)?, a.address())
                    }
                });
            }
            Ok(Raw::new(out.join(", ")).into())
        }
    }
}

/// Unstructured header text: mail-builder's RFC 2047 in UTF-8, or ISO-2022-JP encoded words.
fn header_text(text: &str, charset: Charset) -> Result<HeaderType<'static>, char> {
    match charset {
        Charset::Iso2022Jp if !text.is_ascii() => {
            Ok(Raw::new(iso2022jp::encoded_words(text)?).into())
        }
        _ => Ok(Text::new(text.to_string()).into()),
    }
}

/// A text or HTML part. UTF-8 leaves the transfer encoding to mail-builder (7bit when it can,
/// else quoted-printable or base64, whichever is shorter). ISO-2022-JP is sent 7bit, as its
/// readers expect, unless a line is too long for 7bit; then base64.
fn text_part(
    subtype: &'static str,
    text: &str,
    charset: Charset,
) -> Result<MimePart<'static>, char> {
    let text = crlf(text);
    match charset {
        Charset::Utf8 => Ok(MimePart::new(
            ContentType::new(subtype).attribute("charset", "utf-8"),
            BodyPart::Text(Cow::Owned(text.into_owned())),
        )),
        Charset::Iso2022Jp => {
            let bytes = iso2022jp::encode(&text)?;
            let content_type = ContentType::new(subtype).attribute("charset", "ISO-2022-JP");
            let fits_7bit = bytes
                .split(|b| *b == b'\n')
                .all(|line| line.len() <= MAX_LINE + 1);
            Ok(if fits_7bit {
                MimePart::new(content_type, BodyPart::Binary(Cow::Owned(bytes)))
                    .transfer_encoding("7bit")
            } else {
                let mut encoded = String::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 38);
                for chunk in bytes.chunks(57) {
                    encoded.push_str(&base64::engine::general_purpose::STANDARD.encode(chunk));
                    encoded.push_str("\r\n");
                }
                MimePart::new(
                    content_type,
                    BodyPart::Binary(Cow::Owned(encoded.into_bytes())),
                )
                .transfer_encoding("base64")
            })
        }
    }
}

/// Line ends as CRLF whatever the request used (`\n`, `\r\n` or a lone `\r`).
fn crlf(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let clean = !bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || bytes[i - 1] != b'\r',
        _ => false,
    });
    if clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A MIME boundary no part of this message contains. Derived from the message ID so that the
/// same request always gives the same bytes (golden files); lengthened in the unlikely case
/// that a body or a text attachment happens to contain it.
fn boundary_for(id: MessageId, common: &Common<'_>, own: &Own<'_>) -> String {
    let mut boundary = format!("hikyaku_{id}");
    let contains = |b: &str| {
        own.text.as_deref().is_some_and(|t| t.contains(b))
            || own.html.as_deref().is_some_and(|t| t.contains(b))
            || common
                .attachments
                .iter()
                .any(|a| a.bytes.windows(b.len()).any(|w| w == b.as_bytes()))
    };
    while contains(&boundary) {
        boundary.push_str("_x");
    }
    boundary
}
