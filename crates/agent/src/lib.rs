//! `outpost agent`: keeps a device's models current from a signed repository in object
//! storage, and never leaves the device without a working model. It reads the repository with
//! standard TUF ([`fetch`], through `outpost-trust` and `outpost-storage`), installs bundles
//! beside the server ([`install`]), checks each new version as a candidate against its golden
//! cases through the server's public API ([`golden`]; [`server`] is what it needs of a server,
//! [`server_api`] that over HTTP,
//! [`simulated_server`] one in memory for tests and fleet simulations), promotes it, watches it and rolls it back when it does worse
//! than the version before ([`watch`], [`updater`]), takes only what the fleet's rollouts offer
//! this device ([`offers`]), keeps its state durably ([`state`], [`durable`]), reads the time
//! from a [`clock`] (one a test can drive) and reports on `/status` and `/metrics` ([`status`],
//! [`metrics`]). [`run`] ties them together; [`config`] declares its settings; [`cli`] is its
//! command line, for `outpost agent` and the lean `outpost-agent` binary; [`probe`] is the
//! containers' health check.

pub mod backoff;
pub mod cli;
pub mod clock;
pub mod config;
pub mod device_identity;
pub mod durable;
pub mod error;
pub mod fetch;
pub mod golden;
pub mod golden_answers;
pub mod install;
pub mod metrics;
pub mod offers;
pub mod probe;
pub mod run;
pub mod server;
pub mod server_api;
pub mod simulated_server;
pub mod state;
pub mod status;
pub mod status_upload;
pub mod updater;
#[cfg(test)]
mod updater_tests;
pub mod watch;

pub use config::AgentConfig;
pub use error::AgentError;
pub use run::{run, RunMode};
