//! Options for the execution providers, as model.toml writes them under
//! `[execution_provider_options.<provider>]`: OpenVINO's device, precision and model cache,
//! CUDA's device and memory limit, TensorRT's precisions, workspace and engine cache. Each table
//! takes only the keys listed here (any other key is a load error naming it), and a table for a
//! provider the model's `execution_providers` does not list is refused too, since it would do
//! nothing. The ONNX Runtime backend passes them on; the model's configuration shows them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::execution_provider::{ExecutionProviderKind, ExecutionProviderSpec};

/// `[execution_provider_options]`: one optional table per provider that takes options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionProviderOptions {
    /// `[execution_provider_options.openvino]`.
    pub openvino: Option<OpenVinoOptions>,
    /// `[execution_provider_options.cuda]`.
    pub cuda: Option<CudaOptions>,
    /// `[execution_provider_options.tensorrt]`.
    pub tensorrt: Option<TensorRtOptions>,
}

/// OpenVINO's options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenVinoOptions {
    /// The device: `CPU`, `GPU` (or `GPU.0`, `GPU.1`), `NPU`, or `AUTO` (OpenVINO picks, e.g.
    /// `AUTO:GPU,CPU`); OpenVINO's default (the CPU) when absent.
    pub device_type: Option<String>,
    /// Inference precision: `FP32`, `FP16` or `ACCURACY` (the model's own); the device's
    /// default when absent.
    pub precision: Option<String>,
    /// Where OpenVINO keeps compiled models, so a restart does not compile them again.
    pub cache_dir: Option<PathBuf>,
    /// OpenVINO's inference threads; the model's intra-op thread count when absent.
    pub num_threads: Option<usize>,
}

/// CUDA's options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CudaOptions {
    /// The GPU, counted from 0.
    pub device_id: Option<u32>,
    /// Most bytes CUDA's memory arena takes on the GPU.
    pub memory_limit_bytes: Option<u64>,
}

/// TensorRT's options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorRtOptions {
    /// The GPU, counted from 0.
    pub device_id: Option<u32>,
    /// Let TensorRT run layers in FP16.
    pub fp16: Option<bool>,
    /// Let TensorRT run layers in INT8 (QDQ models carry their own scales).
    pub int8: Option<bool>,
    /// Most bytes of GPU memory TensorRT may use while it builds an engine.
    pub max_workspace_bytes: Option<u64>,
    /// Keep built engines in this folder and reuse them on later loads: TensorRT takes seconds
    /// to minutes to build one. Must be writable (a volume under a read-only root).
    pub engine_cache_dir: Option<PathBuf>,
}

/// OpenVINO device names `device_type` may start with.
const OPENVINO_DEVICES: [&str; 6] = ["CPU", "GPU", "NPU", "AUTO", "HETERO", "MULTI"];
/// OpenVINO's precisions.
const OPENVINO_PRECISIONS: [&str; 3] = ["FP32", "FP16", "ACCURACY"];

impl ExecutionProviderOptions {
    /// Whether no provider has options.
    pub fn is_empty(&self) -> bool {
        self.openvino.is_none() && self.cuda.is_none() && self.tensorrt.is_none()
    }

    /// The first problem with these options for a model listing `providers`.
    pub fn problems(&self, providers: &[ExecutionProviderSpec]) -> Option<String> {
        let listed = |kind: ExecutionProviderKind| providers.iter().any(|p| p.kind == kind);
        let tables = [
            (ExecutionProviderKind::OpenVino, self.openvino.is_some()),
            (ExecutionProviderKind::Cuda, self.cuda.is_some()),
            (ExecutionProviderKind::TensorRt, self.tensorrt.is_some()),
        ];
        if let Some((kind, _)) = tables
            .iter()
            .find(|(kind, present)| *present && !listed(*kind))
        {
            let name = kind.config_name();
            return Some(format!(
                "execution_provider_options.{name} is set, but execution_providers does not list {name} (or {name}-or-cpu)"
            ));
        }
        let cache_dirs = [
            (
                "openvino.cache_dir",
                self.openvino.as_ref().and_then(|o| o.cache_dir.as_ref()),
            ),
            (
                "tensorrt.engine_cache_dir",
                self.tensorrt
                    .as_ref()
                    .and_then(|o| o.engine_cache_dir.as_ref()),
            ),
        ];
        for (option, dir) in cache_dirs {
            if let Some(dir) = dir.filter(|dir| !dir.is_absolute()) {
                return Some(format!(
                    "execution_provider_options.{option} '{}' must be an absolute path (a folder that survives restarts, such as a volume)",
                    dir.display()
                ));
            }
        }
        if let Some(openvino) = &self.openvino {
            if let Some(device) = &openvino.device_type {
                let base = device.split([':', '.']).next().unwrap_or_default();
                if !OPENVINO_DEVICES.contains(&base) {
                    return Some(format!(
                        "execution_provider_options.openvino.device_type '{device}' is not an OpenVINO device (expected {}, e.g. GPU.0 or AUTO:GPU,CPU)",
                        OPENVINO_DEVICES.join(", ")
                    ));
                }
            }
            if let Some(precision) = &openvino.precision {
                if !OPENVINO_PRECISIONS.contains(&precision.as_str()) {
                    return Some(format!(
                        "execution_provider_options.openvino.precision '{precision}' is not one of {}",
                        OPENVINO_PRECISIONS.join(", ")
                    ));
                }
            }
            if openvino.num_threads == Some(0) {
                return Some(
                    "execution_provider_options.openvino.num_threads must be at least 1".into(),
                );
            }
        }
        if let Some(tensorrt) = &self.tensorrt {
            if tensorrt.max_workspace_bytes == Some(0) {
                return Some(
                    "execution_provider_options.tensorrt.max_workspace_bytes must be at least 1"
                        .into(),
                );
            }
        }
        None
    }

    /// The options as `key=value` pairs per provider, for the model's configuration:
    /// `("openvino", "device_type=CPU, precision=FP32")`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        fn join(pairs: &[(&str, Option<String>)]) -> String {
            pairs
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(", ")
        }
        fn shown<T: ToString>(value: Option<&T>) -> Option<String> {
            value.map(ToString::to_string)
        }
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let mut described = Vec::new();
        if let Some(o) = &self.openvino {
            described.push((
                "openvino",
                join(&[
                    ("device_type", o.device_type.clone()),
                    ("precision", o.precision.clone()),
                    ("cache_dir", path(&o.cache_dir)),
                    ("num_threads", shown(o.num_threads.as_ref())),
                ]),
            ));
        }
        if let Some(o) = &self.cuda {
            described.push((
                "cuda",
                join(&[
                    ("device_id", shown(o.device_id.as_ref())),
                    ("memory_limit_bytes", shown(o.memory_limit_bytes.as_ref())),
                ]),
            ));
        }
        if let Some(o) = &self.tensorrt {
            described.push((
                "tensorrt",
                join(&[
                    ("device_id", shown(o.device_id.as_ref())),
                    ("fp16", shown(o.fp16.as_ref())),
                    ("int8", shown(o.int8.as_ref())),
                    ("max_workspace_bytes", shown(o.max_workspace_bytes.as_ref())),
                    ("engine_cache_dir", path(&o.engine_cache_dir)),
                ]),
            ));
        }
        described
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(list: &[&str]) -> Vec<ExecutionProviderSpec> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn parse(text: &str) -> Result<ExecutionProviderOptions, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn each_provider_takes_its_own_keys() {
        let options = parse(
            r#"
            [openvino]
            device_type = "GPU.0"
            precision = "FP16"
            cache_dir = "/var/cache/outpost/openvino"
            [tensorrt]
            fp16 = true
            engine_cache_dir = "/var/cache/outpost/tensorrt"
            "#,
        )
        .unwrap();
        assert_eq!(
            options.problems(&providers(&["tensorrt-or-cpu", "openvino"])),
            None
        );
        assert_eq!(
            options.describe(),
            vec![
                (
                    "openvino",
                    "device_type=GPU.0, precision=FP16, cache_dir=/var/cache/outpost/openvino"
                        .to_string()
                ),
                (
                    "tensorrt",
                    "fp16=true, engine_cache_dir=/var/cache/outpost/tensorrt".to_string()
                ),
            ]
        );
    }

    #[test]
    fn an_unknown_option_is_named() {
        let err = parse("[openvino]\ndevice = \"CPU\"\n").unwrap_err();
        assert!(err.contains("unknown field `device`"), "{err}");
        let err = parse("[cuda]\nfp16 = true\n").unwrap_err();
        assert!(err.contains("unknown field `fp16`"), "{err}");
        let err = parse("[xnnpack]\nthreads = 2\n").unwrap_err();
        assert!(err.contains("unknown field `xnnpack`"), "{err}");
    }

    #[test]
    fn values_and_unlisted_providers_are_checked() {
        let device = parse("[openvino]\ndevice_type = \"TPU\"\n").unwrap();
        let problem = device.problems(&providers(&["openvino"])).unwrap();
        assert!(
            problem.contains("'TPU' is not an OpenVINO device"),
            "{problem}"
        );
        let precision = parse("[openvino]\nprecision = \"INT4\"\n").unwrap();
        assert!(precision.problems(&providers(&["openvino"])).is_some());
        let unlisted = parse("[cuda]\ndevice_id = 1\n").unwrap();
        let problem = unlisted.problems(&providers(&["cpu"])).unwrap();
        assert!(
            problem.contains("execution_providers does not list cuda"),
            "{problem}"
        );
    }
}
