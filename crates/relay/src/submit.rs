//! The HTTP API's way into the relay: a composed message (`hikyaku_compose::ComposedMessage`)
//! goes through the same checks and the same intake as a message at the end of SMTP DATA —
//! the contract must be allowed to send, the size and recipient limits hold, the spool has
//! room — and is answered only once it is durable in the spool and recorded in the queue.
//!
//! The API authenticates its caller by key, so there is no IP range or SMTP credential to
//! check here: the caller hands in the contract the key belongs to.

use crate::dkim_stage::{DkimStage, DkimStageError};
use crate::handler::{copies_of, with_reservations};
use crate::intake::Intake;
use crate::policy::{self, ContractRefusal};
use crate::smime_stage::{SignedOnce, SmimeStage};
use crate::trace::{TraceInfo, add_trace_fields};
use crate::unsubscribe_stage::UnsubscribeStage;
use hikyaku_compose::ComposedMessage;
use hikyaku_model::{ContractState, CustomerId, Envelope, MessageId};
use hikyaku_spool::SpoolMeta;
use hikyaku_store::Store;
use std::net::IpAddr;
use std::time::Duration;

/// What the submitter enforces beyond the composer's own checks; the relay's settings, so that
/// a message is held to the same limits whichever way it came.
#[derive(Debug, Clone)]
pub struct SubmitPolicy {
    /// This node's name in `Received` fields.
    pub hostname: String,
    /// `relay.max_message_size`.
    pub max_message_size: u64,
    /// `relay.max_recipients`.
    pub max_recipients: usize,
}

/// A message taken in: durable, queued, its events written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    pub id: MessageId,
    /// Recipients queued for delivery, in envelope order.
    pub accepted: Vec<String>,
    /// Recipients on the contract's suppression list, recorded as suppressed: never sent to.
    pub suppressed: Vec<String>,
    /// When each recipient got a copy of its own (one-click unsubscribe links name their
    /// recipient): each copy's message ID and recipient, in envelope order, the first with
    /// `id`. Empty when the message was taken in as one.
    pub copies: Vec<(MessageId, String)>,
}

/// Why a message was not taken in. Nothing of it remains in either case, so the client may
/// send it again (with the same idempotency key) once the cause is gone.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("contract {0} no longer exists")]
    ContractMissing(CustomerId),
    #[error("contract {customer} {why}")]
    ContractRefused {
        customer: CustomerId,
        state: ContractState,
        why: &'static str,
    },
    /// The reputation guard paused the contract's sending: too many hard bounces or
    /// complaints. Only the operator's resume ends it.
    #[error(
        "contract {customer}: sending paused by the reputation guard ({reason}) until the operator resumes it"
    )]
    SendingPaused {
        customer: CustomerId,
        reason: String,
    },
    #[error("the message is {size} bytes; the limit is {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("the message has {count} recipients; the limit is {limit}")]
    TooManyRecipients { count: usize, limit: usize },
    /// The From domain is not a sender domain of the contract, whose policy is to refuse such
    /// mail (empty: the message has no From address).
    #[error(
        "the From domain {domain:?} is not a registered sender domain of this contract: register \
         it and publish its DKIM record, or send from a registered domain"
    )]
    SenderDomainNotRegistered { domain: String },
    /// The spool, the disk reserve or the database has no room now.
    #[error("no room for new mail at the moment: {0}")]
    OutOfSpace(String),
    /// The database or the intake failed; nothing was kept.
    #[error("temporarily unable to take mail: {0}")]
    Unavailable(String),
}

impl SubmitError {
    /// The HTTP status the API answers with: `403` for a contract that may not send, `429`
    /// for one whose sending the reputation guard paused, `413` too large, `422` too many
    /// recipients, `503` (with [`SubmitError::retry_after`]) when the platform cannot take
    /// mail now.
    pub fn http_status(&self) -> u16 {
        match self {
            SubmitError::ContractMissing(_) | SubmitError::ContractRefused { .. } => 403,
            SubmitError::SendingPaused { .. } => 429,
            SubmitError::TooLarge { .. } => 413,
            SubmitError::TooManyRecipients { .. }
            | SubmitError::SenderDomainNotRegistered { .. } => 422,
            SubmitError::OutOfSpace(_) | SubmitError::Unavailable(_) => 503,
        }
    }

    /// Whether the same request can succeed later unchanged, and after about how long (the
    /// `Retry-After` header). The contract's state changes only by an operator's hand, so it
    /// is not worth retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SubmitError::OutOfSpace(_) => Some(Duration::from_secs(60)),
            SubmitError::Unavailable(_) => Some(Duration::from_secs(10)),
            // A pause lasts until an operator acts: no retry time can be promised.
            SubmitError::ContractMissing(_)
            | SubmitError::ContractRefused { .. }
            | SubmitError::SendingPaused { .. }
            | SubmitError::TooLarge { .. }
            | SubmitError::TooManyRecipients { .. }
            | SubmitError::SenderDomainNotRegistered { .. } => None,
        }
    }
}

/// The HTTP API's entry into the relay. Cheap to clone.
#[derive(Clone)]
pub struct Submitter {
    store: Store,
    intake: Intake,
    policy: SubmitPolicy,
    smime: SmimeStage,
    dkim: DkimStage,
    unsubscribe: UnsubscribeStage,
}

impl Submitter {
    /// The submitter; `unsubscribe` is the stage shared with the SMTP handler.
    pub fn new(
        store: Store,
        intake: Intake,
        policy: SubmitPolicy,
        unsubscribe: UnsubscribeStage,
    ) -> Submitter {
        policy::register_metrics();
        Submitter {
            unsubscribe,
            smime: SmimeStage::new(store.clone()),
            dkim: DkimStage::new(store.clone()),
            store,
            intake,
            policy,
        }
    }

    /// Takes `message` in for `customer`, sent by the API client at `source_ip`. Returns once
    /// the message is fsync'd in the spool and recorded in the queue with its events.
    pub async fn submit(
        &self,
        customer: &CustomerId,
        source_ip: IpAddr,
        message: ComposedMessage,
    ) -> Result<SubmitOutcome, SubmitError> {
        policy::contract_may_send(&self.store, customer)
            .await
            .map_err(|refusal| match refusal {
                ContractRefusal::Unavailable(error) => {
                    tracing::error!(%error, "database unavailable");
                    SubmitError::Unavailable("the database is unavailable".into())
                }
                ContractRefusal::Missing(customer) => SubmitError::ContractMissing(customer),
                ContractRefusal::Refused {
                    customer,
                    state,
                    why,
                } => SubmitError::ContractRefused {
                    customer,
                    state,
                    why,
                },
                ContractRefusal::Paused { customer, reason } => {
                    SubmitError::SendingPaused { customer, reason }
                }
            })?;
        let recipients = &message.envelope.recipients;
        if recipients.len() > self.policy.max_recipients {
            return Err(SubmitError::TooManyRecipients {
                count: recipients.len(),
                limit: self.policy.max_recipients,
            });
        }
        // The limit applies to what the client sent, as SMTP's SIZE does, not to our trace.
        let size = message.message.len() as u64;
        if size > self.policy.max_message_size {
            return Err(SubmitError::TooLarge {
                size,
                limit: self.policy.max_message_size,
            });
        }
        let spool = self.intake.spool();
        policy::disk_reserve_kept(spool).map_err(|e| SubmitError::OutOfSpace(e.to_string()))?;
        let unsubscribe = self
            .unsubscribe
            .plan(customer, &message.tags, &message.message)
            .await
            .map_err(|error| {
                tracing::error!(id = %message.id, %error, "message not accepted: unsubscribe settings unreadable");
                SubmitError::Unavailable("the database is unavailable".into())
            })?;
        let mut copies = Vec::new();
        let split = copies_of(
            message.id,
            message.date,
            &message.envelope,
            unsubscribe.is_some(),
        );
        let mut signed_once = SignedOnce::new();
        for (copy_id, copy_recipients) in split {
            let signed = self
                .smime
                .sign_copy(customer, &copy_recipients, &message.message, &mut signed_once)
                .await
                .map_err(|error| {
                    tracing::error!(id = %message.id, %error, "message not accepted: S/MIME stage failed");
                    SubmitError::Unavailable("the message could not be signed".into())
                })?;
            let body = add_trace_fields(
                signed.as_deref().map_or(&message.message[..], |s| &s[..]),
                &TraceInfo {
                    id: copy_id,
                    helo: None,
                    peer: source_ip,
                    hostname: &self.policy.hostname,
                    tls: None,
                    protocol: "HTTP",
                    recipients: &copy_recipients,
                    at: message.date,
                },
            );
            let body = match (&unsubscribe, copy_recipients.as_slice()) {
                (Some(plan), [recipient]) => self
                    .unsubscribe
                    .apply(plan, customer, copy_id, recipient, body),
                _ => body,
            };
            // Signed last, so that the signature covers the unsubscribe headers and every
            // other change the relay makes.
            let body = self.dkim.sign(customer, body).await.map_err(|error| match error {
                DkimStageError::Unregistered { domain, .. } => {
                    SubmitError::SenderDomainNotRegistered { domain }
                }
                other => {
                    tracing::error!(id = %message.id, error = %other, "message not accepted: DKIM stage failed");
                    SubmitError::Unavailable("the message could not be signed".into())
                }
            })?;
            let meta = SpoolMeta {
                id: copy_id,
                customer_id: customer.clone(),
                envelope: Envelope {
                    mail_from: message.envelope.mail_from.clone(),
                    recipients: copy_recipients,
                },
                received_at: message.date,
                source_ip: source_ip.to_string(),
                size: body.len() as u64,
                tags: message.tags.clone(),
                metadata: message.metadata.clone(),
            };
            copies.push((meta, body));
        }
        let first_size = copies.first().map_or(0, |(meta, _)| meta.size);
        let reservation = policy::reserve(spool, first_size)
            .map_err(|e| SubmitError::OutOfSpace(e.to_string()))?;
        let copy_ids: Vec<(MessageId, String)> = if copies.len() > 1 {
            copies
                .iter()
                .map(|(meta, _)| (meta.id, meta.envelope.recipients[0].clone()))
                .collect()
        } else {
            Vec::new()
        };
        let accepted = if copies.len() == 1 {
            let (meta, body) = copies.pop().expect("one copy");
            self.intake.accept(meta, body, reservation).await
        } else {
            let copies = with_reservations(spool, copies, reservation)
                .map_err(|e| SubmitError::OutOfSpace(e.to_string()))?;
            // Each copy has one recipient: its suppressed index, if any, is 0. Mapped back to
            // the recipients' places in the envelope.
            self.intake.accept_copies(copies).await.map(|per_copy| {
                per_copy
                    .iter()
                    .enumerate()
                    .filter(|(_, suppressed)| !suppressed.is_empty())
                    .map(|(i, _)| i as u32)
                    .collect()
            })
        };
        let suppressed = match accepted {
            Ok(suppressed) => suppressed,
            Err(error) if error.is_out_of_space() => {
                return Err(SubmitError::OutOfSpace(error.to_string()));
            }
            Err(error) => {
                tracing::error!(id = %message.id, %error, "message not accepted");
                return Err(SubmitError::Unavailable(
                    "the message could not be stored".into(),
                ));
            }
        };
        policy::count_accepted(recipients.len());
        tracing::debug!(id = %message.id, %customer, recipients = recipients.len(), "accepted over HTTP");
        let mut outcome = SubmitOutcome {
            id: message.id,
            accepted: Vec::with_capacity(recipients.len() - suppressed.len()),
            suppressed: Vec::with_capacity(suppressed.len()),
            copies: copy_ids,
        };
        for (i, recipient) in message.envelope.recipients.into_iter().enumerate() {
            if suppressed.binary_search(&(i as u32)).is_ok() {
                outcome.suppressed.push(recipient);
            } else {
                outcome.accepted.push(recipient);
            }
        }
        Ok(outcome)
    }

    /// Takes in the messages of a batch for `customer`, each on its own (one refused does not
    /// refuse the others), and answers in their order. They go in concurrently, so that the
    /// intake's group commit records many in one database transaction instead of waiting for
    /// one fsync per message.
    pub async fn submit_all(
        &self,
        customer: &CustomerId,
        source_ip: IpAddr,
        messages: Vec<ComposedMessage>,
    ) -> Vec<Result<SubmitOutcome, SubmitError>> {
        let count = messages.len();
        let mut tasks = tokio::task::JoinSet::new();
        let mut results: Vec<Option<Result<SubmitOutcome, SubmitError>>> =
            std::iter::repeat_with(|| None).take(count).collect();
        for (i, message) in messages.into_iter().enumerate() {
            if tasks.len() >= BATCH_CONCURRENCY
                && let Some(done) = tasks.join_next().await
            {
                let (j, result) = done.expect("a submit task does not panic");
                results[j] = Some(result);
            }
            let submitter = self.clone();
            let customer = customer.clone();
            tasks.spawn(async move { (i, submitter.submit(&customer, source_ip, message).await) });
        }
        while let Some(done) = tasks.join_next().await {
            let (j, result) = done.expect("a submit task does not panic");
            results[j] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.expect("every message was submitted"))
            .collect()
    }
}

/// Messages of one batch in the intake at once: enough to fill a group commit, few enough not
/// to crowd out the SMTP sessions' messages.
const BATCH_CONCURRENCY: usize = 64;
