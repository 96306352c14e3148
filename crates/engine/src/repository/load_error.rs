//! Why a model directory or one of its versions did not load. Kept with the model's entry in the
//! repository (so metadata, ready and index answers can say why) while every other model serves.

use std::path::PathBuf;

use outpost_core::{BackendError, ModelConfigError, TensorError, VersionPolicy};
use outpost_vision::VisionError;
use thiserror::Error;

use crate::memory::MemoryError;

/// Why a model or model version is not served.
#[derive(Debug, Error)]
pub(crate) enum LoadError {
    /// `model.toml` is missing or invalid.
    #[error(transparent)]
    Config(#[from] ModelConfigError),
    /// The directory has no version subdirectory.
    #[error("no version directories (expected {dir}/<version>/{model_file})")]
    NoVersions {
        /// The model directory.
        dir: PathBuf,
        /// The model file each version directory should hold.
        model_file: String,
    },
    /// The version policy selects none of the versions present.
    #[error("version policy {policy:?} selects none of the versions present {present:?}")]
    NoVersionSelected {
        /// The policy.
        policy: VersionPolicy,
        /// The versions present.
        present: Vec<u64>,
    },
    /// `serving.toml` cannot be read or is invalid.
    #[error("{path}: {reason}")]
    ServingFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `serving.toml` names a version the directory lacks.
    #[error("serving.toml makes version {version} the default, but there is no version directory {version} (present: {present:?})")]
    DefaultVersionMissing {
        /// The version named.
        version: u64,
        /// The versions present.
        present: Vec<u64>,
    },
    /// The model sets `forward` but the server has no outbox.
    #[error("forward is set but the server has no outbox: set outbox.path (and outbox.destination) in the server configuration")]
    NoOutbox,
    /// The model's `[upstream]` could not be set up.
    #[error("upstream: {0}")]
    Upstream(outpost_core::ConnectError),
    /// The labels file is named by a path that could leave the model directory.
    #[error("labels file '{0}' must be a relative path inside the model directory")]
    LabelsOutsideModel(PathBuf),
    /// The labels file could not be read.
    #[error("cannot read labels file '{file}': {source}")]
    Labels {
        /// The labels file.
        file: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The version directory lacks the model file.
    #[error("model file {0} does not exist")]
    MissingModelFile(PathBuf),
    /// No runtime can run the model (its `backend` is not registered in this binary or not
    /// usable on this host).
    #[error(transparent)]
    NoRuntime(crate::backends::NoRuntime),
    /// Keys of `model.toml` that no registered runtime reads, or that its runtime refuses.
    #[error(transparent)]
    RuntimeSettings(crate::backends::ModelSettingsError),
    /// The memory budget has no room for it.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The runtime could not load it, or its signature does not match the configuration.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The zero inputs for the warm-up could not be made.
    #[error("warm-up input: {0}")]
    WarmUpInput(#[from] TensorError),
    /// The warm-up inference failed: the model cannot run.
    #[error("warm-up inference failed: {0}")]
    WarmUp(BackendError),
    /// `[postprocess]` without `[preprocess]`.
    #[error("[postprocess] needs a [preprocess] section for the image input")]
    PostprocessWithoutPreprocess,
    /// The image pipeline does not fit the model.
    #[error(transparent)]
    Image(#[from] VisionError),
}
