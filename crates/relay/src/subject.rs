//! The Subject of an accepted message as the send log keeps it: RFC 2047 encoded words decoded
//! (an ISO-2022-JP subject reads as Japanese), control characters made spaces, cut to the
//! store's length. Only the header section is read, and of it only the Subject field is
//! decoded, so taking it costs the intake a scan of the header and one small allocation.

use hikyaku_store::MAX_SUBJECT_CHARS;
use mail_parser::{HeaderName, MessageParser};
use std::sync::OnceLock;

fn parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .header_text(HeaderName::Subject)
            .default_header_ignore()
    })
}

/// The message's decoded Subject; `None` when it has none, or only blanks.
pub fn subject_of(message: &[u8]) -> Option<String> {
    let headers = parser().parse_headers(message)?;
    let subject = headers.subject()?;
    let kept: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SUBJECT_CHARS)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_are_decoded() {
        let message = b"Received: from x\r\nSubject: =?UTF-8?B?44GU5rOo5paH?= #42\r\nFrom: a@example.jp\r\n\r\nSubject: not this\r\n";
        assert_eq!(subject_of(message).as_deref(), Some("ご注文 #42"));
        let iso = b"Subject: =?ISO-2022-JP?B?GyRCN29MPhsoQg==?=\r\n\r\nbody";
        assert_eq!(subject_of(iso).as_deref(), Some("件名"));
    }

    #[test]
    fn folded_long_and_missing_subjects() {
        let folded = b"Subject: one\r\n two\r\n\r\n";
        assert_eq!(subject_of(folded).as_deref(), Some("one two"));
        let long = format!("Subject: {}\r\n\r\n", "あ".repeat(300));
        let kept = subject_of(long.as_bytes()).unwrap();
        assert_eq!(kept.chars().count(), MAX_SUBJECT_CHARS);
        assert_eq!(subject_of(b"From: a@example.jp\r\n\r\nSubject: body"), None);
        assert_eq!(subject_of(b"Subject:   \r\n\r\n"), None);
        assert_eq!(subject_of(b""), None);
        assert_eq!(
            subject_of(b"Subject: a\x07b\r\n\r\n").as_deref(),
            Some("a b")
        );
    }
}
