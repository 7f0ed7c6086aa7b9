//! Contracts' own bounce domains (a custom return path): the domain a contract's VERP return
//! paths are on instead of the platform's, which the customer points at the platform's bounce
//! host (CNAME or MX), so that the envelope sender aligns with its From domain for DMARC's SPF
//! alignment. One domain a contract; a domain belongs to one contract.

use crate::error::{is_foreign_key_violation, is_unique_violation};
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, Timestamp};

/// A contract's own bounce domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceDomain {
    pub customer_id: CustomerId,
    /// Lower case, no trailing dot.
    pub domain: String,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct BounceDomainRow {
    domain: String,
    customer_id: String,
    created_at: i64,
}

impl BounceDomainRow {
    fn into_bounce_domain(self) -> Result<BounceDomain, StoreError> {
        Ok(BounceDomain {
            customer_id: self
                .customer_id
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("bounce_domains.customer_id: {e}")))?,
            domain: self.domain,
            created_at: Timestamp(self.created_at),
        })
    }
}

/// The domain in its stored form (lower case, no trailing dot), or why it cannot carry return
/// paths: it must be a host name of at least two labels in ASCII (an internationalised name in
/// its `xn--` form), because the VERP address is written in ASCII and folded to lower case.
pub fn normalize_bounce_domain(text: &str) -> Result<String, StoreError> {
    let bad = |why: &str| StoreError::invalid("bounce domain", format!("{text:?}: {why}"));
    let domain = text.trim();
    let domain = domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase();
    if domain.is_empty() || domain.len() > 253 {
        return Err(bad("expected a domain name such as bounce.example.com"));
    }
    if !domain.contains('.') {
        return Err(bad("a bounce domain has at least two labels"));
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("a label is empty or longer than 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label starts or ends with a hyphen"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(
                "only letters, digits and hyphens (an internationalised name in its xn-- form)",
            ));
        }
    }
    Ok(domain)
}

const COLUMNS: &str = "domain, customer_id, created_at";

impl Store {
    /// Gives the contract `domain` as its bounce domain, replacing the one it had. Setting the
    /// domain it already has changes nothing. Refused: an invalid domain, an unknown or
    /// terminated contract, and a domain another contract holds (a terminated contract's
    /// domain is free to take: it sends nothing any more).
    pub async fn set_bounce_domain(
        &self,
        id: &CustomerId,
        domain: &str,
    ) -> Result<BounceDomain, StoreError> {
        let domain = normalize_bounce_domain(domain)?;
        let created_at = Timestamp::now();
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let state: Option<String> =
                sqlx::query_scalar("SELECT state FROM contracts WHERE customer_id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            match state.as_deref() {
                None => return Err(StoreError::ContractNotFound(id.clone())),
                Some("terminated") => return Err(StoreError::ContractTerminated(id.clone())),
                Some(_) => {}
            }
            sqlx::query(
                "DELETE FROM bounce_domains WHERE domain = $1 AND customer_id IN \
                 (SELECT customer_id FROM contracts WHERE state = 'terminated')",
            )
            .bind(&domain)
            .execute(&mut *tx)
            .await?;
            let holder: Option<BounceDomainRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM bounce_domains WHERE domain = $1"
            )))
            .bind(&domain)
            .fetch_optional(&mut *tx)
            .await?;
            // The DELETE above took SQLite's write lock: end the transaction here rather than
            // on drop, which sqlx defers until the connection is next used, leaving the lock held
            // after our write turn ends and the next writer answered "database is locked".
            match holder {
                Some(row) if row.customer_id == id.as_str() => {
                    tx.rollback().await?;
                    return row.into_bounce_domain();
                }
                Some(_) => {
                    tx.rollback().await?;
                    return Err(StoreError::BounceDomainTaken(domain));
                }
                None => {}
            }
            sqlx::query("DELETE FROM bounce_domains WHERE customer_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO bounce_domains (domain, customer_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(&domain)
            .bind(id.as_str())
            .bind(created_at.as_millis())
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                // Another contract took it between our look and our insert (PostgreSQL).
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::BounceDomainTaken(domain));
                }
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::ContractNotFound(id.clone()));
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
            Ok(BounceDomain {
                customer_id: id.clone(),
                domain,
                created_at,
            })
        })
    }

    /// Takes the contract's bounce domain away (its return paths go back to the platform's
    /// domain); returns what it was, `None` if it had none.
    pub async fn clear_bounce_domain(
        &self,
        id: &CustomerId,
    ) -> Result<Option<BounceDomain>, StoreError> {
        let _turn = self.write_turn().await;
        let row: Option<BounceDomainRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "DELETE FROM bounce_domains WHERE customer_id = $1 RETURNING {COLUMNS}"
            )))
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
        });
        row.map(BounceDomainRow::into_bounce_domain).transpose()
    }

    /// The contract's bounce domain, if it has one.
    pub async fn bounce_domain(&self, id: &CustomerId) -> Result<Option<BounceDomain>, StoreError> {
        let row: Option<BounceDomainRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM bounce_domains WHERE customer_id = $1"
            )))
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
        });
        row.map(BounceDomainRow::into_bounce_domain).transpose()
    }

    /// Who holds `domain` as a bounce domain (any case, a trailing dot allowed); `None` for a
    /// domain nobody registered, or one that is not a domain at all.
    pub async fn bounce_domain_holder(
        &self,
        domain: &str,
    ) -> Result<Option<BounceDomain>, StoreError> {
        let Ok(domain) = normalize_bounce_domain(domain) else {
            return Ok(None);
        };
        let row: Option<BounceDomainRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM bounce_domains WHERE domain = $1"
            )))
            .bind(&domain)
            .fetch_optional(pool)
            .await?
        });
        row.map(BounceDomainRow::into_bounce_domain).transpose()
    }

    /// Every registered bounce domain, in domain order.
    pub async fn bounce_domains(&self) -> Result<Vec<BounceDomain>, StoreError> {
        let rows: Vec<BounceDomainRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM bounce_domains ORDER BY domain"
            )))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(BounceDomainRow::into_bounce_domain)
            .collect()
    }
}
