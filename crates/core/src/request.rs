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
    /// The input tensors, by name.
    pub inputs: Vec<NamedTensor>,
    /// Outputs to return, by name; `None` means all of them.
    pub outputs: Option<Vec<String>>,
}

/// The answer to an [`InferRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct InferResponse {
    /// The model that answered.
    pub model_name: String,
    /// Its version.
    pub model_version: String,
    /// The request's identifier, echoed.
    pub id: Option<String>,
    /// The output tensors asked for, in the order asked.
    pub outputs: Vec<NamedTensor>,
    /// Who answered: the local model or its upstream.
    pub served_by: ServedBy,
}

/// A request that does not fit the model it was sent to.
#[derive(Debug, Error, PartialEq)]
pub enum InputError {
    /// An input the model does not have.
    #[error("unexpected inference input '{name}', the model expects inputs {expected:?}")]
    UnknownInput {
        /// The input sent.
        name: String,
        /// The model's inputs.
        expected: Vec<String>,
    },
    /// An input of the model is not in the request.
    #[error("expected inference input '{0}' is missing")]
    MissingInput(String),
    /// An input is sent twice.
    #[error("inference input '{0}' is given more than once")]
    DuplicateInput(String),
    /// An input of the wrong element type.
    #[error("inference input '{name}' has datatype {actual}, the model expects {expected}")]
    DatatypeMismatch {
        /// The input.
        name: String,
        /// The model's type.
        expected: DataType,
        /// The type sent.
        actual: DataType,
    },
    /// An input of the wrong shape.
    #[error("inference input '{name}' has shape {actual:?}, the model expects {expected}")]
    ShapeMismatch {
        /// The input.
        name: String,
        /// The model's shape, `-1` for variable dimensions.
        expected: String,
        /// The shape sent.
        actual: Vec<usize>,
    },
    /// A batch larger than the model takes, or empty.
    #[error("inference input '{name}' has batch size {size}, which must be between 1 and the model's max_batch_size {max}")]
    BatchSize {
        /// The input.
        name: String,
        /// Its batch dimension.
        size: usize,
        /// The model's `max_batch_size`.
        max: usize,
    },
    /// The inputs' batch dimensions differ.
    #[error("inference inputs disagree on the batch size")]
    InconsistentBatch,
    /// An output the model does not have.
    #[error("unknown output '{name}' requested, the model has outputs {expected:?}")]
    UnknownOutput {
        /// The output asked for.
        name: String,
        /// The model's outputs.
        expected: Vec<String>,
    },
}

/// Who answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServedBy {
    /// The model on this server.
    #[default]
    Local,
    /// The model's upstream.
    Upstream,
}

impl ServedBy {
    /// `local` or `upstream`: the `Outpost-Served-By` header, the response parameter and the
    /// metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ServedBy::Local => "local",
            ServedBy::Upstream => "upstream",
        }
    }
}

/// The response parameter (V2 REST and gRPC) that says who answered.
pub const SERVED_BY_PARAMETER: &str = "outpost_served_by";
