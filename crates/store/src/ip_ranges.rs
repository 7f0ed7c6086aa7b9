use crate::contracts::ContractRow;
use crate::error::is_foreign_key_violation;
use crate::{Store, StoreError};
use hikyaku_model::{Contract, CustomerId, Timestamp};
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

/// A source address range from which a contract's hosts may relay without authenticating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowedIpRange {
    pub customer_id: CustomerId,
    /// Normalised: host bits are zero (`10.1.2.3/8` is stored as `10.0.0.0/8`).
    pub cidr: IpNet,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct RangeRow {
    customer_id: String,
    cidr: String,
    created_at: i64,
}

impl RangeRow {
    fn into_range(self) -> Result<AllowedIpRange, StoreError> {
        Ok(AllowedIpRange {
            customer_id: self
                .customer_id
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("allowed_ip_ranges.customer_id: {e}")))?,
            cidr: self
                .cidr
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("allowed_ip_ranges.cidr: {e}")))?,
            created_at: Timestamp(self.created_at),
        })
    }
}

/// An address as the database compares it: family, then big-endian bytes.
fn address_key(ip: IpAddr) -> (i64, Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => (4, v4.octets().to_vec()),
        IpAddr::V6(v6) => (6, v6.octets().to_vec()),
    }
}

impl Store {
    /// Allows relaying from `net` for the contract. Adding a range the contract already has is
    /// a no-op. Refused: an unknown or terminated contract, and a range that overlaps a range
    /// of another (not terminated) contract, because a source address must name exactly one
    /// sender; the refusal does not say whose range it is.
    pub async fn add_allowed_ip(
        &self,
        id: &CustomerId,
        net: IpNet,
    ) -> Result<AllowedIpRange, StoreError> {
        let net = net.trunc();
        let cidr = net.to_string();
        let (ip_version, range_start) = address_key(net.network());
        let (_, range_end) = address_key(net.broadcast());
        let created_at = Timestamp::now();
        // Two adds of overlapping ranges must not both pass the overlap check: PostgreSQL
        // serialises them on a table lock that readers (the relay) do not wait for; SQLite has
        // one writer at a time, which the first statement below makes us.
        let serialise = match self.backend {
            crate::Backend::Postgres(_) => {
                "LOCK TABLE allowed_ip_ranges IN SHARE ROW EXCLUSIVE MODE"
            }
            crate::Backend::Sqlite(_) => "SELECT 1",
        };
        let _turn = self.write_turn().await;
        let added: Result<AllowedIpRange, StoreError> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(serialise).execute(&mut *tx).await?;
            // A terminated contract's ranges count for nothing: the same range may be given
            // to a new contract.
            sqlx::query(
                "DELETE FROM allowed_ip_ranges WHERE cidr = $1 AND customer_id IN \
                 (SELECT customer_id FROM contracts WHERE state = 'terminated')",
            )
            .bind(&cidr)
            .execute(&mut *tx)
            .await?;
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
            let existing: Option<RangeRow> = sqlx::query_as(
                "SELECT customer_id, cidr, created_at FROM allowed_ip_ranges \
                 WHERE cidr = $1 AND customer_id = $2",
            )
            .bind(&cidr)
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(existing) = existing {
                return existing.into_range();
            }
            let overlapping: Option<i64> = sqlx::query_scalar(
                "SELECT r.prefix_len FROM allowed_ip_ranges r JOIN contracts c \
                 ON c.customer_id = r.customer_id \
                 WHERE r.ip_version = $1 AND r.range_start <= $3 AND r.range_end >= $2 \
                 AND r.customer_id <> $4 AND c.state <> 'terminated' LIMIT 1",
            )
            .bind(ip_version)
            .bind(&range_start)
            .bind(&range_end)
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if overlapping.is_some() {
                return Err(StoreError::RangeOverlaps { cidr });
            }
            let inserted = sqlx::query(
                "INSERT INTO allowed_ip_ranges \
                 (cidr, customer_id, ip_version, prefix_len, range_start, range_end, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&cidr)
            .bind(id.as_str())
            .bind(ip_version)
            .bind(i64::from(net.prefix_len()))
            .bind(&range_start)
            .bind(&range_end)
            .bind(created_at.as_millis())
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                // The contract was removed meanwhile (on SQLite, which has no row locks here).
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::ContractNotFound(id.clone()));
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
            Ok(AllowedIpRange {
                customer_id: id.clone(),
                cidr: net,
                created_at,
            })
        });
        added
    }

    /// The contract's ranges, in address order.
    pub async fn allowed_ips(&self, id: &CustomerId) -> Result<Vec<AllowedIpRange>, StoreError> {
        let rows: Vec<RangeRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT customer_id, cidr, created_at FROM allowed_ip_ranges \
                 WHERE customer_id = $1 ORDER BY ip_version, range_start, prefix_len",
            )
            .bind(id.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(RangeRow::into_range).collect()
    }

    /// Removes the range (given in any form that normalises to it); `false` if the contract
    /// did not have it.
    pub async fn remove_allowed_ip(&self, id: &CustomerId, net: IpNet) -> Result<bool, StoreError> {
        let result = with_pool!(self, pool => {
            sqlx::query("DELETE FROM allowed_ip_ranges WHERE customer_id = $1 AND cidr = $2")
                .bind(id.as_str())
                .bind(net.trunc().to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(result > 0)
    }

    /// The contract whose allowed range contains `ip`, the most specific (longest prefix) range
    /// winning (ranges of different contracts no longer overlap, but older data may). A
    /// terminated contract's ranges count for nothing. IPv4-mapped IPv6 addresses (from
    /// dual-stack sockets) match IPv4 ranges.
    pub async fn contract_for_ip(&self, ip: IpAddr) -> Result<Option<Contract>, StoreError> {
        let (ip_version, address) = address_key(ip.to_canonical());
        let row: Option<ContractRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT c.customer_id, c.name, c.plan, c.state, c.created_at, c.last_used_at \
                 FROM allowed_ip_ranges r JOIN contracts c ON c.customer_id = r.customer_id \
                 WHERE r.ip_version = $1 AND r.range_start <= $2 AND r.range_end >= $2 \
                 AND c.state <> 'terminated' \
                 ORDER BY r.prefix_len DESC LIMIT 1",
            )
            .bind(ip_version)
            .bind(&address)
            .fetch_optional(pool)
            .await?
        });
        row.map(ContractRow::into_contract).transpose()
    }
}
