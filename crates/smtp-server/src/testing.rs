//! Drives the protocol state machine without sockets, for table tests, fuzzing and in-memory
//! tests of the real handlers (`feature = "test-util"`).
//!
//! Both play the I/O driver exactly as `Server` does (same steps, same discarding of input at
//! STARTTLS). [`HandlerConversation`] calls a real [`SessionHandler`] (the relay's, the error
//! server's); [`Conversation`] has a scripted policy in place of a handler:
//! - AUTH: `user`/`secret` is accepted, user `tempfail` gets `454 4.7.0`, anything else fails;
//! - MAIL: senders whose local part is `refuse` get `550 5.7.1`, `full` is refused at DATA
//!   with `452 4.3.1`;
//! - RCPT: local part `refuse` gets `550 5.1.1`, `tempfail` gets `450 4.2.1`, `goodbye` gets
//!   `421 4.3.2` (which ends the session);
//! - messages are kept and answered `250 2.0.0 Message accepted <n>`.

use crate::auth::AuthFailures;
use crate::config::ServerConfig;
use crate::handler::{AuthOutcome, SessionContext, SessionHandler, TlsInfo};
use crate::metrics::Metrics;
use crate::session::{Answer, Call, Session, Step};
use hikyaku_model::Envelope;
use hikyaku_model::smtp::{EnhancedStatus, Reply};
use std::net::SocketAddr;
use std::sync::Arc;

/// One reply as it went over the wire, line by line. Not the shared [`Reply`]: this is the
/// checker of what the session writes, so it keeps each line as written (the shared parser is
/// lenient with sloppy servers and folds the repeated enhanced codes away).
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
            Some(word) if EnhancedStatus::parse(word).is_some() => format!("{} {word}", self.code),
            _ => self.code.to_string(),
        }
    }
}

/// The session and its input and output, kept as `Server` keeps them, minus the socket.
struct Wire {
    session: Session,
    /// Input read so far; the session has used `unconsumed[start..]` not yet.
    unconsumed: Vec<u8>,
    start: usize,
    output: Vec<u8>,
    closed: bool,
}

/// What the session wants from its policy next.
enum Event {
    Call(Call),
    Reset,
}

impl Wire {
    fn new(mut session: Session) -> Self {
        session.greet();
        let output = session.output().to_vec();
        session.clear_output();
        Wire {
            session,
            unconsumed: Vec::new(),
            start: 0,
            output,
            closed: false,
        }
    }

    /// Bytes as one read from the socket.
    fn push(&mut self, bytes: &[u8]) {
        if !self.closed {
            self.unconsumed.extend_from_slice(bytes);
        }
    }

    /// Advances the session over the input read so far until it asks the policy something
    /// (`Some`) or needs more input or is closed (`None`). STARTTLS "handshakes" succeed at once.
    fn next_event(&mut self) -> Option<Event> {
        while !self.closed {
            let mut input = &self.unconsumed[self.start..];
            let step = self.session.advance(&mut input);
            self.start = self.unconsumed.len() - input.len();
            self.output.extend_from_slice(self.session.output());
            self.session.clear_output();
            match step {
                Step::NeedInput => {
                    self.unconsumed.drain(..self.start);
                    self.start = 0;
                    return None;
                }
                Step::Call(call) => return Some(Event::Call(call)),
                Step::Reset => return Some(Event::Reset),
                Step::StartTls => {
                    debug_assert_eq!(self.start, self.unconsumed.len());
                    self.session.tls_established(TlsInfo {
                        protocol: "TLSv1_3".into(),
                        cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
                        verified: false,
                    });
                }
                Step::Close => {
                    self.closed = true;
                    self.unconsumed.clear();
                    self.start = 0;
                }
            }
        }
        None
    }

    fn take_replies(&mut self) -> Result<Vec<WireReply>, String> {
        let replies = parse_replies(&self.output);
        self.output.clear();
        replies
    }

    fn take_heads(&mut self) -> Vec<String> {
        let replies = self
            .take_replies()
            .unwrap_or_else(|error| panic!("malformed output: {error}"));
        replies.iter().map(WireReply::head).collect()
    }
}

fn greeted_context(peer: SocketAddr) -> SessionContext {
    SessionContext {
        id: 1,
        peer,
        local: SocketAddr::from(([127, 0, 0, 1], 25)),
        helo: None,
        esmtp: false,
        tls: None,
        authenticated_as: None,
    }
}

fn new_auth_failures(config: &ServerConfig) -> Arc<AuthFailures> {
    Arc::new(AuthFailures::new(
        config.auth.failure_limit,
        config.auth.failure_window,
    ))
}

/// A session fed from memory.
pub struct Conversation {
    wire: Wire,
    messages: Vec<(Envelope, Vec<u8>)>,
    resets: usize,
}

impl Conversation {
    /// A session from 127.0.0.1 that has already been greeted.
    pub fn new(config: ServerConfig) -> Self {
        Self::with_peer(config, SocketAddr::from(([127, 0, 0, 1], 40000)))
    }

    pub fn with_peer(config: ServerConfig, peer: SocketAddr) -> Self {
        let auth_failures = new_auth_failures(&config);
        Self::with_auth_failures(config, peer, auth_failures)
    }

    pub fn with_auth_failures(
        config: ServerConfig,
        peer: SocketAddr,
        auth_failures: Arc<AuthFailures>,
    ) -> Self {
        let metrics = Metrics::new(&config.listener);
        let session = Session::new(
            Arc::new(config),
            greeted_context(peer),
            auth_failures,
            metrics,
        );
        Conversation {
            wire: Wire::new(session),
            messages: Vec::new(),
            resets: 0,
        }
    }

    /// Offers STARTTLS although no TLS configuration is set; the "handshake" always succeeds.
    pub fn offer_starttls(&mut self) {
        self.wire.session.offer_starttls();
    }

    /// Hands bytes to the session as one read from the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.wire.push(bytes);
        while let Some(event) = self.wire.next_event() {
            match event {
                Event::Call(call) => {
                    let answer = self.decide(call);
                    self.wire.session.answer(answer);
                }
                Event::Reset => self.resets += 1,
            }
        }
    }

    /// The idle timeout fired while waiting for input.
    pub fn idle_timeout(&mut self) {
        self.wire.session.idle_timeout();
        self.feed(b"");
    }

    /// The server is shutting down while the session waits for a command.
    pub fn shut_down(&mut self) {
        self.wire.session.shut_down();
        self.feed(b"");
    }

    pub fn is_closed(&self) -> bool {
        self.wire.closed
    }

    pub fn context(&self) -> &SessionContext {
        self.wire.session.context()
    }

    pub fn is_receiving_message(&self) -> bool {
        self.wire.session.is_receiving_message()
    }

    /// The heads (`"250 2.1.0"`) of the replies written since the last call; panics when the
    /// output is not well-formed SMTP.
    pub fn take_heads(&mut self) -> Vec<String> {
        self.wire.take_heads()
    }

    /// Messages accepted so far.
    pub fn messages(&self) -> &[(Envelope, Vec<u8>)] {
        &self.messages
    }

    /// Transactions the handler was told were over.
    pub fn resets(&self) -> usize {
        self.resets
    }

    /// Every byte written to the client since the replies were last taken (greeting included
    /// until then).
    pub fn transcript(&self) -> &[u8] {
        &self.wire.output
    }

    /// The replies written since the last call, or why the output is not well-formed SMTP.
    pub fn take_replies(&mut self) -> Result<Vec<WireReply>, String> {
        self.wire.take_replies()
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
            Call::DataStart => Answer::DataStart(match self.context().helo.as_deref() {
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

/// A session fed from memory whose policy is a real [`SessionHandler`] (the relay's, the error
/// server's), called exactly as `Server` calls it: the handler's store, spool and everything
/// behind them are real; only the socket is missing.
pub struct HandlerConversation<H: SessionHandler> {
    wire: Wire,
    handler: H,
    state: Option<H::State>,
}

impl<H: SessionHandler> HandlerConversation<H> {
    /// Connects from `peer`: the handler's `connect` decides, as for a TCP connection. `Err` is
    /// the refusal the client would read instead of the greeting.
    pub async fn connect(
        handler: H,
        config: ServerConfig,
        peer: SocketAddr,
    ) -> Result<Self, WireReply> {
        let ctx = greeted_context(peer);
        let state = match handler.connect(&ctx).await {
            Ok(state) => state,
            Err(reply) => {
                let refusal = crate::session::refusal(reply).to_bytes();
                let mut replies = parse_replies(&refusal).expect("a refusal is one reply");
                return Err(replies.remove(0));
            }
        };
        let auth_failures = new_auth_failures(&config);
        let metrics = Metrics::new(&config.listener);
        let session = Session::new(Arc::new(config), ctx, auth_failures, metrics);
        Ok(HandlerConversation {
            wire: Wire::new(session),
            handler,
            state: Some(state),
        })
    }

    /// Offers STARTTLS although no TLS configuration is set; the "handshake" always succeeds.
    pub fn offer_starttls(&mut self) {
        self.wire.session.offer_starttls();
    }

    /// Hands bytes to the session as one read from the socket, and waits for the handler's
    /// answers to whatever they complete.
    pub async fn feed(&mut self, bytes: &[u8]) {
        self.wire.push(bytes);
        while let Some(event) = self.wire.next_event() {
            let state = self.state.as_mut().expect("the connection is open");
            match event {
                Event::Call(call) => {
                    let answer =
                        crate::server::ask(&self.handler, state, self.wire.session.context(), call)
                            .await;
                    self.wire.session.answer(answer);
                }
                Event::Reset => self.handler.reset(state),
            }
        }
    }

    /// Sends one command line (CRLF added) and returns the heads of the replies it brought.
    pub async fn send(&mut self, line: &str) -> Vec<String> {
        self.feed(format!("{line}\r\n").as_bytes()).await;
        self.take_heads()
    }

    /// Sends a message's text after `354` (dot-stuffing and the final dot added) and returns
    /// the reply to the end of DATA.
    pub async fn send_data(&mut self, text: &str) -> WireReply {
        let mut wire = Vec::new();
        for line in text.lines() {
            if line.starts_with('.') {
                wire.push(b'.');
            }
            wire.extend_from_slice(line.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b".\r\n");
        self.feed(&wire).await;
        let mut replies = self
            .take_replies()
            .unwrap_or_else(|error| panic!("malformed output: {error}"));
        assert_eq!(
            replies.len(),
            1,
            "one reply to the end of DATA: {replies:?}"
        );
        replies.remove(0)
    }

    /// The heads of the replies written since the last call; panics on malformed output.
    pub fn take_heads(&mut self) -> Vec<String> {
        self.wire.take_heads()
    }

    /// The replies written since the last call, or why the output is not well-formed SMTP.
    pub fn take_replies(&mut self) -> Result<Vec<WireReply>, String> {
        self.wire.take_replies()
    }

    pub fn is_closed(&self) -> bool {
        self.wire.closed
    }

    pub fn context(&self) -> &SessionContext {
        self.wire.session.context()
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Ends the connection as a dropped socket would: the handler hears `disconnect`.
    pub fn disconnect(mut self) {
        if let Some(state) = self.state.take() {
            self.handler.disconnect(state, self.wire.session.context());
        }
    }
}

fn local_part(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(local, _)| local)
}

/// The body of the `smtp_session` fuzz target, shared by `cargo fuzz` and the stable harness.
/// The first input byte chooses the options (STARTTLS offered, plaintext AUTH allowed, error
/// limit), the second the read size; the rest is what the client sends. Every input must leave
/// well-formed replies and a session that answers its way out (see [`recover_and_check`]), and
/// every accepted message must have CRLF line ends only, its last line complete, whatever line
/// ends the client used (see [`check_line_ends`]).
pub fn check_session(data: &[u8]) -> Result<(), String> {
    let [options, read_size, input @ ..] = data else {
        return Ok(());
    };
    let mut config = ServerConfig::new("fuzz.test");
    config.max_message_size = 4096;
    config.max_recipients = 4;
    config.auth.allow_plaintext_on_loopback = options & 1 != 0;
    config.max_errors = [0, 1, 5, 20][usize::from(options >> 1 & 3)];
    let mut conversation = Conversation::new(config);
    if options & 8 != 0 {
        conversation.offer_starttls();
    }
    for chunk in input.chunks(usize::from(*read_size).max(1)) {
        conversation.feed(chunk);
    }
    recover_and_check(&mut conversation)?;
    conversation
        .messages()
        .iter()
        .try_for_each(|(_, body)| check_line_ends(body))
}

/// A message as the engine hands it on: no CR without LF after it, no LF without CR before it,
/// and empty or ending in CRLF, so nothing further along can read a line end or an end of data
/// into it that the engine did not.
pub fn check_line_ends(body: &[u8]) -> Result<(), String> {
    for (i, &b) in body.iter().enumerate() {
        let bare = match b {
            b'\r' => body.get(i + 1) != Some(&b'\n'),
            b'\n' => i == 0 || body[i - 1] != b'\r',
            _ => false,
        };
        if bare {
            return Err(format!(
                "bare {} at {i} in an accepted message: {:?}",
                if b == b'\r' { "CR" } else { "LF" },
                String::from_utf8_lossy(body)
            ));
        }
    }
    if !body.is_empty() && !body.ends_with(b"\r\n") {
        return Err(format!(
            "accepted message ends mid-line: {:?}",
            String::from_utf8_lossy(body)
        ));
    }
    Ok(())
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
