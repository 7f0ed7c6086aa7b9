//! The shared vocabulary of Hikyaku: identifiers, contracts, envelopes, recipients and events.
//!
//! Every other crate speaks in these types. This crate owns no I/O, no clock of its own beyond
//! [`Timestamp::now`], and no policy: it says what a thing *is*, never what to do with it.

mod contract;
mod event;
mod id;
mod message;
mod time;
mod verp;

pub use contract::{Contract, ContractState, CustomerId, InvalidCustomerId};
pub use event::{Event, EventKind, SendLogFields};
pub use id::{InvalidMessageId, MessageId};
pub use message::{Envelope, QueuedMessage, QueuedRecipient, RecipientState};
pub use time::Timestamp;
pub use verp::{VerpAddress, VerpKey, VerpRecipient};

/// A value that could not be parsed from its text form; says which kind of value and the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind}: {text:?}")]
pub struct ParseError {
    pub kind: &'static str,
    pub text: String,
}
