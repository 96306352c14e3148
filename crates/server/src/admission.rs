//! Admission control: each model version takes at most a fixed number of requests at once,
//! running or waiting for an inference thread; past that a request is turned away at once
//! (HTTP 503 with Retry-After, gRPC RESOURCE_EXHAUSTED) instead of queueing without bound. A
//! request's deadline, when it has one, bounds how long it may wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bound on one model version's requests.
#[derive(Debug)]
pub struct Admission {
    capacity: usize,
    in_system: Arc<AtomicUsize>,
}

/// Held by an admitted request until it has its answer (or gives up); dropping it frees the
/// place.
#[derive(Debug)]
pub struct AdmissionTicket {
    in_system: Arc<AtomicUsize>,
}

impl Drop for AdmissionTicket {
    fn drop(&mut self) {
        self.in_system.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// Room for `capacity` requests (at least one) at once.
    pub fn new(capacity: usize) -> Admission {
        Admission {
            capacity: capacity.max(1),
            in_system: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A place for one more request, or `None` when all are taken.
    pub fn try_admit(&self) -> Option<AdmissionTicket> {
        self.in_system
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .ok()
            .map(|_| AdmissionTicket {
                in_system: self.in_system.clone(),
            })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Requests holding a place now.
    pub fn in_system(&self) -> usize {
        self.in_system.load(Ordering::Acquire)
    }
}

/// When a request stops being worth answering: its arrival plus the timeout its client gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Instant);

impl Deadline {
    pub fn after(arrived: Instant, timeout: Duration) -> Deadline {
        Deadline(arrived + timeout)
    }

    pub fn has_passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// Parses a `grpc-timeout` header value: up to eight digits and a unit (`H`, `M`, `S`, `m`, `u`,
/// `n`), as the gRPC HTTP/2 specification defines it.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
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

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5000u"), Some(Duration::from_millis(5)));
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(
            parse_grpc_timeout("123456789S"),
            None,
            "at most eight digits"
        );
        assert_eq!(parse_grpc_timeout("-1S"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
    }
}
