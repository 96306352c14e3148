//! `manifest.json`: what a bundle is (model name, version, the oldest server that can serve it)
//! and every file it holds with its size and sha256, and the rules names and paths follow.

use serde::{Deserialize, Serialize};

use crate::error::BundleError;
use crate::limits::Limits;

/// The bundle format this crate writes and reads.
pub const FORMAT: u32 = 1;

/// The archive entry holding the manifest, always the first.
pub const MANIFEST_PATH: &str = "manifest.json";

/// A bundle's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The model's name in the repository.
    pub name: String,
    /// The version the bundle installs (a positive integer, the repository's version folder).
    pub version: u64,
    /// The oldest `outpost` server version that can serve it.
    pub min_server_version: String,
    /// Every file, sorted by path.
    pub files: Vec<FileEntry>,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path inside the bundle: `model/...`, `version/...` or `golden/...`.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// sha256 of the content (lower-case hex in the file).
    pub sha256: outpost_core::Sha256,
}

/// Where a bundle file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The model's own folder (`model.toml`, labels, anchors).
    Model,
    /// The version's folder (`model.onnx`).
    Version,
    /// The golden cases, which the device checks the version against.
    Golden,
}

impl Part {
    /// Every part, in path order.
    pub const ALL: [Part; 3] = [Part::Golden, Part::Model, Part::Version];

    /// The top-level folder of the part inside the bundle.
    pub fn prefix(self) -> &'static str {
        match self {
            Part::Model => "model",
            Part::Version => "version",
            Part::Golden => "golden",
        }
    }
}

impl FileEntry {
    /// The part the file belongs to and its path inside that part.
    pub fn part(&self) -> Option<(Part, &str)> {
        let (top, rest) = self.path.split_once('/')?;
        Part::ALL
            .into_iter()
            .find(|p| p.prefix() == top)
            .map(|p| (p, rest))
    }
}

impl Manifest {
    /// Parses and checks a manifest read from a bundle.
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Manifest, BundleError> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| BundleError::Manifest(format!("not a valid manifest: {e}")))?;
        manifest.check(limits)?;
        Ok(manifest)
    }

    /// The manifest as written into a bundle (sorted keys, two-space indent, final newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Checks names, paths, order and sizes against the rules and `limits`.
    pub fn check(&self, limits: &Limits) -> Result<(), BundleError> {
        if self.format != FORMAT {
            return Err(BundleError::Manifest(format!(
                "format {} (this version reads format {FORMAT})",
                self.format
            )));
        }
        check_model_name(&self.name)?;
        if self.version == 0 {
            return Err(invalid("version", "0", "versions are positive integers"));
        }
        check_server_version(&self.min_server_version)?;
        if self.files.len() > limits.max_files {
            return Err(BundleError::TooLarge {
                what: format!("{} files", self.files.len()),
                limit: limits.max_files as u64,
            });
        }
        let mut total: u64 = 0;
        for (at, file) in self.files.iter().enumerate() {
            check_path(&file.path)?;
            if file.part().is_none() {
                return Err(invalid(
                    "path",
                    &file.path,
                    "files live under model/, version/ or golden/",
                ));
            }
            if at > 0 && self.files[at - 1].path >= file.path {
                return Err(BundleError::Manifest(format!(
                    "'{}' is out of order or named twice (files are sorted by path)",
                    file.path
                )));
            }
            if file.size > limits.max_file_bytes {
                return Err(BundleError::TooLarge {
                    what: format!("'{}' ({} bytes)", file.path, file.size),
                    limit: limits.max_file_bytes,
                });
            }
            total = total.saturating_add(file.size);
        }
        if total > limits.max_total_bytes {
            return Err(BundleError::TooLarge {
                what: format!("the files' total ({total} bytes)"),
                limit: limits.max_total_bytes,
            });
        }
        if !self
            .files
            .iter()
            .any(|f| f.part().is_some_and(|(p, _)| p == Part::Version))
        {
            return Err(BundleError::Manifest(
                "no file under version/ (the model itself)".into(),
            ));
        }
        Ok(())
    }
}

fn invalid(what: &'static str, value: &str, reason: &'static str) -> BundleError {
    BundleError::Invalid {
        what,
        value: value.to_string(),
        reason,
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// A model name as the repository takes it: letters, digits, '_', '-' and '.', not `.` or `..`.
pub fn check_model_name(name: &str) -> Result<(), BundleError> {
    if name.is_empty() || name.len() > 128 {
        return Err(invalid("model name", name, "1 to 128 characters"));
    }
    if name == "." || name == ".." || !name.bytes().all(is_name_byte) {
        return Err(invalid(
            "model name",
            name,
            "letters, digits, '_', '-' and '.' only, not '.' or '..'",
        ));
    }
    Ok(())
}

/// A path inside a bundle: components of letters, digits, '_', '-' and '.' joined by '/', none
/// of them empty, `.` or `..`; at most 240 bytes.
pub fn check_path(path: &str) -> Result<(), BundleError> {
    if path.is_empty() || path.len() > 240 {
        return Err(invalid("path", path, "1 to 240 bytes"));
    }
    for component in path.split('/') {
        if component.is_empty()
            || component == "."
            || component == ".."
            || !component.bytes().all(is_name_byte)
        {
            return Err(invalid(
                "path",
                path,
                "relative, '/'-separated names of letters, digits, '_', '-' and '.'",
            ));
        }
    }
    Ok(())
}

/// `MAJOR.MINOR.PATCH`.
fn check_server_version(version: &str) -> Result<(), BundleError> {
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(
            "minimum server version",
            version,
            "MAJOR.MINOR.PATCH",
        ));
    }
    Ok(())
}

/// Whether a server of `version` (`MAJOR.MINOR.PATCH`) can serve a bundle that needs `minimum`.
pub fn server_satisfies(version: &str, minimum: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let mut parts = v.split('.').map(|p| p.parse::<u64>().ok());
        Some((parts.next()??, parts.next()??, parts.next()??))
    };
    match (parse(version), parse(minimum)) {
        (Some(have), Some(need)) => have >= need,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(paths: &[&str]) -> Manifest {
        Manifest {
            format: FORMAT,
            name: "m".into(),
            version: 1,
            min_server_version: "0.1.0".into(),
            files: paths
                .iter()
                .map(|p| FileEntry {
                    path: (*p).to_string(),
                    size: 1,
                    sha256: outpost_core::Sha256::from_bytes([0; 32]),
                })
                .collect(),
        }
    }

    #[test]
    fn paths_must_be_plain_and_relative() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "model/../../x",
            "model//x",
            "model/./x",
            "model/a b",
            "model\\x",
            "model/\u{e9}",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} accepted");
        }
        check_path("version/model.onnx").unwrap();
    }

    #[test]
    fn a_manifest_is_checked_for_order_parts_and_limits() {
        manifest(&["model/labels.txt", "version/model.onnx"])
            .check(&Limits::default())
            .unwrap();
        let unsorted = manifest(&["version/model.onnx", "model/labels.txt"]);
        assert!(unsorted.check(&Limits::default()).is_err());
        let elsewhere = manifest(&["other/x", "version/model.onnx"]);
        assert!(elsewhere.check(&Limits::default()).is_err());
        let no_model = manifest(&["model/labels.txt"]);
        assert!(no_model.check(&Limits::default()).is_err());
        let few = Limits {
            max_files: 1,
            ..Limits::default()
        };
        let two = manifest(&["model/labels.txt", "version/model.onnx"]);
        assert!(matches!(two.check(&few), Err(BundleError::TooLarge { .. })));
        let mut named = two.clone();
        named.name = "../evil".into();
        assert!(named.check(&Limits::default()).is_err());
    }

    #[test]
    fn server_versions_compare_numerically() {
        assert!(server_satisfies("0.10.0", "0.9.5"));
        assert!(!server_satisfies("0.1.0", "0.2.0"));
        assert!(!server_satisfies("junk", "0.1.0"));
    }
}
