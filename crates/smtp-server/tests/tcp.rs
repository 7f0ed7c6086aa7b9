//! The engine over real TCP (and TLS) on 127.0.0.1, with a recording handler.

mod common;

use common::{
    Client, HOST, Recorder, TestServer, config, connect, connect_from, start_tls, tls_pair,
};
use hikyaku_smtp_server::{AuthFailures, BodyType};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpStream;

async fn ehlo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    client: &mut Client<S>,
) -> Vec<String> {
    let reply = client.command("EHLO client.test").await.unwrap();
    assert_eq!(reply.code, 250);
    reply.lines
}

#[tokio::test]
async fn a_transaction_end_to_end() {
    let server = TestServer::start(config()).await;
    let (mut client, greeting) = connect(server.addr).await;
    assert_eq!(greeting.code, 220);
    assert_eq!(greeting.lines, [format!("{HOST} ESMTP Hikyaku")]);
    assert_eq!(
        ehlo(&mut client).await,
        [
            HOST,
            "PIPELINING",
            "SIZE 2097152",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "HELP"
        ]
    );
    assert_eq!(
        client
            .head("MAIL FROM:<app@sender.test> BODY=8BITMIME SIZE=100")
            .await,
        "250 2.1.0"
    );
    assert_eq!(client.head("RCPT TO:<a@rcpt.test>").await, "250 2.1.5");
    assert_eq!(client.head("RCPT TO:<refuse@rcpt.test>").await, "550 5.1.1");
    assert_eq!(client.head("RCPT TO:<b@rcpt.test>").await, "250 2.1.5");
    assert_eq!(client.command("DATA").await.unwrap().code, 354);
    client
        .send(b"Subject: hi\r\n\r\n..dot\r\n\xe6\x97\xa5\r\n.\r\n")
        .await
        .unwrap();
    let accepted = client.read_reply().await.unwrap();
    assert_eq!(accepted.head(), "250 2.0.0");
    assert_eq!(accepted.lines, ["2.0.0 Message accepted 1"]);
    assert_eq!(client.head("NOOP").await, "250 2.0.0");
    assert_eq!(client.head("VRFY a").await, "252 2.5.0");
    assert_eq!(client.head("HELP").await, "214 2.0.0");
    assert_eq!(client.head("RSET").await, "250 2.0.0");
    assert_eq!(client.head("QUIT").await, "221 2.0.0");
    assert!(client.closed().await);

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].envelope.mail_from, "app@sender.test");
    assert_eq!(
        messages[0].envelope.recipients,
        ["a@rcpt.test", "b@rcpt.test"]
    );
    assert_eq!(
        messages[0].body,
        b"Subject: hi\r\n\r\n.dot\r\n\xe6\x97\xa5\r\n"
    );
    assert_eq!(messages[0].params.body, BodyType::EightBitMime);
    assert_eq!(messages[0].params.size, Some(100));
    assert_eq!(messages[0].ctx.helo.as_deref(), Some("client.test"));
    assert_eq!(messages[0].ctx.received_protocol(), "ESMTP");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.handler.disconnects.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn pipelined_transactions_in_one_write() {
    let server = TestServer::start(config()).await;
    let (mut client, _) = connect(server.addr).await;
    client
        .send(
            b"EHLO c.test\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nRCPT TO:<refuse@r.test>\r\nDATA\r\n\
              one\r\n.\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<c@r.test>\r\nDATA\r\ntwo\r\n.\r\nQUIT\r\n",
        )
        .await
        .unwrap();
    let heads = client.read_heads(11).await;
    assert_eq!(
        heads,
        [
            "250",
            "250 2.1.0",
            "250 2.1.5",
            "550 5.1.1",
            "354",
            "250 2.0.0",
            "250 2.1.0",
            "250 2.1.5",
            "354",
            "250 2.0.0",
            "221 2.0.0"
        ]
    );
    assert!(client.closed().await);
    let bodies: Vec<_> = server.messages().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, [b"one\r\n".to_vec(), b"two\r\n".to_vec()]);
}

#[tokio::test]
async fn the_connection_over_the_limit_gets_421() {
    let mut config = config();
    config.max_connections = 30;
    let server = TestServer::start(config).await;
    let mut open = Vec::new();
    for _ in 0..30 {
        let (client, greeting) = connect(server.addr).await;
        assert_eq!(greeting.code, 220);
        open.push(client);
    }
    let (mut extra, refusal) = connect(server.addr).await;
    assert_eq!(refusal.code, 421);
    assert_eq!(
        refusal.lines,
        [format!(
            "4.7.0 {HOST} Too many connections, try again later"
        )]
    );
    assert!(extra.closed().await);
    assert_eq!(
        server.handler.disconnects.load(Ordering::SeqCst),
        0,
        "the handler never saw it"
    );

    // A slot frees when a session ends.
    let mut first = open.remove(0);
    assert_eq!(first.head("QUIT").await, "221 2.0.0");
    assert!(first.closed().await);
    let mut greeted = false;
    for _ in 0..50 {
        let (_client, greeting) = connect(server.addr).await;
        if greeting.code == 220 {
            greeted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(greeted, "no slot freed after a QUIT");
}

#[tokio::test]
async fn message_size_limit_declared_and_undeclared() {
    let server = TestServer::start(config()).await;
    let (mut client, _) = connect(server.addr).await;
    ehlo(&mut client).await;
    let limit = 2 * 1024 * 1024;
    assert_eq!(
        client
            .head(&format!("MAIL FROM:<a@s.test> SIZE={}", limit + 1))
            .await,
        "552 5.3.4"
    );

    // Undeclared: 2 MiB + 1 octet of text, read to the end and refused only then.
    let line = [vec![b'x'; 998], b"\r\n".to_vec()].concat();
    let mut body = line.repeat(limit / 1000 + 1);
    body.truncate(limit - 2);
    body.extend_from_slice(b"\r\n");
    assert_eq!(body.len(), limit);
    for (extra, expected) in [(&b""[..], "250 2.0.0"), (&b"y\r\n"[..], "552 5.3.4")] {
        let mut message = body.clone();
        if !extra.is_empty() {
            message.truncate(limit - 2);
            message.extend_from_slice(extra);
            assert_eq!(message.len(), limit + 1);
        }
        assert_eq!(client.head("MAIL FROM:<a@s.test>").await, "250 2.1.0");
        assert_eq!(client.head("RCPT TO:<b@r.test>").await, "250 2.1.5");
        assert_eq!(client.head("DATA").await, "354");
        client.send(&message).await.unwrap();
        client.send(b".\r\n").await.unwrap();
        let reply = client.read_reply().await.unwrap();
        assert_eq!(reply.head(), expected);
        if expected.starts_with('5') {
            assert_eq!(
                reply.lines,
                ["5.3.4 Message size exceeds fixed maximum message size"]
            );
        }
    }
    assert_eq!(
        client.head("NOOP").await,
        "250 2.0.0",
        "the session goes on"
    );
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body.len(), limit);
}

#[tokio::test]
async fn long_lines_and_too_many_recipients() {
    let server = TestServer::start(config()).await;
    let (mut client, _) = connect(server.addr).await;
    ehlo(&mut client).await;
    let long = format!("NOOP {}", "x".repeat(995));
    assert_eq!(long.len() + 2, 1002);
    let reply = client.command(&long).await.unwrap();
    assert_eq!(reply.lines, ["5.5.2 Line too long"]);
    assert_eq!(reply.code, 500);
    let fits = format!("NOOP {}", "x".repeat(993));
    assert_eq!(client.head(&fits).await, "250 2.0.0");

    // 1000 recipients is the default limit; the 1001st is refused, pipelined or not.
    assert_eq!(client.head("MAIL FROM:<a@s.test>").await, "250 2.1.0");
    let batch: String = (0..1001)
        .map(|i| format!("RCPT TO:<r{i}@r.test>\r\n"))
        .collect();
    client.send(batch.as_bytes()).await.unwrap();
    let heads = client.read_heads(1001).await;
    assert!(heads[..1000].iter().all(|h| h == "250 2.1.5"));
    let refusal = &heads[1000];
    assert_eq!(refusal, "452 4.5.3");
    assert_eq!(client.head("DATA").await, "354");
    client
        .send(&[vec![b'z'; 1200], b"\r\n.\r\n".to_vec()].concat())
        .await
        .unwrap();
    let reply = client.read_reply().await.unwrap();
    assert_eq!(
        (reply.code, reply.lines[0].as_str()),
        (500, "5.5.2 Line too long")
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn idle_sessions_time_out() {
    let mut config = config();
    config.command_timeout = Duration::from_millis(300);
    config.data_timeout = Duration::from_millis(600);
    let server = TestServer::start(config).await;

    let (mut client, _) = connect(server.addr).await;
    let started = tokio::time::Instant::now();
    let reply = client.read_reply().await.unwrap();
    assert_eq!(reply.code, 421);
    assert_eq!(
        reply.lines,
        [format!("4.4.2 {HOST} Idle timeout, closing connection")]
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(client.closed().await);

    // During DATA the longer timeout applies, and a partial message is dropped.
    let (mut client, _) = connect(server.addr).await;
    client
        .send(b"EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\n")
        .await
        .unwrap();
    assert_eq!(
        client.read_heads(4).await,
        ["250", "250 2.1.0", "250 2.1.5", "354"]
    );
    client.send(b"partial line").await.unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(client.read_reply().await.unwrap().head(), "421 4.4.2");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(client.closed().await);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn garbage_and_binary_input_get_5xx_then_421() {
    let server = TestServer::start(config()).await;
    let (mut client, _) = connect(server.addr).await;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut noise = Vec::new();
    for _ in 0..40_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.push(state as u8);
    }
    noise.extend_from_slice(b"\r\n");
    client.send(&noise).await.unwrap();
    let mut replies = Vec::new();
    loop {
        match client.read_reply().await {
            Ok(reply) => replies.push(reply),
            Err(error) => panic!("after {replies:?}: {error:#}"),
        }
        if replies.last().unwrap().code == 421 {
            break;
        }
    }
    let last = replies.pop().unwrap();
    assert_eq!(last.lines, ["4.7.0 Too many errors, closing connection"]);
    assert!(replies.iter().all(|r| r.code >= 500), "{replies:?}");
    assert_eq!(replies.len(), 20);
    assert!(client.closed().await);

    // A lone NUL-laden line and a bare LF line are refused without ending the session.
    let (mut client, _) = connect(server.addr).await;
    client.send(b"\0\0\0\r\nNOOP\n").await.unwrap();
    assert_eq!(client.read_heads(2).await, ["500 5.5.2", "500 5.5.2"]);
    assert_eq!(client.head("NOOP").await, "250 2.0.0");
}

#[tokio::test]
async fn starttls_then_auth() {
    let (server_tls, client_tls) = tls_pair();
    let mut config = config();
    config.tls = Some(server_tls);
    let server = TestServer::start(config).await;

    let (mut client, _) = connect(server.addr).await;
    let offered = ehlo(&mut client).await;
    assert!(offered.contains(&"STARTTLS".to_string()));
    assert!(
        !offered.iter().any(|l| l.starts_with("AUTH")),
        "no AUTH in plaintext: {offered:?}"
    );
    assert_eq!(
        client.head("AUTH PLAIN AHVzZXIAc2VjcmV0").await,
        "538 5.7.11"
    );

    let mut client = start_tls(client, client_tls).await;
    assert_eq!(
        client.head("MAIL FROM:<a@s.test>").await,
        "503 5.5.1",
        "EHLO again after TLS"
    );
    let offered = ehlo(&mut client).await;
    assert!(!offered.contains(&"STARTTLS".to_string()), "{offered:?}");
    assert!(
        offered.contains(&"AUTH PLAIN LOGIN".to_string()),
        "{offered:?}"
    );
    assert_eq!(
        client.head("AUTH PLAIN AHVzZXIAd3Jvbmc=").await,
        "535 5.7.8"
    );
    assert_eq!(client.head("AUTH LOGIN").await, "334");
    assert_eq!(client.head("dXNlcg==").await, "334");
    let reply = client.command("c2VjcmV0").await.unwrap();
    assert_eq!(reply.lines, ["2.7.0 Authentication successful"]);
    assert_eq!(
        client.head("AUTH PLAIN AHVzZXIAc2VjcmV0").await,
        "503 5.5.1"
    );
    assert_eq!(client.head("MAIL FROM:<a@s.test>").await, "250 2.1.0");
    assert_eq!(client.head("RCPT TO:<b@r.test>").await, "250 2.1.5");
    assert_eq!(client.head("DATA").await, "354");
    client.send(b"secret body\r\n.\r\n").await.unwrap();
    assert_eq!(client.read_reply().await.unwrap().head(), "250 2.0.0");
    assert_eq!(client.head("QUIT").await, "221 2.0.0");

    let messages = server.messages();
    let ctx = &messages[0].ctx;
    let tls = ctx.tls.as_ref().expect("TLS recorded");
    assert!(tls.protocol.starts_with("TLSv1"), "{tls:?}");
    assert!(tls.cipher_suite.starts_with("TLS"), "{tls:?}");
    assert_eq!(ctx.authenticated_as.as_deref(), Some("user"));
    assert_eq!(ctx.received_protocol(), "ESMTPSA");
}

#[tokio::test]
async fn plaintext_auth_only_on_loopback_when_allowed() {
    let mut allowed = config();
    allowed.auth.allow_plaintext_on_loopback = true;
    let server = TestServer::start(allowed).await;
    let (mut client, _) = connect(server.addr).await;
    assert!(
        ehlo(&mut client)
            .await
            .contains(&"AUTH PLAIN LOGIN".to_string())
    );
    assert_eq!(
        client.head("AUTH PLAIN AHVzZXIAc2VjcmV0").await,
        "235 2.7.0"
    );

    let server = TestServer::start(config()).await;
    let (mut client, _) = connect(server.addr).await;
    assert!(
        !ehlo(&mut client)
            .await
            .iter()
            .any(|l| l.starts_with("AUTH"))
    );
    let reply = client.command("AUTH LOGIN").await.unwrap();
    assert_eq!(reply.code, 538);
    assert_eq!(
        reply.lines,
        ["5.7.11 Encryption required for requested authentication mechanism"]
    );
}

#[tokio::test]
async fn auth_failures_are_rate_limited_per_ip_across_connections() {
    let mut config = config();
    config.auth.allow_plaintext_on_loopback = true;
    config.auth.failure_limit = 3;
    config.auth.failure_window = Duration::from_secs(600);
    // Shared with a second listener: failures on one count on the other.
    let failures = Arc::new(AuthFailures::new(3, Duration::from_secs(600)));
    let shared = failures.clone();
    let server = TestServer::start_with(config.clone(), Recorder::default(), move |s| {
        s.with_auth_failures(shared)
    })
    .await;
    let shared = failures.clone();
    let other = TestServer::start_with(config, Recorder::default(), move |s| {
        s.with_auth_failures(shared)
    })
    .await;
    let attacker: IpAddr = [127, 0, 0, 1].into();

    for server in [&server, &server, &other] {
        let (mut client, _) = connect_from(attacker, server.addr).await;
        ehlo(&mut client).await;
        assert_eq!(
            client.head("AUTH PLAIN AHVzZXIAd3Jvbmc=").await,
            "535 5.7.8"
        );
    }
    let (mut client, _) = connect_from(attacker, server.addr).await;
    ehlo(&mut client).await;
    let reply = client.command("AUTH PLAIN AHVzZXIAc2VjcmV0").await.unwrap();
    assert_eq!(reply.code, 454);
    assert_eq!(
        reply.lines,
        ["4.7.0 Too many authentication failures, try again later"]
    );

    let (mut client, _) = connect_from([127, 0, 0, 2].into(), server.addr).await;
    ehlo(&mut client).await;
    assert_eq!(
        client.head("AUTH PLAIN AHVzZXIAc2VjcmV0").await,
        "235 2.7.0",
        "other sources unaffected"
    );
}

#[tokio::test]
async fn a_refused_connection_gets_the_handlers_reply() {
    let server = TestServer::start(config()).await;
    let (mut client, greeting) = connect_from([127, 0, 0, 3].into(), server.addr).await;
    assert_eq!(greeting.head(), "554 5.7.1");
    assert!(client.closed().await);
}

#[tokio::test]
async fn graceful_shutdown_finishes_transactions_in_flight() {
    let recorder = Recorder {
        slow: Duration::from_millis(400),
        ..Recorder::default()
    };
    let mut server = TestServer::start_with(config(), recorder, |s| s).await;

    // One client in the middle of DATA, one whose message is in the handler, one idle.
    let (mut receiving, _) = connect(server.addr).await;
    receiving
        .send(b"EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nDATA\r\nfirst half\r\n")
        .await
        .unwrap();
    assert_eq!(
        receiving.read_heads(4).await,
        ["250", "250 2.1.0", "250 2.1.5", "354"]
    );
    let (mut handling, _) = connect(server.addr).await;
    handling
        .send(b"EHLO c\r\nMAIL FROM:<a@s.test>\r\nRCPT TO:<slow@r.test>\r\nDATA\r\nslow\r\n.\r\n")
        .await
        .unwrap();
    assert_eq!(
        handling.read_heads(4).await,
        ["250", "250 2.1.0", "250 2.1.5", "354"]
    );
    let (mut idle, _) = connect(server.addr).await;
    assert_eq!(idle.head("EHLO c").await, "250");
    while server.handler.message_calls_started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    server.begin_shutdown();
    let reply = idle.read_reply().await.unwrap();
    assert_eq!(reply.lines, ["4.3.2 Service shutting down"]);
    assert_eq!(reply.code, 421);
    assert!(idle.closed().await);

    // New connections are no longer served.
    let refused = match TcpStream::connect(server.addr).await {
        Err(_) => true,
        Ok(stream) => Client::new(stream).closed().await,
    };
    assert!(refused);

    // The handler call in flight is answered, then the session is told to go.
    assert_eq!(handling.read_reply().await.unwrap().head(), "250 2.0.0");
    assert_eq!(handling.read_reply().await.unwrap().head(), "421 4.3.2");

    // The message being received is waited for and accepted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    receiving.send(b"second half\r\n.\r\n").await.unwrap();
    assert_eq!(receiving.read_reply().await.unwrap().head(), "250 2.0.0");
    assert_eq!(receiving.read_reply().await.unwrap().head(), "421 4.3.2");
    assert!(receiving.closed().await);

    let handler = server.handler.clone();
    let bodies: Vec<_> = server.messages().into_iter().map(|m| m.body).collect();
    server.finished().await.unwrap();
    assert!(
        bodies.contains(&b"first half\r\nsecond half\r\n".to_vec()),
        "{bodies:?}"
    );
    assert!(bodies.contains(&b"slow\r\n".to_vec()));
    assert_eq!(handler.disconnects.load(Ordering::SeqCst), 3);
}
