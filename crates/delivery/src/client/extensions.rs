//! The ESMTP extensions a server advertises in its EHLO reply, limited to the ones that change
//! how we send.

use super::reply::Reply;

/// What the server offers. Unknown keywords are ignored; a server that answered HELO offers
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// RFC 2920: commands may be sent in groups.
    pub pipelining: bool,
    /// RFC 3207.
    pub starttls: bool,
    /// RFC 6152: `BODY=8BITMIME`.
    pub eight_bit_mime: bool,
    /// RFC 6531: internationalised addresses and headers.
    pub smtputf8: bool,
    /// RFC 2034.
    pub enhanced_status_codes: bool,
    /// RFC 1870: whether `SIZE=` may be given at all.
    pub size: bool,
    /// RFC 1870: the fixed maximum message size, when the server states one (`SIZE 0` or a bare
    /// `SIZE` mean no fixed limit).
    pub max_size: Option<u64>,
}

impl Extensions {
    /// Reads the keywords of an EHLO reply: every line after the first (which is the server's
    /// name and greeting).
    pub fn from_ehlo(reply: &Reply) -> Extensions {
        let mut extensions = Extensions::default();
        for line in reply.lines().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => extensions.pipelining = true,
                "STARTTLS" => extensions.starttls = true,
                "8BITMIME" => extensions.eight_bit_mime = true,
                "SMTPUTF8" => extensions.smtputf8 = true,
                "ENHANCEDSTATUSCODES" => extensions.enhanced_status_codes = true,
                "SIZE" => {
                    extensions.size = true;
                    extensions.max_size = words
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .filter(|&n| n > 0);
                }
                _ => {}
            }
        }
        extensions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::reply::parse_reply;

    fn parse(raw: &str) -> Extensions {
        let (reply, _) = parse_reply(raw.as_bytes()).unwrap().unwrap();
        Extensions::from_ehlo(&reply)
    }

    #[test]
    fn ehlo_replies() {
        let table = [
            (
                // Postfix's usual reply.
                "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n\
                 250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n\
                 250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
                Extensions {
                    pipelining: true,
                    starttls: true,
                    eight_bit_mime: true,
                    smtputf8: true,
                    enhanced_status_codes: true,
                    size: true,
                    max_size: Some(10_240_000),
                },
            ),
            ("250 mx.example says hi\r\n", Extensions::default()),
            (
                "250-mx\r\n250-size 0\r\n250 pipelining\r\n",
                Extensions {
                    pipelining: true,
                    size: true,
                    ..Extensions::default()
                },
            ),
            (
                "250-mx\r\n250-SIZE\r\n250 AUTH=LOGIN PLAIN\r\n",
                Extensions {
                    size: true,
                    ..Extensions::default()
                },
            ),
            (
                "250-mx\r\n250-SIZE lots\r\n250- \r\n250 STARTTLS\r\n",
                Extensions {
                    size: true,
                    starttls: true,
                    ..Extensions::default()
                },
            ),
            // The greeting line is never a keyword.
            (
                "250-PIPELINING\r\n250 8BITMIME\r\n",
                Extensions {
                    eight_bit_mime: true,
                    ..Extensions::default()
                },
            ),
        ];
        for (raw, expected) in table {
            assert_eq!(parse(raw), expected, "{raw:?}");
        }
    }
}
