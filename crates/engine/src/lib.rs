//! The Outpost engine: everything between a decoded request and a model, with no network
//! protocol in it. Front ends (the server's REST and gRPC) decode, call the engine, and encode.
//!
//! Layers, each using only those below it:
//! - [`config`] (the engine's settings), [`process_memory`], [`container`] (cgroup limits),
//!   [`executor`] (the inference threads), [`admission`] (per-version bounds and deadlines),
//!   [`statistics`], [`request_metrics`];
//! - [`body_memory`] (room for request bodies), [`error`] ([`EngineError`] and its kinds),
//!   [`backends`] (which runtimes are usable);
//! - [`batching`] (dynamic batching), [`memory`] (the memory budget models load within);
//! - [`upstream`] (models' remote V2 endpoints and their circuits);
//! - [`repository`] (what is loaded: models, versions, failures, and the one place their work is
//!   counted);
//! - [`images`] (images as model inputs and outputs), [`model_control`] (load, unload, evict,
//!   poll: one path);
//! - [`inference`] (the one request path), then [`camera`], [`describe`] and [`metrics`] (the
//!   Prometheus exposition);
//! - [`engine`]: all of it assembled, what a front end is given.

pub mod admission;
pub mod backends;
mod batching;
pub mod body_memory;
pub mod camera;
pub mod config;
pub mod container;
pub mod describe;
pub mod engine;
pub mod error;
mod executor;
mod forward;
pub mod images;
pub mod inference;
pub mod memory;
pub mod metrics;
pub mod model_control;
pub mod process_memory;
pub mod repository;
pub mod request_metrics;
pub mod statistics;
pub mod upstream;

#[cfg(test)]
mod batching_tests;

pub use engine::{Engine, EngineSettings};
pub use error::{EngineError, ErrorKind};
