//! The words of SMTP and of its failures, once for every crate that speaks them: replies with
//! their codes (RFC 5321 §4.2) and enhanced status codes (RFC 3463), the names of bounce
//! reasons, and the TLS session a connection negotiated. Parsing and rendering are pure
//! functions over bytes; the sockets are the server's and the client's business.

mod reason;
mod reply;
mod status;
mod tls;

pub use reason::Reason;
pub use reply::{
    MAX_LINE_LEN, MAX_REPLY_LEN, MAX_REPLY_LINES, Reply, ReplyError, Severity, parse_reply,
};
pub use status::EnhancedStatus;
pub use tls::TlsInfo;
