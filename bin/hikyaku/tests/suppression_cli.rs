//! `hikyaku suppression` as the real binary, on SQLite and on a fresh PostgreSQL database:
//! adding, listing, searching and removing by hand, contracts kept apart, CSV import with bad
//! rows and its export read back, and an import of 200,000 rows (its time is printed).

mod cli_support;

use cli_support::{fails, json, on_both_backends};
use hikyaku_testkit::Prepared;
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Instant;

fn contract(node: &Prepared, name: &str) -> String {
    node.cli_ok(&["contract", "create", "--name", name])
        .unwrap()
        .trim()
        .to_string()
}

/// The addresses of `list --json`, sorted.
fn listed(node: &Prepared, customer: &str) -> Vec<String> {
    let found = json(
        node,
        &["suppression", "list", customer, "--limit", "1000000"],
    );
    let mut addresses: Vec<String> = found["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap().to_string())
        .collect();
    addresses.sort();
    addresses
}

on_both_backends!(
    by_hand_and_kept_apart,
    import_reports_bad_rows_and_export_reads_back,
    import_of_200000_rows,
);

fn by_hand_and_kept_apart(node: &Prepared) {
    let a = contract(node, "A");
    let b = contract(node, "B");
    let added = json(
        node,
        &[
            "suppression",
            "add",
            &a,
            "Alice@Example.jp",
            "bob@example.jp",
            "alice@example.jp",
            "--reason",
            "asked to stop",
        ],
    );
    assert_eq!(added["added"], 2);
    assert_eq!(added["already_listed"], 1);
    let text = node
        .cli_ok(&["suppression", "add", &b, "alice@example.jp"])
        .unwrap();
    assert_eq!(text, "added 1, already listed 0\n");

    let found = json(node, &["suppression", "list", &a]);
    assert_eq!(found["total"], 2);
    let entries = found["suppressions"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let alice = entries
        .iter()
        .find(|e| e["address"] == "Alice@Example.jp")
        .unwrap();
    assert_eq!(alice["customer_id"], a.as_str());
    assert_eq!(alice["source"], "manual");
    assert_eq!(alice["reason"], "asked to stop");
    assert_eq!(alice["message_id"], Value::Null);
    let table = node.cli_ok(&["suppression", "list", &a]).unwrap();
    assert!(table.starts_with("ADDRESS"), "{table}");
    assert!(
        table.contains("Alice@Example.jp  manual  asked to stop"),
        "{table}"
    );
    let limited = node
        .cli_ok(&["suppression", "list", &a, "--limit", "1"])
        .unwrap();
    assert!(limited.contains("(1 of 2 shown"), "{limited}");

    // Search: the whole address in any case, or a part of it.
    let exact = json(
        node,
        &["suppression", "list", &a, "--search", "ALICE@example.JP"],
    );
    assert_eq!(exact["suppressions"].as_array().unwrap().len(), 1);
    let part = json(node, &["suppression", "list", &a, "--search", "BOB@"]);
    let part = part["suppressions"].as_array().unwrap();
    assert_eq!(part.len(), 1);
    assert_eq!(part[0]["address"], "bob@example.jp");
    let none = json(node, &["suppression", "list", &a, "--search", "carol"]);
    assert!(none["suppressions"].as_array().unwrap().is_empty());

    // Contracts never see or touch each other's entries.
    assert_eq!(listed(node, &b), ["alice@example.jp"]);
    let removed = json(
        node,
        &[
            "suppression",
            "remove",
            &b,
            "bob@example.jp",
            "ALICE@example.jp",
        ],
    );
    assert_eq!(removed["removed"], serde_json::json!(["ALICE@example.jp"]));
    assert_eq!(removed["not_listed"], serde_json::json!(["bob@example.jp"]));
    assert!(listed(node, &b).is_empty());
    assert_eq!(listed(node, &a), ["Alice@Example.jp", "bob@example.jp"]);
    let text = node
        .cli_ok(&[
            "suppression",
            "remove",
            &a,
            "bob@example.jp",
            "zed@example.jp",
        ])
        .unwrap();
    assert_eq!(text, "removed 1; not listed: zed@example.jp\n");
    assert_eq!(listed(node, &a), ["Alice@Example.jp"]);

    for (args, needle) in [
        (
            vec![
                "suppression",
                "add",
                a.as_str(),
                "good@example.jp",
                "not-an-address",
            ],
            "not an e-mail address",
        ),
        (
            vec!["suppression", "add", "cnothere1", "good@example.jp"],
            "no contract",
        ),
        (vec!["suppression", "list", "cnothere1"], "no contract"),
        (
            vec!["suppression", "import", a.as_str(), "/nonexistent/list.csv"],
            "cannot open",
        ),
    ] {
        let stderr = fails(node, &args);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    // The failed add added nothing, not even its good address.
    assert_eq!(listed(node, &a), ["Alice@Example.jp"]);
}

fn import_reports_bad_rows_and_export_reads_back(node: &Prepared) {
    let a = contract(node, "Importer");
    node.cli_ok(&["suppression", "add", &a, "old@example.jp"])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("list.csv");
    std::fs::write(
        &file,
        "Email,Reason\r\n\
         one@example.jp,left the company\r\n\
         \"two@example.jp\",\"said \"\"stop\"\", twice\"\r\n\
         not an address,whatever\r\n\
         OLD@example.jp,again\r\n\
         three@example.jp\r\n\
         \r\n\
         one@EXAMPLE.jp,dup in file\r\n\
         @example.jp,no local part\r\n\
         four@example.jp,\"a reason\r\nover two lines\"\r\n",
    )
    .unwrap();
    let out = node
        .cli(&[
            "suppression",
            "import",
            &a,
            file.to_str().unwrap(),
            "--json",
        ])
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["rows"], 8, "{summary}");
    assert_eq!(summary["added"], 4, "{summary}");
    assert_eq!(summary["already_listed"], 2, "{summary}");
    assert_eq!(summary["invalid"], 2, "{summary}");
    let lines: Vec<i64> = summary["invalid_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [4, 9], "{summary}");
    assert!(stderr.contains("line 4: not an e-mail address"), "{stderr}");
    assert!(stderr.contains("line 9: not an e-mail address"), "{stderr}");
    assert_eq!(
        listed(node, &a),
        [
            "four@example.jp",
            "old@example.jp",
            "one@example.jp",
            "three@example.jp",
            "two@example.jp"
        ]
    );
    let two = json(
        node,
        &["suppression", "list", &a, "--search", "two@example.jp"],
    );
    assert_eq!(two["suppressions"][0]["reason"], "said \"stop\", twice");

    // Export to a file and to standard output, the same CSV.
    let exported = dir.path().join("export.csv");
    let done = json(
        node,
        &["suppression", "export", &a, exported.to_str().unwrap()],
    );
    assert_eq!(done["exported"], 5);
    let csv = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(node.cli_ok(&["suppression", "export", &a]).unwrap(), csv);
    let mut rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows.remove(0),
        "address,source,reason,message_id,created_at"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("two@example.jp,manual,\"said \"\"stop\"\", twice\",,")),
        "{csv}"
    );
    let streamed = json(node, &["suppression", "export", &a]);
    assert_eq!(streamed["suppressions"].as_array().unwrap().len(), 5);
    // The same shape and times as `suppression list --json` gives.
    let listed = json(node, &["suppression", "list", &a]);
    assert_eq!(
        streamed["suppressions"][0], listed["suppressions"][0],
        "{streamed}"
    );
    let created_at = streamed["suppressions"][0]["created_at"].as_str().unwrap();
    assert!(
        created_at.parse::<hikyaku_model::Timestamp>().is_ok(),
        "{created_at}"
    );

    // Read back into another contract: the same addresses, sources and reasons.
    let b = contract(node, "Copy");
    let text = node
        .cli_ok(&["suppression", "import", &b, exported.to_str().unwrap()])
        .unwrap();
    assert!(
        text.starts_with("added 5, already listed 0, invalid 0 (5 rows in "),
        "{text}"
    );
    let entries = |customer: &str| {
        let found = json(node, &["suppression", "export", customer]);
        let mut entries: Vec<(String, String, String)> = found["suppressions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["address"].as_str().unwrap().to_string(),
                    e["source"].as_str().unwrap().to_string(),
                    e["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        entries.sort();
        entries
    };
    assert_eq!(entries(&a), entries(&b));
    assert!(entries(&b).contains(&(
        "four@example.jp".into(),
        "manual".into(),
        "a reason\r\nover two lines".into()
    )));
}

fn import_of_200000_rows(node: &Prepared) {
    const ROWS: usize = 200_000;
    let customer = contract(node, "Big list");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    let mut csv = String::with_capacity(ROWS * 40);
    csv.push_str("address,reason\n");
    for i in 0..ROWS {
        writeln!(csv, "user{i:06}@example-{}.jp,imported", i % 97).unwrap();
    }
    std::fs::write(&file, csv).unwrap();

    let started = Instant::now();
    let summary = json(
        node,
        &["suppression", "import", &customer, file.to_str().unwrap()],
    );
    let elapsed = started.elapsed();
    println!(
        "imported {ROWS} rows in {:.2}s ({:.0} rows/s; the import itself reports {:.2}s; \
         a debug build spends most of it sealing, in XChaCha20 at opt-level 1)",
        elapsed.as_secs_f64(),
        ROWS as f64 / elapsed.as_secs_f64(),
        summary["seconds"].as_f64().unwrap()
    );
    assert_eq!(summary["added"], ROWS);
    assert_eq!(summary["invalid"], 0);
    let first = json(node, &["suppression", "list", &customer, "--limit", "1"]);
    assert_eq!(first["total"], ROWS);
    let found = json(
        node,
        &[
            "suppression",
            "list",
            &customer,
            "--search",
            "USER123456@example-72.jp",
        ],
    );
    assert_eq!(
        found["suppressions"][0]["address"],
        "user123456@example-72.jp"
    );

    // Exported page by page: every row once.
    let exported = dir.path().join("export.csv");
    let done = json(
        node,
        &[
            "suppression",
            "export",
            &customer,
            exported.to_str().unwrap(),
        ],
    );
    assert_eq!(done["exported"], ROWS);
    let text = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(text.lines().count(), ROWS + 1);
}
