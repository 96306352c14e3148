//! Where the records of answered requests go for store-and-forward (`forward` in `model.toml`):
//! the [`RecordSink`] trait, which the outbox implements and the engine is handed.

use std::future::Future;
use std::pin::Pin;

/// Takes records of answered requests and keeps them durably.
pub trait RecordSink: Send + Sync {
    /// Appends one record (a JSON object, answered at `at_ms` milliseconds since the Unix
    /// epoch); the future completes once it is kept (or counted as lost: an answer never fails
    /// for its record).
    fn append(&self, json: String, at_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}
