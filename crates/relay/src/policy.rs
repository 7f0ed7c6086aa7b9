//! The checks every way into the relay makes before it takes a message — SMTP (the handler)
//! and HTTP (the submitter) alike: the contract may send, the disk keeps its reserve, the
//! spool has room. Each way turns a refusal into its own protocol's answer; the counters are
//! shared, so a dashboard sees one relay whatever the client spoke.

use hikyaku_model::{Contract, ContractState, CustomerId};
use hikyaku_spool::{Reservation, Spool, SpoolError};
use hikyaku_store::{Store, StoreError};

/// Messages the relay took in (spooled and recorded).
pub(crate) const MESSAGES_ACCEPTED: &str = "hikyaku_relay_messages_accepted_total";
/// Recipients of those messages.
pub(crate) const RECIPIENTS_ACCEPTED: &str = "hikyaku_relay_recipients_accepted_total";
/// MAIL FROM refused `550 5.7.1`: neither an allowed IP range nor an authenticated credential.
pub(crate) const DENIED: &str = "hikyaku_relay_denied_total";
/// Messages refused because the contract is suspended or terminated (SMTP `554 5.7.1`, HTTP
/// `403`).
pub(crate) const REFUSED_CONTRACT: &str = "hikyaku_relay_refused_contract_total";
/// Messages refused because the reputation guard paused the contract's sending (SMTP
/// `451 4.7.1`, HTTP `429`).
pub(crate) const REFUSED_PAUSED: &str = "hikyaku_relay_refused_paused_total";
/// Messages refused because the spool had no room for them (SMTP `452 4.3.1`, HTTP `503`).
pub(crate) const SPOOL_FULL: &str = "hikyaku_relay_spool_full_total";

/// Describes the relay's counters and registers them at zero, so that they are scraped from
/// the start rather than after their first event.
pub(crate) fn register_metrics() {
    use metrics::{counter, describe_counter};
    describe_counter!(
        MESSAGES_ACCEPTED,
        "messages the relay spooled and recorded (SMTP 250, HTTP 202)"
    );
    describe_counter!(
        RECIPIENTS_ACCEPTED,
        "recipients of the messages the relay accepted"
    );
    describe_counter!(
        DENIED,
        "MAIL FROM refused 550 5.7.1 relaying denied (no allowed IP range, no AUTH)"
    );
    describe_counter!(
        REFUSED_CONTRACT,
        "messages refused for a suspended or terminated contract (SMTP 554 5.7.1, HTTP 403)"
    );
    describe_counter!(
        REFUSED_PAUSED,
        "messages refused for a contract whose sending the reputation guard paused (SMTP 451 4.7.1, HTTP 429)"
    );
    describe_counter!(
        SPOOL_FULL,
        "messages refused for want of spool space (SMTP 452 4.3.1, HTTP 503)"
    );
    for name in [
        MESSAGES_ACCEPTED,
        RECIPIENTS_ACCEPTED,
        DENIED,
        REFUSED_CONTRACT,
        REFUSED_PAUSED,
        SPOOL_FULL,
    ] {
        counter!(name).increment(0);
    }
}

/// Why a contract may not send right now.
#[derive(Debug)]
pub(crate) enum ContractRefusal {
    /// The database could not say: the client should retry.
    Unavailable(StoreError),
    /// The contract was deleted.
    Missing(CustomerId),
    /// Suspended or terminated, with why in words the customer's staff can act on.
    Refused {
        customer: CustomerId,
        state: ContractState,
        why: &'static str,
    },
    /// Its sending is paused by the reputation guard until the operator resumes it.
    Paused {
        customer: CustomerId,
        reason: String,
    },
}

/// Reads the contract's state and its reputation pause afresh for every message: a suspension
/// or a pause takes effect at once, even on a connection (or an API key) that was fine a
/// moment ago.
pub(crate) async fn contract_may_send(
    store: &Store,
    customer: &CustomerId,
) -> Result<Contract, ContractRefusal> {
    let contract = store
        .contract(customer)
        .await
        .map_err(ContractRefusal::Unavailable)?
        .ok_or_else(|| ContractRefusal::Missing(customer.clone()))?;
    let why = match contract.state {
        ContractState::Trial | ContractState::Active => {
            return match store.sending_pause(customer).await {
                Ok(None) => Ok(contract),
                Ok(Some(pause)) => {
                    metrics::counter!(REFUSED_PAUSED).increment(1);
                    Err(ContractRefusal::Paused {
                        customer: contract.customer_id,
                        reason: pause.reason,
                    })
                }
                Err(error) => Err(ContractRefusal::Unavailable(error)),
            };
        }
        ContractState::Suspended => "is suspended: mail is refused until the operator resumes it",
        ContractState::Terminated => "is terminated: this service no longer accepts its mail",
    };
    metrics::counter!(REFUSED_CONTRACT).increment(1);
    Err(ContractRefusal::Refused {
        customer: contract.customer_id,
        state: contract.state,
        why,
    })
}

/// Below the disk reserve, new mail is refused at once (before an SMTP client sends its body).
pub(crate) fn disk_reserve_kept(spool: &Spool) -> Result<(), SpoolError> {
    spool.disk_reserve().check(0).inspect_err(|error| {
        tracing::warn!(%error, "new mail refused");
        metrics::counter!(SPOOL_FULL).increment(1);
    })
}

/// Spool space for a message of `bytes`, held until it is committed or dropped.
pub(crate) fn reserve(spool: &Spool, bytes: u64) -> Result<Reservation, SpoolError> {
    spool.reserve(bytes).inspect_err(|error| {
        if !error.is_out_of_space() {
            tracing::warn!(%error, "spool reservation failed");
        }
        metrics::counter!(SPOOL_FULL).increment(1);
    })
}

/// Counts a message the relay took in.
pub(crate) fn count_accepted(recipients: usize) {
    metrics::counter!(MESSAGES_ACCEPTED).increment(1);
    metrics::counter!(RECIPIENTS_ACCEPTED).increment(recipients as u64);
}
