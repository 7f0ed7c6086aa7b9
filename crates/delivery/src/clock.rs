//! Time as the engine sees it: wall time for the send log, expiry and the retry schedule;
//! monotonic time for back-off and rate limits; and sleeping until a monotonic deadline. Behind
//! a trait so that tests move time by hand instead of waiting for it.

use hikyaku_model::Timestamp;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

/// A future that ends once a clock has reached a deadline.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Clock: Send + Sync + 'static {
    /// Wall time.
    fn now(&self) -> Timestamp;
    /// Monotonic time, which never goes back when the wall clock is set.
    fn instant(&self) -> Instant;
    /// Ends once [`Clock::instant`] has reached `until`.
    fn sleep_until(&self, until: Instant) -> Sleep;
}

/// The machine's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, until: Instant) -> Sleep {
        Box::pin(tokio::time::sleep_until(until.into()))
    }
}

/// A clock that stands still until a test moves it: every sleep due by then ends at once.
#[cfg(test)]
pub struct ManualClock {
    start: Instant,
    start_wall: Timestamp,
    elapsed: tokio::sync::watch::Sender<std::time::Duration>,
}

#[cfg(test)]
impl ManualClock {
    pub fn new(start_wall: Timestamp) -> ManualClock {
        ManualClock {
            start: Instant::now(),
            start_wall,
            elapsed: tokio::sync::watch::Sender::new(std::time::Duration::ZERO),
        }
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.elapsed.send_modify(|elapsed| *elapsed += by);
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.start_wall.saturating_add(*self.elapsed.borrow())
    }

    fn instant(&self) -> Instant {
        self.start + *self.elapsed.borrow()
    }

    fn sleep_until(&self, until: Instant) -> Sleep {
        let start = self.start;
        let mut elapsed = self.elapsed.subscribe();
        Box::pin(async move {
            while start + *elapsed.borrow_and_update() < until {
                if elapsed.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}
