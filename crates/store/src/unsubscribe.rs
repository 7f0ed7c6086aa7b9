//! One-click unsubscribe (RFC 8058): each contract's setting (whether the relay adds
//! `List-Unsubscribe` to its mail, optionally only to messages with given tags), and the record
//! of a recipient who used the link: the address goes on the contract's suppression list
//! (source `unsubscribe`, reason `unsubscribed`) and an `unsubscribed` event goes through the
//! send log's one writer (with its webhook outbox rows), in one transaction.
//!
//! What an unsubscription is about comes from an authenticated token the caller opened (see
//! [`crate::UnsubscribeKey`]); the store trusts it and checks only that the contract exists.

use crate::events::{NewEvent, domain_of, insert_events, seal_details};
use crate::queue::corrupt;
use crate::suppression::check_suppression_address;
use crate::{Store, StoreError, SuppressionSource};
use hikyaku_model::{CustomerId, EventDetails, EventKind, MessageId, Timestamp, UnsubscribeMethod};

/// The suppression list entry's reason for an address that unsubscribed.
pub const UNSUBSCRIBED_REASON: &str = "unsubscribed";

/// A contract's one-click unsubscribe setting. The default (no row) is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsubscribeSettings {
    pub enabled: bool,
    /// Only messages carrying one of these tags get the header; empty: every message.
    pub tags: Vec<String>,
}

impl UnsubscribeSettings {
    /// Whether a message with `message_tags` gets `List-Unsubscribe`.
    pub fn applies_to(&self, message_tags: &[String]) -> bool {
        self.enabled && (self.tags.is_empty() || self.tags.iter().any(|t| message_tags.contains(t)))
    }
}

/// One recipient's use of an unsubscribe link or address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscription<'a> {
    pub customer_id: &'a CustomerId,
    /// The message (the recipient's own copy) whose link was used.
    pub message_id: MessageId,
    pub address: &'a str,
    pub method: UnsubscribeMethod,
    pub at: Timestamp,
}

/// What [`Store::record_unsubscribe`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsubscribeRecord {
    /// Whether an `unsubscribed` event was written: only the first use of a message's link
    /// for an address writes one, so a client that POSTs twice makes one event.
    pub event_recorded: bool,
    /// Whether the address was newly put on the list (it may have been there already, for
    /// this or another reason; its first entry stays).
    pub newly_listed: bool,
}

impl Store {
    /// The key that seals and opens unsubscribe tokens (the store's own key's derivative).
    pub fn unsubscribe_key(&self) -> crate::UnsubscribeKey {
        self.key.master().unsubscribe_key()
    }

    /// The contract's setting; off when it never set one. Fails for an unknown contract.
    pub async fn unsubscribe_settings(
        &self,
        customer: &CustomerId,
    ) -> Result<UnsubscribeSettings, StoreError> {
        let row: Option<(bool, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT enabled, tags FROM unsubscribe_settings WHERE customer_id = $1",
            )
            .bind(customer.as_str())
            .fetch_optional(pool)
            .await?
        });
        let Some((enabled, tags)) = row else {
            self.require_contract(customer).await?;
            return Ok(UnsubscribeSettings::default());
        };
        let tags = match tags {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| corrupt("unsubscribe_settings.tags", e))?
            }
            None => Vec::new(),
        };
        Ok(UnsubscribeSettings { enabled, tags })
    }

    /// Sets the contract's setting, replacing the previous one. Tags are taken as given (the
    /// caller checks them as it checks a message's tags); repeated ones are kept once.
    pub async fn set_unsubscribe_settings(
        &self,
        customer: &CustomerId,
        settings: &UnsubscribeSettings,
    ) -> Result<(), StoreError> {
        let mut tags: Vec<&str> = Vec::with_capacity(settings.tags.len());
        for tag in &settings.tags {
            if tag.is_empty() {
                return Err(StoreError::invalid("tag", "empty"));
            }
            if !tags.contains(&tag.as_str()) {
                tags.push(tag);
            }
        }
        let tags = (!tags.is_empty())
            .then(|| serde_json::to_string(&tags).expect("a list of strings serialises"));
        let _turn = self.write_turn().await;
        let written: Result<(), sqlx::Error> = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO unsubscribe_settings (customer_id, enabled, tags, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id) DO UPDATE SET \
                 enabled = excluded.enabled, tags = excluded.tags, updated_at = excluded.updated_at",
            )
            .bind(customer.as_str())
            .bind(settings.enabled)
            .bind(tags.as_deref())
            .bind(Timestamp::now().as_millis())
            .execute(pool)
            .await
            .map(|_| ())
        });
        match written {
            Ok(()) => Ok(()),
            Err(e) if crate::error::is_foreign_key_violation(&e) => {
                Err(StoreError::ContractNotFound(customer.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records that `u.address` unsubscribed through the link of message `u.message_id`: the
    /// address goes on the contract's list and, the first time this message's link is used for
    /// it, an `unsubscribed` event is written (its sender taken from the message's record, when
    /// the message is still known). Repeating the call changes nothing more. Honoured whatever
    /// the contract's setting says now: the recipient asked. Fails for an unknown contract.
    pub async fn record_unsubscribe(
        &self,
        u: &Unsubscription<'_>,
    ) -> Result<UnsubscribeRecord, StoreError> {
        let address = check_suppression_address(u.address)
            .map_err(|reason| StoreError::invalid("unsubscribed address", reason))?;
        let customer = u.customer_id.as_str();
        let message_id = u.message_id.to_string();
        let hash = self.key.address_hash(address);
        let sealed = self.key.seal_str(address);
        let domain = domain_of(address);
        let details = EventDetails::Unsubscribed { method: u.method };
        let details_sealed = seal_details(self, &details)?;
        let reason_sealed = self.key.seal_str(UNSUBSCRIBED_REASON);
        let unknown_sender = self.key.seal_str("");
        let unknown_sender_hash = self.key.address_hash("");
        let _turn = self.write_turn().await;
        let record = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Writes first, so that SQLite takes its write lock at once; the row is what a
            // concurrent POST of the same link waits on (PostgreSQL), so it sees our event.
            let listed = sqlx::query(
                "INSERT INTO suppressions (customer_id, address_hash, address_sealed, source, \
                 reason_sealed, message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (customer_id, address_hash) DO NOTHING",
            )
            .bind(customer)
            .bind(hash.as_slice())
            .bind(sealed.as_slice())
            .bind(SuppressionSource::Unsubscribe.as_str())
            .bind(reason_sealed.as_slice())
            .bind(message_id.as_str())
            .bind(u.at.as_millis())
            .execute(&mut *tx)
            .await;
            let newly_listed = match listed {
                Ok(done) => done.rows_affected() > 0,
                Err(e) if crate::error::is_foreign_key_violation(&e) => {
                    return Err(StoreError::ContractNotFound(u.customer_id.clone()));
                }
                Err(e) => return Err(e.into()),
            };
            let seen: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM events WHERE message_id = $1 AND kind = $2 \
                 AND recipient_hash = $3 AND customer_id = $4 LIMIT 1",
            )
            .bind(message_id.as_str())
            .bind(EventKind::Unsubscribed.as_str())
            .bind(hash.as_slice())
            .bind(customer)
            .fetch_optional(&mut *tx)
            .await?;
            let event_recorded = seen.is_none();
            if event_recorded {
                let sender: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
                    "SELECT mail_from_sealed, mail_from_hash FROM messages \
                     WHERE message_id = $1 AND customer_id = $2",
                )
                .bind(message_id.as_str())
                .bind(customer)
                .fetch_optional(&mut *tx)
                .await?;
                let (from_sealed, from_hash) = sender.unwrap_or_else(|| {
                    (unknown_sender.clone(), unknown_sender_hash.clone())
                });
                let event = NewEvent {
                    at: u.at,
                    kind: EventKind::Unsubscribed,
                    customer_id: customer,
                    message_id: &message_id,
                    mail_from_sealed: &from_sealed,
                    mail_from_hash: &from_hash,
                    recipient_sealed: &sealed,
                    recipient_hash: &hash,
                    recipient_domain: domain.as_deref(),
                    reason: details.reason(),
                    details_sealed: details_sealed.as_deref(),
                };
                insert_events((&mut *tx).into(), std::slice::from_ref(&event)).await?;
            }
            tx.commit().await?;
            UnsubscribeRecord {
                event_recorded,
                newly_listed,
            }
        });
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_limit_which_messages_get_the_header() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let every = UnsubscribeSettings {
            enabled: true,
            tags: Vec::new(),
        };
        let news = UnsubscribeSettings {
            enabled: true,
            tags: tags(&["newsletter", "promo"]),
        };
        let off = UnsubscribeSettings {
            enabled: false,
            tags: tags(&["newsletter"]),
        };
        let table: [(&UnsubscribeSettings, &[&str], bool); 7] = [
            (&every, &[], true),
            (&every, &["receipt"], true),
            (&news, &[], false),
            (&news, &["receipt"], false),
            (&news, &["receipt", "promo"], true),
            (&off, &["newsletter"], false),
            (&UnsubscribeSettings::default(), &[], false),
        ];
        for (settings, message, want) in table {
            assert_eq!(
                settings.applies_to(&tags(message)),
                want,
                "{settings:?} {message:?}"
            );
        }
    }
}
