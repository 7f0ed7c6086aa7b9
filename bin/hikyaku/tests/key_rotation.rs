//! Key rotation on a real `hikyaku serve` under SMTP and HTTP traffic: `keys rotate`, kill -9
//! of the node mid-way through the re-sealing, restart, the rotation finishes; every address
//! acknowledged before, during and after reads back (send log by recipient, suppression list),
//! and the old key opens nothing left in the database. Then `keys rotate --wait` without a node.

use base64::Engine;
use hikyaku_store::{EventQuery, SealingKey, Store, SuppressionFilter, opens_with, sealing_key_id};
use hikyaku_testkit::{HikyakuProcess, Prepared, ProcessBuilder, SmtpClient, http_call};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");
const BODY: &str = "From: app@example.com\r\nSubject: hello\r\n\r\nHello.\r\n";

fn json_of(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn status(node: &Prepared) -> Value {
    json_of(&node.cli_ok(&["keys", "status", "--json"]).unwrap())
}

/// Senders over SMTP and HTTP until `stop`; each acknowledged recipient is recorded.
fn traffic(
    node: &HikyakuProcess,
    api_key: &str,
    round: &str,
    stop: &Arc<AtomicBool>,
    acked: &Arc<Mutex<BTreeSet<String>>>,
) -> Vec<std::thread::JoinHandle<()>> {
    let (smtp, http) = (node.smtp_addr(), node.http_addr());
    let mut threads = Vec::new();
    {
        let (stop, acked, round) = (Arc::clone(stop), Arc::clone(acked), round.to_string());
        threads.push(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let Ok((mut c, _)) = SmtpClient::connect(smtp).await else {
                    return;
                };
                if c.command("EHLO app.example.com").await.is_err() {
                    return;
                }
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let to = format!("smtp-{round}-{n}@example.jp");
                    match c.send_mail("app@example.com", &[&to], BODY).await {
                        Ok(reply) if reply.code == 250 => {
                            acked.lock().unwrap().insert(to);
                        }
                        _ => return, // killed
                    }
                }
            });
        }));
    }
    {
        let (stop, acked, round, key) = (
            Arc::clone(stop),
            Arc::clone(acked),
            round.to_string(),
            api_key.to_string(),
        );
        threads.push(std::thread::spawn(move || {
            for n in 0.. {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let to = format!("api-{round}-{n}@example.jp");
                let body =
                    json!({"from": "app@example.com", "to": to, "subject": "s", "text": "t"})
                        .to_string();
                match http_call(
                    http,
                    "POST",
                    "/api/v1/messages",
                    Some(&key),
                    &[],
                    Some(&body),
                ) {
                    Ok(answer) if answer.status == 202 => {
                        acked.lock().unwrap().insert(to);
                    }
                    _ => return, // killed
                }
            }
        }));
    }
    threads
}

fn run_traffic_until(
    node: &HikyakuProcess,
    api_key: &str,
    round: &str,
    acked: &Arc<Mutex<BTreeSet<String>>>,
    mut done: impl FnMut() -> bool,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = traffic(node, api_key, round, &stop, acked);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out\n{}", node.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
}

fn master_key(prepared: &Prepared) -> [u8; 32] {
    let text = std::fs::read_to_string(prepared.data_dir.join("secret.key")).unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn rotation_under_load_survives_kill9_and_the_old_key_opens_nothing() {
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("api", "requests_per_second", "1000000");
    builder.set("api", "burst", "1000000");
    builder.set("keys", "refresh_interval", "\"200ms\"");
    builder.set("keys", "activation_delay", "\"1s\"");
    builder.set("keys", "batch_size", "5");
    builder.set("keys", "batch_pause", "\"30ms\"");
    builder.set("keys", "lease", "\"2s\"");
    let prepared = builder.prepare().unwrap();
    let customer = json_of(
        &prepared
            .cli_ok(&["contract", "create", "--name", "Keys", "--json"])
            .unwrap(),
    )["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    prepared
        .cli_ok(&["allowed-ip", "add", &customer, "127.0.0.1"])
        .unwrap();
    let api_key = json_of(
        &prepared
            .cli_ok(&["api-key", "create", &customer, "--name", "k", "--json"])
            .unwrap(),
    )["key"]
        .as_str()
        .unwrap()
        .to_string();
    let suppressed: BTreeSet<String> = (0..40).map(|i| format!("gone-{i}@example.jp")).collect();
    let csv = prepared.data_dir.with_extension("csv");
    std::fs::write(
        &csv,
        suppressed
            .iter()
            .map(|a| format!("{a}\n"))
            .collect::<String>(),
    )
    .unwrap();
    prepared
        .cli_ok(&["suppression", "import", &customer, csv.to_str().unwrap()])
        .unwrap();

    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    // Before the rotation: enough rows that the walk takes a while in batches of 5.
    let node = prepared.start().unwrap();
    run_traffic_until(&node, &api_key, "before", &acked, || {
        acked.lock().unwrap().len() >= 150
    });

    // The rotation starts under traffic; kill -9 once the walk is under way.
    let started = json_of(&node.cli_ok(&["keys", "rotate", "--json"]).unwrap());
    assert_eq!(started["key"], 1);
    let prepared_ref = &node;
    let mut killed_at = 0;
    run_traffic_until(&node, &api_key, "during", &acked, || {
        let s = json_of(&prepared_ref.cli_ok(&["keys", "status", "--json"]).unwrap());
        let rotation = &s["rotation"];
        assert!(
            rotation["finished_at"].is_null(),
            "finished before the kill: {s}"
        );
        killed_at = rotation["resealed"].as_u64().unwrap();
        killed_at > 50
    });
    let prepared = node.kill9();
    let mid = status(&prepared);
    assert!(mid["rotation"]["finished_at"].is_null(), "{mid}");
    println!("killed with {killed_at} values re-sealed");

    // Restart: the same node takes its walk up again and finishes it, under traffic.
    let node = prepared.start().unwrap();
    let node_ref = &node;
    run_traffic_until(&node, &api_key, "after", &acked, || {
        let s = json_of(&node_ref.cli_ok(&["keys", "status", "--json"]).unwrap());
        !s["rotation"]["finished_at"].is_null()
    });
    let (_, prepared) = node.terminate(Duration::from_secs(30)).unwrap();
    let done = status(&prepared);
    assert_eq!(done["keys"][0]["state"], "retired", "{done}");
    assert_eq!(done["keys"][1]["state"], "active", "{done}");
    for table in done["rotation"]["tables"].as_array().unwrap() {
        assert_eq!(table["left"], 0, "{table}");
    }
    assert!(done["rotation"]["resealed"].as_u64().unwrap() > killed_at);

    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.iter().any(|a| a.contains("-during-")),
        "traffic during the rotation"
    );
    let master = master_key(&prepared);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!(
            "sqlite://{}",
            prepared.data_dir.join("hikyaku.db").display()
        );
        let store = Store::connect(&url, SealingKey::from_bytes(master))
            .await
            .unwrap();
        // Nothing acknowledged is lost, and every address reads back by its own search.
        let customer: hikyaku_model::CustomerId = customer.parse().unwrap();
        for address in &acked {
            let page = store
                .search_events(&EventQuery {
                    customer: Some(customer.clone()),
                    recipient: Some(address.clone()),
                    ..EventQuery::default()
                })
                .await
                .unwrap();
            assert!(
                page.events.iter().any(|e| &e.recipient == address),
                "{address} acknowledged, not in the send log"
            );
        }
        let listed: BTreeSet<String> = store
            .suppressions(
                &customer,
                &SuppressionFilter {
                    limit: Some(1000),
                    ..SuppressionFilter::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.address)
            .collect();
        assert_eq!(listed, suppressed);
        // Every sealed value is under key 1; key 0 (the key file's) opens none of them.
        let values = store.sealed_values().await.unwrap();
        assert!(values.len() > 3 * acked.len(), "{}", values.len());
        for (table, column, value) in &values {
            assert_eq!(sealing_key_id(value), 1, "{table}.{column}");
            assert!(
                !opens_with(0, master, value),
                "{table}.{column} opens with key 0"
            );
        }
        store.close().await;
    });

    // Without a running node, `keys rotate --wait` re-seals in the command and retires key 1.
    let waited = json_of(
        &prepared
            .cli_ok(&["keys", "rotate", "--wait", "--json"])
            .unwrap(),
    );
    assert_eq!(waited["key"], 2, "{waited}");
    assert!(!waited["finished_at"].is_null(), "{waited}");
    assert_eq!(waited["retired"], json!([1]), "{waited}");
    let listed = prepared
        .cli_ok(&[
            "suppression",
            "list",
            &customer,
            "--limit",
            "1000",
            "--json",
        ])
        .unwrap();
    for address in &suppressed {
        assert!(listed.contains(address.as_str()), "{address}");
    }
}
