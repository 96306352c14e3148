//! The repository index: every model directory and loaded version with whether it serves and,
//! when not, why (Triton's repository extension, over REST and gRPC).

use super::ModelControl;
use crate::repository::scan;
use crate::repository::VersionState;

/// Whether a model (or one of its versions) serves, in the repository index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelState {
    /// At least one version serves (or, for a version, it does).
    Ready,
    /// Nothing serves: not loaded, or the load failed.
    Unavailable,
}

impl ModelState {
    /// The state as the repository extension names it (`READY`, `UNAVAILABLE`).
    pub fn name(self) -> &'static str {
        match self {
            ModelState::Ready => "READY",
            ModelState::Unavailable => "UNAVAILABLE",
        }
    }
}

/// One line of the repository index: a model directory, or one version of a loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The model's name.
    pub name: String,
    /// The version, when the line is about one version.
    pub version: Option<u64>,
    /// Whether it serves.
    pub state: ModelState,
    /// Why it is unavailable; empty when ready.
    pub reason: String,
}

impl ModelControl {
    /// Every model directory in the repository and every loaded model, with its state: `READY`
    /// or `UNAVAILABLE` per version, and `UNAVAILABLE` ("not loaded") for directories that are
    /// not loaded. Only ready versions when `ready_only`.
    pub(crate) fn index(&self, ready_only: bool) -> Vec<IndexEntry> {
        let mut index = Vec::new();
        let entries = self.setup.repository.entries();
        let on_disk: Vec<String> = scan::scan(&self.setup.root)
            .map(|found| found.into_iter().map(|m| m.name).collect())
            .unwrap_or_default();
        for name in &on_disk {
            if !ready_only && !entries.iter().any(|e| &e.name == name) {
                index.push(unavailable(name, None, "not loaded".into()));
            }
        }
        for entry in entries {
            if let Some(error) = &entry.error {
                if !ready_only {
                    index.push(unavailable(&entry.name, None, error.to_string()));
                }
                continue;
            }
            for (version, state) in &entry.versions {
                match state {
                    VersionState::Ready(_) => index.push(IndexEntry {
                        name: entry.name.clone(),
                        version: Some(*version),
                        state: ModelState::Ready,
                        reason: if entry.candidates.contains(version) {
                            "candidate: reachable by explicit version only".to_string()
                        } else {
                            String::new()
                        },
                    }),
                    VersionState::Failed(reason) if !ready_only => {
                        index.push(unavailable(&entry.name, Some(*version), reason.to_string()));
                    }
                    VersionState::Failed(_) => {}
                }
            }
        }
        index.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        index
    }
}

fn unavailable(name: &str, version: Option<u64>, reason: String) -> IndexEntry {
    IndexEntry {
        name: name.to_string(),
        version,
        state: ModelState::Unavailable,
        reason,
    }
}
