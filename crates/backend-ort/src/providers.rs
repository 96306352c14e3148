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
use outpost_core::BackendError;

use crate::execution_provider::{ExecutionProviderKind, ExecutionProviderSpec};
use crate::provider_options::{
    CudaOptions, ExecutionProviderOptions, OpenVinoOptions, TensorRtOptions,
};

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

/// The provider with the model's options for it, ready to register.
fn dispatch(
    kind: ExecutionProviderKind,
    options: &ExecutionProviderOptions,
) -> Option<ExecutionProviderDispatch> {
    let dispatch = match kind {
        ExecutionProviderKind::Cpu => return None,
        ExecutionProviderKind::Cuda => cuda(options.cuda.as_ref()).build(),
        ExecutionProviderKind::TensorRt => tensorrt(options.tensorrt.as_ref()).build(),
        ExecutionProviderKind::OpenVino => openvino(options.openvino.as_ref()).build(),
        ExecutionProviderKind::Xnnpack => ep::XNNPACK::default().build(),
        ExecutionProviderKind::CoreMl => ep::CoreML::default().build(),
        ExecutionProviderKind::Qnn => ep::QNN::default().build(),
        ExecutionProviderKind::Acl => ep::ACL::default().build(),
        ExecutionProviderKind::Rocm => ep::ROCm::default().build(),
    };
    Some(dispatch.error_on_failure())
}

fn openvino(options: Option<&OpenVinoOptions>) -> ep::OpenVINO {
    let mut provider = ep::OpenVINO::default();
    let Some(options) = options else {
        return provider;
    };
    if let Some(device) = &options.device_type {
        provider = provider.with_device_type(device);
    }
    if let Some(precision) = &options.precision {
        provider = provider.with_precision(precision);
    }
    if let Some(dir) = &options.cache_dir {
        provider = provider.with_cache_dir(dir.display());
    }
    if let Some(threads) = options.num_threads {
        provider = provider.with_num_threads(threads);
    }
    provider
}

fn cuda(options: Option<&CudaOptions>) -> ep::CUDA {
    let mut provider = ep::CUDA::default();
    let Some(options) = options else {
        return provider;
    };
    if let Some(device) = options.device_id {
        provider = provider.with_device_id(i32::try_from(device).unwrap_or(i32::MAX));
    }
    if let Some(limit) = options.memory_limit_bytes {
        provider = provider.with_memory_limit(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    provider
}

fn tensorrt(options: Option<&TensorRtOptions>) -> ep::TensorRT {
    let mut provider = ep::TensorRT::default();
    let Some(options) = options else {
        return provider;
    };
    if let Some(device) = options.device_id {
        provider = provider.with_device_id(i32::try_from(device).unwrap_or(i32::MAX));
    }
    if let Some(fp16) = options.fp16 {
        provider = provider.with_fp16(fp16);
    }
    if let Some(int8) = options.int8 {
        provider = provider.with_int8(int8);
    }
    if let Some(bytes) = options.max_workspace_bytes {
        provider = provider.with_max_workspace_size(usize::try_from(bytes).unwrap_or(usize::MAX));
    }
    if let Some(dir) = &options.engine_cache_dir {
        provider = provider
            .with_engine_cache(true)
            .with_engine_cache_path(dir.display());
    }
    provider
}

/// Why the provider's cache folder (OpenVINO's `cache_dir`, TensorRT's `engine_cache_dir`) cannot
/// be used, if it cannot: it is created when missing and must take a file. A cache the provider
/// cannot write would fail at its first compilation, or quietly rebuild engines on every start.
fn unwritable_cache(
    kind: ExecutionProviderKind,
    options: &ExecutionProviderOptions,
) -> Option<String> {
    static CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let (option, dir) = match kind {
        ExecutionProviderKind::OpenVino => {
            ("cache_dir", options.openvino.as_ref()?.cache_dir.as_ref()?)
        }
        ExecutionProviderKind::TensorRt => (
            "engine_cache_dir",
            options.tensorrt.as_ref()?.engine_cache_dir.as_ref()?,
        ),
        _ => return None,
    };
    let check = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let n = CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let probe = dir.join(format!(".outpost-write-check-{}-{n}", std::process::id()));
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)
    };
    check().err().map(|e| {
        format!(
            "{option} {} is not writable: {e} (under a read-only root, mount a volume there)",
            dir.display()
        )
    })
}

/// Registers `specs` in order on `builder`, each with its `options`, and the CPU provider
/// (`cpu`, its arena off) after them: ONNX Runtime gives each node to the first registered
/// provider that takes it, so the CPU provider must come last. Returns the builder and the ONNX
/// Runtime names of the providers in use, comma-separated and ending with the CPU provider.
pub fn register(
    mut builder: SessionBuilder,
    specs: &[ExecutionProviderSpec],
    options: &ExecutionProviderOptions,
    cpu: ExecutionProviderDispatch,
    model_name: &str,
) -> Result<(SessionBuilder, String), BackendError> {
    let mut in_use: Vec<&'static str> = Vec::new();
    for spec in specs {
        let Some(provider) = dispatch(spec.kind, options) else {
            // The CPU provider is always present and always last: nothing after it matters.
            break;
        };
        let outcome = if let Some(problem) = unwritable_cache(spec.kind, options) {
            Err(problem)
        } else if is_available(spec.kind) {
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
    let builder = builder.with_execution_providers([cpu]).map_err(|e| {
        BackendError::ExecutionProviderUnavailable {
            provider: ExecutionProviderKind::Cpu.onnxruntime_name().to_string(),
            reason: e.to_string(),
        }
    })?;
    in_use.push(ExecutionProviderKind::Cpu.onnxruntime_name());
    Ok((builder, in_use.join(",")))
}
