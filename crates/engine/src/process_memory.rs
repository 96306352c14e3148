//! The process's own memory: how much of it is resident (what the memory budget counts), handing
//! freed heap memory back to the system, and tuning the C allocator that ONNX Runtime and the
//! server share (glibc malloc).
//!
//! glibc serves a large block from its heap once a block that size has been freed (its mmap
//! threshold grows with use, up to 32 MiB), and keeps freed heap memory for reuse in each
//! thread's arena: under load the resident size climbs and stays. A fixed threshold maps every
//! large block (input tensors, intermediate buffers, request bodies) on its own and unmaps it
//! when freed. Measured in docs/benchmarks.md ("Memory").

const MIB: f64 = 1024.0 * 1024.0;

/// Bytes in MiB, to one decimal, for messages.
pub(crate) fn mib(bytes: u64) -> f64 {
    (bytes as f64 / MIB * 10.0).round() / 10.0
}

/// The server's anonymous resident memory now (`RssAnon` + `RssShmem`): what the budget counts.
pub(crate) fn resident_bytes() -> u64 {
    status_kib("RssAnon:") + status_kib("RssShmem:")
}

/// The server's whole resident memory (`VmRSS`), shared library code included.
pub(crate) fn total_resident_bytes() -> u64 {
    status_kib("VmRSS:")
}

/// One `kB` field of `/proc/self/status`, in bytes; 0 when absent.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix(field))?;
            let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

/// What the C allocator (glibc malloc) holds, from `mallinfo2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AllocatorBytes {
    /// Bytes in blocks the program holds: in the heaps and mapped on their own.
    pub in_use: u64,
    /// Bytes in freed blocks the heaps keep for reuse. Whole free pages among them may have
    /// been handed back to the system ([`return_freed_memory`]); those on pages shared with
    /// blocks in use stay resident.
    pub free: u64,
}

/// What the C allocator holds now; `None` where it is not glibc's (another target, or another
/// allocator preloaded in its place: glibc then has nothing handed out).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn allocator_bytes() -> Option<AllocatorBytes> {
    // SAFETY: mallinfo2 only reads the allocator's statistics (taking each arena's lock); it
    // has no preconditions.
    let info = unsafe { libc::mallinfo2() };
    let bytes = |value: usize| value as u64;
    let in_use = bytes(info.uordblks) + bytes(info.hblkhd);
    (in_use > 0).then(|| AllocatorBytes {
        in_use,
        free: bytes(info.fordblks),
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn allocator_bytes() -> Option<AllocatorBytes> {
    None
}

/// Hands memory the allocator keeps after an unload back to the system (glibc).
pub(crate) fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the top of the heaps; it has no
    // preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Hands freed memory back ([`return_freed_memory`]) when dropped. The last field of what holds
/// a loaded model, so that it runs after the model's own memory is freed: when the last request
/// still holding an unloaded version ends, not only when the unload was asked for (memory a
/// request frees after that trim would otherwise stay with the allocator, a different amount
/// after every unload).
#[derive(Debug, Default)]
pub(crate) struct ReturnMemoryOnDrop;

impl Drop for ReturnMemoryOnDrop {
    fn drop(&mut self) {
        return_freed_memory();
    }
}

/// How the C allocator is set up at start (`[memory]` settings); 0 leaves glibc's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllocatorTuning {
    /// Blocks at least this large are mapped on their own and unmapped when freed.
    pub mmap_threshold_bytes: usize,
    /// The most heaps (arenas) threads allocate from.
    pub arena_max: usize,
}

/// Sets glibc's mmap threshold and arena count. Call before other threads start: a thread
/// takes its heap on its first allocation. Returns whether the allocator took every setting
/// asked for.
pub fn tune(tuning: AllocatorTuning) -> bool {
    let mut took = true;
    if tuning.mmap_threshold_bytes > 0 {
        took &= set_allocator_parameter(Parameter::MmapThreshold, tuning.mmap_threshold_bytes);
    }
    if tuning.arena_max > 0 {
        took &= set_allocator_parameter(Parameter::ArenaMax, tuning.arena_max);
    }
    took
}

/// The glibc malloc parameters [`tune`] sets.
#[derive(Debug, Clone, Copy)]
enum Parameter {
    MmapThreshold,
    ArenaMax,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_allocator_parameter(parameter: Parameter, value: usize) -> bool {
    let Ok(value) = libc::c_int::try_from(value) else {
        return false;
    };
    let parameter = match parameter {
        Parameter::MmapThreshold => libc::M_MMAP_THRESHOLD,
        Parameter::ArenaMax => libc::M_ARENA_MAX,
    };
    // SAFETY: mallopt only changes allocator parameters and reports a value it does not take
    // (M_MMAP_THRESHOLD over HEAP_MAX/2) by returning 0.
    unsafe { libc::mallopt(parameter, value) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_allocator_parameter(_parameter: Parameter, _value: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn the_allocator_counts_held_blocks_in_use_and_freed_ones_free() {
        // Blocks below the mmap threshold come from a heap and stay there once freed. 32 MiB
        // in all, so that what other tests allocate meanwhile cannot hide them.
        const BLOCK: usize = 64 * 1024;
        const TOTAL: u64 = 32 << 20;
        let before = super::allocator_bytes().expect("glibc reports its figures");
        let blocks: Vec<Vec<u8>> = (0..TOTAL as usize / BLOCK)
            .map(|i| std::hint::black_box(vec![i as u8; BLOCK]))
            .collect();
        let held = super::allocator_bytes().unwrap();
        assert!(
            held.in_use >= before.in_use + TOTAL / 2,
            "{before:?} then {held:?}"
        );
        drop(blocks);
        let freed = super::allocator_bytes().unwrap();
        assert!(
            freed.in_use + TOTAL / 2 <= held.in_use,
            "{held:?} then {freed:?}"
        );
        assert!(freed.free > 0, "{freed:?}");
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_a_fixed_threshold_and_an_arena_count() {
        use super::{tune, AllocatorTuning};
        let threshold = AllocatorTuning {
            mmap_threshold_bytes: 128 * 1024,
            arena_max: 0,
        };
        assert!(tune(threshold));
        assert!(tune(AllocatorTuning {
            arena_max: 1,
            ..threshold
        }));
        assert!(tune(AllocatorTuning::default()), "0 leaves the defaults");
        let too_large = AllocatorTuning {
            mmap_threshold_bytes: usize::MAX,
            arena_max: 0,
        };
        assert!(!tune(too_large), "a threshold glibc refuses is reported");
    }
}
