//! Tuning the C allocator that ONNX Runtime and the server share (glibc malloc). glibc serves a
//! large block from its heap once a block that size has been freed (its mmap threshold grows
//! with use, up to 32 MiB), and keeps freed heap memory for reuse in each thread's arena: under
//! load the resident size climbs and stays. A fixed threshold maps every large block (input
//! tensors, intermediate buffers, request bodies) on its own and unmaps it when freed. Measured
//! in docs/benchmarks.md ("Memory").

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
    fn glibc_takes_a_fixed_threshold() {
        assert!(super::tune(128 * 1024));
        assert!(!super::tune(0), "0 leaves the default");
    }
}
