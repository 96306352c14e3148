//! The model repository: what is on disk ([`scan`]), what got loaded ([`served_model`], warmed
//! by `warm_up` before it serves), and lookups by name and version for the front ends.
//!
//! A model or version that fails to load stays listed with its reason, so metadata and ready
//! requests can say why, while every other model keeps serving.
//!
//! Unversioned requests go to a model's *default* version: the one promoted (or named by
//! `serving.toml`) when there is one, else the highest ready version that is not a
//! *candidate*. Candidates are versions loaded to be checked: reachable by explicit version only.

mod accounting;
mod load_error;
pub(crate) mod scan;
pub(crate) mod served_model;
pub(crate) mod serving_file;
mod warm_up;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use crate::error::LookupError;

pub(crate) use load_error::LoadError;
pub use served_model::ServedModel;
pub(crate) use served_model::{LoadContext, LoadDefaults};

/// One version's outcome.
#[derive(Clone)]
pub(crate) enum VersionState {
    /// Loaded and serving.
    Ready(Arc<ServedModel>),
    /// Not loaded, and why.
    Failed(Arc<LoadError>),
}

/// One model directory's outcome.
#[derive(Clone)]
pub(crate) struct ModelEntry {
    /// The model's name (its directory's).
    pub name: String,
    /// Present when the directory as a whole could not be used (bad config, no versions).
    pub error: Option<Arc<LoadError>>,
    /// Each version the policy selected, and how its load went.
    pub versions: BTreeMap<u64, VersionState>,
    /// The version unversioned requests go to, when one was promoted or named in
    /// `serving.toml`; otherwise they go to the highest ready version that is not a candidate.
    pub default_version: Option<u64>,
    /// Versions loaded to be checked, reachable by explicit version only.
    pub candidates: BTreeSet<u64>,
}

impl ModelEntry {
    /// The versions that are ready, lowest first.
    pub(crate) fn ready(&self) -> impl DoubleEndedIterator<Item = &Arc<ServedModel>> {
        self.versions.values().filter_map(|v| match v {
            VersionState::Ready(m) => Some(m),
            VersionState::Failed(_) => None,
        })
    }

    /// An entry that records why the model directory as a whole could not be used.
    pub(crate) fn failed(name: &str, error: LoadError) -> ModelEntry {
        ModelEntry {
            name: name.to_string(),
            error: Some(Arc::new(error)),
            versions: BTreeMap::new(),
            default_version: None,
            candidates: BTreeSet::new(),
        }
    }

    /// The version unversioned requests go to: the default when one is set, else the highest
    /// ready version that is not a candidate. `None` when no version fits.
    pub(crate) fn default_target(&self) -> Option<u64> {
        match self.default_version {
            Some(version) => Some(version),
            None => self
                .ready()
                .rev()
                .map(|m| m.version)
                .find(|v| !self.candidates.contains(v)),
        }
    }

    /// The ready version unversioned requests go to.
    fn default_ready(&self) -> Option<&Arc<ServedModel>> {
        match self.versions.get(&self.default_target()?)? {
            VersionState::Ready(m) => Some(m),
            VersionState::Failed(_) => None,
        }
    }

    /// True when every version loaded is a candidate: the model is being checked and does not
    /// serve unversioned requests yet.
    pub(crate) fn only_candidates(&self) -> bool {
        self.error.is_none()
            && !self.versions.is_empty()
            && self.default_version.is_none()
            && self.versions.keys().all(|v| self.candidates.contains(v))
    }

    /// Why no version is ready.
    pub(crate) fn unavailable_reason(&self) -> String {
        if let Some(e) = &self.error {
            return e.to_string();
        }
        if self.only_candidates() {
            let candidates: Vec<String> = self.candidates.iter().map(u64::to_string).collect();
            return format!(
                "no version takes unversioned requests yet: candidate version {} can be asked for by number",
                candidates.join(", ")
            );
        }
        if let Some(version) = self.default_version {
            if let Some(VersionState::Failed(reason)) = self.versions.get(&version) {
                return format!("default version {version}: {reason}");
            }
        }
        let failures: Vec<String> = self
            .versions
            .iter()
            .filter_map(|(v, s)| match s {
                VersionState::Failed(reason) => Some(format!("version {v}: {reason}")),
                VersionState::Ready(_) => None,
            })
            .collect();
        if failures.is_empty() {
            "no versions are loaded".to_string()
        } else {
            failures.join("; ")
        }
    }

    /// The numbers of the ready versions, lowest first.
    pub(crate) fn ready_versions(&self) -> Vec<u64> {
        self.ready().map(|m| m.version).collect()
    }
}

/// The models known to the server.
#[derive(Default)]
pub(crate) struct ModelRepository {
    models: RwLock<BTreeMap<String, ModelEntry>>,
}

impl ModelRepository {
    /// An empty repository.
    pub(crate) fn new() -> ModelRepository {
        ModelRepository::default()
    }

    /// Changes the entry for `name` (absent: `None`) under the write lock, so a request sees it
    /// either before or after, never half changed; `change` returns the new entry (or `None`
    /// to remove it) and a result for the caller.
    pub(crate) fn update<T>(
        &self,
        name: &str,
        change: impl FnOnce(Option<ModelEntry>) -> (Option<ModelEntry>, T),
    ) -> T {
        let mut models = self
            .models
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (entry, result) = change(models.remove(name));
        if let Some(entry) = entry {
            models.insert(name.to_string(), entry);
        }
        result
    }

    /// Adds or replaces a model; requests already holding a replaced version finish on it.
    pub(crate) fn insert(&self, entry: ModelEntry) {
        let mut models = self
            .models
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        models.insert(entry.name.clone(), entry);
    }

    /// Forgets a model; requests already holding one of its versions finish. True when it was
    /// known.
    pub(crate) fn remove(&self, name: &str) -> bool {
        let mut models = self
            .models
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        models.remove(name).is_some()
    }

    /// A snapshot of every model entry, by name.
    pub(crate) fn entries(&self) -> Vec<ModelEntry> {
        let models = self
            .models
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        models.values().cloned().collect()
    }

    /// The entry for `name`.
    pub(crate) fn entry(&self, name: &str) -> Result<ModelEntry, LookupError> {
        let models = self
            .models
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        models
            .get(name)
            .cloned()
            .ok_or_else(|| LookupError::UnknownModel(name.to_string()))
    }

    /// The model to serve for `name` and an optional version (the default when absent).
    /// Runs on every request: it looks under the read lock and clones only the `Arc`.
    pub(crate) fn get(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Arc<ServedModel>, LookupError> {
        let models = self
            .models
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = models
            .get(name)
            .ok_or_else(|| LookupError::UnknownModel(name.to_string()))?;
        match version {
            None => entry
                .default_ready()
                .cloned()
                .ok_or_else(|| LookupError::Unavailable {
                    model: name.to_string(),
                    reason: entry.unavailable_reason(),
                }),
            Some(text) => {
                let number: u64 = text
                    .parse()
                    .map_err(|_| LookupError::BadVersion(text.to_string()))?;
                match entry.versions.get(&number) {
                    Some(VersionState::Ready(m)) => Ok(m.clone()),
                    Some(VersionState::Failed(reason)) => Err(LookupError::VersionUnavailable {
                        model: name.to_string(),
                        version: number,
                        reason: reason.to_string(),
                    }),
                    None => Err(LookupError::UnknownVersion {
                        model: name.to_string(),
                        version: text.to_string(),
                    }),
                }
            }
        }
    }

    /// True when every known model has a ready default version (models that so far have only
    /// candidates do not count: they are being checked, and serve nothing unversioned yet).
    pub(crate) fn all_ready(&self) -> bool {
        self.entries()
            .iter()
            .all(|e| e.default_ready().is_some() || e.only_candidates())
    }
}
