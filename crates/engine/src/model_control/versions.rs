//! Model control one version at a time: load a version as a candidate, make a version the
//! default (promotion, rollback), unload one version. What an updater needs to try a new
//! version on the device before it takes traffic, and to move traffic without a failed request:
//! the default changes under the repository's write lock, so each request sees the old default
//! or the new one, and requests already running finish on the version they hold.

use std::collections::BTreeSet;

use outpost_core::ModelConfig;

use super::ModelControl;
use crate::error::ControlError;
use crate::repository::scan::{self, is_valid_model_name, FoundModel};
use crate::repository::{served_model, ModelEntry, VersionState};

impl ModelControl {
    /// Loads `version` of model `name` if it is not loaded, then either adds it as a candidate
    /// (`make_default` false: unversioned requests stay where they were, which is pinned as the
    /// default so they cannot move to the candidate) or makes it the default. Blocking: call off
    /// the async runtime.
    pub(crate) fn load_version(
        &self,
        name: &str,
        version: u64,
        make_default: bool,
    ) -> Result<(), ControlError> {
        if !is_valid_model_name(name) {
            return Err(ControlError::BadName(name.to_string()));
        }
        let dir = self.setup.root.join(name);
        if !dir.is_dir() {
            return Err(ControlError::UnknownModel(name.to_string()));
        }
        if !dir.join(version.to_string()).is_dir() {
            return Err(ControlError::NoVersionDirectory {
                model: name.to_string(),
                version,
            });
        }
        // One load or unload at a time.
        let _serialised = self.locked();
        let loaded = self.setup.repository.entry(name).ok().is_some_and(|entry| {
            entry.error.is_none()
                && matches!(entry.versions.get(&version), Some(VersionState::Ready(_)))
        });
        let fresh = if loaded {
            None
        } else {
            let failed = |reason: String| ControlError::LoadFailed {
                model: name.to_string(),
                reason: format!("version {version}: {reason}"),
            };
            let config =
                ModelConfig::load_from_dir_over(&dir, self.setup.upstreams.server_config())
                    .map_err(|e| failed(e.to_string()))?;
            let found = FoundModel {
                name: name.to_string(),
                versions: scan::versions_in(&dir),
                dir,
            };
            let evict_one_idle = |keep: &str| self.evict_one_idle(keep);
            let context = self.load_context(&evict_one_idle);
            let model = served_model::load_one_version(&found, version, &config, &context);
            self.setup.budget.note_models_released();
            Some(model.map_err(|e| failed(e.to_string()))?)
        };
        self.setup.repository.update(name, |entry| {
            let mut entry = match entry {
                Some(entry) if entry.error.is_none() => entry,
                _ => ModelEntry {
                    name: name.to_string(),
                    error: None,
                    versions: std::collections::BTreeMap::new(),
                    default_version: None,
                    candidates: BTreeSet::new(),
                },
            };
            if make_default {
                entry.default_version = Some(version);
                entry.candidates.remove(&version);
            } else if entry.default_target() != Some(version) {
                entry.default_version = entry.default_target();
                entry.candidates.insert(version);
            }
            if let Some(model) = fresh {
                entry
                    .versions
                    .insert(version, VersionState::Ready(std::sync::Arc::new(model)));
            }
            (Some(entry), ())
        });
        if make_default {
            tracing::info!(model = name, version, "version is now the default");
        } else {
            tracing::info!(model = name, version, "version loaded as a candidate");
        }
        Ok(())
    }

    /// Unloads one version of model `name`; requests running on it finish. The default version
    /// cannot be unloaded (make another the default first). Unloading the last version
    /// unloads the model.
    pub(crate) fn unload_version(&self, name: &str, version: u64) -> Result<(), ControlError> {
        if !is_valid_model_name(name) {
            return Err(ControlError::BadName(name.to_string()));
        }
        let _serialised = self.locked();
        let not_loaded = || ControlError::VersionNotLoaded {
            model: name.to_string(),
            version,
        };
        self.setup.repository.update(name, |entry| {
            let Some(mut entry) = entry else {
                return (None, Err(not_loaded()));
            };
            if !entry.versions.contains_key(&version) {
                return (Some(entry), Err(not_loaded()));
            }
            if entry.default_version == Some(version) {
                let error = ControlError::VersionIsDefault {
                    model: name.to_string(),
                    version,
                };
                return (Some(entry), Err(error));
            }
            entry.versions.remove(&version);
            entry.candidates.remove(&version);
            let keep = !entry.versions.is_empty();
            (keep.then_some(entry), Ok(()))
        })?;
        self.setup.budget.note_models_released();
        tracing::info!(model = name, version, "version unloaded on request");
        Ok(())
    }
}
