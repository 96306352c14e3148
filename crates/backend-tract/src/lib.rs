//! tract backend: the pure-Rust ONNX runtime, for machines without ONNX Runtime.
//!
//! A model is parsed, rewritten where tract needs help ([`qdq_softmax`]), typed, optimised and
//! turned into one immutable plan shared by every request; each request runs in its own state.
//! Models that use operators tract does not implement (for example Microsoft's QOperator
//! contrib ops) fail to load with tract's own explanation.
//!
//! A binary registers it as [`TractRuntime`] (named `tract`; no settings of its own).

mod convert;
pub mod qdq_softmax;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use outpost_core::{
    Backend, BackendError, ConfiguredRuntime, LoadRequest, LoadedModel, ModelSignature,
    NamedTensor, ProbeContext, ProbeError, Runtime, RuntimeIdentity, RuntimeSettings,
};
use tract_onnx::prelude::{Framework, InferenceModelExt, TValue, TVec, TypedSimplePlan};

/// The runtime's name: `backend = "tract"` in model.toml.
pub const NAME: &str = "tract";

/// tract, to register in a binary. It has no settings and no global state: probing it cannot
/// fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct TractRuntime;

impl Runtime for TractRuntime {
    fn name(&self) -> &'static str {
        NAME
    }

    fn configure(
        &self,
        settings: &RuntimeSettings,
    ) -> Result<Box<dyn ConfiguredRuntime>, ProbeError> {
        if settings.table.is_some() {
            return Err(ProbeError::Settings {
                runtime: NAME,
                message: "tract has no settings".to_string(),
            });
        }
        Ok(Box::new(TractRuntime))
    }
}

impl ConfiguredRuntime for TractRuntime {
    fn probe(self: Box<Self>, _context: &ProbeContext) -> Result<Arc<dyn Backend>, ProbeError> {
        Ok(Arc::new(TractBackend::new()))
    }
}

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
        backend: NAME,
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
    fn identity(&self) -> RuntimeIdentity {
        RuntimeIdentity {
            backend: "tract",
            platform: "tract_onnx",
        }
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
