//! What the engine-level delivery tests share: a node with delivery on, sending through its
//! relay, and reading the send log back through the CLI (`hikyaku log search --json`).
//!
//! The helpers block (they run the CLI and sleep between polls), so the tests using them run
//! on a multi-threaded runtime: a scripted MX or DNS server living on the test's runtime must
//! keep answering meanwhile.

#![allow(dead_code)] // each test file uses its own share of these

use hikyaku_testkit::{HikyakuProcess, ProcessBuilder, SmtpClient};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");

/// How long any wait for an event may take before the test fails with the log.
const PATIENCE: Duration = Duration::from_secs(30);

/// Starts `hikyaku serve` with delivery on, retries after 1 s, and a bounce domain; `configure`
/// adds the resolver or routes and anything else. Returns the node and a contract's customer
/// ID allowed to send from 127.0.0.1.
pub fn start(configure: impl FnOnce(&mut ProcessBuilder)) -> (HikyakuProcess, String) {
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("relay", "hostname", "\"relay.hikyaku.test\"");
    builder.set("delivery", "enabled", "true");
    builder.set("delivery", "retry_intervals", "[\"1s\"]");
    builder.set("bounce", "domain", "\"bounce.hikyaku.test\"");
    configure(&mut builder);
    let node = builder.start().expect("hikyaku serve starts");
    let out = node
        .cli_ok(&["contract", "create", "--name", "Delivery", "--json"])
        .unwrap();
    let customer = serde_json::from_str::<Value>(out.trim()).unwrap()["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    node.cli_ok(&["allowed-ip", "add", &customer, "127.0.0.1"])
        .unwrap();
    (node, customer)
}

/// A single static route for every domain.
pub fn route_everything(builder: &mut ProcessBuilder, host: &str) {
    builder.set("delivery", "resolver", "\"static\"");
    builder.set(
        "delivery",
        "route",
        &format!("[{{ domain = \"*\", host = \"{host}\" }}]"),
    );
}

/// Sends one message through the node's relay; returns its platform message ID.
pub async fn send(node: &HikyakuProcess, to: &[&str]) -> String {
    send_many(node, &[to]).await.remove(0)
}

/// Sends one message per recipient list over one SMTP session; returns their message IDs.
pub async fn send_many(node: &HikyakuProcess, messages: &[&[&str]]) -> Vec<String> {
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    let mut ids = Vec::with_capacity(messages.len());
    for (i, to) in messages.iter().enumerate() {
        let body = format!("From: app@example.com\r\nSubject: test {i}\r\n\r\nHello {i}.\r\n");
        let reply = c.send_mail("app@example.com", to, &body).await.unwrap();
        assert_eq!(reply.code, 250, "{reply:?}");
        ids.push(reply.lines[0].rsplit(' ').next().unwrap().to_string());
    }
    ids
}

/// Sends one message to each recipient over one SMTP session; returns their message IDs.
pub async fn send_each(node: &HikyakuProcess, recipients: &[String]) -> Vec<String> {
    let lists: Vec<[&str; 1]> = recipients.iter().map(|r| [r.as_str()]).collect();
    let messages: Vec<&[&str]> = lists.iter().map(|l| &l[..]).collect();
    send_many(node, &messages).await
}

/// Send-log entries for `args` (`["--message-id", id]`, ...), oldest first.
pub fn search(node: &HikyakuProcess, args: &[&str]) -> Vec<Value> {
    let mut command = vec!["log", "search", "--json", "--limit", "10000"];
    command.extend_from_slice(args);
    let out = node.cli_ok(&command).unwrap();
    let json: Value = serde_json::from_str(out.trim()).unwrap();
    let mut events = json["events"].as_array().unwrap().clone();
    events.reverse();
    events
}

/// The send log of one message, oldest first.
pub fn log(node: &HikyakuProcess, id: &str) -> Vec<Value> {
    search(node, &["--message-id", id])
}

pub fn kind(event: &Value) -> &str {
    event["kind"].as_str().unwrap_or("")
}

/// Polls the message's log until `done` says it is complete; fails after [`PATIENCE`]
/// showing the log and the node's own output.
pub fn wait_for_log(
    node: &HikyakuProcess,
    id: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let events = log(node, id);
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{id}: no {what}: {events:#?}\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the message's log has `count` events of `kind`.
pub fn wait_for_events(node: &HikyakuProcess, id: &str, kind_: &str, count: usize) -> Vec<Value> {
    wait_for_log(node, id, kind_, |events| {
        events.iter().filter(|e| kind(e) == kind_).count() >= count
    })
}

/// Waits until the node's send log has `count` events of `kind`, across messages; returns
/// them, oldest first.
pub fn wait_for_kind(node: &HikyakuProcess, kind_: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let events = search(node, &["--outcome", kind_]);
        if events.len() >= count {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} {kind_} events: {events:#?}\n{}",
            events.len(),
            node.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The message's first event of `kind`, waiting for it.
pub fn event(node: &HikyakuProcess, id: &str, kind_: &str) -> Value {
    let events = wait_for_events(node, id, kind_, 1);
    events.into_iter().find(|e| kind(e) == kind_).unwrap()
}

/// The kinds of a message's events, oldest first.
pub fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(kind).collect()
}

/// The outcome fields the send log promises, as one comparable tuple: (kind, smtp_code,
/// enhanced_status, reason, remote_host, remote_ip, tls, attempt). Absent fields are `null`.
pub fn outcome(event: &Value) -> Value {
    serde_json::json!([
        event["kind"],
        event["details"]["code"],
        event["details"]["status"],
        event["details"]["reason"],
        event["details"]["remote"]["host"],
        event["details"]["remote"]["ip"],
        event["details"]["remote"]["tls"],
        event["details"]["attempt"],
    ])
}

/// What [`outcome`] is for a recipient that `host` (at `ip`) accepted with `250 2.0.0`.
pub fn delivered_by(host: &str, ip: &str, tls: bool, attempt: u64) -> Value {
    serde_json::json!(["delivered", 250, "2.0.0", null, host, ip, tls, attempt])
}

/// The committed spool file of a message, if it is still there.
pub fn spool_file(data_dir: &Path, id: &str) -> Option<PathBuf> {
    let mut stack = vec![data_dir.join("spool").join("msg")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if entry.file_name().to_str() == Some(id) {
                return Some(path);
            }
        }
    }
    None
}

/// Polls `condition` every 20 ms until it holds; fails with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The node's `/metrics` page (Prometheus text), over a plain HTTP/1.1 GET.
pub fn scrape_metrics(node: &HikyakuProcess) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(node.http_addr()).unwrap();
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        node.http_addr()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// The value of the series of `name` whose labels include every one of `labels`
/// (`outcome="delivered"`), if the page has it.
pub fn metric(page: &str, name: &str, labels: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
            series_name == name && labels.iter().all(|label| rest.contains(label))
        })
        .map(|(_, value)| value.parse().unwrap())
}
