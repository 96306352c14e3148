//! Why a bundle could not be made or read.

use std::path::PathBuf;

use thiserror::Error;

/// Failures of making, checking or unpacking a bundle.
#[derive(Debug, Error)]
pub enum BundleError {
    /// Reading or writing a file failed (a full disk among them).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        source: std::io::Error,
    },
    /// A source directory holds something a bundle cannot carry.
    #[error("{path}: {reason}")]
    Source {
        /// The file or directory.
        path: PathBuf,
        /// Why it cannot be packed.
        reason: String,
    },
    /// The manifest is missing, unreadable or inconsistent.
    #[error("manifest: {0}")]
    Manifest(String),
    /// A name, version or path in the manifest breaks the rules.
    #[error("invalid {what} '{value}': {reason}")]
    Invalid {
        /// What it is (a model name, a path, ...).
        what: &'static str,
        /// The value as given.
        value: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// An archive entry at a path that is not a plain relative path.
    #[error("entry '{0}' is not a plain relative path inside the bundle")]
    HostilePath(String),
    /// An archive entry that is not a regular file (a link, a device, a directory, ...).
    #[error("entry '{path}' is a {kind}, not a regular file")]
    NotAFile {
        /// Its path.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// An archive entry the manifest does not name at that place.
    #[error("entry '{found}' where the manifest names {expected}")]
    Unexpected {
        /// The entry found.
        found: String,
        /// What the manifest names there.
        expected: String,
    },
    /// An entry whose size is not the manifest's.
    #[error("'{path}' holds {found} bytes, the manifest declares {declared}")]
    SizeMismatch {
        /// The file.
        path: String,
        /// Bytes declared.
        declared: u64,
        /// Bytes found.
        found: u64,
    },
    /// An entry whose content does not have the manifest's hash.
    #[error("'{path}' does not match its sha256 in the manifest")]
    HashMismatch {
        /// The file.
        path: String,
    },
    /// The bundle is larger than the limits allow.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// What is too large.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// The golden cases are malformed or name files the bundle lacks.
    #[error("golden cases: {0}")]
    Golden(String),
}

impl BundleError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BundleError {
        let context = context.into();
        move |source| BundleError::Io { context, source }
    }
}
