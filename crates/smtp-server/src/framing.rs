//! Byte framing without I/O: command lines within the RFC 5321 line limit, and the message
//! text of DATA with dot-unstuffing, a size cap that never buffers past the limit, and the
//! checks that are answered after the end of data.

/// RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF; command lines here
/// get the same bound (it is also the AUTH continuation bound).
pub(crate) const MAX_LINE: usize = 1000;

/// What the next bytes of command input amount to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framed<'a> {
    /// A whole line with its line ending (LF, possibly preceded by CR).
    Line(&'a [u8]),
    /// A line went past [`MAX_LINE`]; what arrived of it was dropped and the rest will be.
    TooLong,
    /// No complete line yet; the unconsumed bytes must be offered again with more after them.
    NeedMore,
}

/// Splits command input into lines without copying. A partial line is left unconsumed in the
/// caller's buffer, which therefore never has to hold more than [`MAX_LINE`] octets of it.
#[derive(Debug, Default)]
pub(crate) struct LineFramer {
    /// Inside a line that was already reported [`Framed::TooLong`]: skip to its end.
    discarding: bool,
}

impl LineFramer {
    pub(crate) fn next<'a>(&mut self, input: &mut &'a [u8]) -> Framed<'a> {
        if self.discarding {
            match find_lf(input) {
                Some(end) => {
                    *input = &input[end + 1..];
                    self.discarding = false;
                }
                None => {
                    *input = &[];
                    return Framed::NeedMore;
                }
            }
        }
        let window = &input[..input.len().min(MAX_LINE)];
        match find_lf(window) {
            Some(end) => {
                let (line, rest) = input.split_at(end + 1);
                *input = rest;
                Framed::Line(line)
            }
            None if input.len() >= MAX_LINE => {
                *input = &input[MAX_LINE..];
                self.discarding = true;
                Framed::TooLong
            }
            None => Framed::NeedMore,
        }
    }

    /// Forgets a line being discarded (the input before a STARTTLS handshake is thrown away).
    pub(crate) fn clear(&mut self) {
        self.discarding = false;
    }
}

fn find_lf(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Why a message that reached its end of data is refused by the engine itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageFault {
    /// More octets than the configured maximum.
    TooBig,
    /// A text line longer than [`MAX_LINE`] octets (counted with its CRLF).
    LineTooLong,
}

/// Where the reader stands within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// At the start of a line: a `.` here is stuffing, or with `after_crlf` perhaps the end of
    /// data. `after_crlf`: the previous line ended in CRLF (or this is the first line).
    LineStart { after_crlf: bool },
    /// A `.` opened the line and was dropped.
    AfterDot { after_crlf: bool },
    /// Within a line's text.
    InLine,
    /// A CR ended the text so far; the next octet says whether it is half of a CRLF or a bare
    /// CR. `lone_dot`: the line is a `.` alone after a CRLF, so LF now ends the data.
    AfterCr { lone_dot: bool },
}

/// Receives the text of one message after `354`: dot-unstuffs it, ends at CRLF `.` CRLF only,
/// keeps at most `limit` octets and counts (but drops) the rest.
///
/// Every line ending comes out as CRLF: a bare LF or a bare CR (one not followed by LF) ends a
/// line exactly as CRLF does, as Postfix has done by default since 3.9, because many
/// applications write LF-only text. Only the end of data keeps its strict form: a `.` alone on
/// a line ends the message when both the line before it and the dot itself end in a real CRLF.
/// `LF . LF`, `CR . LF`, `LF . CRLF`, `CR . CRLF` and the like are a line holding a dot (the
/// stuffing dot dropped, as at every line start) inside the message, so whatever follows them,
/// a smuggled second transaction included, stays message text. The stored message then has
/// CRLF only, and no server further along can find an end of data in it that we did not.
#[derive(Debug)]
pub(crate) struct MessageReader {
    body: Vec<u8>,
    limit: usize,
    size: usize,
    line_len: usize,
    position: Position,
    too_big: bool,
    line_too_long: bool,
    normalised: bool,
}

impl MessageReader {
    /// `expected` is the client's SIZE declaration (already within `limit`), used to size the
    /// buffer once.
    pub(crate) fn new(limit: usize, expected: Option<u64>) -> Self {
        let capacity = expected.map_or(8 * 1024, |size| usize::try_from(size).unwrap_or(limit));
        MessageReader {
            body: Vec::with_capacity(capacity.min(limit)),
            limit,
            size: 0,
            line_len: 0,
            position: Position::LineStart { after_crlf: true },
            too_big: false,
            line_too_long: false,
            normalised: false,
        }
    }

    /// Consumes input up to and including the end of data. Returns `None` when all the input
    /// was consumed without reaching it, otherwise the message or why it is refused.
    pub(crate) fn ingest(&mut self, input: &mut &[u8]) -> Option<Result<Vec<u8>, MessageFault>> {
        while let Some((&first, rest)) = input.split_first() {
            match self.position {
                Position::LineStart { after_crlf } if first == b'.' => {
                    self.line_len += 1;
                    self.position = Position::AfterDot { after_crlf };
                    *input = rest;
                }
                Position::LineStart { .. } | Position::AfterDot { .. }
                    if first != b'\r' && first != b'\n' =>
                {
                    self.position = Position::InLine;
                }
                Position::LineStart { .. } | Position::AfterDot { .. } | Position::InLine => {
                    let end = input
                        .iter()
                        .position(|&b| b == b'\r' || b == b'\n')
                        .unwrap_or(input.len());
                    let (text, rest) = input.split_at(end);
                    self.keep(text);
                    self.line_len += text.len();
                    let lone_dot = matches!(self.position, Position::AfterDot { after_crlf: true });
                    match rest.split_first() {
                        Some((b'\r', rest)) => {
                            self.position = Position::AfterCr {
                                lone_dot: lone_dot && text.is_empty(),
                            };
                            *input = rest;
                        }
                        Some((_, rest)) => {
                            // A bare LF.
                            self.end_line(false);
                            *input = rest;
                        }
                        None => {
                            self.position = Position::InLine;
                            *input = rest;
                        }
                    }
                }
                Position::AfterCr { lone_dot: true } if first == b'\n' => {
                    *input = rest;
                    return Some(self.finish());
                }
                Position::AfterCr { .. } if first == b'\n' => {
                    *input = rest;
                    self.end_line(true);
                }
                Position::AfterCr { .. } => {
                    // A bare CR; the octet after it starts the next line.
                    self.end_line(false);
                }
            }
        }
        None
    }

    /// Ends the current line with CRLF; `crlf` says whether the client sent one.
    fn end_line(&mut self, crlf: bool) {
        self.keep(b"\r\n");
        self.line_len += 2;
        if self.line_len > MAX_LINE {
            self.line_too_long = true;
        }
        self.line_len = 0;
        self.normalised |= !crlf;
        self.position = Position::LineStart { after_crlf: crlf };
    }

    /// Octets of message text received so far (line ends counted as CRLF), including any beyond
    /// the limit.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Whether a bare LF or bare CR was rewritten to CRLF.
    pub(crate) fn normalised(&self) -> bool {
        self.normalised
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len());
        if self.size > self.limit {
            if !self.too_big {
                self.too_big = true;
                self.body = Vec::new();
            }
        } else {
            self.body.extend_from_slice(bytes);
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, MessageFault> {
        if self.too_big {
            Err(MessageFault::TooBig)
        } else if self.line_too_long {
            Err(MessageFault::LineTooLong)
        } else {
            Ok(std::mem::take(&mut self.body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line, or `Err` for one reported too long.
    type Frames = Vec<Result<Vec<u8>, ()>>;

    fn frame_all(chunks: &[&[u8]]) -> Frames {
        let mut framer = LineFramer::default();
        let mut pending = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            pending.extend_from_slice(chunk);
            let mut input = &pending[..];
            loop {
                match framer.next(&mut input) {
                    Framed::Line(line) => out.push(Ok(line.to_vec())),
                    Framed::TooLong => out.push(Err(())),
                    Framed::NeedMore => break,
                }
            }
            pending = input.to_vec();
            assert!(
                pending.len() < MAX_LINE,
                "the caller never holds a whole line limit"
            );
        }
        out
    }

    #[test]
    fn frames_command_lines() {
        let long = vec![b'x'; 2500];
        let exactly = [vec![b'y'; MAX_LINE - 2], b"\r\n".to_vec()].concat();
        let one_over = [vec![b'z'; MAX_LINE - 1], b"\r\n".to_vec()].concat();
        let table: Vec<(Vec<&[u8]>, Frames)> = vec![
            (vec![b"NOOP\r\n"], vec![Ok(b"NOOP\r\n".to_vec())]),
            (
                vec![b"NO", b"OP\r", b"\nQU", b"IT\r\n"],
                vec![Ok(b"NOOP\r\n".to_vec()), Ok(b"QUIT\r\n".to_vec())],
            ),
            (
                vec![b"A\nB\r\n"],
                vec![Ok(b"A\n".to_vec()), Ok(b"B\r\n".to_vec())],
            ),
            (vec![b"partial"], vec![]),
            (vec![&exactly], vec![Ok(exactly.clone())]),
            (vec![&one_over], vec![Err(())]),
            (
                vec![&long, b"\r\nNOOP\r\n"],
                vec![Err(()), Ok(b"NOOP\r\n".to_vec())],
            ),
            (
                vec![&long, &long, b"tail\r\nRSET\r\n"],
                vec![Err(()), Ok(b"RSET\r\n".to_vec())],
            ),
        ];
        for (chunks, expected) in table {
            assert_eq!(
                frame_all(&chunks),
                expected,
                "{:?}",
                String::from_utf8_lossy(&chunks.concat())
            );
        }
    }

    fn read_message(
        chunks: &[&[u8]],
        limit: usize,
    ) -> (Option<Result<Vec<u8>, MessageFault>>, Vec<u8>) {
        let mut reader = MessageReader::new(limit, None);
        for (i, chunk) in chunks.iter().enumerate() {
            let mut input = *chunk;
            if let Some(end) = reader.ingest(&mut input) {
                let rest = [input, &chunks[i + 1..].concat()].concat();
                return (Some(end), rest);
            }
            assert!(input.is_empty());
        }
        (None, Vec::new())
    }

    #[test]
    fn reads_messages() {
        type Expected = Option<Result<&'static [u8], MessageFault>>;
        type Case = (&'static [&'static [u8]], Expected, &'static [u8]);
        let table: &[Case] = &[
            (&[b".\r\n"], Some(Ok(b"")), b""),
            (&[b"a\r\n.\r\nQUIT\r\n"], Some(Ok(b"a\r\n")), b"QUIT\r\n"),
            (&[b"a\r\n", b".", b"\r", b"\n"], Some(Ok(b"a\r\n")), b""),
            (&[b"a\r", b"\n.\r\n"], Some(Ok(b"a\r\n")), b""),
            (
                &[b"..x\r\n.y\r\n..\r\n.\r\n"],
                Some(Ok(b".x\r\ny\r\n.\r\n")),
                b"",
            ),
            (&[b"no end\r\n"], None, b""),
            // A bare CR ends a line; the octet after it starts the next.
            (&[b"x\r\n.\rx\r\n.\r\n"], Some(Ok(b"x\r\n\r\nx\r\n")), b""),
            (
                &[b"8bit \xe6\x97\xa5\x00\r\n.\r\n"],
                Some(Ok(b"8bit \xe6\x97\xa5\x00\r\n")),
                b"",
            ),
            // LF-only text is taken line by line, stuffing dots dropped at every line start.
            (
                &[b"Subject: lf\n\nbody\n..dot\r\n.\r\n"],
                Some(Ok(b"Subject: lf\r\n\r\nbody\r\n.dot\r\n")),
                b"",
            ),
            (&[b"a\rb\r\n.\r\n"], Some(Ok(b"a\r\nb\r\n")), b""),
            (&[b"a\r\r\nb\r\n.\r\n"], Some(Ok(b"a\r\n\r\nb\r\n")), b""),
            (&[b"\n\n.\r\n"], None, b""),
            (&[b"\n\n\r\n.\r\n"], Some(Ok(b"\r\n\r\n\r\n")), b""),
            (&[b"a\n\r\n.\r\n"], Some(Ok(b"a\r\n\r\n")), b""),
            (&[b"a\r", b"b\r\n.\r\n"], Some(Ok(b"a\r\nb\r\n")), b""),
            (
                &[b"a\n", b".", b"\r\n", b".\r\n"],
                Some(Ok(b"a\r\n\r\n")),
                b"",
            ),
            // No end of data but CRLF . CRLF: every other dot alone on a line is a line of the
            // message (its stuffing dot dropped), and what follows it stays message text.
            (
                &[b"a\n.\nMAIL FROM:<x@y>\r\n.\r\nQUIT\r\n"],
                Some(Ok(b"a\r\n\r\nMAIL FROM:<x@y>\r\n")),
                b"QUIT\r\n",
            ),
            (&[b"a\r.\nb\r\n.\r\n"], Some(Ok(b"a\r\n\r\nb\r\n")), b""),
            (&[b"a\n.\r\nb\r\n.\r\n"], Some(Ok(b"a\r\n\r\nb\r\n")), b""),
            (&[b"a\r.\r\nb\r\n.\r\n"], Some(Ok(b"a\r\n\r\nb\r\n")), b""),
            (&[b"a\r\n.\nb\r\n.\r\n"], Some(Ok(b"a\r\n\r\nb\r\n")), b""),
            (&[b"a\r\n.\r.\r\n.\r\n"], Some(Ok(b"a\r\n\r\n\r\n")), b""),
            (&[b"a\r\n.\r\r\n.\r\n"], Some(Ok(b"a\r\n\r\n\r\n")), b""),
            (
                &[b"a\r\n\r.\r\nb\r\n.\r\n"],
                Some(Ok(b"a\r\n\r\n\r\nb\r\n")),
                b"",
            ),
            // Split anywhere, the same.
            (
                &[b"a\n", b".", b"\n", b"b\r", b"\n.", b"\r", b"\n"],
                Some(Ok(b"a\r\n\r\nb\r\n")),
                b"",
            ),
            (
                &[b"a\r", b".\r", b"\n", b"\r\n.\r\n"],
                Some(Ok(b"a\r\n\r\n\r\n")),
                b"",
            ),
            (&[b"a\n.\n"], None, b""),
            (&[b"a\r\n.\n.\n"], None, b""),
        ];
        for (chunks, expected, rest) in table {
            let (got, got_rest) = read_message(chunks, 1 << 20);
            let got = got.map(|r| r.map(|body| String::from_utf8_lossy(&body).into_owned()));
            let expected =
                expected.map(|r| r.map(|body| String::from_utf8_lossy(body).into_owned()));
            assert_eq!(got, expected, "{chunks:?}");
            assert_eq!(got_rest, *rest, "{chunks:?}");
        }
    }

    #[test]
    fn enforces_size_without_buffering_past_it() {
        let line = [vec![b'a'; 98], b"\r\n".to_vec()].concat();
        let exact: Vec<u8> = line.repeat(10);
        let mut reader = MessageReader::new(1000, None);
        let mut input = &[exact.as_slice(), b".\r\n"].concat()[..];
        assert_eq!(reader.ingest(&mut input), Some(Ok(exact.clone())));

        let mut reader = MessageReader::new(999, None);
        let mut input = &exact[..];
        assert_eq!(reader.ingest(&mut input), None);
        assert!(
            reader.body.capacity() <= 8 * 1024,
            "nothing kept once over the limit"
        );
        assert!(reader.body.is_empty());
        assert_eq!(reader.size(), 1000);
        assert_eq!(
            reader.ingest(&mut &b".\r\n"[..]),
            Some(Err(MessageFault::TooBig))
        );
    }

    #[test]
    fn line_limit_counts_octets_including_crlf_and_stuffing() {
        let at_limit = [vec![b'a'; MAX_LINE - 2], b"\r\n.\r\n".to_vec()].concat();
        assert!(matches!(
            MessageReader::new(1 << 20, None).ingest(&mut &at_limit[..]),
            Some(Ok(_))
        ));
        let stuffed_over = [
            b".".to_vec(),
            vec![b'.'; MAX_LINE - 2],
            b"\r\n.\r\n".to_vec(),
        ]
        .concat();
        assert_eq!(
            MessageReader::new(1 << 20, None).ingest(&mut &stuffed_over[..]),
            Some(Err(MessageFault::LineTooLong))
        );
        // A bare line end counts as the CRLF it becomes.
        let bare_at_limit = [vec![b'a'; MAX_LINE - 2], b"\n\r\n.\r\n".to_vec()].concat();
        assert!(matches!(
            MessageReader::new(1 << 20, None).ingest(&mut &bare_at_limit[..]),
            Some(Ok(_))
        ));
        let bare_over = [vec![b'a'; MAX_LINE - 1], b"\r\r\n.\r\n".to_vec()].concat();
        assert_eq!(
            MessageReader::new(1 << 20, None).ingest(&mut &bare_over[..]),
            Some(Err(MessageFault::LineTooLong))
        );
        let over = [vec![b'a'; 5000], b"\r\n.\r\n".to_vec()].concat();
        let mut reader = MessageReader::new(1 << 20, None);
        for chunk in over.chunks(7) {
            let mut input = chunk;
            if let Some(end) = reader.ingest(&mut input) {
                assert_eq!(end, Err(MessageFault::LineTooLong));
                return;
            }
        }
        panic!("no end of data");
    }
}
