//! The delivery engine: takes queued recipients from the store and the message bytes from the
//! spool, finds the recipients' servers (MX with A/AAAA fallback, null MX, static routes), and
//! delivers over SMTP under per-destination send control (connections, messages per connection,
//! rate, back-off) and the recipient domains' MTA-STS policies ([`sts`]), recording every
//! attempt's outcome as an event and retrying temporary failures until the message's lifetime
//! ends.
//!
//! It never accepts mail (the relay's job; the two meet at the spool and the store) and never
//! analyses bounces that come back later (the error server's).

mod classify;
pub mod client;
mod clock;
mod engine;
pub mod resolve;
pub mod rules;
mod schedule;
mod simulator;
pub mod sts;
mod throttle;
mod transport;

pub use classify::Refusal;
pub use engine::{Engine, EngineSettings};
pub use rules::Rules;
pub use transport::{
    Attempt, Dispatch, Failure, HostTarget, Resolve, Session, SiteTarget, Transport,
};
