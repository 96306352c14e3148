//! The descriptions [`crate::describe`] builds, as gRPC messages.

use outpost_protocol::grpc::inference as pb;
use outpost_protocol::rest::{
    DurationJson, ModelConfigJson, ModelConfigTensor, ModelMetadata, ModelStatisticsJson,
    RepositoryIndexEntryJson, VersionPolicyJson,
};

pub(super) fn model_metadata(m: ModelMetadata) -> pb::ModelMetadataResponse {
    let tensor =
        |t: outpost_protocol::rest::TensorMetadata| pb::model_metadata_response::TensorMetadata {
            name: t.name,
            datatype: t.datatype,
            shape: t.shape,
        };
    pb::ModelMetadataResponse {
        name: m.name,
        versions: m.versions,
        platform: m.platform,
        inputs: m.inputs.into_iter().map(tensor).collect(),
        outputs: m.outputs.into_iter().map(tensor).collect(),
    }
}

/// `TYPE_FP32` and friends as the enum's number.
fn data_type(name: &str) -> i32 {
    pb::DataType::from_str_name(name).unwrap_or(pb::DataType::TypeInvalid) as i32
}

fn model_input(t: ModelConfigTensor) -> pb::ModelInput {
    pb::ModelInput {
        name: t.name,
        data_type: data_type(&t.data_type),
        format: pb::model_input::Format::None as i32,
        dims: t.dims,
    }
}

fn model_output(t: ModelConfigTensor) -> pb::ModelOutput {
    pb::ModelOutput {
        name: t.name,
        data_type: data_type(&t.data_type),
        dims: t.dims,
        label_filename: t.label_filename.unwrap_or_default(),
    }
}

pub(super) fn model_config(c: ModelConfigJson) -> pb::ModelConfig {
    use pb::model_version_policy::{All, Latest, PolicyChoice, Specific};
    let policy = match c.version_policy {
        VersionPolicyJson::Latest { num_versions } => PolicyChoice::Latest(Latest { num_versions }),
        VersionPolicyJson::All {} => PolicyChoice::All(All {}),
        VersionPolicyJson::Specific { versions } => PolicyChoice::Specific(Specific { versions }),
    };
    pb::ModelConfig {
        name: c.name,
        platform: c.platform,
        backend: c.backend,
        version_policy: Some(pb::ModelVersionPolicy {
            policy_choice: Some(policy),
        }),
        max_batch_size: i32::try_from(c.max_batch_size).unwrap_or(i32::MAX),
        input: c.input.into_iter().map(model_input).collect(),
        output: c.output.into_iter().map(model_output).collect(),
        instance_group: c
            .instance_group
            .into_iter()
            .map(|g| pb::ModelInstanceGroup {
                name: g.name,
                count: i32::try_from(g.count).unwrap_or(i32::MAX),
                kind: pb::model_instance_group::Kind::from_str_name(&g.kind)
                    .unwrap_or(pb::model_instance_group::Kind::Auto) as i32,
            })
            .collect(),
        scheduling_choice: c.dynamic_batching.map(|batching| {
            pb::model_config::SchedulingChoice::DynamicBatching(pb::ModelDynamicBatching {
                preferred_batch_size: batching
                    .preferred_batch_size
                    .into_iter()
                    .map(|size| i32::try_from(size).unwrap_or(i32::MAX))
                    .collect(),
                max_queue_delay_microseconds: batching.max_queue_delay_microseconds,
            })
        }),
        parameters: c
            .parameters
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    pb::ModelParameter {
                        string_value: v.string_value,
                    },
                )
            })
            .collect(),
    }
}

fn duration(d: DurationJson) -> Option<pb::StatisticDuration> {
    Some(pb::StatisticDuration {
        count: d.count,
        ns: d.ns,
    })
}

pub(super) fn model_statistics(s: ModelStatisticsJson) -> pb::ModelStatistics {
    let i = s.inference_stats;
    pb::ModelStatistics {
        name: s.name,
        version: s.version,
        last_inference: s.last_inference,
        inference_count: s.inference_count,
        execution_count: s.execution_count,
        inference_stats: Some(pb::InferStatistics {
            success: duration(i.success),
            fail: duration(i.fail),
            queue: duration(i.queue),
            compute_input: duration(i.compute_input),
            compute_infer: duration(i.compute_infer),
            compute_output: duration(i.compute_output),
            cache_hit: duration(i.cache_hit),
            cache_miss: duration(i.cache_miss),
        }),
        batch_stats: s
            .batch_stats
            .into_iter()
            .map(|b| pb::InferBatchStatistics {
                batch_size: b.batch_size,
                compute_input: duration(b.compute_input),
                compute_infer: duration(b.compute_infer),
                compute_output: duration(b.compute_output),
            })
            .collect(),
    }
}

pub(super) fn index_entry(
    e: RepositoryIndexEntryJson,
) -> pb::repository_index_response::ModelIndex {
    pb::repository_index_response::ModelIndex {
        name: e.name,
        version: e.version.unwrap_or_default(),
        state: e.state,
        reason: e.reason,
    }
}
