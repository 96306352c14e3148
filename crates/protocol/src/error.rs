//! Errors in a request body (REST or gRPC): each is the caller's fault and becomes a 400 answer
//! or INVALID_ARGUMENT.

use thiserror::Error;

/// What is wrong with a request body.
#[derive(Debug, Error, PartialEq)]
pub enum ProtocolError {
    /// A remote server's answer that is not a V2 inference answer.
    #[error("malformed answer: {0}")]
    BadResponse(String),
    /// The JSON (or its JSON header) does not parse as a request.
    #[error("malformed JSON request: {0}")]
    MalformedJson(String),
    /// A header's value is not what the protocol allows.
    #[error("invalid {header} header: {message}")]
    BadHeader {
        /// The header.
        header: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A datatype the protocol does not define.
    #[error("input '{name}': unknown datatype '{datatype}'")]
    UnknownDatatype {
        /// The input.
        name: String,
        /// The datatype sent.
        datatype: String,
    },
    /// A shape with a negative dimension.
    #[error("input '{name}': shape {shape:?} has a negative dimension")]
    NegativeDimension {
        /// The input.
        name: String,
        /// The shape sent.
        shape: Vec<i64>,
    },
    /// A shape over the element limit, refused before any allocation.
    #[error("input '{name}': {elements} elements exceed the limit of {limit} per tensor")]
    TooManyElements {
        /// The input.
        name: String,
        /// Elements the shape declares.
        elements: usize,
        /// The limit.
        limit: usize,
    },
    /// An input without elements.
    #[error("input '{name}': has neither 'data' nor parameters.binary_data_size")]
    MissingData {
        /// The input.
        name: String,
    },
    /// An input with elements both in JSON and as binary data.
    #[error("input '{name}': give either 'data' or parameters.binary_data_size, not both")]
    DataAndBinary {
        /// The input.
        name: String,
    },
    /// JSON elements that are not of the input's datatype.
    #[error("input '{name}': {message}")]
    BadData {
        /// The input.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The element count does not fill the shape.
    #[error("input '{name}': shape {shape:?} needs {expected} elements but {actual} were sent")]
    ElementCount {
        /// The input.
        name: String,
        /// The shape sent.
        shape: Vec<usize>,
        /// Elements the shape needs.
        expected: usize,
        /// Elements sent.
        actual: usize,
    },
    /// Binary data of the wrong size for the shape and datatype.
    #[error("input '{name}': binary_data_size is {actual} bytes but shape {shape:?} of {datatype} needs {expected}")]
    BinarySize {
        /// The input.
        name: String,
        /// Its datatype.
        datatype: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Bytes the shape needs.
        expected: usize,
        /// `binary_data_size`.
        actual: usize,
    },
    /// Binary data claimed beyond the body's end.
    #[error("input '{name}': binary_data_size {size} runs past the end of the body ({available} bytes of binary data left)")]
    BinaryOverrun {
        /// The input.
        name: String,
        /// `binary_data_size`.
        size: usize,
        /// Bytes left in the body.
        available: usize,
    },
    /// Binary data after the JSON that no input claims (bytes left over).
    #[error("{0} bytes of binary data follow the JSON header but no input claims them")]
    UnclaimedBinary(usize),
    /// A gRPC input with neither `contents` nor raw contents.
    #[error("input '{name}': has no contents and no raw_input_contents entry")]
    MissingContents {
        /// The input.
        name: String,
    },
    /// `raw_input_contents` entries do not match the inputs.
    #[error("raw_input_contents has {raw} entries for {inputs} inputs; give one per input, in order, or none")]
    RawContentsCount {
        /// Entries sent.
        raw: usize,
        /// Inputs sent.
        inputs: usize,
    },
    /// A gRPC input with both `contents` and raw contents.
    #[error("input '{name}': give either contents or raw_input_contents, not both")]
    ContentsAndRaw {
        /// The input.
        name: String,
    },
    /// Raw contents of the wrong size for the shape and datatype.
    #[error("input '{name}': raw_input_contents holds {actual} bytes but shape {shape:?} of {datatype} needs {expected}")]
    RawSize {
        /// The input.
        name: String,
        /// Its datatype.
        datatype: String,
        /// Its shape.
        shape: Vec<usize>,
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes sent.
        actual: usize,
    },
    /// A parameter of the wrong type or value.
    #[error("parameter '{name}': {message}")]
    BadParameter {
        /// The parameter.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Something the protocol allows that Outpost does not do (e.g. shared-memory inputs).
    #[error("{0}")]
    Unsupported(String),
}
