//! Client connections under limits, on every listener: a cap on open connections (further ones
//! wait in the kernel's queue), a header read timeout, an idle timeout between requests, a send
//! timeout for answers the client does not read, and a minimum pace for request bodies. What
//! was closed, and why, is counted for /metrics. [`http`] accepts and serves the HTTP and
//! metrics listeners; [`grpc`] adapts the gRPC listener for tonic.

mod activity;
pub mod grpc;
mod guarded_io;
pub mod http;
mod metrics;
mod requests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use activity::TimeoutReason;
pub use guarded_io::ConnectionHandle;
pub use metrics::ConnectionsCollector;
pub use requests::{is_body_too_slow, BodyTooSlow};

use crate::config::ConnectionsConfig;

/// The limits every connection of a listener is under.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections per listener.
    pub max_connections: usize,
    /// A whole request head must arrive within this.
    pub header_read_timeout: Duration,
    /// Longest wait for the next request after an answer.
    pub idle_timeout: Duration,
    /// Longest wait for the client to read an answer.
    pub send_timeout: Duration,
    /// Time a request body has, before what its bytes earn.
    pub body_timeout: Duration,
    /// Each this many bytes of a body earn it another second.
    pub body_min_bytes_per_sec: u64,
}

impl From<&ConnectionsConfig> for ConnectionLimits {
    fn from(config: &ConnectionsConfig) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: config.max_connections,
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            send_timeout: Duration::from_secs(config.send_timeout_secs),
            body_timeout: Duration::from_secs(config.body_timeout_secs),
            body_min_bytes_per_sec: config.body_min_bytes_per_sec,
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits::from(&ConnectionsConfig::default())
    }
}

/// Which listener a connection came in on (the `listener` label in /metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// The REST listener.
    Http,
    /// The gRPC listener.
    Grpc,
    /// `/metrics` on a port of its own.
    Metrics,
}

impl ListenerKind {
    /// Every listener, in the order /metrics lists them.
    pub const ALL: [ListenerKind; 3] = [
        ListenerKind::Http,
        ListenerKind::Grpc,
        ListenerKind::Metrics,
    ];

    /// The `listener` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerKind::Http => "http",
            ListenerKind::Grpc => "grpc",
            ListenerKind::Metrics => "metrics",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts per listener.
#[derive(Debug, Default)]
struct ListenerCounts {
    accepted: AtomicU64,
    closed: AtomicU64,
    waited_for_place: AtomicU64,
    timed_out: [AtomicU64; TimeoutReason::ALL.len()],
}

/// What the listeners' connections did, for /metrics.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    listeners: [ListenerCounts; ListenerKind::ALL.len()],
}

impl ConnectionStats {
    fn counts(&self, listener: ListenerKind) -> &ListenerCounts {
        &self.listeners[listener.index()]
    }

    fn opened(&self, listener: ListenerKind) {
        self.counts(listener)
            .accepted
            .fetch_add(1, Ordering::Relaxed);
    }

    fn closed(&self, listener: ListenerKind) {
        self.counts(listener).closed.fetch_add(1, Ordering::Relaxed);
    }

    fn waited_for_place(&self, listener: ListenerKind) {
        self.counts(listener)
            .waited_for_place
            .fetch_add(1, Ordering::Relaxed);
    }

    fn timed_out(&self, listener: ListenerKind, reason: TimeoutReason) {
        self.counts(listener).timed_out[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections accepted on `listener` so far.
    pub fn accepted(&self, listener: ListenerKind) -> u64 {
        self.counts(listener).accepted.load(Ordering::Relaxed)
    }

    /// Connections open on `listener` now.
    pub fn open(&self, listener: ListenerKind) -> u64 {
        let counts = self.counts(listener);
        let closed = counts.closed.load(Ordering::Relaxed);
        counts
            .accepted
            .load(Ordering::Relaxed)
            .saturating_sub(closed)
    }

    /// Times a connection on `listener` had to wait for a place under the cap.
    pub fn waits_for_place(&self, listener: ListenerKind) -> u64 {
        self.counts(listener)
            .waited_for_place
            .load(Ordering::Relaxed)
    }

    /// Connections (or, for `BodyTooSlow`, requests) on `listener` closed for `reason`.
    pub fn timeouts(&self, listener: ListenerKind, reason: TimeoutReason) -> u64 {
        self.counts(listener).timed_out[reason as usize].load(Ordering::Relaxed)
    }
}
