//! What one connection is doing, as its I/O and its requests report it, and the deadline that
//! follows from it: a first request within the header read timeout of the accept; between
//! requests, the idle timeout from the last answer (over HTTP/1, once a request head has begun,
//! the header read timeout from its first byte); a response the client does not take within the
//! send timeout. Requests in flight are otherwise bounded by their own deadlines, not here.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::Waker;

use futures_util::task::AtomicWaker;
use std::time::Duration;

use tokio::time::Instant;

use super::ConnectionLimits;

/// Why a connection was closed by the server before its client was done with it. The order
/// of declaration is the order of [`TimeoutReason::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutReason {
    /// A request head (or an HTTP/2 client's first request) did not arrive in time.
    HeaderTimeout,
    /// No request came within the idle timeout after the last answer.
    IdleTimeout,
    /// The client did not take the server's answer within the send timeout.
    SendTimeout,
    /// A request body arrived slower than the minimum rate allows.
    BodyTooSlow,
}

impl TimeoutReason {
    /// Every reason, in the order /metrics lists them.
    pub const ALL: [TimeoutReason; 4] = [
        TimeoutReason::HeaderTimeout,
        TimeoutReason::IdleTimeout,
        TimeoutReason::SendTimeout,
        TimeoutReason::BodyTooSlow,
    ];

    /// The `reason` label in /metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutReason::HeaderTimeout => "header_timeout",
            TimeoutReason::IdleTimeout => "idle_timeout",
            TimeoutReason::SendTimeout => "send_timeout",
            TimeoutReason::BodyTooSlow => "body_too_slow",
        }
    }
}

/// No time recorded.
const NEVER: u64 = u64::MAX;

/// One connection's state, shared by its I/O (bytes read, writes waiting) and its requests
/// (started, answered). Times are milliseconds since the accept.
#[derive(Debug)]
pub struct Activity {
    accepted: Instant,
    /// HTTP/2: every byte between requests is framing (pings, window updates), never a head.
    http2: bool,
    requests_started: AtomicU64,
    in_flight: AtomicU32,
    /// When the last request in flight was answered.
    idle_since_ms: AtomicU64,
    /// The first byte read since the connection last went idle.
    head_started_ms: AtomicU64,
    /// Since when a write has been waiting for the client to read.
    write_waiting_since_ms: AtomicU64,
    /// Set once a timeout closed the connection.
    closed: AtomicBool,
    /// The connection's task, woken when its last request in flight is answered: the deadline
    /// between requests starts then, and a task waiting on the client must arm its timer for it.
    io_task: AtomicWaker,
}

impl Activity {
    /// A connection accepted now.
    pub fn new(http2: bool) -> Activity {
        Activity::accepted_at(Instant::now(), http2)
    }

    fn accepted_at(accepted: Instant, http2: bool) -> Activity {
        Activity {
            accepted,
            http2,
            requests_started: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(NEVER),
            write_waiting_since_ms: AtomicU64::new(NEVER),
            closed: AtomicBool::new(false),
            io_task: AtomicWaker::new(),
        }
    }

    /// When the connection was accepted.
    pub fn accepted(&self) -> Instant {
        self.accepted
    }

    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.accepted).as_millis() as u64
    }

    /// Bytes arrived at `at`.
    pub fn on_read(&self, at: Instant) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let now = self.ms(at);
            let _ = self.head_started_ms.compare_exchange(
                NEVER,
                now,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// A write could not go out at `at` (the client's window is full), or went out (`None`).
    pub fn on_write(&self, waiting_since: Option<Instant>) {
        match waiting_since {
            Some(at) => {
                let now = self.ms(at);
                let _ = self.write_waiting_since_ms.compare_exchange(
                    NEVER,
                    now,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
            None => self.write_waiting_since_ms.store(NEVER, Ordering::Release),
        }
    }

    /// A request's head arrived and its handling starts.
    pub fn request_started(&self) {
        self.requests_started.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started_ms.store(NEVER, Ordering::Release);
    }

    /// A request's answer was handed to the connection whole (or given up), at `at`.
    pub fn request_finished(&self, at: Instant) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_since_ms.store(self.ms(at), Ordering::Release);
            self.head_started_ms.store(NEVER, Ordering::Release);
            self.io_task.wake();
        }
    }

    /// Registers the task that waits on the connection's I/O.
    pub fn register_io_task(&self, waker: &Waker) {
        self.io_task.register(waker);
    }

    /// Marks the connection closed by a timeout; true the first time only.
    pub fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// The earliest deadline the connection is under now, and what passing it means.
    pub fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, TimeoutReason)> {
        let at = |ms: u64, after: Duration| self.accepted + Duration::from_millis(ms) + after;
        let write_waiting = self.write_waiting_since_ms.load(Ordering::Acquire);
        let sending = (write_waiting != NEVER).then(|| {
            (
                at(write_waiting, limits.send_timeout),
                TimeoutReason::SendTimeout,
            )
        });
        let between_requests = if self.in_flight.load(Ordering::Acquire) > 0 {
            None
        } else if self.requests_started.load(Ordering::Acquire) == 0 {
            Some((
                at(0, limits.header_read_timeout),
                TimeoutReason::HeaderTimeout,
            ))
        } else {
            let head_started = self.head_started_ms.load(Ordering::Acquire);
            if !self.http2 && head_started != NEVER {
                Some((
                    at(head_started, limits.header_read_timeout),
                    TimeoutReason::HeaderTimeout,
                ))
            } else {
                let idle_since = self.idle_since_ms.load(Ordering::Acquire);
                Some((
                    at(idle_since, limits.idle_timeout),
                    TimeoutReason::IdleTimeout,
                ))
            }
        };
        [sending, between_requests]
            .into_iter()
            .flatten()
            .min_by_key(|(deadline, _)| *deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 8,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(20),
            body_min_bytes_per_sec: 1000,
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_new_connection_has_the_header_timeout_from_its_accept_even_as_bytes_trickle() {
        let start = Instant::now();
        let activity = Activity::accepted_at(start, false);
        let expected = Some((start + secs(10), TimeoutReason::HeaderTimeout));
        assert_eq!(activity.deadline(&limits()), expected);
        activity.on_read(start + secs(3));
        activity.on_read(start + secs(9));
        assert_eq!(activity.deadline(&limits()), expected);
    }

    #[test]
    fn a_request_in_flight_has_no_deadline_here_until_its_answer_waits_on_the_client() {
        let start = Instant::now();
        let activity = Activity::accepted_at(start, false);
        activity.request_started();
        assert_eq!(activity.deadline(&limits()), None);
        activity.on_write(Some(start + secs(5)));
        activity.on_write(Some(start + secs(7)));
        assert_eq!(
            activity.deadline(&limits()),
            Some((start + secs(35), TimeoutReason::SendTimeout))
        );
        activity.on_write(None);
        assert_eq!(activity.deadline(&limits()), None);
    }

    #[test]
    fn between_requests_the_idle_timeout_runs_then_a_head_has_the_header_timeout() {
        let start = Instant::now();
        let activity = Activity::accepted_at(start, false);
        activity.request_started();
        activity.request_finished(start + secs(2));
        assert_eq!(
            activity.deadline(&limits()),
            Some((start + secs(62), TimeoutReason::IdleTimeout))
        );
        activity.on_read(start + secs(30));
        assert_eq!(
            activity.deadline(&limits()),
            Some((start + secs(40), TimeoutReason::HeaderTimeout))
        );
        activity.request_started();
        assert_eq!(activity.deadline(&limits()), None);
    }

    #[test]
    fn http2_framing_between_requests_does_not_start_a_head() {
        let start = Instant::now();
        let activity = Activity::accepted_at(start, true);
        activity.request_started();
        activity.request_started();
        activity.request_finished(start + secs(1));
        assert_eq!(activity.deadline(&limits()), None, "one stream still open");
        activity.request_finished(start + secs(4));
        activity.on_read(start + secs(5));
        assert_eq!(
            activity.deadline(&limits()),
            Some((start + secs(64), TimeoutReason::IdleTimeout))
        );
    }

    #[test]
    fn the_earliest_deadline_wins_and_a_connection_closes_once() {
        let start = Instant::now();
        let activity = Activity::accepted_at(start, false);
        activity.on_write(Some(start));
        assert_eq!(
            activity.deadline(&limits()),
            Some((start + secs(10), TimeoutReason::HeaderTimeout))
        );
        assert!(activity.close());
        assert!(!activity.close());
    }
}
