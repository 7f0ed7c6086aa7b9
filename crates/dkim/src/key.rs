//! DKIM keys: generation, their PEM form (PKCS#8, the form the store seals), the public key
//! record a domain publishes, and the raw signature of a header hash.

use crate::KeyError;
use crate::legacy_rsa::RsaKey;
use aws_lc_rs::digest::Digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The algorithm of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    Rsa2048,
    Rsa1024,
    Ed25519,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 3] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa1024,
        KeyAlgorithm::Ed25519,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa1024 => "rsa-1024",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }

    /// The signature's `a=` tag.
    pub fn signature_algorithm(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa1024 => "rsa-sha256",
            KeyAlgorithm::Ed25519 => "ed25519-sha256",
        }
    }

    /// The key record's `k=` tag.
    pub fn key_type(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa1024 => "rsa",
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| KeyError::UnknownAlgorithm(s.to_string()))
    }
}

/// What a sender domain signs with: one key, or two (`dual`, RFC 8463: an RSA signature for
/// the receivers that know only RSA, an Ed25519 one for the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainAlgorithm {
    Rsa2048,
    Rsa1024,
    Ed25519,
    Dual,
}

impl DomainAlgorithm {
    pub const ALL: [DomainAlgorithm; 4] = [
        DomainAlgorithm::Rsa2048,
        DomainAlgorithm::Rsa1024,
        DomainAlgorithm::Ed25519,
        DomainAlgorithm::Dual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DomainAlgorithm::Rsa2048 => "rsa-2048",
            DomainAlgorithm::Rsa1024 => "rsa-1024",
            DomainAlgorithm::Ed25519 => "ed25519",
            DomainAlgorithm::Dual => "dual",
        }
    }

    /// The keys a domain of this kind holds at a time.
    pub fn keys(self) -> &'static [KeyAlgorithm] {
        match self {
            DomainAlgorithm::Rsa2048 => &[KeyAlgorithm::Rsa2048],
            DomainAlgorithm::Rsa1024 => &[KeyAlgorithm::Rsa1024],
            DomainAlgorithm::Ed25519 => &[KeyAlgorithm::Ed25519],
            DomainAlgorithm::Dual => &[KeyAlgorithm::Rsa2048, KeyAlgorithm::Ed25519],
        }
    }
}

impl std::fmt::Display for DomainAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DomainAlgorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        DomainAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| KeyError::UnknownAlgorithm(s.to_string()))
    }
}

enum Inner {
    Rsa(aws_lc_rs::rsa::KeyPair),
    LegacyRsa(RsaKey),
    Ed25519(Ed25519KeyPair),
}

/// A private key ready to sign.
pub struct PrivateKey {
    algorithm: KeyAlgorithm,
    inner: Inner,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

impl PrivateKey {
    /// A new random key.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, KeyError> {
        let inner = match algorithm {
            KeyAlgorithm::Rsa2048 => Inner::Rsa(
                aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| KeyError::Generation)?,
            ),
            KeyAlgorithm::Rsa1024 => Inner::LegacyRsa(RsaKey::generate(1024)?),
            KeyAlgorithm::Ed25519 => {
                Inner::Ed25519(Ed25519KeyPair::generate().map_err(|_| KeyError::Generation)?)
            }
        };
        Ok(PrivateKey { algorithm, inner })
    }

    /// Reads a key written by [`PrivateKey::to_pem`] (any unencrypted PKCS#8 key of the
    /// algorithm will do).
    pub fn from_pem(algorithm: KeyAlgorithm, pem: &str) -> Result<PrivateKey, KeyError> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != PEM_BEGIN)
            .skip(1)
            .take_while(|l| *l != PEM_END)
            .collect();
        let der = STANDARD
            .decode(body)
            .map_err(|_| KeyError::Malformed("not a PEM \"PRIVATE KEY\" block".into()))?;
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Malformed(e.to_string());
        let inner = match algorithm {
            KeyAlgorithm::Rsa2048 => {
                Inner::Rsa(aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).map_err(rejected)?)
            }
            KeyAlgorithm::Rsa1024 => Inner::LegacyRsa(RsaKey::from_pkcs8_der(&der)?),
            KeyAlgorithm::Ed25519 => {
                Inner::Ed25519(Ed25519KeyPair::from_pkcs8(&der).map_err(rejected)?)
            }
        };
        let key = PrivateKey { algorithm, inner };
        let bits = match &key.inner {
            Inner::Rsa(pair) => Some(pair.public_modulus_len() * 8),
            Inner::LegacyRsa(rsa) => Some(rsa.bits()),
            Inner::Ed25519(_) => None,
        };
        let expected = match algorithm {
            KeyAlgorithm::Rsa2048 => Some(2048),
            KeyAlgorithm::Rsa1024 => Some(1024),
            KeyAlgorithm::Ed25519 => None,
        };
        if bits != expected {
            return Err(KeyError::Malformed(format!(
                "the key has {} bits, not those of {algorithm}",
                bits.unwrap_or(0)
            )));
        }
        Ok(key)
    }

    /// PKCS#8 in PEM.
    pub fn to_pem(&self) -> String {
        let der: Vec<u8> = match &self.inner {
            Inner::Rsa(pair) => pair.as_der().expect("an RSA key encodes").as_ref().to_vec(),
            Inner::LegacyRsa(rsa) => rsa.to_pkcs8_der(),
            Inner::Ed25519(pair) => pair
                .to_pkcs8v1()
                .expect("an Ed25519 key encodes")
                .as_ref()
                .to_vec(),
        };
        let encoded = STANDARD.encode(der);
        let mut pem = format!("{PEM_BEGIN}\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str(PEM_END);
        pem.push('\n');
        pem
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The `p=` value: the SubjectPublicKeyInfo of an RSA key, the 32 raw octets of an
    /// Ed25519 one (RFC 8463 section 4.2), in base64.
    pub fn public_key_base64(&self) -> String {
        match &self.inner {
            Inner::Rsa(pair) => STANDARD.encode(
                pair.public_key()
                    .as_der()
                    .expect("an RSA public key encodes")
                    .as_ref(),
            ),
            Inner::LegacyRsa(rsa) => STANDARD.encode(rsa.public_spki_der()),
            Inner::Ed25519(pair) => STANDARD.encode(pair.public_key().as_ref()),
        }
    }

    /// The TXT record to publish at `SELECTOR._domainkey.DOMAIN`.
    pub fn dns_txt(&self) -> String {
        dns_txt(self.algorithm, &self.public_key_base64())
    }

    /// The signature of a SHA-256 header hash: RSASSA-PKCS1-v1_5 over the digest, or
    /// Ed25519 over the digest's 32 octets (RFC 8463 section 3).
    pub(crate) fn sign_digest(&self, digest: &Digest) -> Result<Vec<u8>, crate::SignError> {
        match &self.inner {
            Inner::Rsa(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign_digest(&RSA_PKCS1_SHA256, digest, &mut signature)
                    .map_err(|_| crate::SignError::Crypto)?;
                Ok(signature)
            }
            Inner::LegacyRsa(rsa) => rsa.sign_sha256_digest(digest.as_ref()),
            Inner::Ed25519(pair) => Ok(pair.sign(digest.as_ref()).as_ref().to_vec()),
        }
    }
}

/// The key record of a public key (`p=`, base64) of `algorithm`.
pub fn dns_txt(algorithm: KeyAlgorithm, public_key_base64: &str) -> String {
    format!("v=DKIM1; k={}; p={public_key_base64}", algorithm.key_type())
}

/// The `p=` of a key record (`v=DKIM1; k=rsa; p=…`), as published, its white space removed;
/// `None` when the record has none. A TXT record split into several strings is to be joined
/// by the caller first.
pub fn public_key_of_record(record: &str) -> Option<String> {
    record.split(';').find_map(|tag| {
        let (name, value) = tag.split_once('=')?;
        (name.trim() == "p").then(|| value.split_whitespace().collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_their_pem_form() {
        for algorithm in KeyAlgorithm::ALL {
            let key = PrivateKey::generate(algorithm).unwrap();
            let pem = key.to_pem();
            assert!(pem.starts_with(PEM_BEGIN), "{pem}");
            let again = PrivateKey::from_pem(algorithm, &pem).unwrap();
            assert_eq!(again.public_key_base64(), key.public_key_base64());
        }
    }

    #[test]
    fn a_key_of_another_algorithm_is_refused() {
        let rsa = PrivateKey::generate(KeyAlgorithm::Rsa2048)
            .unwrap()
            .to_pem();
        let ed = PrivateKey::generate(KeyAlgorithm::Ed25519)
            .unwrap()
            .to_pem();
        assert!(PrivateKey::from_pem(KeyAlgorithm::Ed25519, &rsa).is_err());
        assert!(PrivateKey::from_pem(KeyAlgorithm::Rsa2048, &ed).is_err());
        assert!(PrivateKey::from_pem(KeyAlgorithm::Rsa1024, &rsa).is_err());
        assert!(PrivateKey::from_pem(KeyAlgorithm::Rsa2048, "garbage").is_err());
    }

    #[test]
    fn records_name_the_key_type_and_length() {
        // base64 of a 2048-bit key's SPKI is 392 characters, of a 1024-bit one 216, of an
        // Ed25519 key 44.
        let table = [
            (KeyAlgorithm::Rsa2048, "v=DKIM1; k=rsa; p=MIIBIjAN", 392),
            (KeyAlgorithm::Rsa1024, "v=DKIM1; k=rsa; p=MIGfMA0G", 216),
            (KeyAlgorithm::Ed25519, "v=DKIM1; k=ed25519; p=", 44),
        ];
        for (algorithm, prefix, p_len) in table {
            let record = PrivateKey::generate(algorithm).unwrap().dns_txt();
            assert!(record.starts_with(prefix), "{record}");
            assert_eq!(
                public_key_of_record(&record).unwrap().len(),
                p_len,
                "{record}"
            );
        }
    }

    #[test]
    fn published_keys_are_read_back() {
        let table: [(&str, Option<&str>); 4] = [
            ("v=DKIM1; k=rsa; p=AB CD", Some("ABCD")),
            ("v=DKIM1;p=xyz", Some("xyz")),
            ("v=DKIM1; k=rsa; p=", Some("")),
            ("v=spf1 -all", None),
        ];
        for (record, want) in table {
            assert_eq!(public_key_of_record(record).as_deref(), want, "{record}");
        }
    }
}
