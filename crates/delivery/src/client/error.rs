//! Failures of the connection itself: the host's fault, never one recipient's or one message's.

use super::reply::{Reply, ReplyError};
use hikyaku_model::named_enum;
use std::net::SocketAddr;
use std::time::Duration;

named_enum! {
    /// Where in the SMTP dialogue something happened, by the name error messages give it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Stage: "SMTP stage" {
        Connect = "connect",
        Greeting = "greeting",
        Ehlo = "EHLO",
        Helo = "HELO",
        StartTls = "STARTTLS",
        TlsHandshake = "TLS handshake",
        Rset = "RSET",
        MailFrom = "MAIL FROM",
        RcptTo = "RCPT TO",
        Data = "DATA",
        /// Sending the message body and its final dot.
        Body = "message body",
        /// Waiting for the reply to the final dot.
        EndOfData = "end of data",
        Quit = "QUIT",
    }
}

/// The connection failed or became unusable. Every variant is the remote host's (or the path
/// to it) fault, not the message's: the engine tries the next MX host, backs the destination
/// off, and defers the recipients of an unfinished transaction. None is permanent for a
/// recipient. After one, the connection is dead.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// TCP connect refused, unreachable, or reset.
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// No (complete) reply, or a write that did not drain, within the configured time.
    #[error("timed out after {timeout:?} at {stage}")]
    Timeout { stage: Stage, timeout: Duration },
    /// The socket failed while reading or writing.
    #[error("connection lost at {stage}: {source}")]
    Io {
        stage: Stage,
        source: std::io::Error,
    },
    /// The server closed the connection without a reply.
    #[error("connection closed by the server at {stage}")]
    Closed { stage: Stage },
    /// The greeting was 4xx or 5xx (e.g. "421 too many connections", "554 no service").
    #[error("greeting refused: {0}")]
    Greeting(Reply),
    /// EHLO refused with 4xx, or EHLO with 5xx and then HELO refused too.
    #[error("{stage} refused: {reply}")]
    HeloRefused { stage: Stage, reply: Reply },
    /// 421 at any stage: the server is shutting this connection (often throttling).
    #[error("server closing the connection at {stage}: {reply}")]
    ServiceClosing { stage: Stage, reply: Reply },
    /// A reply that makes no sense at this stage (e.g. 354 to MAIL, or RSET refused).
    #[error("unexpected reply at {stage}: {reply}")]
    UnexpectedReply { stage: Stage, reply: Reply },
    /// Bytes that are not SMTP, or a reply past the limits.
    #[error("protocol error at {stage}: {error}")]
    Protocol { stage: Stage, error: ReplyError },
    /// Bytes the server sent right after `220` to STARTTLS, before the handshake: they would be
    /// read as if they came through TLS (response injection).
    #[error("the server sent data after its STARTTLS reply, before the TLS handshake")]
    StartTlsInjection,
    /// The TLS handshake failed (protocol, certificate, or verification). After this with
    /// [`super::TlsMode::Opportunistic`], the engine may retry the host with
    /// [`super::TlsMode::Disabled`], as Postfix and KumoMTA do.
    #[error("TLS handshake failed: {source}")]
    TlsHandshake { source: std::io::Error },
    /// TLS is required but the server does not offer STARTTLS.
    #[error("TLS is required but the server does not offer STARTTLS")]
    TlsNotOffered,
    /// TLS is required but the server refused STARTTLS.
    #[error("TLS is required but STARTTLS was refused: {0}")]
    StartTlsRefused(Reply),
    /// TLS with verification is required but the MX host name cannot be checked against a
    /// certificate.
    #[error("TLS with verification is required but {0:?} is not a valid server name")]
    InvalidServerName(String),
    /// A transaction was asked of a connection that had already failed (a bug in the caller,
    /// reported rather than panicking).
    #[error("the connection already failed and cannot be used again")]
    Unusable,
}

impl ConnectionError {
    /// Where the dialogue broke off.
    pub fn stage(&self) -> Stage {
        match self {
            ConnectionError::Connect { .. } => Stage::Connect,
            ConnectionError::Greeting(_) => Stage::Greeting,
            ConnectionError::Timeout { stage, .. }
            | ConnectionError::Io { stage, .. }
            | ConnectionError::Closed { stage }
            | ConnectionError::HeloRefused { stage, .. }
            | ConnectionError::ServiceClosing { stage, .. }
            | ConnectionError::UnexpectedReply { stage, .. }
            | ConnectionError::Protocol { stage, .. } => *stage,
            ConnectionError::StartTlsInjection
            | ConnectionError::TlsNotOffered
            | ConnectionError::StartTlsRefused(_) => Stage::StartTls,
            ConnectionError::TlsHandshake { .. } | ConnectionError::InvalidServerName(_) => {
                Stage::TlsHandshake
            }
            ConnectionError::Unusable => Stage::MailFrom,
        }
    }

    /// The server's reply, when the failure was one (for the send log's code, enhanced status
    /// and remote text).
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            ConnectionError::Greeting(reply)
            | ConnectionError::HeloRefused { reply, .. }
            | ConnectionError::ServiceClosing { reply, .. }
            | ConnectionError::UnexpectedReply { reply, .. }
            | ConnectionError::StartTlsRefused(reply) => Some(reply),
            ConnectionError::Connect { .. }
            | ConnectionError::Timeout { .. }
            | ConnectionError::Io { .. }
            | ConnectionError::Closed { .. }
            | ConnectionError::Protocol { .. }
            | ConnectionError::StartTlsInjection
            | ConnectionError::TlsHandshake { .. }
            | ConnectionError::TlsNotOffered
            | ConnectionError::InvalidServerName(_)
            | ConnectionError::Unusable => None,
        }
    }

    /// The handshake itself failed: with opportunistic TLS the engine may try the same host
    /// again without TLS.
    pub fn is_tls_handshake_failure(&self) -> bool {
        matches!(self, ConnectionError::TlsHandshake { .. })
    }

    /// The failure came after the whole message and its final dot were sent but before the
    /// server's reply: the server may have taken the message. Delivery stays at-least-once (the
    /// recipients are deferred and sent again), so this is the window for a duplicate.
    pub fn may_have_delivered(&self) -> bool {
        matches!(
            self,
            ConnectionError::Timeout {
                stage: Stage::EndOfData,
                ..
            } | ConnectionError::Io {
                stage: Stage::EndOfData,
                ..
            } | ConnectionError::Closed {
                stage: Stage::EndOfData
            } | ConnectionError::Protocol {
                stage: Stage::EndOfData,
                ..
            }
        )
    }

    /// The server asked to be left alone (421, or a 4.7.x code at the greeting or EHLO), which
    /// the engine answers by backing the destination off.
    pub fn is_throttling(&self) -> bool {
        self.reply().is_some_and(super::reply::asks_to_slow_down)
    }
}
