//! The error server: the policy of the second SMTP listener, which takes in what comes
//! back — bounces to VERP return paths, feedback reports, and mail for the contracts' inbound
//! routes — and refuses everything else with `550 5.1.1`.
//!
//! A bounce is analysed ([`hikyaku_bounce`]), mapped to its message and recipient (the VERP
//! address says which; its HMAC tag proves the address is ours, so forged bounces cannot
//! suppress a stranger's recipient), and recorded as `bounced`, `deferred` or `complaint`
//! events with their effect on the contract's suppression list, in one transaction. Inbound
//! mail is queued for its route's endpoint ([`hikyaku_inbound_parse`]). The sender hears `250` only
//! after all of that is committed; if the database cannot take it, `451`, and the sender
//! retries: nothing it handed over is lost.
//!
//! It owns the mapping from what came back to what it means (`report`). It does not read bounce
//! formats (the analyser does), post to endpoints (the inbound poster does) or speak SMTP (the
//! smtp-server engine does).

pub mod report;

use hikyaku_inbound_parse::Inbound;
use hikyaku_model::{Envelope, MessageId, Timestamp, VerpAddress, VerpKey, VerpRecipient};
use hikyaku_relay::trace::{TraceInfo, received_field};
use hikyaku_smtp_server::{
    AuthOutcome, EnhancedStatus, MailParams, Reply, SessionContext, SessionHandler,
};
use hikyaku_spool::DiskReserve;
use hikyaku_store::{
    BounceEvent, InboundRoute, SoftBouncePolicy, Store, StoreError, UnsubscribeKey, Unsubscription,
};
use std::sync::Arc;

/// What the error server needs beyond the SMTP engine's limits.
#[derive(Debug, Clone)]
pub struct ErrorServerSettings {
    /// The platform's domain of VERP return paths. Return paths are also taken on every bounce
    /// domain a contract registered (in the store); without either no bounce is accepted (only
    /// inbound mail).
    pub bounce_domain: Option<String>,
    /// Addresses whose mail is read as feedback reports (ARF) that name their message through
    /// the original they enclose.
    pub feedback_addresses: Vec<String>,
    pub verp_key: VerpKey,
    /// This node's name, for the `Received` field of inbound mail.
    pub hostname: String,
    pub soft_bounces: SoftBouncePolicy,
}

/// The error server's [`SessionHandler`].
pub struct ErrorServer {
    store: Store,
    inbound: Inbound,
    settings: Arc<ErrorServerSettings>,
    unsubscribe_key: UnsubscribeKey,
    /// Free space kept on the database's file system; none when not set.
    disk: Option<DiskReserve>,
}

/// What one accepted recipient of the error server is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Addressee {
    /// A VERP return path: a report about one of our messages.
    ReturnPath(VerpAddress),
    /// A feedback-loop address: the report names its message itself.
    FeedbackLoop,
    /// A contract's inbound route.
    Inbound(InboundRoute, String),
    /// The mailto address of a message's `List-Unsubscribe` field: its recipient unsubscribes.
    Unsubscribe(MessageId),
}

/// Per-connection state: the recipients of the transaction in progress.
#[derive(Default)]
pub struct ErrorSession {
    addressees: Vec<Addressee>,
}

impl ErrorServer {
    pub fn new(store: Store, inbound: Inbound, settings: ErrorServerSettings) -> Self {
        describe_metrics();
        ErrorServer {
            unsubscribe_key: store.unsubscribe_key(),
            store,
            inbound,
            settings: Arc::new(settings),
            disk: None,
        }
    }

    /// Refuses new mail with `452 4.3.1` while the file system of `disk` is below its reserve,
    /// so that a filling disk never stalls the sessions on failing writes.
    pub fn with_disk_reserve(mut self, disk: DiskReserve) -> Self {
        self.disk = Some(disk);
        self
    }

    async fn addressee(&self, to: &str) -> Result<Option<Addressee>, Reply> {
        let domain = to.rsplit_once('@').map(|(_, d)| d.trim_end_matches('.'));
        // The tag is checked first: it costs no database look-up, and only a genuine return
        // path makes the domain worth looking up.
        if let Some(domain) = domain
            && let Some(verp) = self.settings.verp_key.decode(to)
            && self.is_bounce_domain(domain).await?
        {
            return Ok(Some(Addressee::ReturnPath(verp)));
        }
        if let Some(domain) = domain
            && let Some(message) = self.unsubscribe_key.open_mailto(to)
            && self.is_bounce_domain(domain).await?
        {
            return Ok(Some(Addressee::Unsubscribe(message)));
        }
        if self
            .settings
            .feedback_addresses
            .iter()
            .any(|a| a.eq_ignore_ascii_case(to))
        {
            return Ok(Some(Addressee::FeedbackLoop));
        }
        match self.store.inbound_route_for(to).await {
            Ok(Some(route)) => Ok(Some(Addressee::Inbound(route, to.to_string()))),
            Ok(None) => Ok(None),
            Err(error) => Err(database_unavailable(error)),
        }
    }

    /// Whether return paths may live on `domain`: the platform's bounce domain, or one a contract
    /// registered as its own (read from the store each time, so that a domain works from the
    /// moment it is set and stops the moment it is cleared).
    async fn is_bounce_domain(&self, domain: &str) -> Result<bool, Reply> {
        if self
            .settings
            .bounce_domain
            .as_deref()
            .is_some_and(|ours| domain.eq_ignore_ascii_case(ours))
        {
            return Ok(true);
        }
        match self.store.bounce_domain_holder(domain).await {
            Ok(holder) => Ok(holder.is_some()),
            Err(error) => Err(database_unavailable(error)),
        }
    }

    /// Everything the reports in `raw` mean, for the addressees that are reports.
    async fn report_events(
        &self,
        addressees: &[Addressee],
        raw: &Arc<Vec<u8>>,
        at: Timestamp,
    ) -> Result<Vec<BounceEvent>, Reply> {
        let mut references: Vec<(MessageId, VerpRecipient)> = Vec::new();
        let mut unresolved_feedback = false;
        for addressee in addressees {
            match addressee {
                Addressee::ReturnPath(verp) => references.push((verp.message, verp.recipient)),
                Addressee::FeedbackLoop => unresolved_feedback = true,
                Addressee::Inbound(..) | Addressee::Unsubscribe(_) => {}
            }
        }
        if references.is_empty() && !unresolved_feedback {
            return Ok(Vec::new());
        }
        // The analyser is synchronous CPU work on up to a whole message: off the I/O threads.
        let bytes = Arc::clone(raw);
        let analysis = tokio::task::spawn_blocking(move || hikyaku_bounce::analyse(&bytes))
            .await
            .map_err(|error| {
                tracing::error!(%error, "the bounce analyser failed");
                Reply::temporary_failure("Temporary local problem, try again later")
            })?;
        metrics::counter!("hikyaku_error_server_reports_total", "kind" => kind_label(analysis.kind))
            .increment(1);
        if unresolved_feedback {
            let registered = self
                .store
                .bounce_domains()
                .await
                .map_err(database_unavailable)?;
            let platform = self.settings.bounce_domain.as_deref();
            let is_bounce_domain = |domain: &str| {
                let domain = domain.trim_end_matches('.');
                platform.is_some_and(|ours| domain.eq_ignore_ascii_case(ours))
                    || registered
                        .iter()
                        .any(|d| domain.eq_ignore_ascii_case(&d.domain))
            };
            match report::referenced_message(raw, &self.settings.verp_key, is_bounce_domain) {
                Some(reference) => references.push(reference),
                None => {
                    tracing::info!(
                        "a feedback report that names no message of ours: nothing to record"
                    );
                    metrics::counter!("hikyaku_error_server_unmatched_reports_total").increment(1);
                }
            }
        }
        references.sort_by_key(|(id, about)| (*id, matches!(about, VerpRecipient::Message)));
        references.dedup();
        let mut events = Vec::new();
        for (id, about) in references {
            let message = self
                .store
                .queued_message(id)
                .await
                .map_err(database_unavailable)?;
            let Some(message) = message else {
                // Its records are gone (past the retention period, or the contract ended).
                tracing::info!(message = %id, "a report about a message no longer on record");
                metrics::counter!("hikyaku_error_server_unmatched_reports_total").increment(1);
                continue;
            };
            let found = report::events_for(&message, about, &analysis, at);
            if found.unmatched > 0 {
                tracing::info!(message = %id, records = found.unmatched, "report records about addresses the message was not sent to");
            }
            tracing::info!(message = %id, customer = %message.customer_id, events = found.events.len(), kind = kind_label(analysis.kind), "report received");
            events.extend(found.events);
        }
        Ok(events)
    }
}

impl ErrorServer {
    /// A mail to the mailto address of `message`'s `List-Unsubscribe`: its recipient goes on
    /// the contract's list. The message's record says who that is (a message with links has
    /// one recipient); one no longer on record is only logged. What the mail says does not
    /// matter (RFC 2369 asks for nothing), nor who sent it: the address is the proof, as the
    /// link is.
    async fn unsubscribe(&self, message: MessageId, at: Timestamp) -> Result<(), StoreError> {
        let Some(queued) = self.store.queued_message(message).await? else {
            tracing::info!(%message, "an unsubscribe mail about a message no longer on record");
            return Ok(());
        };
        let [recipient] = queued.recipients.as_slice() else {
            tracing::warn!(%message, recipients = queued.recipients.len(), "an unsubscribe mail about a message with several recipients: ignored");
            return Ok(());
        };
        let record = self
            .store
            .record_unsubscribe(&Unsubscription {
                customer_id: &queued.customer_id,
                message_id: message,
                address: &recipient.address,
                method: hikyaku_model::UnsubscribeMethod::Mailto,
                at,
            })
            .await;
        match record {
            Ok(record) => {
                metrics::counter!("hikyaku_error_server_unsubscribed_total").increment(1);
                tracing::info!(%message, customer = %queued.customer_id, new = record.event_recorded, "unsubscribed by mail");
                Ok(())
            }
            // The contract is gone: there is nobody left to send to the address.
            Err(StoreError::ContractNotFound(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

fn kind_label(kind: hikyaku_bounce::MessageKind) -> &'static str {
    use hikyaku_bounce::MessageKind;
    match kind {
        MessageKind::Bounce => "bounce",
        MessageKind::Feedback => "feedback",
        MessageKind::AutoReply => "auto_reply",
        MessageKind::NotBounce => "not_bounce",
    }
}

fn describe_metrics() {
    metrics::describe_counter!(
        "hikyaku_error_server_reports_total",
        "mail received at return paths and feedback addresses, by what the analyser made of it"
    );
    metrics::describe_counter!(
        "hikyaku_error_server_unmatched_reports_total",
        "reports that named no message on record (expired, or not ours)"
    );
    metrics::describe_counter!(
        "hikyaku_error_server_events_total",
        "events recorded from reports (bounced, deferred, complaint)"
    );
    metrics::describe_counter!(
        "hikyaku_error_server_refused_recipients_total",
        "recipients refused 550 5.1.1: neither a valid return path nor an inbound route"
    );
    metrics::describe_counter!(
        "hikyaku_error_server_unsubscribed_total",
        "mails received at List-Unsubscribe mailto addresses (each unsubscribed its recipient)"
    );
    metrics::describe_counter!(
        "hikyaku_error_server_inbound_total",
        "inbound mails queued for their routes' endpoints"
    );
    // Every series is scraped from the start, at zero, not only after its first event.
    use hikyaku_bounce::MessageKind;
    use hikyaku_model::EventKind;
    for kind in [
        MessageKind::Bounce,
        MessageKind::Feedback,
        MessageKind::AutoReply,
        MessageKind::NotBounce,
    ] {
        metrics::counter!("hikyaku_error_server_reports_total", "kind" => kind_label(kind))
            .increment(0);
    }
    for kind in [
        EventKind::Bounced,
        EventKind::Deferred,
        EventKind::Complaint,
    ] {
        metrics::counter!("hikyaku_error_server_events_total", "kind" => kind.as_str())
            .increment(0);
    }
    for name in [
        "hikyaku_error_server_unmatched_reports_total",
        "hikyaku_error_server_refused_recipients_total",
        "hikyaku_error_server_inbound_total",
        "hikyaku_error_server_unsubscribed_total",
    ] {
        metrics::counter!(name).increment(0);
    }
}

fn database_unavailable(error: impl std::fmt::Display) -> Reply {
    tracing::error!(%error, "database unavailable");
    Reply::temporary_failure("Temporary local problem, try again later")
}

/// The reply to a write the database could not take: out of space is `452 4.3.1`, like the
/// relay's, so the sender knows it is the platform's storage and retries.
fn not_recorded(error: &StoreError) -> Reply {
    if error.is_out_of_space() {
        tracing::error!(%error, "database out of space");
        return Reply::insufficient_storage();
    }
    database_unavailable(error)
}

impl SessionHandler for ErrorServer {
    type State = ErrorSession;

    async fn connect(&self, _ctx: &SessionContext) -> Result<ErrorSession, Reply> {
        Ok(ErrorSession::default())
    }

    async fn authenticate(
        &self,
        _state: &mut ErrorSession,
        _ctx: &SessionContext,
        _username: &str,
        _password: &str,
    ) -> AuthOutcome {
        // The engine does not offer AUTH on this listener; refuse if it is ever asked.
        AuthOutcome::Rejected
    }

    async fn mail_from(
        &self,
        state: &mut ErrorSession,
        _ctx: &SessionContext,
        _from: &str,
        _params: &MailParams,
    ) -> Result<(), Reply> {
        // Bounces come from the null sender, inbound mail from anyone: no sender is refused.
        state.addressees.clear();
        if let Some(disk) = &self.disk
            && let Err(error) = disk.check(0)
        {
            tracing::warn!(%error, "new mail refused");
            return Err(Reply::insufficient_storage());
        }
        Ok(())
    }

    async fn rcpt_to(
        &self,
        state: &mut ErrorSession,
        ctx: &SessionContext,
        to: &str,
    ) -> Result<(), Reply> {
        match self.addressee(to).await? {
            Some(addressee) => {
                if !state.addressees.contains(&addressee) {
                    state.addressees.push(addressee);
                }
                Ok(())
            }
            None => {
                tracing::info!(session = ctx.id, peer = %ctx.peer, recipient = %to, "no such return path or inbound route");
                metrics::counter!("hikyaku_error_server_refused_recipients_total").increment(1);
                Err(Reply::new(
                    550,
                    EnhancedStatus::new(5, 1, 1),
                    "No such recipient here",
                ))
            }
        }
    }

    async fn data_start(
        &self,
        state: &mut ErrorSession,
        _ctx: &SessionContext,
    ) -> Result<(), Reply> {
        if state.addressees.is_empty() {
            return Err(Reply::new(
                554,
                EnhancedStatus::new(5, 5, 1),
                "No valid recipients",
            ));
        }
        Ok(())
    }

    async fn message(
        &self,
        state: &mut ErrorSession,
        ctx: &SessionContext,
        envelope: &Envelope,
        body: Vec<u8>,
    ) -> Reply {
        let addressees = std::mem::take(&mut state.addressees);
        let at = Timestamp::now();
        let raw = Arc::new(body);
        let events = match self.report_events(&addressees, &raw, at).await {
            Ok(events) => events,
            Err(reply) => return reply,
        };
        if !events.is_empty() {
            match self
                .store
                .record_bounces(&events, &self.settings.soft_bounces)
                .await
            {
                Ok(suppressed) => {
                    for (event, listed) in events.iter().zip(&suppressed) {
                        metrics::counter!("hikyaku_error_server_events_total", "kind" => event.kind().as_str())
                            .increment(1);
                        tracing::info!(
                            message = %event.message_id,
                            customer = %event.customer_id,
                            kind = %event.kind(),
                            reason = event.details.reason().map(hikyaku_model::Reason::as_str).unwrap_or(""),
                            suppressed = listed,
                            "recorded"
                        );
                    }
                }
                Err(error) => return not_recorded(&error),
            }
        }
        for addressee in &addressees {
            if let Addressee::Unsubscribe(message) = addressee
                && let Err(error) = self.unsubscribe(*message, at).await
            {
                return not_recorded(&error);
            }
        }
        let inbound: Vec<(&InboundRoute, &String)> = addressees
            .iter()
            .filter_map(|a| match a {
                Addressee::Inbound(route, recipient) => Some((route, recipient)),
                _ => None,
            })
            .collect();
        if !inbound.is_empty() {
            let id = MessageId::new(at);
            for (route, recipient) in inbound {
                let trace = received_field(&TraceInfo {
                    id,
                    helo: ctx.helo.as_deref(),
                    peer: ctx.peer.ip(),
                    hostname: &self.settings.hostname,
                    tls: ctx
                        .tls
                        .as_ref()
                        .map(|t| (t.protocol.as_str(), t.cipher_suite.as_str())),
                    protocol: ctx.received_protocol(),
                    recipients: std::slice::from_ref(recipient),
                    at,
                });
                let mut traced = Vec::with_capacity(trace.len() + raw.len());
                traced.extend_from_slice(trace.as_bytes());
                traced.extend_from_slice(&raw);
                if let Err(error) = self
                    .inbound
                    .enqueue(route, &envelope.mail_from, recipient, &traced, at)
                    .await
                {
                    tracing::error!(%error, route = route.id, "inbound mail not queued");
                    if let hikyaku_inbound_parse::InboundError::Store(error) = &error
                        && error.is_out_of_space()
                    {
                        return Reply::insufficient_storage();
                    }
                    return Reply::temporary_failure(
                        "Temporary local problem, message not accepted; try again later",
                    );
                }
                metrics::counter!("hikyaku_error_server_inbound_total").increment(1);
            }
        }
        tracing::debug!(
            session = ctx.id,
            recipients = envelope.recipients.len(),
            "taken"
        );
        Reply::new(250, EnhancedStatus::new(2, 0, 0), "Message accepted")
    }

    fn reset(&self, state: &mut ErrorSession) {
        state.addressees.clear();
    }
}
