//! The operator's commands, run as the real `hikyaku` binary on a data directory of its own
//! (SQLite), and once against a fresh PostgreSQL database named in a configuration file.

use hikyaku_config::Config;
use hikyaku_model::{
    ContractState, CustomerId, EnhancedStatus, Envelope, EventDetails, EventSource, Exchange,
    MessageId, Reason, Remote, Timestamp,
};
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
            .env_remove("RUST_BACKTRACE")
            .stdin(std::process::Stdio::null());
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

impl Operator {
    /// Puts accepted messages and attempt outcomes in the store, as the relay and the delivery
    /// engine would.
    fn record(&self, accepted: &[AcceptedMessage], outcomes: &[RecipientOutcome]) {
        block_on(async {
            let store = self.store(None).await;
            store.record_accepted(accepted).await.unwrap();
            store
                .record_outcomes(outcomes, &hikyaku_store::SoftBouncePolicy::OFF)
                .await
                .unwrap();
            store.close().await;
        });
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
    let created = op.json(&[
        "contract", "create", "--name", "Globex", "--plan", "standard",
    ]);
    let globex = created["customer_id"].as_str().unwrap().to_string();
    assert_eq!(created["plan"], "standard");
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
    assert!(lines[2].starts_with(&globex) && lines[2].contains("standard"));

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
        stderr.contains("overlaps") && !stderr.contains(&acme),
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
    assert_eq!(
        added["password"],
        Value::Null,
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
        tags: Vec::new(),
        metadata: Default::default(),
        subject: None,
    }
}

#[test]
fn queue_list_and_show() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    let other = created_contract(&op, "Other");
    assert_eq!(op.ok(&["queue", "list"]), "(no message waiting)\n");
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
    let none_deferred = op.json(&["queue", "list", "--state", "deferred"]);
    assert!(none_deferred["messages"].as_array().unwrap().is_empty());
    // Only waiting states: a finished message is the send log's business.
    let (code, stderr) = op.fails(&["queue", "list", "--state", "delivered"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("[possible values: queued, deferred]"),
        "{stderr}"
    );

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

    // A finished message leaves the list, unless --all.
    op.record(
        &[],
        &[attempt(
            &second,
            0,
            Timestamp(1_700_000_005_000),
            Outcome::Delivered,
            250,
        )],
    );
    let waiting = op.json(&["queue", "list"]);
    let ids_of = |listed: &Value| -> Vec<String> {
        listed["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids_of(&waiting),
        [first.id.to_string(), third.id.to_string()]
    );
    let everything = op.json(&["queue", "list", "--all"]);
    assert_eq!(
        ids_of(&everything),
        [
            first.id.to_string(),
            second.id.to_string(),
            third.id.to_string()
        ]
    );
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
        details: {
            let exchange = Exchange {
                remote: Some(Remote {
                    host: "mx1.example.jp".into(),
                    ip: Some("127.0.0.25".parse().unwrap()),
                    port: None,
                    tls: Some(true),
                }),
                code: Some(code),
                status: Some(EnhancedStatus::new((code / 100) as u8, 1, 1)),
                text: Some(format!("reply {code}")),
                delay_ms: Some(at.as_millis() - message.received_at.as_millis()),
                attempt: Some(1),
                ..Exchange::by(EventSource::Smtp)
            };
            match outcome {
                Outcome::Delivered => EventDetails::Delivered { exchange },
                Outcome::Bounced => EventDetails::Bounced {
                    exchange,
                    reason: Reason::UserUnknown,
                    hard: true,
                },
                _ => EventDetails::Deferred {
                    exchange,
                    reason: None,
                },
            }
        },
        suppression: hikyaku_store::SuppressionEffect::Nothing,
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
            .record_outcomes(
                &[bounce.clone(), delivery.clone()],
                &hikyaku_store::SoftBouncePolicy::OFF,
            )
            .await
            .unwrap();
        store.close().await;
    });

    // The API's event shape: the entry's own fields, and the details its kind has.
    let found = op.json(&["log", "search", "--outcome", "bounced"]);
    let events = found["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let e = events[0].as_object().unwrap();
    let mut keys: Vec<&str> = e.keys().map(String::as_str).collect();
    keys.sort();
    let mut expected = [
        "time",
        "kind",
        "message_id",
        "customer_id",
        "sender",
        "recipient",
        "details",
        "tags",
        "metadata",
    ];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(e["time"], bounce.at.to_string());
    assert_eq!(e["kind"], "bounced");
    assert_eq!(e["message_id"], old.id.to_string());
    assert_eq!(e["customer_id"], acme.as_str());
    assert_eq!(e["sender"], "app@sender.example");
    assert_eq!(e["recipient"], "Alice@Example.jp");
    assert_eq!(
        e["details"],
        serde_json::json!({
            "source": "smtp",
            "remote": {"host": "mx1.example.jp", "ip": "127.0.0.25", "tls": true},
            "code": 550,
            "status": "5.1.1",
            "text": "reply 550",
            "delay_ms": 600_000,
            "attempt": 1,
            "reason": "userunknown",
            "hard": true,
        })
    );
    assert_eq!(found["next"], Value::Null, "a short page is the last");
    // Details that do not apply are absent.
    let accepted_entry = op.json(&["log", "search", "--outcome", "accepted", "--limit", "1"]);
    assert_eq!(
        accepted_entry["events"][0]["details"],
        serde_json::json!({})
    );
    assert_eq!(accepted_entry["events"][0]["recipient"], "alice@example.jp");
    assert!(accepted_entry["next"].is_string(), "a full page has a next");

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
    // Page after page with the cursor each page prints: every entry once.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["log", "search", "--limit", "2"];
        if let Some(after) = &cursor {
            args.extend(["--after", after.as_str()]);
        }
        let page = op.json(&args);
        paged.extend(logged(&page));
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, logged(&op.json(&["log", "search"])));
    assert_eq!(paged.len(), 6);
    let (_, stderr) = op.fails(&["log", "search", "--after", "not-a-cursor"]);
    assert!(stderr.contains("cursor"), "{stderr}");
    // By domain, sender and reason.
    assert_eq!(
        logged(&op.json(&[
            "log",
            "search",
            "--domain",
            "EXAMPLE.jp",
            "--reason",
            "userunknown"
        ])),
        [pair("bounced", "Alice@Example.jp")]
    );
    assert_eq!(
        logged(&op.json(&[
            "log",
            "search",
            "--from",
            "APP@sender.example",
            "--customer",
            &other
        ])),
        [pair("accepted", "alice@example.jp")]
    );
    assert!(logged(&op.json(&["log", "search", "--tag", "none-such"])).is_empty());

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
            .record_outcomes(
                &[
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
                ],
                &hikyaku_store::SoftBouncePolicy::OFF,
            )
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
        let due = r["next_attempt_at"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap()
            .as_millis();
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

/// Runs the binary with exactly these arguments and extra environment, in `cwd`.
fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(BIN);
    command
        .current_dir(cwd)
        .env_remove("HIKYAKU_CONFIG")
        .env_remove("HIKYAKU_DATA")
        .env_remove("HIKYAKU_LOG")
        .stdin(std::process::Stdio::null())
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    // A `serve` that should have refused to start must not hang the test: it fails it.
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the hikyaku binary runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{args:?} still running after a minute: {}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A configuration whose listeners take any free port, so `serve` can run beside other tests.
fn serve_config(dir: &Path, extra: &str) -> PathBuf {
    let file = dir.join("hikyaku.toml");
    std::fs::write(
        &file,
        format!(
            "data_dir = {:?}\n{extra}\n[relay]\nlisten = \"127.0.0.1:0\"\n[http]\n\
             listen = \"127.0.0.1:0\"\n[bounce]\nlisten = \"127.0.0.1:0\"\n[delivery]\n\
             enabled = false\n",
            dir.join("data").display().to_string()
        ),
    )
    .unwrap();
    file
}

#[test]
fn user_errors_are_one_line_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let missing = dir.path().join("missing.toml").display().to_string();
    for (args, needle) in [
        (
            vec!["--config", missing.as_str(), "contract", "list"],
            "cannot read the configuration file",
        ),
        (
            vec!["--data-dir", data.as_str(), "contract", "show", "cnothere1"],
            "no contract with customer ID cnothere1",
        ),
    ] {
        let run = run_in(dir.path(), &args, &[("RUST_BACKTRACE", "1")]);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert!(
            run.stderr.starts_with("error: ") && run.stderr.contains(needle),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("backtrace"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    // The file's name and the system's reason, each said once.
    let run = run_in(dir.path(), &["--config", &missing, "check-config"], &[]);
    assert_eq!(run.stderr.matches(&missing).count(), 1, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("No such file").count(),
        1,
        "{}",
        run.stderr
    );
}

/// `check-config` on a file with this text, in `dir`.
fn check_config(dir: &Path, name: &str, toml: &str) -> Run {
    let file = dir.join(name);
    std::fs::write(&file, toml).unwrap();
    run_in(
        dir,
        &["--config", file.to_str().unwrap(), "check-config"],
        &[],
    )
}

#[test]
fn check_config_validates_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    let good = serve_config(dir.path(), "");
    let run = check_config(
        dir.path(),
        "hikyaku.toml",
        &std::fs::read_to_string(good).unwrap(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("configuration OK"), "{}", run.stdout);
    let config = dir.path().join("hikyaku.toml");
    let serve_check = run_in(
        dir.path(),
        &["--config", config.to_str().unwrap(), "serve", "--check"],
        &[],
    );
    assert_eq!(serve_check.code, 0, "{}", serve_check.stderr);
    assert_eq!(
        serve_check.stdout, run.stdout,
        "serve --check is check-config"
    );
    assert!(
        !dir.path().join("data").exists(),
        "checking creates no data directory"
    );

    let run = check_config(
        dir.path(),
        "bad.toml",
        "[log]\nlevel = \"verbose\"\n[relay]\nmax_connections = 0\n",
    );
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    for needle in ["log.level", "\"verbose\"", "relay.max_connections"] {
        assert!(run.stderr.contains(needle), "{needle} in {}", run.stderr);
    }

    // A database password is never printed: not by the check, not in an error.
    let secret = "database_url = \"postgres://hikyaku:s3cret-pw@127.0.0.1:1/hikyaku\"\n";
    let run = check_config(dir.path(), "pg.toml", secret);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("postgres://hikyaku:****@127.0.0.1:1/hikyaku")
            && !run.stdout.contains("s3cret"),
        "{}",
        run.stdout
    );
    let pg = dir.path().join("pg.toml");
    let run = run_in(
        dir.path(),
        &["--config", pg.to_str().unwrap(), "contract", "list"],
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("hikyaku:****@") && !run.stderr.contains("s3cret"),
        "{}",
        run.stderr
    );

    let run = check_config(dir.path(), "syntax.toml", "[relay]\nmax_conections = 3\n");
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("line 2, column 1") && run.stderr.contains("max_conections"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_invalid_log_filter_stops_the_service_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = serve_config(dir.path(), "[log]\nlevel = \"verbose\"");
    let config = config.to_str().unwrap();
    let run = run_in(dir.path(), &["--config", config, "serve"], &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("log.level") && run.stderr.contains("\"verbose\""),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("is running"), "{}", run.stdout);

    // HIKYAKU_LOG replaces log.level and is held to the same rule.
    let good = serve_config(dir.path(), "");
    let good = good.to_str().unwrap();
    let run = run_in(
        dir.path(),
        &["--config", good, "serve"],
        &[("HIKYAKU_LOG", "hikyaku_relay=loud")],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("HIKYAKU_LOG") && run.stderr.contains("\"loud\""),
        "{}",
        run.stderr
    );
    let run = run_in(
        dir.path(),
        &["--config", good, "check-config"],
        &[("HIKYAKU_LOG", "debug,hikyaku_relay=trace")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Starts `serve` in `cwd`, reads its banner up to the last line, stops it, and returns the
/// banner's next-step commands (the lines that run the binary).
fn banner_commands(cwd: &Path, args: &[&str]) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(BIN)
        .current_dir(cwd)
        .env_remove("HIKYAKU_CONFIG")
        .env_remove("HIKYAKU_DATA")
        .env_remove("HIKYAKU_LOG")
        .args(args)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let last = line.starts_with("Stop with");
        banner.push(line);
        if last {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner.last().is_some_and(|l| l.starts_with("Stop with")),
        "{banner:?}"
    );
    banner
        .iter()
        .filter_map(|line| line.trim().strip_prefix(BIN))
        .map(|rest| format!("{BIN}{rest}"))
        .collect()
}

/// Runs a command line as printed, through the shell, in `cwd`.
fn shell(cwd: &Path, line: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(cwd)
        .env_remove("HIKYAKU_CONFIG")
        .env_remove("HIKYAKU_DATA")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_banner_next_steps_work_on_the_running_service_data() {
    let service_dir = tempfile::tempdir().unwrap();
    let config = serve_config(service_dir.path(), "");
    let started_in = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let with_file = banner_commands(started_in.path(), &["--config", config.to_str().unwrap()]);
    let bare_dir = tempfile::tempdir().unwrap();
    // Started with a relative --data-dir: the commands must not depend on the directory.
    let without_file = banner_commands(bare_dir.path(), &["--data-dir", "relative-data"]);

    for (commands, data_dir) in [
        (with_file, service_dir.path().join("data")),
        (without_file, bare_dir.path().join("relative-data")),
    ] {
        assert_eq!(commands.len(), 3, "{commands:?}");
        let id = shell(elsewhere.path(), &commands[0]).trim().to_string();
        id.parse::<CustomerId>()
            .unwrap_or_else(|e| panic!("{}: {e}: {id}", commands[0]));
        for command in &commands[1..] {
            shell(elsewhere.path(), &command.replace("CUSTOMER_ID", &id));
        }
        assert!(
            std::fs::read_dir(elsewhere.path())
                .unwrap()
                .next()
                .is_none(),
            "following the banner created files where it was followed"
        );
        let shown = run_in(
            elsewhere.path(),
            &[
                "--data-dir",
                data_dir.to_str().unwrap(),
                "contract",
                "show",
                &id,
                "--json",
            ],
            &[],
        );
        assert_eq!(shown.code, 0, "{}", shown.stderr);
        let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
        assert_eq!(shown["allowed_ips"][0]["cidr"], "127.0.0.1/32");
        assert_eq!(shown["smtp_credentials"][0]["username"], "app");
    }
}

#[test]
fn allowed_ip_refusals_never_name_another_tenant() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    let other = created_contract(&op, "Other");
    op.ok(&["allowed-ip", "add", &acme, "10.1.0.0/16"]);

    // An unknown contract is the answer, whatever the range, even one another contract holds.
    for range in ["10.1.0.0/16", "10.0.0.0/8", "192.0.2.0/24"] {
        let (code, stderr) = op.fails(&["allowed-ip", "add", "cnothere1", range]);
        assert_eq!(code, 1);
        assert_eq!(
            stderr, "error: no contract with customer ID cnothere1\n",
            "{range}"
        );
    }
    // Overlapping another contract's range, either way round: refused, the holder unnamed.
    for range in ["10.1.2.0/24", "10.1.0.0/16", "10.1.0.0/15", "10.1.2.3"] {
        let (code, stderr) = op.fails(&["allowed-ip", "add", &other, range, "--force"]);
        assert_eq!(code, 1);
        assert!(
            stderr.contains("overlaps a range allowed for another contract")
                && !stderr.contains(&acme)
                && !stderr.contains("Acme"),
            "{range}: {stderr}"
        );
    }
    assert_eq!(
        op.ok(&["allowed-ip", "list", &other]),
        "(no allowed IP ranges)\n"
    );
}

#[test]
fn broad_ranges_need_force() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    for (range, key) in [
        ("0.0.0.0/0", "relay.min_allowed_prefix_v4"),
        ("10.0.0.0/8", "relay.min_allowed_prefix_v4"),
        ("172.16.0.0/15", "relay.min_allowed_prefix_v4"),
        ("::/0", "relay.min_allowed_prefix_v6"),
        ("2001:db8::/47", "relay.min_allowed_prefix_v6"),
    ] {
        let (code, stderr) = op.fails(&["allowed-ip", "add", &acme, range]);
        assert_eq!(code, 1, "{range}");
        assert!(
            stderr.contains("broader than") && stderr.contains(key) && stderr.contains("--force"),
            "{range}: {stderr}"
        );
    }
    assert_eq!(
        op.ok(&["allowed-ip", "list", &acme]),
        "(no allowed IP ranges)\n"
    );
    // At the minimum, on loopback (this host alone), or with --force: taken.
    for range in ["172.16.0.0/16", "2001:db8::/48", "127.0.0.0/8"] {
        op.ok(&["allowed-ip", "add", &acme, range]);
    }
    assert_eq!(
        op.json(&["allowed-ip", "add", &acme, "0.0.0.0/0", "--force"])["cidr"],
        "0.0.0.0/0"
    );

    // The minimum is the operator's to set.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hikyaku.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[relay]\nmin_allowed_prefix_v4 = 8\nmin_allowed_prefix_v6 = 64\n",
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let id = run_in(
        dir.path(),
        &["--config", config, "contract", "create", "--name", "X"],
        &[],
    );
    let id = id.stdout.trim();
    let add = |range: &str| {
        run_in(
            dir.path(),
            &["--config", config, "allowed-ip", "add", id, range],
            &[],
        )
    };
    assert_eq!(add("10.0.0.0/8").code, 0);
    assert_eq!(add("2001:db8::/48").code, 1);
    assert_eq!(add("2001:db8::/64").code, 0);
}

/// Sends one message with swaks from 127.0.0.1 and returns the reply to MAIL FROM (the relay
/// decides who may relay there), or `None` without swaks outside CI.
fn swaks_mail_reply(smtp: std::net::SocketAddr) -> Option<String> {
    let swaks = hikyaku_testkit::tool("swaks")?;
    let output = Command::new(swaks)
        .args([
            "--server",
            &smtp.ip().to_string(),
            "--port",
            &smtp.port().to_string(),
        ])
        .args([
            "--local-interface",
            "127.0.0.1",
            "--ehlo",
            "app.example.com",
        ])
        .args(["--from", "app@example.com", "--to", "user@example.jp"])
        .args(["--timeout", "30"])
        .output()
        .expect("swaks runs");
    let transcript = String::from_utf8_lossy(&output.stdout).into_owned();
    let reply = transcript
        .lines()
        .skip_while(|line| !line.contains("MAIL FROM"))
        .nth(1)
        .unwrap_or_else(|| panic!("no reply to MAIL FROM: {transcript}"));
    Some(
        reply
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .to_string(),
    )
}

#[test]
fn a_terminated_contracts_range_no_longer_relays() {
    let node = hikyaku_testkit::ProcessBuilder::new(BIN).start().unwrap();
    let create = |name: &str| {
        node.cli_ok(&["contract", "create", "--name", name])
            .unwrap()
            .trim()
            .to_string()
    };
    let gone = create("Gone");
    let next = create("Next");
    node.cli_ok(&["allowed-ip", "add", &gone, "127.0.0.1"])
        .unwrap();
    let Some(reply) = swaks_mail_reply(node.smtp_addr()) else {
        eprintln!("skipped: swaks is not installed");
        return;
    };
    assert!(reply.starts_with("250"), "{reply}");

    node.cli_ok(&["contract", "terminate", &gone]).unwrap();
    let reply = swaks_mail_reply(node.smtp_addr()).unwrap();
    assert!(reply.starts_with("550 5.7.1"), "relaying denied: {reply}");
    for args in [
        &["allowed-ip", "add", &gone, "127.0.0.2"][..],
        &["smtp-credential", "add", &gone, "--username", "late"],
    ] {
        let out = node.cli(args).unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is terminated"),
            "{args:?}: {out:?}"
        );
    }

    // The address is free for the contract that now uses the host.
    node.cli_ok(&["allowed-ip", "add", &next, "127.0.0.1"])
        .unwrap();
    let reply = swaks_mail_reply(node.smtp_addr()).unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let accepted = node
        .cli_ok(&["log", "search", "--outcome", "accepted", "--json"])
        .unwrap();
    let accepted: Value = serde_json::from_str(&accepted).unwrap();
    let senders: Vec<&str> = accepted["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(senders, [next.as_str(), gone.as_str()], "newest first");
}

#[test]
fn plans_come_from_the_configuration() {
    let op = Operator::new();
    let (code, stderr) = op.fails(&["contract", "create", "--name", "X", "--plan", "gold"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("'gold'") && stderr.contains("[possible values: standard]"),
        "{stderr}"
    );
    let help = op.ok(&["contract", "create", "--help"]);
    assert!(
        help.contains("contracts.plans") && help.contains("[possible values: standard]"),
        "{help}"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = serve_config(dir.path(), "[contracts]\nplans = [\"small\", \"large\"]");
    let config = config.to_str().unwrap();
    let create = |plan: &[&str]| {
        let mut args = vec![
            "--config", config, "contract", "create", "--name", "Y", "--json",
        ];
        args.extend(plan);
        let run = run_in(dir.path(), &args, &[]);
        (run.code, run.stdout, run.stderr)
    };
    let (code, out, _) = create(&[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("\"plan\":\"small\""),
        "the first plan by default: {out}"
    );
    let (code, out, _) = create(&["--plan", "large"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"plan\":\"large\""), "{out}");
    let (code, _, stderr) = create(&["--plan", "standard"]);
    assert_eq!(code, 2, "a value not listed is a usage error");
    assert!(
        stderr.contains("[possible values: small, large]"),
        "{stderr}"
    );
    let help = run_in(
        dir.path(),
        &["--config", config, "contract", "create", "--help"],
        &[],
    );
    assert!(
        help.stdout.contains("[possible values: small, large]"),
        "{}",
        help.stdout
    );
}

/// Every `at` / `..._at` value anywhere in `json`, with its path.
fn times_in(json: &Value, path: &str, found: &mut Vec<(String, Value)>) {
    match json {
        Value::Object(fields) => {
            for (key, value) in fields {
                let path = format!("{path}.{key}");
                if (key == "at" || key == "time" || key.ends_with("_at")) && !value.is_null() {
                    found.push((path.clone(), value.clone()));
                }
                times_in(value, &path, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| times_in(v, path, found)),
        _ => {}
    }
}

fn keys(json: &Value) -> Vec<String> {
    let mut keys: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[test]
fn json_times_are_rfc3339_and_each_record_has_one_shape() {
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    let message = accepted(
        &acme,
        1_700_000_000_000,
        &["alice@example.jp", "bob@example.jp"],
    );
    let retry_at = Timestamp(1_700_000_600_000);
    op.record(
        std::slice::from_ref(&message),
        &[
            attempt(
                &message,
                0,
                Timestamp(1_700_000_060_000),
                Outcome::Deferred {
                    next_attempt_at: retry_at,
                },
                451,
            ),
            attempt(
                &message,
                1,
                Timestamp(1_700_000_060_000),
                Outcome::Delivered,
                250,
            ),
        ],
    );
    let added_range = op.json(&["allowed-ip", "add", &acme, "192.0.2.0/24"]);
    let added_user = op.json(&["smtp-credential", "add", &acme, "--username", "app"]);
    op.ok(&["suppression", "add", &acme, "gone@example.jp"]);
    let id = message.id.to_string();
    let outputs = [
        op.json(&["contract", "show", &acme]),
        op.json(&["contract", "list"]),
        op.json(&["allowed-ip", "list", &acme]),
        op.json(&["smtp-credential", "list", &acme]),
        op.json(&["queue", "list"]),
        op.json(&["queue", "show", &id]),
        op.json(&["log", "search"]),
        op.json(&["suppression", "list", &acme]),
        added_range.clone(),
        added_user.clone(),
    ];
    let mut times = Vec::new();
    for output in &outputs {
        times_in(output, "", &mut times);
    }
    for (path, value) in &times {
        let text = value
            .as_str()
            .unwrap_or_else(|| panic!("{path} = {value}: not text"));
        let parsed: Timestamp = text.parse().unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(parsed.to_string(), text, "{path}: RFC 3339 in UTC");
    }
    for path in [
        ".created_at",
        ".last_used_at",
        ".messages.received_at",
        ".messages.recipients.next_attempt_at",
        ".events.time",
        ".suppressions.created_at",
        ".allowed_ips.created_at",
        ".smtp_credentials.created_at",
    ] {
        assert!(times.iter().any(|(p, _)| p == path), "{path} in {times:?}");
    }
    let shown = op.json(&["queue", "show", &id]);
    assert_eq!(
        shown["message"]["recipients"][0]["next_attempt_at"],
        retry_at.to_string()
    );
    assert_eq!(shown["message"]["size"], 2048, "numbers stay numbers");

    // One record, one set of keys, whichever command prints it.
    let contract_show = &outputs[0];
    let range_keys = keys(&added_range);
    assert_eq!(keys(&contract_show["allowed_ips"][0]), range_keys);
    assert_eq!(keys(&outputs[2]["allowed_ips"][0]), range_keys);
    let credential_keys = keys(&outputs[3]["smtp_credentials"][0]);
    assert_eq!(keys(&contract_show["smtp_credentials"][0]), credential_keys);
    let mut with_password = credential_keys.clone();
    with_password.push("password".into());
    with_password.sort();
    assert_eq!(keys(&added_user), with_password);
    assert_eq!(
        keys(&outputs[1]["contracts"][0]),
        keys(&op.json(&["contract", "suspend", &acme]))
    );
    let log_keys = keys(&outputs[6]["events"][0]);
    for event in shown["events"].as_array().unwrap() {
        assert_eq!(
            keys(event),
            log_keys,
            "queue show's events are send-log entries"
        );
    }
    for event in outputs[6]["events"].as_array().unwrap() {
        assert_eq!(keys(event), log_keys);
    }
}

#[test]
fn passwords_can_come_from_standard_input() {
    use std::io::Write;
    let op = Operator::new();
    let acme = created_contract(&op, "Acme");
    let mut child = Command::new(BIN)
        .env_remove("HIKYAKU_CONFIG")
        .env_remove("HIKYAKU_DATA")
        .args(["--data-dir", op.dir.path().to_str().unwrap()])
        .args([
            "smtp-credential",
            "add",
            &acme,
            "--username",
            "piped",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b" spaced pass-1 \n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        !printed.contains("pass-1") && !printed.contains("password:"),
        "{printed}"
    );
    block_on(async {
        let store = op.store(None).await;
        let verified = store
            .verify_smtp_credential("piped", " spaced pass-1 ")
            .await
            .unwrap();
        assert_eq!(verified.map(|id| id.to_string()), Some(acme.clone()));
    });

    let (code, stderr) = op.fails(&[
        "smtp-credential",
        "add",
        &acme,
        "--username",
        "empty",
        "--password-stdin",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no password on standard input"), "{stderr}");
    let (code, stderr) = op.fails(&[
        "smtp-credential",
        "add",
        &acme,
        "--username",
        "both",
        "--password",
        "x-password-1",
        "--password-stdin",
    ]);
    assert_eq!(code, 2, "a usage error: {stderr}");
}

#[test]
fn every_command_and_argument_says_what_it_takes() {
    let op = Operator::new();
    // Every subcommand, found from the help itself, down to the leaves.
    let mut pending = vec![Vec::<String>::new()];
    let mut leaves = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = op.ok(&args);
        let mut subcommands = Vec::new();
        let mut section = "";
        for line in help.lines() {
            if !line.starts_with(' ') && line.ends_with(':') {
                section = line;
                continue;
            }
            let entry = line.trim_start();
            let Some(name) = entry.split_whitespace().next() else {
                continue;
            };
            let described = entry.len() > name.len() && !entry[name.len()..].trim().is_empty();
            match section {
                "Commands:" if name != "help" => {
                    assert!(described, "{path:?}: {line}");
                    subcommands.push(name.to_string());
                }
                "Arguments:" | "Options:"
                    if line.starts_with("  ") && !line.starts_with("        ") =>
                {
                    let words: Vec<&str> =
                        entry.split("  ").filter(|w| !w.trim().is_empty()).collect();
                    assert!(words.len() >= 2, "{path:?}: no description: {line}");
                }
                _ => {}
            }
        }
        if subcommands.is_empty() {
            leaves += 1;
        }
        for sub in subcommands {
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
    }
    assert!(leaves > 25, "{leaves} commands");
    let help = op.ok(&["log", "search", "--help"]);
    assert!(help.contains("[possible values: accepted, "), "{help}");
    let (code, stderr) = op.fails(&["log", "search", "--outcome", "lost"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("[possible values: accepted, "), "{stderr}");
    // Usage errors are one line too.
    for args in [
        &["log", "search", "--outcome", "lost"][..],
        &["contract", "create"],
        &["queue", "show", "not-a-message-id"],
        &["allowed-ip", "add", "cnothere1", "10.0.0.0/33"],
        &["no-such-command"],
    ] {
        let (code, stderr) = op.fails(args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
}
