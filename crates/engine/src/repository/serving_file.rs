//! `<model>/serving.toml`: which version of a model takes unversioned requests, written by
//! whoever promotes versions (the agent) and read whenever the model directory is loaded. While
//! it names a version, a load of the whole model loads that version alone and makes it the
//! default, whatever the version policy says: a server that restarts in the middle of an update
//! serves the version last promoted, never one that has not been checked.
//!
//! ```toml
//! default_version = 2
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::load_error::LoadError;

/// The file's name inside a model directory.
pub(crate) const SERVING_FILE: &str = "serving.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServingFile {
    default_version: u64,
}

/// The default version `model_dir/serving.toml` names, or `None` without that file.
pub(crate) fn default_version(model_dir: &Path) -> Result<Option<u64>, LoadError> {
    let path = model_dir.join(SERVING_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LoadError::ServingFile {
                path,
                reason: source.to_string(),
            })
        }
    };
    let invalid = |reason: String| LoadError::ServingFile {
        path: PathBuf::from(&path),
        reason,
    };
    let file: ServingFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if file.default_version == 0 {
        return Err(invalid(
            "default_version must be a positive version number".into(),
        ));
    }
    Ok(Some(file.default_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_default_version() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(default_version(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(SERVING_FILE), "default_version = 7\n").unwrap();
        assert_eq!(default_version(dir.path()).unwrap(), Some(7));
        for bad in [
            "default_version = 0",
            "default_version = \"7\"",
            "other = 1",
            "x",
        ] {
            std::fs::write(dir.path().join(SERVING_FILE), bad).unwrap();
            let error = default_version(dir.path()).unwrap_err().to_string();
            assert!(error.contains("serving.toml"), "{bad}: {error}");
        }
    }
}
