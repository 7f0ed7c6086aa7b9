//! Response rate limiting (RRL) of UDP answers, per client network: what keeps the responder
//! from being a useful reflector when someone sends it questions with a victim's address.
//!
//! Every UDP response to a network (an IPv4 /24, an IPv6 /56 by default) draws on one budget,
//! whatever its code: NOERROR, NXDOMAIN, REFUSED and FORMERR alike, because a refusal reflects
//! as well as an answer does, and a forged source asks whatever costs it least. The budget is a
//! token bucket of `responses_per_second`, holding at most one second of it (the burst). Of the
//! responses over the budget, the first and then every `slip`th one is sent as an empty answer
//! with TC set, which is no larger than the question, and tells a real resolver behind the
//! network to ask again over TCP, where no address can be forged; the others are dropped.
//!
//! The table of networks has a fixed size, allocated once: a spray of forged addresses replaces
//! entries, never grows it. Each network hashes (with a key chosen at start, so a sender cannot
//! aim at one set) to a set of a few entries; a new network takes the entry with the most
//! budget left, so the networks being limited are the last to be forgotten. The limiter is
//! handed the time of each response, so its behaviour is tested in memory.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// How UDP responses are limited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Responses per second to one client network; 0: no limit.
    pub responses_per_second: u32,
    /// Of the responses over the limit, the first and every `slip`th after it is sent truncated
    /// (TC set, no records), the rest dropped; 0: all dropped, 1: all truncated.
    pub slip: u32,
    /// The length of the prefix that makes an IPv4 client's network.
    pub ipv4_prefix_len: u8,
    /// The length of the prefix that makes an IPv6 client's network.
    pub ipv6_prefix_len: u8,
    /// How many client networks are remembered at once (the table's fixed size).
    pub table_size: usize,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            responses_per_second: 20,
            slip: 2,
            ipv4_prefix_len: 24,
            ipv6_prefix_len: 56,
            table_size: DEFAULT_TABLE_SIZE,
        }
    }
}

/// About 3 MiB of table: room for far more networks than ask an authoritative server of one
/// small zone within a second, which is as long as an entry matters.
pub const DEFAULT_TABLE_SIZE: usize = 65_536;

/// Entries per set: a new network may take any of them.
const WAYS: usize = 4;

/// What to do with one UDP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the budget: send it.
    Answer,
    /// Over it: send an empty truncated answer instead.
    Slip,
    /// Over it: send nothing.
    Drop,
}

/// A client network: the address family and the address with the host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Network {
    V4(u32),
    V6(u128),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    network: Option<Network>,
    /// When the budget is whole again, in nanoseconds since the limiter's origin (the
    /// "theoretical arrival time" of the generic cell rate algorithm: one response moves it
    /// one interval later; a response is within the budget while it is at most one second
    /// less an interval ahead of now).
    full_at: u64,
    /// Responses over the limit so far (wrapping), for the slip's rhythm.
    over: u32,
}

const EMPTY: Entry = Entry {
    network: None,
    full_at: 0,
    over: 0,
};

/// The limiter: shared by every UDP socket of a responder.
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    /// Nanoseconds one response costs.
    interval: u64,
    origin: Instant,
    hasher: RandomState,
    entries: Mutex<Vec<Entry>>,
}

impl RateLimiter {
    /// A limiter whose times are measured from `origin`; `None` when the settings limit
    /// nothing.
    pub fn new(settings: RateLimitSettings, origin: Instant) -> Option<RateLimiter> {
        if settings.responses_per_second == 0 {
            return None;
        }
        let sets = settings.table_size.div_ceil(WAYS).max(1);
        Some(RateLimiter {
            interval: 1_000_000_000 / u64::from(settings.responses_per_second),
            origin,
            hasher: RandomState::new(),
            entries: Mutex::new(vec![EMPTY; sets * WAYS]),
            settings,
        })
    }

    /// The verdict on one response to `client` at `now`, counted against its network.
    pub fn check(&self, client: IpAddr, now: Instant) -> Verdict {
        let network = self.network(client);
        let now = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let set = self.set_of(network, entries.len());
        let entry = Self::entry_for(&mut entries[set..set + WAYS], network);

        // One second of budget, less the response being decided.
        let tolerance = Duration::from_secs(1).as_nanos() as u64 - self.interval;
        let full_at = entry.full_at.max(now);
        if full_at <= now.saturating_add(tolerance) {
            entry.full_at = full_at + self.interval;
            return Verdict::Answer;
        }
        let earlier = entry.over;
        entry.over = entry.over.wrapping_add(1);
        match self.settings.slip {
            0 => Verdict::Drop,
            slip if earlier.is_multiple_of(slip) => Verdict::Slip,
            _ => Verdict::Drop,
        }
    }

    /// How many networks the table can hold (it never holds more).
    pub fn capacity(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn network(&self, client: IpAddr) -> Network {
        // A dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d: they are IPv4 networks.
        match client.to_canonical() {
            IpAddr::V4(v4) => {
                let len = u32::from(self.settings.ipv4_prefix_len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                Network::V4(u32::from(v4) & mask)
            }
            IpAddr::V6(v6) => {
                let len = u32::from(self.settings.ipv6_prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                Network::V6(u128::from(v6) & mask)
            }
        }
    }

    /// The first entry of the network's set.
    fn set_of(&self, network: Network, entries: usize) -> usize {
        let sets = entries / WAYS;
        (self.hasher.hash_one(network) % sets as u64) as usize * WAYS
    }

    /// The network's entry in `set`, or the one it takes over: an empty one, else the one with
    /// the most budget left (the earliest `full_at`), which is the least worth remembering.
    fn entry_for(set: &mut [Entry], network: Network) -> &mut Entry {
        if let Some(i) = set.iter().position(|e| e.network == Some(network)) {
            return &mut set[i];
        }
        let i = set
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| (e.network.is_some(), e.full_at))
            .map_or(0, |(i, _)| i);
        set[i] = Entry {
            network: Some(network),
            ..EMPTY
        };
        &mut set[i]
    }
}
