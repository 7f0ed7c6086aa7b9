//! The header fields the relay adds on the way through: `Received` (RFC 5321 §4.4), the
//! platform's message ID, and the fields RFC 5322 §3.6 requires when the application sent none:
//! `Date` (the time the relay took the message in) and `Message-ID`.

use hikyaku_model::{MessageId, Timestamp};
use std::net::IpAddr;

/// The name of the header field that carries the platform's message ID on every message.
pub const PLATFORM_ID_HEADER: &str = "X-Hikyaku-Message-Id";

/// What the `Received` field says about how the message came in.
pub struct TraceInfo<'a> {
    pub id: MessageId,
    pub helo: Option<&'a str>,
    pub peer: IpAddr,
    pub hostname: &'a str,
    /// TLS protocol and cipher suite, when the session was encrypted.
    pub tls: Option<(&'a str, &'a str)>,
    /// The RFC 3848 `with` keyword: `ESMTP`, `ESMTPS`, `ESMTPA`, `ESMTPSA` (or `SMTP`).
    pub protocol: &'a str,
    /// Named in a `for` clause only when there is exactly one, so a message to many does not
    /// disclose its other recipients.
    pub recipients: &'a [String],
    pub at: Timestamp,
}

/// Returns the message with the trace fields prepended.
pub fn add_trace_fields(message: &[u8], info: &TraceInfo<'_>) -> Vec<u8> {
    let mut fields = String::with_capacity(512);
    fields.push_str(&received_field(info));
    fields.push_str(&format!("{PLATFORM_ID_HEADER}: {}\r\n", info.id));
    if !has_header_field(message, "message-id") {
        fields.push_str(&format!("Message-ID: <{}@{}>\r\n", info.id, info.hostname));
    }
    // Every message must carry an origination date; many receivers score its absence as spam.
    if !has_header_field(message, "date") {
        fields.push_str(&format!("Date: {}\r\n", info.at.to_rfc5322()));
    }
    let mut out = Vec::with_capacity(fields.len() + message.len());
    out.extend_from_slice(fields.as_bytes());
    out.extend_from_slice(message);
    out
}

/// The `Received` field (RFC 5321 §4.4) for a message taken in as `info` says, CRLF-terminated.
/// The error server prepends the same field to the inbound mail it takes.
pub fn received_field(info: &TraceInfo<'_>) -> String {
    let peer = match info.peer {
        IpAddr::V4(ip) => format!("[{ip}]"),
        IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
    };
    let helo = info
        .helo
        .map(sanitize)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| peer.clone());
    let mut field = format!(
        "Received: from {helo} ({peer})\r\n\tby {} (Hikyaku)",
        sanitize(info.hostname)
    );
    if let Some((protocol, cipher)) = info.tls {
        field.push_str(&format!(
            "\r\n\t(using {} with cipher {})",
            sanitize(protocol),
            sanitize(cipher)
        ));
    }
    field.push_str(&format!(
        "\r\n\twith {} id {}",
        sanitize(info.protocol),
        info.id
    ));
    if let [only] = info.recipients {
        field.push_str(&format!("\r\n\tfor <{}>", sanitize(only)));
    }
    field.push_str(&format!(";\r\n\t{}\r\n", info.at.to_rfc5322()));
    field
}

/// Keeps client-supplied text from breaking out of the header field it is placed in.
fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !matches!(c, '(' | ')' | '<' | '>' | ';'))
        .take(255)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Whether the header section has a field of this (lowercase) name. Folded continuation
/// lines start with white space, so they never look like a field name.
pub fn has_header_field(message: &[u8], lowercase_name: &str) -> bool {
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return false;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = line[..colon].trim_ascii_end();
            if name.eq_ignore_ascii_case(lowercase_name.as_bytes()) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info<'a>(
        recipients: &'a [String],
        tls: Option<(&'a str, &'a str)>,
        protocol: &'a str,
    ) -> TraceInfo<'a> {
        TraceInfo {
            id: "01jd0000000000000000000000".parse().unwrap(),
            helo: Some("app.example.com"),
            peer: "192.0.2.7".parse().unwrap(),
            hostname: "relay.hikyaku.test",
            tls,
            protocol,
            recipients,
            at: Timestamp(1_795_577_520_000),
        }
    }

    #[test]
    fn received_field_follows_rfc5321_and_rfc3848() {
        let one = vec!["a@example.jp".to_string()];
        let out = add_trace_fields(
            b"Subject: hi\r\n\r\nbody\r\n",
            &info(
                &one,
                Some(("TLSv1.3", "TLS13_AES_256_GCM_SHA384")),
                "ESMTPSA",
            ),
        );
        let text = String::from_utf8(out).unwrap();
        let expected = "Received: from app.example.com ([192.0.2.7])\r\n\
            \tby relay.hikyaku.test (Hikyaku)\r\n\
            \t(using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)\r\n\
            \twith ESMTPSA id 01jd0000000000000000000000\r\n\
            \tfor <a@example.jp>;\r\n\
            \tWed, 25 Nov 2026 03:32:00 +0000\r\n\
            X-Hikyaku-Message-Id: 01jd0000000000000000000000\r\n\
            Message-ID: <01jd0000000000000000000000@relay.hikyaku.test>\r\n\
            Date: Wed, 25 Nov 2026 03:32:00 +0000\r\n\
            Subject: hi\r\n\r\nbody\r\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn tls_comment_and_recipient_privacy() {
        let two = vec!["a@x.jp".to_string(), "b@y.jp".to_string()];
        let cases = [
            (None, "ESMTP", "with ESMTP id"),
            (
                Some(("TLSv1.2", "X")),
                "ESMTPS",
                "with ESMTPS id 01jd0000000000000000000000;",
            ),
        ];
        for (tls, protocol, needle) in cases {
            let text =
                String::from_utf8(add_trace_fields(b"\r\n", &info(&two, tls, protocol))).unwrap();
            assert!(text.contains(needle), "{text}");
            assert!(
                !text.contains("for <"),
                "many recipients must not be listed: {text}"
            );
        }
    }

    #[test]
    fn keeps_an_existing_message_id_and_neutralises_hostile_helo() {
        let one = vec!["a@x.jp".to_string()];
        let mut i = info(&one, None, "ESMTP");
        i.helo = Some("evil\r\nBcc: victim@x.jp (");
        let out = String::from_utf8(add_trace_fields(
            b"message-id:  <own@app>\r\nSubject: x\r\n\r\n",
            &i,
        ))
        .unwrap();
        assert_eq!(
            out.matches("Message-ID").count() + out.matches("message-id").count(),
            1,
            "{out}"
        );
        assert!(
            out.contains("from evilBcc: victim@x.jp ([192.0.2.7])"),
            "{out}"
        );
        assert!(!out.contains("\r\nBcc"), "{out}");
    }

    #[test]
    fn adds_a_date_only_when_the_message_has_none() {
        let one = vec!["a@x.jp".to_string()];
        let i = info(&one, None, "ESMTP");
        let added = String::from_utf8(add_trace_fields(b"Subject: x\r\n\r\nDate: in body\r\n", &i))
            .unwrap();
        assert!(
            added.contains("\r\nDate: Wed, 25 Nov 2026 03:32:00 +0000\r\nSubject: x\r\n"),
            "{added}"
        );
        let own = "DATE: Mon, 1 Jan 2024 00:00:00 +0900\r\nSubject: x\r\n\r\n";
        let kept = String::from_utf8(add_trace_fields(own.as_bytes(), &i)).unwrap();
        assert!(kept.ends_with(own), "{kept}");
        assert_eq!(
            kept.to_ascii_lowercase().matches("\ndate:").count(),
            1,
            "{kept}"
        );
    }

    #[test]
    fn header_field_detection() {
        let table: [(&[u8], bool); 7] = [
            (b"Message-ID: <a@b>\r\n\r\n", true),
            (b"Subject: x\r\nMESSAGE-ID : <a@b>\r\n\r\n", true),
            (b"Subject: x\n message-id: folded, not a field\n\n", false),
            (b"Subject: x\r\n\r\nMessage-ID: <in body>\r\n", false),
            (b"\r\nMessage-ID: <after empty header>\r\n", false),
            (b"X-Message-ID: <a@b>\r\n\r\n", false),
            (b"", false),
        ];
        for (message, want) in table {
            assert_eq!(
                has_header_field(message, "message-id"),
                want,
                "{:?}",
                String::from_utf8_lossy(message)
            );
        }
    }
}
