//! How one ONNX Runtime session of a model is made: everything the load was given, kept so that
//! sessions can also be made later (the parallel sessions of [`crate::session_pool`]).

use std::path::PathBuf;
use std::sync::Arc;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use outpost_core::{BackendError, LoadRequest};

use crate::cpu_arena::CpuArena;
use crate::execution_provider::ExecutionProviderSpec;
use crate::model_settings::OrtModelSettings;
use crate::providers;

/// What makes a session of one model.
pub(crate) struct SessionRecipe {
    environment: Environment,
    arena: Option<Arc<CpuArena>>,
    pub(crate) model_name: String,
    pub(crate) model_path: PathBuf,
    settings: OrtModelSettings,
    inter_op: usize,
}

impl SessionRecipe {
    pub(crate) fn new(
        environment: &Environment,
        arena: Option<&Arc<CpuArena>>,
        request: &LoadRequest<'_>,
        settings: OrtModelSettings,
    ) -> SessionRecipe {
        SessionRecipe {
            environment: environment.clone(),
            arena: arena.cloned(),
            model_name: request.model_name.to_string(),
            model_path: request.model_path.to_path_buf(),
            settings,
            inter_op: request.config.threads.inter_op.unwrap_or(1).max(1),
        }
    }

    /// The same recipe on the CPU provider alone (what the parallel sessions of a model that
    /// ended up on the CPU use, so that unavailable providers are not tried and warned about
    /// again).
    pub(crate) fn cpu_only(&self) -> SessionRecipe {
        let mut settings = self.settings.clone();
        settings.execution_providers = vec![ExecutionProviderSpec::CPU];
        SessionRecipe {
            environment: self.environment.clone(),
            arena: self.arena.clone(),
            model_name: self.model_name.clone(),
            model_path: self.model_path.clone(),
            settings,
            inter_op: self.inter_op,
        }
    }

    /// Makes one session of `intra_op` threads, registering the model's execution providers;
    /// answers it and the providers in use (`"CPUExecutionProvider"` on the CPU alone).
    pub(crate) fn make(&self, intra_op: usize) -> Result<(Session, String), BackendError> {
        let load_error = |message: String| BackendError::Load {
            path: self.model_path.clone(),
            message,
        };
        // With `cpu_arena`, the session takes its CPU memory from the shared arena; its own
        // arena stays off either way (see ModelMemoryConfig).
        let shared_arena = self.settings.memory.cpu_arena && self.arena.is_some();
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
            .with_intra_threads(intra_op.max(1))
            .map_err(|e| load_error(e.to_string()))?
            .with_inter_threads(self.inter_op)
            .map_err(|e| load_error(e.to_string()))?
            .with_memory_pattern(self.settings.memory.memory_pattern)
            .map_err(|e| load_error(e.to_string()))?;
        let (mut builder, provider) = providers::register(
            builder,
            &self.settings.execution_providers,
            &self.settings.execution_provider_options,
            ort::ep::CPU::default().with_arena_allocator(false).build(),
            &self.model_name,
        )?;
        let session = builder
            .commit_from_file(&self.model_path)
            .map_err(|e| load_error(e.to_string()))?;
        // What making the session took for its own work (graph transformations, weight
        // packing) is not asked for again.
        self.release_arena_kept();
        Ok((session, provider))
    }

    /// Hands the blocks the shared CPU arena keeps for reuse back to the system (after a
    /// session is made or dropped: sizes not asked for again soon).
    pub(crate) fn release_arena_kept(&self) {
        if let Some(arena) = &self.arena {
            arena.release_kept();
        }
    }

    /// What one more session is expected to take: twice the model file, the estimate the
    /// server's memory budget uses for a load.
    pub(crate) fn estimated_bytes(&self) -> u64 {
        std::fs::metadata(&self.model_path).map_or(0, |m| m.len().saturating_mul(2))
    }
}
