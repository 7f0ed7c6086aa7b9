//! One SMTP connection to one remote MX: the session set-up and the transactions over it.

use super::data::{encode_data, has_eight_bit, has_eight_bit_headers};
use super::error::{ConnectionError, Stage};
use super::extensions::Extensions;
use super::outcome::{NotSent, RecipientOutcome, TransactionResult};
use super::reply::{EnhancedStatus, Reply, parse_reply};
use super::tls::{TlsInfo, TlsMode, server_name};
use super::{ClientInner, Timeouts};
use hikyaku_model::Remote;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout, timeout_at};

/// Bytes of the body handed to one write: RFC 5321's data-block timeout applies to each.
const BODY_CHUNK: usize = 64 * 1024;

/// Who we are talking to, for decisions and for the send log.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The MX host name as the engine resolved it (for logs and certificate checks).
    pub host: String,
    pub addr: SocketAddr,
    pub greeting: Reply,
    /// What the server offers (after STARTTLS: what it offers inside TLS).
    pub extensions: Extensions,
    /// `None` when the session is plain text.
    pub tls: Option<TlsInfo>,
}

impl PeerInfo {
    /// The server as the send log names it: host, address, port, whether TLS is on.
    pub fn remote(&self) -> Remote {
        Remote {
            host: self.host.clone(),
            ip: Some(self.addr.ip()),
            port: Some(self.addr.port()),
            tls: Some(self.tls.is_some()),
        }
    }
}

/// The connection's place between transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ready for MAIL FROM.
    Ready,
    /// The last transaction stopped midway: RSET before the next one.
    NeedsReset,
    /// Timed out, closed, 421, protocol error, or a transaction broke off: never used again.
    Dead,
}

/// An open SMTP session with one remote MX, greeted and EHLO'd (and in TLS if asked), ready for
/// transactions. Made by [`super::Client::connect`].
pub struct Connection {
    wire: Wire,
    peer: PeerInfo,
    timeouts: Timeouts,
    state: State,
    transactions: u32,
}

impl Connection {
    pub(crate) async fn open(
        client: &ClientInner,
        addr: SocketAddr,
        mx_host: &str,
        tls: TlsMode,
    ) -> Result<Connection, ConnectionError> {
        let t = &client.config.timeouts;
        let tcp = timeout(t.connect, tcp_connect(addr, client.config.source_address))
            .await
            .map_err(|_| ConnectionError::Timeout {
                stage: Stage::Connect,
                timeout: t.connect,
            })?
            .map_err(|source| ConnectionError::Connect { addr, source })?;
        // Commands are small and each waits for its reply: Nagle would only add delay.
        let _ = tcp.set_nodelay(true);
        let mut wire = Wire::new(Stream::Plain(tcp));

        let greeting = wire.read_reply(Stage::Greeting, t.greeting).await?;
        if !greeting.is_positive() {
            return Err(ConnectionError::Greeting(greeting));
        }
        let helo = &client.config.helo_name;
        let mut extensions = hello(&mut wire, helo, t).await?;

        let mut tls_session = None;
        // DANE authenticates too: against the TLSA records, with the MX host as the name.
        let verify = matches!(tls, TlsMode::Required { verify: true } | TlsMode::Dane(_));
        let mandatory = matches!(tls, TlsMode::Required { .. } | TlsMode::Dane(_));
        let start_tls = match tls {
            TlsMode::Disabled => false,
            TlsMode::Opportunistic => extensions.starttls,
            _ if !extensions.starttls => {
                wire.quit(t).await;
                return Err(ConnectionError::TlsNotOffered);
            }
            _ => true,
        };
        if start_tls {
            let Some(name) = server_name(mx_host, addr.ip(), verify) else {
                wire.quit(t).await;
                return Err(ConnectionError::InvalidServerName(mx_host.to_string()));
            };
            let reply = wire
                .command(Stage::StartTls, t.starttls, "STARTTLS")
                .await?;
            if reply.code == 421 {
                return Err(ConnectionError::ServiceClosing {
                    stage: Stage::StartTls,
                    reply,
                });
            }
            if reply.code == 220 {
                if !wire.inbox.is_empty() {
                    return Err(ConnectionError::StartTlsInjection);
                }
                let tcp = wire.into_plain();
                let connector = match &tls {
                    TlsMode::Dane(records) => client.tls.dane(records),
                    _ => client.tls.connector(verify).clone(),
                };
                let stream = timeout(t.starttls, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| ConnectionError::Timeout {
                        stage: Stage::TlsHandshake,
                        timeout: t.starttls,
                    })?
                    .map_err(|source| ConnectionError::TlsHandshake { source })?;
                let session = stream.get_ref().1;
                let verified = verify || client.tls.would_verify(session, &name);
                tls_session = Some(TlsInfo::of(session, verified));
                wire = Wire::new(Stream::Tls(Box::new(stream)));
                // RFC 3207 §4.2: forget what was learnt in plain text and ask again.
                extensions = hello(&mut wire, helo, t).await?;
            } else if mandatory {
                wire.quit(t).await;
                return Err(ConnectionError::StartTlsRefused(reply));
            }
            // Opportunistic and refused: RFC 3207 lets the session go on in plain text.
        }

        Ok(Connection {
            wire,
            peer: PeerInfo {
                host: mx_host.to_string(),
                addr,
                greeting,
                extensions,
                tls: tls_session,
            },
            timeouts: t.clone(),
            state: State::Ready,
            transactions: 0,
        })
    }

    pub fn peer(&self) -> &PeerInfo {
        &self.peer
    }

    /// Transactions started on this connection (whatever their outcome).
    pub fn transactions(&self) -> u32 {
        self.transactions
    }

    /// Whether another transaction may be sent: false after any [`ConnectionError`], and false
    /// when the server has closed the idle connection or said something unprompted (typically
    /// "421 idle timeout" before closing), which is checked here without waiting.
    pub fn is_reusable(&mut self) -> bool {
        if self.state == State::Dead {
            return false;
        }
        if !self.wire.inbox.is_empty() || !self.wire.is_idle_and_open() {
            self.state = State::Dead;
        }
        self.state != State::Dead
    }

    /// One transaction: MAIL FROM, a RCPT TO per recipient, DATA and the message. `Ok` when the
    /// dialogue ran to its end, whatever the server decided about each recipient; `Err` when the
    /// connection failed (every recipient of this transaction then stays undelivered, and the
    /// connection is dead).
    ///
    /// `message` is the whole message (headers and body); line endings are normalised to CRLF
    /// and dots stuffed here. `envelope_from` may be empty (the null sender).
    pub async fn send<S: AsRef<str>>(
        &mut self,
        envelope_from: &str,
        recipients: &[S],
        message: &[u8],
    ) -> Result<TransactionResult, ConnectionError> {
        if self.state == State::Dead {
            return Err(ConnectionError::Unusable);
        }
        let recipients: Vec<&str> = recipients.iter().map(AsRef::as_ref).collect();
        let plan = match Plan::new(envelope_from, &recipients, message, &self.peer) {
            Ok(plan) => plan,
            Err(outcomes) => {
                return Ok(TransactionResult {
                    recipients: outcomes,
                    pipelined: false,
                });
            }
        };
        self.transactions += 1;
        let previous = self.state;
        // Until the dialogue is back in step, any early return leaves the connection unusable.
        self.state = State::Dead;
        if previous == State::NeedsReset {
            self.reset().await?;
        }
        let pipelined = self.peer.extensions.pipelining;
        let replies = if pipelined {
            self.exchange_pipelined(&plan).await?
        } else {
            self.exchange_one_by_one(&plan).await?
        };
        self.state = if replies.end.is_some() {
            State::Ready
        } else {
            State::NeedsReset
        };
        Ok(TransactionResult {
            recipients: plan.outcomes(&replies),
            pipelined,
        })
    }

    /// Ends the session politely (QUIT, then closes), without caring how the server answers.
    pub async fn quit(mut self) {
        if self.state != State::Dead {
            self.wire.quit(&self.timeouts).await;
        }
    }

    async fn reset(&mut self) -> Result<(), ConnectionError> {
        let t = self.timeouts.rset;
        let reply = self.wire.command(Stage::Rset, t, "RSET").await?;
        expect(Stage::Rset, reply, |r| r.is_positive()).map(drop)
    }

    /// RFC 2920: MAIL, every RCPT and DATA in one write, then their replies in order.
    async fn exchange_pipelined(&mut self, plan: &Plan) -> Result<Replies, ConnectionError> {
        let t = &self.timeouts;
        let mut group = plan.mail_command.clone();
        for command in &plan.rcpt_commands {
            group.push_str(command);
        }
        group.push_str("DATA\r\n");
        self.wire
            .send(Stage::MailFrom, t.mail_from, group.as_bytes())
            .await?;
        let mail = self.wire.read_reply(Stage::MailFrom, t.mail_from).await?;
        let mail = expect(Stage::MailFrom, mail, is_final)?;
        let mut rcpts = Vec::with_capacity(plan.rcpt_commands.len());
        for _ in &plan.rcpt_commands {
            let reply = self.wire.read_reply(Stage::RcptTo, t.rcpt_to).await?;
            rcpts.push(expect(Stage::RcptTo, reply, is_final)?);
        }
        let data = self.wire.read_reply(Stage::Data, t.data).await?;
        let data = expect(Stage::Data, data, |r| r.code == 354 || is_refusal(r))?;
        let anyone = mail.is_positive() && rcpts.iter().any(Reply::is_positive);
        let end = match (data.code == 354, anyone) {
            (true, true) => Some(self.send_body(&plan.data).await?),
            (true, false) => {
                // The server wants data although no one can receive it (RFC 2920 says it must
                // refuse DATA then). A lone dot keeps the dialogue in step; the empty message
                // has no recipients, and RSET follows.
                self.send_body(b".\r\n").await?;
                None
            }
            (false, _) => None,
        };
        Ok(Replies {
            mail,
            rcpts,
            data: Some(data),
            end,
        })
    }

    async fn exchange_one_by_one(&mut self, plan: &Plan) -> Result<Replies, ConnectionError> {
        let t = self.timeouts.clone();
        let mail = self
            .wire
            .command_line(Stage::MailFrom, t.mail_from, &plan.mail_command)
            .await?;
        let mail = expect(Stage::MailFrom, mail, is_final)?;
        let mut replies = Replies {
            mail,
            rcpts: Vec::new(),
            data: None,
            end: None,
        };
        if !replies.mail.is_positive() {
            return Ok(replies);
        }
        for command in &plan.rcpt_commands {
            let reply = self
                .wire
                .command_line(Stage::RcptTo, t.rcpt_to, command)
                .await?;
            replies.rcpts.push(expect(Stage::RcptTo, reply, is_final)?);
        }
        if !replies.rcpts.iter().any(Reply::is_positive) {
            return Ok(replies);
        }
        let data = self.wire.command(Stage::Data, t.data, "DATA").await?;
        let data = expect(Stage::Data, data, |r| r.code == 354 || is_refusal(r))?;
        if data.code == 354 {
            replies.end = Some(self.send_body(&plan.data).await?);
        }
        replies.data = Some(data);
        Ok(replies)
    }

    /// Sends the wire-form body (ending in the dot) and reads the final reply.
    async fn send_body(&mut self, data: &[u8]) -> Result<Reply, ConnectionError> {
        let t = self.timeouts.clone();
        for chunk in data.chunks(BODY_CHUNK) {
            self.wire.send(Stage::Body, t.data_block, chunk).await?;
        }
        let end = self
            .wire
            .read_reply(Stage::EndOfData, t.end_of_data)
            .await?;
        expect(Stage::EndOfData, end, is_final)
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("state", &self.state)
            .field("transactions", &self.transactions)
            .finish_non_exhaustive()
    }
}

/// EHLO, or HELO when EHLO is refused with 5xx (a server from before ESMTP).
async fn hello(wire: &mut Wire, helo: &str, t: &Timeouts) -> Result<Extensions, ConnectionError> {
    let reply = wire
        .command(Stage::Ehlo, t.ehlo, &format!("EHLO {helo}"))
        .await?;
    if reply.is_positive() {
        return Ok(Extensions::from_ehlo(&reply));
    }
    if reply.code == 421 {
        return Err(ConnectionError::ServiceClosing {
            stage: Stage::Ehlo,
            reply,
        });
    }
    if reply.code / 100 != 5 {
        return Err(ConnectionError::HeloRefused {
            stage: Stage::Ehlo,
            reply,
        });
    }
    let reply = wire
        .command(Stage::Helo, t.ehlo, &format!("HELO {helo}"))
        .await?;
    match reply.code {
        200..=299 => Ok(Extensions::default()),
        421 => Err(ConnectionError::ServiceClosing {
            stage: Stage::Helo,
            reply,
        }),
        _ => Err(ConnectionError::HeloRefused {
            stage: Stage::Helo,
            reply,
        }),
    }
}

fn is_final(reply: &Reply) -> bool {
    reply.is_positive() || is_refusal(reply)
}

fn is_refusal(reply: &Reply) -> bool {
    reply.severity().is_some()
}

/// A reply the stage allows passes; 421 means the server is going away; anything else is out of
/// step with the dialogue.
fn expect(
    stage: Stage,
    reply: Reply,
    allowed: impl Fn(&Reply) -> bool,
) -> Result<Reply, ConnectionError> {
    if reply.code == 421 {
        Err(ConnectionError::ServiceClosing { stage, reply })
    } else if allowed(&reply) {
        Ok(reply)
    } else {
        Err(ConnectionError::UnexpectedReply { stage, reply })
    }
}

async fn tcp_connect(addr: SocketAddr, source: Option<std::net::IpAddr>) -> io::Result<TcpStream> {
    match source {
        None => TcpStream::connect(addr).await,
        Some(source) => {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.bind(SocketAddr::new(source, 0))?;
            socket.connect(addr).await
        }
    }
}

/// The commands of one transaction, prepared before anything is sent.
struct Plan {
    mail_command: String,
    rcpt_commands: Vec<String>,
    /// Index into the caller's recipients of each RCPT command, in order.
    sent: Vec<usize>,
    /// The caller's recipients refused here (bad address); `None` for those sent.
    local: Vec<Option<RecipientOutcome>>,
    data: Vec<u8>,
}

/// What the server answered in one transaction.
struct Replies {
    mail: Reply,
    /// One per RCPT sent (empty when MAIL was refused without pipelining).
    rcpts: Vec<Reply>,
    /// `None` when DATA was not sent.
    data: Option<Reply>,
    /// The reply to the final dot; `None` when no message went out.
    end: Option<Reply>,
}

impl Plan {
    /// Checks the envelope and the message against what the server offers. `Err` holds the
    /// outcome of every recipient when nothing can be sent.
    fn new(
        from: &str,
        recipients: &[&str],
        message: &[u8],
        peer: &PeerInfo,
    ) -> Result<Plan, Vec<RecipientOutcome>> {
        let extensions = &peer.extensions;
        let everyone = |reason: NotSent, reply: Reply| {
            recipients
                .iter()
                .map(|_| RecipientOutcome::NotSent {
                    reason,
                    reply: reply.clone(),
                })
                .collect::<Vec<_>>()
        };
        if !is_writable_address(from) {
            return Err(everyone(
                NotSent::InvalidSender,
                Reply::new(
                    553,
                    EnhancedStatus::new(5, 1, 7),
                    "sender address cannot be sent",
                ),
            ));
        }
        let local: Vec<Option<RecipientOutcome>> = recipients
            .iter()
            .map(|rcpt| {
                (rcpt.is_empty() || !is_writable_address(rcpt)).then(|| RecipientOutcome::NotSent {
                    reason: NotSent::InvalidRecipient,
                    reply: Reply::new(
                        553,
                        EnhancedStatus::new(5, 1, 3),
                        "recipient address cannot be sent",
                    ),
                })
            })
            .collect();
        let sent: Vec<usize> = (0..recipients.len())
            .filter(|&i| local[i].is_none())
            .collect();
        if sent.is_empty() {
            return Err(local.into_iter().flatten().collect());
        }
        let international = !from.is_ascii() || sent.iter().any(|&i| !recipients[i].is_ascii());
        let keep_local = |reason: NotSent, reply: Reply| {
            local
                .iter()
                .map(|l| {
                    l.clone().unwrap_or_else(|| RecipientOutcome::NotSent {
                        reason,
                        reply: reply.clone(),
                    })
                })
                .collect::<Vec<_>>()
        };
        if international && !extensions.smtputf8 {
            return Err(keep_local(
                NotSent::Smtputf8Required,
                Reply::new(
                    553,
                    EnhancedStatus::new(5, 6, 7),
                    format!(
                        "SMTPUTF8 is required for a non-ASCII address, but {} does not offer it",
                        peer.host
                    ),
                ),
            ));
        }
        let data = encode_data(message);
        // RFC 1870 counts the message with CRLF line endings; the stuffed dots and the final
        // ".\r\n" make this a slight over-estimate, which the RFC allows.
        let size = data.len() as u64;
        if let Some(limit) = extensions.max_size
            && size > limit
        {
            return Err(keep_local(
                NotSent::MessageTooBig { size, limit },
                Reply::new(
                    552,
                    EnhancedStatus::new(5, 3, 4),
                    format!(
                        "message size {size} exceeds the fixed maximum message size {limit} of {}",
                        peer.host
                    ),
                ),
            ));
        }
        let mut mail_command = format!("MAIL FROM:<{from}>");
        if extensions.size {
            mail_command.push_str(&format!(" SIZE={size}"));
        }
        // Without 8BITMIME an 8-bit message goes out as it is, like Postfix and KumoMTA do:
        // converting it to 7 bit would break signatures, and nearly every server takes it.
        if extensions.eight_bit_mime && has_eight_bit(message) {
            mail_command.push_str(" BODY=8BITMIME");
        }
        if extensions.smtputf8 && (international || has_eight_bit_headers(message)) {
            mail_command.push_str(" SMTPUTF8");
        }
        mail_command.push_str("\r\n");
        let rcpt_commands = sent
            .iter()
            .map(|&i| format!("RCPT TO:<{}>\r\n", recipients[i]))
            .collect();
        Ok(Plan {
            mail_command,
            rcpt_commands,
            sent,
            local,
            data,
        })
    }

    /// Each recipient's outcome from the server's replies.
    fn outcomes(&self, replies: &Replies) -> Vec<RecipientOutcome> {
        let mut outcomes = self.local.clone();
        for (n, &index) in self.sent.iter().enumerate() {
            let outcome = if !replies.mail.is_positive() {
                RecipientOutcome::MessageRefused {
                    stage: Stage::MailFrom,
                    reply: replies.mail.clone(),
                }
            } else {
                match replies.rcpts.get(n) {
                    Some(rcpt) if !rcpt.is_positive() => {
                        RecipientOutcome::RecipientRefused(rcpt.clone())
                    }
                    _ => match (&replies.end, &replies.data) {
                        (Some(end), _) if end.is_positive() => {
                            RecipientOutcome::Accepted(end.clone())
                        }
                        (Some(end), _) => RecipientOutcome::MessageRefused {
                            stage: Stage::EndOfData,
                            reply: end.clone(),
                        },
                        (None, Some(data)) => RecipientOutcome::MessageRefused {
                            stage: Stage::Data,
                            reply: data.clone(),
                        },
                        (None, None) => {
                            unreachable!("DATA is sent whenever MAIL and a RCPT were accepted")
                        }
                    },
                }
            };
            outcomes[index] = Some(outcome);
        }
        outcomes.into_iter().flatten().collect()
    }
}

/// An address we can put between `<` and `>` without changing the command: no control
/// characters (CR and LF above all), no angle brackets. The null sender is writable.
fn is_writable_address(address: &str) -> bool {
    !address
        .chars()
        .any(|c| c.is_control() || c == '<' || c == '>')
}

/// The socket, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The socket and the bytes read from it but not yet parsed.
struct Wire {
    stream: Stream,
    inbox: Vec<u8>,
}

impl Wire {
    fn new(stream: Stream) -> Wire {
        Wire {
            stream,
            inbox: Vec::new(),
        }
    }

    fn into_plain(self) -> TcpStream {
        match self.stream {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(_) => unreachable!("STARTTLS is only ever sent in plain text"),
        }
    }

    /// Reads one reply; `timeout` bounds the whole reply, so a server that drips bytes cannot
    /// stretch it.
    async fn read_reply(
        &mut self,
        stage: Stage,
        timeout: Duration,
    ) -> Result<Reply, ConnectionError> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        loop {
            match parse_reply(&self.inbox) {
                Ok(Some((reply, used))) => {
                    self.inbox.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(error) => return Err(ConnectionError::Protocol { stage, error }),
            }
            let read = match &mut self.stream {
                Stream::Plain(s) => timeout_at(deadline, s.read(&mut chunk)).await,
                Stream::Tls(s) => timeout_at(deadline, s.read(&mut chunk)).await,
            };
            match read {
                Err(_) => return Err(ConnectionError::Timeout { stage, timeout }),
                Ok(Err(source)) => return Err(ConnectionError::Io { stage, source }),
                Ok(Ok(0)) => return Err(ConnectionError::Closed { stage }),
                Ok(Ok(n)) => self.inbox.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn send(
        &mut self,
        stage: Stage,
        timeout: Duration,
        bytes: &[u8],
    ) -> Result<(), ConnectionError> {
        let write = async {
            match &mut self.stream {
                Stream::Plain(s) => s.write_all(bytes).await,
                Stream::Tls(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
            }
        };
        match tokio::time::timeout(timeout, write).await {
            Err(_) => Err(ConnectionError::Timeout { stage, timeout }),
            Ok(Err(source)) => Err(ConnectionError::Io { stage, source }),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// A command (CRLF added) and its reply.
    async fn command(
        &mut self,
        stage: Stage,
        timeout: Duration,
        command: &str,
    ) -> Result<Reply, ConnectionError> {
        self.command_line(stage, timeout, &format!("{command}\r\n"))
            .await
    }

    /// A command line that already ends in CRLF, and its reply.
    async fn command_line(
        &mut self,
        stage: Stage,
        timeout: Duration,
        line: &str,
    ) -> Result<Reply, ConnectionError> {
        self.send(stage, timeout, line.as_bytes()).await?;
        self.read_reply(stage, timeout).await
    }

    /// Polls the socket once without waiting: `false` when it has been closed, failed, or has
    /// bytes nobody asked for.
    fn is_idle_and_open(&mut self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        let poll = match &mut self.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(&mut cx, &mut buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(&mut cx, &mut buf),
        };
        matches!(poll, Poll::Pending)
    }

    /// QUIT and close, ignoring what the server says: the transaction is over either way.
    async fn quit(&mut self, t: &Timeouts) {
        if self.command(Stage::Quit, t.quit, "QUIT").await.is_ok() {
            let shutdown = async {
                match &mut self.stream {
                    Stream::Plain(s) => s.shutdown().await,
                    Stream::Tls(s) => s.shutdown().await,
                }
            };
            let _ = tokio::time::timeout(t.quit, shutdown).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16) -> Reply {
        Reply {
            code,
            enhanced: None,
            text: format!("r{code}"),
        }
    }

    fn peer(extensions: Extensions) -> PeerInfo {
        PeerInfo {
            host: "mx.example".into(),
            addr: "127.0.0.1:25".parse().unwrap(),
            greeting: reply(220),
            extensions,
            tls: None,
        }
    }

    fn all() -> Extensions {
        Extensions {
            pipelining: true,
            starttls: false,
            eight_bit_mime: true,
            smtputf8: true,
            enhanced_status_codes: true,
            size: true,
            max_size: Some(1000),
        }
    }

    #[test]
    fn mail_command_parameters() {
        let table: &[(&str, &[u8], Extensions, &str)] = &[
            ("a@x", b"hi", all(), "MAIL FROM:<a@x> SIZE=7\r\n"),
            ("", b"hi", all(), "MAIL FROM:<> SIZE=7\r\n"),
            (
                "a@x",
                b"Subject: x\r\n\r\nh\xc3\xa9",
                all(),
                "MAIL FROM:<a@x> SIZE=22 BODY=8BITMIME\r\n",
            ),
            (
                "a@x",
                b"Subject: \xc3\xa9\r\n\r\nh",
                all(),
                "MAIL FROM:<a@x> SIZE=21 BODY=8BITMIME SMTPUTF8\r\n",
            ),
            (
                "j\u{f6}rg@x",
                b"hi",
                all(),
                "MAIL FROM:<j\u{f6}rg@x> SIZE=7 SMTPUTF8\r\n",
            ),
            (
                "a@x",
                b"h\xc3\xa9",
                Extensions::default(),
                "MAIL FROM:<a@x>\r\n",
            ),
        ];
        for (from, message, extensions, expected) in table {
            let plan = Plan::new(from, &["b@y"], message, &peer(extensions.clone()))
                .unwrap_or_else(|_| panic!("{from} not sendable"));
            assert_eq!(plan.mail_command, *expected);
            assert_eq!(plan.rcpt_commands, vec!["RCPT TO:<b@y>\r\n".to_string()]);
        }
    }

    /// Sender, recipients, message, what the server offers, and each recipient's local refusal.
    type Case<'a> = (
        &'a str,
        Vec<&'a str>,
        &'a [u8],
        Extensions,
        Vec<Option<NotSent>>,
    );

    #[test]
    fn refused_before_sending() {
        let big = vec![b'a'; 2000];
        let cases: Vec<Case> = vec![
            (
                "a@x",
                vec!["b@y", "c@y"],
                &big,
                all(),
                vec![
                    Some(NotSent::MessageTooBig {
                        size: 2005,
                        limit: 1000,
                    }),
                    Some(NotSent::MessageTooBig {
                        size: 2005,
                        limit: 1000,
                    }),
                ],
            ),
            (
                "a@x",
                vec!["b@\u{e9}.y"],
                b"hi",
                Extensions::default(),
                vec![Some(NotSent::Smtputf8Required)],
            ),
            (
                "a@x\r\nRSET",
                vec!["b@y"],
                b"hi",
                all(),
                vec![Some(NotSent::InvalidSender)],
            ),
            (
                "a@x",
                vec!["b@y>\r\nDATA", ""],
                b"hi",
                all(),
                vec![
                    Some(NotSent::InvalidRecipient),
                    Some(NotSent::InvalidRecipient),
                ],
            ),
            // A bad recipient keeps its own reason when the message is too big as well.
            (
                "a@x",
                vec!["<b@y>", "c@y"],
                &big,
                all(),
                vec![
                    Some(NotSent::InvalidRecipient),
                    Some(NotSent::MessageTooBig {
                        size: 2005,
                        limit: 1000,
                    }),
                ],
            ),
            // A bad recipient among good ones is dropped; the others go out.
            (
                "a@x",
                vec!["b\0@y", "c@y"],
                b"hi",
                all(),
                vec![Some(NotSent::InvalidRecipient), None],
            ),
        ];
        for (from, rcpts, message, extensions, expected) in cases {
            let reasons: Vec<Option<NotSent>> =
                match Plan::new(from, &rcpts, message, &peer(extensions)) {
                    Err(outcomes) => outcomes
                        .iter()
                        .map(|o| match o {
                            RecipientOutcome::NotSent { reason, reply } => {
                                assert_eq!(reply.code / 100, 5);
                                Some(*reason)
                            }
                            other => panic!("{other:?}"),
                        })
                        .collect(),
                    Ok(plan) => plan
                        .local
                        .iter()
                        .map(|l| match l {
                            Some(RecipientOutcome::NotSent { reason, .. }) => Some(*reason),
                            _ => None,
                        })
                        .collect(),
                };
            assert_eq!(reasons, expected, "{from:?} {rcpts:?}");
        }
    }

    #[test]
    fn outcomes_from_replies() {
        let plan = Plan::new("a@x", &["r1@y", "bad\n@y", "r2@y"], b"hi", &peer(all())).unwrap();
        let run = |mail: u16, rcpts: &[u16], data: Option<u16>, end: Option<u16>| {
            let replies = Replies {
                mail: reply(mail),
                rcpts: rcpts.iter().map(|&c| reply(c)).collect(),
                data: data.map(reply),
                end: end.map(reply),
            };
            plan.outcomes(&replies)
                .iter()
                .map(|o| match o {
                    RecipientOutcome::Accepted(r) => format!("ok {}", r.code),
                    RecipientOutcome::RecipientRefused(r) => format!("rcpt {}", r.code),
                    RecipientOutcome::MessageRefused { stage, reply } => {
                        format!("{stage} {}", reply.code)
                    }
                    RecipientOutcome::NotSent { .. } => "local".to_string(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run(250, &[250, 250], Some(354), Some(250)),
            ["ok 250", "local", "ok 250"]
        );
        assert_eq!(
            run(250, &[550, 250], Some(354), Some(250)),
            ["rcpt 550", "local", "ok 250"]
        );
        assert_eq!(
            run(250, &[451, 250], Some(354), Some(554)),
            ["rcpt 451", "local", "end of data 554"]
        );
        assert_eq!(
            run(250, &[250, 250], Some(451), None),
            ["DATA 451", "local", "DATA 451"]
        );
        assert_eq!(
            run(250, &[550, 451], Some(554), None),
            ["rcpt 550", "local", "rcpt 451"]
        );
        assert_eq!(
            run(250, &[550, 451], None, None),
            ["rcpt 550", "local", "rcpt 451"]
        );
        assert_eq!(
            run(550, &[503, 503], Some(503), None),
            ["MAIL FROM 550", "local", "MAIL FROM 550"]
        );
        assert_eq!(
            run(451, &[], None, None),
            ["MAIL FROM 451", "local", "MAIL FROM 451"]
        );
    }
}
