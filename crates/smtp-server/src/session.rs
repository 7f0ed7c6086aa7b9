//! The SMTP session as a state machine without I/O: bytes in, reply bytes out, and the points
//! where the handler must decide. The driver in `server.rs` owns the socket and the handler.

use crate::auth::{self, AuthFailures, SaslError};
use crate::command::{self, Command, Mechanism};
use crate::config::ServerConfig;
use crate::framing::{Framed, LineFramer, MessageFault, MessageReader};
use crate::handler::{AuthOutcome, MailParams, SessionContext, TlsInfo};
use crate::metrics::Metrics;
use hikyaku_model::Envelope;
use hikyaku_model::smtp::{EnhancedStatus, Reply};
use std::sync::Arc;
use std::time::Instant;

/// What the driver must do next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Flush the output, then offer more input (with everything not consumed before it).
    NeedInput,
    /// Ask the handler, then give its decision to [`Session::answer`].
    Call(Call),
    /// Tell the handler the transaction is over ([`crate::SessionHandler::reset`]); no answer.
    Reset,
    /// Flush the output (the `220`), then hand the connection to TLS; the rest of the input has
    /// been discarded. Report the result with [`Session::tls_established`].
    StartTls,
    /// Flush the output and close the connection.
    Close,
}

/// A question for the handler.
#[derive(Debug)]
pub(crate) enum Call {
    Authenticate { username: String, password: String },
    MailFrom { from: String, params: MailParams },
    RcptTo { to: String },
    DataStart,
    Message { envelope: Envelope, body: Vec<u8> },
}

/// The handler's decision on the outstanding [`Call`].
#[derive(Debug)]
pub(crate) enum Answer {
    Authenticate(AuthOutcome),
    MailFrom(Result<(), Reply>),
    RcptTo(Result<(), Reply>),
    DataStart(Result<(), Reply>),
    Message(Reply),
}

/// Where the conversation stands.
#[derive(Debug)]
enum State {
    /// Greeting sent; no HELO/EHLO yet (also right after STARTTLS).
    Connected,
    /// HELO/EHLO done, no transaction.
    Greeted,
    /// MAIL accepted, no recipient yet.
    Mail(Transaction),
    /// At least one recipient accepted.
    Rcpt(Transaction),
    /// `354` sent; message text arriving.
    Data(Transaction, MessageReader),
    /// Inside an AUTH exchange: the next line is a SASL response, not a command.
    Auth(AuthExchange),
    Closed,
}

#[derive(Debug)]
struct Transaction {
    from: String,
    params: MailParams,
    recipients: Vec<String>,
}

#[derive(Debug)]
enum AuthExchange {
    PlainResponse,
    LoginUsername,
    LoginPassword { username: String },
}

/// What the outstanding handler call needs remembered to apply its answer.
#[derive(Debug)]
enum Awaiting {
    Mail(Transaction),
    Rcpt(String),
    DataStart,
    Message { size: usize },
    Auth(String),
}

const fn status(class: u8, subject: u16, detail: u16) -> EnhancedStatus {
    EnhancedStatus::new(class, subject, detail)
}

pub(crate) struct Session {
    config: Arc<ServerConfig>,
    ctx: SessionContext,
    state: State,
    framer: LineFramer,
    output: Vec<u8>,
    errors: u32,
    awaiting: Option<Awaiting>,
    queued: Option<Step>,
    starttls_offered: bool,
    /// Closed on the client's misbehaviour, which may still be arriving.
    cut_off: bool,
    auth_failures: Arc<AuthFailures>,
    metrics: Metrics,
}

impl Session {
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        ctx: SessionContext,
        auth_failures: Arc<AuthFailures>,
        metrics: Metrics,
    ) -> Self {
        let starttls_offered = config.tls.is_some();
        Session {
            config,
            ctx,
            state: State::Connected,
            framer: LineFramer::default(),
            output: Vec::with_capacity(512),
            errors: 0,
            awaiting: None,
            queued: None,
            starttls_offered,
            cut_off: false,
            auth_failures,
            metrics,
        }
    }

    /// Offers STARTTLS without a TLS configuration, for driving the state machine alone.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn offer_starttls(&mut self) {
        self.starttls_offered = self.ctx.tls.is_none();
    }

    pub(crate) fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Reply bytes not yet written.
    pub(crate) fn output(&self) -> &[u8] {
        &self.output
    }

    pub(crate) fn clear_output(&mut self) {
        self.output.clear();
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Whether the session was closed on a client that may still be sending (too many errors):
    /// the driver should drain input before closing so the final reply is not lost to a reset.
    pub(crate) fn was_cut_off(&self) -> bool {
        self.cut_off
    }

    /// Whether message text is arriving: the DATA timeout applies, and shutdown waits for it.
    pub(crate) fn is_receiving_message(&self) -> bool {
        matches!(self.state, State::Data(..))
    }

    pub(crate) fn greet(&mut self) {
        let greeting = Reply::plain(220, format!("{} ESMTP Hikyaku", self.config.hostname));
        self.send(&greeting);
    }

    pub(crate) fn idle_timeout(&mut self) {
        let reply = Reply::new(
            421,
            status(4, 4, 2),
            format!("{} Idle timeout, closing connection", self.config.hostname),
        );
        self.close_with(&reply);
        self.metrics.closed_idle.increment(1);
    }

    pub(crate) fn shut_down(&mut self) {
        self.close_with(&Reply::new(421, status(4, 3, 2), "Service shutting down"));
        self.metrics.closed_shutdown.increment(1);
    }

    /// RFC 3207 §4.2: after the handshake the client starts over, knowing nothing.
    pub(crate) fn tls_established(&mut self, info: TlsInfo) {
        self.ctx.tls = Some(info);
        self.ctx.helo = None;
        self.ctx.esmtp = false;
        self.starttls_offered = false;
        self.framer.clear();
        self.state = State::Connected;
    }

    pub(crate) fn advance(&mut self, input: &mut &[u8]) -> Step {
        debug_assert!(
            self.awaiting.is_none(),
            "advance with a handler call outstanding"
        );
        loop {
            if let Some(step) = self.queued.take() {
                return step;
            }
            match &mut self.state {
                State::Closed => {
                    *input = &[];
                    return Step::Close;
                }
                State::Data(_, reader) => {
                    let Some(end) = reader.ingest(input) else {
                        return Step::NeedInput;
                    };
                    if let Some(step) = self.end_of_data(end) {
                        return step;
                    }
                }
                _ => match self.framer.next(input) {
                    Framed::NeedMore => return Step::NeedInput,
                    Framed::TooLong => {
                        if matches!(self.state, State::Auth(_)) {
                            self.state = State::Greeted;
                        }
                        self.refuse(Reply::new(500, status(5, 5, 2), "Line too long"));
                    }
                    Framed::Line(line) => {
                        if let Some(step) = self.line(line) {
                            if matches!(step, Step::StartTls) {
                                // Plaintext pipelined after STARTTLS must not be taken as
                                // commands of the protected session (RFC 3207 §6).
                                *input = &[];
                            }
                            return step;
                        }
                    }
                },
            }
        }
    }

    pub(crate) fn answer(&mut self, answer: Answer) {
        let awaiting = self.awaiting.take();
        match (awaiting, answer) {
            (Some(Awaiting::Mail(transaction)), Answer::MailFrom(verdict)) => match verdict {
                Ok(()) => {
                    self.state = State::Mail(transaction);
                    self.send(&Reply::sender_ok());
                }
                Err(reply) => self.refuse(refusal(reply)),
            },
            (Some(Awaiting::Rcpt(to)), Answer::RcptTo(verdict)) => match verdict {
                Ok(()) => {
                    let state = std::mem::replace(&mut self.state, State::Greeted);
                    let (State::Mail(mut transaction) | State::Rcpt(mut transaction)) = state
                    else {
                        unreachable!("RCPT is only asked inside a transaction");
                    };
                    transaction.recipients.push(to);
                    self.state = State::Rcpt(transaction);
                    self.send(&Reply::recipient_ok());
                }
                Err(reply) => self.refuse(refusal(reply)),
            },
            (Some(Awaiting::DataStart), Answer::DataStart(verdict)) => match verdict {
                Ok(()) => {
                    let state = std::mem::replace(&mut self.state, State::Greeted);
                    let State::Rcpt(transaction) = state else {
                        unreachable!("DATA is only asked with recipients");
                    };
                    let reader =
                        MessageReader::new(self.config.max_message_size, transaction.params.size);
                    self.state = State::Data(transaction, reader);
                    self.send(&Reply::plain(354, "End data with <CR><LF>.<CR><LF>"));
                }
                Err(reply) => {
                    self.state = State::Greeted;
                    self.queued = Some(Step::Reset);
                    self.refuse(refusal(reply));
                }
            },
            (Some(Awaiting::Message { size }), Answer::Message(reply)) => {
                self.queued = Some(Step::Reset);
                if reply.is_positive() {
                    self.metrics.messages_accepted.increment(1);
                    self.metrics.message_bytes.increment(size as u64);
                    self.send(&reply);
                } else {
                    self.metrics.rejected_by_handler.increment(1);
                    self.refuse(refusal(reply));
                }
            }
            (Some(Awaiting::Auth(username)), Answer::Authenticate(outcome)) => match outcome {
                AuthOutcome::Accepted => {
                    self.ctx.authenticated_as = Some(username);
                    self.send(&Reply::new(
                        235,
                        status(2, 7, 0),
                        "Authentication successful",
                    ));
                }
                AuthOutcome::Rejected => self.auth_failed(),
                AuthOutcome::TempFail(reply) => {
                    let reply = refusal(reply);
                    self.send(&reply);
                    if reply.code == 421 {
                        self.state = State::Closed;
                    }
                }
            },
            (awaiting, answer) => {
                debug_assert!(false, "answer {answer:?} does not match {awaiting:?}");
                tracing::error!(
                    ?awaiting,
                    ?answer,
                    "handler answer does not match the question"
                );
                self.close_with(&Reply::temporary_failure(
                    "Internal error, closing connection",
                ));
            }
        }
    }

    fn line(&mut self, line: &[u8]) -> Option<Step> {
        if let State::Auth(_) = self.state {
            return self.auth_response(line);
        }
        let command = match command::parse(line) {
            Ok(command) => command,
            Err(reply) => {
                self.refuse(reply);
                return None;
            }
        };
        match command {
            Command::Ehlo(host) => return self.hello(host, true),
            Command::Helo(host) => return self.hello(host, false),
            Command::Mail { from, params } => match self.state {
                State::Connected => self.refuse(need_helo()),
                State::Mail(_) | State::Rcpt(_) => {
                    self.refuse(Reply::new(503, status(5, 5, 1), "Nested MAIL command"));
                }
                _ if params
                    .size
                    .is_some_and(|size| size > self.config.max_message_size as u64) =>
                {
                    self.refuse(command::size_exceeded());
                }
                _ => {
                    let transaction = Transaction {
                        from: from.clone(),
                        params: params.clone(),
                        recipients: Vec::new(),
                    };
                    self.awaiting = Some(Awaiting::Mail(transaction));
                    return Some(Step::Call(Call::MailFrom { from, params }));
                }
            },
            Command::Rcpt { to, utf8 } => match &self.state {
                State::Mail(transaction) | State::Rcpt(transaction) => {
                    if transaction.recipients.len() >= self.config.max_recipients {
                        // A limit, not a client error: RFC 5321 §4.5.3.1.8 clients retry the
                        // rest in another transaction, so this does not count toward max_errors.
                        self.send(&Reply::new(452, status(4, 5, 3), "Too many recipients"));
                    } else if utf8 && !transaction.params.smtputf8 {
                        self.refuse(command::needs_smtputf8());
                    } else {
                        self.awaiting = Some(Awaiting::Rcpt(to.clone()));
                        return Some(Step::Call(Call::RcptTo { to }));
                    }
                }
                State::Connected => self.refuse(need_helo()),
                _ => self.refuse(need_mail()),
            },
            Command::Data => match self.state {
                State::Rcpt(_) => {
                    self.awaiting = Some(Awaiting::DataStart);
                    return Some(Step::Call(Call::DataStart));
                }
                State::Mail(_) => {
                    self.refuse(Reply::new(503, status(5, 5, 1), "Need RCPT command"))
                }
                State::Connected => self.refuse(need_helo()),
                _ => self.refuse(need_mail()),
            },
            Command::Rset => {
                let step = self.end_transaction();
                self.send(&Reply::ok());
                return step;
            }
            Command::Noop => self.send(&Reply::ok()),
            Command::Quit => {
                let bye = Reply::new(
                    221,
                    status(2, 0, 0),
                    format!("{} closing connection", self.config.hostname),
                );
                self.close_with(&bye);
                return Some(Step::Close);
            }
            Command::Vrfy => self.send(&Reply::new(
                252,
                status(2, 5, 0),
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            Command::Help => self.send(&Reply::new(
                214,
                status(2, 0, 0),
                "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
            )),
            Command::StartTls => return self.starttls(),
            Command::Auth {
                mechanism,
                initial_response,
            } => return self.auth_command(mechanism, initial_response),
            Command::NotImplemented => {
                self.refuse(Reply::new(502, status(5, 5, 1), "Command not implemented"))
            }
        }
        None
    }

    /// HELO/EHLO: also ends any transaction (RFC 5321 §4.1.4).
    fn hello(&mut self, host: String, esmtp: bool) -> Option<Step> {
        let step = self.end_transaction();
        self.ctx.helo = Some(host);
        self.ctx.esmtp = esmtp;
        self.state = State::Greeted;
        let reply = if esmtp {
            self.ehlo_reply()
        } else {
            Reply::plain(250, self.config.hostname.clone())
        };
        self.send(&reply);
        step
    }

    fn ehlo_reply(&self) -> Reply {
        let mut lines = vec![
            self.config.hostname.clone(),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.config.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if self.starttls_offered {
            lines.push("STARTTLS".to_string());
        }
        if self.config.auth.enabled && self.auth_allowed() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        lines.push("HELP".to_string());
        Reply::plain(250, lines.join("\n"))
    }

    /// AUTH needs TLS, except on loopback when the operator allows it.
    fn auth_allowed(&self) -> bool {
        self.ctx.tls.is_some()
            || (self.config.auth.allow_plaintext_on_loopback
                && self.ctx.peer.ip().to_canonical().is_loopback())
    }

    fn starttls(&mut self) -> Option<Step> {
        if !self.starttls_offered {
            let reply = match self.ctx.tls {
                Some(_) => Reply::new(503, status(5, 5, 1), "TLS already active"),
                None => Reply::new(502, status(5, 5, 1), "STARTTLS not available"),
            };
            self.refuse(reply);
            return None;
        }
        match self.state {
            State::Mail(_) | State::Rcpt(_) => {
                self.refuse(Reply::new(
                    503,
                    status(5, 5, 1),
                    "STARTTLS not permitted during a mail transaction",
                ));
                None
            }
            // Starting TLS would have to forget the authentication (RFC 3207 §4.2); refusing
            // keeps what the handler was told consistent.
            _ if self.ctx.authenticated_as.is_some() => {
                self.refuse(Reply::new(503, status(5, 5, 1), "Already authenticated"));
                None
            }
            _ => {
                self.send(&Reply::new(220, status(2, 0, 0), "Ready to start TLS"));
                Some(Step::StartTls)
            }
        }
    }

    fn auth_command(
        &mut self,
        mechanism: Mechanism,
        initial_response: Option<String>,
    ) -> Option<Step> {
        if !self.config.auth.enabled {
            self.refuse(Reply::new(502, status(5, 5, 1), "AUTH not available"));
            return None;
        }
        match self.state {
            State::Connected => {
                self.refuse(Reply::new(503, status(5, 5, 1), "Send EHLO first"));
                return None;
            }
            State::Mail(_) | State::Rcpt(_) => {
                self.refuse(Reply::new(
                    503,
                    status(5, 5, 1),
                    "AUTH not permitted during a mail transaction",
                ));
                return None;
            }
            _ => {}
        }
        if self.ctx.authenticated_as.is_some() {
            self.refuse(Reply::new(503, status(5, 5, 1), "Already authenticated"));
            return None;
        }
        if !self.auth_allowed() {
            self.refuse(Reply::new(
                538,
                status(5, 7, 11),
                "Encryption required for requested authentication mechanism",
            ));
            return None;
        }
        if self
            .auth_failures
            .is_blocked(self.ctx.peer.ip(), Instant::now())
        {
            self.metrics.auth_throttled.increment(1);
            self.refuse(Reply::new(
                454,
                status(4, 7, 0),
                "Too many authentication failures, try again later",
            ));
            return None;
        }
        match (mechanism, initial_response) {
            (Mechanism::Plain, None) => {
                self.state = State::Auth(AuthExchange::PlainResponse);
                self.send(&Reply::plain(334, ""));
                None
            }
            (Mechanism::Plain, Some(response)) => self.plain(&response),
            (Mechanism::Login, None) => {
                self.state = State::Auth(AuthExchange::LoginUsername);
                self.send(&Reply::plain(334, auth::LOGIN_USERNAME_CHALLENGE));
                None
            }
            (Mechanism::Login, Some(response)) => {
                self.login_username(&response);
                None
            }
            (Mechanism::Unsupported, _) => {
                self.refuse(Reply::new(
                    504,
                    status(5, 5, 4),
                    "Unrecognized authentication type",
                ));
                None
            }
        }
    }

    fn auth_response(&mut self, line: &[u8]) -> Option<Step> {
        let State::Auth(exchange) = std::mem::replace(&mut self.state, State::Greeted) else {
            unreachable!("only called inside an AUTH exchange");
        };
        let response = match line.strip_suffix(b"\r\n").map(std::str::from_utf8) {
            Some(Ok(text)) => text.trim(),
            _ => {
                self.refuse(malformed_response());
                return None;
            }
        };
        if response == "*" {
            self.refuse(Reply::new(501, status(5, 7, 0), "Authentication cancelled"));
            return None;
        }
        match exchange {
            AuthExchange::PlainResponse => return self.plain(response),
            AuthExchange::LoginUsername => self.login_username(response),
            AuthExchange::LoginPassword { username } => match auth::decode_response(response) {
                Ok(password) => return Some(self.authenticate(username, password)),
                Err(_) => self.refuse(malformed_response()),
            },
        }
        None
    }

    fn plain(&mut self, response: &str) -> Option<Step> {
        match auth::decode_plain(response) {
            Ok((username, password)) => Some(self.authenticate(username, password)),
            Err(SaslError::Malformed) => {
                self.refuse(malformed_response());
                None
            }
            Err(SaslError::ForeignAuthorization) => {
                self.auth_failed();
                None
            }
        }
    }

    fn login_username(&mut self, response: &str) {
        match auth::decode_response(response) {
            Ok(username) if !username.is_empty() => {
                self.state = State::Auth(AuthExchange::LoginPassword { username });
                self.send(&Reply::plain(334, auth::LOGIN_PASSWORD_CHALLENGE));
            }
            _ => self.refuse(malformed_response()),
        }
    }

    fn authenticate(&mut self, username: String, password: String) -> Step {
        self.awaiting = Some(Awaiting::Auth(username.clone()));
        Step::Call(Call::Authenticate { username, password })
    }

    fn auth_failed(&mut self) {
        self.auth_failures
            .record_failure(self.ctx.peer.ip(), Instant::now());
        self.metrics.auth_failures.increment(1);
        self.refuse(Reply::new(
            535,
            status(5, 7, 8),
            "Authentication credentials invalid",
        ));
    }

    fn end_of_data(&mut self, end: Result<Vec<u8>, MessageFault>) -> Option<Step> {
        let State::Data(transaction, reader) = std::mem::replace(&mut self.state, State::Greeted)
        else {
            unreachable!("only called while receiving a message");
        };
        match end {
            Ok(body) => {
                if reader.normalised() {
                    self.metrics.messages_normalised.increment(1);
                }
                self.awaiting = Some(Awaiting::Message {
                    size: reader.size(),
                });
                let envelope = Envelope {
                    mail_from: transaction.from,
                    recipients: transaction.recipients,
                };
                Some(Step::Call(Call::Message { envelope, body }))
            }
            Err(fault) => {
                let (reply, counter) = match fault {
                    MessageFault::TooBig => (command::size_exceeded(), &self.metrics.rejected_size),
                    MessageFault::LineTooLong => (
                        Reply::new(500, status(5, 5, 2), "Line too long"),
                        &self.metrics.rejected_line_length,
                    ),
                };
                counter.increment(1);
                self.queued = Some(Step::Reset);
                self.refuse(reply);
                None
            }
        }
    }

    /// Abandons a transaction, if any; the step tells the handler.
    fn end_transaction(&mut self) -> Option<Step> {
        match self.state {
            State::Mail(_) | State::Rcpt(_) => {
                self.state = State::Greeted;
                Some(Step::Reset)
            }
            _ => None,
        }
    }

    fn send(&mut self, reply: &Reply) {
        reply.render_into(&mut self.output);
    }

    /// Sends a negative reply and counts it; at `max_errors` the session is closed.
    fn refuse(&mut self, reply: Reply) {
        self.send(&reply);
        if reply.code == 421 {
            // RFC 5321 §3.8: a 421, whoever chose it, ends the session.
            self.state = State::Closed;
            return;
        }
        self.errors = self.errors.saturating_add(1);
        if self.config.max_errors > 0 && self.errors >= self.config.max_errors && !self.is_closed()
        {
            self.close_with(&Reply::new(
                421,
                status(4, 7, 0),
                "Too many errors, closing connection",
            ));
            self.cut_off = true;
            self.metrics.closed_errors.increment(1);
        }
    }

    fn close_with(&mut self, reply: &Reply) {
        self.send(reply);
        self.state = State::Closed;
    }
}

/// A handler's `Err` must be a refusal; a positive code there would tell the client something
/// that did not happen.
pub(crate) fn refusal(reply: Reply) -> Reply {
    if reply.is_positive() || reply.code < 400 {
        tracing::error!(
            code = reply.code,
            "handler refused with a non-negative reply"
        );
        return Reply::temporary_failure("Internal error");
    }
    reply
}

fn need_helo() -> Reply {
    Reply::new(503, status(5, 5, 1), "Send HELO/EHLO first")
}

fn need_mail() -> Reply {
    Reply::new(503, status(5, 5, 1), "Need MAIL command")
}

fn malformed_response() -> Reply {
    Reply::new(501, status(5, 5, 2), "Invalid base64 data in AUTH response")
}
