//! Why a step of the agent failed. Each failure is either the bundle's fault (it is refused and
//! never tried again: [`AgentError::is_bundle_fault`]) or a passing condition (offline, a full
//! disk, a server restarting) that is retried later with backoff.

use thiserror::Error;

use crate::config::ConfigError;

/// A failure of the agent.
#[derive(Debug, Error)]
pub enum AgentError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state file cannot be read or written.
    #[error("agent state: {0}")]
    State(String),
    /// A local file or folder operation failed (a full disk among them).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The repository's metadata was not trusted, or could not be read.
    #[error(transparent)]
    Trust(#[from] outpost_trust::TrustError),
    /// A bundle download failed.
    #[error(transparent)]
    Transfer(#[from] outpost_storage::download::TransferError),
    /// The repository URL cannot be opened.
    #[error(transparent)]
    Storage(#[from] outpost_storage::StorageError),
    /// The bundle is not valid (paths, sizes, hashes, manifest), or does not match its target.
    #[error("bundle refused: {0}")]
    Bundle(String),
    /// The system clock is behind the latest time this device has seen.
    #[error("the system clock ({now}) is behind the latest time seen ({latest}): no update is installed until it is set right")]
    ClockBehind {
        /// The clock now.
        now: String,
        /// The latest time seen.
        latest: String,
    },
    /// The server could not be reached, or its answer could not be read.
    #[error("server: {0}")]
    Server(String),
    /// The server answered a request with an error status.
    #[error("server: {what}: {status}: {message}")]
    Refused {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The answer's `error` field, or its text.
        message: String,
        /// The answer's `code` field: what went wrong as a stable word (`model_load_failed`,
        /// `bad_parameter`, ...), when the server gave one.
        code: Option<String>,
    },
}

impl AgentError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> AgentError {
        let context = context.into();
        move |source| AgentError::Io { context, source }
    }

    /// True when the bundle itself is at fault, so retrying it cannot help.
    pub fn is_bundle_fault(&self) -> bool {
        matches!(
            self,
            AgentError::Bundle(_)
                | AgentError::Transfer(
                    outpost_storage::download::TransferError::HashMismatch { .. }
                        | outpost_storage::download::TransferError::TooLong { .. }
                )
        )
    }

    /// What kind of failure this is, which the agent decides from.
    pub fn kind(&self) -> Failure {
        use outpost_storage::download::TransferError as T;
        match self {
            AgentError::Trust(e) => e.kind().into(),
            AgentError::Transfer(T::HashMismatch { .. }) => {
                Failure::Untrusted(outpost_trust::Failure::Hash)
            }
            AgentError::Transfer(T::TooLong { .. }) => {
                Failure::Untrusted(outpost_trust::Failure::Length)
            }
            AgentError::Transfer(T::Io { .. }) | AgentError::Io { .. } | AgentError::State(_) => {
                Failure::Local
            }
            AgentError::Transfer(_) | AgentError::Storage(_) => Failure::Unreachable,
            AgentError::Bundle(_) => Failure::Bundle,
            AgentError::Server(_) | AgentError::Refused { .. } => Failure::Server,
            AgentError::ClockBehind { .. } => Failure::Clock,
            AgentError::Config(_) => Failure::Other,
        }
    }

    /// [`AgentError::kind`]'s word, for metrics and status.
    pub fn reason(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// What kind of failure an [`AgentError`] is: the repository's kinds
/// ([`outpost_trust::Failure`]) and the bundle's and the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The repository could not be read.
    Unreachable,
    /// The repository's metadata expired.
    Expired,
    /// Metadata or content not as signed: a signature, a version gone back, metadata that does
    /// not belong together, a hash, a length.
    Untrusted(outpost_trust::Failure),
    /// The clock is behind the latest time seen.
    Clock,
    /// The bundle is not valid.
    Bundle,
    /// The server failed or refused.
    Server,
    /// This device's files.
    Local,
    /// Anything else.
    Other,
}

impl Failure {
    /// A short stable word for metrics and status: `unreachable`, `expired`, `signature`,
    /// `rollback`, `mix_and_match`, `hash`, `length`, `clock`, `bundle`, `server`, `local`,
    /// `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Untrusted(kind) => kind.as_str(),
            Failure::Unreachable => "unreachable",
            Failure::Expired => "expired",
            Failure::Clock => "clock",
            Failure::Bundle => "bundle",
            Failure::Server => "server",
            Failure::Local => "local",
            Failure::Other => "other",
        }
    }
}

impl From<outpost_trust::Failure> for Failure {
    fn from(kind: outpost_trust::Failure) -> Failure {
        use outpost_trust::Failure as T;
        match kind {
            T::Unreachable => Failure::Unreachable,
            T::Expired => Failure::Expired,
            T::Clock => Failure::Clock,
            T::Local => Failure::Local,
            T::Other => Failure::Other,
            untrusted => Failure::Untrusted(untrusted),
        }
    }
}
