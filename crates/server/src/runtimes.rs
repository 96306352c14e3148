//! Probing the runtimes compiled into this build (cargo features `ort` and `tract`) for the
//! engine: ONNX Runtime is usable when its library loads; tract always is.

use std::sync::Arc;

use outpost_core::Backend;
use outpost_engine::backends::{ArenaGauge, ArenaUsage, Backends};
use outpost_engine::config::OrtConfig;

/// Probes the runtimes: loads ONNX Runtime's library (`ort.library_path`, or the search order
/// narrowed by `ort.flavour`) with its shared CPU arena keeping at most
/// `ort.cpu_arena_max_kept_bytes`, else a quarter of `memory_budget_bytes`, else the arena's
/// default (256 MiB).
pub fn probe(ort: &OrtConfig, memory_budget_bytes: Option<u64>) -> Backends {
    let probed = probe_ort(ort, memory_budget_bytes);
    match &probed.backend {
        Ok(_) => {}
        Err(reason) => tracing::warn!(%reason, "ONNX Runtime is not available"),
    }
    Backends::new(probed.backend, probe_tract(), probed.version, probed.arena)
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

/// ONNX Runtime as probed: the backend or why not, its version, its arena.
struct ProbedOrt {
    backend: Result<Arc<dyn Backend>, String>,
    version: Option<String>,
    arena: Option<ArenaGauge>,
}

#[cfg(feature = "ort")]
fn probe_ort(ort: &OrtConfig, memory_budget_bytes: Option<u64>) -> ProbedOrt {
    let defaults = outpost_backend_ort::CpuArenaSettings::default();
    let arena = outpost_backend_ort::CpuArenaSettings {
        max_kept_bytes: ort
            .cpu_arena_max_kept_bytes
            .or(memory_budget_bytes.map(|budget| budget / 4))
            .unwrap_or(defaults.max_kept_bytes),
        idle_release: std::time::Duration::from_millis(ort.cpu_arena_idle_release_ms),
    };
    let search = outpost_backend_ort::LibrarySearch {
        cache_folders: ort.flavour.cache_folders(),
        beyond_the_cache: ort.flavour.searches_beyond_the_cache(),
    };
    match outpost_backend_ort::OrtBackend::new(ort.library_path.as_deref(), search, arena) {
        Ok(backend) => {
            let version = backend.library().version.clone();
            let arena = backend.cpu_arena().cloned().map(|arena| {
                let gauge: ArenaGauge = Arc::new(move || {
                    let usage = arena.usage();
                    ArenaUsage {
                        in_use_bytes: usage.in_use_bytes,
                        kept_bytes: usage.cached_bytes,
                        max_kept_bytes: arena.settings().max_kept_bytes,
                    }
                });
                gauge
            });
            ProbedOrt {
                backend: Ok(Arc::new(backend)),
                version: Some(version),
                arena,
            }
        }
        Err(e) => ProbedOrt {
            backend: Err(e.to_string()),
            version: None,
            arena: None,
        },
    }
}

#[cfg(not(feature = "ort"))]
fn probe_ort(_ort: &OrtConfig, _memory_budget_bytes: Option<u64>) -> ProbedOrt {
    ProbedOrt {
        backend: Err(
            "this build of Outpost has no ONNX Runtime support (cargo feature 'ort')".to_string(),
        ),
        version: None,
        arena: None,
    }
}

#[cfg(feature = "tract")]
#[allow(
    clippy::unnecessary_wraps,
    reason = "the build without tract answers an error"
)]
fn probe_tract() -> Result<Arc<dyn Backend>, String> {
    Ok(Arc::new(outpost_backend_tract::TractBackend::new()))
}

#[cfg(not(feature = "tract"))]
fn probe_tract() -> Result<Arc<dyn Backend>, String> {
    Err("this build of Outpost has no tract support (cargo feature 'tract')".to_string())
}
