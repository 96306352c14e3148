//! Outpost vision: what the camera endpoint does around a model. Decode JPEG or PNG within
//! limits (JPEGs at reduced scale when the model is much smaller than the frame), fit and pack
//! the frame into the model's input tensor as its `[preprocess]` declares, and read the outputs
//! as classes or boxes as its `[postprocess]` declares, with boxes in the caller's pixels.

pub mod classify;
pub mod decode;
pub mod detect;
pub mod error;
pub mod geometry;
pub mod labels;
mod npy;
pub mod pipeline;
pub mod preprocess;
mod scratch;
mod turbo;
pub mod values;

pub use decode::{decode, DecodeScale, DecodedImage, ImageFormat, ImageLimits, RgbImage};
pub use error::VisionError;
pub use pipeline::{recycle_input, Answer, ImagePipeline, Overrides, PreparedImage};
