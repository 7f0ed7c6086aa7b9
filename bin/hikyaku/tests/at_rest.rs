//! Addresses are sealed at rest: after mail has gone through a real `hikyaku serve` — accepted,
//! delivered, bounced onto the suppression list, suppressed — none of the addresses it involved
//! can be found in the database's files (SQLite: the database, its WAL and shared memory; the
//! whole data directory but the spool, which holds messages as sent) or in a `pg_dump` of the
//! PostgreSQL database, neither as UTF-8 nor as UTF-16 text, in any letter case. Mail goes in
//! over SMTP and over the HTTP API (with an idempotency key, whose kept answer names the
//! recipient).
//!
//! Each address carries a random token, and the token alone is searched for, so a partial
//! address (a local part kept apart from its domain) is caught too.

mod delivery_support;

use delivery_support::{route_everything, send, wait_for_events};
use hikyaku_testkit::{HikyakuProcess, Sink};
use std::path::Path;
use std::time::Duration;

/// The addresses one run sends to and from, each with its own token.
struct Addresses {
    tokens: Vec<String>,
    sender: String,
    delivered: String,
    bounced: String,
    listed: String,
    /// Sent to over the HTTP API, with an idempotency key (whose stored answer names it).
    api: String,
}

impl Addresses {
    fn new() -> Self {
        let token = |what: &str| format!("{what}{:016x}", rand::random::<u64>());
        let tokens: Vec<String> = ["sender", "rcpt", "bounce", "listed", "api"]
            .iter()
            .map(|what| token(what))
            .collect();
        Addresses {
            sender: format!("{}@sender.example.com", tokens[0]),
            delivered: format!("{}@example.jp", tokens[1]),
            // The scripted MX answers `550 5.1.1` to the `reject` local part.
            bounced: format!("reject+{}@example.jp", tokens[2]),
            listed: format!("{}@example.jp", tokens[3]),
            api: format!("{}@example.jp", tokens[4]),
            tokens,
        }
    }
}

/// Every way the tokens could be written to a file: as UTF-8 and UTF-16 (both byte orders), in
/// lower and upper case.
fn needles(tokens: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut needles = Vec::new();
    for token in tokens {
        for text in [token.to_lowercase(), token.to_uppercase()] {
            needles.push((format!("{text} (UTF-8)"), text.as_bytes().to_vec()));
            let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
            needles.push((format!("{text} (UTF-16LE)"), le));
            let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
            needles.push((format!("{text} (UTF-16BE)"), be));
        }
    }
    needles
}

/// The needles found in `bytes`, by name.
fn found_in(bytes: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, needle)| bytes.windows(needle.len()).any(|w| w == needle.as_slice()))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Every file of the data directory but the spool's, with the needles found in it.
fn leaks_in_data_dir(data_dir: &Path, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let spool = data_dir.join("spool");
    let mut leaks = Vec::new();
    let mut files = 0;
    for path in hikyaku_testkit::files_under(data_dir) {
        if path.starts_with(&spool) {
            continue;
        }
        files += 1;
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for name in found_in(&bytes, needles) {
            leaks.push(format!("{}: {name}", path.display()));
        }
    }
    assert!(files > 0, "no files under {}", data_dir.display());
    leaks
}

/// Starts a node (on PostgreSQL when `database_url` is given), lists one address, and sends
/// one message to a deliverable, a bouncing and the listed address, waiting for each outcome.
async fn run_mail_through(
    sink: &Sink,
    addresses: &Addresses,
    database_url: Option<&str>,
) -> (HikyakuProcess, String) {
    let (node, customer) = delivery_support::start(|b| {
        route_everything(b, &sink.addr().to_string());
        if let Some(url) = database_url {
            b.set("", "database_url", &format!("{url:?}"));
        }
    });
    node.cli_ok(&[
        "suppression",
        "add",
        &customer,
        &addresses.listed,
        "--reason",
        &format!("asked by {}", addresses.listed),
    ])
    .unwrap();
    let (mut client, _) = hikyaku_testkit::SmtpClient::connect(node.smtp_addr())
        .await
        .unwrap();
    client.command("EHLO app.example.com").await.unwrap();
    let to = [
        addresses.delivered.as_str(),
        addresses.bounced.as_str(),
        addresses.listed.as_str(),
    ];
    let body = format!(
        "From: {}\r\nTo: {}\r\nSubject: at rest\r\n\r\nHello.\r\n",
        addresses.sender, addresses.delivered
    );
    let reply = client
        .send_mail(&addresses.sender, &to, &body)
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
    let id = reply.lines[0].rsplit(' ').next().unwrap().to_string();
    wait_for_events(&node, &id, "delivered", 1);
    wait_for_events(&node, &id, "bounced", 1);
    wait_for_events(&node, &id, "suppressed", 1);
    // The bounce put its address on the list: the store holds it there too.
    let listed = node
        .cli_ok(&["suppression", "list", &customer, "--json"])
        .unwrap();
    assert!(
        listed.contains(&addresses.bounced),
        "the bounced address is listed: {listed}"
    );
    // And one more message, so that the recipient's look-ups have been used as well.
    send(&node, &[addresses.delivered.as_str()]).await;

    // One over the HTTP API, from a key that sees addresses in clear.
    let created = node
        .cli_ok(&[
            "api-key",
            "create",
            &customer,
            "--name",
            "app",
            "--see-addresses",
            "--json",
        ])
        .unwrap();
    let key = serde_json::from_str::<serde_json::Value>(created.trim()).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let request = serde_json::json!({
        "from": addresses.sender,
        "to": [addresses.api],
        "subject": "at rest over HTTP",
        "text": "Hello.",
    });
    let answer = hikyaku_testkit::http_call(
        node.http_addr(),
        "POST",
        "/api/v1/messages",
        Some(&key),
        &[("Idempotency-Key", "at-rest-1")],
        Some(&request.to_string()),
    )
    .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert!(answer.body.contains(&addresses.api), "{}", answer.body);
    let id = serde_json::from_str::<serde_json::Value>(&answer.body).unwrap()["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_events(&node, &id, "delivered", 1);
    (node, customer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_address_in_the_sqlite_files() {
    let sink = Sink::start().await.unwrap();
    let addresses = Addresses::new();
    let needles = needles(&addresses.tokens);
    let (node, _) = run_mail_through(&sink, &addresses, None).await;
    // The test's own check: the tokens are where they must be, in the mail the MX received.
    let received = sink.received();
    assert!(
        !found_in(&received[0].data, &needles).is_empty(),
        "the search finds the tokens where they are"
    );
    let api_needles = self::needles(&addresses.tokens[4..]);
    assert!(
        received
            .iter()
            .any(|m| !found_in(&m.data, &api_needles).is_empty()),
        "the message sent over HTTP arrived with its address"
    );

    // While the node runs, recent writes sit in the WAL.
    let data_dir = node.data_dir().to_path_buf();
    let leaks = leaks_in_data_dir(&data_dir, &needles);
    assert!(leaks.is_empty(), "addresses in clear: {leaks:#?}");
    let (_, stopped) = node.terminate(Duration::from_secs(20)).unwrap();
    let leaks = leaks_in_data_dir(&data_dir, &needles);
    assert!(
        leaks.is_empty(),
        "addresses in clear after stop: {leaks:#?}"
    );
    drop(stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_address_in_a_postgres_dump() {
    let Some(db) = hikyaku_store::testing::PostgresTestDatabase::create().await else {
        return;
    };
    let sink = Sink::start().await.unwrap();
    let addresses = Addresses::new();
    let needles = needles(&addresses.tokens);
    let (node, _) = run_mail_through(&sink, &addresses, Some(db.url())).await;
    // PostgreSQL's own client, installed with the server; missing is a failure under CI.
    let Some(pg_dump) = hikyaku_testkit::tool("pg_dump") else {
        return;
    };
    let dump = std::process::Command::new(pg_dump)
        .args(["--no-owner", "--dbname", db.url()])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert!(
        String::from_utf8_lossy(&dump.stdout).contains("COPY public.events"),
        "the dump holds the send log"
    );
    let leaks = found_in(&dump.stdout, &needles);
    assert!(leaks.is_empty(), "addresses in clear in pg_dump: {leaks:?}");
    // The data directory of a PostgreSQL node holds no address either.
    let leaks = leaks_in_data_dir(node.data_dir(), &needles);
    assert!(leaks.is_empty(), "addresses in clear: {leaks:#?}");
}
