//! The runtime contract: what a runtime crate implements so that a binary can register it. A
//! binary hands the server a list of [`Runtime`]s; each has a name (`backend = "NAME"` in
//! `model.toml`), may declare a section of the server configuration (`[NAME]`, with flags and
//! `OUTPOST_*` variables) and keys of `model.toml` it reads, and is configured once and probed
//! once at start into a [`Backend`] that loads models, or a [`ProbeError`] saying why it cannot.
//!
//! Nothing else in the server names a runtime: the engine looks runtimes up by name, reports
//! what their [`Backend`] and [`crate::LoadedModel`] say about themselves, and passes each its
//! own settings.

use std::sync::Arc;

use outpost_settings::flags::SettingOverrides;
use outpost_settings::Setting;
use thiserror::Error;

use crate::backend::{Backend, BackendError};
pub use crate::backend::{RuntimeGauge, RuntimeIdentity};

/// A runtime's share of the server configuration: its section's table from the file (when the
/// file has one) and the flags or variables given for settings below it (keys `NAME.key`).
#[derive(Debug, Clone, Default)]
pub struct RuntimeSettings {
    /// `[NAME]` from the configuration file.
    pub table: Option<toml::Table>,
    /// Settings given on the command line or in the environment.
    pub overrides: SettingOverrides,
}

/// What the server tells a runtime when it probes it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeContext {
    /// The memory budget models load within, when the server has one (a runtime may size what
    /// it keeps beside the models from it).
    pub memory_budget_bytes: Option<u64>,
}

/// A runtime a binary registers.
pub trait Runtime: Send + Sync {
    /// Its name: the value of `backend` in `model.toml`, and its section of the server
    /// configuration when [`Runtime::settings`] declares any.
    fn name(&self) -> &'static str;

    /// The settings of its `[NAME]` section, keys relative to the section; each with a flag
    /// becomes a command-line flag and an `OUTPOST_*` variable.
    fn settings(&self) -> Vec<Setting> {
        Vec::new()
    }

    /// The top-level keys of `model.toml` it reads (its own tables or lists there).
    fn model_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks its keys of a `model.toml` (only those of [`Runtime::model_keys`] present), so that
    /// a mistake is reported whichever runtime ends up loading the model.
    fn check_model_settings(&self, _settings: &toml::Table) -> Result<(), BackendError> {
        Ok(())
    }

    /// Reads its settings; a bad value is an error before the server starts.
    fn configure(
        &self,
        settings: &RuntimeSettings,
    ) -> Result<Box<dyn ConfiguredRuntime>, ProbeError>;
}

/// A runtime with its settings read, not yet probed.
pub trait ConfiguredRuntime: Send {
    /// Work that must happen before the process starts other threads (environment variables
    /// its library reads when it loads).
    fn before_threads(&self) {}

    /// Makes the runtime usable: loads its library, sets up what models share.
    fn probe(self: Box<Self>, context: &ProbeContext) -> Result<Arc<dyn Backend>, ProbeError>;
}

/// Why a runtime is not usable, or its settings cannot be used.
#[derive(Debug, Error)]
pub enum ProbeError {
    /// Its section of the server configuration has a bad value.
    #[error("[{runtime}]: {message}")]
    Settings {
        /// The runtime.
        runtime: &'static str,
        /// What is wrong.
        message: String,
    },
    /// It cannot run on this machine (its library is missing or broken); models name another
    /// runtime or fail their load, saying so.
    #[error("{runtime} is not usable: {source}")]
    Unusable {
        /// The runtime.
        runtime: &'static str,
        /// Why.
        #[source]
        source: BackendError,
    },
}

/// A runtime's section `S` from its settings (the file's table with the flags applied), for
/// [`Runtime::configure`]; a bad value is a [`ProbeError::Settings`] naming the runtime.
pub fn read_section<S>(runtime: &'static str, settings: &RuntimeSettings) -> Result<S, ProbeError>
where
    S: outpost_settings::Section + serde::de::DeserializeOwned + Default,
{
    outpost_settings::file::plug_in_section::<S>(
        runtime,
        settings.table.as_ref(),
        &settings.overrides,
    )
    .map_err(|e| ProbeError::Settings {
        runtime,
        message: e.to_string(),
    })
}

/// The keys of a `model.toml` table that `runtime` reads, as their own table.
pub fn model_settings_of(runtime: &dyn Runtime, all: &toml::Table) -> toml::Table {
    all.iter()
        .filter(|(key, _)| runtime.model_keys().contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}
