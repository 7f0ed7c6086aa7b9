//! The protocol state machine without sockets: raw client bytes in, reply codes out.

use hikyaku_smtp_server::ServerConfig;
use hikyaku_smtp_server::testing::{Conversation, recover_and_check};
use std::net::SocketAddr;
use std::time::Duration;

fn config() -> ServerConfig {
    let mut config = ServerConfig::new("mx.test");
    config.max_message_size = 1000;
    config.max_recipients = 3;
    config.auth.allow_plaintext_on_loopback = true;
    config
}

/// Feeds `input` in one piece and returns the reply heads after the greeting.
fn heads(config: ServerConfig, input: &[u8]) -> Vec<String> {
    let mut conversation = Conversation::new(config);
    conversation.take_replies().unwrap();
    conversation.feed(input);
    conversation.take_heads()
}

const HELLO: &str = "EHLO c.test\r\n";

#[test]
fn command_sequences() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &[&str])] = &[
        ("greeting then QUIT", "QUIT\r\n", &["221 2.0.0"]),
        ("HELO", "HELO c.test\r\n", &["250"]),
        ("whole transaction pipelined",
         "EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
         &["250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"]),
        ("MAIL before HELO", "MAIL FROM:<a@s.test>\r\n", &["503 5.5.1"]),
        ("RCPT before MAIL", "EHLO c\r\nRCPT TO:<b@r.test>\r\n", &["250", "503 5.5.1"]),
        ("DATA before RCPT", "EHLO c\r\nMAIL FROM:<a@s.test>\r\nDATA\r\n", &["250", "250 2.1.0", "503 5.5.1"]),
        ("DATA before MAIL", "EHLO c\r\nDATA\r\n", &["250", "503 5.5.1"]),
        ("nested MAIL", "EHLO c\r\nMAIL FROM:<a@s.test>\r\nMAIL FROM:<a@s.test>\r\n", &["250", "250 2.1.0", "503 5.5.1"]),
        ("RSET ends the transaction", "EHLO c\r\nMAIL FROM:<a@s.test>\r\nRSET\r\nRCPT TO:<b@r.test>\r\n",
         &["250", "250 2.1.0", "250 2.0.0", "503 5.5.1"]),
        ("EHLO ends the transaction", "EHLO c\r\nMAIL FROM:<a@s.test>\r\nEHLO c\r\nMAIL FROM:<a@s.test>\r\n",
         &["250", "250 2.1.0", "250", "250 2.1.0"]),
        ("null sender", "EHLO c\r\nMAIL FROM:<>\r\n", &["250", "250 2.1.0"]),
        ("bad sender", "EHLO c\r\nMAIL FROM:<a@@b>\r\n", &["250", "501 5.1.7"]),
        ("bad recipient", "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<x y>\r\n", &["250", "250 2.1.0", "501 5.1.3"]),
        ("syntax", "EHLO c\r\nMAIL TO:<a@b>\r\n", &["250", "501 5.5.4"]),
        ("unknown command", "XYZZY\r\n", &["500 5.5.1"]),
        ("not implemented", "EXPN staff\r\nBDAT 1 LAST\r\n", &["502 5.5.1", "502 5.5.1"]),
        ("NOOP VRFY HELP", "NOOP\r\nVRFY x\r\nHELP\r\n", &["250 2.0.0", "252 2.5.0", "214 2.0.0"]),
        ("handler refuses sender", "EHLO c\r\nMAIL FROM:<refuse@s.test>\r\nRCPT TO:<b@r.test>\r\n",
         &["250", "550 5.7.1", "503 5.5.1"]),
        ("handler refuses one recipient", "EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<refuse@r.test>\r\nRCPT TO:<tempfail@r.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\n",
         &["250", "250 2.1.0", "550 5.1.1", "450 4.2.1", "250 2.1.5", "354"]),
        ("a handler's 421 ends the session", "EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<goodbye@r.test>\r\nNOOP\r\n",
         &["250", "250 2.1.0", "421 4.3.2"]),
        ("only refused recipients: no DATA", "EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<refuse@r.test>\r\nDATA\r\n",
         &["250", "250 2.1.0", "550 5.1.1", "503 5.5.1"]),
        ("handler refuses DATA", "EHLO full\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\nRCPT TO:<b@r.test>\r\n",
         &["250", "250 2.1.0", "250 2.1.5", "452 4.3.1", "503 5.5.1"]),
        ("too many recipients", "EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<1@r.test>\r\nRCPT TO:<2@r.test>\r\nRCPT TO:<3@r.test>\r\nRCPT TO:<4@r.test>\r\nDATA\r\n",
         &["250", "250 2.1.0", "250 2.1.5", "250 2.1.5", "250 2.1.5", "452 4.5.3", "354"]),
        ("declared size over the limit", "EHLO c\r\nMAIL FROM:<a@s.test> SIZE=1001\r\nMAIL FROM:<a@s.test> SIZE=1000\r\n",
         &["250", "552 5.3.4", "250 2.1.0"]),
        ("absurd declared size", "EHLO c\r\nMAIL FROM:<a@s.test> SIZE=99999999999999999999999999\r\n", &["250", "552 5.3.4"]),
        ("unadvertised parameter", "EHLO c\r\nMAIL FROM:<a@s.test> BODY=BINARYMIME\r\n", &["250", "555 5.5.4"]),
        ("UTF-8 address needs SMTPUTF8", "EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<ユーザ@r.test>\r\n",
         &["250", "250 2.1.0", "553 5.6.7"]),
        ("UTF-8 address with SMTPUTF8", "EHLO c\r\nMAIL FROM:<a@s.test> SMTPUTF8\r\nRCPT TO:<ユーザ@r.test>\r\n",
         &["250", "250 2.1.0", "250 2.1.5"]),
        ("bare LF command", "NOOP\n", &["500 5.5.2"]),
        ("NUL in command", "NO\0OP\r\n", &["500 5.5.2"]),
        ("STARTTLS not configured", "EHLO c\r\nSTARTTLS\r\n", &["250", "502 5.5.1"]),
    ];
    for (name, input, expected) in table {
        assert_eq!(heads(config(), input.as_bytes()), *expected, "{name}");
    }
}

#[test]
fn ehlo_advertises_extensions() {
    let mut conversation = Conversation::new(config());
    let greeting = conversation.take_replies().unwrap();
    assert_eq!(greeting[0].code, 220);
    assert_eq!(greeting[0].lines, ["mx.test ESMTP Hikyaku"]);
    conversation.feed(HELLO.as_bytes());
    let ehlo = &conversation.take_replies().unwrap()[0];
    assert_eq!(ehlo.code, 250);
    assert_eq!(
        ehlo.lines,
        [
            "mx.test",
            "PIPELINING",
            "SIZE 1000",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "AUTH PLAIN LOGIN",
            "HELP"
        ]
    );

    // Not loopback: no AUTH without TLS. With STARTTLS offered, it is listed until used.
    let stranger = SocketAddr::from(([192, 0, 2, 9], 40000));
    let mut conversation = Conversation::with_peer(config(), stranger);
    conversation.offer_starttls();
    conversation.feed(HELLO.as_bytes());
    let lines = conversation.take_replies().unwrap()[1].lines.clone();
    assert!(lines.contains(&"STARTTLS".to_string()), "{lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("AUTH")), "{lines:?}");
    conversation.feed(b"STARTTLS\r\n");
    conversation.feed(b"EHLO c.test\r\n");
    let replies = conversation.take_replies().unwrap();
    assert_eq!(replies[0].head(), "220 2.0.0");
    assert!(
        !replies[1].lines.contains(&"STARTTLS".to_string()),
        "{:?}",
        replies[1]
    );
    assert!(
        replies[1].lines.contains(&"AUTH PLAIN LOGIN".to_string()),
        "{:?}",
        replies[1]
    );

    let mut no_plaintext = config();
    no_plaintext.auth.allow_plaintext_on_loopback = false;
    let mut conversation = Conversation::new(no_plaintext);
    conversation.feed(HELLO.as_bytes());
    let lines = conversation.take_replies().unwrap()[1].lines.clone();
    assert!(!lines.iter().any(|l| l.starts_with("AUTH")), "{lines:?}");
}

#[test]
fn starttls_discards_pipelined_plaintext_and_forgets_the_session() {
    let stranger = SocketAddr::from(([192, 0, 2, 9], 40000));
    let mut conversation = Conversation::with_peer(config(), stranger);
    conversation.offer_starttls();
    conversation.take_replies().unwrap();
    // The injected MAIL would be answered as if sent over TLS by a careless server.
    conversation.feed(b"EHLO c.test\r\nSTARTTLS\r\nMAIL FROM:<evil@s.test>\r\n");
    let heads = conversation.take_heads();
    assert_eq!(heads, ["250", "220 2.0.0"]);
    assert!(conversation.context().tls.is_some());
    assert_eq!(conversation.context().helo, None);
    conversation.feed(b"MAIL FROM:<a@s.test>\r\nSTARTTLS\r\n");
    let heads = conversation.take_heads();
    assert_eq!(
        heads,
        ["503 5.5.1", "503 5.5.1"],
        "EHLO needed again; TLS only once"
    );
    conversation.feed(b"EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nSTARTTLS\r\n");
    let heads = conversation.take_heads();
    assert_eq!(heads, ["250", "250 2.1.0", "503 5.5.1"]);
}

#[test]
fn auth_exchanges() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &[&str])] = &[
        ("PLAIN initial response", "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n", &["235 2.7.0"]),
        ("PLAIN continuation", "AUTH PLAIN\r\nAHVzZXIAc2VjcmV0\r\n", &["334", "235 2.7.0"]),
        ("PLAIN wrong password", "AUTH PLAIN AHVzZXIAd3Jvbmc=\r\n", &["535 5.7.8"]),
        ("PLAIN other authzid", "AUTH PLAIN YWRtaW4AdXNlcgBzZWNyZXQ=\r\n", &["535 5.7.8"]),
        ("PLAIN not base64", "AUTH PLAIN !!!\r\n", &["501 5.5.2"]),
        ("LOGIN", "AUTH LOGIN\r\ndXNlcg==\r\nc2VjcmV0\r\n", &["334", "334", "235 2.7.0"]),
        ("LOGIN initial username", "AUTH LOGIN dXNlcg==\r\nc2VjcmV0\r\n", &["334", "235 2.7.0"]),
        ("LOGIN wrong", "AUTH LOGIN\r\ndXNlcg==\r\neA==\r\n", &["334", "334", "535 5.7.8"]),
        ("cancel", "AUTH LOGIN\r\n*\r\nNOOP\r\n", &["334", "501 5.7.0", "250 2.0.0"]),
        ("cancel at password", "AUTH LOGIN\r\ndXNlcg==\r\n*\r\n", &["334", "334", "501 5.7.0"]),
        ("temporary failure", "AUTH PLAIN AHRlbXBmYWlsAHg=\r\n", &["454 4.7.0"]),
        ("unknown mechanism", "AUTH CRAM-MD5\r\n", &["504 5.5.4"]),
        ("twice", "AUTH PLAIN AHVzZXIAc2VjcmV0\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\n", &["235 2.7.0", "503 5.5.1"]),
        ("in a transaction", "MAIL FROM:<a@s.test>\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\n", &["250 2.1.0", "503 5.5.1"]),
        ("bare LF response", "AUTH PLAIN\r\nAHVzZXIAc2VjcmV0\n", &["334", "501 5.5.2"]),
    ];
    for (name, input, expected) in table {
        let mut conversation = Conversation::new(config());
        conversation.feed(HELLO.as_bytes());
        conversation.take_replies().unwrap();
        conversation.feed(input.as_bytes());
        let heads = conversation.take_heads();
        assert_eq!(heads, *expected, "{name}");
        let authenticated = expected.contains(&"235 2.7.0");
        assert_eq!(
            conversation.context().authenticated_as.is_some(),
            authenticated,
            "{name}"
        );
    }
    assert_eq!(
        heads(config(), b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n"),
        ["503 5.5.1"],
        "before EHLO"
    );

    let stranger = SocketAddr::from(([192, 0, 2, 9], 40000));
    let mut conversation = Conversation::with_peer(config(), stranger);
    conversation.take_replies().unwrap();
    conversation.feed(b"EHLO c\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
    let heads = conversation.take_heads();
    assert_eq!(heads, ["250", "538 5.7.11"]);
}

#[test]
fn auth_failures_are_throttled_per_source_across_sessions() {
    let mut config = config();
    config.auth.failure_limit = 2;
    config.auth.failure_window = Duration::from_secs(3600);
    let failures = std::sync::Arc::new(hikyaku_smtp_server::AuthFailures::new(
        2,
        Duration::from_secs(3600),
    ));
    let peer = SocketAddr::from(([127, 0, 0, 5], 40000));
    let other = SocketAddr::from(([127, 0, 0, 6], 40000));
    let attempt = |peer, password: &str| {
        let mut conversation =
            Conversation::with_auth_failures(config.clone(), peer, failures.clone());
        conversation.feed(HELLO.as_bytes());
        conversation.take_replies().unwrap();
        conversation.feed(format!("AUTH LOGIN dXNlcg==\r\n{password}\r\n").as_bytes());
        conversation.take_replies().unwrap().last().unwrap().head()
    };
    assert_eq!(attempt(peer, "eA=="), "535 5.7.8");
    assert_eq!(attempt(peer, "c2VjcmV0"), "235 2.7.0");
    assert_eq!(attempt(peer, "eA=="), "535 5.7.8");
    // The limit is reached: even the right password is not looked at any more.
    let mut conversation = Conversation::with_auth_failures(config.clone(), peer, failures.clone());
    conversation.feed(b"EHLO c\r\nAUTH LOGIN\r\n");
    let heads = conversation.take_heads();
    assert_eq!(heads, ["220", "250", "454 4.7.0"]);
    assert_eq!(
        attempt(other, "c2VjcmV0"),
        "235 2.7.0",
        "another source is not affected"
    );
}

#[test]
fn message_content_is_unstuffed_and_limited() {
    let transaction =
        "EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nRCPT TO:<c@r.test>\r\nDATA\r\n";
    let mut conversation = Conversation::new(config());
    conversation.feed(transaction.as_bytes());
    assert!(conversation.is_receiving_message());
    for chunk in [
        &b"Subject: hi\r\n\r\n..leading dot\r\n..\r"[..],
        b"\n.",
        b"",
        b"x\r\n.",
        b"\r\n",
    ] {
        conversation.feed(chunk);
    }
    let messages = conversation.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0.mail_from, "a@s.test");
    assert_eq!(messages[0].0.recipients, ["b@r.test", "c@r.test"]);
    assert_eq!(
        messages[0].1,
        b"Subject: hi\r\n\r\n.leading dot\r\n.\r\nx\r\n"
    );
    let heads = conversation.take_heads();
    assert_eq!(
        heads,
        [
            "220",
            "250",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "354",
            "250 2.0.0"
        ]
    );
    assert_eq!(
        conversation.resets(),
        1,
        "the handler hears the transaction is over"
    );

    #[rustfmt::skip]
    let table: &[(&str, Vec<u8>, &str)] = &[
        ("exactly at the size limit", [vec![b'a'; 998], b"\r\n.\r\n".to_vec()].concat(), "250 2.0.0"),
        ("one octet over, undeclared", [[vec![b'a'; 98], b"\r\n".to_vec()].concat().repeat(9), vec![b'a'; 99], b"\r\n.\r\n".to_vec()].concat(), "552 5.3.4"),
        ("line over 1000 octets", [vec![b'a'; 999], b"\r\n.\r\n".to_vec()].concat(), "552 5.3.4"),
        ("bare LF in the text", b"a\nb\r\n.\r\n".to_vec(), "250 2.0.0"),
    ];
    for (name, data, expected) in table {
        let mut conversation = Conversation::new(config());
        conversation.feed(transaction.as_bytes());
        conversation.take_replies().unwrap();
        conversation.feed(data);
        conversation.feed(b"NOOP\r\n");
        let heads = conversation.take_heads();
        assert_eq!(heads, [*expected, "250 2.0.0"], "{name}");
        assert_eq!(
            conversation.messages().len(),
            usize::from(*expected == "250 2.0.0"),
            "{name}"
        );
    }

    let mut roomy = config();
    roomy.max_message_size = 1 << 20;
    let mut conversation = Conversation::new(roomy);
    conversation.feed(transaction.as_bytes());
    conversation.take_replies().unwrap();
    conversation.feed(&[vec![b'a'; 1001], b"\r\nrest\r\n.\r\n".to_vec()].concat());
    let heads = conversation.take_heads();
    assert_eq!(
        heads,
        ["500 5.5.2"],
        "RFC 5321 §4.5.3.1.6 line limit, answered after the end of data"
    );
}

/// Bare LF and bare CR inside DATA become CRLF; only CRLF `.` CRLF ends the data, so a second
/// transaction hidden behind any other dot line is message text, never commands.
#[test]
fn bare_line_ends_are_normalised_and_never_end_the_data() {
    const OPEN: &[u8] = b"EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\n";
    const SMUGGLED: &[u8] =
        b"MAIL FROM:<ceo@victim.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\nSubject: forged\r\n\r\nx\r\n";
    let smuggled = |dot_line: &[u8]| {
        [
            b"Subject: s\r\n\r\nhi",
            dot_line,
            SMUGGLED,
            b".\r\nNOOP\r\n",
        ]
        .concat()
    };
    let after_smuggling = |dot_line: &[u8]| [b"Subject: s\r\n\r\nhi", dot_line, SMUGGLED].concat();
    #[rustfmt::skip]
    let table: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("LF-only text ended properly",
         b"Subject: lf\n\nline 1\nline 2\r\n.\r\nNOOP\r\n".to_vec(),
         b"Subject: lf\r\n\r\nline 1\r\nline 2\r\n".to_vec()),
        ("LF-only text, dot-stuffed",
         b"Subject: lf\n\n..dot\n...\nend\r\n.\r\nNOOP\r\n".to_vec(),
         b"Subject: lf\r\n\r\n.dot\r\n..\r\nend\r\n".to_vec()),
        ("bare CR line ends",
         b"Subject: cr\r\rbody\rmore\r\n.\r\nNOOP\r\n".to_vec(),
         b"Subject: cr\r\n\r\nbody\r\nmore\r\n".to_vec()),
        ("LF . LF then a smuggled transaction", smuggled(b"\n.\n"), after_smuggling(b"\r\n\r\n")),
        ("CR . LF then a smuggled transaction", smuggled(b"\r.\n"), after_smuggling(b"\r\n\r\n")),
        ("LF . CRLF then a smuggled transaction", smuggled(b"\n.\r\n"), after_smuggling(b"\r\n\r\n")),
        ("CR . CRLF then a smuggled transaction", smuggled(b"\r.\r\n"), after_smuggling(b"\r\n\r\n")),
        ("CRLF . LF then a smuggled transaction", smuggled(b"\r\n.\n"), after_smuggling(b"\r\n\r\n")),
        ("CRLF . CR then a smuggled transaction", smuggled(b"\r\n.\r"), after_smuggling(b"\r\n\r\n")),
    ];
    for (name, data, expected) in table {
        // All at once, and one octet per read: the same message and replies.
        for read_size in [usize::MAX, 1] {
            let mut conversation = Conversation::new(config());
            conversation.feed(OPEN);
            for chunk in data.chunks(read_size.min(data.len())) {
                conversation.feed(chunk);
            }
            let heads = conversation.take_heads();
            assert_eq!(
                heads,
                [
                    "220",
                    "250",
                    "250 2.1.0",
                    "250 2.1.5",
                    "354",
                    "250 2.0.0",
                    "250 2.0.0"
                ],
                "{name}: one transaction, then the NOOP after it"
            );
            let messages = conversation.messages();
            assert_eq!(messages.len(), 1, "{name}");
            assert_eq!(
                String::from_utf8_lossy(&messages[0].1),
                String::from_utf8_lossy(&expected),
                "{name}"
            );
        }
    }
}

#[test]
fn hostile_input_is_answered_and_bounded() {
    // A line far over the limit is answered once and does not swallow the next command.
    let mut input = vec![b'A'; 100_000];
    input.extend_from_slice(b"\r\nNOOP\r\n");
    assert_eq!(heads(config(), &input), ["500 5.5.2", "250 2.0.0"]);

    // An HTTP request, a TLS ClientHello and NULs all get 5xx, never silence.
    let garbage: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n",
        b"\0\0\0\0\r\n",
        b"\xff\xfe\xfd\r\n",
    ];
    for bytes in garbage {
        let got = heads(config(), bytes);
        assert!(
            !got.is_empty() && got.iter().all(|h| h.starts_with('5')),
            "{bytes:?}: {got:?}"
        );
    }

    // Twenty errors end the session with 421.
    let mut conversation = Conversation::new(config());
    conversation.take_replies().unwrap();
    conversation.feed(&b"BOGUS\r\n".repeat(25));
    let heads = conversation.take_heads();
    assert_eq!(heads.len(), 21);
    assert!(heads[..20].iter().all(|h| h == "500 5.5.1"));
    assert_eq!(heads[20], "421 4.7.0");
    assert!(conversation.is_closed());
}

#[test]
fn timeout_and_shutdown_replies() {
    let mut conversation = Conversation::new(config());
    conversation.take_replies().unwrap();
    conversation.idle_timeout();
    let replies = conversation.take_replies().unwrap();
    assert_eq!(replies[0].head(), "421 4.4.2");
    assert_eq!(
        replies[0].lines,
        ["4.4.2 mx.test Idle timeout, closing connection"]
    );
    assert!(conversation.is_closed());

    let mut conversation = Conversation::new(config());
    conversation.take_replies().unwrap();
    conversation.shut_down();
    let replies = conversation.take_replies().unwrap();
    assert_eq!(replies[0].lines, ["4.3.2 Service shutting down"]);
    assert!(conversation.is_closed());
}

/// A small deterministic generator, so that failures reproduce from the printed case number.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: &[&[u8]] = &[
    b"EHLO c.test\r\n",
    b"HELO c\r\n",
    b"MAIL FROM:<a@s.test> SIZE=100 BODY=8BITMIME\r\n",
    b"MAIL FROM:<>\r\n",
    b"RCPT TO:<b@r.test>\r\n",
    b"RCPT TO:<refuse@r.test>\r\n",
    b"DATA\r\n",
    b"Subject: x\r\n\r\n..dot\r\n",
    b"\r\n.\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"STARTTLS\r\n",
    b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n",
    b"AUTH LOGIN\r\n",
    b"dXNlcg==\r\n",
    b"*\r\n",
    b"VRFY x\r\n",
    b"\n",
    b"\r",
    b".",
    b"\0",
    b"\xff",
];

/// Thousands of mutated command streams: no panic, well-formed replies only, and a session
/// that always answers the way out (end of data, cancel, RSET, QUIT) instead of hanging.
#[test]
fn random_and_mutated_input_never_panics_or_hangs() {
    const OPENINGS: [&[u8]; 4] = [
        b"EHLO c.test\r\n",
        b"MAIL FROM:<a@s.test>\r\n",
        b"RCPT TO:<b@r.test>\r\n",
        b"DATA\r\n",
    ];
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let mut reached_data = 0;
    for case in 0..4000 {
        let mut input = Vec::new();
        // Half the cases start with a valid transaction up to some step, so that the mutations
        // also land inside MAIL, RCPT and DATA states.
        if rng.below(2) == 0 {
            OPENINGS[..rng.below(4) + 1]
                .iter()
                .for_each(|piece| input.extend_from_slice(piece));
        }
        for _ in 0..rng.below(12) + 1 {
            match rng.below(4) {
                0 => input.extend((0..rng.below(64)).map(|_| rng.next() as u8)),
                1 if rng.below(50) == 0 => {
                    input.extend(std::iter::repeat_n(b'x', 1000 + rng.below(3000)))
                }
                _ => {
                    let mut piece = SEEDS[rng.below(SEEDS.len())].to_vec();
                    if !piece.is_empty() && rng.below(3) == 0 {
                        let at = rng.below(piece.len());
                        piece[at] = rng.next() as u8;
                    }
                    input.extend(piece);
                }
            }
        }
        let mut config = config();
        config.max_errors = [0, 3, 20][rng.below(3)];
        let mut conversation = Conversation::new(config);
        if rng.below(2) == 0 {
            conversation.offer_starttls();
        }
        let mut rest = &input[..];
        let mut in_data = false;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rng.below(rest.len()) + 1);
            conversation.feed(chunk);
            in_data |= conversation.is_receiving_message();
            rest = tail;
        }
        reached_data += usize::from(in_data);
        if let Err(error) = recover_and_check(&mut conversation) {
            panic!(
                "case {case}: {error}; input {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
    assert!(
        reached_data > 400,
        "only {reached_data} cases exercised DATA"
    );
}
