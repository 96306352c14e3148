//! `backend` in `model.toml`: `auto` or the name of a runtime the binary registers.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A `backend` that cannot name a runtime.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("backend '{0}' is not a runtime name (lower-case letters, digits, '-' and '_')")]
pub struct InvalidRuntimeName(pub String);

/// Which runtime runs the model: `auto` (the first usable runtime, in the order the binary
/// registers them) or one by name (its load fails when that runtime is not usable).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum RuntimeChoice {
    /// The first usable runtime.
    #[default]
    Auto,
    /// The runtime of this name.
    Named(String),
}

impl RuntimeChoice {
    /// The choice as `model.toml` writes it.
    pub fn as_str(&self) -> &str {
        match self {
            RuntimeChoice::Auto => "auto",
            RuntimeChoice::Named(name) => name,
        }
    }
}

impl From<RuntimeChoice> for String {
    fn from(choice: RuntimeChoice) -> String {
        choice.as_str().to_string()
    }
}

impl TryFrom<String> for RuntimeChoice {
    type Error = InvalidRuntimeName;

    fn try_from(name: String) -> Result<RuntimeChoice, InvalidRuntimeName> {
        if name == "auto" {
            return Ok(RuntimeChoice::Auto);
        }
        let well_formed = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !well_formed {
            return Err(InvalidRuntimeName(name));
        }
        Ok(RuntimeChoice::Named(name))
    }
}

impl std::fmt::Display for RuntimeChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
