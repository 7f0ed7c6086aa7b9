//! Sender domains and their DKIM keys as `hikyaku domain … --json` shows them: the records to
//! publish and what DNS says of them. Never the private key.

use crate::Time;
use hikyaku_model::CustomerId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One DKIM key of a sender domain, with the TXT record that publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DkimKey {
    #[schema(example = "hk202612")]
    pub selector: String,
    /// `rsa-2048`, `rsa-1024` or `ed25519`.
    #[schema(example = "rsa-2048")]
    pub algorithm: String,
    /// `active` (signs), `pending` (waits for its record to be seen in DNS: `domain verify`),
    /// `retired` (replaced; kept until `domain remove-key`).
    #[schema(example = "active")]
    pub state: String,
    /// Where the record goes: `SELECTOR._domainkey.DOMAIN`.
    #[schema(example = "hk202612._domainkey.example.com")]
    pub record_name: String,
    /// The TXT record's value, whole (split it into strings of at most 255 octets where the
    /// DNS host asks for that).
    #[schema(example = "v=DKIM1; k=rsa; p=MIIBIjANBg…")]
    pub record: String,
    pub created_at: Time,
    pub activated_at: Option<Time>,
}

/// A domain whose mail the relay signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SenderDomain {
    #[schema(example = "example.com")]
    pub domain: String,
    /// `null`: the platform's own service domain.
    #[schema(value_type = Option<String>, example = "c8kd2mxq7p")]
    pub customer_id: Option<CustomerId>,
    /// `rsa-2048`, `rsa-1024`, `ed25519` or `dual` (RSA-2048 and Ed25519).
    pub algorithm: String,
    pub created_at: Time,
    /// Oldest first.
    pub keys: Vec<DkimKey>,
}

/// A contract's sender domains, in domain order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SenderDomainList {
    pub domains: Vec<SenderDomain>,
}

/// What DNS holds for one key's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyRecordStatus {
    /// The record is there with this key.
    Published,
    /// No DKIM record at the name.
    Missing,
    /// A record is there, with another key (or none).
    Mismatch,
    /// The lookup failed (the DNS server did not answer): try again.
    LookupFailed,
}

/// One key's record as `domain verify` found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyRecordCheck {
    pub selector: String,
    pub state: String,
    pub record_name: String,
    pub status: KeyRecordStatus,
    /// What to do, for people.
    pub detail: String,
}

/// The answer of `domain verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainVerification {
    pub domain: String,
    pub checks: Vec<KeyRecordCheck>,
    /// Whether the pending keys became active (their records were all seen in DNS).
    pub switched: bool,
}
