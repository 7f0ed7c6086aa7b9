//! S/MIME signing certificates as `hikyaku smime list|install|remove --json` shows them.
//! Never the private key.

use crate::Time;
use hikyaku_model::{CustomerId, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How far a certificate is from its end of validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificateExpiry {
    /// Valid for more than 30 days.
    Valid,
    /// Valid, but for 30 days or less: renew it.
    ExpiresSoon,
    /// No longer valid: messages are sent unsigned until a valid certificate is installed.
    Expired,
    /// Not valid yet (its not-before is in the future): not used until then.
    NotYetValid,
}

/// A certificate that ends within this time (30 days) is reported as expiring soon.
pub const EXPIRY_WARNING_MS: i64 = 30 * 86_400_000;

impl CertificateExpiry {
    /// The state at `now` of a certificate valid from `not_before` to `not_after`.
    pub fn at(not_before: Timestamp, not_after: Timestamp, now: Timestamp) -> CertificateExpiry {
        if now > not_after {
            CertificateExpiry::Expired
        } else if now < not_before {
            CertificateExpiry::NotYetValid
        } else if not_after.as_millis() - now.as_millis() <= EXPIRY_WARNING_MS {
            CertificateExpiry::ExpiresSoon
        } else {
            CertificateExpiry::Valid
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateExpiry::Valid => "valid",
            CertificateExpiry::ExpiresSoon => "expires soon",
            CertificateExpiry::Expired => "expired",
            CertificateExpiry::NotYetValid => "not yet valid",
        }
    }
}

/// A contract's S/MIME signing certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SmimeCertificate {
    /// The certificate's ID, for removing it.
    pub id: i64,
    #[schema(value_type = String, example = "c8kd2mxq7p")]
    pub customer_id: CustomerId,
    /// RFC 4514 form, most specific name first.
    #[schema(example = "EMAIL=info@example.jp,CN=Example Info")]
    pub subject: String,
    /// The From addresses it signs for.
    pub addresses: Vec<String>,
    /// Destination domains it is limited to; empty for every domain.
    pub only_domains: Vec<String>,
    pub not_before: Time,
    pub not_after: Time,
    pub expiry: CertificateExpiry,
    pub created_at: Time,
}

/// A contract's certificates, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SmimeCertificateList {
    pub certificates: Vec<SmimeCertificate>,
}

/// A certificate to install with its private key: PEM (`certificate_pem` and `key_pem`) or
/// PKCS#12 (`pkcs12_base64` and `password`). The key is sealed at rest and never shown again.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSmimeCertificate {
    /// The signer's certificate, then any intermediate certificates.
    #[serde(default)]
    pub certificate_pem: Option<String>,
    /// The unencrypted private key (PKCS#8, PKCS#1 or SEC 1).
    #[serde(default)]
    pub key_pem: Option<String>,
    /// A PKCS#12 file (`.p12`, `.pfx`) as base64.
    #[serde(default)]
    pub pkcs12_base64: Option<String>,
    /// The PKCS#12 file's password.
    #[serde(default)]
    pub password: Option<String>,
    /// Sign only mail whose recipients are all in these domains; empty: every domain.
    #[serde(default)]
    pub only_domains: Vec<String>,
}
