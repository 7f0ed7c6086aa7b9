//! DKIM signing (RFC 6376) without I/O: relaxed/relaxed canonicalisation, SHA-256, RSA
//! (2048 or 1024 bits) and Ed25519 (RFC 8463) keys, one or two signatures a message (`dual`:
//! RSA and Ed25519 over one body hash), the fields a verifier expects covered and From
//! over-signed, never `l=`; key generation, the PEM form the store seals, and the key record a
//! domain publishes (`v=DKIM1; k=…; p=…`).
//!
//! It owns the bytes of a signature and nothing else: it reads no keys from disk or database
//! (the store keeps them sealed), does not decide which domain signs a message (the relay
//! does), and looks nothing up in DNS.

mod canon;
mod header;
mod key;
mod legacy_rsa;
mod sign;

pub use canon::{relaxed_body_hash, relaxed_header};
pub use header::SIGNED_FIELDS;
pub use key::{DomainAlgorithm, KeyAlgorithm, PrivateKey, dns_txt, public_key_of_record};
pub use sign::{Signer, SigningKey};

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown algorithm {0:?}: use rsa-2048, rsa-1024, ed25519 (or dual for a domain)")]
    UnknownAlgorithm(String),
    #[error("the key could not be generated")]
    Generation,
    #[error("the key is unusable: {0}")]
    Malformed(String),
}

/// Why a message could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signature could not be computed")]
    Crypto,
}
