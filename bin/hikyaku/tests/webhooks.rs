//! Webhooks end to end, against a receiver we did not write: Python's `standardwebhooks`
//! package (the reference library of the specification) verifies every request. Mail is sent
//! over the HTTP API while Hikyaku is killed with SIGKILL and restarted, one endpoint fails
//! every request's first two attempts, and a secret is rotated midway; in the end every event
//! of the send log has arrived at each endpoint exactly once after dedupe by `webhook-id`.

use hikyaku_testkit::{HikyakuProcess, Prepared, ProcessBuilder, http_call};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");

/// The receiver: every POST is verified with `standardwebhooks.Webhook(secret).verify`, with
/// each secret the test listed for its path (all of them must verify when it says so). Paths
/// under /flaky answer 500 to the first two attempts of each webhook-id. Each request is one
/// JSON line in the log: its path, webhook-id, attempt and events, or why it was refused.
const RECEIVER: &str = r#"
import json, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from standardwebhooks import Webhook

secrets_file, log_file = sys.argv[1], sys.argv[2]
lock = threading.Lock()
attempts = {}

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k: v for k, v in self.headers.items()}
        with open(secrets_file) as f:
            rule = json.load(f).get(self.path, {"secrets": [], "all": False})
        verified = []
        for secret in rule["secrets"]:
            try:
                Webhook(secret).verify(body, headers)
                verified.append(secret)
            except Exception as e:
                pass
        ok = len(verified) == len(rule["secrets"]) if rule["all"] else len(verified) > 0
        webhook_id = headers.get("webhook-id") or headers.get("Webhook-Id")
        with lock:
            attempts[webhook_id] = attempts.get(webhook_id, 0) + 1
            attempt = attempts[webhook_id]
            if not ok:
                status = 401
            elif self.path.startswith("/flaky") and attempt <= 2:
                status = 500
            else:
                status = 204
            entry = {"path": self.path, "id": webhook_id, "attempt": attempt, "status": status}
            if not ok:
                entry["invalid"] = "%d of %d secrets verified" % (len(verified), len(rule["secrets"]))
            else:
                entry["data"] = json.loads(body)["data"]
                entry["signatures"] = len(headers.get("webhook-signature", "").split(" "))
            with open(log_file, "a") as f:
                f.write(json.dumps(entry) + "\n")
        self.answer(status)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

struct PythonReceiver {
    child: Child,
    port: u16,
    secrets: PathBuf,
    log: PathBuf,
}

impl Drop for PythonReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PythonReceiver {
    /// `None` (after saying why) when python3 or standardwebhooks is missing outside CI.
    fn start(dir: &Path) -> Option<PythonReceiver> {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let probe = Command::new("python3")
            .args(["-c", "import standardwebhooks"])
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            assert!(
                !in_ci,
                "python3 with standardwebhooks is required under CI=true (pip install standardwebhooks)"
            );
            eprintln!(
                "skipping: python3 or standardwebhooks is missing (pip install standardwebhooks)"
            );
            return None;
        }
        let secrets = dir.join("secrets.json");
        let log = dir.join("received.jsonl");
        std::fs::write(&secrets, "{}").unwrap();
        std::fs::write(&log, "").unwrap();
        let mut child = Command::new("python3")
            .args(["-c", RECEIVER])
            .arg(&secrets)
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the receiver prints its port");
        Some(PythonReceiver {
            child,
            port,
            secrets,
            log,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Which secrets each path checks, and whether all of them must verify.
    fn set_secrets(&self, rules: &BTreeMap<&str, (Vec<String>, bool)>) {
        let map: serde_json::Map<String, Value> = rules
            .iter()
            .map(|(path, (secrets, all))| {
                (path.to_string(), json!({"secrets": secrets, "all": all}))
            })
            .collect();
        let temp = self.secrets.with_extension("tmp");
        std::fs::write(&temp, Value::Object(map).to_string()).unwrap();
        std::fs::rename(&temp, &self.secrets).unwrap();
    }

    fn entries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Sends single messages over the API until `stop`; counts the answered ones.
fn sender(addr: SocketAddr, key: String, stop: Arc<AtomicBool>, answered: Arc<AtomicUsize>) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let body = json!({
            "from": "app@example.com", "to": format!("user{n}@example.jp"),
            "subject": format!("m{n}"), "text": "body",
            "tags": ["webhook-test"], "metadata": {"order": n.to_string()},
        })
        .to_string();
        match http_call(
            addr,
            "POST",
            "/api/v1/messages",
            Some(&key),
            &[],
            Some(&body),
        ) {
            Ok(a) if a.status == 202 => {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            Ok(a) => panic!("unexpected answer {}: {}", a.status, a.body),
            Err(_) => return, // killed
        }
    }
}

/// Sends until `count` more messages were answered, or the node dies.
fn send_some(
    node: &HikyakuProcess,
    key: &str,
    count: usize,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let (s, a, k, addr) = (
        stop.clone(),
        answered.clone(),
        key.to_string(),
        node.http_addr(),
    );
    let thread = std::thread::spawn(move || sender(addr, k, s, a));
    let deadline = Instant::now() + Duration::from_secs(30);
    while answered.load(Ordering::SeqCst) < count {
        assert!(Instant::now() < deadline, "sending stalled\n{}", node.log());
        std::thread::sleep(Duration::from_millis(5));
    }
    (stop, thread)
}

/// Every `accepted` event of the send log, by message ID.
fn accepted_messages(node: &HikyakuProcess, key: &str) -> BTreeSet<String> {
    let answer = http_call(
        node.http_addr(),
        "GET",
        "/api/v1/events?kind=accepted&limit=1000",
        Some(key),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let page = json_of(&answer.body);
    assert!(page["next_cursor"].is_null(), "fewer than 1000 events");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message_id"].as_str().unwrap().to_string())
        .collect()
}

/// The events that reached `path` and were acknowledged (a 2xx answer), after dedupe by
/// webhook-id: message IDs with how many distinct requests carried each. A request answered
/// 500 is not yet received: its retries are still to come. Panics on a webhook-id whose events
/// changed between tries.
fn received(entries: &[Value], path: &str) -> HashMap<String, usize> {
    let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
    let mut acknowledged: HashSet<String> = HashSet::new();
    for e in entries
        .iter()
        .filter(|e| e["path"] == path && e.get("data").is_some())
    {
        let ids: Vec<String> = e["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|ev| ev["kind"] == "accepted")
            .map(|ev| ev["message_id"].as_str().unwrap().to_string())
            .collect();
        let id = e["id"].as_str().unwrap().to_string();
        if e["status"].as_u64().is_some_and(|status| status < 300) {
            acknowledged.insert(id.clone());
        }
        if let Some(before) = by_id.get(&id) {
            assert_eq!(
                before, &ids,
                "webhook-id {id} carried other events on a retry"
            );
        }
        by_id.insert(id, ids);
    }
    let mut counts = HashMap::new();
    for (webhook_id, ids) in &by_id {
        if !acknowledged.contains(webhook_id) {
            continue;
        }
        for id in ids {
            *counts.entry(id.clone()).or_insert(0) += 1;
        }
    }
    counts
}

fn add_endpoint(prepared: &Prepared, customer: &str, url: &str, extra: &[&str]) -> (i64, String) {
    let mut args = vec![
        "webhook",
        "add",
        customer,
        "--url",
        url,
        "--events",
        "accepted,delivered",
        "--json",
    ];
    args.extend_from_slice(extra);
    let added = json_of(&prepared.cli_ok(&args).unwrap());
    (
        added["id"].as_i64().unwrap(),
        added["secret"].as_str().unwrap().to_string(),
    )
}

#[test]
fn every_event_arrives_once_through_failures_a_rotation_and_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let Some(receiver) = PythonReceiver::start(dir.path()) else {
        return;
    };
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("api", "requests_per_second", "1000000");
    builder.set("api", "burst", "1000000");
    builder.set("webhooks", "allow_private_endpoints", "true");
    builder.set("webhooks", "batch_window", "\"200ms\"");
    builder.set("webhooks", "batch_max_events", "20");
    builder.set("webhooks", "retry_initial", "\"20ms\"");
    builder.set("webhooks", "retry_max", "\"100ms\"");
    // A killed sender's endpoints wait for its claim to lapse: a short deadline keeps it short.
    builder.set("webhooks", "request_timeout", "\"3s\"");
    builder.set("webhooks", "resolver", "\"static\"");
    let prepared = builder.prepare().unwrap();
    let customer = json_of(
        &prepared
            .cli_ok(&["contract", "create", "--name", "Hooks", "--json"])
            .unwrap(),
    )["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = json_of(
        &prepared
            .cli_ok(&[
                "api-key",
                "create",
                &customer,
                "--name",
                "k",
                "--role",
                "admin",
                "--see-addresses",
                "--json",
            ])
            .unwrap(),
    )["key"]
        .as_str()
        .unwrap()
        .to_string();
    // Plain http:// to 127.0.0.1 is refused without allow_private_endpoints.
    let mut strict = ProcessBuilder::new(BIN);
    strict.set("webhooks", "allow_private_endpoints", "false");
    let refused = strict
        .prepare()
        .unwrap()
        .cli(&["webhook", "add", &customer, "--url", &receiver.url("/x")])
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("must be https://"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let (batched, batched_secret) =
        add_endpoint(&prepared, &customer, &receiver.url("/batched"), &[]);
    let (flaky, flaky_secret) = add_endpoint(
        &prepared,
        &customer,
        &receiver.url("/flaky"),
        &["--one-per-request"],
    );
    let mut rules = BTreeMap::from([
        ("/batched", (vec![batched_secret.clone()], false)),
        ("/flaky", (vec![flaky_secret], false)),
    ]);
    receiver.set_secrets(&rules);
    let listed = json_of(
        &prepared
            .cli_ok(&["webhook", "list", &customer, "--json"])
            .unwrap(),
    );
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["endpoints"][1]["one_per_request"], true);
    assert!(
        !listed.to_string().contains("whsec_"),
        "list never shows a secret"
    );

    // Two runs cut short by SIGKILL, then one that ends in peace.
    let mut prepared = prepared;
    for round in 0..2 {
        let node = prepared.start().unwrap();
        let (stop, thread) = send_some(&node, &key, 40);
        prepared = node.kill9();
        stop.store(true, Ordering::SeqCst);
        thread.join().unwrap();
        println!(
            "round {round}: killed with {} requests received so far",
            receiver.entries().len()
        );
    }
    let node = prepared.start().unwrap();
    let (stop, thread) = send_some(&node, &key, 20);
    // Rotation: from now on each request carries both signatures, and the receiver checks both.
    let rotated = json_of(
        &node
            .cli_ok(&[
                "webhook",
                "rotate-secret",
                &customer,
                &batched.to_string(),
                "--overlap",
                "1h",
                "--json",
            ])
            .unwrap(),
    );
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, batched_secret);
    rules.insert("/batched", (vec![new_secret, batched_secret], true));
    receiver.set_secrets(&rules);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    thread.join().unwrap();
    let queued = node
        .cli_ok(&["webhook", "test", &customer, &batched.to_string()])
        .unwrap();
    assert!(queued.contains("queued a test event"), "{queued}");

    let expected = accepted_messages(&node, &key);
    assert!(expected.len() >= 100, "{} messages", expected.len());
    let waiting = Instant::now();
    let deadline = waiting + Duration::from_secs(60);
    loop {
        let entries = receiver.entries();
        let done = ["/batched", "/flaky"].iter().all(|path| {
            let got = received(&entries, path);
            expected.iter().all(|id| got.contains_key(id))
        }) && entries.iter().any(|e| {
            e["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|ev| ev["kind"] == "test"))
        });
        if done {
            break;
        }
        if Instant::now() > deadline {
            let summary: Vec<String> = ["/batched", "/flaky"]
                .iter()
                .map(|path| {
                    format!(
                        "{path}: {} of {}",
                        received(&entries, path).len(),
                        expected.len()
                    )
                })
                .collect();
            let invalid = entries
                .iter()
                .filter(|e| e.get("invalid").is_some())
                .count();
            panic!(
                "not everything arrived: {summary:?}, {invalid} refused, {} requests\n{}",
                entries.len(),
                node.log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "everything arrived {:?} after the last send",
        waiting.elapsed()
    );
    let entries = receiver.entries();
    for path in ["/batched", "/flaky"] {
        let got = received(&entries, path);
        let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{path}: events in two requests: {twice:?}"
        );
        let unknown: Vec<_> = got.keys().filter(|id| !expected.contains(*id)).collect();
        assert!(
            unknown.is_empty(),
            "{path}: events not in the send log: {unknown:?}"
        );
    }
    // Batches: several events per request; one per request on /flaky, each tried three times.
    let batched_requests: Vec<&Value> = entries
        .iter()
        .filter(|e| e["path"] == "/batched" && e.get("data").is_some())
        .collect();
    assert!(
        batched_requests
            .iter()
            .any(|e| e["data"].as_array().unwrap().len() > 1)
    );
    assert!(
        batched_requests
            .iter()
            .all(|e| e["data"].as_array().unwrap().len() <= 20)
    );
    let mut flaky_tries: HashMap<&str, u64> = HashMap::new();
    for e in entries.iter().filter(|e| e["path"] == "/flaky") {
        assert_eq!(e["data"].as_array().map(Vec::len).unwrap_or(1), 1);
        let n = flaky_tries.entry(e["id"].as_str().unwrap()).or_default();
        *n = (*n).max(e["attempt"].as_u64().unwrap());
    }
    let short: Vec<(&&str, &u64)> = flaky_tries.iter().filter(|(_, n)| **n < 3).collect();
    assert!(
        short.is_empty(),
        "every request to /flaky took three tries; these did not (webhook-id, tries): {short:?} \
         of {} requests",
        flaky_tries.len()
    );
    // Every request verified (retries after the rotation carry both signatures).
    let invalid: Vec<&Value> = entries
        .iter()
        .filter(|e| e.get("invalid").is_some())
        .collect();
    assert!(
        invalid.iter().all(|e| e["path"] == "/batched"),
        "only requests signed before the rotation may miss the new signature: {invalid:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["path"] == "/batched" && e["signatures"] == 2)
    );
    // The event's shape: the send log's, with the send request's tags and metadata.
    let event = &batched_requests[0]["data"][0];
    assert_eq!(event["tags"], json!(["webhook-test"]), "{event}");
    assert!(event["metadata"]["order"].is_string(), "{event}");
    assert!(
        event["recipient"]
            .as_str()
            .unwrap()
            .ends_with("@example.jp")
    );
    assert!(event["time"].as_str().unwrap().ends_with('Z'));

    let attempts = json_of(
        &node
            .cli_ok(&[
                "webhook",
                "attempts",
                &customer,
                &flaky.to_string(),
                "--limit",
                "1000",
                "--json",
            ])
            .unwrap(),
    );
    let statuses: BTreeSet<u64> = attempts["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["status"].as_u64())
        .collect();
    assert!(
        statuses.contains(&500) && statuses.contains(&204),
        "{statuses:?}"
    );
    let via_api = http_call(
        node.http_addr(),
        "GET",
        &format!("/api/v1/webhooks/{flaky}/attempts?limit=5"),
        Some(&key),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(via_api.status, 200, "{}", via_api.body);
    assert_eq!(
        json_of(&via_api.body)["attempts"].as_array().unwrap().len(),
        5
    );
    node.terminate(Duration::from_secs(20)).unwrap();
}
