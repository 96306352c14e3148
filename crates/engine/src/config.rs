//! The engine's settings, one section each of the server configuration: `[memory]`,
//! `[model_control]`, `[limits]` and `[inference]`. Each setting is declared once here (type,
//! default, flag, doc; see `outpost_settings`), and docs/configuration.md is checked against
//! these declarations. Reading and checking the file is the server's job; each runtime declares
//! its own section.

use std::path::PathBuf;

use outpost_settings::settings_section;
use serde::{Deserialize, Serialize};

/// How models get loaded and unloaded after start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlMode {
    /// Load every model at start; refuse load and unload requests.
    #[default]
    None,
    /// Load every model at start; load and unload on request.
    Explicit,
    /// Load every model at start, then follow the repository directory.
    Poll,
}

impl std::str::FromStr for ControlMode {
    type Err = outpost_settings::UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(ControlMode::None),
            "explicit" => Ok(ControlMode::Explicit),
            "poll" => Ok(ControlMode::Poll),
            other => Err(outpost_settings::UnknownChoice {
                what: "model control mode",
                value: other.to_string(),
                expected: "none, explicit or poll",
            }),
        }
    }
}

impl ControlMode {
    /// The mode's name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlMode::None => "none",
            ControlMode::Explicit => "explicit",
            ControlMode::Poll => "poll",
        }
    }
}

impl std::fmt::Display for ControlMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

outpost_settings::setting_value_from_str!(ControlMode);

settings_section! {
    /// `[memory]`: living within the container's memory limit (docs/configuration.md).
    #[derive(Debug)]
    pub struct MemoryConfig {
        /// Memory models may use: the container's limit less `headroom_bytes` when not set.
        budget_bytes: Option<u64> = None, flag "memory-budget-bytes",
            shown "the container's memory limit less memory.headroom_bytes";
        /// Kept free below the container's limit for requests, the runtime and the page cache.
        headroom_bytes: u64 = 16 * 1024 * 1024;
        /// When a model does not fit, unload the least recently used idle model(s) to make room
        /// instead of refusing the load.
        evict_idle_models: bool = false, flag "evict-idle-models";
        /// glibc malloc: allocations at least this large are mapped on their own and given back
        /// to the system when freed (fixed, instead of glibc's threshold that grows with use). 0
        /// leaves glibc's default.
        malloc_mmap_threshold_bytes: usize = 128 * 1024;
        /// glibc malloc: the most heaps (arenas) threads allocate from. Freed memory stays in
        /// the heap it came from, where only threads on that heap can reuse it, so every extra
        /// heap adds to what the allocator keeps; fewer heaps make threads wait for each other.
        /// 0 leaves glibc's default (8 per core).
        malloc_arena_max: usize = 0;
    }
}

settings_section! {
    /// `[model_control]`: loading and unloading models after start (docs/configuration.md).
    #[derive(Debug)]
    pub struct ModelControlConfig {
        /// Model control: none, explicit (load and unload on request) or poll (follow the
        /// repository).
        mode: ControlMode = ControlMode::None, flag "model-control-mode";
        /// Seconds between repository scans in `poll` mode.
        poll_interval_secs: u64 = 10;
        /// File whose first line is the bearer token the control endpoints require (repository
        /// index, load, unload). `OUTPOST_CONTROL_TOKEN` gives the token itself (environment
        /// only, so it stays out of process listings). Without either, no token is asked.
        token_file: Option<PathBuf> = None, flag "control-token-file";
        /// Start with model control on and no token although a listener that serves it (HTTP,
        /// gRPC) takes connections from other hosts: anyone who reaches the port may load and
        /// unload models. Without it such a start is refused.
        allow_unauthenticated_control: bool = false, flag "allow-unauthenticated-control";
    }
}

settings_section! {
    /// `[limits]`: bounds on what one request may ask for.
    #[derive(Debug)]
    pub struct LimitsConfig {
        /// Largest number of elements in one input tensor.
        max_tensor_elements: usize = 16 * 1024 * 1024, flag "max-tensor-elements";
        /// Largest encoded image in bytes (camera endpoint, BYTES image inputs).
        max_image_bytes: usize = 16 * 1024 * 1024, flag "max-image-bytes";
        /// Largest width x height an image may declare; checked before decoding.
        max_image_pixels: u64 = 40_000_000, flag "max-image-pixels";
    }
}

settings_section! {
    /// `[inference]`: how requests are executed.
    #[derive(Debug)]
    pub struct InferenceConfig {
        /// Requests executing at once across all models.
        max_concurrent_requests: Option<usize> = None, flag "max-concurrent-requests",
            shown "CPUs the container allows";
        /// Intra-op threads for models whose configuration does not set them.
        default_intra_op_threads: Option<usize> = None, flag "intra-op-threads",
            shown "CPUs the container allows";
        /// Under `performance = "auto"`, a model's parallel sessions (made once requests
        /// overlap) are dropped after this many milliseconds without overlapping requests.
        /// Each drop and remaking leaves the C allocator's heaps more fragmented (resident
        /// memory that no trim hands back), so traffic that overlaps now and then should not
        /// make and drop them every minute.
        parallel_sessions_idle_release_ms: u64 = 600_000;
        /// Requests one model version may have waiting for an inference thread; beyond that
        /// (plus those running) it answers 503 + Retry-After / RESOURCE_EXHAUSTED at once.
        max_queued_requests_per_model: usize = 8, flag "max-queued-requests-per-model";
        /// The `Retry-After` seconds of that answer.
        retry_after_secs: u64 = 1;
    }
}

impl InferenceConfig {
    /// Requests executing at once: the configured count, else one per CPU the container allows.
    pub fn max_concurrent_requests(&self, cpus: usize) -> usize {
        self.max_concurrent_requests.unwrap_or(cpus)
    }

    /// Intra-op threads for models that do not set them: the configured count, else one per CPU
    /// the container allows.
    pub fn default_intra_op_threads(&self, cpus: usize) -> usize {
        self.default_intra_op_threads.unwrap_or(cpus)
    }
}
