//! What one transaction did to each of its recipients.

use super::error::Stage;
use super::reply::{Reply, Severity};

/// The result of one transaction that ran to its end: one outcome per recipient, in the order
/// the recipients were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionResult {
    pub recipients: Vec<RecipientOutcome>,
    /// Whether MAIL, RCPT and DATA went out as one group (RFC 2920).
    pub pipelined: bool,
}

impl TransactionResult {
    pub fn accepted(&self) -> usize {
        self.recipients.iter().filter(|r| r.is_accepted()).count()
    }
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// The server took the message for this recipient: the reply to the final dot.
    Accepted(Reply),
    /// `RCPT TO` was refused: this mailbox's fault (4xx: try it again later; 5xx: bounce it).
    RecipientRefused(Reply),
    /// The message was refused for everyone (at `MAIL FROM`, `DATA` or the final dot): the
    /// message's or its sender's fault.
    MessageRefused { stage: Stage, reply: Reply },
    /// Not sent at all: what the server advertised, or the address itself, rules it out. The
    /// reply is made up here (never the server's) and always permanent.
    NotSent { reason: NotSent, reply: Reply },
}

/// Why a message or recipient was not even offered to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// The message is bigger than the server's advertised `SIZE`.
    MessageTooBig { size: u64, limit: u64 },
    /// The envelope has non-ASCII addresses and the server does not offer `SMTPUTF8`.
    Smtputf8Required,
    /// The envelope sender cannot be written into a command (control characters, `<`, `>`).
    InvalidSender,
    /// This recipient cannot be written into a command.
    InvalidRecipient,
}

/// Whose fault a refusal is: decides whether one recipient or the whole message is affected.
/// Connection-level failures are [`super::ConnectionError`], the host's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    Recipient,
    Message,
}

impl RecipientOutcome {
    /// The reply that decided this outcome (for the send log).
    pub fn reply(&self) -> &Reply {
        match self {
            RecipientOutcome::Accepted(reply)
            | RecipientOutcome::RecipientRefused(reply)
            | RecipientOutcome::MessageRefused { reply, .. }
            | RecipientOutcome::NotSent { reply, .. } => reply,
        }
    }

    pub fn is_accepted(&self) -> bool {
        matches!(self, RecipientOutcome::Accepted(_))
    }

    /// `None` when accepted; otherwise whether a retry can help.
    pub fn severity(&self) -> Option<Severity> {
        match self {
            RecipientOutcome::Accepted(_) => None,
            RecipientOutcome::RecipientRefused(reply)
            | RecipientOutcome::MessageRefused { reply, .. } => reply.severity(),
            RecipientOutcome::NotSent { .. } => Some(Severity::Permanent),
        }
    }

    /// `None` when accepted; otherwise whose fault the refusal is (KumoMTA's
    /// `was_due_to_message`: an exhaustive match, so a new outcome forces the decision).
    pub fn blame(&self) -> Option<Blame> {
        match self {
            RecipientOutcome::Accepted(_) => None,
            RecipientOutcome::RecipientRefused(_)
            | RecipientOutcome::NotSent {
                reason: NotSent::InvalidRecipient,
                ..
            } => Some(Blame::Recipient),
            RecipientOutcome::MessageRefused { .. }
            | RecipientOutcome::NotSent {
                reason:
                    NotSent::MessageTooBig { .. } | NotSent::Smtputf8Required | NotSent::InvalidSender,
                ..
            } => Some(Blame::Message),
        }
    }

    /// Where the outcome was decided; `None` for [`RecipientOutcome::NotSent`].
    pub fn stage(&self) -> Option<Stage> {
        match self {
            RecipientOutcome::Accepted(_) => Some(Stage::EndOfData),
            RecipientOutcome::RecipientRefused(_) => Some(Stage::RcptTo),
            RecipientOutcome::MessageRefused { stage, .. } => Some(*stage),
            RecipientOutcome::NotSent { .. } => None,
        }
    }

    /// Whether the reply came from the server (for the send log's "remote text").
    pub fn is_remote(&self) -> bool {
        !matches!(self, RecipientOutcome::NotSent { .. })
    }
}
