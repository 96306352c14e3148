//! Discovering models on disk: `<root>/<model>/model.toml` (optional) and numbered version
//! directories `<root>/<model>/<version>/`. Only names that are safe path components are used.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// A model directory found on disk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FoundModel {
    pub name: String,
    pub dir: PathBuf,
    /// Version numbers of the numbered subdirectories, ascending.
    pub versions: Vec<u64>,
}

#[derive(Debug, Error)]
pub(crate) enum ScanError {
    #[error("model repository {path} cannot be read: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// True for names made of letters, digits, `_`, `-` and `.` that are not `.` or `..`.
pub(crate) fn is_valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Lists the model directories under `root`, sorted by name.
pub(crate) fn scan(root: &Path) -> Result<Vec<FoundModel>, ScanError> {
    let unreadable = |source| ScanError::Unreadable {
        path: root.to_path_buf(),
        source,
    };
    let mut models = Vec::new();
    for entry in std::fs::read_dir(root).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !entry.path().is_dir() || name.starts_with('.') {
            continue;
        }
        if !is_valid_model_name(&name) {
            tracing::warn!(directory = %entry.path().display(), "skipping model directory: name must be letters, digits, '_', '-' or '.'");
            continue;
        }
        models.push(FoundModel {
            versions: versions_in(&entry.path()),
            dir: entry.path(),
            name,
        });
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(models)
}

/// Numbered subdirectories of a model directory (positive integers, as Triton uses).
pub(crate) fn versions_in(model_dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(model_dir) else {
        return Vec::new();
    };
    let mut versions: Vec<u64> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()))
        .filter(|v| *v > 0)
        .collect();
    versions.sort_unstable();
    versions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_models_and_numbered_versions() {
        let root = tempfile::tempdir().unwrap();
        for dir in [
            "resnet/1",
            "resnet/3",
            "resnet/notes",
            "resnet/0",
            "empty",
            ".hidden/1",
            "bad name/1",
        ] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(root.path().join("stray.txt"), "x").unwrap();
        let found = scan(root.path()).unwrap();
        let names: Vec<&str> = found.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["empty", "resnet"]);
        assert_eq!(found[1].versions, vec![1, 3]);
        assert!(found[0].versions.is_empty());
    }

    #[test]
    fn missing_root_is_an_error() {
        assert!(scan(Path::new("/nonexistent/outpost-models")).is_err());
    }

    #[test]
    fn model_names_are_path_safe() {
        assert!(is_valid_model_name("mobilenet_v2-int8.qdq"));
        for bad in ["", "..", ".x", "a/b", "a b", "ü"] {
            assert!(!is_valid_model_name(bad), "{bad}");
        }
    }
}
