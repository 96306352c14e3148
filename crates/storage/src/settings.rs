//! How patiently the repository is reached.

use std::time::Duration;

/// Timeouts and retries for every request to the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageSettings {
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Longest a whole request may take, body included (a long download cut by it continues
    /// with the next request, from where it stopped).
    pub request_timeout: Duration,
    /// Longest wait for the next bytes of an answer: a stalled transfer is abandoned after it.
    pub stall_timeout: Duration,
    /// Retries of a failed request (0: none).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
            stall_timeout: Duration::from_secs(30),
            max_retries: 2,
            retry_timeout: Duration::from_secs(15),
        }
    }
}
