//! Outpost core: the vocabulary every other crate shares.
//!
//! This crate owns the V2 datatypes, typed tensors, model signatures (input and output metadata),
//! the per-model configuration schema (`model.toml`), the protocol-neutral inference request and
//! response, and the runtime contract: [`Runtime`] (what a binary registers), [`Backend`] and
//! [`LoadedModel`] (what a usable runtime and a loaded model do). It does no I/O beyond reading
//! a model's configuration file.

pub mod backend;
pub mod datatype;
pub mod digest;
pub mod image_config;
pub mod model_config;
pub mod record_sink;
pub mod request;
pub mod runtime;
pub mod scheduling;
pub mod signature;
mod spare_capacity;
pub mod tensor;
pub mod tensor_batch;
pub mod tensor_fill;
pub mod upstream;
pub mod work_gauge;

pub use backend::{
    Backend, BackendError, LoadRequest, LoadedModel, MemoryRoom, RuntimeGauge, RuntimeIdentity,
    UnlimitedMemory,
};
pub use datatype::DataType;
pub use digest::{NotASha256, Sha256};
pub use image_config::{PostprocessConfig, PreprocessConfig};
pub use model_config::{ForwardMode, ModelConfig, ModelConfigError, RuntimeChoice, VersionPolicy};
pub use record_sink::RecordSink;
pub use request::{InferRequest, InferResponse, InputError, ServedBy};
pub use runtime::{ConfiguredRuntime, ProbeContext, ProbeError, Runtime, RuntimeSettings};
pub use scheduling::{PerformanceHint, Scheduling};
pub use signature::{ModelSignature, TensorSpec};
pub use tensor::{NamedTensor, Tensor, TensorData, TensorError};
pub use tensor_batch::BatchError;
pub use tensor_fill::TensorFiller;
pub use upstream::{
    CameraSends, ConnectError, CredentialError, RemoteConnector, RemoteError, RemoteModel,
    UpstreamConfig, UpstreamPolicy,
};
pub use work_gauge::{AtWork, WorkGauge};
