//! The Outpost model server.
//!
//! [`config`] holds the one typed server configuration; [`repository`] discovers models on disk
//! and keeps what is loaded; [`control`] loads and unloads models after start (none, explicit,
//! poll); [`backends`] knows which runtimes are usable; [`inference`] is the
//! single request path into a model (validation, execution off the async runtime, output
//! selection, statistics) that every front end shares; [`statistics`] keeps each model
//! version's counts and durations; [`describe`] builds the metadata, configuration and statistics
//! answers; [`state`] is what the front ends share; [`http`] is the Open Inference Protocol REST
//! front end and [`grpc`] its gRPC one; [`tls`] puts either behind rustls; [`container`] reads
//! the cgroup's memory and CPU limits that size the thread pools; [`memory`] is the budget models
//! load within and [`body_memory`] the room request bodies take from it; [`metrics`] is the
//! Prometheus exposition;
//! [`serve`] wires them together and runs until SIGTERM or SIGINT.

pub mod admission;
pub mod allocator;
pub mod backends;
pub mod batching;
pub mod body_memory;
pub mod camera;
pub mod config;
pub mod container;
pub mod control;
pub mod describe;
pub mod executor;
pub mod grpc;
pub mod http;
pub mod inference;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod repository;
pub mod serve;
pub mod state;
pub mod statistics;
pub mod tls;

pub use config::{ConfigError, ConfigOverrides, ServerConfig};
pub use serve::{serve, ServeError};
