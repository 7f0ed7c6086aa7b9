use hikyaku_model::Timestamp;
use std::time::Duration;

/// Exponential back-off with jitter: the wait after the n-th failed attempt is
/// `initial × 2^(n-1)`, at most `max`, each time moved by up to ±20 % at random so that many
/// posts failing together (an endpoint that was down) do not all come back in the same second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

/// ±20 %.
const JITTER: f64 = 0.2;

impl Backoff {
    /// The wait after `failures` failed attempts (1 after the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(40);
        let base = self
            .initial
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max)
            .min(self.max);
        let factor = 1.0 + (rand::random::<f64>() * 2.0 - 1.0) * JITTER;
        base.mul_f64(factor)
    }

    /// When to try again after `failures` failed attempts, or `None` when `deadline` has come:
    /// never later than the deadline, so the last attempt is made at it.
    pub fn next_attempt(
        &self,
        failures: u32,
        now: Timestamp,
        deadline: Timestamp,
    ) -> Option<Timestamp> {
        if now >= deadline {
            return None;
        }
        Some(now.saturating_add(self.delay(failures)).min(deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_up_to_the_maximum() {
        let backoff = Backoff {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        };
        for _ in 0..200 {
            for (failures, base) in [(1, 30.0), (2, 60.0), (3, 120.0), (8, 3600.0), (500, 3600.0)] {
                let wait = backoff.delay(failures).as_secs_f64();
                assert!(
                    (base * 0.8..=base * 1.2).contains(&wait),
                    "after {failures} failures: {wait}"
                );
            }
        }
        // Jitter really varies.
        let waits: std::collections::HashSet<u128> =
            (0..50).map(|_| backoff.delay(3).as_millis()).collect();
        assert!(waits.len() > 10);
    }

    #[test]
    fn never_beyond_the_deadline() {
        let backoff = Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
        };
        let now = Timestamp(1_000_000);
        let next = backoff.next_attempt(1, now, Timestamp(i64::MAX)).unwrap();
        assert!((1_048_000..=1_072_000).contains(&next.0), "{next:?}");
        assert_eq!(
            backoff.next_attempt(1, now, Timestamp(1_010_000)),
            Some(Timestamp(1_010_000)),
            "the last attempt is at the deadline"
        );
        assert_eq!(backoff.next_attempt(1, now, now), None);
        assert_eq!(backoff.next_attempt(9, now, Timestamp(999_999)), None);
    }
}
