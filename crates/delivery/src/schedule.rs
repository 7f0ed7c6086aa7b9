//! The scheduled queue: when each recipient group is next due, and the retry schedule.

use hikyaku_model::{MessageId, Timestamp};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// The recipients of one message at one domain, due at one time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    pub at: Timestamp,
    pub message: MessageId,
    pub domain: String,
    pub recipients: Vec<u32>,
}

/// A min-heap of due work, earliest first.
#[derive(Debug, Default)]
pub struct Schedule {
    heap: BinaryHeap<Reverse<Due>>,
}

impl Schedule {
    pub fn push(&mut self, due: Due) {
        self.heap.push(Reverse(due));
    }

    /// Removes and returns everything due at or before `now`.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<Due> {
        let mut ready = Vec::new();
        while self.heap.peek().is_some_and(|Reverse(d)| d.at <= now) {
            ready.push(self.heap.pop().expect("peeked").0);
        }
        ready
    }

    pub fn next_at(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse(d)| d.at)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

/// When to try again after `attempts` attempts (1 after the first): the configured interval for
/// that attempt (the last one repeats), spread by up to ±10 % so that a destination that was
/// down does not get every deferred message back in the same second, and never after the
/// message's expiry (the last attempt is made at expiry, so the final answer is fresh).
pub fn next_attempt(
    attempts: u32,
    intervals: &[Duration],
    now: Timestamp,
    expires_at: Timestamp,
) -> Timestamp {
    let index = (attempts.max(1) as usize - 1).min(intervals.len().saturating_sub(1));
    let base = intervals
        .get(index)
        .copied()
        .unwrap_or(Duration::from_secs(300));
    let spread = base.as_millis() as f64 * 0.1;
    let jitter = (rand::random::<f64>() * 2.0 - 1.0) * spread;
    let millis = (base.as_millis() as f64 + jitter).max(1000.0) as u64;
    now.saturating_add(Duration::from_millis(millis))
        .min(expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(at: i64, n: u8) -> Due {
        Due {
            at: Timestamp(at),
            message: MessageId::from_bytes([n; 16]),
            domain: "x.jp".into(),
            recipients: vec![0],
        }
    }

    #[test]
    fn takes_due_work_in_time_order() {
        let mut s = Schedule::default();
        for (at, n) in [(30, 3), (10, 1), (20, 2), (40, 4)] {
            s.push(due(at, n));
        }
        assert_eq!(s.next_at(), Some(Timestamp(10)));
        let taken: Vec<_> = s
            .take_due(Timestamp(30))
            .into_iter()
            .map(|d| d.at.0)
            .collect();
        assert_eq!(taken, [10, 20, 30]);
        assert_eq!(s.len(), 1);
        assert!(s.take_due(Timestamp(39)).is_empty());
    }

    #[test]
    fn retries_follow_the_intervals_with_jitter_and_stop_at_expiry() {
        let intervals = [Duration::from_secs(60), Duration::from_secs(600)];
        let now = Timestamp(1_000_000);
        let far = Timestamp(i64::MAX);
        for _ in 0..100 {
            let first = next_attempt(1, &intervals, now, far).0 - now.0;
            assert!((54_000..=66_000).contains(&first), "{first}");
            let later = next_attempt(5, &intervals, now, far).0 - now.0;
            assert!(
                (540_000..=660_000).contains(&later),
                "the last interval repeats: {later}"
            );
        }
        assert_eq!(
            next_attempt(1, &intervals, now, Timestamp(1_010_000)),
            Timestamp(1_010_000)
        );
    }
}
