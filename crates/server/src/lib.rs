//! The Outpost server: the Open Inference Protocol front ends over the engine
//! ([`outpost_engine`]), and what runs them.
//!
//! [`config`] is the one typed server configuration (the engine's sections included);
//! [`http`] is the REST front end (with the camera endpoint and `/metrics`) and [`grpc`] the
//! gRPC one: each decodes, calls the engine, encodes, and maps the engine's error kinds to its
//! statuses in one function; [`about`] is what both say about the server itself; [`state`] is
//! what they share; [`status`] gathers the status page's figures (the page is served by
//! [`http`]); [`connections`] holds every listener's client connections to their limits (cap, header, idle,
//! send and body timeouts); [`tls`] puts either behind rustls; [`runtimes`] configures the runtimes the binary
//! registers; [`serve`] wires them together and runs until SIGTERM or SIGINT
//! (logging is set up by `outpost_settings::logging`, shared with the agent).

pub mod about;
mod bearer;
pub use outpost_server_config as config;
pub mod connections;
pub mod grpc;
pub mod http;
pub mod runtimes;
pub mod serve;
pub mod state;
pub mod status;
pub mod tls;

pub use config::{ConfigError, ServerConfig, SettingOverrides};
pub use runtimes::{load_config, ConfiguredRuntimes};
pub use serve::{serve, serve_supervised, ServeError, Supervision};
