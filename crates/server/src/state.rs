//! The state every front end (REST and gRPC) shares: the inference path, model control, the
//! metrics, body limits and the room bodies take from the memory budget, and whether the server is ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::body_memory::BodyMemory;
use crate::control::ModelControl;

use crate::inference::InferenceService;
use crate::metrics::Metrics;

/// Everything a handler needs.
pub struct AppState {
    pub inference: InferenceService,
    /// Model load, unload and the repository index, with their token.
    pub control: Arc<ModelControl>,
    /// `None` when metrics are off.
    pub metrics: Option<Metrics>,
    pub max_body_bytes: usize,
    /// Room for request bodies within the memory budget.
    pub request_bodies: Arc<BodyMemory>,
    pub strict_readiness: bool,
    /// Set once the initial model load has finished.
    pub startup_complete: AtomicBool,
    /// Set when shutdown starts: readiness turns false so load balancers stop sending.
    pub shutting_down: AtomicBool,
    pub ort_version: Option<String>,
}

impl AppState {
    pub fn is_ready(&self) -> bool {
        self.startup_complete.load(Ordering::Acquire)
            && !self.shutting_down.load(Ordering::Acquire)
            && (!self.strict_readiness || self.inference.repository().all_ready())
    }
}
