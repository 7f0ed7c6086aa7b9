//! The relay's policy between the SMTP engine and the spool: who may relay (an allowed source
//! IP range of a contract, or an authenticated SMTP credential), whether the contract may send,
//! the spool quota, the trace fields added on the way through, the S/MIME signature of
//! contracts that installed a certificate, one-click unsubscribe links (one copy per recipient,
//! `unsubscribe_stage`), the DKIM signature of the contract's sender domain (or the platform's
//! service domain) over all of that, and handing each accepted message
//! durably to the spool and the store before the client hears `250`. Messages composed by the
//! HTTP API come in through [`Submitter`] and meet the same checks (the `policy` module) and
//! the same intake.
//!
//! It never delivers anything (that is the delivery crate's job; the two meet at the spool and
//! the store) and never parses SMTP itself (that is the smtp-server crate's).

pub mod dkim_stage;
mod handler;
pub mod intake;
mod policy;
pub mod reputation;
pub mod smime_stage;
mod subject;
pub mod submit;
pub mod trace;
pub mod unsubscribe_stage;

pub use handler::{RelayHandler, RelayPolicy, RelaySession};
pub use intake::{Intake, IntakeError};
pub use submit::{SubmitError, SubmitOutcome, SubmitPolicy, Submitter};
pub use unsubscribe_stage::{UnsubscribeLinks, UnsubscribeStage};
