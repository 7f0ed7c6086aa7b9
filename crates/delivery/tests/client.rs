//! The SMTP client against the scripted sink MX and against hand-written hostile servers, over
//! real sockets on 127.0.0.1.

use hikyaku_delivery::client::{
    Blame, Client, ClientConfig, Connection, ConnectionError, EnhancedStatus, NotSent,
    RecipientOutcome, Reply, ReplyError, Severity, Stage, Timeouts, TlsMode, asks_to_slow_down,
};
use hikyaku_testkit::Sink;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const HELO: &str = "relay.hikyaku.test";
const MESSAGE: &[u8] = b"From: a@x\r\nSubject: test\r\n\r\nHello.\r\n";

fn client_with(timeouts: Timeouts, roots: Option<rustls::RootCertStore>) -> Client {
    Client::new(ClientConfig {
        timeouts,
        root_store: roots.map(Arc::new),
        ..ClientConfig::new(HELO)
    })
    .unwrap()
}

fn client() -> Client {
    client_with(Timeouts::all(Duration::from_secs(10)), None)
}

async fn connect(sink: &Sink) -> Connection {
    client()
        .connect(sink.addr(), "mx.test", TlsMode::Opportunistic)
        .await
        .unwrap()
}

fn reply(code: u16, enhanced: (u8, u16, u16), text: &str) -> Reply {
    Reply {
        code,
        enhanced: Some(EnhancedStatus::new(enhanced.0, enhanced.1, enhanced.2)),
        text: text.to_string(),
    }
}

fn lines(sink: &Sink) -> Vec<String> {
    sink.commands().into_iter().map(|c| c.line).collect()
}

fn verbs(sink: &Sink) -> Vec<String> {
    lines(sink)
        .iter()
        .map(|l| l.split([' ', ':']).next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_recipient_outcome_field_by_field_with_and_without_pipelining() {
    for pipelining in [true, false] {
        let sink = Sink::builder()
            .pipelining(pipelining)
            .start()
            .await
            .unwrap();
        let mut conn = connect(&sink).await;
        assert_eq!(conn.peer().extensions.pipelining, pipelining);
        let rcpts = [
            "ok@y",
            "reject@y",
            "tempfail@y",
            "452-4.5.3-full@y",
            "ok2@y",
        ];
        let result = conn.send("sender@x", &rcpts, MESSAGE).await.unwrap();
        assert_eq!(result.pipelined, pipelining);
        let accepted = reply(250, (2, 0, 0), "Ok: queued as 1");
        assert_eq!(
            result.recipients,
            vec![
                RecipientOutcome::Accepted(accepted.clone()),
                RecipientOutcome::RecipientRefused(reply(
                    550,
                    (5, 1, 1),
                    "<reject@y>: no such user"
                )),
                RecipientOutcome::RecipientRefused(reply(
                    451,
                    (4, 3, 0),
                    "<tempfail@y>: temporary failure"
                )),
                RecipientOutcome::RecipientRefused(reply(
                    452,
                    (4, 5, 3),
                    "<452-4.5.3-full@y>: scripted reply"
                )),
                RecipientOutcome::Accepted(accepted),
            ],
            "pipelining {pipelining}"
        );
        let severities: Vec<_> = result.recipients.iter().map(|r| r.severity()).collect();
        assert_eq!(
            severities,
            [
                None,
                Some(Severity::Permanent),
                Some(Severity::Transient),
                Some(Severity::Transient),
                None
            ]
        );
        assert_eq!(result.recipients[1].blame(), Some(Blame::Recipient));
        assert_eq!(result.recipients[1].stage(), Some(Stage::RcptTo));
        assert_eq!(result.accepted(), 2);

        let got = sink.wait_for(1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(got[0].recipients, ["ok@y", "ok2@y"]);
        assert_eq!(got[0].mail_from, "sender@x");
        assert_eq!(got[0].helo, HELO);
        assert_eq!(got[0].data, MESSAGE);
        assert_eq!(got[0].pipelined, pipelining);
        assert!(sink.violations().is_empty(), "{:?}", sink.violations());

        let remote = conn.peer().remote();
        assert_eq!(remote.host, "mx.test");
        assert_eq!(remote.ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(remote.tls, Some(false));
        let reply = result.recipients[1].reply();
        assert_eq!(reply.code, 550);
        assert_eq!(
            reply.enhanced.map(|s| s.to_string()).as_deref(),
            Some("5.1.1")
        );
        assert_eq!(reply.text, "<reject@y>: no such user");
        assert!(conn.is_reusable());
        conn.quit().await;
        assert_eq!(lines(&sink).last().map(String::as_str), Some("QUIT"));
    }
}

#[tokio::test]
async fn when_every_recipient_is_refused_no_body_is_sent_and_rset_precedes_the_next() {
    for pipelining in [true, false] {
        let sink = Sink::builder()
            .pipelining(pipelining)
            .start()
            .await
            .unwrap();
        let mut conn = connect(&sink).await;
        let result = conn
            .send("a@x", &["reject@y", "tempfail@y"], MESSAGE)
            .await
            .unwrap();
        assert!(
            result
                .recipients
                .iter()
                .all(|r| matches!(r, RecipientOutcome::RecipientRefused(_))),
            "{result:?}"
        );
        assert!(conn.is_reusable());
        let result = conn.send("a@x", &["ok@y"], MESSAGE).await.unwrap();
        assert_eq!(result.accepted(), 1);
        let verbs = verbs(&sink);
        // Pipelined, DATA went out with the group and was refused (554); one by one it never
        // went out. Either way the body went out only once, and RSET came before the next MAIL.
        let expected: &[&str] = if pipelining {
            &[
                "EHLO", "MAIL", "RCPT", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA",
            ]
        } else {
            &[
                "EHLO", "MAIL", "RCPT", "RCPT", "RSET", "MAIL", "RCPT", "DATA",
            ]
        };
        assert_eq!(verbs, expected, "pipelining {pipelining}");
        assert_eq!(sink.received().len(), 1);
    }
}

#[tokio::test]
async fn refusals_of_the_message_blame_the_message() {
    for pipelining in [true, false] {
        let sink = Sink::builder()
            .pipelining(pipelining)
            .start()
            .await
            .unwrap();
        let mut conn = connect(&sink).await;

        let result = conn
            .send("a@x", &["data-reject@y", "b@y"], MESSAGE)
            .await
            .unwrap();
        let refused = RecipientOutcome::MessageRefused {
            stage: Stage::EndOfData,
            reply: reply(554, (5, 6, 0), "Message content rejected"),
        };
        assert_eq!(result.recipients, vec![refused.clone(), refused]);
        assert_eq!(result.recipients[0].blame(), Some(Blame::Message));
        assert_eq!(result.recipients[0].severity(), Some(Severity::Permanent));

        let result = conn
            .send("a@x", &["data-tempfail@y"], MESSAGE)
            .await
            .unwrap();
        assert_eq!(
            result.recipients,
            vec![RecipientOutcome::MessageRefused {
                stage: Stage::EndOfData,
                reply: reply(451, (4, 3, 0), "Temporary failure after data"),
            }]
        );
        assert_eq!(result.recipients[0].severity(), Some(Severity::Transient));

        let result = conn
            .send("reject@x", &["b@y", "c@y"], MESSAGE)
            .await
            .unwrap();
        let refused = RecipientOutcome::MessageRefused {
            stage: Stage::MailFrom,
            reply: reply(550, (5, 7, 1), "Sender rejected"),
        };
        assert_eq!(result.recipients, vec![refused.clone(), refused]);

        let result = conn.send("tempfail@x", &["b@y"], MESSAGE).await.unwrap();
        assert_eq!(
            result.recipients,
            vec![RecipientOutcome::MessageRefused {
                stage: Stage::MailFrom,
                reply: reply(451, (4, 7, 1), "Sender temporarily rejected"),
            }]
        );
        assert!(asks_to_slow_down(result.recipients[0].reply()));

        // The connection is still good, and nothing was accepted by mistake.
        let result = conn.send("a@x", &["b@y"], MESSAGE).await.unwrap();
        assert_eq!(result.accepted(), 1);
        assert_eq!(sink.received().len(), 1);
        // An end-of-data refusal ends the transaction: no RSET is needed after it. A refused
        // MAIL gets one (harmless) before the next MAIL.
        let verbs = verbs(&sink);
        let rsets = verbs.iter().filter(|v| *v == "RSET").count();
        assert_eq!(rsets, 2, "{verbs:?}");
        assert!(sink.violations().is_empty(), "{:?}", sink.violations());
    }
}

#[tokio::test]
async fn tempfail_then_ok_on_one_connection() {
    let sink = Sink::builder().tempfail_times(2).start().await.unwrap();
    let mut conn = connect(&sink).await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let result = conn
            .send("a@x", &["tempfail-then-ok@y"], MESSAGE)
            .await
            .unwrap();
        codes.push(result.recipients[0].reply().code);
    }
    assert_eq!(codes, [451, 451, 250]);
    assert_eq!(conn.transactions(), 3);
}

#[tokio::test]
async fn one_connection_carries_many_messages() {
    let sink = Sink::start().await.unwrap();
    let mut conn = connect(&sink).await;
    for i in 0..5 {
        let body = format!("Subject: {i}\r\n\r\nmessage {i}\r\n");
        let result = conn
            .send("a@x", &[format!("r{i}@y")], body.as_bytes())
            .await
            .unwrap();
        assert_eq!(result.accepted(), 1);
    }
    conn.quit().await;
    let got = sink.wait_for(5, Duration::from_secs(5)).await.unwrap();
    assert_eq!(sink.total_connections(), 1);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.connection, 1);
        assert_eq!(m.recipients, [format!("r{i}@y")]);
        assert_eq!(
            m.data,
            format!("Subject: {i}\r\n\r\nmessage {i}\r\n").as_bytes()
        );
    }
    assert!(!verbs(&sink).contains(&"RSET".to_string()));
}

#[tokio::test]
async fn a_421_kills_the_connection() {
    let sink = Sink::start().await.unwrap();
    let mut conn = connect(&sink).await;
    let err = conn
        .send("a@x", &["ok@y", "421@y"], MESSAGE)
        .await
        .unwrap_err();
    match &err {
        ConnectionError::ServiceClosing { stage, reply: r } => {
            assert_eq!(*stage, Stage::RcptTo);
            assert_eq!(*r, reply(421, (4, 7, 0), "Too many connections, closing"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_throttling());
    assert_eq!(err.reply().map(|r| r.code), Some(421));
    assert!(!conn.is_reusable());
    assert!(matches!(
        conn.send("a@x", &["ok@y"], MESSAGE).await,
        Err(ConnectionError::Unusable)
    ));
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn the_message_limit_of_a_strict_carrier_closes_with_421() {
    let sink = Sink::builder()
        .messages_per_connection(2)
        .start()
        .await
        .unwrap();
    let mut conn = connect(&sink).await;
    for _ in 0..2 {
        assert_eq!(
            conn.send("a@x", &["b@y"], MESSAGE)
                .await
                .unwrap()
                .accepted(),
            1
        );
    }
    let err = conn.send("a@x", &["b@y"], MESSAGE).await.unwrap_err();
    assert!(
        matches!(&err, ConnectionError::ServiceClosing { stage: Stage::MailFrom, reply } if reply.enhanced == Some(EnhancedStatus::new(4, 7, 0))),
        "{err:?}"
    );
    assert!(err.is_throttling());
}

#[tokio::test]
async fn refused_greetings_are_connection_failures() {
    let table = [
        ("421 4.3.2 too many connections", 421, true),
        ("554 5.7.1 no service for you", 554, false),
    ];
    for (greeting, code, throttling) in table {
        let sink = Sink::builder().greeting(greeting).start().await.unwrap();
        let err = client()
            .connect(sink.addr(), "mx.test", TlsMode::Opportunistic)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ConnectionError::Greeting(r) if r.code == code),
            "{err:?}"
        );
        assert_eq!(err.stage(), Stage::Greeting);
        assert_eq!(err.is_throttling(), throttling, "{greeting}");
    }
}

#[tokio::test]
async fn helo_when_ehlo_is_refused() {
    let sink = Sink::builder().ehlo_refused().start().await.unwrap();
    let mut conn = connect(&sink).await;
    assert_eq!(conn.peer().extensions, Default::default());
    let result = conn.send("a@x", &["b@y"], MESSAGE).await.unwrap();
    assert!(!result.pipelined);
    assert_eq!(result.accepted(), 1);
    let lines = lines(&sink);
    assert_eq!(lines[0], format!("EHLO {HELO}"));
    assert_eq!(lines[1], format!("HELO {HELO}"));
    // Without the SIZE extension, no SIZE parameter.
    assert_eq!(lines[2], "MAIL FROM:<a@x>");
}

#[tokio::test]
async fn dropped_connections_mid_transaction() {
    let sink = Sink::start().await.unwrap();
    let mut conn = connect(&sink).await;
    let err = conn
        .send("a@x", &["disconnect@y"], MESSAGE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::Closed {
                stage: Stage::RcptTo
            }
        ),
        "{err:?}"
    );
    assert!(!err.may_have_delivered());
    assert!(!conn.is_reusable());

    // Dropped after the final dot: the one window where the server may have the message.
    let mut conn = connect(&sink).await;
    let err = conn
        .send("a@x", &["data-disconnect@y"], MESSAGE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::Closed {
                stage: Stage::EndOfData
            }
        ),
        "{err:?}"
    );
    assert!(err.may_have_delivered());
}

#[tokio::test]
async fn slow_replies_within_and_beyond_the_timeouts() {
    let sink = Sink::start().await.unwrap();
    let short = Timeouts {
        rcpt_to: Duration::from_millis(300),
        end_of_data: Duration::from_millis(300),
        ..Timeouts::all(Duration::from_secs(10))
    };
    let client = client_with(short, None);

    let mut conn = client
        .connect(sink.addr(), "mx.test", TlsMode::Opportunistic)
        .await
        .unwrap();
    let result = conn.send("a@x", &["slow-100@y"], MESSAGE).await.unwrap();
    assert_eq!(result.accepted(), 1);

    let started = Instant::now();
    let err = conn
        .send("a@x", &["slow-3000@y"], MESSAGE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectionError::Timeout { stage: Stage::RcptTo, timeout } if timeout == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!conn.is_reusable());

    let mut conn = client
        .connect(sink.addr(), "mx.test", TlsMode::Opportunistic)
        .await
        .unwrap();
    let err = conn
        .send("a@x", &["data-slow-3000@y"], MESSAGE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::Timeout {
                stage: Stage::EndOfData,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.may_have_delivered());
}

#[tokio::test]
async fn a_silent_server_times_out_at_the_greeting() {
    let sink = Sink::builder().silent().start().await.unwrap();
    let client = client_with(
        Timeouts {
            greeting: Duration::from_millis(200),
            ..Timeouts::all(Duration::from_secs(10))
        },
        None,
    );
    let started = Instant::now();
    let err = client
        .connect(sink.addr(), "mx.test", TlsMode::Opportunistic)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::Timeout {
                stage: Stage::Greeting,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn connection_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client()
        .connect(addr, "mx.test", TlsMode::Opportunistic)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectionError::Connect { addr: a, .. } if *a == addr),
        "{err:?}"
    );
    assert_eq!(err.stage(), Stage::Connect);
}

#[tokio::test]
async fn a_message_over_the_advertised_size_is_never_offered() {
    let sink = Sink::builder().size_limit(1000).start().await.unwrap();
    let mut conn = connect(&sink).await;
    assert_eq!(conn.peer().extensions.max_size, Some(1000));
    let big = [MESSAGE, &[b'x'; 1000]].concat();
    let result = conn.send("a@x", &["b@y", "c@y"], &big).await.unwrap();
    for outcome in &result.recipients {
        match outcome {
            RecipientOutcome::NotSent {
                reason: NotSent::MessageTooBig { size, limit },
                reply,
            } => {
                assert_eq!((*size, *limit), (big.len() as u64 + 5, 1000));
                assert_eq!(
                    (reply.code, reply.enhanced),
                    (552, Some(EnhancedStatus::new(5, 3, 4)))
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(outcome.severity(), Some(Severity::Permanent));
        assert_eq!(outcome.blame(), Some(Blame::Message));
        assert!(!outcome.is_remote());
    }
    assert_eq!(verbs(&sink), ["EHLO"]);
    // A small one still goes, with its size declared.
    let result = conn.send("a@x", &["b@y"], MESSAGE).await.unwrap();
    assert_eq!(result.accepted(), 1);
    let got = sink.received();
    assert_eq!(
        got[0].mail_parameters,
        [format!("SIZE={}", MESSAGE.len() + 3)]
    );
}

#[tokio::test]
async fn line_endings_are_normalised_and_dots_stuffed_on_the_wire() {
    let sink = Sink::start().await.unwrap();
    let mut conn = connect(&sink).await;
    let table: &[(&[u8], &[u8])] = &[
        (
            b"Subject: dots\n\n.leading dot\n..two\n.\nlast line without newline",
            b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nlast line without newline\r\n",
        ),
        (
            // Smuggling attempt: a bare-LF "end of data" followed by a forged transaction.
            b"Subject: s\r\n\r\nx\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\n",
            b"Subject: s\r\n\r\nx\r\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\n",
        ),
        (
            b"Subject: cr\r\n\r\na\rb\r\n",
            b"Subject: cr\r\n\r\na\r\nb\r\n",
        ),
        (b"", b""),
    ];
    for (i, (message, expected)) in table.iter().enumerate() {
        let result = conn.send("a@x", &["b@y"], message).await.unwrap();
        assert_eq!(result.accepted(), 1);
        let got = sink.wait_for(i + 1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got[i].data),
            String::from_utf8_lossy(expected)
        );
    }
    // The forged transaction stayed inside the message.
    assert_eq!(sink.received().len(), table.len());
    assert!(sink.received().iter().all(|m| m.mail_from == "a@x"));
}

#[tokio::test]
async fn eight_bit_and_international_mail() {
    let sink = Sink::start().await.unwrap();
    let mut conn = connect(&sink).await;
    let eight_bit_body = "Subject: x\r\n\r\ncaf\u{e9}\r\n".as_bytes();
    conn.send("a@x", &["b@y"], eight_bit_body).await.unwrap();
    let utf8_header = "Subject: \u{65e5}\u{672c}\r\n\r\nhi\r\n".as_bytes();
    conn.send("a@x", &["b@y"], utf8_header).await.unwrap();
    conn.send("a@x", &["\u{7530}\u{4e2d}@\u{4f8b}.jp"], MESSAGE)
        .await
        .unwrap();
    let got = sink.wait_for(3, Duration::from_secs(5)).await.unwrap();
    let params: Vec<Vec<String>> = got
        .iter()
        .map(|m| m.mail_parameters[1..].to_vec())
        .collect();
    assert_eq!(
        params,
        [
            vec!["BODY=8BITMIME".to_string()],
            vec!["BODY=8BITMIME".to_string(), "SMTPUTF8".to_string()],
            vec!["SMTPUTF8".to_string()],
        ]
    );
    assert_eq!(got[2].recipients, ["\u{7530}\u{4e2d}@\u{4f8b}.jp"]);

    // A server without SMTPUTF8 cannot take a non-ASCII address; 8-bit bodies go as they are.
    let plain = Sink::builder().eight_bit(false).start().await.unwrap();
    let mut conn = connect(&plain).await;
    let result = conn
        .send("a@x", &["\u{7530}\u{4e2d}@\u{4f8b}.jp", "b@y"], MESSAGE)
        .await
        .unwrap();
    assert!(result.recipients.iter().all(|r| matches!(
        r,
        RecipientOutcome::NotSent { reason: NotSent::Smtputf8Required, reply } if reply.code == 553
    )));
    conn.send("a@x", &["b@y"], eight_bit_body).await.unwrap();
    let got = plain.wait_for(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        got[0].mail_parameters.len(),
        1,
        "{:?}",
        got[0].mail_parameters
    );
    assert_eq!(got[0].data, eight_bit_body);
}

#[tokio::test]
async fn opportunistic_starttls() {
    let sink = Sink::builder().starttls().start().await.unwrap();
    let mut conn = connect(&sink).await;
    let tls = conn.peer().tls.clone().expect("TLS negotiated");
    assert_eq!(tls.protocol, "TLSv1_3");
    assert!(
        tls.cipher_suite.starts_with("TLS13_"),
        "{}",
        tls.cipher_suite
    );
    assert!(!tls.verified);
    // What the server offers inside TLS (STARTTLS no more).
    assert!(!conn.peer().extensions.starttls);
    conn.send("a@x", &["b@y"], MESSAGE).await.unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await.unwrap();
    assert!(got[0].tls);
    assert_eq!(got[0].helo, HELO);
    assert_eq!(conn.peer().remote().tls, Some(true));
    conn.quit().await;
    assert_eq!(
        verbs(&sink),
        ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    );

    // Disabled: STARTTLS is offered but not used.
    let mut conn = client()
        .connect(sink.addr(), "mx.test", TlsMode::Disabled)
        .await
        .unwrap();
    assert!(conn.peer().tls.is_none());
    conn.send("a@x", &["b@y"], MESSAGE).await.unwrap();
    let got = sink.wait_for(2, Duration::from_secs(5)).await.unwrap();
    assert!(!got[1].tls);
}

#[tokio::test]
async fn required_tls_with_verification() {
    let sink = Sink::builder().starttls().start().await.unwrap();
    let required = TlsMode::Required { verify: true };
    let trusting = client_with(
        Timeouts::all(Duration::from_secs(10)),
        Some(sink.root_store()),
    );

    let mut conn = trusting
        .connect(sink.addr(), "mx.test", required.clone())
        .await
        .unwrap();
    assert!(conn.peer().tls.as_ref().unwrap().verified);
    // Opportunistic sessions tell whether the certificate would have passed.
    for (host, verified) in [("mx.test", true), ("other.test", false)] {
        let opportunistic = trusting
            .connect(sink.addr(), host, TlsMode::Opportunistic)
            .await
            .unwrap();
        assert_eq!(
            opportunistic.peer().tls.as_ref().unwrap().verified,
            verified,
            "{host}"
        );
    }
    conn.send("a@x", &["b@y"], MESSAGE).await.unwrap();
    assert!(sink.wait_for(1, Duration::from_secs(5)).await.unwrap()[0].tls);
    // MX names from DNS end in a dot.
    trusting
        .connect(sink.addr(), "mx.test.", required.clone())
        .await
        .unwrap();

    // A certificate that does not name the MX host.
    let err = trusting
        .connect(sink.addr(), "other.test", required.clone())
        .await
        .unwrap_err();
    assert!(err.is_tls_handshake_failure(), "{err:?}");
    // A certificate from a CA we do not trust (the default roots are the public ones).
    let err = client()
        .connect(sink.addr(), "mx.test", required)
        .await
        .unwrap_err();
    assert!(err.is_tls_handshake_failure(), "{err:?}");
    assert_eq!(err.stage(), Stage::TlsHandshake);
    // Without verification, the same certificate is fine.
    let conn = client()
        .connect(sink.addr(), "mx.test", TlsMode::Required { verify: false })
        .await
        .unwrap();
    assert!(!conn.peer().tls.as_ref().unwrap().verified);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn required_tls_but_not_offered() {
    let sink = Sink::start().await.unwrap();
    let err = client()
        .connect(sink.addr(), "mx.test", TlsMode::Required { verify: false })
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectionError::TlsNotOffered), "{err:?}");
    assert_eq!(verbs(&sink), ["EHLO", "QUIT"]);
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_server_is_not_reused() {
    let sink = Sink::start().await.unwrap();
    let mut conn = connect(&sink).await;
    conn.send("a@x", &["b@y"], MESSAGE).await.unwrap();
    assert!(conn.is_reusable());
    drop(sink);
    let mut reusable = true;
    for _ in 0..100 {
        reusable = conn.is_reusable();
        if !reusable {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!reusable);
}

#[tokio::test]
async fn addresses_that_would_inject_commands_are_refused_here() {
    let sink = Sink::start().await.unwrap();
    let mut conn = connect(&sink).await;
    let result = conn
        .send("a@x", &["b@y>\r\nRCPT TO:<c@z", "ok@y"], MESSAGE)
        .await
        .unwrap();
    assert!(matches!(
        &result.recipients[0],
        RecipientOutcome::NotSent {
            reason: NotSent::InvalidRecipient,
            ..
        }
    ));
    assert_eq!(result.recipients[0].blame(), Some(Blame::Recipient));
    assert!(result.recipients[1].is_accepted());
    assert_eq!(sink.received()[0].recipients, ["ok@y"]);
}

// ---- hand-written servers: odd and hostile ----------------------------------------------------

/// What a hand-written server does with a line it read.
enum Act {
    Say(Vec<u8>),
    Nothing,
    Close,
}

/// A one-connection server: sends `greeting` bytes, then answers each line through `answer`.
async fn raw_server(
    greeting: &'static [u8],
    mut answer: impl FnMut(&str) -> Act + Send + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(stream);
        stream.get_mut().write_all(greeting).await.unwrap();
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            match answer(line.trim_end()) {
                Act::Say(bytes) => {
                    if stream.get_mut().write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Act::Nothing => {}
                Act::Close => return,
            }
        }
    });
    addr
}

/// Answers EHLO with `ehlo`, then accepts any transaction with LF-only replies.
fn lenient(ehlo: &'static [u8]) -> impl FnMut(&str) -> Act + Send + 'static {
    let mut in_data = false;
    move |line| {
        if in_data {
            if line == "." {
                in_data = false;
                return Act::Say(b"250 queued\n".to_vec());
            }
            return Act::Nothing;
        }
        match line.split([' ', ':']).next().unwrap() {
            "EHLO" => Act::Say(ehlo.to_vec()),
            "DATA" => {
                in_data = true;
                Act::Say(b"354\n".to_vec())
            }
            "QUIT" => Act::Close,
            _ => Act::Say(b"250\n".to_vec()),
        }
    }
}

/// Connects to a hand-written server and sends one message, which must go in plain text and be
/// accepted.
async fn one_message_in_plain_text(addr: SocketAddr, tls: TlsMode) {
    let mut conn = client().connect(addr, "mx.test", tls).await.unwrap();
    assert!(conn.peer().tls.is_none());
    let result = conn.send("a@x", &["b@y"], MESSAGE).await.unwrap();
    assert_eq!(result.accepted(), 1);
}

#[tokio::test]
async fn a_sloppy_server_with_bare_lf_replies_is_understood() {
    let addr = raw_server(b"220 old.mx\n", lenient(b"250-old.mx\n250 SIZE\n")).await;
    let mut conn = client()
        .connect(addr, "old.mx", TlsMode::Opportunistic)
        .await
        .unwrap();
    assert!(conn.peer().extensions.size);
    let result = conn.send("a@x", &["b@y", "c@y"], MESSAGE).await.unwrap();
    assert_eq!(
        result.recipients,
        vec![
            RecipientOutcome::Accepted(Reply {
                code: 250,
                enhanced: None,
                text: "queued".into()
            });
            2
        ]
    );
}

#[tokio::test]
async fn hostile_replies_are_protocol_errors_not_memory() {
    // An endless greeting line.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let _ = stream.write_all(b"220-").await;
        let junk = vec![b'a'; 64 * 1024];
        let mut sent = 0usize;
        while stream.write_all(&junk).await.is_ok() {
            sent += junk.len();
        }
        sent
    });
    let err = client()
        .connect(addr, "mx.test", TlsMode::Opportunistic)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::Protocol {
                stage: Stage::Greeting,
                error: ReplyError::LineTooLong
            }
        ),
        "{err:?}"
    );
    // The client hung up instead of reading on.
    let sent = tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .unwrap()
        .unwrap();
    assert!(sent < 64 * 1024 * 1024, "{sent}");

    let long_line = [b"250-".as_slice(), &[b'x'; 1000], b"\r\n"].concat();
    let table: [(&'static [u8], Vec<u8>, Stage, ReplyError); 4] = [
        (
            b"HTTP/1.1 400 Bad Request\r\n",
            vec![],
            Stage::Greeting,
            ReplyError::NotAReply("HTTP/1.1 400 Bad Request".into()),
        ),
        (
            b"220-a\r\n221 b\r\n",
            vec![],
            Stage::Greeting,
            ReplyError::CodeMismatch {
                first: 220,
                then: 221,
            },
        ),
        (
            b"220 mx\r\n",
            b"250-x\r\n".to_vec(),
            Stage::Ehlo,
            ReplyError::TooManyLines,
        ),
        (
            b"220 mx\r\n",
            long_line,
            Stage::Ehlo,
            ReplyError::ReplyTooLong,
        ),
    ];
    for (greeting, ehlo_line, stage, expected) in table {
        // The EHLO reply is the line repeated without end: limits must stop it.
        let addr = raw_server(greeting, move |line| {
            if line.starts_with("EHLO") {
                Act::Say(ehlo_line.repeat(200))
            } else {
                Act::Nothing
            }
        })
        .await;
        let err = client()
            .connect(addr, "mx.test", TlsMode::Opportunistic)
            .await
            .unwrap_err();
        match err {
            ConnectionError::Protocol { stage: s, error } => {
                assert_eq!((s, error), (stage, expected));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn bytes_after_the_starttls_reply_are_refused() {
    let addr = raw_server(b"220 mx\r\n", |line| match line {
        l if l.starts_with("EHLO") => Act::Say(b"250-mx\r\n250 STARTTLS\r\n".to_vec()),
        "STARTTLS" => Act::Say(b"220 go ahead\r\n250-injected\r\n250 PIPELINING\r\n".to_vec()),
        _ => Act::Nothing,
    })
    .await;
    let err = client()
        .connect(addr, "mx.test", TlsMode::Opportunistic)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectionError::StartTlsInjection), "{err:?}");
}

#[tokio::test]
async fn a_broken_tls_handshake_can_be_retried_without_tls() {
    // 220 to STARTTLS, then plain text where a ServerHello should be.
    let addr = raw_server(b"220 mx\r\n", |line| match line {
        l if l.starts_with("EHLO") => Act::Say(b"250-mx\r\n250 STARTTLS\r\n".to_vec()),
        "STARTTLS" => Act::Say(b"220 go ahead\r\n".to_vec()),
        _ => Act::Say(b"500 5.5.2 what?\r\n".to_vec()),
    })
    .await;
    let err = client()
        .connect(addr, "mx.test", TlsMode::Opportunistic)
        .await
        .unwrap_err();
    assert!(err.is_tls_handshake_failure(), "{err:?}");

    // The retry the engine makes: the same kind of host, TLS disabled.
    let addr = raw_server(b"220 mx\r\n", lenient(b"250-mx\r\n250 STARTTLS\r\n")).await;
    one_message_in_plain_text(addr, TlsMode::Disabled).await;
}

#[tokio::test]
async fn opportunistic_tls_goes_on_in_plain_text_when_starttls_is_refused() {
    let addr = raw_server(b"220 mx\r\n", {
        let mut inner = lenient(b"250-mx\r\n250 STARTTLS\r\n");
        move |line| {
            if line == "STARTTLS" {
                Act::Say(b"454 4.7.0 TLS not available due to local problem\r\n".to_vec())
            } else {
                inner(line)
            }
        }
    })
    .await;
    one_message_in_plain_text(addr, TlsMode::Opportunistic).await;
}

#[tokio::test]
async fn a_server_that_wants_data_for_no_recipients_gets_a_lone_dot() {
    // Pipelining, every RCPT refused, and yet 354 to DATA (RFC 2920 says it must refuse).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut in_data = false;
    let addr = raw_server(b"220 mx\r\n", move |line| {
        tx.send(line.to_string()).unwrap();
        if in_data {
            in_data = false;
            return Act::Say(b"554 5.5.1 no valid recipients\r\n".to_vec());
        }
        match line.split([' ', ':']).next().unwrap() {
            "EHLO" => Act::Say(b"250-mx\r\n250 PIPELINING\r\n".to_vec()),
            "RCPT" => Act::Say(b"550 5.1.1 no\r\n".to_vec()),
            "DATA" => {
                in_data = true;
                Act::Say(b"354 go\r\n".to_vec())
            }
            _ => Act::Say(b"250 2.0.0 ok\r\n".to_vec()),
        }
    })
    .await;
    let mut conn = client()
        .connect(addr, "mx.test", TlsMode::Opportunistic)
        .await
        .unwrap();
    let result = conn.send("a@x", &["b@y"], MESSAGE).await.unwrap();
    assert!(
        matches!(&result.recipients[0], RecipientOutcome::RecipientRefused(r) if r.code == 550)
    );
    assert!(conn.is_reusable());
    conn.quit().await;
    let mut seen = Vec::new();
    while let Ok(line) = rx.try_recv() {
        seen.push(line);
    }
    assert_eq!(
        seen,
        [
            format!("EHLO {HELO}"),
            "MAIL FROM:<a@x>".into(),
            "RCPT TO:<b@y>".into(),
            "DATA".into(),
            ".".into(),
            "QUIT".into()
        ]
    );
}
