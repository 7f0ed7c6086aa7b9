//! The SMTP server engine shared by the relay and the error-server listeners.
//!
//! It owns the protocol: accepting connections within limits, line framing, command parsing
//! (over `smtp-proto`), the session's state machine, STARTTLS, the AUTH PLAIN/LOGIN exchange and
//! its per-IP failure throttle, message size and line-length limits, dot-unstuffing, line ends in
//! DATA made CRLF (bare LF and CR normalised, only CRLF . CRLF ending the data), timeouts and
//! graceful shutdown. It must not hold policy: who may relay, which recipients exist and where a
//! message goes are decided by a [`SessionHandler`], and the engine never lets MAIL, RCPT or DATA
//! through without the handler's approval. It keeps no global state.
//!
//! The protocol side (`framing`, `command`, `session`) does no I/O, so it is tested with tables
//! of raw bytes and fuzzed; `server` only moves bytes and calls the handler.

mod auth;
mod command;
mod config;
mod framing;
mod handler;
mod metrics;
mod server;
mod session;
mod tls;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use auth::AuthFailures;
pub use config::{AuthPolicy, ServerConfig};
pub use handler::{AuthOutcome, BodyType, MailParams, SessionContext, SessionHandler, TlsInfo};
// The replies are the shared vocabulary's; re-exported because every handler builds them.
pub use hikyaku_model::smtp::{EnhancedStatus, Reply};
pub use server::Server;
pub use tls::{TlsConfigError, tls_config_from_pem};
