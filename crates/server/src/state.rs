//! The state every front end (REST and gRPC) shares: the engine, the limits on what a request
//! may carry, and whether the server is ready.

use std::sync::atomic::{AtomicBool, Ordering};

use outpost_engine::Engine;
use outpost_protocol::DecodeLimits;

use crate::status::StatusPage;

/// Everything a handler needs.
pub struct AppState {
    /// The engine behind both front ends.
    pub engine: Engine,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// What a request's tensors may declare.
    pub decode_limits: DecodeLimits,
    /// Ready only when every model loaded.
    pub strict_readiness: bool,
    /// Set once the initial model load has finished.
    pub startup_complete: AtomicBool,
    /// Set when shutdown starts: readiness turns false so load balancers stop sending.
    pub shutting_down: AtomicBool,
    /// The status page's sources, when the page is on.
    pub status_page: Option<StatusPage>,
}

impl AppState {
    /// Whether the server takes traffic: the initial load is done, it is not stopping, and (when strict) every model loaded.
    pub fn is_ready(&self) -> bool {
        self.startup_complete.load(Ordering::Acquire)
            && !self.shutting_down.load(Ordering::Acquire)
            && (!self.strict_readiness || self.engine.all_ready())
    }
}
