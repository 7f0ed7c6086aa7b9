//! One command line to one [`Command`], or the reply that refuses it. No I/O, no session state:
//! sequence and policy are the session's business.

use crate::handler::{BodyType, MailParams};
use hikyaku_model::smtp::{EnhancedStatus, Reply};
use smtp_proto::{Error as ParseError, Request};

/// The commands this server implements; everything else it names is [`Command::NotImplemented`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Helo(String),
    Ehlo(String),
    Mail {
        from: String,
        params: MailParams,
    },
    /// `utf8` says whether the address needs SMTPUTF8.
    Rcpt {
        to: String,
        utf8: bool,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    StartTls,
    Auth {
        mechanism: Mechanism,
        initial_response: Option<String>,
    },
    NotImplemented,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    Plain,
    Login,
    Unsupported,
}

const fn status(class: u8, subject: u16, detail: u16) -> EnhancedStatus {
    EnhancedStatus::new(class, subject, detail)
}

/// Parses one line as received (line ending included).
pub(crate) fn parse(line: &[u8]) -> Result<Command, Reply> {
    let Some(content) = line.strip_suffix(b"\r\n") else {
        return Err(Reply::new(
            500,
            status(5, 5, 2),
            "Syntax error, lines must end with CRLF",
        ));
    };
    if content
        .iter()
        .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(Reply::new(
            500,
            status(5, 5, 2),
            "Syntax error, control characters in command",
        ));
    }
    let Ok(text) = std::str::from_utf8(content) else {
        return Err(Reply::new(
            500,
            status(5, 5, 2),
            "Syntax error, command is not valid UTF-8",
        ));
    };
    match Request::parse(&mut line.iter()) {
        Ok(request) => from_request(request, text),
        Err(error) => Err(refusal(error, text)),
    }
}

fn from_request(request: Request<std::borrow::Cow<'_, str>>, text: &str) -> Result<Command, Reply> {
    Ok(match request {
        Request::Ehlo { host } => Command::Ehlo(host.into_owned()),
        Request::Helo { host } => Command::Helo(host.into_owned()),
        Request::Mail { from } => {
            let unsupported = from.flags
                & !(smtp_proto::MAIL_BODY_7BIT
                    | smtp_proto::MAIL_BODY_8BITMIME
                    | smtp_proto::MAIL_SMTPUTF8)
                != 0
                || from.trans_id.is_some()
                || from.by != 0
                || from.env_id.is_some()
                || from.solicit.is_some()
                || from.mtrk.is_some()
                || from.hold_for != 0
                || from.hold_until != 0
                || from.mt_priority != 0;
            if unsupported {
                return Err(unsupported_parameter());
            }
            let address = from.address.into_owned();
            if address.is_empty() && !names_null_path(text) {
                return Err(bad_sender());
            }
            let params = MailParams {
                // smtp-proto wraps SIZE values past usize::MAX around to small numbers.
                size: declared_size(text).filter(|&size| size != 0),
                body: if from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0 {
                    BodyType::EightBitMime
                } else {
                    BodyType::SevenBit
                },
                smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
            };
            if !address.is_ascii() && !params.smtputf8 {
                return Err(needs_smtputf8());
            }
            Command::Mail {
                from: address,
                params,
            }
        }
        Request::Rcpt { to } => {
            if to.flags != 0 || to.orcpt.is_some() || to.rrvs != 0 {
                return Err(unsupported_parameter());
            }
            let address = if to.address.is_empty() {
                // smtp-proto reports `<Postmaster>` (RFC 5321 §4.5.1) as an empty address.
                if names_null_path(text) {
                    return Err(bad_recipient());
                }
                "postmaster".to_string()
            } else {
                to.address.into_owned()
            };
            let utf8 = !address.is_ascii();
            Command::Rcpt { to: address, utf8 }
        }
        Request::Data => Command::Data,
        Request::Rset => Command::Rset,
        Request::Noop { .. } => Command::Noop,
        Request::Quit => Command::Quit,
        Request::Vrfy { .. } => Command::Vrfy,
        Request::Help { .. } => Command::Help,
        Request::StartTls => Command::StartTls,
        Request::Auth {
            mechanism,
            initial_response,
        } => Command::Auth {
            mechanism: match mechanism {
                smtp_proto::AUTH_PLAIN => Mechanism::Plain,
                smtp_proto::AUTH_LOGIN => Mechanism::Login,
                _ => Mechanism::Unsupported,
            },
            initial_response: (!initial_response.is_empty()).then(|| initial_response.into_owned()),
        },
        Request::Lhlo { .. }
        | Request::Bdat { .. }
        | Request::Expn { .. }
        | Request::Etrn { .. }
        | Request::Atrn { .. }
        | Request::Burl { .. } => Command::NotImplemented,
    })
}

/// Whether the path in the line is literally `<>` (as opposed to `<Postmaster>`, which
/// smtp-proto also reports as empty).
fn names_null_path(text: &str) -> bool {
    text.split_once('<')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('>'))
}

fn refusal(error: ParseError, text: &str) -> Reply {
    match error {
        ParseError::UnknownCommand => Reply::new(500, status(5, 5, 1), "Command unrecognized"),
        ParseError::InvalidSenderAddress => bad_sender(),
        ParseError::InvalidRecipientAddress => bad_recipient(),
        ParseError::SyntaxError { syntax } => {
            Reply::new(501, status(5, 5, 4), format!("Syntax: {syntax}"))
        }
        ParseError::InvalidParameter { param: "SIZE" } if declared_size(text).is_some() => {
            size_exceeded()
        }
        ParseError::InvalidParameter { param } => Reply::new(
            501,
            status(5, 5, 4),
            format!("Invalid value for parameter {param}"),
        ),
        ParseError::UnsupportedParameter { .. } => unsupported_parameter(),
        ParseError::NeedsMoreData { .. }
        | ParseError::ResponseTooLong
        | ParseError::InvalidResponse { .. } => Reply::new(501, status(5, 5, 4), "Syntax error"),
    }
}

/// The value of a `SIZE=` parameter made of digits only, saturating rather than overflowing:
/// a size too big to represent is a size too big all the same.
fn declared_size(text: &str) -> Option<u64> {
    let (_, params) = text.split_once('>')?;
    params.split_ascii_whitespace().find_map(|word| {
        let digits = word
            .get(..5)
            .filter(|key| key.eq_ignore_ascii_case("SIZE="))?;
        let digits = &word[digits.len()..];
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| {
            digits.bytes().fold(0u64, |size, digit| {
                size.saturating_mul(10)
                    .saturating_add(u64::from(digit - b'0'))
            })
        })
    })
}

pub(crate) fn size_exceeded() -> Reply {
    Reply::new(
        552,
        status(5, 3, 4),
        "Message size exceeds fixed maximum message size",
    )
}

fn bad_sender() -> Reply {
    Reply::new(501, status(5, 1, 7), "Bad sender address syntax")
}

fn bad_recipient() -> Reply {
    Reply::new(501, status(5, 1, 3), "Bad recipient address syntax")
}

fn unsupported_parameter() -> Reply {
    Reply::new(555, status(5, 5, 4), "Unsupported parameter")
}

pub(crate) fn needs_smtputf8() -> Reply {
    Reply::new(553, status(5, 6, 7), "Non-ASCII address requires SMTPUTF8")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command, or the refusal's code and enhanced status.
    type Parsed = Result<Command, (u16, String)>;

    fn mail(from: &str, size: Option<u64>, body: BodyType, smtputf8: bool) -> Parsed {
        Ok(Command::Mail {
            from: from.to_string(),
            params: MailParams {
                size,
                body,
                smtputf8,
            },
        })
    }

    fn code(result: Result<Command, Reply>) -> Parsed {
        result.map_err(|reply| {
            (
                reply.code,
                reply.enhanced.map(|s| s.to_string()).unwrap_or_default(),
            )
        })
    }

    fn refused(code: u16, status: &str) -> Parsed {
        Err((code, status.to_string()))
    }

    #[test]
    fn parses_command_lines() {
        use BodyType::*;
        let table: Vec<(&[u8], Parsed)> = vec![
            (
                b"EHLO client.example\r\n",
                Ok(Command::Ehlo("client.example".into())),
            ),
            (
                b"ehlo [127.0.0.1]\r\n",
                Ok(Command::Ehlo("[127.0.0.1]".into())),
            ),
            (b"HELO x\r\n", Ok(Command::Helo("x".into()))),
            (b"EHLO\r\n", refused(501, "5.5.4")),
            (
                b"MAIL FROM:<a@b.example>\r\n",
                mail("a@b.example", None, SevenBit, false),
            ),
            (
                b"mail from: <a@b.example> SIZE=1234 BODY=8BITMIME\r\n",
                mail("a@b.example", Some(1234), EightBitMime, false),
            ),
            (
                b"MAIL FROM:<> BODY=7BIT\r\n",
                mail("", None, SevenBit, false),
            ),
            (
                "MAIL FROM:<山田@例え.jp> SMTPUTF8\r\n".as_bytes(),
                mail("山田@例え.jp", None, SevenBit, true),
            ),
            (
                "MAIL FROM:<山田@例え.jp>\r\n".as_bytes(),
                refused(553, "5.6.7"),
            ),
            (b"MAIL FROM:<postmaster>\r\n", refused(501, "5.1.7")),
            (b"MAIL FROM:<not an address>\r\n", refused(501, "5.1.7")),
            (b"MAIL FROM:<a..b@c>\r\n", refused(501, "5.1.7")),
            (b"MAIL FROM a@b\r\n", refused(501, "5.5.4")),
            (b"MAIL FROM:<a@b> SIZE=abc\r\n", refused(501, "5.5.4")),
            (
                b"MAIL FROM:<a@b> SIZE=999999999999999999999999999\r\n",
                mail("a@b", Some(u64::MAX), SevenBit, false),
            ),
            (
                b"MAIL FROM:<a@b> SIZE=18446744073709551616\r\n",
                refused(552, "5.3.4"),
            ),
            (
                b"MAIL FROM:<a@b> BODY=BINARYMIME\r\n",
                refused(555, "5.5.4"),
            ),
            (b"MAIL FROM:<a@b> RET=FULL\r\n", refused(555, "5.5.4")),
            (b"MAIL FROM:<a@b> X-UNKNOWN=1\r\n", refused(555, "5.5.4")),
            (
                b"MAIL FROM:<a@b> AUTH=<>\r\n",
                mail("a@b", None, SevenBit, false),
            ),
            (
                b"RCPT TO:<c@d.example>\r\n",
                Ok(Command::Rcpt {
                    to: "c@d.example".into(),
                    utf8: false,
                }),
            ),
            (
                b"RCPT TO:<Postmaster>\r\n",
                Ok(Command::Rcpt {
                    to: "postmaster".into(),
                    utf8: false,
                }),
            ),
            (
                "RCPT TO:<ユーザ@example.jp>\r\n".as_bytes(),
                Ok(Command::Rcpt {
                    to: "ユーザ@example.jp".into(),
                    utf8: true,
                }),
            ),
            (b"RCPT TO:<>\r\n", refused(501, "5.1.3")),
            (b"RCPT TO:<@@>\r\n", refused(501, "5.1.3")),
            (b"RCPT TO:<c@d> NOTIFY=NEVER\r\n", refused(555, "5.5.4")),
            (b"RCPT TO c@d\r\n", refused(501, "5.5.4")),
            (b"DATA\r\n", Ok(Command::Data)),
            (b"data\r\n", Ok(Command::Data)),
            (b"RSET\r\n", Ok(Command::Rset)),
            (b"NOOP\r\n", Ok(Command::Noop)),
            (b"NOOP hello there\r\n", Ok(Command::Noop)),
            (b"QUIT\r\n", Ok(Command::Quit)),
            (b"VRFY someone\r\n", Ok(Command::Vrfy)),
            (b"HELP\r\n", Ok(Command::Help)),
            (b"STARTTLS\r\n", Ok(Command::StartTls)),
            (
                b"AUTH PLAIN\r\n",
                Ok(Command::Auth {
                    mechanism: Mechanism::Plain,
                    initial_response: None,
                }),
            ),
            (
                b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
                Ok(Command::Auth {
                    mechanism: Mechanism::Plain,
                    initial_response: Some("AGFsaWNlAHNlY3JldA==".into()),
                }),
            ),
            (
                b"auth login\r\n",
                Ok(Command::Auth {
                    mechanism: Mechanism::Login,
                    initial_response: None,
                }),
            ),
            (
                b"AUTH CRAM-MD5\r\n",
                Ok(Command::Auth {
                    mechanism: Mechanism::Unsupported,
                    initial_response: None,
                }),
            ),
            (b"AUTH\r\n", refused(501, "5.5.4")),
            (b"BDAT 10 LAST\r\n", Ok(Command::NotImplemented)),
            (b"EXPN list\r\n", Ok(Command::NotImplemented)),
            (b"LHLO x\r\n", Ok(Command::NotImplemented)),
            (b"FOO\r\n", refused(500, "5.5.1")),
            (b"\r\n", refused(500, "5.5.1")),
            (b"GET / HTTP/1.1\r\n", refused(500, "5.5.1")),
            (b"NOOP\n", refused(500, "5.5.2")),
            (b"NO\x00OP\r\n", refused(500, "5.5.2")),
            (b"NOOP\rQUIT\r\n", refused(500, "5.5.2")),
            (b"EHLO \xff\xfe\r\n", refused(500, "5.5.2")),
            (
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n",
                refused(500, "5.5.2"),
            ),
        ];
        for (line, expected) in table {
            assert_eq!(
                code(parse(line)),
                expected,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
