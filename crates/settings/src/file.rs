//! Reading a command's configuration: the TOML file (unknown keys are errors), then the
//! overrides given as flags or `OUTPOST_*` variables, in that order; and reading a secret (a
//! token) from its environment variable or the first line of a file, never from a flag.

use std::collections::BTreeMap;
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
    /// A setting given as a flag or variable cannot be used.
    #[error("invalid configuration: {0}")]
    Setting(#[from] crate::SettingError),
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
    overrides.apply_to(&mut section)?;
    Ok(section)
}

/// Section `S` from `file` with `overrides` applied (unchecked), leaving out the tables named in
/// `plug_in_keys` and the overrides below them: sections that other code declares (a runtime's
/// `[ort]`), returned by key for that code to read with [`plug_in_section`].
pub fn load_with_plug_ins<S: Section + DeserializeOwned + Default>(
    file: Option<&Path>,
    overrides: &SettingOverrides,
    plug_in_keys: &[&str],
) -> Result<(S, BTreeMap<String, toml::Table>), ConfigError> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            parse_with_plug_ins(Some((&text, path)), overrides, plug_in_keys)
        }
        None => parse_with_plug_ins(None, overrides, plug_in_keys),
    }
}

/// [`load_with_plug_ins`] over the file's text (and the path that names it in errors), or the
/// defaults without one.
pub fn parse_with_plug_ins<S: Section + DeserializeOwned + Default>(
    file: Option<(&str, &Path)>,
    overrides: &SettingOverrides,
    plug_in_keys: &[&str],
) -> Result<(S, BTreeMap<String, toml::Table>), ConfigError> {
    let below = |key: &str| {
        plug_in_keys.iter().any(|plug_in| {
            key.strip_prefix(plug_in)
                .is_some_and(|rest| rest.starts_with('.'))
        })
    };
    let (mut section, plug_ins) = match file {
        Some((text, path)) => {
            let mut table: toml::Table = parse_toml(text, path)?;
            let mut plug_ins = BTreeMap::new();
            for key in plug_in_keys {
                match table.remove(*key) {
                    None => {}
                    Some(toml::Value::Table(plug_in)) => {
                        plug_ins.insert(key.to_string(), plug_in);
                    }
                    Some(_) => {
                        return Err(ConfigError::Parse {
                            path: path.to_path_buf(),
                            message: format!("'{key}' must be a table ([{key}])"),
                        })
                    }
                }
            }
            let section = S::deserialize(table).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            (section, plug_ins)
        }
        None => (S::default(), BTreeMap::new()),
    };
    let own = SettingOverrides(
        overrides
            .0
            .iter()
            .filter(|(key, _)| !below(key))
            .cloned()
            .collect(),
    );
    own.apply_to(&mut section)?;
    Ok((section, plug_ins))
}

/// The plug-in section `S` at `key`: its table from the file (defaults without one) with the
/// overrides below `key.` applied.
pub fn plug_in_section<S: Section + DeserializeOwned + Default>(
    key: &str,
    table: Option<&toml::Table>,
    overrides: &SettingOverrides,
) -> Result<S, ConfigError> {
    let mut section = match table {
        Some(table) => S::deserialize(table.clone())
            .map_err(|e| ConfigError::Invalid(format!("[{key}]: {e}")))?,
        None => S::default(),
    };
    let prefix = format!("{key}.");
    let own = SettingOverrides(
        overrides
            .0
            .iter()
            .filter_map(|(k, text)| Some((k.strip_prefix(&prefix)?.to_string(), text.clone())))
            .collect(),
    );
    own.apply_to(&mut section).map_err(|error| match error {
        crate::SettingError::Given { key, text, reason } => crate::SettingError::Given {
            key: format!("{prefix}{key}"),
            text,
            reason,
        },
        other => other,
    })?;
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
