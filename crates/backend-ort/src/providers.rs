//! Registering execution providers on a session, in the configured order.
//!
//! A strict entry (`cuda`) that cannot be registered fails the load. An `-or-cpu` entry that
//! cannot be registered logs a warning and moves on. The provider that ends up in use is the
//! first one that registered, or the CPU provider; it is returned so it can be shown in the
//! model's metadata and logs. Nothing falls back silently.
//!
//! As in ONNX Runtime itself, every provider that registers takes part: with
//! `["tensorrt", "cuda"]` TensorRT runs what it can, CUDA the rest, and the CPU provider anything
//! neither supports. The providers in use are reported comma-separated, highest priority first.

use ort::ep::{self, ExecutionProvider, ExecutionProviderDispatch};
use ort::session::builder::SessionBuilder;
use outpost_core::{BackendError, ExecutionProviderKind, ExecutionProviderSpec};

/// Whether this ONNX Runtime library was built with the provider.
pub fn is_available(kind: ExecutionProviderKind) -> bool {
    let result = match kind {
        ExecutionProviderKind::Cpu => return true,
        ExecutionProviderKind::Cuda => ep::CUDA::is_available(),
        ExecutionProviderKind::TensorRt => ep::TensorRT::is_available(),
        ExecutionProviderKind::OpenVino => ep::OpenVINO::is_available(),
        ExecutionProviderKind::Xnnpack => ep::XNNPACK::is_available(),
        ExecutionProviderKind::CoreMl => ep::CoreML::is_available(),
        ExecutionProviderKind::Qnn => ep::QNN::is_available(),
        ExecutionProviderKind::Acl => ep::ACL::is_available(),
        ExecutionProviderKind::Rocm => ep::ROCm::is_available(),
    };
    result.unwrap_or(false)
}

fn dispatch(kind: ExecutionProviderKind) -> Option<ExecutionProviderDispatch> {
    let dispatch = match kind {
        ExecutionProviderKind::Cpu => return None,
        ExecutionProviderKind::Cuda => ep::CUDA::default().build(),
        ExecutionProviderKind::TensorRt => ep::TensorRT::default().build(),
        ExecutionProviderKind::OpenVino => ep::OpenVINO::default().build(),
        ExecutionProviderKind::Xnnpack => ep::XNNPACK::default().build(),
        ExecutionProviderKind::CoreMl => ep::CoreML::default().build(),
        ExecutionProviderKind::Qnn => ep::QNN::default().build(),
        ExecutionProviderKind::Acl => ep::ACL::default().build(),
        ExecutionProviderKind::Rocm => ep::ROCm::default().build(),
    };
    Some(dispatch.error_on_failure())
}

/// Registers `specs` in order on `builder`; returns the builder and the ONNX Runtime names of
/// the providers in use, comma-separated and ending with the CPU provider.
pub fn register(
    mut builder: SessionBuilder,
    specs: &[ExecutionProviderSpec],
    model_name: &str,
) -> Result<(SessionBuilder, String), BackendError> {
    let mut in_use: Vec<&'static str> = Vec::new();
    for spec in specs {
        let Some(provider) = dispatch(spec.kind) else {
            // The CPU provider is always present and always last: nothing after it matters.
            break;
        };
        let outcome = if is_available(spec.kind) {
            match builder.with_execution_providers([provider]) {
                Ok(b) => {
                    builder = b;
                    Ok(())
                }
                Err(e) => {
                    let reason = e.to_string();
                    builder = e.recover();
                    Err(reason)
                }
            }
        } else {
            Err("this ONNX Runtime library was built without it".to_string())
        };
        match outcome {
            Ok(()) => in_use.push(spec.kind.onnxruntime_name()),
            Err(reason) if spec.fallback_to_cpu => {
                tracing::warn!(
                    model = model_name,
                    provider = spec.kind.onnxruntime_name(),
                    %reason,
                    "execution provider unavailable; '{spec}' allows falling back, trying the next one"
                );
            }
            Err(reason) => {
                return Err(BackendError::ExecutionProviderUnavailable {
                    provider: spec.kind.onnxruntime_name().to_string(),
                    reason: format!(
                        "{reason} (write '{}-or-cpu' to fall back to the CPU)",
                        spec.kind.config_name()
                    ),
                });
            }
        }
    }
    in_use.push(ExecutionProviderKind::Cpu.onnxruntime_name());
    Ok((builder, in_use.join(",")))
}
