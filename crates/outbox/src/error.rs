//! Why the outbox could not record or forward.

use std::path::PathBuf;

use thiserror::Error;

/// Why the outbox could not record or forward.
#[derive(Debug, Error)]
pub enum OutboxError {
    /// The database failed (a full disk among other reasons).
    #[error("outbox database {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A file or folder could not be made or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The outbox's writer has stopped (the server is stopping).
    #[error("the outbox is closed")]
    Closed,
    /// The destination cannot be opened.
    #[error("outbox destination: {0}")]
    Destination(String),
}
