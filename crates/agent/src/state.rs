//! The agent's durable state (`<state_dir>/state.json`): per model, the active version, the
//! last known good one, the update in progress and the step it reached, and the bundles
//! refused with their reasons. Written whole and atomically (write, fsync, rename) before each
//! step that changes the device, so after a kill or power loss the agent knows what it was
//! doing and resumes or undoes it. What tough needs to refuse rolled-back metadata (the last
//! versions seen, the latest time seen) lives beside it in `tuf/`, kept by tough.

use outpost_core::Sha256;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::durable::write_atomically;
use crate::error::AgentError;

/// The state file's format number.
const FORMAT: u32 = 1;

/// The step an update reached; each is recorded before it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Step {
    /// Fetching the bundle (a partial file may be on disk).
    Downloading,
    /// Unpacking it into the model repository.
    Installing,
    /// Loaded as a candidate, its golden cases running.
    Checking,
    /// Being made the default version.
    Promoting,
    /// The default, watched until `until` (Unix seconds), or while too few requests came to
    /// judge it, until `quiet_until`.
    Watching {
        /// When the watch ends once enough requests were seen.
        until: i64,
        /// The latest it goes on while too few were (`watch.max_window_secs`); absent in
        /// state files from before it existed: `until`.
        #[serde(default)]
        quiet_until: Option<i64>,
    },
    /// Going back to the previous version, and why.
    RollingBack {
        /// Why.
        reason: String,
    },
}

impl Step {
    /// The step's name, as the state file and `/status` write it.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Downloading => "downloading",
            Step::Installing => "installing",
            Step::Checking => "checking",
            Step::Promoting => "promoting",
            Step::Watching { .. } => "watching",
            Step::RollingBack { .. } => "rolling_back",
        }
    }
}

/// An update in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The version being installed.
    pub version: u64,
    /// The bundle's signed sha256.
    pub sha256: Sha256,
    /// The step reached.
    #[serde(flatten)]
    pub step: Step,
}

/// A bundle that was refused or rolled back; never tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// Its version.
    pub version: u64,
    /// Its signed sha256.
    pub sha256: Sha256,
    /// Why.
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

/// What the agent knows of one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// The version the agent made the default.
    pub active: Option<u64>,
    /// The version to go back to if the active one fails its watch.
    pub last_good: Option<u64>,
    /// The update in progress.
    pub update: Option<Update>,
    /// Bundles refused or rolled back, newest last (the last 20 kept).
    #[serde(default)]
    pub rejected: Vec<Rejection>,
    /// What happened last, for people (RFC 3339 time and words).
    pub last_event: Option<String>,
    /// How the last watch ended: `passed`, `not judged: ...` (too few requests; kept) or
    /// `rolled back: ...`.
    #[serde(default)]
    pub last_watch: Option<String>,
}

/// How many refusals are remembered per model.
const MAX_REJECTIONS: usize = 20;

impl ModelRecord {
    /// True when the bundle with this hash was refused before.
    pub fn was_rejected(&self, sha256: &Sha256) -> bool {
        self.rejected.iter().any(|r| r.sha256 == *sha256)
    }

    /// Records a refusal.
    pub fn reject(&mut self, version: u64, sha256: Sha256, reason: &str) {
        self.rejected.push(Rejection {
            version,
            sha256,
            reason: reason.to_string(),
            at: now_text(),
        });
        let excess = self.rejected.len().saturating_sub(MAX_REJECTIONS);
        self.rejected.drain(..excess);
    }

    /// Records what happened.
    pub fn event(&mut self, words: impl std::fmt::Display) {
        self.last_event = Some(format!("{} {words}", now_text()));
    }
}

/// The whole state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    format: u32,
    /// Per model, by name.
    pub models: BTreeMap<String, ModelRecord>,
    /// The latest time (Unix seconds) this device has seen; a clock behind it is not trusted.
    #[serde(default)]
    pub latest_time_seen: i64,
}

impl Default for AgentState {
    fn default() -> Self {
        AgentState {
            format: FORMAT,
            models: BTreeMap::new(),
            latest_time_seen: 0,
        }
    }
}

/// The state file and what it holds now.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    /// The state as last saved (or about to be).
    pub state: AgentState,
}

impl StateFile {
    /// Reads `dir/state.json`, or starts empty when there is none. A file that does not parse
    /// is an error, never silently replaced.
    pub fn open(dir: &Path) -> Result<StateFile, AgentError> {
        let path = dir.join("state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                let state: AgentState = serde_json::from_slice(&bytes).map_err(|e| {
                    AgentError::State(format!("{} does not parse: {e}", path.display()))
                })?;
                if state.format != FORMAT {
                    return Err(AgentError::State(format!(
                        "{} has format {}, this agent reads {FORMAT}",
                        path.display(),
                        state.format
                    )));
                }
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AgentState::default(),
            Err(e) => return Err(AgentError::io(format!("reading {}", path.display()))(e)),
        };
        Ok(StateFile { path, state })
    }

    /// The record of `model`, made empty when new.
    pub fn model(&mut self, model: &str) -> &mut ModelRecord {
        self.state.models.entry(model.to_string()).or_default()
    }

    /// Writes the state durably.
    pub fn save(&self) -> Result<(), AgentError> {
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| AgentError::State(format!("cannot serialise the state: {e}")))?;
        write_atomically(&self.path, &bytes)
            .map_err(AgentError::io(format!("writing {}", self.path.display())))
    }
}

/// The time now, RFC 3339, seconds.
pub fn now_text() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

/// The time now, Unix seconds.
pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_refuses_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = StateFile::open(dir.path()).unwrap();
        let record = file.model("resnet");
        record.active = Some(2);
        record.update = Some(Update {
            version: 3,
            sha256: Sha256::from_bytes([0xab; 32]),
            step: Step::Watching {
                until: 99,
                quiet_until: Some(120),
            },
        });
        record.reject(
            4,
            Sha256::from_bytes([0xcd; 32]),
            "golden case 'cat' failed",
        );
        file.save().unwrap();
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
        let step = Step::Watching {
            until: 99,
            quiet_until: Some(120),
        };
        assert_eq!(saved["models"]["resnet"]["update"]["step"], step.name());
        let again = StateFile::open(dir.path()).unwrap();
        assert_eq!(again.state, file.state);
        assert!(again.state.models["resnet"].was_rejected(&Sha256::from_bytes([0xcd; 32])));
        std::fs::write(dir.path().join("state.json"), b"{").unwrap();
        assert!(StateFile::open(dir.path()).is_err());
    }
}
