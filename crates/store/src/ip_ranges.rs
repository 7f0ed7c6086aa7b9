use crate::contracts::ContractRow;
use crate::error::{is_foreign_key_violation, is_unique_violation};
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
    /// a no-op; a range held by another contract is refused, because a source address must
    /// name exactly one sender.
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
        let inserted = with_pool!(self, pool => {
            sqlx::query(
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
            .execute(pool)
            .await
            .map(|_| ())
        });
        match inserted {
            Ok(_) => Ok(AllowedIpRange {
                customer_id: id.clone(),
                cidr: net,
                created_at,
            }),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::ContractNotFound(id.clone())),
            Err(e) if is_unique_violation(&e) => {
                let holder: Option<RangeRow> = with_pool!(self, pool => {
                    sqlx::query_as(
                        "SELECT customer_id, cidr, created_at FROM allowed_ip_ranges WHERE cidr = $1",
                    )
                    .bind(&cidr)
                    .fetch_optional(pool)
                    .await?
                });
                match holder.map(RangeRow::into_range).transpose()? {
                    Some(existing) if existing.customer_id == *id => Ok(existing),
                    Some(existing) => Err(StoreError::RangeTaken {
                        cidr,
                        customer_id: existing.customer_id,
                    }),
                    // Removed between our insert and our look-up: report the original failure.
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
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
    /// winning. IPv4-mapped IPv6 addresses (from dual-stack sockets) match IPv4 ranges.
    pub async fn contract_for_ip(&self, ip: IpAddr) -> Result<Option<Contract>, StoreError> {
        let (ip_version, address) = address_key(ip.to_canonical());
        let row: Option<ContractRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT c.customer_id, c.name, c.plan, c.state, c.created_at, c.last_used_at \
                 FROM allowed_ip_ranges r JOIN contracts c ON c.customer_id = r.customer_id \
                 WHERE r.ip_version = $1 AND r.range_start <= $2 AND r.range_end >= $2 \
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
