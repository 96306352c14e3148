//! Admission control: each model version takes at most a fixed number of requests at once,
//! running or waiting for an inference thread; past that a request is turned away at once
//! (HTTP 503 with Retry-After, gRPC RESOURCE_EXHAUSTED) instead of queueing without bound. A
//! request's deadline, when it has one, bounds how long it may wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bound on one model version's requests.
#[derive(Debug)]
pub(crate) struct Admission {
    capacity: usize,
    in_system: Arc<AtomicUsize>,
}

/// Held by an admitted request until it has its answer (or gives up); dropping it frees the
/// place.
#[derive(Debug)]
pub(crate) struct AdmissionTicket {
    in_system: Arc<AtomicUsize>,
}

impl Drop for AdmissionTicket {
    fn drop(&mut self) {
        self.in_system.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// Room for `capacity` requests (at least one) at once.
    pub(crate) fn new(capacity: usize) -> Admission {
        Admission {
            capacity: capacity.max(1),
            in_system: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A place for one more request, or `None` when all are taken.
    pub(crate) fn try_admit(&self) -> Option<AdmissionTicket> {
        self.in_system
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .ok()
            .map(|_| AdmissionTicket {
                in_system: self.in_system.clone(),
            })
    }

    /// Places in all: requests running and waiting together.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Requests holding a place now.
    pub(crate) fn in_system(&self) -> usize {
        self.in_system.load(Ordering::Acquire)
    }
}

/// When a request stops being worth answering: its arrival plus the timeout its client gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// The deadline of a request that `arrived` with `timeout` to live.
    pub fn after(arrived: Instant, timeout: Duration) -> Deadline {
        Deadline(arrived + timeout)
    }

    /// Whether it is past the deadline now.
    pub fn has_passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_taken_and_given_back() {
        let admission = Admission::new(2);
        let first = admission.try_admit().unwrap();
        let second = admission.try_admit().unwrap();
        assert!(
            admission.try_admit().is_none(),
            "a third request is turned away"
        );
        assert_eq!(admission.in_system(), 2);
        drop(first);
        let third = admission.try_admit().expect("a freed place is taken again");
        drop((second, third));
        assert_eq!(admission.in_system(), 0);
    }

    #[test]
    fn concurrent_admissions_never_exceed_the_capacity() {
        let admission = Arc::new(Admission::new(3));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (admission, most) = (admission.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        if let Some(ticket) = admission.try_admit() {
                            most.fetch_max(admission.in_system(), Ordering::SeqCst);
                            drop(ticket);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert_eq!(admission.in_system(), 0);
    }
}
