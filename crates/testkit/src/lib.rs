//! Test helpers for Hikyaku's integration tests: a line-oriented SMTP client that speaks over a
//! real TCP socket (optionally from a chosen loopback source address), and a runner that starts
//! the real `hikyaku` binary on its own data directory, reads where it listens, and can stop it
//! with SIGTERM or kill it with SIGKILL; and an S/MIME test PKI made by the real `openssl`, with
//! its `openssl cms -verify` verdict; the DKIM verdicts of dkimpy and OpenDKIM; a webhook
//! receiver that reads form and multipart bodies with Python's parsers; an HTTPS server with a
//! scripted answer and its own test CA.
//!
//! Nothing here imitates a part of the product: tests drive the real thing through these.

mod dkim;
mod dns;
mod form_receiver;
pub mod fuzz;
mod http;
mod https;
mod postfix;
mod process;
pub mod reports;
mod sink;
mod smime;
mod smtp_client;

pub use dkim::{dkimpy_verify, opendkim_verify};
pub use dns::{Records, TestDns};
pub use form_receiver::FormReceiver;
pub use http::{HttpAnswer, http_call};
pub use https::{HttpsAnswer, HttpsRequest, HttpsServer};
pub use postfix::{PostfixMx, PostfixSink, SinkCounts};
pub use process::{HikyakuProcess, Prepared, ProcessBuilder};
pub use sink::{ReceivedMessage, Sink, SinkBuilder, SinkCommand};
pub use smime::{TestKey, TestPki};
pub use smtp_client::{Reply, SmtpClient};

/// Whether interop tools are mandatory: under `CI=true` a missing tool fails the test.
pub fn require_tools() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Finds an external tool (`swaks`, `smtp-source`, ...) in PATH and /usr/sbin. Returns `None`
/// (and prints why) when it is missing outside CI; panics when it is missing under CI.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<_> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/bin", "/sbin"].map(std::path::PathBuf::from));
    if let Some(found) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
        return Some(found);
    }
    assert!(
        !require_tools(),
        "{name} is required under CI=true but was not found"
    );
    eprintln!("skipping: {name} not installed (the README's set-up for the tests lists how)");
    None
}

/// The message files a node has in its spool under `data_dir`, committed (`spool/msg/...`) or
/// half-written (`spool/tmp/<id>`), relative to `data_dir`. Files the spool keeps for reuse
/// (`spool/tmp/free-<n>`) hold no message and are left out.
pub fn spool_message_files(data_dir: &std::path::Path) -> Vec<String> {
    let spool = data_dir.join("spool");
    [spool.join("msg"), spool.join("tmp")]
        .iter()
        .flat_map(|dir| files_under(dir))
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("free-"))
        })
        .map(|path| path.strip_prefix(data_dir).unwrap().display().to_string())
        .collect()
}

/// Every file below `root`, at any depth (none when `root` does not exist): for tests that look
/// at what a node left in its spool.
pub fn files_under(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}
