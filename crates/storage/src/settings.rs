//! How patiently the repository is reached.

use std::time::Duration;

/// Timeouts and retries for every request to the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageSettings {
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Longest wait for a whole request, body included.
    pub request_timeout: Duration,
    /// Retries of a failed request (0: none).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_retries: 2,
            retry_timeout: Duration::from_secs(15),
        }
    }
}
