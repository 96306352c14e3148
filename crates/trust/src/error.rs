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

/// [`Failure::Hash`] or [`Failure::Length`] when a failure of that kind is among the causes
/// of `error`.
fn content_failure(error: &(dyn std::error::Error + 'static)) -> Option<Failure> {
    let mut cause = error.source();
    while let Some(current) = cause {
        match current.downcast_ref::<tough::error::Error>() {
            Some(tough::error::Error::HashMismatch { .. }) => return Some(Failure::Hash),
            Some(tough::error::Error::MaxSizeExceeded { .. }) => return Some(Failure::Length),
            _ => {}
        }
        cause = current.source();
    }
    None
}

/// What kind of failure a [`TrustError`] is: what a device decides from (offline or
/// untrusted, expired, a clock behind), each with a stable word for metrics and status
/// reports ([`Failure::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The repository could not be read: offline, timeouts, missing files.
    Unreachable,
    /// A role's metadata expired.
    Expired,
    /// A bad signature, a key root does not name, too few signatures.
    Signature,
    /// A version lower than one seen before.
    Rollback,
    /// Metadata that does not belong together.
    MixAndMatch,
    /// Content that does not match its signed hash.
    Hash,
    /// More data than declared.
    Length,
    /// The system time went back behind the last time seen.
    Clock,
    /// This device's files.
    Local,
    /// Anything else.
    Other,
}

impl Failure {
    /// The stable word: `unreachable`, `expired`, `signature`, `rollback`, `mix_and_match`,
    /// `hash`, `length`, `clock`, `local`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Unreachable => "unreachable",
            Failure::Expired => "expired",
            Failure::Signature => "signature",
            Failure::Rollback => "rollback",
            Failure::MixAndMatch => "mix_and_match",
            Failure::Hash => "hash",
            Failure::Length => "length",
            Failure::Clock => "clock",
            Failure::Local => "local",
            Failure::Other => "other",
        }
    }

    /// Whether the repository (or something between it and the device) is at fault: the
    /// metadata or content is not what its signatures vouch for.
    pub fn is_untrusted(self) -> bool {
        matches!(
            self,
            Failure::Signature
                | Failure::Rollback
                | Failure::MixAndMatch
                | Failure::Hash
                | Failure::Length
        )
    }
}

impl TrustError {
    /// What kind of failure this is.
    pub fn kind(&self) -> Failure {
        use tough::error::Error as E;
        let TrustError::Tuf { source, .. } = self else {
            return match self {
                TrustError::Io { .. } | TrustError::Key { .. } => Failure::Local,
                _ => Failure::Other,
            };
        };
        match source.as_ref() {
            // A file read through the transport that failed its signed hash or length carries
            // that failure inside the transport error.
            E::Transport { .. } => content_failure(source.as_ref()).unwrap_or(Failure::Unreachable),
            E::MetaMissing { .. } => Failure::Unreachable,
            E::ExpiredMetadata { .. } => Failure::Expired,
            E::VerifyMetadata { .. }
            | E::VerifyRoleMetadata { .. }
            | E::VerifyTrustedMetadata { .. }
            | E::KeysNotFoundInRoot { .. }
            | E::NoRoleKeysinRoot { .. } => Failure::Signature,
            E::OlderMetadata { .. }
            | E::OlderSnapshotInTimestamp { .. }
            | E::SnapshotRoleRollback { .. } => Failure::Rollback,
            E::VersionMismatch { .. }
            | E::SnapshotRoleMissing { .. }
            | E::SnapshotTargetsMetaMissing { .. }
            | E::MissingSnapshotMeta { .. }
            | E::TimestampMetaLength { .. } => Failure::MixAndMatch,
            E::HashMismatch { .. } => Failure::Hash,
            E::MaxSizeExceeded { .. } => Failure::Length,
            E::SystemTimeSteppedBackward { .. } => Failure::Clock,
            E::DatastoreInit { .. }
            | E::DatastoreCreate { .. }
            | E::DatastoreOpen { .. }
            | E::DatastoreRemove { .. }
            | E::DatastoreSerialize { .. } => Failure::Local,
            _ => Failure::Other,
        }
    }

    /// [`TrustError::kind`]'s word, for metrics and status reports.
    pub fn reason(&self) -> &'static str {
        self.kind().as_str()
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
