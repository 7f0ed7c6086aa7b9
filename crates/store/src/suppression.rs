//! The contracts' suppression lists: addresses a contract's mail is never sent
//! to, why each is there, and the bounces and complaints that put them there.
//!
//! Addresses are sealed like every address and found through the keyed look-up hash, so a
//! look-up ignores case and the list is scoped by contract in every query: one contract never
//! sees, adds to or removes from another's list. What puts an address on the list is decided in
//! [`crate::suppression_policy`] and applied by [`apply_suppression!`], the one statement sequence
//! both [`Store::record_bounces`] (the error server) and [`Store::record_outcomes`] (the delivery
//! engine) run. The list is honoured at acceptance ([`Store::record_accepted`]) and again before
//! each delivery attempt ([`Store::listed_among`]).

use crate::queue::corrupt;
use crate::suppression_policy::{SoftBouncePolicy, SuppressionEffect, SuppressionSource};
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, EventDetails, EventKind, MessageId, Timestamp};
use serde::Serialize;
use sqlx::QueryBuilder;
use std::collections::HashMap;

/// The longest address the list takes (RFC 5321's path limit, 256 octets, less the brackets).
const MAX_ADDRESS_LEN: usize = 254;

/// One address on a contract's suppression list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuppressionEntry {
    pub customer_id: CustomerId,
    /// As it was first listed (look-ups ignore case).
    pub address: String,
    pub source: SuppressionSource,
    /// Sisimai reason name (`userunknown`) or the operator's note.
    pub reason: Option<String>,
    /// The message whose bounce or complaint put it there.
    pub message_id: Option<MessageId>,
    pub created_at: Timestamp,
}

/// An address to add to a contract's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSuppression<'a> {
    pub address: &'a str,
    pub source: SuppressionSource,
    pub reason: Option<&'a str>,
    pub message_id: Option<MessageId>,
}

/// One page of a contract's list. Entries come in a fixed order that is not alphabetical
/// (the order of the look-up hashes, the only order the database can index without reading
/// addresses): to read the whole list, ask again with `after` set to the last address of each
/// page until a page comes back short or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuppressionFilter {
    /// Start after this address (the last of the previous page); `None` starts at the first.
    /// The address need not be on the list any more.
    pub after: Option<String>,
    /// At most this many entries; `None` for all.
    pub limit: Option<u32>,
}

/// Where an entry sits in its contract's list order: the keyed look-up hash of its address,
/// which says nothing of the address without the operator's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SuppressionPosition(Vec<u8>);

impl SuppressionPosition {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A position given back by a client (of any length: one that names no entry still sorts
    /// somewhere, so paging from it just goes on from there).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        SuppressionPosition(bytes)
    }
}

/// A bounce or complaint about one recipient of one message, as the error server learnt it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceEvent {
    pub customer_id: CustomerId,
    pub message_id: MessageId,
    pub recipient: String,
    /// The original message's envelope sender, for the event row.
    pub mail_from: String,
    pub at: Timestamp,
    /// [`EventDetails::Bounced`] or [`EventDetails::Complaint`] (or `Deferred` for a delay
    /// report).
    pub details: EventDetails,
    pub effect: SuppressionEffect,
}

impl BounceEvent {
    pub fn kind(&self) -> EventKind {
        self.details.kind()
    }
}

/// Checks an address before it goes on a list: trimmed, `local@domain` with both parts, no
/// spaces or control characters, at most 254 bytes. Returns it trimmed.
pub fn check_suppression_address(address: &str) -> Result<&str, String> {
    let trimmed = address.trim();
    let Some((local, domain)) = trimmed.rsplit_once('@') else {
        return Err(format!("not an e-mail address (no @): {trimmed:?}"));
    };
    if local.is_empty() || domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
        return Err(format!("not an e-mail address: {trimmed:?}"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    {
        return Err(format!(
            "not an e-mail address (space, control character or bracket): {trimmed:?}"
        ));
    }
    if trimmed.len() > MAX_ADDRESS_LEN {
        return Err(format!(
            "address longer than {MAX_ADDRESS_LEN} bytes: {trimmed:?}"
        ));
    }
    Ok(trimmed)
}

#[derive(sqlx::FromRow)]
struct SuppressionRow {
    customer_id: String,
    address_sealed: Vec<u8>,
    source: String,
    reason_sealed: Option<Vec<u8>>,
    message_id: Option<String>,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct HashedSuppressionRow {
    address_hash: Vec<u8>,
    #[sqlx(flatten)]
    row: SuppressionRow,
}

const SUPPRESSION_COLUMNS: &str = "SELECT customer_id, address_sealed, source, reason_sealed, \
                                   message_id, created_at FROM suppressions";

/// A new entry with its address and reason sealed, so that no crypto runs in the transaction.
pub(crate) struct SealedSuppression {
    pub(crate) hash: Vec<u8>,
    pub(crate) sealed: Vec<u8>,
    pub(crate) source: SuppressionSource,
    pub(crate) reason_sealed: Option<Vec<u8>>,
    pub(crate) message_id: Option<String>,
}

/// A bounce event with its texts sealed.
struct SealedBounce<'a> {
    bounce: &'a BounceEvent,
    message_id: String,
    mail_from_sealed: Vec<u8>,
    mail_from_hash: Vec<u8>,
    recipient_sealed: Vec<u8>,
    recipient_hash: Vec<u8>,
    recipient_domain: Option<String>,
    details_sealed: Option<Vec<u8>>,
    reason_sealed: Option<Vec<u8>>,
}

/// One address's suppression effect, as [`apply_suppression!`] applies it.
pub(crate) struct SuppressionTarget<'a> {
    pub customer: &'a str,
    pub hash: &'a [u8],
    pub sealed: &'a [u8],
    pub effect: SuppressionEffect,
    /// The entry's reason (the event's), sealed.
    pub reason_sealed: Option<&'a [u8]>,
    pub message_id: &'a str,
    pub at: i64,
}

/// Applies a [`SuppressionTarget`] inside the transaction `$tx` under `$policy`: lists the
/// address for `Suppress`; for `CountSoft` forgets the address's soft bounces older than the
/// window, counts this one and lists the address when the policy says the count is enough. An
/// address already listed keeps its first entry. Evaluates to `Result<(), sqlx::Error>`.
macro_rules! apply_suppression {
    ($tx:expr, $target:expr, $policy:expr) => {
        async {
            let t: &$crate::suppression::SuppressionTarget<'_> = $target;
            let policy: &$crate::SoftBouncePolicy = $policy;
            let source = match t.effect {
                $crate::SuppressionEffect::Suppress(source) => Some(source),
                $crate::SuppressionEffect::CountSoft if policy.counts() => {
                    let window_ms = i64::try_from(policy.window.as_millis()).unwrap_or(i64::MAX);
                    let since = t.at.saturating_sub(window_ms);
                    sqlx::query(
                        "DELETE FROM soft_bounces \
                         WHERE customer_id = $1 AND address_hash = $2 AND at <= $3",
                    )
                    .bind(t.customer)
                    .bind(t.hash)
                    .bind(since)
                    .execute(&mut *$tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO soft_bounces (customer_id, address_hash, at) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(t.customer)
                    .bind(t.hash)
                    .bind(t.at)
                    .execute(&mut *$tx)
                    .await?;
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM soft_bounces WHERE customer_id = $1 \
                         AND address_hash = $2 AND at > $3 AND at <= $4",
                    )
                    .bind(t.customer)
                    .bind(t.hash)
                    .bind(since)
                    .bind(t.at)
                    .fetch_one(&mut *$tx)
                    .await?;
                    policy.after(u64::try_from(count).unwrap_or(0))
                }
                $crate::SuppressionEffect::CountSoft | $crate::SuppressionEffect::Nothing => None,
            };
            if let Some(source) = source {
                sqlx::query(
                    "INSERT INTO suppressions (customer_id, address_hash, address_sealed, \
                     source, reason_sealed, message_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (customer_id, address_hash) DO NOTHING",
                )
                .bind(t.customer)
                .bind(t.hash)
                .bind(t.sealed)
                .bind(source.as_str())
                .bind(t.reason_sealed)
                .bind(t.message_id)
                .bind(t.at)
                .execute(&mut *$tx)
                .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
    };
}
pub(crate) use apply_suppression;

/// Lists [`SealedSuppression`]s of the contract `$customer` inside the transaction `$tx`, an
/// address already listed keeping its first entry. Evaluates to `Result<u64, StoreError>`: how
/// many were newly listed; a contract that does not exist is [`StoreError::ContractNotFound`].
macro_rules! insert_suppressions {
    ($tx:expr, $customer:expr, $sealed:expr, $at:expr) => {
        async {
            let customer: &hikyaku_model::CustomerId = $customer;
            let sealed: &[$crate::suppression::SealedSuppression] = $sealed;
            let at: hikyaku_model::Timestamp = $at;
            let mut added = 0;
            for chunk in $crate::queue::statement_chunks(sealed) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO suppressions (customer_id, address_hash, address_sealed, source, \
                     reason_sealed, message_id, created_at) ",
                );
                insert.push_values(chunk, |mut row, s| {
                    row.push_bind(customer.as_str())
                        .push_bind(s.hash.as_slice())
                        .push_bind(s.sealed.as_slice())
                        .push_bind(s.source.as_str())
                        .push_bind(s.reason_sealed.as_deref())
                        .push_bind(s.message_id.as_deref())
                        .push_bind(at.as_millis());
                });
                insert.push(" ON CONFLICT (customer_id, address_hash) DO NOTHING");
                match insert.build().execute(&mut *$tx).await {
                    Ok(done) => added += done.rows_affected(),
                    Err(e) if $crate::error::is_foreign_key_violation(&e) => {
                        return Err($crate::StoreError::ContractNotFound(customer.clone()));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok::<u64, $crate::StoreError>(added)
        }
    };
}
pub(crate) use insert_suppressions;

impl Store {
    /// Adds addresses to the contract's list in one transaction. Returns how many were newly
    /// added: an address already listed (in any case) keeps its first entry. Fails, adding
    /// nothing, if any address is not one (see [`check_suppression_address`]) or the contract
    /// does not exist.
    pub async fn add_suppressions(
        &self,
        customer: &CustomerId,
        entries: &[NewSuppression<'_>],
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let sealed = self.seal_suppressions(entries)?;
        if sealed.is_empty() {
            return Ok(0);
        }
        let _turn = self.write_turn().await;
        let added = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let added = insert_suppressions!(tx, customer, &sealed, at).await?;
            tx.commit().await?;
            added
        });
        Ok(added)
    }

    /// Checks and seals entries before their transaction, so that no crypto runs in it.
    pub(crate) fn seal_suppressions(
        &self,
        entries: &[NewSuppression<'_>],
    ) -> Result<Vec<SealedSuppression>, StoreError> {
        // An import gives many entries one note: sealed once per call, it halves the crypto
        // (equal notes then show as equal ciphertexts, which says nothing of an address).
        let mut reasons: HashMap<&str, Vec<u8>> = HashMap::new();
        let mut sealed = Vec::with_capacity(entries.len());
        for entry in entries {
            let address = check_suppression_address(entry.address)
                .map_err(|reason| StoreError::invalid("suppressed address", reason))?;
            sealed.push(SealedSuppression {
                hash: self.key.address_hash(address),
                sealed: self.key.seal_str(address),
                source: entry.source,
                reason_sealed: entry.reason.map(|reason| {
                    reasons
                        .entry(reason)
                        .or_insert_with(|| self.key.seal_str(reason))
                        .clone()
                }),
                message_id: entry.message_id.map(|id| id.to_string()),
            });
        }
        Ok(sealed)
    }

    /// Takes the address (in any case) off the contract's list. Returns whether it was there.
    pub async fn remove_suppression(
        &self,
        customer: &CustomerId,
        address: &str,
    ) -> Result<bool, StoreError> {
        let hash = self.key.address_hash(address.trim());
        let _turn = self.write_turn().await;
        let removed = with_pool!(self, pool => {
            sqlx::query("DELETE FROM suppressions WHERE customer_id = $1 AND address_hash = $2")
                .bind(customer.as_str())
                .bind(hash.as_slice())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed > 0)
    }

    /// The contract's entry for the address (in any case), if it is listed.
    pub async fn suppression(
        &self,
        customer: &CustomerId,
        address: &str,
    ) -> Result<Option<SuppressionEntry>, StoreError> {
        let hash = self.key.address_hash(address.trim());
        let row: Option<SuppressionRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(SUPPRESSION_COLUMNS);
            select
                .push(" WHERE customer_id = ")
                .push_bind(customer.as_str())
                .push(" AND address_hash = ")
                .push_bind(hash.as_slice());
            select.build_query_as().fetch_optional(pool).await?
        });
        row.map(|row| self.suppression_from_row(row)).transpose()
    }

    /// The contract's entries for each of `addresses` (in any case), in their order: `None`
    /// for an address not listed. One indexed query, however many addresses: the delivery
    /// engine asks before each attempt, so that an address listed while its message waited in
    /// the queue is not sent.
    pub async fn listed_among(
        &self,
        customer: &CustomerId,
        addresses: &[&str],
    ) -> Result<Vec<Option<SuppressionEntry>>, StoreError> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let hashes: Vec<Vec<u8>> = addresses
            .iter()
            .map(|a| self.key.address_hash(a.trim()))
            .collect();
        let mut found: HashMap<Vec<u8>, SuppressionEntry> = HashMap::new();
        for chunk in hashes.chunks(crate::queue::LOOKUP_CHUNK) {
            let rows: Vec<(Vec<u8>, SuppressionRow)> = with_pool!(self, pool => {
                let mut select = QueryBuilder::new(
                    "SELECT address_hash, customer_id, address_sealed, source, reason_sealed, \
                     message_id, created_at FROM suppressions WHERE customer_id = ",
                );
                select
                    .push_bind(customer.as_str())
                    .push(" AND address_hash IN (");
                let mut list = select.separated(", ");
                for hash in chunk {
                    list.push_bind(hash.as_slice());
                }
                select.push(")");
                let rows: Vec<HashedSuppressionRow> = select.build_query_as().fetch_all(pool).await?;
                rows.into_iter().map(|r| (r.address_hash, r.row)).collect()
            });
            for (hash, row) in rows {
                found.insert(hash, self.suppression_from_row(row)?);
            }
        }
        Ok(hashes.iter().map(|hash| found.get(hash).cloned()).collect())
    }

    /// One page of the contract's list (see [`SuppressionFilter`] for the order and paging).
    pub async fn suppressions(
        &self,
        customer: &CustomerId,
        filter: &SuppressionFilter,
    ) -> Result<Vec<SuppressionEntry>, StoreError> {
        let after = filter
            .after
            .as_deref()
            .map(|a| SuppressionPosition(self.key.address_hash(a.trim())));
        let page = self
            .suppressions_after(customer, after.as_ref(), filter.limit)
            .await?;
        Ok(page.into_iter().map(|(_, entry)| entry).collect())
    }

    /// One page of the contract's list after `after` (from the first entry when `None`), each
    /// entry with its position: the API's cursors carry a position rather than an address, so
    /// an address never travels in a URL. Paging is stable under inserts: an entry present
    /// throughout is returned exactly once, whatever is added or removed meanwhile.
    pub async fn suppressions_after(
        &self,
        customer: &CustomerId,
        after: Option<&SuppressionPosition>,
        limit: Option<u32>,
    ) -> Result<Vec<(SuppressionPosition, SuppressionEntry)>, StoreError> {
        // Every hash sorts after the empty one.
        let after = after.map(|p| p.0.as_slice()).unwrap_or_default();
        let rows: Vec<HashedSuppressionRow> = with_pool!(self, pool => {
            let mut select = QueryBuilder::new(
                "SELECT address_hash, customer_id, address_sealed, source, reason_sealed, \
                 message_id, created_at FROM suppressions",
            );
            select
                .push(" WHERE customer_id = ")
                .push_bind(customer.as_str())
                .push(" AND address_hash > ")
                .push_bind(after)
                .push(" ORDER BY address_hash");
            if let Some(limit) = limit {
                select.push(" LIMIT ").push_bind(i64::from(limit));
            }
            select.build_query_as().fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|r| {
                let entry = self.suppression_from_row(r.row)?;
                Ok((SuppressionPosition(r.address_hash), entry))
            })
            .collect()
    }

    /// How many addresses are on the contract's list.
    pub async fn suppression_count(&self, customer: &CustomerId) -> Result<u64, StoreError> {
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM suppressions WHERE customer_id = $1")
                .bind(customer.as_str())
                .fetch_one(pool)
                .await?
        });
        u64::try_from(count).map_err(|e| corrupt("suppressions count", e))
    }

    /// Records bounces and complaints in one transaction: one event per [`BounceEvent`] (its
    /// kind, details sealed like every send-log entry), and its effect: `Suppress` lists the
    /// address (reason = `details.reason`, with the message ID); `CountSoft` counts a soft
    /// bounce and lists the address ([`SuppressionSource::SoftBounces`]) when it has
    /// `policy.limit` or more within `policy.window` up to `at`. Returns, per input in order,
    /// whether the address is on the list afterwards (whatever put it there).
    pub async fn record_bounces(
        &self,
        bounces: &[BounceEvent],
        policy: &SoftBouncePolicy,
    ) -> Result<Vec<bool>, StoreError> {
        let sealed: Vec<SealedBounce> = bounces
            .iter()
            .map(|bounce| {
                Ok(SealedBounce {
                    bounce,
                    message_id: bounce.message_id.to_string(),
                    mail_from_sealed: self.key.seal_str(&bounce.mail_from),
                    mail_from_hash: self.key.address_hash(&bounce.mail_from),
                    recipient_sealed: self.key.seal_str(&bounce.recipient),
                    recipient_hash: self.key.address_hash(&bounce.recipient),
                    recipient_domain: crate::events::domain_of(&bounce.recipient),
                    details_sealed: crate::events::seal_details(self, &bounce.details)?,
                    reason_sealed: bounce
                        .details
                        .reason()
                        .map(|r| self.key.seal_str(r.as_str())),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        if sealed.is_empty() {
            return Ok(Vec::new());
        }
        let _turn = self.write_turn().await;
        let listed = with_pool!(self, pool => {
            // The first statement writes, so SQLite takes the write lock at once.
            let mut tx = pool.begin().await?;
            let events: Vec<crate::events::NewEvent> = sealed
                .iter()
                .map(|s| crate::events::NewEvent {
                    at: s.bounce.at,
                    kind: s.bounce.kind(),
                    customer_id: s.bounce.customer_id.as_str(),
                    message_id: &s.message_id,
                    mail_from_sealed: &s.mail_from_sealed,
                    mail_from_hash: &s.mail_from_hash,
                    recipient_sealed: &s.recipient_sealed,
                    recipient_hash: &s.recipient_hash,
                    recipient_domain: s.recipient_domain.as_deref(),
                    reason: s.bounce.details.reason(),
                    details_sealed: s.details_sealed.as_deref(),
                })
                .collect();
            crate::events::insert_events((&mut *tx).into(), &events).await?;
            let observed: Vec<crate::quality::Observed> = sealed
                .iter()
                .map(|s| crate::quality::Observed {
                    customer: s.bounce.customer_id.as_str(),
                    at: s.bounce.at,
                    domain: s.recipient_domain.as_deref(),
                    details: &s.bounce.details,
                })
                .collect();
            crate::quality::count((&mut *tx).into(), &observed).await?;
            crate::reputation::count((&mut *tx).into(), &observed, crate::reputation::Origin::Report)
                .await?;
            let mut listed = Vec::with_capacity(sealed.len());
            for s in &sealed {
                let customer = s.bounce.customer_id.as_str();
                let target = SuppressionTarget {
                    customer,
                    hash: &s.recipient_hash,
                    sealed: &s.recipient_sealed,
                    effect: s.bounce.effect,
                    reason_sealed: s.reason_sealed.as_deref(),
                    message_id: &s.message_id,
                    at: s.bounce.at.as_millis(),
                };
                apply_suppression!(tx, &target, policy).await?;
                let on_list: Option<i32> = sqlx::query_scalar(
                    "SELECT 1 FROM suppressions WHERE customer_id = $1 AND address_hash = $2",
                )
                .bind(customer)
                .bind(s.recipient_hash.as_slice())
                .fetch_optional(&mut *tx)
                .await?;
                listed.push(on_list.is_some());
            }
            tx.commit().await?;
            listed
        });
        Ok(listed)
    }

    fn suppression_from_row(&self, row: SuppressionRow) -> Result<SuppressionEntry, StoreError> {
        Ok(SuppressionEntry {
            customer_id: row
                .customer_id
                .parse()
                .map_err(|e| corrupt("suppressions.customer_id", e))?,
            address: self.key.open_string(&row.address_sealed)?,
            source: row
                .source
                .parse()
                .map_err(|e| corrupt("suppressions.source", e))?,
            reason: row
                .reason_sealed
                .map(|sealed| self.key.open_string(&sealed))
                .transpose()?,
            message_id: row
                .message_id
                .map(|id| id.parse())
                .transpose()
                .map_err(|e| corrupt("suppressions.message_id", e))?,
            created_at: Timestamp(row.created_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_trimmed() {
        assert_eq!(
            check_suppression_address("  Bob@Example.jp\t").unwrap(),
            "Bob@Example.jp"
        );
        assert_eq!(
            check_suppression_address("\"odd@local\"@example.jp").unwrap(),
            "\"odd@local\"@example.jp"
        );
        for bad in [
            "",
            "bob",
            "@example.jp",
            "bob@",
            "bob@.jp",
            "bob@example.",
            "bob smith@example.jp",
            "<bob@example.jp>",
            "bob@exa\u{7}mple.jp",
        ] {
            assert!(check_suppression_address(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.jp", "a".repeat(250));
        assert!(check_suppression_address(&long).is_err());
    }
}
