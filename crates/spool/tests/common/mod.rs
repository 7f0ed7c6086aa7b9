//! Messages whose bytes follow from their ID, so that a test can check any message it finds
//! without having kept a copy, even across processes.

#![allow(dead_code)] // each test binary uses its own part

use hikyaku_model::{CustomerId, Envelope, MessageId, Timestamp};
use hikyaku_spool::SpoolMeta;
use std::path::{Path, PathBuf};

/// A body of a length and content drawn from the ID: mostly under 40 kB, one in ten up to
/// 600 kB so that a kill often lands in the middle of a write.
pub fn body_for(id: MessageId) -> Vec<u8> {
    let mut rng = XorShift::from_id(id);
    let pick = rng.next();
    let len = if pick.is_multiple_of(10) {
        pick % 600_000
    } else {
        pick % 40_000
    } as usize;
    let mut body = Vec::with_capacity(len + 8);
    while body.len() < len {
        body.extend_from_slice(&rng.next().to_le_bytes());
    }
    body.truncate(len);
    body
}

pub fn meta_for(id: MessageId, body: &[u8]) -> SpoolMeta {
    SpoolMeta {
        id,
        customer_id: "cspooltest".parse::<CustomerId>().unwrap(),
        envelope: Envelope {
            mail_from: format!("sender+{id}@example.com"),
            recipients: vec![format!("a.{id}@example.net"), "b@example.org".into()],
        },
        received_at: Timestamp(id.timestamp().as_millis() + 5),
        source_ip: "127.0.0.1".into(),
        size: body.len() as u64,
        tags: Vec::new(),
        metadata: Default::default(),
    }
}

/// Where the committed file of `id` is, found by walking `msg/` rather than by knowing the
/// spool's sharding rule.
pub fn file_of(spool_dir: &Path, id: MessageId) -> PathBuf {
    let name = id.to_string();
    for shard in std::fs::read_dir(spool_dir.join("msg")).unwrap() {
        let path = shard.unwrap().path().join(&name);
        if path.exists() {
            return path;
        }
    }
    panic!("no file for {id} under {}", spool_dir.display());
}

pub fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

struct XorShift(u64);

impl XorShift {
    fn from_id(id: MessageId) -> Self {
        let bytes = id.to_bytes();
        let seed = u64::from_le_bytes(bytes[..8].try_into().unwrap())
            ^ u64::from_le_bytes(bytes[8..].try_into().unwrap());
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
