//! What a request may say: address syntax, display names, header fields, tags, metadata, and
//! the limits on each. Every check answers with a sentence for the customer's developer.

use std::collections::BTreeMap;

/// The most recipients (`to` + `cc` + `bcc`, after removing repeats) of one message. The
/// relay's own `max_recipients` may be lower; it is applied when the message is submitted.
pub const MAX_RECIPIENTS: usize = 1000;
/// Longer subjects are folded over many lines; beyond this they are abuse, not subjects.
pub const MAX_SUBJECT_LEN: usize = 2000;
pub const MAX_DISPLAY_NAME_LEN: usize = 256;
pub const MAX_CUSTOM_HEADERS: usize = 50;
/// RFC 5322's line limit less room for the name: a value longer than a line is folded, but a
/// header field is meant to be short.
pub const MAX_HEADER_VALUE_LEN: usize = 2000;
pub const MAX_HEADER_NAME_LEN: usize = 76;
pub const MAX_ATTACHMENTS: usize = 100;
pub const MAX_FILENAME_LEN: usize = 255;
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_LEN: usize = 128;
pub const MAX_METADATA_KEYS: usize = 10;
pub const MAX_METADATA_KEY_LEN: usize = 64;
/// Keys and values together: metadata rides in every event and webhook of the message.
pub const MAX_METADATA_BYTES: usize = 2048;
pub const MAX_SUBSTITUTIONS: usize = 100;
pub const MAX_SUBSTITUTION_LEN: usize = 10 * 1024;

/// Header fields a request may not set: those that give the message its structure (MIME),
/// its identity and origin (the platform sets them, and DKIM signs them), its recipients (a
/// `Bcc` field would disclose them; `to`/`cc` are fields of the request), or its trace.
/// Matched without regard to case; `Content-` and `Resent-` are prefixes.
const REFUSED_HEADERS: &[&str] = &[
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "received",
    "return-path",
    "dkim-signature",
    "domainkey-signature",
    "arc-seal",
    "arc-message-signature",
    "arc-authentication-results",
    "authentication-results",
    "received-spf",
    "x-hikyaku-message-id",
    "delivered-to",
    "envelope-to",
];
const REFUSED_PREFIXES: &[&str] = &["content-", "resent-", "x-hikyaku-"];

/// Why an address is not one we can send to or from. Accepts RFC 5321 dot-atom local parts
/// and host names, with UTF-8 in both (RFC 6531/6532, sent with SMTPUTF8). Refuses quoted local
/// parts and address literals (`[192.0.2.1]`): legal, but in an API they are nearly always a
/// mistake or an attack on the header they end up in.
pub fn check_address(address: &str) -> Result<(), &'static str> {
    if address.is_empty() {
        return Err("must not be empty");
    }
    if address.len() > 254 {
        return Err("is longer than 254 bytes");
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err("has no @");
    };
    if local.is_empty() {
        return Err("has nothing before the @");
    }
    if local.len() > 64 {
        return Err("has a local part longer than 64 bytes");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a misplaced dot in the local part");
    }
    if !local.chars().all(is_atext) {
        return Err(
            "has a character not allowed in the local part (quoted local parts are not accepted)",
        );
    }
    check_domain(domain)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~.".contains(c)
        || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
}

fn check_domain(domain: &str) -> Result<(), &'static str> {
    if domain.is_empty() {
        return Err("has no domain after the @");
    }
    if domain.starts_with('[') {
        return Err("has an address literal as domain; use a host name");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("has a domain without a dot");
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err("has an empty or over-long domain label");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a domain label that starts or ends with a hyphen");
        }
        if !label.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
        }) {
            return Err("has a character not allowed in a domain");
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("has a numeric top-level domain");
    }
    Ok(())
}

/// Text that ends up inside a header field: no line breaks (header injection) and no other
/// control characters (tabs are fine).
pub fn check_header_text(text: &str, max: usize) -> Result<(), String> {
    if text.len() > max {
        return Err(format!("is longer than {max} bytes"));
    }
    if text.contains(['\r', '\n']) {
        return Err("must not contain line breaks".into());
    }
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Body text: anything but NUL, which RFC 5322 forbids and many programs stop reading at.
pub fn check_body_text(text: &str) -> Result<(), String> {
    if text.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    Ok(())
}

/// A custom header field's name: printable ASCII without colon (RFC 5322 `ftext`), and not one
/// of the fields the platform owns.
pub fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_HEADER_NAME_LEN {
        return Err(format!("must be 1 to {MAX_HEADER_NAME_LEN} characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err("may hold only printable ASCII characters without a colon".into());
    }
    let lower = name.to_ascii_lowercase();
    if REFUSED_HEADERS.contains(&lower.as_str())
        || REFUSED_PREFIXES.iter().any(|p| lower.starts_with(p))
    {
        return Err(format!(
            "is set by the platform or from the request's own fields; {name} cannot be a custom header"
        ));
    }
    Ok(())
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')
}

/// Tags: at most [`MAX_TAGS`], each 1 to [`MAX_TAG_LEN`] bytes of `A-Z a-z 0-9 _ . : -`, so
/// they are safe in URLs, logs and metric labels alike. Repeats are an error, not dropped:
/// they are nearly always a bug in the caller.
pub fn check_tags(tags: &[String]) -> Result<(), (Option<usize>, String)> {
    if tags.len() > MAX_TAGS {
        return Err((None, format!("at most {MAX_TAGS} tags")));
    }
    for (i, tag) in tags.iter().enumerate() {
        if tag.is_empty() || tag.len() > MAX_TAG_LEN || !tag.bytes().all(is_label_char) {
            return Err((
                Some(i),
                format!("must be 1 to {MAX_TAG_LEN} characters of A-Z a-z 0-9 _ . : -"),
            ));
        }
        if tags[..i].contains(tag) {
            return Err((Some(i), "repeats an earlier tag".into()));
        }
    }
    Ok(())
}

/// Metadata: at most [`MAX_METADATA_KEYS`] keys of 1 to [`MAX_METADATA_KEY_LEN`] bytes of
/// `A-Z a-z 0-9 _ . : -`, values without control characters, [`MAX_METADATA_BYTES`] in all.
pub fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), (Option<&str>, String)> {
    if metadata.len() > MAX_METADATA_KEYS {
        return Err((None, format!("at most {MAX_METADATA_KEYS} keys")));
    }
    let mut total = 0;
    for (key, value) in metadata {
        if key.is_empty() || key.len() > MAX_METADATA_KEY_LEN || !key.bytes().all(is_label_char) {
            return Err((
                Some(key),
                format!(
                    "key must be 1 to {MAX_METADATA_KEY_LEN} characters of A-Z a-z 0-9 _ . : -"
                ),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err((Some(key), "must not contain control characters".into()));
        }
        total += key.len() + value.len();
    }
    if total > MAX_METADATA_BYTES {
        return Err((
            None,
            format!("keys and values together exceed {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// A MIME type `type/subtype` of RFC 2045 tokens, without parameters, and not a structural
/// one (`multipart/*`, `message/*`), which would let an attachment rewrite the message.
pub fn check_content_type(content_type: &str) -> Result<(), String> {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let Some((kind, subtype)) = content_type.split_once('/') else {
        return Err("must be a MIME type such as application/pdf".into());
    };
    if !token(kind) || !token(subtype) {
        return Err("must be a MIME type such as application/pdf, without parameters".into());
    }
    if kind.eq_ignore_ascii_case("multipart") || kind.eq_ignore_ascii_case("message") {
        return Err("cannot be multipart/* or message/* for an attachment".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for good in [
            "a@example.jp",
            "first.last+tag@mail.example.co.jp",
            "o'brien@example.com",
            "山田@例え.jp",
            "user@xn--r8jz45g.jp",
            "x@a-b.example",
        ] {
            assert_eq!(check_address(good), Ok(()), "{good}");
        }
        let long_local = format!("{}@example.jp", "a".repeat(65));
        let long = format!("a@{}.jp", "b".repeat(260));
        for bad in [
            "",
            "plain",
            "@example.jp",
            "a@",
            "a@localhost",
            "a@example.123",
            "a@[192.0.2.1]",
            "\"quoted\"@example.jp",
            ".a@example.jp",
            "a.@example.jp",
            "a..b@example.jp",
            "a b@example.jp",
            "a@exa mple.jp",
            "a\r\nBcc: victim@example.jp@example.jp",
            "a@example.jp\r\nBcc: victim@example.jp",
            "a@example.jp>",
            "<a@example.jp>",
            "a,b@example.jp",
            "a@-example.jp",
            "a@example-.jp",
            "a@example..jp",
            "a\0@example.jp",
            "a\u{85}@example.jp",
            "a\u{3000}b@example.jp",
            "a@ex_ample.jp",
            long_local.as_str(),
            long.as_str(),
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn header_names() {
        for good in [
            "List-Unsubscribe",
            "X-Campaign",
            "In-Reply-To",
            "Feedback-ID",
        ] {
            assert_eq!(check_header_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Content-Type",
            "content-transfer-encoding",
            "MIME-Version",
            "BCC",
            "From",
            "Message-Id",
            "DKIM-Signature",
            "Resent-To",
            "X-Hikyaku-Message-Id",
            "X-Hikyaku-Anything",
            "Bad:Name",
            "Bad Name",
            "X-Évil",
            "X-Line\r\nBcc",
        ] {
            assert!(check_header_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_header_name(&"X".repeat(77)).is_err());
    }

    #[test]
    fn tags_and_metadata() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_tags(&tags(&["welcome", "jp:signup", "v1.2_a-b"])).is_ok());
        assert!(check_tags(&tags(&["a"; 11][..])).is_err());
        for bad in ["", "with space", "タグ", "a\nb", &"x".repeat(129)] {
            assert!(check_tags(&tags(&[bad])).is_err(), "{bad:?}");
        }
        assert_eq!(check_tags(&tags(&["a", "b", "a"])).unwrap_err().0, Some(2));
        assert!(check_tags(&tags(&[&"x".repeat(128)])).is_ok());

        let meta = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(check_metadata(&meta(&[("user_id", "42"), ("名前", "x")])).is_err());
        assert!(check_metadata(&meta(&[("user_id", "値 with spaces")])).is_ok());
        assert!(check_metadata(&meta(&[("k", "line\nbreak")])).is_err());
        let big = "v".repeat(2040);
        assert!(check_metadata(&meta(&[("k", &big)])).is_ok());
        let too_big = "v".repeat(2048);
        assert!(check_metadata(&meta(&[("k", &too_big)])).is_err());
        let eleven: Vec<(String, String)> =
            (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(check_metadata(&eleven.into_iter().collect()).is_err());
    }

    #[test]
    fn content_types() {
        for good in [
            "application/pdf",
            "image/png",
            "text/csv",
            "application/vnd.ms-excel",
        ] {
            assert!(check_content_type(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "pdf",
            "text/plain; charset=utf-8",
            "multipart/mixed",
            "message/rfc822",
            "text/plain\r\nX: y",
            "a/",
            "/b",
        ] {
            assert!(check_content_type(bad).is_err(), "{bad:?}");
        }
    }
}
