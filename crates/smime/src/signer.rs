use crate::LoadError;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use std::time::SystemTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// RSA keys below this size are refused: receivers' S/MIME checks reject them as weak.
const MIN_RSA_BITS: usize = 2048;

/// The kind of key a signer signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa { bits: usize },
    EcdsaP256,
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "rsa-{bits}"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ecdsa-p256"),
        }
    }
}

/// What a person checks about a signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// RFC 4514 form, e.g. `CN=Alice,O=Example`.
    pub subject: String,
    pub issuer: String,
    /// Hexadecimal, as `openssl x509 -serial` prints it.
    pub serial: String,
    /// The addresses it may sign for: its subjectAltName `rfc822Name`s and the subject's
    /// `emailAddress`, in that order, without repeats (compared case-insensitively).
    pub addresses: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub key_algorithm: KeyAlgorithm,
}

impl CertificateInfo {
    /// Whether the certificate names `address` (case-insensitively: mailbox providers treat
    /// local parts that way, and so do S/MIME clients comparing From with the certificate).
    pub fn covers(&self, address: &str) -> bool {
        self.addresses
            .iter()
            .any(|a| a.eq_ignore_ascii_case(address.trim()))
    }

    /// Whether the certificate is valid at `at`.
    pub fn is_valid_at(&self, at: SystemTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }
}

pub(crate) enum SigningKey {
    Rsa(RsaKeyPair),
    EcdsaP256(EcdsaKeyPair),
}

/// A certificate chain with the private key of its first certificate, ready to sign.
pub struct Signer {
    pub(crate) key: SigningKey,
    /// The signer's certificate first, then the certificates that lead to its issuer.
    pub(crate) chain: Vec<Certificate>,
    /// The chain as the SignedData's `certificates` field, encoded once.
    pub(crate) certificates_der: Vec<u8>,
    info: CertificateInfo,
    /// The key as it is kept at rest: one PEM block, in the form it was given (or PKCS#8 when
    /// it came out of a PKCS#12 file).
    key_pem: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("info", &self.info)
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// One PEM block: its label and its decoded bytes.
struct PemBlock {
    label: String,
    der: Vec<u8>,
}

/// Every PEM block of `input`, whatever else the file holds between them (OpenSSL writes
/// "Bag Attributes" and `EC PARAMETERS` blocks around keys and certificates).
fn pem_blocks(input: &[u8]) -> Result<Vec<PemBlock>, String> {
    let text = String::from_utf8_lossy(input);
    let mut blocks = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = rest[start..].find(&end_marker) else {
            return Err(format!("the PEM block {label:?} has no END line"));
        };
        let block = &rest[start..start + end + end_marker.len()];
        let (decoded_label, der) = der::pem::decode_vec(block.as_bytes())
            .map_err(|e| format!("the PEM block {label:?} is damaged: {e}"))?;
        blocks.push(PemBlock {
            label: decoded_label.to_string(),
            der,
        });
        rest = &rest[start + end + end_marker.len()..];
    }
    Ok(blocks)
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .expect("PEM encoding of bytes in memory does not fail")
}

impl Signer {
    /// Loads a signer from a PEM certificate file (the signer's certificate and, optionally,
    /// the intermediate certificates after it, in any order) and a PEM private key file
    /// (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC 1 `EC PRIVATE KEY`).
    pub fn from_pem(certificates: &[u8], key: &[u8]) -> Result<Signer, LoadError> {
        let chain = pem_blocks(certificates)
            .map_err(LoadError::Certificate)?
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| {
                Certificate::from_der(&b.der).map_err(|e| LoadError::Certificate(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if chain.is_empty() {
            return Err(LoadError::NoCertificate);
        }
        let blocks = pem_blocks(key).map_err(LoadError::UnsupportedKey)?;
        let key_block = blocks
            .iter()
            .find(|b| {
                matches!(
                    b.label.as_str(),
                    "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY"
                )
            })
            .ok_or(LoadError::NoKey)?;
        let form = match key_block.label.as_str() {
            "PRIVATE KEY" => KeyForm::Pkcs8,
            "RSA PRIVATE KEY" => KeyForm::Pkcs1,
            "EC PRIVATE KEY" => KeyForm::Sec1,
            _ => return Err(LoadError::EncryptedPemKey),
        };
        Signer::assemble(chain, &key_block.der, form)
    }

    /// Loads a signer from a PKCS#12 (`.p12`/`.pfx`) file and its password: the key, the
    /// certificate that matches it, and the other certificates as its chain.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Signer, LoadError> {
        let contents = crate::pkcs12::open(der, password)?;
        let key = contents
            .keys
            .first()
            .ok_or_else(|| LoadError::Pkcs12("it holds no private key".into()))?;
        if contents.certificates.is_empty() {
            return Err(LoadError::Pkcs12("it holds no certificate".into()));
        }
        let chain = contents
            .certificates
            .iter()
            .map(|c| Certificate::from_der(c).map_err(|e| LoadError::Certificate(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Signer::assemble(chain, key, KeyForm::Pkcs8)
    }

    /// The signer from its parts: the key, and certificates of which one must match it.
    fn assemble(
        certificates: Vec<Certificate>,
        key_der: &[u8],
        form: KeyForm,
    ) -> Result<Signer, LoadError> {
        let key = parse_key(key_der, form)?;
        let public = match &key {
            SigningKey::Rsa(k) => k.public_key().as_ref().to_vec(),
            SigningKey::EcdsaP256(k) => k.public_key().as_ref().to_vec(),
        };
        let Some(leaf_at) = certificates.iter().position(|c| {
            c.tbs_certificate()
                .subject_public_key_info()
                .subject_public_key
                .raw_bytes()
                == public.as_slice()
        }) else {
            return Err(LoadError::KeyMismatch {
                subject: certificates[0].tbs_certificate().subject().to_string(),
            });
        };
        let mut rest = certificates;
        let leaf = rest.remove(leaf_at);
        let chain = order_chain(leaf, rest);
        let info = describe(&chain[0], &key)?;
        let label = match form {
            KeyForm::Pkcs8 => "PRIVATE KEY",
            KeyForm::Pkcs1 => "RSA PRIVATE KEY",
            KeyForm::Sec1 => "EC PRIVATE KEY",
        };
        let certificates_der = crate::cms_build::certificates_field(&chain)
            .map_err(|e| LoadError::Certificate(e.to_string()))?;
        Ok(Signer {
            key,
            chain,
            certificates_der,
            info,
            key_pem: pem_encode(label, key_der),
        })
    }

    pub fn certificate(&self) -> &CertificateInfo {
        &self.info
    }

    /// The chain as PEM (the signer's certificate first), as it is stored.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| {
                pem_encode(
                    "CERTIFICATE",
                    &c.to_der().expect("a decoded certificate encodes"),
                )
            })
            .collect()
    }

    /// The private key as one PEM block, for sealing at rest. Whoever holds it can sign as the
    /// certificate's owner: never log or print it.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

#[derive(Clone, Copy)]
enum KeyForm {
    Pkcs8,
    Pkcs1,
    Sec1,
}

fn parse_key(der: &[u8], form: KeyForm) -> Result<SigningKey, LoadError> {
    let rejected = |e: aws_lc_rs::error::KeyRejected| LoadError::UnsupportedKey(e.to_string());
    let key = match form {
        KeyForm::Pkcs1 => SigningKey::Rsa(RsaKeyPair::from_der(der).map_err(rejected)?),
        KeyForm::Sec1 => SigningKey::EcdsaP256(
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, der)
                .map_err(rejected)?,
        ),
        // PKCS#8 names its algorithm inside; try the two we sign with.
        KeyForm::Pkcs8 => match RsaKeyPair::from_pkcs8(der) {
            Ok(k) => SigningKey::Rsa(k),
            Err(_) => SigningKey::EcdsaP256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der).map_err(rejected)?,
            ),
        },
    };
    if let SigningKey::Rsa(k) = &key
        && k.public_modulus_len() * 8 < MIN_RSA_BITS
    {
        return Err(LoadError::UnsupportedKey(format!(
            "an RSA key of {} bits",
            k.public_modulus_len() * 8
        )));
    }
    Ok(key)
}

/// The signer's certificate, then its issuer, its issuer's issuer… as far as the given
/// certificates go; any left over after that (unrelated, or a second path) follow as given.
fn order_chain(leaf: Certificate, mut rest: Vec<Certificate>) -> Vec<Certificate> {
    let mut chain = vec![leaf];
    loop {
        let last = chain.last().expect("the chain has its leaf");
        let issuer = last.tbs_certificate().issuer();
        // A self-signed certificate ends the path.
        if last.tbs_certificate().subject() == issuer {
            break;
        }
        let Some(at) = rest
            .iter()
            .position(|c| c.tbs_certificate().subject() == issuer)
        else {
            break;
        };
        chain.push(rest.remove(at));
    }
    chain.extend(rest);
    chain
}

fn describe(cert: &Certificate, key: &SigningKey) -> Result<CertificateInfo, LoadError> {
    let tbs = cert.tbs_certificate();
    let spki = tbs.subject_public_key_info();
    let key_algorithm = match key {
        SigningKey::Rsa(k) => KeyAlgorithm::Rsa {
            bits: k.public_modulus_len() * 8,
        },
        SigningKey::EcdsaP256(_) => KeyAlgorithm::EcdsaP256,
    };
    let expected = match key_algorithm {
        KeyAlgorithm::Rsa { .. } => spki.algorithm.oid == RSA_ENCRYPTION,
        KeyAlgorithm::EcdsaP256 => {
            spki.algorithm.oid == EC_PUBLIC_KEY
                && spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                    == Some(SECP256R1)
        }
    };
    if !expected {
        return Err(LoadError::UnsupportedKey(format!(
            "the certificate's key algorithm {}",
            spki.algorithm.oid
        )));
    }
    let mut addresses: Vec<String> = Vec::new();
    let mut add = |address: &str| {
        let address = address.trim();
        if !address.is_empty() && !addresses.iter().any(|a| a.eq_ignore_ascii_case(address)) {
            addresses.push(address.to_string());
        }
    };
    if let Ok(Some((_, san))) = tbs.get_extension::<SubjectAltName>() {
        for name in &san.0 {
            if let GeneralName::Rfc822Name(mailbox) = name {
                add(mailbox.as_str());
            }
        }
    }
    if let Ok(Some(email)) = tbs.subject().email_address() {
        add(email.as_str());
    }
    let serial = tbs
        .serial_number()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let validity = tbs.validity();
    Ok(CertificateInfo {
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        serial,
        addresses,
        not_before: validity.not_before.to_system_time(),
        not_after: validity.not_after.to_system_time(),
        key_algorithm,
    })
}
