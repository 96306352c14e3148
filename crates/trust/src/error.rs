//! Why a repository could not be made, signed or trusted.

use thiserror::Error;

/// Failures of publishing or reading a TUF repository of bundles.
#[derive(Debug, Error)]
pub enum TrustError {
    /// A key file could not be made or used.
    #[error("key {path}: {reason}")]
    Key {
        /// The key file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A file or folder could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        source: std::io::Error,
    },
    /// tough refused or failed: a signature, a threshold, an expiry, a version that went back,
    /// a hash or length that does not match, a transport failure.
    #[error("{context}: {source}")]
    Tuf {
        /// What was being done.
        context: String,
        /// tough's error.
        source: Box<tough::error::Error>,
    },
    /// The bundle to publish is not valid.
    #[error("bundle: {0}")]
    Bundle(#[from] outpost_bundle::BundleError),
    /// Anything else about the repository that is not as it must be.
    #[error("{0}")]
    Repository(String),
}

impl TrustError {
    pub(crate) fn tuf(
        context: impl Into<String>,
    ) -> impl FnOnce(tough::error::Error) -> TrustError {
        let context = context.into();
        move |source| TrustError::Tuf {
            context,
            source: Box::new(source),
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> TrustError {
        let context = context.into();
        move |source| TrustError::Io { context, source }
    }
}
