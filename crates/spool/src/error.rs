use crate::format::FormatError;
use hikyaku_model::MessageId;
use std::io;
use std::path::PathBuf;

/// Why a spool operation failed. [`SpoolError::is_transient`] tells the relay whether the client
/// may simply retry (a 4xx reply); nothing the spool reports is ever the message's fault.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The byte limit would be exceeded: the relay answers `452 4.3.1`.
    #[error(
        "spool full: {requested} bytes wanted, {used} stored and {reserved} reserved of {limit}"
    )]
    Full {
        requested: u64,
        used: u64,
        reserved: u64,
        limit: u64,
    },

    /// The file system is nearly full: taking the message would eat into the free space kept
    /// for finishing what was already acknowledged. The relay answers `452 4.3.1`.
    #[error(
        "disk nearly full: {available} bytes free on the file system of {dir}, {wanted} wanted, {min_free} kept in reserve"
    )]
    DiskLow {
        dir: PathBuf,
        available: u64,
        min_free: u64,
        wanted: u64,
    },

    #[error("spool I/O failed ({action} {path}): {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("message {0} is not in the spool")]
    NotFound(MessageId),

    /// A second commit of an ID already committed: a bug in the caller, never an overwrite.
    #[error("message {0} is already in the spool")]
    AlreadyCommitted(MessageId),

    /// The file was damaged after it was committed; it has been moved to `corrupt/`.
    #[error("spool file {path} is corrupt ({reason}); moved aside")]
    Corrupt { path: PathBuf, reason: FormatError },

    #[error("metadata of {id} says {declared} body bytes but the body has {actual}")]
    SizeMismatch {
        id: MessageId,
        declared: u64,
        actual: u64,
    },

    #[error("metadata of {0} cannot be encoded: {1}")]
    Encode(MessageId, serde_json::Error),

    /// Another process (or another `Spool` in this one) holds the directory.
    #[error("spool directory {0} is in use by another process")]
    Locked(PathBuf),

    /// The runtime is shutting down or the syncer thread is gone.
    #[error("spool worker stopped")]
    WorkerStopped,
}

impl SpoolError {
    /// Whether the same operation may succeed later. Disk trouble, a full spool and a shutdown
    /// are transient; the rest are bugs or damaged data that a retry cannot fix.
    pub fn is_transient(&self) -> bool {
        match self {
            SpoolError::Full { .. }
            | SpoolError::DiskLow { .. }
            | SpoolError::Io { .. }
            | SpoolError::Locked(_)
            | SpoolError::WorkerStopped => true,
            SpoolError::NotFound(_)
            | SpoolError::AlreadyCommitted(_)
            | SpoolError::Corrupt { .. }
            | SpoolError::SizeMismatch { .. }
            | SpoolError::Encode(..) => false,
        }
    }

    /// Whether the failure is a lack of space, by quota or on the disk itself: the relay's
    /// `452 4.3.1` rather than `451 4.3.0`.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            SpoolError::Full { .. } | SpoolError::DiskLow { .. } => true,
            SpoolError::Io { source, .. } => {
                matches!(
                    source.kind(),
                    io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
                )
            }
            _ => false,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> SpoolError {
        let path = path.into();
        move |source| SpoolError::Io {
            action,
            path,
            source,
        }
    }
}
