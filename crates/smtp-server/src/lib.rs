//! The SMTP server engine shared by the relay and the error-server listeners.
//!
//! It owns the protocol: accepting connections within limits, line framing, command parsing
//! (over `smtp-proto`), the session's state machine, STARTTLS, the AUTH PLAIN/LOGIN exchange and
//! its per-IP failure throttle, message size and line-length limits, dot-unstuffing, timeouts and
//! graceful shutdown. It must not hold policy: who may relay, which recipients exist and where a
//! message goes are decided by a [`SessionHandler`], and the engine never lets MAIL, RCPT or DATA
//! through without the handler's approval. It keeps no global state.

mod config;
mod handler;
mod reply;

pub use config::{AuthPolicy, ServerConfig};
pub use handler::{AuthOutcome, BodyType, MailParams, SessionContext, SessionHandler, TlsInfo};
pub use reply::{EnhancedStatus, Reply};
