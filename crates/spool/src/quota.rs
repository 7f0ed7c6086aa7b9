use crate::SpoolError;
use std::sync::{Arc, Mutex, MutexGuard};

/// The spool's byte budget: bytes of committed files plus bytes promised to messages still
/// being received never exceed the limit, so a message that was let in always has room.
#[derive(Debug)]
pub(crate) struct Quota {
    limit: u64,
    usage: Mutex<Usage>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    stored: u64,
    reserved: u64,
}

impl Quota {
    pub fn new(limit: u64, stored: u64) -> Arc<Quota> {
        Arc::new(Quota {
            limit,
            usage: Mutex::new(Usage {
                stored,
                reserved: 0,
            }),
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn stored(&self) -> u64 {
        self.lock().stored
    }

    pub fn reserved(&self) -> u64 {
        self.lock().reserved
    }

    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, SpoolError> {
        let mut usage = self.lock();
        self.check(&usage, bytes)?;
        usage.reserved += bytes;
        Ok(Reservation {
            quota: Arc::clone(self),
            bytes,
        })
    }

    /// Turns `reservation` into `file_len` stored bytes. The file may be larger than what was
    /// reserved (the metadata record comes on top of the body); the difference must then fit.
    pub fn settle(&self, reservation: &mut Reservation, file_len: u64) -> Result<(), SpoolError> {
        let mut usage = self.lock();
        let others = Usage {
            stored: usage.stored,
            reserved: usage.reserved - reservation.bytes,
        };
        self.check(&others, file_len)?;
        *usage = Usage {
            stored: others.stored + file_len,
            reserved: others.reserved,
        };
        reservation.bytes = 0;
        Ok(())
    }

    /// A stored file is gone (removed, moved aside, or its commit failed).
    pub fn forget(&self, file_len: u64) {
        let mut usage = self.lock();
        usage.stored = usage.stored.saturating_sub(file_len);
    }

    fn check(&self, usage: &Usage, requested: u64) -> Result<(), SpoolError> {
        let total = usage
            .stored
            .saturating_add(usage.reserved)
            .saturating_add(requested);
        if total > self.limit {
            return Err(SpoolError::Full {
                requested,
                used: usage.stored,
                reserved: usage.reserved,
                limit: self.limit,
            });
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Usage> {
        // The critical sections cannot panic half-way, so a poisoned lock still holds sound data.
        self.usage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Room promised in the spool for one message being received. Dropping it gives the room back;
/// [`Spool::commit`](crate::Spool::commit) consumes it.
#[derive(Debug)]
#[must_use = "dropping a reservation releases it at once"]
pub struct Reservation {
    pub(crate) quota: Arc<Quota>,
    bytes: u64,
}

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            let mut usage = self.quota.lock();
            usage.reserved -= self.bytes;
        }
    }
}
