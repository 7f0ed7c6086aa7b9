//! S/MIME signing (RFC 8551) without I/O: a [`Signer`] loaded from PEM (certificate chain and
//! private key, RSA or ECDSA P-256) or from a PKCS#12 file with its password, the facts of its
//! certificate that a person checks ([`CertificateInfo`]: subject, the e-mail addresses it
//! covers, validity), and [`Signer::sign_message`], which turns a whole RFC 5322 message into a
//! `multipart/signed` one with a detached CMS `SignedData` (RFC 5652) over SHA-256.
//!
//! It owns the MIME and CMS structure of a signed message and nothing else: it reads no files,
//! keeps no keys at rest (the store seals them), and does not decide which messages to sign
//! (the relay does).

mod cms_build;
mod mime;
mod pkcs12;
mod signer;

pub use mime::{SIGNATURE_CONTENT_TYPE, split_header_section};
pub use signer::{CertificateInfo, KeyAlgorithm, Signer};

/// Why a certificate and key could not be loaded. Each says what to do about it, since the
/// operator reads it at `hikyaku smime install`.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no certificate found (expected PEM blocks \"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate,
    #[error("a certificate could not be read: {0}")]
    Certificate(String),
    #[error(
        "no private key found (expected a PEM block \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \
         \"EC PRIVATE KEY\")"
    )]
    NoKey,
    #[error(
        "the private key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN) or \
         install a PKCS#12 file with its password"
    )]
    EncryptedPemKey,
    #[error("unsupported key: {0} (RSA of 2048 bits or more, or ECDSA P-256, are supported)")]
    UnsupportedKey(String),
    #[error("the private key does not belong to the certificate {subject:?}")]
    KeyMismatch { subject: String },
    #[error("the PKCS#12 file could not be read: {0}")]
    Pkcs12(String),
    #[error("wrong password for the PKCS#12 file")]
    WrongPassword,
    #[error(
        "the PKCS#12 file uses legacy encryption ({0}); export it again with a current OpenSSL \
         (`openssl pkcs12 -export`, AES-256 by default) or install the PEM certificate and key"
    )]
    LegacyPkcs12(&'static str),
}

/// Why a message could not be signed. Neither depends on the message: a key the signature
/// library refuses, or a structure that does not encode, are faults of the installed signer.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signature could not be made with the installed key")]
    Crypto,
    #[error("the CMS structure could not be encoded: {0}")]
    Encoding(String),
}

impl From<der::Error> for SignError {
    fn from(e: der::Error) -> Self {
        SignError::Encoding(e.to_string())
    }
}
