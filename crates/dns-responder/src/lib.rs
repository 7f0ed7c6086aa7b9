//! The built-in authoritative DNS server of the service zone.
//!
//! Owns answering the service domain's zone: its SOA and NS at the apex, the platform's records
//! that lie in it (as [`hikyaku_dns_records::platform_records`] computes them: relay hosts, SPF,
//! the service domain's DKIM keys and DMARC, the bounce domain's MX and SPF), and the SMTP host
//! name, whose A/AAAA records are the addresses of the relay nodes with a fresh heartbeat
//! ([`health`] says how heartbeats are matched to nodes). With no node healthy it lists every
//! node rather than nothing. It answers with AA, NXDOMAIN or NODATA with the SOA, REFUSED for
//! names outside the zone and for zone transfers, one RRset for ANY, over UDP (cut to the
//! client's size, with TC) and TCP, within abuse limits: UDP responses per client network
//! ([`rate_limit`]: truncated or dropped over the rate) and TCP connections capped in number,
//! idle time and questions ([`TcpLimits`]).
//!
//! Answers come from an immutable [`Zone`] behind a pointer that a background task replaces
//! every heartbeat period, after reading the store through [`ZoneSource`]: no question waits on
//! the database, and one that is away leaves the last answers in place. The answer logic
//! ([`Zone::reply`]) does no I/O. The crate reads no configuration: the binary hands it
//! [`ZoneSettings`] and a [`ZoneSource`]. It never resolves anything and never forwards.

pub mod health;
mod metrics;
pub mod rate_limit;
mod responder;
mod tcp;
mod zone;

pub use rate_limit::RateLimitSettings;
pub use responder::{Responder, ResponderError, ResponderSettings, SourceError, ZoneSource};
pub use tcp::TcpLimits;
pub use zone::{MAX_UDP_PAYLOAD, Reply, Zone, ZoneError, ZoneSettings, reply_edns};
