//! Why an image could not be used. Every variant is the client's fault except `Config` (the
//! model's declared processing does not fit the model) and `Outputs` (its outputs do not match
//! its postprocessing).

use thiserror::Error;

/// Why an image could not be turned into a model input, or outputs into an answer.
#[derive(Debug, Error)]
pub enum VisionError {
    /// No bytes.
    #[error("the image is empty")]
    Empty,
    /// Neither JPEG nor PNG.
    #[error("unsupported image format: {0} (send JPEG or PNG)")]
    UnsupportedFormat(String),
    /// Over the byte limit.
    #[error("the image is {bytes} bytes, over the limit of {limit}")]
    TooManyBytes {
        /// Bytes sent.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The header declares more pixels than the limit; nothing was decoded.
    #[error("the image declares {width}x{height} pixels, over the limit of {limit} pixels")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The pixel limit.
        limit: u64,
    },
    /// The data is truncated or malformed.
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
    /// `[preprocess]` or `[postprocess]` does not fit the model.
    #[error("image processing configuration does not fit the model: {0}")]
    Config(String),
    /// The model's outputs are not what the postprocessing reads.
    #[error("the model's outputs do not match its postprocessing: {0}")]
    Outputs(String),
}
