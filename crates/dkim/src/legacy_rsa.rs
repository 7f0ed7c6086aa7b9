//! RSA-1024, which aws-lc-rs refuses (it signs with 2048 bits and up): generation, PKCS#8 and
//! SubjectPublicKeyInfo DER, and PKCS #1 v1.5 signatures of a SHA-256 digest, over num-bigint.
//!
//! num-bigint is not written to run in constant time, so every signature is blinded (the
//! secret exponent is applied to `m·rᵉ` for a fresh random `r`, RFC 8017 section 5.1.2's
//! usual counter-measure) and checked with the public key before it is used (a fault must not
//! hand out a signature that leaks the key). RSA-1024 exists for DNS hosts that cannot publish
//! a 2048-bit key; RSA-2048 is the default and goes through aws-lc-rs.

use crate::KeyError;
use num_bigint::BigUint;

const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// The DER DigestInfo of a SHA-256 digest, up to the digest itself (RFC 8017 section 9.2).
const SHA256_DIGEST_INFO: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const PUBLIC_EXPONENT: u32 = 65537;

/// An RSA private key with the CRT parameters.
pub struct RsaKey {
    n: BigUint,
    e: BigUint,
    d: BigUint,
    p: BigUint,
    q: BigUint,
    dp: BigUint,
    dq: BigUint,
    qinv: BigUint,
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source works");
    bytes
}

const SMALL_PRIMES: [u32; 53] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193,
    197, 199, 211, 223, 227, 229, 233, 239, 241, 251,
];

/// Miller–Rabin with random bases; an error probability of at most 4⁻⁴⁰.
fn probably_prime(n: &BigUint) -> bool {
    for small in SMALL_PRIMES {
        if (n % small) == BigUint::ZERO {
            return *n == BigUint::from(small);
        }
    }
    let one = BigUint::from(1u32);
    let two = BigUint::from(2u32);
    let n_minus_1 = n - &one;
    let s = n_minus_1.trailing_zeros().unwrap_or(0);
    let d = &n_minus_1 >> s;
    let len = n.to_bytes_be().len();
    'rounds: for _ in 0..40 {
        let a = BigUint::from_bytes_be(&random_bytes(len)) % (n - 3u32) + &two;
        let mut x = a.modpow(&d, n);
        if x == one || x == n_minus_1 {
            continue;
        }
        for _ in 1..s {
            x = x.modpow(&two, n);
            if x == n_minus_1 {
                continue 'rounds;
            }
        }
        return false;
    }
    true
}

/// A prime of `bits` bits whose top two bits are set (so that two of them make a modulus of
/// exactly twice the bits) and for which 65537 is a valid exponent.
fn random_prime(bits: usize) -> BigUint {
    let e = BigUint::from(PUBLIC_EXPONENT);
    loop {
        let mut bytes = random_bytes(bits / 8);
        bytes[0] |= 0xc0;
        let last = bytes.len() - 1;
        bytes[last] |= 1;
        let candidate = BigUint::from_bytes_be(&bytes);
        if (&candidate - 1u32) % &e != BigUint::ZERO && probably_prime(&candidate) {
            return candidate;
        }
    }
}

impl RsaKey {
    /// A new key with a modulus of `bits` bits (a multiple of 16).
    pub fn generate(bits: usize) -> RsaKey {
        let e = BigUint::from(PUBLIC_EXPONENT);
        loop {
            let p = random_prime(bits / 2);
            let q = random_prime(bits / 2);
            if p == q {
                continue;
            }
            let (p, q) = if p > q { (p, q) } else { (q, p) };
            let phi = (&p - 1u32) * (&q - 1u32);
            let Some(d) = e.modinv(&phi) else { continue };
            let Some(qinv) = q.modinv(&p) else { continue };
            let n = &p * &q;
            if n.bits() as usize != bits {
                continue;
            }
            return RsaKey {
                dp: &d % (&p - 1u32),
                dq: &d % (&q - 1u32),
                n,
                e,
                d,
                p,
                q,
                qinv,
            };
        }
    }

    /// The modulus's length in bits.
    pub fn bits(&self) -> usize {
        self.n.bits() as usize
    }

    /// The signature of a SHA-256 `digest`: RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2).
    pub fn sign_sha256_digest(&self, digest: &[u8]) -> Vec<u8> {
        let k = self.n.to_bytes_be().len();
        let mut encoded = vec![0xffu8; k];
        encoded[0] = 0;
        encoded[1] = 1;
        let tail = SHA256_DIGEST_INFO.len() + digest.len();
        encoded[k - tail - 1] = 0;
        encoded[k - tail..k - digest.len()].copy_from_slice(SHA256_DIGEST_INFO);
        encoded[k - digest.len()..].copy_from_slice(digest);
        let m = BigUint::from_bytes_be(&encoded);
        loop {
            let r = BigUint::from_bytes_be(&random_bytes(k)) % &self.n;
            let Some(r_inv) = r.modinv(&self.n) else {
                continue;
            };
            let blinded = (&m * r.modpow(&self.e, &self.n)) % &self.n;
            let s = (self.private(&blinded) * r_inv) % &self.n;
            if s.modpow(&self.e, &self.n) != m {
                continue;
            }
            let bytes = s.to_bytes_be();
            let mut signature = vec![0u8; k - bytes.len()];
            signature.extend_from_slice(&bytes);
            return signature;
        }
    }

    /// `c^d mod n` by the Chinese remainder theorem.
    fn private(&self, c: &BigUint) -> BigUint {
        let m1 = c.modpow(&self.dp, &self.p);
        let m2 = c.modpow(&self.dq, &self.q);
        let difference = (&m1 + &self.p - (&m2 % &self.p)) % &self.p;
        let h = (&self.qinv * difference) % &self.p;
        m2 + h * &self.q
    }

    /// PKCS#8 PrivateKeyInfo DER (RFC 5208) around the RFC 8017 RSAPrivateKey.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        let mut key = Vec::new();
        for n in [
            &BigUint::ZERO,
            &self.n,
            &self.e,
            &self.d,
            &self.p,
            &self.q,
            &self.dp,
            &self.dq,
            &self.qinv,
        ] {
            der_integer(n, &mut key);
        }
        let key = der_tlv(0x30, &key);
        let mut info = Vec::new();
        der_integer(&BigUint::ZERO, &mut info);
        info.extend(rsa_algorithm());
        info.extend(der_tlv(0x04, &key));
        der_tlv(0x30, &info)
    }

    /// Reads what [`RsaKey::to_pkcs8_der`] wrote (or any PKCS#8 RSA key).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<RsaKey, KeyError> {
        let bad = || KeyError::Malformed("not a PKCS#8 RSA private key".into());
        let mut outer = Reader(der).sequence().ok_or_else(bad)?;
        outer.integer().ok_or_else(bad)?;
        let algorithm = outer.tlv(0x30).ok_or_else(bad)?;
        if !algorithm
            .windows(RSA_ENCRYPTION_OID.len())
            .any(|w| w == RSA_ENCRYPTION_OID)
        {
            return Err(bad());
        }
        let key = outer.tlv(0x04).ok_or_else(bad)?;
        let mut key = Reader(key).sequence().ok_or_else(bad)?;
        let mut next = || key.integer().ok_or_else(bad);
        let _version = next()?;
        Ok(RsaKey {
            n: next()?,
            e: next()?,
            d: next()?,
            p: next()?,
            q: next()?,
            dp: next()?,
            dq: next()?,
            qinv: next()?,
        })
    }

    /// The public key as SubjectPublicKeyInfo DER, what DKIM's `p=` holds.
    pub fn public_spki_der(&self) -> Vec<u8> {
        let mut public = Vec::new();
        der_integer(&self.n, &mut public);
        der_integer(&self.e, &mut public);
        let public = der_tlv(0x30, &public);
        let mut bits = vec![0u8];
        bits.extend(public);
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

fn der_integer(n: &BigUint, out: &mut Vec<u8>) {
    let mut bytes = n.to_bytes_be();
    if bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    out.extend(der_tlv(0x02, &bytes));
}

/// A cursor over DER: just enough to read PKCS#8 RSA keys back.
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

    fn integer(&mut self) -> Option<BigUint> {
        self.tlv(0x02).map(BigUint::from_bytes_be)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primality_is_recognised() {
        let primes = [65537u32, 251, 7919, 104_729];
        for p in primes {
            assert!(probably_prime(&BigUint::from(p)), "{p}");
        }
        for composite in [65535u32, 561, 7917, 104_730, 1_000_001] {
            assert!(!probably_prime(&BigUint::from(composite)), "{composite}");
        }
    }

    #[test]
    fn keys_round_trip_through_pkcs8_and_sign_verifiably() {
        let key = RsaKey::generate(1024);
        assert_eq!(key.bits(), 1024);
        let again = RsaKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
        assert_eq!(again.n, key.n);
        assert_eq!(again.qinv, key.qinv);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"message");
        let signature = again.sign_sha256_digest(digest.as_ref());
        assert_eq!(signature.len(), 128);
        // aws-lc-rs verifies 1024-bit signatures under its legacy algorithm, from the SPKI.
        let spki = key.public_spki_der();
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            rsa_public_key_of(&spki),
        );
        public.verify(b"message", &signature).unwrap();
        assert!(public.verify(b"other", &signature).is_err());
    }

    /// The RSAPublicKey inside a SubjectPublicKeyInfo.
    fn rsa_public_key_of(spki: &[u8]) -> Vec<u8> {
        let mut outer = Reader(spki).sequence().unwrap();
        outer.tlv(0x30).unwrap();
        outer.tlv(0x03).unwrap()[1..].to_vec()
    }
}
