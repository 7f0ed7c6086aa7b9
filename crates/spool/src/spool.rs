use crate::format::{self, FormatError, HEADER_LEN, Header};
use crate::quota::{Quota, Reservation};
use crate::syncer::Syncer;
use crate::{CommitStep, SpoolError, SpoolMeta};
use hikyaku_model::MessageId;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Committed files are spread over this many directories, so that none holds millions of
/// entries even with a backlog of tens of millions of messages.
const SHARDS: i64 = 1024;

/// Message bodies carry addresses and content in clear: only the service's own account may
/// read them. New directories and files are made so; existing ones are left as the operator
/// set them (the service warns at start when they are looser).
const PRIVATE_DIR: u32 = 0o700;
const PRIVATE_FILE: u32 = 0o600;

/// How many removed files are kept for reuse, and up to which size. Creating a file costs far
/// more than rewriting one: ext4 must find a free inode, and without a journal it skips every
/// inode freed in the last minutes (`recently_deleted`), so at a thousand messages a second
/// it scans thousands of them per create; the new entry also takes the directory's write lock.
/// Under `bench/relay.sh` creation was a fifth of the relay's CPU. The bound keeps the disk held
/// by idle files small (at most 512 × 128 KiB = 64 MiB); larger files are unlinked as before.
const RECYCLE_FILES: usize = 512;
const RECYCLE_MAX_BYTES: u64 = 128 * 1024;
/// The name of a file kept for reuse starts with this; a message ID never does (IDs are
/// base32 without a dash).
const FREE_PREFIX: &str = "free-";

/// What becomes of a removed message's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// Kept for reuse when small enough (a delivered message).
    Recycle,
    /// Unlinked (a withdrawn message).
    Discard,
}

/// The spool directory:
///
/// ```text
/// lock                    held (flock) by the process that owns the spool
/// tmp/<id>                being written; never acknowledged, removed by recovery
/// tmp/free-<n>            a delivered message's file kept for reuse (see [`RECYCLE_FILES`]);
///                         garbage to recovery, like everything under tmp/
/// msg/<shard>/<id>        committed, immutable
/// corrupt/<id>[.n]        failed validation; kept for a person to look at
/// ```
///
/// The shard is the second of acceptance encoded in the ID, modulo [`SHARDS`], as three hex
/// digits. Consecutive commits thus land in the same directory and share one directory fsync
/// (fsyncs of distinct directories are each a journal flush, measured at 0.15 ms apiece), while
/// over any backlog longer than 17 minutes the files still spread evenly over all shards.
#[derive(Debug)]
struct Layout {
    root: PathBuf,
    tmp: PathBuf,
    msg: PathBuf,
    corrupt: PathBuf,
}

impl Layout {
    fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_owned(),
            tmp: root.join("tmp"),
            msg: root.join("msg"),
            corrupt: root.join("corrupt"),
        }
    }

    fn shard_of(id: MessageId) -> i64 {
        id.timestamp()
            .as_millis()
            .div_euclid(1000)
            .rem_euclid(SHARDS)
    }

    fn shard_dir(&self, shard: i64) -> PathBuf {
        self.msg.join(format!("{shard:03x}"))
    }

    fn message_path(&self, id: MessageId) -> PathBuf {
        self.shard_dir(Self::shard_of(id)).join(id.to_string())
    }

    fn tmp_path(&self, id: MessageId) -> PathBuf {
        self.tmp.join(id.to_string())
    }

    fn free_path(&self, n: u64) -> PathBuf {
        self.tmp.join(format!("{FREE_PREFIX}{n}"))
    }

    /// Creates whatever is missing and makes the new entries durable, so that a later commit's
    /// directory fsync is all that its rename needs.
    fn create(&self) -> Result<(), SpoolError> {
        let root_is_new = !self.root.is_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(PRIVATE_DIR)
            .create(&self.root)
            .map_err(SpoolError::io("create directory", &self.root))?;
        if root_is_new && let Some(parent) = self.root.parent() {
            sync_dir(parent)?;
        }
        let mut created_top = false;
        for dir in [&self.tmp, &self.msg, &self.corrupt] {
            created_top |= ensure_dir(dir)?;
        }
        let mut created_shard = false;
        for shard in 0..SHARDS {
            created_shard |= ensure_dir(&self.shard_dir(shard))?;
        }
        if created_shard {
            sync_dir(&self.msg)?;
        }
        if created_top {
            sync_dir(&self.root)?;
        }
        Ok(())
    }
}

fn ensure_dir(dir: &Path) -> Result<bool, SpoolError> {
    match fs::DirBuilder::new().mode(PRIVATE_DIR).create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(SpoolError::io("create directory", dir)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(SpoolError::io("fsync directory", dir))
}

/// What [`Spool::open`] found on disk.
#[derive(Debug)]
pub struct Recovery {
    /// Every committed message, oldest ID first. The database is the authority on delivery
    /// state: a message here that the database does not know was never acknowledged.
    pub messages: Vec<SpoolMeta>,
    /// Files of commits that were cut short (never acknowledged), now deleted.
    pub removed_tmp: usize,
    /// Files kept for reuse by the last run (see [`RECYCLE_FILES`]), now deleted: left by every
    /// stop, clean or not, and never a message.
    pub removed_recycled: usize,
    /// Files that failed validation, at their new place under `corrupt/`.
    pub quarantined: Vec<PathBuf>,
    /// Old names of reused files that a crash brought back (see [`RECYCLE_FILES`]), removed.
    pub removed_stale: usize,
}

/// Counters for metrics: group commit works when `directory_syncs` stays well below `commits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolStats {
    pub commits: u64,
    pub directory_syncs: u64,
}

/// The spool of one node. Cheap to clone; every clone is the same spool.
#[derive(Clone, Debug)]
pub struct Spool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    layout: Layout,
    quota: Arc<Quota>,
    disk: crate::DiskReserve,
    syncer: Syncer,
    /// Files of removed messages, ready to be rewritten by the next commits.
    free_files: Mutex<Vec<PathBuf>>,
    next_free_name: AtomicU64,
    #[cfg(any(test, feature = "test-util"))]
    faults: crate::Faults,
    /// Released by the kernel when the process dies, however it dies.
    _lock: File,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir` and recovers it: deletes the leftovers of
    /// interrupted commits, validates every committed file's header and metadata, moves the
    /// invalid ones to `corrupt/` and counts the bytes in use.
    ///
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open(dir: &Path, limit_bytes: u64) -> Result<(Spool, Recovery), SpoolError> {
        Self::open_inner(dir, limit_bytes, |inner| inner)
    }

    /// [`Spool::open`], with commits failing wherever `faults` says.
    #[cfg(any(test, feature = "test-util"))]
    pub fn open_with_faults(
        dir: &Path,
        limit_bytes: u64,
        faults: crate::Faults,
    ) -> Result<(Spool, Recovery), SpoolError> {
        Self::open_inner(dir, limit_bytes, |inner| Inner { faults, ..inner })
    }

    fn open_inner(
        dir: &Path,
        limit_bytes: u64,
        adjust: impl FnOnce(Inner) -> Inner,
    ) -> Result<(Spool, Recovery), SpoolError> {
        let layout = Layout::new(dir);
        layout.create()?;
        let lock = lock(&layout.root)?;
        let cleared = clear_tmp(&layout)?;
        let mut recovery = Recovery {
            messages: Vec::new(),
            removed_tmp: cleared.partial,
            removed_recycled: cleared.recycled,
            quarantined: Vec::new(),
            removed_stale: 0,
        };
        let mut stored = 0;
        for shard in 0..SHARDS {
            stored += scan_shard(&layout, shard, &mut recovery)?;
        }
        recovery.messages.sort_by_key(|meta| meta.id);
        tracing::info!(
            dir = %layout.root.display(),
            messages = recovery.messages.len(),
            bytes = stored,
            removed_tmp = recovery.removed_tmp,
            removed_recycled = recovery.removed_recycled,
            quarantined = recovery.quarantined.len(),
            removed_stale = recovery.removed_stale,
            "spool recovered"
        );
        let syncer = Syncer::start().map_err(SpoolError::io("start syncer thread for", dir))?;
        let disk = crate::DiskReserve::new(&layout.root, 0);
        let inner = Inner {
            layout,
            quota: Quota::new(limit_bytes, stored),
            disk,
            syncer,
            free_files: Mutex::new(Vec::with_capacity(RECYCLE_FILES)),
            next_free_name: AtomicU64::new(0),
            #[cfg(any(test, feature = "test-util"))]
            faults: crate::Faults::default(),
            _lock: lock,
        };
        Ok((
            Spool {
                inner: Arc::new(adjust(inner)),
            },
            recovery,
        ))
    }

    /// Promises `bytes` of room for a message about to be received, or says the spool is full.
    /// Also refused when the file system would be left with less free space than
    /// [`Spool::disk_reserve`] keeps.
    pub fn reserve(&self, bytes: u64) -> Result<Reservation, SpoolError> {
        let reservation = self.inner.quota.reserve(bytes)?;
        // Other reservations are not yet on disk; counting them keeps concurrent sessions
        // from each seeing the same free bytes.
        self.inner.disk.check(self.inner.quota.reserved())?;
        Ok(reservation)
    }

    /// The free space kept on the spool's file system (none until set).
    pub fn disk_reserve(&self) -> &crate::DiskReserve {
        &self.inner.disk
    }

    /// Makes the message durable: when this returns `Ok`, the message survives a crash or power
    /// loss and may be acknowledged. On `Err` the message is not in the spool.
    ///
    /// The reservation becomes the file's actual size (body plus header and metadata); if that
    /// is more than was reserved, the excess must fit under the limit.
    ///
    /// Dropping the returned future after the file was written leaves the message in the spool
    /// without an acknowledgement; recovery lists it like any other.
    ///
    /// # Panics
    /// If `reservation` was made by another spool.
    pub async fn commit<B>(
        &self,
        mut reservation: Reservation,
        meta: &SpoolMeta,
        body: B,
    ) -> Result<(), SpoolError>
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        assert!(
            Arc::ptr_eq(&reservation.quota, &self.inner.quota),
            "reservation made by another spool"
        );
        let actual = body.as_ref().len() as u64;
        if meta.size != actual {
            return Err(SpoolError::SizeMismatch {
                id: meta.id,
                declared: meta.size,
                actual,
            });
        }
        let inner = Arc::clone(&self.inner);
        let owned_meta = meta.clone();
        let (path, file_len) =
            blocking(move || inner.write_message(&owned_meta, &mut reservation, body.as_ref()))
                .await?;
        let dir = path
            .parent()
            .expect("message files live in a shard directory")
            .to_owned();
        let outcome = match self.inner.syncer.sync(dir.clone()) {
            _ if let Err(source) = self.inner.injected(CommitStep::DirectorySync) => {
                Err(SpoolError::Io {
                    action: "fsync directory",
                    path: dir,
                    source,
                })
            }
            None => Err(SpoolError::WorkerStopped),
            Some(done) => match done.await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(source)) => Err(SpoolError::Io {
                    action: "fsync directory",
                    path: dir,
                    source,
                }),
                Err(_) => Err(SpoolError::WorkerStopped),
            },
        };
        // Not known to be durable, so not acknowledged: it must not be delivered either, or the
        // client's retry would make it a duplicate.
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            match fs::remove_file(&path) {
                Ok(()) => inner.quota.forget(file_len),
                Err(e) => tracing::error!(path = %path.display(), error = %e, "cannot withdraw failed commit"),
            }
            Ok(())
        })
        .await?;
        outcome
    }

    /// The metadata and body of a committed message, checksum verified. A damaged file is
    /// moved to `corrupt/` and reported as [`SpoolError::Corrupt`].
    pub async fn read(&self, id: MessageId) -> Result<(SpoolMeta, Vec<u8>), SpoolError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.read_message(id)).await
    }

    /// Deletes a message whose delivery is done. Not fsync'd: should a crash bring the file
    /// back, recovery lists it and the database says it is done.
    pub async fn remove(&self, id: MessageId) -> Result<(), SpoolError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.remove_message(id)).await
    }

    /// Deletes a message withdrawn from delivery (the operator's delete, a contract's end): its
    /// file is unlinked, never kept for reuse, so that its bytes do not outlive it there.
    pub async fn discard(&self, id: MessageId) -> Result<(), SpoolError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.remove_message_as(id, Removal::Discard)).await
    }

    /// Unlinks every file kept for reuse, with the old contents they hold: what remained of
    /// delivered messages leaves the spool directory. Returns how many went. Reuse starts over
    /// with new files, so calling this now and then (the lifecycle job does) costs little.
    pub async fn forget_recycled(&self) -> Result<usize, SpoolError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let kept: Vec<PathBuf> = std::mem::take(&mut *inner.free_files.lock().unwrap());
            let mut removed = 0;
            for path in kept {
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(SpoolError::io("remove", &path)(e)),
                }
            }
            Ok(removed)
        })
        .await
    }

    /// [`Spool::remove`] for many messages in one trip to the blocking pool; one result per ID,
    /// in order.
    pub async fn remove_many(
        &self,
        ids: Vec<MessageId>,
    ) -> Result<Vec<(MessageId, Result<(), SpoolError>)>, SpoolError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            Ok(ids
                .into_iter()
                .map(|id| (id, inner.remove_message(id)))
                .collect())
        })
        .await
    }

    /// The IDs of all committed messages, oldest first.
    pub async fn list(&self) -> Result<Vec<MessageId>, SpoolError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.list_messages()).await
    }

    /// The IDs of every message whose file was ever quarantined under `corrupt/` (now or by an
    /// earlier start): acknowledged messages whose bytes are damaged.
    pub fn quarantined_ids(&self) -> Result<Vec<MessageId>, SpoolError> {
        let dir = &self.inner.layout.corrupt;
        let entries = fs::read_dir(dir).map_err(SpoolError::io("list", dir))?;
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name();
                name.to_str()?.split('.').next()?.parse().ok()
            })
            .collect())
    }

    /// Bytes of committed files (headers and metadata included).
    pub fn used_bytes(&self) -> u64 {
        self.inner.quota.stored()
    }

    /// Bytes promised to messages still being received.
    pub fn reserved_bytes(&self) -> u64 {
        self.inner.quota.reserved()
    }

    pub fn limit_bytes(&self) -> u64 {
        self.inner.quota.limit()
    }

    pub fn dir(&self) -> &Path {
        &self.inner.layout.root
    }

    pub fn stats(&self) -> SpoolStats {
        let counters = self.inner.syncer.counters();
        SpoolStats {
            commits: counters.commits.load(Ordering::Relaxed),
            directory_syncs: counters.directory_syncs.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    /// The failure a test armed for this step of a commit, if any.
    #[cfg(any(test, feature = "test-util"))]
    fn injected(&self, step: CommitStep) -> io::Result<()> {
        self.faults.check(step)
    }

    #[cfg(not(any(test, feature = "test-util")))]
    #[inline(always)]
    fn injected(&self, _step: CommitStep) -> io::Result<()> {
        Ok(())
    }

    /// Writes the file under `tmp/`, flushes it and renames it into its shard; the directory
    /// fsync that makes the rename durable is the caller's. Returns the path and the file size.
    fn write_message(
        &self,
        meta: &SpoolMeta,
        reservation: &mut Reservation,
        body: &[u8],
    ) -> Result<(PathBuf, u64), SpoolError> {
        let head = format::encode_head(meta, body).map_err(|e| SpoolError::Encode(meta.id, e))?;
        let file_len = (head.len() + body.len()) as u64;
        self.quota.settle(reservation, file_len)?;
        let written = self.write_file(meta.id, &head, body);
        if written.is_err() {
            self.quota.forget(file_len);
        }
        written.map(|path| (path, file_len))
    }

    fn write_file(&self, id: MessageId, head: &[u8], body: &[u8]) -> Result<PathBuf, SpoolError> {
        let target = self.layout.message_path(id);
        let recycled = self.free_files.lock().unwrap().pop();
        let (mut file, written) = match recycled {
            Some(free) => match OpenOptions::new().write(true).open(&free) {
                Ok(file) => (file, free),
                Err(e) => return Err(SpoolError::io("reopen", &free)(e)),
            },
            None => {
                let tmp = self.layout.tmp_path(id);
                match OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(PRIVATE_FILE)
                    .open(&tmp)
                {
                    Ok(file) => (file, tmp),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Err(SpoolError::AlreadyCommitted(id));
                    }
                    Err(e) => return Err(SpoolError::io("create", &tmp)(e)),
                }
            }
        };
        let outcome = (|| {
            self.injected(CommitStep::Write)
                .and_then(|()| file.write_all(head))
                .and_then(|()| file.write_all(body))
                .map_err(SpoolError::io("write", &written))?;
            // A reused file may have been longer; the header states the exact length.
            file.set_len((head.len() + body.len()) as u64)
                .map_err(SpoolError::io("truncate", &written))?;
            // Before the rename, or a crash could leave a complete name on incomplete data.
            self.injected(CommitStep::FileSync)
                .and_then(|()| file.sync_data())
                .map_err(SpoolError::io("fsync", &written))?;
            let renamed = self
                .injected(CommitStep::Rename)
                .and_then(|()| rename_no_replace(&written, &target));
            match renamed {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Err(SpoolError::AlreadyCommitted(id))
                }
                Err(e) => Err(SpoolError::io("rename", &written)(e)),
            }
        })();
        if outcome.is_err() {
            let _ = fs::remove_file(&written);
        }
        outcome.map(|()| target)
    }

    fn read_message(&self, id: MessageId) -> Result<(SpoolMeta, Vec<u8>), SpoolError> {
        let path = self.layout.message_path(id);
        let mut bytes = fs::read(&path).map_err(not_found_or(id, "read", &path))?;
        let verdict = format::decode(&bytes).and_then(|(meta, body)| {
            check_id(id, &meta)?;
            Ok((meta, bytes.len() - body.len()))
        });
        match verdict {
            Ok((meta, body_start)) => {
                bytes.drain(..body_start);
                Ok((meta, bytes))
            }
            Err(reason) => {
                if quarantine(&self.layout, &path, &reason)?.is_some() {
                    self.quota.forget(bytes.len() as u64);
                }
                Err(SpoolError::Corrupt { path, reason })
            }
        }
    }

    fn remove_message(&self, id: MessageId) -> Result<(), SpoolError> {
        self.remove_message_as(id, Removal::Recycle)
    }

    fn remove_message_as(&self, id: MessageId, removal: Removal) -> Result<(), SpoolError> {
        let path = self.layout.message_path(id);
        let len = fs::symlink_metadata(&path)
            .map_err(not_found_or(id, "look up", &path))?
            .len();
        let keep = removal == Removal::Recycle
            && len <= RECYCLE_MAX_BYTES
            && self.free_files.lock().unwrap().len() < RECYCLE_FILES;
        if keep {
            // The name goes first, so no reader can find the message once its file is reused.
            let free = self
                .layout
                .free_path(self.next_free_name.fetch_add(1, Ordering::Relaxed));
            fs::rename(&path, &free).map_err(not_found_or(id, "recycle", &path))?;
            self.free_files.lock().unwrap().push(free);
        } else {
            fs::remove_file(&path).map_err(not_found_or(id, "remove", &path))?;
        }
        self.quota.forget(len);
        Ok(())
    }

    fn list_messages(&self) -> Result<Vec<MessageId>, SpoolError> {
        let mut ids = Vec::new();
        for shard in 0..SHARDS {
            let dir = self.layout.shard_dir(shard);
            for entry in fs::read_dir(&dir).map_err(SpoolError::io("list", &dir))? {
                let entry = entry.map_err(SpoolError::io("list", &dir))?;
                if let Some(id) = entry
                    .file_name()
                    .to_str()
                    .and_then(|name| name.parse::<MessageId>().ok())
                {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }
}

/// `rename` that fails with `AlreadyExists` instead of replacing `to`: a commit must never
/// overwrite a committed message.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // A file system without RENAME_NOREPLACE: the commit of an ID holds `tmp/<id>` or a
        // free file of its own, and IDs are unique per node, so look-then-rename is enough.
        Err(rustix::io::Errno::INVAL) => {
            if to.try_exists()? {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(from, to)
        }
        Err(errno) => Err(errno.into()),
    }
}

fn check_id(id: MessageId, meta: &SpoolMeta) -> Result<(), FormatError> {
    if meta.id == id {
        Ok(())
    } else {
        Err(FormatError::Misplaced(format!(
            "file of {id} holds the metadata of {}",
            meta.id
        )))
    }
}

fn not_found_or(
    id: MessageId,
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> SpoolError {
    let otherwise = SpoolError::io(action, path);
    move |e| {
        if e.kind() == io::ErrorKind::NotFound {
            SpoolError::NotFound(id)
        } else {
            otherwise(e)
        }
    }
}

fn lock(root: &Path) -> Result<File, SpoolError> {
    let path = root.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(PRIVATE_FILE)
        .open(&path)
        .map_err(SpoolError::io("open", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(SpoolError::Locked(root.to_owned())),
        Err(fs::TryLockError::Error(e)) => Err(SpoolError::io("lock", &path)(e)),
    }
}

/// What [`clear_tmp`] removed.
struct Cleared {
    partial: usize,
    recycled: usize,
}

/// Everything under `tmp/` is garbage after a stop: a file kept for reuse, or a commit that
/// never returned (so never acknowledged). Only the latter were cut short.
fn clear_tmp(layout: &Layout) -> Result<Cleared, SpoolError> {
    let mut cleared = Cleared {
        partial: 0,
        recycled: 0,
    };
    for entry in fs::read_dir(&layout.tmp).map_err(SpoolError::io("list", &layout.tmp))? {
        let entry = entry.map_err(SpoolError::io("list", &layout.tmp))?;
        let recycled = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(FREE_PREFIX));
        let path = entry.path();
        let outcome = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        outcome.map_err(SpoolError::io("remove", &path))?;
        match recycled {
            true => cleared.recycled += 1,
            false => cleared.partial += 1,
        }
    }
    Ok(cleared)
}

/// Validates the files of one shard into `recovery`; returns the bytes of the valid ones.
fn scan_shard(layout: &Layout, shard: i64, recovery: &mut Recovery) -> Result<u64, SpoolError> {
    let dir = layout.shard_dir(shard);
    let mut stored = 0;
    for entry in fs::read_dir(&dir).map_err(SpoolError::io("list", &dir))? {
        let entry = entry.map_err(SpoolError::io("list", &dir))?;
        let path = entry.path();
        let verdict = match expected_id(&entry, shard) {
            Ok(id) => {
                let read = read_meta(&path).map_err(SpoolError::io("read", &path))?;
                if let Ok((meta, _)) = &read
                    && meta.id != id
                    && layout.message_path(meta.id).is_file()
                {
                    // A recycled file's old name: the rename that retired it was not yet on
                    // disk when the node stopped, and the file now holds a message that has
                    // its own name. Only that name is removed.
                    fs::remove_file(&path).map_err(SpoolError::io("remove", &path))?;
                    recovery.removed_stale += 1;
                    continue;
                }
                read.and_then(|(meta, len)| {
                    check_id(id, &meta)?;
                    Ok((meta, len))
                })
            }
            Err(reason) => Err(reason),
        };
        match verdict {
            Ok((meta, len)) => {
                stored += len;
                recovery.messages.push(meta);
            }
            Err(reason) => recovery
                .quarantined
                .extend(quarantine(layout, &path, &reason)?),
        }
    }
    Ok(stored)
}

/// The ID a file in `shard` must hold, judged from its name and type alone.
fn expected_id(entry: &fs::DirEntry, shard: i64) -> Result<MessageId, FormatError> {
    let name = entry.file_name();
    let id = name
        .to_str()
        .and_then(|text| {
            text.parse::<MessageId>()
                .ok()
                .filter(|id| id.to_string() == text)
        })
        .ok_or_else(|| FormatError::Misplaced(format!("{name:?} is not a message ID")))?;
    if !entry.file_type().is_ok_and(|t| t.is_file()) {
        return Err(FormatError::Misplaced("not a regular file".into()));
    }
    if Layout::shard_of(id) != shard {
        return Err(FormatError::Misplaced(format!(
            "{id} belongs in shard {:03x}",
            Layout::shard_of(id)
        )));
    }
    Ok(id)
}

/// The metadata of the file at `path` and the file's size, reading no more than the header and
/// the metadata record: the outer error is the disk's, the inner one the file's.
fn read_meta(path: &Path) -> io::Result<Result<(SpoolMeta, u64), FormatError>> {
    let mut file = File::open(path)?;
    let actual = file.metadata()?.len();
    let mut head = Vec::with_capacity(HEADER_LEN);
    (&mut file).take(HEADER_LEN as u64).read_to_end(&mut head)?;
    let header = match Header::parse(&head) {
        Ok(header) => header,
        Err(reason) => return Ok(Err(reason)),
    };
    let expected = header.file_len();
    if expected != actual {
        return Ok(Err(FormatError::LengthMismatch { expected, actual }));
    }
    let mut json = vec![0; header.meta_len as usize];
    file.read_exact(&mut json)?;
    Ok(format::parse_meta(&header, &json).map(|meta| (meta, actual)))
}

/// Moves a file that failed validation to `corrupt/`. `None` if it was already gone (another
/// reader moved it first).
fn quarantine(
    layout: &Layout,
    path: &Path,
    reason: &FormatError,
) -> Result<Option<PathBuf>, SpoolError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut target = layout.corrupt.join(&name);
    let mut n = 0;
    while target
        .try_exists()
        .map_err(SpoolError::io("look up", &target))?
    {
        n += 1;
        target = layout.corrupt.join(format!("{name}.{n}"));
    }
    match fs::rename(path, &target) {
        Ok(()) => {
            tracing::warn!(file = %path.display(), moved_to = %target.display(), %reason, "corrupt spool file moved aside");
            Ok(Some(target))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SpoolError::io("move aside", path)(e)),
    }
}

/// Runs file I/O off the async workers. A panic in `work` is a bug and is passed on as such.
async fn blocking<T, F>(work: F) -> Result<T, SpoolError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, SpoolError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(SpoolError::WorkerStopped),
    }
}
