//! Test support shared by the end-to-end tests and benchmarks: paths to the fixtures, a reader
//! for ONNX reference tensors (`test_data_set_*/*.pb`), and [`TestServer`], which starts the
//! real `outpost` binary on port 0 and waits until it reports ready.

pub mod fixtures;
pub mod onnx_tensor;
pub mod server;

pub use onnx_tensor::{read_tensor_file, OnnxTensorError};
pub use server::{TestServer, TestServerError};
