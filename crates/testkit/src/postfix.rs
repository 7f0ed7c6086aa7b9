//! Postfix as a peer we did not write, on 127.0.0.1: its `smtp-sink` test server, and a private
//! Postfix instance acting as a recipient domain's MX. Each `start` returns `None` when the
//! tools are not installed (and fails under `CI=true`, see [`crate::tool`]); each process is
//! stopped when its handle is dropped.

use anyhow::bail;
use rustls::pki_types::CertificateDer;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `smtp-sink`: accepts every message, counts sessions and messages (`-c`), and
/// dumps what it received to a file (`-D`).
pub struct PostfixSink {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

/// What `smtp-sink -c` counted. Sessions include connections that sent no message (such as
/// the probe [`PostfixSink::start`] uses to see that it listens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkCounts {
    pub sessions: u64,
    pub messages: u64,
}

impl PostfixSink {
    /// Starts `smtp-sink` on a free port of 127.0.0.1 with extra options (`-p` for no
    /// PIPELINING, `-r rcpt` for soft rejects, ...); `None` when it is not installed.
    pub fn start(options: &[&str]) -> Option<PostfixSink> {
        let program = crate::tool("smtp-sink")?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        // As root, smtp-sink must drop to `nobody`, who then writes the dump file here.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("chmod the smtp-sink directory");
        let addr = free_loopback_port();
        let mut command = Command::new(program);
        command.args(["-4", "-c"]).args(options);
        if is_root() {
            command.args(["-u", "nobody"]);
        }
        let output = |name: &str| {
            Stdio::from(std::fs::File::create(dir.path().join(name)).expect("an output file"))
        };
        command
            .arg("-D")
            .arg(dir.path().join("dump"))
            .arg(addr.to_string())
            .arg("64")
            .stdout(output("counters"))
            .stderr(output("stderr"));
        let child = command.spawn().expect("smtp-sink runs");
        let sink = PostfixSink { child, addr, dir };
        wait_until_listening(addr, Duration::from_secs(10), || sink.read("stderr"));
        Some(sink)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The last complete `sess=A quit=B mesg=C` record of `-c` (each ends in CR).
    pub fn counts(&self) -> Option<SinkCounts> {
        let out = self.read("counters");
        let record = out.rsplit('\r').find(|r| r.contains("mesg="))?;
        let field = |name: &str| {
            record
                .split_whitespace()
                .find_map(|f| f.strip_prefix(name))?
                .parse::<u64>()
                .ok()
        };
        Some(SinkCounts {
            sessions: field("sess=")?,
            messages: field("mesg=")?,
        })
    }

    /// Waits (blocking, polling every 20 ms) until `-c` reports at least `messages` messages.
    pub fn wait_for_messages(
        &self,
        messages: u64,
        timeout: Duration,
    ) -> anyhow::Result<SinkCounts> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(counts) = self.counts()
                && counts.messages >= messages
            {
                return Ok(counts);
            }
            if Instant::now() >= deadline {
                bail!(
                    "smtp-sink counted {:?} within {timeout:?}, wanted {messages} messages; \
                     stderr: {}",
                    self.counts(),
                    self.read("stderr")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What smtp-sink dumped of the messages it received (headers it adds, then the message,
    /// lines ending in LF).
    pub fn dump(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.path("dump")).unwrap_or_default()).into_owned()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for PostfixSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private Postfix instance as the remote MX on 127.0.0.1: the final destination of
/// [`PostfixMx::DOMAIN`], whose only recipient is [`PostfixMx::KNOWN_RECIPIENT`] (others get
/// `550 5.1.1 User unknown`; other domains `554 5.7.1 Relay access denied`), accepted mail
/// discarded. It offers STARTTLS with a certificate for [`PostfixMx::HOST_NAME`] issued by a
/// CA made for it ([`PostfixMx::ca_certificate`]) and refuses messages over
/// [`PostfixMx::SIZE_LIMIT`] bytes. Stopped when dropped.
pub struct PostfixMx {
    dir: tempfile::TempDir,
    postfix: PathBuf,
    addr: SocketAddr,
    ca: CertificateDer<'static>,
}

impl PostfixMx {
    pub const DOMAIN: &str = "example.test";
    pub const KNOWN_RECIPIENT: &str = "known@example.test";
    pub const HOST_NAME: &str = "mx.postfix.test";
    pub const SIZE_LIMIT: u64 = 20_000;

    /// Configures and starts the instance, and waits until it listens; `None` when Postfix
    /// is not installed.
    pub fn start() -> Option<PostfixMx> {
        Self::start_with(None)
    }

    /// Like [`PostfixMx::start`], except that an unknown recipient of [`PostfixMx::DOMAIN`] is
    /// not refused during the SMTP transaction: Postfix accepts the message, its virtual
    /// delivery agent finds no such mailbox, and Postfix sends its own delivery status
    /// notification to the envelope sender. Mail for `bounce_domain` (where the envelope
    /// senders live) goes to `error_server`. [`PostfixMx::KNOWN_RECIPIENT`]'s mail is
    /// delivered to a maildir.
    pub fn start_bouncing(bounce_domain: &str, error_server: SocketAddr) -> Option<PostfixMx> {
        Self::start_with(Some((bounce_domain, error_server)))
    }

    fn start_with(bouncing: Option<(&str, SocketAddr)>) -> Option<PostfixMx> {
        let postfix = crate::tool("postfix")?;
        let postconf = crate::tool("postconf")?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Postfix's daemons, running as `postfix`, must reach their queue and config.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod the Postfix directory");
        let etc = dir.path().join("etc");
        let data = dir.path().join("data");
        for d in [&etc, &data, &dir.path().join("spool")] {
            std::fs::create_dir_all(d).expect("a Postfix directory");
        }
        copy_stock_config(&etc);
        std::fs::write(etc.join("main.cf"), "").expect("main.cf");
        chown_to_postfix(&data);

        let (ca, cert_pem, key_pem) = certificate_for(Self::HOST_NAME);
        std::fs::write(etc.join("cert.pem"), cert_pem).expect("cert.pem");
        std::fs::write(etc.join("key.pem"), key_pem).expect("key.pem");
        std::fs::write(
            etc.join("recipients"),
            format!("{} OK\n", Self::KNOWN_RECIPIENT),
        )
        .expect("the recipient table");
        let transport = match bouncing {
            None => format!("{} discard:\n", Self::DOMAIN),
            Some((bounce_domain, error_server)) => format!(
                "{} virtual:\n{bounce_domain} smtp:[{}]:{}\n",
                Self::DOMAIN,
                error_server.ip(),
                error_server.port()
            ),
        };
        std::fs::write(etc.join("transport"), transport).expect("the transport table");
        let mailboxes = dir.path().join("mail");
        if bouncing.is_some() {
            std::fs::write(
                etc.join("mailboxes"),
                format!("{} known/\n", Self::KNOWN_RECIPIENT),
            )
            .expect("the mailbox table");
            std::fs::create_dir_all(&mailboxes).expect("the mailbox directory");
            chown_to_postfix(&mailboxes);
        }

        let addr = free_loopback_port();
        let port = addr.port();
        let e = |name: &str| etc.join(name).display().to_string();
        let settings = [
            "compatibility_level = 3.6".to_string(),
            format!("queue_directory = {}", dir.path().join("spool").display()),
            format!("data_directory = {}", data.display()),
            // Postfix logs only below these prefixes (/var by default); there is no syslog.
            format!("maillog_file_prefixes = {}", dir.path().display()),
            format!("maillog_file = {}", dir.path().join("maillog").display()),
            format!("myhostname = {}", Self::HOST_NAME),
            "mydestination =".into(),
            "local_recipient_maps =".into(),
            "alias_maps =".into(),
            "alias_database =".into(),
            "inet_interfaces = 127.0.0.1".into(),
            "inet_protocols = ipv4".into(),
            // Not us: whoever connects is a stranger delivering to this MX, not a client it
            // relays for.
            "mynetworks = 192.0.2.1/32".into(),
            format!("relay_domains = {}", Self::DOMAIN),
            format!("relay_recipient_maps = texthash:{}", e("recipients")),
            format!("transport_maps = texthash:{}", e("transport")),
            "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination".into(),
            format!("message_size_limit = {}", Self::SIZE_LIMIT),
            "smtpd_tls_security_level = may".into(),
            format!("smtpd_tls_cert_file = {}", e("cert.pem")),
            format!("smtpd_tls_key_file = {}", e("key.pem")),
            "smtpd_tls_loglevel = 1".into(),
        ];
        let mut settings = settings.to_vec();
        if bouncing.is_some() {
            let uid = id_of("-u");
            let gid = id_of("-g");
            settings.extend([
                // The domain's recipients are found by the virtual delivery agent, after the
                // message is accepted: an unknown one makes Postfix bounce it with a DSN.
                "relay_domains =".to_string(),
                "relay_recipient_maps =".to_string(),
                format!("virtual_mailbox_domains = {}", Self::DOMAIN),
                format!("virtual_mailbox_maps = texthash:{}", e("mailboxes")),
                "smtpd_reject_unlisted_recipient = no".to_string(),
                format!("virtual_mailbox_base = {}", mailboxes.display()),
                format!("virtual_uid_maps = static:{uid}"),
                format!("virtual_gid_maps = static:{gid}"),
                "virtual_minimum_uid = 1".to_string(),
                // Its own bounces go to the bounce domain through the transport table; nobody
                // may relay there through its SMTP server.
                "smtp_tls_security_level = none".to_string(),
                "bounce_queue_lifetime = 1h".to_string(),
            ]);
        }
        let etc_arg = etc.display().to_string();
        let mut args = vec!["-c", &etc_arg, "-e"];
        args.extend(settings.iter().map(String::as_str));
        run(&postconf, &args);
        run(&postconf, &["-c", &etc_arg, "-F", "*/*/chroot = n"]);
        run(&postconf, &["-c", &etc_arg, "-MX", "smtp/inet"]);
        let listener = format!("{port}/inet = {port} inet n - n - - smtpd");
        run(&postconf, &["-c", &etc_arg, "-M", &listener]);
        let mx = PostfixMx {
            dir,
            postfix,
            addr,
            ca,
        };
        run(&mx.postfix, &["-c", &etc_arg, "start"]);
        wait_until_listening(addr, Duration::from_secs(20), || mx.maillog());
        Some(mx)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA that issued the STARTTLS certificate.
    pub fn ca_certificate(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// Postfix's own log of this instance.
    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }
}

impl Drop for PostfixMx {
    fn drop(&mut self) {
        let _ = Command::new(&self.postfix)
            .arg("-c")
            .arg(self.dir.path().join("etc"))
            .arg("stop")
            // postfix(1) runs its helper scripts through PATH.
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output();
    }
}

/// master.cf and the dynamic-map registry of the installed Postfix, for a private instance.
fn copy_stock_config(etc: &Path) {
    std::fs::copy("/usr/share/postfix/master.cf.dist", etc.join("master.cf"))
        .or_else(|_| std::fs::copy("/etc/postfix/master.cf", etc.join("master.cf")))
        .expect("Postfix's stock master.cf");
    for extra in ["dynamicmaps.cf", "dynamicmaps.cf.d"] {
        let from = Path::new("/etc/postfix").join(extra);
        if from.is_file() {
            std::fs::copy(&from, etc.join(extra)).expect("copy dynamicmaps.cf");
        } else if from.is_dir() {
            std::fs::create_dir_all(etc.join(extra)).expect("dynamicmaps.cf.d");
            for entry in std::fs::read_dir(&from).expect("read dynamicmaps.cf.d") {
                let entry = entry.expect("a dynamicmaps.cf.d entry");
                std::fs::copy(entry.path(), etc.join(extra).join(entry.file_name()))
                    .expect("copy a dynamicmaps.cf.d entry");
            }
        }
    }
}

fn run(program: &Path, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program:?}: {e}"));
    assert!(
        out.status.success(),
        "{program:?} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port of 127.0.0.1 that was free a moment ago (the tools bind it themselves).
fn free_loopback_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
}

fn wait_until_listening(addr: SocketAddr, timeout: Duration, diagnostics: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on {addr} after {timeout:?}: {}",
            diagnostics()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Postfix's daemons run as `postfix`: they must own what they write.
fn chown_to_postfix(path: &Path) {
    let status = Command::new("chown")
        .arg("postfix")
        .arg(path)
        .status()
        .expect("chown runs");
    assert!(status.success(), "chown postfix {path:?}");
}

/// The `postfix` account's user or group ID (`-u`, `-g`), as `id` prints it.
fn id_of(which: &str) -> String {
    let out = Command::new("id")
        .args([which, "postfix"])
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// A CA and a certificate for `name` it issued: (CA certificate, leaf and CA PEM, leaf key
/// PEM).
fn certificate_for(name: &str) -> (CertificateDer<'static>, String, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hikyaku test Postfix CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("the CA");
    let key = rcgen::KeyPair::generate().expect("a server key");
    let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
        .expect("server certificate parameters")
        .signed_by(&key, &ca)
        .expect("the server certificate");
    (
        ca.der().clone(),
        leaf.pem() + &ca.pem(),
        key.serialize_pem(),
    )
}
