//! The data's lifecycle through the real binary, on SQLite and on a fresh PostgreSQL database:
//! `purge --dry-run` and `purge`, `usage` (and the API's), and a contract's end — terminated
//! (by the CLI, or the operator API) while its mail is still queued, deleted by the running
//! service's lifecycle job, after which its ID, its
//! addresses and its key material are found nowhere: not in any table (read with the sealing
//! key), not in any file of the data directory (spool, database files, keys).

mod cli_support;
mod delivery_support;

use cli_support::{fails, json, on_both_backends};
use hikyaku_store::{SealingKey, Store};
use hikyaku_testkit::{Prepared, ProcessBuilder, http_call};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

on_both_backends!(purge_and_usage_from_the_command_line);

fn purge_and_usage_from_the_command_line(node: &Prepared) {
    let id = node
        .cli_ok(&["contract", "create", "--name", "Short Lived"])
        .unwrap()
        .trim()
        .to_string();
    let dry = json(node, &["purge", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let tables: Vec<&str> = dry["report_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    for table in ["events", "stats_minute", "messages", "inbound_attempts"] {
        assert!(tables.contains(&table), "{table} in {tables:?}");
    }
    assert!(
        dry["report_data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["rows"] == 0)
    );
    let text = node.cli_ok(&["purge", "--dry-run"]).unwrap();
    assert!(text.contains("would go"), "{text}");

    let usage = json(node, &["usage", "--contract", &id, "--month", "2026-11"]);
    assert_eq!(usage["month"], "2026-11");
    assert_eq!(usage["time_zone"], "+09:00");
    assert_eq!(usage["usage"][0]["customer_id"], id.as_str());
    assert_eq!(usage["usage"][0]["sent"], 0);
    assert_eq!(usage["usage"][0]["excess_units"], 0);
    let all = json(node, &["usage"]);
    assert_eq!(all["usage"].as_array().unwrap().len(), 1);
    let error = fails(node, &["usage", "--month", "2026-13"]);
    assert!(error.contains("YYYY-MM"), "{error}");
    let error = fails(node, &["usage", "--contract", "AAAAAAAAAA"]);
    assert!(error.starts_with("error: "), "{error}");

    node.cli_ok(&["contract", "terminate", &id]).unwrap();
    let shown = json(node, &["contract", "show", &id]);
    assert_eq!(shown["state"], "terminated");
    assert!(shown["terminated_at"].is_string(), "{shown}");
    assert_eq!(
        shown["terminated_at"], shown["deletion_due_at"],
        "no grace by default"
    );
    let dry = json(node, &["purge", "--dry-run"]);
    assert_eq!(dry["contracts_deleted"], serde_json::json!([id]));
    assert_eq!(
        json(node, &["contract", "show", &id])["state"],
        "terminated"
    );

    let done = json(node, &["purge"]);
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["contracts_deleted"], serde_json::json!([id]));
    let shown = json(node, &["contract", "show", &id]);
    assert_eq!(shown["state"], "deleted");
    assert_eq!(shown["name"], "Short Lived");
    assert!(shown["deleted_at"].is_string());
    assert_eq!(shown.as_object().unwrap().len(), 4, "nothing else: {shown}");
    let text = node.cli_ok(&["contract", "show", &id]).unwrap();
    assert!(text.contains("deleted"), "{text}");
    assert!(
        json(node, &["usage"])["usage"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_deleted_contract_is_found_nowhere_on_sqlite() {
    a_deleted_contract_is_found_nowhere(None);
}

#[test]
fn a_deleted_contract_is_found_nowhere_on_postgres() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(database) = runtime.block_on(hikyaku_store::testing::PostgresTestDatabase::create())
    {
        a_deleted_contract_is_found_nowhere(Some(database.url()));
    }
}

fn a_deleted_contract_is_found_nowhere(database_url: Option<&str>) {
    // Mail to a port nobody listens on stays queued (deferred, retried every second).
    let (node, id) = delivery_support::start(|builder: &mut ProcessBuilder| {
        delivery_support::route_everything(builder, "127.0.0.1:1");
        builder.set("retention", "interval", "\"1s\"");
        builder.set("log", "level", "\"warn\"");
        if let Some(url) = database_url {
            builder.set("", "database_url", &format!("{url:?}"));
        }
    });
    let kept = json_of(&node, &["contract", "create", "--name", "Kept"])["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let to = "to@gone-rcpt.example";
    let listed = "listed@gone-rcpt.example";
    let user = "admin@gone-rcpt.example";
    let username = "gone-smtp-user";
    node.cli_ok(&[
        "smtp-credential",
        "add",
        &id,
        "--username",
        username,
        "--password",
        "a long enough password",
    ])
    .unwrap();
    let domain = node
        .cli_ok(&[
            "domain",
            "add",
            &id,
            "gone-sender.example",
            "--algorithm",
            "ed25519",
            "--json",
        ])
        .unwrap();
    let public_key = domain
        .split("p=")
        .nth(1)
        .and_then(|rest| rest.split(['"', ';', ' ', '\\']).next())
        .filter(|key| key.len() > 20)
        .unwrap_or_else(|| panic!("no p= in {domain}"))
        .to_string();
    node.cli_ok(&[
        "user",
        "add",
        &id,
        "--email",
        user,
        "--password",
        "a long enough password",
    ])
    .unwrap();
    let key = json_of(&node, &["api-key", "create", &id, "--name", "deploy"]);
    // What the database keeps of a key in clear: its first characters, for listings.
    let full_key = key["key"].as_str().unwrap().to_string();
    let api_key = full_key[..9].to_string();
    node.cli_ok(&["suppression", "add", &id, listed]).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ids = runtime.block_on(delivery_support::send_many(&node, &[&[to, listed], &[to]]));
    // Queued (deferred), its spool files present: the search below can see them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivery_support::search(&node, &["--customer", &id, "--outcome", "deferred"]).is_empty()
    {
        assert!(Instant::now() < deadline, "no deferral: {}", node.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Usage counts the recipients accepted, the suppressed one excluded.
    let usage = json_of(&node, &["usage", "--contract", &id]);
    assert_eq!(usage["usage"][0]["sent"], 2, "{usage}");
    let answer = http_call(
        node.http_addr(),
        "GET",
        "/api/v1/usage",
        Some(&full_key),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let api_usage: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(api_usage["sent"], 2, "{api_usage}");
    assert_eq!(api_usage["month"], usage["month"]);
    let data_dir = node.data_dir().to_path_buf();
    let needles = [
        to,
        username,
        &public_key,
        "gone-sender.example",
        &ids[0],
        &ids[1],
    ];
    for needle in [to, &ids[0]] {
        assert!(
            !files_holding(&data_dir, needle).is_empty(),
            "{needle} is in the spool before the deletion (or the search is blind)"
        );
    }

    if database_url.is_some() {
        // The operator API's terminate schedules the same deletion as the CLI's.
        let operator = json_of(&node, &["operator-key", "create", "--name", "ops"])["key"]
            .as_str()
            .unwrap()
            .to_string();
        let path = format!("/api/v1/operator/contracts/{id}/terminate");
        let answer =
            http_call(node.http_addr(), "POST", &path, Some(&operator), &[], None).unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
    } else {
        node.cli_ok(&["contract", "terminate", &id]).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let shown = loop {
        let shown = json_of(&node, &["contract", "show", &id]);
        if shown["state"] == "deleted" {
            break shown;
        }
        assert!(
            Instant::now() < deadline,
            "not deleted: {shown}\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(shown["deleted_at"].is_string());
    // Withdrawn, never sent: its recipients' last word is the deletion, and nothing of the
    // other contract went with it.
    assert_eq!(
        json_of(&node, &["contract", "show", &kept])["state"],
        "trial"
    );

    // No file of the data directory holds anything of it (the database's own files may hold
    // its ID, in the tombstone).
    let database_files = |path: &Path| {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("hikyaku.db"))
    };
    for needle in needles.iter().chain([&id.as_str()]) {
        let holding: Vec<_> = files_holding(&data_dir, needle)
            .into_iter()
            .filter(|p| *needle != id.as_str() || !database_files(p))
            .collect();
        assert!(holding.is_empty(), "{needle} is still in {holding:?}");
    }

    // Every table, read with the sealing key: its ID in the tombstone alone.
    let url = database_url.map_or_else(
        || format!("sqlite://{}", data_dir.join("hikyaku.db").display()),
        str::to_string,
    );
    let found = runtime.block_on(async {
        let key = SealingKey::load_or_create(&data_dir.join("secret.key")).unwrap();
        let store = Store::connect(&url, key).await.unwrap();
        let dump = store.readable_dump().await.unwrap();
        let mut found = Vec::new();
        for needle in needles
            .iter()
            .chain([&id.as_str(), &listed, &user, &api_key.as_str()])
        {
            let hash = store.address_hash_hex(needle);
            for value in &dump {
                let place = format!("{}.{}", value.table, value.column);
                let hit = value.readable.contains(needle) || value.readable.contains(&hash);
                if hit && !(*needle == id.as_str() && place == "deleted_contracts.customer_id") {
                    found.push(format!("{needle} in {place}"));
                }
            }
        }
        assert!(
            dump.iter().any(|v| v.readable.contains(&kept)),
            "the dump shows the other contract (the search is not blind)"
        );
        store.close().await;
        found
    });
    assert!(found.is_empty(), "{found:#?}");
    node.terminate(Duration::from_secs(30)).unwrap();
}

/// `cli_support::json` for a running node.
fn json_of(node: &hikyaku_testkit::HikyakuProcess, args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = node.cli_ok(&with_json).unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut holding = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                holding.push(path);
            }
        }
    }
    holding
}
