//! Errors in a request body (REST or gRPC): each is the caller's fault and becomes a 400 answer
//! or INVALID_ARGUMENT.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum ProtocolError {
    #[error("malformed JSON request: {0}")]
    MalformedJson(String),
    #[error("invalid {header} header: {message}")]
    BadHeader {
        header: &'static str,
        message: String,
    },
    #[error("input '{name}': unknown datatype '{datatype}'")]
    UnknownDatatype { name: String, datatype: String },
    #[error("input '{name}': shape {shape:?} has a negative dimension")]
    NegativeDimension { name: String, shape: Vec<i64> },
    #[error("input '{name}': {elements} elements exceed the limit of {limit} per tensor")]
    TooManyElements {
        name: String,
        elements: usize,
        limit: usize,
    },
    #[error("input '{name}': has neither 'data' nor parameters.binary_data_size")]
    MissingData { name: String },
    #[error("input '{name}': give either 'data' or parameters.binary_data_size, not both")]
    DataAndBinary { name: String },
    #[error("input '{name}': {message}")]
    BadData { name: String, message: String },
    #[error("input '{name}': shape {shape:?} needs {expected} elements but {actual} were sent")]
    ElementCount {
        name: String,
        shape: Vec<usize>,
        expected: usize,
        actual: usize,
    },
    #[error("input '{name}': binary_data_size is {actual} bytes but shape {shape:?} of {datatype} needs {expected}")]
    BinarySize {
        name: String,
        datatype: String,
        shape: Vec<usize>,
        expected: usize,
        actual: usize,
    },
    #[error("input '{name}': binary_data_size {size} runs past the end of the body ({available} bytes of binary data left)")]
    BinaryOverrun {
        name: String,
        size: usize,
        available: usize,
    },
    #[error("{0} bytes of binary data follow the JSON header but no input claims them")]
    UnclaimedBinary(usize),
    #[error("input '{name}': has no contents and no raw_input_contents entry")]
    MissingContents { name: String },
    #[error("raw_input_contents has {raw} entries for {inputs} inputs; give one per input, in order, or none")]
    RawContentsCount { raw: usize, inputs: usize },
    #[error("input '{name}': give either contents or raw_input_contents, not both")]
    ContentsAndRaw { name: String },
    #[error("input '{name}': raw_input_contents holds {actual} bytes but shape {shape:?} of {datatype} needs {expected}")]
    RawSize {
        name: String,
        datatype: String,
        shape: Vec<usize>,
        expected: usize,
        actual: usize,
    },
    #[error("parameter '{name}': {message}")]
    BadParameter { name: String, message: String },
    #[error("{0}")]
    Unsupported(String),
}
