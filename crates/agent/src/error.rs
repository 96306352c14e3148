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

    /// A short stable word for metrics and status: `unreachable`, `expired`, `signature`,
    /// `rollback`, `mix_and_match`, `hash`, `length`, `clock`, `bundle`, `server`, `local`,
    /// `other`.
    pub fn reason(&self) -> &'static str {
        use outpost_storage::download::TransferError as T;
        match self {
            AgentError::Trust(e) => e.reason(),
            AgentError::Transfer(T::HashMismatch { .. }) => "hash",
            AgentError::Transfer(T::TooLong { .. }) => "length",
            AgentError::Transfer(T::Io { .. }) | AgentError::Io { .. } | AgentError::State(_) => {
                "local"
            }
            AgentError::Transfer(_) | AgentError::Storage(_) => "unreachable",
            AgentError::Bundle(_) => "bundle",
            AgentError::Server(_) | AgentError::Refused { .. } => "server",
            AgentError::ClockBehind { .. } => "clock",
            AgentError::Config(_) => "other",
        }
    }
}
