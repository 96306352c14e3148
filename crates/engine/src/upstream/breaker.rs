//! The circuit breaker of one upstream server: consecutive failures or timeouts open it, and
//! while it is open requests do not try the upstream at all (they go local with no wait). While
//! open, a background task probes the upstream's ready endpoint every probe interval; a ready
//! answer half-opens the circuit, where one request tries the upstream: its success closes the
//! circuit, its failure opens it again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use outpost_core::RemoteModel;

/// Where a circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CircuitState {
    /// Requests try the upstream.
    Closed,
    /// A probe succeeded: the next request tries the upstream.
    HalfOpen,
    /// Requests skip the upstream; the upstream is being probed.
    Open,
}

impl CircuitState {
    /// `closed`, `half_open` or `open`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half_open",
            CircuitState::Open => "open",
        }
    }

    /// 0 closed, 1 half open, 2 open: the metric's value.
    pub(crate) fn gauge(self) -> i64 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }
}

/// Whether a request may try the upstream now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    /// The circuit is closed: ask.
    Ask,
    /// The circuit is half open and this request is its trial.
    Trial,
    /// Do not ask: the circuit is open, or another request is the trial.
    Skip,
}

#[derive(Debug)]
struct Inner {
    state: CircuitState,
    consecutive_failures: u32,
    trial_in_flight: bool,
    opened_total: u64,
}

/// The circuit breaker of one upstream server, shared by every model that uses it.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    endpoint: String,
    failures_to_open: u32,
    probe_interval: Duration,
    probe_timeout: Duration,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// A closed circuit for `endpoint` that opens after `failures_to_open` consecutive failures
    /// and is probed every `probe_interval` (each probe waiting at most `probe_timeout`) while
    /// open.
    pub(crate) fn new(
        endpoint: String,
        failures_to_open: u32,
        probe_interval: Duration,
        probe_timeout: Duration,
    ) -> CircuitBreaker {
        CircuitBreaker {
            endpoint,
            failures_to_open: failures_to_open.max(1),
            probe_interval,
            probe_timeout,
            inner: Mutex::new(Inner {
                state: CircuitState::Closed,
                consecutive_failures: 0,
                trial_in_flight: false,
                opened_total: 0,
            }),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state stays consistent under every update, so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The upstream server this circuit guards.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Where the circuit stands now.
    pub(crate) fn state(&self) -> CircuitState {
        self.inner().state
    }

    /// Times the circuit has opened.
    pub(crate) fn opened_total(&self) -> u64 {
        self.inner().opened_total
    }

    /// Whether a request may try the upstream now; a [`Permit::Trial`] must be followed by
    /// [`CircuitBreaker::succeeded`] or [`CircuitBreaker::failed`].
    pub(crate) fn permit(&self) -> Permit {
        let mut inner = self.inner();
        match inner.state {
            CircuitState::Closed => Permit::Ask,
            CircuitState::Open => Permit::Skip,
            CircuitState::HalfOpen if inner.trial_in_flight => Permit::Skip,
            CircuitState::HalfOpen => {
                inner.trial_in_flight = true;
                Permit::Trial
            }
        }
    }

    /// Whether [`CircuitBreaker::permit`] would answer [`Permit::Skip`] now (taking nothing).
    pub(crate) fn would_skip(&self) -> bool {
        let inner = self.inner();
        match inner.state {
            CircuitState::Closed => false,
            CircuitState::Open => true,
            CircuitState::HalfOpen => inner.trial_in_flight,
        }
    }

    /// The upstream answered.
    pub(crate) fn succeeded(&self) {
        let mut inner = self.inner();
        inner.consecutive_failures = 0;
        inner.trial_in_flight = false;
        if inner.state != CircuitState::Closed {
            inner.state = CircuitState::Closed;
            tracing::info!(upstream = %self.endpoint, "upstream answered: circuit closed");
        }
    }

    /// A request that tried the upstream (with `permit`) got no answer. Opening the circuit
    /// starts probing through `client`.
    pub(crate) fn failed(
        self: &Arc<Self>,
        permit: Permit,
        client: &Arc<dyn RemoteModel>,
        why: &str,
    ) {
        let mut inner = self.inner();
        if permit == Permit::Trial {
            inner.trial_in_flight = false;
        }
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        let opens = match inner.state {
            CircuitState::Closed => inner.consecutive_failures >= self.failures_to_open,
            CircuitState::HalfOpen => permit == Permit::Trial,
            CircuitState::Open => false,
        };
        if opens {
            inner.state = CircuitState::Open;
            inner.opened_total += 1;
            tracing::warn!(
                upstream = %self.endpoint,
                failures = inner.consecutive_failures,
                error = why,
                probe_interval_ms = self.probe_interval.as_millis() as u64,
                "upstream failing: circuit open, requests are answered locally"
            );
            drop(inner);
            self.start_probing(client.clone());
        }
    }

    /// Probes the upstream every probe interval until it is ready, then half-opens the circuit.
    fn start_probing(self: &Arc<Self>, client: Arc<dyn RemoteModel>) {
        let breaker = Arc::downgrade(self);
        let (interval, timeout) = (self.probe_interval, self.probe_timeout);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(upstream = %self.endpoint, "no async runtime to probe the upstream on");
            return;
        };
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let probe = client.probe(timeout).await;
                let Some(breaker) = breaker.upgrade() else {
                    return;
                };
                match probe {
                    Ok(()) => {
                        let mut inner = breaker.inner();
                        if inner.state == CircuitState::Open {
                            inner.state = CircuitState::HalfOpen;
                            inner.trial_in_flight = false;
                            tracing::info!(upstream = %breaker.endpoint, "upstream ready again: circuit half open");
                        }
                        return;
                    }
                    Err(error) => {
                        tracing::debug!(upstream = %breaker.endpoint, %error, "upstream probe failed");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::upstream::RemoteFuture;
    use outpost_core::{InferRequest, InferResponse, RemoteError};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    struct Probed {
        ready: AtomicBool,
        probes: AtomicUsize,
    }

    impl RemoteModel for Probed {
        fn infer(&self, _: &InferRequest, _: Duration) -> RemoteFuture<InferResponse> {
            unreachable!("the breaker only probes")
        }
        fn probe(&self, _: Duration) -> RemoteFuture<()> {
            self.probes.fetch_add(1, Ordering::SeqCst);
            let ready = self.ready.load(Ordering::SeqCst);
            Box::pin(async move {
                if ready {
                    Ok(())
                } else {
                    Err(RemoteError::Failed {
                        endpoint: "cloud".into(),
                        message: "down".into(),
                    })
                }
            })
        }
        fn endpoint(&self) -> &str {
            "cloud"
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_probes_and_closes_on_a_good_trial() {
        let remote = Arc::new(Probed {
            ready: AtomicBool::new(false),
            probes: AtomicUsize::new(0),
        });
        let client: Arc<dyn RemoteModel> = remote.clone();
        let breaker = Arc::new(CircuitBreaker::new(
            "cloud".into(),
            2,
            Duration::from_secs(1),
            Duration::from_millis(100),
        ));
        assert_eq!(breaker.permit(), Permit::Ask);
        breaker.failed(Permit::Ask, &client, "timeout");
        breaker.succeeded();
        breaker.failed(Permit::Ask, &client, "timeout");
        assert_eq!(
            breaker.state(),
            CircuitState::Closed,
            "a success in between"
        );
        breaker.failed(Permit::Ask, &client, "timeout");
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(breaker.permit(), Permit::Skip);

        // Probed once a second while down.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(remote.probes.load(Ordering::SeqCst), 2);
        assert_eq!(breaker.state(), CircuitState::Open);

        remote.ready.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert_eq!(breaker.permit(), Permit::Trial);
        assert_eq!(breaker.permit(), Permit::Skip, "one trial at a time");

        // A failed trial opens it again at once; a later good trial closes it.
        breaker.failed(Permit::Trial, &client, "timeout");
        assert_eq!(breaker.state(), CircuitState::Open);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(breaker.permit(), Permit::Trial);
        breaker.succeeded();
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert_eq!(breaker.permit(), Permit::Ask);
        assert_eq!(breaker.opened_total(), 2);
    }
}
