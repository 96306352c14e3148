//! ONNX Runtime backend.
//!
//! The runtime library is loaded at run time (`ort` with `load-dynamic`) from the first usable
//! place in a documented search order ([`library`]); a missing or broken library is reported as a
//! [`BackendError`], never a panic. Execution providers are registered in the order the model's
//! configuration lists them ([`providers`]), and each model keeps a small pool of sessions
//! ([`session_pool`]) so that concurrent requests do not share one mutable session. Its usage
//! telemetry is off unless a program chooses otherwise ([`telemetry`]). Sessions that keep an
//! arena share one bounded CPU arena that hands free memory back when idle ([`cpu_arena`]).

mod block_cache;
mod convert;
pub mod cpu_arena;
pub mod library;
pub mod providers;
mod session_pool;
mod signature;
pub mod telemetry;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use outpost_core::{
    Backend, BackendError, BackendKind, LoadRequest, LoadedModel, ModelSignature, NamedTensor,
};

pub use block_cache::CacheUsage;
pub use cpu_arena::{CpuArena, CpuArenaSettings};
pub use library::{LibraryCandidate, LibrarySearch, OrtLibrary};
use session_pool::SessionPool;

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
                    "cannot create the ONNX Runtime environment: {e}"
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

    /// Builds one session for `request`, registering its execution providers.
    fn build_session(
        &self,
        request: &LoadRequest<'_>,
        intra: usize,
        inter: usize,
    ) -> Result<(Session, String), BackendError> {
        let load_error = |message: String| BackendError::Load {
            path: request.model_path.to_path_buf(),
            message,
        };
        // With `cpu_arena`, the session takes its CPU memory from the shared arena; its own
        // arena stays off either way (see ModelMemoryConfig).
        let shared_arena = request.config.memory.cpu_arena && self.arena.is_some();
        let mut builder = Session::builder(&self.environment)
            .map_err(|e| load_error(format!("cannot create a session builder: {e}")))?;
        if shared_arena {
            builder = builder
                .with_env_allocators()
                .map_err(|e| load_error(e.to_string()))?;
        }
        let builder = builder
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(intra)
            .map_err(|e| load_error(e.to_string()))?
            .with_inter_threads(inter)
            .map_err(|e| load_error(e.to_string()))?
            .with_memory_pattern(request.config.memory.memory_pattern)
            .map_err(|e| load_error(e.to_string()))?;
        let (mut builder, provider) = providers::register(
            builder,
            &request.config.execution_providers,
            &request.config.execution_provider_options,
            ort::ep::CPU::default().with_arena_allocator(false).build(),
            request.model_name,
        )?;
        let session = builder
            .commit_from_file(request.model_path)
            .map_err(|e| load_error(e.to_string()))?;
        Ok((session, provider))
    }
}

impl Backend for OrtBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Ort
    }

    fn load(&self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedModel>, BackendError> {
        let intra = request
            .config
            .threads
            .intra_op
            .unwrap_or(request.default_intra_op_threads)
            .max(1);
        let inter = request.config.threads.inter_op.unwrap_or(1).max(1);
        let mut sessions = Vec::with_capacity(request.config.instances);
        let mut provider = String::new();
        for _ in 0..request.config.instances {
            let (session, used) = self.build_session(request, intra, inter)?;
            provider = used;
            sessions.push(session);
        }
        let signature = signature::derive(&sessions[0], request.model_path)?;
        if let Some(arena) = &self.arena {
            // What the load took for its own work (graph transformations, weight packing) is
            // not asked for again.
            arena.release_kept();
        }
        Ok(Box::new(OrtModel {
            signature,
            execution_provider: provider,
            intra_op_threads: intra,
            path: request.model_path.to_path_buf(),
            sessions: Arc::new(SessionPool::new(sessions)),
        }))
    }
}

/// A model loaded into ONNX Runtime sessions.
struct OrtModel {
    signature: ModelSignature,
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
