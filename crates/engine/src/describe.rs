//! What the engine says about its models, in its own types, for every front end to encode:
//! model metadata, Triton's model configuration, and per-version statistics.

use std::collections::BTreeMap;
use std::time::Duration;

use outpost_core::{DataType, TensorSpec, VersionPolicy};

use crate::error::EngineError;
use crate::inference::InferenceService;
use crate::repository::ServedModel;
use crate::statistics::StatisticsSnapshot;

/// A model's metadata: its ready versions and the signature of the version asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDescription {
    /// The model's name.
    pub name: String,
    /// Every ready version, lowest first.
    pub versions: Vec<u64>,
    /// Triton's platform string (`onnxruntime_onnx`, `tract_onnx`).
    pub platform: &'static str,
    /// The inputs of the version asked about.
    pub inputs: Vec<TensorSpec>,
    /// Its outputs.
    pub outputs: Vec<TensorSpec>,
}

/// One tensor of the model configuration: its shape without the batch dimension when the model
/// batches, and the labels file that names its last dimension, if one does.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigTensor {
    /// The tensor's name.
    pub name: String,
    /// Its element type.
    pub datatype: DataType,
    /// Its shape, without the batch dimension when the model batches; -1 for a variable one.
    pub dims: Vec<i64>,
    /// The labels file whose lines name its last dimension.
    pub label_file: Option<String>,
}

/// Where a model's instances run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceKind {
    /// On the CPU.
    Cpu,
    /// On a GPU (CUDA, TensorRT or ROCm).
    Gpu,
}

/// A version's dynamic batching settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchingDescription {
    /// Batch sizes the batcher stops at when it can form them.
    pub preferred_batch_sizes: Vec<usize>,
    /// The longest the oldest request waits for others.
    pub max_queue_delay: Duration,
}

/// A served version's configuration, as Triton describes one.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfiguration {
    /// The model's name.
    pub name: String,
    /// Triton's platform string.
    pub platform: &'static str,
    /// The runtime's name (`onnxruntime`, `tract`).
    pub backend: &'static str,
    /// The most samples in one execution; 0 when the model does not batch.
    pub max_batch_size: usize,
    /// The inputs.
    pub inputs: Vec<ConfigTensor>,
    /// The outputs.
    pub outputs: Vec<ConfigTensor>,
    /// Which versions of the model are served.
    pub version_policy: VersionPolicy,
    /// Where its sessions run.
    pub instance_kind: InstanceKind,
    /// How many sessions serve it.
    pub instance_count: usize,
    /// Its dynamic batching, when on.
    pub dynamic_batching: Option<BatchingDescription>,
    /// The execution provider and the intra-op thread count, as Triton's string parameters; with
    /// an upstream, also `upstream` (where), `upstream_policy` and `upstream_circuit` (`closed`,
    /// `half_open` or `open`).
    pub parameters: BTreeMap<String, String>,
}

/// One served version's statistics.
#[derive(Debug, Clone)]
pub struct VersionStatistics {
    /// The model's name.
    pub name: String,
    /// The version.
    pub version: u64,
    /// Its figures, as read now.
    pub statistics: StatisticsSnapshot,
}

/// Metadata of `model` (at `version`, or the one served by default).
pub(crate) fn model_metadata(
    inference: &InferenceService,
    model: &str,
    version: Option<&str>,
) -> Result<ModelDescription, EngineError> {
    let served = inference.lookup(model, version)?;
    let entry = inference.repository().entry(model)?;
    Ok(ModelDescription {
        name: served.name.clone(),
        versions: entry.ready_versions(),
        platform: served.platform(),
        inputs: served.signature.inputs.clone(),
        outputs: served.signature.outputs.clone(),
    })
}

fn config_tensor(spec: &TensorSpec, batched: bool, label_file: Option<String>) -> ConfigTensor {
    let dims = if batched {
        spec.shape[1..].to_vec()
    } else {
        spec.shape.clone()
    };
    ConfigTensor {
        name: spec.name.clone(),
        datatype: spec.datatype,
        dims,
        label_file,
    }
}

/// Triton's configuration for a served version.
pub(crate) fn model_config(served: &ServedModel) -> ModelConfiguration {
    let batched = served.max_batch_size > 0;
    let labels_fit = |spec: &TensorSpec| {
        served
            .labels
            .as_ref()
            .filter(|l| spec.shape.last() == Some(&(l.labels.len() as i64)))
            .map(|l| l.file.clone())
    };
    let mut parameters = BTreeMap::from([
        (
            "execution_providers".to_string(),
            served.execution_provider().to_string(),
        ),
        (
            "intra_op_thread_count".to_string(),
            served.model.intra_op_threads().to_string(),
        ),
        ("scheduling".to_string(), served.scheduling.to_string()),
        ("sessions".to_string(), served.model.sessions().to_string()),
    ]);
    // What the runtime adds: providers that were asked for and not available, their options.
    parameters.extend(served.model.parameters());
    if let Some(upstream) = &served.upstream {
        parameters.extend([
            ("upstream".to_string(), upstream.endpoint().to_string()),
            (
                "upstream_policy".to_string(),
                upstream.config.policy.as_str().to_string(),
            ),
            (
                "upstream_circuit".to_string(),
                upstream.circuit().as_str().to_string(),
            ),
        ]);
    }
    ModelConfiguration {
        name: served.name.clone(),
        platform: served.platform(),
        backend: served.backend_name(),
        max_batch_size: served.max_batch_size,
        inputs: served
            .signature
            .inputs
            .iter()
            .map(|s| config_tensor(s, batched, None))
            .collect(),
        outputs: served
            .signature
            .outputs
            .iter()
            .map(|s| config_tensor(s, batched, labels_fit(s)))
            .collect(),
        version_policy: served.config.version_policy.clone(),
        instance_kind: if served.model.on_accelerator() {
            InstanceKind::Gpu
        } else {
            InstanceKind::Cpu
        },
        instance_count: served.scheduling.most_sessions(),
        dynamic_batching: served.batcher.as_ref().map(|batcher| BatchingDescription {
            preferred_batch_sizes: batcher.policy().preferred_batch_sizes.clone(),
            max_queue_delay: batcher.max_queue_delay(),
        }),
        parameters,
    }
}

fn version_statistics(served: &ServedModel) -> VersionStatistics {
    VersionStatistics {
        name: served.name.clone(),
        version: served.version,
        statistics: served.stats.snapshot(),
    }
}

/// Statistics of every ready version of every model (no `model`), of every ready version of
/// `model` (no `version`), or of one version.
pub(crate) fn statistics(
    inference: &InferenceService,
    model: Option<&str>,
    version: Option<&str>,
) -> Result<Vec<VersionStatistics>, EngineError> {
    Ok(match (model, version) {
        (None, _) => inference
            .repository()
            .entries()
            .iter()
            .flat_map(|e| e.ready().map(|s| version_statistics(s)).collect::<Vec<_>>())
            .collect(),
        (Some(name), None) => {
            let entry = inference.repository().entry(name)?;
            entry.ready().map(|s| version_statistics(s)).collect()
        }
        (Some(name), Some(version)) => {
            let served = inference.lookup(name, Some(version))?;
            vec![version_statistics(&served)]
        }
    })
}
