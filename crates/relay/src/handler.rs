//! The relay listener's policy, as a [`SessionHandler`] for the SMTP engine.

use crate::dkim_stage::{DkimStage, DkimStageError};
use crate::intake::{Copy, Intake};
use crate::policy::{self, ContractRefusal};
use crate::smime_stage::{SignedOnce, SmimeStage};
use crate::trace::{TraceInfo, add_trace_fields};
use crate::unsubscribe_stage::UnsubscribeStage;
use hikyaku_model::{CustomerId, Envelope, MessageId, Timestamp};
use hikyaku_smtp_server::{
    AuthOutcome, EnhancedStatus, MailParams, Reply, SessionContext, SessionHandler,
};
use hikyaku_spool::{Reservation, Spool, SpoolError, SpoolMeta};
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
    smime: SmimeStage,
    dkim: DkimStage,
    unsubscribe: UnsubscribeStage,
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

impl RelayHandler {
    /// The handler; `unsubscribe` is the stage shared with the HTTP API's [`crate::Submitter`].
    pub fn new(
        store: Store,
        intake: Intake,
        policy: RelayPolicy,
        unsubscribe: UnsubscribeStage,
    ) -> Self {
        policy::register_metrics();
        RelayHandler {
            smime: SmimeStage::new(store.clone()),
            dkim: DkimStage::new(store.clone()),
            unsubscribe,
            store,
            intake,
            policy,
        }
    }

    fn reserve(&self, bytes: u64) -> Result<Reservation, Reply> {
        policy::reserve(self.intake.spool(), bytes).map_err(|_| Reply::insufficient_storage())
    }
}

/// The copies a message is taken in as, each with its ID and recipients: one for all its
/// recipients (with `id`), or one per recipient when each is to get its own unsubscribe link
/// (the first with `id`, so the reply names a message that exists).
pub(crate) fn copies_of(
    id: MessageId,
    received_at: Timestamp,
    envelope: &Envelope,
    per_recipient: bool,
) -> Vec<(MessageId, Vec<String>)> {
    if !per_recipient || envelope.recipients.len() < 2 {
        return vec![(id, envelope.recipients.clone())];
    }
    envelope
        .recipients
        .iter()
        .enumerate()
        .map(|(i, recipient)| {
            let copy = if i == 0 {
                id
            } else {
                MessageId::new(received_at)
            };
            (copy, vec![recipient.clone()])
        })
        .collect()
}

/// The copies with the spool room each needs: the first takes the room held for the message,
/// the others reserve their own (a full spool refuses the whole message).
pub(crate) fn with_reservations(
    spool: &Spool,
    copies: Vec<(SpoolMeta, Vec<u8>)>,
    held: Reservation,
) -> Result<Vec<Copy>, SpoolError> {
    let mut held = Some(held);
    copies
        .into_iter()
        .map(|(meta, body)| {
            let reservation = match held.take() {
                Some(reservation) => reservation,
                None => policy::reserve(spool, body.len() as u64)?,
            };
            Ok(Copy {
                meta,
                body,
                reservation,
            })
        })
        .collect()
}

fn database_unavailable(error: impl std::fmt::Display) -> Reply {
    tracing::error!(%error, "database unavailable");
    Reply::temporary_failure("Temporary local problem, try again later")
}

/// A message the S/MIME stage could not decide on: the client retries later, rather than have
/// mail that should be signed go out unsigned.
fn not_signed(ctx: &SessionContext, error: crate::smime_stage::SmimeStageError) -> Reply {
    tracing::error!(session = ctx.id, %error, "message not accepted: S/MIME stage failed");
    Reply::temporary_failure("Temporary local problem, message not accepted; try again later")
}

/// A message the DKIM stage did not sign: refused for good when its From domain is not
/// registered and the contract's policy says so, otherwise a temporary failure (the client
/// retries later, rather than have mail that should be signed go out unsigned).
fn dkim_refusal(ctx: &SessionContext, error: DkimStageError) -> Reply {
    match error {
        DkimStageError::Unregistered { domain, .. } => {
            tracing::info!(session = ctx.id, %domain, "message refused: From domain not registered");
            let named = if domain.is_empty() {
                "The message has no From address, and this contract".to_string()
            } else {
                format!(
                    "The From domain {domain} is not a registered sender domain, and this contract"
                )
            };
            Reply::new(
                550,
                EnhancedStatus::new(5, 7, 1),
                format!(
                    "{named} refuses unregistered domains: register the domain and publish its \
                     DKIM record (hikyaku domain add), or send from a registered domain"
                ),
            )
        }
        other => {
            tracing::error!(session = ctx.id, error = %other, "message not accepted: DKIM stage failed");
            Reply::temporary_failure(
                "Temporary local problem, message not accepted; try again later",
            )
        }
    }
}

/// A contract that may not send, as the SMTP client hears it.
fn refusal_reply(refusal: ContractRefusal) -> Reply {
    match refusal {
        ContractRefusal::Unavailable(error) => database_unavailable(error),
        ContractRefusal::Missing(customer) => {
            Reply::policy_refusal(format!("Contract {customer} no longer exists"))
        }
        ContractRefusal::Refused { customer, why, .. } => {
            Reply::policy_refusal(format!("Contract {customer} {why}"))
        }
        // Temporary for the client (its mail waits in its queue), lasting for the contract:
        // only the operator's resume ends it.
        ContractRefusal::Paused { customer, reason } => Reply::new(
            451,
            EnhancedStatus::new(4, 7, 1),
            format!(
                "Contract {customer}: sending paused by the reputation guard ({reason}) until the operator resumes it"
            ),
        ),
    }
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
        // An API key's name and secret work too (the hosted service's API users send by SMTP
        // with the same pair); a password that is no key goes on to the SMTP credentials.
        let verified = match self.store.verify_api_key_as_smtp(username, password).await {
            Ok(None) => self.store.verify_smtp_credential(username, password).await,
            other => other,
        };
        match verified {
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
            metrics::counter!(policy::DENIED).increment(1);
            return Err(Reply::new(
                550,
                EnhancedStatus::new(5, 7, 1),
                "Relaying denied: authenticate, or connect from an allowed IP range of your contract",
            ));
        };
        policy::contract_may_send(&self.store, &customer)
            .await
            .map_err(refusal_reply)?;
        // Below the disk reserve, refuse at once rather than after the client sent the body.
        policy::disk_reserve_kept(self.intake.spool())
            .map_err(|_| Reply::insufficient_storage())?;
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
        // SMTP mail carries no tags: a contract that limits the links to some tags gets none
        // on it.
        let unsubscribe = match self.unsubscribe.plan(&contract, &[], &body).await {
            Ok(plan) => plan,
            Err(error) => {
                tracing::error!(session = ctx.id, %error, "message not accepted: unsubscribe settings unreadable");
                return Reply::temporary_failure(
                    "Temporary local problem, message not accepted; try again later",
                );
            }
        };
        let mut copies = Vec::new();
        let mut signed_once = SignedOnce::new();
        for (copy_id, recipients) in copies_of(id, received_at, envelope, unsubscribe.is_some()) {
            let signed = match self
                .smime
                .sign_copy(&contract, &recipients, &body, &mut signed_once)
                .await
            {
                Ok(signed) => signed,
                Err(error) => return not_signed(ctx, error),
            };
            let message = add_trace_fields(
                signed.as_deref().map_or(&body[..], |s| &s[..]),
                &TraceInfo {
                    id: copy_id,
                    helo: ctx.helo.as_deref(),
                    peer: ctx.peer.ip(),
                    hostname: &self.policy.hostname,
                    tls,
                    protocol: ctx.received_protocol(),
                    recipients: &recipients,
                    at: received_at,
                },
            );
            let message = match (&unsubscribe, recipients.as_slice()) {
                (Some(plan), [recipient]) => self
                    .unsubscribe
                    .apply(plan, &contract, copy_id, recipient, message),
                _ => message,
            };
            // Signed last, so that the signature covers the unsubscribe headers and every
            // other change the relay makes.
            let message = match self.dkim.sign(&contract, message).await {
                Ok(message) => message,
                Err(error) => return dkim_refusal(ctx, error),
            };
            let meta = SpoolMeta {
                id: copy_id,
                customer_id: contract.clone(),
                envelope: Envelope {
                    mail_from: envelope.mail_from.clone(),
                    recipients,
                },
                received_at,
                source_ip: ctx.peer.ip().to_string(),
                size: message.len() as u64,
                tags: Vec::new(),
                metadata: Default::default(),
            };
            copies.push((meta, message));
        }
        drop(body);
        let accepted = if copies.len() == 1 {
            let (meta, message) = copies.pop().expect("one copy");
            self.intake
                .accept(meta, message, reservation)
                .await
                .map(|_| ())
        } else {
            let count = copies.len();
            let copies = match with_reservations(self.intake.spool(), copies, reservation) {
                Ok(copies) => copies,
                Err(_) => return Reply::insufficient_storage(),
            };
            tracing::debug!(session = ctx.id, %id, copies = count, "one copy per recipient");
            self.intake.accept_copies(copies).await.map(|_| ())
        };
        match accepted {
            Ok(()) => {
                policy::count_accepted(envelope.recipients.len());
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
