//! The contract between the server and a runtime: a [`Backend`] loads a model file into a
//! [`LoadedModel`], which reports its signature and runs inference synchronously.
//!
//! Loaded models are shared between threads; the server calls [`LoadedModel::infer`] from
//! blocking worker threads, never from the async runtime.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::model_config::ModelConfig;
use crate::signature::ModelSignature;
use crate::tensor::NamedTensor;

/// The runtimes Outpost can run models on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// ONNX Runtime.
    Ort,
    /// tract.
    Tract,
    /// No local runtime: the model's upstream answers (`policy = "upstream_only"`).
    Upstream,
}

impl BackendKind {
    /// Name used in configuration, logs and model config (`"onnxruntime"`, `"tract"`).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Ort => "onnxruntime",
            BackendKind::Tract => "tract",
            BackendKind::Upstream => "upstream",
        }
    }

    /// Triton's `platform` string for the model metadata.
    pub fn platform(self) -> &'static str {
        match self {
            BackendKind::Ort => "onnxruntime_onnx",
            BackendKind::Tract => "tract_onnx",
            BackendKind::Upstream => "upstream",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything a backend needs to load one model version.
#[derive(Debug, Clone)]
pub struct LoadRequest<'a> {
    /// The model's name, for logs and errors.
    pub model_name: &'a str,
    /// The model file.
    pub model_path: &'a Path,
    /// Its configuration.
    pub config: &'a ModelConfig,
    /// Intra-op threads to use when the model configuration does not set them.
    pub default_intra_op_threads: usize,
}

/// A runtime that can load models.
pub trait Backend: Send + Sync {
    /// Which runtime this is.
    fn kind(&self) -> BackendKind;

    /// Loads and prepares a model; the result is ready for concurrent [`LoadedModel::infer`] calls.
    fn load(&self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedModel>, BackendError>;
}

/// A model prepared by a backend.
pub trait LoadedModel: Send + Sync {
    /// Inputs and outputs as the graph declares them (before configuration overrides).
    fn signature(&self) -> &ModelSignature;

    /// The execution provider that runs the model, e.g. `"CPUExecutionProvider"` or `"tract-cpu"`.
    fn execution_provider(&self) -> &str;

    /// Intra-op threads the runtime was given.
    fn intra_op_threads(&self) -> usize;

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
    /// The runtime's library could not be loaded.
    #[error("the ONNX Runtime library is not usable: {0}")]
    LibraryUnavailable(String),
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
        backend: BackendKind,
        /// The model file.
        path: PathBuf,
        /// What it cannot run.
        message: String,
    },
    /// A run of the model failed.
    #[error("inference failed: {0}")]
    Inference(String),
}
