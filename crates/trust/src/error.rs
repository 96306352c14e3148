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

/// `hash` or `length` when a failure of that kind is among the causes of `error`.
fn content_failure(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut cause = error.source();
    while let Some(current) = cause {
        match current.downcast_ref::<tough::error::Error>() {
            Some(tough::error::Error::HashMismatch { .. }) => return Some("hash"),
            Some(tough::error::Error::MaxSizeExceeded { .. }) => return Some("length"),
            _ => {}
        }
        cause = current.source();
    }
    None
}

impl TrustError {
    /// What kind of failure this is, as a short stable word for metrics and status reports:
    /// `unreachable` (the repository could not be read: offline, timeouts, missing files),
    /// `expired`, `signature` (a bad signature, a key root does not name, too few signatures),
    /// `rollback` (a version lower than one seen before), `mix_and_match` (metadata that does
    /// not belong together), `hash` (content that does not match its signed hash), `length`
    /// (more data than declared), `clock` (the system time went back behind the last time
    /// seen), `local` (this device's files), or `other`.
    pub fn reason(&self) -> &'static str {
        use tough::error::Error as E;
        let TrustError::Tuf { source, .. } = self else {
            return match self {
                TrustError::Io { .. } | TrustError::Key { .. } => "local",
                _ => "other",
            };
        };
        match source.as_ref() {
            // A file read through the transport that failed its signed hash or length carries
            // that failure inside the transport error.
            E::Transport { .. } => match content_failure(source.as_ref()) {
                Some(reason) => reason,
                None => "unreachable",
            },
            E::MetaMissing { .. } => "unreachable",
            E::ExpiredMetadata { .. } => "expired",
            E::VerifyMetadata { .. }
            | E::VerifyRoleMetadata { .. }
            | E::VerifyTrustedMetadata { .. }
            | E::KeysNotFoundInRoot { .. }
            | E::NoRoleKeysinRoot { .. } => "signature",
            E::OlderMetadata { .. }
            | E::OlderSnapshotInTimestamp { .. }
            | E::SnapshotRoleRollback { .. } => "rollback",
            E::VersionMismatch { .. }
            | E::SnapshotRoleMissing { .. }
            | E::SnapshotTargetsMetaMissing { .. }
            | E::MissingSnapshotMeta { .. }
            | E::TimestampMetaLength { .. } => "mix_and_match",
            E::HashMismatch { .. } => "hash",
            E::MaxSizeExceeded { .. } => "length",
            E::SystemTimeSteppedBackward { .. } => "clock",
            E::DatastoreInit { .. }
            | E::DatastoreCreate { .. }
            | E::DatastoreOpen { .. }
            | E::DatastoreRemove { .. }
            | E::DatastoreSerialize { .. } => "local",
            _ => "other",
        }
    }

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
