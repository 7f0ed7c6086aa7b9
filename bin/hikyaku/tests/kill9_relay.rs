//! kill -9 while many clients send: every message answered `250` must be in the queue after
//! restart exactly once, and nothing half-written may be visible.

use hikyaku_testkit::{ProcessBuilder, SmtpClient};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");
const CLIENTS: usize = 24;

/// Every message ID in the queue, as `queue list --json` reports it.
fn queued_ids(cli: impl Fn(&[&str]) -> anyhow::Result<String>) -> Vec<String> {
    let out = cli(&["queue", "list", "--limit", "1000000", "--json"]).unwrap();
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let rows = json
        .as_array()
        .or_else(|| json["messages"].as_array())
        .expect("a list of messages");
    rows.iter()
        .map(|m| {
            m["id"]
                .as_str()
                .or(m["message_id"].as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

/// A contract that may relay from 127.0.0.1.
fn allow_a_contract(prepared: &hikyaku_testkit::Prepared) {
    let out = prepared
        .cli_ok(&["contract", "create", "--name", "Crash", "--json"])
        .unwrap();
    let customer = serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    prepared
        .cli_ok(&["allowed-ip", "add", &customer, "127.0.0.1"])
        .unwrap();
}

#[test]
fn kill9_during_intake_loses_no_acknowledged_message() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("relay", "max_connections", "64");
    let prepared = builder.prepare().unwrap();
    allow_a_contract(&prepared);

    let mut prepared = prepared;
    let mut all_acked: HashSet<String> = HashSet::new();
    for round in 0..3 {
        let node = prepared.start().unwrap();
        let addr = node.smtp_addr();
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let target = 600 + round * 300;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let acked = Arc::clone(&acked);
                runtime.spawn(async move {
                    let mut n = 0;
                    'connections: loop {
                        let Ok((mut c, _)) = SmtpClient::connect(addr).await else {
                            return;
                        };
                        if c.command("EHLO crash.example").await.is_err() {
                            return;
                        }
                        // A few messages per connection, then a new connection: both paths.
                        for _ in 0..5 {
                            n += 1;
                            let body = format!(
                                "Subject: round {round} client {client} message {n}\r\n\r\nbody\r\n"
                            );
                            match c
                                .send_mail("app@example.com", &["user@example.jp"], &body)
                                .await
                            {
                                Ok(reply) if reply.code == 250 => {
                                    let id = reply.lines[0].rsplit(' ').next().unwrap().to_string();
                                    acked.lock().unwrap().push(id);
                                }
                                Ok(reply) => panic!("unexpected refusal {reply:?}"),
                                Err(_) => return, // killed
                            }
                        }
                        let _ = c.command("QUIT").await;
                        continue 'connections;
                    }
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.lock().unwrap().len() < target {
            assert!(
                Instant::now() < deadline,
                "only {} acknowledged in time\n{}",
                acked.lock().unwrap().len(),
                node.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        prepared = node.kill9();
        for client in clients {
            runtime.block_on(client).unwrap();
        }
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        assert!(acked.len() >= target);
        all_acked.extend(acked.iter().cloned());

        // Restart: recovery runs, then the queue must hold every acknowledged message once.
        let node = prepared.start().unwrap();
        let queued = queued_ids(|args| node.cli_ok(args));
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in &queued {
            *counts.entry(id).or_default() += 1;
        }
        let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            duplicates.is_empty(),
            "round {round}: duplicates in the queue: {duplicates:?}"
        );
        let missing: Vec<_> = all_acked
            .iter()
            .filter(|id| !counts.contains_key(id.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged but lost: {missing:?}"
        );
        // Messages recorded just before the kill whose 250 never reached the client may be
        // there too (at most one per connection in flight), but nothing else.
        let unacknowledged = queued.iter().filter(|id| !all_acked.contains(*id)).count();
        assert!(
            unacknowledged <= CLIENTS * (round + 1),
            "round {round}: {unacknowledged} unexpected messages"
        );
        all_acked.extend(queued.iter().cloned());

        // Nothing half-written: no temporary files, and one spool file per queued message.
        let files = hikyaku_testkit::spool_message_files(node.data_dir());
        let message_files: Vec<_> = files.iter().filter(|f| f.contains("msg")).collect();
        assert_eq!(
            message_files.len(),
            queued.len(),
            "round {round}: spool files vs queue: {files:?}"
        );
        assert!(
            !files.iter().any(|f| f.contains("tmp/")),
            "round {round}: leftover temporary files: {files:?}"
        );
        let (status, next) = node.terminate(Duration::from_secs(30)).unwrap();
        assert!(status.success());
        prepared = next;
    }
}

/// The spool and the database are written at once, so a kill can leave a record whose spool
/// file never became durable (its client never heard `250`): the next start withdraws it, and
/// keeps the message whose file is there.
#[test]
fn a_record_without_its_spool_file_is_withdrawn_on_start() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let prepared = ProcessBuilder::new(BIN).prepare().unwrap();
    allow_a_contract(&prepared);
    let node = prepared.start().unwrap();
    let ids: Vec<String> = runtime.block_on(async {
        let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
        c.command("EHLO crash.example").await.unwrap();
        let mut ids = Vec::new();
        for n in 0..2 {
            let body = format!("Subject: {n}\r\n\r\nbody\r\n");
            let reply = c
                .send_mail("app@example.com", &["user@example.jp"], &body)
                .await
                .unwrap();
            assert_eq!(reply.code, 250, "{reply:?}");
            ids.push(reply.lines[0].rsplit(' ').next().unwrap().to_string());
        }
        ids
    });
    let prepared = node.kill9();
    let files = hikyaku_testkit::files_under(&prepared.data_dir.join("spool").join("msg"));
    let lost = files
        .iter()
        .find(|f| f.file_name().and_then(|n| n.to_str()) == Some(ids[1].as_str()))
        .expect("the second message's spool file");
    std::fs::remove_file(lost).unwrap();

    let node = prepared.start().unwrap();
    assert_eq!(queued_ids(|args| node.cli_ok(args)), [ids[0].clone()]);
    let log = node
        .cli_ok(&["log", "search", "--message-id", &ids[1], "--json"])
        .unwrap();
    let events: serde_json::Value = serde_json::from_str(log.trim()).unwrap();
    assert_eq!(events["events"], serde_json::json!([]), "no trace of it");
    assert!(node.log().contains("unspooled=1"), "{}", node.log());
}

/// Runs the named test of this file again, alone, in a private mount namespace where it may
/// mount a tmpfs; `false` (after saying why) where that cannot be done (not root, no
/// `unshare`). The child sees `HIKYAKU_TEST_IN_TMPFS` set.
fn rerun_with_private_mounts(test: &str) -> bool {
    let is_root = std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    });
    let Some(unshare) = hikyaku_testkit::tool("unshare").filter(|_| is_root) else {
        eprintln!("skipping {test}: it mounts a small tmpfs, which needs root and unshare");
        return false;
    };
    let status = std::process::Command::new(unshare)
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(IN_TMPFS, "1")
        .status()
        .unwrap();
    assert!(status.success(), "{test} in its mount namespace: {status}");
    true
}

const IN_TMPFS: &str = "HIKYAKU_TEST_IN_TMPFS";

/// A tmpfs of `size` on a new temporary directory (in this process's private namespace).
fn small_tmpfs(size: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "mount tmpfs: {status}");
    dir
}

/// What clients saw while filling the disk.
#[derive(Default, Debug)]
struct Fill {
    acked: Vec<String>,
    /// The first reply code and enhanced status of each refusal.
    refusals: Vec<String>,
    /// Connections closed without a reply while a message was in flight.
    dropped: usize,
}

/// Clients send 100 KB messages until each has been refused a few times.
fn fill(runtime: &tokio::runtime::Runtime, addr: std::net::SocketAddr) -> Fill {
    let fill: Arc<Mutex<Fill>> = Arc::default();
    let body = format!(
        "Subject: big\r\n\r\n{}",
        "0123456789abcdef\r\n".repeat(100 * 1024 / 18)
    );
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let fill = Arc::clone(&fill);
            let body = body.clone();
            runtime.spawn(async move {
                let mut refused = 0;
                while refused < 3 {
                    let Ok((mut c, _)) = SmtpClient::connect(addr).await else {
                        fill.lock().unwrap().dropped += 1;
                        refused += 1;
                        continue;
                    };
                    if c.command("EHLO fill.example").await.is_err() {
                        fill.lock().unwrap().dropped += 1;
                        refused += 1;
                        continue;
                    }
                    while refused < 3 {
                        match c
                            .send_mail("app@example.com", &["user@example.jp"], &body)
                            .await
                        {
                            Ok(reply) if reply.code == 250 => {
                                let id = reply.lines[0].rsplit(' ').next().unwrap().to_string();
                                fill.lock().unwrap().acked.push(id);
                            }
                            Ok(reply) => {
                                let status = reply.lines[0].split(' ').next().unwrap_or("");
                                fill.lock()
                                    .unwrap()
                                    .refusals
                                    .push(format!("{} {status}", reply.code));
                                refused += 1;
                                if c.command("RSET").await.is_err() {
                                    break;
                                }
                            }
                            Err(_) => {
                                fill.lock().unwrap().dropped += 1;
                                refused += 1;
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for client in clients {
        runtime.block_on(client).unwrap();
    }
    std::mem::take(&mut *fill.lock().unwrap())
}

/// The operator's report, on a real full disk: the data directory on a 12 MB tmpfs, clients
/// sending 100 KB messages until it is full, without a free-space reserve. Every message that
/// got `250` must be in the queue after a restart; nothing refused may be; every refusal is
/// `452 4.3.1` and no connection is dropped. Then the same with a reserve, where the node also
/// restarts on the same disk. (Without the fix for pooled SQLite connections this lost a message in one of five
/// runs, dropped connections and failed its shutdown.)
#[test]
fn a_full_disk_loses_no_acknowledged_message() {
    if std::env::var_os(IN_TMPFS).is_none() {
        rerun_with_private_mounts("a_full_disk_loses_no_acknowledged_message");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for (round, reserve) in ["0", "\"2MiB\""].into_iter().enumerate() {
        let disk = small_tmpfs("12m");
        let mut builder = ProcessBuilder::new(BIN);
        builder
            .data_dir(&disk.path().join("data"))
            .set("relay", "max_connections", "64")
            .set("relay", "min_free_disk", reserve);
        let prepared = builder.prepare().unwrap();
        allow_a_contract(&prepared);
        let node = prepared.start().unwrap();
        let fill = fill(&runtime, node.smtp_addr());
        eprintln!(
            "round {round}: {} acknowledged, refusals {:?}, {} dropped",
            fill.acked.len(),
            fill.refusals,
            fill.dropped
        );
        assert!(
            !fill.acked.is_empty(),
            "round {round}: nothing fitted\n{}",
            node.log()
        );
        let (status, prepared) = node.terminate(Duration::from_secs(60)).unwrap();
        assert!(status.success(), "round {round}: {status}");
        if round == 0 {
            // Without a reserve the disk may be too full even to withdraw a record at start
            // (a SQLite delete needs room in its WAL): the operator frees space first. With the
            // reserve, the node restarts on the same disk.
            let status = std::process::Command::new("mount")
                .args(["-o", "remount,size=24m"])
                .arg(disk.path())
                .status()
                .unwrap();
            assert!(status.success());
        }

        let node = prepared.start().unwrap();
        let queued: HashSet<String> = queued_ids(|args| node.cli_ok(args)).into_iter().collect();
        let acked: HashSet<String> = fill.acked.iter().cloned().collect();
        let lost: Vec<_> = acked.difference(&queued).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged but lost: {lost:?}\n{}",
            node.log()
        );
        // A message whose connection dropped before its reply may be either way; the rest not.
        let extra = queued.difference(&acked).count();
        assert!(
            extra <= fill.dropped,
            "round {round}: {extra} messages kept that were never acknowledged"
        );
        // The client is told what happened, and that it is storage, whichever write failed.
        assert_eq!(fill.dropped, 0, "round {round}: connections dropped");
        assert!(
            fill.refusals.iter().all(|r| r == "452 4.3.1"),
            "round {round}: {:?}",
            fill.refusals
        );
        let (status, _) = node.terminate(Duration::from_secs(60)).unwrap();
        assert!(status.success());
    }
}
