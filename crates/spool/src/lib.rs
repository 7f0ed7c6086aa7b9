//! The spool: the bytes and envelope of every accepted message, on local disk, until its
//! delivery is done. It is the durability point of the relay: [`Spool::commit`] returns only
//! when the message would survive a crash or a power loss, and only then may `250` be answered.
//! A crash at any moment never loses a committed message and never exposes a half-written one.
//!
//! It owns the files, their format, group commit of directory fsyncs, the recovery scan, the
//! byte quota and the free-space reserve of its file system. It must not hold delivery state (which recipient is done lives in the database):
//! a spool file is immutable once committed. It never decides what to do with a recovered
//! message; it hands the list to the caller, which reconciles it with the database.

mod error;
mod faults;
mod format;
mod quota;
mod reserve;
mod spool;
mod syncer;

pub use error::SpoolError;
pub use faults::CommitStep;
#[cfg(any(test, feature = "test-util"))]
pub use faults::Faults;
pub use format::FormatError;
pub use quota::Reservation;
pub use reserve::DiskReserve;
pub use spool::{Recovery, Spool, SpoolStats};

use hikyaku_model::{CustomerId, Envelope, MessageId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the spool keeps beside the message bytes: enough to deliver the message, or to rebuild
/// its database record, without anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolMeta {
    pub id: MessageId,
    pub customer_id: CustomerId,
    pub envelope: Envelope,
    pub received_at: Timestamp,
    /// The address of the client that handed the message over.
    pub source_ip: String,
    /// Bytes of the body; [`Spool::commit`] checks it against the body it is given.
    pub size: u64,
    /// The sender's labels for the message (HTTP API `tags`), carried to its events and
    /// webhooks. Absent from files written before they existed and from SMTP messages, which
    /// have none: both read as empty. The limits are the composer's (`hikyaku-compose`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The sender's key/value pairs (HTTP API `metadata`), returned in its events and webhooks;
    /// as with `tags`, absent means empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A message just committed, with its bytes still in memory: what the intake hands to the
/// delivery engine, so that the first attempt need not read the file back.
#[derive(Debug, Clone)]
pub struct SpooledMessage {
    pub meta: SpoolMeta,
    pub body: bytes::Bytes,
}

/// A message the queue has recorded, as the intake hands it to the delivery engine: the
/// message and its recipients (by index, ascending) that are on the contract's suppression
/// list, which the queue recorded as final and which must never be sent.
#[derive(Debug, Clone)]
pub struct RecordedMessage {
    pub message: SpooledMessage,
    pub suppressed: Vec<u32>,
}
