//! kill -9 while many clients send over HTTP: every message the API answered for (`202`, or
//! `accepted` in a batch's `200`) must be in the queue after restart exactly once, and a retry
//! with the same `Idempotency-Key` must get the first answer back and send nothing more.

use hikyaku_testkit::{Prepared, ProcessBuilder, http_call};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");
const CLIENTS: usize = 8;
const BATCH: usize = 10;

/// One request the server answered for: its idempotency key, path, body and the message IDs
/// it was told were spooled.
#[derive(Clone)]
struct Answered {
    key: String,
    path: &'static str,
    body: String,
    ids: Vec<String>,
}

/// Every message ID in the queue, as `queue list --json` reports it.
fn queued_ids(node: &hikyaku_testkit::HikyakuProcess) -> Vec<String> {
    let out = node
        .cli_ok(&["queue", "list", "--limit", "1000000", "--json"])
        .unwrap();
    let json: Value = serde_json::from_str(out.trim()).unwrap();
    json["messages"]
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// A contract with a sender key; returns the key.
fn a_sender_key(prepared: &Prepared) -> String {
    let out = prepared
        .cli_ok(&["contract", "create", "--name", "Crash", "--json"])
        .unwrap();
    let customer = serde_json::from_str::<Value>(out.trim()).unwrap()["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = prepared
        .cli_ok(&["api-key", "create", &customer, "--name", "crash", "--json"])
        .unwrap();
    serde_json::from_str::<Value>(out.trim()).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The message IDs an answer says were spooled; `None` when the request was not answered
/// (the server died under it).
fn spooled_ids(status: u16, body: &str) -> Option<Vec<String>> {
    let json: Value = serde_json::from_str(body).ok()?;
    match status {
        202 => Some(vec![json["message_id"].as_str()?.to_string()]),
        200 => json["results"]
            .as_array()?
            .iter()
            .map(|r| {
                assert_eq!(r["status"], "accepted", "{r}");
                r["message_id"].as_str().map(str::to_string)
            })
            .collect(),
        other => panic!("unexpected answer {other}: {body}"),
    }
}

/// One client: single sends and batches in turn, each with its own idempotency key, until the
/// server stops answering.
fn client(addr: SocketAddr, api_key: String, name: String, answered: Arc<Mutex<Vec<Answered>>>) {
    for n in 0.. {
        let key = format!("{name}-{n}");
        let (path, body) = if n % 3 == 2 {
            let recipients: Vec<Value> = (0..BATCH)
                .map(|i| json!({"to": format!("user{i}@example.jp")}))
                .collect();
            let body = json!({
                "template": {"from": "app@example.com", "subject": key, "text": "body"},
                "recipients": recipients,
            });
            ("/api/v1/messages/batch", body)
        } else {
            let body = json!({
                "from": "app@example.com", "to": "user@example.jp", "subject": key, "text": "body",
            });
            ("/api/v1/messages", body)
        };
        let body = body.to_string();
        let headers = [("Idempotency-Key", key.as_str())];
        let Ok(answer) = http_call(addr, "POST", path, Some(&api_key), &headers, Some(&body))
        else {
            return; // killed
        };
        let Some(ids) = spooled_ids(answer.status, &answer.body) else {
            return; // killed mid-answer
        };
        answered.lock().unwrap().push(Answered {
            key,
            path,
            body,
            ids,
        });
    }
}

#[test]
fn kill9_during_http_sends_loses_no_accepted_message() {
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("api", "requests_per_second", "1000000");
    builder.set("api", "burst", "1000000");
    let prepared = builder.prepare().unwrap();
    let api_key = a_sender_key(&prepared);

    let mut prepared = prepared;
    let mut all_answered: Vec<Answered> = Vec::new();
    for round in 0..3 {
        let node = prepared.start().unwrap();
        let addr = node.http_addr();
        let answered: Arc<Mutex<Vec<Answered>>> = Arc::default();
        let target = 150 + round * 100;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (answered, api_key) = (Arc::clone(&answered), api_key.clone());
                let name = format!("r{round}c{c}");
                std::thread::spawn(move || client(addr, api_key, name, answered))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while answered.lock().unwrap().len() < target {
            assert!(
                Instant::now() < deadline,
                "only {} answered in time\n{}",
                answered.lock().unwrap().len(),
                node.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        prepared = node.kill9();
        for client in clients {
            client.join().unwrap();
        }
        let answered = std::mem::take(&mut *answered.lock().unwrap());
        all_answered.extend(answered.iter().cloned());
        let acked: HashSet<&str> = all_answered
            .iter()
            .flat_map(|a| a.ids.iter().map(String::as_str))
            .collect();

        // Restart: recovery runs, then the queue must hold every answered message once.
        let node = prepared.start().unwrap();
        let queued = queued_ids(&node);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in &queued {
            *counts.entry(id).or_default() += 1;
        }
        let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            duplicates.is_empty(),
            "round {round}: duplicates in the queue: {duplicates:?}"
        );
        let missing: Vec<_> = acked
            .iter()
            .filter(|id| !counts.contains_key(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: answered but lost: {missing:?}"
        );
        // Requests in flight at a kill may have been spooled without their answer reaching
        // the client: at most one request (a batch at most) per client per kill, nothing else.
        let unanswered = queued
            .iter()
            .filter(|id| !acked.contains(id.as_str()))
            .count();
        assert!(
            unanswered <= (round + 1) * CLIENTS * BATCH,
            "round {round}: {unanswered} messages nobody was told about"
        );

        println!(
            "round {round}: {} requests answered; so far {} messages answered for, {} queued, {unanswered} not answered",
            answered.len(),
            acked.len(),
            queued.len()
        );

        // A client that repeats an answered request gets the same answer and sends nothing.
        let addr = node.http_addr();
        for done in answered.iter().step_by(7) {
            let headers = [("Idempotency-Key", done.key.as_str())];
            let again = http_call(
                addr,
                "POST",
                done.path,
                Some(&api_key),
                &headers,
                Some(&done.body),
            )
            .unwrap();
            assert_eq!(
                again.header("idempotent-replayed"),
                Some("true"),
                "{}",
                again.body
            );
            assert_eq!(
                spooled_ids(again.status, &again.body).unwrap(),
                done.ids,
                "round {round}: {} answered differently the second time",
                done.key
            );
        }
        assert_eq!(
            queued_ids(&node).len(),
            queued.len(),
            "round {round}: a repeated request sent again"
        );
        prepared = node.kill9();
    }
}
