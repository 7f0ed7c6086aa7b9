//! The relay listener's policy, as a [`SessionHandler`] for the SMTP engine.

use crate::intake::Intake;
use crate::trace::{TraceInfo, add_trace_fields};
use hikyaku_model::{Contract, ContractState, CustomerId, Envelope, MessageId, Timestamp};
use hikyaku_smtp_server::{
    AuthOutcome, EnhancedStatus, MailParams, Reply, SessionContext, SessionHandler,
};
use hikyaku_spool::{Reservation, SpoolMeta};
use hikyaku_store::Store;

/// What the relay needs to know beyond the engine's limits.
#[derive(Debug, Clone)]
pub struct RelayPolicy {
    /// This node's name in `Received` fields and generated `Message-ID`s.
    pub hostname: String,
    /// The largest message; reserved in the spool when the client did not declare SIZE.
    pub max_message_size: u64,
}

/// The relay's [`SessionHandler`]: decides who may relay and takes accepted mail in.
pub struct RelayHandler {
    store: Store,
    intake: Intake,
    policy: RelayPolicy,
}

/// Per-connection state: which contract the client may send for, and the spool space held for
/// the message in progress.
pub struct RelaySession {
    /// The contract whose allowed IP ranges contain the client's address, if any.
    by_address: Option<CustomerId>,
    /// The contract of the credential the client authenticated with, if it did.
    by_credential: Option<CustomerId>,
    transaction: Option<Transaction>,
}

/// A MAIL FROM that the policy accepted.
struct Transaction {
    contract: CustomerId,
    reservation: Option<Reservation>,
}

/// Messages the relay took in (spooled and recorded).
const MESSAGES_ACCEPTED: &str = "hikyaku_relay_messages_accepted_total";
/// Recipients of those messages.
const RECIPIENTS_ACCEPTED: &str = "hikyaku_relay_recipients_accepted_total";
/// MAIL FROM refused `550 5.7.1`: neither an allowed IP range nor an authenticated credential.
const DENIED: &str = "hikyaku_relay_denied_total";
/// MAIL FROM refused `554 5.7.1` because the contract is suspended or terminated.
const REFUSED_CONTRACT: &str = "hikyaku_relay_refused_contract_total";
/// Messages refused `452 4.3.1` because the spool had no room for them.
const SPOOL_FULL: &str = "hikyaku_relay_spool_full_total";

/// Describes the relay's counters and registers them at zero, so that they are scraped from
/// the start rather than after their first event.
fn register_metrics() {
    use metrics::{counter, describe_counter};
    describe_counter!(
        MESSAGES_ACCEPTED,
        "messages the relay spooled, recorded and answered 250"
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
        "MAIL FROM refused 554 5.7.1 for a suspended or terminated contract"
    );
    describe_counter!(
        SPOOL_FULL,
        "messages refused 452 4.3.1 for want of spool space"
    );
    for name in [
        MESSAGES_ACCEPTED,
        RECIPIENTS_ACCEPTED,
        DENIED,
        REFUSED_CONTRACT,
        SPOOL_FULL,
    ] {
        counter!(name).increment(0);
    }
}

impl RelayHandler {
    pub fn new(store: Store, intake: Intake, policy: RelayPolicy) -> Self {
        register_metrics();
        RelayHandler {
            store,
            intake,
            policy,
        }
    }

    fn reserve(&self, bytes: u64) -> Result<Reservation, Reply> {
        self.intake.spool().reserve(bytes).map_err(|error| {
            if !error.is_out_of_space() {
                tracing::warn!(%error, "spool reservation failed");
            }
            metrics::counter!(SPOOL_FULL).increment(1);
            Reply::insufficient_storage()
        })
    }
}

fn database_unavailable(error: impl std::fmt::Display) -> Reply {
    tracing::error!(%error, "database unavailable");
    Reply::temporary_failure("Temporary local problem, try again later")
}

/// Why a contract that exists may not send right now, in words the customer's staff can act on.
fn refusal_for(contract: &Contract) -> Option<Reply> {
    let why = match contract.state {
        ContractState::Trial | ContractState::Active => return None,
        ContractState::Suspended => "is suspended: mail is refused until the operator resumes it",
        ContractState::Terminated => "is terminated: this service no longer accepts its mail",
    };
    Some(Reply::policy_refusal(format!(
        "Contract {} {why}",
        contract.customer_id
    )))
}

impl SessionHandler for RelayHandler {
    type State = RelaySession;

    async fn connect(&self, ctx: &SessionContext) -> Result<RelaySession, Reply> {
        let by_address = self
            .store
            .contract_for_ip(ctx.peer.ip())
            .await
            .map_err(database_unavailable)?
            .map(|c| c.customer_id);
        Ok(RelaySession {
            by_address,
            by_credential: None,
            transaction: None,
        })
    }

    async fn authenticate(
        &self,
        state: &mut RelaySession,
        ctx: &SessionContext,
        username: &str,
        password: &str,
    ) -> AuthOutcome {
        match self.store.verify_smtp_credential(username, password).await {
            Ok(Some(customer)) => {
                tracing::info!(session = ctx.id, peer = %ctx.peer, %username, %customer, "authenticated");
                state.by_credential = Some(customer);
                AuthOutcome::Accepted
            }
            Ok(None) => {
                tracing::info!(session = ctx.id, peer = %ctx.peer, %username, "authentication failed");
                AuthOutcome::Rejected
            }
            Err(error) => AuthOutcome::TempFail({
                tracing::error!(%error, "credential check failed");
                Reply::auth_temporary_failure()
            }),
        }
    }

    async fn mail_from(
        &self,
        state: &mut RelaySession,
        ctx: &SessionContext,
        _from: &str,
        params: &MailParams,
    ) -> Result<(), Reply> {
        // An authenticated identity is the stronger claim: it wins over the address.
        // The engine forgets an AUTH when RFC 3207 says so (STARTTLS); follow it, not our copy.
        let by_credential = state
            .by_credential
            .clone()
            .filter(|_| ctx.authenticated_as.is_some());
        let Some(customer) = by_credential.or_else(|| state.by_address.clone()) else {
            tracing::info!(session = ctx.id, peer = %ctx.peer, "relaying denied");
            metrics::counter!(DENIED).increment(1);
            return Err(Reply::new(
                550,
                EnhancedStatus::new(5, 7, 1),
                "Relaying denied: authenticate, or connect from an allowed IP range of your contract",
            ));
        };
        // Read the state afresh for every message: a suspension takes effect at once, even on
        // a connection that was opened before it.
        let contract = self
            .store
            .contract(&customer)
            .await
            .map_err(database_unavailable)?;
        let Some(contract) = contract else {
            return Err(Reply::policy_refusal(format!(
                "Contract {customer} no longer exists"
            )));
        };
        if let Some(refusal) = refusal_for(&contract) {
            metrics::counter!(REFUSED_CONTRACT).increment(1);
            return Err(refusal);
        }
        // Below the disk reserve, refuse at once rather than after the client sent the body.
        if let Err(error) = self.intake.spool().disk_reserve().check(0) {
            tracing::warn!(session = ctx.id, %error, "new mail refused");
            metrics::counter!(SPOOL_FULL).increment(1);
            return Err(Reply::insufficient_storage());
        }
        let reservation = match params.size {
            Some(declared) => Some(self.reserve(declared)?),
            None => None,
        };
        state.transaction = Some(Transaction {
            contract: customer,
            reservation,
        });
        Ok(())
    }

    async fn rcpt_to(
        &self,
        state: &mut RelaySession,
        _ctx: &SessionContext,
        _to: &str,
    ) -> Result<(), Reply> {
        match state.transaction {
            Some(_) => Ok(()),
            None => Err(Reply::new(503, EnhancedStatus::new(5, 5, 1), "MAIL first")),
        }
    }

    async fn data_start(
        &self,
        state: &mut RelaySession,
        _ctx: &SessionContext,
    ) -> Result<(), Reply> {
        let transaction = state
            .transaction
            .as_mut()
            .ok_or_else(|| Reply::new(503, EnhancedStatus::new(5, 5, 1), "MAIL first"))?;
        if transaction.reservation.is_none() {
            // No SIZE declared: hold room for the largest message we would accept.
            transaction.reservation = Some(self.reserve(self.policy.max_message_size)?);
        }
        Ok(())
    }

    async fn message(
        &self,
        state: &mut RelaySession,
        ctx: &SessionContext,
        envelope: &Envelope,
        body: Vec<u8>,
    ) -> Reply {
        let Some(Transaction {
            contract,
            reservation: Some(reservation),
        }) = state.transaction.take()
        else {
            return Reply::new(503, EnhancedStatus::new(5, 5, 1), "MAIL first");
        };
        let received_at = Timestamp::now();
        let id = MessageId::new(received_at);
        let tls = ctx
            .tls
            .as_ref()
            .map(|t| (t.protocol.as_str(), t.cipher_suite.as_str()));
        let message = add_trace_fields(
            &body,
            &TraceInfo {
                id,
                helo: ctx.helo.as_deref(),
                peer: ctx.peer.ip(),
                hostname: &self.policy.hostname,
                tls,
                protocol: ctx.received_protocol(),
                recipients: &envelope.recipients,
                at: received_at,
            },
        );
        drop(body);
        let meta = SpoolMeta {
            id,
            customer_id: contract.clone(),
            envelope: envelope.clone(),
            received_at,
            source_ip: ctx.peer.ip().to_string(),
            size: message.len() as u64,
            tags: Vec::new(),
            metadata: Default::default(),
        };
        match self.intake.accept(meta, message, reservation).await {
            Ok(()) => {
                metrics::counter!(MESSAGES_ACCEPTED).increment(1);
                metrics::counter!(RECIPIENTS_ACCEPTED).increment(envelope.recipients.len() as u64);
                tracing::debug!(session = ctx.id, %id, customer = %contract, recipients = envelope.recipients.len(), "accepted");
                Reply::message_accepted(id)
            }
            Err(error) if error.is_out_of_space() => Reply::insufficient_storage(),
            Err(error) => {
                tracing::error!(session = ctx.id, %error, "message not accepted");
                Reply::temporary_failure(
                    "Temporary local problem, message not accepted; try again later",
                )
            }
        }
    }

    fn reset(&self, state: &mut RelaySession) {
        state.transaction = None;
    }
}
