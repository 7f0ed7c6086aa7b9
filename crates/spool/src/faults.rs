//! The I/O steps of a commit, and failures a test can inject into them, so that each step can
//! be made to fail in turn (as a full or failing disk would) without a special file system.
//! The injection is compiled only for tests and the `test-util` feature.

/// One I/O step of [`Spool::commit`](crate::Spool::commit), in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitStep {
    /// Writing the header, metadata and body to the new file.
    Write,
    /// `fsync` of the file's data, before it gets its final name.
    FileSync,
    /// The rename that gives the file its final name.
    Rename,
    /// `fsync` of the shard directory, which makes the rename durable.
    DirectorySync,
}

impl CommitStep {
    pub const ALL: [CommitStep; 4] = [
        CommitStep::Write,
        CommitStep::FileSync,
        CommitStep::Rename,
        CommitStep::DirectorySync,
    ];
}

#[cfg(any(test, feature = "test-util"))]
pub use injection::Faults;

#[cfg(any(test, feature = "test-util"))]
mod injection {
    use super::CommitStep;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// Shared with the spool it was given to: arm a failure, and the next commits reaching that
    /// step fail with the given OS error.
    #[derive(Debug, Clone, Default)]
    pub struct Faults {
        armed: Arc<Mutex<Vec<Armed>>>,
    }

    #[derive(Debug)]
    struct Armed {
        step: CommitStep,
        errno: i32,
        remaining: u32,
    }

    impl Faults {
        /// The next `times` commits that reach `step` fail there with `errno` (`libc`'s `ENOSPC`
        /// is 28, `EIO` 5).
        pub fn fail(&self, step: CommitStep, errno: i32, times: u32) {
            self.lock().push(Armed {
                step,
                errno,
                remaining: times,
            });
        }

        /// Disarms every failure not yet used up.
        pub fn clear(&self) {
            self.lock().clear();
        }

        pub(crate) fn check(&self, step: CommitStep) -> io::Result<()> {
            let mut armed = self.lock();
            let Some(fault) = armed.iter_mut().find(|f| f.step == step && f.remaining > 0) else {
                return Ok(());
            };
            fault.remaining -= 1;
            Err(io::Error::from_raw_os_error(fault.errno))
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
            self.armed.lock().unwrap_or_else(|p| p.into_inner())
        }
    }
}
