//! The root package's integration tests, in one executable (one link of the whole dependency
//! tree instead of one per file): end-to-end tests that start the real `outpost` binary on port
//! 0, the command line as users run it, and the workspace's layering checks. Each module is one
//! subject; `cargo test --test outpost MODULE::` runs one of them.

mod common;

mod agent_attacks;
mod agent_golden;
mod backends;
mod bad_input;
mod bundle_cli;
mod camera;
mod camera_bad_input;
mod configuration_docs;
mod conformance;
mod connections;
mod control_exposure;
mod datatypes;
mod default_models;
mod echo_runtime;
mod engine_dependencies;
mod module_graph;
mod openapi;
mod repo_cli;
mod runtime_names;
mod scheduling;
mod status_page;
mod string_errors;
