//! The keyring every sealed value goes through: key 0, derived from the operator's key file,
//! and the data keys that key rotations add (random, kept in `sealing_keys` wrapped under the
//! key file). Only the sealing rotates: look-up hashes and keyed digests stay derived from the
//! key file, because they are indexes and links already handed out, not encryption.
//!
//! A value sealed under a data key starts with a header, `00 'h' 'k' 's'` and the key's ID
//! (u32, big-endian), before the nonce; the header is authenticated with the ciphertext. A
//! value without the header is under key 0, as everything sealed before the first rotation is.
//! Key 0 keeps sealing without a header until a rotation replaces it, so a database that never
//! rotates keeps the format it always had.

use crate::StoreError;
use crate::sealing::{KEY_LEN, SealingKey, open_with, seal_with};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use hikyaku_model::Timestamp;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// The first bytes of a value sealed under a data key. The leading zero byte makes a clash with
/// a header-less value (a random nonce) a 1 in 2^32 chance, and that case is handled: a value
/// whose header names no loaded key is tried as a header-less one while key 0 is in use.
pub(crate) const HEADER_MAGIC: [u8; 4] = [0x00, b'h', b'k', b's'];
pub(crate) const HEADER_LEN: usize = 8;

/// The header of values sealed under key `id` (key 0 has none).
pub(crate) fn header(id: u32) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..4].copy_from_slice(&HEADER_MAGIC);
    h[4..].copy_from_slice(&id.to_be_bytes());
    h
}

/// The key a sealed value names: its header's ID, or 0 for a value without a header.
pub fn sealing_key_id(sealed: &[u8]) -> u32 {
    match sealed.get(..HEADER_LEN) {
        Some(h) if h[..4] == HEADER_MAGIC => u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        _ => 0,
    }
}

#[derive(Clone)]
struct DataKey {
    cipher: XChaCha20Poly1305,
    /// From this instant on (ms) the key seals new values; before it, it only opens them.
    active_from: i64,
}

/// What the database said the last time the keyring was read.
#[derive(Clone, Default)]
pub(crate) struct KeyringState {
    /// The data keys that are not retired, by ID (never 0).
    keys: BTreeMap<u32, DataKey>,
    /// Key 0 was replaced by a rotation: values without a header no longer open.
    key0_retired: bool,
}

/// One row of `sealing_keys` as the keyring reads it.
pub(crate) struct KeyRow {
    pub id: u32,
    pub wrapped: Option<Vec<u8>>,
    pub active_from: i64,
    pub retired: bool,
}

/// The keys a store seals and opens with. Cheap to clone: every clone of a [`crate::Store`]
/// shares one keyring, and a reload is seen by all of them.
#[derive(Clone)]
pub(crate) struct Keyring {
    master: SealingKey,
    state: Arc<RwLock<Arc<KeyringState>>>,
}

impl Keyring {
    pub(crate) fn new(master: SealingKey) -> Keyring {
        Keyring {
            master,
            state: Arc::default(),
        }
    }

    pub(crate) fn master(&self) -> &SealingKey {
        &self.master
    }

    fn state(&self) -> Arc<KeyringState> {
        Arc::clone(&self.state.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces what the keyring holds with the rows of `sealing_keys`. A data key that does
    /// not unwrap with this node's key file is left out with a warning: the values sealed
    /// under it then fail to open, as everything does on a node with the wrong key file.
    pub(crate) fn load(&self, rows: &[KeyRow]) {
        let current = self.state();
        let mut next = KeyringState::default();
        for row in rows {
            if row.id == 0 {
                next.key0_retired = row.retired;
                continue;
            }
            let Some(wrapped) = row.wrapped.as_deref().filter(|_| !row.retired) else {
                continue;
            };
            let key = match current.keys.get(&row.id) {
                Some(known) => known.cipher.clone(),
                None => match self.master.unwrap_data_key(row.id, wrapped) {
                    Some(bytes) => XChaCha20Poly1305::new(&bytes.into()),
                    None => {
                        tracing::warn!(
                            key_id = row.id,
                            "a sealing key in the database does not open with this node's key file"
                        );
                        continue;
                    }
                },
            };
            next.keys.insert(
                row.id,
                DataKey {
                    cipher: key,
                    active_from: row.active_from,
                },
            );
        }
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
    }

    /// Whether the keyring holds data key `id` (0: whether key 0 is still in use).
    pub(crate) fn has(&self, id: u32) -> bool {
        let state = self.state();
        if id == 0 {
            !state.key0_retired
        } else {
            state.keys.contains_key(&id)
        }
    }

    /// The key new values are sealed under at `now`: the newest key whose activation has come.
    pub(crate) fn active_key(&self, now: Timestamp) -> u32 {
        self.state()
            .keys
            .iter()
            .rev()
            .find(|(_, key)| key.active_from <= now.as_millis())
            .map_or(0, |(id, _)| *id)
    }

    pub(crate) fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let state = self.state();
        let now = Timestamp::now().as_millis();
        match state
            .keys
            .iter()
            .rev()
            .find(|(_, key)| key.active_from <= now)
        {
            Some((id, key)) => seal_under(*id, &key.cipher, plaintext),
            None => self.master.seal_key0(plaintext),
        }
    }

    /// Seals under key `id` whatever the time: the re-sealing job writes under the rotation's
    /// target. `None` when the keyring does not hold that key.
    pub(crate) fn seal_under(&self, id: u32, plaintext: &[u8]) -> Option<Vec<u8>> {
        if id == 0 {
            return Some(self.master.seal_key0(plaintext));
        }
        let state = self.state();
        let key = state.keys.get(&id)?;
        Some(seal_under(id, &key.cipher, plaintext))
    }

    pub(crate) fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let state = self.state();
        let id = sealing_key_id(sealed);
        if let Some(key) = state.keys.get(&id)
            && let Ok(plain) = open_with(&key.cipher, &sealed[..HEADER_LEN], &sealed[HEADER_LEN..])
        {
            return Ok(plain);
        }
        if state.key0_retired {
            return Err(StoreError::Unseal);
        }
        self.master.open_key0(sealed)
    }

    pub(crate) fn seal_str(&self, plaintext: &str) -> Vec<u8> {
        self.seal(plaintext.as_bytes())
    }

    pub(crate) fn open_string(&self, sealed: &[u8]) -> Result<String, StoreError> {
        String::from_utf8(self.open(sealed)?)
            .map_err(|_| StoreError::Corrupt("a sealed text is not UTF-8".into()))
    }

    pub(crate) fn address_hash(&self, address: &str) -> Vec<u8> {
        self.master.address_hash(address)
    }

    pub(crate) fn keyed_digest(&self, label: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        self.master.keyed_digest(label, parts)
    }
}

fn seal_under(id: u32, cipher: &XChaCha20Poly1305, plaintext: &[u8]) -> Vec<u8> {
    let header = header(id);
    let mut sealed = header.to_vec();
    sealed.extend(seal_with(cipher, &header, plaintext));
    sealed
}

/// A fresh random data key.
pub(crate) fn new_data_key() -> [u8; KEY_LEN] {
    rand::random()
}

/// Test support: whether `sealed` opens with the raw data key `bytes` as key `id` (0: with the
/// key file `master`'s key 0), whatever any keyring holds. Tests use it to show that a retired
/// key's material opens nothing that is left in the database.
#[cfg(any(test, feature = "test-util"))]
pub fn opens_with(id: u32, bytes: [u8; KEY_LEN], sealed: &[u8]) -> bool {
    if id == 0 {
        return SealingKey::from_bytes(bytes).open_key0(sealed).is_ok();
    }
    let cipher = XChaCha20Poly1305::new(&bytes.into());
    sealed.len() > HEADER_LEN
        && open_with(&cipher, &sealed[..HEADER_LEN], &sealed[HEADER_LEN..]).is_ok()
        || open_with(&cipher, &[], sealed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u32, master: &SealingKey, bytes: &[u8; 32], active_from: i64) -> KeyRow {
        KeyRow {
            id,
            wrapped: Some(master.wrap_data_key(id, bytes)),
            active_from,
            retired: false,
        }
    }

    #[test]
    fn seals_under_the_newest_active_key_and_opens_every_loaded_one() {
        let master = SealingKey::from_bytes([1; 32]);
        let ring = Keyring::new(master.clone());
        let old = ring.seal(b"alice@example.com");
        assert_eq!(sealing_key_id(&old), 0);
        assert!(
            !old.starts_with(&HEADER_MAGIC),
            "key 0 keeps the old format"
        );

        let k1 = new_data_key();
        let future = Timestamp::now().as_millis() + 3_600_000;
        ring.load(&[row(1, &master, &k1, future)]);
        // Loaded but not yet active: opens, does not seal.
        assert_eq!(sealing_key_id(&ring.seal(b"x")), 0);
        let early = ring.seal_under(1, b"bob@example.jp").unwrap();
        assert_eq!(sealing_key_id(&early), 1);
        assert_eq!(ring.open(&early).unwrap(), b"bob@example.jp");

        ring.load(&[row(1, &master, &k1, 0)]);
        let new = ring.seal(b"carol@example.net");
        assert_eq!(&new[..HEADER_LEN], &header(1));
        assert_eq!(ring.open(&new).unwrap(), b"carol@example.net");
        assert_eq!(ring.open(&old).unwrap(), b"alice@example.com");
        assert!(opens_with(1, k1, &new));
        assert!(!opens_with(0, [1; 32], &new));
        assert!(opens_with(0, [1; 32], &old));

        // The header is authenticated: the same ciphertext under another ID does not open.
        let mut relabelled = new.clone();
        relabelled[7] = 2;
        assert!(ring.open(&relabelled).is_err());

        // Key 0 retired: header-less values no longer open, the data key's still do.
        ring.load(&[
            KeyRow {
                id: 0,
                wrapped: None,
                active_from: 0,
                retired: true,
            },
            row(1, &master, &k1, 0),
        ]);
        assert!(matches!(ring.open(&old), Err(StoreError::Unseal)));
        assert_eq!(ring.open(&new).unwrap(), b"carol@example.net");
        assert!(!ring.has(0));
        assert!(ring.has(1));
    }

    #[test]
    fn a_header_less_value_that_looks_like_a_header_still_opens_while_key_0_is_in_use() {
        let master = SealingKey::from_bytes([2; 32]);
        let ring = Keyring::new(master.clone());
        let k1 = new_data_key();
        ring.load(&[row(1, &master, &k1, 0)]);
        // A key-0 value whose random nonce happens to begin like a header naming key 1.
        let mut nonce = [9u8; crate::sealing::NONCE_LEN];
        nonce[..HEADER_LEN].copy_from_slice(&header(1));
        let clash = master.seal_key0_with_nonce(nonce, b"dave@example.org");
        assert_eq!(sealing_key_id(&clash), 1);
        assert_eq!(ring.open(&clash).unwrap(), b"dave@example.org");
    }

    #[test]
    fn retired_or_foreign_keys_are_not_loaded() {
        let master = SealingKey::from_bytes([5; 32]);
        let ring = Keyring::new(master.clone());
        let k = new_data_key();
        let foreign = SealingKey::from_bytes([6; 32]);
        ring.load(&[row(3, &foreign, &k, 0)]);
        assert!(!ring.has(3));
        assert_eq!(ring.active_key(Timestamp::now()), 0);
        ring.load(&[KeyRow {
            id: 4,
            wrapped: Some(master.wrap_data_key(4, &k)),
            active_from: 0,
            retired: true,
        }]);
        assert!(!ring.has(4));
    }
}
