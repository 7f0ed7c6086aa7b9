//! Webhook endpoints and the outbox of events waiting for them. The event writer fills the
//! outbox in the transaction of each event (`events` module); a sender claims an *endpoint*
//! whose events are due ([`Store::claim_webhook_endpoints`]: one sender per endpoint at a time,
//! so requests to one endpoint go out one after the other, in order), fixes the next request's
//! events ([`Store::next_webhook_batch`]), and records the attempt with what follows from it
//! ([`Store::finish_webhook_attempt`]). While the endpoint keeps having requests due, the
//! sender keeps its claim and the attempt's record fixes the next request in the same
//! transaction, so a busy endpoint costs one commit per request. Delivering them is not this
//! crate's business.
//!
//! Why a lease and not a cursor over `outbox_id`: on PostgreSQL identity values are taken when
//! a row is inserted but become visible when its transaction commits, so a reader that remembers
//! "everything up to ID n is done" skips a row numbered below n that commits after it read.

use crate::queue::corrupt;
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, Event, EventKind, Timestamp, named_enum};
use sqlx::QueryBuilder;
use std::collections::HashMap;
use std::time::Duration;

named_enum! {
    /// The body of an endpoint's requests.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum WebhookFormat: "webhook format" {
        /// Standard Webhooks: signed, the events in the send log's shape.
        Standard = "standard",
        /// The hosted service's event webhook, as a JSON object.
        HostedJson = "hosted-json",
        /// The hosted service's event webhook, form-encoded (`event` as a JSON string).
        HostedForm = "hosted-form",
    }
}

impl WebhookFormat {
    /// One of the hosted service's formats.
    pub fn is_hosted(self) -> bool {
        self != WebhookFormat::Standard
    }
}

/// A new endpoint, as [`Store::create_webhook_endpoint_as`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct NewWebhookEndpoint<'a> {
    pub url: &'a str,
    /// The signing secret (sealed at rest).
    pub secret: &'a str,
    pub kinds: &'a [EventKind],
    pub one_per_request: bool,
    pub format: WebhookFormat,
    /// Sent in a hosted format's body for the receiver to check.
    pub api_key: Option<&'a str>,
}

/// A contract's webhook endpoint and the kinds of event it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: i64,
    pub customer_id: CustomerId,
    pub url: String,
    /// The signing secret (sealed at rest).
    pub secret: String,
    pub kinds: Vec<EventKind>,
    pub created_at: Timestamp,
    /// One event per request instead of batches.
    pub one_per_request: bool,
    /// The secret before the last rotation and until when requests are signed with it too.
    pub previous_secret: Option<(String, Timestamp)>,
    /// Since when its requests have been failing, without a success since.
    pub failing_since: Option<Timestamp>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// When and why the sender stopped sending to it.
    pub disabled: Option<(Timestamp, String)>,
    pub format: WebhookFormat,
    /// Sent in a hosted format's body for the receiver to check (sealed at rest).
    pub api_key: Option<String>,
}

impl WebhookEndpoint {
    /// The secrets to sign a request made at `now` with: the current one, and the previous one
    /// while its overlap lasts.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some((previous, until)) = &self.previous_secret
            && now < *until
        {
            secrets.push(previous);
        }
        secrets
    }
}

/// What goes into one webhook request: events of one endpoint, fixed under `webhook_id` before
/// the first attempt so that every retry sends the same events with the same ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookBatch {
    pub webhook_id: String,
    pub outbox_ids: Vec<i64>,
    pub events: Vec<WebhookEvent>,
    /// The time of its oldest event: retries are counted from it.
    pub oldest: Timestamp,
}

/// One event of a webhook request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// An event of the send log (boxed: it is large beside a test event).
    Logged(Box<Event>),
    /// A test event the operator or the customer asked for, made at this time.
    Test(Timestamp),
}

/// How an attempt ended, as the attempt log says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Answered 2xx: the events are done.
    Delivered,
    /// Failed; the events are tried again later.
    Retry,
    /// Failed, and the events' time to retry is over: they are dropped.
    GaveUp,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Delivered => "delivered",
            WebhookOutcome::Retry => "retry",
            WebhookOutcome::GaveUp => "gave-up",
        }
    }

    fn parse(text: &str) -> Option<WebhookOutcome> {
        [
            WebhookOutcome::Delivered,
            WebhookOutcome::Retry,
            WebhookOutcome::GaveUp,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

impl std::fmt::Display for WebhookOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attempt to deliver a request, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub webhook_id: String,
    pub events: u32,
    pub at: Timestamp,
    /// The answer's status; `None` when there was no answer.
    pub http_status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The answer's first bytes, as text.
    pub answer: Option<String>,
    pub outcome: WebhookOutcome,
}

/// What the sender decided for the endpoint after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointNext {
    /// It answered: its failure count starts over.
    Healthy,
    /// It failed: not before this time again.
    RetryAt(Timestamp),
    /// It has been failing too long: no more requests until someone enables it again.
    Disable { reason: String },
}

/// What a sender holding an endpoint's claim asks of [`Store::finish_webhook_attempt`]: fix
/// the endpoint's next request at once when it is due (`max` events wait, or the oldest waiting
/// one is from `due_by` or before), under `new_webhook_id`, and keep the claim `claim_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowOn<'a> {
    pub max: u32,
    pub new_webhook_id: &'a str,
    pub due_by: Timestamp,
    pub claim_until: Timestamp,
}

/// A recorded attempt, as the attempt log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttemptEntry {
    pub endpoint_id: i64,
    pub attempt: WebhookAttempt,
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    endpoint_id: i64,
    customer_id: String,
    url: String,
    secret_sealed: Vec<u8>,
    created_at: i64,
    one_per_request: bool,
    previous_secret_sealed: Option<Vec<u8>>,
    previous_secret_until: Option<i64>,
    failing_since: Option<i64>,
    failures: i64,
    disabled_at: Option<i64>,
    disabled_reason: Option<String>,
    format: String,
    api_key_sealed: Option<Vec<u8>>,
}

const ENDPOINT_COLUMNS: &str = "endpoint_id, customer_id, url, secret_sealed, created_at, \
    one_per_request, previous_secret_sealed, previous_secret_until, failing_since, failures, \
    disabled_at, disabled_reason, format, api_key_sealed";

#[derive(sqlx::FromRow)]
struct BatchRow {
    outbox_id: i64,
    event_id: i64,
    created_at: i64,
    batch_id: Option<String>,
    test: bool,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    endpoint_id: i64,
    webhook_id: String,
    events: i64,
    at: i64,
    http_status: Option<i32>,
    error: Option<String>,
    latency_ms: i64,
    answer_sealed: Option<Vec<u8>>,
    outcome: String,
}

impl Store {
    /// Adds an endpoint for the contract, subscribed to `kinds` (each once), sent batches.
    /// Returns its ID.
    pub async fn add_webhook_endpoint(
        &self,
        customer: &CustomerId,
        url: &str,
        secret: &str,
        kinds: &[EventKind],
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        self.create_webhook_endpoint(customer, url, secret, kinds, false, at)
            .await
    }

    /// Adds an endpoint for the contract, subscribed to `kinds` (each once), sent one event per
    /// request or batches. Returns its ID.
    pub async fn create_webhook_endpoint(
        &self,
        customer: &CustomerId,
        url: &str,
        secret: &str,
        kinds: &[EventKind],
        one_per_request: bool,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let new = NewWebhookEndpoint {
            url,
            secret,
            kinds,
            one_per_request,
            format: WebhookFormat::Standard,
            api_key: None,
        };
        self.create_webhook_endpoint_as(customer, &new, at).await
    }

    /// Adds an endpoint for the contract as `new` describes it. Returns its ID.
    pub async fn create_webhook_endpoint_as(
        &self,
        customer: &CustomerId,
        new: &NewWebhookEndpoint<'_>,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let NewWebhookEndpoint {
            url,
            secret,
            one_per_request,
            format,
            api_key,
            ..
        } = *new;
        let mut kinds = new.kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        let secret_sealed = self.key.seal_str(secret);
        let api_key_sealed = api_key.map(|key| self.key.seal_str(key));
        let _turn = self.write_turn().await;
        let id = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_endpoints (customer_id, url, secret_sealed, created_at, \
                 one_per_request, format, api_key_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 RETURNING endpoint_id",
            )
            .bind(customer.as_str())
            .bind(url)
            .bind(secret_sealed.as_slice())
            .bind(at.as_millis())
            .bind(one_per_request)
            .bind(format.as_str())
            .bind(api_key_sealed.as_deref())
            .fetch_one(&mut *tx)
            .await?;
            if !kinds.is_empty() {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO webhook_subscriptions (endpoint_id, customer_id, kind) ",
                );
                insert.push_values(&kinds, |mut row, kind| {
                    row.push_bind(id).push_bind(customer.as_str()).push_bind(kind.as_str());
                });
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    /// The contract's endpoints, oldest first.
    pub async fn webhook_endpoints(
        &self,
        customer: &CustomerId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let (rows, subscriptions): (Vec<EndpointRow>, Vec<(i64, String)>) = with_pool!(self, pool => {
            let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE customer_id = $1 \
                 ORDER BY endpoint_id"
            )))
            .bind(customer.as_str())
            .fetch_all(pool)
            .await?;
            let subscriptions = sqlx::query_as(
                "SELECT endpoint_id, kind FROM webhook_subscriptions WHERE customer_id = $1",
            )
            .bind(customer.as_str())
            .fetch_all(pool)
            .await?;
            (rows, subscriptions)
        });
        self.endpoints_from_rows(rows, subscriptions)
    }

    /// One endpoint of the contract, or `None` when the contract has no such endpoint.
    pub async fn webhook_endpoint(
        &self,
        customer: &CustomerId,
        id: i64,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        Ok(self
            .webhook_endpoints(customer)
            .await?
            .into_iter()
            .find(|e| e.id == id))
    }

    fn endpoints_from_rows(
        &self,
        rows: Vec<EndpointRow>,
        subscriptions: Vec<(i64, String)>,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let mut kinds: HashMap<i64, Vec<EventKind>> = HashMap::new();
        for (endpoint, kind) in subscriptions {
            kinds.entry(endpoint).or_default().push(
                kind.parse()
                    .map_err(|e| corrupt("webhook_subscriptions.kind", e))?,
            );
        }
        rows.into_iter()
            .map(|row| {
                let mut kinds = kinds.remove(&row.endpoint_id).unwrap_or_default();
                kinds.sort();
                let previous_secret = match (row.previous_secret_sealed, row.previous_secret_until)
                {
                    (Some(sealed), Some(until)) => {
                        Some((self.key.open_string(&sealed)?, Timestamp(until)))
                    }
                    _ => None,
                };
                Ok(WebhookEndpoint {
                    id: row.endpoint_id,
                    customer_id: row
                        .customer_id
                        .parse()
                        .map_err(|e| corrupt("webhook_endpoints.customer_id", e))?,
                    url: row.url,
                    secret: self.key.open_string(&row.secret_sealed)?,
                    kinds,
                    created_at: Timestamp(row.created_at),
                    one_per_request: row.one_per_request,
                    previous_secret,
                    failing_since: row.failing_since.map(Timestamp),
                    failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
                    disabled: row
                        .disabled_at
                        .map(|at| (Timestamp(at), row.disabled_reason.unwrap_or_default())),
                    format: row
                        .format
                        .parse()
                        .map_err(|e| corrupt("webhook_endpoints.format", e))?,
                    api_key: row
                        .api_key_sealed
                        .map(|sealed| self.key.open_string(&sealed))
                        .transpose()?,
                })
            })
            .collect()
    }

    /// Removes the contract's endpoint with its pending deliveries; `false` when the contract
    /// has no such endpoint.
    pub async fn remove_webhook_endpoint(
        &self,
        customer: &CustomerId,
        id: i64,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let removed = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let removed = sqlx::query(
                "DELETE FROM webhook_endpoints WHERE customer_id = $1 AND endpoint_id = $2",
            )
            .bind(customer.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if removed > 0 {
                // Explicitly, as SQLite enforces the foreign keys' cascades only when asked to.
                for sql in [
                    "DELETE FROM webhook_subscriptions WHERE endpoint_id = $1",
                    "DELETE FROM webhook_outbox WHERE endpoint_id = $1",
                ] {
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            removed
        });
        Ok(removed > 0)
    }

    /// Rotates the endpoint's secret to `secret`; the one it replaces keeps signing requests
    /// (beside the new one) until `previous_until`. `false` when the contract has no such
    /// endpoint.
    pub async fn rotate_webhook_secret(
        &self,
        customer: &CustomerId,
        id: i64,
        secret: &str,
        previous_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let sealed = self.key.seal_str(secret);
        let _turn = self.write_turn().await;
        let changed = with_pool!(self, pool => {
            // Both engines read the row's old values on the right of SET.
            sqlx::query(
                "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, \
                 previous_secret_until = $1, secret_sealed = $2 \
                 WHERE customer_id = $3 AND endpoint_id = $4",
            )
            .bind(previous_until.as_millis())
            .bind(sealed.as_slice())
            .bind(customer.as_str())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed > 0)
    }

    /// Enables a disabled endpoint again (its failure count starts over), or disables it with
    /// `reason` at `at`. `false` when the contract has no such endpoint.
    pub async fn set_webhook_endpoint_disabled(
        &self,
        customer: &CustomerId,
        id: i64,
        disabled: Option<(Timestamp, &str)>,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let changed = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2, \
                 failing_since = NULL, failures = 0, retry_at = 0 \
                 WHERE customer_id = $3 AND endpoint_id = $4",
            )
            .bind(disabled.map(|(at, _)| at.as_millis()))
            .bind(disabled.map(|(_, reason)| reason))
            .bind(customer.as_str())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed > 0)
    }

    /// Queues a test event for the endpoint, sent like any other (its own request, in turn
    /// after the events queued before it). `false` when the contract has no such endpoint.
    pub async fn enqueue_webhook_test(
        &self,
        customer: &CustomerId,
        id: i64,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let added = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO webhook_outbox (endpoint_id, event_id, customer_id, created_at, test) \
                 SELECT endpoint_id, 0, customer_id, $1, $2 \
                 FROM webhook_endpoints WHERE customer_id = $3 AND endpoint_id = $4",
            )
            .bind(at.as_millis())
            .bind(true)
            .bind(customer.as_str())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(added > 0)
    }

    /// Claims up to `limit` enabled endpoints that have a request to send at `now`, each for
    /// `lease` (no other claim returns it meanwhile; a sender that dies leaves it to the next
    /// one after the lease), least recently claimed first. An endpoint has a request to send
    /// when it is not waiting for a retry and it has an event older than `window` (one
    /// event per request: any event), or `batch_max` events.
    pub async fn claim_webhook_endpoints(
        &self,
        now: Timestamp,
        lease: Duration,
        window: Duration,
        batch_max: u32,
        limit: u32,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now.saturating_add(lease);
        let window_start = Timestamp(
            now.as_millis()
                .saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX)),
        );
        let lock = self.skip_locked();
        let sql = format!(
            "UPDATE webhook_endpoints SET claimed_until = $1 WHERE endpoint_id IN (\
             SELECT e.endpoint_id FROM webhook_endpoints e \
             WHERE e.disabled_at IS NULL AND e.claimed_until <= $2 AND e.retry_at <= $2 \
             AND (EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.endpoint_id = e.endpoint_id \
                 AND (o.created_at <= $3 OR e.one_per_request = $4)) \
              OR EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.endpoint_id = e.endpoint_id \
                 ORDER BY o.outbox_id LIMIT 1 OFFSET $5)) \
             ORDER BY e.claimed_until, e.endpoint_id LIMIT $6{lock}) \
             RETURNING {ENDPOINT_COLUMNS}"
        );
        let (rows, subscriptions): (Vec<EndpointRow>, Vec<(i64, String)>) = {
            let _turn = self.write_turn().await;
            with_pool!(self, pool => {
                let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(until.as_millis())
                    .bind(now.as_millis())
                    .bind(window_start.as_millis())
                    .bind(true)
                    .bind(i64::from(batch_max.max(1) - 1))
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?;
                let mut subscriptions = Vec::new();
                if !rows.is_empty() {
                    let mut select = QueryBuilder::new(
                        "SELECT endpoint_id, kind FROM webhook_subscriptions WHERE endpoint_id IN (",
                    );
                    let mut list = select.separated(", ");
                    for row in &rows {
                        list.push_bind(row.endpoint_id);
                    }
                    select.push(")");
                    subscriptions = select.build_query_as().fetch_all(pool).await?;
                }
                (rows, subscriptions)
            })
        };
        let mut endpoints = self.endpoints_from_rows(rows, subscriptions)?;
        endpoints.sort_by_key(|e| e.id);
        Ok(endpoints)
    }

    /// Gives a claimed endpoint back without an attempt (it had nothing to send after all).
    pub async fn release_webhook_endpoint(
        &self,
        endpoint_id: i64,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query("UPDATE webhook_endpoints SET claimed_until = $1 WHERE endpoint_id = $2")
                .bind(now.as_millis())
                .bind(endpoint_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The endpoint's next request: the events of the request already begun (a retry) if
    /// there is one, else the oldest events not yet in a request (up to `max`), which are put
    /// under `new_webhook_id` first, so that a retry after a crash sends them under it again.
    /// Events the send log no longer holds (purged) are dropped. `None` when nothing waits.
    pub async fn next_webhook_batch(
        &self,
        endpoint_id: i64,
        max: u32,
        new_webhook_id: &str,
    ) -> Result<Option<WebhookBatch>, StoreError> {
        let max = i64::from(max.max(1));
        // Again while every event of the front request turns out purged.
        loop {
            let front: Vec<BatchRow> = with_pool!(self, pool => {
                sqlx::query_as(
                    "SELECT outbox_id, event_id, created_at, batch_id, test FROM webhook_outbox \
                     WHERE endpoint_id = $1 ORDER BY outbox_id LIMIT $2",
                )
                .bind(endpoint_id)
                .bind(max)
                .fetch_all(pool)
                .await?
            });
            let Some(first) = front.first() else {
                return Ok(None);
            };
            let (webhook_id, rows) = match &first.batch_id {
                Some(begun) => {
                    let rows: Vec<BatchRow> = with_pool!(self, pool => {
                        sqlx::query_as(
                            "SELECT outbox_id, event_id, created_at, batch_id, test FROM webhook_outbox \
                             WHERE batch_id = $1 AND endpoint_id = $2 ORDER BY outbox_id",
                        )
                        .bind(begun)
                        .bind(endpoint_id)
                        .fetch_all(pool)
                        .await?
                    });
                    (begun.clone(), rows)
                }
                None => {
                    let rows: Vec<BatchRow> = front
                        .into_iter()
                        .take_while(|row| row.batch_id.is_none())
                        .collect();
                    let _turn = self.write_turn().await;
                    with_pool!(self, pool => {
                        let mut update = QueryBuilder::new("UPDATE webhook_outbox SET batch_id = ");
                        update.push_bind(new_webhook_id);
                        update.push(" WHERE batch_id IS NULL AND outbox_id IN (");
                        let mut list = update.separated(", ");
                        for row in &rows {
                            list.push_bind(row.outbox_id);
                        }
                        update.push(")");
                        update.build().execute(pool).await?;
                    });
                    (new_webhook_id.to_string(), rows)
                }
            };
            if let Some(batch) = self.assemble_batch(webhook_id, rows).await? {
                return Ok(Some(batch));
            }
        }
    }

    /// The request made of `rows` (fixed under `webhook_id`), with their events read from the
    /// send log. Rows whose event the send log no longer holds (purged) are removed; `None`
    /// when that leaves nothing.
    async fn assemble_batch(
        &self,
        webhook_id: String,
        rows: Vec<BatchRow>,
    ) -> Result<Option<WebhookBatch>, StoreError> {
        let logged: Vec<i64> = rows
            .iter()
            .filter(|r| !r.test)
            .map(|r| r.event_id)
            .collect();
        let mut found = self.events_by_id(&logged).await?;
        let mut batch = WebhookBatch {
            webhook_id,
            outbox_ids: Vec::with_capacity(rows.len()),
            events: Vec::with_capacity(rows.len()),
            oldest: Timestamp(rows.iter().map(|r| r.created_at).min().unwrap_or(0)),
        };
        let mut purged = Vec::new();
        for row in rows {
            let event = if row.test {
                WebhookEvent::Test(Timestamp(row.created_at))
            } else {
                match found.remove(&row.event_id) {
                    Some(event) => WebhookEvent::Logged(Box::new(event)),
                    None => {
                        purged.push(row.outbox_id);
                        continue;
                    }
                }
            };
            batch.outbox_ids.push(row.outbox_id);
            batch.events.push(event);
        }
        self.finish_outbox(&purged).await?;
        Ok((!batch.events.is_empty()).then_some(batch))
    }

    /// Records an attempt of `batch` to its endpoint and, in the same transaction, what follows:
    /// the batch's outbox rows go when it was delivered or given up, and the endpoint is
    /// released healthy, to retry later, or disabled.
    ///
    /// With `follow_on`, a healthy endpoint that already has its next request due is not
    /// released: its claim is extended and that request's events are fixed under a new
    /// `webhook-id` in the same transaction, and returned. A busy endpoint then costs one
    /// commit per request instead of three (claim, fix, record), and each commit is an fsync
    /// taken under the write turn that intake waits for.
    pub async fn finish_webhook_attempt(
        &self,
        endpoint: &WebhookEndpoint,
        batch: &WebhookBatch,
        attempt: &WebhookAttempt,
        next: &EndpointNext,
        follow_on: Option<&FollowOn<'_>>,
    ) -> Result<Option<WebhookBatch>, StoreError> {
        let answer = attempt.answer.as_deref().map(|a| self.key.seal_str(a));
        let done = attempt.outcome != WebhookOutcome::Retry;
        let at = attempt.at.as_millis();
        let follow_on = follow_on.filter(|_| *next == EndpointNext::Healthy);
        let following: Vec<BatchRow> = {
            let _turn = self.write_turn().await;
            with_pool!(self, pool => {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO webhook_attempts (endpoint_id, customer_id, webhook_id, events, \
                     at, http_status, error, latency_ms, answer_sealed, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(endpoint.id)
                .bind(endpoint.customer_id.as_str())
                .bind(&attempt.webhook_id)
                .bind(i64::from(attempt.events))
                .bind(at)
                .bind(attempt.http_status.map(i32::from))
                .bind(attempt.error.as_deref())
                .bind(attempt.latency_ms)
                .bind(answer.as_deref())
                .bind(attempt.outcome.as_str())
                .execute(&mut *tx)
                .await?;
                if done {
                    sqlx::query(
                        "DELETE FROM webhook_outbox WHERE batch_id = $1 AND endpoint_id = $2",
                    )
                    .bind(&batch.webhook_id)
                    .bind(endpoint.id)
                    .execute(&mut *tx)
                    .await?;
                }
                let mut following: Vec<BatchRow> = Vec::new();
                if let Some(follow_on) = follow_on {
                    let max = i64::from(follow_on.max.max(1));
                    // Only while the endpoint is still enabled: it may have been disabled or
                    // removed since it was claimed.
                    following = sqlx::query_as(
                        "SELECT o.outbox_id, o.event_id, o.created_at, o.batch_id, o.test \
                         FROM webhook_outbox o JOIN webhook_endpoints e \
                         ON e.endpoint_id = o.endpoint_id \
                         WHERE o.endpoint_id = $1 AND o.batch_id IS NULL \
                         AND e.disabled_at IS NULL ORDER BY o.outbox_id LIMIT $2",
                    )
                    .bind(endpoint.id)
                    .bind(max)
                    .fetch_all(&mut *tx)
                    .await?;
                    let due = i64::try_from(following.len()).unwrap_or(i64::MAX) >= max
                        || following
                            .first()
                            .is_some_and(|row| row.created_at <= follow_on.due_by.as_millis());
                    if !due {
                        following.clear();
                    }
                }
                match next {
                    EndpointNext::Healthy => {
                        let claimed_until = match follow_on {
                            Some(follow_on) if !following.is_empty() => {
                                let mut update =
                                    QueryBuilder::new("UPDATE webhook_outbox SET batch_id = ");
                                update.push_bind(follow_on.new_webhook_id);
                                update.push(" WHERE batch_id IS NULL AND outbox_id IN (");
                                let mut list = update.separated(", ");
                                for row in &following {
                                    list.push_bind(row.outbox_id);
                                }
                                update.push(")");
                                update.build().execute(&mut *tx).await?;
                                follow_on.claim_until.as_millis()
                            }
                            _ => at,
                        };
                        sqlx::query(
                            "UPDATE webhook_endpoints SET claimed_until = $1, retry_at = 0, \
                             failing_since = NULL, failures = 0 WHERE endpoint_id = $2",
                        )
                        .bind(claimed_until)
                        .bind(endpoint.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    EndpointNext::RetryAt(retry_at) => {
                        sqlx::query(
                            "UPDATE webhook_endpoints SET claimed_until = $1, retry_at = $2, \
                             failing_since = COALESCE(failing_since, $1), \
                             failures = failures + 1 WHERE endpoint_id = $3",
                        )
                        .bind(at)
                        .bind(retry_at.as_millis())
                        .bind(endpoint.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    EndpointNext::Disable { reason } => {
                        sqlx::query(
                            "UPDATE webhook_endpoints SET claimed_until = $1, disabled_at = $1, \
                             disabled_reason = $2, failures = failures + 1 \
                             WHERE endpoint_id = $3",
                        )
                        .bind(at)
                        .bind(reason)
                        .bind(endpoint.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                following
            })
        };
        let Some(follow_on) = follow_on.filter(|_| !following.is_empty()) else {
            return Ok(None);
        };
        let batch = self
            .assemble_batch(follow_on.new_webhook_id.to_string(), following)
            .await?;
        if batch.is_none() {
            // Every event of it had been purged: nothing to send after all.
            self.release_webhook_endpoint(endpoint.id, Timestamp::now())
                .await?;
        }
        Ok(batch)
    }

    /// The endpoint's attempts, newest first, at most `limit`; empty when the contract has no
    /// such endpoint.
    pub async fn webhook_attempts(
        &self,
        customer: &CustomerId,
        endpoint_id: i64,
        limit: u32,
    ) -> Result<Vec<WebhookAttemptEntry>, StoreError> {
        let rows: Vec<AttemptRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT endpoint_id, webhook_id, events, at, http_status, error, latency_ms, \
                 answer_sealed, outcome FROM webhook_attempts \
                 WHERE customer_id = $1 AND endpoint_id = $2 ORDER BY attempt_id DESC LIMIT $3",
            )
            .bind(customer.as_str())
            .bind(endpoint_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(WebhookAttemptEntry {
                    endpoint_id: row.endpoint_id,
                    attempt: WebhookAttempt {
                        webhook_id: row.webhook_id,
                        events: u32::try_from(row.events).unwrap_or(u32::MAX),
                        at: Timestamp(row.at),
                        http_status: row.http_status.and_then(|s| u16::try_from(s).ok()),
                        error: row.error,
                        latency_ms: row.latency_ms,
                        answer: row
                            .answer_sealed
                            .map(|sealed| self.key.open_string(&sealed))
                            .transpose()?,
                        outcome: WebhookOutcome::parse(&row.outcome)
                            .ok_or_else(|| corrupt("webhook_attempts.outcome", &row.outcome))?,
                    },
                })
            })
            .collect()
    }

    /// Removes delivered (or abandoned) outbox rows. Returns how many there were.
    async fn finish_outbox(&self, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let _turn = self.write_turn().await;
        let removed = with_pool!(self, pool => {
            let mut removed = 0;
            for chunk in ids.chunks(256) {
                let mut delete = QueryBuilder::new("DELETE FROM webhook_outbox WHERE outbox_id IN (");
                let mut list = delete.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                delete.push(")");
                removed += delete.build().execute(pool).await?.rows_affected();
            }
            removed
        });
        Ok(removed)
    }
}
