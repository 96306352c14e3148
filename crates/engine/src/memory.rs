//! The memory budget that governs model loading. Models may use the container's memory limit less
//! a headroom (or a configured budget); what counts is the server's anonymous resident memory
//! (heap, weights, runtime buffers: what the kernel cannot drop under pressure), while the
//! headroom leaves room for the code and page cache the kernel can reclaim. Before a
//! version loads, the server checks that its estimate (twice its file: the parsed graph and the
//! runtime's own copy of the weights) still fits; after, that what it really took does. A load
//! that does not fit is refused with both figures, or, when configured, idle models are unloaded
//! to make room (the model lifecycle chooses them and unloads them its one way). Each version's measured cost is kept and exported.
//! Request bodies in flight share the same budget ([`crate::body_memory`]): a load counts them
//! as memory in use, and they get what the loaded models leave.

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use crate::body_memory::BodyMemory;
use crate::config::MemoryConfig;
use crate::container::ContainerLimits;
use crate::process_memory::{mib, resident_bytes, return_freed_memory};

/// Why a model version was not loaded for lack of memory.
#[derive(Debug, Error, PartialEq)]
pub enum MemoryError {
    #[error("not enough memory for model '{model}': it needs about {needed_mib} MiB (twice its {file_mib} MiB file), the server's heap and the request bodies in flight already hold {in_use_mib} MiB of its {budget_mib} MiB memory budget")]
    /// Before the load: its estimate does not fit beside what is in use.
    WouldNotFit {
        /// The model's name.
        model: String,
        /// The estimate: twice the model file, MiB.
        needed_mib: f64,
        /// The model file, MiB.
        file_mib: f64,
        /// The server's anonymous memory and the request bodies in flight, MiB.
        in_use_mib: f64,
        /// The memory budget, MiB.
        budget_mib: f64,
    },
    #[error("not enough memory for model '{model}': it took {took_mib} MiB, which leaves the server at {in_use_mib} MiB, over its {budget_mib} MiB memory budget; unloaded again")]
    /// After the load: what it really took leaves the server over its budget.
    DidNotFit {
        /// The model's name.
        model: String,
        /// What the load took, MiB.
        took_mib: f64,
        /// The server's anonymous memory after the load, MiB.
        in_use_mib: f64,
        /// The memory budget, MiB.
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

    /// No budget: every load fits (tests, hosts without a limit).
    pub fn unlimited() -> MemoryBudget {
        MemoryBudget {
            budget_bytes: None,
            evict_idle_models: false,
            bodies: BodyMemory::new(None, 1),
        }
    }

    /// The budget, when there is one.
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

    /// After models let memory go (an unload, sessions dropped): hands what the allocator keeps
    /// of it back to the system, then measures ([`MemoryBudget::note_models_changed`]).
    pub fn note_models_released(&self) {
        return_freed_memory();
        self.note_models_changed();
    }

    /// Checks, before loading `model` from `file`, that its estimate fits. When it does not and
    /// eviction is allowed, `evict_one_idle` is asked to unload one idle model (never `model`
    /// itself) and the check repeats; it answers false when nothing more can go.
    pub fn make_room(
        &self,
        model: &str,
        file: &Path,
        evict_one_idle: &mut dyn FnMut() -> bool,
    ) -> Result<(), MemoryError> {
        let Some(budget) = self.budget_bytes else {
            return Ok(());
        };
        let file_bytes = std::fs::metadata(file).map_or(0, |m| m.len());
        let needed = file_bytes.saturating_mul(2);
        loop {
            let in_use = resident_bytes().saturating_add(self.bodies.reserved_bytes());
            if in_use.saturating_add(needed) <= budget {
                return Ok(());
            }
            if !(self.evict_idle_models && evict_one_idle()) {
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

impl outpost_core::MemoryRoom for MemoryBudget {
    fn fits(&self, bytes: u64) -> bool {
        self.budget_bytes.is_none_or(|budget| {
            resident_bytes()
                .saturating_add(self.bodies.reserved_bytes())
                .saturating_add(bytes)
                <= budget
        })
    }

    fn changed(&self) {
        self.note_models_changed();
    }

    fn released(&self) {
        self.note_models_released();
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
        let refused = tight.make_room("big", &file, &mut || false).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("'big'") && message.contains("6 MiB") && message.contains("3 MiB"),
            "{message}"
        );
        let roomy = budget_of(resident_bytes() + (64 << 20));
        assert_eq!(roomy.make_room("big", &file, &mut || false), Ok(()));
        assert_eq!(
            MemoryBudget::unlimited().make_room("big", &file, &mut || false),
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
            budget.make_room("big", &file, &mut || false),
            Err(MemoryError::WouldNotFit { .. })
        ));
        drop(bodies);
        assert_eq!(budget.make_room("big", &file, &mut || false), Ok(()));
    }
}
