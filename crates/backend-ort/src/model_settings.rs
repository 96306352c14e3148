//! ONNX Runtime's keys of `model.toml`: `execution_providers` (tried in order),
//! `[execution_provider_options.*]` and `[memory]` (the shared CPU arena, the memory pattern).
//! The engine hands them over as written; they are read and checked here.

use outpost_core::BackendError;
use serde::{Deserialize, Serialize};

use crate::execution_provider::ExecutionProviderSpec;
use crate::provider_options::ExecutionProviderOptions;

/// The top-level keys of `model.toml` that ONNX Runtime reads.
pub const MODEL_KEYS: &[&str] = &[
    "execution_providers",
    "execution_provider_options",
    "memory",
];

/// ONNX Runtime's settings for one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrtModelSettings {
    /// Tried in order; the first entry that is available runs the model.
    #[serde(default = "default_execution_providers")]
    pub execution_providers: Vec<ExecutionProviderSpec>,
    /// Options per provider (`[execution_provider_options.openvino]`, `.cuda`, `.tensorrt`).
    #[serde(default, skip_serializing_if = "ExecutionProviderOptions::is_empty")]
    pub execution_provider_options: ExecutionProviderOptions,
    /// Memory settings of the runtime.
    #[serde(default)]
    pub memory: ModelMemoryConfig,
}

fn default_execution_providers() -> Vec<ExecutionProviderSpec> {
    vec![ExecutionProviderSpec::CPU]
}

impl Default for OrtModelSettings {
    fn default() -> Self {
        OrtModelSettings {
            execution_providers: default_execution_providers(),
            execution_provider_options: ExecutionProviderOptions::default(),
            memory: ModelMemoryConfig::default(),
        }
    }
}

impl OrtModelSettings {
    /// Reads and checks the settings from `model.toml`'s keys (those of [`MODEL_KEYS`]; others
    /// are left to the runtimes that read them).
    pub fn read(table: &toml::Table) -> Result<OrtModelSettings, BackendError> {
        let own: toml::Table = table
            .iter()
            .filter(|(key, _)| MODEL_KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let settings: OrtModelSettings = own
            .try_into()
            .map_err(|e: toml::de::Error| problem(e.message().trim().to_string()))?;
        if settings.execution_providers.is_empty() {
            return Err(problem(
                "execution_providers is empty; list at least \"cpu\"".into(),
            ));
        }
        if let Some(message) = settings
            .execution_provider_options
            .problems(&settings.execution_providers)
        {
            return Err(problem(message));
        }
        Ok(settings)
    }
}

fn problem(message: String) -> BackendError {
    BackendError::Settings {
        runtime: crate::NAME,
        message,
    }
}

/// How the runtime may hold memory for a model (`[memory]` in `model.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelMemoryConfig {
    /// Take ONNX Runtime's CPU memory (weights, tensors, scratch buffers) from the server's
    /// shared CPU arena: freed buffers are kept for the next run, at most
    /// `ort.cpu_arena_max_kept_bytes` of them, and handed back to the system once the arena has
    /// been idle (`ort.cpu_arena_idle_release_ms`). Off: every buffer of every run goes to
    /// malloc, about a third slower on the CPU (docs/benchmarks.md, "Memory"). ONNX Runtime's
    /// own per-session arena, which keeps all it ever allocated, is never used.
    pub cpu_arena: bool,
    /// ONNX Runtime's memory pattern: plans one block for all intermediate tensors of a
    /// fixed-shape run.
    pub memory_pattern: bool,
}

impl Default for ModelMemoryConfig {
    fn default() -> Self {
        ModelMemoryConfig {
            cpu_arena: true,
            memory_pattern: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution_provider::ExecutionProviderKind;

    fn read(text: &str) -> Result<OrtModelSettings, BackendError> {
        OrtModelSettings::read(&toml::from_str(text).unwrap())
    }

    #[test]
    fn absent_keys_read_as_the_cpu_with_the_arena() {
        let settings = read("instances = 2").unwrap();
        assert_eq!(settings, OrtModelSettings::default());
        assert_eq!(
            settings.execution_providers,
            vec![ExecutionProviderSpec::CPU]
        );
        assert!(settings.memory.cpu_arena);
    }

    #[test]
    fn providers_read_in_order_with_their_fallback() {
        let settings = read("execution_providers = [\"tensorrt-or-cpu\", \"cuda\"]").unwrap();
        assert_eq!(
            settings.execution_providers[0].kind,
            ExecutionProviderKind::TensorRt
        );
        assert!(settings.execution_providers[0].fallback_to_cpu);
        assert!(!settings.execution_providers[1].fallback_to_cpu);
    }

    #[test]
    fn bad_values_are_refused_naming_the_runtime() {
        for bad in [
            "execution_providers = [\"warp-drive\"]",
            "execution_providers = []",
            "[memory]\ncpu_arenna = false",
            "[execution_provider_options.openvino]\nwarp = 9",
        ] {
            let error = read(bad).unwrap_err();
            assert!(
                error.to_string().contains("settings for ort"),
                "{bad}: {error}"
            );
        }
    }
}
