//! `hikyaku bounce parse` and `hikyaku bounce score` through the real binary: the JSON
//! contract the acceptance checks read, standard input, several files, unreadable files.

use std::io::Write;
use std::process::{Command, Stdio};

const POSTFIX_DSN: &str = "From: MAILER-DAEMON@mx.example.jp (Mail Delivery System)\n\
Subject: Undelivered Mail Returned to Sender\nTo: sender@example.org\nMIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
--B\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.jp.\n\n\
<kijitora@example.jp>: host mx.example.jp[192.0.2.22] said: 550 5.1.1\n    <kijitora@example.jp>... User Unknown (in reply to RCPT TO command)\n\n\
--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.jp\n\n\
Final-Recipient: rfc822; kijitora@example.jp\nAction: failed\nStatus: 5.1.1\n\
Remote-MTA: dns; mx.example.jp\nDiagnostic-Code: smtp; 550 5.1.1 <kijitora@example.jp>... User Unknown\n\n\
--B\nContent-Type: message/rfc822\n\nTo: kijitora@example.jp\nFrom: sender@example.org\nSubject: hi\n\nhello\n--B--\n";

const PLAIN: &str = "From: friend@example.org\nTo: me@example.jp\nSubject: lunch?\n\nNoon?\n";

fn hikyaku() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hikyaku"))
}

fn lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn json_lines_for_bounces_and_non_bounces() {
    let dir = tempfile::tempdir().unwrap();
    let bounce = dir.path().join("bounce.eml");
    let plain = dir.path().join("plain.eml");
    std::fs::write(&bounce, POSTFIX_DSN).unwrap();
    std::fs::write(&plain, PLAIN).unwrap();
    let out = hikyaku()
        .args(["bounce", "parse"])
        .arg(&bounce)
        .arg(&plain)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 2);
    let r = &got[0];
    assert_eq!(r["file"], bounce.to_string_lossy().as_ref());
    assert_eq!(r["recipient"], "kijitora@example.jp");
    assert_eq!(r["status"], "5.1.1");
    assert_eq!(r["reply_code"], 550, "a number");
    assert_eq!(r["reason"], "userunknown");
    assert_eq!(r["action"], "failed");
    assert_eq!(r["hard"], true);
    assert_eq!(r["remote_mta"], "mx.example.jp");
    assert!(r["diagnostic"].as_str().unwrap().contains("User Unknown"));
    assert_eq!(got[1]["file"], plain.to_string_lossy().as_ref());
    assert!(got[1]["reason"].is_null());
    let keys = |line: &serde_json::Value| {
        let mut keys: Vec<String> = line.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&got[0]), keys(&got[1]), "one shape for every line");
    assert!(got[0]["feedback_type"].is_null());
}

#[test]
fn standard_input_and_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.eml");
    let mut child = hikyaku()
        .args(["bounce", "parse", "--json"])
        .arg(&missing)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(POSTFIX_DSN.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "an unreadable file must fail the run"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.eml"), "{stderr}");
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 1, "the readable input is still analysed");
    assert_eq!(got[0]["file"], "-");
    assert_eq!(got[0]["reason"], "userunknown");
}

#[test]
fn readable_lines_without_json() {
    let dir = tempfile::tempdir().unwrap();
    let bounce = dir.path().join("b.eml");
    std::fs::write(&bounce, POSTFIX_DSN).unwrap();
    let out = hikyaku()
        .args(["bounce", "parse"])
        .arg(&bounce)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kijitora@example.jp userunknown hard 5.1.1 550 (failed) -- "),
        "{text}"
    );
}

#[test]
fn scores_a_labelled_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.eml"), POSTFIX_DSN).unwrap();
    std::fs::write(dir.path().join("b.eml"), PLAIN).unwrap();
    std::fs::write(
        dir.path().join("expected.tsv"),
        "file\tindex\tstatus\treplycode\treason\trecipient\tsource\n\
a.eml\t1\t5.1.1\t550\tuserunknown\tkijitora@example.jp\ttest\n\
b.eml\t1\t5.2.2\t552\tmailboxfull\tme@example.jp\ttest\n",
    )
    .unwrap();
    let out = hikyaku()
        .args(["bounce", "score"])
        .arg(dir.path())
        .args(["--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let card = &lines(&out.stdout)[0];
    assert_eq!(card["records"], 2);
    assert_eq!(card["reason_accuracy"], 0.5);
    assert_eq!(card["per_reason"]["userunknown"]["tp"], 1);
    assert_eq!(card["per_reason"]["mailboxfull"]["fn"], 1);
}
