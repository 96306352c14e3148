//! Prometheus metrics, served as OpenMetrics text on `GET /metrics` (on the HTTP port, or its own
//! port when `metrics.port` is set). [`crate::request_metrics`] holds what the request paths
//! record; [`live`] reads the executor, the container and the loaded models on each scrape. Names follow
//! Prometheus conventions: `outpost_` prefix, base units, `_total` on counters.

mod live;

use prometheus_client::registry::Registry;

use crate::request_metrics::RequestMetrics;
use crate::upstream::UpstreamCollector;
pub(crate) use live::LiveSources;
use prometheus_client::collector::Collector;

/// Everything `/metrics` reports.
pub(crate) struct Metrics {
    registry: Registry,
}

/// The media type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Metrics {
    /// A registry with what the request paths record, what `live` reads on each scrape, the
    /// upstreams' circuits, and `extra` collectors (the outbox's).
    pub(crate) fn new(
        requests: &RequestMetrics,
        live: LiveSources,
        upstreams: UpstreamCollector,
        extra: Vec<Box<dyn Collector>>,
    ) -> Metrics {
        let mut registry = Registry::default();
        requests.register(&mut registry);
        registry.register_collector(Box::new(live));
        registry.register_collector(Box::new(upstreams));
        for collector in extra {
            registry.register_collector(collector);
        }
        Metrics { registry }
    }

    /// The exposition text.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a collector.
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode the metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests;
