//! SMTP replies as values that render themselves (RFC 5321 §4.2, RFC 3463 enhanced codes).

use std::fmt;

/// An RFC 3463 enhanced status code, `class.subject.detail` (e.g. `5.7.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedStatus {
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        EnhancedStatus {
            class,
            subject,
            detail,
        }
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One SMTP reply: a three-digit code, an optional enhanced status code and a text that may span
/// several lines (each line is rendered with the code, `-` continuation, and the enhanced code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    status: Option<EnhancedStatus>,
    text: String,
}

impl Reply {
    /// A reply with an enhanced status code. `code` must be a real reply code (200..=599), and
    /// the status class should agree with its first digit; a mismatch is a programming error.
    /// Line breaks in `text` make a multi-line reply; CR and other control characters are
    /// dropped so that a text can never inject a line of its own.
    pub fn new(code: u16, status: EnhancedStatus, text: impl Into<String>) -> Self {
        debug_assert_eq!(
            u16::from(status.class),
            code / 100,
            "enhanced class vs reply code"
        );
        Self::build(code, Some(status), text.into())
    }

    /// A reply without an enhanced status code (greeting, EHLO, AUTH challenges).
    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Self::build(code, None, text.into())
    }

    fn build(code: u16, status: Option<EnhancedStatus>, text: String) -> Self {
        assert!(
            (200..=599).contains(&code),
            "SMTP reply code out of range: {code}"
        );
        let clean = if text.bytes().any(|b| b != b'\n' && (b < 0x20 || b == 0x7f)) {
            text.chars()
                .filter(|c| *c == '\n' || !c.is_control())
                .collect()
        } else {
            text
        };
        Reply {
            code,
            status,
            text: clean,
        }
    }

    /// `250 2.0.0 OK`: the generic positive answer.
    pub fn ok() -> Self {
        Self::new(250, EnhancedStatus::new(2, 0, 0), "OK")
    }

    /// `250 2.1.0 Sender OK`.
    pub fn sender_ok() -> Self {
        Self::new(250, EnhancedStatus::new(2, 1, 0), "Sender OK")
    }

    /// `250 2.1.5 Recipient OK`.
    pub fn recipient_ok() -> Self {
        Self::new(250, EnhancedStatus::new(2, 1, 5), "Recipient OK")
    }

    /// `250 2.0.0 Message accepted <id>`: what a handler answers once the message is durable.
    pub fn message_accepted(queue_id: impl fmt::Display) -> Self {
        Self::new(
            250,
            EnhancedStatus::new(2, 0, 0),
            format!("Message accepted {queue_id}"),
        )
    }

    /// `451 4.3.0 <text>`: a local problem; the client should retry later.
    pub fn temporary_failure(text: impl Into<String>) -> Self {
        Self::new(451, EnhancedStatus::new(4, 3, 0), text)
    }

    /// `452 4.3.1 Insufficient system storage`: the spool is full; nothing is lost, retry later.
    pub fn insufficient_storage() -> Self {
        Self::new(
            452,
            EnhancedStatus::new(4, 3, 1),
            "Insufficient system storage, try again later",
        )
    }

    /// `550 5.7.1 Relaying denied`.
    pub fn relaying_denied() -> Self {
        Self::new(550, EnhancedStatus::new(5, 7, 1), "Relaying denied")
    }

    /// `554 5.7.1 <text>`: a refusal by policy (suspended contract, ...).
    pub fn policy_refusal(text: impl Into<String>) -> Self {
        Self::new(554, EnhancedStatus::new(5, 7, 1), text)
    }

    /// `454 4.7.0 Temporary authentication failure`: credentials could not be checked now.
    pub fn auth_temporary_failure() -> Self {
        Self::new(
            454,
            EnhancedStatus::new(4, 7, 0),
            "Temporary authentication failure",
        )
    }

    pub fn code(&self) -> u16 {
        self.code
    }

    pub fn status(&self) -> Option<EnhancedStatus> {
        self.status
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// 2xx: the command succeeded.
    pub fn is_positive(&self) -> bool {
        self.code < 300
    }

    /// 4xx: refused for now; the client keeps the message and retries.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: refused for good.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// Appends the wire form (every line CRLF-terminated) to `out`.
    pub fn render_into(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let mut lines = self.text.split('\n').peekable();
        while let Some(line) = lines.next() {
            let sep = if lines.peek().is_some() { '-' } else { ' ' };
            // Writing into a Vec cannot fail.
            let _ = match self.status {
                Some(status) if line.is_empty() => write!(out, "{}{sep}{status}\r\n", self.code),
                Some(status) => write!(out, "{}{sep}{status} {line}\r\n", self.code),
                None if line.is_empty() => write!(out, "{}{sep}\r\n", self.code),
                None => write!(out, "{}{sep}{line}\r\n", self.code),
            };
        }
    }

    /// The wire form as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 16);
        self.render_into(&mut out);
        out
    }
}

impl fmt::Display for Reply {
    /// The wire form, CRLF line endings included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_single_and_multi_line_replies() {
        let table: &[(Reply, &str)] = &[
            (Reply::ok(), "250 2.0.0 OK\r\n"),
            (
                Reply::plain(220, "mx.example ESMTP Hikyaku"),
                "220 mx.example ESMTP Hikyaku\r\n",
            ),
            (Reply::plain(334, ""), "334 \r\n"),
            (
                Reply::new(550, EnhancedStatus::new(5, 7, 1), "line one\nline two"),
                "550-5.7.1 line one\r\n550 5.7.1 line two\r\n",
            ),
            (Reply::plain(250, "a\nb\nc"), "250-a\r\n250-b\r\n250 c\r\n"),
            (
                Reply::new(554, EnhancedStatus::new(5, 7, 1), "evil\r\n250 injected"),
                "554-5.7.1 evil\r\n554 5.7.1 250 injected\r\n",
            ),
            (
                Reply::new(451, EnhancedStatus::new(4, 3, 0), ""),
                "451 4.3.0\r\n",
            ),
        ];
        for (reply, wire) in table {
            assert_eq!(
                String::from_utf8(reply.to_bytes()).unwrap(),
                *wire,
                "{reply:?}"
            );
            assert_eq!(reply.to_string(), *wire);
        }
    }

    #[test]
    fn classifies_itself() {
        assert!(Reply::ok().is_positive());
        assert!(Reply::insufficient_storage().is_transient());
        assert!(Reply::relaying_denied().is_permanent());
        assert!(!Reply::relaying_denied().is_transient());
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn refuses_impossible_codes() {
        let _ = Reply::plain(600, "no");
    }
}
