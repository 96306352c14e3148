//! Which runtimes this server can use, and the choice of one for each model.
//!
//! ONNX Runtime is usable when its library loads; tract always is (when compiled in). `auto`
//! picks ONNX Runtime when usable, else tract, and the choice is logged with its reason.

use std::path::Path;
use std::sync::Arc;

use outpost_core::{Backend, BackendChoice, BackendKind};

use crate::config::OrtConfig;

/// The runtimes compiled in, and why any is unusable.
pub struct Backends {
    ort: Result<Arc<dyn Backend>, String>,
    tract: Result<Arc<dyn Backend>, String>,
    ort_version: Option<String>,
}

impl Backends {
    /// Probes the runtimes: loads ONNX Runtime's library (`ort_library` or the search order).
    pub fn probe(ort_library: Option<&Path>) -> Backends {
        let (ort, ort_version) = probe_ort(ort_library);
        match &ort {
            Ok(_) => {}
            Err(reason) => tracing::warn!(%reason, "ONNX Runtime is not available"),
        }
        Backends {
            ort,
            tract: probe_tract(),
            ort_version,
        }
    }

    /// Only the given runtimes, for tests.
    pub fn from_parts(
        ort: Result<Arc<dyn Backend>, String>,
        tract: Result<Arc<dyn Backend>, String>,
    ) -> Backends {
        Backends {
            ort,
            tract,
            ort_version: None,
        }
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
        }
    }
}

/// Settings that must be in place before any runtime library loads and before the process
/// starts other threads: ONNX Runtime's telemetry opt-out, unless `ort.telemetry` allows it.
/// Returns whether ONNX Runtime telemetry stays off.
pub fn prepare_process(ort: &OrtConfig) -> bool {
    #[cfg(feature = "ort")]
    {
        if !ort.telemetry {
            outpost_backend_ort::telemetry::opt_out();
        }
        outpost_backend_ort::telemetry::is_opted_out()
    }
    #[cfg(not(feature = "ort"))]
    {
        let _ = ort;
        true
    }
}

#[cfg(feature = "ort")]
fn probe_ort(library: Option<&Path>) -> (Result<Arc<dyn Backend>, String>, Option<String>) {
    match outpost_backend_ort::OrtBackend::new(library) {
        Ok(backend) => {
            let version = backend.library().version.clone();
            (Ok(Arc::new(backend)), Some(version))
        }
        Err(e) => (Err(e.to_string()), None),
    }
}

#[cfg(not(feature = "ort"))]
fn probe_ort(_library: Option<&Path>) -> (Result<Arc<dyn Backend>, String>, Option<String>) {
    (
        Err("this build of Outpost has no ONNX Runtime support (cargo feature 'ort')".to_string()),
        None,
    )
}

#[cfg(feature = "tract")]
fn probe_tract() -> Result<Arc<dyn Backend>, String> {
    Ok(Arc::new(outpost_backend_tract::TractBackend::new()))
}

#[cfg(not(feature = "tract"))]
fn probe_tract() -> Result<Arc<dyn Backend>, String> {
    Err("this build of Outpost has no tract support (cargo feature 'tract')".to_string())
}
