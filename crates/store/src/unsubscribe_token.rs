//! The tokens of one-click unsubscribe links and addresses.
//!
//! The link's token is sealed (XChaCha20-Poly1305, which authenticates as it encrypts) and
//! carries the contract, the recipient's address and the message: opening it needs no database,
//! and only the platform's key makes one, so nobody can unsubscribe a stranger by guessing. The
//! address stays unreadable to whoever sees the URL in a log. A fresh random nonce makes every
//! token unique, even for one message and recipient.
//!
//! A mailto address cannot carry that much: a local part holds at most 64 octets (RFC 5321)
//! and some MTAs fold its case. It takes the form of a VERP return path instead —
//! `u-<message id>-<tag>`, lowercase, the tag a truncated HMAC — and names only the message;
//! a message with unsubscribe on has exactly one recipient (the relay sends each recipient its
//! own copy), which the message's record gives.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hikyaku_model::{CustomerId, MessageId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const AEAD_TAG_LEN: usize = 16;
/// Binds a sealed token to its use: a ciphertext made for anything else never opens as one.
const ASSOCIATED_DATA: &[u8] = b"hikyaku/unsubscribe-link/v1";
/// Longer than any token we make (a 254-byte address gives about 420 characters): anything
/// longer is refused before any decoding.
const MAX_TOKEN_LEN: usize = 1024;
const MAILTO_PREFIX: &str = "u-";
/// 60 bits, as for VERP return paths: guessing one takes 2^59 tries on average.
const MAILTO_TAG_LEN: usize = 12;
const BASE32: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// What an unsubscribe link is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeToken {
    pub customer_id: CustomerId,
    pub message_id: MessageId,
    pub address: String,
}

/// Why a link's token was refused. Every case means "not a link we made": the page says so
/// without telling which (an attacker learns nothing from the difference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadToken {
    #[error("the token is empty or too long")]
    Length,
    #[error("the token is not URL-safe base64")]
    Encoding,
    #[error("the token is of an unknown version")]
    Version,
    #[error("the token was not made with this key, or was altered")]
    NotAuthentic,
    #[error("the token's contents are malformed")]
    Malformed,
}

/// The key of unsubscribe tokens, derived from the operator's secret key (see
/// [`crate::SealingKey::unsubscribe_key`]), so every node sharing the key file opens every
/// node's links.
#[derive(Clone)]
pub struct UnsubscribeKey {
    cipher: XChaCha20Poly1305,
    mailto: HmacSha256,
}

impl std::fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsubscribeKey(..)")
    }
}

impl UnsubscribeKey {
    pub fn new(secret: [u8; 32]) -> UnsubscribeKey {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac =
                <HmacSha256 as Mac>::new_from_slice(&secret).expect("HMAC takes any key length");
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        UnsubscribeKey {
            cipher: XChaCha20Poly1305::new(&derive(b"link").into()),
            mailto: <HmacSha256 as Mac>::new_from_slice(&derive(b"mailto"))
                .expect("HMAC takes any key length"),
        }
    }

    /// The token of a link, URL-safe as it is (base64url without padding).
    pub fn seal(&self, token: &UnsubscribeToken) -> String {
        let customer = token.customer_id.as_str().as_bytes();
        let mut plaintext = Vec::with_capacity(17 + customer.len() + token.address.len());
        plaintext.extend_from_slice(&token.message_id.to_bytes());
        // Customer IDs are at most 32 bytes (`CustomerId`'s own rule).
        plaintext.push(customer.len() as u8);
        plaintext.extend_from_slice(customer);
        plaintext.extend_from_slice(token.address.as_bytes());
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: ASSOCIATED_DATA,
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut raw = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        raw.push(VERSION);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Opens a link's token: what it is about, or why it is not one of ours.
    pub fn open(&self, token: &str) -> Result<UnsubscribeToken, BadToken> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(BadToken::Length);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| BadToken::Encoding)?;
        let (&version, rest) = raw.split_first().ok_or(BadToken::Length)?;
        if version != VERSION {
            return Err(BadToken::Version);
        }
        if rest.len() < NONCE_LEN + AEAD_TAG_LEN {
            return Err(BadToken::NotAuthentic);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| BadToken::NotAuthentic)?;
        // Authentic, so made by `seal`; checked all the same, since a mistake here must not
        // become a panic on a public endpoint.
        let id: [u8; 16] = plaintext
            .get(..16)
            .and_then(|b| b.try_into().ok())
            .ok_or(BadToken::Malformed)?;
        let customer_len = usize::from(*plaintext.get(16).ok_or(BadToken::Malformed)?);
        let customer = plaintext
            .get(17..17 + customer_len)
            .ok_or(BadToken::Malformed)?;
        let address = plaintext
            .get(17 + customer_len..)
            .ok_or(BadToken::Malformed)?;
        let customer_id = std::str::from_utf8(customer)
            .ok()
            .and_then(|c| c.parse().ok())
            .ok_or(BadToken::Malformed)?;
        let address = String::from_utf8(address.to_vec()).map_err(|_| BadToken::Malformed)?;
        if address.is_empty() {
            return Err(BadToken::Malformed);
        }
        Ok(UnsubscribeToken {
            customer_id,
            message_id: MessageId::from_bytes(id),
            address,
        })
    }

    /// The local part of the mailto address of `message` (`u-<id>-<tag>`, 41 characters).
    pub fn mailto_local_part(&self, message: MessageId) -> String {
        let body = format!("{MAILTO_PREFIX}{message}");
        let tag = self.mailto_tag(&body);
        format!("{body}-{tag}")
    }

    /// The message a mailto address (or its local part) names, if it is one we made, in any
    /// case. The domain is the caller's to check.
    pub fn open_mailto(&self, address: &str) -> Option<MessageId> {
        let local = address
            .rsplit_once('@')
            .map_or(address, |(local, _)| local)
            .to_ascii_lowercase();
        let (body, tag) = local.rsplit_once('-')?;
        let id = body.strip_prefix(MAILTO_PREFIX)?;
        let message: MessageId = id.parse().ok()?;
        // Over the canonical form, so that only what `mailto_local_part` made is taken.
        let canonical = format!("{MAILTO_PREFIX}{message}");
        let expected = self.mailto_tag(&canonical);
        let same = canonical == body
            && tag.len() == expected.len()
            && tag
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then_some(message)
    }

    fn mailto_tag(&self, body: &str) -> String {
        let mut mac = self.mailto.clone();
        mac.update(body.as_bytes());
        let digest = mac.finalize().into_bytes();
        let bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        (0..MAILTO_TAG_LEN)
            .map(|i| BASE32[((bits >> (59 - 5 * i)) & 31) as usize] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hikyaku_model::Timestamp;

    fn token(address: &str) -> UnsubscribeToken {
        UnsubscribeToken {
            customer_id: "c2b3d4f5g".parse().unwrap(),
            message_id: MessageId::new(Timestamp(1_795_577_520_000)),
            address: address.to_string(),
        }
    }

    #[test]
    fn links_round_trip_and_are_unique_and_opaque() {
        let key = UnsubscribeKey::new([3; 32]);
        for address in [
            "bob@example.jp",
            "\"odd@local\"@example.jp",
            "太郎@例え.jp",
            &format!("{}@example.jp", "a".repeat(240)),
        ] {
            let t = token(address);
            let sealed = key.seal(&t);
            assert!(sealed.len() < MAX_TOKEN_LEN, "{}", sealed.len());
            assert!(
                sealed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "URL-safe: {sealed}"
            );
            assert!(!sealed.contains("example"), "{sealed}");
            assert_eq!(key.open(&sealed), Ok(t.clone()));
            assert_ne!(key.seal(&t), sealed, "a fresh nonce every time");
        }
    }

    #[test]
    fn hostile_links_are_refused_never_trusted() {
        let key = UnsubscribeKey::new([3; 32]);
        let good = key.seal(&token("bob@example.jp"));
        let mut altered = URL_SAFE_NO_PAD.decode(&good).unwrap();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        let mut altered_body = URL_SAFE_NO_PAD.decode(&good).unwrap();
        altered_body[30] ^= 0x80;
        let mut other_version = URL_SAFE_NO_PAD.decode(&good).unwrap();
        other_version[0] = 2;
        let raw = URL_SAFE_NO_PAD.decode(&good).unwrap();
        let made_by_other_key = UnsubscribeKey::new([4; 32]).seal(&token("bob@example.jp"));
        let table: [(String, BadToken); 11] = [
            (String::new(), BadToken::Length),
            ("x".repeat(MAX_TOKEN_LEN + 1), BadToken::Length),
            ("not base64!".into(), BadToken::Encoding),
            ("%2e%2e%2f".into(), BadToken::Encoding),
            (
                URL_SAFE_NO_PAD.encode(&raw[..raw.len() - 4]),
                BadToken::NotAuthentic,
            ),
            (URL_SAFE_NO_PAD.encode(&raw[..15]), BadToken::NotAuthentic),
            ("AQ".into(), BadToken::NotAuthentic),
            (URL_SAFE_NO_PAD.encode(&altered), BadToken::NotAuthentic),
            (
                URL_SAFE_NO_PAD.encode(&altered_body),
                BadToken::NotAuthentic,
            ),
            (URL_SAFE_NO_PAD.encode(&other_version), BadToken::Version),
            (made_by_other_key, BadToken::NotAuthentic),
        ];
        for (bad, why) in table {
            assert_eq!(key.open(&bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn mailto_addresses_fit_a_local_part_survive_case_folding_and_refuse_forgeries() {
        let key = UnsubscribeKey::new([3; 32]);
        let other = UnsubscribeKey::new([4; 32]);
        let message = MessageId::new(Timestamp(1_795_577_520_000));
        let local = key.mailto_local_part(message);
        assert!(local.len() <= 64, "RFC 5321 local-part limit: {local}");
        assert_eq!(local, local.to_ascii_lowercase());
        assert_eq!(key.open_mailto(&local), Some(message));
        assert_eq!(
            key.open_mailto(&format!("{}@Bounce.Example.JP", local.to_uppercase())),
            Some(message)
        );
        let (body, tag) = local.rsplit_once('-').unwrap();
        let flipped = if tag.starts_with('0') { "1" } else { "0" };
        for bad in [
            other.mailto_local_part(message),
            format!("{body}-{flipped}{}", &tag[1..]),
            format!("{body}-{}", &tag[1..]),
            format!("{body}-"),
            body.to_string(),
            format!("b{}", &local[1..]),
            format!("u--{tag}"),
            String::new(),
            "unsubscribe@example.jp".into(),
        ] {
            assert_eq!(key.open_mailto(&bad), None, "{bad:?}");
        }
    }
}
