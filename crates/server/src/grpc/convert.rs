//! The engine's descriptions (`outpost_engine::describe`) and repository index as gRPC
//! messages.

use outpost_core::{DataType, TensorSpec, VersionPolicy};
use outpost_engine::DurationTotals;
use outpost_engine::IndexEntry;
use outpost_engine::{
    ConfigTensor, InstanceKind, ModelConfiguration, ModelDescription, VersionStatistics,
};
use outpost_protocol::grpc::inference as pb;

pub(super) fn model_metadata(m: ModelDescription) -> pb::ModelMetadataResponse {
    let tensor = |t: TensorSpec| pb::model_metadata_response::TensorMetadata {
        name: t.name,
        datatype: t.datatype.to_string(),
        shape: t.shape,
    };
    pb::ModelMetadataResponse {
        name: m.name,
        versions: m.versions.iter().map(u64::to_string).collect(),
        platform: m.platform.to_string(),
        inputs: m.inputs.into_iter().map(tensor).collect(),
        outputs: m.outputs.into_iter().map(tensor).collect(),
    }
}

/// The configuration's data type enum (`TYPE_FP32` and friends) as its number.
fn data_type(datatype: DataType) -> i32 {
    pb::DataType::from_str_name(datatype.triton_config_name()).unwrap_or(pb::DataType::TypeInvalid)
        as i32
}

fn model_input(t: ConfigTensor) -> pb::ModelInput {
    pb::ModelInput {
        name: t.name,
        data_type: data_type(t.datatype),
        format: pb::model_input::Format::None as i32,
        dims: t.dims,
    }
}

fn model_output(t: ConfigTensor) -> pb::ModelOutput {
    pb::ModelOutput {
        name: t.name,
        data_type: data_type(t.datatype),
        dims: t.dims,
        label_filename: t.label_file.unwrap_or_default(),
    }
}

pub(super) fn model_config(c: ModelConfiguration) -> pb::ModelConfig {
    use pb::model_version_policy::{All, Latest, PolicyChoice, Specific};
    let policy = match c.version_policy {
        VersionPolicy::Latest(n) => PolicyChoice::Latest(Latest {
            num_versions: u32::try_from(n).unwrap_or(u32::MAX),
        }),
        VersionPolicy::All => PolicyChoice::All(All {}),
        VersionPolicy::Specific(versions) => PolicyChoice::Specific(Specific {
            versions: versions.iter().map(|v| *v as i64).collect(),
        }),
    };
    let kind = match c.instance_kind {
        InstanceKind::Cpu => pb::model_instance_group::Kind::Cpu,
        InstanceKind::Gpu => pb::model_instance_group::Kind::Gpu,
    };
    pb::ModelConfig {
        instance_group: vec![pb::ModelInstanceGroup {
            name: c.name.clone(),
            count: i32::try_from(c.instance_count).unwrap_or(i32::MAX),
            kind: kind as i32,
        }],
        name: c.name,
        platform: c.platform.to_string(),
        backend: c.backend.to_string(),
        version_policy: Some(pb::ModelVersionPolicy {
            policy_choice: Some(policy),
        }),
        max_batch_size: i32::try_from(c.max_batch_size).unwrap_or(i32::MAX),
        input: c.inputs.into_iter().map(model_input).collect(),
        output: c.outputs.into_iter().map(model_output).collect(),
        scheduling_choice: c.dynamic_batching.map(|batching| {
            pb::model_config::SchedulingChoice::DynamicBatching(pb::ModelDynamicBatching {
                preferred_batch_size: batching
                    .preferred_batch_sizes
                    .into_iter()
                    .map(|size| i32::try_from(size).unwrap_or(i32::MAX))
                    .collect(),
                max_queue_delay_microseconds: batching.max_queue_delay.as_micros() as u64,
            })
        }),
        parameters: c
            .parameters
            .into_iter()
            .map(|(k, v)| (k, pb::ModelParameter { string_value: v }))
            .collect(),
    }
}

fn duration(d: DurationTotals) -> pb::StatisticDuration {
    pb::StatisticDuration {
        count: d.count,
        ns: d.ns,
    }
}

pub(super) fn model_statistics(v: VersionStatistics) -> pb::ModelStatistics {
    let s = v.statistics;
    pb::ModelStatistics {
        name: v.name,
        version: v.version.to_string(),
        last_inference: s.last_inference_ms,
        inference_count: s.inference_count,
        execution_count: s.execution_count,
        inference_stats: Some(pb::InferStatistics {
            success: Some(duration(s.success)),
            fail: Some(duration(s.fail)),
            queue: Some(duration(s.queue)),
            compute_input: Some(duration(s.compute_input)),
            compute_infer: Some(duration(s.compute_infer)),
            compute_output: Some(duration(s.compute_output)),
            cache_hit: Some(duration(DurationTotals::default())),
            cache_miss: Some(duration(DurationTotals::default())),
        }),
        batch_stats: s
            .batches
            .iter()
            .map(|(size, b)| pb::InferBatchStatistics {
                batch_size: *size,
                compute_input: Some(duration(b.compute_input)),
                compute_infer: Some(duration(b.compute_infer)),
                compute_output: Some(duration(b.compute_output)),
            })
            .collect(),
    }
}

pub(super) fn index_entry(e: IndexEntry) -> pb::repository_index_response::ModelIndex {
    pb::repository_index_response::ModelIndex {
        name: e.name,
        version: e.version.map(|v| v.to_string()).unwrap_or_default(),
        state: e.state.name().to_string(),
        reason: e.reason,
    }
}
