//! The engine's one error type, [`EngineError`], and its [`ErrorKind`]: what each front end
//! maps to its own status (HTTP status code, gRPC code) in one short function. The message is
//! the error's `Display`, the same on every front end.

use outpost_core::{BackendError, InputError};
use outpost_vision::VisionError;
use thiserror::Error;

use crate::body_memory::BodyMemoryError;
use crate::config::ControlMode;

/// What kind of failure an [`EngineError`] is, for a front end to choose its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request does not fit the model or the protocol (HTTP 400, INVALID_ARGUMENT).
    InvalidArgument,
    /// No such model, version or model directory (404, NOT_FOUND).
    NotFound,
    /// An image in a format the server does not decode (415, INVALID_ARGUMENT).
    UnsupportedMediaType,
    /// An image over the byte or pixel limits (413, INVALID_ARGUMENT).
    TooLarge,
    /// The model did not load, or the server is stopping (503, UNAVAILABLE).
    Unavailable,
    /// Every place is taken now; retry after [`EngineError::retry_after_secs`] (503 with
    /// Retry-After, RESOURCE_EXHAUSTED).
    Overloaded,
    /// A request body the memory budget has no room for even alone (413, RESOURCE_EXHAUSTED).
    InsufficientMemory,
    /// The request's deadline passed before it ran (504, DEADLINE_EXCEEDED).
    DeadlineExceeded,
    /// A control request without the control token (401, UNAUTHENTICATED).
    Unauthenticated,
    /// Model control is off, or the request conflicts with the model's state, as unloading
    /// its default version would (403, FAILED_PRECONDITION).
    FailedPrecondition,
    /// The server or the model failed (500, INTERNAL).
    Internal,
}

impl ErrorKind {
    /// The kind as a stable word: `invalid_argument`, `not_found`, `unsupported_media_type`,
    /// `too_large`, `unavailable`, `overloaded`, `insufficient_memory`, `deadline_exceeded`,
    /// `unauthenticated`, `failed_precondition`, `internal`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NotFound => "not_found",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::InsufficientMemory => "insufficient_memory",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::FailedPrecondition => "failed_precondition",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Why a lookup found nothing to serve.
#[derive(Debug, Error, PartialEq)]
pub enum LookupError {
    /// No model of that name.
    #[error("Request for unknown model: '{0}' is not found")]
    UnknownModel(String),
    /// The model has no such version.
    #[error("Request for unknown model: '{model}' version {version} is not found")]
    UnknownVersion {
        /// The model's name.
        model: String,
        /// The version asked for.
        version: String,
    },
    /// The version asked for is not a number.
    #[error("model version must be a positive integer, got '{0}'")]
    BadVersion(String),
    /// No version of the model is ready.
    #[error("model '{model}' is not available: {reason}")]
    Unavailable {
        /// The model's name.
        model: String,
        /// Why (each version's load failure).
        reason: String,
    },
    /// The version asked for did not load.
    #[error("model '{model}' version {version} is not available: {reason}")]
    VersionUnavailable {
        /// The model's name.
        model: String,
        /// The version asked for.
        version: u64,
        /// Why it did not load.
        reason: String,
    },
}

/// Why a control request was refused or failed.
#[derive(Debug, Error, PartialEq)]
pub enum ControlError {
    /// The request lacks the control token, or has another.
    #[error("this endpoint needs 'Authorization: Bearer <token>' with the server's control token")]
    Unauthorized,
    /// Load and unload requests are off in this mode.
    #[error("model load and unload are off: model_control.mode is '{0}' (set it to 'explicit')")]
    Disabled(ControlMode),
    /// The name could leave the repository directory or is empty.
    #[error("invalid model name '{0}': use letters, digits, '_', '-' and '.'")]
    BadName(String),
    /// No directory of that name in the repository.
    #[error("no model directory '{0}' in the repository")]
    UnknownModel(String),
    /// The model did not load; a previously loaded one keeps serving.
    #[error("failed to load '{model}': {reason}")]
    LoadFailed {
        /// The model's name.
        model: String,
        /// Why.
        reason: String,
    },
    /// The repository directory could not be read.
    #[error("model repository: {0}")]
    Repository(String),
    /// The model directory has no directory for that version.
    #[error("model '{model}' has no version directory {version}")]
    NoVersionDirectory {
        /// The model's name.
        model: String,
        /// The version asked for.
        version: u64,
    },
    /// That version of the model is not loaded.
    #[error("version {version} of model '{model}' is not loaded")]
    VersionNotLoaded {
        /// The model's name.
        model: String,
        /// The version asked for.
        version: u64,
    },
    /// The version takes the model's unversioned requests, so it cannot be unloaded.
    #[error("version {version} of '{model}' is the default version; make another version the default before unloading it")]
    VersionIsDefault {
        /// The model's name.
        model: String,
        /// The version.
        version: u64,
    },
    /// A load or unload parameter that is unknown or has the wrong type.
    #[error("{0}")]
    BadParameter(String),
}

/// Why the engine did not do what it was asked.
#[derive(Debug, Error)]
pub enum EngineError {
    /// No model or version to serve.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// A model control request failed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The front end could not decode the request (its own error, kept whole).
    #[error(transparent)]
    BadRequest(Box<dyn std::error::Error + Send + Sync>),
    /// The request does not fit the model's signature.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The model failed to run.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// An image could not be decoded, or the outputs could not be read as classes or boxes.
    #[error(transparent)]
    Image(#[from] VisionError),
    /// No room in the memory budget for the request's body.
    #[error(transparent)]
    BodyMemory(#[from] BodyMemoryError),
    /// An image request to a model without `[preprocess]` and `[postprocess]`.
    #[error("model '{0}' declares no image [preprocess] and [postprocess] in its model.toml")]
    NoImagePipeline(String),
    /// The inference threads have stopped.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Every place of the model version is taken.
    #[error("model '{model}' has {capacity} requests in flight, its limit; retry in {retry_after_secs} s")]
    Overloaded {
        /// The model's name.
        model: String,
        /// Its places: requests running and waiting together.
        capacity: usize,
        /// Seconds after which to retry.
        retry_after_secs: u64,
    },
    /// The request's deadline passed while it waited.
    #[error("the request's deadline passed before it could run")]
    DeadlineExceeded,
    /// The model answers through its upstream only, and the upstream did not answer.
    #[error("model '{model}' is answered by its upstream {upstream} only, which is unreachable: {reason}")]
    UpstreamUnavailable {
        /// The model's name.
        model: String,
        /// The upstream.
        upstream: String,
        /// Why: the upstream's error, or its open circuit.
        reason: String,
    },
    /// A fault of the server (a panic in a request's work, a batch that could not be split).
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// A request the front end could not decode.
    pub fn bad_request(error: impl std::error::Error + Send + Sync + 'static) -> EngineError {
        EngineError::BadRequest(Box::new(error))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Lookup(lookup) => match lookup {
                LookupError::UnknownModel(_) | LookupError::UnknownVersion { .. } => {
                    ErrorKind::NotFound
                }
                LookupError::BadVersion(_) => ErrorKind::InvalidArgument,
                LookupError::Unavailable { .. } | LookupError::VersionUnavailable { .. } => {
                    ErrorKind::Unavailable
                }
            },
            EngineError::Control(control) => match control {
                ControlError::Unauthorized => ErrorKind::Unauthenticated,
                ControlError::Disabled(_) => ErrorKind::FailedPrecondition,
                ControlError::BadName(_)
                | ControlError::LoadFailed { .. }
                | ControlError::BadParameter(_) => ErrorKind::InvalidArgument,
                ControlError::UnknownModel(_)
                | ControlError::NoVersionDirectory { .. }
                | ControlError::VersionNotLoaded { .. } => ErrorKind::NotFound,
                ControlError::VersionIsDefault { .. } => ErrorKind::FailedPrecondition,
                ControlError::Repository(_) => ErrorKind::Internal,
            },
            EngineError::BadRequest(_)
            | EngineError::Input(_)
            | EngineError::NoImagePipeline(_) => ErrorKind::InvalidArgument,
            EngineError::Image(image) => match image {
                VisionError::Empty | VisionError::Corrupt(_) => ErrorKind::InvalidArgument,
                VisionError::UnsupportedFormat(_) => ErrorKind::UnsupportedMediaType,
                VisionError::TooManyBytes { .. } | VisionError::TooManyPixels { .. } => {
                    ErrorKind::TooLarge
                }
                VisionError::Config(_) | VisionError::Outputs(_) => ErrorKind::Internal,
            },
            EngineError::BodyMemory(BodyMemoryError::NeverFits { .. }) => {
                ErrorKind::InsufficientMemory
            }
            EngineError::BodyMemory(BodyMemoryError::Full { .. })
            | EngineError::Overloaded { .. } => ErrorKind::Overloaded,
            EngineError::ShuttingDown | EngineError::UpstreamUnavailable { .. } => {
                ErrorKind::Unavailable
            }
            EngineError::DeadlineExceeded => ErrorKind::DeadlineExceeded,
            EngineError::Backend(_) | EngineError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// A stable word for what went wrong, for programs (the `code` of an HTTP error body): a
    /// control request's refusal by its cause (`model_load_failed`, `bad_parameter`,
    /// `bad_name`, `unknown_model`, `no_version_directory`, `version_not_loaded`,
    /// `version_is_default`, `control_disabled`, `unauthorized`, `repository`), any other
    /// error by its kind ([`ErrorKind::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Control(control) => match control {
                ControlError::Unauthorized => "unauthorized",
                ControlError::Disabled(_) => "control_disabled",
                ControlError::BadName(_) => "bad_name",
                ControlError::UnknownModel(_) => "unknown_model",
                ControlError::LoadFailed { .. } => "model_load_failed",
                ControlError::Repository(_) => "repository",
                ControlError::NoVersionDirectory { .. } => "no_version_directory",
                ControlError::VersionNotLoaded { .. } => "version_not_loaded",
                ControlError::VersionIsDefault { .. } => "version_is_default",
                ControlError::BadParameter(_) => "bad_parameter",
            },
            other => other.kind().code(),
        }
    }

    /// Seconds after which a refused request may be tried again, when that is known.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            EngineError::Overloaded {
                retry_after_secs, ..
            }
            | EngineError::BodyMemory(BodyMemoryError::Full {
                retry_after_secs, ..
            }) => Some(*retry_after_secs),
            _ => None,
        }
    }
}
