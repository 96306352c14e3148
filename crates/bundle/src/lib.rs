//! Outpost model bundles: one version of one model (its model-level files such as `model.toml`
//! and labels, the files of its version directory, and golden cases the device checks it
//! against) packed into one file that the same inputs always make byte for byte.
//!
//! A bundle is a tar archive: `manifest.json` first (name, version, minimum server version, and
//! every file with its size and sha256), then the files in the manifest's order under
//! `model/`, `version/` and `golden/`. Reading one ([`read::verify`], [`read::unpack`]) trusts
//! nothing in it: every entry must be the next file the manifest names, a plain file at a plain
//! relative path, of the declared size, within the [`Limits`], with the declared hash; anything
//! else stops the read, and an unpack that stops leaves nothing behind.

pub mod create;
pub mod error;
pub mod golden;
mod hashing;
pub mod limits;
pub mod manifest;
pub mod onnx_tensor;
pub mod read;

pub use create::{create, BundleSource};
pub use error::BundleError;
pub use golden::{ExpectedBoxes, GoldenCase, GoldenCases, GoldenCheck, ImageExpectation};
pub use limits::Limits;
pub use manifest::{FileEntry, Manifest, Part};
pub use onnx_tensor::{read_tensor, read_tensor_file, OnnxTensorError};
