//! Server metadata, model metadata and Triton's model configuration.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use outpost_core::{TensorSpec, VersionPolicy};
use outpost_protocol::rest::{
    ConfigParameter, ModelConfigJson, ModelConfigTensor, ModelMetadata, ServerMetadata,
    TensorMetadata,
};
use serde_json::json;

use super::{ApiError, AppState};
use crate::repository::ServedModel;

/// Protocol extensions that are implemented. Only these are advertised.
pub(super) const EXTENSIONS: &[&str] = &["binary_tensor_data", "model_configuration"];

pub(super) async fn server_metadata() -> Json<ServerMetadata> {
    Json(ServerMetadata {
        name: "outpost".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        extensions: EXTENSIONS.iter().map(|e| e.to_string()).collect(),
    })
}

fn tensor_metadata(spec: &TensorSpec) -> TensorMetadata {
    TensorMetadata {
        name: spec.name.clone(),
        datatype: spec.datatype.to_string(),
        shape: spec.shape.clone(),
    }
}

fn metadata_answer(
    state: &AppState,
    model: &str,
    version: Option<&str>,
) -> Result<Json<ModelMetadata>, ApiError> {
    let served = state.inference.lookup(model, version)?;
    let entry = state.inference.repository().entry(model)?;
    Ok(Json(ModelMetadata {
        name: served.name.clone(),
        versions: entry.ready_versions().iter().map(u64::to_string).collect(),
        platform: served.backend.platform().to_string(),
        inputs: served
            .signature
            .inputs
            .iter()
            .map(tensor_metadata)
            .collect(),
        outputs: served
            .signature
            .outputs
            .iter()
            .map(tensor_metadata)
            .collect(),
    }))
}

pub(super) async fn model_metadata(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<ModelMetadata>, ApiError> {
    metadata_answer(&state, &model, None)
}

pub(super) async fn model_version_metadata(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelMetadata>, ApiError> {
    metadata_answer(&state, &model, Some(&version))
}

fn config_tensor(
    spec: &TensorSpec,
    batched: bool,
    label_filename: Option<String>,
) -> ModelConfigTensor {
    let dims = if batched {
        spec.shape[1..].to_vec()
    } else {
        spec.shape.clone()
    };
    ModelConfigTensor {
        name: spec.name.clone(),
        data_type: spec.datatype.triton_config_name().to_string(),
        dims,
        label_filename,
    }
}

/// Triton's configuration JSON for a served model.
pub(crate) fn model_config_json(served: &ServedModel) -> ModelConfigJson {
    let batched = served.max_batch_size > 0;
    let labels_fit = |spec: &TensorSpec| {
        served
            .labels
            .as_ref()
            .filter(|l| spec.shape.last() == Some(&(l.labels.len() as i64)))
            .map(|l| l.file.clone())
    };
    let version_policy = match &served.config.version_policy {
        VersionPolicy::Latest(n) => json!({ "latest": { "num_versions": n } }),
        VersionPolicy::All => json!({ "all": {} }),
        VersionPolicy::Specific(v) => json!({ "specific": { "versions": v } }),
    };
    let provider = served.execution_provider();
    let kind = if provider.starts_with("CUDA")
        || provider.starts_with("Tensorrt")
        || provider.starts_with("ROCM")
    {
        "KIND_GPU"
    } else {
        "KIND_CPU"
    };
    let mut parameters = BTreeMap::new();
    let mut param = |k: &str, v: String| {
        parameters.insert(k.to_string(), ConfigParameter { string_value: v });
    };
    param("execution_providers", provider.to_string());
    param(
        "intra_op_thread_count",
        served.model.intra_op_threads().to_string(),
    );
    ModelConfigJson {
        name: served.name.clone(),
        platform: served.backend.platform().to_string(),
        backend: served.backend.name().to_string(),
        max_batch_size: served.max_batch_size,
        input: served
            .signature
            .inputs
            .iter()
            .map(|s| config_tensor(s, batched, None))
            .collect(),
        output: served
            .signature
            .outputs
            .iter()
            .map(|s| config_tensor(s, batched, labels_fit(s)))
            .collect(),
        version_policy,
        instance_group: vec![
            json!({ "name": served.name, "kind": kind, "count": served.config.instances }),
        ],
        parameters,
    }
}

pub(super) async fn model_config(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Json<ModelConfigJson>, ApiError> {
    let served = state.inference.lookup(&model, None)?;
    Ok(Json(model_config_json(&served)))
}

pub(super) async fn model_version_config(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<ModelConfigJson>, ApiError> {
    let served = state.inference.lookup(&model, Some(&version))?;
    Ok(Json(model_config_json(&served)))
}
