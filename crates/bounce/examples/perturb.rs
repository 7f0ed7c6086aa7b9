//! A robustness probe: reads each message as it is and again after a change that must not
//! change its verdict, and prints every record that moved. A held-out bounce from a known
//! source differs from the ones we have mostly in such details (line ends, the addresses, the
//! header fields the delivering MTAs put on top), so a verdict that moves with them rests on
//! something that will not generalise.
//! `cargo run -p hikyaku-bounce --release --example perturb -- FILE_OR_DIR...`

use std::path::{Path, PathBuf};

/// A change that keeps the meaning of a bounce, and how it renames the records' recipients.
struct Change {
    name: &'static str,
    apply: fn(&[u8], &[String]) -> Vec<u8>,
    rename: fn(&str) -> String,
}

fn keep(recipient: &str) -> String {
    recipient.to_string()
}

/// Every line ended with CR LF, as a bounce received over SMTP is.
fn crlf(raw: &[u8], _: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    let mut previous = 0;
    for &b in raw {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

/// What the receiving MTA puts on top of a message it delivers to a mailbox (under an mbox
/// separator line, if the message has one).
fn delivered_on_top(raw: &[u8], _: &[String]) -> Vec<u8> {
    let separator = if raw.starts_with(b"From ") {
        raw.iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| i + 1)
    } else {
        0
    };
    let mut out = raw[..separator].to_vec();
    out.extend_from_slice(
        b"Return-Path: <>\nDelivered-To: bounces@errors.example.net\n\
Received: from mx.sender.example (mx.sender.example [192.0.2.25])\n\
\tby errors.example.net (Hikyaku) with ESMTPS id 4f1c2a9e\n\
\tfor <bounces@errors.example.net>; Mon, 7 Dec 2026 10:00:00 +0000\n",
    );
    out.extend_from_slice(&raw[separator..]);
    out
}

/// An mbox separator line before the message, as a mailbox file keeps it.
fn mbox_line(raw: &[u8], _: &[String]) -> Vec<u8> {
    let mut out = b"From MAILER-DAEMON Mon Dec  7 10:00:00 2026\n".to_vec();
    out.extend_from_slice(raw);
    out
}

fn renamed_local(recipient: &str) -> String {
    match recipient.split_once('@') {
        Some((local, domain)) if local.len() >= 3 => format!("zq{local}x@{domain}"),
        _ => recipient.to_string(),
    }
}

/// Each recipient's address (as the records name it, any case) given another local part.
fn rename(raw: &[u8], recipients: &[String]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(raw).into_owned();
    for r in recipients {
        let new = renamed_local(r);
        if new == *r {
            continue;
        }
        let lower = text.to_ascii_lowercase();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        while let Some(found) = lower[at..].find(r.as_str()) {
            out.push_str(&text[at..at + found]);
            out.push_str(&new);
            at += found + r.len();
        }
        out.push_str(&text[at..]);
        text = out;
    }
    text.into_bytes()
}

/// Each `Diagnostic-Code:` field unfolded and folded again at another width: a longer or
/// shorter reply from the same MTA folds at other words.
fn refold(raw: &[u8], _: &[String]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len() + 64);
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if !line.to_ascii_lowercase().starts_with("diagnostic-code:") {
            out.push_str(line);
            continue;
        }
        let mut field = line.trim_end().to_string();
        while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
            field.push(' ');
            field.push_str(next.trim());
            lines.next();
        }
        let mut width = 0;
        for (i, word) in field.split(' ').filter(|w| !w.is_empty()).enumerate() {
            if i > 0 && width + word.len() > 50 {
                out.push_str("\n    ");
                width = 4;
            } else if i > 0 {
                out.push(' ');
                width += 1;
            }
            out.push_str(word);
            width += word.len();
        }
        out.push('\n');
    }
    out.into_bytes()
}

const CHANGES: &[Change] = &[
    Change {
        name: "refold",
        apply: refold,
        rename: keep,
    },
    Change {
        name: "crlf",
        apply: crlf,
        rename: keep,
    },
    Change {
        name: "delivered-on-top",
        apply: delivered_on_top,
        rename: keep,
    },
    Change {
        name: "mbox-line",
        apply: mbox_line,
        rename: keep,
    },
    Change {
        name: "rename",
        apply: rename,
        rename: renamed_local,
    },
];

fn verdicts(raw: &[u8]) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = hikyaku_bounce::analyse(raw)
        .records
        .into_iter()
        .map(|r| {
            (
                r.recipient.to_ascii_lowercase(),
                r.reason.to_string(),
                r.status.unwrap_or_default(),
                r.reply_code.unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

fn files(args: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for a in args {
        let p = Path::new(a);
        if p.is_dir() {
            let mut stack = vec![p.to_path_buf()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap().flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|x| x == "eml") {
                        out.push(path);
                    }
                }
            }
        } else {
            out.push(p.to_path_buf());
        }
    }
    out.sort();
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let files = files(&args);
    let mut moved = vec![0usize; CHANGES.len()];
    // How many messages each change altered at all: a change that alters none tests nothing.
    let mut altered = vec![0usize; CHANGES.len()];
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        let before = verdicts(&raw);
        let recipients: Vec<String> = before.iter().map(|v| v.0.to_ascii_lowercase()).collect();
        for (i, change) in CHANGES.iter().enumerate() {
            let mut expected: Vec<_> = before
                .iter()
                .map(|(r, a, b, c)| ((change.rename)(r), a.clone(), b.clone(), c.clone()))
                .collect();
            expected.sort();
            let changed = (change.apply)(&raw, &recipients);
            altered[i] += usize::from(changed != raw);
            let after = verdicts(&changed);
            if after != expected {
                moved[i] += 1;
                println!(
                    "{} [{}]\n  before {:?}\n  after  {:?}",
                    path.display(),
                    change.name,
                    expected,
                    after
                );
            }
        }
    }
    println!("{} files", files.len());
    for ((change, n), a) in CHANGES.iter().zip(moved).zip(altered) {
        println!("  {:<18} {a} altered, {n} moved", change.name);
    }
}
