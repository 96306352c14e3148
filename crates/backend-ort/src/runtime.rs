//! ONNX Runtime as a runtime a binary registers ([`OrtRuntime`]): named `ort`, with the `[ort]`
//! section of the server configuration and its keys of `model.toml`. Configuring it reads the
//! section; before other threads start it keeps telemetry off unless allowed; probing loads the
//! library (`ort.library_path`, or the search order narrowed by `ort.flavour`) with its shared
//! CPU arena keeping at most `ort.cpu_arena_max_kept_bytes`, else a quarter of the memory
//! budget, else the arena's default (256 MiB).

use std::sync::Arc;
use std::time::Duration;

use outpost_core::{
    Backend, BackendError, ConfiguredRuntime, ProbeContext, ProbeError, Runtime, RuntimeSettings,
};
use outpost_settings::{Section, Setting};

use crate::model_settings::{OrtModelSettings, MODEL_KEYS};
use crate::settings::OrtSettings;
use crate::{CpuArenaSettings, LibrarySearch, OrtBackend, NAME};

/// ONNX Runtime, to register in a binary.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrtRuntime;

impl Runtime for OrtRuntime {
    fn name(&self) -> &'static str {
        NAME
    }

    fn settings(&self) -> Vec<Setting> {
        OrtSettings::settings()
    }

    fn model_keys(&self) -> &'static [&'static str] {
        MODEL_KEYS
    }

    fn check_model_settings(&self, settings: &toml::Table) -> Result<(), BackendError> {
        OrtModelSettings::read(settings).map(|_| ())
    }

    fn configure(
        &self,
        settings: &RuntimeSettings,
    ) -> Result<Box<dyn ConfiguredRuntime>, ProbeError> {
        let settings: OrtSettings = outpost_core::runtime::read_section(NAME, settings)?;
        Ok(Box::new(ConfiguredOrt { settings }))
    }
}

/// ONNX Runtime with its `[ort]` section read.
struct ConfiguredOrt {
    settings: OrtSettings,
}

impl ConfiguredRuntime for ConfiguredOrt {
    fn before_threads(&self) {
        if !self.settings.telemetry {
            crate::telemetry::opt_out();
        }
    }

    fn probe(self: Box<Self>, context: &ProbeContext) -> Result<Arc<dyn Backend>, ProbeError> {
        // Repeated here for callers that probe without `before_threads`: ONNX Runtime never
        // loads with its telemetry on by accident.
        self.before_threads();
        let settings = &self.settings;
        let defaults = CpuArenaSettings::default();
        let arena = CpuArenaSettings {
            max_kept_bytes: settings
                .cpu_arena_max_kept_bytes
                .or(context.memory_budget_bytes.map(|budget| budget / 4))
                .unwrap_or(defaults.max_kept_bytes),
            idle_release: Duration::from_millis(settings.cpu_arena_idle_release_ms),
        };
        let search = LibrarySearch {
            cache_folders: settings.flavour.cache_folders(),
            beyond_the_cache: settings.flavour.searches_beyond_the_cache(),
        };
        match OrtBackend::new(settings.library_path.as_deref(), search, arena) {
            Ok(backend) => Ok(Arc::new(backend)),
            Err(source) => Err(ProbeError::Unusable {
                runtime: NAME,
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_settings::flags::SettingOverrides;

    #[test]
    fn the_section_reads_from_the_file_and_the_flags() {
        let table: toml::Table = toml::from_str("flavour = \"cpu\"\ntelemetry = true").unwrap();
        let settings = RuntimeSettings {
            table: Some(table),
            overrides: SettingOverrides::from_pairs(&[("ort.telemetry", "false")]),
        };
        assert!(OrtRuntime.configure(&settings).is_ok());
        let bad = RuntimeSettings {
            table: Some(toml::from_str("flavor = \"cpu\"").unwrap()),
            overrides: SettingOverrides::default(),
        };
        let error = OrtRuntime.configure(&bad).err().expect("a misspelt key");
        assert!(error.to_string().contains("[ort]"), "{error}");
        assert!(error.to_string().contains("flavor"), "{error}");
    }
}
