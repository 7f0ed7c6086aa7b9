//! A scripted SMTP server on 127.0.0.1 standing in for a remote MX in the delivery engine's
//! tests: the recipient's local part tells it how to answer, and it records what it received
//! and how many connections were open at once.
//!
//! Scripts (by the local part before any `+tag`, case-insensitive; anything else gets 250):
//!
//! | local part            | answer                                                        |
//! |-----------------------|---------------------------------------------------------------|
//! | `reject`              | `550 5.1.1` at RCPT                                           |
//! | `tempfail`            | `451 4.3.0` at RCPT                                           |
//! | `tempfail-then-ok`    | `451 4.3.0` at RCPT the first N times per address, then 250   |
//! | `NNN[-X.Y.Z][-…]`     | code NNN (400–599) at RCPT, enhanced X.Y.Z or NNN's class.0.0 |
//! | `421[-…]`             | `421 4.7.0` at RCPT, then the connection is closed            |
//! | `slow-<ms>`           | the RCPT reply (250) after `ms` milliseconds                  |
//! | `disconnect`          | the connection is dropped at RCPT, no reply                   |
//! | `data-reject`         | 250 at RCPT, `554 5.6.0` at the end of data                   |
//! | `data-tempfail`       | 250 at RCPT, `451 4.3.0` at the end of data                   |
//! | `data-slow-<ms>`      | the end-of-data reply after `ms` milliseconds                 |
//! | `data-disconnect`     | the connection is dropped after the data, before the reply   |
//!
//! Envelope senders script MAIL FROM: `reject@` gets `550 5.7.1`, `tempfail@` gets `451 4.7.1`.

use anyhow::{Context as _, bail};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Longest command or data line the sink reads; a client sending more is broken.
const MAX_LINE: u64 = 1024 * 1024;

/// How the sink behaves beyond the per-recipient scripts.
#[derive(Debug, Clone)]
pub struct SinkBuilder {
    hostname: String,
    pipelining: bool,
    starttls: bool,
    tls_names: Vec<String>,
    eight_bit_mime: bool,
    smtputf8: bool,
    ehlo_refused: bool,
    size_limit: Option<u64>,
    greeting: Option<String>,
    silent: bool,
    messages_per_connection: Option<usize>,
    tempfail_times: u32,
}

impl Default for SinkBuilder {
    fn default() -> SinkBuilder {
        SinkBuilder {
            hostname: "sink.test".into(),
            pipelining: true,
            starttls: false,
            tls_names: vec!["mx.test".into(), "localhost".into(), "127.0.0.1".into()],
            eight_bit_mime: true,
            smtputf8: true,
            ehlo_refused: false,
            size_limit: None,
            greeting: None,
            silent: false,
            messages_per_connection: None,
            tempfail_times: 1,
        }
    }
}

impl SinkBuilder {
    /// Advertise PIPELINING (default on). Off, a client that sends a command before the reply
    /// to the previous one is recorded in [`Sink::violations`].
    pub fn pipelining(mut self, on: bool) -> Self {
        self.pipelining = on;
        self
    }

    /// Offer STARTTLS with a certificate for `mx.test`, `localhost` and 127.0.0.1, issued by a
    /// CA made for this sink ([`Sink::root_store`]).
    pub fn starttls(mut self) -> Self {
        self.starttls = true;
        self
    }

    /// The names in the certificate (with [`SinkBuilder::starttls`]).
    pub fn tls_names(mut self, names: &[&str]) -> Self {
        self.tls_names = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Advertise 8BITMIME and SMTPUTF8 (default on).
    pub fn eight_bit(mut self, on: bool) -> Self {
        self.eight_bit_mime = on;
        self.smtputf8 = on;
        self
    }

    /// Answer EHLO with 502, so clients must fall back to HELO.
    pub fn ehlo_refused(mut self) -> Self {
        self.ehlo_refused = true;
        self
    }

    /// Advertise `SIZE limit` and refuse bigger messages with 552 5.3.4.
    pub fn size_limit(mut self, limit: u64) -> Self {
        self.size_limit = Some(limit);
        self
    }

    /// Greet with this reply line instead of 220 (e.g. `421 4.3.2 too many connections`); a
    /// greeting that is not 2xx is followed by closing the connection.
    pub fn greeting(mut self, line: &str) -> Self {
        self.greeting = Some(line.to_string());
        self
    }

    /// Accept connections and never say a word.
    pub fn silent(mut self) -> Self {
        self.silent = true;
        self
    }

    /// After this many accepted messages on one connection, answer the next MAIL FROM with
    /// `421 4.7.0` and close, as strict carriers do.
    pub fn messages_per_connection(mut self, limit: usize) -> Self {
        self.messages_per_connection = Some(limit);
        self
    }

    /// How many times `tempfail-then-ok@` fails per address before it is accepted (default 1).
    pub fn tempfail_times(mut self, times: u32) -> Self {
        self.tempfail_times = times;
        self
    }

    /// Binds 127.0.0.1 on a free port and starts serving.
    pub async fn start(self) -> anyhow::Result<Sink> {
        let tls = if self.starttls {
            Some(TestCa::issue(&self.tls_names)?)
        } else {
            None
        };
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (count_tx, count_rx) = watch::channel(0usize);
        let shared = Arc::new(Shared {
            config: self,
            acceptor: tls.as_ref().map(|t| t.acceptor.clone()),
            received: Mutex::new(Vec::new()),
            received_count: count_tx,
            commands: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            tempfails: Mutex::new(HashMap::new()),
            current: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            total: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Sink {
            addr,
            shared,
            count_rx,
            leaf: tls.as_ref().map(|t| t.leaf.clone()),
            ca: tls.map(|t| t.ca),
            task,
        })
    }
}

/// A running scripted MX. Stops (and drops every connection) when dropped.
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    count_rx: watch::Receiver<usize>,
    ca: Option<CertificateDer<'static>>,
    leaf: Option<CertificateDer<'static>>,
    task: JoinHandle<()>,
}

/// One message the sink accepted (250 at the end of data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub mail_from: String,
    /// The MAIL FROM parameters as sent (`SIZE=123`, `BODY=8BITMIME`, `SMTPUTF8`).
    pub mail_parameters: Vec<String>,
    /// The recipients accepted at RCPT.
    pub recipients: Vec<String>,
    /// The message with dot-stuffing undone, line endings exactly as received, without the
    /// final `.\r\n`.
    pub data: Vec<u8>,
    pub tls: bool,
    /// The name given in EHLO or HELO.
    pub helo: String,
    /// Which connection (1 for the first the sink accepted).
    pub connection: u64,
    /// Whether more commands were already waiting when MAIL FROM was read (the client
    /// pipelined).
    pub pipelined: bool,
}

/// One command line the sink read (data lines excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkCommand {
    pub connection: u64,
    pub line: String,
}

impl Sink {
    pub fn builder() -> SinkBuilder {
        SinkBuilder::default()
    }

    /// A sink with the defaults: PIPELINING, 8BITMIME, SMTPUTF8, no TLS, no size limit.
    pub async fn start() -> anyhow::Result<Sink> {
        SinkBuilder::default().start().await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message accepted so far, in order of acceptance.
    pub fn received(&self) -> Vec<ReceivedMessage> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages were accepted; fails after `timeout` saying how many
    /// came.
    pub async fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<ReceivedMessage>> {
        let mut rx = self.count_rx.clone();
        match tokio::time::timeout(timeout, rx.wait_for(|&count| count >= n)).await {
            Ok(Ok(_)) => Ok(self.received()),
            Ok(Err(_)) => bail!("sink stopped"),
            Err(_) => bail!(
                "sink got {} of {n} messages within {timeout:?}",
                self.received().len()
            ),
        }
    }

    /// Every command line read so far, across connections, in order.
    pub fn commands(&self) -> Vec<SinkCommand> {
        self.shared.commands.lock().unwrap().clone()
    }

    /// Protocol violations seen (e.g. pipelining when it was not offered).
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }

    /// Connections open right now.
    pub fn current_connections(&self) -> usize {
        self.shared.current.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn peak_connections(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn total_connections(&self) -> u64 {
        self.shared.total.load(Ordering::SeqCst)
    }

    /// The CA that issued the STARTTLS certificate (with [`SinkBuilder::starttls`]).
    pub fn ca_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.ca.as_ref()
    }

    /// The STARTTLS certificate itself (with [`SinkBuilder::starttls`]), e.g. for a TLSA record.
    pub fn leaf_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.leaf.as_ref()
    }

    /// A root store trusting only this sink's CA.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut store = rustls::RootCertStore::empty();
        if let Some(ca) = &self.ca {
            store.add(ca.clone()).expect("the sink's own CA is valid");
        }
        store
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    config: SinkBuilder,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    received: Mutex<Vec<ReceivedMessage>>,
    received_count: watch::Sender<usize>,
    commands: Mutex<Vec<SinkCommand>>,
    violations: Mutex<Vec<String>>,
    /// `tempfail-then-ok` failures so far, per address.
    tempfails: Mutex<HashMap<String, u32>>,
    current: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicU64,
}

/// A CA made for one test server, and that server's TLS side with a certificate it issued.
pub(crate) struct TestCa {
    pub(crate) ca: CertificateDer<'static>,
    pub(crate) leaf: CertificateDer<'static>,
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl TestCa {
    pub(crate) fn issue(names: &[String]) -> anyhow::Result<TestCa> {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hikyaku test sink CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
        let leaf_key = rcgen::KeyPair::generate()?;
        let mut leaf_params = rcgen::CertificateParams::new(names.to_vec())?;
        leaf_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().map_or("sink", String::as_str),
        );
        let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)?;
        Ok(TestCa {
            ca: ca.der().clone(),
            leaf: leaf.der().clone(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owning the connections here means aborting this task drops them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let number = shared.total.fetch_add(1, Ordering::SeqCst) + 1;
                let open = shared.current.fetch_add(1, Ordering::SeqCst) + 1;
                shared.peak.fetch_max(open, Ordering::SeqCst);
                let shared = shared.clone();
                connections.spawn(async move {
                    let _open = OpenConnection(shared.clone());
                    let _ = serve(stream, shared, number).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Counts a connection as open until dropped.
struct OpenConnection(Arc<Shared>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>, number: u64) -> anyhow::Result<()> {
    let config = &shared.config;
    if config.silent {
        // Hold the connection until the client gives up.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        return Ok(());
    }
    let greeting = config
        .greeting
        .clone()
        .unwrap_or_else(|| format!("220 {} ESMTP scripted sink", config.hostname));
    stream
        .write_all(format!("{greeting}\r\n").as_bytes())
        .await?;
    if !greeting.starts_with('2') {
        return Ok(());
    }
    let mut session = Session {
        shared: shared.clone(),
        number,
        tls: false,
        helo: None,
        accepted_here: 0,
        transaction: None,
    };
    if let Some(plain) = session.run(stream).await? {
        let acceptor = shared
            .acceptor
            .clone()
            .context("STARTTLS without a certificate")?;
        let tls = acceptor.accept(plain).await?;
        session.tls = true;
        session.helo = None;
        session.run(tls).await?;
    }
    Ok(())
}

struct Session {
    shared: Arc<Shared>,
    number: u64,
    tls: bool,
    helo: Option<String>,
    accepted_here: usize,
    transaction: Option<Transaction>,
}

#[derive(Default)]
struct Transaction {
    mail_from: String,
    mail_parameters: Vec<String>,
    recipients: Vec<String>,
    /// Scripts of the accepted recipients that act at the end of data.
    data_scripts: Vec<Script>,
    pipelined: bool,
}

/// What a recipient's local part asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Script {
    Accept,
    Reply {
        code: u16,
        enhanced: String,
        text: &'static str,
    },
    TempfailThenOk,
    Close421,
    Slow(Duration),
    Disconnect,
    DataReject,
    DataTempfail,
    DataSlow(Duration),
    DataDisconnect,
}

impl Script {
    fn of(address: &str) -> Script {
        let local = address.rsplit_once('@').map_or(address, |(l, _)| l);
        let key = local
            .split('+')
            .next()
            .unwrap_or(local)
            .to_ascii_lowercase();
        let millis = |s: &str| s.parse::<u64>().ok().map(Duration::from_millis);
        match key.as_str() {
            "reject" => Script::Reply {
                code: 550,
                enhanced: "5.1.1".into(),
                text: "no such user",
            },
            "tempfail" => Script::Reply {
                code: 451,
                enhanced: "4.3.0".into(),
                text: "temporary failure",
            },
            "tempfail-then-ok" => Script::TempfailThenOk,
            "disconnect" => Script::Disconnect,
            "data-reject" => Script::DataReject,
            "data-tempfail" => Script::DataTempfail,
            "data-disconnect" => Script::DataDisconnect,
            _ => {
                if let Some(d) = key.strip_prefix("data-slow-").and_then(millis) {
                    return Script::DataSlow(d);
                }
                if let Some(d) = key.strip_prefix("slow-").and_then(millis) {
                    return Script::Slow(d);
                }
                let mut parts = key.split('-');
                let code = parts.next().and_then(|c| c.parse::<u16>().ok());
                match code {
                    Some(421) => Script::Close421,
                    Some(code @ 400..=599) => {
                        let enhanced = parts
                            .next()
                            .filter(|e| e.split('.').count() == 3)
                            .map_or_else(|| format!("{}.0.0", code / 100), str::to_string);
                        Script::Reply {
                            code,
                            enhanced,
                            text: "scripted reply",
                        }
                    }
                    _ => Script::Accept,
                }
            }
        }
    }
}

enum Flow {
    Continue,
    Close,
    StartTls,
}

impl Session {
    /// Serves commands until the client quits or a script closes (`Ok(None)`), or until
    /// STARTTLS was accepted (`Ok(Some(stream))`, to be wrapped in TLS).
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: S,
    ) -> anyhow::Result<Option<S>> {
        let mut reader = BufReader::new(stream);
        let mut out: Vec<u8> = Vec::new();
        loop {
            // Replies to pipelined commands go out together once the client's batch is read.
            if reader.buffer().is_empty() && !out.is_empty() {
                reader.get_mut().write_all(&out).await?;
                reader.get_mut().flush().await?;
                out.clear();
            }
            let mut line = Vec::new();
            let n = (&mut reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)
                .await?;
            if n == 0 {
                return Ok(None);
            }
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            self.shared.commands.lock().unwrap().push(SinkCommand {
                connection: self.number,
                line: text.clone(),
            });
            let more_waiting = !reader.buffer().is_empty();
            let verb = text.split(' ').next().unwrap_or("").to_ascii_uppercase();
            if more_waiting && !self.shared.config.pipelining && verb != "QUIT" {
                self.violation(format!("{verb} followed by more input before its reply"));
            }
            let flow = match verb.as_str() {
                "EHLO" => self.ehlo(&text, &mut out),
                "HELO" => {
                    self.helo = Some(argument(&text).to_string());
                    reply(&mut out, &format!("250 {}", self.shared.config.hostname));
                    Flow::Continue
                }
                "STARTTLS" => self.starttls(&mut out, more_waiting),
                "MAIL" => self.mail(&text, &mut out, more_waiting),
                "RCPT" => self.rcpt(&text, &mut out, &mut reader).await?,
                "DATA" => self.data(&mut out, &mut reader).await?,
                "RSET" => {
                    self.transaction = None;
                    reply(&mut out, "250 2.0.0 Ok");
                    Flow::Continue
                }
                "NOOP" => {
                    reply(&mut out, "250 2.0.0 Ok");
                    Flow::Continue
                }
                "QUIT" => {
                    reply(&mut out, "221 2.0.0 Bye");
                    Flow::Close
                }
                _ => {
                    reply(&mut out, "502 5.5.2 Error: command not recognized");
                    Flow::Continue
                }
            };
            match flow {
                Flow::Continue => {}
                Flow::Close => {
                    let stream = reader.get_mut();
                    stream.write_all(&out).await?;
                    stream.flush().await?;
                    let _ = stream.shutdown().await;
                    return Ok(None);
                }
                Flow::StartTls => {
                    let stream = reader.get_mut();
                    stream.write_all(&out).await?;
                    stream.flush().await?;
                    return Ok(Some(reader.into_inner()));
                }
            }
        }
    }

    fn violation(&self, what: String) {
        self.shared
            .violations
            .lock()
            .unwrap()
            .push(format!("connection {}: {what}", self.number));
    }

    fn ehlo(&mut self, text: &str, out: &mut Vec<u8>) -> Flow {
        let config = &self.shared.config;
        if config.ehlo_refused {
            reply(out, "502 5.5.2 Error: command not recognized");
            return Flow::Continue;
        }
        self.helo = Some(argument(text).to_string());
        self.transaction = None;
        let mut lines = vec![config.hostname.clone()];
        if config.pipelining {
            lines.push("PIPELINING".into());
        }
        lines.push(match config.size_limit {
            Some(limit) => format!("SIZE {limit}"),
            None => "SIZE".into(),
        });
        if config.starttls && !self.tls {
            lines.push("STARTTLS".into());
        }
        lines.push("ENHANCEDSTATUSCODES".into());
        if config.eight_bit_mime {
            lines.push("8BITMIME".into());
        }
        if config.smtputf8 {
            lines.push("SMTPUTF8".into());
        }
        for (i, line) in lines.iter().enumerate() {
            let separator = if i + 1 == lines.len() { ' ' } else { '-' };
            out.extend_from_slice(format!("250{separator}{line}\r\n").as_bytes());
        }
        Flow::Continue
    }

    fn starttls(&mut self, out: &mut Vec<u8>, more_waiting: bool) -> Flow {
        if !self.shared.config.starttls || self.tls {
            reply(out, "502 5.5.1 STARTTLS not available");
            return Flow::Continue;
        }
        if more_waiting {
            self.violation("commands pipelined after STARTTLS".into());
        }
        reply(out, "220 2.0.0 Ready to start TLS");
        Flow::StartTls
    }

    fn mail(&mut self, text: &str, out: &mut Vec<u8>, more_waiting: bool) -> Flow {
        if self.helo.is_none() {
            reply(out, "503 5.5.1 Error: send HELO/EHLO first");
            return Flow::Continue;
        }
        if self.transaction.is_some() {
            reply(out, "503 5.5.1 Error: nested MAIL command");
            return Flow::Continue;
        }
        if let Some(limit) = self.shared.config.messages_per_connection
            && self.accepted_here >= limit
        {
            reply(
                out,
                "421 4.7.0 Too many messages on this connection, closing",
            );
            return Flow::Close;
        }
        let Some((address, parameters)) = path_and_parameters(text, "MAIL FROM:") else {
            reply(out, "501 5.5.4 Syntax: MAIL FROM:<address>");
            return Flow::Continue;
        };
        let size = parameters.iter().find_map(|p| {
            p.to_ascii_uppercase()
                .strip_prefix("SIZE=")?
                .parse::<u64>()
                .ok()
        });
        let local = address
            .rsplit_once('@')
            .map_or("", |(l, _)| l)
            .to_ascii_lowercase();
        if local == "reject" {
            reply(out, "550 5.7.1 Sender rejected");
            return Flow::Continue;
        }
        if local == "tempfail" {
            reply(out, "451 4.7.1 Sender temporarily rejected");
            return Flow::Continue;
        }
        if let (Some(size), Some(limit)) = (size, self.shared.config.size_limit)
            && size > limit
        {
            reply(out, "552 5.3.4 Message size exceeds fixed limit");
            return Flow::Continue;
        }
        self.transaction = Some(Transaction {
            mail_from: address,
            mail_parameters: parameters,
            pipelined: more_waiting,
            ..Transaction::default()
        });
        reply(out, "250 2.1.0 Ok");
        Flow::Continue
    }

    async fn rcpt<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        text: &str,
        out: &mut Vec<u8>,
        reader: &mut BufReader<S>,
    ) -> anyhow::Result<Flow> {
        let Some(transaction) = self.transaction.as_mut() else {
            reply(out, "503 5.5.1 Error: need MAIL command");
            return Ok(Flow::Continue);
        };
        let Some((address, _)) = path_and_parameters(text, "RCPT TO:") else {
            reply(out, "501 5.5.4 Syntax: RCPT TO:<address>");
            return Ok(Flow::Continue);
        };
        let script = Script::of(&address);
        match script {
            Script::Reply {
                code,
                enhanced,
                text,
            } => {
                reply(out, &format!("{code} {enhanced} <{address}>: {text}"));
                return Ok(Flow::Continue);
            }
            Script::TempfailThenOk => {
                let mut tempfails = self.shared.tempfails.lock().unwrap();
                let failed = tempfails.entry(address.clone()).or_insert(0);
                if *failed < self.shared.config.tempfail_times {
                    *failed += 1;
                    reply(out, &format!("451 4.3.0 <{address}>: try again later"));
                    return Ok(Flow::Continue);
                }
            }
            Script::Close421 => {
                reply(out, "421 4.7.0 Too many connections, closing");
                return Ok(Flow::Close);
            }
            // Replies already owed to earlier commands still go out; this one never comes.
            Script::Disconnect => return Ok(Flow::Close),
            Script::Slow(delay) => {
                flush(reader, out).await?;
                tokio::time::sleep(delay).await;
            }
            _ => {}
        }
        transaction.recipients.push(address);
        transaction.data_scripts.push(script);
        reply(out, "250 2.1.5 Ok");
        Ok(Flow::Continue)
    }

    async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        out: &mut Vec<u8>,
        reader: &mut BufReader<S>,
    ) -> anyhow::Result<Flow> {
        let Some(transaction) = self.transaction.take() else {
            reply(out, "503 5.5.1 Error: need RCPT command");
            return Ok(Flow::Continue);
        };
        if transaction.recipients.is_empty() {
            reply(out, "554 5.5.1 Error: no valid recipients");
            return Ok(Flow::Continue);
        }
        reply(out, "354 End data with <CR><LF>.<CR><LF>");
        flush(reader, out).await?;
        let mut data = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = (&mut *reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)
                .await?;
            if n == 0 {
                bail!("connection closed in the middle of data");
            }
            if line == b".\r\n" {
                break;
            }
            let unstuffed = if line.starts_with(b".") {
                &line[1..]
            } else {
                &line[..]
            };
            data.extend_from_slice(unstuffed);
        }
        let scripts = &transaction.data_scripts;
        if scripts.contains(&Script::DataDisconnect) {
            return Ok(Flow::Close);
        }
        for script in scripts {
            if let Script::DataSlow(delay) = script {
                tokio::time::sleep(*delay).await;
            }
        }
        if scripts.contains(&Script::DataReject) {
            reply(out, "554 5.6.0 Message content rejected");
            return Ok(Flow::Continue);
        }
        if scripts.contains(&Script::DataTempfail) {
            reply(out, "451 4.3.0 Temporary failure after data");
            return Ok(Flow::Continue);
        }
        if let Some(limit) = self.shared.config.size_limit
            && data.len() as u64 > limit
        {
            reply(out, "552 5.3.4 Message size exceeds fixed limit");
            return Ok(Flow::Continue);
        }
        self.accepted_here += 1;
        let message = ReceivedMessage {
            mail_from: transaction.mail_from,
            mail_parameters: transaction.mail_parameters,
            recipients: transaction.recipients,
            data,
            tls: self.tls,
            helo: self.helo.clone().unwrap_or_default(),
            connection: self.number,
            pipelined: transaction.pipelined,
        };
        let queued = {
            let mut received = self.shared.received.lock().unwrap();
            received.push(message);
            received.len()
        };
        reply(out, &format!("250 2.0.0 Ok: queued as {queued}"));
        // Counted once the reply is on its way, so a waiting test sees what the client saw.
        // Never lowered: another connection that queued after this one may have counted first,
        // and a waiter that missed its higher count would wait out its timeout.
        flush(reader, out).await?;
        self.shared
            .received_count
            .send_modify(|count| *count = (*count).max(queued));
        Ok(Flow::Continue)
    }
}

fn reply(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

async fn flush<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut BufReader<S>,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    if !out.is_empty() {
        reader.get_mut().write_all(out).await?;
        reader.get_mut().flush().await?;
        out.clear();
    }
    Ok(())
}

fn argument(text: &str) -> &str {
    text.split_once(' ').map_or("", |(_, rest)| rest.trim())
}

/// `MAIL FROM:<a@b> SIZE=1` → (`a@b`, [`SIZE=1`]); the prefix is matched case-insensitively.
fn path_and_parameters(text: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let head = text.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = text[prefix.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let (address, parameters) = rest.split_once('>')?;
    Some((
        address.to_string(),
        parameters.split_whitespace().map(str::to_string).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SmtpClient;

    #[test]
    fn scripts_by_local_part() {
        let reply = |code, enhanced: &str, text| Script::Reply {
            code,
            enhanced: enhanced.to_string(),
            text,
        };
        let table = [
            ("someone@x", Script::Accept),
            ("reject@x", reply(550, "5.1.1", "no such user")),
            ("Reject+7@x", reply(550, "5.1.1", "no such user")),
            ("tempfail@x", reply(451, "4.3.0", "temporary failure")),
            ("tempfail-then-ok+a@x", Script::TempfailThenOk),
            ("550-x@x", reply(550, "5.0.0", "scripted reply")),
            ("452-4.5.3-x@x", reply(452, "4.5.3", "scripted reply")),
            ("451-4.7.1@x", reply(451, "4.7.1", "scripted reply")),
            ("421@x", Script::Close421),
            ("421-busy@x", Script::Close421),
            ("399-x@x", Script::Accept),
            ("slow-250@x", Script::Slow(Duration::from_millis(250))),
            ("slow-x@x", Script::Accept),
            ("disconnect@x", Script::Disconnect),
            ("data-reject@x", Script::DataReject),
            ("data-tempfail@x", Script::DataTempfail),
            (
                "data-slow-10@x",
                Script::DataSlow(Duration::from_millis(10)),
            ),
            ("data-disconnect@x", Script::DataDisconnect),
        ];
        for (address, expected) in table {
            assert_eq!(Script::of(address), expected, "{address}");
        }
    }

    #[tokio::test]
    async fn records_messages_and_answers_scripts() {
        let sink = Sink::start().await.unwrap();
        let (mut client, greeting) = SmtpClient::connect(sink.addr()).await.unwrap();
        assert_eq!(greeting.code, 220);
        let ehlo = client.command("EHLO client.test").await.unwrap();
        assert!(ehlo.lines.contains(&"PIPELINING".to_string()), "{ehlo:?}");
        assert_eq!(
            client
                .command("MAIL FROM:<a@x> SIZE=10")
                .await
                .unwrap()
                .code,
            250
        );
        assert_eq!(client.command("RCPT TO:<b@y>").await.unwrap().code, 250);
        let refused = client.command("RCPT TO:<reject@y>").await.unwrap();
        assert_eq!(refused.head(), "550 5.1.1");
        assert_eq!(
            client
                .command("RCPT TO:<tempfail-then-ok@y>")
                .await
                .unwrap()
                .code,
            451
        );
        assert_eq!(client.command("DATA").await.unwrap().code, 354);
        client
            .send_raw(b"Subject: hi\r\n\r\n..dot\r\n.\r\n")
            .await
            .unwrap();
        assert_eq!(client.read_reply().await.unwrap().head(), "250 2.0.0");
        // The second time the same address is accepted.
        assert_eq!(client.command("MAIL FROM:<>").await.unwrap().code, 250);
        assert_eq!(
            client
                .command("RCPT TO:<tempfail-then-ok@y>")
                .await
                .unwrap()
                .code,
            250
        );
        assert_eq!(client.command("RSET").await.unwrap().code, 250);
        assert_eq!(client.command("QUIT").await.unwrap().code, 221);

        let got = sink.wait_for(1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(got.len(), 1);
        let m = &got[0];
        assert_eq!(m.mail_from, "a@x");
        assert_eq!(m.mail_parameters, ["SIZE=10"]);
        assert_eq!(m.recipients, ["b@y"]);
        assert_eq!(m.data, b"Subject: hi\r\n\r\n.dot\r\n");
        assert_eq!(
            (m.helo.as_str(), m.tls, m.connection),
            ("client.test", false, 1)
        );
        assert!(sink.violations().is_empty());
        let lines: Vec<_> = sink.commands().into_iter().map(|c| c.line).collect();
        assert_eq!(lines.last().map(String::as_str), Some("QUIT"));
        assert!(lines.contains(&"RSET".to_string()));
    }

    #[tokio::test]
    async fn counts_concurrent_connections_and_closes_at_the_message_limit() {
        let sink = Sink::builder()
            .messages_per_connection(1)
            .pipelining(false)
            .start()
            .await
            .unwrap();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(SmtpClient::connect(sink.addr()).await.unwrap().0);
        }
        assert_eq!(sink.current_connections(), 3);
        let mut first = clients.remove(0);
        drop(clients);
        first.command("EHLO c").await.unwrap();
        let reply = first.send_mail("a@x", &["b@y"], "hello").await.unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(
            first.command("MAIL FROM:<a@x>").await.unwrap().head(),
            "421 4.7.0"
        );
        assert!(first.closed().await);
        // Pipelining was not offered: a client that pipelines anyway is caught.
        let (mut rude, _) = SmtpClient::connect(sink.addr()).await.unwrap();
        rude.send_raw(b"EHLO r\r\nNOOP\r\n").await.unwrap();
        rude.read_reply().await.unwrap();
        rude.read_reply().await.unwrap();
        assert_eq!(sink.violations().len(), 1, "{:?}", sink.violations());
        drop((first, rude));
        for _ in 0..100 {
            if sink.current_connections() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(sink.current_connections(), 0);
        assert_eq!(sink.peak_connections(), 3);
        assert_eq!(sink.total_connections(), 4);
    }

    #[tokio::test]
    async fn greeting_override_closes() {
        let sink = Sink::builder()
            .greeting("554 5.7.1 no service")
            .start()
            .await
            .unwrap();
        let (mut client, greeting) = SmtpClient::connect(sink.addr()).await.unwrap();
        assert_eq!(greeting.head(), "554 5.7.1");
        assert!(client.closed().await);
    }
}
