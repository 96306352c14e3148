//! The engine's settings, one section each of the server configuration: `[memory]`,
//! `[model_control]`, `[limits]`, `[inference]` and `[ort]` (documented in
//! docs/configuration.md). Plain data: reading and checking the file is the server's job.

use std::path::PathBuf;

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
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(ControlMode::None),
            "explicit" => Ok(ControlMode::Explicit),
            "poll" => Ok(ControlMode::Poll),
            other => Err(format!(
                "unknown model control mode '{other}' (expected none, explicit or poll)"
            )),
        }
    }
}

impl std::fmt::Display for ControlMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ControlMode::None => "none",
            ControlMode::Explicit => "explicit",
            ControlMode::Poll => "poll",
        })
    }
}

/// `[memory]`: living within the container's memory limit (docs/configuration.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Memory models may use: the container's limit less `headroom_bytes` when not set.
    pub budget_bytes: Option<u64>,
    /// Kept free below the container's limit for requests, the runtime and the page cache.
    pub headroom_bytes: u64,
    /// When a model does not fit, unload the least recently used idle model(s) to make room
    /// instead of refusing the load.
    pub evict_idle_models: bool,
    /// glibc malloc: allocations at least this large are mapped on their own and given back to
    /// the system when freed (fixed, instead of glibc's threshold that grows with use). 0 leaves
    /// glibc's default.
    pub malloc_mmap_threshold_bytes: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            budget_bytes: None,
            headroom_bytes: 16 * 1024 * 1024,
            evict_idle_models: false,
            malloc_mmap_threshold_bytes: 128 * 1024,
        }
    }
}

/// `[model_control]`: loading and unloading models after start (docs/configuration.md).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelControlConfig {
    /// `none`, `explicit` or `poll`.
    pub mode: ControlMode,
    /// Seconds between repository scans in `poll` mode.
    pub poll_interval_secs: u64,
    /// File holding the bearer token the control endpoints require (repository index, load,
    /// unload). `OUTPOST_CONTROL_TOKEN` sets the token itself. Without either, no token is asked.
    pub token_file: Option<PathBuf>,
    /// The token, from `OUTPOST_CONTROL_TOKEN`; never read from the file or printed.
    #[serde(skip)]
    pub token: Option<String>,
}

impl Default for ModelControlConfig {
    fn default() -> Self {
        ModelControlConfig {
            mode: ControlMode::None,
            poll_interval_secs: 10,
            token_file: None,
            token: None,
        }
    }
}

/// Keeps the token out of debug output and logs.
impl std::fmt::Debug for ModelControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelControlConfig")
            .field("mode", &self.mode)
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("token_file", &self.token_file)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// `[limits]`: bounds on what one request may ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest number of elements in one input tensor.
    pub max_tensor_elements: usize,
    /// Largest encoded image (camera endpoint, BYTES image inputs).
    pub max_image_bytes: usize,
    /// Largest width x height an image may declare; checked before decoding.
    pub max_image_pixels: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_tensor_elements: 16 * 1024 * 1024,
            max_image_bytes: 16 * 1024 * 1024,
            max_image_pixels: 40_000_000,
        }
    }
}

/// `[inference]`: how requests are executed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferenceConfig {
    /// Requests executing at once across all models; default: the number of CPUs.
    pub max_concurrent_requests: Option<usize>,
    /// Intra-op threads for models whose configuration does not set them; default: the number of CPUs.
    pub default_intra_op_threads: Option<usize>,
    /// Requests one model version may have waiting for an inference thread; beyond that (plus
    /// those running) it answers 503 / RESOURCE_EXHAUSTED at once.
    pub max_queued_requests_per_model: usize,
    /// The `Retry-After` seconds of that answer.
    pub retry_after_secs: u64,
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

impl Default for InferenceConfig {
    fn default() -> Self {
        InferenceConfig {
            max_concurrent_requests: None,
            default_intra_op_threads: None,
            max_queued_requests_per_model: 8,
            retry_after_secs: 1,
        }
    }
}

/// `[ort]`: the ONNX Runtime library and its shared CPU arena.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrtConfig {
    /// Path to `libonnxruntime.so`; default: the search order in docs/configuration.md.
    pub library_path: Option<PathBuf>,
    /// Let ONNX Runtime upload its usage telemetry to Microsoft. Off by default: the server
    /// then sets `ORT_DISABLE_TELEMETRY=1` before the library loads.
    pub telemetry: bool,
    /// Most bytes of freed memory the shared CPU arena keeps for reuse. Default: a quarter of
    /// the memory budget, 256 MiB without one.
    pub cpu_arena_max_kept_bytes: Option<u64>,
    /// The arena hands its free memory back to the system after this many milliseconds
    /// without an allocation.
    pub cpu_arena_idle_release_ms: u64,
}

impl Default for OrtConfig {
    fn default() -> Self {
        OrtConfig {
            library_path: None,
            telemetry: false,
            cpu_arena_max_kept_bytes: None,
            cpu_arena_idle_release_ms: 1000,
        }
    }
}
