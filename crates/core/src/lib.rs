//! Outpost core: the vocabulary every other crate shares.
//!
//! This crate owns the V2 datatypes, typed tensors, model signatures (input and output metadata),
//! the per-model configuration schema (`model.toml`), the protocol-neutral inference request and
//! response, and the [`Backend`] / [`LoadedModel`] traits that runtimes implement. It does no I/O
//! beyond reading a model's configuration file.

pub mod backend;
pub mod datatype;
pub mod execution_provider;
pub mod image_config;
pub mod model_config;
pub mod provider_options;
pub mod record_sink;
pub mod request;
pub mod scheduling;
pub mod signature;
mod spare_capacity;
pub mod tensor;
pub mod tensor_batch;
pub mod tensor_fill;
pub mod upstream;
pub mod work_gauge;

pub use backend::{
    Backend, BackendError, BackendKind, LoadRequest, LoadedModel, MemoryRoom, UnlimitedMemory,
};
pub use datatype::DataType;
pub use execution_provider::{ExecutionProviderKind, ExecutionProviderSpec};
pub use image_config::{PostprocessConfig, PreprocessConfig};
pub use model_config::{BackendChoice, ForwardMode, ModelConfig, ModelConfigError, VersionPolicy};
pub use provider_options::ExecutionProviderOptions;
pub use record_sink::RecordSink;
pub use request::{InferRequest, InferResponse, InputError, ServedBy};
pub use scheduling::{PerformanceHint, Scheduling};
pub use signature::{ModelSignature, TensorSpec};
pub use tensor::{NamedTensor, Tensor, TensorData, TensorError};
pub use tensor_batch::BatchError;
pub use tensor_fill::TensorFiller;
pub use upstream::{
    CameraSends, RemoteConnector, RemoteError, RemoteModel, UpstreamConfig, UpstreamPolicy,
};
pub use work_gauge::{AtWork, WorkGauge};
