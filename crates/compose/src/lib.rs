//! The composer: turns an HTTP API send request (`hikyaku_api_types::SendRequest`, or one
//! entry of a `BatchSendRequest`) into what the SMTP path receives from a client — an envelope
//! and the RFC 5322 message bytes — so that both paths share one pipeline from there on.
//!
//! It owns what such a request may say (address syntax, the header fields a customer may set,
//! tags, metadata, sizes), `{{name}}` substitution for batches, and the MIME structure: text
//! and HTML as `multipart/alternative`, attachments in `multipart/mixed`, display names and
//! subjects in RFC 2047, non-ASCII addresses as RFC 6532 UTF-8, and ISO-2022-JP for the
//! Japanese clients that want it. It does no I/O and reads no clock: the message ID and the
//! date are handed in. It must not decide whether the contract may send, nor touch the spool;
//! that is the relay's submit path.

mod build;
pub mod check;
mod iso2022jp;
pub mod substitute;

use hikyaku_model::{Envelope, MessageId, Timestamp};
use std::collections::BTreeMap;

pub use build::Composer;

/// A message ready for the relay: what an SMTP client would have sent, plus the request's
/// tags and metadata, which travel beside the message in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposedMessage {
    /// The platform's ID; also the left part of the `Message-ID` field.
    pub id: MessageId,
    /// The `Date` field's time: when the API took the request.
    pub date: Timestamp,
    /// `mail_from` is the `from` address (the relay's delivery applies the return path, as for
    /// SMTP); `recipients` are `to`, `cc` and `bcc` in that order, each address once.
    pub envelope: Envelope,
    /// The message, CRLF line ends, without trace fields (the relay adds `Received`).
    pub message: Vec<u8>,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
}

/// Why a request, or one entry of a batch, cannot become a message. Always the request's
/// fault: sending it again unchanged fails again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// A field is wrong (`400`/`422`); `field` is its path in the request's JSON
    /// (`to[2]`, `headers.X-Campaign`, `recipients[7].substitutions.name`).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The built message exceeds the platform's size limit (`413`).
    #[error("the message would be {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
}

impl ComposeError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ComposeError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field path, for the API's error body (`""` for a size refusal: the whole message).
    pub fn field(&self) -> &str {
        match self {
            ComposeError::Invalid { field, .. } => field,
            ComposeError::TooLarge { .. } => "",
        }
    }

    /// As the API shows it.
    pub fn to_field_error(&self) -> hikyaku_api_types::FieldError {
        match self {
            ComposeError::Invalid { field, message } => hikyaku_api_types::FieldError {
                field: field.clone(),
                message: message.clone(),
            },
            other => hikyaku_api_types::FieldError {
                field: String::new(),
                message: other.to_string(),
            },
        }
    }
}
