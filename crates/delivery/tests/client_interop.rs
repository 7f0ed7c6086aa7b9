//! The SMTP client against a peer we did not write: Postfix's `smtp-sink`, on 127.0.0.1.
//! Skipped when it is not installed (mandatory under CI=true).

use hikyaku_delivery::client::{
    Client, ClientConfig, ConnectionError, RecipientOutcome, Stage, Timeouts, TlsMode,
};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `smtp-sink`, killed when dropped.
struct SmtpSink {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts `smtp-sink` with extra options; `None` when it is not installed.
    fn start(options: &[&str]) -> Option<SmtpSink> {
        let program = hikyaku_testkit::tool("smtp-sink")?;
        let dir = tempfile::tempdir().unwrap();
        // smtp-sink drops to `nobody` (it refuses to run as root otherwise) before it writes
        // the dump file.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(program);
        command.args(["-4", "-c"]).args(options);
        if is_root() {
            command.args(["-u", "nobody"]);
        }
        command
            .arg("-D")
            .arg(dir.path().join("dump"))
            .arg(addr.to_string())
            .arg("64")
            .stdout(Stdio::from(
                std::fs::File::create(dir.path().join("counters")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("stderr")).unwrap(),
            ));
        let child = command.spawn().unwrap();
        let sink = SmtpSink { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "smtp-sink did not start: {}",
                sink.read("stderr")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(sink)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The last complete `sess=A quit=B mesg=C` record of `-c` (each ends in CR), as (A, C).
    fn counters(&self) -> Option<(u64, u64)> {
        let out = self.read("counters");
        let record = out.rsplit('\r').find(|r| r.contains("mesg="))?;
        let field = |name: &str| {
            record
                .split_whitespace()
                .find_map(|f| f.strip_prefix(name))?
                .parse::<u64>()
                .ok()
        };
        Some((field("sess=")?, field("mesg=")?))
    }

    /// Waits until `-c` reports `messages` messages.
    async fn wait_for_messages(&self, messages: u64) -> (u64, u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(counters) = self.counters()
                && counters.1 >= messages
            {
                return counters;
            }
            assert!(
                Instant::now() < deadline,
                "smtp-sink counted {:?}, wanted {messages} messages; output {:?}",
                self.counters(),
                self.read("counters")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

fn client() -> Client {
    Client::new(ClientConfig {
        timeouts: Timeouts::all(Duration::from_secs(10)),
        ..ClientConfig::new("relay.hikyaku.test")
    })
    .unwrap()
}

fn dump(sink: &SmtpSink) -> String {
    String::from_utf8_lossy(&std::fs::read(sink.path("dump")).unwrap_or_default()).into_owned()
}

#[tokio::test]
async fn several_messages_on_one_connection_to_smtp_sink() {
    // `-p`: no PIPELINING, so both ways of sending meet a real peer.
    for options in [&[][..], &["-p"][..]] {
        let Some(sink) = SmtpSink::start(options) else {
            return;
        };
        let mut conn = client()
            .connect(sink.addr, "smtp-sink.test", TlsMode::Opportunistic)
            .await
            .unwrap();
        assert_eq!(conn.peer().extensions.pipelining, options.is_empty());
        assert!(conn.peer().extensions.enhanced_status_codes);
        for i in 0..3 {
            let message = format!("From: a@x\nSubject: interop {i}\n\n.leading dot {i}\nbody\n");
            let result = conn
                .send(
                    "a@x",
                    &[format!("r{i}@y"), format!("s{i}@y")],
                    message.as_bytes(),
                )
                .await
                .unwrap();
            assert_eq!(result.accepted(), 2, "{result:?}");
            assert_eq!(result.pipelined, options.is_empty());
            let reply = result.recipients[0].reply();
            assert_eq!(reply.code, 250);
            assert_eq!(
                reply.enhanced.map(|e| e.to_string()).as_deref(),
                Some("2.0.0")
            );
        }
        conn.quit().await;
        let (sessions, messages) = sink.wait_for_messages(3).await;
        assert_eq!((sessions, messages), (1, 3), "{options:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !dump(&sink).contains("leading dot 2") {
            assert!(Instant::now() < deadline, "dump: {:?}", dump(&sink));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let dump = dump(&sink);
        // smtp-sink undid the stuffing (its dump file writes lines with LF).
        for i in 0..3 {
            assert!(
                dump.contains(&format!("\n.leading dot {i}\nbody\n")),
                "{dump:?}"
            );
            assert!(!dump.contains(&format!("..leading dot {i}")), "{dump:?}");
        }
        assert!(
            dump.contains("X-Rcpt-Args: <r2@y>\nX-Rcpt-Args: <s2@y>\n"),
            "{dump:?}"
        );
        assert!(
            dump.contains("X-Helo-Args: relay.hikyaku.test\n"),
            "{dump:?}"
        );
    }
}

#[tokio::test]
async fn smtp_sink_refusals_and_helo() {
    // Soft-reject RCPT: per-recipient transient refusals.
    let Some(sink) = SmtpSink::start(&["-r", "rcpt"]) else {
        return;
    };
    let mut conn = client()
        .connect(sink.addr, "smtp-sink.test", TlsMode::Opportunistic)
        .await
        .unwrap();
    let result = conn
        .send("a@x", &["b@y", "c@y"], b"Subject: x\r\n\r\nhi\r\n")
        .await
        .unwrap();
    for outcome in &result.recipients {
        match outcome {
            RecipientOutcome::RecipientRefused(reply) => {
                assert_eq!(reply.code / 100, 4, "{reply}");
            }
            other => panic!("{other:?}"),
        }
    }
    conn.quit().await;
    drop(sink);

    // 421 and disconnect at DATA: the connection dies.
    let Some(sink) = SmtpSink::start(&["-Q", "data"]) else {
        return;
    };
    let mut conn = client()
        .connect(sink.addr, "smtp-sink.test", TlsMode::Opportunistic)
        .await
        .unwrap();
    let err = conn.send("a@x", &["b@y"], b"hi\r\n").await.unwrap_err();
    assert!(
        matches!(&err, ConnectionError::ServiceClosing { stage: Stage::Data, reply } if reply.code == 421),
        "{err:?}"
    );
    assert!(!conn.is_reusable());
    drop(sink);

    // No ESMTP: EHLO refused, HELO accepted, the message goes without extensions.
    let Some(sink) = SmtpSink::start(&["-e"]) else {
        return;
    };
    let mut conn = client()
        .connect(sink.addr, "smtp-sink.test", TlsMode::Opportunistic)
        .await
        .unwrap();
    assert!(!conn.peer().extensions.pipelining);
    let result = conn.send("a@x", &["b@y"], b"hi\r\n").await.unwrap();
    assert_eq!(result.accepted(), 1);
    conn.quit().await;
    sink.wait_for_messages(1).await;
}
