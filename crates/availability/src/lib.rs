//! The availability (SLA) monitor: what the terms promise, measured.
//!
//! Owns the month's arithmetic ([`sla`]: outage minutes, maintenance excluded, availability,
//! credit; pure and table-tested), the probe of a node's HTTP and SMTP over real sockets
//! ([`probe`]), and the loop that records each minute in the store and announces the outages it
//! finds as contract notices ([`monitor`]). It must not decide anything the terms leave to the
//! operator (fees, refunds): it says how many minutes were lost and what credit that earns.

pub mod monitor;
pub mod probe;
pub mod sla;

pub use monitor::{Clock, Monitor, MonitorSettings, measure, measure_month};
pub use probe::{Probe, Target};
pub use sla::{Availability, MaintenanceWindow, Observations, Outage, availability};
