//! Drives the protocol state machine without sockets, for table tests and fuzzing
//! (`feature = "test-util"`).
//!
//! [`Conversation`] plays the I/O driver exactly as `Server` does (same steps, same discarding
//! of input at STARTTLS) with a scripted policy in place of a handler:
//! - AUTH: `user`/`secret` is accepted, user `tempfail` gets `454 4.7.0`, anything else fails;
//! - MAIL: senders whose local part is `refuse` get `550 5.7.1`, `full` is refused at DATA
//!   with `452 4.3.1`;
//! - RCPT: local part `refuse` gets `550 5.1.1`, `tempfail` gets `450 4.2.1`, `goodbye` gets
//!   `421 4.3.2` (which ends the session);
//! - messages are kept and answered `250 2.0.0 Message accepted <n>`.

use crate::auth::AuthFailures;
use crate::config::ServerConfig;
use crate::handler::{AuthOutcome, SessionContext, TlsInfo};
use crate::metrics::Metrics;
use crate::reply::{EnhancedStatus, Reply};
use crate::session::{Answer, Call, Session, Step};
use hikyaku_model::Envelope;
use std::net::SocketAddr;
use std::sync::Arc;

/// One reply as it went over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireReply {
    pub code: u16,
    /// Each line's text after the code and separator.
    pub lines: Vec<String>,
}

impl WireReply {
    /// `"250 2.1.0"`, or just `"354"` when the reply has no enhanced code.
    pub fn head(&self) -> String {
        let first = self.lines.first().map(String::as_str).unwrap_or("");
        match first.split(' ').next() {
            Some(word)
                if word.split('.').count() == 3
                    && word.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
            {
                format!("{} {word}", self.code)
            }
            _ => self.code.to_string(),
        }
    }
}

/// A session fed from memory.
pub struct Conversation {
    session: Session,
    unconsumed: Vec<u8>,
    output: Vec<u8>,
    messages: Vec<(Envelope, Vec<u8>)>,
    resets: usize,
    closed: bool,
}

impl Conversation {
    /// A session from 127.0.0.1 that has already been greeted.
    pub fn new(config: ServerConfig) -> Self {
        Self::with_peer(config, SocketAddr::from(([127, 0, 0, 1], 40000)))
    }

    pub fn with_peer(config: ServerConfig, peer: SocketAddr) -> Self {
        let auth_failures = Arc::new(AuthFailures::new(
            config.auth.failure_limit,
            config.auth.failure_window,
        ));
        Self::with_auth_failures(config, peer, auth_failures)
    }

    pub fn with_auth_failures(
        config: ServerConfig,
        peer: SocketAddr,
        auth_failures: Arc<AuthFailures>,
    ) -> Self {
        let ctx = SessionContext {
            id: 1,
            peer,
            local: SocketAddr::from(([127, 0, 0, 1], 25)),
            helo: None,
            esmtp: false,
            tls: None,
            authenticated_as: None,
        };
        let metrics = Metrics::new(&config.listener);
        let mut session = Session::new(Arc::new(config), ctx, auth_failures, metrics);
        session.greet();
        let output = session.output().to_vec();
        session.clear_output();
        Conversation {
            session,
            unconsumed: Vec::new(),
            output,
            messages: Vec::new(),
            resets: 0,
            closed: false,
        }
    }

    /// Offers STARTTLS although no TLS configuration is set; the "handshake" always succeeds.
    pub fn offer_starttls(&mut self) {
        self.session.offer_starttls();
    }

    /// Hands bytes to the session as one read from the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.unconsumed.extend_from_slice(bytes);
        let buffer = std::mem::take(&mut self.unconsumed);
        let mut input = &buffer[..];
        loop {
            let step = self.session.advance(&mut input);
            self.output.extend_from_slice(self.session.output());
            self.session.clear_output();
            match step {
                Step::NeedInput => break,
                Step::Call(call) => {
                    let answer = self.decide(call);
                    self.session.answer(answer);
                }
                Step::Reset => self.resets += 1,
                Step::StartTls => {
                    debug_assert!(input.is_empty());
                    self.session.tls_established(TlsInfo {
                        protocol: "TLSv1_3".into(),
                        cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
                    });
                }
                Step::Close => {
                    self.closed = true;
                    break;
                }
            }
        }
        if !self.closed {
            self.unconsumed = input.to_vec();
        }
    }

    /// The idle timeout fired while waiting for input.
    pub fn idle_timeout(&mut self) {
        self.session.idle_timeout();
        self.feed(b"");
    }

    /// The server is shutting down while the session waits for a command.
    pub fn shut_down(&mut self) {
        self.session.shut_down();
        self.feed(b"");
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn context(&self) -> &SessionContext {
        self.session.context()
    }

    pub fn is_receiving_message(&self) -> bool {
        self.session.is_receiving_message()
    }

    /// The heads (`"250 2.1.0"`) of the replies written since the last call; panics when the
    /// output is not well-formed SMTP.
    pub fn take_heads(&mut self) -> Vec<String> {
        let replies = self
            .take_replies()
            .unwrap_or_else(|error| panic!("malformed output: {error}"));
        replies.iter().map(WireReply::head).collect()
    }

    /// Messages accepted so far.
    pub fn messages(&self) -> &[(Envelope, Vec<u8>)] {
        &self.messages
    }

    /// Transactions the handler was told were over.
    pub fn resets(&self) -> usize {
        self.resets
    }

    /// Every byte written to the client so far (greeting included).
    pub fn transcript(&self) -> &[u8] {
        &self.output
    }

    /// The replies written since the last call, or why the output is not well-formed SMTP.
    pub fn take_replies(&mut self) -> Result<Vec<WireReply>, String> {
        let replies = parse_replies(&self.output);
        self.output.clear();
        replies
    }

    fn decide(&mut self, call: Call) -> Answer {
        let status = EnhancedStatus::new;
        match call {
            Call::Authenticate { username, password } => {
                Answer::Authenticate(match (&*username, &*password) {
                    ("user", "secret") => AuthOutcome::Accepted,
                    ("tempfail", _) => AuthOutcome::TempFail(Reply::auth_temporary_failure()),
                    _ => AuthOutcome::Rejected,
                })
            }
            Call::MailFrom { from, .. } => Answer::MailFrom(match local_part(&from) {
                "refuse" => Err(Reply::new(550, status(5, 7, 1), "Sender refused")),
                _ => Ok(()),
            }),
            Call::RcptTo { to } => Answer::RcptTo(match local_part(&to) {
                "refuse" => Err(Reply::new(550, status(5, 1, 1), "No such user")),
                "tempfail" => Err(Reply::new(450, status(4, 2, 1), "Try later")),
                "goodbye" => Err(Reply::new(421, status(4, 3, 2), "Going away")),
                _ => Ok(()),
            }),
            // The transaction's sender is not part of the call; the session context is enough
            // for the engine, so "full" is keyed on the HELO name here.
            Call::DataStart => Answer::DataStart(match self.session.context().helo.as_deref() {
                Some("full") => Err(Reply::insufficient_storage()),
                _ => Ok(()),
            }),
            Call::Message { envelope, body } => {
                self.messages.push((envelope, body));
                Answer::Message(Reply::message_accepted(self.messages.len()))
            }
        }
    }
}

fn local_part(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(local, _)| local)
}

/// Ends any conversation the way a client that has lost its place would: the end of data, an
/// AUTH cancel, RSET and QUIT. Then checks what must hold whatever came before: all output is
/// well-formed replies, the input got at least one reply after the greeting, and the session
/// is closed with `221` or `421` (it answered its way out instead of hanging).
pub fn recover_and_check(conversation: &mut Conversation) -> Result<Vec<WireReply>, String> {
    // One read per line: input in the same read as a STARTTLS is rightly thrown away.
    for line in [&b"\r\n"[..], b".\r\n", b"*\r\n", b"RSET\r\n", b"QUIT\r\n"] {
        conversation.feed(line);
    }
    let replies = parse_replies(conversation.transcript())?;
    if !conversation.is_closed() {
        return Err("the session is still open after QUIT".to_string());
    }
    match replies.last() {
        _ if replies.len() < 2 => Err("no reply after the greeting".to_string()),
        Some(last) if matches!(last.code, 221 | 421) => Ok(replies),
        last => Err(format!("last reply {last:?}")),
    }
}

/// Splits output into replies, checking that every line is `DDD[ -]text CRLF` with a code
/// 200..=599 and that continuation lines keep the code.
pub fn parse_replies(mut output: &[u8]) -> Result<Vec<WireReply>, String> {
    let mut replies = Vec::new();
    let mut current: Option<WireReply> = None;
    while !output.is_empty() {
        let end = output
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| format!("unterminated line {:?}", String::from_utf8_lossy(output)))?;
        let line =
            std::str::from_utf8(&output[..end]).map_err(|_| "reply is not UTF-8".to_string())?;
        output = &output[end + 2..];
        if line.len() < 4 || !line.is_char_boundary(3) || !line.is_char_boundary(4) {
            return Err(format!("short reply line {line:?}"));
        }
        let code: u16 = line[..3]
            .parse()
            .map_err(|_| format!("bad code in {line:?}"))?;
        if !(200..=599).contains(&code) {
            return Err(format!("code out of range in {line:?}"));
        }
        let more = match line.as_bytes()[3] {
            b'-' => true,
            b' ' => false,
            _ => return Err(format!("bad separator in {line:?}")),
        };
        let reply = current.get_or_insert_with(|| WireReply {
            code,
            lines: Vec::new(),
        });
        if reply.code != code {
            return Err(format!("continuation changed the code in {line:?}"));
        }
        reply.lines.push(line[4..].to_string());
        if !more {
            replies.extend(current.take());
        }
    }
    match current {
        Some(open) => Err(format!("reply never finished: {open:?}")),
        None => Ok(replies),
    }
}
