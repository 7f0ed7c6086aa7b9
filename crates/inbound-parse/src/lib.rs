//! Inbound parse: mail the error server accepted for a contract's inbound route is
//! queued durably ([`Inbound::enqueue`]), parsed into a JSON document ([`parse`]) or kept raw,
//! and POSTed to the route's endpoint by [`Inbound::run`], signed, and retried with exponential
//! back-off until the endpoint answers 2xx or the lifetime is over. Every attempt is logged in
//! the store.
//!
//! It owns the poster and the document format. It does not receive SMTP (the error server
//! does, and decides which recipients are inbound with `Store::inbound_route_for`), and it
//! keeps no state of its own: the queue is in the store, so a restart, or another node
//! sharing a PostgreSQL database, picks up where the last poster stopped. Delivery is
//! at-least-once: a poster that dies between the endpoint's answer and the log entry leaves the
//! post to be sent again once its claim lapses, which is why every POST carries the mail's
//! stable ID.
//!
//! The HTTP client and back-off ([`post`]) are `hikyaku-http-post`'s, shared with webhooks.

pub mod hosted;
pub mod parse;
pub mod post;

use bytes::Bytes;
use hikyaku_model::Timestamp;
use hikyaku_store::{
    DueInboundPost, InboundAttempt, InboundFormat, InboundNext, InboundRoute, NewInboundPost,
    Store, StoreError,
};
use hyper::header::{HeaderName, HeaderValue};
use post::{Backoff, HttpPoster, PostError, PosterSettings};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How the poster works. [`InboundSettings::default`] is what the README documents.
#[derive(Debug, Clone)]
pub struct InboundSettings {
    /// A post not answered 2xx within this time after the mail was received is given up.
    pub lifetime: Duration,
    pub backoff: Backoff,
    /// POSTs in flight at once on this node.
    pub max_in_flight: usize,
    /// Limit on one POST: connecting, sending, and the answer's status line and headers.
    pub request_timeout: Duration,
    /// How often the queue is looked at when nothing wakes the poster (mail enqueued on other
    /// nodes, retries coming due).
    pub poll_interval: Duration,
    /// Trust anchors for `https://` endpoints; the Mozilla roots when `None`.
    pub tls_roots: Option<Arc<rustls::RootCertStore>>,
}

impl Default for InboundSettings {
    fn default() -> Self {
        InboundSettings {
            lifetime: Duration::from_secs(3 * 86_400),
            backoff: Backoff {
                initial: Duration::from_secs(30),
                max: Duration::from_secs(3600),
            },
            max_in_flight: 8,
            request_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            tls_roots: None,
        }
    }
}

impl InboundSettings {
    /// How long a claimed post stays with its poster: past the request timeout, so a live
    /// poster always records its attempt first; a dead one delays the post by this much.
    fn claim_lease(&self) -> Duration {
        self.request_timeout + Duration::from_secs(30)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot set up the HTTPS client: {0}")]
    Tls(#[from] rustls::Error),
}

impl InboundError {
    /// Whether the same call may succeed later: the database was unreachable or busy. The
    /// error server then keeps its copy of the mail and tries again.
    pub fn is_transient(&self) -> bool {
        match self {
            InboundError::Store(e) => e.is_transient(),
            InboundError::Tls(_) => false,
        }
    }
}

/// POSTs to inbound endpoints, by `outcome`, in the words of the inbound log: `delivered`
/// (answered 2xx), `pending` (failed; will be retried), `failed` (failed; the lifetime is over).
const POST_ATTEMPTS: &str = "hikyaku_inbound_post_attempts_total";

/// The poster's counters, registered at zero when the poster is made.
#[derive(Clone)]
struct PostMetrics {
    delivered: metrics::Counter,
    pending: metrics::Counter,
    failed: metrics::Counter,
}

impl PostMetrics {
    fn register() -> Self {
        metrics::describe_counter!(
            POST_ATTEMPTS,
            "POSTs of inbound mail to the routes' endpoints, by outcome (delivered, pending, failed)"
        );
        let by_outcome = |outcome: &'static str| {
            let counter = metrics::counter!(POST_ATTEMPTS, "outcome" => outcome);
            counter.increment(0);
            counter
        };
        PostMetrics {
            delivered: by_outcome("delivered"),
            pending: by_outcome("pending"),
            failed: by_outcome("failed"),
        }
    }

    fn count(&self, next: InboundNext) {
        match next {
            InboundNext::Delivered => &self.delivered,
            InboundNext::RetryAt(_) => &self.pending,
            InboundNext::GiveUp => &self.failed,
        }
        .increment(1);
    }
}

/// The inbound queue's front door and its poster. Cheap to clone.
#[derive(Clone)]
pub struct Inbound {
    store: Store,
    settings: Arc<InboundSettings>,
    poster: HttpPoster,
    metrics: PostMetrics,
    /// Wakes this node's poster when mail is enqueued here, so it need not wait for the poll.
    wake: Arc<Notify>,
}

impl Inbound {
    pub fn new(store: Store, settings: InboundSettings) -> Result<Inbound, InboundError> {
        let poster = HttpPoster::new(PosterSettings {
            request_timeout: settings.request_timeout,
            connect_timeout: settings.request_timeout,
            roots: settings.tls_roots.clone(),
            ..PosterSettings::default()
        })?;
        Ok(Inbound {
            store,
            settings: Arc::new(settings),
            poster,
            metrics: PostMetrics::register(),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Durably records the mail for posting (DB transaction committed before returning Ok);
    /// the caller may then drop its own copy. Records an `inbound` event. The same mail
    /// enqueued again (same route, envelope, time and bytes) is recognised and not posted twice.
    pub async fn enqueue(
        &self,
        route: &InboundRoute,
        mail_from: &str,
        recipient: &str,
        raw: &[u8],
        received_at: Timestamp,
    ) -> Result<(), InboundError> {
        let enqueued = self
            .store
            .enqueue_inbound(NewInboundPost {
                route,
                mail_from,
                recipient,
                message: raw,
                received_at,
            })
            .await?;
        tracing::info!(
            post = enqueued.post_id,
            id = %enqueued.message_id,
            route = route.id,
            customer = %route.customer_id,
            size = raw.len(),
            replay = !enqueued.new,
            "inbound mail queued"
        );
        self.wake.notify_one();
        Ok(())
    }

    /// Posts due mail until `shutdown` completes, then waits up to the request timeout for the
    /// POSTs in flight (any left are sent again by the next poster once their claim lapses).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut in_flight = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let free = self.settings.max_in_flight.saturating_sub(in_flight.len());
            if free > 0 {
                match self
                    .store
                    .claim_due_inbound_posts(
                        Timestamp::now(),
                        self.settings.claim_lease(),
                        u32::try_from(free).unwrap_or(u32::MAX),
                    )
                    .await
                {
                    Ok(posts) => {
                        for post in posts {
                            let this = self.clone();
                            in_flight.spawn(async move { this.attempt(post).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the inbound queue"),
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
        let grace = self.settings.request_timeout + Duration::from_secs(1);
        let drained = tokio::time::timeout(grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = in_flight.len(),
                "inbound POSTs still in flight at shutdown; they will be sent again"
            );
            in_flight.abort_all();
        }
    }

    /// One POST of one post, and its entry in the log.
    async fn attempt(&self, post: DueInboundPost) {
        let number = post.attempts + 1;
        let at = Timestamp::now();
        let started = Instant::now();
        let result = self.send(&post, number).await;
        let duration = started.elapsed();
        let (http_status, error) = match &result {
            Ok(status) => (Some(status.as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let success = result.as_ref().is_ok_and(|status| status.is_success());
        let next = if success {
            InboundNext::Delivered
        } else {
            let deadline = post.received_at.saturating_add(self.settings.lifetime);
            match self
                .settings
                .backoff
                .next_attempt(number, Timestamp::now(), deadline)
            {
                Some(at) => InboundNext::RetryAt(at),
                None => InboundNext::GiveUp,
            }
        };
        let recorded = self
            .store
            .record_inbound_attempt(
                post.post_id,
                &InboundAttempt {
                    at,
                    http_status,
                    error: error.clone(),
                    duration,
                },
                next,
            )
            .await;
        self.metrics.count(next);
        match next {
            InboundNext::Delivered => tracing::info!(
                post = post.post_id, id = %post.message_id, route = post.route_id,
                attempt = number, status = http_status, ?duration, "inbound mail posted"
            ),
            InboundNext::RetryAt(when) => tracing::info!(
                post = post.post_id, id = %post.message_id, route = post.route_id,
                attempt = number, status = http_status, error, retry_at = %when,
                "inbound POST failed; will retry"
            ),
            InboundNext::GiveUp => tracing::warn!(
                post = post.post_id, id = %post.message_id, route = post.route_id,
                attempt = number, status = http_status, error,
                "inbound POST failed and the lifetime is over; giving up"
            ),
        }
        if let Err(e) = recorded {
            tracing::warn!(
                post = post.post_id, error = %e,
                "cannot record an inbound attempt; the post will be tried again when its claim lapses"
            );
        }
    }

    async fn send(
        &self,
        post: &DueInboundPost,
        attempt: u32,
    ) -> Result<hyper::StatusCode, PostError> {
        let (content_type, body) = match post.format {
            InboundFormat::Raw => ("message/rfc822".to_string(), post.message.clone()),
            InboundFormat::Json => {
                let mail = parsed(post).await;
                ("application/json".to_string(), document(post, mail))
            }
            InboundFormat::HostedJson | InboundFormat::HostedMultipart => {
                let mail = parsed(post).await;
                let body = hosted::HostedInbound {
                    api_key: post.api_key.as_deref(),
                    server_composition: post.customer_id.as_str(),
                    filter: &post.pattern,
                    envelope_from: &post.mail_from,
                    envelope_to: &post.recipient,
                    mail: &mail,
                };
                if post.format == InboundFormat::HostedJson {
                    ("application/json".to_string(), body.json())
                } else {
                    body.multipart()
                }
            }
        };
        let body = Bytes::from(body);
        let signed_at = Timestamp::now().as_millis().div_euclid(1000);
        let mut headers = vec![
            (
                HeaderName::from_static(post::signature::HEADER),
                header_value(&post::signature::sign(
                    &post.signing_secret,
                    signed_at,
                    &body,
                )),
            ),
            (
                HeaderName::from_static("x-hikyaku-id"),
                header_value(&post.message_id.to_string()),
            ),
            (
                HeaderName::from_static("x-hikyaku-attempt"),
                header_value(&attempt.to_string()),
            ),
        ];
        if post.forward_raw {
            // The raw message carries no envelope of its own.
            headers.push((
                HeaderName::from_static("x-hikyaku-mail-from"),
                header_value(&post.mail_from),
            ));
            headers.push((
                HeaderName::from_static("x-hikyaku-rcpt-to"),
                header_value(&post.recipient),
            ));
        }
        self.poster
            .post(&post.endpoint, &content_type, &headers, body)
            .await
    }
}

/// A header value from text that may hold anything an SMTP client sent: bytes a header cannot
/// carry (control characters) are replaced by `?`.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_bytes(text.as_bytes()).unwrap_or_else(|_| {
        let clean: Vec<u8> = text
            .bytes()
            .map(|b| {
                if b < 0x20 && b != b'\t' || b == 0x7f {
                    b'?'
                } else {
                    b
                }
            })
            .collect();
        HeaderValue::from_bytes(&clean).unwrap_or_else(|_| HeaderValue::from_static("?"))
    })
}

/// The mail of `post`, parsed off the async threads (a large mail takes milliseconds).
async fn parsed(post: &DueInboundPost) -> parse::ParsedMail {
    let raw = post.message.clone();
    tokio::task::spawn_blocking(move || parse::parse_mail(&raw))
        .await
        .unwrap_or_else(|_| parse::ParsedMail {
            truncated: true,
            ..parse::ParsedMail::default()
        })
}

/// This platform's JSON document for `post`.
fn document(post: &DueInboundPost, mail: parse::ParsedMail) -> Vec<u8> {
    let document = parse::InboundDocument {
        id: post.message_id.to_string(),
        route_id: post.route_id,
        received_at: post.received_at.to_string(),
        envelope: parse::EnvelopeFields {
            from: post.mail_from.clone(),
            to: post.recipient.clone(),
        },
        mail,
    };
    serde_json::to_vec(&document).expect("the document is plain data")
}
