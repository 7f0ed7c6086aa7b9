//! Webhooks: each contract's events POSTed to its endpoints. It owns the sender — which reads
//! the outbox the event writer fills in each event's own transaction, so posting never slows
//! mail and a crash loses nothing — the request format, the signatures, the batching, the
//! retries, the attempt log entries and the disabling of endpoints that keep failing. It does
//! not decide which events exist (the store's event writer does) nor speak HTTP itself
//! (`hikyaku-http-post` does, with its SSRF guard and deadlines).
//!
//! # Requests
//!
//! Every request is signed as Standard Webhooks says ([`signing`]): `webhook-id`,
//! `webhook-timestamp` and `webhook-signature` headers. An endpoint in the standard format gets
//! a JSON body [`WebhookPayload`] holding events in the send log's shape, oldest first; one in
//! a hosted format gets the hosted service's event webhook bodies instead ([`hosted`]). An endpoint gets batches of up to
//! [`WebhookSettings::batch_max`] events, sent at the latest [`WebhookSettings::batch_window`]
//! after the oldest, or one event per request if it asked for that.
//!
//! # Delivery
//!
//! At least once. A request's events and `webhook-id` are fixed before its first attempt
//! (stored with the outbox rows), so every retry, on any node and after any crash, sends the
//! same events under the same ID, and receivers dedupe by it. One request per endpoint at a
//! time, in the order the events were written: a failing request holds back the endpoint's
//! later events until it succeeds or its events are given up ([`WebhookSettings::retry_for`]
//! after the oldest), which keeps each message's events in order. Between failures the
//! endpoint waits with exponential back-off and jitter; an endpoint that has failed for
//! [`WebhookSettings::disable_after`] is disabled.

mod dns;
pub mod hosted;
pub mod signing;

pub use dns::{DnsSource, HickoryResolve};
pub use hikyaku_api_types::WebhookPayload;

use bytes::Bytes;
use hikyaku_http_post::{
    AddressPolicy, Answer, Backoff, HttpPoster, PostError, PosterSettings, Resolve,
};
use hikyaku_model::{CustomerId, EventKind, Timestamp};
use hikyaku_store::{
    EndpointNext, FollowOn, NewWebhookEndpoint, Store, StoreError, WebhookAttempt, WebhookBatch,
    WebhookEndpoint, WebhookEvent, WebhookFormat, WebhookOutcome,
};
use hyper::header::{HeaderName, HeaderValue};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// The kinds of event an endpoint may subscribe to.
pub const SUBSCRIBABLE: [EventKind; 9] = [
    EventKind::Accepted,
    EventKind::Delivered,
    EventKind::Deferred,
    EventKind::Bounced,
    EventKind::Expired,
    EventKind::Suppressed,
    EventKind::Complaint,
    EventKind::Unsubscribed,
    EventKind::Inbound,
];

/// How the sender works. [`WebhookSettings::default`] is what the README documents.
#[derive(Clone)]
pub struct WebhookSettings {
    pub batch_max: u32,
    pub batch_window: Duration,
    pub retry_for: Duration,
    pub backoff: Backoff,
    pub disable_after: Duration,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// How much of an answer is read and logged.
    pub answer_limit: usize,
    /// Endpoints served at once on this node.
    pub max_in_flight: usize,
    /// How often the outbox is looked at.
    pub poll_interval: Duration,
    /// Plain `http://` and loopback/private addresses allowed (tests, closed networks).
    pub allow_private_endpoints: bool,
    /// Where endpoint names are looked up; the system's resolver via hickory when `None`.
    pub resolver: Option<Arc<dyn Resolve>>,
    /// Trust anchors for `https://` endpoints; the Mozilla roots when `None`.
    pub tls_roots: Option<Arc<rustls::RootCertStore>>,
    /// The zone of the hosted formats' record times, in minutes east of UTC: the one the
    /// hosted API's lists write times in (`contracts.usage_time_zone`), so a receiver sees the
    /// same `created` in a webhook as in `deliveries/list`.
    pub records_offset_minutes: i32,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            batch_max: 100,
            batch_window: Duration::from_secs(1),
            retry_for: Duration::from_secs(86_400),
            backoff: Backoff {
                initial: Duration::from_secs(5),
                max: Duration::from_secs(3600),
            },
            disable_after: Duration::from_secs(5 * 86_400),
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            answer_limit: 1024,
            max_in_flight: 16,
            poll_interval: Duration::from_millis(200),
            allow_private_endpoints: false,
            resolver: None,
            tls_roots: None,
            records_offset_minutes: hosted::DEFAULT_OFFSET_MINUTES,
        }
    }
}

impl WebhookSettings {
    /// How long a claimed endpoint stays with its sender: past one request's deadline, so a
    /// live sender always records its attempt first; a dead one delays the endpoint by this.
    fn claim_lease(&self) -> Duration {
        self.request_timeout + Duration::from_secs(10)
    }

    /// How old an endpoint's oldest waiting event must be for a request to be due although
    /// fewer than `batch_max` wait. The outbox is looked at every poll interval, so an event
    /// taken once it is `batch_window` old would leave up to a poll interval later than
    /// promised: it is taken a poll interval early, and leaves between the two, never after
    /// the window.
    fn claim_window(&self) -> Duration {
        self.batch_window.saturating_sub(self.poll_interval)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot set up the HTTPS client: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot set up the resolver: {0}")]
    Resolver(String),
    #[error("invalid endpoint URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "unknown event kind {0:?} (one of: accepted, delivered, deferred, bounced, expired, suppressed, complaint, unsubscribed, inbound)"
    )]
    UnknownKind(String),
    /// An option of the endpoint that cannot be (`field` names it).
    #[error("{reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Longest `api_key` a hosted-format body carries.
pub const MAX_API_KEY_LEN: usize = 256;

/// How an endpoint is sent to, besides its URL and events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointOptions {
    /// One event per request instead of batches.
    pub one_per_request: bool,
    pub format: WebhookFormat,
    /// Sent in a hosted format's body for the receiver to check.
    pub api_key: Option<String>,
}

impl Default for EndpointOptions {
    fn default() -> Self {
        EndpointOptions {
            one_per_request: false,
            format: WebhookFormat::Standard,
            api_key: None,
        }
    }
}

impl EndpointOptions {
    /// Checks the options against each other and against `kinds`: an `api_key` only for a
    /// hosted format, and a hosted format only for kinds that make its records.
    pub fn check(&self, kinds: &[EventKind]) -> Result<(), WebhookError> {
        if let Some(key) = &self.api_key {
            if !self.format.is_hosted() {
                return Err(WebhookError::Invalid {
                    field: "api_key",
                    reason: "only the hosted formats (hosted-json, hosted-form) send an api_key"
                        .to_string(),
                });
            }
            if key.is_empty()
                || key.len() > MAX_API_KEY_LEN
                || !key.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(WebhookError::Invalid {
                    field: "api_key",
                    reason: format!(
                        "an api_key is 1 to {MAX_API_KEY_LEN} printable ASCII characters without spaces"
                    ),
                });
            }
        }
        if self.format.is_hosted()
            && let Some(kind) = kinds.iter().find(|k| !hosted::HOSTED_KINDS.contains(k))
        {
            return Err(WebhookError::Invalid {
                field: "events",
                reason: format!(
                    "the hosted formats have no record for {kind} events (they take: accepted, delivered, deferred, bounced, expired, suppressed, complaint, unsubscribed)"
                ),
            });
        }
        Ok(())
    }
}

/// A format's name as the API and the CLI take it: `standard`, `hosted-json`, `hosted-form`.
pub fn parse_format(name: &str) -> Result<WebhookFormat, WebhookError> {
    name.trim().parse().map_err(|_| WebhookError::Invalid {
        field: "format",
        reason: format!(
            "unknown webhook format {name:?} (one of: standard, hosted-json, hosted-form)"
        ),
    })
}

/// The event kinds of a list as [`parse_kinds`] reads it, where an absent list means every kind
/// the format sends.
pub fn parse_kinds_for<S: AsRef<str>>(
    names: Option<&[S]>,
    format: WebhookFormat,
) -> Result<Vec<EventKind>, WebhookError> {
    match names {
        None if format.is_hosted() => Ok(hosted::HOSTED_KINDS.to_vec()),
        names => parse_kinds(names),
    }
}

/// Checks an endpoint URL before it is stored: `https://` with a host, or plain `http://` only
/// where private endpoints are allowed; an IP-address host must be public unless they are. (A
/// name is checked at each request, on the address it resolves to.)
pub fn check_endpoint_url(url: &str, allow_private: bool) -> Result<(), WebhookError> {
    let invalid = |reason: &str| WebhookError::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if url.len() > 2048 {
        return Err(invalid("longer than 2048 characters"));
    }
    let uri: hyper::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if allow_private => {}
        Some("http") => return Err(invalid("must be https://")),
        _ => return Err(invalid("must be https://")),
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>()
        && !allow_private
        && !hikyaku_http_post::is_public(ip)
    {
        return Err(invalid("not a public address"));
    }
    if !allow_private && (bare.eq_ignore_ascii_case("localhost") || bare.ends_with(".localhost")) {
        return Err(invalid("not a public address"));
    }
    Ok(())
}

/// The event kinds of a `delivered,bounced` list (every subscribable kind when `None`), each
/// known and subscribable.
pub fn parse_kinds<S: AsRef<str>>(names: Option<&[S]>) -> Result<Vec<EventKind>, WebhookError> {
    let Some(names) = names else {
        return Ok(SUBSCRIBABLE.to_vec());
    };
    let mut kinds = Vec::new();
    for name in names {
        let name = name.as_ref().trim();
        if name.is_empty() {
            continue;
        }
        let kind: EventKind = name
            .parse()
            .ok()
            .filter(|k| SUBSCRIBABLE.contains(k))
            .ok_or_else(|| WebhookError::UnknownKind(name.to_string()))?;
        kinds.push(kind);
    }
    if kinds.is_empty() {
        return Err(WebhookError::UnknownKind(String::new()));
    }
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// Adds a Standard Webhooks endpoint with a new secret: returns its ID and the secret (shown
/// once).
pub async fn add_endpoint(
    store: &Store,
    customer: &CustomerId,
    url: &str,
    kinds: &[EventKind],
    one_per_request: bool,
    allow_private: bool,
) -> Result<(i64, String), WebhookError> {
    let options = EndpointOptions {
        one_per_request,
        ..EndpointOptions::default()
    };
    add_endpoint_with(store, customer, url, kinds, &options, allow_private).await
}

/// Adds an endpoint with a new secret, sent as `options` say: returns its ID and the secret
/// (shown once; a hosted-format endpoint's requests are signed with it too).
pub async fn add_endpoint_with(
    store: &Store,
    customer: &CustomerId,
    url: &str,
    kinds: &[EventKind],
    options: &EndpointOptions,
    allow_private: bool,
) -> Result<(i64, String), WebhookError> {
    check_endpoint_url(url, allow_private)?;
    options.check(kinds)?;
    let secret = signing::new_secret();
    let new = NewWebhookEndpoint {
        url,
        secret: &secret,
        kinds,
        one_per_request: options.one_per_request,
        format: options.format,
        api_key: options.api_key.as_deref(),
    };
    let id = store
        .create_webhook_endpoint_as(customer, &new, Timestamp::now())
        .await?;
    Ok((id, secret))
}

/// An edit of an endpoint: each field given replaces the endpoint's, the rest stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointEdit {
    pub url: Option<String>,
    pub kinds: Option<Vec<EventKind>>,
    pub one_per_request: Option<bool>,
    pub format: Option<WebhookFormat>,
    /// `Some(None)` removes the key.
    pub api_key: Option<Option<String>>,
    /// `false` turns it off as the sender does after failures (no requests, and new events no
    /// longer queue for it); `true` turns it on again, its failures forgotten.
    pub enabled: Option<bool>,
}

/// Why an endpoint the contract turned off is not sent to.
pub const DISABLED_BY_CONTRACT: &str = "disabled by the contract";

/// Edits the contract's endpoint `id`: the result is checked as a new endpoint would be (its
/// URL, its options against each other and its kinds) before anything is stored. A change to
/// the standard format drops the `api_key` unless the edit gives one (which is then refused):
/// only the hosted formats carry it. Returns the endpoint as it now is, or `None` when the
/// contract has no such endpoint.
pub async fn edit_endpoint(
    store: &Store,
    customer: &CustomerId,
    id: i64,
    edit: &EndpointEdit,
    allow_private: bool,
) -> Result<Option<WebhookEndpoint>, WebhookError> {
    let Some(current) = store.webhook_endpoint(customer, id).await? else {
        return Ok(None);
    };
    let url = edit.url.as_deref().unwrap_or(&current.url);
    let kinds = edit.kinds.as_deref().unwrap_or(&current.kinds);
    let format = edit.format.unwrap_or(current.format);
    let api_key = match &edit.api_key {
        Some(key) => key.clone(),
        None if !format.is_hosted() => None,
        None => current.api_key.clone(),
    };
    let options = EndpointOptions {
        one_per_request: edit.one_per_request.unwrap_or(current.one_per_request),
        format,
        api_key,
    };
    if edit.url.is_some() {
        check_endpoint_url(url, allow_private)?;
    }
    options.check(kinds)?;
    let settings = hikyaku_store::WebhookEndpointSettings {
        url,
        kinds,
        one_per_request: options.one_per_request,
        format: options.format,
        api_key: options.api_key.as_deref(),
    };
    if !store
        .update_webhook_endpoint(customer, id, &settings)
        .await?
    {
        return Ok(None);
    }
    match edit.enabled {
        Some(true) if current.disabled.is_some() => {
            store
                .set_webhook_endpoint_disabled(customer, id, None)
                .await?;
        }
        Some(false) if current.disabled.is_none() => {
            let disabled = Some((Timestamp::now(), DISABLED_BY_CONTRACT));
            store
                .set_webhook_endpoint_disabled(customer, id, disabled)
                .await?;
        }
        _ => {}
    }
    Ok(store.webhook_endpoint(customer, id).await?)
}

/// Gives the endpoint a new secret; the old one keeps signing beside it for `overlap`. Returns
/// the new secret and the end of the overlap, or `None` when the contract has no such endpoint.
pub async fn rotate_secret(
    store: &Store,
    customer: &CustomerId,
    id: i64,
    overlap: Duration,
) -> Result<Option<(String, Timestamp)>, WebhookError> {
    let secret = signing::new_secret();
    let until = Timestamp::now().saturating_add(overlap);
    Ok(store
        .rotate_webhook_secret(customer, id, &secret, until)
        .await?
        .then_some((secret, until)))
}

/// The request body for `events`, made at `now`.
pub fn payload(customer: &CustomerId, events: &[WebhookEvent], now: Timestamp) -> WebhookPayload {
    WebhookPayload {
        kind: "events".to_string(),
        timestamp: now.into(),
        data: events
            .iter()
            .map(|event| match event {
                WebhookEvent::Logged(event) => hikyaku_api_types::Event::from(&**event),
                WebhookEvent::Test(at) => hikyaku_api_types::Event {
                    kind: "test".to_string(),
                    time: (*at).into(),
                    message_id: String::new(),
                    customer_id: customer.to_string(),
                    sender: String::new(),
                    recipient: String::new(),
                    details: Default::default(),
                    tags: Vec::new(),
                    metadata: Default::default(),
                },
            })
            .collect(),
    }
}

/// A new `webhook-id`.
fn new_webhook_id() -> String {
    format!("msg_{:032x}", rand::random::<u128>())
}

/// The sender. Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    store: Store,
    settings: Arc<WebhookSettings>,
    poster: HttpPoster,
}

impl Sender {
    pub fn new(store: Store, settings: WebhookSettings) -> Result<Sender, WebhookError> {
        let resolver: Arc<dyn Resolve> = match &settings.resolver {
            Some(resolver) => resolver.clone(),
            None => {
                Arc::new(HickoryResolve::new(DnsSource::System).map_err(WebhookError::Resolver)?)
            }
        };
        let poster = HttpPoster::new(PosterSettings {
            request_timeout: settings.request_timeout,
            connect_timeout: settings.connect_timeout.min(settings.request_timeout),
            roots: settings.tls_roots.clone(),
            answer_limit: settings.answer_limit,
            resolver: Some(resolver),
            addresses: if settings.allow_private_endpoints {
                AddressPolicy::Any
            } else {
                AddressPolicy::PublicOnly
            },
        })?;
        Ok(Sender {
            store,
            settings: Arc::new(settings),
            poster,
        })
    }

    /// Sends until `stop` completes, then waits (at most one request's deadline) for the
    /// requests in flight; one cut short is sent again later under the same `webhook-id`.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let settings = self.settings.clone();
        let window = settings.claim_window();
        let mut running: JoinSet<Option<Timestamp>> = JoinSet::new();
        // The earliest time a retry this node scheduled comes due: looked for then, not at
        // the next poll, so that short back-offs stay short.
        let mut soonest: Option<Timestamp> = None;
        tokio::pin!(stop);
        loop {
            let free = settings.max_in_flight.saturating_sub(running.len());
            let now = Timestamp::now();
            if free > 0 {
                if soonest.is_some_and(|t| t <= now) {
                    soonest = None;
                }
                let claimed = self
                    .store
                    .claim_webhook_endpoints(
                        now,
                        settings.claim_lease(),
                        window,
                        settings.batch_max,
                        u32::try_from(free).unwrap_or(u32::MAX),
                    )
                    .await;
                match claimed {
                    Ok(endpoints) => {
                        for endpoint in endpoints {
                            let sender = self.clone();
                            running.spawn(async move { sender.serve(endpoint).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the webhook outbox"),
                }
            }
            let mut wait = settings.poll_interval;
            if let Some(at) = soonest {
                let until =
                    u64::try_from(at.as_millis() - Timestamp::now().as_millis()).unwrap_or(0);
                wait = wait.min(Duration::from_millis(until));
            }
            tokio::select! {
                _ = &mut stop => break,
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok(Some(retry_at)) = done {
                        soonest = Some(soonest.map_or(retry_at, |s| s.min(retry_at)));
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let _ = tokio::time::timeout(settings.request_timeout, async {
            while running.join_next().await.is_some() {}
        })
        .await;
    }

    /// One request to a claimed endpoint: the next batch, sent, recorded. Returns when the
    /// endpoint wants to be looked at again, if it failed.
    async fn serve(&self, endpoint: WebhookEndpoint) -> Option<Timestamp> {
        match self.send_next(&endpoint).await {
            Ok(Some(EndpointNext::RetryAt(at))) => Some(at),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(endpoint = endpoint.id, error = %e, "webhook round failed; the endpoint is tried again when its claim lapses");
                None
            }
        }
    }

    /// Sends the endpoint's next request and records the attempt; returns what follows for the
    /// endpoint, or `None` when there was nothing to send. While the endpoint answers and has
    /// another request due, the claim is kept and that request goes next (its events fixed in
    /// the transaction that records the last attempt), for up to half the claim's lease: the
    /// endpoint's settings held in memory are then read afresh by the next claim, so a secret
    /// rotated or an endpoint disabled meanwhile takes effect within that time.
    pub async fn send_next(
        &self,
        endpoint: &WebhookEndpoint,
    ) -> Result<Option<EndpointNext>, WebhookError> {
        let max = if endpoint.one_per_request {
            1
        } else {
            self.settings.batch_max
        };
        let batch = self
            .store
            .next_webhook_batch(endpoint.id, max, &new_webhook_id())
            .await?;
        let Some(mut batch) = batch else {
            self.store
                .release_webhook_endpoint(endpoint.id, Timestamp::now())
                .await?;
            return Ok(None);
        };
        let held_since = Instant::now();
        let hold = self.settings.claim_lease() / 2;
        loop {
            let (attempt, next) = self.attempt(endpoint, &batch).await;
            let webhook_id = new_webhook_id();
            let now = Timestamp::now();
            let follow_on = (held_since.elapsed() < hold).then(|| FollowOn {
                max,
                new_webhook_id: &webhook_id,
                due_by: Timestamp(now.as_millis().saturating_sub(
                    i64::try_from(self.settings.claim_window().as_millis()).unwrap_or(i64::MAX),
                )),
                claim_until: now.saturating_add(self.settings.claim_lease()),
            });
            let following = self
                .store
                .finish_webhook_attempt(endpoint, &batch, &attempt, &next, follow_on.as_ref())
                .await?;
            if let EndpointNext::Disable { reason } = &next {
                tracing::warn!(endpoint = endpoint.id, customer = %endpoint.customer_id, %reason, "webhook endpoint disabled");
                notify_admins_endpoint_disabled(&self.store, endpoint, reason, attempt.at).await;
            }
            match following {
                Some(following) => batch = following,
                None => return Ok(Some(next)),
            }
        }
    }

    async fn attempt(
        &self,
        endpoint: &WebhookEndpoint,
        batch: &WebhookBatch,
    ) -> (WebhookAttempt, EndpointNext) {
        let now = Timestamp::now();
        let started = Instant::now();
        let sent = if endpoint.format.is_hosted() {
            self.post_hosted(endpoint, batch, now).await
        } else {
            let body = serde_json::to_vec(&payload(&endpoint.customer_id, &batch.events, now))
                .expect("the payload serialises");
            self.post(endpoint, &batch.webhook_id, "application/json", body, now)
                .await
        };
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let finished = Timestamp::now();
        let (http_status, error, answer, delivered) = match &sent {
            Ok(answer) => {
                let status = answer.status;
                let error = (!status.is_success()).then(|| {
                    if status.is_redirection() {
                        format!("answered {status}: redirects are not followed")
                    } else {
                        format!("answered {status}")
                    }
                });
                let text = String::from_utf8_lossy(&answer.head).into_owned();
                (
                    Some(status.as_u16()),
                    error,
                    (!text.is_empty()).then_some(text),
                    status.is_success(),
                )
            }
            Err(e) => (None, Some(e.to_string()), None, false),
        };
        let deadline = batch.oldest.saturating_add(self.settings.retry_for);
        let outcome = if delivered {
            WebhookOutcome::Delivered
        } else if finished >= deadline {
            WebhookOutcome::GaveUp
        } else {
            WebhookOutcome::Retry
        };
        let next = if delivered {
            EndpointNext::Healthy
        } else {
            let failing_since = endpoint.failing_since.unwrap_or(now);
            if finished >= failing_since.saturating_add(self.settings.disable_after) {
                EndpointNext::Disable {
                    reason: format!(
                        "every request failed since {failing_since}; the last: {}",
                        error.as_deref().unwrap_or("no answer")
                    ),
                }
            } else {
                let wait = self
                    .settings
                    .backoff
                    .delay(endpoint.failures.saturating_add(1));
                // The batch's own deadline: its last attempt is made at it, not after.
                EndpointNext::RetryAt(finished.saturating_add(wait).min(deadline.max(finished)))
            }
        };
        let attempt = WebhookAttempt {
            webhook_id: batch.webhook_id.clone(),
            events: u32::try_from(batch.events.len()).unwrap_or(u32::MAX),
            at: now,
            http_status,
            error,
            latency_ms,
            answer,
            outcome,
        };
        (attempt, next)
    }
}

impl Sender {
    /// One signed request: `webhook-id`, `webhook-timestamp`, `webhook-signature` over `body`.
    async fn post(
        &self,
        endpoint: &WebhookEndpoint,
        webhook_id: &str,
        content_type: &str,
        body: Vec<u8>,
        now: Timestamp,
    ) -> Result<Answer, PostError> {
        let timestamp = now.as_millis().div_euclid(1000);
        let signature =
            signing::signature_header(&endpoint.signing_secrets(now), webhook_id, timestamp, &body);
        let headers = [
            ("webhook-id", webhook_id.to_string()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect::<Vec<_>>();
        self.poster
            .send(&endpoint.url, content_type, &headers, Bytes::from(body))
            .await
    }

    /// A batch in a hosted format: one request per event type, in turn, each under its own
    /// `webhook-id` (the batch's and the type). The first failure ends the attempt and the
    /// whole batch is sent again later, the requests that went through too, under the same IDs,
    /// so a receiver that dedupes keeps each once. All of them together keep to one request's
    /// deadline, so that the endpoint's claim (a request's deadline and more) outlasts them.
    async fn post_hosted(
        &self,
        endpoint: &WebhookEndpoint,
        batch: &WebhookBatch,
        now: Timestamp,
    ) -> Result<Answer, PostError> {
        let deadline = self.settings.request_timeout;
        let ids: Vec<_> = batch
            .events
            .iter()
            .filter_map(|event| match event {
                WebhookEvent::Logged(event) => Some(event.message_id),
                WebhookEvent::Test(_) => None,
            })
            .collect();
        // Without the messages' facts the records would differ from those a retry sends under
        // the same IDs: the attempt fails, and is made again like any other.
        let facts = self
            .store
            .message_facts(&endpoint.customer_id, &ids)
            .await
            .map_err(|e| PostError::Request(format!("the send log could not be read: {e}")))?;
        let requests = hosted::requests(
            endpoint,
            &batch.events,
            self.settings.records_offset_minutes,
            &facts,
        );
        let all = async {
            let mut last = None;
            for request in requests {
                let id = hosted::request_id(&batch.webhook_id, request.event_type);
                let answer = self
                    .post(endpoint, &id, request.content_type, request.body, now)
                    .await?;
                let failed = !answer.status.is_success();
                last = Some(answer);
                if failed {
                    break;
                }
            }
            // Events that make no record (none of those a hosted endpoint subscribes to)
            // need no request: they are done as if one had been answered.
            Ok(last.unwrap_or(Answer {
                status: hyper::StatusCode::NO_CONTENT,
                head: Bytes::new(),
            }))
        };
        tokio::time::timeout(deadline, all)
            .await
            .unwrap_or(Err(PostError::Timeout(deadline)))
    }
}

/// Tells the contract's admins that an endpoint was disabled: a `webhook_endpoint_disabled`
/// notice (which the notice mailer mails to them), keyed by the endpoint and the time, so a
/// re-enabled endpoint disabled again gets a notice of its own. The disabling itself is
/// already stored on the endpoint; a notice that cannot be recorded is logged, not retried.
async fn notify_admins_endpoint_disabled(
    store: &Store,
    endpoint: &WebhookEndpoint,
    reason: &str,
    at: Timestamp,
) {
    let url = hikyaku_model::masked_url(&endpoint.url);
    let recorded = store
        .record_notice(
            &endpoint.customer_id,
            hikyaku_model::NoticeKind::WebhookEndpointDisabled,
            &format!("{}:{}", endpoint.id, at.as_millis()),
            serde_json::json!({
                "endpoint_id": endpoint.id,
                "url": url,
                "reason": reason,
                "disabled_at": at.to_string(),
            }),
            at,
        )
        .await;
    if let Err(error) = recorded {
        tracing::error!(customer = %endpoint.customer_id, endpoint = endpoint.id, %error, "the notice of a disabled webhook endpoint was not recorded");
    }
}

/// An endpoint as the API and the CLI show it (never its secret; its URL's password masked).
pub fn shown(endpoint: &WebhookEndpoint) -> hikyaku_api_types::WebhookEndpoint {
    hikyaku_api_types::WebhookEndpoint {
        id: endpoint.id,
        url: hikyaku_model::masked_url(&endpoint.url),
        events: endpoint
            .kinds
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
        one_per_request: endpoint.one_per_request,
        format: endpoint.format.as_str().to_string(),
        api_key_set: endpoint.api_key.is_some(),
        created_at: endpoint.created_at.into(),
        previous_secret_until: endpoint
            .previous_secret
            .as_ref()
            .map(|(_, until)| (*until).into())
            .filter(|until: &hikyaku_api_types::Time| until.0 > Timestamp::now()),
        failing_since: endpoint.failing_since.map(Into::into),
        disabled_at: endpoint.disabled.as_ref().map(|(at, _)| (*at).into()),
        disabled_reason: endpoint.disabled.as_ref().map(|(_, why)| why.clone()),
    }
}

/// An attempt as the API and the CLI show it.
pub fn attempt_shown(
    entry: &hikyaku_store::WebhookAttemptEntry,
) -> hikyaku_api_types::WebhookAttempt {
    let a = &entry.attempt;
    hikyaku_api_types::WebhookAttempt {
        webhook_id: a.webhook_id.clone(),
        time: a.at.into(),
        events: a.events,
        status: a.http_status,
        error: a.error.clone(),
        latency_ms: a.latency_ms,
        answer: a.answer.clone(),
        outcome: a.outcome.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_are_https_to_public_hosts_unless_private_ones_are_allowed() {
        for good in [
            "https://hooks.example.com/in",
            "https://hooks.example.com:8443/in?x=1",
            "https://93.184.215.14/",
        ] {
            assert!(check_endpoint_url(good, false).is_ok(), "{good}");
        }
        for bad in [
            "http://hooks.example.com/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/",
            "https://api.localhost/",
            "ftp://hooks.example.com/",
            "hooks.example.com",
            "",
        ] {
            assert!(check_endpoint_url(bad, false).is_err(), "{bad}");
        }
        for allowed in [
            "http://127.0.0.1:8080/",
            "https://localhost/",
            "http://[::1]:1/",
        ] {
            assert!(check_endpoint_url(allowed, true).is_ok(), "{allowed}");
        }
        assert!(check_endpoint_url("ftp://127.0.0.1/", true).is_err());
    }

    #[test]
    fn event_lists_name_subscribable_kinds() {
        assert_eq!(parse_kinds::<&str>(None).unwrap(), SUBSCRIBABLE);
        assert_eq!(
            parse_kinds(Some(&["bounced", " delivered", "bounced"])).unwrap(),
            [EventKind::Delivered, EventKind::Bounced]
        );
        for bad in [&["deleted"][..], &["nope"], &[""], &[]] {
            assert!(parse_kinds(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
