//! Reading a PKCS#12 file (RFC 7292) as OpenSSL 3 and current Windows and macOS write it:
//! the integrity MAC checked with the password, certificates and keys in plain or
//! PBES2-encrypted (PBKDF2 with HMAC-SHA-1/2, AES-CBC) safe contents. The legacy ciphers
//! (RC2, 3DES with the PKCS#12 KDF) are refused with a message that says how to re-export.
//!
//! RustCrypto's `pkcs12` crate was not used: its one release is a pre-release pinned to an
//! older pre-release of `cms` than the one this crate signs with, so the two cannot be in one
//! build; the few structures needed are declared here instead.

use crate::LoadError;
use aws_lc_rs::cipher::{AES_128, AES_256, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::{digest, hmac, pbkdf2};
use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use der::asn1::{Any, ObjectIdentifier, OctetString};
use der::{Decode, Sequence};
use spki::AlgorithmIdentifierOwned;
use std::num::NonZeroU32;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const KEY_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.1");
const SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const PBKDF2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
const AES_128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const AES_256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
const HMAC_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.7");
const HMAC_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.9");
const HMAC_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.10");
const HMAC_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.11");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// `pbeWithSHAAnd…` (RFC 7292 appendix C): RC4, 3DES and RC2 under the PKCS#12 KDF.
const LEGACY_PBE_ARC: &str = "1.2.840.113549.1.12.1";

/// The most PBKDF2 or MAC iterations accepted: far above what any tool writes (OpenSSL: 2048,
/// Windows: 2000), low enough that a hostile file cannot hold the CLI for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

#[derive(Sequence)]
struct Pfx {
    version: u8,
    auth_safe: ContentInfo,
    mac_data: Option<MacData>,
}

fn one() -> u32 {
    1
}

#[derive(Sequence)]
struct MacData {
    mac: DigestInfo,
    mac_salt: OctetString,
    #[asn1(default = "one")]
    iterations: u32,
}

#[derive(Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

#[derive(Sequence)]
struct SafeBag {
    bag_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    bag_value: Any,
    // Friendly names and key IDs are not needed: the key finds its certificate by value.
    bag_attributes: Option<Any>,
}

#[derive(Sequence)]
struct CertBag {
    cert_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    cert_value: OctetString,
}

#[derive(Sequence)]
struct EncryptedPrivateKeyInfo {
    encryption_algorithm: AlgorithmIdentifierOwned,
    encrypted_data: OctetString,
}

#[derive(Sequence)]
struct Pbes2Params {
    key_derivation_func: AlgorithmIdentifierOwned,
    encryption_scheme: AlgorithmIdentifierOwned,
}

#[derive(Sequence)]
struct Pbkdf2Params {
    salt: OctetString,
    iteration_count: u32,
    key_length: Option<u32>,
    prf: Option<AlgorithmIdentifierOwned>,
}

/// What a PKCS#12 file holds: PKCS#8 private keys and DER certificates.
pub(crate) struct Contents {
    pub keys: Vec<Vec<u8>>,
    pub certificates: Vec<Vec<u8>>,
}

fn damaged(what: &str, e: impl std::fmt::Display) -> LoadError {
    LoadError::Pkcs12(format!("{what}: {e}"))
}

pub(crate) fn open(der: &[u8], password: &str) -> Result<Contents, LoadError> {
    let pfx = Pfx::from_der(der).map_err(|e| damaged("not a PKCS#12 file", e))?;
    if pfx.version != 3 {
        return Err(LoadError::Pkcs12(format!(
            "version {} (expected 3)",
            pfx.version
        )));
    }
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(LoadError::Pkcs12(
            "public-key integrity mode is not supported (expected a password MAC)".into(),
        ));
    }
    let auth_safe = pfx
        .auth_safe
        .content
        .decode_as::<OctetString>()
        .map_err(|e| damaged("authenticated safe", e))?;
    match &pfx.mac_data {
        Some(mac) => check_mac(mac, auth_safe.as_bytes(), password)?,
        None => {
            return Err(LoadError::Pkcs12(
                "it has no integrity MAC, so a wrong password could not be told apart".into(),
            ));
        }
    }
    let safes = Vec::<ContentInfo>::from_der(auth_safe.as_bytes())
        .map_err(|e| damaged("authenticated safe", e))?;
    let mut contents = Contents {
        keys: Vec::new(),
        certificates: Vec::new(),
    };
    for safe in safes {
        let bags_der = if safe.content_type == ID_DATA {
            safe.content
                .decode_as::<OctetString>()
                .map_err(|e| damaged("safe contents", e))?
                .into_bytes()
                .into_vec()
        } else if safe.content_type == ID_ENCRYPTED_DATA {
            let encrypted = safe
                .content
                .decode_as::<EncryptedData>()
                .map_err(|e| damaged("encrypted safe contents", e))?;
            let info = encrypted.enc_content_info;
            let ciphertext = info
                .encrypted_content
                .ok_or_else(|| LoadError::Pkcs12("encrypted safe contents are empty".into()))?;
            decrypt(&info.content_enc_alg, ciphertext.as_bytes(), password)?
        } else {
            // Enveloped (public-key privacy) safes: not something a password opens.
            return Err(LoadError::Pkcs12(format!(
                "safe contents of type {} are not supported",
                safe.content_type
            )));
        };
        let bags = Vec::<SafeBag>::from_der(&bags_der).map_err(|e| damaged("safe contents", e))?;
        for bag in bags {
            if bag.bag_id == CERT_BAG {
                let cert: CertBag = bag
                    .bag_value
                    .decode_as()
                    .map_err(|e| damaged("certificate bag", e))?;
                if cert.cert_id == X509_CERTIFICATE {
                    contents
                        .certificates
                        .push(cert.cert_value.into_bytes().into_vec());
                }
            } else if bag.bag_id == SHROUDED_KEY_BAG {
                let shrouded: EncryptedPrivateKeyInfo = bag
                    .bag_value
                    .decode_as()
                    .map_err(|e| damaged("key bag", e))?;
                contents.keys.push(decrypt(
                    &shrouded.encryption_algorithm,
                    shrouded.encrypted_data.as_bytes(),
                    password,
                )?);
            } else if bag.bag_id == KEY_BAG {
                // An unencrypted PKCS#8 key: the bag's value is the PrivateKeyInfo itself.
                contents.keys.push(bag.bag_value.to_der_bytes()?);
            }
        }
    }
    Ok(contents)
}

trait ToDerBytes {
    fn to_der_bytes(&self) -> Result<Vec<u8>, LoadError>;
}

impl ToDerBytes for Any {
    fn to_der_bytes(&self) -> Result<Vec<u8>, LoadError> {
        der::Encode::to_der(self).map_err(|e| damaged("key bag", e))
    }
}

fn iterations(count: u32) -> Result<NonZeroU32, LoadError> {
    NonZeroU32::new(count)
        .filter(|n| n.get() <= MAX_ITERATIONS)
        .ok_or_else(|| LoadError::Pkcs12(format!("{count} iterations")))
}

/// Checks the file's MAC (RFC 7292 §5): a wrong password fails here, before any decryption.
fn check_mac(mac: &MacData, content: &[u8], password: &str) -> Result<(), LoadError> {
    let oid = mac.mac.algorithm.oid;
    let (hash, hmac_alg) = if oid == SHA256 {
        (&digest::SHA256, hmac::HMAC_SHA256)
    } else if oid == SHA1 {
        (
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        )
    } else if oid == SHA384 {
        (&digest::SHA384, hmac::HMAC_SHA384)
    } else if oid == SHA512 {
        (&digest::SHA512, hmac::HMAC_SHA512)
    } else {
        return Err(LoadError::Pkcs12(format!(
            "MAC digest {oid} is not supported"
        )));
    };
    let rounds = iterations(mac.iterations)?;
    let key = pkcs12_kdf(
        hash,
        3,
        &bmp_password(password),
        mac.mac_salt.as_bytes(),
        rounds.get(),
        hash.output_len(),
    );
    let key = hmac::Key::new(hmac_alg, &key);
    hmac::verify(&key, content, mac.mac.digest.as_bytes()).map_err(|_| LoadError::WrongPassword)
}

/// The password as the PKCS#12 KDF takes it: UTF-16BE with a terminating zero (RFC 7292 B.1).
fn bmp_password(password: &str) -> Vec<u8> {
    let mut out: Vec<u8> = password.encode_utf16().flat_map(u16::to_be_bytes).collect();
    out.extend_from_slice(&[0, 0]);
    out
}

/// The PKCS#12 key derivation (RFC 7292 appendix B.2), used here for the MAC key only.
fn pkcs12_kdf(
    hash: &'static digest::Algorithm,
    id: u8,
    password: &[u8],
    salt: &[u8],
    rounds: u32,
    length: usize,
) -> Vec<u8> {
    let u = hash.output_len();
    let v = hash.block_len();
    let fill = |input: &[u8]| -> Vec<u8> {
        if input.is_empty() {
            return Vec::new();
        }
        let len = input.len().div_ceil(v) * v;
        input.iter().copied().cycle().take(len).collect()
    };
    let d = vec![id; v];
    let mut i: Vec<u8> = fill(salt);
    i.extend(fill(password));
    let mut out = Vec::with_capacity(length.div_ceil(u) * u);
    while out.len() < length {
        let mut context = digest::Context::new(hash);
        context.update(&d);
        context.update(&i);
        let mut a = context.finish().as_ref().to_vec();
        for _ in 1..rounds {
            a = digest::digest(hash, &a).as_ref().to_vec();
        }
        out.extend_from_slice(&a);
        if out.len() >= length {
            break;
        }
        let b: Vec<u8> = a.iter().copied().cycle().take(v).collect();
        // I_j = (I_j + B + 1) mod 2^(8v), for each v-byte block of I.
        for block in i.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().zip(&b).rev() {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
    }
    out.truncate(length);
    out
}

/// Decrypts PBES2 (RFC 8018 §6.2) content with the password's UTF-8 bytes, as OpenSSL does.
fn decrypt(
    algorithm: &AlgorithmIdentifierOwned,
    ciphertext: &[u8],
    password: &str,
) -> Result<Vec<u8>, LoadError> {
    if algorithm.oid.to_string().starts_with(LEGACY_PBE_ARC) {
        return Err(LoadError::LegacyPkcs12("RC2, RC4 or 3DES"));
    }
    if algorithm.oid != PBES2 {
        return Err(LoadError::Pkcs12(format!(
            "encryption {} is not supported",
            algorithm.oid
        )));
    }
    let params: Pbes2Params = algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| LoadError::Pkcs12("PBES2 without parameters".into()))?
        .decode_as()
        .map_err(|e| damaged("PBES2 parameters", e))?;
    if params.key_derivation_func.oid != PBKDF2 {
        return Err(LoadError::Pkcs12(format!(
            "key derivation {} is not supported",
            params.key_derivation_func.oid
        )));
    }
    let kdf: Pbkdf2Params = params
        .key_derivation_func
        .parameters
        .as_ref()
        .ok_or_else(|| LoadError::Pkcs12("PBKDF2 without parameters".into()))?
        .decode_as()
        .map_err(|e| damaged("PBKDF2 parameters", e))?;
    let prf = match kdf.prf.as_ref().map(|p| p.oid) {
        None => pbkdf2::PBKDF2_HMAC_SHA1,
        Some(oid) if oid == HMAC_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
        Some(oid) if oid == HMAC_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
        Some(oid) if oid == HMAC_SHA384 => pbkdf2::PBKDF2_HMAC_SHA384,
        Some(oid) if oid == HMAC_SHA512 => pbkdf2::PBKDF2_HMAC_SHA512,
        Some(oid) => {
            return Err(LoadError::Pkcs12(format!(
                "PBKDF2 with {oid} is not supported"
            )));
        }
    };
    let (cipher, key_len) = match params.encryption_scheme.oid {
        oid if oid == AES_256_CBC => (&AES_256, 32),
        oid if oid == AES_128_CBC => (&AES_128, 16),
        oid => {
            return Err(LoadError::Pkcs12(format!(
                "cipher {oid} is not supported (AES-128-CBC and AES-256-CBC are)"
            )));
        }
    };
    if kdf.key_length.is_some_and(|l| l as usize != key_len) {
        return Err(LoadError::Pkcs12(
            "PBKDF2 key length does not fit the cipher".into(),
        ));
    }
    let iv: OctetString = params
        .encryption_scheme
        .parameters
        .as_ref()
        .ok_or_else(|| LoadError::Pkcs12("AES-CBC without an IV".into()))?
        .decode_as()
        .map_err(|e| damaged("AES-CBC IV", e))?;
    let iv: [u8; 16] = iv
        .as_bytes()
        .try_into()
        .map_err(|_| LoadError::Pkcs12("the AES-CBC IV is not 16 bytes".into()))?;
    let mut key = vec![0u8; key_len];
    pbkdf2::derive(
        prf,
        iterations(kdf.iteration_count)?,
        kdf.salt.as_bytes(),
        password.as_bytes(),
        &mut key,
    );
    let cipher_key = UnboundCipherKey::new(cipher, &key).map_err(|_| LoadError::WrongPassword)?;
    let decrypting =
        PaddedBlockDecryptingKey::cbc_pkcs7(cipher_key).map_err(|_| LoadError::WrongPassword)?;
    let mut buffer = ciphertext.to_vec();
    // The MAC has already vouched for the password: a failure here is a damaged file.
    let plain = decrypting
        .decrypt(
            &mut buffer,
            aws_lc_rs::cipher::DecryptionContext::Iv128(iv.into()),
        )
        .map_err(|_| LoadError::Pkcs12("encrypted content does not decrypt".into()))?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7292's KDF against `openssl kdf -kdfopt hexpass:… PKCS12KDF` (the password
    /// "smeg" as BMPString, salt 0A58CF64530D823F): SHA-1 for a key, SHA-256 for a MAC key.
    #[test]
    fn pkcs12_kdf_matches_openssl() {
        let salt = [0x0A, 0x58, 0xCF, 0x64, 0x53, 0x0D, 0x82, 0x3F];
        let table: [(&'static digest::Algorithm, u8, u32, usize, &str); 2] = [
            (
                &digest::SHA1_FOR_LEGACY_USE_ONLY,
                1,
                1,
                24,
                "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3",
            ),
            (
                &digest::SHA256,
                3,
                1000,
                32,
                "35AC16A454D608FB10C8D7C6338CA85818587AED0FF771FD265957E412C2C03C",
            ),
        ];
        for (hash, id, rounds, length, want) in table {
            let key = pkcs12_kdf(hash, id, &bmp_password("smeg"), &salt, rounds, length);
            let hex: String = key.iter().map(|b| format!("{b:02X}")).collect();
            assert_eq!(hex, want);
        }
    }
}
