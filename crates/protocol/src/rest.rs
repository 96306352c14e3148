//! JSON shapes of the V2 REST API: inference request and response, server and model metadata,
//! readiness answers, Triton's model configuration, and the error body.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// `parameters` objects are free-form maps.
pub type Parameters = Map<String, Value>;

/// `POST .../infer` body (the JSON part). Unknown keys are ignored: clients add their own (the
/// kserve client sends `model_name`).
#[derive(Debug, Deserialize)]
pub struct InferRequestJson<'a> {
    /// The caller's identifier, echoed in the answer.
    pub id: Option<String>,
    /// Request parameters (`binary_data_output`, ...).
    pub parameters: Option<Parameters>,
    /// The input tensors.
    #[serde(borrow)]
    pub inputs: Vec<InputTensorJson<'a>>,
    /// The outputs wanted; all when absent.
    pub outputs: Option<Vec<RequestedOutputJson>>,
}

/// An input tensor. `data` is kept as its JSON text and parsed straight into typed elements
/// once the datatype is known (which may come after it in the object).
#[derive(Debug, Deserialize)]
pub struct InputTensorJson<'a> {
    /// The input's name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<i64>,
    /// Its element type (`FP32`, `BYTES`, ...).
    pub datatype: String,
    /// Tensor parameters (`binary_data_size` for binary data).
    pub parameters: Option<Parameters>,
    /// The elements, flat or nested, unless they follow as binary data.
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
}

/// An output the request asks for.
#[derive(Debug, Deserialize)]
pub struct RequestedOutputJson {
    /// The output's name.
    pub name: String,
    /// Output parameters (`binary_data`).
    pub parameters: Option<Parameters>,
}

/// `POST .../infer` answer (the JSON part).
#[derive(Debug, Serialize, Deserialize)]
pub struct InferResponseJson {
    /// The model that answered.
    pub model_name: String,
    /// Its version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The request's identifier, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Response parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// The output tensors.
    pub outputs: Vec<OutputTensorJson>,
}

/// An output tensor in the answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct OutputTensorJson {
    /// The output's name.
    pub name: String,
    /// Its element type.
    pub datatype: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Tensor parameters (`binary_data_size` when the data follows as binary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    /// The elements, flat, unless they follow as binary data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// `GET /v2`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServerMetadata {
    /// The server's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The protocol extensions it implements.
    pub extensions: Vec<String>,
}

/// One input or output in the model metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TensorMetadata {
    /// The tensor's name.
    pub name: String,
    /// Its element type.
    pub datatype: String,
    /// Its shape; `-1` for a variable dimension.
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{m}[/versions/{v}]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// The model's name.
    pub name: String,
    /// Its ready versions.
    pub versions: Vec<String>,
    /// Triton's platform string (`onnxruntime_onnx`, `tract_onnx`).
    pub platform: String,
    /// Its inputs.
    pub inputs: Vec<TensorMetadata>,
    /// Its outputs.
    pub outputs: Vec<TensorMetadata>,
}

/// `GET /v2/health/live`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LiveResponse {
    /// Whether the server is live.
    pub live: bool,
}

/// `GET /v2/health/ready`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReadyResponse {
    /// Whether the server takes traffic.
    pub ready: bool,
}

/// `GET /v2/models/{m}/ready`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelReadyResponse {
    /// The model's name.
    pub name: String,
    /// The version that would serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Whether it serves.
    pub ready: bool,
}

/// Every non-2xx answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: String,
    /// The same as a stable word for programs (`model_load_failed`, `bad_parameter`,
    /// `not_found`, ...; docs/model-repository.md): an extension of the protocol's body, which
    /// clients that know only `error` ignore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// One input or output in Triton's model configuration.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelConfigTensor {
    /// The tensor's name.
    pub name: String,
    /// Its element type as Triton's configuration writes it (`TYPE_FP32`).
    pub data_type: String,
    /// Without the batch dimension when `max_batch_size > 0`, as Triton writes it.
    pub dims: Vec<i64>,
    /// The labels file that names its last dimension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_filename: Option<String>,
}

/// A string-valued entry of the configuration's `parameters` map.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ConfigParameter {
    /// The value.
    pub string_value: String,
}

/// `GET /v2/models/{m}/config`: Triton's model configuration, as far as it applies.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelConfigJson {
    /// The model's name.
    pub name: String,
    /// Triton's platform string.
    pub platform: String,
    /// The runtime (`onnxruntime`, `tract`).
    pub backend: String,
    /// The most samples in one execution; 0 when the model does not batch.
    pub max_batch_size: usize,
    /// The inputs.
    pub input: Vec<ModelConfigTensor>,
    /// The outputs.
    pub output: Vec<ModelConfigTensor>,
    /// Which versions are served.
    pub version_policy: VersionPolicyJson,
    /// Where its sessions run, and how many.
    pub instance_group: Vec<InstanceGroupJson>,
    /// Present when requests are joined into batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_batching: Option<DynamicBatchingJson>,
    /// String parameters (`execution_providers`, `intra_op_thread_count`).
    pub parameters: std::collections::BTreeMap<String, ConfigParameter>,
}

/// Triton's `dynamic_batching` configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DynamicBatchingJson {
    /// Batch sizes the batcher stops at when it can form them.
    pub preferred_batch_size: Vec<usize>,
    /// The longest the oldest request waits for others.
    pub max_queue_delay_microseconds: u64,
}

/// Which versions of a model are served, as Triton's configuration writes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum VersionPolicyJson {
    /// The newest versions.
    Latest {
        /// How many.
        num_versions: u32,
    },
    /// Every version present.
    All {},
    /// The versions listed.
    Specific {
        /// The versions.
        versions: Vec<i64>,
    },
}

/// Where a model's instances run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstanceGroupJson {
    /// The group's name (the model's).
    pub name: String,
    /// `KIND_CPU` or `KIND_GPU`.
    pub kind: String,
    /// Sessions in the group.
    pub count: usize,
}

/// `GET /v2/models[/{m}[/versions/{v}]]/stats`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelStatisticsResponseJson {
    /// One entry per model version.
    pub model_stats: Vec<ModelStatisticsJson>,
}

/// One model version's statistics, in Triton's shape.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelStatisticsJson {
    /// The model's name.
    pub name: String,
    /// The version.
    pub version: String,
    /// Milliseconds since the Unix epoch of the last inference; 0 when none.
    pub last_inference: u64,
    /// Inferences performed: a request of batch size n counts n.
    pub inference_count: u64,
    /// Model executions (a batch of requests counts once).
    pub execution_count: u64,
    /// Counts and durations of requests and their stages.
    pub inference_stats: InferStatisticsJson,
    /// Durations of executions, by batch size.
    pub batch_stats: Vec<BatchStatisticsJson>,
}

/// A count and the total nanoseconds it took.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct DurationJson {
    /// How many.
    pub count: u64,
    /// Their nanoseconds, summed.
    pub ns: u64,
}

/// Counts and durations of a version's requests, by stage.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InferStatisticsJson {
    /// Answered requests, from arrival to answer.
    pub success: DurationJson,
    /// Failed requests.
    pub fail: DurationJson,
    /// Waiting for an inference thread or a batch.
    pub queue: DurationJson,
    /// Decoding the inputs.
    pub compute_input: DurationJson,
    /// Running the model.
    pub compute_infer: DurationJson,
    /// Encoding the outputs.
    pub compute_output: DurationJson,
    /// Answers from a response cache (none: Outpost has no response cache).
    pub cache_hit: DurationJson,
    /// Response cache misses (none).
    pub cache_miss: DurationJson,
}

/// Durations of a version's executions of one batch size.
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchStatisticsJson {
    /// The batch size.
    pub batch_size: u64,
    /// Decoding the inputs.
    pub compute_input: DurationJson,
    /// Running the model.
    pub compute_infer: DurationJson,
    /// Encoding the outputs.
    pub compute_output: DurationJson,
}

/// One entry of `POST /v2/repository/index`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RepositoryIndexEntryJson {
    /// The model's name.
    pub name: String,
    /// The version, when the entry is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `READY`, `UNAVAILABLE` or `UNLOADING`.
    pub state: String,
    /// Why it is unavailable.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
}
