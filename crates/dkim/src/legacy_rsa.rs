//! RSA-1024, which aws-lc-rs refuses (it signs with 2048 bits and up): generation, PKCS#8 and
//! SubjectPublicKeyInfo DER, and PKCS #1 v1.5 signatures of a SHA-256 digest, computed by
//! AWS-LC itself through its C API (the library aws-lc-rs wraps, so the same constant-time,
//! blinded and self-checked RSA as for 2048-bit keys, at OpenSSL's speed).
//!
//! This is the crate's only unsafe code: each call into C is one `unsafe` block saying why it
//! is sound, and every pointer AWS-LC hands over is owned by a value that frees it on drop.
//! The PKCS#8 and SubjectPublicKeyInfo wrappings (a few fixed DER headers) are done here in
//! Rust; AWS-LC reads and writes the RSA keys inside them (RFC 8017's RSAPrivateKey and
//! RSAPublicKey) and checks a key it reads for consistency.
//!
//! RSA-1024 exists for DNS hosts that cannot publish a 2048-bit key; RSA-2048 is the default
//! and goes through aws-lc-rs.

#![allow(unsafe_code)]

use crate::{KeyError, SignError};
use aws_lc_sys as ffi;
use std::ptr::NonNull;

const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const SHA256_LEN: usize = 32;

/// An RSA private key owned by AWS-LC.
pub struct RsaKey {
    rsa: NonNull<ffi::RSA>,
}

// SAFETY: the RSA object is owned by this value alone (never shared, never handed back to C
// to keep), and AWS-LC documents an RSA object as usable from several threads at once by its
// non-mutating functions, which are the only ones called after construction (RSA_sign,
// RSA_bits, RSA_size and the encoders: "considered non-mutating for thread-safety purposes").
unsafe impl Send for RsaKey {}
// SAFETY: as for Send: only non-mutating functions are called through a shared reference.
unsafe impl Sync for RsaKey {}

impl Drop for RsaKey {
    fn drop(&mut self) {
        // SAFETY: `rsa` came from RSA_new or RSA_private_key_from_bytes, is owned by this
        // value alone and is freed exactly once, here.
        unsafe { ffi::RSA_free(self.rsa.as_ptr()) }
    }
}

/// A BIGNUM owned by Rust (the public exponent handed to key generation).
struct BigNum(NonNull<ffi::BIGNUM>);

impl Drop for BigNum {
    fn drop(&mut self) {
        // SAFETY: the pointer came from BN_new, is owned by this value alone and is freed
        // exactly once, here.
        unsafe { ffi::BN_free(self.0.as_ptr()) }
    }
}

/// A buffer AWS-LC allocated and handed over (the encoders' output).
struct CBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

impl CBuffer {
    fn as_slice(&self) -> &[u8] {
        // SAFETY: AWS-LC wrote `len` initialised bytes at `ptr` and gave up the buffer to us;
        // it lives until this value drops.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for CBuffer {
    fn drop(&mut self) {
        // SAFETY: the buffer was allocated by AWS-LC's allocator (the encoders document that
        // the caller frees it with OPENSSL_free), owned by this value alone, freed once.
        // OPENSSL_free also zeroes it, which matters for an encoded private key.
        unsafe { ffi::OPENSSL_free(self.ptr.as_ptr().cast()) }
    }
}

/// Runs an AWS-LC encoder of the `fn(&mut *mut u8, &mut usize, *const RSA) -> c_int` shape.
fn encoded(
    encoder: unsafe extern "C" fn(*mut *mut u8, *mut usize, *const ffi::RSA) -> std::ffi::c_int,
    rsa: &RsaKey,
) -> Option<CBuffer> {
    let mut out: *mut u8 = std::ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: `out` and `len` are valid places for the encoder to write to; `rsa` is a live
    // key for the whole call. On success the encoder hands over a buffer of `len` bytes.
    let ok = unsafe { encoder(&mut out, &mut len, rsa.rsa.as_ptr()) };
    if ok != 1 {
        return None;
    }
    NonNull::new(out).map(|ptr| CBuffer { ptr, len })
}

impl RsaKey {
    /// A new key with a modulus of `bits` bits and the public exponent 65537.
    pub fn generate(bits: u16) -> Result<RsaKey, KeyError> {
        // SAFETY: RSA_new takes no argument and returns an owned object or NULL.
        let key = RsaKey {
            rsa: NonNull::new(unsafe { ffi::RSA_new() }).ok_or(KeyError::Generation)?,
        };
        // SAFETY: BN_new takes no argument and returns an owned BIGNUM or NULL.
        let e = BigNum(NonNull::new(unsafe { ffi::BN_new() }).ok_or(KeyError::Generation)?);
        // SAFETY: `e` is a live BIGNUM owned here.
        if unsafe { ffi::BN_set_word(e.0.as_ptr(), ffi::RSA_F4 as ffi::BN_ULONG) } != 1 {
            return Err(KeyError::Generation);
        }
        // SAFETY: `key.rsa` is a fresh, empty RSA object owned here, `e` a live BIGNUM that
        // the call only reads, and a NULL callback is allowed.
        let ok = unsafe {
            ffi::RSA_generate_key_ex(
                key.rsa.as_ptr(),
                std::ffi::c_int::from(bits),
                e.0.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        if ok != 1 {
            return Err(KeyError::Generation);
        }
        Ok(key)
    }

    /// The modulus's length in bits.
    pub fn bits(&self) -> usize {
        // SAFETY: a live key; RSA_bits only reads it.
        unsafe { ffi::RSA_bits(self.rsa.as_ptr()) as usize }
    }

    /// The signature of a SHA-256 `digest`: RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2).
    pub fn sign_sha256_digest(&self, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        if digest.len() != SHA256_LEN {
            return Err(SignError::Crypto);
        }
        // SAFETY: a live key; RSA_size only reads it.
        let size = unsafe { ffi::RSA_size(self.rsa.as_ptr()) } as usize;
        let mut signature = vec![0u8; size];
        let mut written: std::ffi::c_uint = 0;
        // SAFETY: `digest` is readable for its length, `signature` writable for RSA_size(rsa)
        // bytes (the most RSA_sign writes), `written` a valid place for the length. RSA_sign
        // takes a non-const pointer but is documented as non-mutating for thread-safety.
        let ok = unsafe {
            ffi::RSA_sign(
                ffi::NID_sha256,
                digest.as_ptr(),
                digest.len(),
                signature.as_mut_ptr(),
                &mut written,
                self.rsa.as_ptr(),
            )
        };
        if ok != 1 {
            return Err(SignError::Crypto);
        }
        signature.truncate(written as usize);
        Ok(signature)
    }

    /// PKCS#8 PrivateKeyInfo DER (RFC 5208) around the RFC 8017 RSAPrivateKey.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        let key =
            encoded(ffi::RSA_private_key_to_bytes, self).expect("AWS-LC encodes a key it holds");
        let mut info = vec![0x02, 0x01, 0x00];
        info.extend(rsa_algorithm());
        info.extend(der_tlv(0x04, key.as_slice()));
        der_tlv(0x30, &info)
    }

    /// Reads what [`RsaKey::to_pkcs8_der`] wrote (or any unencrypted PKCS#8 RSA key); AWS-LC
    /// checks that the key's numbers belong together.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<RsaKey, KeyError> {
        let bad = || KeyError::Malformed("not a PKCS#8 RSA private key".into());
        let mut all = Reader(der);
        let mut outer = all.sequence().ok_or_else(bad)?;
        if !all.0.is_empty() {
            return Err(bad());
        }
        outer.tlv(0x02).ok_or_else(bad)?;
        let algorithm = outer.tlv(0x30).ok_or_else(bad)?;
        let mut algorithm = Reader(algorithm);
        if algorithm.tlv(0x06) != Some(RSA_ENCRYPTION_OID) {
            return Err(bad());
        }
        let key = outer.tlv(0x04).ok_or_else(bad)?;
        // SAFETY: `key` is readable for its length for the whole call; AWS-LC copies what it
        // needs and returns an owned object or NULL.
        let rsa = unsafe { ffi::RSA_private_key_from_bytes(key.as_ptr(), key.len()) };
        let rsa = NonNull::new(rsa).ok_or_else(|| {
            KeyError::Malformed("the RSA private key inside the PKCS#8 is invalid".into())
        })?;
        Ok(RsaKey { rsa })
    }

    /// The public key as SubjectPublicKeyInfo DER, what DKIM's `p=` holds.
    pub fn public_spki_der(&self) -> Vec<u8> {
        let public =
            encoded(ffi::RSA_public_key_to_bytes, self).expect("AWS-LC encodes a key it holds");
        let mut bits = vec![0u8];
        bits.extend_from_slice(public.as_slice());
        let mut spki = rsa_algorithm();
        spki.extend(der_tlv(0x03, &bits));
        der_tlv(0x30, &spki)
    }
}

fn rsa_algorithm() -> Vec<u8> {
    let mut algorithm = der_tlv(0x06, RSA_ENCRYPTION_OID);
    algorithm.extend([0x05, 0x00]);
    der_tlv(0x30, &algorithm)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A cursor over DER: just enough to find the RSA key inside a PKCS#8 envelope.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn tlv(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&found, rest) = self.0.split_first()?;
        if found != tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let count = (first & 0x7f) as usize;
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let len = rest[..count]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize);
            rest = &rest[count..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let (content, rest) = rest.split_at(len);
        self.0 = rest;
        Some(content)
    }

    fn sequence(&mut self) -> Option<Reader<'a>> {
        self.tlv(0x30).map(Reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, UnparsedPublicKey};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    /// A 1024-bit key written by `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024`
    /// (PKCS#8, the form keys were stored in before AWS-LC signed them), with its public key
    /// as `openssl pkey -pubout` printed it.
    const OPENSSL_KEY: &str = include_str!("../tests/data/rsa1024.pkcs8.pem");
    const OPENSSL_PUBLIC: &str = include_str!("../tests/data/rsa1024.spki.pem");

    fn pem_body(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(body).unwrap()
    }

    /// The RSAPublicKey inside a SubjectPublicKeyInfo, what aws-lc-rs verifies with.
    fn rsa_public_key_of(spki: &[u8]) -> Vec<u8> {
        let mut outer = Reader(spki).sequence().unwrap();
        outer.tlv(0x30).unwrap();
        outer.tlv(0x03).unwrap()[1..].to_vec()
    }

    fn verifies(spki: &[u8], message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(
            &RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            rsa_public_key_of(spki),
        )
        .verify(message, signature)
        .is_ok()
    }

    #[test]
    fn keys_round_trip_through_pkcs8_and_sign_verifiably() {
        let key = RsaKey::generate(1024).unwrap();
        assert_eq!(key.bits(), 1024);
        let der = key.to_pkcs8_der();
        let again = RsaKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(again.to_pkcs8_der(), der);
        assert_eq!(again.public_spki_der(), key.public_spki_der());
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"message");
        let signature = again.sign_sha256_digest(digest.as_ref()).unwrap();
        assert_eq!(signature.len(), 128);
        let spki = key.public_spki_der();
        assert!(verifies(&spki, b"message", &signature));
        assert!(!verifies(&spki, b"other", &signature));
    }

    #[test]
    fn a_key_openssl_wrote_loads_unchanged_and_signs() {
        let der = pem_body(OPENSSL_KEY);
        let key = RsaKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(key.bits(), 1024);
        // The stored form is unchanged byte for byte: what was sealed before still loads, and
        // what is sealed now is what OpenSSL writes.
        assert_eq!(key.to_pkcs8_der(), der);
        assert_eq!(key.public_spki_der(), pem_body(OPENSSL_PUBLIC));
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"hello");
        let signature = key.sign_sha256_digest(digest.as_ref()).unwrap();
        assert!(verifies(&key.public_spki_der(), b"hello", &signature));
        // PKCS #1 v1.5 is deterministic: the same digest, the same signature.
        assert_eq!(key.sign_sha256_digest(digest.as_ref()).unwrap(), signature);
    }

    #[test]
    fn hostile_der_is_refused_not_crashed_on() {
        let good = pem_body(OPENSSL_KEY);
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![0x30],
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            vec![0x30, 0x80, 0x00, 0x00],
            good[..good.len() / 2].to_vec(),
            [good.as_slice(), &[0]].concat(),
        ];
        // Every single-byte corruption of the envelope and of the key's first numbers.
        for i in 0..64 {
            let mut flipped = good.clone();
            flipped[i] ^= 0x41;
            cases.push(flipped);
        }
        // A flipped bit deep in a prime: well-formed DER, inconsistent numbers.
        let mut prime = good.clone();
        let at = good.len() - 200;
        prime[at] ^= 0x01;
        cases.push(prime);
        for (i, der) in cases.iter().enumerate() {
            if let Ok(key) = RsaKey::from_pkcs8_der(der) {
                // A corruption the checks cannot see (e.g. in the version number) must still
                // give a key that signs correctly.
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"x");
                let signature = key.sign_sha256_digest(digest.as_ref()).unwrap();
                assert!(
                    verifies(&key.public_spki_der(), b"x", &signature),
                    "case {i}"
                );
            }
        }
        assert!(RsaKey::from_pkcs8_der(&cases[cases.len() - 1]).is_err());
        assert!(RsaKey::from_pkcs8_der(&cases[5]).is_err());
    }

    #[test]
    fn only_sha256_digests_are_signed() {
        let key = RsaKey::from_pkcs8_der(&pem_body(OPENSSL_KEY)).unwrap();
        assert!(key.sign_sha256_digest(&[0u8; 20]).is_err());
        assert!(key.sign_sha256_digest(&[]).is_err());
    }
}
