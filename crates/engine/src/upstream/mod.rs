//! Models' upstreams as the engine uses them: the client made for each model with an
//! `[upstream]` (by the [`RemoteConnector`] the server provides), one [`CircuitBreaker`] per
//! upstream server shared by the models that use it, asking the upstream within a request's
//! time ([`ModelUpstream::ask`]), and what `/metrics` shows of them. Where a request goes is
//! decided on the request path (`crate::inference`).

pub(crate) mod breaker;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outpost_core::{
    ConnectError, InferRequest, InferResponse, RemoteConnector, RemoteError, RemoteModel, ServedBy,
    UpstreamConfig, UpstreamPolicy,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

pub(crate) use breaker::{CircuitBreaker, CircuitState, Permit};

/// Every upstream in use, and how clients for new ones are made.
pub(crate) struct Upstreams {
    connector: Option<Arc<dyn RemoteConnector>>,
    server_config: Option<UpstreamConfig>,
    servers: Mutex<BTreeMap<String, Arc<UpstreamServer>>>,
}

/// One upstream server: its circuit and its counts.
#[derive(Debug)]
pub(crate) struct UpstreamServer {
    /// The circuit shared by every model that uses this server.
    pub breaker: Arc<CircuitBreaker>,
    answered: AtomicU64,
    failed: AtomicU64,
}

/// A model's upstream: its settings, its client and its server's circuit.
pub(crate) struct ModelUpstream {
    /// `[upstream]` as configured.
    pub config: UpstreamConfig,
    client: Arc<dyn RemoteModel>,
    server: Arc<UpstreamServer>,
}

impl std::fmt::Debug for ModelUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelUpstream")
            .field("endpoint", &self.client.endpoint())
            .field("policy", &self.config.policy)
            .finish_non_exhaustive()
    }
}

impl Upstreams {
    /// No upstream yet; `connector` makes clients (none: a model with an upstream fails to
    /// load, saying so); `server_config` is the `[upstream]` every model inherits.
    pub(crate) fn new(
        connector: Option<Arc<dyn RemoteConnector>>,
        server_config: Option<UpstreamConfig>,
    ) -> Upstreams {
        Upstreams {
            connector,
            server_config,
            servers: Mutex::new(BTreeMap::new()),
        }
    }

    /// The server configuration's `[upstream]`, which every model's `model.toml` is read over.
    pub(crate) fn server_config(&self) -> Option<&UpstreamConfig> {
        self.server_config.as_ref()
    }

    /// The upstream of the model `name` configured by `config`; `None` for policy `local`.
    pub(crate) fn attach(
        &self,
        config: Option<&UpstreamConfig>,
        name: &str,
    ) -> Result<Option<ModelUpstream>, ConnectError> {
        let Some(config) = config.filter(|c| c.policy != UpstreamPolicy::Local) else {
            return Ok(None);
        };
        let connector = self.connector.as_ref().ok_or(ConnectError::NoClient)?;
        let client = connector.connect(config, name)?;
        let mut servers = self
            .servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let server = servers
            .entry(config.url.clone())
            .or_insert_with(|| {
                Arc::new(UpstreamServer {
                    breaker: Arc::new(CircuitBreaker::new(
                        config.url.clone(),
                        config.failures_to_open,
                        config.probe_interval(),
                        config.timeout(),
                    )),
                    answered: AtomicU64::default(),
                    failed: AtomicU64::default(),
                })
            })
            .clone();
        Ok(Some(ModelUpstream {
            config: config.clone(),
            client,
            server,
        }))
    }

    fn servers(&self) -> Vec<Arc<UpstreamServer>> {
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}

impl ModelUpstream {
    /// The upstream as named in messages: URL and remote model.
    pub(crate) fn endpoint(&self) -> &str {
        self.client.endpoint()
    }

    /// Where its server's circuit stands.
    pub(crate) fn circuit(&self) -> CircuitState {
        self.server.breaker.state()
    }

    /// Whether a request now would not ask the upstream (its circuit is open, or half open
    /// with its one trial under way).
    pub(crate) fn would_skip(&self) -> bool {
        self.server.breaker.would_skip()
    }

    /// Asks the upstream for `request` within `timeout` (at most the configured timeout), unless
    /// its circuit is open: `None` when it was not asked. Successes and failures move the
    /// circuit.
    pub(crate) async fn ask(
        &self,
        request: &InferRequest,
        timeout: Duration,
    ) -> Option<Result<InferResponse, RemoteError>> {
        use std::sync::atomic::Ordering;
        let permit = self.server.breaker.permit();
        if permit == Permit::Skip {
            return None;
        }
        let timeout = timeout.min(self.config.timeout());
        let answer = match tokio::time::timeout(timeout, self.client.infer(request, timeout)).await
        {
            Ok(answer) => answer,
            Err(_) => Err(RemoteError::Timeout {
                endpoint: self.endpoint().to_string(),
                millis: timeout.as_millis() as u64,
            }),
        };
        match &answer {
            Ok(_) => {
                self.server.answered.fetch_add(1, Ordering::Relaxed);
                self.server.breaker.succeeded();
            }
            Err(error) => {
                self.server.failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(upstream = %self.endpoint(), %error, "upstream did not answer");
                self.server
                    .breaker
                    .failed(permit, &self.client, &error.to_string());
            }
        }
        Some(answer.map(|mut response| {
            response.served_by = ServedBy::Upstream;
            response
        }))
    }
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams").finish_non_exhaustive()
    }
}

/// `/metrics` for the upstreams, read at scrape time.
#[derive(Debug)]
pub(crate) struct UpstreamCollector(pub Arc<Upstreams>);

impl Collector for UpstreamCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering;
        let servers = self.0.servers();
        if servers.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "outpost_upstream_circuit_state",
            "Circuit of each upstream server: 0 closed, 1 half open (a probe succeeded, one request tries), 2 open (requests are answered locally)",
            None,
            MetricType::Gauge,
        )?;
        for server in &servers {
            let labels = [("upstream", server.breaker.endpoint().to_string())];
            ConstGauge::new(server.breaker.state().gauge())
                .encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "outpost_upstream_circuit_opened",
            "Times each upstream's circuit has opened",
            None,
            MetricType::Counter,
        )?;
        for server in &servers {
            let labels = [("upstream", server.breaker.endpoint().to_string())];
            ConstCounter::new(server.breaker.opened_total())
                .encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "outpost_upstream_requests",
            "Requests sent to each upstream server, by result: answered, or failed (error or timeout)",
            None,
            MetricType::Counter,
        )?;
        for server in &servers {
            for (result, count) in [("answered", &server.answered), ("failed", &server.failed)] {
                let labels = [
                    ("upstream", server.breaker.endpoint().to_string()),
                    ("result", result.to_string()),
                ];
                ConstCounter::new(count.load(Ordering::Relaxed))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
