use crate::named_enum;
use crate::{CustomerId, MessageId, Timestamp};
use serde::{Deserialize, Serialize};

/// The SMTP envelope of one message as the sending application gave it.
///
/// `mail_from` is empty for the null reverse-path `<>`. Addresses are kept exactly as received
/// (local parts are case-sensitive in principle); domain comparisons are the caller's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub mail_from: String,
    pub recipients: Vec<String>,
}

named_enum! {
    /// Where one recipient of a queued message stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum RecipientState: "recipient state" {
        /// Waiting for its (next) delivery attempt.
        Queued = "queued",
        /// The last attempt failed temporarily; another will follow.
        Deferred = "deferred",
        Delivered = "delivered",
        Bounced = "bounced",
        Expired = "expired",
        /// On the contract's suppression list: never sent.
        Suppressed = "suppressed",
        /// Taken out of the queue by the operator before it was delivered: never sent (again).
        /// Not a bounce: it says nothing about the address, so it must not feed suppression.
        Deleted = "deleted",
    }
}

impl RecipientState {
    /// Whether no further delivery attempt will be made for this recipient.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Deferred)
    }
}

/// One recipient of a queued message with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRecipient {
    pub address: String,
    pub state: RecipientState,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    /// The last reply or error seen for this recipient, for people to read.
    pub last_reply: Option<String>,
}

/// A message the platform has accepted and holds until every recipient is final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessage {
    pub id: MessageId,
    pub customer_id: CustomerId,
    pub mail_from: String,
    pub size: u64,
    pub received_at: Timestamp,
    /// The address of the client that handed the message over.
    pub source_ip: String,
    /// The node whose spool holds the message bytes.
    pub node: String,
    pub recipients: Vec<QueuedRecipient>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_only_queued_and_deferred_are_pending() {
        for state in RecipientState::ALL {
            assert_eq!(state.as_str().parse::<RecipientState>().unwrap(), state);
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        let pending: Vec<RecipientState> = RecipientState::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .collect();
        assert_eq!(pending, [RecipientState::Queued, RecipientState::Deferred]);
    }
}
