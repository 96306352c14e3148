//! Per-request metrics, recorded by the shared inference path and the camera path: request
//! counts by outcome, end-to-end latency, time queued for an executor slot, and batch sizes, per
//! model, version, protocol and endpoint, and for answers, who answered (`served_by`: `local` or
//! `upstream`; `none` for failures).

use std::time::Duration;

use outpost_core::ServedBy;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// Where a request came in: its protocol (`http`, `grpc`) and endpoint (`infer` for Open
/// Inference Protocol requests, `image` for the camera endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `http` or `grpc`.
    pub protocol: &'static str,
    /// `infer` or `image`.
    pub endpoint: &'static str,
}

impl Route {
    /// A V2 infer request over REST.
    pub const HTTP_INFER: Route = Route {
        protocol: "http",
        endpoint: "infer",
    };
    /// A V2 infer request over gRPC.
    pub const GRPC_INFER: Route = Route {
        protocol: "grpc",
        endpoint: "infer",
    };
    /// The camera endpoint.
    pub const HTTP_IMAGE: Route = Route {
        protocol: "http",
        endpoint: "image",
    };
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    model: String,
    version: String,
    protocol: &'static str,
    endpoint: &'static str,
    status: &'static str,
    served_by: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectedLabels {
    model: String,
    version: String,
    protocol: &'static str,
    endpoint: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    model: String,
    version: String,
    protocol: &'static str,
    endpoint: &'static str,
    served_by: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    model: String,
    version: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn batch_histogram() -> Histogram {
    // 1, 2, 4 .. 256.
    Histogram::new(exponential_buckets(1.0, 2.0, 9))
}

/// The request metric families. Clones share the same counters.
#[derive(Clone)]
pub(crate) struct RequestMetrics {
    requests: Family<OutcomeLabels, Counter>,
    rejected: Family<RejectedLabels, Counter>,
    latency: Histograms<RouteLabels>,
    queue: Histograms<VersionLabels>,
    batch_size: Histograms<VersionLabels>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics {
            requests: Family::default(),
            rejected: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            queue: Family::new_with_constructor(latency_histogram),
            batch_size: Family::new_with_constructor(batch_histogram),
        }
    }
}

impl RequestMetrics {
    /// A request that produced an answer: `total` from arrival to encoded answer, `queue` the
    /// time it waited (for an executor slot, and for its batch).
    pub(crate) fn record_success(
        &self,
        model: &str,
        version: u64,
        route: Route,
        served_by: ServedBy,
        total: Duration,
        queue: Duration,
    ) {
        self.count(model, version, route, "success", served_by.as_str());
        self.latency
            .get_or_create(&RouteLabels {
                model: model.to_string(),
                version: version.to_string(),
                protocol: route.protocol,
                endpoint: route.endpoint,
                served_by: served_by.as_str(),
            })
            .observe(total.as_secs_f64());
        let labels = VersionLabels {
            model: model.to_string(),
            version: version.to_string(),
        };
        self.queue
            .get_or_create(&labels)
            .observe(queue.as_secs_f64());
    }

    /// One execution of a model version over `batch_size` inferences (a request's own batch,
    /// or requests joined by dynamic batching).
    pub(crate) fn record_execution(&self, model: &str, version: u64, batch_size: u64) {
        let labels = VersionLabels {
            model: model.to_string(),
            version: version.to_string(),
        };
        self.batch_size
            .get_or_create(&labels)
            .observe(batch_size as f64);
    }

    /// A request for a model version that failed (bad input, inference error).
    pub(crate) fn record_failure(&self, model: &str, version: u64, route: Route) {
        self.count(model, version, route, "failure", "none");
    }

    /// A request turned away without running: `reason` is `queue_full` or `deadline_exceeded`.
    pub(crate) fn record_rejected(
        &self,
        model: &str,
        version: u64,
        route: Route,
        reason: &'static str,
    ) {
        self.rejected
            .get_or_create(&RejectedLabels {
                model: model.to_string(),
                version: version.to_string(),
                protocol: route.protocol,
                endpoint: route.endpoint,
                reason,
            })
            .inc();
    }

    fn count(
        &self,
        model: &str,
        version: u64,
        route: Route,
        status: &'static str,
        served_by: &'static str,
    ) {
        self.requests
            .get_or_create(&OutcomeLabels {
                model: model.to_string(),
                version: version.to_string(),
                protocol: route.protocol,
                endpoint: route.endpoint,
                status,
                served_by,
            })
            .inc();
    }

    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "outpost_inference_requests",
            "Inference requests that reached a model version, by outcome",
            self.requests.clone(),
        );
        registry.register(
            "outpost_inference_rejected_requests",
            "Requests turned away without running: the model's queue was full, or the request's deadline passed while it waited",
            self.rejected.clone(),
        );
        registry.register_with_unit(
            "outpost_inference_request_duration",
            "Time from a request's arrival to its encoded answer, successful requests",
            Unit::Seconds,
            self.latency.clone(),
        );
        registry.register_with_unit(
            "outpost_inference_queue_duration",
            "Time a request waited for an inference thread",
            Unit::Seconds,
            self.queue.clone(),
        );
        registry.register(
            "outpost_inference_batch_size",
            "Inferences per model execution",
            self.batch_size.clone(),
        );
    }
}
