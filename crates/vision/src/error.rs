//! Why an image could not be used. Every variant is the client's fault except `Config` (the
//! model's declared processing does not fit the model) and `Outputs` (its outputs do not match
//! its postprocessing).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum VisionError {
    #[error("the image is empty")]
    Empty,
    #[error("unsupported image format: {0} (send JPEG or PNG)")]
    UnsupportedFormat(String),
    #[error("the image is {bytes} bytes, over the limit of {limit}")]
    TooManyBytes { bytes: usize, limit: usize },
    #[error("the image declares {width}x{height} pixels, over the limit of {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
    #[error("image processing configuration does not fit the model: {0}")]
    Config(String),
    #[error("the model's outputs do not match its postprocessing: {0}")]
    Outputs(String),
}
