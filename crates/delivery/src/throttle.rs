//! Rate limits and back-off of one destination group. Pure state machines over a given clock,
//! so they are tested without sleeping.

use crate::rules::MAX_BACKOFF;
use hikyaku_config::Rate;
use std::time::{Duration, Instant};

/// A token bucket: `rate.messages` per `rate.per` on average, with a burst of at most one
/// second's worth (at least one message), so a "300/min" carrier sees 5 per second, not 300 at
/// the top of each minute.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate: Rate, now: Instant) -> Self {
        let per_second = f64::from(rate.messages) / rate.per.as_secs_f64();
        let capacity = per_second.max(1.0);
        RateLimiter {
            per_second,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// When the bucket will be full again, if it is not now: until then, forgetting it (and
    /// starting over with a full one) would let more through than the rate.
    pub fn full_at(&self, now: Instant) -> Option<Instant> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        (tokens < self.capacity)
            .then(|| now + Duration::from_secs_f64((self.capacity - tokens) / self.per_second))
    }

    /// Takes one message's permission, or says how long to wait for it.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }
}

/// Back-off after a destination said "not now" (421, a throttling 4.7.x, "too many
/// connections"): no new connections until it ends; each further refusal while backing off
/// doubles the pause up to [`MAX_BACKOFF`]; a success ends it. Recovers by itself.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    until: Option<Instant>,
    current: Duration,
}

impl Backoff {
    pub fn throttled(&mut self, now: Instant, base: Duration) {
        self.current = if self.current.is_zero() {
            base
        } else {
            (self.current * 2).min(MAX_BACKOFF).max(base)
        };
        self.until = Some(now + self.current);
    }

    pub fn succeeded(&mut self) {
        self.until = None;
        self.current = Duration::ZERO;
    }

    /// When new connections may be opened again, if not now.
    pub fn blocked_until(&self, now: Instant) -> Option<Instant> {
        self.until.filter(|until| *until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_spreads_a_per_minute_rate() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(
            Rate {
                messages: 300,
                per: Duration::from_secs(60),
            },
            t0,
        );
        let taken = (0..10).filter(|_| limiter.try_take(t0).is_ok()).count();
        assert_eq!(taken, 5, "a burst of one second's worth");
        let wait = limiter.try_take(t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(200) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(limiter.try_take(t0 + Duration::from_millis(200)).is_ok());
        // Over a minute, no more than the rate (plus the initial burst).
        let mut sent = 0;
        for ms in (0..60_000).step_by(10) {
            if limiter
                .try_take(t0 + Duration::from_millis(200 + ms))
                .is_ok()
            {
                sent += 1;
            }
        }
        assert!((299..=301).contains(&sent), "{sent}");
    }

    #[test]
    fn a_bucket_says_when_it_is_full_again() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(
            Rate {
                messages: 30,
                per: Duration::from_secs(60),
            },
            t0,
        );
        assert_eq!(limiter.full_at(t0), None);
        assert!(limiter.try_take(t0).is_ok());
        assert_eq!(limiter.full_at(t0), Some(t0 + Duration::from_secs(2)));
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limiter.full_at(later), Some(t0 + Duration::from_secs(2)));
        assert_eq!(limiter.full_at(t0 + Duration::from_secs(2)), None);
    }

    #[test]
    fn slow_rates_allow_one_at_a_time() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(
            Rate {
                messages: 2,
                per: Duration::from_secs(60),
            },
            t0,
        );
        assert!(limiter.try_take(t0).is_ok());
        let wait = limiter.try_take(t0).unwrap_err();
        assert_eq!(wait.as_secs(), 30);
        assert!(limiter.try_take(t0 + Duration::from_secs(30)).is_ok());
    }

    #[test]
    fn backoff_doubles_caps_and_recovers() {
        let t0 = Instant::now();
        let base = Duration::from_secs(60);
        let mut backoff = Backoff::default();
        assert_eq!(backoff.blocked_until(t0), None);
        backoff.throttled(t0, base);
        assert_eq!(backoff.blocked_until(t0), Some(t0 + base));
        assert_eq!(backoff.blocked_until(t0 + base), None, "ends by itself");
        backoff.throttled(t0, base);
        assert_eq!(backoff.blocked_until(t0), Some(t0 + 2 * base));
        for _ in 0..10 {
            backoff.throttled(t0, base);
        }
        assert_eq!(backoff.blocked_until(t0), Some(t0 + MAX_BACKOFF));
        backoff.succeeded();
        assert_eq!(backoff.blocked_until(t0), None);
        backoff.throttled(t0, base);
        assert_eq!(
            backoff.blocked_until(t0),
            Some(t0 + base),
            "starts over after a success"
        );
    }
}
