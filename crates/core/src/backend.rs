//! The contract between the server and a runtime: a [`Backend`] loads a model file into a
//! [`LoadedModel`], which reports its signature and runs inference synchronously.
//!
//! Loaded models are shared between threads; the server calls [`LoadedModel::infer`] from
//! blocking worker threads, never from the async runtime.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::model_config::ModelConfig;
use crate::scheduling::Scheduling;
use crate::signature::ModelSignature;
use crate::tensor::NamedTensor;
use crate::work_gauge::WorkGauge;

/// How a runtime names itself to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuntimeIdentity {
    /// Triton's `backend` name, also the `backend` label of `/metrics` (`onnxruntime`).
    pub backend: &'static str,
    /// Triton's `platform` string in model metadata (`onnxruntime_onnx`).
    pub platform: &'static str,
}

/// One figure a runtime reports on `/metrics` as a gauge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeGauge {
    /// The metric's full name (`outpost_` and the runtime's name first).
    pub name: String,
    /// Its help text.
    pub help: String,
    /// Its value now.
    pub value: i64,
}

/// The server's memory budget as a loaded model sees it: asked before the model takes memory
/// after its load (sessions made once requests overlap), told when it took or gave back some.
pub trait MemoryRoom: Send + Sync {
    /// Whether `bytes` more fit within the budget now.
    fn fits(&self, bytes: u64) -> bool;
    /// The model's memory changed: the budget measures again what the models hold.
    fn changed(&self);
    /// The model let memory go (sessions dropped while it stays loaded): what the allocator
    /// keeps of it goes back to the system before the budget measures again. Without this,
    /// memory freed in the middle of the allocator's heaps stays resident, a different amount
    /// after every drop.
    fn released(&self) {
        self.changed();
    }
}

/// No budget: everything fits (tests, benchmarks, hosts without a limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct UnlimitedMemory;

impl MemoryRoom for UnlimitedMemory {
    fn fits(&self, _bytes: u64) -> bool {
        true
    }
    fn changed(&self) {}
}

/// Everything a backend needs to load one model version.
#[derive(Clone)]
pub struct LoadRequest<'a> {
    /// The model's name, for logs and errors.
    pub model_name: &'a str,
    /// The model file.
    pub model_path: &'a Path,
    /// Its configuration.
    pub config: &'a ModelConfig,
    /// The sessions to run, resolved from the configuration and the CPUs the server may use.
    pub scheduling: Scheduling,
    /// The server's memory budget, for memory the model takes after its load.
    pub memory: Arc<dyn MemoryRoom>,
    /// Under [`Scheduling::Adaptive`], the parallel sessions are dropped after this long
    /// without overlapping requests.
    pub parallel_idle_release: Duration,
    /// The model version's requests at work (counted by the engine), which an adaptive backend
    /// reads to tell requests that overlap from requests that come one at a time.
    pub at_work: WorkGauge,
}

impl fmt::Debug for LoadRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadRequest")
            .field("model_name", &self.model_name)
            .field("model_path", &self.model_path)
            .field("scheduling", &self.scheduling)
            .finish_non_exhaustive()
    }
}

/// A runtime that can load models: what a [`crate::Runtime`]'s probe makes once the runtime is
/// usable.
pub trait Backend: Send + Sync {
    /// How the runtime names itself to clients and in metrics.
    fn identity(&self) -> RuntimeIdentity;

    /// The runtime's version, when it has one to report (a library loaded at run time).
    fn version(&self) -> Option<String> {
        None
    }

    /// Figures the runtime keeps for `/metrics` (memory it holds outside the models).
    fn gauges(&self) -> Vec<RuntimeGauge> {
        Vec::new()
    }

    /// Loads and prepares a model; the result is ready for concurrent [`LoadedModel::infer`] calls.
    fn load(&self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedModel>, BackendError>;
}

/// A model prepared by a backend.
pub trait LoadedModel: Send + Sync {
    /// Inputs and outputs as the graph declares them (before configuration overrides).
    fn signature(&self) -> &ModelSignature;

    /// The execution provider that runs the model, e.g. `"CPUExecutionProvider"` or `"tract-cpu"`.
    fn execution_provider(&self) -> &str;

    /// Intra-op threads of the session that runs a request alone.
    fn intra_op_threads(&self) -> usize;

    /// Sessions the model holds now (more while requests overlap, under `performance = "auto"`).
    fn sessions(&self) -> usize {
        1
    }

    /// Whether the model runs on an accelerator rather than the CPU (Triton's `KIND_GPU`).
    fn on_accelerator(&self) -> bool {
        false
    }

    /// What the runtime adds to the model's configuration as clients read it (Triton's string
    /// parameters): the providers it asked for and did not get, its options.
    fn parameters(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Runs the model. `inputs` have been validated against the signature; `outputs` names the
    /// outputs to return, in that order.
    fn infer(
        &self,
        inputs: &[NamedTensor],
        outputs: &[String],
    ) -> Result<Vec<NamedTensor>, BackendError>;
}

/// Failures of a runtime.
#[derive(Debug, Error)]
pub enum BackendError {
    /// The runtime's library could not be loaded (the message names the library).
    #[error("{0}")]
    LibraryUnavailable(String),
    /// `model.toml`'s settings for the runtime cannot be used.
    #[error("model.toml's settings for {runtime}: {message}")]
    Settings {
        /// The runtime whose keys they are.
        runtime: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A strict execution provider could not be registered.
    #[error("execution provider '{provider}' is not available: {reason}")]
    ExecutionProviderUnavailable {
        /// The provider.
        provider: String,
        /// Why it is unavailable.
        reason: String,
    },
    /// The model file could not be loaded.
    #[error("cannot load model {path}: {message}")]
    Load {
        /// The model file.
        path: PathBuf,
        /// The runtime's reason.
        message: String,
    },
    /// The model uses something the runtime cannot run.
    #[error("model {path} is not supported by {backend}: {message}")]
    Unsupported {
        /// The runtime.
        backend: &'static str,
        /// The model file.
        path: PathBuf,
        /// What it cannot run.
        message: String,
    },
    /// A run of the model failed.
    #[error("inference failed: {0}")]
    Inference(String),
}
