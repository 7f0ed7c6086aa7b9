//! Durable message bytes on local disk: fsync before acknowledgement, group commit, recovery scan, quota.
