//! DANE for SMTP (RFC 7672): which TLSA records SMTP can use, and the rustls certificate
//! verifier that accepts a server only when its certificate matches one of them.
//!
//! It does no DNS: the resolver decides whether the records were authenticated (the AD bit of
//! a validating resolver) and hands over only records it trusts.
//!
//! - DANE-EE(3): the leaf certificate (or its public key) is the one published; no name,
//!   issuer or expiry check, since the record itself is the authentication (RFC 7672 §3.1.1).
//! - DANE-TA(2): a certificate the server sends in its chain is the published trust anchor;
//!   the leaf must chain to it (with the usual validity checks) and name the TLSA base domain,
//!   here the MX host (RFC 7672 §3.1.2, §3.2.2).
//! - PKIX-TA(0) and PKIX-EE(1) depend on public CAs that SMTP clients have no agreed set of:
//!   unusable for SMTP (RFC 7672 §3.1.3), as are unknown usages, selectors, matching types and
//!   digests of the wrong length.

use super::tls::CertificateCheck;
use rustls::client::danger::ServerCertVerified;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, SignatureVerificationAlgorithm, UnixTime};
use rustls::{CertificateError, OtherError};
use sha2::{Digest, Sha256, Sha512};
use std::sync::Arc;

/// One TLSA record's fields as published (RFC 6698 §2.1), whatever they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    /// DANE-TA(2): a trust anchor in the server's chain.
    TrustAnchor,
    /// DANE-EE(3): the server's own certificate.
    EndEntity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selector {
    /// 0: the whole certificate, DER.
    Certificate,
    /// 1: the SubjectPublicKeyInfo, DER.
    PublicKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matching {
    /// 0: the selected bytes themselves.
    Exact,
    /// 1: their SHA-256.
    Sha256,
    /// 2: their SHA-512.
    Sha512,
}

/// A record SMTP can use.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UsableTlsa {
    usage: Usage,
    selector: Selector,
    matching: Matching,
    data: Vec<u8>,
}

impl Tlsa {
    /// The record as the verifier uses it, or why SMTP cannot use it.
    fn usable(&self) -> Result<UsableTlsa, &'static str> {
        let usage = match self.usage {
            0 | 1 => return Err("PKIX usages are not for SMTP"),
            2 => Usage::TrustAnchor,
            3 => Usage::EndEntity,
            _ => return Err("unknown certificate usage"),
        };
        let selector = match self.selector {
            0 => Selector::Certificate,
            1 => Selector::PublicKey,
            _ => return Err("unknown selector"),
        };
        let (matching, length) = match self.matching {
            0 => (Matching::Exact, None),
            1 => (Matching::Sha256, Some(32)),
            2 => (Matching::Sha512, Some(64)),
            _ => return Err("unknown matching type"),
        };
        if self.data.is_empty() || length.is_some_and(|len| len != self.data.len()) {
            return Err("association data of the wrong length");
        }
        Ok(UsableTlsa {
            usage,
            selector,
            matching,
            data: self.data.clone(),
        })
    }
}

impl UsableTlsa {
    /// Whether a certificate (DER, and its SubjectPublicKeyInfo DER) is the one published.
    fn matches(&self, certificate: &[u8], spki: &[u8]) -> bool {
        let selected = match self.selector {
            Selector::Certificate => certificate,
            Selector::PublicKey => spki,
        };
        match self.matching {
            Matching::Exact => selected == self.data.as_slice(),
            Matching::Sha256 => Sha256::digest(selected).as_slice() == self.data.as_slice(),
            Matching::Sha512 => Sha512::digest(selected).as_slice() == self.data.as_slice(),
        }
    }
}

/// What a host's authenticated TLSA RRset asks of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaRequirement {
    /// At least one usable record: TLS is mandatory and the certificate must match.
    Authenticate(DaneRecords),
    /// Records, but none usable: TLS is mandatory, without authentication (RFC 7672 §2.2).
    EncryptOnly,
}

impl TlsaRequirement {
    /// From a non-empty authenticated TLSA RRset of `base_domain` (the MX host).
    pub fn of(base_domain: &str, records: &[Tlsa]) -> TlsaRequirement {
        let usable: Vec<UsableTlsa> = records.iter().filter_map(|r| r.usable().ok()).collect();
        if usable.is_empty() {
            return TlsaRequirement::EncryptOnly;
        }
        TlsaRequirement::Authenticate(DaneRecords {
            base_domain: base_domain.trim_end_matches('.').to_ascii_lowercase(),
            records: usable,
        })
    }
}

/// The usable TLSA records of one host, and the name a DANE-TA chain's leaf must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneRecords {
    base_domain: String,
    records: Vec<UsableTlsa>,
}

/// Why a server's certificate does not satisfy its TLSA records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaneMismatch {
    #[error("the server's certificate cannot be parsed ({0})")]
    BadCertificate(String),
    #[error(
        "the server's certificate chain matches none of the {count} usable TLSA records of _25._tcp.{base_domain}"
    )]
    NoMatch { base_domain: String, count: usize },
    #[error(
        "the chain leads to the DANE-TA trust anchor of _25._tcp.{base_domain} but does not verify ({0})",
        .reason
    )]
    TrustAnchorChain { base_domain: String, reason: String },
}

/// How a certificate satisfied the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaneMatch {
    EndEntity,
    TrustAnchor,
}

impl DaneRecords {
    /// The name certificates are checked against (DANE-TA) and sent as SNI.
    pub fn base_domain(&self) -> &str {
        &self.base_domain
    }

    /// Checks a server's chain as sent (leaf first) against the records.
    pub fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        algorithms: &[&dyn SignatureVerificationAlgorithm],
    ) -> Result<DaneMatch, DaneMismatch> {
        let leaf = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| DaneMismatch::BadCertificate(e.to_string()))?;
        let leaf_spki = leaf.subject_public_key_info();
        if self
            .records
            .iter()
            .filter(|r| r.usage == Usage::EndEntity)
            .any(|r| r.matches(end_entity.as_ref(), leaf_spki.as_ref()))
        {
            return Ok(DaneMatch::EndEntity);
        }
        let mut chain_failure = None;
        for anchor_der in intermediates {
            let Ok(candidate) = webpki::EndEntityCert::try_from(anchor_der) else {
                continue;
            };
            let spki = candidate.subject_public_key_info();
            let published = self
                .records
                .iter()
                .filter(|r| r.usage == Usage::TrustAnchor)
                .any(|r| r.matches(anchor_der.as_ref(), spki.as_ref()));
            if !published {
                continue;
            }
            match self.chains_to(&leaf, anchor_der, intermediates, now, algorithms) {
                Ok(()) => return Ok(DaneMatch::TrustAnchor),
                Err(reason) => chain_failure = Some(reason),
            }
        }
        Err(match chain_failure {
            Some(reason) => DaneMismatch::TrustAnchorChain {
                base_domain: self.base_domain.clone(),
                reason,
            },
            None => DaneMismatch::NoMatch {
                base_domain: self.base_domain.clone(),
                count: self.records.len(),
            },
        })
    }

    /// DANE-TA: the leaf chains to the published anchor and names the base domain.
    fn chains_to(
        &self,
        leaf: &webpki::EndEntityCert<'_>,
        anchor: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        algorithms: &[&dyn SignatureVerificationAlgorithm],
    ) -> Result<(), String> {
        let anchor = webpki::anchor_from_trusted_cert(anchor).map_err(|e| e.to_string())?;
        leaf.verify_for_usage(
            algorithms,
            &[anchor],
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| e.to_string())?;
        let name = ServerName::try_from(self.base_domain.as_str()).map_err(|e| e.to_string())?;
        leaf.verify_is_valid_for_subject_name(&name)
            .map_err(|e| format!("{e} for {}", self.base_domain))
    }
}

impl DaneMismatch {
    /// The mismatch behind a failed handshake, when that is why it failed (rustls only shows
    /// its debug form).
    pub fn of(error: &super::ConnectionError) -> Option<&DaneMismatch> {
        let super::ConnectionError::TlsHandshake { source } = error else {
            return None;
        };
        match source.get_ref()?.downcast_ref::<rustls::Error>()? {
            rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                other.0.downcast_ref::<DaneMismatch>()
            }
            _ => None,
        }
    }
}

/// The rustls side: [`DaneRecords::check`] is the certificate check of DANE connections (the
/// handshake signatures are [`super::tls::Verifier`]'s, as for every connection).
impl CertificateCheck for DaneRecords {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        algorithms: &WebPkiSupportedAlgorithms,
    ) -> Result<ServerCertVerified, rustls::Error> {
        DaneRecords::check(self, end_entity, intermediates, now, algorithms.all)
            .map(|_| ServerCertVerified::assertion())
            .map_err(|mismatch| {
                rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                    mismatch,
                ))))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA, an intermediate under it, and a leaf under the intermediate, made for each test.
    struct Chain {
        root: CertificateDer<'static>,
        intermediate: CertificateDer<'static>,
        leaf: CertificateDer<'static>,
        other_leaf: CertificateDer<'static>,
    }

    fn ca_params(name: &str) -> rcgen::CertificateParams {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params
    }

    fn chain(leaf_name: &str) -> Chain {
        let root = rcgen::CertifiedIssuer::self_signed(
            ca_params("test root"),
            rcgen::KeyPair::generate().unwrap(),
        )
        .unwrap();
        let intermediate = rcgen::CertifiedIssuer::signed_by(
            ca_params("test intermediate"),
            rcgen::KeyPair::generate().unwrap(),
            &root,
        )
        .unwrap();
        let leaf = |name: &str| {
            let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
            params
                .signed_by(&rcgen::KeyPair::generate().unwrap(), &intermediate)
                .unwrap()
                .der()
                .clone()
        };
        Chain {
            root: root.der().clone(),
            intermediate: intermediate.der().clone(),
            leaf: leaf(leaf_name),
            other_leaf: leaf(leaf_name),
        }
    }

    fn spki(cert: &CertificateDer<'_>) -> Vec<u8> {
        let parsed = webpki::EndEntityCert::try_from(cert).unwrap();
        parsed.subject_public_key_info().as_ref().to_vec()
    }

    fn record(usage: u8, selector: u8, matching: u8, cert: &CertificateDer<'_>) -> Tlsa {
        let selected = match selector {
            1 => spki(cert),
            _ => cert.as_ref().to_vec(),
        };
        let data = match matching {
            1 => Sha256::digest(&selected).to_vec(),
            2 => Sha512::digest(&selected).to_vec(),
            _ => selected,
        };
        Tlsa {
            usage,
            selector,
            matching,
            data,
        }
    }

    fn algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .all
    }

    fn check(
        records: &[Tlsa],
        host: &str,
        sent: &[&CertificateDer<'_>],
    ) -> Result<DaneMatch, String> {
        match TlsaRequirement::of(host, records) {
            TlsaRequirement::EncryptOnly => Err("encrypt only".into()),
            TlsaRequirement::Authenticate(records) => records
                .check(
                    sent[0],
                    &sent[1..].iter().map(|c| (*c).clone()).collect::<Vec<_>>(),
                    UnixTime::now(),
                    algorithms(),
                )
                .map_err(|e| e.to_string()),
        }
    }

    #[test]
    fn end_entity_and_trust_anchor_records_by_selector_and_matching_type() {
        let c = chain("mx.example.jp");
        let sent = [&c.leaf, &c.intermediate];
        for selector in [0, 1] {
            for matching in [0, 1, 2] {
                let ee = record(3, selector, matching, &c.leaf);
                assert_eq!(
                    check(&[ee], "mx.example.jp", &sent),
                    Ok(DaneMatch::EndEntity),
                    "3 {selector} {matching}"
                );
                let ta = record(2, selector, matching, &c.intermediate);
                assert_eq!(
                    check(&[ta], "mx.example.jp.", &sent),
                    Ok(DaneMatch::TrustAnchor),
                    "2 {selector} {matching}"
                );
            }
        }
    }

    #[test]
    fn what_does_not_match_is_refused() {
        let c = chain("mx.example.jp");
        let sent = [&c.leaf, &c.intermediate];
        let mut wrong_hash = record(3, 1, 1, &c.leaf);
        wrong_hash.data[0] ^= 1;
        let table: Vec<(&str, Vec<Tlsa>, &str, &str)> = vec![
            (
                "wrong hash",
                vec![wrong_hash],
                "mx.example.jp",
                "matches none of the 1",
            ),
            (
                "another leaf's key",
                vec![record(3, 1, 1, &c.other_leaf)],
                "mx.example.jp",
                "matches none",
            ),
            // A trust anchor the server does not send cannot be matched.
            (
                "root not in the chain",
                vec![record(2, 0, 1, &c.root)],
                "mx.example.jp",
                "matches none",
            ),
            // The leaf named in a TA record is not a trust anchor for itself.
            (
                "leaf as TA",
                vec![record(2, 0, 1, &c.leaf)],
                "mx.example.jp",
                "matches none",
            ),
            // DANE-TA checks the name; DANE-EE does not.
            (
                "TA, other name",
                vec![record(2, 1, 1, &c.intermediate)],
                "mx2.example.jp",
                "does not verify",
            ),
        ];
        for (what, records, host, expected) in table {
            let got = check(&records, host, &sent);
            assert!(
                matches!(&got, Err(e) if e.contains(expected)),
                "{what}: {got:?}"
            );
        }
        assert_eq!(
            check(&[record(3, 0, 1, &c.leaf)], "other.example.jp", &sent),
            Ok(DaneMatch::EndEntity)
        );
        // The TA matches but the server sent an unrelated leaf: the chain must lead to it.
        let stranger = chain("mx.example.jp");
        let got = check(
            &[record(2, 0, 1, &c.intermediate)],
            "mx.example.jp",
            &[&stranger.leaf, &c.intermediate],
        );
        assert!(
            matches!(&got, Err(e) if e.contains("does not verify")),
            "{got:?}"
        );
        // Garbage as a certificate.
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01]);
        let got = check(&[record(3, 0, 1, &c.leaf)], "mx.example.jp", &[&garbage]);
        assert!(
            matches!(&got, Err(e) if e.contains("cannot be parsed")),
            "{got:?}"
        );
    }

    #[test]
    fn unusable_records_leave_encryption_only() {
        let c = chain("mx.example.jp");
        let good = record(3, 1, 1, &c.leaf);
        let with = |usage, selector, matching, data: &[u8]| Tlsa {
            usage,
            selector,
            matching,
            data: data.to_vec(),
        };
        let unusable = [
            // PKIX-TA and PKIX-EE need public CAs SMTP has no agreed set of.
            with(0, 1, 1, &good.data),
            with(1, 1, 1, &good.data),
            with(4, 1, 1, &good.data),
            with(255, 1, 1, &good.data),
            with(3, 2, 1, &good.data),
            with(3, 255, 1, &good.data),
            with(3, 1, 3, &good.data),
            with(3, 1, 255, &good.data),
            // Digests of the wrong length, and no data at all.
            with(3, 1, 1, &good.data[..31]),
            with(3, 1, 1, &[good.data.clone(), vec![0]].concat()),
            with(3, 1, 2, &good.data),
            with(3, 1, 0, &[]),
            with(2, 0, 1, &[]),
        ];
        for record in &unusable {
            assert_eq!(
                TlsaRequirement::of("mx.example.jp", std::slice::from_ref(record)),
                TlsaRequirement::EncryptOnly,
                "{record:?}"
            );
        }
        assert_eq!(
            TlsaRequirement::of("mx.example.jp", &unusable),
            TlsaRequirement::EncryptOnly
        );
        // One usable record among the garbage is enough, and it alone is used.
        let mut mixed = unusable.to_vec();
        mixed.push(good);
        let TlsaRequirement::Authenticate(records) = TlsaRequirement::of("MX.example.jp.", &mixed)
        else {
            panic!("the usable record was dropped");
        };
        assert_eq!(records.records.len(), 1);
        assert_eq!(records.base_domain(), "mx.example.jp");
        assert_eq!(
            check(&mixed, "mx.example.jp", &[&c.leaf]),
            Ok(DaneMatch::EndEntity)
        );
    }
}
