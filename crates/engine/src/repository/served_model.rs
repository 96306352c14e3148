//! Loading one model directory: its configuration, labels and each selected version, on the
//! backend its configuration chooses. The result is a [`ModelEntry`] that records failures
//! instead of returning them, so one broken model never stops the others.
//!
//! A version directory may hold a `model.toml` of its own (as versions installed from bundles
//! do): that version then uses it, and its labels and other side files, from the version
//! directory, instead of the model directory's.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::{
    ForwardMode, LoadRequest, LoadedModel, ModelConfig, ModelSignature, RuntimeIdentity,
    Scheduling, WorkGauge,
};

use outpost_core::model_config::{stays_inside_model_dir, MODEL_CONFIG_FILE};
use outpost_vision::ImagePipeline;

use super::load_error::LoadError;
use super::scan::FoundModel;
use super::serving_file;
use super::{ModelEntry, VersionState};
use crate::admission::Admission;
use crate::backends::Backends;
use crate::batching::{BatchPolicy, DynamicBatcher};
use crate::memory::MemoryBudget;
use crate::process_memory::{resident_bytes, return_freed_memory, ReturnMemoryOnDrop};
use crate::request_metrics::RequestMetrics;
use crate::statistics::ModelStatistics;
use crate::upstream::{ModelUpstream, Upstreams};

/// What every model version gets unless its configuration says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadDefaults {
    /// CPUs the server may use.
    pub cpus: usize,
    /// Intra-op threads for models that do not set them.
    pub intra_op_threads: usize,
    /// A model's parallel sessions (`performance = "auto"`) are dropped after this long
    /// without overlapping requests.
    pub parallel_idle_release: Duration,
    /// Requests one version takes at once, running or waiting (see [`Admission`]).
    pub admission_capacity: usize,
}

/// What loading needs besides the model directory: the runtimes, the defaults, the memory
/// budget with a way to unload one idle model (other than the one named) when it is full, and
/// the metrics each version records its requests in.
pub(crate) struct LoadContext<'a> {
    /// The runtimes.
    pub backends: &'a Backends,
    /// Settings for versions whose configuration does not set them.
    pub defaults: LoadDefaults,
    /// The memory budget the load must fit.
    pub budget: &'a MemoryBudget,
    /// Unloads one idle model other than the one named; false when none can go.
    pub evict_one_idle: &'a dyn Fn(&str) -> bool,
    /// Where the loaded versions record their requests.
    pub metrics: &'a RequestMetrics,
    /// Makes the clients of models' upstreams.
    pub upstreams: &'a Upstreams,
    /// Whether the outbox is open (models with `forward` need it).
    pub outbox_open: bool,
}

/// A labels file attached to a model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Labels {
    /// File name as the configuration gives it.
    pub file: String,
    /// Shared with the model's image pipeline.
    pub labels: Arc<Vec<String>>,
}

/// A model version ready to serve: what was loaded (the runtime's model, its signature, its
/// configuration and side files), and what it keeps while it serves (its queue bound, batcher,
/// statistics). The engine's modules read its parts; front ends see it through the methods.
pub struct ServedModel {
    // What it is.
    pub(crate) name: String,
    pub(crate) version: u64,
    pub(crate) config: ModelConfig,
    // What was loaded.
    /// The runtime that loaded it; `None` for a model its upstream alone answers.
    pub(crate) runtime: Option<RuntimeIdentity>,
    pub(crate) model: Box<dyn LoadedModel>,
    /// The graph's signature with the configuration's overrides applied.
    pub(crate) signature: ModelSignature,
    pub(crate) max_batch_size: usize,
    /// The sessions the runtime was asked for.
    pub(crate) scheduling: Scheduling,
    pub(crate) labels: Option<Labels>,
    /// The image pipeline, when the configuration declares `[preprocess]`.
    pub(crate) image: Option<ImagePipeline>,
    /// Time the load took, backend session and image pipeline included.
    pub(crate) load_duration: std::time::Duration,
    /// How much the server's resident memory grew while this version loaded.
    pub(crate) resident_bytes: u64,
    // What it keeps while serving.
    /// The bound on this version's requests in flight.
    pub(crate) admission: Admission,
    /// This version's requests being decoded, run or encoded now (what an adaptive backend
    /// reads to tell overlapping requests from lone ones).
    pub(crate) at_work: WorkGauge,
    /// The queue that joins requests into batches, when `[dynamic_batching]` is on.
    pub(crate) batcher: Option<Arc<DynamicBatcher>>,
    /// Requests served by this version.
    pub(crate) stats: ModelStatistics,
    /// Where this version's requests are counted for Prometheus (see `accounting.rs`).
    pub(crate) metrics: RequestMetrics,
    /// The remote endpoint that may answer instead of, or besides, the local model.
    pub(crate) upstream: Option<ModelUpstream>,
    /// Last, so that it drops after everything above: hands the version's freed memory back.
    pub(crate) _returns_memory_when_dropped: ReturnMemoryOnDrop,
}

impl ServedModel {
    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version number.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The runtime's name for clients (Triton's `backend`; `upstream` for a model its upstream
    /// alone answers).
    pub fn backend_name(&self) -> &'static str {
        self.runtime.map_or("upstream", |runtime| runtime.backend)
    }

    /// Triton's `platform` for the model's metadata.
    pub fn platform(&self) -> &'static str {
        self.runtime.map_or("upstream", |runtime| runtime.platform)
    }

    /// The execution provider the model runs on (`CPUExecutionProvider`, `tract`, ...).
    pub fn execution_provider(&self) -> &str {
        self.model.execution_provider()
    }
}

/// The local side of a model answered by its upstream only: its declared signature, and no
/// graph to run.
struct NoLocalModel {
    signature: ModelSignature,
}

impl LoadedModel for NoLocalModel {
    fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    fn execution_provider(&self) -> &str {
        "upstream"
    }

    fn intra_op_threads(&self) -> usize {
        0
    }

    fn infer(
        &self,
        _inputs: &[outpost_core::NamedTensor],
        _outputs: &[String],
    ) -> Result<Vec<outpost_core::NamedTensor>, outpost_core::BackendError> {
        Err(outpost_core::BackendError::Inference(
            "this model has no local graph; its upstream answers".into(),
        ))
    }
}

fn failed_entry(found: &FoundModel, error: LoadError) -> ModelEntry {
    tracing::error!(model = %found.name, %error, "model not loaded");
    ModelEntry::failed(&found.name, error)
}

/// Reads a labels file that must lie inside the model directory.
fn load_labels(model_dir: &Path, file: &Path) -> Result<Labels, LoadError> {
    if !stays_inside_model_dir(file) {
        return Err(LoadError::LabelsOutsideModel(file.to_path_buf()));
    }
    let text =
        std::fs::read_to_string(model_dir.join(file)).map_err(|source| LoadError::Labels {
            file: file.to_path_buf(),
            source,
        })?;
    Ok(Labels {
        file: file.display().to_string(),
        labels: Arc::new(text.lines().map(str::to_string).collect()),
    })
}

/// Loads every version the model's policy selects, or only the default version when
/// `serving.toml` names one.
pub(crate) fn load_model(found: &FoundModel, context: &LoadContext<'_>) -> ModelEntry {
    let config =
        match ModelConfig::load_from_dir_over(&found.dir, context.upstreams.server_config()) {
            Ok(c) => c,
            Err(e) => return failed_entry(found, e.into()),
        };
    let upstream_only_found;
    let found = if found.versions.is_empty() && config.upstream_only() {
        // Nothing local to version: the upstream's answers are served as version 1.
        upstream_only_found = FoundModel {
            versions: vec![1],
            ..found.clone()
        };
        &upstream_only_found
    } else {
        found
    };
    if found.versions.is_empty() {
        let error = LoadError::NoVersions {
            dir: found.dir.clone(),
            model_file: config.model_filename.clone(),
        };
        return failed_entry(found, error);
    }
    let default_version = match serving_file::default_version(&found.dir) {
        Ok(v) => v,
        Err(e) => return failed_entry(found, e),
    };
    let selected = match default_version {
        Some(version) if !found.versions.contains(&version) => {
            let error = LoadError::DefaultVersionMissing {
                version,
                present: found.versions.clone(),
            };
            return failed_entry(found, error);
        }
        Some(version) => vec![version],
        None => config.version_policy.select(&found.versions),
    };
    if selected.is_empty() {
        let error = LoadError::NoVersionSelected {
            policy: config.version_policy.clone(),
            present: found.versions.clone(),
        };
        return failed_entry(found, error);
    }
    let versions = selected
        .into_iter()
        .map(|version| {
            let state = match load_one_version(found, version, &config, context) {
                Ok(model) => VersionState::Ready(Arc::new(model)),
                Err(reason) => VersionState::Failed(Arc::new(reason)),
            };
            (version, state)
        })
        .collect();
    // Parsing and optimising the graph leaves freed buffers in the allocator; hand them back.
    return_freed_memory();
    context.budget.note_models_changed();
    ModelEntry {
        name: found.name.clone(),
        error: None,
        versions,
        default_version,
        candidates: BTreeSet::new(),
    }
}

/// Loads one version with its own `model.toml` when its directory has one, else with
/// `model_config` (the model directory's); side files come from the same directory as the
/// configuration.
pub(crate) fn load_one_version(
    found: &FoundModel,
    version: u64,
    model_config: &ModelConfig,
    context: &LoadContext<'_>,
) -> Result<ServedModel, LoadError> {
    let version_dir = found.dir.join(version.to_string());
    let result = if version_dir.join(MODEL_CONFIG_FILE).is_file() {
        ModelConfig::load_from_dir_over(&version_dir, context.upstreams.server_config())
            .map_err(LoadError::from)
            .and_then(|config| load_version(found, version, &config, &version_dir, context))
    } else {
        load_version(found, version, model_config, &found.dir, context)
    };
    if let Err(reason) = &result {
        tracing::error!(model = %found.name, version, %reason, "model version failed to load");
    }
    result
}

fn load_version(
    found: &FoundModel,
    version: u64,
    config: &ModelConfig,
    config_dir: &Path,
    context: &LoadContext<'_>,
) -> Result<ServedModel, LoadError> {
    let labels = config
        .labels
        .as_deref()
        .map(|f| load_labels(config_dir, f))
        .transpose()?;
    let backends = context.backends;
    let defaults = context.defaults;
    if config.forward != ForwardMode::None && !context.outbox_open {
        return Err(LoadError::NoOutbox);
    }
    let upstream = context
        .upstreams
        .attach(config.upstream.as_ref(), &found.name)
        .map_err(LoadError::Upstream)?;
    let scheduling = config.scheduling(defaults.cpus, defaults.intra_op_threads);
    let resident_before = resident_bytes();
    let started = Instant::now();
    let at_work = WorkGauge::new();
    backends
        .check_model_settings(&config.runtime_settings)
        .map_err(LoadError::RuntimeSettings)?;
    let (runtime, chosen_by, loaded): (Option<RuntimeIdentity>, String, Box<dyn LoadedModel>) =
        if config.upstream_only() {
            let signature = config.declared_signature()?;
            (
                None,
                "answered by its upstream only".to_string(),
                Box::new(NoLocalModel { signature }),
            )
        } else {
            let path = found
                .dir
                .join(version.to_string())
                .join(&config.model_filename);
            if !path.is_file() {
                return Err(LoadError::MissingModelFile(path));
            }
            let chosen = backends
                .choose(&config.backend)
                .map_err(LoadError::NoRuntime)?;
            context.budget.make_room(&found.name, &path, &mut || {
                (context.evict_one_idle)(&found.name)
            })?;
            let loaded = chosen.backend.load(&LoadRequest {
                model_name: &found.name,
                model_path: &path,
                config,
                scheduling,
                memory: Arc::new(context.budget.clone()),
                parallel_idle_release: defaults.parallel_idle_release,
                at_work: at_work.clone(),
            })?;
            (Some(chosen.backend.identity()), chosen.reason, loaded)
        };
    let signature = config.apply_overrides(loaded.signature().clone())?;
    let max_batch_size = config.effective_max_batch_size(&signature);
    let batcher = config
        .effective_dynamic_batching(max_batch_size)?
        .map(|batching| {
            Arc::new(DynamicBatcher::new(
                BatchPolicy::new(max_batch_size, batching.preferred_batch_sizes.clone()),
                batching.max_queue_delay(),
            ))
        });
    let warmed_in = if config.warm_up && runtime.is_some() {
        super::warm_up::warm_up(loaded.as_ref(), &signature)?
    } else {
        None
    };
    let image = match &config.preprocess {
        None if config.postprocess.is_some() => {
            return Err(LoadError::PostprocessWithoutPreprocess)
        }
        None => None,
        Some(pre) => Some(ImagePipeline::new(
            pre,
            config.postprocess.as_ref(),
            &signature,
            labels.as_ref().map(|l| l.labels.clone()),
            config_dir,
        )?),
    };
    let load_duration = started.elapsed();
    let took = resident_bytes().saturating_sub(resident_before);
    if let Err(error) = context.budget.check_loaded(&found.name, took) {
        drop(loaded);
        drop(image);
        return_freed_memory();
        return Err(error.into());
    }
    tracing::info!(
        model = %found.name,
        version,
        backend = runtime.map_or("upstream", |r| r.backend),
        backend_chosen_by = %chosen_by,
        execution_provider = loaded.execution_provider(),
        intra_op_threads = loaded.intra_op_threads(),
        max_batch_size,
        dynamic_batching = batcher.is_some(),
        load_ms = load_duration.as_millis() as u64,
        warm_up_ms = warmed_in.map(|d| d.as_millis() as u64),
        resident_mib = took >> 20,
        "model version ready"
    );
    Ok(ServedModel {
        name: found.name.clone(),
        version,
        runtime,
        config: config.clone(),
        signature,
        max_batch_size,
        scheduling,
        labels,
        image,
        model: loaded,
        stats: ModelStatistics::default(),
        load_duration,
        admission: Admission::new(defaults.admission_capacity),
        at_work,
        resident_bytes: took,
        batcher,
        metrics: context.metrics.clone(),
        upstream,
        _returns_memory_when_dropped: ReturnMemoryOnDrop,
    })
}
