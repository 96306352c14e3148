//! What the server says about itself and its models, built once for every front end: server
//! metadata and the extensions it implements, model metadata, Triton's model configuration,
//! and per-version statistics. REST answers these shapes as JSON; gRPC
//! converts them field by field into its messages.

use outpost_core::{TensorSpec, VersionPolicy};
use outpost_protocol::rest::{
    BatchStatisticsJson, ConfigParameter, DurationJson, DynamicBatchingJson, InferStatisticsJson,
    InstanceGroupJson, ModelConfigJson, ModelConfigTensor, ModelMetadata, ModelStatisticsJson,
    ModelStatisticsResponseJson, ServerMetadata, TensorMetadata, VersionPolicyJson,
};
use std::collections::BTreeMap;

use crate::inference::{InferError, InferenceService};
use crate::repository::{ModelEntry, ServedModel, VersionState};
use crate::statistics::DurationTotals;

/// Protocol extensions that are implemented. Only these are advertised.
pub const EXTENSIONS: &[&str] = &[
    "binary_tensor_data",
    "model_configuration",
    "model_repository",
    "statistics",
];

pub fn server_metadata() -> ServerMetadata {
    ServerMetadata {
        name: "outpost".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        extensions: EXTENSIONS.iter().map(|e| e.to_string()).collect(),
    }
}

fn tensor_metadata(spec: &TensorSpec) -> TensorMetadata {
    TensorMetadata {
        name: spec.name.clone(),
        datatype: spec.datatype.to_string(),
        shape: spec.shape.clone(),
    }
}

/// Metadata of `model` (at `version`, or the one served by default).
pub fn model_metadata(
    inference: &InferenceService,
    model: &str,
    version: Option<&str>,
) -> Result<ModelMetadata, InferError> {
    let served = inference.lookup(model, version)?;
    let entry = inference.repository().entry(model)?;
    Ok(ModelMetadata {
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
    })
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

/// Triton's configuration for a served model.
pub fn model_config(served: &ServedModel) -> ModelConfigJson {
    let batched = served.max_batch_size > 0;
    let labels_fit = |spec: &TensorSpec| {
        served
            .labels
            .as_ref()
            .filter(|l| spec.shape.last() == Some(&(l.labels.len() as i64)))
            .map(|l| l.file.clone())
    };
    let version_policy = match &served.config.version_policy {
        VersionPolicy::Latest(n) => VersionPolicyJson::Latest {
            num_versions: u32::try_from(*n).unwrap_or(u32::MAX),
        },
        VersionPolicy::All => VersionPolicyJson::All {},
        VersionPolicy::Specific(v) => VersionPolicyJson::Specific {
            versions: v.iter().map(|v| *v as i64).collect(),
        },
    };
    let provider = served.execution_provider();
    let on_gpu = ["CUDA", "Tensorrt", "ROCM"]
        .iter()
        .any(|p| provider.starts_with(p));
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
        instance_group: vec![InstanceGroupJson {
            name: served.name.clone(),
            kind: if on_gpu { "KIND_GPU" } else { "KIND_CPU" }.to_string(),
            count: served.config.instances,
        }],
        dynamic_batching: served.batcher.as_ref().map(|batcher| DynamicBatchingJson {
            preferred_batch_size: batcher.policy().preferred_batch_sizes.clone(),
            max_queue_delay_microseconds: batcher.max_queue_delay().as_micros() as u64,
        }),
        parameters,
    }
}

fn duration(d: DurationTotals) -> DurationJson {
    DurationJson {
        count: d.count,
        ns: d.ns,
    }
}

fn version_statistics(served: &ServedModel) -> ModelStatisticsJson {
    let s = served.stats.snapshot();
    ModelStatisticsJson {
        name: served.name.clone(),
        version: served.version.to_string(),
        last_inference: s.last_inference_ms,
        inference_count: s.inference_count,
        execution_count: s.execution_count,
        inference_stats: InferStatisticsJson {
            success: duration(s.success),
            fail: duration(s.fail),
            queue: duration(s.queue),
            compute_input: duration(s.compute_input),
            compute_infer: duration(s.compute_infer),
            compute_output: duration(s.compute_output),
            ..InferStatisticsJson::default()
        },
        batch_stats: s
            .batches
            .iter()
            .map(|(size, b)| BatchStatisticsJson {
                batch_size: *size,
                compute_input: duration(b.compute_input),
                compute_infer: duration(b.compute_infer),
                compute_output: duration(b.compute_output),
            })
            .collect(),
    }
}

fn ready_versions(entry: &ModelEntry) -> impl Iterator<Item = &ServedModel> {
    entry.versions.values().filter_map(|v| match v {
        VersionState::Ready(m) => Some(m.as_ref()),
        VersionState::Failed(_) => None,
    })
}

/// Statistics of every ready version of every model (no `model`), of every ready version of
/// `model` (no `version`), or of one version.
pub fn statistics(
    inference: &InferenceService,
    model: Option<&str>,
    version: Option<&str>,
) -> Result<ModelStatisticsResponseJson, InferError> {
    let model_stats = match (model, version) {
        (None, _) => inference
            .repository()
            .entries()
            .iter()
            .flat_map(|e| {
                ready_versions(e)
                    .map(version_statistics)
                    .collect::<Vec<_>>()
            })
            .collect(),
        (Some(name), None) => {
            let entry = inference.repository().entry(name)?;
            ready_versions(&entry).map(version_statistics).collect()
        }
        (Some(name), Some(version)) => {
            let served = inference.lookup(name, Some(version))?;
            vec![version_statistics(&served)]
        }
    };
    Ok(ModelStatisticsResponseJson { model_stats })
}
