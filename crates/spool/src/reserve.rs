use crate::SpoolError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Free space to keep on a file system: below it, new mail is refused with a `4xx` while there
/// is still room to finish what was already acknowledged (the database's WAL and checkpoints,
/// the delivery records, the messages being received). A disk that fills up does not lose
/// acknowledged mail either, but every write on it fails and the service stalls; the reserve
/// turns that into a prompt `452 4.3.1` and a `/readyz` that says why.
///
/// Cheap to clone; every clone shares the setting.
#[derive(Debug, Clone)]
pub struct DiskReserve {
    dir: PathBuf,
    min_free: Arc<AtomicU64>,
}

impl DiskReserve {
    /// Watches the file system of `dir`; `min_free` bytes (`0`: no reserve).
    pub fn new(dir: &Path, min_free: u64) -> DiskReserve {
        DiskReserve {
            dir: dir.to_owned(),
            min_free: Arc::new(AtomicU64::new(min_free)),
        }
    }

    pub fn set_min_free(&self, bytes: u64) {
        self.min_free.store(bytes, Ordering::Relaxed);
    }

    pub fn min_free(&self) -> u64 {
        self.min_free.load(Ordering::Relaxed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes an unprivileged writer can still use on the file system.
    pub fn available(&self) -> Result<u64, SpoolError> {
        let stat = rustix::fs::statvfs(&self.dir)
            .map_err(|e| SpoolError::io("measure free space of", &self.dir)(e.into()))?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// Whether `wanted` more bytes leave the reserve intact. A file system that cannot be
    /// measured is not a reason to refuse mail: the writes themselves will tell.
    pub fn check(&self, wanted: u64) -> Result<(), SpoolError> {
        let min_free = self.min_free();
        if min_free == 0 {
            return Ok(());
        }
        match self.available() {
            Ok(available) if available < min_free.saturating_add(wanted) => {
                Err(SpoolError::DiskLow {
                    dir: self.dir.clone(),
                    available,
                    min_free,
                    wanted,
                })
            }
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, "cannot measure free disk space");
                Ok(())
            }
        }
    }
}
