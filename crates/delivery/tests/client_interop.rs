//! The SMTP client against a peer we did not write: Postfix's `smtp-sink`, on 127.0.0.1.
//! Skipped when it is not installed (mandatory under CI=true).

use hikyaku_delivery::client::{
    Client, ClientConfig, ConnectionError, RecipientOutcome, Stage, Timeouts, TlsMode,
};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
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
        // The sessions counted include the probe that waited for smtp-sink to listen.
        let (sessions, messages) = sink.wait_for_messages(3).await;
        assert_eq!(messages, 3, "{options:?}");
        assert!(sessions <= 2, "{sessions} sessions");
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

/// A private Postfix instance as the remote MX on 127.0.0.1: final destination for
/// `example.test` (recipients from a table, accepted mail discarded), STARTTLS with a
/// certificate from a CA made here, and a message size limit. Stopped when dropped.
struct PostfixMx {
    dir: tempfile::TempDir,
    addr: SocketAddr,
    ca: rustls::pki_types::CertificateDer<'static>,
}

const POSTFIX_SIZE_LIMIT: u64 = 20_000;

impl PostfixMx {
    fn start() -> Option<PostfixMx> {
        let postfix = hikyaku_testkit::tool("postfix")?;
        let postconf = hikyaku_testkit::tool("postconf")?;
        let dir = tempfile::tempdir().unwrap();
        // Postfix's daemons, running as `postfix`, must reach their queue and config.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let etc = dir.path().join("etc");
        let data = dir.path().join("data");
        for d in [&etc, &data, &dir.path().join("spool")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::copy("/usr/share/postfix/master.cf.dist", etc.join("master.cf"))
            .or_else(|_| std::fs::copy("/etc/postfix/master.cf", etc.join("master.cf")))
            .unwrap();
        for extra in ["dynamicmaps.cf", "dynamicmaps.cf.d"] {
            let from = Path::new("/etc/postfix").join(extra);
            if from.is_file() {
                std::fs::copy(&from, etc.join(extra)).unwrap();
            } else if from.is_dir() {
                std::fs::create_dir_all(etc.join(extra)).unwrap();
                for entry in std::fs::read_dir(&from).unwrap() {
                    let entry = entry.unwrap();
                    std::fs::copy(entry.path(), etc.join(extra).join(entry.file_name())).unwrap();
                }
            }
        }
        std::fs::write(etc.join("main.cf"), "").unwrap();
        let status = Command::new("chown")
            .arg("postfix")
            .arg(&data)
            .status()
            .unwrap();
        assert!(status.success(), "chown postfix {data:?}");

        let (ca, cert_pem, key_pem) = certificate_for("mx.postfix.test");
        std::fs::write(etc.join("cert.pem"), cert_pem).unwrap();
        std::fs::write(etc.join("key.pem"), key_pem).unwrap();
        std::fs::write(etc.join("recipients"), "known@example.test OK\n").unwrap();
        std::fs::write(etc.join("transport"), "example.test discard:\n").unwrap();

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let e = |name: &str| etc.join(name).display().to_string();
        let settings = [
            "compatibility_level = 3.6".to_string(),
            format!("queue_directory = {}", dir.path().join("spool").display()),
            format!("data_directory = {}", data.display()),
            // Postfix logs only below these prefixes (/var by default); there is no syslog.
            format!("maillog_file_prefixes = {}", dir.path().display()),
            format!("maillog_file = {}", dir.path().join("maillog").display()),
            "myhostname = mx.postfix.test".into(),
            "mydestination =".into(),
            "local_recipient_maps =".into(),
            "alias_maps =".into(),
            "alias_database =".into(),
            "inet_interfaces = 127.0.0.1".into(),
            "inet_protocols = ipv4".into(),
            // Not us: we are a stranger delivering to this MX, not a client it relays for.
            "mynetworks = 192.0.2.1/32".into(),
            "relay_domains = example.test".into(),
            format!("relay_recipient_maps = texthash:{}", e("recipients")),
            format!("transport_maps = texthash:{}", e("transport")),
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination".into(),
            format!("message_size_limit = {POSTFIX_SIZE_LIMIT}"),
            "smtpd_tls_security_level = may".into(),
            format!("smtpd_tls_cert_file = {}", e("cert.pem")),
            format!("smtpd_tls_key_file = {}", e("key.pem")),
            "smtpd_tls_loglevel = 1".into(),
        ];
        let run = |program: &Path, args: &[&str]| {
            let out = Command::new(program).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "{program:?} {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let etc_arg = etc.display().to_string();
        let mut args = vec!["-c", &etc_arg, "-e"];
        args.extend(settings.iter().map(String::as_str));
        run(&postconf, &args);
        run(&postconf, &["-c", &etc_arg, "-F", "*/*/chroot = n"]);
        run(&postconf, &["-c", &etc_arg, "-MX", "smtp/inet"]);
        let listener = format!("{port}/inet = {port} inet n - n - - smtpd");
        run(&postconf, &["-c", &etc_arg, "-M", &listener]);
        let mx = PostfixMx { dir, addr, ca };
        run(&postfix, &["-c", &etc_arg, "start"]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "postfix did not listen: {}",
                mx.maillog()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(mx)
    }

    fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
}

impl Drop for PostfixMx {
    fn drop(&mut self) {
        let etc = self.dir.path().join("etc");
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&etc)
            .arg("stop")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output();
    }
}

/// A CA and a certificate for `name` it issued: (CA certificate, leaf PEM, leaf key PEM).
fn certificate_for(name: &str) -> (rustls::pki_types::CertificateDer<'static>, String, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "interop test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (
        ca.der().clone(),
        leaf.pem() + &ca.pem(),
        key.serialize_pem(),
    )
}

#[tokio::test]
async fn postfix_as_the_remote_mx() {
    let Some(mx) = PostfixMx::start() else {
        return;
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(mx.ca.clone()).unwrap();
    let client = Client::new(ClientConfig {
        timeouts: Timeouts::all(Duration::from_secs(20)),
        root_store: Some(std::sync::Arc::new(roots)),
        ..ClientConfig::new("relay.hikyaku.test")
    })
    .unwrap();
    let mut conn = client
        .connect(
            mx.addr,
            "mx.postfix.test",
            TlsMode::Required { verify: true },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", mx.maillog()));
    let peer = conn.peer().clone();
    let tls = peer.tls.as_ref().expect("TLS with Postfix");
    assert!(tls.verified);
    assert!(tls.protocol.starts_with("TLSv1_"), "{tls:?}");
    assert!(peer.extensions.pipelining && peer.extensions.enhanced_status_codes);
    assert_eq!(peer.extensions.max_size, Some(POSTFIX_SIZE_LIMIT));

    let recipients = [
        "known@example.test",
        "unknown@example.test",
        "someone@elsewhere.test",
    ];
    for i in 0..2 {
        let message = format!("From: a@sender.test\nSubject: postfix {i}\n\nhello {i}\n");
        let result = conn
            .send("a@sender.test", &recipients, message.as_bytes())
            .await
            .unwrap();
        assert!(result.pipelined);
        let [known, unknown, elsewhere] = &result.recipients[..] else {
            panic!("{result:?}");
        };
        let reply = known.reply();
        assert!(known.is_accepted(), "{known:?}");
        assert_eq!(
            (reply.code, reply.enhanced.map(|e| e.to_string())),
            (250, Some("2.0.0".into()))
        );
        assert!(reply.text.starts_with("Ok: queued as "), "{reply}");
        match unknown {
            RecipientOutcome::RecipientRefused(reply) => {
                assert_eq!(reply.code, 550, "{reply}");
                assert_eq!(
                    reply.enhanced.map(|e| e.to_string()).as_deref(),
                    Some("5.1.1")
                );
                assert!(reply.text.contains("User unknown"), "{reply}");
            }
            other => panic!("{other:?}"),
        }
        match elsewhere {
            RecipientOutcome::RecipientRefused(reply) => {
                assert_eq!(
                    reply.enhanced.map(|e| e.to_string()).as_deref(),
                    Some("5.7.1"),
                    "{reply}"
                );
                assert!(reply.text.contains("Relay access denied"), "{reply}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Postfix advertised its limit; a bigger message is never offered.
    let big = vec![b'x'; POSTFIX_SIZE_LIMIT as usize + 1];
    let result = conn
        .send("a@sender.test", &["known@example.test"], &big)
        .await
        .unwrap();
    assert!(!result.recipients[0].is_remote());
    conn.quit().await;

    // Postfix's own log: two messages delivered (discarded) for the known recipient, over TLS.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = mx.maillog();
        let delivered = log
            .matches("to=<known@example.test>")
            .filter(|_| true)
            .count();
        if delivered >= 2 && log.contains("status=sent") {
            assert!(log.contains("TLS connection established from"), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
