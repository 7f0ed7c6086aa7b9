//! Interoperability with an SMTP client we did not write: swaks. Under `CI=true` a missing
//! swaks fails these tests; elsewhere they skip with a message.

mod common;

use common::{TestServer, config, tls_pair};
use std::process::Output;

/// Runs swaks against the server with extra `args` (split at spaces) and returns its output.
async fn swaks(server: &TestServer, args: &str) -> Option<Output> {
    let swaks = hikyaku_testkit::tool("swaks")?;
    let mut command = std::process::Command::new(swaks);
    command
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &server.addr.port().to_string(),
        ])
        .args([
            "--from",
            "app@sender.test",
            "--to",
            "someone@rcpt.test",
            "--helo",
            "swaks.test",
        ])
        .args(["--timeout", "20"])
        .args(args.split_whitespace());
    Some(
        tokio::task::spawn_blocking(move || command.output().expect("swaks runs"))
            .await
            .unwrap(),
    )
}

fn transcript(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn swaks_sends_over_starttls_with_auth_plain_and_login() {
    let mut config = config();
    config.tls = Some(tls_pair().0);
    let server = TestServer::start(config).await;

    for mechanism in ["PLAIN", "LOGIN"] {
        let args = format!("--tls --auth {mechanism} --auth-user user --auth-password secret");
        let Some(output) = swaks(&server, &args).await else {
            return;
        };
        let log = transcript(&output);
        assert_eq!(output.status.code(), Some(0), "{mechanism}:\n{log}");
        assert!(log.contains(&format!("AUTH {mechanism}")), "{log}");
        assert!(log.contains("235 2.7.0 Authentication successful"), "{log}");
        assert!(log.contains("250 2.0.0 Message accepted"), "{log}");
    }

    let messages = server.messages();
    assert_eq!(messages.len(), 2);
    for message in &messages {
        assert_eq!(message.envelope.recipients, ["someone@rcpt.test"]);
        assert_eq!(message.ctx.authenticated_as.as_deref(), Some("user"));
        assert!(message.ctx.tls.is_some());
        assert!(
            message.body.ends_with(b"\r\n"),
            "swaks' message ends with CRLF, without the dot"
        );
        let text = String::from_utf8_lossy(&message.body);
        assert!(text.contains("Subject: test"), "{text}");
        assert!(!text.ends_with(".\r\n"), "{text}");
    }
}

#[tokio::test]
async fn swaks_with_a_wrong_password_is_refused() {
    let mut config = config();
    config.tls = Some(tls_pair().0);
    let server = TestServer::start(config).await;
    let args = "--tls --auth LOGIN --auth-user user --auth-password wrong";
    let Some(output) = swaks(&server, args).await else {
        return;
    };
    let log = transcript(&output);
    assert_eq!(
        output.status.code(),
        Some(28),
        "swaks' AUTH failure code:\n{log}"
    );
    assert!(
        log.contains("535 5.7.8 Authentication credentials invalid"),
        "{log}"
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn swaks_pipelines_without_tls_where_plaintext_auth_is_allowed() {
    let mut config = config();
    config.auth.allow_plaintext_on_loopback = true;
    let server = TestServer::start(config).await;
    let args = "--pipeline --auth PLAIN --auth-user user --auth-password secret";
    let Some(output) = swaks(&server, args).await else {
        return;
    };
    let log = transcript(&output);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert_eq!(server.messages().len(), 1);
}
