use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The platform's identifier of one accepted message.
///
/// 128 bits: 48 bits of milliseconds since the epoch, then 80 random bits, so IDs sort by
/// acceptance time and never collide across nodes. The text form is 26 characters of lowercase
/// Crockford base32; parsing ignores case because the ID travels inside VERP local parts, which
/// some MTAs fold to one case.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(u128);

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
pub const MESSAGE_ID_LEN: usize = 26;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a message ID: {0:?}")]
pub struct InvalidMessageId(pub String);

impl MessageId {
    pub fn new(at: Timestamp) -> Self {
        let millis = (at.as_millis().max(0) as u128) & ((1 << 48) - 1);
        let random: u128 = rand::random::<u128>() & ((1 << 80) - 1);
        MessageId((millis << 80) | random)
    }

    pub fn generate() -> Self {
        Self::new(Timestamp::now())
    }

    /// When the message was accepted, as encoded in the ID itself.
    pub fn timestamp(self) -> Timestamp {
        Timestamp((self.0 >> 80) as i64)
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        MessageId(u128::from_be_bytes(bytes))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; MESSAGE_ID_LEN];
        // 26 * 5 = 130 bits: the first character carries only the top 3 bits.
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (MESSAGE_ID_LEN - 1 - i);
            *slot = ALPHABET[((self.0 >> shift) & 31) as usize];
        }
        f.write_str(std::str::from_utf8(&out).expect("alphabet is ASCII"))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl FromStr for MessageId {
    type Err = InvalidMessageId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidMessageId(s.to_string());
        if s.len() != MESSAGE_ID_LEN {
            return Err(invalid());
        }
        let mut value: u128 = 0;
        for (i, c) in s.bytes().enumerate() {
            let digit = match c.to_ascii_lowercase() {
                c @ b'0'..=b'9' => c - b'0',
                // Crockford: i and l read as 1, o as 0.
                b'i' | b'l' => 1,
                b'o' => 0,
                c => ALPHABET.iter().position(|&a| a == c).ok_or_else(invalid)? as u8,
            };
            if i == 0 && digit > 7 {
                return Err(invalid());
            }
            value = (value << 5) | u128::from(digit);
        }
        Ok(MessageId(value))
    }
}

impl Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_sorts_by_time() {
        let earlier = MessageId::new(Timestamp(1_000));
        let later = MessageId::new(Timestamp(2_000));
        assert!(earlier < later);
        assert!(earlier.to_string() < later.to_string());
        for id in [
            earlier,
            later,
            MessageId::from_bytes([0xff; 16]),
            MessageId::from_bytes([0; 16]),
        ] {
            let text = id.to_string();
            assert_eq!(text.len(), MESSAGE_ID_LEN);
            assert_eq!(text.parse::<MessageId>().unwrap(), id);
            assert_eq!(text.to_uppercase().parse::<MessageId>().unwrap(), id);
        }
        assert_eq!(later.timestamp(), Timestamp(2_000));
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "short",
            "8zzzzzzzzzzzzzzzzzzzzzzzzz",
            "0000000000000000000000000u",
            "0000000000000000000000000000",
        ] {
            assert!(bad.parse::<MessageId>().is_err(), "{bad:?}");
        }
    }
}
