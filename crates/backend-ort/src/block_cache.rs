//! The memory behind the process's CPU arena ([`crate::cpu_arena`]): blocks handed out by size,
//! kept for reuse when freed up to a bound on what is kept, and handed back to the system by
//! [`BlockCache::release_cached`]. An allocation never fails while the system has memory:
//! ONNX Runtime does not check what a registered allocator returns.
//!
//! With fixed input shapes ONNX Runtime asks for the same sizes on every run (the memory
//! pattern's block, each kernel's scratch buffers, the outputs), so reuse by exact size hits
//! every time after the first run and costs no more than its arena did. Kept sizes that are
//! not asked for again go when a new size finds them outweighing the blocks in use, or when the
//! arena has been idle; a freed block that would take what is kept past `max_kept_bytes` goes
//! at once.

use std::alloc::Layout;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// ONNX Runtime's CPU allocations are aligned for its widest vector instructions.
const ALIGNMENT: usize = 64;

/// Bytes handed out and bytes kept for reuse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// Bytes in blocks handed out now.
    pub in_use_bytes: u64,
    /// Bytes in freed blocks kept for reuse.
    pub cached_bytes: u64,
}

#[derive(Default)]
struct CacheState {
    /// Address → size of every block handed out.
    live: HashMap<usize, usize>,
    /// Size → addresses of freed blocks kept for reuse.
    cached: HashMap<usize, Vec<usize>>,
    usage: CacheUsage,
    last_activity: Option<Instant>,
}

/// Blocks of memory by exact size, kept after they are freed, at most `max_kept_bytes` of them.
pub(crate) struct BlockCache {
    max_kept_bytes: u64,
    state: Mutex<CacheState>,
    /// Signalled when freed memory starts to be kept (for [`BlockCache::wait_until_idle`]).
    kept: Condvar,
}

impl BlockCache {
    /// A cache that keeps at most `max_kept_bytes` of freed blocks.
    pub(crate) fn new(max_kept_bytes: u64) -> BlockCache {
        BlockCache {
            max_kept_bytes,
            state: Mutex::new(CacheState::default()),
            kept: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A block of `size` bytes: a kept one of that size, or a new one. Aborts the process,
    /// as Rust's allocations do, when the system has no memory left.
    pub(crate) fn alloc(&self, size: usize) -> *mut u8 {
        let size = size.max(1);
        let layout = Layout::from_size_align(size, ALIGNMENT)
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(Layout::new::<u8>()));
        let mut state = self.lock();
        state.last_activity = Some(Instant::now());
        if let Some(address) = state.cached.get_mut(&size).and_then(Vec::pop) {
            state.usage.cached_bytes -= size as u64;
            state.usage.in_use_bytes += size as u64;
            state.live.insert(address, size);
            return address as *mut u8;
        }
        // A size not kept means shapes change: kept blocks of other sizes go once they
        // outweigh the blocks in use.
        if state.usage.cached_bytes > state.usage.in_use_bytes {
            release_all(&mut state);
        }
        // SAFETY: `layout` has a non-zero size.
        let block = unsafe { std::alloc::alloc(layout) };
        if block.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        state.usage.in_use_bytes += size as u64;
        state.live.insert(block as usize, size);
        block
    }

    /// Takes back a block from [`BlockCache::alloc`] and keeps it for reuse, or hands it back to
    /// the system when keeping it would pass `max_kept_bytes`. A pointer this cache did not
    /// hand out is ignored.
    pub(crate) fn free(&self, block: *mut u8) {
        if block.is_null() {
            return;
        }
        let mut state = self.lock();
        state.last_activity = Some(Instant::now());
        let Some(size) = state.live.remove(&(block as usize)) else {
            return;
        };
        state.usage.in_use_bytes -= size as u64;
        if state.usage.cached_bytes + size as u64 > self.max_kept_bytes {
            // SAFETY: the block was handed out with this size and has just been taken back.
            unsafe { dealloc(block as usize, size) };
            return;
        }
        let was_empty = state.usage.cached_bytes == 0;
        state.usage.cached_bytes += size as u64;
        state.cached.entry(size).or_default().push(block as usize);
        if was_empty {
            self.kept.notify_all();
        }
    }

    /// Hands every kept block back to the system; answers how many bytes that was.
    pub(crate) fn release_cached(&self) -> u64 {
        release_all(&mut self.lock())
    }

    /// What is in use and what is kept now.
    pub(crate) fn usage(&self) -> CacheUsage {
        self.lock().usage
    }

    /// Blocks until blocks are kept and nothing was allocated or freed for `idle`.
    pub(crate) fn wait_until_idle(&self, idle: Duration) {
        let mut state = self.lock();
        loop {
            if state.usage.cached_bytes == 0 {
                state = self
                    .kept
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let quiet = state.last_activity.map_or(idle, |at| at.elapsed());
            if quiet >= idle {
                return;
            }
            state = self
                .kept
                .wait_timeout(state, idle.checked_sub(quiet).unwrap())
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Gives a block back to the system.
///
/// # Safety
/// `address` came from [`BlockCache::alloc`] with `size` and is no longer handed out.
unsafe fn dealloc(address: usize, size: usize) {
    let layout = Layout::from_size_align(size, ALIGNMENT).expect("checked when allocated");
    // SAFETY: the caller's promise: allocated by `std::alloc::alloc` with this layout.
    unsafe { std::alloc::dealloc(address as *mut u8, layout) };
}

fn release_all(state: &mut CacheState) -> u64 {
    let mut released = 0;
    for (size, addresses) in state.cached.drain() {
        for address in addresses {
            // SAFETY: every kept address was handed out with this size and is kept, not in use.
            unsafe { dealloc(address, size) };
            released += size as u64;
        }
    }
    state.usage.cached_bytes = 0;
    released
}

impl Drop for BlockCache {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        release_all(state);
        // Blocks still handed out belong to their holders' lifetimes; they are not freed here.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNBOUNDED: u64 = u64::MAX;

    #[test]
    fn a_freed_block_is_reused_for_the_same_size() {
        let cache = BlockCache::new(UNBOUNDED);
        let first = cache.alloc(1000);
        assert_eq!(first as usize % ALIGNMENT, 0);
        cache.free(first);
        assert_eq!(
            cache.usage(),
            CacheUsage {
                in_use_bytes: 0,
                cached_bytes: 1000
            }
        );
        let again = cache.alloc(1000);
        assert_eq!(again, first, "the kept block comes back");
        let other = cache.alloc(2000);
        assert_ne!(other, first);
        assert_eq!(cache.usage().in_use_bytes, 3000);
        cache.free(again);
        cache.free(other);
        assert_eq!(cache.release_cached(), 3000);
        assert_eq!(cache.usage(), CacheUsage::default());
    }

    #[test]
    fn what_is_kept_never_passes_the_bound() {
        let cache = BlockCache::new(5000);
        let (a, b) = (cache.alloc(3000), cache.alloc(4000));
        cache.free(a);
        cache.free(b);
        assert_eq!(
            cache.usage(),
            CacheUsage {
                in_use_bytes: 0,
                cached_bytes: 3000
            },
            "3000 + 4000 kept > 5000: the second block went back at once"
        );
        assert_eq!(cache.alloc(3000), a);
        cache.free(a);
    }

    #[test]
    fn kept_blocks_of_other_sizes_go_once_they_outweigh_those_in_use() {
        let cache = BlockCache::new(UNBOUNDED);
        let weights = cache.alloc(1000);
        let scratch = cache.alloc(3000);
        cache.free(scratch);
        let small = cache.alloc(500);
        assert_eq!(
            cache.usage(),
            CacheUsage {
                in_use_bytes: 1500,
                cached_bytes: 0
            },
            "3000 kept against 1000 in use: released for a new size"
        );
        cache.free(small);
        let other = cache.alloc(700);
        assert_eq!(
            cache.usage().cached_bytes,
            500,
            "500 kept against 1000 in use: still kept"
        );
        cache.free(other);
        cache.free(weights);
    }

    #[test]
    fn unknown_and_null_pointers_are_ignored() {
        let cache = BlockCache::new(UNBOUNDED);
        let mut local = 0u8;
        cache.free(&raw mut local);
        cache.free(std::ptr::null_mut());
        assert_eq!(cache.usage(), CacheUsage::default());
    }

    #[test]
    fn waiting_for_idle_returns_once_kept_blocks_go_unused() {
        let cache = std::sync::Arc::new(BlockCache::new(UNBOUNDED));
        let waiter = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                cache.wait_until_idle(Duration::from_millis(20));
                cache.release_cached()
            })
        };
        let block = cache.alloc(4096);
        cache.free(block);
        assert_eq!(waiter.join().unwrap(), 4096);
        assert_eq!(cache.usage(), CacheUsage::default());
    }
}
