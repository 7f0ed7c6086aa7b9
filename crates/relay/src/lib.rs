//! The relay's policy between the SMTP engine and the spool: who may relay (an allowed source
//! IP range of a contract, or an authenticated SMTP credential), whether the contract may send,
//! the spool quota, the trace fields added on the way through, and handing each accepted message
//! durably to the spool and the store before the client hears `250`.
//!
//! It never delivers anything (that is the delivery crate's job; the two meet at the spool and
//! the store) and never parses SMTP itself (that is the smtp-server crate's).

mod handler;
pub mod intake;
pub mod trace;

pub use handler::{RelayHandler, RelayPolicy, RelaySession};
pub use intake::{Intake, IntakeError};
