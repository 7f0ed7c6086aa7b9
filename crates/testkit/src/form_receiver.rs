//! A webhook receiver in Python, for the hosted service's formats: it reads each request with
//! Python's own parsers (`json`, `urllib.parse`, `email` for multipart/form-data) and logs what
//! they made of it, so a test checks our bodies against parsers we did not write.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = include_str!("form_receiver/receiver.py");

/// The running receiver; stopped when dropped.
pub struct FormReceiver {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for FormReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FormReceiver {
    /// Starts it on 127.0.0.1. `None` (after saying why) when python3 is missing outside CI.
    pub fn start() -> Option<FormReceiver> {
        let probe = Command::new("python3")
            .args(["-c", "import email, urllib.parse"])
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            assert!(!crate::require_tools(), "python3 is required under CI=true");
            eprintln!("skipping: python3 is missing");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("received.jsonl");
        std::fs::write(&log, "").expect("the log file");
        let mut child = Command::new("python3")
            .args(["-c", SCRIPT])
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("the receiver prints its port");
        let port = line.trim().parse().expect("the receiver prints its port");
        Some(FormReceiver {
            child,
            port,
            log,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:<port><path>`. Paths under `/flaky` answer 500 to the first attempt
    /// of each request ID (`webhook-id` or `x-hikyaku-id`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far, in the order they came: `path`, `content_type`, `id`, `attempt`,
    /// `status` and what the parser read (`fields`, `files`, `order`) or `error`.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .expect("the log")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// Waits (up to `timeout`) until `done` holds for the requests so far, and returns them.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                start.elapsed() < timeout,
                "the receiver did not get what was expected within {timeout:?}; it got {received:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
