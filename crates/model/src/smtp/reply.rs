//! SMTP replies as values: built by the server, read by the client, and the same type in
//! between, so that what one side renders the other parses back into an equal value.

use super::EnhancedStatus;
use std::fmt;

/// Longest reply line the parser accepts, terminator included. RFC 5321 allows 512 octets;
/// real servers exceed that with long texts, so we are lenient up to 4 KiB but never buffer a
/// line for ever.
pub const MAX_LINE_LEN: usize = 4096;
/// Longest whole reply (all lines). A 100-line EHLO reply is already absurd; 64 KiB bounds the
/// memory a hostile server can make us hold per connection.
pub const MAX_REPLY_LEN: usize = 64 * 1024;
/// Most lines in one reply.
pub const MAX_REPLY_LINES: usize = 100;

/// One SMTP reply: a three-digit code, an optional enhanced status code and a text that may
/// span several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (200..=599).
    pub code: u16,
    /// The RFC 3463 enhanced status code, given once for all lines.
    pub enhanced: Option<EnhancedStatus>,
    /// The text of every line joined with `\n`, each without its code, separator, and the
    /// enhanced status code.
    pub text: String,
}

/// How lasting a refusal is, in the RFCs' terms: 4xx is transient, 5xx is permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Transient,
    Permanent,
}

impl Reply {
    /// A reply with an enhanced status code. `code` must be a real reply code (200..=599), and
    /// the status class should agree with its first digit; a mismatch is a programming error.
    /// Line breaks in `text` make a multi-line reply; CR and other control characters are
    /// dropped so that a text can never inject a line of its own.
    pub fn new(code: u16, status: EnhancedStatus, text: impl Into<String>) -> Reply {
        debug_assert_eq!(
            u16::from(status.class),
            code / 100,
            "enhanced class vs reply code"
        );
        Self::build(code, Some(status), text.into())
    }

    /// A reply without an enhanced status code (greeting, EHLO, AUTH challenges).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Self::build(code, None, text.into())
    }

    fn build(code: u16, enhanced: Option<EnhancedStatus>, text: String) -> Reply {
        assert!(
            (200..=599).contains(&code),
            "SMTP reply code out of range: {code}"
        );
        let text = if text.chars().any(is_unsafe) {
            text.chars().filter(|c| !is_unsafe(*c)).collect()
        } else {
            text
        };
        Reply {
            code,
            enhanced,
            text,
        }
    }

    /// `250 2.0.0 OK`: the generic positive answer.
    pub fn ok() -> Reply {
        Self::new(250, EnhancedStatus::new(2, 0, 0), "OK")
    }

    /// `250 2.1.0 Sender OK`.
    pub fn sender_ok() -> Reply {
        Self::new(250, EnhancedStatus::new(2, 1, 0), "Sender OK")
    }

    /// `250 2.1.5 Recipient OK`.
    pub fn recipient_ok() -> Reply {
        Self::new(250, EnhancedStatus::new(2, 1, 5), "Recipient OK")
    }

    /// `250 2.0.0 Message accepted <id>`: the answer once the message is durable.
    pub fn message_accepted(queue_id: impl fmt::Display) -> Reply {
        Self::new(
            250,
            EnhancedStatus::new(2, 0, 0),
            format!("Message accepted {queue_id}"),
        )
    }

    /// `451 4.3.0 <text>`: a local problem; the client should retry later.
    pub fn temporary_failure(text: impl Into<String>) -> Reply {
        Self::new(451, EnhancedStatus::new(4, 3, 0), text)
    }

    /// `452 4.3.1 Insufficient system storage`: the spool is full; nothing is lost, retry later.
    pub fn insufficient_storage() -> Reply {
        Self::new(
            452,
            EnhancedStatus::new(4, 3, 1),
            "Insufficient system storage, try again later",
        )
    }

    /// `550 5.7.1 Relaying denied`.
    pub fn relaying_denied() -> Reply {
        Self::new(550, EnhancedStatus::new(5, 7, 1), "Relaying denied")
    }

    /// `554 5.7.1 <text>`: a refusal by policy (suspended contract, ...).
    pub fn policy_refusal(text: impl Into<String>) -> Reply {
        Self::new(554, EnhancedStatus::new(5, 7, 1), text)
    }

    /// `454 4.7.0 Temporary authentication failure`: credentials could not be checked now.
    pub fn auth_temporary_failure() -> Reply {
        Self::new(
            454,
            EnhancedStatus::new(4, 7, 0),
            "Temporary authentication failure",
        )
    }

    /// 2xx: the command succeeded.
    pub fn is_positive(&self) -> bool {
        self.code < 300
    }

    /// 4xx: refused for now; the client keeps the message and retries.
    pub fn is_transient(&self) -> bool {
        self.severity() == Some(Severity::Transient)
    }

    /// 5xx: refused for good.
    pub fn is_permanent(&self) -> bool {
        self.severity() == Some(Severity::Permanent)
    }

    /// 4xx or 5xx: what a refusal is worth; `None` for anything else.
    pub fn severity(&self) -> Option<Severity> {
        match self.code / 100 {
            4 => Some(Severity::Transient),
            5 => Some(Severity::Permanent),
            _ => None,
        }
    }

    /// The lines of the text.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split('\n')
    }

    /// Appends the wire form to `out`: every line with the code, `-` on all but the last, the
    /// enhanced status code, and CRLF. Control characters in the text are dropped here too (the
    /// fields are public), so no text can end a line early or inject one.
    pub fn render_into(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let mut lines = self.lines().peekable();
        while let Some(line) = lines.next() {
            let sep = if lines.peek().is_some() { '-' } else { ' ' };
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{}{sep}", self.code);
            if let Some(status) = self.enhanced {
                let _ = write!(out, "{status}");
                if !line.is_empty() {
                    out.push(b' ');
                }
            }
            if line.chars().any(is_unsafe) {
                let clean: String = line.chars().filter(|c| !is_unsafe(*c)).collect();
                out.extend_from_slice(clean.as_bytes());
            } else {
                out.extend_from_slice(line.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 16);
        self.render_into(&mut out);
        out
    }
}

/// A character a reply text must not carry: a control character other than the line break,
/// which is how a text says "next line".
fn is_unsafe(c: char) -> bool {
    c != '\n' && c.is_control()
}

impl fmt::Display for Reply {
    /// One line for logs and error messages: `451 4.3.0 try later / really`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(enhanced) = self.enhanced {
            write!(f, " {enhanced}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text.replace('\n', " / "))?;
        }
        Ok(())
    }
}

/// Bytes that are not an SMTP reply, or a reply too big to hold: either way the peer is not
/// one we can talk to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line longer than {MAX_LINE_LEN} bytes")]
    LineTooLong,
    #[error("reply longer than {MAX_REPLY_LEN} bytes")]
    ReplyTooLong,
    #[error("reply of more than {MAX_REPLY_LINES} lines")]
    TooManyLines,
    #[error("not an SMTP reply line: {0:?}")]
    NotAReply(String),
    #[error("reply lines disagree on the code: {first} then {then}")]
    CodeMismatch { first: u16, then: u16 },
}

/// Reads one reply from the start of `input`: `Ok(Some((reply, consumed)))` when a whole reply
/// is there, `Ok(None)` when more bytes are needed, and an error for bytes that can never become
/// a reply or that exceed the limits (checked on incomplete input too, so an endless line fails
/// as soon as it passes the limit).
///
/// Lenient where servers are sloppy: LF without CR ends a line, `250` alone or `250 ` with no
/// text is a reply, and text that is not UTF-8 is kept lossily. The enhanced status code is
/// taken from the first line when its class agrees with the code, and stripped from every line
/// that repeats it.
pub fn parse_reply(input: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut pos = 0;
    let mut code = None;
    let mut lines: Vec<String> = Vec::new();
    loop {
        let rest = &input[pos..];
        let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() >= MAX_LINE_LEN {
                return Err(ReplyError::LineTooLong);
            }
            if input.len() > MAX_REPLY_LEN {
                return Err(ReplyError::ReplyTooLong);
            }
            return Ok(None);
        };
        let line_len = newline + 1;
        if line_len > MAX_LINE_LEN {
            return Err(ReplyError::LineTooLong);
        }
        pos += line_len;
        if pos > MAX_REPLY_LEN {
            return Err(ReplyError::ReplyTooLong);
        }
        if lines.len() == MAX_REPLY_LINES {
            return Err(ReplyError::TooManyLines);
        }
        let line = &rest[..newline];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (line_code, last, text) = parse_line(line)?;
        match code {
            None => code = Some(line_code),
            Some(first) if first != line_code => {
                return Err(ReplyError::CodeMismatch {
                    first,
                    then: line_code,
                });
            }
            Some(_) => {}
        }
        lines.push(String::from_utf8_lossy(text).into_owned());
        if last {
            return Ok(Some((assemble(line_code, lines), pos)));
        }
    }
}

/// One line: its code, whether it is the last one, and its text.
fn parse_line(line: &[u8]) -> Result<(u16, bool, &[u8]), ReplyError> {
    let not_a_reply = || {
        let shown = &line[..line.len().min(80)];
        ReplyError::NotAReply(String::from_utf8_lossy(shown).into_owned())
    };
    let digits = line.get(..3).ok_or_else(not_a_reply)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
        return Err(not_a_reply());
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match line.get(3) {
        None => Ok((code, true, &[])),
        Some(b' ') => Ok((code, true, &line[4..])),
        Some(b'-') => Ok((code, false, &line[4..])),
        Some(_) => Err(not_a_reply()),
    }
}

fn assemble(code: u16, mut lines: Vec<String>) -> Reply {
    let enhanced = lines.first().and_then(|first| {
        let token = first.split(' ').next()?;
        EnhancedStatus::parse(token).filter(|e| u16::from(e.class) == code / 100)
    });
    if let Some(enhanced) = enhanced {
        // Servers repeat the enhanced code on every line; the text reads better without it.
        let prefix = enhanced.to_string();
        for line in &mut lines {
            if let Some(rest) = line.strip_prefix(&prefix)
                && (rest.is_empty() || rest.starts_with(' '))
            {
                *line = rest.strip_prefix(' ').unwrap_or(rest).to_string();
            }
        }
    }
    Reply {
        code,
        enhanced,
        text: lines.join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, enhanced: Option<(u8, u16, u16)>, text: &str) -> Reply {
        Reply {
            code,
            enhanced: enhanced.map(|(c, s, d)| EnhancedStatus::new(c, s, d)),
            text: text.to_string(),
        }
    }

    #[test]
    fn complete_replies() {
        let table: &[(&[u8], Reply)] = &[
            (b"250 OK\r\n", reply(250, None, "OK")),
            (b"250 2.1.0 Ok\r\n", reply(250, Some((2, 1, 0)), "Ok")),
            (
                b"550 5.1.1 <a@b>: Recipient address rejected\r\n",
                reply(550, Some((5, 1, 1)), "<a@b>: Recipient address rejected"),
            ),
            // Lenient: LF only, no text, no separator.
            (b"250 OK\n", reply(250, None, "OK")),
            (b"250 \r\n", reply(250, None, "")),
            (b"250\r\n", reply(250, None, "")),
            (b"250\n", reply(250, None, "")),
            // Multi-line, enhanced code repeated on each line and stripped from each.
            (
                b"550-5.1.1 The email account that you tried to reach does not exist.\r\n\
                  550-5.1.1 Please try double-checking the recipient's email\r\n\
                  550 5.1.1 address for typos.\r\n",
                reply(
                    550,
                    Some((5, 1, 1)),
                    "The email account that you tried to reach does not exist.\n\
                     Please try double-checking the recipient's email\n\
                     address for typos.",
                ),
            ),
            // EHLO: keywords kept as lines.
            (
                b"250-mx.example Hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n",
                reply(
                    250,
                    None,
                    "mx.example Hello\nPIPELINING\nSIZE 1000\n8BITMIME",
                ),
            ),
            // An enhanced code whose class disagrees with the reply code is just text.
            (b"550 2.0.0 odd\r\n", reply(550, None, "2.0.0 odd")),
            // Something that only looks like an enhanced code.
            (b"451 4.3 busy\r\n", reply(451, None, "4.3 busy")),
            (b"451 4.3.0.1 x\r\n", reply(451, None, "4.3.0.1 x")),
            (
                b"421 4.7.0 mx.example closing\r\n",
                reply(421, Some((4, 7, 0)), "mx.example closing"),
            ),
            // The code alone followed by the enhanced code alone.
            (b"250 2.0.0\r\n", reply(250, Some((2, 0, 0)), "")),
            // Non-UTF-8 text is kept, lossily.
            (b"554 caf\xe9\r\n", reply(554, None, "caf\u{fffd}")),
            (
                b"550-5.1.1 \xff\xfe\r\n550 5.1.1 ok\r\n",
                reply(550, Some((5, 1, 1)), "\u{fffd}\u{fffd}\nok"),
            ),
            // Control characters are the server's words: kept as read (rendering drops them).
            (b"550 a\rb\x00c\r\n", reply(550, None, "a\rb\x00c")),
            // Empty continuation lines are lines.
            (b"250-\r\n250 \r\n", reply(250, None, "\n")),
            // A later line with another enhanced code keeps it as text.
            (
                b"451-4.3.0 busy\r\n451 4.7.0 slow\r\n",
                reply(451, Some((4, 3, 0)), "busy\n4.7.0 slow"),
            ),
            // Only the separator after the code matters; tabs are text.
            (b"250 \tx\r\n", reply(250, None, "\tx")),
        ];
        for (input, expected) in table {
            let got = parse_reply(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(
                got,
                Some((expected.clone(), input.len())),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn only_the_first_reply_is_consumed() {
        let input = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n";
        let (first, used) = parse_reply(input).unwrap().unwrap();
        assert_eq!((first.code, used), (250, 14));
        let (second, used2) = parse_reply(&input[used..]).unwrap().unwrap();
        assert_eq!(second.enhanced, Some(EnhancedStatus::new(2, 1, 5)));
        let (third, _) = parse_reply(&input[used + used2..]).unwrap().unwrap();
        assert_eq!((third.code, third.text.as_str()), (354, "go ahead"));
    }

    #[test]
    fn incomplete_input_needs_more() {
        let table: &[&[u8]] = &[
            b"",
            b"2",
            b"250",
            b"250 OK",
            b"250 OK\r",
            b"250-first\r\n",
            b"250-first\r\n250-second\r\n250",
        ];
        for input in table {
            assert_eq!(parse_reply(input), Ok(None), "{input:?}");
        }
    }

    #[test]
    fn garbage_and_hostile_input_fail() {
        let long_line = [b"250 ".as_slice(), &[b'a'; MAX_LINE_LEN], b"\r\n"].concat();
        let endless_line = [b"250-".as_slice(), &[b'a'; MAX_LINE_LEN]].concat();
        let many_lines = [b"250-x\r\n".repeat(MAX_REPLY_LINES), b"250 x\r\n".to_vec()].concat();
        let big_reply = [b"250-".as_slice(), &[b'a'; 4000], b"\r\n"]
            .concat()
            .repeat(17);
        let table: Vec<(&[u8], ReplyError)> = vec![
            (b"hello\r\n", ReplyError::NotAReply("hello".into())),
            (b"25\r\n", ReplyError::NotAReply("25".into())),
            (b"2x0 OK\r\n", ReplyError::NotAReply("2x0 OK".into())),
            (b"150 early\r\n", ReplyError::NotAReply("150 early".into())),
            (b"650 late\r\n", ReplyError::NotAReply("650 late".into())),
            (b"250_OK\r\n", ReplyError::NotAReply("250_OK".into())),
            (b"* OK IMAP\r\n", ReplyError::NotAReply("* OK IMAP".into())),
            (b"000 zero\r\n", ReplyError::NotAReply("000 zero".into())),
            (b"999 high\r\n", ReplyError::NotAReply("999 high".into())),
            (b" 250 OK\r\n", ReplyError::NotAReply(" 250 OK".into())),
            (b"250\tOK\r\n", ReplyError::NotAReply("250\tOK".into())),
            (b"\r\n", ReplyError::NotAReply("".into())),
            (
                b"\xff50 bad\r\n",
                ReplyError::NotAReply("\u{fffd}50 bad".into()),
            ),
            (
                b"250-a\r\n550 b\r\n",
                ReplyError::CodeMismatch {
                    first: 250,
                    then: 550,
                },
            ),
            (b"250-a\r\nb\r\n", ReplyError::NotAReply("b".into())),
            (
                b"250-a\r\n251 b\r\n",
                ReplyError::CodeMismatch {
                    first: 250,
                    then: 251,
                },
            ),
            (&long_line, ReplyError::LineTooLong),
            (&endless_line, ReplyError::LineTooLong),
            (&many_lines, ReplyError::TooManyLines),
            (&big_reply, ReplyError::ReplyTooLong),
        ];
        for (input, expected) in table {
            assert_eq!(
                parse_reply(input),
                Err(expected),
                "{:.60?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn limits_are_inclusive() {
        // A line of exactly MAX_LINE_LEN bytes (CRLF included) is accepted.
        let text = "a".repeat(MAX_LINE_LEN - 6);
        let line = format!("250 {text}\r\n");
        assert_eq!(line.len(), MAX_LINE_LEN);
        let (reply, used) = parse_reply(line.as_bytes()).unwrap().unwrap();
        assert_eq!((reply.text.len(), used), (text.len(), MAX_LINE_LEN));
        // Exactly MAX_REPLY_LINES lines are accepted.
        let lines = [
            b"250-x\r\n".repeat(MAX_REPLY_LINES - 1),
            b"250 x\r\n".to_vec(),
        ]
        .concat();
        let (reply, _) = parse_reply(&lines).unwrap().unwrap();
        assert_eq!(reply.lines().count(), MAX_REPLY_LINES);
    }

    #[test]
    fn severity_and_display() {
        let r = reply(451, Some((4, 3, 0)), "try later\nreally");
        assert_eq!(r.severity(), Some(Severity::Transient));
        assert_eq!(r.to_string(), "451 4.3.0 try later / really");
        assert_eq!(reply(550, None, "").severity(), Some(Severity::Permanent));
        assert_eq!(reply(250, None, "").severity(), None);
        assert!(reply(250, None, "").is_positive());
        assert_eq!(reply(354, None, "go").to_string(), "354 go");
    }
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

    #[test]
    fn what_is_rendered_parses_back_equal() {
        let table = [
            Reply::ok(),
            Reply::plain(220, "mx.example ESMTP Hikyaku"),
            Reply::plain(334, ""),
            Reply::plain(250, "mx.example Hello\nPIPELINING\nSIZE 1000\n8BITMIME"),
            Reply::new(
                550,
                EnhancedStatus::new(5, 1, 1),
                "no such user\nreally none",
            ),
            Reply::new(451, EnhancedStatus::new(4, 3, 0), ""),
            Reply::new(421, EnhancedStatus::new(4, 7, 0), "slow down\n\nplease"),
            Reply::plain(554, "caf\u{e9} \u{65e5}\u{672c}"),
            Reply::message_accepted("01JXYZ"),
        ];
        for reply in table {
            let wire = reply.to_bytes();
            assert_eq!(
                parse_reply(&wire),
                Ok(Some((reply.clone(), wire.len()))),
                "{:?}",
                String::from_utf8_lossy(&wire)
            );
        }
    }

    #[test]
    fn public_fields_cannot_inject_lines() {
        let reply = Reply {
            code: 250,
            enhanced: None,
            text: "fine\r\n250 injected\rstill\u{0}one".into(),
        };
        assert_eq!(
            String::from_utf8(reply.to_bytes()).unwrap(),
            "250-fine\r\n250 250 injectedstillone\r\n"
        );
    }
}
