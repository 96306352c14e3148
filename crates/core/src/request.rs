//! The protocol-neutral inference request and response that every front end (REST, gRPC)
//! decodes into and encodes from, and the errors a caller's input can cause.

use thiserror::Error;

use crate::datatype::DataType;
use crate::tensor::NamedTensor;

/// One inference call, after the front end has decoded it.
#[derive(Debug, Clone, PartialEq)]
pub struct InferRequest {
    /// Caller-chosen identifier, echoed in the response.
    pub id: Option<String>,
    pub inputs: Vec<NamedTensor>,
    /// Outputs to return, by name; `None` means all of them.
    pub outputs: Option<Vec<String>>,
}

/// The answer to an [`InferRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    pub id: Option<String>,
    pub outputs: Vec<NamedTensor>,
}

/// A request that does not fit the model it was sent to.
#[derive(Debug, Error, PartialEq)]
pub enum InputError {
    #[error("unexpected inference input '{name}', the model expects inputs {expected:?}")]
    UnknownInput { name: String, expected: Vec<String> },
    #[error("expected inference input '{0}' is missing")]
    MissingInput(String),
    #[error("inference input '{0}' is given more than once")]
    DuplicateInput(String),
    #[error("inference input '{name}' has datatype {actual}, the model expects {expected}")]
    DatatypeMismatch {
        name: String,
        expected: DataType,
        actual: DataType,
    },
    #[error("inference input '{name}' has shape {actual:?}, the model expects {expected}")]
    ShapeMismatch {
        name: String,
        expected: String,
        actual: Vec<usize>,
    },
    #[error("inference input '{name}' has batch size {size}, which must be between 1 and the model's max_batch_size {max}")]
    BatchSize {
        name: String,
        size: usize,
        max: usize,
    },
    #[error("inference inputs disagree on the batch size")]
    InconsistentBatch,
    #[error("unknown output '{name}' requested, the model has outputs {expected:?}")]
    UnknownOutput { name: String, expected: Vec<String> },
}
