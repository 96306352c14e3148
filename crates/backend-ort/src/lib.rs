//! ONNX Runtime backend.
//!
//! The runtime library is loaded at run time (`ort` with `load-dynamic`) from the first usable
//! place in a documented search order ([`library`]); a missing or broken library is reported as a
//! [`BackendError`], never a panic. Execution providers are registered in the order the model's
//! configuration lists them ([`providers`]), and each model keeps a small pool of sessions
//! ([`session_pool`]) so that concurrent requests do not share one mutable session. Its usage
//! telemetry is off unless a program chooses otherwise ([`telemetry`]).

mod convert;
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

pub use library::{LibraryCandidate, OrtLibrary};
use session_pool::SessionPool;

/// ONNX Runtime, once its library has been loaded.
pub struct OrtBackend {
    environment: Environment,
    library: OrtLibrary,
}

impl OrtBackend {
    /// Loads the ONNX Runtime library (an explicit path, or the search order in [`library`])
    /// and creates the process-wide environment.
    pub fn new(explicit_library: Option<&Path>) -> Result<OrtBackend, BackendError> {
        // ONNX Runtime allows one library and one environment per process: the first successful
        // initialisation is kept and shared by every later backend value.
        static RUNTIME: Mutex<Option<(Environment, OrtLibrary)>> = Mutex::new(None);
        let mut runtime = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((environment, library)) = runtime.as_ref() {
            return Ok(OrtBackend {
                environment: environment.clone(),
                library: library.clone(),
            });
        }
        let library = library::load(explicit_library)?;
        let environment = ort::init()
            .with_name("outpost")
            .with_telemetry(!telemetry::is_opted_out())
            .build()
            .map_err(|e| {
                BackendError::LibraryUnavailable(format!(
                    "cannot create the ONNX Runtime environment: {e}"
                ))
            })?;
        *runtime = Some((environment.clone(), library.clone()));
        Ok(OrtBackend {
            environment,
            library,
        })
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
        let builder = Session::builder(&self.environment)
            .map_err(|e| load_error(format!("cannot create a session builder: {e}")))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(intra)
            .map_err(|e| load_error(e.to_string()))?
            .with_inter_threads(inter)
            .map_err(|e| load_error(e.to_string()))?
            .with_memory_pattern(request.config.memory.memory_pattern)
            .map_err(|e| load_error(e.to_string()))?
            // The CPU arena keeps the buffers it allocated for reuse (see MemoryConfig).
            .with_execution_providers([ort::ep::CPU::default()
                .with_arena_allocator(request.config.memory.cpu_arena)
                .build()])
            .map_err(|e| load_error(e.to_string()))?;
        let (mut builder, provider) = providers::register(
            builder,
            &request.config.execution_providers,
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
        inputs: Vec<NamedTensor>,
        outputs: &[String],
    ) -> Result<Vec<NamedTensor>, BackendError> {
        let mut session = self.sessions.acquire();
        convert::run(&mut session, &inputs, outputs).map_err(|e| {
            tracing::debug!(model = %self.path.display(), error = %e, "onnxruntime run failed");
            e
        })
    }
}
