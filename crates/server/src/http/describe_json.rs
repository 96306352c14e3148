//! The engine's descriptions (`outpost_engine::describe`) and the server's own facts as the
//! REST protocol's JSON shapes.

use std::collections::BTreeMap;

use outpost_core::{TensorSpec, VersionPolicy};
use outpost_engine::DurationTotals;
use outpost_engine::{
    ConfigTensor, InstanceKind, ModelConfiguration, ModelDescription, VersionStatistics,
};
use outpost_protocol::rest::{
    BatchStatisticsJson, ConfigParameter, DurationJson, DynamicBatchingJson, InferStatisticsJson,
    InstanceGroupJson, ModelConfigJson, ModelConfigTensor, ModelMetadata, ModelStatisticsJson,
    ServerMetadata, TensorMetadata, VersionPolicyJson,
};

use crate::about;

pub(super) fn server_metadata() -> ServerMetadata {
    ServerMetadata {
        name: about::NAME.to_string(),
        version: about::VERSION.to_string(),
        extensions: about::extensions(),
    }
}

fn tensor_metadata(spec: TensorSpec) -> TensorMetadata {
    TensorMetadata {
        name: spec.name,
        datatype: spec.datatype.to_string(),
        shape: spec.shape,
    }
}

pub(super) fn model_metadata(m: ModelDescription) -> ModelMetadata {
    ModelMetadata {
        name: m.name,
        versions: m.versions.iter().map(u64::to_string).collect(),
        platform: m.platform.to_string(),
        inputs: m.inputs.into_iter().map(tensor_metadata).collect(),
        outputs: m.outputs.into_iter().map(tensor_metadata).collect(),
    }
}

fn config_tensor(t: ConfigTensor) -> ModelConfigTensor {
    ModelConfigTensor {
        name: t.name,
        data_type: t.datatype.triton_config_name().to_string(),
        dims: t.dims,
        label_filename: t.label_file,
    }
}

pub(super) fn model_config(c: ModelConfiguration) -> ModelConfigJson {
    let version_policy = match c.version_policy {
        VersionPolicy::Latest(n) => VersionPolicyJson::Latest {
            num_versions: u32::try_from(n).unwrap_or(u32::MAX),
        },
        VersionPolicy::All => VersionPolicyJson::All {},
        VersionPolicy::Specific(versions) => VersionPolicyJson::Specific {
            versions: versions.iter().map(|v| *v as i64).collect(),
        },
    };
    let kind = match c.instance_kind {
        InstanceKind::Cpu => "KIND_CPU",
        InstanceKind::Gpu => "KIND_GPU",
    };
    ModelConfigJson {
        instance_group: vec![InstanceGroupJson {
            name: c.name.clone(),
            kind: kind.to_string(),
            count: c.instance_count,
        }],
        name: c.name,
        platform: c.platform.to_string(),
        backend: c.backend.to_string(),
        max_batch_size: c.max_batch_size,
        input: c.inputs.into_iter().map(config_tensor).collect(),
        output: c.outputs.into_iter().map(config_tensor).collect(),
        version_policy,
        dynamic_batching: c.dynamic_batching.map(|batching| DynamicBatchingJson {
            preferred_batch_size: batching.preferred_batch_sizes,
            max_queue_delay_microseconds: batching.max_queue_delay.as_micros() as u64,
        }),
        parameters: c
            .parameters
            .into_iter()
            .map(|(k, v)| (k, ConfigParameter { string_value: v }))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn duration(d: DurationTotals) -> DurationJson {
    DurationJson {
        count: d.count,
        ns: d.ns,
    }
}

pub(super) fn version_statistics(v: VersionStatistics) -> ModelStatisticsJson {
    let s = v.statistics;
    ModelStatisticsJson {
        name: v.name,
        version: v.version.to_string(),
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
