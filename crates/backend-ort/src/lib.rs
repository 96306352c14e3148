//! ONNX Runtime backend.
//!
//! The runtime library is loaded at run time (`ort` with `load-dynamic`) from the first usable
//! place in a documented search order ([`library`]); a missing or broken library is reported as a
//! [`BackendError`], never a panic. Execution providers are registered in the order the model's
//! configuration lists them ([`providers`]), and each model keeps a pool of sessions
//! ([`session_pool`], made by [`session_recipe`]) that follows its scheduling: fixed sessions,
//! or a latency session with parallel sessions made while requests overlap. Its usage
//! telemetry is off unless a program chooses otherwise ([`telemetry`]). Sessions that keep an
//! arena share one bounded CPU arena that hands free memory back when idle ([`cpu_arena`]).
//!
//! A binary registers the runtime as [`OrtRuntime`] ([`runtime`]): its `[ort]` section of the
//! server configuration ([`settings`]) and its keys of `model.toml` ([`model_settings`]:
//! execution providers and their options ([`execution_provider`], [`provider_options`]), memory).

mod block_cache;
mod convert;
pub mod cpu_arena;
pub mod execution_provider;
pub mod library;
pub mod model_settings;
pub mod provider_options;
pub mod providers;
pub mod runtime;
mod session_pool;
mod session_recipe;
pub mod settings;
mod signature;
pub mod telemetry;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ort::environment::Environment;
use outpost_core::{
    Backend, BackendError, LoadRequest, LoadedModel, ModelSignature, NamedTensor, RuntimeGauge,
    RuntimeIdentity, Scheduling,
};

pub use block_cache::CacheUsage;
pub use cpu_arena::{CpuArena, CpuArenaSettings};
pub use execution_provider::{ExecutionProviderKind, ExecutionProviderSpec};
pub use library::{LibraryCandidate, LibrarySearch, OrtLibrary};
pub use model_settings::{ModelMemoryConfig, OrtModelSettings};
pub use provider_options::ExecutionProviderOptions;
pub use runtime::OrtRuntime;
use session_pool::{AdaptiveSettings, SessionPool};
use session_recipe::SessionRecipe;
pub use settings::{OrtLibraryFlavour, OrtSettings};

/// The runtime's name: `backend = "ort"` in model.toml, `[ort]` in the server configuration.
pub const NAME: &str = "ort";

/// The providers a session on the CPU alone reports.
const CPU_ALONE: &str = "CPUExecutionProvider";

/// ONNX Runtime, once its library has been loaded.
pub struct OrtBackend {
    environment: Environment,
    library: OrtLibrary,
    /// The shared CPU arena; `None` where the library refused it (sessions then allocate
    /// without an arena).
    arena: Option<Arc<CpuArena>>,
}

impl OrtBackend {
    /// Loads the ONNX Runtime library (an explicit path, or `search` through the places in
    /// [`library`]), creates the process-wide environment and registers the shared CPU arena.
    pub fn new(
        explicit_library: Option<&Path>,
        search: LibrarySearch,
        arena: CpuArenaSettings,
    ) -> Result<OrtBackend, BackendError> {
        // ONNX Runtime allows one library and one environment per process: the first successful
        // initialisation (with its arena settings) is kept and shared by every later backend.
        type Runtime = (Environment, OrtLibrary, Option<Arc<CpuArena>>);
        static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);
        let mut runtime = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((environment, library, arena)) = runtime.as_ref() {
            return Ok(OrtBackend {
                environment: environment.clone(),
                library: library.clone(),
                arena: arena.clone(),
            });
        }
        let library = library::load(explicit_library, search)?;
        let environment = ort::init()
            .with_name("outpost")
            .with_telemetry(!telemetry::is_opted_out())
            .build()
            .map_err(|e| {
                BackendError::LibraryUnavailable(format!(
                    "the ONNX Runtime library is not usable: cannot create its environment: {e}"
                ))
            })?;
        let arena = match CpuArena::register(&environment, arena) {
            Ok(arena) => Some(Arc::new(arena)),
            Err(reason) => {
                tracing::warn!(%reason, "no shared CPU arena: sessions allocate without one");
                None
            }
        };
        *runtime = Some((environment.clone(), library.clone(), arena.clone()));
        Ok(OrtBackend {
            environment,
            library,
            arena,
        })
    }

    /// The shared CPU arena, where the library took it.
    pub fn cpu_arena(&self) -> Option<&Arc<CpuArena>> {
        self.arena.as_ref()
    }

    /// Where the library was loaded from and its version.
    pub fn library(&self) -> &OrtLibrary {
        &self.library
    }
}

/// How ONNX Runtime names itself to clients.
pub const IDENTITY: RuntimeIdentity = RuntimeIdentity {
    backend: "onnxruntime",
    platform: "onnxruntime_onnx",
};

impl Backend for OrtBackend {
    fn identity(&self) -> RuntimeIdentity {
        IDENTITY
    }

    fn version(&self) -> Option<String> {
        Some(self.library.version.clone())
    }

    fn gauges(&self) -> Vec<RuntimeGauge> {
        let Some(arena) = &self.arena else {
            return Vec::new();
        };
        let usage = arena.usage();
        let gauge = |name: &str, help: &str, value: u64| RuntimeGauge {
            name: name.to_string(),
            help: help.to_string(),
            value: value as i64,
        };
        vec![
            gauge(
                "outpost_ort_cpu_arena_in_use_bytes",
                "Memory ONNX Runtime's shared CPU arena has handed out (weights and tensors of models with cpu_arena).",
                usage.in_use_bytes,
            ),
            gauge(
                "outpost_ort_cpu_arena_kept_bytes",
                "Freed memory ONNX Runtime's shared CPU arena keeps for reuse until it has been idle for ort.cpu_arena_idle_release_ms.",
                usage.cached_bytes,
            ),
            gauge(
                "outpost_ort_cpu_arena_max_kept_bytes",
                "Most freed memory ONNX Runtime's shared CPU arena keeps (ort.cpu_arena_max_kept_bytes).",
                arena.settings().max_kept_bytes,
            ),
        ]
    }

    fn load(&self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedModel>, BackendError> {
        let settings = OrtModelSettings::read(&request.config.runtime_settings)?;
        let parameters = describe_settings(&settings);
        let recipe = SessionRecipe::new(&self.environment, self.arena.as_ref(), request, settings);
        let (first, provider) = recipe.make(request.scheduling.intra_op_threads())?;
        let signature = signature::derive(&first, request.model_path)?;
        let sessions = match request.scheduling {
            // Parallel sessions share the CPUs; an accelerator runs one session.
            Scheduling::Adaptive {
                parallel_sessions, ..
            } if provider == CPU_ALONE => SessionPool::adaptive(
                first,
                AdaptiveSettings {
                    recipe: recipe.cpu_only(),
                    parallel_sessions,
                    memory: request.memory.clone(),
                    idle_release: request.parallel_idle_release,
                    at_work: request.at_work.clone(),
                },
            ),
            Scheduling::Adaptive { .. } => SessionPool::fixed(vec![first]),
            Scheduling::Fixed {
                instances,
                intra_op,
            } => {
                let mut sessions = vec![first];
                for _ in 1..instances {
                    sessions.push(recipe.make(intra_op)?.0);
                }
                SessionPool::fixed(sessions)
            }
        };
        Ok(Box::new(OrtModel {
            signature,
            parameters: parameters.finish(&provider),
            execution_provider: provider,
            intra_op_threads: request.scheduling.intra_op_threads(),
            path: request.model_path.to_path_buf(),
            sessions,
        }))
    }
}

/// A model loaded into ONNX Runtime sessions.
struct OrtModel {
    signature: ModelSignature,
    parameters: Vec<(String, String)>,
    execution_provider: String,
    intra_op_threads: usize,
    path: PathBuf,
    sessions: Arc<SessionPool>,
}

impl LoadedModel for OrtModel {
    fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    fn execution_provider(&self) -> &str {
        &self.execution_provider
    }

    fn intra_op_threads(&self) -> usize {
        self.intra_op_threads
    }

    fn sessions(&self) -> usize {
        self.sessions.sessions()
    }

    fn on_accelerator(&self) -> bool {
        ["CUDA", "Tensorrt", "ROCM"]
            .iter()
            .any(|p| self.execution_provider.starts_with(p))
    }

    fn parameters(&self) -> Vec<(String, String)> {
        self.parameters.clone()
    }

    fn infer(
        &self,
        inputs: &[NamedTensor],
        outputs: &[String],
    ) -> Result<Vec<NamedTensor>, BackendError> {
        let mut session = self.sessions.acquire();
        convert::run(&mut session, inputs, outputs).map_err(|e| {
            tracing::debug!(model = %self.path.display(), error = %e, "onnxruntime run failed");
            e
        })
    }
}

/// What a model's settings add to its configuration as clients read it, once its providers in
/// use are known.
struct SettingsDescription {
    /// The `-or-cpu` providers asked for, by ONNX Runtime's names.
    fallible: Vec<&'static str>,
    /// Each provider's options as model.toml gave them.
    options: Vec<(&'static str, String)>,
}

fn describe_settings(settings: &OrtModelSettings) -> SettingsDescription {
    SettingsDescription {
        fallible: settings
            .execution_providers
            .iter()
            .filter(|spec| spec.fallback_to_cpu)
            .map(|spec| spec.kind.onnxruntime_name())
            .collect(),
        options: settings.execution_provider_options.describe(),
    }
}

impl SettingsDescription {
    /// `execution_providers_unavailable` (the `-or-cpu` providers not in use, so that a model
    /// that fell back says so) and `execution_provider_options.<provider>`.
    fn finish(self, in_use: &str) -> Vec<(String, String)> {
        let unavailable: Vec<&str> = self
            .fallible
            .into_iter()
            .filter(|name| !in_use.split(',').any(|used| used == *name))
            .collect();
        let mut parameters = Vec::new();
        if !unavailable.is_empty() {
            parameters.push((
                "execution_providers_unavailable".to_string(),
                unavailable.join(","),
            ));
        }
        for (provider, options) in self.options {
            parameters.push((format!("execution_provider_options.{provider}"), options));
        }
        parameters
    }
}
