//! The process's CPU arena for ONNX Runtime: one allocator, registered with the environment,
//! that every session keeping an arena (`cpu_arena` in the model's `[memory]`) takes its CPU
//! memory from instead of an arena of its own ([`crate::block_cache`] holds the memory).
//!
//! ONNX Runtime's own arena keeps everything it ever allocated and has no bound unless told one
//! (onnxruntime#11627). This one is shared by all models, keeps at most `max_kept_bytes` of
//! freed memory for reuse, and hands that back to the system once nothing was allocated or
//! freed for `idle_release` (a thread of its own waits for that). What tensors and weights use
//! is not refused here (ONNX Runtime cannot take a refusal from a registered allocator); the
//! server's memory budget governs it.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
use ort::sys::{OrtAllocator, OrtMemoryInfo};
use ort::AsPointer;

use crate::block_cache::{BlockCache, CacheUsage};

/// How the shared CPU arena behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuArenaSettings {
    /// Most bytes of freed memory the arena keeps for reuse.
    pub max_kept_bytes: u64,
    /// Free memory goes back to the system after this long without an allocation.
    pub idle_release: Duration,
}

impl Default for CpuArenaSettings {
    fn default() -> Self {
        CpuArenaSettings {
            max_kept_bytes: 256 * 1024 * 1024,
            idle_release: Duration::from_secs(1),
        }
    }
}

/// What ONNX Runtime calls: the C allocator table first, then what it works on.
#[repr(C)]
struct RegisteredAllocator {
    table: OrtAllocator,
    cache: Arc<BlockCache>,
    info: MemoryInfo<'static>,
}

/// The arena, registered with the environment for the life of the process.
pub struct CpuArena {
    cache: Arc<BlockCache>,
    settings: CpuArenaSettings,
}

impl CpuArena {
    /// Registers the arena with `environment`; sessions use it when built with
    /// `with_env_allocators`.
    pub(crate) fn register(
        environment: &ort::environment::Environment,
        settings: CpuArenaSettings,
    ) -> Result<CpuArena, String> {
        // ONNX Runtime reserves the arena type for its own arenas; ours registers as a device
        // allocator and keeps blocks itself.
        let info = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(|e| format!("cannot describe the CPU arena: {e}"))?;
        let cache = Arc::new(BlockCache::new(settings.max_kept_bytes));
        // SAFETY: `OrtAllocator::default` only fills in the version and empty entries.
        let mut table = unsafe { OrtAllocator::default() };
        table.Alloc = Some(alloc);
        table.Free = Some(free);
        table.Info = Some(info_of);
        // Lives as long as the environment, which lives as long as the process.
        let registered = Box::leak(Box::new(RegisteredAllocator {
            table,
            cache: cache.clone(),
            info,
        }));
        // SAFETY: the environment pointer is valid for the environment's life; `registered`
        // is never freed, and its table's entries follow the C API's contract below.
        let status = unsafe {
            (ort::api().RegisterAllocator)(environment.ptr().cast_mut(), &raw mut registered.table)
        };
        check(status)?;
        let idle_cache = cache.clone();
        std::thread::Builder::new()
            .name("outpost-ort-arena".into())
            .spawn(move || loop {
                idle_cache.wait_until_idle(settings.idle_release);
                let released = idle_cache.release_cached();
                tracing::debug!(released, "CPU arena handed its free memory back");
            })
            .map_err(|e| format!("cannot start the CPU arena's release thread: {e}"))?;
        Ok(CpuArena { cache, settings })
    }

    /// Bytes the arena has handed out and keeps for reuse now.
    pub fn usage(&self) -> CacheUsage {
        self.cache.usage()
    }

    /// Hands the kept blocks back to the system now (after a load, whose buffers are not asked
    /// for again); answers how many bytes that was.
    pub fn release_kept(&self) -> u64 {
        self.cache.release_cached()
    }

    /// The settings it was registered with.
    pub fn settings(&self) -> CpuArenaSettings {
        self.settings
    }
}

/// Turns an ONNX Runtime status into its message.
fn check(status: ort::sys::OrtStatusPtr) -> Result<(), String> {
    if status.0.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null status is a valid OrtStatus until released, once, here.
    unsafe {
        let message = std::ffi::CStr::from_ptr((ort::api().GetErrorMessage)(status.0))
            .to_string_lossy()
            .into_owned();
        (ort::api().ReleaseStatus)(status.0);
        Err(message)
    }
}

/// # Safety
/// `this` is the table of a `RegisteredAllocator` (ONNX Runtime passes back what was
/// registered).
unsafe fn registered<'a>(this: *const OrtAllocator) -> &'a RegisteredAllocator {
    unsafe { &*this.cast::<RegisteredAllocator>() }
}

unsafe extern "system" fn alloc(this: *mut OrtAllocator, size: usize) -> *mut c_void {
    // SAFETY: called by ONNX Runtime with the registered table.
    let cache = unsafe { &registered(this).cache };
    // A panic cannot cross into C++; it aborts instead (the block cache does not panic).
    cache.alloc(size).cast()
}

unsafe extern "system" fn free(this: *mut OrtAllocator, block: *mut c_void) {
    // SAFETY: called by ONNX Runtime with the registered table.
    let cache = unsafe { &registered(this).cache };
    cache.free(block.cast());
}

unsafe extern "system" fn info_of(this: *const OrtAllocator) -> *const OrtMemoryInfo {
    // SAFETY: called by ONNX Runtime with the registered table.
    unsafe { registered(this).info.ptr() }
}
