//! The agent's time: when a watch ends, whether the device's clock went back, how long to wait
//! between samples. [`SystemClock`] in service; [`ManualClock`] moves only when told (or by what
//! its sleepers wait), so tests and fleet simulations drive hours of updates in moments. TUF
//! expiry is checked by tough against the system clock, whichever clock the updater has.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A sleep's future.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where the agent reads the time and waits.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_secs(&self) -> i64;
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> Sleep<'_>;
}

/// The shared handle the updater holds.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock and tokio's timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_secs(&self) -> i64 {
        crate::state::now_secs()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock set by hand: a sleep moves it forward by its duration at once (after letting other
/// tasks run), so a five-minute watch takes no real time.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock reading `now_secs`.
    pub fn at(now_secs: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now: AtomicI64::new(now_secs),
        })
    }

    /// Sets the time (forward or back: a device whose clock was reset).
    pub fn set(&self, now_secs: i64) {
        self.now.store(now_secs, Ordering::SeqCst);
    }

    /// Moves the time forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.now.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_secs(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4);
        Box::pin(async move {
            tokio::task::yield_now().await;
            self.advance(secs.max(1));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_by_what_is_slept_and_by_hand() {
        let clock = ManualClock::at(1_000);
        clock.sleep(Duration::from_secs(300)).await;
        assert_eq!(clock.now_secs(), 1_300);
        clock.advance(-1_000);
        assert_eq!(clock.now_secs(), 300);
        clock.set(5);
        assert_eq!(clock.now_secs(), 5);
    }
}
