//! Raw input from real applications, end to end: LF-only text handed to the relay (by swaks,
//! which we did not write, sending the file's bytes as they are) reaches the remote MX with
//! CRLF everywhere, and a second transaction smuggled behind a dot on a bare line end is
//! carried as message text, never executed.

mod delivery_support;

use delivery_support::{metric, route_everything, scrape_metrics, search};
use hikyaku_testkit::{HikyakuProcess, Sink, SmtpClient};
use std::time::Duration;

/// Every CR is followed by LF and every LF preceded by CR.
fn assert_crlf_only(data: &[u8]) {
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(data.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && data[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
}

fn start(sink: &Sink) -> HikyakuProcess {
    let (node, _customer) =
        delivery_support::start(|b| route_everything(b, &sink.addr().to_string()));
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lf_only_text_from_swaks_is_delivered_with_crlf() {
    let Some(swaks) = hikyaku_testkit::tool("swaks") else {
        return;
    };
    let sink = Sink::start().await.unwrap();
    let node = start(&sink);
    // An application's message as many write it: LF line ends, one bare CR, a dot-stuffed
    // line; only the end of data is a proper CRLF . CRLF (swaks adds the last CRLF).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lf.eml");
    std::fs::write(
        &file,
        b"From: app@example.com\nTo: user@example.jp\nSubject: LF only\n\nline one\n..dot line\nold mac\rline\r\n.",
    )
    .unwrap();
    let port = node.smtp_addr().port().to_string();
    let file_arg = format!("@{}", file.display());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(swaks)
            .args(["--server", "127.0.0.1", "--port", &port])
            .args(["--from", "app@example.com", "--to", "user@example.jp"])
            .args(["--helo", "app.example.com", "--timeout", "20"])
            // No data fix-up: swaks sends the file's bytes, LF line ends and all.
            .args(["--data", &file_arg, "--no-data-fixup"])
            .output()
            .expect("swaks runs")
    })
    .await
    .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(log.contains("250 2.0.0"), "{log}");

    let received = sink.wait_for(1, Duration::from_secs(30)).await.unwrap();
    let data = &received[0].data;
    assert_crlf_only(data);
    let text = String::from_utf8_lossy(data);
    assert!(
        text.ends_with("Subject: LF only\r\n\r\nline one\r\n.dot line\r\nold mac\r\nline\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nFrom: app@example.com\r\nTo: user@example.jp\r\n"),
        "{text}"
    );
    let page = scrape_metrics(&node);
    assert_eq!(
        metric(
            &page,
            "hikyaku_smtp_messages_normalised_total",
            &["listener=\"relay\""]
        ),
        Some(1.0),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_smuggled_behind_a_bare_line_end_is_message_text() {
    let sink = Sink::start().await.unwrap();
    let node = start(&sink);
    let (mut client, greeting) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    assert_eq!(greeting.code, 220);
    assert_eq!(
        client.command("EHLO app.example.com").await.unwrap().code,
        250
    );

    let dot_lines: [&[u8]; 4] = [b"\n.\n", b"\r.\n", b"\n.\r\n", b"\r.\r\n"];
    for (i, dot_line) in dot_lines.iter().enumerate() {
        // The whole attempt in one write, as an attacker pipelines it.
        let attempt = [
            b"MAIL FROM:<app@example.com>\r\nRCPT TO:<user@example.jp>\r\nDATA\r\n".as_slice(),
            format!("From: app@example.com\r\nSubject: attempt {i}\r\n\r\nhello").as_bytes(),
            dot_line,
            b"MAIL FROM:<ceo@victim.example>\r\nRCPT TO:<smuggled@example.jp>\r\nDATA\r\n",
            b"From: ceo@victim.example\r\nSubject: forged\r\n\r\npay now\r\n.\r\n",
        ]
        .concat();
        client.send_raw(&attempt).await.unwrap();
        let heads: Vec<String> = [
            client.read_reply().await.unwrap(),
            client.read_reply().await.unwrap(),
            client.read_reply().await.unwrap(),
            client.read_reply().await.unwrap(),
        ]
        .iter()
        .map(|r| r.head())
        .collect();
        assert_eq!(
            heads,
            ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0"],
            "{dot_line:?}"
        );
    }
    // Nothing else was answered: the next reply is the NOOP's, not a smuggled command's.
    assert_eq!(client.command("NOOP").await.unwrap().head(), "250 2.0.0");

    let received = sink.wait_for(4, Duration::from_secs(30)).await.unwrap();
    for message in &received {
        assert_eq!(message.recipients, ["user@example.jp"]);
        assert_crlf_only(&message.data);
        let text = String::from_utf8_lossy(&message.data);
        assert!(
            text.ends_with(
                "\r\nhello\r\n\r\nMAIL FROM:<ceo@victim.example>\r\nRCPT TO:<smuggled@example.jp>\r\n\
                 DATA\r\nFrom: ceo@victim.example\r\nSubject: forged\r\n\r\npay now\r\n"
            ),
            "{text}"
        );
    }
    // Let any stray delivery arrive, then look again: four messages, none to the smuggled
    // recipient, and the send log never heard of it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 4);
    assert!(search(&node, &["--to", "smuggled@example.jp"]).is_empty());
    assert_eq!(
        search(&node, &["--to", "user@example.jp", "--outcome", "accepted"]).len(),
        4,
        "{}",
        node.log()
    );
}
