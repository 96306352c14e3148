//! The per-model configuration file, `<repository>/<model>/model.toml`: which backend and
//! execution providers to use, threads, instances, batching, version policy, labels and
//! overrides of the input/output metadata derived from the ONNX graph.
//!
//! Every field is optional; a model directory with no file at all is served with the defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::datatype::DataType;
use crate::execution_provider::ExecutionProviderSpec;
use crate::image_config::{PostprocessConfig, PreprocessConfig};
use crate::provider_options::ExecutionProviderOptions;
use crate::scheduling::{PerformanceHint, Scheduling};
use crate::signature::{ModelSignature, TensorSpec};
use crate::upstream::{UpstreamConfig, UpstreamPolicy};

/// The file name looked for in each model directory.
pub const MODEL_CONFIG_FILE: &str = "model.toml";

/// Whether `file`, named in a model's configuration, stays inside the model directory: relative
/// and without `..` (labels, anchors and other side files).
pub fn stays_inside_model_dir(file: &Path) -> bool {
    !file.is_absolute()
        && !file
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
}

/// Which runtime runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// ONNX Runtime when its library loads, tract otherwise.
    #[default]
    Auto,
    /// ONNX Runtime; the load fails without its library.
    Ort,
    /// tract, the pure-Rust runtime.
    Tract,
}

/// Which versions of a model are served, as in Triton's `version_policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionPolicy {
    /// The highest N versions present.
    Latest(usize),
    /// Exactly these versions (those present).
    Specific(Vec<u64>),
    /// Every version present.
    All,
}

impl Default for VersionPolicy {
    fn default() -> Self {
        VersionPolicy::Latest(1)
    }
}

impl VersionPolicy {
    /// The versions to serve out of those present, ascending.
    pub fn select(&self, available: &[u64]) -> Vec<u64> {
        let mut sorted: Vec<u64> = available.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        match self {
            VersionPolicy::All => sorted,
            VersionPolicy::Latest(n) => {
                let skip = sorted.len().saturating_sub(*n);
                sorted.split_off(skip)
            }
            VersionPolicy::Specific(wanted) => {
                sorted.into_iter().filter(|v| wanted.contains(v)).collect()
            }
        }
    }
}

/// Thread counts for the runtime; `None` means "derive from the CPUs available".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadConfig {
    /// Threads one operator may use.
    pub intra_op: Option<usize>,
    /// Operators run at once (ONNX Runtime's parallel mode).
    pub inter_op: Option<usize>,
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

/// Joining concurrent requests into one execution, as Triton's dynamic batcher does
/// (`[dynamic_batching]` in `model.toml`; only for models that take batches). Off unless the
/// section is present: on the CPU it did not pay on the machines measured (docs/benchmarks.md,
/// "Dynamic batching").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamicBatchingConfig {
    /// `false` keeps the section's values but runs every request on its own.
    pub enabled: bool,
    /// How long the first request of a batch may wait for others to join it. 0: a batch is
    /// whatever has queued by the time an inference thread is free.
    pub max_queue_delay_microseconds: u64,
    /// Batch sizes to form when enough requests are waiting: a batch of the largest of these
    /// leaves at once, without waiting out the delay.
    pub preferred_batch_sizes: Vec<usize>,
}

impl Default for DynamicBatchingConfig {
    fn default() -> Self {
        DynamicBatchingConfig {
            enabled: true,
            max_queue_delay_microseconds: 0,
            preferred_batch_sizes: Vec::new(),
        }
    }
}

/// The longest `max_queue_delay_microseconds` accepted (one second).
pub const MAX_QUEUE_DELAY_MICROSECONDS: u64 = 1_000_000;

impl DynamicBatchingConfig {
    /// The maximum queue delay as a duration.
    pub fn max_queue_delay(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.max_queue_delay_microseconds)
    }

    fn problems(&self) -> Option<String> {
        if self.max_queue_delay_microseconds > MAX_QUEUE_DELAY_MICROSECONDS {
            return Some(format!(
                "dynamic_batching.max_queue_delay_microseconds is {}, at most {} is accepted",
                self.max_queue_delay_microseconds, MAX_QUEUE_DELAY_MICROSECONDS
            ));
        }
        if self.preferred_batch_sizes.contains(&0) {
            return Some("dynamic_batching.preferred_batch_sizes must be at least 1".into());
        }
        None
    }
}

/// Overrides one input's or output's metadata as derived from the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorOverride {
    /// The input or output it overrides.
    pub name: String,
    /// Its element type.
    pub datatype: Option<DataType>,
    /// Full shape including any batch dimension; `-1` for a variable dimension.
    pub shape: Option<Vec<i64>>,
}

/// The contents of `model.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The runtime: `auto`, `ort` or `tract`.
    #[serde(default)]
    pub backend: BackendChoice,
    /// Tried in order; the first entry that is available runs the model.
    #[serde(default = "default_execution_providers")]
    pub execution_providers: Vec<ExecutionProviderSpec>,
    /// Options per provider (`[execution_provider_options.openvino]`, `.cuda`, `.tensorrt`).
    #[serde(default, skip_serializing_if = "ExecutionProviderOptions::is_empty")]
    pub execution_provider_options: ExecutionProviderOptions,
    /// Thread counts.
    #[serde(default)]
    pub threads: ThreadConfig,
    /// Memory settings of the runtime.
    #[serde(default)]
    pub memory: ModelMemoryConfig,
    /// Run one inference on zero inputs after loading, before the version takes requests.
    #[serde(default = "default_warm_up")]
    pub warm_up: bool,
    /// What the model's scheduling is tuned for when `instances` and `threads.intra_op` leave
    /// it open: `auto` (the default), `latency` or `throughput` ([`PerformanceHint`]).
    #[serde(default)]
    pub performance: PerformanceHint,
    /// Independent sessions kept for concurrent requests (Triton's instance count); absent:
    /// chosen by `performance`.
    pub instances: Option<usize>,
    /// Largest batch accepted when the model has a variable batch dimension; 0 disables batching.
    pub max_batch_size: Option<usize>,
    /// Requests joined into one execution; absent: each request runs on its own.
    pub dynamic_batching: Option<DynamicBatchingConfig>,
    /// Which versions are served.
    #[serde(default)]
    pub version_policy: VersionPolicy,
    /// The model file inside each version directory.
    #[serde(default = "default_model_filename")]
    pub model_filename: String,
    /// Labels file, one label per line, relative to the model directory.
    pub labels: Option<PathBuf>,
    /// Overrides of the inputs' metadata.
    #[serde(default)]
    pub inputs: Vec<TensorOverride>,
    /// Overrides of the outputs' metadata.
    #[serde(default)]
    pub outputs: Vec<TensorOverride>,
    /// How an encoded image becomes the model's input (camera endpoint, BYTES inputs).
    pub preprocess: Option<PreprocessConfig>,
    /// What the outputs mean: classification or detection.
    pub postprocess: Option<PostprocessConfig>,
    /// A remote V2 endpoint that may answer instead of, or besides, the local model.
    pub upstream: Option<UpstreamConfig>,
    /// What of each answered request goes to the outbox, to be forwarded.
    #[serde(default)]
    pub forward: ForwardMode,
}

/// What of each answered request is kept in the outbox and forwarded (`forward` in model.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardMode {
    /// Nothing.
    #[default]
    None,
    /// Who answered and the outputs (classes or boxes for the camera endpoint).
    Results,
    /// The results and the request's inputs (the photo, for the camera endpoint).
    ResultsAndInputs,
}

fn default_execution_providers() -> Vec<ExecutionProviderSpec> {
    vec![ExecutionProviderSpec::CPU]
}

fn default_warm_up() -> bool {
    true
}

fn default_model_filename() -> String {
    "model.onnx".to_string()
}

/// Triton's default `max_batch_size` for models whose batch dimension is variable.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 4;

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            backend: BackendChoice::default(),
            execution_providers: default_execution_providers(),
            execution_provider_options: ExecutionProviderOptions::default(),
            threads: ThreadConfig::default(),
            memory: ModelMemoryConfig::default(),
            warm_up: default_warm_up(),
            performance: PerformanceHint::default(),
            instances: None,
            max_batch_size: None,
            dynamic_batching: None,
            version_policy: VersionPolicy::default(),
            model_filename: default_model_filename(),
            labels: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            preprocess: None,
            postprocess: None,
            upstream: None,
            forward: ForwardMode::None,
        }
    }
}

/// Why a model configuration could not be used.
#[derive(Debug, Error)]
pub enum ModelConfigError {
    /// `model.toml` (or a file it names) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `model.toml` is malformed or has unknown keys.
    #[error("invalid model configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, where.
        message: String,
    },
    /// A value is out of range or contradicts another.
    #[error("invalid model configuration: {0}")]
    Invalid(String),
    /// An input or output override does not fit the graph.
    #[error("metadata override for '{name}' does not fit the model: {message}")]
    Override {
        /// The input or output.
        name: String,
        /// What does not fit.
        message: String,
    },
}

impl ModelConfig {
    /// The sessions this model runs on `cpus` CPUs, where the server's intra-op thread count
    /// for models that set none is `default_intra_op` ([`Scheduling::resolve`]).
    pub fn scheduling(&self, cpus: usize, default_intra_op: usize) -> Scheduling {
        Scheduling::resolve(
            self.performance,
            self.instances,
            self.threads.intra_op,
            cpus,
            default_intra_op,
        )
    }

    /// Reads `<model_dir>/model.toml`, or the defaults when the file does not exist.
    pub fn load_from_dir(model_dir: &Path) -> Result<ModelConfig, ModelConfigError> {
        ModelConfig::load_from_dir_over(model_dir, None)
    }

    /// Reads `<model_dir>/model.toml` (a missing file reads as empty) over the server's
    /// `[upstream]`, when it has one, as [`ModelConfig::parse_over`] does.
    pub fn load_from_dir_over(
        model_dir: &Path,
        server_upstream: Option<&UpstreamConfig>,
    ) -> Result<ModelConfig, ModelConfigError> {
        let path = model_dir.join(MODEL_CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ModelConfigError::Read { path, source }),
        };
        match server_upstream {
            None => ModelConfig::parse(&text, &path),
            Some(server_upstream) => ModelConfig::parse_over(&text, &path, server_upstream),
        }
    }

    /// Parses TOML text over the server's `[upstream]`: a model without its own `[upstream]`
    /// gets the server's; one with its own gets the server's keys with its own replacing them
    /// one by one (so `[upstream] policy = "local"` alone opts a model out). The server's
    /// `escalate_below` goes only to models whose policy ends up `prefer_local`, and a model
    /// that names its own `auth_file` or `auth_env` takes neither of the server's.
    pub fn parse_over(
        text: &str,
        path: &Path,
        server_upstream: &UpstreamConfig,
    ) -> Result<ModelConfig, ModelConfigError> {
        let parse_error = |message: String| ModelConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        let mut upstream = toml::Table::try_from(server_upstream)
            .map_err(|e| parse_error(format!("the server's [upstream]: {e}")))?;
        match table.remove("upstream") {
            None => {}
            Some(toml::Value::Table(own)) => {
                let own_policy = own.contains_key("policy");
                let own_escalation = own.contains_key("escalate_below");
                // The credential comes from one place: a model naming its own replaces both.
                if own.contains_key("auth_file") || own.contains_key("auth_env") {
                    upstream.remove("auth_file");
                    upstream.remove("auth_env");
                }
                upstream.extend(own);
                let prefer_local = upstream.get("policy").and_then(toml::Value::as_str)
                    == Some(UpstreamPolicy::PreferLocal.as_str());
                if own_policy && !own_escalation && !prefer_local {
                    upstream.remove("escalate_below");
                }
            }
            Some(other) => {
                return Err(parse_error(format!(
                    "upstream must be a table ([upstream]), not a {}",
                    other.type_str()
                )))
            }
        }
        table.insert("upstream".to_string(), toml::Value::Table(upstream));
        let config: ModelConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Parses TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<ModelConfig, ModelConfigError> {
        let config: ModelConfig = toml::from_str(text).map_err(|e| ModelConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ModelConfigError> {
        if self.execution_providers.is_empty() {
            return Err(ModelConfigError::Invalid(
                "execution_providers is empty; list at least \"cpu\"".into(),
            ));
        }
        if let Some(problem) = self
            .execution_provider_options
            .problems(&self.execution_providers)
        {
            return Err(ModelConfigError::Invalid(problem));
        }
        if self.instances == Some(0) {
            return Err(ModelConfigError::Invalid(
                "instances must be at least 1".into(),
            ));
        }
        if self.threads.intra_op == Some(0) || self.threads.inter_op == Some(0) {
            return Err(ModelConfigError::Invalid(
                "thread counts must be at least 1 (leave them out to derive them from the CPUs)"
                    .into(),
            ));
        }
        if let Some(problem) = self
            .dynamic_batching
            .as_ref()
            .and_then(DynamicBatchingConfig::problems)
        {
            return Err(ModelConfigError::Invalid(problem));
        }
        if let Some(problem) = self
            .upstream
            .as_ref()
            .and_then(|u| u.problems().into_iter().next())
        {
            return Err(ModelConfigError::Invalid(problem));
        }
        if let VersionPolicy::Latest(0) = self.version_policy {
            return Err(ModelConfigError::Invalid(
                "version_policy latest must be at least 1".into(),
            ));
        }
        if let Some(problem) = self
            .preprocess
            .as_ref()
            .and_then(PreprocessConfig::problems)
        {
            return Err(ModelConfigError::Invalid(problem));
        }
        if let Some(problem) = self
            .postprocess
            .as_ref()
            .and_then(PostprocessConfig::problems)
        {
            return Err(ModelConfigError::Invalid(problem));
        }
        if self.model_filename.contains('/') || self.model_filename.contains("..") {
            return Err(ModelConfigError::Invalid(
                "model_filename must be a plain file name inside the version directory".into(),
            ));
        }
        Ok(())
    }

    /// Applies the `inputs` / `outputs` overrides to a signature derived from the graph.
    ///
    /// An override may name a datatype only where it equals the graph's, and a shape only of the
    /// same rank that agrees with every dimension the graph fixes (it can fix variable ones).
    pub fn apply_overrides(
        &self,
        mut signature: ModelSignature,
    ) -> Result<ModelSignature, ModelConfigError> {
        apply_to(&mut signature.inputs, &self.inputs, "input")?;
        apply_to(&mut signature.outputs, &self.outputs, "output")?;
        Ok(signature)
    }

    /// The signature a model without a local graph declares in full: every `[[inputs]]` and
    /// `[[outputs]]` entry with its datatype and shape (a model answered by its upstream only).
    pub fn declared_signature(&self) -> Result<ModelSignature, ModelConfigError> {
        let declared = |overrides: &[TensorOverride], kind: &str| {
            if overrides.is_empty() {
                return Err(ModelConfigError::Invalid(format!(
                    "a model answered by its upstream only declares its {kind}s: [[{kind}s]] with name, datatype and shape"
                )));
            }
            overrides
                .iter()
                .map(|o| match (o.datatype, &o.shape) {
                    (Some(datatype), Some(shape)) => {
                        Ok(TensorSpec::new(o.name.clone(), datatype, shape.clone()))
                    }
                    _ => Err(ModelConfigError::Override {
                        name: o.name.clone(),
                        message: format!(
                            "a model answered by its upstream only gives each {kind}'s datatype and shape"
                        ),
                    }),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(ModelSignature {
            inputs: declared(&self.inputs, "input")?,
            outputs: declared(&self.outputs, "output")?,
        })
    }

    /// Whether the model has no local graph: its upstream answers every request.
    pub fn upstream_only(&self) -> bool {
        self.upstream
            .as_ref()
            .is_some_and(|u| u.policy == UpstreamPolicy::UpstreamOnly)
    }

    /// The batch limit for a model with this signature: the configured one, or Triton's default
    /// when the graph has a variable batch dimension, or 0 (no batching) when it does not.
    pub fn effective_max_batch_size(&self, signature: &ModelSignature) -> usize {
        if !signature.has_batch_dimension() {
            return 0;
        }
        self.max_batch_size.unwrap_or(DEFAULT_MAX_BATCH_SIZE)
    }

    /// The dynamic batching to apply to a version whose effective `max_batch_size` is given:
    /// `None` when the section is absent or turned off; an error when it asks for batching a
    /// model that takes no batches, or for preferred sizes beyond the maximum.
    pub fn effective_dynamic_batching(
        &self,
        max_batch_size: usize,
    ) -> Result<Option<&DynamicBatchingConfig>, ModelConfigError> {
        let Some(batching) = self.dynamic_batching.as_ref().filter(|b| b.enabled) else {
            return Ok(None);
        };
        if max_batch_size == 0 {
            return Err(ModelConfigError::Invalid(
                "[dynamic_batching] needs a model that takes batches: a variable first dimension \
                 on every input and output, and max_batch_size of at least 1"
                    .into(),
            ));
        }
        if let Some(too_big) = batching
            .preferred_batch_sizes
            .iter()
            .find(|size| **size > max_batch_size)
        {
            return Err(ModelConfigError::Invalid(format!(
                "dynamic_batching.preferred_batch_sizes has {too_big}, more than max_batch_size {max_batch_size}"
            )));
        }
        Ok(Some(batching))
    }
}

fn apply_to(
    specs: &mut [TensorSpec],
    overrides: &[TensorOverride],
    kind: &str,
) -> Result<(), ModelConfigError> {
    for o in overrides {
        let spec = specs.iter_mut().find(|s| s.name == o.name).ok_or_else(|| {
            ModelConfigError::Override {
                name: o.name.clone(),
                message: format!("the model has no {kind} of that name"),
            }
        })?;
        if let Some(datatype) = o.datatype {
            if datatype != spec.datatype {
                return Err(ModelConfigError::Override {
                    name: o.name.clone(),
                    message: format!(
                        "the graph says {}, the override says {datatype}",
                        spec.datatype
                    ),
                });
            }
        }
        if let Some(shape) = &o.shape {
            let compatible = shape.len() == spec.shape.len()
                && shape
                    .iter()
                    .zip(&spec.shape)
                    .all(|(new, old)| *old < 0 || new == old)
                && shape.iter().all(|d| *d == -1 || *d > 0);
            if !compatible {
                return Err(ModelConfigError::Override {
                    name: o.name.clone(),
                    message: format!(
                        "shape {shape:?} does not agree with the graph's {:?}",
                        spec.shape
                    ),
                });
            }
            spec.shape.clone_from(shape);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution_provider::ExecutionProviderKind;

    #[test]
    fn empty_file_gives_defaults() {
        let config = ModelConfig::parse("", Path::new("model.toml")).unwrap();
        assert_eq!(config, ModelConfig::default());
        assert_eq!(config.execution_providers, vec![ExecutionProviderSpec::CPU]);
    }

    #[test]
    fn parses_full_config() {
        let text = r#"
            backend = "ort"
            execution_providers = ["tensorrt-or-cpu", "cuda"]
            instances = 2
            max_batch_size = 8
            version_policy = { latest = 2 }
            labels = "labels.txt"
            [threads]
            intra_op = 2
            [[inputs]]
            name = "input"
            shape = [-1, 3, 224, 224]
        "#;
        let config = ModelConfig::parse(text, Path::new("m/model.toml")).unwrap();
        assert_eq!(config.backend, BackendChoice::Ort);
        assert_eq!(
            config.execution_providers[0].kind,
            ExecutionProviderKind::TensorRt
        );
        assert!(config.execution_providers[0].fallback_to_cpu);
        assert!(!config.execution_providers[1].fallback_to_cpu);
        assert_eq!(config.version_policy, VersionPolicy::Latest(2));
        assert_eq!(config.threads.intra_op, Some(2));
        assert_eq!(config.inputs[0].shape, Some(vec![-1, 3, 224, 224]));
    }

    #[test]
    fn the_performance_hint_resolves_with_the_cpus() {
        let path = Path::new("m/model.toml");
        let shipped = ModelConfig::parse("", path).unwrap();
        assert_eq!(shipped.performance, PerformanceHint::Auto);
        assert!(matches!(
            shipped.scheduling(2, 2),
            Scheduling::Adaptive { .. }
        ));
        let throughput = ModelConfig::parse("performance = \"throughput\"", path).unwrap();
        assert_eq!(
            throughput.scheduling(2, 2),
            Scheduling::Fixed {
                instances: 2,
                intra_op: 1
            }
        );
        let error = ModelConfig::parse("performance = \"fast\"", path).unwrap_err();
        assert!(error.to_string().contains("latency"), "{error}");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        for bad in [
            "backnd = \"ort\"",
            "backend = \"gpu\"",
            "execution_providers = [\"warp-drive\"]",
            "execution_providers = []",
            "instances = 0",
            "version_policy = { latest = 0 }",
            "model_filename = \"../x.onnx\"",
            "[dynamic_batching]\npreferred_batch_sizes = [0]",
            "[dynamic_batching]\nmax_queue_delay_microseconds = 2000000",
            "[dynamic_batching]\nmax_delay = 5",
        ] {
            assert!(
                ModelConfig::parse(bad, Path::new("model.toml")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn dynamic_batching_is_off_unless_asked_for_and_needs_a_batch_dimension() {
        let parse = |text: &str| ModelConfig::parse(text, Path::new("model.toml")).unwrap();
        assert_eq!(parse("").effective_dynamic_batching(4).unwrap(), None);
        let off = parse("[dynamic_batching]\nenabled = false");
        assert_eq!(off.effective_dynamic_batching(4).unwrap(), None);
        let on = parse(
            "[dynamic_batching]\nmax_queue_delay_microseconds = 500\npreferred_batch_sizes = [2, 4]",
        );
        let batching = on.effective_dynamic_batching(4).unwrap().unwrap();
        assert_eq!(
            batching.max_queue_delay(),
            std::time::Duration::from_micros(500)
        );
        assert_eq!(batching.preferred_batch_sizes, vec![2, 4]);
        let no_batches = on.effective_dynamic_batching(0).unwrap_err().to_string();
        assert!(
            no_batches.contains("needs a model that takes batches"),
            "{no_batches}"
        );
        let too_big = on.effective_dynamic_batching(3).unwrap_err().to_string();
        assert!(too_big.contains("preferred_batch_sizes has 4"), "{too_big}");
    }

    #[test]
    fn version_policies_select() {
        let present = [3, 1, 2, 10];
        assert_eq!(VersionPolicy::Latest(1).select(&present), vec![10]);
        assert_eq!(VersionPolicy::Latest(2).select(&present), vec![3, 10]);
        assert_eq!(VersionPolicy::All.select(&present), vec![1, 2, 3, 10]);
        assert_eq!(
            VersionPolicy::Specific(vec![2, 7]).select(&present),
            vec![2]
        );
        let all: ModelConfig = toml::from_str("version_policy = \"all\"").unwrap();
        assert_eq!(all.version_policy, VersionPolicy::All);
        let specific: ModelConfig =
            toml::from_str("version_policy = { specific = [1, 3] }").unwrap();
        assert_eq!(specific.version_policy, VersionPolicy::Specific(vec![1, 3]));
    }

    #[test]
    fn overrides_must_fit_the_graph() {
        let graph = ModelSignature {
            inputs: vec![TensorSpec::new("x", DataType::Fp32, vec![-1, 3])],
            outputs: vec![TensorSpec::new("y", DataType::Fp32, vec![-1, 2])],
        };
        let fix_batch = ModelConfig {
            inputs: vec![TensorOverride {
                name: "x".into(),
                datatype: None,
                shape: Some(vec![1, 3]),
            }],
            ..ModelConfig::default()
        };
        let applied = fix_batch.apply_overrides(graph.clone()).unwrap();
        assert_eq!(applied.inputs[0].shape, vec![1, 3]);

        for bad in [
            TensorOverride {
                name: "x".into(),
                datatype: Some(DataType::Int8),
                shape: None,
            },
            TensorOverride {
                name: "x".into(),
                datatype: None,
                shape: Some(vec![1, 4]),
            },
            TensorOverride {
                name: "x".into(),
                datatype: None,
                shape: Some(vec![3]),
            },
            TensorOverride {
                name: "nope".into(),
                datatype: None,
                shape: None,
            },
        ] {
            let config = ModelConfig {
                inputs: vec![bad],
                ..ModelConfig::default()
            };
            assert!(config.apply_overrides(graph.clone()).is_err());
        }
    }

    #[test]
    fn batch_size_follows_the_graph() {
        let batched = ModelSignature {
            inputs: vec![TensorSpec::new("x", DataType::Fp32, vec![-1, 3])],
            outputs: vec![TensorSpec::new("y", DataType::Fp32, vec![-1, 2])],
        };
        let fixed = ModelSignature {
            inputs: vec![TensorSpec::new("x", DataType::Fp32, vec![1, 3])],
            outputs: vec![TensorSpec::new("y", DataType::Fp32, vec![1, 2])],
        };
        let config = ModelConfig::default();
        assert_eq!(
            config.effective_max_batch_size(&batched),
            DEFAULT_MAX_BATCH_SIZE
        );
        assert_eq!(config.effective_max_batch_size(&fixed), 0);
        let eight = ModelConfig {
            max_batch_size: Some(8),
            ..ModelConfig::default()
        };
        assert_eq!(eight.effective_max_batch_size(&batched), 8);
    }

    #[test]
    fn models_inherit_the_servers_upstream_key_by_key() {
        let server: UpstreamConfig = toml::from_str(
            "url = \"grpc://cloud:8001\"\npolicy = \"prefer_local\"\nescalate_below = 0.5\ntimeout_ms = 300",
        )
        .unwrap();
        let path = Path::new("model.toml");
        let plain = ModelConfig::parse_over("instances = 2", path, &server).unwrap();
        assert_eq!(plain.upstream.as_ref(), Some(&server));
        assert_eq!(plain.instances, Some(2));

        let own = ModelConfig::parse_over(
            "forward = \"results\"\n[upstream]\nmodel = \"big\"\ntimeout_ms = 900",
            path,
            &server,
        )
        .unwrap();
        let upstream = own.upstream.unwrap();
        assert_eq!(upstream.url, "grpc://cloud:8001");
        assert_eq!(upstream.model.as_deref(), Some("big"));
        assert_eq!(upstream.timeout_ms, 900);
        assert_eq!(upstream.policy, UpstreamPolicy::PreferLocal);
        assert_eq!(upstream.escalate_below, Some(0.5));
        assert_eq!(own.forward, ForwardMode::Results);

        // A policy of its own leaves the server's escalation threshold behind.
        let opted_out =
            ModelConfig::parse_over("[upstream]\npolicy = \"local\"", path, &server).unwrap();
        let upstream = opted_out.upstream.unwrap();
        assert_eq!(upstream.policy, UpstreamPolicy::Local);
        assert_eq!(upstream.escalate_below, None);

        // A credential of its own replaces the server's source of it.
        let with_file: UpstreamConfig =
            toml::from_str("url = \"http://cloud\"\nauth_file = \"/run/secrets/cloud\"").unwrap();
        let own_env =
            ModelConfig::parse_over("[upstream]\nauth_env = \"TOKEN\"", path, &with_file).unwrap();
        let upstream = own_env.upstream.unwrap();
        assert_eq!(
            (upstream.auth_file, upstream.auth_env.as_deref()),
            (None, Some("TOKEN"))
        );

        // The merged table is checked as a model's own would be.
        let wrong = ModelConfig::parse_over("[upstream]\ntimeout_ms = 0", path, &server);
        assert!(wrong.unwrap_err().to_string().contains("timeout_ms"));
        let typo = ModelConfig::parse_over("[upstream]\ntimeout = 9", path, &server);
        assert!(typo.unwrap_err().to_string().contains("timeout"));
        let not_a_table = ModelConfig::parse_over("upstream = 3", path, &server);
        assert!(not_a_table
            .unwrap_err()
            .to_string()
            .contains("must be a table"));
    }
}
