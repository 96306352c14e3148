//! The runtimes a binary registers, configured from the server configuration: each runtime's
//! `[NAME]` section (left out of [`ServerConfig`]'s own sections) and the flags given for its
//! settings are read by the runtime itself, before the server starts.

use std::sync::Arc;

use outpost_core::{Runtime, RuntimeSettings};
pub use outpost_engine::ConfiguredRuntimes;
use outpost_settings::flags::SettingOverrides;
use outpost_settings::Setting;

use crate::config::{ConfigError, ServerConfig};

/// Every setting of the registered runtimes, keys prefixed with the runtime's name (`ort.flavour`).
pub fn runtime_settings(runtimes: &[Arc<dyn Runtime>]) -> Vec<Setting> {
    runtimes
        .iter()
        .flat_map(|runtime| {
            runtime.settings().into_iter().map(|mut setting| {
                setting.key = format!("{}.{}", runtime.name(), setting.key);
                setting
            })
        })
        .collect()
}

/// The server configuration from `file` with `overrides`, and each runtime configured from its
/// section and its overrides. Runs the runtimes' work that must come before other threads.
pub fn load_config(
    file: Option<&std::path::Path>,
    overrides: &SettingOverrides,
    runtimes: &[Arc<dyn Runtime>],
) -> Result<(ServerConfig, ConfiguredRuntimes), ConfigError> {
    let names: Vec<&str> = runtimes.iter().map(|runtime| runtime.name()).collect();
    let (config, mut sections) = ServerConfig::load_with_runtimes(file, overrides, &names)?;
    let mut configured = Vec::with_capacity(runtimes.len());
    for runtime in runtimes {
        let prefix = format!("{}.", runtime.name());
        let settings = RuntimeSettings {
            table: sections.remove(runtime.name()),
            overrides: SettingOverrides(
                overrides
                    .0
                    .iter()
                    .filter(|(key, _)| key.starts_with(&prefix))
                    .cloned()
                    .collect(),
            ),
        };
        let runtime_configured = runtime
            .configure(&settings)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        runtime_configured.before_threads();
        configured.push((runtime.clone(), runtime_configured));
    }
    Ok((config, configured))
}
