//! Execution-provider names as a model configuration writes them: `cuda` is strict (the load
//! fails when CUDA is unavailable), `cuda-or-cpu` falls back to the CPU with a warning.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ONNX Runtime execution provider Outpost knows how to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionProviderKind {
    /// ONNX Runtime's own CPU kernels.
    Cpu,
    /// NVIDIA GPUs through CUDA.
    Cuda,
    /// NVIDIA GPUs through TensorRT.
    TensorRt,
    /// Intel CPUs, GPUs and NPUs through OpenVINO.
    OpenVino,
    /// XNNPACK's CPU kernels (ARM and x86).
    Xnnpack,
    /// Apple's Core ML.
    CoreMl,
    /// Qualcomm NPUs through QNN.
    Qnn,
    /// Arm Compute Library.
    Acl,
    /// AMD GPUs through ROCm.
    Rocm,
}

impl ExecutionProviderKind {
    const ALL: [ExecutionProviderKind; 9] = [
        ExecutionProviderKind::Cpu,
        ExecutionProviderKind::Cuda,
        ExecutionProviderKind::TensorRt,
        ExecutionProviderKind::OpenVino,
        ExecutionProviderKind::Xnnpack,
        ExecutionProviderKind::CoreMl,
        ExecutionProviderKind::Qnn,
        ExecutionProviderKind::Acl,
        ExecutionProviderKind::Rocm,
    ];

    /// The short name used in configuration files, e.g. `"tensorrt"`.
    pub fn config_name(self) -> &'static str {
        match self {
            ExecutionProviderKind::Cpu => "cpu",
            ExecutionProviderKind::Cuda => "cuda",
            ExecutionProviderKind::TensorRt => "tensorrt",
            ExecutionProviderKind::OpenVino => "openvino",
            ExecutionProviderKind::Xnnpack => "xnnpack",
            ExecutionProviderKind::CoreMl => "coreml",
            ExecutionProviderKind::Qnn => "qnn",
            ExecutionProviderKind::Acl => "acl",
            ExecutionProviderKind::Rocm => "rocm",
        }
    }

    /// ONNX Runtime's own identifier, e.g. `"TensorrtExecutionProvider"`.
    pub fn onnxruntime_name(self) -> &'static str {
        match self {
            ExecutionProviderKind::Cpu => "CPUExecutionProvider",
            ExecutionProviderKind::Cuda => "CUDAExecutionProvider",
            ExecutionProviderKind::TensorRt => "TensorrtExecutionProvider",
            ExecutionProviderKind::OpenVino => "OpenVINOExecutionProvider",
            ExecutionProviderKind::Xnnpack => "XnnpackExecutionProvider",
            ExecutionProviderKind::CoreMl => "CoreMLExecutionProvider",
            ExecutionProviderKind::Qnn => "QNNExecutionProvider",
            ExecutionProviderKind::Acl => "ACLExecutionProvider",
            ExecutionProviderKind::Rocm => "ROCMExecutionProvider",
        }
    }
}

/// One entry of a model's `execution_providers` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExecutionProviderSpec {
    /// The provider.
    pub kind: ExecutionProviderKind,
    /// `true` for the `-or-cpu` form: when the provider is unavailable, warn and go on.
    pub fallback_to_cpu: bool,
}

impl ExecutionProviderSpec {
    /// The CPU provider, strict (the default list).
    pub const CPU: ExecutionProviderSpec = ExecutionProviderSpec {
        kind: ExecutionProviderKind::Cpu,
        fallback_to_cpu: false,
    };
}

/// Why a name is not an execution provider of `execution_providers`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderNameError {
    /// Not a provider this build knows.
    #[error("unknown execution provider '{name}' (known: {known}; add '-or-cpu' to fall back to the CPU)")]
    Unknown {
        /// The name given.
        name: String,
        /// The names known, comma-separated.
        known: String,
    },
    /// `cpu-or-cpu`.
    #[error("'cpu-or-cpu' is not a provider; write 'cpu'")]
    CpuOrCpu,
}

impl FromStr for ExecutionProviderSpec {
    type Err = ProviderNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let (base, fallback_to_cpu) = match lower.strip_suffix("-or-cpu") {
            Some(base) => (base, true),
            None => (lower.as_str(), false),
        };
        let kind = ExecutionProviderKind::ALL
            .into_iter()
            .find(|k| k.config_name() == base)
            .ok_or_else(|| {
                let known: Vec<&str> = ExecutionProviderKind::ALL
                    .iter()
                    .map(|k| k.config_name())
                    .collect();
                ProviderNameError::Unknown {
                    name: text.to_string(),
                    known: known.join(", "),
                }
            })?;
        if kind == ExecutionProviderKind::Cpu && fallback_to_cpu {
            return Err(ProviderNameError::CpuOrCpu);
        }
        Ok(ExecutionProviderSpec {
            kind,
            fallback_to_cpu,
        })
    }
}

impl fmt::Display for ExecutionProviderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.config_name())?;
        if self.fallback_to_cpu {
            f.write_str("-or-cpu")?;
        }
        Ok(())
    }
}

impl Serialize for ExecutionProviderSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExecutionProviderSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strict_and_fallback_forms() {
        let strict: ExecutionProviderSpec = "cuda".parse().unwrap();
        assert_eq!(strict.kind, ExecutionProviderKind::Cuda);
        assert!(!strict.fallback_to_cpu);
        let soft: ExecutionProviderSpec = "TensorRT-or-cpu".parse().unwrap();
        assert_eq!(soft.kind, ExecutionProviderKind::TensorRt);
        assert!(soft.fallback_to_cpu);
        assert_eq!(soft.to_string(), "tensorrt-or-cpu");
        assert!("gpu".parse::<ExecutionProviderSpec>().is_err());
        assert!("cpu-or-cpu".parse::<ExecutionProviderSpec>().is_err());
    }
}
