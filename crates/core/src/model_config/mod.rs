//! The per-model configuration file, `<repository>/<model>/model.toml`: which runtime to use,
//! threads, instances, batching, version policy, labels and overrides of the input/output
//! metadata derived from the graph. Keys a runtime reads (its own tables and lists) are kept as
//! they are written, in [`ModelConfig::runtime_settings`], for the runtimes to read and check.
//!
//! Every field is optional; a model directory with no file at all is served with the defaults.
//!
//! This module holds the schema; its jobs are split by file: [`reading`] (the file, and the
//! server's `[upstream]` merged under the model's own by [`upstream_merge`]), [`validation`] (values in
//! range and consistent), [`signature_overrides`] (`[[inputs]]`/`[[outputs]]` over the graph's
//! signature), [`batching`] (the batch limit and `[dynamic_batching]` a model ends up with) and
//! [`runtime_choice`] (`backend`).

mod batching;
mod reading;
mod runtime_choice;
mod signature_overrides;
mod upstream_merge;
mod validation;

pub use batching::{DynamicBatchingConfig, DEFAULT_MAX_BATCH_SIZE, MAX_QUEUE_DELAY_MICROSECONDS};
pub use runtime_choice::{InvalidRuntimeName, RuntimeChoice};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::datatype::DataType;
use crate::image_config::{PostprocessConfig, PreprocessConfig};
use crate::scheduling::{PerformanceHint, Scheduling};
use crate::upstream::{UpstreamConfig, UpstreamPolicy};

/// The file name looked for in each model directory.
pub const MODEL_CONFIG_FILE: &str = "model.toml";

/// Whether `file`, named in a model's configuration, stays inside the model directory: relative
/// and without `..` (labels, anchors and other side files).
pub fn stays_inside_model_dir(file: &Path) -> bool {
    !file.is_absolute()
        && !file
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
}

/// Which versions of a model are served, as in Triton's `version_policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionPolicy {
    /// The highest N versions present.
    Latest(usize),
    /// Exactly these versions (those present).
    Specific(Vec<u64>),
    /// Every version present.
    All,
}

impl Default for VersionPolicy {
    fn default() -> Self {
        VersionPolicy::Latest(1)
    }
}

impl VersionPolicy {
    /// The versions to serve out of those present, ascending.
    pub fn select(&self, available: &[u64]) -> Vec<u64> {
        let mut sorted: Vec<u64> = available.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        match self {
            VersionPolicy::All => sorted,
            VersionPolicy::Latest(n) => {
                let skip = sorted.len().saturating_sub(*n);
                sorted.split_off(skip)
            }
            VersionPolicy::Specific(wanted) => {
                sorted.into_iter().filter(|v| wanted.contains(v)).collect()
            }
        }
    }
}

/// Thread counts for the runtime; `None` means "derive from the CPUs available".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadConfig {
    /// Threads one operator may use.
    pub intra_op: Option<usize>,
    /// Operators run at once (ONNX Runtime's parallel mode).
    pub inter_op: Option<usize>,
}

/// Overrides one input's or output's metadata as derived from the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorOverride {
    /// The input or output it overrides.
    pub name: String,
    /// Its element type.
    pub datatype: Option<DataType>,
    /// Full shape including any batch dimension; `-1` for a variable dimension.
    pub shape: Option<Vec<i64>>,
}

/// The contents of `model.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// The runtime: `auto` or a runtime's name.
    #[serde(default)]
    pub backend: RuntimeChoice,
    /// Thread counts.
    #[serde(default)]
    pub threads: ThreadConfig,
    /// Run one inference on zero inputs after loading, before the version takes requests.
    #[serde(default = "default_warm_up")]
    pub warm_up: bool,
    /// What the model's scheduling is tuned for when `instances` and `threads.intra_op` leave
    /// it open: `auto` (the default), `latency` or `throughput` ([`PerformanceHint`]).
    #[serde(default)]
    pub performance: PerformanceHint,
    /// Independent sessions kept for concurrent requests (Triton's instance count); absent:
    /// chosen by `performance`.
    pub instances: Option<usize>,
    /// Largest batch accepted when the model has a variable batch dimension; 0 disables batching.
    pub max_batch_size: Option<usize>,
    /// Requests joined into one execution; absent: each request runs on its own.
    pub dynamic_batching: Option<DynamicBatchingConfig>,
    /// Which versions are served.
    #[serde(default)]
    pub version_policy: VersionPolicy,
    /// The model file inside each version directory.
    #[serde(default = "default_model_filename")]
    pub model_filename: String,
    /// Labels file, one label per line, relative to the model directory.
    pub labels: Option<PathBuf>,
    /// Overrides of the inputs' metadata.
    #[serde(default)]
    pub inputs: Vec<TensorOverride>,
    /// Overrides of the outputs' metadata.
    #[serde(default)]
    pub outputs: Vec<TensorOverride>,
    /// How an encoded image becomes the model's input (camera endpoint, BYTES inputs).
    pub preprocess: Option<PreprocessConfig>,
    /// What the outputs mean: classification or detection.
    pub postprocess: Option<PostprocessConfig>,
    /// A remote V2 endpoint that may answer instead of, or besides, the local model.
    pub upstream: Option<UpstreamConfig>,
    /// What of each answered request goes to the outbox, to be forwarded.
    #[serde(default)]
    pub forward: ForwardMode,
    /// Every other top-level key, as written: the runtimes' own keys. The engine refuses a key
    /// that no registered runtime reads, and each runtime checks its own.
    #[serde(flatten)]
    pub runtime_settings: toml::Table,
}

/// What of each answered request is kept in the outbox and forwarded (`forward` in model.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardMode {
    /// Nothing.
    #[default]
    None,
    /// Who answered and the outputs (classes or boxes for the camera endpoint).
    Results,
    /// The results and the request's inputs (the photo, for the camera endpoint).
    ResultsAndInputs,
}

fn default_warm_up() -> bool {
    true
}

fn default_model_filename() -> String {
    "model.onnx".to_string()
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            backend: RuntimeChoice::default(),
            threads: ThreadConfig::default(),
            warm_up: default_warm_up(),
            performance: PerformanceHint::default(),
            instances: None,
            max_batch_size: None,
            dynamic_batching: None,
            version_policy: VersionPolicy::default(),
            model_filename: default_model_filename(),
            labels: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            preprocess: None,
            postprocess: None,
            upstream: None,
            forward: ForwardMode::None,
            runtime_settings: toml::Table::new(),
        }
    }
}

/// Why a model configuration could not be used.
#[derive(Debug, Error)]
pub enum ModelConfigError {
    /// `model.toml` (or a file it names) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `model.toml` is malformed or has unknown keys.
    #[error("invalid model configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, where.
        message: String,
    },
    /// A value is out of range or contradicts another.
    #[error("invalid model configuration: {0}")]
    Invalid(String),
    /// An input or output override does not fit the graph.
    #[error("metadata override for '{name}' does not fit the model: {message}")]
    Override {
        /// The input or output.
        name: String,
        /// What does not fit.
        message: String,
    },
}

impl ModelConfig {
    /// The sessions this model runs on `cpus` CPUs, where the server's intra-op thread count
    /// for models that set none is `default_intra_op` ([`Scheduling::resolve`]).
    pub fn scheduling(&self, cpus: usize, default_intra_op: usize) -> Scheduling {
        Scheduling::resolve(
            self.performance,
            self.instances,
            self.threads.intra_op,
            cpus,
            default_intra_op,
        )
    }

    /// Whether the model has no local graph: its upstream answers every request.
    pub fn upstream_only(&self) -> bool {
        self.upstream
            .as_ref()
            .is_some_and(|u| u.policy == UpstreamPolicy::UpstreamOnly)
    }
}

#[cfg(test)]
mod tests;
