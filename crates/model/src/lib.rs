//! The shared vocabulary of Hikyaku: identifiers, contracts, envelopes, recipients and events,
//! and in [`smtp`] the words of the protocol itself (replies, enhanced status codes, bounce
//! reasons, TLS sessions) with their parsers and renderers.
//!
//! Every other crate speaks in these types, and each word is defined here once: the SMTP server
//! renders the same [`smtp::Reply`] the delivery client parses. This crate owns no I/O, no clock
//! of its own beyond [`Timestamp::now`], and no policy: it says what a thing *is*, never what to
//! do with it.

mod access;
mod contract;
mod event;
mod id;
mod message;
mod names;
mod notice;
mod sender;
pub mod smtp;
mod time;
mod url;
mod verp;

pub use access::{ApiCaller, Role};
pub use contract::{Contract, ContractState, CustomerId, InvalidCustomerId};
pub use event::{Event, EventDetails, EventKind, EventSource, Exchange, Remote, UnsubscribeMethod};
pub use id::{InvalidMessageId, MessageId};
pub use message::{Envelope, QueuedMessage, QueuedRecipient, RecipientState};
pub use notice::NoticeKind;
pub use sender::{DkimKeyState, UnregisteredFrom};
pub use smtp::{EnhancedStatus, Reason};
pub use time::Timestamp;
pub use url::masked_url;
pub use verp::{VerpAddress, VerpKey, VerpRecipient};

/// A value that could not be parsed from its text form; says which kind of value and the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind}: {text:?}")]
pub struct ParseError {
    pub kind: &'static str,
    pub text: String,
}

/// For [`named_enum!`], so that crates using it need not name serde themselves.
#[doc(hidden)]
pub use serde as __serde;
