//! Webhook endpoints and the outbox of events waiting for them. The event writer fills the
//! outbox in the transaction of each event (`events` module); a sender claims due rows with a
//! lease and finishes them once delivered. Delivering them is not this crate's business.
//!
//! Why a lease and not a cursor over `outbox_id`: on PostgreSQL identity values are taken when
//! a row is inserted but become visible when its transaction commits, so a reader that remembers
//! "everything up to ID n is done" skips a row numbered below n that commits after it read.

use crate::queue::corrupt;
use crate::{Backend, Store, StoreError};
use hikyaku_model::{CustomerId, Event, EventKind, Timestamp};
use sqlx::QueryBuilder;
use std::collections::HashMap;
use std::time::Duration;

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
}

/// One event due for one endpoint, claimed until `leased_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub outbox_id: i64,
    pub endpoint_id: i64,
    pub customer_id: CustomerId,
    /// Claims so far, this one included.
    pub attempts: u32,
    pub leased_until: Timestamp,
    pub event: Event,
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    endpoint_id: i64,
    customer_id: String,
    url: String,
    secret_sealed: Vec<u8>,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    outbox_id: i64,
    endpoint_id: i64,
    event_id: i64,
    customer_id: String,
    attempts: i64,
}

impl Store {
    /// Adds an endpoint for the contract, subscribed to `kinds` (each once). Returns its ID.
    pub async fn add_webhook_endpoint(
        &self,
        customer: &CustomerId,
        url: &str,
        secret: &str,
        kinds: &[EventKind],
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut kinds = kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        let secret_sealed = self.key.seal_str(secret);
        let _turn = self.write_turn().await;
        let id = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_endpoints (customer_id, url, secret_sealed, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING endpoint_id",
            )
            .bind(customer.as_str())
            .bind(url)
            .bind(secret_sealed.as_slice())
            .bind(at.as_millis())
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
            let rows = sqlx::query_as(
                "SELECT endpoint_id, customer_id, url, secret_sealed, created_at \
                 FROM webhook_endpoints WHERE customer_id = $1 ORDER BY endpoint_id",
            )
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

    /// Claims up to `limit` outbox rows that are due at `now` (oldest first) for `lease`: no
    /// other claim returns them until the lease ends, when they are due again (their sender
    /// crashed or gave up for now). Two concurrent claimers never get the same row.
    pub async fn claim_outbox(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let until = now.saturating_add(lease);
        let claimed: Vec<ClaimedRow> = {
            let _turn = self.write_turn().await;
            // PostgreSQL: concurrent claimers skip each other's rows instead of waiting for them.
            let lock = match self.backend {
                Backend::Sqlite(_) => "",
                Backend::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            };
            let sql = format!(
                "UPDATE webhook_outbox SET available_at = $1, attempts = attempts + 1 \
                 WHERE outbox_id IN (SELECT outbox_id FROM webhook_outbox \
                 WHERE available_at <= $2 ORDER BY available_at, outbox_id LIMIT $3{lock}) \
                 RETURNING outbox_id, endpoint_id, event_id, customer_id, attempts"
            );
            with_pool!(self, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(until.as_millis())
                    .bind(now.as_millis())
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            })
        };
        let mut events = self
            .events_by_id(&claimed.iter().map(|c| c.event_id).collect::<Vec<_>>())
            .await?;
        let mut items: Vec<OutboxItem> = claimed
            .into_iter()
            .filter_map(|row| {
                // An event purged by retention after its row was claimed: nothing to send.
                let event = events.remove(&row.event_id)?;
                Some((row, event))
            })
            .map(|(row, event)| {
                Ok(OutboxItem {
                    outbox_id: row.outbox_id,
                    endpoint_id: row.endpoint_id,
                    customer_id: row
                        .customer_id
                        .parse()
                        .map_err(|e| corrupt("webhook_outbox.customer_id", e))?,
                    attempts: u32::try_from(row.attempts)
                        .map_err(|e| corrupt("webhook_outbox.attempts", e))?,
                    leased_until: until,
                    event,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        items.sort_by_key(|item| item.outbox_id);
        Ok(items)
    }

    /// Removes delivered (or abandoned) outbox rows. Returns how many there were.
    pub async fn finish_outbox(&self, ids: &[i64]) -> Result<u64, StoreError> {
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
