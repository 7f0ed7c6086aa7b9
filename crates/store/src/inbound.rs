//! Inbound parse: the contracts' inbound routes, the durable queue of received mail
//! waiting to be POSTed to a route's endpoint, and the log of every POST attempt.
//!
//! A route's pattern may be an address, so it is sealed like every address and found through
//! its keyed look-up hash: [`Store::inbound_route_for`] hashes the few patterns a recipient could
//! match (the address, its domain, `*.` and each parent domain) and picks the most specific.
//! The queued message and its envelope are sealed too; the message is emptied once its post is
//! final. The store keeps no policy here: when to retry and when to give up is the poster's.

use crate::error::{is_foreign_key_violation, is_unique_violation};
use crate::queue::corrupt;
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, EventKind, MessageId, Timestamp, named_enum};
use sqlx::QueryBuilder;
use std::time::Duration;

/// The largest message the queue takes: the error server's 2 MB, and room for the trace fields
/// it prepends.
pub const MAX_INBOUND_MESSAGE_SIZE: usize = 2 * 1024 * 1024 + 64 * 1024;
/// Longest endpoint URL accepted; longer ones are more likely a mistake than an endpoint.
const MAX_ENDPOINT_LEN: usize = 2048;
/// Longest `api_key` a hosted-format body carries.
pub const MAX_API_KEY_LEN: usize = 256;

named_enum! {
    /// The body of an inbound route's POSTs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum InboundFormat: "inbound format" {
        /// The parsed mail as this platform's JSON document.
        Json = "json",
        /// The message as it came (`message/rfc822`).
        Raw = "raw",
        /// The hosted service's inbound webhook, as a JSON object (attachments counted only).
        HostedJson = "hosted-json",
        /// The hosted service's inbound webhook, as `multipart/form-data` with the attachments
        /// as files.
        HostedMultipart = "hosted-multipart",
    }
}

/// Where a contract's inbound mail goes: mail to a recipient matching `pattern` is POSTed to
/// `endpoint` in the route's `format`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InboundRoute {
    pub id: i64,
    pub customer_id: CustomerId,
    /// `user@example.com` (that address), `example.com` (any address at that domain) or
    /// `*.example.com` (any address at any subdomain of it, not at the domain itself).
    pub pattern: String,
    /// An `http://` or `https://` URL.
    pub endpoint: String,
    /// `format` is [`InboundFormat::Raw`].
    pub forward_raw: bool,
    pub format: InboundFormat,
    /// Sent in the hosted formats' bodies for the receiver to check; never shown back.
    #[serde(skip)]
    pub api_key: Option<String>,
    pub created_at: Timestamp,
}

named_enum! {
    /// Where an inbound post stands. An attempt records the post's state after it: `pending`
    /// means it will be tried again.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum InboundState: "inbound post state" {
        Pending = "pending",
        Delivered = "delivered",
        /// Given up: the endpoint did not answer 2xx within the poster's lifetime.
        Failed = "failed",
    }
}

/// A received mail for a route, as it enters the queue.
#[derive(Debug, Clone, Copy)]
pub struct NewInboundPost<'a> {
    pub route: &'a InboundRoute,
    pub mail_from: &'a str,
    pub recipient: &'a str,
    pub message: &'a [u8],
    pub received_at: Timestamp,
}

/// What [`Store::enqueue_inbound`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnqueuedInbound {
    pub post_id: i64,
    /// The platform's ID of the received mail: in the `inbound` event and in every POST of it.
    pub message_id: MessageId,
    /// False when the same mail was already queued (a replay): nothing was written.
    pub new: bool,
}

/// A post claimed by a poster, with everything needed to make the request.
#[derive(Debug, Clone)]
pub struct DueInboundPost {
    pub post_id: i64,
    pub message_id: MessageId,
    pub route_id: i64,
    pub customer_id: CustomerId,
    pub endpoint: String,
    pub forward_raw: bool,
    pub format: InboundFormat,
    /// The route's pattern: the hosted format's `filter`.
    pub pattern: String,
    pub api_key: Option<String>,
    pub signing_secret: String,
    pub mail_from: String,
    pub recipient: String,
    pub message: Vec<u8>,
    pub received_at: Timestamp,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How one POST attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAttempt {
    pub at: Timestamp,
    /// The endpoint's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Why there was no answer (connection refused, timeout, TLS, ...), or what was wrong with it.
    pub error: Option<String>,
    pub duration: Duration,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundNext {
    Delivered,
    RetryAt(Timestamp),
    GiveUp,
}

/// One entry of the inbound attempt log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InboundAttemptEntry {
    pub post_id: i64,
    pub route_id: i64,
    pub customer_id: CustomerId,
    pub message_id: MessageId,
    /// 1 for the first attempt of the post.
    pub attempt: u32,
    pub at: Timestamp,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The post's state after this attempt.
    pub outcome: InboundState,
}

/// A queued (or finished) inbound post, without its message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InboundPostSummary {
    pub post_id: i64,
    pub route_id: i64,
    pub customer_id: CustomerId,
    pub message_id: MessageId,
    pub mail_from: String,
    pub recipient: String,
    pub size: u64,
    pub received_at: Timestamp,
    pub state: InboundState,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
}

/// Which attempts to list; the default lists all of them, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundLogFilter {
    pub route: Option<i64>,
    pub customer: Option<CustomerId>,
    pub post: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(sqlx::FromRow)]
struct RouteRow {
    route_id: i64,
    customer_id: String,
    pattern_sealed: Vec<u8>,
    pattern_hash: Vec<u8>,
    endpoint: String,
    format: String,
    api_key_sealed: Option<Vec<u8>>,
    created_at: i64,
}

const ROUTE_COLUMNS: &str = "SELECT route_id, customer_id, pattern_sealed, pattern_hash, endpoint, \
                             format, api_key_sealed, created_at FROM inbound_routes";

#[derive(sqlx::FromRow)]
struct DueRow {
    post_id: i64,
    message_id: String,
    route_id: i64,
    customer_id: String,
    endpoint: String,
    format: String,
    pattern_sealed: Vec<u8>,
    api_key_sealed: Option<Vec<u8>>,
    signing_secret_sealed: Vec<u8>,
    mail_from_sealed: Vec<u8>,
    recipient_sealed: Vec<u8>,
    message_sealed: Vec<u8>,
    received_at: i64,
    attempts: i64,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    post_id: i64,
    route_id: i64,
    customer_id: String,
    message_id: String,
    attempt: i64,
    at: i64,
    http_status: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
    outcome: String,
}

#[derive(sqlx::FromRow)]
struct PostRow {
    post_id: i64,
    route_id: i64,
    customer_id: String,
    message_id: String,
    mail_from_sealed: Vec<u8>,
    recipient_sealed: Vec<u8>,
    size: i64,
    received_at: i64,
    state: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
}

/// The pattern in its stored form (domain in lower case), or why it is not one.
pub fn normalize_route_pattern(text: &str) -> Result<String, StoreError> {
    let bad = |why: &str| StoreError::invalid("inbound route pattern", format!("{text:?}: {why}"));
    let text = text.trim();
    if let Some((local, domain)) = text.rsplit_once('@') {
        if local.is_empty() {
            return Err(bad("the local part before @ is empty"));
        }
        if local.len() > 64 || local.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("not a valid local part"));
        }
        let domain = normalize_domain(domain).map_err(&bad)?;
        Ok(format!("{local}@{domain}"))
    } else if let Some(parent) = text.strip_prefix("*.") {
        Ok(format!("*.{}", normalize_domain(parent).map_err(&bad)?))
    } else {
        normalize_domain(text).map_err(bad)
    }
}

fn normalize_domain(domain: &str) -> Result<String, &'static str> {
    let domain = domain.strip_suffix('.').unwrap_or(domain).to_lowercase();
    if domain.is_empty() || domain.len() > 253 {
        return Err("expected an address, a domain or *.domain");
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("a domain label is empty or longer than 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a domain label starts or ends with a hyphen");
        }
        if !label
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            return Err("a domain may hold only letters, digits, hyphens and dots");
        }
    }
    Ok(domain)
}

/// An `api_key` only for the hosted formats (the others carry none), and one a body can carry.
fn check_route_api_key(format: InboundFormat, api_key: Option<&str>) -> Result<(), StoreError> {
    let Some(key) = api_key else {
        return Ok(());
    };
    if !matches!(
        format,
        InboundFormat::HostedJson | InboundFormat::HostedMultipart
    ) {
        return Err(StoreError::invalid(
            "inbound api_key",
            "only the hosted formats send an api_key",
        ));
    }
    if key.is_empty() || key.len() > MAX_API_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::invalid(
            "inbound api_key",
            format!("1 to {MAX_API_KEY_LEN} printable ASCII characters without spaces"),
        ));
    }
    Ok(())
}

fn validate_endpoint(endpoint: &str) -> Result<(), StoreError> {
    let bad = |why: &str| StoreError::invalid("inbound endpoint", format!("{endpoint:?}: {why}"));
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(bad("longer than 2048 characters"));
    }
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad("contains white space or control characters"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') {
        return Err(bad("names no host"));
    }
    Ok(())
}

/// The patterns a recipient could match, most specific first: the address, its domain, then
/// `*.` with each parent domain from the nearest up.
fn candidate_patterns(recipient: &str) -> Vec<String> {
    let Some((_, domain)) = recipient.rsplit_once('@') else {
        return Vec::new();
    };
    let domain = domain.strip_suffix('.').unwrap_or(domain).to_lowercase();
    if domain.is_empty() {
        return Vec::new();
    }
    let mut candidates = vec![recipient.to_string(), domain.clone()];
    let mut rest = domain.as_str();
    while let Some((_, parent)) = rest.split_once('.') {
        if parent.is_empty() {
            break;
        }
        candidates.push(format!("*.{parent}"));
        rest = parent;
    }
    candidates
}

fn generate_signing_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    fn route_from_row(&self, row: RouteRow) -> Result<InboundRoute, StoreError> {
        let format: InboundFormat = row
            .format
            .parse()
            .map_err(|e| corrupt("inbound_routes.format", e))?;
        Ok(InboundRoute {
            id: row.route_id,
            customer_id: row
                .customer_id
                .parse()
                .map_err(|e| corrupt("inbound_routes.customer_id", e))?,
            pattern: self.key.open_string(&row.pattern_sealed)?,
            endpoint: row.endpoint,
            forward_raw: format == InboundFormat::Raw,
            format,
            api_key: row
                .api_key_sealed
                .map(|sealed| self.key.open_string(&sealed))
                .transpose()?,
            created_at: Timestamp(row.created_at),
        })
    }

    /// Adds a route POSTing the parsed JSON document, or the raw message when `forward_raw`,
    /// like [`Store::add_inbound_route_as`].
    pub async fn add_inbound_route(
        &self,
        customer_id: &CustomerId,
        pattern: &str,
        endpoint: &str,
        forward_raw: bool,
    ) -> Result<(InboundRoute, String), StoreError> {
        let format = if forward_raw {
            InboundFormat::Raw
        } else {
            InboundFormat::Json
        };
        self.add_inbound_route_as(customer_id, pattern, endpoint, format, None)
            .await
    }

    /// Adds a route and returns it with its signing secret (the key of the HMAC that signs
    /// every POST to it). A pattern names at most one route, whichever contract has it.
    /// `api_key` goes into the hosted formats' bodies (the others carry none).
    pub async fn add_inbound_route_as(
        &self,
        customer_id: &CustomerId,
        pattern: &str,
        endpoint: &str,
        format: InboundFormat,
        api_key: Option<&str>,
    ) -> Result<(InboundRoute, String), StoreError> {
        let forward_raw = format == InboundFormat::Raw;
        check_route_api_key(format, api_key)?;
        let api_key_sealed = api_key.map(|key| self.key.seal_str(key));
        let pattern = normalize_route_pattern(pattern)?;
        let endpoint = endpoint.trim();
        validate_endpoint(endpoint)?;
        self.require_contract(customer_id).await?;
        let secret = generate_signing_secret();
        let created_at = Timestamp::now();
        let pattern_sealed = self.key.seal_str(&pattern);
        let pattern_hash = self.key.address_hash(&pattern);
        let secret_sealed = self.key.seal_str(&secret);
        let _turn = self.write_turn().await;
        let inserted: Result<i64, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO inbound_routes (customer_id, pattern_sealed, pattern_hash, endpoint, \
                 forward_raw, signing_secret_sealed, created_at, format, api_key_sealed) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING route_id",
            )
            .bind(customer_id.as_str())
            .bind(pattern_sealed.as_slice())
            .bind(pattern_hash.as_slice())
            .bind(endpoint)
            .bind(forward_raw)
            .bind(secret_sealed.as_slice())
            .bind(created_at.as_millis())
            .bind(format.as_str())
            .bind(api_key_sealed.as_deref())
            .fetch_one(pool)
            .await
        });
        let id = match inserted {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::InboundPatternTaken(pattern));
            }
            Err(e) if is_foreign_key_violation(&e) => {
                return Err(StoreError::ContractNotFound(customer_id.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        let route = InboundRoute {
            id,
            customer_id: customer_id.clone(),
            pattern,
            endpoint: endpoint.to_string(),
            forward_raw,
            format,
            api_key: api_key.map(str::to_string),
            created_at,
        };
        Ok((route, secret))
    }

    /// Changes route `id` of the contract to `pattern`, `endpoint`, `format` and `api_key`,
    /// checked as [`Store::add_inbound_route_as`] checks them; its signing secret, creation
    /// time and queued posts stay. `None` when the contract has no such route (another
    /// contract's route is left alone, in the same statement).
    pub async fn update_inbound_route_of(
        &self,
        customer_id: &CustomerId,
        id: i64,
        pattern: &str,
        endpoint: &str,
        format: InboundFormat,
        api_key: Option<&str>,
    ) -> Result<Option<InboundRoute>, StoreError> {
        check_route_api_key(format, api_key)?;
        let pattern = normalize_route_pattern(pattern)?;
        let endpoint = endpoint.trim();
        validate_endpoint(endpoint)?;
        let pattern_sealed = self.key.seal_str(&pattern);
        let pattern_hash = self.key.address_hash(&pattern);
        let api_key_sealed = api_key.map(|key| self.key.seal_str(key));
        let _turn = self.write_turn().await;
        let updated: Result<Option<RouteRow>, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE inbound_routes SET pattern_sealed = $1, pattern_hash = $2, endpoint = $3, \
                 forward_raw = $4, format = $5, api_key_sealed = $6 \
                 WHERE route_id = $7 AND customer_id = $8 \
                 RETURNING route_id, customer_id, pattern_sealed, pattern_hash, endpoint, \
                 format, api_key_sealed, created_at",
            )
            .bind(pattern_sealed.as_slice())
            .bind(pattern_hash.as_slice())
            .bind(endpoint)
            .bind(format == InboundFormat::Raw)
            .bind(format.as_str())
            .bind(api_key_sealed.as_deref())
            .bind(id)
            .bind(customer_id.as_str())
            .fetch_optional(pool)
            .await
        });
        match updated {
            Ok(row) => row.map(|row| self.route_from_row(row)).transpose(),
            Err(e) if is_unique_violation(&e) => Err(StoreError::InboundPatternTaken(pattern)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn inbound_route(&self, id: i64) -> Result<Option<InboundRoute>, StoreError> {
        let row: Option<RouteRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(ROUTE_COLUMNS);
            select.push(" WHERE route_id = ").push_bind(id);
            select.build_query_as().fetch_optional(pool).await?
        });
        row.map(|row| self.route_from_row(row)).transpose()
    }

    /// The routes of one contract, or of all, oldest first.
    pub async fn inbound_routes(
        &self,
        customer_id: Option<&CustomerId>,
    ) -> Result<Vec<InboundRoute>, StoreError> {
        let rows: Vec<RouteRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(ROUTE_COLUMNS);
            if let Some(customer) = customer_id {
                select.push(" WHERE customer_id = ").push_bind(customer.as_str());
            }
            select.push(" ORDER BY route_id");
            select.build_query_as().fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|row| self.route_from_row(row))
            .collect()
    }

    /// The key that signs the POSTs of route `id`.
    pub async fn inbound_signing_secret(&self, id: i64) -> Result<Option<String>, StoreError> {
        let sealed: Option<Vec<u8>> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT signing_secret_sealed FROM inbound_routes WHERE route_id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        sealed.map(|s| self.key.open_string(&s)).transpose()
    }

    /// Removes a route with its queued posts and their attempt log (the `inbound` events stay
    /// in the send log).
    pub async fn remove_inbound_route(&self, id: i64) -> Result<InboundRoute, StoreError> {
        let _turn = self.write_turn().await;
        let row: Option<RouteRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "DELETE FROM inbound_routes WHERE route_id = $1 RETURNING route_id, customer_id, \
                 pattern_sealed, pattern_hash, endpoint, format, api_key_sealed, created_at",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        match row {
            Some(row) => self.route_from_row(row),
            None => Err(StoreError::InboundRouteNotFound(id)),
        }
    }

    /// Removes route `id` if it is the contract's, like [`Store::remove_inbound_route`]; `None`
    /// when the contract has no such route (another contract's route is left alone, in the same
    /// statement, so no check can go stale before the delete).
    pub async fn remove_inbound_route_of(
        &self,
        customer_id: &CustomerId,
        id: i64,
    ) -> Result<Option<InboundRoute>, StoreError> {
        let _turn = self.write_turn().await;
        let row: Option<RouteRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "DELETE FROM inbound_routes WHERE route_id = $1 AND customer_id = $2 \
                 RETURNING route_id, customer_id, pattern_sealed, pattern_hash, endpoint, \
                 format, api_key_sealed, created_at",
            )
            .bind(id)
            .bind(customer_id.as_str())
            .fetch_optional(pool)
            .await?
        });
        row.map(|row| self.route_from_row(row)).transpose()
    }

    /// The route that takes mail for `recipient`: an exact address beats a domain, a domain
    /// beats `*.domain`, and a nearer `*.` parent beats a farther one. Addresses compare without
    /// regard to case.
    pub async fn inbound_route_for(
        &self,
        recipient: &str,
    ) -> Result<Option<InboundRoute>, StoreError> {
        let candidates: Vec<Vec<u8>> = candidate_patterns(recipient.trim())
            .iter()
            .map(|pattern| self.key.address_hash(pattern))
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let rows: Vec<RouteRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(ROUTE_COLUMNS);
            select.push(" WHERE pattern_hash IN (");
            let mut list = select.separated(", ");
            for hash in &candidates {
                list.push_bind(hash.as_slice());
            }
            select.push(")");
            select.build_query_as().fetch_all(pool).await?
        });
        let best = rows.into_iter().min_by_key(|row| {
            candidates
                .iter()
                .position(|hash| *hash == row.pattern_hash)
                .unwrap_or(usize::MAX)
        });
        best.map(|row| self.route_from_row(row)).transpose()
    }

    /// Queues a received mail for posting to its route, with its `inbound` event, in one
    /// committed transaction. Idempotent: the same mail (route, envelope, time and bytes) queued
    /// again is recognised and not written twice.
    pub async fn enqueue_inbound(
        &self,
        post: NewInboundPost<'_>,
    ) -> Result<EnqueuedInbound, StoreError> {
        if post.message.len() > MAX_INBOUND_MESSAGE_SIZE {
            return Err(StoreError::invalid(
                "inbound message",
                format!(
                    "{} bytes, more than the {MAX_INBOUND_MESSAGE_SIZE} an inbound post may hold",
                    post.message.len()
                ),
            ));
        }
        let route = post.route;
        let digest = self.key.keyed_digest(
            b"hikyaku/inbound-post/v1",
            &[
                &route.id.to_be_bytes(),
                post.mail_from.as_bytes(),
                post.recipient.as_bytes(),
                &post.received_at.as_millis().to_be_bytes(),
                post.message,
            ],
        );
        let message_id = MessageId::new(post.received_at);
        let mail_from_sealed = self.key.seal_str(post.mail_from);
        let mail_from_hash = self.key.address_hash(post.mail_from);
        let recipient_sealed = self.key.seal_str(post.recipient);
        let recipient_hash = self.key.address_hash(post.recipient);
        let recipient_domain = crate::events::domain_of(post.recipient);
        let message_sealed = self.key.seal(post.message);
        let size = post.message.len() as i64;
        let _turn = self.write_turn().await;
        let enqueued = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO inbound_posts (route_id, customer_id, message_id, digest, \
                 mail_from_sealed, recipient_sealed, message_sealed, size, received_at, state, \
                 attempts, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $9) \
                 ON CONFLICT (digest) DO NOTHING RETURNING post_id",
            )
            .bind(route.id)
            .bind(route.customer_id.as_str())
            .bind(message_id.to_string())
            .bind(digest.as_slice())
            .bind(mail_from_sealed.as_slice())
            .bind(recipient_sealed.as_slice())
            .bind(message_sealed.as_slice())
            .bind(size)
            .bind(post.received_at.as_millis())
            .bind(InboundState::Pending.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StoreError::InboundRouteNotFound(route.id)
                } else {
                    e.into()
                }
            })?;
            match inserted {
                Some(post_id) => {
                    let message_id_text = message_id.to_string();
                    let event = crate::events::NewEvent {
                        at: post.received_at,
                        kind: EventKind::Inbound,
                        customer_id: route.customer_id.as_str(),
                        message_id: &message_id_text,
                        mail_from_sealed: &mail_from_sealed,
                        mail_from_hash: &mail_from_hash,
                        recipient_sealed: &recipient_sealed,
                        recipient_hash: &recipient_hash,
                        recipient_domain: recipient_domain.as_deref(),
                        reason: None,
                        details_sealed: None,
                    };
                    crate::events::insert_events((&mut *tx).into(), &[event]).await?;
                    tx.commit().await?;
                    EnqueuedInbound { post_id, message_id, new: true }
                }
                None => {
                    let (post_id, existing): (i64, String) = sqlx::query_as(
                        "SELECT post_id, message_id FROM inbound_posts WHERE digest = $1",
                    )
                    .bind(digest.as_slice())
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    EnqueuedInbound {
                        post_id,
                        message_id: existing
                            .parse()
                            .map_err(|e| corrupt("inbound_posts.message_id", e))?,
                        new: false,
                    }
                }
            }
        });
        Ok(enqueued)
    }

    /// Claims up to `limit` posts due at `now` for one poster: each is moved `lease` into the
    /// future, so no other poster (on this node or another) takes it meanwhile, and a poster
    /// that dies holding it only delays it by the lease.
    pub async fn claim_due_inbound_posts(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<DueInboundPost>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now.saturating_add(lease);
        let claimed: Vec<i64> = {
            let _turn = self.write_turn().await;
            let lock = self.skip_locked();
            let sql = format!(
                "UPDATE inbound_posts SET next_attempt_at = $1 WHERE post_id IN \
                 (SELECT post_id FROM inbound_posts WHERE next_attempt_at IS NOT NULL \
                 AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3{lock}) \
                 RETURNING post_id"
            );
            with_pool!(self, pool => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(until.as_millis())
                    .bind(now.as_millis())
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            })
        };
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<DueRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(
                "SELECT p.post_id, p.message_id, p.route_id, p.customer_id, r.endpoint, \
                 r.format, r.pattern_sealed, r.api_key_sealed, r.signing_secret_sealed, \
                 p.mail_from_sealed, p.recipient_sealed, \
                 p.message_sealed, p.received_at, p.attempts \
                 FROM inbound_posts p JOIN inbound_routes r ON r.route_id = p.route_id \
                 WHERE p.post_id IN (",
            );
            let mut list = select.separated(", ");
            for id in &claimed {
                list.push_bind(*id);
            }
            select.push(") ORDER BY p.next_attempt_at, p.post_id");
            select.build_query_as().fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|row| {
                let format: InboundFormat = row
                    .format
                    .parse()
                    .map_err(|e| corrupt("inbound_routes.format", e))?;
                Ok(DueInboundPost {
                    post_id: row.post_id,
                    message_id: row
                        .message_id
                        .parse()
                        .map_err(|e| corrupt("inbound_posts.message_id", e))?,
                    route_id: row.route_id,
                    customer_id: row
                        .customer_id
                        .parse()
                        .map_err(|e| corrupt("inbound_posts.customer_id", e))?,
                    endpoint: row.endpoint,
                    forward_raw: format == InboundFormat::Raw,
                    format,
                    pattern: self.key.open_string(&row.pattern_sealed)?,
                    api_key: row
                        .api_key_sealed
                        .map(|sealed| self.key.open_string(&sealed))
                        .transpose()?,
                    signing_secret: self.key.open_string(&row.signing_secret_sealed)?,
                    mail_from: self.key.open_string(&row.mail_from_sealed)?,
                    recipient: self.key.open_string(&row.recipient_sealed)?,
                    message: self.key.open(&row.message_sealed)?,
                    received_at: Timestamp(row.received_at),
                    attempts: u32::try_from(row.attempts)
                        .map_err(|e| corrupt("inbound_posts.attempts", e))?,
                })
            })
            .collect()
    }

    /// Logs one attempt of a post and moves the post on as `next` says, in one transaction. A
    /// final post loses its message. Returns the post's new state, or `None` when the post is
    /// gone (its route was removed meanwhile).
    pub async fn record_inbound_attempt(
        &self,
        post_id: i64,
        attempt: &InboundAttempt,
        next: InboundNext,
    ) -> Result<Option<InboundState>, StoreError> {
        let (state, next_at) = match next {
            InboundNext::Delivered => (InboundState::Delivered, None),
            InboundNext::RetryAt(at) => (InboundState::Pending, Some(at.as_millis())),
            InboundNext::GiveUp => (InboundState::Failed, None),
        };
        let error = attempt.error.as_deref().map(|e| cut(e, 1000));
        let _turn = self.write_turn().await;
        let recorded = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut update = QueryBuilder::new("UPDATE inbound_posts SET attempts = attempts + 1, state = ");
            update
                .push_bind(state.as_str())
                .push(", next_attempt_at = ")
                .push_bind(next_at);
            if state != InboundState::Pending {
                update.push(", message_sealed = ").push_bind(Vec::<u8>::new());
            }
            update
                .push(" WHERE post_id = ")
                .push_bind(post_id)
                .push(" RETURNING attempts, route_id, customer_id");
            let row: Option<(i64, i64, String)> =
                update.build_query_as().fetch_optional(&mut *tx).await?;
            match row {
                Some((number, route_id, customer_id)) => {
                    sqlx::query(
                        "INSERT INTO inbound_attempts (post_id, route_id, customer_id, attempt, at, \
                         http_status, error, duration_ms, outcome) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(post_id)
                    .bind(route_id)
                    .bind(customer_id)
                    .bind(number)
                    .bind(attempt.at.as_millis())
                    .bind(attempt.http_status.map(i64::from))
                    .bind(error)
                    .bind(millis(attempt.duration))
                    .bind(state.as_str())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Some(state)
                }
                None => None,
            }
        });
        Ok(recorded)
    }

    /// POST attempts matching `filter`, newest first.
    pub async fn inbound_attempts(
        &self,
        filter: &InboundLogFilter,
    ) -> Result<Vec<InboundAttemptEntry>, StoreError> {
        let rows: Vec<AttemptRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(
                "SELECT a.post_id, a.route_id, a.customer_id, p.message_id, a.attempt, a.at, \
                 a.http_status, a.error, a.duration_ms, a.outcome \
                 FROM inbound_attempts a JOIN inbound_posts p ON p.post_id = a.post_id WHERE 1 = 1",
            );
            if let Some(route) = filter.route {
                select.push(" AND a.route_id = ").push_bind(route);
            }
            if let Some(customer) = &filter.customer {
                select.push(" AND a.customer_id = ").push_bind(customer.as_str());
            }
            if let Some(post) = filter.post {
                select.push(" AND a.post_id = ").push_bind(post);
            }
            select.push(" ORDER BY a.attempt_id DESC");
            if let Some(limit) = filter.limit {
                select.push(" LIMIT ").push_bind(i64::from(limit));
            }
            select.build_query_as().fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(InboundAttemptEntry {
                    post_id: row.post_id,
                    route_id: row.route_id,
                    customer_id: row
                        .customer_id
                        .parse()
                        .map_err(|e| corrupt("inbound_attempts.customer_id", e))?,
                    message_id: row
                        .message_id
                        .parse()
                        .map_err(|e| corrupt("inbound_posts.message_id", e))?,
                    attempt: u32::try_from(row.attempt)
                        .map_err(|e| corrupt("inbound_attempts.attempt", e))?,
                    at: Timestamp(row.at),
                    http_status: row
                        .http_status
                        .map(u16::try_from)
                        .transpose()
                        .map_err(|e| corrupt("inbound_attempts.http_status", e))?,
                    error: row.error,
                    duration_ms: u64::try_from(row.duration_ms)
                        .map_err(|e| corrupt("inbound_attempts.duration_ms", e))?,
                    outcome: row
                        .outcome
                        .parse()
                        .map_err(|e| corrupt("inbound_attempts.outcome", e))?,
                })
            })
            .collect()
    }

    /// The posts of one route, or of all, oldest first.
    pub async fn inbound_posts(
        &self,
        route: Option<i64>,
    ) -> Result<Vec<InboundPostSummary>, StoreError> {
        let rows: Vec<PostRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(
                "SELECT post_id, route_id, customer_id, message_id, mail_from_sealed, \
                 recipient_sealed, size, received_at, state, attempts, next_attempt_at \
                 FROM inbound_posts",
            );
            if let Some(route) = route {
                select.push(" WHERE route_id = ").push_bind(route);
            }
            select.push(" ORDER BY post_id");
            select.build_query_as().fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(InboundPostSummary {
                    post_id: row.post_id,
                    route_id: row.route_id,
                    customer_id: row
                        .customer_id
                        .parse()
                        .map_err(|e| corrupt("inbound_posts.customer_id", e))?,
                    message_id: row
                        .message_id
                        .parse()
                        .map_err(|e| corrupt("inbound_posts.message_id", e))?,
                    mail_from: self.key.open_string(&row.mail_from_sealed)?,
                    recipient: self.key.open_string(&row.recipient_sealed)?,
                    size: u64::try_from(row.size).map_err(|e| corrupt("inbound_posts.size", e))?,
                    received_at: Timestamp(row.received_at),
                    state: row
                        .state
                        .parse()
                        .map_err(|e| corrupt("inbound_posts.state", e))?,
                    attempts: u32::try_from(row.attempts)
                        .map_err(|e| corrupt("inbound_posts.attempts", e))?,
                    next_attempt_at: row.next_attempt_at.map(Timestamp),
                })
            })
            .collect()
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_normalised_or_refused() {
        for (input, expected) in [
            ("Example.COM", Some("example.com")),
            ("  example.com. ", Some("example.com")),
            ("*.Example.com", Some("*.example.com")),
            ("Support@Example.COM", Some("Support@example.com")),
            ("a+tag@sub.example.jp", Some("a+tag@sub.example.jp")),
            ("\"a@b\"@example.com", Some("\"a@b\"@example.com")),
            ("例え.jp", Some("例え.jp")),
            ("localhost", Some("localhost")),
            ("", None),
            ("@example.com", None),
            ("user@", None),
            ("*.", None),
            ("*", None),
            ("*example.com", None),
            ("a.*.example.com", None),
            ("exa mple.com", None),
            ("example..com", None),
            ("-example.com", None),
            ("user name@example.com", None),
            ("[192.0.2.1]", None),
        ] {
            let got = normalize_route_pattern(input).ok();
            assert_eq!(got.as_deref(), expected, "{input:?}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(normalize_route_pattern(&long_label).is_err());
    }

    #[test]
    fn endpoints_must_be_http_urls_with_a_host() {
        for ok in [
            "http://127.0.0.1:8080/inbound",
            "https://hooks.example.com/p?x=1",
            "https://user:pw@example.com",
            "http://[::1]:9000/",
        ] {
            assert!(validate_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ftp://example.com/",
            "example.com/hook",
            "http://",
            "https:///path",
            "http://:80/",
            "http://exa mple.com/",
            "http://example.com/\n",
        ] {
            assert!(validate_endpoint(bad).is_err(), "{bad:?}");
        }
        assert!(validate_endpoint(&format!("https://e.com/{}", "a".repeat(3000))).is_err());
    }

    #[test]
    fn candidates_go_from_most_to_least_specific() {
        assert_eq!(
            candidate_patterns("Ann@Mail.Sub.Example.COM"),
            [
                "Ann@Mail.Sub.Example.COM",
                "mail.sub.example.com",
                "*.sub.example.com",
                "*.example.com",
                "*.com",
            ]
        );
        assert_eq!(
            candidate_patterns("x@localhost"),
            ["x@localhost", "localhost"]
        );
        assert!(candidate_patterns("postmaster").is_empty());
        assert!(candidate_patterns("x@").is_empty());
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("aé", 3), "aé");
    }
}
