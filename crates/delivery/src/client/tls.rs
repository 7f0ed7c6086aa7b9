//! The client side of STARTTLS: two rustls configurations built once per [`super::Client`] (one
//! that verifies the server's certificate and one that does not) and a description of the
//! negotiated session for the send log. DANE connections get a configuration of their own,
//! built around the host's TLSA records (see [`super::dane`]).

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::IpAddr;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

use super::dane::DaneRecords;

/// How a connection uses STARTTLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Use STARTTLS when the server offers it, without checking the certificate: what every MTA
    /// does by default, because most MX certificates do not name the MX host, and encryption
    /// against a passive eavesdropper is still worth having. If the server does not offer it or
    /// refuses the command, send in plain text.
    #[default]
    Opportunistic,
    /// Never send without TLS; with `verify`, the certificate chain must lead to a trusted root
    /// and name the MX host.
    Required { verify: bool },
    /// DANE (RFC 7672): never send without TLS, and the certificate must match one of the
    /// host's DNSSEC-authenticated TLSA records.
    Dane(Arc<DaneRecords>),
    /// Never use STARTTLS (e.g. a retry after a failed handshake with a broken server).
    Disabled,
}

// The negotiated session is described in the shared vocabulary, as the SMTP server does.
pub use hikyaku_model::smtp::TlsInfo;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("TLS client configuration: {0}")]
pub struct TlsSetupError(String);

pub(crate) struct TlsConnectors {
    unverified: TlsConnector,
    verified: TlsConnector,
    provider: Arc<rustls::crypto::CryptoProvider>,
    /// DANE's configurations up to the verifier, which each connection adds with its host's
    /// records (the protocol versions checked against the provider once).
    dane: rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>,
    /// The verified connector's check, run after an unverified handshake too, so that the send
    /// log and MTA-STS in testing mode can tell whether verification would have passed.
    verifier: Arc<WebPkiServerVerifier>,
}

impl TlsConnectors {
    /// With no root store, the Mozilla roots of `webpki-roots`: the same set on every machine, so
    /// whether a certificate passes does not depend on the host's CA bundle.
    pub(crate) fn new(roots: Option<Arc<RootCertStore>>) -> Result<TlsConnectors, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = roots.unwrap_or_else(|| {
            Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        });
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsSetupError(e.to_string()))?;
        let verified = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError(e.to_string()))?
            .with_webpki_verifier(verifier.clone())
            .with_no_client_auth();
        let dane = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError(e.to_string()))?;
        let unverified = dane
            .clone()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                check: AnyCertificate,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth();
        Ok(TlsConnectors {
            unverified: TlsConnector::from(Arc::new(unverified)),
            verified: TlsConnector::from(Arc::new(verified)),
            provider,
            dane,
            verifier,
        })
    }

    /// A connector that accepts only a certificate matching `records`. Finished per connection
    /// (its records change with DNS), from the part built once; each gets its own session
    /// cache, so no DANE session is resumed under records other than those it was checked with.
    pub(crate) fn dane(&self, records: &DaneRecords) -> TlsConnector {
        let config = self
            .dane
            .clone()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                check: records.clone(),
                algorithms: self.provider.signature_verification_algorithms,
            }))
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    /// Whether the certificate a finished handshake received leads to a trusted root and names
    /// `name`: what the verifying connector would have decided.
    pub(crate) fn would_verify(
        &self,
        session: &rustls::ClientConnection,
        name: &ServerName<'_>,
    ) -> bool {
        let Some((end_entity, intermediates)) = session
            .peer_certificates()
            .and_then(|chain| chain.split_first())
        else {
            return false;
        };
        self.verifier
            .verify_server_cert(end_entity, intermediates, name, &[], UnixTime::now())
            .is_ok()
    }

    pub(crate) fn connector(&self, verify: bool) -> &TlsConnector {
        if verify {
            &self.verified
        } else {
            &self.unverified
        }
    }
}

/// The name to send as SNI and to check the certificate against. DNS answers end MX names with
/// a dot, which certificates never carry. `None` when the name cannot be a server name; without
/// verification the peer's address stands in (rustls then sends no SNI).
pub(crate) fn server_name(
    mx_host: &str,
    peer: IpAddr,
    verify: bool,
) -> Option<ServerName<'static>> {
    let host = mx_host.strip_suffix('.').unwrap_or(mx_host);
    match ServerName::try_from(host.to_string()) {
        Ok(name) => Some(name),
        Err(_) if !verify => Some(ServerName::IpAddress(peer.into())),
        Err(_) => None,
    }
}

/// What a verifier decides about the server's certificate chain. The handshake signatures are
/// checked the same way whatever it decides (see [`Verifier`]).
pub(crate) trait CertificateCheck: std::fmt::Debug + Send + Sync + 'static {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<ServerCertVerified, rustls::Error>;
}

/// A rustls verifier made of a certificate check and the provider's algorithms, which check
/// the handshake signatures: those bind the session to the key of the certificate the check
/// accepted (or, for [`AnyCertificate`], at least to the key the server presented).
#[derive(Debug)]
pub(crate) struct Verifier<C> {
    pub(crate) check: C,
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
}

impl<C: CertificateCheck> ServerCertVerifier for Verifier<C> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check
            .check(end_entity, intermediates, now, &self.algorithms)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Opportunistic TLS: any certificate is accepted (the handshake signatures are still checked).
#[derive(Debug)]
struct AnyCertificate;

impl CertificateCheck for AnyCertificate {
    fn check(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
        _algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
}
