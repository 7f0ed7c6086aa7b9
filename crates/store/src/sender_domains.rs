//! Sender domains and their DKIM keys: which domains sign a contract's mail (and the platform's
//! own service domain, whose `customer_id` is none), each domain's keys under their selectors
//! with the private key sealed, and the keys' rotation states; plus the contract's policy for
//! mail from a domain it has not registered. The store does not make or read keys: the caller
//! hands in the PEM and the public key it made.

use crate::error::{is_foreign_key_violation, is_unique_violation};
use crate::{Store, StoreError};
use hikyaku_model::{ContractState, CustomerId, DkimKeyState, Timestamp, UnregisteredFrom};

/// Inserts one key in the transaction `$tx`; evaluates to the key's ID.
macro_rules! insert_key {
    ($tx:expr, $domain_id:expr, $key:expr, $sealed:expr, $state:expr, $now:expr) => {{
        let state: DkimKeyState = $state;
        let now: Timestamp = $now;
        let activated = (state == DkimKeyState::Active).then_some(now.as_millis());
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO dkim_keys (domain_id, selector, algorithm, public_key, key_sealed, \
             state, created_at, activated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING key_id",
        )
        .bind($domain_id)
        .bind($key.selector)
        .bind($key.algorithm)
        .bind($key.public_key)
        .bind($sealed.as_slice())
        .bind(state.as_str())
        .bind(now.as_millis())
        .bind(activated)
        .fetch_one(&mut *$tx)
        .await
    }};
}

/// A key to store, made by the caller.
#[derive(Debug, Clone)]
pub struct NewDkimKey<'a> {
    pub selector: &'a str,
    /// `rsa-2048`, `rsa-1024` or `ed25519`.
    pub algorithm: &'a str,
    /// The `p=` value, base64.
    pub public_key: &'a str,
    /// PKCS#8 PEM; sealed before it is written.
    pub private_key_pem: &'a str,
}

/// A stored key, without its private half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub id: i64,
    pub selector: String,
    pub algorithm: String,
    pub public_key: String,
    pub state: DkimKeyState,
    pub created_at: Timestamp,
    /// When it became active; `None` while pending.
    pub activated_at: Option<Timestamp>,
}

/// A sender domain with its keys, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderDomain {
    pub id: i64,
    /// `None`: the platform's own service domain.
    pub customer_id: Option<CustomerId>,
    /// Lower case, no trailing dot.
    pub domain: String,
    /// `rsa-2048`, `rsa-1024`, `ed25519` or `dual`.
    pub algorithm: String,
    pub created_at: Timestamp,
    pub keys: Vec<DkimKey>,
}

impl SenderDomain {
    pub fn keys_in(&self, state: DkimKeyState) -> impl Iterator<Item = &DkimKey> {
        self.keys.iter().filter(move |k| k.state == state)
    }
}

/// An active key with its private key (PEM), for the relay.
#[derive(Debug, Clone)]
pub struct ActiveDkimKey {
    pub domain: String,
    pub selector: String,
    pub algorithm: String,
    pub private_key_pem: String,
}

#[derive(sqlx::FromRow)]
struct DomainRow {
    domain_id: i64,
    domain: String,
    customer_id: Option<String>,
    algorithm: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    key_id: i64,
    domain_id: i64,
    selector: String,
    algorithm: String,
    public_key: String,
    state: String,
    created_at: i64,
    activated_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SigningRow {
    domain: String,
    selector: String,
    algorithm: String,
    key_sealed: Vec<u8>,
}

const DOMAIN_COLUMNS: &str = "domain_id, domain, customer_id, algorithm, created_at";
const KEY_COLUMNS: &str =
    "key_id, domain_id, selector, algorithm, public_key, state, created_at, activated_at";

/// The domain in its stored form (lower case, no trailing dot), or why it cannot sign: a host
/// name of at least two labels in ASCII (an internationalised name in its `xn--` form), as DKIM's
/// `d=` is.
pub fn normalize_sender_domain(text: &str) -> Result<String, StoreError> {
    let bad = |why: &str| StoreError::invalid("sender domain", format!("{text:?}: {why}"));
    let domain = text.trim();
    let domain = domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase();
    if domain.is_empty() || domain.len() > 253 || !domain.contains('.') {
        return Err(bad("expected a domain name such as example.com"));
    }
    for label in domain.split('.') {
        let fine = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !fine {
            return Err(bad(
                "each label is 1-63 letters, digits and inner hyphens (an internationalised \
                 name in its xn-- form)",
            ));
        }
    }
    Ok(domain)
}

fn key_from_row(row: KeyRow) -> Result<DkimKey, StoreError> {
    Ok(DkimKey {
        id: row.key_id,
        selector: row.selector,
        algorithm: row.algorithm,
        public_key: row.public_key,
        state: row
            .state
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("dkim_keys.state: {e}")))?,
        created_at: Timestamp(row.created_at),
        activated_at: row.activated_at.map(Timestamp),
    })
}

impl Store {
    /// Registers `domain` for `customer` (`None`: the platform's service domain) with its
    /// first keys, active at once. Refused: an invalid domain, an unknown or terminated
    /// contract, a domain already registered (by anyone: a domain signs for one contract).
    pub async fn add_sender_domain(
        &self,
        customer: Option<&CustomerId>,
        domain: &str,
        algorithm: &str,
        keys: &[NewDkimKey<'_>],
    ) -> Result<SenderDomain, StoreError> {
        let domain = normalize_sender_domain(domain)?;
        if keys.is_empty() {
            return Err(StoreError::invalid("sender domain", "it needs a key"));
        }
        if let Some(customer) = customer {
            let contract = self.require_contract(customer).await?;
            if contract.state == ContractState::Terminated {
                return Err(StoreError::ContractTerminated(customer.clone()));
            }
        }
        let now = Timestamp::now();
        let sealed: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| self.key.seal_str(k.private_key_pem))
            .collect();
        let _turn = self.write_turn().await;
        let domain_id: i64 = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(
                "INSERT INTO sender_domains (domain, customer_id, algorithm, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING domain_id",
            )
            .bind(&domain)
            .bind(customer.map(CustomerId::as_str))
            .bind(algorithm)
            .bind(now.as_millis())
            .fetch_one(&mut *tx)
            .await;
            let domain_id = match inserted {
                Ok(id) => id,
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::SenderDomainTaken(domain));
                }
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::ContractNotFound(
                        customer.cloned().expect("only a contract's domain has a foreign key"),
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            for (key, sealed) in keys.iter().zip(&sealed) {
                insert_key!(tx, domain_id, key, sealed, DkimKeyState::Active, now)?;
            }
            tx.commit().await?;
            domain_id
        });
        self.sender_domain_by_id(domain_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a sender domain vanished as it was added".into()))
    }

    /// The contract's sender domains (`None`: the platform's), in domain order.
    pub async fn sender_domains(
        &self,
        customer: Option<&CustomerId>,
    ) -> Result<Vec<SenderDomain>, StoreError> {
        let rows: Vec<DomainRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOMAIN_COLUMNS} FROM sender_domains \
                 WHERE customer_id = $1 OR ($1 IS NULL AND customer_id IS NULL) ORDER BY domain"
            )))
            .bind(customer.map(CustomerId::as_str))
            .fetch_all(pool)
            .await?
        });
        let mut domains = Vec::with_capacity(rows.len());
        for row in rows {
            domains.push(self.with_keys(row).await?);
        }
        Ok(domains)
    }

    /// One sender domain of the contract (`None`: the platform's), any case, trailing dot
    /// allowed.
    pub async fn sender_domain(
        &self,
        customer: Option<&CustomerId>,
        domain: &str,
    ) -> Result<Option<SenderDomain>, StoreError> {
        let Ok(domain) = normalize_sender_domain(domain) else {
            return Ok(None);
        };
        let row: Option<DomainRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOMAIN_COLUMNS} FROM sender_domains WHERE domain = $1 \
                 AND (customer_id = $2 OR ($2 IS NULL AND customer_id IS NULL))"
            )))
            .bind(&domain)
            .bind(customer.map(CustomerId::as_str))
            .fetch_optional(pool)
            .await?
        });
        match row {
            Some(row) => Ok(Some(self.with_keys(row).await?)),
            None => Ok(None),
        }
    }

    async fn sender_domain_by_id(&self, id: i64) -> Result<Option<SenderDomain>, StoreError> {
        let row: Option<DomainRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {DOMAIN_COLUMNS} FROM sender_domains WHERE domain_id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        match row {
            Some(row) => Ok(Some(self.with_keys(row).await?)),
            None => Ok(None),
        }
    }

    async fn with_keys(&self, row: DomainRow) -> Result<SenderDomain, StoreError> {
        let keys: Vec<KeyRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {KEY_COLUMNS} FROM dkim_keys WHERE domain_id = $1 ORDER BY key_id"
            )))
            .bind(row.domain_id)
            .fetch_all(pool)
            .await?
        });
        Ok(SenderDomain {
            id: row.domain_id,
            customer_id: row
                .customer_id
                .map(|c| c.parse())
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("sender_domains.customer_id: {e}")))?,
            domain: row.domain,
            algorithm: row.algorithm,
            created_at: Timestamp(row.created_at),
            keys: keys
                .into_iter()
                .filter(|k| k.domain_id == row.domain_id)
                .map(key_from_row)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Removes the contract's sender domain with all its keys; `false` if it has no such
    /// domain (another contract's is never touched).
    pub async fn remove_sender_domain(
        &self,
        customer: Option<&CustomerId>,
        domain: &str,
    ) -> Result<bool, StoreError> {
        let Some(found) = self.sender_domain(customer, domain).await? else {
            return Ok(false);
        };
        let _turn = self.write_turn().await;
        let removed = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // SQLite enforces ON DELETE CASCADE only with its foreign keys on; say it outright.
            sqlx::query("DELETE FROM dkim_keys WHERE domain_id = $1")
                .bind(found.id)
                .execute(&mut *tx)
                .await?;
            let removed = sqlx::query("DELETE FROM sender_domains WHERE domain_id = $1")
                .bind(found.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            removed
        });
        Ok(removed > 0)
    }

    /// Adds keys to a domain as `pending` (a rotation's first half). Refused while the domain
    /// already has pending keys, and for a selector it already uses.
    pub async fn add_pending_dkim_keys(
        &self,
        domain_id: i64,
        keys: &[NewDkimKey<'_>],
    ) -> Result<Vec<DkimKey>, StoreError> {
        let now = Timestamp::now();
        let sealed: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| self.key.seal_str(k.private_key_pem))
            .collect();
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let pending: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM dkim_keys WHERE domain_id = $1 AND state = 'pending'",
            )
            .bind(domain_id)
            .fetch_one(&mut *tx)
            .await?;
            if pending > 0 {
                return Err(StoreError::invalid(
                    "rotation",
                    "the domain already has a pending key: publish its record and run \
                     `domain verify`, or remove it with `domain remove-key`",
                ));
            }
            let mut ids = Vec::new();
            for (key, sealed) in keys.iter().zip(&sealed) {
                match insert_key!(tx, domain_id, key, sealed, DkimKeyState::Pending, now) {
                    Ok(id) => ids.push(id),
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::invalid(
                            "selector",
                            format!("{} is already a selector of this domain", key.selector),
                        ));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            tx.commit().await?;
            Ok(keys
                .iter()
                .zip(ids)
                .map(|(k, id)| DkimKey {
                    id,
                    selector: k.selector.to_string(),
                    algorithm: k.algorithm.to_string(),
                    public_key: k.public_key.to_string(),
                    state: DkimKeyState::Pending,
                    created_at: now,
                    activated_at: None,
                })
                .collect())
        })
    }

    /// Completes a rotation: the domain's pending keys become active and its active ones
    /// retired, in one transaction. Returns how many keys became active (0: none was pending).
    pub async fn activate_pending_dkim_keys(&self, domain_id: i64) -> Result<u64, StoreError> {
        let now = Timestamp::now();
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let pending: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM dkim_keys WHERE domain_id = $1 AND state = 'pending'",
            )
            .bind(domain_id)
            .fetch_one(&mut *tx)
            .await?;
            if pending == 0 {
                return Ok(0);
            }
            sqlx::query(
                "UPDATE dkim_keys SET state = 'retired' WHERE domain_id = $1 AND state = 'active'",
            )
            .bind(domain_id)
            .execute(&mut *tx)
            .await?;
            let activated = sqlx::query(
                "UPDATE dkim_keys SET state = 'active', activated_at = $2 \
                 WHERE domain_id = $1 AND state = 'pending'",
            )
            .bind(domain_id)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(activated)
        })
    }

    /// Removes a retired or pending key of the domain by selector; an active key is refused
    /// (the domain would sign with nothing). `false`: the domain has no such selector.
    pub async fn remove_dkim_key(
        &self,
        domain_id: i64,
        selector: &str,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let state: Option<String> = sqlx::query_scalar(
                "SELECT state FROM dkim_keys WHERE domain_id = $1 AND selector = $2",
            )
            .bind(domain_id)
            .bind(selector)
            .fetch_optional(&mut *tx)
            .await?;
            match state.as_deref() {
                None => return Ok(false),
                Some("active") => {
                    return Err(StoreError::invalid(
                        "key",
                        format!(
                            "{selector} is the domain's active key: rotate first \
                             (`domain rotate-key`, then `domain verify`)"
                        ),
                    ));
                }
                Some(_) => {}
            }
            sqlx::query("DELETE FROM dkim_keys WHERE domain_id = $1 AND selector = $2")
                .bind(domain_id)
                .bind(selector)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The active keys of the contract's domains (`None`: the platform's), with their
    /// private keys: for the relay that signs with them, never for display.
    pub async fn active_dkim_keys(
        &self,
        customer: Option<&CustomerId>,
    ) -> Result<Vec<ActiveDkimKey>, StoreError> {
        let rows: Vec<SigningRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT d.domain, k.selector, k.algorithm, k.key_sealed \
                 FROM sender_domains d JOIN dkim_keys k ON k.domain_id = d.domain_id \
                 WHERE (d.customer_id = $1 OR ($1 IS NULL AND d.customer_id IS NULL)) \
                 AND k.state = 'active' ORDER BY d.domain, k.key_id",
            )
            .bind(customer.map(CustomerId::as_str))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(ActiveDkimKey {
                    private_key_pem: self.key.open_string(&r.key_sealed)?,
                    domain: r.domain,
                    selector: r.selector,
                    algorithm: r.algorithm,
                })
            })
            .collect()
    }

    /// The contract's policy for mail from a domain it has not registered.
    pub async fn unregistered_from(
        &self,
        customer: &CustomerId,
    ) -> Result<UnregisteredFrom, StoreError> {
        let policy: Option<String> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT unregistered_from FROM contracts WHERE customer_id = $1")
                .bind(customer.as_str())
                .fetch_optional(pool)
                .await?
        });
        policy
            .ok_or_else(|| StoreError::ContractNotFound(customer.clone()))?
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("contracts.unregistered_from: {e}")))
    }

    /// Sets the contract's policy for mail from a domain it has not registered.
    pub async fn set_unregistered_from(
        &self,
        customer: &CustomerId,
        policy: UnregisteredFrom,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        let changed = with_pool!(self, pool => {
            sqlx::query("UPDATE contracts SET unregistered_from = $2 WHERE customer_id = $1")
                .bind(customer.as_str())
                .bind(policy.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::ContractNotFound(customer.clone()));
        }
        Ok(())
    }
}
