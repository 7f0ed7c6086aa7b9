//! The I/O side: the accept loop with its connection limit, and the driver that moves bytes
//! between a socket and a [`Session`] and puts the session's questions to the handler.

use crate::auth::AuthFailures;
use crate::config::ServerConfig;
use crate::handler::{SessionContext, SessionHandler};
use crate::metrics::Metrics;
use crate::session::{Answer, Call, Session, Step};
use hikyaku_model::smtp::{EnhancedStatus, Reply, TlsInfo};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tracing::Instrument;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// How long and how much a closing session keeps reading (see `linger`).
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;
/// A connection turned away for the limit gets this long to take its `421`.
const TURN_AWAY_TIMEOUT: Duration = Duration::from_secs(5);

/// One SMTP listener: a configuration, a handler, and the AUTH failure table.
pub struct Server<H: SessionHandler> {
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    auth_failures: Arc<AuthFailures>,
    metrics: Metrics,
}

impl<H: SessionHandler> Server<H> {
    /// Registers the metrics (install the recorder first) and creates the listener's own AUTH
    /// failure table from `config.auth`.
    pub fn new(config: ServerConfig, handler: Arc<H>) -> Self {
        let auth_failures = Arc::new(AuthFailures::new(
            config.auth.failure_limit,
            config.auth.failure_window,
        ));
        let metrics = Metrics::new(&config.listener);
        Server {
            config: Arc::new(config),
            handler,
            auth_failures,
            metrics,
        }
    }

    /// Shares an AUTH failure table with other listeners, so that failures anywhere count.
    pub fn with_auth_failures(mut self, auth_failures: Arc<AuthFailures>) -> Self {
        self.auth_failures = auth_failures;
        self
    }

    /// Serves connections until `shutdown` completes. Then it stops accepting, lets every
    /// message being received and every handler call finish and be answered, answers the
    /// sessions that wait for a command `421 4.3.2 Service shutting down`, and returns once all
    /// connections are closed. (A client in the middle of DATA is waited for up to the DATA
    /// timeout; bound the whole shutdown with `tokio::time::timeout` if needed.)
    ///
    /// Errors on one connection never end the listener; `Err` means accepting itself failed in
    /// a way that is not about one connection or a passing shortage of resources.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let tls = self.config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let shared = Arc::new(Shared {
            config: self.config,
            handler: self.handler,
            auth_failures: self.auth_failures,
            metrics: self.metrics,
            tls,
            next_id: AtomicU64::new(1),
        });
        let slots = Arc::new(Semaphore::new(shared.config.max_connections));
        let (stop_sender, stop) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let result = loop {
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                Some(finished) = connections.join_next(), if !connections.is_empty() => report(finished),
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        shared.metrics.connections_total.increment(1);
                        match slots.clone().try_acquire_owned() {
                            Ok(slot) => {
                                let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                                let span = tracing::info_span!("smtp", listener = %shared.config.listener, id, %peer);
                                let task = connection(shared.clone(), stream, peer, id, stop.clone(), slot);
                                connections.spawn(task.instrument(span));
                            }
                            Err(_) => {
                                shared.metrics.connections_rejected.increment(1);
                                tracing::info!(%peer, "too many connections, turning one away");
                                connections.spawn(turn_away(stream, shared.config.hostname.clone()));
                            }
                        }
                    }
                    Err(error) if is_about_one_connection(&error) => {
                        tracing::debug!(%error, "accept failed for one connection");
                    }
                    Err(error) if is_resource_shortage(&error) => {
                        tracing::warn!(%error, "accept failed, pausing");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(error) => break Err(error),
                },
            }
        };
        drop(listener);
        let _ = stop_sender.send(true);
        while let Some(finished) = connections.join_next().await {
            report(finished);
        }
        result
    }
}

struct Shared<H> {
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    auth_failures: Arc<AuthFailures>,
    metrics: Metrics,
    tls: Option<tokio_rustls::TlsAcceptor>,
    next_id: AtomicU64,
}

fn report(finished: Result<(), tokio::task::JoinError>) {
    if let Err(error) = finished
        && error.is_panic()
    {
        tracing::error!(%error, "an SMTP session panicked");
    }
}

fn is_about_one_connection(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted
            | ConnectionReset
            | ConnectionRefused
            | Interrupted
            | WouldBlock
            | TimedOut
            | PermissionDenied
    )
}

/// EMFILE, ENFILE, ENOBUFS, ENOMEM: the process or the host is short of something that
/// closing connections gives back.
fn is_resource_shortage(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(24 | 23 | 105 | 12))
        || error.kind() == io::ErrorKind::OutOfMemory
}

async fn turn_away(mut stream: TcpStream, hostname: String) {
    let reply = Reply::new(
        421,
        EnhancedStatus::new(4, 7, 0),
        format!("{hostname} Too many connections, try again later"),
    );
    let _ = timeout(TURN_AWAY_TIMEOUT, async {
        stream.write_all(&reply.to_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Keeps the open-connections gauge right however the session ends (panics included).
struct OpenConnection(metrics::Gauge);

impl OpenConnection {
    fn new(gauge: &metrics::Gauge) -> Self {
        gauge.increment(1.0);
        OpenConnection(gauge.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

async fn connection<H: SessionHandler>(
    shared: Arc<Shared<H>>,
    mut stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    stop: watch::Receiver<bool>,
    slot: OwnedSemaphorePermit,
) {
    let _open = OpenConnection::new(&shared.metrics.connections_open);
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let config = &shared.config;
    let ctx = SessionContext {
        id,
        peer,
        local,
        helo: None,
        esmtp: false,
        tls: None,
        authenticated_as: None,
    };
    let state = match shared.handler.connect(&ctx).await {
        Ok(state) => state,
        Err(reply) => {
            tracing::info!(code = reply.code, "connection refused by the handler");
            let _ = timeout(config.command_timeout, async {
                stream
                    .write_all(&crate::session::refusal(reply).to_bytes())
                    .await?;
                stream.shutdown().await
            })
            .await;
            return;
        }
    };
    let mut session = Session::new(
        config.clone(),
        ctx,
        shared.auth_failures.clone(),
        shared.metrics.clone(),
    );
    session.greet();
    let mut link = Link {
        session,
        handler: &*shared.handler,
        state,
        stop,
        config,
        slot: Some(slot),
    };
    let outcome = link.drive(&mut stream).await;
    if let (Outcome::StartTls, Some(acceptor)) = (outcome, &shared.tls) {
        match timeout(config.command_timeout, acceptor.accept(stream)).await {
            Ok(Ok(mut tls)) => {
                // We ask no client certificate, so there is none to have verified.
                let info = TlsInfo::of(tls.get_ref().1, false);
                tracing::debug!(protocol = %info.protocol, cipher = %info.cipher_suite, "TLS established");
                link.session.tls_established(info);
                link.drive(&mut tls).await;
            }
            Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        }
    }
    link.handler.disconnect(link.state, link.session.context());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    StartTls,
    Closed,
}

/// One session's protocol state and the handler's state for it, between socket and handler.
struct Link<'a, H: SessionHandler> {
    session: Session,
    handler: &'a H,
    state: H::State,
    stop: watch::Receiver<bool>,
    config: &'a ServerConfig,
    /// The connection's place under `max_connections`, given back *before* the final reply
    /// (221 to QUIT): a client that reconnects as soon as it reads it must find the place free,
    /// or a client running exactly `max_connections` sessions would see spurious 421s.
    slot: Option<OwnedSemaphorePermit>,
}

impl<H: SessionHandler> Link<'_, H> {
    /// Runs the session over `io` until it closes or hands the connection to TLS.
    async fn drive<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut S) -> Outcome {
        let command_timeout = self.config.command_timeout;
        // Unconsumed input is `buffer[start..]`; a partial command line stays there until the
        // rest arrives, which the framer bounds to one line limit.
        let mut buffer: Vec<u8> = Vec::with_capacity(READ_CHUNK);
        let mut start = 0;
        loop {
            let mut input = &buffer[start..];
            let step = self.session.advance(&mut input);
            start = buffer.len() - input.len();
            match step {
                Step::NeedInput => {
                    // Replies go out in one write once the client's pipelined batch is used up.
                    if write_out(io, &mut self.session, command_timeout)
                        .await
                        .is_err()
                    {
                        return Outcome::Closed;
                    }
                    buffer.drain(..start);
                    start = 0;
                    if buffer.capacity() - buffer.len() < READ_CHUNK / 2 {
                        buffer.reserve(READ_CHUNK);
                    }
                    let receiving = self.session.is_receiving_message();
                    match read_more(io, &mut buffer, receiving, &mut self.stop, self.config).await {
                        Read::Data => {}
                        Read::Closed => return Outcome::Closed,
                        Read::TimedOut => self.session.idle_timeout(),
                        Read::ShuttingDown => self.session.shut_down(),
                    }
                }
                Step::Call(call) => {
                    let answer =
                        ask(self.handler, &mut self.state, self.session.context(), call).await;
                    self.session.answer(answer);
                }
                Step::Reset => self.handler.reset(&mut self.state),
                Step::StartTls => {
                    return match write_out(io, &mut self.session, command_timeout).await {
                        Ok(()) => Outcome::StartTls,
                        Err(_) => Outcome::Closed,
                    };
                }
                Step::Close => {
                    drop(self.slot.take());
                    if write_out(io, &mut self.session, command_timeout)
                        .await
                        .is_ok()
                        && timeout(command_timeout, io.shutdown()).await.is_ok()
                        && self.session.was_cut_off()
                    {
                        linger(io).await;
                    }
                    return Outcome::Closed;
                }
            }
        }
    }
}

enum Read {
    Data,
    Closed,
    TimedOut,
    ShuttingDown,
}

async fn read_more<S: AsyncRead + Unpin>(
    io: &mut S,
    buffer: &mut Vec<u8>,
    receiving_message: bool,
    stop: &mut watch::Receiver<bool>,
    config: &ServerConfig,
) -> Read {
    let limit = if receiving_message {
        config.data_timeout
    } else {
        config.command_timeout
    };
    let read = timeout(limit, io.read_buf(buffer));
    let result = if receiving_message {
        // A message being received is a transaction in flight: shutdown waits for it.
        read.await
    } else {
        tokio::select! {
            biased;
            () = stopping(stop) => return Read::ShuttingDown,
            result = read => result,
        }
    };
    match result {
        Ok(Ok(0)) | Ok(Err(_)) => Read::Closed,
        Ok(Ok(_)) => Read::Data,
        Err(_) => Read::TimedOut,
    }
}

/// Reads and drops what a cut-off client still sends, for a moment, before the socket is
/// closed: closing with unread input makes the kernel send a reset, which can destroy the final
/// reply (the 421 to a flood of pipelined garbage) before the client has read it.
async fn linger<S: AsyncRead + Unpin>(io: &mut S) {
    let mut scratch = [0u8; 4096];
    let mut budget = LINGER_BYTES;
    let _ = timeout(LINGER_TIME, async {
        while budget > 0 {
            match io.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => budget = budget.saturating_sub(n),
            }
        }
    })
    .await;
}

async fn stopping(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopping| *stopping).await.is_err() {
        // The listener is gone without a shutdown; its task set aborts this task anyway.
        std::future::pending::<()>().await;
    }
}

async fn write_out<S: AsyncWrite + Unpin>(
    io: &mut S,
    session: &mut Session,
    limit: Duration,
) -> io::Result<()> {
    if session.output().is_empty() {
        return Ok(());
    }
    let written = timeout(limit, async {
        io.write_all(session.output()).await?;
        io.flush().await
    })
    .await;
    session.clear_output();
    written.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

pub(crate) async fn ask<H: SessionHandler>(
    handler: &H,
    state: &mut H::State,
    ctx: &SessionContext,
    call: Call,
) -> Answer {
    match call {
        Call::Authenticate { username, password } => {
            Answer::Authenticate(handler.authenticate(state, ctx, &username, &password).await)
        }
        Call::MailFrom { from, params } => {
            Answer::MailFrom(handler.mail_from(state, ctx, &from, &params).await)
        }
        Call::RcptTo { to } => Answer::RcptTo(handler.rcpt_to(state, ctx, &to).await),
        Call::DataStart => Answer::DataStart(handler.data_start(state, ctx).await),
        Call::Message { envelope, body } => {
            Answer::Message(handler.message(state, ctx, &envelope, body).await)
        }
    }
}
