//! VERP return paths: the envelope sender every outgoing message carries, so that a bounce comes
//! back to the error server and says which message (and recipient) it is about.
//!
//! Local part: `b-<message id>-<recipient index or "m">-<tag>`, all lowercase so that MTAs that
//! fold case cannot break it. The tag is an HMAC-SHA256 of the rest (truncated to 60 bits, 12
//! base32 characters) under a key only the platform holds, so forged or mistyped bounce addresses
//! are refused instead of suppressing a stranger's recipient. A transaction that carries several
//! recipients of one domain at once uses `m` (the message as a whole); the error server then
//! takes the recipient from the bounce itself (its `Final-Recipient`).

use crate::MessageId;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

const TAG_LEN: usize = 12;
const TAG_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Which recipient of the message a bounce to this address is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerpRecipient {
    /// The recipient at this index of the message's envelope.
    Index(u32),
    /// Any of the message's recipients (a transaction that carried several).
    Message,
}

/// A decoded, authenticated VERP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerpAddress {
    pub message: MessageId,
    pub recipient: VerpRecipient,
}

/// The key that authenticates VERP addresses; every node of a deployment must share it.
#[derive(Clone)]
pub struct VerpKey([u8; 32]);

impl fmt::Debug for VerpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VerpKey(..)")
    }
}

impl VerpKey {
    pub fn new(key: [u8; 32]) -> Self {
        VerpKey(key)
    }

    fn tag(&self, text: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length works");
        mac.update(text.as_bytes());
        let digest = mac.finalize().into_bytes();
        let bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        (0..TAG_LEN)
            .map(|i| TAG_ALPHABET[((bits >> (59 - 5 * i)) & 31) as usize] as char)
            .collect()
    }

    /// The return path for `address` on `bounce_domain`.
    pub fn encode(&self, address: VerpAddress, bounce_domain: &str) -> String {
        let recipient = match address.recipient {
            VerpRecipient::Index(i) => i.to_string(),
            VerpRecipient::Message => "m".to_string(),
        };
        let body = format!("b-{}-{recipient}", address.message);
        let tag = self.tag(&body);
        format!("{body}-{tag}@{}", bounce_domain.to_ascii_lowercase())
    }

    /// Decodes and authenticates a local part (or a whole address; the domain is the caller's
    /// to check). `None` for anything that is not a VERP address made with this key.
    pub fn decode(&self, address: &str) -> Option<VerpAddress> {
        let local = address
            .rsplit_once('@')
            .map_or(address, |(local, _)| local)
            .to_ascii_lowercase();
        let (body, tag) = local.rsplit_once('-')?;
        let mut parts = body.splitn(3, '-');
        if parts.next()? != "b" {
            return None;
        }
        let message: MessageId = parts.next()?.parse().ok()?;
        let recipient = match parts.next()? {
            "m" => VerpRecipient::Message,
            n if !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()) => {
                VerpRecipient::Index(n.parse().ok()?)
            }
            _ => return None,
        };
        // Recompute over the canonical form, so that only what `encode` produced is accepted.
        let canonical = match recipient {
            VerpRecipient::Index(i) => format!("b-{message}-{i}"),
            VerpRecipient::Message => format!("b-{message}-m"),
        };
        (canonical == body && constant_time_eq(self.tag(&canonical).as_bytes(), tag.as_bytes()))
            .then_some(VerpAddress { message, recipient })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    #[test]
    fn round_trips_and_survives_case_folding() {
        let key = VerpKey::new([7; 32]);
        let message = MessageId::new(Timestamp(1_795_577_520_000));
        for recipient in [
            VerpRecipient::Index(0),
            VerpRecipient::Index(999),
            VerpRecipient::Message,
        ] {
            let address = VerpAddress { message, recipient };
            let encoded = key.encode(address, "Bounce.Example.JP");
            assert!(encoded.ends_with("@bounce.example.jp"), "{encoded}");
            let local = encoded.split('@').next().unwrap();
            assert!(local.len() <= 64, "RFC 5321 local-part limit: {encoded}");
            assert_eq!(key.decode(&encoded), Some(address));
            assert_eq!(key.decode(&encoded.to_uppercase()), Some(address));
        }
    }

    #[test]
    fn refuses_forgeries_and_strangers() {
        let key = VerpKey::new([7; 32]);
        let other = VerpKey::new([8; 32]);
        let message = MessageId::new(Timestamp(1_795_577_520_000));
        let good = key.encode(
            VerpAddress {
                message,
                recipient: VerpRecipient::Index(3),
            },
            "b.jp",
        );
        assert_eq!(other.decode(&good), None, "another deployment's key");
        let tampered = good.replacen("-3-", "-4-", 1);
        assert_eq!(key.decode(&tampered), None, "another recipient");
        let padded = good.replacen("-3-", "-03-", 1);
        assert_eq!(key.decode(&padded), None, "non-canonical index");
        for junk in [
            "",
            "@",
            "postmaster@b.jp",
            "b--m-x@b.jp",
            "b-notanid-m-000000000000@b.jp",
            "b-x",
            "-----",
        ] {
            assert_eq!(key.decode(junk), None, "{junk:?}");
        }
    }
}
