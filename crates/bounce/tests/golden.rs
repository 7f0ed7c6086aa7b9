//! The golden files: every `tests/golden/<source>/NNN.eml` is analysed and its records
//! (recipient, status, reply code, reason, action, hard) must equal `NNN.json` beside it.
//! `<source>` says where the message came from: `handmade` for messages written after an
//! MTA's documented layout, `postfix`, `exim`, `opensmtpd`, … for bounces that real MTAs
//! wrote on 127.0.0.1 (`oracles/generate.sh` makes them and their expectations).
//!
//! On a mismatch the runner writes what it read to `NNN.failed` beside the file, so
//! `diff NNN.json NNN.failed` shows the difference; a passing file's stale `.failed` is removed.
//! `known-failures.txt` lists the files whose gap is known (`source/NNN why`): they are reported
//! but do not fail, and one that passes again must be taken off the list.
//! The count of files read is checked, so an empty or misplaced directory cannot pass.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Fewer files than this means the tree was not found or lost files.
const MIN_FILES: usize = 220;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// What the analyser says of one message, in the golden files' form.
fn records_of(raw: &[u8]) -> Value {
    let analysis = hikyaku_bounce::analyse(raw);
    Value::Array(
        analysis
            .records
            .iter()
            .map(|r| {
                json!({
                    "recipient": r.recipient,
                    "status": r.status,
                    "reply_code": r.reply_code,
                    "reason": r.reason.as_str(),
                    "action": r.action.map(|a| a.as_str()),
                    "hard": r.hard,
                })
            })
            .collect(),
    )
}

/// `source/NNN` → why it is known to fail.
fn known_failures(dir: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(dir.join("known-failures.txt")) else {
        return BTreeMap::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((name, why)) => (name.to_string(), why.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// The `.eml` files under `dir`, as `source/NNN` names with their paths, sorted.
fn golden_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    let mut sources: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sources.sort();
    for source in sources {
        let name = source.file_name().unwrap().to_string_lossy().to_string();
        let mut emls: Vec<_> = std::fs::read_dir(&source)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        emls.sort();
        for eml in emls {
            let stem = eml.file_stem().unwrap().to_string_lossy().to_string();
            files.push((format!("{name}/{stem}"), eml));
        }
    }
    files
}

#[test]
fn every_golden_file_matches() {
    let dir = golden_dir();
    let known = known_failures(&dir);
    let files = golden_files(&dir);
    assert!(
        files.len() >= MIN_FILES,
        "only {} golden files under {} (at least {MIN_FILES} expected)",
        files.len(),
        dir.display()
    );
    let mut failed = Vec::new();
    let mut known_seen = Vec::new();
    let mut fixed = Vec::new();
    for (name, eml) in &files {
        let raw = std::fs::read(eml).unwrap();
        let json_path = eml.with_extension("json");
        // A new file without its expectation fails with the analyser's reading in `.failed`,
        // a draft to check by hand before it becomes the `.json`.
        let expected = match std::fs::read_to_string(&json_path) {
            Ok(text) => {
                let doc: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", json_path.display()));
                doc.get("records")
                    .cloned()
                    .unwrap_or_else(|| panic!("{}: no \"records\"", json_path.display()))
            }
            Err(_) => Value::Null,
        };
        let got = records_of(&raw);
        let failed_path = eml.with_extension("failed");
        if got == expected {
            let _ = std::fs::remove_file(&failed_path);
            if known.contains_key(name) {
                fixed.push(name.clone());
            }
            continue;
        }
        let out = serde_json::to_string_pretty(&json!({ "records": got })).unwrap() + "\n";
        std::fs::write(&failed_path, out).unwrap();
        match known.get(name) {
            Some(why) => known_seen.push(format!("{name}: {why}")),
            None => failed.push(name.clone()),
        }
    }
    eprintln!(
        "{} golden files, {} known failures:",
        files.len(),
        known_seen.len()
    );
    for k in &known_seen {
        eprintln!("  {k}");
    }
    let stale: Vec<_> = known
        .keys()
        .filter(|k| !files.iter().any(|(n, _)| n == *k))
        .collect();
    assert!(
        stale.is_empty(),
        "known-failures.txt names files that do not exist: {stale:?}"
    );
    assert!(
        fixed.is_empty(),
        "these pass now: take them off known-failures.txt: {fixed:?}"
    );
    assert!(
        failed.is_empty(),
        "golden files that do not match (diff NNN.json NNN.failed): {failed:?}"
    );
}

#[test]
fn a_mismatch_is_caught() {
    // The comparison itself: a record that differs in one field is no match.
    let raw = b"From: MAILER-DAEMON@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n--b--\n";
    let got = records_of(raw);
    let mut wrong = got.clone();
    wrong[0]["reason"] = json!("mailboxfull");
    assert_ne!(got, wrong);
    assert_eq!(got[0]["reason"], json!("userunknown"));
    assert_eq!(got[0]["hard"], json!(true));
}
