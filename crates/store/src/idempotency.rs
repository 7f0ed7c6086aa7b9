//! Idempotency keys of the HTTP API: a request repeated with the same `Idempotency-Key` within
//! [`IDEMPOTENCY_WINDOW`] gets the first request's answer and sends nothing again.
//!
//! The caller (the API handler) calls [`Store::idempotency_begin`] before doing anything; only
//! on [`Begun::New`] does it go on, and then it ends with [`Store::idempotency_finish`] (the
//! answer is kept) or, when it failed before anything was sent, [`Store::idempotency_release`]
//! (the key is free again, so the client's retry is served afresh rather than told about a
//! failure that sent nothing). Keys are per contract: two tenants may use the same key.

use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, Timestamp};
use std::time::Duration;

/// How long a key is remembered; an older entry is as if it did not exist, and is purged.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a claim may stay unfinished before a repeat takes it over. A request is served in
/// seconds; a claim older than this was left by a process that died while serving it, and
/// without a bound its key would answer `409` for the whole window. Taking it over may send a
/// message twice (if the dead process had spooled it before it could keep the answer): a
/// duplicate, never a loss.
pub const IDEMPOTENCY_CLAIM_LEASE: Duration = Duration::from_secs(5 * 60);

/// The longest idempotency key accepted, in bytes (hosted services allow 255 characters).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A row as read back: the request's hash, the answer's status and sealed body once finished.
type StoredEntry = (Vec<u8>, Option<i32>, Option<Vec<u8>>);

/// What [`Store::idempotency_begin`] found for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// The key is new (or its entry expired): serve the request, then finish or release it.
    New,
    /// The same request was served already: answer with its status and JSON body, do nothing.
    Replay { status: u16, response: Vec<u8> },
    /// The first request with this key is still being served (`409 Conflict`, retry later).
    InProgress,
    /// The key was used for a different request (`422 Unprocessable Entity`).
    Mismatch,
}

impl Store {
    /// Claims `key` for `customer`'s request, known by `request_hash` (a digest of the request
    /// body the caller computed; it is hashed again with the store's key before it is kept).
    /// Entries created at or before `now - IDEMPOTENCY_WINDOW`, and claims left unfinished for
    /// [`IDEMPOTENCY_CLAIM_LEASE`], are ignored and replaced.
    pub async fn idempotency_begin(
        &self,
        customer: &CustomerId,
        key: &str,
        request_hash: &[u8],
        now: Timestamp,
    ) -> Result<Begun, StoreError> {
        check_key(key)?;
        let key_hash = self.idempotency_key_hash(key);
        let request = self
            .key
            .keyed_digest(b"idempotency-request", &[request_hash]);
        let expired_at = expiry(now);
        let abandoned_at = now
            .as_millis()
            .saturating_sub(IDEMPOTENCY_CLAIM_LEASE.as_millis() as i64);
        let _turn = self.write_turn().await;
        let row: Option<StoredEntry> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "DELETE FROM idempotency_keys \
                 WHERE customer_id = $1 AND key_hash = $2 \
                 AND (created_at <= $3 OR (status IS NULL AND created_at <= $4))",
            )
            .bind(customer.as_str())
            .bind(key_hash.as_slice())
            .bind(expired_at)
            .bind(abandoned_at)
            .execute(&mut *tx)
            .await?;
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (customer_id, key_hash, request_hash, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, key_hash) DO NOTHING",
            )
            .bind(customer.as_str())
            .bind(key_hash.as_slice())
            .bind(request.as_slice())
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await;
            let inserted = match inserted {
                Ok(done) => done.rows_affected(),
                Err(e) if crate::error::is_foreign_key_violation(&e) => {
                    return Err(StoreError::ContractNotFound(customer.clone()));
                }
                Err(e) => return Err(e.into()),
            };
            let row = if inserted == 1 {
                None
            } else {
                Some(
                    sqlx::query_as(
                        "SELECT request_hash, status, response_sealed FROM idempotency_keys \
                         WHERE customer_id = $1 AND key_hash = $2",
                    )
                    .bind(customer.as_str())
                    .bind(key_hash.as_slice())
                    .fetch_one(&mut *tx)
                    .await?,
                )
            };
            tx.commit().await?;
            row
        });
        let Some((stored_request, status, response)) = row else {
            return Ok(Begun::New);
        };
        if stored_request != request {
            return Ok(Begun::Mismatch);
        }
        match (status, response) {
            (Some(status), Some(sealed)) => Ok(Begun::Replay {
                status: u16::try_from(status).map_err(|_| {
                    StoreError::Corrupt(format!("idempotency_keys.status: {status}"))
                })?,
                response: self.key.open(&sealed)?,
            }),
            _ => Ok(Begun::InProgress),
        }
    }

    /// Keeps the answer to the request that [`Store::idempotency_begin`] claimed `key` for;
    /// repeats of it get this answer until the entry expires. The answer is sealed: it may
    /// list recipients. Returns whether the claim was still there (it is not when it expired
    /// or was released meanwhile; the answer is then simply not kept).
    pub async fn idempotency_finish(
        &self,
        customer: &CustomerId,
        key: &str,
        status: u16,
        response: &[u8],
    ) -> Result<bool, StoreError> {
        check_key(key)?;
        let key_hash = self.idempotency_key_hash(key);
        let sealed = self.key.seal(response);
        let _turn = self.write_turn().await;
        let updated = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE idempotency_keys SET status = $3, response_sealed = $4 \
                 WHERE customer_id = $1 AND key_hash = $2 AND status IS NULL",
            )
            .bind(customer.as_str())
            .bind(key_hash.as_slice())
            .bind(i32::from(status))
            .bind(sealed.as_slice())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(updated == 1)
    }

    /// Forgets a claim whose request failed before anything was sent, so that the client's
    /// retry with the same key is served rather than answered `409` until the entry expires.
    /// A finished entry is left alone.
    pub async fn idempotency_release(
        &self,
        customer: &CustomerId,
        key: &str,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        let key_hash = self.idempotency_key_hash(key);
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "DELETE FROM idempotency_keys \
                 WHERE customer_id = $1 AND key_hash = $2 AND status IS NULL",
            )
            .bind(customer.as_str())
            .bind(key_hash.as_slice())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Removes every entry of every contract that expired by `now`; returns how many. The
    /// look-up ignores expired entries already, so this only keeps the table small: run it
    /// now and then (the serve loop's housekeeping).
    pub async fn purge_idempotency(&self, now: Timestamp) -> Result<u64, StoreError> {
        let expired_at = expiry(now);
        let _turn = self.write_turn().await;
        let removed = with_pool!(self, pool => {
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
                .bind(expired_at)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed)
    }

    fn idempotency_key_hash(&self, key: &str) -> Vec<u8> {
        self.key.keyed_digest(b"idempotency-key", &[key.as_bytes()])
    }
}

/// The creation time at or before which an entry has expired at `now`.
fn expiry(now: Timestamp) -> i64 {
    now.as_millis()
        .saturating_sub(IDEMPOTENCY_WINDOW.as_millis() as i64)
}

/// A key is 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] bytes of visible ASCII, as an HTTP header value
/// carries it without quoting.
fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(StoreError::invalid(
            "idempotency key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes"),
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::invalid(
            "idempotency key",
            "must be visible ASCII characters without spaces",
        ));
    }
    Ok(())
}
