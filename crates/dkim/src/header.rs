//! The header section of a message, as DKIM sees it: its fields in order, each with its folded
//! lines, and the split from the body.

/// The fields a verifier expects a signature to cover, where the message has them: what the
/// reader sees (From, To, Cc, Subject, Date, Reply-To), what identifies and threads the
/// message, how its body is to be read (a changed Content-Type or encoding would show other
/// text under a valid signature), and the fields receivers act on (one-click unsubscribe,
/// feedback loops).
pub const SIGNED_FIELDS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
];

/// A message split into its header fields (each with its line breaks, without the last CRLF)
/// and its body (after the empty line). A message without an empty line is all header.
pub struct Parsed<'a> {
    pub fields: Vec<&'a [u8]>,
    pub body: &'a [u8],
}

impl<'a> Parsed<'a> {
    pub fn new(message: &'a [u8]) -> Parsed<'a> {
        let mut fields: Vec<&[u8]> = Vec::new();
        let mut at = 0;
        let mut field_start: Option<usize> = None;
        while at < message.len() {
            let line_end = message[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(message.len(), |p| at + p + 1);
            let line = &message[at..line_end];
            if line == b"\r\n" || line == b"\n" {
                if let Some(start) = field_start {
                    fields.push(trim_line_end(&message[start..at]));
                }
                return Parsed {
                    fields,
                    body: &message[line_end..],
                };
            }
            let continuation = matches!(line[0], b' ' | b'\t');
            if !continuation || field_start.is_none() {
                if let Some(start) = field_start {
                    fields.push(trim_line_end(&message[start..at]));
                }
                field_start = Some(at);
            }
            at = line_end;
        }
        if let Some(start) = field_start {
            fields.push(trim_line_end(&message[start..]));
        }
        Parsed {
            fields,
            body: &message[message.len()..],
        }
    }

    /// The fields named `name` (any case), bottom-up: the order in which a verifier takes
    /// repeated names of `h=` (RFC 6376 section 5.4.2).
    pub fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.fields
            .iter()
            .rev()
            .copied()
            .filter(move |f| field_name(f).eq_ignore_ascii_case(name.as_bytes()))
    }
}

fn trim_line_end(field: &[u8]) -> &[u8] {
    let field = field.strip_suffix(b"\n").unwrap_or(field);
    field.strip_suffix(b"\r").unwrap_or(field)
}

/// The name of a field: what precedes its colon, without trailing white space.
pub fn field_name(field: &[u8]) -> &[u8] {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    field[..colon].trim_ascii_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_into_fields_and_body() {
        type Case<'a> = (&'a [u8], &'a [&'a [u8]], &'a [u8]);
        let table: [Case; 6] = [
            (
                b"From: a@b.jp\r\nTo: c@d.jp\r\n\r\nbody\r\n",
                &[b"From: a@b.jp", b"To: c@d.jp"],
                b"body\r\n",
            ),
            (
                b"Subject: one\r\n two\r\n\tthree\r\nX: y\r\n\r\n",
                &[b"Subject: one\r\n two\r\n\tthree", b"X: y"],
                b"",
            ),
            (
                b"From: a@b.jp\nTo: c\n\nLF body\n",
                &[b"From: a@b.jp", b"To: c"],
                b"LF body\n",
            ),
            (b"From: a@b.jp\r\n", &[b"From: a@b.jp"], b""),
            (b"\r\nbody only\r\n", &[], b"body only\r\n"),
            (
                b"A: 1\r\n\r\n\r\nB: not a field\r\n",
                &[b"A: 1"],
                b"\r\nB: not a field\r\n",
            ),
        ];
        for (message, fields, body) in table {
            let parsed = Parsed::new(message);
            assert_eq!(
                parsed.fields,
                fields,
                "{:?}",
                String::from_utf8_lossy(message)
            );
            assert_eq!(parsed.body, body, "{:?}", String::from_utf8_lossy(message));
        }
    }

    #[test]
    fn repeated_fields_come_bottom_up() {
        let parsed = Parsed::new(b"Received: 1\r\nTO: x\r\nreceived : 2\r\n\r\n");
        let found: Vec<&[u8]> = parsed.named("Received").collect();
        assert_eq!(found, [&b"received : 2"[..], b"Received: 1"]);
        assert_eq!(parsed.named("to").count(), 1);
        assert_eq!(parsed.named("cc").count(), 0);
    }
}
