//! Probing the runtimes for the engine: ONNX Runtime (cargo feature `ort`) is usable when its
//! library loads; a runtime linked into the binary (tract) is usable when the binary names it in
//! [`LinkedRuntimes`].

use std::sync::Arc;

use outpost_core::Backend;
use outpost_engine::backends::{ArenaGauge, ArenaUsage, Backends};
use outpost_engine::config::OrtConfig;

/// The runtimes a binary links into itself, each as its backend's constructor. The binary names
/// them, not a cargo feature of this crate: features are unified across a workspace build, so a
/// feature here would link tract into every binary built with it, the server images' included.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkedRuntimes {
    /// tract's backend (crates/backend-tract), when the binary links it.
    pub tract: Option<fn() -> Arc<dyn Backend>>,
}

/// Probes the runtimes: loads ONNX Runtime's library (`ort.library_path`, or the search order
/// narrowed by `ort.flavour`) with its shared CPU arena keeping at most
/// `ort.cpu_arena_max_kept_bytes`, else a quarter of `memory_budget_bytes`, else the arena's
/// default (256 MiB); and builds the linked runtimes.
pub fn probe(
    ort: &OrtConfig,
    memory_budget_bytes: Option<u64>,
    linked: LinkedRuntimes,
) -> Backends {
    let probed = probe_ort(ort, memory_budget_bytes);
    match &probed.backend {
        Ok(_) => {}
        Err(reason) => tracing::warn!(%reason, "ONNX Runtime is not available"),
    }
    let tract = linked.tract.map(|tract| tract()).ok_or_else(|| {
        "this binary does not link tract (`outpost` built with the cargo feature 'tract' does; \
         `outpost-ort`, the server images' binary, does not)"
            .to_string()
    });
    Backends::new(probed.backend, tract, probed.version, probed.arena)
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
