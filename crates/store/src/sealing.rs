use crate::StoreError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

pub(crate) const KEY_LEN: usize = 32;
pub(crate) const NONCE_LEN: usize = 24;
/// Look-up hashes are an index key, not an authenticator: 128 bits make accidental collisions
/// negligible and keep the indexes half the size of a full SHA-256.
pub(crate) const LOOKUP_HASH_LEN: usize = 16;

/// The operator's secret that seals e-mail addresses at rest.
///
/// 32 random bytes. Separate keys are derived from it so that no key serves two purposes: one
/// for XChaCha20-Poly1305 sealing (key 0 of the keyring), one that wraps the keyring's later
/// data keys, one for the HMAC-SHA256 look-up hash, and the VERP and unsubscribe keys.
/// Losing the file makes every sealed address unreadable; the operator must back it up.
#[derive(Clone)]
pub struct SealingKey {
    /// The sealing key derived from the file: the keyring's key 0, which sealed everything
    /// stored before the first rotation.
    cipher: XChaCha20Poly1305,
    /// Seals the keyring's data keys in the database: a key of its own, so that retiring key 0
    /// leaves the wrapping untouched.
    wrapping: XChaCha20Poly1305,
    lookup: HmacSha256,
    verp: [u8; KEY_LEN],
    unsubscribe: [u8; KEY_LEN],
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    pub fn from_bytes(master: [u8; KEY_LEN]) -> SealingKey {
        let derive = |label: &[u8]| -> [u8; KEY_LEN] {
            let mut mac =
                <HmacSha256 as Mac>::new_from_slice(&master).expect("HMAC takes any key length");
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        let sealing = derive(b"hikyaku/address-sealing/v1");
        let lookup = derive(b"hikyaku/address-lookup/v1");
        let verp = derive(b"hikyaku/verp-tag/v1");
        let unsubscribe = derive(b"hikyaku/unsubscribe/v1");
        let wrapping = derive(b"hikyaku/key-wrapping/v1");
        SealingKey {
            verp,
            unsubscribe,
            cipher: XChaCha20Poly1305::new(&sealing.into()),
            wrapping: XChaCha20Poly1305::new(&wrapping.into()),
            lookup: <HmacSha256 as Mac>::new_from_slice(&lookup)
                .expect("HMAC takes any key length"),
        }
    }

    /// The key that authenticates VERP return paths, derived from the same secret so that every
    /// node sharing the key file (and only those) recognises the platform's bounce addresses.
    pub fn verp_key(&self) -> hikyaku_model::VerpKey {
        hikyaku_model::VerpKey::new(self.verp)
    }

    /// The key of one-click unsubscribe links and addresses, derived from the same secret for
    /// the same reason: every node opens every node's links, and nobody else makes one.
    pub fn unsubscribe_key(&self) -> crate::UnsubscribeKey {
        crate::UnsubscribeKey::new(self.unsubscribe)
    }

    pub fn generate() -> SealingKey {
        SealingKey::from_bytes(rand::random())
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh random key when it does not
    /// exist. The file holds the key in base64 on one line; a file of exactly 32 raw bytes
    /// (`head -c 32 /dev/urandom`) is accepted too.
    pub fn load_or_create(path: &Path) -> Result<SealingKey, StoreError> {
        match std::fs::read(path) {
            Ok(contents) => Self::from_file_contents(path, &contents),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(key_file_error(path, e)),
        }
    }

    fn from_file_contents(path: &Path, contents: &[u8]) -> Result<SealingKey, StoreError> {
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the sealing key file is readable by other users; chmod 600 it");
        }
        let bytes = if contents.len() == KEY_LEN {
            contents.to_vec()
        } else {
            let text = std::str::from_utf8(contents).unwrap_or_default().trim();
            BASE64.decode(text).unwrap_or_default()
        };
        let master: [u8; KEY_LEN] = bytes.try_into().map_err(|_| StoreError::KeyFile {
            path: path.to_owned(),
            reason: "not a 32-byte key (base64 on one line, or 32 raw bytes)".into(),
        })?;
        Ok(SealingKey::from_bytes(master))
    }

    fn create(path: &Path) -> Result<SealingKey, StoreError> {
        let master: [u8; KEY_LEN] = rand::random();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file_name = path.file_name().unwrap_or_default().to_string_lossy();
        let temp = dir.join(format!(".{file_name}.{:016x}.tmp", rand::random::<u64>()));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(format!("{}\n", BASE64.encode(master)).as_bytes())?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(key_file_error(path, e));
        }
        // A hard link, unlike a rename, never replaces an existing file: when two processes
        // create the key at once, both end up with the one that was linked first.
        let linked = std::fs::hard_link(&temp, path);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                if let Ok(dir) = std::fs::File::open(dir) {
                    let _ = dir.sync_all();
                }
                tracing::info!(path = %path.display(), "created a new address sealing key");
                Ok(SealingKey::from_bytes(master))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let contents = std::fs::read(path).map_err(|e| key_file_error(path, e))?;
                Self::from_file_contents(path, &contents)
            }
            Err(e) => Err(key_file_error(path, e)),
        }
    }

    /// `nonce || ciphertext` of `plaintext` under key 0 and a fresh random nonce: the format of
    /// everything sealed before the first rotation, without a header. 192-bit nonces make random
    /// generation safe for any number of messages under one key.
    pub(crate) fn seal_key0(&self, plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher, &[], plaintext)
    }

    pub(crate) fn open_key0(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        open_with(&self.cipher, &[], sealed)
    }

    /// Key 0's sealing with a chosen nonce, for tests of values whose nonce looks like a header.
    #[cfg(test)]
    pub(crate) fn seal_key0_with_nonce(&self, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        let mut sealed = nonce.to_vec();
        sealed.extend(
            self.cipher
                .encrypt(XNonce::from_slice(&nonce), plaintext)
                .expect("in-memory encryption does not fail"),
        );
        sealed
    }

    /// A keyring data key as the database keeps it, bound to its ID so that a row cannot pass
    /// one key off as another.
    pub(crate) fn wrap_data_key(&self, id: u32, key: &[u8; KEY_LEN]) -> Vec<u8> {
        seal_with(&self.wrapping, &wrapping_label(id), key)
    }

    pub(crate) fn unwrap_data_key(&self, id: u32, wrapped: &[u8]) -> Option<[u8; KEY_LEN]> {
        open_with(&self.wrapping, &wrapping_label(id), wrapped)
            .ok()?
            .try_into()
            .ok()
    }

    /// The keyed hash by which an address is found without unsealing every row. Addresses are
    /// compared case-insensitively here, as people search them.
    pub(crate) fn address_hash(&self, address: &str) -> Vec<u8> {
        let mut mac = self.lookup.clone();
        mac.update(address.to_lowercase().as_bytes());
        mac.finalize().into_bytes()[..LOOKUP_HASH_LEN].to_vec()
    }

    /// A keyed digest of several values (each length-prefixed, so no two lists collide), for
    /// recognising a row again without storing what it was computed from in the clear.
    pub(crate) fn keyed_digest(&self, label: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = self.lookup.clone();
        mac.update(label);
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
}

fn wrapping_label(id: u32) -> Vec<u8> {
    let mut label = b"hikyaku/sealing-key/".to_vec();
    label.extend_from_slice(&id.to_be_bytes());
    label
}

/// `nonce || ciphertext` of `plaintext` under `cipher`, authenticating `aad` too.
pub(crate) fn seal_with(cipher: &XChaCha20Poly1305, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
    let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

pub(crate) fn open_with(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, StoreError> {
    if sealed.len() < NONCE_LEN {
        return Err(StoreError::Unseal);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| StoreError::Unseal)
}

fn key_file_error(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::KeyFile {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_the_same_key_only() {
        let key = SealingKey::generate();
        let sealed = key.seal_key0(b"alice@example.com");
        assert_eq!(sealed.len(), NONCE_LEN + "alice@example.com".len() + 16);
        assert!(!sealed.windows(5).any(|w| w == b"alice"));
        assert_eq!(key.open_key0(&sealed).unwrap(), b"alice@example.com");
        // Fresh nonce every time: equal addresses do not give equal ciphertexts.
        assert_ne!(key.seal_key0(b"alice@example.com"), sealed);

        let other = SealingKey::generate();
        assert!(matches!(other.open_key0(&sealed), Err(StoreError::Unseal)));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(key.open_key0(&tampered), Err(StoreError::Unseal)));
        assert!(matches!(
            key.open_key0(&sealed[..10]),
            Err(StoreError::Unseal)
        ));
    }

    #[test]
    fn data_keys_unwrap_under_their_own_id_only() {
        let master = SealingKey::from_bytes([3; 32]);
        let data: [u8; KEY_LEN] = rand::random();
        let wrapped = master.wrap_data_key(7, &data);
        assert!(!wrapped.windows(8).any(|w| w == &data[..8]));
        assert_eq!(master.unwrap_data_key(7, &wrapped), Some(data));
        assert_eq!(master.unwrap_data_key(8, &wrapped), None);
        assert_eq!(
            SealingKey::from_bytes([4; 32]).unwrap_data_key(7, &wrapped),
            None
        );
        // The wrapping key is not key 0: a wrapped key does not open as a sealed value.
        assert!(master.open_key0(&wrapped).is_err());
    }

    #[test]
    fn lookup_hash_is_keyed_and_ignores_case() {
        let key = SealingKey::from_bytes([7; 32]);
        let same = SealingKey::from_bytes([7; 32]);
        let other = SealingKey::from_bytes([8; 32]);
        let h = key.address_hash("Bob@Example.COM");
        assert_eq!(h.len(), LOOKUP_HASH_LEN);
        assert_eq!(h, key.address_hash("bob@example.com"));
        assert_eq!(h, same.address_hash("bob@example.com"));
        assert_ne!(h, key.address_hash("bob@example.org"));
        assert_ne!(h, other.address_hash("bob@example.com"));
    }

    #[test]
    fn key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let created = SealingKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 44, "{text:?}");
        let loaded = SealingKey::load_or_create(&path).unwrap();
        let sealed = created.seal_key0(b"carol@example.net");
        assert_eq!(loaded.open_key0(&sealed).unwrap(), b"carol@example.net");
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn raw_key_files_are_accepted_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw.key");
        std::fs::write(&raw, [9u8; 32]).unwrap();
        let from_raw = SealingKey::load_or_create(&raw).unwrap();
        let sealed = SealingKey::from_bytes([9; 32]).seal_key0(b"x@y");
        assert_eq!(from_raw.open_key0(&sealed).unwrap(), b"x@y");

        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "not a key\n").unwrap();
        let err = SealingKey::load_or_create(&bad).unwrap_err();
        assert!(matches!(err, StoreError::KeyFile { .. }), "{err}");
        assert!(!err.is_transient());
    }
}
