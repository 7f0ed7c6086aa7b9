//! A real server on 127.0.0.1 with a recording handler, and a plain SMTP client that works over
//! TCP and, after STARTTLS, over TLS.

#![allow(dead_code)] // each test file uses a different part

use anyhow::{Context, bail};
use hikyaku_model::Envelope;
use hikyaku_smtp_server::testing::{WireReply, parse_replies};
use hikyaku_smtp_server::{
    AuthOutcome, EnhancedStatus, MailParams, Reply, Server, ServerConfig, SessionContext,
    SessionHandler,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const HOST: &str = "mx.test";

/// A message as the handler received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub envelope: Envelope,
    pub body: Vec<u8>,
    pub params: MailParams,
    pub ctx: SessionContext,
}

/// Accepts everything except recipient `refuse@…` (550 5.1.1) and connections from 127.0.0.3
/// (554 5.7.1); `user`/`secret` authenticates. A recipient `slow@…` makes the message call take
/// `slow` before answering.
#[derive(Default)]
pub struct Recorder {
    pub messages: Mutex<Vec<Received>>,
    pub slow: Duration,
    pub message_calls_started: AtomicUsize,
    pub disconnects: AtomicUsize,
    pub resets: AtomicUsize,
}

/// Per-connection state: the MAIL parameters, to check them at the message.
#[derive(Default)]
pub struct Transaction {
    params: Option<MailParams>,
}

impl SessionHandler for Recorder {
    type State = Transaction;

    async fn connect(&self, ctx: &SessionContext) -> Result<Transaction, Reply> {
        if ctx.peer.ip() == IpAddr::from([127, 0, 0, 3]) {
            return Err(Reply::policy_refusal("Not welcome here"));
        }
        Ok(Transaction::default())
    }

    async fn authenticate(
        &self,
        _: &mut Transaction,
        _: &SessionContext,
        user: &str,
        password: &str,
    ) -> AuthOutcome {
        if (user, password) == ("user", "secret") {
            AuthOutcome::Accepted
        } else {
            AuthOutcome::Rejected
        }
    }

    async fn mail_from(
        &self,
        st: &mut Transaction,
        _: &SessionContext,
        _: &str,
        params: &MailParams,
    ) -> Result<(), Reply> {
        st.params = Some(params.clone());
        Ok(())
    }

    async fn rcpt_to(
        &self,
        _: &mut Transaction,
        _: &SessionContext,
        to: &str,
    ) -> Result<(), Reply> {
        if to.starts_with("refuse@") {
            return Err(Reply::new(
                550,
                EnhancedStatus::new(5, 1, 1),
                "No such user here",
            ));
        }
        Ok(())
    }

    async fn data_start(&self, _: &mut Transaction, _: &SessionContext) -> Result<(), Reply> {
        Ok(())
    }

    async fn message(
        &self,
        st: &mut Transaction,
        ctx: &SessionContext,
        envelope: &Envelope,
        body: Vec<u8>,
    ) -> Reply {
        self.message_calls_started.fetch_add(1, Ordering::SeqCst);
        if envelope.recipients.iter().any(|r| r.starts_with("slow@")) {
            tokio::time::sleep(self.slow).await;
        }
        let mut messages = self.messages.lock().unwrap();
        messages.push(Received {
            envelope: envelope.clone(),
            body,
            params: st.params.clone().expect("MAIL came first"),
            ctx: ctx.clone(),
        });
        Reply::message_accepted(messages.len())
    }

    fn reset(&self, st: &mut Transaction) {
        st.params = None;
        self.resets.fetch_add(1, Ordering::SeqCst);
    }

    fn disconnect(&self, _: Transaction, _: &SessionContext) {
        self.disconnects.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn config() -> ServerConfig {
    ServerConfig::new(HOST)
}

/// A running server and the means to stop it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handler: Arc<Recorder>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> TestServer {
        Self::start_with(config, Recorder::default(), |server| server).await
    }

    pub async fn start_with(
        config: ServerConfig,
        recorder: Recorder,
        adjust: impl FnOnce(Server<Recorder>) -> Server<Recorder>,
    ) -> TestServer {
        let handler = Arc::new(recorder);
        Self::serve(adjust(Server::new(config, handler.clone())), handler).await
    }

    /// Serves an already built server whose handler is `handler`.
    pub async fn serve(server: Server<Recorder>, handler: Arc<Recorder>) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async move {
            let _ = stop.await;
        }));
        TestServer {
            addr,
            handler,
            shutdown: Some(shutdown),
            task,
        }
    }

    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits for `serve` to return.
    pub async fn finished(self) -> std::io::Result<()> {
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("serve returned")
            .unwrap()
    }

    pub fn messages(&self) -> Vec<Received> {
        self.handler.messages.lock().unwrap().clone()
    }
}

/// An SMTP client that sends exactly what a test says and reads replies.
pub struct Client<S> {
    stream: BufReader<S>,
    pub timeout: Duration,
}

pub async fn connect(addr: SocketAddr) -> (Client<TcpStream>, WireReply) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    greet(stream).await
}

pub async fn connect_from(source: IpAddr, addr: SocketAddr) -> (Client<TcpStream>, WireReply) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    greet(socket.connect(addr).await.expect("connect")).await
}

async fn greet(stream: TcpStream) -> (Client<TcpStream>, WireReply) {
    stream.set_nodelay(true).unwrap();
    let mut client = Client::new(stream);
    let greeting = client.read_reply().await.expect("greeting");
    (client, greeting)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Client {
            stream: BufReader::new(stream),
            timeout: Duration::from_secs(30),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    pub async fn command(&mut self, line: &str) -> anyhow::Result<WireReply> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.read_reply().await
    }

    /// `"250 2.1.0"`-style head of the reply to `line`.
    pub async fn head(&mut self, line: &str) -> String {
        self.command(line)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e:#}"))
            .head()
    }

    pub async fn read_reply(&mut self) -> anyhow::Result<WireReply> {
        let mut raw = Vec::new();
        loop {
            let before = raw.len();
            let n = tokio::time::timeout(self.timeout, self.stream.read_until(b'\n', &mut raw))
                .await
                .context("timed out waiting for a reply")??;
            if n == 0 {
                bail!(
                    "connection closed while waiting for a reply (got {:?})",
                    String::from_utf8_lossy(&raw)
                );
            }
            if raw.get(before + 3) == Some(&b' ') || raw.len() - before < 4 {
                break;
            }
        }
        let mut replies = parse_replies(&raw).map_err(anyhow::Error::msg)?;
        if replies.len() != 1 {
            bail!("expected one reply, got {replies:?}");
        }
        Ok(replies.remove(0))
    }

    pub async fn read_heads(&mut self, count: usize) -> Vec<String> {
        let mut heads = Vec::new();
        for _ in 0..count {
            heads.push(self.read_reply().await.expect("reply").head());
        }
        heads
    }

    /// Whether the server closed the connection (EOF or reset) within the timeout, with nothing
    /// more to say.
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(self.timeout, self.stream.read_until(b'\n', &mut rest)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    pub fn into_inner(self) -> S {
        assert!(
            self.stream.buffer().is_empty(),
            "unread bytes before a stream change"
        );
        self.stream.into_inner()
    }
}

/// A self-signed certificate for [`HOST`]: the server's TLS configuration and a client
/// configuration that trusts exactly that certificate.
pub fn tls_pair() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let certified = rcgen::generate_simple_self_signed(vec![HOST.to_string()]).unwrap();
    let server = hikyaku_smtp_server::tls_config_from_pem(
        certified.cert.pem().as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    (server, Arc::new(client))
}

/// STARTTLS on a greeted client; returns the client over TLS (not yet greeted again).
pub async fn start_tls(
    mut client: Client<TcpStream>,
    tls: Arc<rustls::ClientConfig>,
) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
    assert_eq!(client.head("STARTTLS").await, "220 2.0.0");
    let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, client.into_inner())
        .await
        .expect("handshake");
    Client::new(stream)
}
