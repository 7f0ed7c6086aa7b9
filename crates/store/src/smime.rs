//! A contract's S/MIME signing certificates: the chain and private key (sealed), the addresses
//! the certificate covers (sealed), its validity and the destination domains it is limited to.
//! The store does not read certificates: the caller hands in the facts it read from them.

use crate::error::is_foreign_key_violation;
use crate::{Store, StoreError};
use hikyaku_model::{ContractState, CustomerId, Timestamp};

/// A certificate to install, with the facts the caller read from it.
#[derive(Debug, Clone)]
pub struct NewSmimeCertificate<'a> {
    pub subject: &'a str,
    /// PEM, the signer's certificate first.
    pub chain_pem: &'a str,
    /// One PEM block.
    pub key_pem: &'a str,
    pub addresses: &'a [String],
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// Destination domains the certificate signs for; empty: every domain.
    pub only_domains: &'a [String],
}

/// An installed certificate, without its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmimeCertificate {
    pub id: i64,
    pub customer_id: CustomerId,
    pub subject: String,
    pub chain_pem: String,
    pub addresses: Vec<String>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// Lower case; empty: every domain.
    pub only_domains: Vec<String>,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Row {
    certificate_id: i64,
    customer_id: String,
    subject_sealed: Vec<u8>,
    chain_sealed: Vec<u8>,
    key_sealed: Vec<u8>,
    addresses_sealed: Vec<u8>,
    only_domains: Option<String>,
    not_before: i64,
    not_after: i64,
    created_at: i64,
}

const COLUMNS: &str = "certificate_id, customer_id, subject_sealed, chain_sealed, key_sealed, \
                       addresses_sealed, only_domains, not_before, not_after, created_at";

impl Store {
    fn smime_from_row(&self, row: Row) -> Result<(SmimeCertificate, String), StoreError> {
        let addresses = self.key.open_string(&row.addresses_sealed)?;
        let certificate = SmimeCertificate {
            id: row.certificate_id,
            customer_id: row
                .customer_id
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("smime_certificates.customer_id: {e}")))?,
            subject: self.key.open_string(&row.subject_sealed)?,
            chain_pem: self.key.open_string(&row.chain_sealed)?,
            addresses: addresses.lines().map(str::to_string).collect(),
            not_before: Timestamp(row.not_before),
            not_after: Timestamp(row.not_after),
            only_domains: row
                .only_domains
                .as_deref()
                .map(|d| d.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            created_at: Timestamp(row.created_at),
        };
        Ok((certificate, self.key.open_string(&row.key_sealed)?))
    }

    /// Installs a certificate for the contract. Refused for an unknown or terminated contract,
    /// a certificate that covers no address, and a destination domain that is not a name.
    pub async fn add_smime_certificate(
        &self,
        customer_id: &CustomerId,
        new: &NewSmimeCertificate<'_>,
    ) -> Result<SmimeCertificate, StoreError> {
        if new.addresses.is_empty() {
            return Err(StoreError::invalid(
                "certificate",
                "it names no e-mail address (subjectAltName rfc822Name or emailAddress)",
            ));
        }
        let mut only_domains: Vec<String> = Vec::new();
        for domain in new.only_domains {
            let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
            let valid = !domain.is_empty()
                && domain.len() <= 253
                && domain.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !valid {
                return Err(StoreError::invalid(
                    "destination domain",
                    format!("{domain:?} is not a domain name"),
                ));
            }
            if !only_domains.contains(&domain) {
                only_domains.push(domain);
            }
        }
        let contract = self.require_contract(customer_id).await?;
        if contract.state == ContractState::Terminated {
            return Err(StoreError::ContractTerminated(customer_id.clone()));
        }
        let created_at = Timestamp::now();
        let addresses = new.addresses.join("\n");
        let only = (!only_domains.is_empty()).then(|| only_domains.join(","));
        let subject_sealed = self.key.seal_str(new.subject);
        let chain_sealed = self.key.seal_str(new.chain_pem);
        let key_sealed = self.key.seal_str(new.key_pem);
        let addresses_sealed = self.key.seal_str(&addresses);
        let _turn = self.write_turn().await;
        let inserted: Result<i64, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO smime_certificates (customer_id, subject_sealed, chain_sealed, \
                 key_sealed, addresses_sealed, only_domains, not_before, not_after, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING certificate_id",
            )
            .bind(customer_id.as_str())
            .bind(subject_sealed.as_slice())
            .bind(chain_sealed.as_slice())
            .bind(key_sealed.as_slice())
            .bind(addresses_sealed.as_slice())
            .bind(only.as_deref())
            .bind(new.not_before.as_millis())
            .bind(new.not_after.as_millis())
            .bind(created_at.as_millis())
            .fetch_one(pool)
            .await
        });
        let id = match inserted {
            Ok(id) => id,
            Err(e) if is_foreign_key_violation(&e) => {
                return Err(StoreError::ContractNotFound(customer_id.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(SmimeCertificate {
            id,
            customer_id: customer_id.clone(),
            subject: new.subject.to_string(),
            chain_pem: new.chain_pem.to_string(),
            addresses: new.addresses.to_vec(),
            not_before: new.not_before,
            not_after: new.not_after,
            only_domains,
            created_at,
        })
    }

    /// The contract's certificates, oldest first, without their keys.
    pub async fn smime_certificates(
        &self,
        customer_id: &CustomerId,
    ) -> Result<Vec<SmimeCertificate>, StoreError> {
        Ok(self
            .smime_signing_certificates(customer_id)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .collect())
    }

    /// The contract's certificates with their private keys (PEM), oldest first: for the relay
    /// that signs with them, never for display.
    pub async fn smime_signing_certificates(
        &self,
        customer_id: &CustomerId,
    ) -> Result<Vec<(SmimeCertificate, String)>, StoreError> {
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM smime_certificates WHERE customer_id = $1 \
                 ORDER BY certificate_id"
            )))
            .bind(customer_id.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(|r| self.smime_from_row(r)).collect()
    }

    /// Every contract's certificates that are no longer valid after `before` (expired ones
    /// included), soonest first, without keys: the expiry report.
    pub async fn smime_certificates_expiring(
        &self,
        before: Timestamp,
    ) -> Result<Vec<SmimeCertificate>, StoreError> {
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM smime_certificates WHERE not_after < $1 \
                 ORDER BY not_after, certificate_id"
            )))
            .bind(before.as_millis())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| self.smime_from_row(r).map(|(c, _)| c))
            .collect()
    }

    /// Removes the contract's certificate `id`; `false` if the contract has no such
    /// certificate (another contract's is never touched).
    pub async fn remove_smime_certificate(
        &self,
        customer_id: &CustomerId,
        id: i64,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let removed = with_pool!(self, pool => {
            sqlx::query(
                "DELETE FROM smime_certificates WHERE customer_id = $1 AND certificate_id = $2",
            )
            .bind(customer_id.as_str())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(removed > 0)
    }
}
