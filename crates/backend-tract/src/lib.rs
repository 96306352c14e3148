//! tract backend: the pure-Rust ONNX runtime, for machines without ONNX Runtime.
//!
//! A model is parsed, rewritten where tract needs help ([`qdq_softmax`]), typed, optimised and
//! turned into one immutable plan shared by every request; each request runs in its own state.
//! Models that use operators tract does not implement (for example Microsoft's QOperator
//! contrib ops) fail to load with tract's own explanation.

mod convert;
pub mod qdq_softmax;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use outpost_core::{
    Backend, BackendError, BackendKind, LoadRequest, LoadedModel, ModelSignature, NamedTensor,
};
use tract_onnx::prelude::{Framework, InferenceModelExt, TValue, TVec, TypedSimplePlan};

/// The tract runtime. It has no global state, so creating it cannot fail.
#[derive(Debug, Default)]
pub struct TractBackend;

impl TractBackend {
    /// The tract runtime.
    pub fn new() -> TractBackend {
        TractBackend
    }
}

fn unsupported(path: &Path, e: impl std::fmt::Display) -> BackendError {
    BackendError::Unsupported {
        backend: BackendKind::Tract,
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    }
}

fn load_plan(path: &Path, model_name: &str) -> Result<Arc<TypedSimplePlan>, BackendError> {
    let onnx = tract_onnx::onnx();
    let mut proto = onnx
        .proto_model_for_path(path)
        .map_err(|e| BackendError::Load {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
    if let Some(graph) = proto.graph.as_mut() {
        let report = qdq_softmax::rewrite(graph);
        if report.changed() {
            tracing::info!(
                model = model_name,
                dropped = report.dropped_requantization,
                expanded = report.expanded_quantization,
                "kept quantized Softmax in float for tract"
            );
        }
    }
    let model_dir = path.parent().and_then(Path::to_str);
    let parsed = onnx
        .parse(&proto, model_dir)
        .map_err(|e| unsupported(path, e))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(unsupported(
            path,
            format!("unresolved graph inputs {:?}", parsed.unresolved_inputs),
        ));
    }
    parsed
        .model
        .into_optimized()
        .and_then(tract_onnx::prelude::IntoRunnable::into_runnable)
        .map_err(|e| unsupported(path, e))
}

impl Backend for TractBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Tract
    }

    fn load(&self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedModel>, BackendError> {
        let plan = load_plan(request.model_path, request.model_name)?;
        let signature = convert::signature(plan.model(), request.model_path)?;
        Ok(Box::new(TractModel {
            plan,
            signature,
            path: request.model_path.to_path_buf(),
        }))
    }
}

/// A model prepared by tract: the shared plan and what it expects.
struct TractModel {
    plan: Arc<TypedSimplePlan>,
    signature: ModelSignature,
    path: PathBuf,
}

impl LoadedModel for TractModel {
    fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    fn execution_provider(&self) -> &str {
        "tract-cpu"
    }

    fn intra_op_threads(&self) -> usize {
        1
    }

    fn infer(
        &self,
        inputs: &[NamedTensor],
        outputs: &[String],
    ) -> Result<Vec<NamedTensor>, BackendError> {
        // tract takes inputs by position, in the model's order.
        let mut ordered: TVec<TValue> = TVec::new();
        for spec in &self.signature.inputs {
            let input = inputs
                .iter()
                .find(|i| i.name == spec.name)
                .ok_or_else(|| BackendError::Inference(format!("input '{}' missing", spec.name)))?;
            ordered.push(convert::to_tract(&input.tensor)?.into());
        }
        let results = self.plan.run(ordered).map_err(|e| {
            tracing::debug!(model = %self.path.display(), error = %e, "tract run failed");
            BackendError::Inference(format!("{e:#}"))
        })?;
        outputs
            .iter()
            .map(|name| {
                let ix = self
                    .signature
                    .outputs
                    .iter()
                    .position(|o| &o.name == name)
                    .ok_or_else(|| {
                        BackendError::Inference(format!("the model has no output '{name}'"))
                    })?;
                let value = results.get(ix).ok_or_else(|| {
                    BackendError::Inference(format!("tract produced no output '{name}'"))
                })?;
                Ok(NamedTensor::new(name.clone(), convert::from_tract(value)?))
            })
            .collect()
    }
}
