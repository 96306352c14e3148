//! Progress of a transfer, for whoever shows it (a command's progress bar); the transfers call
//! it as bytes move and never depend on how it is shown.

/// Told how a transfer advances.
pub trait Progress: Send + Sync {
    /// The transfer begins: `total` bytes in all, `done` of them already there (resumed).
    fn start(&self, total: u64, done: u64);
    /// `bytes` more moved.
    fn advance(&self, bytes: u64);
    /// The transfer ended, well or not.
    fn finish(&self) {}
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total: u64, _done: u64) {}
    fn advance(&self, _bytes: u64) {}
}
