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
    pub version_policy: Value,
    pub instance_group: Vec<Value>,
    pub parameters: std::collections::BTreeMap<String, ConfigParameter>,
}
