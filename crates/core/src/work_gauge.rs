//! How many requests for one model version are being worked on right now: decoded, checked,
//! run or encoded on an inference thread (not those still uploading or waiting for a thread).
//! The engine counts them; a backend that chooses sessions by load (`performance = "auto"`)
//! reads the count, because two requests overlap for the CPUs as soon as one is decoded while
//! the other runs, not only when both run at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The count of requests at work for one model version; clones share it.
#[derive(Debug, Clone, Default)]
pub struct WorkGauge {
    at_work: Arc<AtomicUsize>,
}

/// One request at work; dropping it takes the request off the count.
#[derive(Debug)]
#[must_use = "the request counts as at work only while this is held"]
pub struct AtWork {
    at_work: Arc<AtomicUsize>,
}

impl WorkGauge {
    /// A gauge at zero.
    pub fn new() -> WorkGauge {
        WorkGauge::default()
    }

    /// Counts one request as at work until the result is dropped.
    pub fn start(&self) -> AtWork {
        self.at_work.fetch_add(1, Ordering::AcqRel);
        AtWork {
            at_work: self.at_work.clone(),
        }
    }

    /// Requests at work now.
    pub fn now(&self) -> usize {
        self.at_work.load(Ordering::Acquire)
    }
}

impl Drop for AtWork {
    fn drop(&mut self) {
        self.at_work.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_counts_while_its_guard_lives_and_clones_share_the_count() {
        let gauge = WorkGauge::new();
        let seen_by_backend = gauge.clone();
        assert_eq!(seen_by_backend.now(), 0);
        let first = gauge.start();
        let second = gauge.start();
        assert_eq!(seen_by_backend.now(), 2);
        drop(first);
        assert_eq!(seen_by_backend.now(), 1);
        drop(second);
        assert_eq!(seen_by_backend.now(), 0);
    }
}
