//! The runtimes models can load on, as the [`Backend`] trait: each usable one, or why it is not
//! (the server probes them), and the choice of one for each model. `auto` picks ONNX Runtime
//! when usable, else tract, and the choice is logged with its reason.

use std::sync::Arc;

use outpost_core::{Backend, BackendChoice, BackendKind};

/// Bytes ONNX Runtime's shared CPU arena has handed out and keeps for reuse, and the most it
/// keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArenaUsage {
    /// Bytes handed out to sessions now.
    pub in_use_bytes: u64,
    /// Freed bytes kept for reuse.
    pub kept_bytes: u64,
    /// The most freed bytes it keeps.
    pub max_kept_bytes: u64,
}

/// Reads the shared CPU arena's usage (for `/metrics`).
pub type ArenaGauge = Arc<dyn Fn() -> ArenaUsage + Send + Sync>;

/// The runtimes compiled in, and why any is unusable.
pub struct Backends {
    ort: Result<Arc<dyn Backend>, String>,
    tract: Result<Arc<dyn Backend>, String>,
    ort_version: Option<String>,
    ort_arena: Option<ArenaGauge>,
}

impl Backends {
    /// The runtimes as probed: each one, or why it cannot be used; with ONNX Runtime's version
    /// and a reader of its shared CPU arena when it loaded.
    pub fn new(
        ort: Result<Arc<dyn Backend>, String>,
        tract: Result<Arc<dyn Backend>, String>,
        ort_version: Option<String>,
        ort_arena: Option<ArenaGauge>,
    ) -> Backends {
        Backends {
            ort,
            tract,
            ort_version,
            ort_arena,
        }
    }

    /// Reads ONNX Runtime's shared CPU arena, when it is in place.
    pub fn ort_arena(&self) -> Option<ArenaGauge> {
        self.ort_arena.clone()
    }

    /// The ONNX Runtime version loaded, if any.
    pub fn ort_version(&self) -> Option<&str> {
        self.ort_version.as_deref()
    }

    /// The runtime for a model's `backend` setting, or why none can run it.
    pub fn choose(&self, choice: BackendChoice) -> Result<Arc<dyn Backend>, String> {
        match choice {
            BackendChoice::Ort => self
                .ort
                .clone()
                .map_err(|e| format!("backend 'ort' requested but {e}")),
            BackendChoice::Tract => self
                .tract
                .clone()
                .map_err(|e| format!("backend 'tract' requested but {e}")),
            BackendChoice::Auto => match (&self.ort, &self.tract) {
                (Ok(ort), _) => Ok(ort.clone()),
                (Err(_), Ok(tract)) => Ok(tract.clone()),
                (Err(ort), Err(tract)) => Err(format!(
                    "no runtime is usable: ONNX Runtime: {ort}; tract: {tract}"
                )),
            },
        }
    }

    /// Why `auto` chose what it chose, for the load log.
    pub fn auto_reason(&self, chosen: BackendKind) -> &'static str {
        match chosen {
            BackendKind::Ort => "ONNX Runtime library loaded",
            BackendKind::Tract => "ONNX Runtime library not available, using tract",
            BackendKind::Upstream => "answered by its upstream only",
        }
    }
}
