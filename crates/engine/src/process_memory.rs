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
/// allocator preloaded in its place: glibc's heaps then stay empty).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn allocator_bytes() -> Option<AllocatorBytes> {
    // SAFETY: mallinfo2 only reads the allocator's statistics (taking each arena's lock); it
    // has no preconditions.
    let info = unsafe { libc::mallinfo2() };
    if info.arena == 0 && info.hblkhd == 0 {
        return None;
    }
    let bytes = |value: usize| value as u64;
    Some(AllocatorBytes {
        in_use: bytes(info.uordblks) + bytes(info.hblkhd),
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

/// Sets glibc's mmap threshold to `threshold_bytes` (0 leaves glibc's default). Call before
/// other threads start. Returns whether the allocator took the setting.
pub fn tune(threshold_bytes: usize) -> bool {
    if threshold_bytes == 0 {
        return false;
    }
    set_mmap_threshold(threshold_bytes)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_mmap_threshold(threshold_bytes: usize) -> bool {
    let Ok(value) = libc::c_int::try_from(threshold_bytes) else {
        return false;
    };
    // SAFETY: mallopt only changes allocator parameters; M_MMAP_THRESHOLD accepts any value up
    // to HEAP_MAX/2 and reports failure by returning 0.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, value) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_mmap_threshold(_threshold_bytes: usize) -> bool {
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
        assert!(held.in_use >= before.in_use + TOTAL / 2, "{before:?} then {held:?}");
        drop(blocks);
        let freed = super::allocator_bytes().unwrap();
        assert!(freed.in_use + TOTAL / 2 <= held.in_use, "{held:?} then {freed:?}");
        assert!(freed.free > 0, "{freed:?}");
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_a_fixed_threshold() {
        assert!(super::tune(128 * 1024));
        assert!(!super::tune(0), "0 leaves the default");
    }
}
