//! The memory budget that governs model loading. Models may use the container's memory limit less
//! a headroom (or a configured budget); what counts is the server's anonymous resident memory
//! (heap, weights, runtime buffers: what the kernel cannot drop under pressure), while the
//! headroom leaves room for the code and page cache the kernel can reclaim. Before a
//! version loads, the server checks that its estimate (twice its file: the parsed graph and the
//! runtime's own copy of the weights) still fits; after, that what it really took does. A load
//! that does not fit is refused with both figures, or, when configured, the least recently used
//! idle models are unloaded to make room. Each version's measured cost is kept and exported.
//! Request bodies in flight share the same budget ([`crate::body_memory`]): a load counts them
//! as memory in use, and they get what the loaded models leave.

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use crate::body_memory::BodyMemory;
use crate::config::MemoryConfig;
use crate::container::ContainerLimits;
use crate::repository::{ModelRepository, VersionState};

const MIB: f64 = 1024.0 * 1024.0;

/// Bytes in MiB, to one decimal, for messages.
pub(crate) fn mib(bytes: u64) -> f64 {
    (bytes as f64 / MIB * 10.0).round() / 10.0
}

/// Why a model version was not loaded for lack of memory.
#[derive(Debug, Error, PartialEq)]
pub enum MemoryError {
    #[error("not enough memory for model '{model}': it needs about {needed_mib} MiB (twice its {file_mib} MiB file), the server's heap and the request bodies in flight already hold {in_use_mib} MiB of its {budget_mib} MiB memory budget")]
    WouldNotFit {
        model: String,
        needed_mib: f64,
        file_mib: f64,
        in_use_mib: f64,
        budget_mib: f64,
    },
    #[error("not enough memory for model '{model}': it took {took_mib} MiB, which leaves the server at {in_use_mib} MiB, over its {budget_mib} MiB memory budget; unloaded again")]
    DidNotFit {
        model: String,
        took_mib: f64,
        in_use_mib: f64,
        budget_mib: f64,
    },
}

/// The budget, whether idle models may be unloaded to keep within it, and the request bodies
/// it holds room for.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    budget_bytes: Option<u64>,
    evict_idle_models: bool,
    bodies: Arc<BodyMemory>,
}

impl MemoryBudget {
    /// The configured budget, else the container's limit less the headroom; none without either.
    /// A request body turned away for lack of room suggests retrying after `retry_after_secs`.
    pub fn new(
        config: &MemoryConfig,
        container: &ContainerLimits,
        retry_after_secs: u64,
    ) -> MemoryBudget {
        let budget_bytes = config.budget_bytes.or_else(|| {
            container
                .memory_limit_bytes
                .map(|limit| limit.saturating_sub(config.headroom_bytes))
        });
        let bodies = BodyMemory::new(budget_bytes, retry_after_secs);
        bodies.set_models_bytes(resident_bytes());
        MemoryBudget {
            budget_bytes,
            evict_idle_models: config.evict_idle_models,
            bodies,
        }
    }

    pub fn unlimited() -> MemoryBudget {
        MemoryBudget {
            budget_bytes: None,
            evict_idle_models: false,
            bodies: BodyMemory::new(None, 1),
        }
    }

    pub fn budget_bytes(&self) -> Option<u64> {
        self.budget_bytes
    }

    /// The room request bodies reserve from.
    pub fn bodies(&self) -> &Arc<BodyMemory> {
        &self.bodies
    }

    /// Measures what the loaded models hold now, after a load or unload: bodies get the rest.
    pub fn note_models_changed(&self) {
        self.bodies.set_models_bytes(resident_bytes());
    }

    /// Checks, before loading `model` from `file`, that its estimate fits; unloads idle models
    /// first when allowed (never `model` itself).
    pub fn make_room(
        &self,
        model: &str,
        file: &Path,
        repository: &ModelRepository,
    ) -> Result<(), MemoryError> {
        let Some(budget) = self.budget_bytes else {
            return Ok(());
        };
        let file_bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let needed = file_bytes.saturating_mul(2);
        loop {
            let in_use = resident_bytes().saturating_add(self.bodies.reserved_bytes());
            if in_use.saturating_add(needed) <= budget {
                return Ok(());
            }
            if !(self.evict_idle_models && evict_least_recently_used(repository, model)) {
                return Err(MemoryError::WouldNotFit {
                    model: model.to_string(),
                    needed_mib: mib(needed),
                    file_mib: mib(file_bytes),
                    in_use_mib: mib(in_use),
                    budget_mib: mib(budget),
                });
            }
        }
    }

    /// Checks, after `model` loaded and took `took_bytes`, that the server is within its budget.
    pub fn check_loaded(&self, model: &str, took_bytes: u64) -> Result<(), MemoryError> {
        let Some(budget) = self.budget_bytes else {
            return Ok(());
        };
        let in_use = resident_bytes();
        if in_use <= budget {
            return Ok(());
        }
        Err(MemoryError::DidNotFit {
            model: model.to_string(),
            took_mib: mib(took_bytes),
            in_use_mib: mib(in_use),
            budget_mib: mib(budget),
        })
    }
}

/// Unloads the ready model (other than `keep`) whose last request is oldest among those with no
/// request in flight. Returns whether one was unloaded.
fn evict_least_recently_used(repository: &ModelRepository, keep: &str) -> bool {
    let idle_candidates = repository.entries().into_iter().filter_map(|entry| {
        if entry.name == keep {
            return None;
        }
        let ready: Vec<_> = entry
            .versions
            .values()
            .filter_map(|state| match state {
                VersionState::Ready(served) => Some(served.clone()),
                VersionState::Failed(_) => None,
            })
            .collect();
        let idle = !ready.is_empty() && ready.iter().all(|s| s.admission.in_system() == 0);
        let last_used = ready
            .iter()
            .map(|s| s.stats.snapshot().last_inference_ms)
            .max()
            .unwrap_or(0);
        idle.then_some((last_used, entry.name))
    });
    let Some((_, victim)) = idle_candidates.min() else {
        return false;
    };
    tracing::warn!(model = %victim, "unloading the least recently used idle model to make room");
    repository.remove(&victim);
    return_freed_memory();
    true
}

/// The server's anonymous resident memory now (`RssAnon` + `RssShmem`): what the budget counts.
pub fn resident_bytes() -> u64 {
    status_kib("RssAnon:") + status_kib("RssShmem:")
}

/// The server's whole resident memory (`VmRSS`), shared library code included.
pub fn total_resident_bytes() -> u64 {
    status_kib("VmRSS:")
}

/// One `kB` field of `/proc/self/status`, in bytes; 0 when absent.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix(field))?;
            let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

/// Hands memory the allocator keeps after an unload back to the system (glibc).
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the top of the heaps; it has no
    // preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::cgroup::ProcessCgroups;

    fn container(limit: Option<u64>) -> ContainerLimits {
        let mut limits = ContainerLimits::from_cgroups(ProcessCgroups::default(), 2);
        limits.memory_limit_bytes = limit;
        limits
    }

    #[test]
    fn the_budget_is_the_limit_less_the_headroom_unless_configured() {
        let config = MemoryConfig {
            headroom_bytes: 16 << 20,
            ..MemoryConfig::default()
        };
        assert_eq!(
            MemoryBudget::new(&config, &container(Some(64 << 20)), 1).budget_bytes(),
            Some(48 << 20)
        );
        assert_eq!(
            MemoryBudget::new(&config, &container(None), 1).budget_bytes(),
            None
        );
        let configured = MemoryConfig {
            budget_bytes: Some(100 << 20),
            ..config
        };
        assert_eq!(
            MemoryBudget::new(&configured, &container(Some(64 << 20)), 1).budget_bytes(),
            Some(100 << 20)
        );
    }

    fn budget_of(bytes: u64) -> MemoryBudget {
        MemoryBudget {
            budget_bytes: Some(bytes),
            evict_idle_models: false,
            bodies: BodyMemory::new(Some(bytes), 1),
        }
    }

    #[test]
    fn a_model_that_cannot_fit_is_refused_with_the_figures() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.onnx");
        std::fs::write(&file, vec![0u8; 3 << 20]).unwrap();
        let tight = budget_of(resident_bytes() + (4 << 20));
        let refused = tight
            .make_room("big", &file, &ModelRepository::new())
            .unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("'big'") && message.contains("6 MiB") && message.contains("3 MiB"),
            "{message}"
        );
        let roomy = budget_of(resident_bytes() + (64 << 20));
        assert_eq!(
            roomy.make_room("big", &file, &ModelRepository::new()),
            Ok(())
        );
        assert_eq!(
            MemoryBudget::unlimited().make_room("big", &file, &ModelRepository::new()),
            Ok(())
        );
    }

    #[test]
    fn request_bodies_in_flight_count_against_a_load() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("model.onnx");
        std::fs::write(&file, vec![0u8; 3 << 20]).unwrap();
        let budget = budget_of(resident_bytes() + (64 << 20));
        let bodies = budget.bodies().reserve(60 << 20).unwrap();
        assert!(matches!(
            budget.make_room("big", &file, &ModelRepository::new()),
            Err(MemoryError::WouldNotFit { .. })
        ));
        drop(bodies);
        assert_eq!(
            budget.make_room("big", &file, &ModelRepository::new()),
            Ok(())
        );
    }
}
