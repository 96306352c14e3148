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
    pub id: Option<String>,
    pub parameters: Option<Parameters>,
    #[serde(borrow)]
    pub inputs: Vec<InputTensorJson<'a>>,
    pub outputs: Option<Vec<RequestedOutputJson>>,
}

/// An input tensor. `data` is kept as its JSON text and parsed straight into typed elements
/// once the datatype is known (which may come after it in the object).
#[derive(Debug, Deserialize)]
pub struct InputTensorJson<'a> {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    pub parameters: Option<Parameters>,
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
pub struct RequestedOutputJson {
    pub name: String,
    pub parameters: Option<Parameters>,
}

/// `POST .../infer` answer (the JSON part).
#[derive(Debug, Serialize, Deserialize)]
pub struct InferResponseJson {
    pub model_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    pub outputs: Vec<OutputTensorJson>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OutputTensorJson {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// `GET /v2`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServerMetadata {
    pub name: String,
    pub version: String,
    pub extensions: Vec<String>,
}

/// One input or output in the model metadata.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{m}[/versions/{v}]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

/// `GET /v2/health/live`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LiveResponse {
    pub live: bool,
}

/// `GET /v2/health/ready`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReadyResponse {
    pub ready: bool,
}

/// `GET /v2/models/{m}/ready`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelReadyResponse {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub ready: bool,
}

/// Every non-2xx answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
}

/// One input or output in Triton's model configuration.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelConfigTensor {
    pub name: String,
    pub data_type: String,
    /// Without the batch dimension when `max_batch_size > 0`, as Triton writes it.
    pub dims: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_filename: Option<String>,
}

/// A string-valued entry of the configuration's `parameters` map.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ConfigParameter {
    pub string_value: String,
}

/// `GET /v2/models/{m}/config`: Triton's model configuration, as far as it applies.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelConfigJson {
    pub name: String,
    pub platform: String,
    pub backend: String,
    pub max_batch_size: usize,
    pub input: Vec<ModelConfigTensor>,
    pub output: Vec<ModelConfigTensor>,
    pub version_policy: VersionPolicyJson,
    pub instance_group: Vec<InstanceGroupJson>,
    /// Present when requests are joined into batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_batching: Option<DynamicBatchingJson>,
    pub parameters: std::collections::BTreeMap<String, ConfigParameter>,
}

/// Triton's `dynamic_batching` configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DynamicBatchingJson {
    pub preferred_batch_size: Vec<usize>,
    pub max_queue_delay_microseconds: u64,
}

/// Which versions of a model are served, as Triton's configuration writes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum VersionPolicyJson {
    Latest { num_versions: u32 },
    All {},
    Specific { versions: Vec<i64> },
}

/// Where a model's instances run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstanceGroupJson {
    pub name: String,
    /// `KIND_CPU` or `KIND_GPU`.
    pub kind: String,
    pub count: usize,
}

/// `GET /v2/models[/{m}[/versions/{v}]]/stats`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelStatisticsResponseJson {
    pub model_stats: Vec<ModelStatisticsJson>,
}

/// One model version's statistics, in Triton's shape.
#[derive(Debug, Serialize, Deserialize)]
pub struct ModelStatisticsJson {
    pub name: String,
    pub version: String,
    /// Milliseconds since the Unix epoch of the last inference; 0 when none.
    pub last_inference: u64,
    pub inference_count: u64,
    pub execution_count: u64,
    pub inference_stats: InferStatisticsJson,
    pub batch_stats: Vec<BatchStatisticsJson>,
}

/// A count and the total nanoseconds it took.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct DurationJson {
    pub count: u64,
    pub ns: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InferStatisticsJson {
    pub success: DurationJson,
    pub fail: DurationJson,
    pub queue: DurationJson,
    pub compute_input: DurationJson,
    pub compute_infer: DurationJson,
    pub compute_output: DurationJson,
    pub cache_hit: DurationJson,
    pub cache_miss: DurationJson,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BatchStatisticsJson {
    pub batch_size: u64,
    pub compute_input: DurationJson,
    pub compute_infer: DurationJson,
    pub compute_output: DurationJson,
}

/// One entry of `POST /v2/repository/index`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RepositoryIndexEntryJson {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `READY`, `UNAVAILABLE` or `UNLOADING`.
    pub state: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub reason: String,
}
