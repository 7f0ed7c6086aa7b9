//! SMTP replies as the client reads them: a sans-I/O parser over the bytes received so far, so
//! every odd or hostile server behaviour is a row in a table of raw bytes.

use std::fmt;

/// Longest reply line we accept, terminator included. RFC 5321 allows 512 octets; real servers
/// exceed that with long texts, so we are lenient up to 4 KiB but never buffer a line for ever.
pub const MAX_LINE_LEN: usize = 4096;
/// Longest whole reply (all lines). A 100-line EHLO reply is already absurd; 64 KiB bounds the
/// memory a hostile server can make us hold per connection.
pub const MAX_REPLY_LEN: usize = 64 * 1024;
/// Most lines in one reply.
pub const MAX_REPLY_LINES: usize = 100;

/// One complete server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (200..=599).
    pub code: u16,
    /// The RFC 3463 enhanced status code of the first line, when its class agrees with the code.
    pub enhanced: Option<EnhancedStatus>,
    /// The text of every line, joined with `\n`, each without its code, separator, and the
    /// enhanced status code when the line repeats the first line's.
    pub text: String,
}

/// How lasting a refusal is, in the RFCs' terms: 4xx is transient, 5xx is permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Transient,
    Permanent,
}

impl Reply {
    /// A reply made up here rather than read from a server (local refusals), so the send log
    /// still has a code, an enhanced status and a text.
    pub(crate) fn local(code: u16, enhanced: EnhancedStatus, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: Some(enhanced),
            text: text.into(),
        }
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx or 5xx: what a refusal is worth; `None` for anything else.
    pub fn severity(&self) -> Option<Severity> {
        match self.code / 100 {
            4 => Some(Severity::Transient),
            5 => Some(Severity::Permanent),
            _ => None,
        }
    }

    /// 421, or a transient 4.7.x ("too many connections", "rate limited"): the destination wants
    /// less of us, not a later retry of this one recipient alone.
    pub fn is_throttling(&self) -> bool {
        self.code == 421
            || (self.code / 100 == 4
                && self
                    .enhanced
                    .is_some_and(|e| e.class == 4 && e.subject == 7))
    }

    /// The lines of the text.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split('\n')
    }
}

impl fmt::Display for Reply {
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

/// An RFC 3463 enhanced status code: `class.subject.detail`, e.g. 5.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedStatus {
    pub const fn new(class: u8, subject: u16, detail: u16) -> EnhancedStatus {
        EnhancedStatus {
            class,
            subject,
            detail,
        }
    }

    /// Parses `2.0.0`-style text: class 2, 4 or 5; subject and detail of 1 to 3 digits.
    pub fn parse(text: &str) -> Option<EnhancedStatus> {
        let mut parts = text.split('.');
        let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let number = |s: &str, max_len: usize| {
            (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        let class = number(class, 1)?;
        if !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(EnhancedStatus {
            class: class as u8,
            subject: number(subject, 3)?,
            detail: number(detail, 3)?,
        })
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// Bytes that are not an SMTP reply, or a reply too big to hold: either way the server is not
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
/// text is a reply.
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
            let code = line_code;
            return Ok(Some((assemble(code, lines), pos)));
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
}
