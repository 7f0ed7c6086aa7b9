//! Building the STARTTLS configuration and describing a negotiated session.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// Why a certificate and key could not become a TLS configuration. All are configuration
/// mistakes: retrying does not help.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("no certificate in the PEM chain")]
    NoCertificate,
    #[error("unreadable PEM: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    #[error("certificate and key rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A server configuration for STARTTLS from a PEM certificate chain (leaf first) and its PEM
/// private key (PKCS#8, PKCS#1 or SEC1), with the aws-lc-rs provider and its safe defaults
/// (TLS 1.2 and 1.3).
pub fn tls_config_from_pem(
    certificate_chain: &[u8],
    private_key: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    let chain = CertificateDer::pem_slice_iter(certificate_chain).collect::<Result<Vec<_>, _>>()?;
    if chain.is_empty() {
        return Err(TlsConfigError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(private_key)?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}
