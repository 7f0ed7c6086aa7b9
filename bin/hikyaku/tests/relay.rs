//! The relay end to end: the real `hikyaku serve` process, real SMTP over real TCP sockets.

use hikyaku_testkit::{HikyakuProcess, ProcessBuilder, SmtpClient};
use std::net::IpAddr;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");

fn start(configure: impl FnOnce(&mut ProcessBuilder)) -> HikyakuProcess {
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("relay", "hostname", "\"relay.hikyaku.test\"");
    configure(&mut builder);
    builder.start().expect("hikyaku serve starts")
}

/// Creates a contract and returns its customer ID.
fn contract(node: &HikyakuProcess, name: &str) -> String {
    let out = node
        .cli_ok(&["contract", "create", "--name", name, "--json"])
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    json["customer_id"].as_str().unwrap().to_string()
}

fn allow(node: &HikyakuProcess, customer: &str, cidr: &str) {
    node.cli_ok(&["allowed-ip", "add", customer, cidr]).unwrap();
}

fn queue_show(node: &HikyakuProcess, id: &str) -> serde_json::Value {
    let out = node.cli_ok(&["queue", "show", id, "--json"]).unwrap();
    serde_json::from_str(out.trim()).unwrap()
}

const BODY: &str =
    "From: app@example.com\r\nTo: user@example.jp\r\nSubject: hello\r\n\r\nHello.\r\n";

fn accepted_id(reply: &hikyaku_testkit::Reply) -> String {
    assert_eq!(reply.head(), "250 2.0.0", "{reply:?}");
    reply.lines[0].rsplit(' ').next().unwrap().to_string()
}

#[tokio::test]
async fn a_stranger_cannot_relay_but_an_allowed_address_can() {
    let node = start(|_| {});
    let customer = contract(&node, "Acme");
    allow(&node, &customer, "127.0.0.1/32");

    // 127.0.0.2 is loopback too, but not in any allowed range: the open-relay test.
    let stranger: IpAddr = "127.0.0.2".parse().unwrap();
    let (mut c, greeting) = SmtpClient::connect_from(stranger, node.smtp_addr())
        .await
        .unwrap();
    assert_eq!(greeting.code, 220);
    assert!(
        greeting.text().starts_with("relay.hikyaku.test"),
        "{greeting:?}"
    );
    assert_eq!(c.command("EHLO stranger.example").await.unwrap().code, 250);
    let reply = c
        .send_mail("spam@example.com", &["victim@example.org"], BODY)
        .await
        .unwrap();
    assert_eq!(reply.head(), "550 5.7.1", "{reply:?}");

    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    let reply = c
        .send_mail(
            "app@example.com",
            &["user@example.jp", "other@example.jp"],
            BODY,
        )
        .await
        .unwrap();
    let id = accepted_id(&reply);
    assert_eq!(id.len(), 26);

    let shown = queue_show(&node, &id);
    let text = shown.to_string();
    assert!(text.contains(&customer), "{text}");
    assert!(
        text.contains("user@example.jp") && text.contains("other@example.jp"),
        "{text}"
    );
    assert_eq!(
        text.matches("\"accepted\"").count(),
        2,
        "one accepted event per recipient: {text}"
    );
}

#[tokio::test]
async fn a_suspended_contract_is_refused_with_a_clear_reason_and_resumes() {
    let node = start(|_| {});
    let customer = contract(&node, "Suspended Co");
    allow(&node, &customer, "127.0.0.1");
    node.cli_ok(&["contract", "suspend", &customer]).unwrap();

    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    let reply = c
        .send_mail("app@example.com", &["user@example.jp"], BODY)
        .await
        .unwrap();
    assert_eq!(reply.head(), "554 5.7.1", "{reply:?}");
    assert!(
        reply.text().contains(&customer) && reply.text().contains("suspended"),
        "{reply:?}"
    );

    // The state is read for every message, so resuming works on the same connection.
    node.cli_ok(&["contract", "resume", &customer]).unwrap();
    accepted_id(
        &c.send_mail("app@example.com", &["user@example.jp"], BODY)
            .await
            .unwrap(),
    );

    node.cli_ok(&["contract", "terminate", &customer]).unwrap();
    let reply = c
        .send_mail("app@example.com", &["user@example.jp"], BODY)
        .await
        .unwrap();
    assert_eq!(reply.head(), "554 5.7.1", "{reply:?}");
    assert!(reply.text().contains("terminated"), "{reply:?}");
}

#[tokio::test]
async fn trace_fields_are_added_and_the_message_is_kept_byte_for_byte() {
    let node = start(|_| {});
    let customer = contract(&node, "Trace");
    allow(&node, &customer, "127.0.0.0/8");
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    let body = "Subject: dots\r\n\r\n.leading dot\r\n..two\r\nend\r\n";
    let id = accepted_id(
        &c.send_mail("app@example.com", &["user@example.jp"], body)
            .await
            .unwrap(),
    );

    let spooled = spool_file(node.data_dir(), &id);
    let text = String::from_utf8_lossy(&spooled);
    assert!(
        text.contains("Received: from app.example.com ([127.0.0.1])"),
        "{text}"
    );
    assert!(
        text.contains(&format!("X-Hikyaku-Message-Id: {id}\r\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Message-ID: <{id}@relay.hikyaku.test>\r\n")),
        "{text}"
    );
    assert!(
        text.contains("\r\nDate: "),
        "a missing Date is added: {text}"
    );
    assert!(
        text.contains("Subject: dots\r\n\r\n.leading dot\r\n..two\r\nend\r\n"),
        "{text}"
    );
}

/// The spooled file of a message (its format is the spool crate's business; the message bytes
/// are at its end).
fn spool_file(data_dir: &std::path::Path, id: &str) -> Vec<u8> {
    let path = hikyaku_testkit::files_under(&data_dir.join("spool"))
        .into_iter()
        .find(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(id))
        })
        .unwrap_or_else(|| panic!("no spool file for {id}"));
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn limits_answer_with_the_exact_replies() {
    let node = start(|b| {
        b.set("relay", "max_recipients", "3");
        b.set("relay", "max_message_size", "\"64KiB\"");
    });
    let customer = contract(&node, "Limits");
    allow(&node, &customer, "127.0.0.1");
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    let ehlo = c.command("EHLO app.example.com").await.unwrap();
    for capability in [
        "PIPELINING",
        "SIZE 65536",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
    ] {
        assert!(
            ehlo.lines.iter().any(|l| l == capability),
            "{capability} in {ehlo:?}"
        );
    }
    // Declared too big.
    let reply = c
        .command("MAIL FROM:<a@example.com> SIZE=70000")
        .await
        .unwrap();
    assert_eq!(reply.head(), "552 5.3.4", "{reply:?}");
    // Not declared, too big all the same.
    let big = format!(
        "Subject: big\r\n\r\n{}",
        format!("{}\r\n", "x".repeat(998)).repeat(70)
    );
    let reply = c
        .send_mail("a@example.com", &["user@example.jp"], &big)
        .await
        .unwrap();
    assert_eq!(reply.head(), "552 5.3.4", "{reply:?}");
    // Too many recipients.
    assert_eq!(
        c.command("MAIL FROM:<a@example.com>").await.unwrap().code,
        250
    );
    for i in 0..3 {
        assert_eq!(
            c.command(&format!("RCPT TO:<u{i}@example.jp>"))
                .await
                .unwrap()
                .code,
            250
        );
    }
    assert_eq!(
        c.command("RCPT TO:<u4@example.jp>").await.unwrap().head(),
        "452 4.5.3"
    );
    assert_eq!(c.command("RSET").await.unwrap().code, 250);
    // A line over 1000 octets.
    let reply = c
        .command(&format!("MAIL FROM:<{}@example.com>", "a".repeat(1000)))
        .await
        .unwrap();
    assert_eq!(reply.head(), "500 5.5.2", "{reply:?}");
    // Garbage and binary.
    c.send_raw(b"\x00\xff\xfe garbage\r\n").await.unwrap();
    let reply = c.read_reply().await.unwrap();
    assert!(reply.code >= 500, "{reply:?}");
    assert_eq!(
        c.command("NOOP").await.unwrap().code,
        250,
        "still served after garbage"
    );
}

#[tokio::test]
async fn the_31st_connection_is_refused() {
    let node = start(|_| {});
    let mut open = Vec::new();
    for _ in 0..30 {
        let (c, greeting) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
        assert_eq!(greeting.code, 220);
        open.push(c);
    }
    let (mut extra, greeting) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    assert_eq!(greeting.head(), "421 4.7.0", "{greeting:?}");
    assert!(extra.closed().await);
    // A slot frees up when a client leaves.
    let mut first = open.remove(0);
    assert_eq!(first.command("QUIT").await.unwrap().code, 221);
    drop(first);
    let mut accepted = false;
    for _ in 0..50 {
        let (_c, greeting) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
        if greeting.code == 220 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(accepted, "a freed slot is given to the next client");
}

#[tokio::test]
async fn a_full_spool_answers_452_and_loses_nothing() {
    let node = start(|b| {
        b.set("relay", "max_message_size", "\"16KiB\"");
        b.set("relay", "spool_limit", "\"40KiB\"");
    });
    let customer = contract(&node, "Full");
    allow(&node, &customer, "127.0.0.1");
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    let body = format!("Subject: fill\r\n\r\n{}\r\n", "y".repeat(900)).repeat(10);
    let mut ids = Vec::new();
    let full = loop {
        let reply = c
            .send_mail("a@example.com", &["user@example.jp"], &body)
            .await
            .unwrap();
        if reply.code != 250 {
            break reply;
        }
        ids.push(accepted_id(&reply));
        assert!(ids.len() < 10, "the spool limit never took effect");
    };
    assert_eq!(full.head(), "452 4.3.1", "{full:?}");
    assert!(!ids.is_empty(), "some mail fits before the spool is full");
    for id in &ids {
        queue_show(&node, id);
    }
}

#[tokio::test]
async fn starttls_and_auth_with_swaks() {
    let Some(swaks) = hikyaku_testkit::tool("swaks") else {
        return;
    };
    let node = start(|_| {});
    let customer = contract(&node, "Swaks");
    node.cli_ok(&[
        "smtp-credential",
        "add",
        &customer,
        "--username",
        "app",
        "--password",
        "s3cret-Passw0rd",
    ])
    .unwrap();
    let server = node.smtp_addr().to_string();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&swaks)
            .args([
                "--server",
                &server,
                "--from",
                "app@example.com",
                "--to",
                "user@example.jp",
                "--timeout",
                "20",
            ])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    for mechanism in ["PLAIN", "LOGIN"] {
        let (ok, transcript) = run(&[
            "--tls",
            "--auth",
            mechanism,
            "--auth-user",
            "app",
            "--auth-password",
            "s3cret-Passw0rd",
        ]);
        assert!(ok, "{transcript}");
        assert!(transcript.contains("235 2.7.0"), "{transcript}");
        assert!(
            transcript.contains("250 2.0.0 Message accepted"),
            "{transcript}"
        );
    }
    let (ok, transcript) = run(&[
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "app",
        "--auth-password",
        "wrong",
    ]);
    assert!(!ok, "{transcript}");
    assert!(transcript.contains("535 5.7.8"), "{transcript}");
    // Without TLS, AUTH is not even offered (and a stranger cannot relay).
    let (ok, transcript) = run(&[
        "--auth",
        "PLAIN",
        "--auth-user",
        "app",
        "--auth-password",
        "s3cret-Passw0rd",
    ]);
    assert!(!ok, "{transcript}");
}

#[tokio::test]
async fn sigterm_finishes_the_transaction_in_flight() {
    let node = start(|_| {});
    let customer = contract(&node, "Graceful");
    allow(&node, &customer, "127.0.0.1");
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    assert_eq!(
        c.command("MAIL FROM:<a@example.com>").await.unwrap().code,
        250
    );
    assert_eq!(c.command("RCPT TO:<u@example.jp>").await.unwrap().code, 250);
    assert_eq!(c.command("DATA").await.unwrap().code, 354);
    c.send_raw(b"Subject: in flight\r\n\r\nfirst half\r\n")
        .await
        .unwrap();

    let pid = node.pid();
    let addr = node.smtp_addr();
    let stopper = std::thread::spawn(move || node.terminate(Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(300));
    // The listener is closed to new clients while the old one finishes.
    assert!(
        SmtpClient::connect(addr).await.is_err(),
        "no new connections after SIGTERM"
    );
    c.send_raw(b"second half\r\n.\r\n").await.unwrap();
    let reply = c.read_reply().await.unwrap();
    let id = accepted_id(&reply);
    let (status, prepared) = stopper.join().unwrap().expect("clean exit");
    assert!(status.success(), "exit status {status:?} (pid {pid})");
    let out = prepared.cli_ok(&["queue", "show", &id, "--json"]).unwrap();
    assert!(out.contains(&id));
}

#[tokio::test]
async fn health_readiness_and_metrics_over_http() {
    let node = start(|_| {});
    let customer = contract(&node, "Metrics");
    allow(&node, &customer, "127.0.0.1");
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    accepted_id(
        &c.send_mail("app@example.com", &["user@example.jp"], BODY)
            .await
            .unwrap(),
    );

    let (status, body) = http_get(node.http_addr(), "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = http_get(node.http_addr(), "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["database"], "ok");
    assert!(ready["spool"]["used_bytes"].as_u64().unwrap() > 0, "{body}");
    let (status, body) = http_get(node.http_addr(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("hikyaku_spool_used_bytes"), "{body}");
    assert!(
        body.lines()
            .any(|l| l.starts_with("hikyaku_relay_messages_accepted_total") && l.ends_with(" 1")),
        "{body}"
    );
}

/// `/metrics` as a fresh node serves it, before any client: every metric is typed as what it
/// is (counters `_total`, with a doc line), and the series that can be known at start are
/// there at zero instead of appearing with their first event.
#[tokio::test]
async fn metrics_are_typed_and_present_at_zero_from_the_start() {
    // The availability monitor probes the relay listener as soon as the node starts: its
    // connection would be counted before this test's first look.
    let node = start(|b| {
        b.set("monitor", "enabled", "false");
    });
    let (status, body) = http_get(node.http_addr(), "/metrics").await;
    assert_eq!(status, 200);

    let mut types = std::collections::BTreeMap::new();
    let mut documented = std::collections::BTreeSet::new();
    let mut values = std::collections::BTreeMap::new();
    for line in body.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["#", "TYPE", name, kind] => {
                types.insert(name.to_string(), kind.to_string());
            }
            ["#", "HELP", name, _, ..] => {
                documented.insert(name.to_string());
            }
            _ if line.is_empty() || line.starts_with('#') => {}
            _ => {
                let (series, value) = line.rsplit_once(' ').unwrap();
                values.insert(series.to_string(), value.to_string());
            }
        }
    }
    for (name, kind) in &types {
        assert!(documented.contains(name), "{name} has no HELP line\n{body}");
        if kind != "summary" && kind != "histogram" {
            assert_eq!(
                name.ends_with("_total"),
                kind == "counter",
                "{name} is a {kind}: counters, and only counters, end in _total\n{body}"
            );
        }
    }
    for (series, kind) in [
        (
            "hikyaku_smtp_connections_total{listener=\"relay\"}",
            "counter",
        ),
        (
            "hikyaku_smtp_connections_total{listener=\"errors\"}",
            "counter",
        ),
        ("hikyaku_smtp_connections_open{listener=\"relay\"}", "gauge"),
        (
            "hikyaku_smtp_messages_accepted_total{listener=\"relay\"}",
            "counter",
        ),
        (
            "hikyaku_smtp_messages_rejected_total{listener=\"relay\",reason=\"size\"}",
            "counter",
        ),
        (
            "hikyaku_smtp_message_bytes_total{listener=\"relay\"}",
            "counter",
        ),
        (
            "hikyaku_smtp_auth_failures_total{listener=\"relay\"}",
            "counter",
        ),
        (
            "hikyaku_smtp_sessions_closed_by_server_total{listener=\"relay\",reason=\"idle_timeout\"}",
            "counter",
        ),
        ("hikyaku_relay_messages_accepted_total", "counter"),
        ("hikyaku_relay_recipients_accepted_total", "counter"),
        ("hikyaku_relay_denied_total", "counter"),
        ("hikyaku_relay_refused_contract_total", "counter"),
        ("hikyaku_relay_spool_full_total", "counter"),
        (
            "hikyaku_error_server_reports_total{kind=\"bounce\"}",
            "counter",
        ),
        (
            "hikyaku_error_server_events_total{kind=\"bounced\"}",
            "counter",
        ),
        ("hikyaku_error_server_refused_recipients_total", "counter"),
        ("hikyaku_error_server_inbound_total", "counter"),
        (
            "hikyaku_inbound_post_attempts_total{outcome=\"delivered\"}",
            "counter",
        ),
        (
            "hikyaku_inbound_post_attempts_total{outcome=\"pending\"}",
            "counter",
        ),
        (
            "hikyaku_inbound_post_attempts_total{outcome=\"failed\"}",
            "counter",
        ),
        ("hikyaku_spool_commits_total", "counter"),
        ("hikyaku_spool_directory_syncs_total", "counter"),
        ("hikyaku_spool_used_bytes", "gauge"),
    ] {
        assert_eq!(
            values.get(series).map(String::as_str),
            Some("0"),
            "{series} is not at zero\n{body}"
        );
        let name = series.split('{').next().unwrap();
        assert_eq!(
            types.get(name).map(String::as_str),
            Some(kind),
            "{name}\n{body}"
        );
    }
}

/// A minimal HTTP/1.1 GET over a real socket: status and body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Postfix's own load generator at exactly `max_connections` sessions, one connection per
/// message: a client that reconnects as soon as it reads `221` must never meet a `421`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_source_at_the_connection_limit_gets_no_refusals() {
    let Some(smtp_source) = hikyaku_testkit::tool("smtp-source") else {
        return;
    };
    let node = start(|b| {
        b.set("relay", "max_connections", "30");
    });
    let customer = contract(&node, "Load");
    allow(&node, &customer, "127.0.0.1");
    let out = std::process::Command::new(smtp_source)
        .args([
            "-4",
            "-s",
            "30",
            "-m",
            "600",
            "-l",
            "2048",
            "-f",
            "app@example.com",
            "-t",
            "user@example.jp",
        ])
        .arg(node.smtp_addr().to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("421"),
        "smtp-source: {}\n{stderr}",
        out.status
    );
    let listed = node
        .cli_ok(&["queue", "list", "--limit", "10000", "--json"])
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(json["messages"].as_array().unwrap().len(), 600);
}

/// While SIGTERM drains the listeners, `/readyz` still answers, and says `503`: a load balancer
/// must stop sending clients before the listener is gone.
#[tokio::test]
async fn readiness_is_503_while_the_listeners_drain() {
    let node = start(|_| {});
    let customer = contract(&node, "Drain");
    allow(&node, &customer, "127.0.0.1");
    let http = node.http_addr();
    let (status, _) = http_get(http, "/readyz").await;
    assert_eq!(status, 200);
    // A message half sent keeps the drain going until it is finished.
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    c.command("MAIL FROM:<app@example.com>").await.unwrap();
    c.command("RCPT TO:<user@example.jp>").await.unwrap();
    assert_eq!(c.command("DATA").await.unwrap().code, 354);
    c.send_raw(b"Subject: in flight\r\n\r\n").await.unwrap();

    let stopper = std::thread::spawn(move || node.terminate(Duration::from_secs(30)));
    let mut answer = (200, String::new());
    for _ in 0..100 {
        answer = http_get(http, "/readyz").await;
        if answer.0 != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = answer;
    assert_eq!(status, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["draining"], true, "{body}");

    c.send_raw(b"done\r\n.\r\n").await.unwrap();
    accepted_id(&c.read_reply().await.unwrap());
    let (status, _) = stopper.join().unwrap().expect("clean exit");
    assert!(status.success());
}

/// Below the free-space reserve, new mail is refused with `452 4.3.1` at MAIL, on the relay
/// and on the error server, and `/readyz` answers `503` saying why.
#[tokio::test]
async fn below_the_disk_reserve_new_mail_is_452_and_not_ready() {
    // More free space than any test machine has.
    let node = start(|b| {
        b.set("relay", "min_free_disk", "\"1000TiB\"");
    });
    let customer = contract(&node, "Full");
    allow(&node, &customer, "127.0.0.1");
    for addr in [node.smtp_addr(), node.errors_addr()] {
        let (mut c, _) = SmtpClient::connect(addr).await.unwrap();
        c.command("EHLO app.example.com").await.unwrap();
        let reply = c.command("MAIL FROM:<app@example.com>").await.unwrap();
        assert_eq!(reply.head(), "452 4.3.1", "{addr}: {reply:?}");
    }
    let (status, body) = http_get(node.http_addr(), "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["disk"]["ok"], false, "{body}");
    assert_eq!(ready["database"], "ok", "{body}");
}

/// Queued mail, the database and the keys are the service account's alone: a data directory
/// the service creates is 0700 and what it writes there 0600. One the operator made looser is
/// left as it is, with a warning.
#[tokio::test]
async fn the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("relay", "hostname", "\"relay.hikyaku.test\"");
    let prepared = builder.prepare().unwrap();
    // Let the service create it, as on a first start.
    std::fs::remove_dir(&prepared.data_dir).unwrap();
    let node = prepared.start().unwrap();
    let customer = contract(&node, "Private");
    allow(&node, &customer, "127.0.0.1");
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    let id = accepted_id(
        &c.send_mail("app@example.com", &["user@example.jp"], BODY)
            .await
            .unwrap(),
    );
    let data = node.data_dir().to_owned();
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700);
    let spooled = hikyaku_testkit::files_under(&data.join("spool"))
        .into_iter()
        .find(|p| p.ends_with(&id))
        .unwrap();
    for file in [
        data.join("hikyaku.db"),
        data.join("hikyaku.db-wal"),
        data.join("hikyaku.db-shm"),
        data.join("secret.key"),
        data.join("tls/self-signed.key"),
        spooled,
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert!(!node.log().contains("readable by other"), "{}", node.log());

    // An operator's looser directory is warned about, not changed.
    let (_, prepared) = node.terminate(Duration::from_secs(30)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let node = prepared.start().unwrap();
    assert_eq!(mode(&data), 0o755);
    let log = node.log();
    assert!(
        log.lines()
            .any(|l| l.contains("readable by other") && l.contains(&*data.to_string_lossy())),
        "{log}"
    );
}
