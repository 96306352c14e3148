//! Request bodies in flight, counted against the memory budget. The budget's first claim is the
//! loaded models: the server's anonymous resident memory as measured after the last model load
//! or unload. What is left is room for request bodies: each request's reservation grows as its
//! bytes arrive (a gRPC message reserves its size once decoded) and is held until its answer is
//! ready, so room is taken by bytes the server holds, never by a length a client only declared
//! (a client that announces a large body and trickles it takes no room from the others). A body
//! that outgrows the room beside the bodies already held is turned away (HTTP 503 with
//! Retry-After, gRPC RESOURCE_EXHAUSTED); one whose declared length could not fit even alone is
//! refused as too large before it is read. Model loads,
//! in turn, count the reserved bodies as memory in use. Without a budget nothing is refused; the
//! reserved total is still tracked and exported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use thiserror::Error;

use crate::process_memory::mib;

/// Why a request body was not given room.
#[derive(Debug, Error, PartialEq)]
pub enum BodyMemoryError {
    /// The body is larger than the room the loaded models leave, even with no other body held.
    #[error("request body of {body_mib} MiB does not fit in the memory budget: the loaded models leave {room_mib} MiB of its {budget_mib} MiB for request bodies")]
    NeverFits {
        /// The body's size, MiB.
        body_mib: f64,
        /// What the loaded models leave of the budget, MiB.
        room_mib: f64,
        /// The memory budget, MiB.
        budget_mib: f64,
    },
    /// The bodies in flight fill the room now; retry later.
    #[error("request bodies in flight hold {reserved_mib} MiB of the {room_mib} MiB the memory budget leaves for them; this {body_mib} MiB body does not fit now, retry in {retry_after_secs} s")]
    Full {
        /// The body's size, MiB.
        body_mib: f64,
        /// What the bodies in flight hold, MiB.
        reserved_mib: f64,
        /// What the loaded models leave of the budget, MiB.
        room_mib: f64,
        /// Seconds after which to retry.
        retry_after_secs: u64,
    },
}

/// The reserved total and the figures it is checked against; shared by every front end.
#[derive(Debug)]
pub struct BodyMemory {
    budget_bytes: Option<u64>,
    /// Anonymous resident memory after the last model load or unload.
    models_bytes: AtomicU64,
    reserved_bytes: AtomicU64,
    retry_after_secs: u64,
}

impl BodyMemory {
    /// Room for bodies within `budget_bytes` (none: unbounded); refusals for lack of room now
    /// suggest retrying after `retry_after_secs`.
    pub fn new(budget_bytes: Option<u64>, retry_after_secs: u64) -> Arc<BodyMemory> {
        Arc::new(BodyMemory {
            budget_bytes,
            models_bytes: AtomicU64::new(0),
            reserved_bytes: AtomicU64::new(0),
            retry_after_secs,
        })
    }

    /// Records what the loaded models (and the server around them) hold now.
    pub fn set_models_bytes(&self, bytes: u64) {
        self.models_bytes.store(bytes, Ordering::Release);
    }

    /// Bytes request bodies hold now.
    pub fn reserved_bytes(&self) -> u64 {
        self.reserved_bytes.load(Ordering::Acquire)
    }

    /// Whether a body of `bytes` could fit at all beside the loaded models (nothing is held):
    /// [`BodyMemoryError::NeverFits`] when it could not.
    pub fn check_fits_alone(&self, bytes: u64) -> Result<(), BodyMemoryError> {
        let Some(budget) = self.budget_bytes else {
            return Ok(());
        };
        let room = budget.saturating_sub(self.models_bytes.load(Ordering::Acquire));
        if bytes > room {
            return Err(BodyMemoryError::NeverFits {
                body_mib: mib(bytes),
                room_mib: mib(room),
                budget_mib: mib(budget),
            });
        }
        Ok(())
    }

    /// Room for a body of `bytes`, held until the reservation is dropped.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Result<BodyReservation, BodyMemoryError> {
        self.take(bytes)?;
        Ok(BodyReservation {
            memory: self.clone(),
            bytes,
        })
    }

    /// Adds `bytes` to the reserved total if it still fits the budget.
    fn take(&self, bytes: u64) -> Result<(), BodyMemoryError> {
        let Some(budget) = self.budget_bytes else {
            self.reserved_bytes.fetch_add(bytes, Ordering::AcqRel);
            return Ok(());
        };
        self.check_fits_alone(bytes)?;
        let room = budget.saturating_sub(self.models_bytes.load(Ordering::Acquire));
        self.reserved_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |reserved| {
                let total = reserved.checked_add(bytes)?;
                (total <= room).then_some(total)
            })
            .map(|_| ())
            .map_err(|reserved| BodyMemoryError::Full {
                body_mib: mib(bytes),
                reserved_mib: mib(reserved),
                room_mib: mib(room),
                retry_after_secs: self.retry_after_secs,
            })
    }

    fn give_back(&self, bytes: u64) {
        self.reserved_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One request's room for its body; dropping it gives the room back.
#[derive(Debug)]
pub struct BodyReservation {
    memory: Arc<BodyMemory>,
    bytes: u64,
}

impl BodyReservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Makes room for at least `total` bytes (a body larger than it declared, or one that
    /// declared nothing); on failure the reservation keeps what it had.
    pub fn grow_to(&mut self, total: u64) -> Result<(), BodyMemoryError> {
        if total <= self.bytes {
            return Ok(());
        }
        let more = total - self.bytes;
        self.memory.take(more)?;
        self.bytes = total;
        Ok(())
    }
}

impl Drop for BodyReservation {
    fn drop(&mut self) {
        self.memory.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB_BYTES: u64 = 1 << 20;

    fn memory(budget_mib: u64, models_mib: u64) -> Arc<BodyMemory> {
        let memory = BodyMemory::new(Some(budget_mib * MIB_BYTES), 1);
        memory.set_models_bytes(models_mib * MIB_BYTES);
        memory
    }

    #[test]
    fn bodies_fit_beside_the_models_until_the_budget_is_full() {
        let memory = memory(48, 20);
        let first = memory.reserve(10 * MIB_BYTES).unwrap();
        let second = memory.reserve(10 * MIB_BYTES).unwrap();
        let refused = memory.reserve(10 * MIB_BYTES).unwrap_err();
        assert_eq!(
            refused,
            BodyMemoryError::Full {
                body_mib: 10.0,
                reserved_mib: 20.0,
                room_mib: 28.0,
                retry_after_secs: 1,
            }
        );
        assert!(refused.to_string().contains("retry in 1 s"));
        assert_eq!(memory.reserved_bytes(), 20 * MIB_BYTES);
        drop(first);
        let third = memory
            .reserve(10 * MIB_BYTES)
            .expect("a released body's room is taken again");
        drop((second, third));
        assert_eq!(memory.reserved_bytes(), 0);
    }

    #[test]
    fn a_body_larger_than_the_room_left_by_the_models_never_fits() {
        let memory = memory(48, 40);
        let error = memory.reserve(9 * MIB_BYTES).unwrap_err();
        assert!(matches!(error, BodyMemoryError::NeverFits { .. }));
        assert!(error.to_string().contains("leave 8 MiB of its 48 MiB"));
        assert_eq!(memory.reserved_bytes(), 0);
        memory.set_models_bytes(20 * MIB_BYTES);
        assert!(
            memory.reserve(9 * MIB_BYTES).is_ok(),
            "fits once a model unloaded"
        );
    }

    #[test]
    fn a_growing_body_takes_room_as_it_arrives_and_keeps_it_on_refusal() {
        let memory = memory(48, 20);
        let mut growing = memory.reserve(0).unwrap();
        growing.grow_to(5 * MIB_BYTES).unwrap();
        growing.grow_to(3 * MIB_BYTES).unwrap();
        assert_eq!(growing.bytes(), 5 * MIB_BYTES);
        let other = memory.reserve(20 * MIB_BYTES).unwrap();
        assert!(growing.grow_to(9 * MIB_BYTES).is_err());
        assert_eq!(growing.bytes(), 5 * MIB_BYTES);
        assert_eq!(memory.reserved_bytes(), 25 * MIB_BYTES);
        drop((growing, other));
        assert_eq!(memory.reserved_bytes(), 0);
    }

    #[test]
    fn without_a_budget_everything_fits_and_is_still_counted() {
        let memory = BodyMemory::new(None, 1);
        let body = memory.reserve(1 << 40).unwrap();
        assert_eq!(memory.reserved_bytes(), 1 << 40);
        drop(body);
        assert_eq!(memory.reserved_bytes(), 0);
    }

    #[test]
    fn racing_reservations_never_exceed_the_room() {
        let memory = memory(30, 20);
        let most = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (memory, most) = (memory.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        if let Ok(body) = memory.reserve(3 * MIB_BYTES) {
                            most.fetch_max(memory.reserved_bytes(), Ordering::SeqCst);
                            drop(body);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 10 * MIB_BYTES);
        assert_eq!(memory.reserved_bytes(), 0);
    }
}
