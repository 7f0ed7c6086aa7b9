//! The message as it goes over the wire after DATA, and what it asks of the server.

/// The wire form of a message after `354`: every line ends in CRLF, lines that start with `.`
/// get another `.` (RFC 5321 §4.5.2), the last line is completed, and `.\r\n` ends it.
///
/// Bare LF and bare CR both become CRLF: a lone CR or LF next to a dot is how "SMTP smuggling"
/// makes a receiver see the end of data early, so no receiver, however lenient, may read our
/// body as anything but one message.
pub fn encode_data(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 8);
    let mut rest = message;
    let mut at_line_start = true;
    while !rest.is_empty() {
        if at_line_start && rest[0] == b'.' {
            out.push(b'.');
        }
        match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            None => {
                out.extend_from_slice(rest);
                at_line_start = false;
                rest = &[];
            }
            Some(end) => {
                out.extend_from_slice(&rest[..end]);
                out.extend_from_slice(b"\r\n");
                let terminator = if rest[end..].starts_with(b"\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[end + terminator..];
                at_line_start = true;
            }
        }
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Whether any byte has the high bit set: the message then wants `BODY=8BITMIME`.
pub fn has_eight_bit(message: &[u8]) -> bool {
    !message.is_ascii()
}

/// Whether the header section (up to the first empty line) has 8-bit bytes: internationalised
/// headers, which want `SMTPUTF8` where it is offered.
pub fn has_eight_bit_headers(message: &[u8]) -> bool {
    let mut line_start = 0;
    for (i, &b) in message.iter().enumerate() {
        if b == b'\n' {
            let line = &message[line_start..i];
            if line.is_empty() || line == b"\r" {
                return false;
            }
            line_start = i + 1;
        } else if !b.is_ascii() {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let table: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b"a\nb\n", b"a\r\nb\r\n.\r\n"),
            (b"a\rb", b"a\r\nb\r\n.\r\n"),
            (b"a\r\r\nb", b"a\r\n\r\nb\r\n.\r\n"),
            (b"\n\n", b"\r\n\r\n.\r\n"),
            (b".", b"..\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b"..x\r\n", b"...x\r\n.\r\n"),
            (b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a.b\r\n x.\r\n", b"a.b\r\n x.\r\n.\r\n"),
            // Smuggling attempts come out as harmless stuffed lines.
            (
                b"a\n.\r\nMAIL FROM:<x>\r\n",
                b"a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n",
            ),
            (b"a\r.\rb", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a\r\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"caf\xc3\xa9\n", b"caf\xc3\xa9\r\n.\r\n"),
        ];
        for (input, expected) in table {
            assert_eq!(
                String::from_utf8_lossy(&encode_data(input)),
                String::from_utf8_lossy(expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn eight_bit_detection() {
        assert!(!has_eight_bit(b"Subject: x\r\n\r\nhello"));
        assert!(has_eight_bit(b"Subject: x\r\n\r\nh\xc3\xa9llo"));
        let table: &[(&[u8], bool)] = &[
            (b"Subject: x\r\n\r\nh\xc3\xa9llo", false),
            (b"Subject: caf\xc3\xa9\r\n\r\nhello", true),
            (b"Subject: x\n\nh\xc3\xa9llo", false),
            (b"From: a\r\nSubject: \xe6\x97\xa5\r\n\r\n", true),
            (b"Subject: x", false),
            (b"Subject: \xe6", true),
        ];
        for (input, expected) in table {
            assert_eq!(has_eight_bit_headers(input), *expected, "{input:?}");
        }
    }
}
