//! The Outpost engine: everything between a decoded request and a model, with no network
//! protocol in it. Front ends (the server's REST and gRPC) decode, call the engine, and encode.
//!
//! Layers, each using only those below it:
//! - [`config`] (the engine's settings), `process_memory`, `container` (cgroup limits),
//!   `executor` (the inference threads), `admission` (per-version bounds and deadlines),
//!   `statistics`, `request_metrics`;
//! - `body_memory` (room for request bodies), `error` ([`EngineError`] and its kinds),
//!   `backends` (the registered runtimes, looked up by name);
//! - `batching` (dynamic batching), `memory` (the memory budget models load within);
//! - `upstream` (models' remote V2 endpoints and their circuits);
//! - `repository` (what is loaded: models, versions, failures, and the one place their work is
//!   counted);
//! - `images` (images as model inputs and outputs), `model_control` (load, unload, evict,
//!   poll: one path);
//! - `inference` (the one request path), then `camera`, `describe`, `metrics` (the
//!   Prometheus exposition) and `status` (the status page's figures, with `latency`'s
//!   percentiles);
//! - [`Engine`]: all of it assembled, what a front end is given: its methods are the front
//!   ends' whole view of the engine, and the types they take and answer are re-exported here
//!   (the modules themselves are private).

mod admission;
mod backends;
mod batching;
mod body_memory;
mod camera;
pub mod config;
mod container;
mod describe;
mod engine;
mod error;
mod executor;
mod forward;
mod images;
mod inference;
mod latency;
mod memory;
mod metrics;
mod model_control;
mod process_memory;
mod repository;
mod request_metrics;
mod statistics;
mod status;
mod upstream;

#[cfg(test)]
mod batching_tests;

// What the front ends and the binaries use: the engine and its settings, the runtimes it is
// given, what its methods take and answer, and the neutral descriptions the front ends encode.
// Everything else stays inside.
pub use admission::Deadline;
pub use backends::{Backends, ConfiguredRuntimes, ModelSettingsError, NoRuntime};
pub use body_memory::{BodyMemory, BodyMemoryError, BodyReservation};
pub use container::ContainerLimits;
pub use describe::{
    BatchingDescription, ConfigTensor, InstanceKind, ModelConfiguration, ModelDescription,
    VersionStatistics,
};
pub use engine::{Engine, EngineSettings, LoadSummary};
pub use error::{EngineError, ErrorKind};
pub use images::ImageAnswer;
pub use inference::{Admitted, Decode, Encode};
pub use memory::MemoryBudget;
pub use metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
pub use model_control::{IndexEntry, LoadTarget, ModelState, ParameterValue, UnloadTarget};
pub use process_memory::{tune as tune_process_memory, AllocatorTuning};
pub use repository::ServedModel;
pub use request_metrics::Route;
pub use statistics::DurationTotals;
pub use status::{
    EngineStatus, ExecutorStatus, MemoryStatus, ModelStatus, SeriesPoint, UpstreamStatus,
    VersionStatus,
};
