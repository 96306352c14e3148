//! Reading a command's configuration: the TOML file (unknown keys are errors), then the
//! overrides given as flags or `OUTPOST_*` variables, in that order; and reading a secret (a
//! token) from its environment variable or the first line of a file, never from a flag.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::flags::SettingOverrides;
use crate::Section;

/// Why the configuration could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A file named by the configuration could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML file is malformed or has unknown keys.
    #[error("invalid configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, where.
        message: String,
    },
    /// A value is out of range, missing, or settings contradict each other.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Parses TOML text into section `S`; `path` only names the source in errors.
pub fn parse_toml<S: DeserializeOwned>(text: &str, path: &Path) -> Result<S, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Section `S` from `file` (its defaults without one) with `overrides` applied, unchecked.
pub fn load<S: Section + DeserializeOwned + Default>(
    file: Option<&Path>,
    overrides: &SettingOverrides,
) -> Result<S, ConfigError> {
    let mut section = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            parse_toml(&text, path)?
        }
        None => S::default(),
    };
    overrides
        .apply_to(&mut section)
        .map_err(ConfigError::Invalid)?;
    Ok(section)
}

/// A secret from the environment variable `env` when it is set and not blank, else from the
/// first line of `file` (which must not be empty), else none. `what` names the file's setting
/// in errors.
pub fn secret(env: &str, file: Option<&Path>, what: &str) -> Result<Option<String>, ConfigError> {
    if let Some(value) = std::env::var(env).ok().filter(|v| !v.trim().is_empty()) {
        return Ok(Some(value.trim().to_string()));
    }
    let Some(path) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value = text.lines().next().unwrap_or("").trim().to_string();
    if value.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "{what} {} is empty",
            path.display()
        )));
    }
    Ok(Some(value))
}
