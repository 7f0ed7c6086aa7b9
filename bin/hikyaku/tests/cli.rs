//! The operator's commands, run as the real `hikyaku` binary on a data directory of its own
//! (SQLite), and once against a fresh PostgreSQL database named in a configuration file.

use hikyaku_config::Config;
use hikyaku_model::{ContractState, CustomerId, Envelope, MessageId, SendLogFields, Timestamp};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{
    AcceptedMessage, Outcome, QueueAction, QueueCommand, RecipientOutcome, SealingKey, Store,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");

/// One data directory (and optionally a configuration file) that every command runs against.
struct Operator {
    dir: tempfile::TempDir,
    config_file: Option<PathBuf>,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Operator {
    fn new() -> Operator {
        Operator {
            dir: tempfile::tempdir().unwrap(),
            config_file: None,
        }
    }

    fn with_database_url(url: &str) -> Operator {
        let dir = tempfile::tempdir().unwrap();
        let config_file = dir.path().join("hikyaku.toml");
        let data_dir = dir.path().join("data");
        std::fs::write(
            &config_file,
            format!(
                "data_dir = {:?}\ndatabase_url = {url:?}\n",
                data_dir.display().to_string()
            ),
        )
        .unwrap();
        Operator {
            dir,
            config_file: Some(config_file),
        }
    }

    fn data_dir(&self) -> PathBuf {
        match &self.config_file {
            Some(_) => self.dir.path().join("data"),
            None => self.dir.path().to_path_buf(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut command = Command::new(BIN);
        command
            .env_remove("HIKYAKU_CONFIG")
            .env_remove("HIKYAKU_DATA")
            .env_remove("RUST_BACKTRACE");
        match &self.config_file {
            Some(file) => command.arg("--config").arg(file),
            None => command.arg("--data-dir").arg(self.dir.path()),
        };
        let output = command
            .args(args)
            .output()
            .expect("the hikyaku binary runs");
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs a command that must succeed and returns what it printed.
    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{args:?} failed: {}{}", run.stdout, run.stderr);
        run.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let out = self.ok(&with_json);
        assert_eq!(out.lines().count(), 1, "one line of JSON: {out}");
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
    }

    /// Runs a command that must fail and returns its exit code and standard error.
    fn fails(&self, args: &[&str]) -> (i32, String) {
        let run = self.run(args);
        assert_ne!(
            run.code, 0,
            "{args:?} should fail but printed {}",
            run.stdout
        );
        assert!(
            run.stdout.is_empty(),
            "{args:?} printed to stdout on failure: {}",
            run.stdout
        );
        (run.code, run.stderr)
    }

    /// The same store the commands use, opened by the library, for checks and for putting
    /// messages in the queue (`hikyaku serve` is not needed for that).
    async fn store(&self, database_url: Option<&str>) -> Store {
        let config = Config::default().with_data_dir_override(Some(self.data_dir()));
        let key = SealingKey::load_or_create(&config.secret_key_path()).unwrap();
        let url = database_url.map_or_else(|| config.database_url(), str::to_string);
        Store::connect(&url, key).await.unwrap()
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn created_contract(operator: &Operator, name: &str) -> String {
    let out = operator.ok(&["contract", "create", "--name", name]);
    assert_eq!(out.lines().count(), 1, "the ID alone on a line: {out:?}");
    let id = out.trim_end_matches('\n');
    id.parse::<CustomerId>().unwrap_or_else(|e| panic!("{e}"));
    id.to_string()
}

#[test]
fn contracts_from_creation_to_termination() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme Corp");
    let created = op.json(&["contract", "create", "--name", "Globex", "--plan", "large"]);
    let globex = created["customer_id"].as_str().unwrap().to_string();
    assert_eq!(created["plan"], "large");
    assert_eq!(created["state"], "trial");
    assert_ne!(acme, globex);

    let listed = op.json(&["contract", "list"]);
    let contracts = listed["contracts"].as_array().unwrap();
    assert_eq!(contracts.len(), 2);
    assert_eq!(contracts[0]["customer_id"], acme.as_str());
    assert_eq!(contracts[0]["name"], "Acme Corp");
    assert_eq!(contracts[0]["plan"], "standard");
    let table = op.ok(&["contract", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("CUSTOMER ID") && lines[0].contains("STATE"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(&acme) && lines[1].contains("Acme Corp") && lines[1].contains("trial")
    );
    assert!(lines[2].starts_with(&globex) && lines[2].contains("large"));

    for (command, state) in [
        ("suspend", "suspended"),
        ("resume", "active"),
        ("suspend", "suspended"),
    ] {
        assert_eq!(op.json(&["contract", command, &acme])["state"], state);
        assert_eq!(op.json(&["contract", "show", &acme])["state"], state);
    }
    assert_eq!(
        op.ok(&["contract", "resume", &acme]),
        format!("{acme} is now active\n")
    );
    let shown = op.ok(&["contract", "show", &acme]);
    assert!(
        shown.contains("Acme Corp") && shown.contains("active"),
        "{shown}"
    );
    assert_eq!(
        op.json(&["contract", "terminate", &acme])["state"],
        "terminated"
    );
    let (code, stderr) = op.fails(&["contract", "resume", &acme]);
    assert_eq!(code, 1);
    assert!(stderr.contains("terminated"), "{stderr}");

    let (code, stderr) = op.fails(&["contract", "show", "cnothere1"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no contract") && stderr.contains("cnothere1"),
        "{stderr}"
    );
    let (code, stderr) = op.fails(&["contract", "suspend", "Not-An-ID"]);
    assert_eq!(code, 2, "a malformed argument is a usage error");
    assert!(stderr.contains("customer ID"), "{stderr}");
    let (_, stderr) = op.fails(&["contract", "create", "--name", " "]);
    assert!(stderr.contains("name"), "{stderr}");
}

#[test]
fn allowed_ip_ranges() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    let other = created_contract(&op, "Other");
    assert_eq!(
        op.json(&["allowed-ip", "add", &acme, "192.0.2.7"])["cidr"],
        "192.0.2.7/32"
    );
    assert_eq!(
        op.json(&["allowed-ip", "add", &acme, "2001:db8::1"])["cidr"],
        "2001:db8::1/128"
    );
    let out = op.ok(&["allowed-ip", "add", &acme, "198.51.100.77/24"]);
    assert!(out.contains("198.51.100.0/24"), "stored normalised: {out}");

    let listed = op.json(&["allowed-ip", "list", &acme]);
    let cidrs: Vec<&str> = listed["allowed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cidr"].as_str().unwrap())
        .collect();
    assert_eq!(
        cidrs,
        ["192.0.2.7/32", "198.51.100.0/24", "2001:db8::1/128"]
    );
    let table = op.ok(&["allowed-ip", "list", &acme]);
    assert!(
        table.starts_with("CIDR") && table.lines().count() == 4,
        "{table}"
    );
    assert_eq!(
        op.ok(&["allowed-ip", "list", &other]),
        "(no allowed IP ranges)\n"
    );

    let (code, stderr) = op.fails(&["allowed-ip", "add", &acme, "192.0.2.0/33"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not an IP range"), "{stderr}");
    let (code, stderr) = op.fails(&["allowed-ip", "add", "cnothere1", "10.0.0.0/8"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no contract"), "{stderr}");
    let (_, stderr) = op.fails(&["allowed-ip", "add", &other, "198.51.100.0/24"]);
    assert!(
        stderr.contains("already allowed") && stderr.contains(&acme),
        "{stderr}"
    );
    op.fails(&["allowed-ip", "list", "cnothere1"]);

    assert_eq!(
        op.json(&["allowed-ip", "remove", &acme, "198.51.100.1/24"])["removed"],
        "198.51.100.0/24"
    );
    let (_, stderr) = op.fails(&["allowed-ip", "remove", &acme, "198.51.100.0/24"]);
    assert!(stderr.contains("no allowed range"), "{stderr}");
    assert_eq!(
        op.json(&["allowed-ip", "list", &acme])["allowed_ips"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // What the relay will ask: which contract owns this source address.
    block_on(async {
        let store = op.store(None).await;
        let owner = store
            .contract_for_ip("192.0.2.7".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(owner.customer_id.as_str(), acme);
        assert_eq!(
            store
                .contract_for_ip("198.51.100.1".parse().unwrap())
                .await
                .unwrap(),
            None
        );
    });
}

#[test]
fn smtp_credentials() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    let other = created_contract(&op, "Other");

    let out = op.ok(&["smtp-credential", "add", &acme, "--username", "app"]);
    let password = out
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("a generated password is printed: {out}"))
        .to_string();
    assert!(password.len() >= 20, "{password}");
    let added = op.json(&[
        "smtp-credential",
        "add",
        &acme,
        "--username",
        "batch",
        "--password",
        "chosen-pass-1",
    ]);
    assert_eq!(added["username"], "batch");
    assert!(
        added.get("password").is_none(),
        "a chosen password is never echoed"
    );
    let generated = op.json(&["smtp-credential", "add", &other, "--username", "other-app"]);
    let other_password = generated["password"].as_str().unwrap().to_string();

    block_on(async {
        let store = op.store(None).await;
        let verify = async |user: &str, pass: &str| {
            store
                .verify_smtp_credential(user, pass)
                .await
                .unwrap()
                .map(|id| id.to_string())
        };
        assert_eq!(
            verify("app", &password).await.as_deref(),
            Some(acme.as_str())
        );
        assert_eq!(
            verify("batch", "chosen-pass-1").await.as_deref(),
            Some(acme.as_str())
        );
        assert_eq!(
            verify("other-app", &other_password).await.as_deref(),
            Some(other.as_str())
        );
        assert_eq!(verify("app", "chosen-pass-1").await, None);
    });

    let (code, stderr) = op.fails(&[
        "smtp-credential",
        "add",
        &other,
        "--username",
        "app",
        "--password",
        "whatever-1",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("already taken"), "{stderr}");
    let (_, stderr) = op.fails(&["smtp-credential", "add", "cnothere1", "--username", "new"]);
    assert!(stderr.contains("no contract"), "{stderr}");

    let listed = op.json(&["smtp-credential", "list", &acme]);
    let names: Vec<&str> = listed["smtp_credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "batch"]);
    let table = op.ok(&["smtp-credential", "list", &acme]);
    assert!(
        table.starts_with("USERNAME") && table.contains("batch"),
        "{table}"
    );
    assert!(
        !table.contains("argon2")
            && !op
                .ok(&["contract", "show", &acme, "--json"])
                .contains("argon2")
    );

    op.ok(&["smtp-credential", "remove", &acme, "--username", "batch"]);
    let (_, stderr) = op.fails(&["smtp-credential", "remove", &acme, "--username", "batch"]);
    assert!(stderr.contains("no SMTP user"), "{stderr}");
    op.fails(&["smtp-credential", "remove", &other, "--username", "app"]);
    let shown = op.json(&["contract", "show", &acme]);
    assert_eq!(shown["smtp_credentials"].as_array().unwrap().len(), 1);
}

fn accepted(customer: &str, at: i64, recipients: &[&str]) -> AcceptedMessage {
    AcceptedMessage {
        id: MessageId::new(Timestamp(at)),
        customer_id: customer.parse().unwrap(),
        envelope: Envelope {
            mail_from: "app@sender.example".into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
        },
        size: 2048,
        received_at: Timestamp(at),
        source_ip: "192.0.2.7".into(),
        node: "node-1".into(),
    }
}

#[test]
fn queue_list_and_show() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    let other = created_contract(&op, "Other");
    assert_eq!(op.ok(&["queue", "list"]), "(the queue is empty)\n");
    let first = accepted(
        &acme,
        1_700_000_000_000,
        &["alice@example.jp", "bob@example.jp"],
    );
    let second = accepted(&other, 1_700_000_001_000, &["carol@example.net"]);
    let third = accepted(&acme, 1_700_000_002_000, &["dave@example.org"]);
    block_on(async {
        let store = op.store(None).await;
        store
            .record_accepted(&[first.clone(), second.clone(), third.clone()])
            .await
            .unwrap();
        store.close().await;
    });

    let listed = op.json(&["queue", "list"]);
    let ids: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            first.id.to_string(),
            second.id.to_string(),
            third.id.to_string()
        ]
    );
    let only_acme = op.json(&["queue", "list", "--customer", &acme, "--limit", "1"]);
    let messages = only_acme["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], first.id.to_string());
    assert_eq!(messages[0]["recipients"][1]["address"], "bob@example.jp");
    assert_eq!(messages[0]["recipients"][1]["state"], "queued");
    let none_delivered = op.json(&["queue", "list", "--state", "delivered"]);
    assert!(none_delivered["messages"].as_array().unwrap().is_empty());

    let table = op.ok(&["queue", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("MESSAGE ID"));
    assert!(
        lines[1].starts_with(&first.id.to_string()) && lines[1].contains("2 (queued 2)"),
        "{table}"
    );

    let shown = op.json(&["queue", "show", &first.id.to_string()]);
    assert_eq!(shown["message"]["customer_id"], acme.as_str());
    assert_eq!(shown["message"]["mail_from"], "app@sender.example");
    assert_eq!(shown["message"]["size"], 2048);
    assert_eq!(shown["message"]["recipients"].as_array().unwrap().len(), 2);
    let events = shown["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["kind"] == "accepted"));
    assert_eq!(events[0]["recipient"], "alice@example.jp");
    let text = op.ok(&["queue", "show", &first.id.to_string()]);
    for needle in [
        "alice@example.jp",
        "bob@example.jp",
        "queued",
        "accepted",
        "192.0.2.7",
        "node-1",
    ] {
        assert!(text.contains(needle), "{needle} in {text}");
    }

    let (code, stderr) = op.fails(&["queue", "show", &MessageId::new(Timestamp(5)).to_string()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no message"), "{stderr}");
    let (code, _) = op.fails(&["queue", "show", "not-a-message-id"]);
    assert_eq!(code, 2);
    op.fails(&["queue", "list", "--customer", "cnothere1"]);
}

/// A delivery attempt's report with every send-log field set.
fn attempt(
    message: &AcceptedMessage,
    index: u32,
    at: Timestamp,
    outcome: Outcome,
    code: u16,
) -> RecipientOutcome {
    RecipientOutcome {
        message_id: message.id,
        recipient_index: index,
        at,
        outcome,
        details: SendLogFields {
            remote_host: Some("mx1.example.jp".into()),
            remote_ip: Some("127.0.0.25".into()),
            tls: Some(true),
            smtp_code: Some(code),
            enhanced_status: Some(format!("{}.1.1", code / 100)),
            remote_text: Some(format!("reply {code}")),
            delay_ms: Some(at.as_millis() - message.received_at.as_millis()),
            attempt: Some(1),
            reason: (code >= 500).then(|| "userunknown".to_string()),
            ..SendLogFields::default()
        },
        suppress: false,
    }
}

fn minutes_ago(now: Timestamp, minutes: i64) -> Timestamp {
    Timestamp(now.as_millis() - minutes * 60_000)
}

/// `(kind, recipient)` of each event `log search` printed, in order.
fn logged(found: &Value) -> Vec<(String, String)> {
    found["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["recipient"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(kind: &str, recipient: &str) -> (String, String) {
    (kind.to_string(), recipient.to_string())
}

#[test]
fn log_search_by_recipient_message_outcome_time_and_contract() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    let other = created_contract(&op, "Other");
    let now = Timestamp::now();
    // Accepted three hours ago (bounced then), and 40 minutes ago (delivered 30 minutes ago).
    let old = accepted(
        &acme,
        minutes_ago(now, 180).as_millis(),
        &["Alice@Example.jp"],
    );
    let recent = accepted(
        &acme,
        minutes_ago(now, 40).as_millis(),
        &["bob@example.jp", "alice@example.jp"],
    );
    let others = accepted(
        &other,
        minutes_ago(now, 35).as_millis(),
        &["alice@example.jp"],
    );
    let bounce = attempt(&old, 0, minutes_ago(now, 170), Outcome::Bounced, 550);
    let delivery = attempt(&recent, 0, minutes_ago(now, 30), Outcome::Delivered, 250);
    block_on(async {
        let store = op.store(None).await;
        store
            .record_accepted(&[old.clone(), recent.clone(), others.clone()])
            .await
            .unwrap();
        store
            .record_outcomes(&[bounce.clone(), delivery.clone()])
            .await
            .unwrap();
        store.close().await;
    });

    // Every send-log field, under its own name, in every entry.
    let found = op.json(&["log", "search", "--outcome", "bounced"]);
    let events = found["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let e = events[0].as_object().unwrap();
    let mut keys: Vec<&str> = e.keys().map(String::as_str).collect();
    keys.sort();
    let mut expected = [
        "at",
        "kind",
        "message_id",
        "customer_id",
        "mail_from",
        "recipient",
        "remote_host",
        "remote_ip",
        "remote_port",
        "tls",
        "smtp_code",
        "enhanced_status",
        "remote_text",
        "delay_ms",
        "attempt",
        "reason",
        "hard",
        "source",
        "feedback_type",
    ];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(e["at"], bounce.at.as_millis());
    assert_eq!(e["kind"], "bounced");
    assert_eq!(e["message_id"], old.id.to_string());
    assert_eq!(e["customer_id"], acme.as_str());
    assert_eq!(e["mail_from"], "app@sender.example");
    assert_eq!(e["recipient"], "Alice@Example.jp");
    assert_eq!(e["remote_host"], "mx1.example.jp");
    assert_eq!(e["remote_ip"], "127.0.0.25");
    assert_eq!(e["tls"], true);
    assert_eq!(e["smtp_code"], 550);
    assert_eq!(e["enhanced_status"], "5.1.1");
    assert_eq!(e["remote_text"], "reply 550");
    assert_eq!(e["delay_ms"], 600_000);
    assert_eq!(e["attempt"], 1);
    assert_eq!(e["reason"], "userunknown");
    // Fields that do not apply are present and null.
    let accepted_entry = op.json(&["log", "search", "--outcome", "accepted", "--limit", "1"]);
    assert_eq!(accepted_entry["events"][0]["smtp_code"], Value::Null);
    assert_eq!(accepted_entry["events"][0]["recipient"], "alice@example.jp");

    // By recipient, whatever its case, newest first, across contracts unless one is named.
    let id = |m: &AcceptedMessage| m.id.to_string();
    assert_eq!(
        logged(&op.json(&["log", "search", "--to", "ALICE@example.jp"])),
        [
            pair("accepted", "alice@example.jp"),
            pair("accepted", "alice@example.jp"),
            pair("bounced", "Alice@Example.jp"),
            pair("accepted", "Alice@Example.jp"),
        ]
    );
    let acme_only = op.json(&[
        "log",
        "search",
        "--to",
        "alice@example.jp",
        "--customer",
        &acme,
    ]);
    assert_eq!(logged(&acme_only).len(), 3);
    assert!(
        acme_only["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["customer_id"] == acme.as_str() && e["message_id"] != id(&others)),
        "{acme_only}"
    );
    let others_only = op.json(&["log", "search", "--customer", &other]);
    assert_eq!(logged(&others_only), [pair("accepted", "alice@example.jp")]);

    // By message and outcome (entries of the same instant: the last recorded first).
    assert_eq!(
        logged(&op.json(&["log", "search", "--message-id", &id(&recent)])),
        [
            pair("delivered", "bob@example.jp"),
            pair("accepted", "alice@example.jp"),
            pair("accepted", "bob@example.jp"),
        ]
    );
    assert_eq!(
        logged(&op.json(&[
            "log",
            "search",
            "--message-id",
            &id(&recent),
            "--outcome",
            "delivered",
        ])),
        [pair("delivered", "bob@example.jp")]
    );

    // By time, relative or absolute; and a limit keeps the newest.
    assert_eq!(
        logged(&op.json(&["log", "search", "--since", "1h", "--customer", &acme])),
        [
            pair("delivered", "bob@example.jp"),
            pair("accepted", "alice@example.jp"),
            pair("accepted", "bob@example.jp"),
        ]
    );
    let two_hours_ago = minutes_ago(now, 120).to_string();
    let until_now = op.json(&["log", "search", "--until", &two_hours_ago]);
    assert_eq!(
        logged(&until_now),
        [
            pair("bounced", "Alice@Example.jp"),
            pair("accepted", "Alice@Example.jp"),
        ]
    );
    let window = op.json(&[
        "log",
        "search",
        "--since",
        &minutes_ago(now, 175).to_string(),
        "--until",
        &minutes_ago(now, 35).to_string(),
    ]);
    assert_eq!(
        logged(&window),
        [
            pair("accepted", "alice@example.jp"),
            pair("accepted", "bob@example.jp"),
            pair("bounced", "Alice@Example.jp"),
        ]
    );
    assert_eq!(
        logged(&op.json(&["log", "search", "--limit", "2"])),
        [
            pair("delivered", "bob@example.jp"),
            pair("accepted", "alice@example.jp"),
        ]
    );

    // People get one aligned line per entry.
    let table = op.ok(&["log", "search", "--to", "alice@example.jp"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    let column = lines[0].find("MESSAGE ID").unwrap();
    for line in &lines[1..] {
        assert!(line[column..].starts_with(|c: char| c.is_ascii_alphanumeric()));
        assert_eq!(line[column..].find(' '), Some(26), "{line}");
    }
    let bounced_line = lines.iter().find(|l| l.contains("bounced")).unwrap();
    for needle in [
        old.id.to_string().as_str(),
        "Alice@Example.jp",
        "mx1.example.jp",
        "127.0.0.25",
        "yes",
        "550",
        "5.1.1",
        "10m00s",
        "userunknown",
        "reply 550",
    ] {
        assert!(bounced_line.contains(needle), "{needle} in {bounced_line}");
    }
    assert_eq!(
        op.ok(&["log", "search", "--to", "nobody@example.jp"]),
        "(no matching events)\n"
    );

    let (code, stderr) = op.fails(&["log", "search", "--since", "3600"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a time"), "{stderr}");
    let (code, _) = op.fails(&["log", "search", "--outcome", "lost"]);
    assert_eq!(code, 2);
    let (code, stderr) = op.fails(&["log", "search", "--customer", "cnothere1"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no contract"), "{stderr}");
}

#[test]
fn queue_retry_and_delete() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    let now = Timestamp::now();
    let message = accepted(
        &acme,
        minutes_ago(now, 10).as_millis(),
        &["alice@example.jp", "bob@example.jp", "carol@example.jp"],
    );
    block_on(async {
        let store = op.store(None).await;
        store
            .record_accepted(std::slice::from_ref(&message))
            .await
            .unwrap();
        let later = Timestamp(now.as_millis() + 3_600_000);
        store
            .record_outcomes(&[
                attempt(&message, 0, minutes_ago(now, 5), Outcome::Delivered, 250),
                attempt(
                    &message,
                    1,
                    minutes_ago(now, 5),
                    Outcome::Deferred {
                        next_attempt_at: later,
                    },
                    451,
                ),
            ])
            .await
            .unwrap();
        store.close().await;
    });
    let id = message.id.to_string();

    let retried = op.json(&["queue", "retry", &id]);
    assert_eq!(retried["message_id"], id.as_str());
    assert_eq!(retried["action"], "retry");
    assert_eq!(retried["node"], "node-1");
    assert_eq!(
        retried["recipients"],
        serde_json::json!(["bob@example.jp", "carol@example.jp"])
    );
    let shown = op.json(&["queue", "show", &id]);
    for r in &shown["message"]["recipients"].as_array().unwrap()[1..] {
        let due = r["next_attempt_at"].as_i64().unwrap();
        assert!(
            due >= now.as_millis() && due < now.as_millis() + 60_000,
            "{r}"
        );
    }
    let text = op.ok(&["queue", "retry", &id]);
    assert_eq!(
        text,
        format!("2 recipient(s) of {id} are due now on node-1: bob@example.jp, carol@example.jp\n")
    );

    let deleted = op.ok(&["queue", "delete", &id]);
    assert_eq!(
        deleted,
        format!(
            "deleted {id}: 2 recipient(s) will not be sent: bob@example.jp, carol@example.jp\n"
        )
    );
    let states: Vec<Value> = op.json(&["queue", "show", &id])["message"]["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].clone())
        .collect();
    assert_eq!(states, ["delivered", "deleted", "deleted"]);
    assert_eq!(
        logged(&op.json(&["log", "search", "--message-id", &id, "--outcome", "deleted"])),
        [
            pair("deleted", "carol@example.jp"),
            pair("deleted", "bob@example.jp"),
        ]
    );
    // The engine of the message's node finds the operator's commands, in order.
    block_on(async {
        let store = op.store(None).await;
        let taken: Vec<QueueAction> = store
            .take_queue_commands("node-1")
            .await
            .unwrap()
            .into_iter()
            .map(|c: QueueCommand| {
                assert_eq!(c.message_id, message.id);
                c.action
            })
            .collect();
        assert_eq!(
            taken,
            [QueueAction::Retry, QueueAction::Retry, QueueAction::Delete]
        );
        store.close().await;
    });

    for action in ["retry", "delete"] {
        let (code, stderr) = op.fails(&["queue", action, &id]);
        assert_eq!(code, 1);
        assert!(stderr.contains("no recipient left"), "{stderr}");
        let unknown = MessageId::new(Timestamp(5)).to_string();
        let (code, stderr) = op.fails(&["queue", action, &unknown, "--json"]);
        assert_eq!(code, 1);
        assert!(
            stderr.contains("no message") && stderr.contains(&unknown),
            "{stderr}"
        );
        let (code, _) = op.fails(&["queue", action, "not-a-message-id"]);
        assert_eq!(code, 2);
    }
}

#[test]
fn a_configured_postgres_database_is_used() {
    let Some(database) = block_on(PostgresTestDatabase::create()) else {
        return;
    };
    let op = Operator::with_database_url(database.url());
    let acme = created_contract(&op, "Acme on Postgres");
    op.ok(&["allowed-ip", "add", &acme, "203.0.113.0/24"]);
    op.ok(&[
        "smtp-credential",
        "add",
        &acme,
        "--username",
        "pg-app",
        "--password",
        "pg-password-1",
    ]);
    assert_eq!(
        op.json(&["contract", "suspend", &acme])["state"],
        "suspended"
    );
    let shown = op.json(&["contract", "show", &acme]);
    assert_eq!(shown["allowed_ips"][0]["cidr"], "203.0.113.0/24");
    assert_eq!(shown["smtp_credentials"][0]["username"], "pg-app");
    assert!(
        !op.data_dir().join("hikyaku.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );

    let message = accepted(&acme, 1_700_000_000_000, &["erin@example.jp"]);
    block_on(async {
        let store = op.store(Some(database.url())).await;
        assert_eq!(store.backend_name(), "postgres");
        let contract = store
            .contract(&acme.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(contract.state, ContractState::Suspended);
        assert_eq!(
            store
                .verify_smtp_credential("pg-app", "pg-password-1")
                .await
                .unwrap(),
            Some(contract.customer_id)
        );
        store
            .record_accepted(std::slice::from_ref(&message))
            .await
            .unwrap();
        store.close().await;
    });
    let shown = op.json(&["queue", "show", &message.id.to_string()]);
    assert_eq!(
        shown["message"]["recipients"][0]["address"],
        "erin@example.jp"
    );
    assert_eq!(shown["events"][0]["kind"], "accepted");

    let id = message.id.to_string();
    assert_eq!(
        op.json(&["queue", "retry", &id])["recipients"][0],
        "erin@example.jp"
    );
    op.ok(&["queue", "delete", &id]);
    assert_eq!(
        logged(&op.json(&[
            "log",
            "search",
            "--to",
            "Erin@example.jp",
            "--customer",
            &acme
        ])),
        [
            pair("deleted", "erin@example.jp"),
            pair("accepted", "erin@example.jp"),
        ]
    );
}

#[test]
fn the_sealing_key_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let op = Operator::new();
    created_contract(&op, "Keyed");
    let key: &Path = &op.data_dir().join("secret.key");
    let mode = std::fs::metadata(key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
