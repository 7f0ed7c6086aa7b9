//! The policy side of a session: what the engine asks and what it needs to know.

use crate::Reply;
use hikyaku_model::Envelope;
pub use hikyaku_model::smtp::TlsInfo;
use std::future::Future;
use std::net::SocketAddr;

/// What the engine knows about one connection, handed to every handler call.
///
/// The engine resets `helo` and `authenticated_as` when RFC 3207 says knowledge must be
/// discarded (after STARTTLS); handlers should read them here rather than keep copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionContext {
    /// Unique per [`crate::Server`], for logs.
    pub id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The name the client gave in HELO/EHLO, once it has.
    pub helo: Option<String>,
    /// Whether the client greeted with EHLO (ESMTP) rather than HELO.
    pub esmtp: bool,
    /// Set once STARTTLS has completed.
    pub tls: Option<TlsInfo>,
    /// The user name of a successful AUTH.
    pub authenticated_as: Option<String>,
}

impl SessionContext {
    /// The RFC 3848 `with` keyword for a `Received` field: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA.
    pub fn received_protocol(&self) -> &'static str {
        match (
            self.esmtp,
            self.tls.is_some(),
            self.authenticated_as.is_some(),
        ) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        }
    }
}

/// The body type a client declared with `BODY=` (RFC 6152); `7BIT` when it declared none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyType {
    #[default]
    SevenBit,
    EightBitMime,
}

/// The MAIL FROM parameters the engine understood (it refuses the ones it does not advertise).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    /// `SIZE=`, already checked against the configured maximum.
    pub size: Option<u64>,
    pub body: BodyType,
    /// `SMTPUTF8` (RFC 6531): the envelope or headers may carry UTF-8.
    pub smtputf8: bool,
}

/// What a handler decided about AUTH credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// `235 2.7.0`; the session is authenticated as the given user name from now on.
    Accepted,
    /// `535 5.7.8`; counts toward the per-IP failure limit.
    Rejected,
    /// The credentials could not be checked (e.g. database down); this reply is sent as is and
    /// does not count as a failure. [`Reply::auth_temporary_failure`] is the usual one.
    TempFail(Reply),
}

/// The policy of one SMTP listener. The engine owns the protocol (syntax, sequence, limits,
/// TLS, AUTH exchange); the handler decides who may do what and takes the message.
///
/// Every `Err(Reply)` is sent to the client as is (a `421` also closes the session; a positive
/// code there is a bug and becomes `451 4.3.0`); the engine never lets a MAIL, RCPT or DATA
/// through without the handler's `Ok`.
pub trait SessionHandler: Send + Sync + 'static {
    /// Per-connection policy state (e.g. the contract resolved from the peer address).
    type State: Send + 'static;

    /// A new connection, before the greeting. `Err` sends the reply (e.g. `554 5.7.1`) and
    /// closes the connection.
    fn connect(
        &self,
        ctx: &SessionContext,
    ) -> impl Future<Output = Result<Self::State, Reply>> + Send;

    /// Credentials from AUTH PLAIN or LOGIN, already base64-decoded. Only called when AUTH is
    /// allowed on this connection and the peer is under its failure limit.
    fn authenticate(
        &self,
        state: &mut Self::State,
        ctx: &SessionContext,
        username: &str,
        password: &str,
    ) -> impl Future<Output = AuthOutcome> + Send;

    /// MAIL FROM; `from` is empty for the null reverse-path `<>`.
    fn mail_from(
        &self,
        state: &mut Self::State,
        ctx: &SessionContext,
        from: &str,
        params: &MailParams,
    ) -> impl Future<Output = Result<(), Reply>> + Send;

    /// One RCPT TO (already within the recipient limit).
    fn rcpt_to(
        &self,
        state: &mut Self::State,
        ctx: &SessionContext,
        to: &str,
    ) -> impl Future<Output = Result<(), Reply>> + Send;

    /// Before `354`: a chance to refuse the message (e.g. spool full, `452 4.3.1`).
    fn data_start(
        &self,
        state: &mut Self::State,
        ctx: &SessionContext,
    ) -> impl Future<Output = Result<(), Reply>> + Send;

    /// The whole message, dot-unstuffed, CRLF line endings, without the terminating dot, and
    /// within every limit. The returned reply answers the end of DATA: answer `250` only once
    /// the message is durable.
    fn message(
        &self,
        state: &mut Self::State,
        ctx: &SessionContext,
        envelope: &Envelope,
        body: Vec<u8>,
    ) -> impl Future<Output = Reply> + Send;

    /// The current transaction was abandoned or finished (RSET, HELO/EHLO, STARTTLS, a refused
    /// DATA, or after [`SessionHandler::message`]): forget per-transaction state.
    fn reset(&self, _state: &mut Self::State) {}

    /// The connection is over, however it ended.
    fn disconnect(&self, _state: Self::State, _ctx: &SessionContext) {}
}
