//! The on-disk form of one spool file, free of I/O so that it can be tested byte by byte.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "HKYSPOOL"
//!      8     4  format version, little endian (1)
//!     12     4  metadata length M, little endian
//!     16     8  body length B, little endian
//!     24     8  checksum of metadata and body, little endian
//!     32     M  metadata: one JSON object (SpoolMeta)
//!   32+M     B  body: the message bytes exactly as accepted
//! ```
//!
//! The lengths let recovery read only the header and the metadata of each file and still notice
//! a truncated one; the checksum is verified whenever the body is read, so that a file damaged
//! after it was committed is never delivered.

use crate::SpoolMeta;

pub(crate) const MAGIC: [u8; 8] = *b"HKYSPOOL";
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 32;
/// A metadata record is an envelope: even ten thousand long recipients stay far below this. A
/// larger length can only come from a damaged header and must not become a huge allocation.
pub(crate) const MAX_META_LEN: u32 = 16 << 20;

/// Why a file is not a valid spool file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("shorter than a header ({0} bytes)")]
    ShortHeader(u64),
    #[error("bad magic number")]
    BadMagic,
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u32),
    #[error("metadata length {0} exceeds the maximum")]
    MetaTooLarge(u32),
    #[error("the header announces {expected} bytes but the file has {actual}")]
    LengthMismatch { expected: u64, actual: u64 },
    #[error("unreadable metadata: {0}")]
    BadMeta(String),
    #[error("metadata says {declared} body bytes but the header says {actual}")]
    SizeMismatch { declared: u64, actual: u64 },
    #[error("checksum mismatch: the file was damaged after it was written")]
    ChecksumMismatch,
    /// The file is well formed but not where, or not what, its name says.
    #[error("misplaced: {0}")]
    Misplaced(String),
}

/// The fixed-size start of a spool file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub meta_len: u32,
    pub body_len: u64,
    pub checksum: u64,
}

impl Header {
    pub fn file_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.meta_len) + self.body_len
    }

    pub fn parse(bytes: &[u8]) -> Result<Header, FormatError> {
        let Some(bytes) = bytes.get(..HEADER_LEN) else {
            return Err(FormatError::ShortHeader(bytes.len() as u64));
        };
        if bytes[..8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        let meta_len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        if meta_len > MAX_META_LEN {
            return Err(FormatError::MetaTooLarge(meta_len));
        }
        Ok(Header {
            meta_len,
            body_len: u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")),
            checksum: u64::from_le_bytes(bytes[24..32].try_into().expect("8 bytes")),
        })
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.meta_len.to_le_bytes());
        out[16..24].copy_from_slice(&self.body_len.to_le_bytes());
        out[24..32].copy_from_slice(&self.checksum.to_le_bytes());
        out
    }
}

/// The header and the metadata of a file for `meta` and `body`: everything but the body, which
/// is written straight from the caller's buffer rather than copied behind this.
pub(crate) fn encode_head(meta: &SpoolMeta, body: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_vec(meta)?;
    let meta_len = u32::try_from(json.len())
        .ok()
        .filter(|&len| len <= MAX_META_LEN)
        .ok_or_else(|| serde::ser::Error::custom("metadata record too large"))?;
    let header = Header {
        meta_len,
        body_len: body.len() as u64,
        checksum: checksum(&json, body),
    };
    let mut out = Vec::with_capacity(HEADER_LEN + json.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&json);
    Ok(out)
}

/// The metadata record that follows `header`, checked against the header's body length.
pub(crate) fn parse_meta(header: &Header, json: &[u8]) -> Result<SpoolMeta, FormatError> {
    let meta: SpoolMeta =
        serde_json::from_slice(json).map_err(|e| FormatError::BadMeta(e.to_string()))?;
    if meta.size != header.body_len {
        return Err(FormatError::SizeMismatch {
            declared: meta.size,
            actual: header.body_len,
        });
    }
    Ok(meta)
}

/// A whole file, fully verified, split into its metadata and its body.
pub(crate) fn decode(file: &[u8]) -> Result<(SpoolMeta, &[u8]), FormatError> {
    let header = Header::parse(file)?;
    let expected = header.file_len();
    if expected != file.len() as u64 {
        return Err(FormatError::LengthMismatch {
            expected,
            actual: file.len() as u64,
        });
    }
    let (json, body) = file[HEADER_LEN..].split_at(header.meta_len as usize);
    if checksum(json, body) != header.checksum {
        return Err(FormatError::ChecksumMismatch);
    }
    Ok((parse_meta(&header, json)?, body))
}

/// A 64-bit checksum of the metadata and the body.
///
/// Not cryptographic: it guards against disks and people, not attackers. Each step of a lane is
/// a bijection of both the state and the input word, so any change confined to one 8-byte word
/// is always detected; four independent lanes let the CPU run at several bytes per cycle, which
/// matters because every accepted byte passes through here once on the way in and once out.
pub(crate) fn checksum(meta: &[u8], body: &[u8]) -> u64 {
    let mut lanes = Lanes::new();
    lanes.absorb(meta);
    lanes.absorb(body);
    lanes.finish()
}

struct Lanes([u64; 4]);

impl Lanes {
    const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new() -> Self {
        Lanes([
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
        ])
    }

    fn step(lane: u64, word: u64) -> u64 {
        (lane ^ word).wrapping_mul(Self::MUL).rotate_left(29)
    }

    /// Absorbs one part; the part's length goes in too, so that moving bytes between the
    /// metadata and the body changes the sum.
    fn absorb(&mut self, bytes: &[u8]) {
        let mut blocks = bytes.chunks_exact(32);
        for block in &mut blocks {
            for (lane, word) in self.0.iter_mut().zip(block.chunks_exact(8)) {
                *lane = Self::step(*lane, u64::from_le_bytes(word.try_into().expect("8 bytes")));
            }
        }
        let mut tail = [0u8; 32];
        let rest = blocks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        for (lane, word) in self.0.iter_mut().zip(tail.chunks_exact(8)) {
            *lane = Self::step(*lane, u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        self.0[0] = Self::step(self.0[0], bytes.len() as u64);
    }

    fn finish(self) -> u64 {
        let [a, b, c, d] = self.0;
        let mut h = a.rotate_left(1) ^ b.rotate_left(7) ^ c.rotate_left(12) ^ d.rotate_left(18);
        // The final avalanche of MurmurHash3, so that every input bit reaches every output bit.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hikyaku_model::{CustomerId, Envelope, MessageId, Timestamp};

    fn meta(size: u64) -> SpoolMeta {
        SpoolMeta {
            id: "01jz5x0000000000000000000a".parse::<MessageId>().unwrap(),
            customer_id: "cabc".parse::<CustomerId>().unwrap(),
            envelope: Envelope {
                mail_from: "a@example.com".into(),
                recipients: vec!["b@example.net".into()],
            },
            received_at: Timestamp(1_795_577_520_123),
            source_ip: "127.0.0.1".into(),
            size,
            tags: Vec::new(),
            metadata: Default::default(),
        }
    }

    fn file(meta: &SpoolMeta, body: &[u8]) -> Vec<u8> {
        let mut out = encode_head(meta, body).unwrap();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn header_layout_is_fixed() {
        let body = b"Subject: hi\r\n\r\nhello\r\n";
        let bytes = file(&meta(body.len() as u64), body);
        assert_eq!(&bytes[..8], b"HKYSPOOL");
        assert_eq!(&bytes[8..12], &[1, 0, 0, 0]);
        let meta_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        assert_eq!(bytes[16..24], (body.len() as u64).to_le_bytes());
        assert_eq!(bytes[HEADER_LEN], b'{');
        assert_eq!(bytes[HEADER_LEN + meta_len - 1], b'}');
        assert_eq!(&bytes[HEADER_LEN + meta_len..], body);
        assert_eq!(bytes.len(), HEADER_LEN + meta_len + body.len());
    }

    #[test]
    fn round_trips() {
        for body in [
            &b""[..],
            b"x",
            b"exactly thirty-two bytes long!!!",
            &[0xffu8; 1000][..],
        ] {
            let m = meta(body.len() as u64);
            let bytes = file(&m, body);
            let (decoded, decoded_body) = decode(&bytes).unwrap();
            assert_eq!(decoded, m);
            assert_eq!(decoded_body, body);
        }
    }

    /// Every way a file can be damaged, as (edit of a valid file, expected verdict).
    #[test]
    fn damaged_files_are_named_precisely() {
        let body = b"Subject: test\r\n\r\nbody line\r\n".to_vec();
        let good = file(&meta(body.len() as u64), &body);
        let meta_len = u32::from_le_bytes(good[12..16].try_into().unwrap()) as usize;
        let full = good.len() as u64;
        type Edit = Box<dyn Fn(&mut Vec<u8>)>;
        let cases: Vec<(&str, Edit, FormatError)> = vec![
            (
                "empty",
                Box::new(|f| f.clear()),
                FormatError::ShortHeader(0),
            ),
            (
                "torn header",
                Box::new(|f| f.truncate(20)),
                FormatError::ShortHeader(20),
            ),
            ("magic", Box::new(|f| f[0] = b'X'), FormatError::BadMagic),
            (
                "version",
                Box::new(|f| f[8] = 2),
                FormatError::UnsupportedVersion(2),
            ),
            (
                "huge metadata length",
                Box::new(|f| f[12..16].copy_from_slice(&u32::MAX.to_le_bytes())),
                FormatError::MetaTooLarge(u32::MAX),
            ),
            (
                "truncated body",
                Box::new(|f| f.truncate(f.len() - 1)),
                FormatError::LengthMismatch {
                    expected: full,
                    actual: full - 1,
                },
            ),
            (
                "trailing bytes",
                Box::new(|f| f.push(0)),
                FormatError::LengthMismatch {
                    expected: full,
                    actual: full + 1,
                },
            ),
            (
                "body bit flip",
                Box::new(|f| *f.last_mut().unwrap() ^= 1),
                FormatError::ChecksumMismatch,
            ),
            (
                "metadata bit flip",
                Box::new(move |f| f[HEADER_LEN + meta_len / 2] ^= 0x40),
                FormatError::ChecksumMismatch,
            ),
            (
                "checksum bit flip",
                Box::new(|f| f[31] ^= 0x80),
                FormatError::ChecksumMismatch,
            ),
        ];
        for (name, edit, expected) in cases {
            let mut bytes = good.clone();
            edit(&mut bytes);
            assert_eq!(decode(&bytes).unwrap_err(), expected, "{name}");
        }
    }

    /// Files written before messages had tags and metadata (every SMTP message's file still
    /// looks so) decode with both empty; a file with them round-trips them.
    #[test]
    fn tags_and_metadata_are_optional_in_the_record() {
        let body = b"Subject: x\r\n\r\nx\r\n";
        let old_json = format!(
            r#"{{"id":"01jz5x0000000000000000000a","customer_id":"cabc","envelope":{{"mail_from":"a@example.com","recipients":["b@example.net"]}},"received_at":1795577520123,"source_ip":"127.0.0.1","size":{}}}"#,
            body.len()
        );
        let header = Header {
            meta_len: old_json.len() as u32,
            body_len: body.len() as u64,
            checksum: checksum(old_json.as_bytes(), body),
        };
        let mut old = header.encode().to_vec();
        old.extend_from_slice(old_json.as_bytes());
        old.extend_from_slice(body);
        let (decoded, _) = decode(&old).unwrap();
        assert_eq!(decoded, meta(body.len() as u64));
        assert!(decoded.tags.is_empty() && decoded.metadata.is_empty());

        // Without tags or metadata the record is byte for byte what it was before them.
        let plain = file(&meta(body.len() as u64), body);
        assert_eq!(plain, old);

        let mut tagged = meta(body.len() as u64);
        tagged.tags = vec!["welcome".into(), "jp:signup".into()];
        tagged.metadata = [
            ("user_id".to_string(), "42".to_string()),
            ("名前".into(), "値 \"q\"".into()),
        ]
        .into_iter()
        .collect();
        let bytes = file(&tagged, body);
        let (decoded, decoded_body) = decode(&bytes).unwrap();
        assert_eq!(decoded, tagged);
        assert_eq!(decoded_body, body);
    }

    #[test]
    fn metadata_must_agree_with_the_header() {
        let body = b"four";
        let lying = file(&meta(5), body);
        assert_eq!(
            decode(&lying).unwrap_err(),
            FormatError::SizeMismatch {
                declared: 5,
                actual: 4
            }
        );

        let mut not_json = Vec::new();
        let header = Header {
            meta_len: 3,
            body_len: 0,
            checksum: checksum(b"{x}", b""),
        };
        not_json.extend_from_slice(&header.encode());
        not_json.extend_from_slice(b"{x}");
        assert!(matches!(
            decode(&not_json).unwrap_err(),
            FormatError::BadMeta(_)
        ));
    }

    #[test]
    fn checksum_sees_every_single_bit_and_the_split() {
        let data: Vec<u8> = (0..=255u8).cycle().take(100).collect();
        let base = checksum(b"", &data);
        for byte in 0..data.len() {
            for bit in 0..8 {
                let mut flipped = data.clone();
                flipped[byte] ^= 1 << bit;
                assert_ne!(checksum(b"", &flipped), base, "byte {byte} bit {bit}");
            }
        }
        assert_ne!(
            checksum(&data[..10], &data[10..]),
            checksum(&data[..11], &data[11..])
        );
        assert_ne!(checksum(b"", b"\0"), checksum(b"", b""));
    }
}
