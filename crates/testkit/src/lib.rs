//! Test support shared by the end-to-end tests and benchmarks: paths to the fixtures, a reader
//! for ONNX reference tensors (`test_data_set_*/*.pb`), and [`TestServer`], which starts the
//! real `outpost` binary on port 0 and waits until it reports ready, the binary-extension
//! request bodies clients send, the fixtures' tolerances ([`reference`]), and stand-in bundles
//! for repository and fleet tests ([`bundles`]), and a runtime registered only by tests
//! ([`echo_runtime`]).

pub mod bundles;
pub mod cpu;
pub mod echo_runtime;
pub mod fixtures;
pub mod reference;
pub mod server;
pub mod v2_body;

pub use outpost_bundle::onnx_tensor::{self, read_tensor_file, OnnxTensorError};
pub use server::{Runner, TestServer, TestServerError};
pub use v2_body::binary_infer_body;
