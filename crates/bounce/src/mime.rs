//! The message as the analysers read it: the top-level headers and one flat text of every
//! readable part in order, each part after a `Content-Type:` line of its own, the returned
//! message included as its raw headers. Bounces are written for people and read by pattern,
//! and a flat text keeps the patterns working when the MIME structure is broken.

use mail_parser::{MessageParser, MimeHeaders, PartType};

/// Messages are cut here: the error server takes 2 MB, and a bounce's facts are at its start.
const MAX_INPUT: usize = 4 << 20;
/// The flat body stops growing here, whatever the message holds.
const MAX_BODY: usize = 1 << 20;
/// A part contributes at most this much text.
const MAX_PART: usize = 256 << 10;
/// Parts looked at, in document order; later ones are attachments nobody needs.
const MAX_PARTS: usize = 64;
/// Headers kept per header block.
const MAX_HEADERS: usize = 256;
/// Bytes of a header value kept (a hostile header can be megabytes long).
const MAX_HEADER_VALUE: usize = 16 << 10;

/// One header field: lower-case name, unfolded value.
pub(crate) type Field = (String, String);

pub(crate) struct Mail {
    pub headers: Vec<Field>,
    /// The flat text of the body (see the module comment).
    pub body: String,
    /// Where in `body` the returned message (or its headers) starts, when a MIME part said so.
    pub original_at: Option<usize>,
    /// The body as it stands, undecoded (lossy UTF-8): for bounces whose MIME structure is
    /// too broken for the parser to find their text.
    pub raw_body: String,
    /// Where the report ends in `body` (`mta::report_region`), set when the body is final.
    pub report_end: usize,
}

impl Mail {
    pub fn parse(raw: &[u8]) -> Mail {
        let raw = &raw[..raw.len().min(MAX_INPUT)];
        let header_end = header_end(raw).min(raw.len());
        let (headers, body_start) = header_block(&lossy(&raw[..header_end]));
        let mut mail = Mail {
            headers,
            body: String::new(),
            original_at: None,
            report_end: 0,
            raw_body: lossy(&raw[header_end..raw.len().min(header_end + MAX_PART)]).into_owned(),
        };
        for (name, value) in mail.headers.iter_mut() {
            if value.contains("=?") && matches!(name.as_str(), "subject" | "from" | "to") {
                *value = decode_words(value);
            }
        }
        let _ = body_start;
        // The parser is a dependency reading hostile input: should it ever panic, the message
        // is read as plain text instead of taking the caller down.
        let mime_only = mime_fields_only(raw);
        let parsed = std::panic::catch_unwind(|| parser().parse(mime_only.as_ref()))
            .ok()
            .flatten();
        match parsed {
            Some(message) if !message.parts.is_empty() => {
                let multipart = message.parts[0].is_multipart();
                // A multipart whose `boundary=` is lost (a folded line cut short) has no part
                // the parser can find: its body is then read as it stands, as text.
                let partless = message.parts[0]
                    .content_type()
                    .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
                    && !matches!(&message.parts[0].body, PartType::Multipart(ids) if !ids.is_empty());
                for (n, part) in message.parts.iter().enumerate().take(MAX_PARTS) {
                    if mail.body.len() >= MAX_BODY {
                        break;
                    }
                    let ctype = part
                        .content_type()
                        .map(|ct| {
                            format!(
                                "{}/{}",
                                ct.ctype().to_ascii_lowercase(),
                                ct.subtype().unwrap_or("plain").to_ascii_lowercase()
                            )
                        })
                        .unwrap_or_else(|| "text/plain".to_string());
                    let text: std::borrow::Cow<'_, str> = match &part.body {
                        PartType::Multipart(_) => continue,
                        PartType::Text(t) => t.as_ref().into(),
                        PartType::Html(h) => crate::html::to_text(cut(h, MAX_PART)).into(),
                        PartType::Binary(b) | PartType::InlineBinary(b) => {
                            if !(ctype.starts_with("message/") || ctype.starts_with("text/")) {
                                continue;
                            }
                            lossy(&b[..b.len().min(MAX_PART)])
                        }
                        PartType::Message(m) => {
                            let raw = m.raw_message();
                            lossy(&raw[..raw.len().min(MAX_PART)])
                        }
                    };
                    // The returned message, or its header: besides the registered types,
                    // `text/rfc822` (Zoho's "Undelivered Message" part, its fields indented) and
                    // `message/rfc822-headers` (some Exim-based relays' "message headers" part).
                    let is_original = matches!(part.body, PartType::Message(_))
                        || matches!(
                            ctype.as_str(),
                            "text/rfc822-headers"
                                | "text/rfc822-header"
                                | "text/rfc822"
                                | "message/rfc822-headers"
                                | "message/rfc822"
                        );
                    if multipart || n > 0 {
                        mail.body.push_str("\nContent-Type: ");
                        mail.body
                            .push_str(if matches!(part.body, PartType::Message(_)) {
                                "message/rfc822"
                            } else {
                                &ctype
                            });
                        mail.body.push_str("\n\n");
                    }
                    if is_original && mail.original_at.is_none() {
                        mail.original_at = Some(mail.body.len());
                    }
                    mail.body.push_str(cut(&text, MAX_PART));
                    if !mail.body.ends_with('\n') {
                        mail.body.push('\n');
                    }
                    if is_original {
                        // What follows the returned message is its own parts: not ours to read.
                        break;
                    }
                }
                if partless && mail.body.trim().is_empty() {
                    mail.body =
                        lossy(&raw[header_end..raw.len().min(header_end + MAX_BODY)]).into_owned();
                }
            }
            _ => {
                mail.body =
                    lossy(&raw[header_end..raw.len().min(header_end + MAX_BODY)]).into_owned();
            }
        }
        // Quoted-printable text whose part forgot to say so (seen in Gmail's old bounces).
        if mail.header("content-transfer-encoding").is_none() && looks_quoted_printable(&mail.body)
        {
            mail.rewrite_body(soft_qp);
        }
        if memchr::memchr(b'\r', mail.body.as_bytes()).is_some() {
            mail.rewrite_body(|text| {
                // `text.replace('\r', "")`, copying the runs between carriage returns.
                let mut out = String::with_capacity(text.len());
                let mut from = 0;
                for at in memchr::memchr_iter(b'\r', text.as_bytes()) {
                    out.push_str(&text[from..at]);
                    from = at + 1;
                }
                out.push_str(&text[from..]);
                out
            });
        }
        mail.report_end = crate::mta::report_end(&mail.body, mail.original_at);
        mail
    }

    /// Rewrites the body's text before and after `original_at` apart, so that the mark still
    /// points where the returned message starts (a rewrite that shrinks the text before it
    /// would leave the mark past the end, or inside a character).
    fn rewrite_body(&mut self, rewrite: impl Fn(&str) -> String) {
        match self.original_at {
            Some(at) => {
                let mut body = rewrite(&self.body[..at]);
                self.original_at = Some(body.len());
                body.push_str(&rewrite(&self.body[at..]));
                self.body = body;
            }
            None => self.body = rewrite(&self.body),
        }
    }

    /// The first value of the header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn subject(&self) -> &str {
        self.header("subject").unwrap_or("")
    }

    pub fn from(&self) -> &str {
        self.header("from").unwrap_or("")
    }

    /// The returned message's headers, when the bounce carries them in a MIME part.
    pub fn original_headers(&self) -> Vec<Field> {
        match self.original_at {
            Some(at) => header_block(&self.body[at..]).0,
            None => Vec::new(),
        }
    }
}

/// Whether `text` holds both a soft line break (`=` at the end of a line) and an encoded
/// space (`=20`): one walk over its `=` signs, which are rare in plain text.
fn looks_quoted_printable(text: &str) -> bool {
    let bytes = text.as_bytes();
    let (mut soft_break, mut space) = (false, false);
    for at in memchr::memchr_iter(b'=', bytes) {
        match (bytes.get(at + 1), bytes.get(at + 2)) {
            (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')) => soft_break = true,
            (Some(b'2'), Some(b'0')) => space = true,
            _ => {}
        }
        if soft_break && space {
            return true;
        }
    }
    false
}

/// `text` with quoted-printable soft line breaks and `=XX` escapes decoded (lossy UTF-8).
fn soft_qp(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    lossy(&out).into_owned()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Where the header block of `raw` ends (after its blank line), or its length.
fn header_end(raw: &[u8]) -> usize {
    let mut i = 0;
    while i < raw.len() {
        match memchr::memchr(b'\n', &raw[i..]) {
            Some(nl) => {
                let line = &raw[i..i + nl];
                i += nl + 1;
                if line.is_empty() || line == b"\r" {
                    return i;
                }
            }
            None => return raw.len(),
        }
    }
    raw.len()
}

/// Header fields at the start of `text` (lenient: stops at the first line that is neither a
/// field nor a continuation), and where the body starts.
pub(crate) fn header_block(text: &str) -> (Vec<Field>, usize) {
    let mut fields: Vec<Field> = Vec::new();
    let mut offset = 0;
    for line in crate::text::lines_inclusive(text) {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare.is_empty() {
            offset += line.len();
            break;
        }
        if bare.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                if value.len() < MAX_HEADER_VALUE {
                    value.push(' ');
                    value.push_str(cut(bare.trim(), MAX_HEADER_VALUE));
                }
                offset += line.len();
                continue;
            }
            break;
        }
        let Some((name, value)) =
            memchr::memchr(b':', bare.as_bytes()).map(|at| (&bare[..at], &bare[at + 1..]))
        else {
            // The mbox "From " line may open the message.
            if fields.is_empty() && bare.starts_with("From ") {
                offset += line.len();
                continue;
            }
            break;
        };
        if name.is_empty() || name.bytes().any(|b| b == b' ' || b == b'\t') {
            break;
        }
        if fields.len() < MAX_HEADERS {
            fields.push((
                name.to_ascii_lowercase(),
                cut(value.trim(), MAX_HEADER_VALUE).to_string(),
            ));
        }
        offset += line.len();
    }
    (fields, offset)
}

/// `bytes` as text, invalid sequences replaced. `String::from_utf8_lossy` checks byte by
/// byte; the plain check is several times faster on the valid text that most bounces are, so
/// it goes first.
pub(crate) fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The MIME parser, reading only the MIME header fields: the analyser reads every other
/// field itself (`header_block`), and parsing `Received:`, dates and addresses of every part
/// and returned message was a tenth of its time.
fn parser() -> &'static MessageParser {
    static PARSER: std::sync::OnceLock<MessageParser> = std::sync::OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .with_mime_headers()
            .default_header_ignore()
    })
}

/// The header fields the MIME parser reads of the top-level header block (`Content-*`).
const MIME_FIELDS: &[&[u8]] = &[
    b"content-type",
    b"content-disposition",
    b"content-id",
    b"content-description",
    b"content-location",
    b"content-transfer-encoding",
];

/// `raw` with the top-level header fields the MIME parser ignores left out. A bounce's
/// header block is a dozen or two `Received:` and other fields, and the parser went through
/// each of them byte by byte (a tenth of the analyser's work) only to skip it; the analyser
/// reads the header block itself ([`header_block`]).
///
/// Only a plain header block is filtered (every line a `Name: value` field with a name
/// without white space, or a continuation, up to an empty line): there a field ends where the
/// parser ends it, at a line break not followed by a space or tab. Anything else goes to the
/// parser unchanged, so that it reads exactly what it would have read.
///
/// One broken fold is mended: a `boundary=` parameter on a line of its own, without the
/// leading white space, right after a `Content-Type:` line that ends in `;` (RFC 5965's
/// example report is wrapped that way and copies of it keep the wrapping). Read as written,
/// the line ends the header block and the multipart has no boundary; the parser is given it
/// as the continuation it was meant to be.
fn mime_fields_only(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut kept: Vec<std::ops::Range<usize>> = Vec::new();
    // Starts of kept lines that are given a leading space (the mended fold above).
    let mut folds: Vec<usize> = Vec::new();
    let mut keeping = false;
    let mut in_content_type = false;
    let mut at = 0;
    let body = loop {
        let Some(len) = memchr::memchr(b'\n', &raw[at..]) else {
            // No end of the header block: unchanged.
            return raw.into();
        };
        let line = &raw[at..at + len];
        let next = at + len + 1;
        if line.is_empty() || line == b"\r" {
            break at;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if at == 0 {
                return raw.into();
            }
        } else if in_content_type && unfolded_boundary(line) && ends_with_semicolon(&raw[..at]) {
            folds.push(at);
        } else {
            let Some(colon) = memchr::memchr(b':', line) else {
                return raw.into();
            };
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|b| (0x21..0x7f).contains(b)) {
                return raw.into();
            }
            keeping = MIME_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name));
            in_content_type = name.eq_ignore_ascii_case(b"content-type");
        }
        if keeping {
            match kept.last_mut() {
                Some(range) if range.end == at => range.end = next,
                _ => kept.push(at..next),
            }
        }
        at = next;
    };
    let size: usize = kept.iter().map(|r| r.len()).sum::<usize>() + folds.len() + raw.len() - body;
    let mut out = Vec::with_capacity(size);
    for range in kept {
        let mut from = range.start;
        for &fold in folds.iter().filter(|&&f| range.contains(&f)) {
            out.extend_from_slice(&raw[from..fold]);
            out.push(b' ');
            from = fold;
        }
        out.extend_from_slice(&raw[from..range.end]);
    }
    out.extend_from_slice(&raw[body..]);
    out.into()
}

/// A header line that is only a `boundary=` parameter (no field name, no leading space).
fn unfolded_boundary(line: &[u8]) -> bool {
    line.len() > 9 && line[..9].eq_ignore_ascii_case(b"boundary=")
}

/// Whether the header text before a line ends its last line with `;` (a parameter follows).
fn ends_with_semicolon(before: &[u8]) -> bool {
    before
        .iter()
        .rev()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b';')
}

/// `value` with its RFC 2047 encoded words decoded.
pub(crate) fn decode_words(value: &str) -> String {
    let wrapped = format!("Subject: {value}\n\n");
    MessageParser::default()
        .parse_headers(wrapped.as_bytes())
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_a_multipart_report() {
        let raw = b"From: MAILER-DAEMON@example.jp\nSubject: =?UTF-8?B?44GC?= bounce\n\
MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
--B\nContent-Type: text/plain\n\nsorry\n--B\nContent-Type: message/delivery-status\n\n\
Final-Recipient: rfc822; a@example.jp\nStatus: 5.1.1\n--B\nContent-Type: message/rfc822\n\n\
To: a@example.jp\nSubject: hi\n\nbody\n--B--\n";
        let mail = Mail::parse(raw);
        assert_eq!(mail.subject(), "\u{3042} bounce");
        assert!(
            mail.body
                .contains("Content-Type: message/delivery-status\n\nFinal-Recipient")
        );
        let original = mail.original_headers();
        assert_eq!(original[0], ("to".to_string(), "a@example.jp".to_string()));
    }

    #[test]
    fn single_part_and_headerless_input() {
        let mail = Mail::parse(b"Subject: x\n\nline one\r\nline two\n");
        assert_eq!(mail.body, "line one\nline two\n");
        let mail = Mail::parse(b"");
        assert!(mail.headers.is_empty());
        let mail = Mail::parse(b"no headers here\n");
        assert!(mail.body.len() <= 16);
    }

    #[test]
    fn the_mime_parser_gets_only_the_content_fields() {
        let raw = b"Received: from a\n\tby b\nContent-Type: multipart/report;\n boundary=\"B\"\nSubject: x\nCONTENT-TRANSFER-ENCODING: 7bit\n\nbody\nReceived: kept\n";
        assert_eq!(
            &*mime_fields_only(raw),
            b"Content-Type: multipart/report;\n boundary=\"B\"\nCONTENT-TRANSFER-ENCODING: 7bit\n\nbody\nReceived: kept\n"
        );
        // A block the parser might read otherwise (a line without a colon, a name with a space,
        // a continuation first, no end) goes to it unchanged.
        for odd in [
            &b"From x\nSubject: y\n\nbody\n"[..],
            b"Bad Name: y\n\nbody\n",
            b" folded: y\nSubject: z\n\nbody\n",
            b"Subject: y\nContent-Type: text/plain\n",
        ] {
            assert_eq!(&*mime_fields_only(odd), odd);
        }
        // The same flat text either way.
        let full = b"Received: from a\nSubject: x\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nsorry=20here\n--B--\n";
        let mail = Mail::parse(full);
        assert!(mail.body.contains("sorry here"));
        assert_eq!(mail.subject(), "x");
    }

    #[test]
    fn header_blocks_are_lenient() {
        let (fields, at) = header_block("From x\nA: 1\n  2\nB:3\nnot a header\nC: 4\n");
        assert_eq!(
            fields,
            vec![
                ("a".to_string(), "1 2".to_string()),
                ("b".to_string(), "3".to_string())
            ]
        );
        assert_eq!(at, "From x\nA: 1\n  2\nB:3\n".len());
    }
}
