//! The state every front end (REST and gRPC) shares: the engine's inference path and model
//! control, the metrics, the limits on what a request may carry, the room bodies take from the
//! memory budget, and whether the server is ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use outpost_engine::body_memory::BodyMemory;
use outpost_engine::inference::InferenceService;
use outpost_engine::metrics::Metrics;
use outpost_engine::model_control::ModelControl;
use outpost_protocol::DecodeLimits;

/// Everything a handler needs.
pub struct AppState {
    pub inference: InferenceService,
    /// Model load, unload and the repository index, with their token.
    pub control: Arc<ModelControl>,
    /// `None` when metrics are off.
    pub metrics: Option<Metrics>,
    pub max_body_bytes: usize,
    /// What a request's tensors may declare.
    pub decode_limits: DecodeLimits,
    /// Room for request bodies within the memory budget.
    pub request_bodies: Arc<BodyMemory>,
    pub strict_readiness: bool,
    /// Set once the initial model load has finished.
    pub startup_complete: AtomicBool,
    /// Set when shutdown starts: readiness turns false so load balancers stop sending.
    pub shutting_down: AtomicBool,
}

impl AppState {
    pub fn is_ready(&self) -> bool {
        self.startup_complete.load(Ordering::Acquire)
            && !self.shutting_down.load(Ordering::Acquire)
            && (!self.strict_readiness || self.inference.repository().all_ready())
    }
}
