//! What /metrics shows of the listeners' connections, read at scrape time: open connections,
//! connections accepted, waits for a place under the cap, and connections (or request bodies)
//! closed by a timeout, per listener and reason.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::{ConnectionStats, ListenerKind, TimeoutReason};

/// The connections' metrics, for a Prometheus registry.
#[derive(Debug)]
pub struct ConnectionsCollector(pub Arc<ConnectionStats>);

type Labels = Vec<(&'static str, &'static str)>;

impl Collector for ConnectionsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = &self.0;
        let open = Family::<Labels, Gauge>::default();
        let accepted = Family::<Labels, Counter>::default();
        let waits = Family::<Labels, Counter>::default();
        let timeouts = Family::<Labels, Counter>::default();
        for listener in ListenerKind::ALL {
            let labels = vec![("listener", listener.as_str())];
            open.get_or_create(&labels).set(stats.open(listener) as i64);
            accepted
                .get_or_create(&labels)
                .inc_by(stats.accepted(listener));
            waits
                .get_or_create(&labels)
                .inc_by(stats.waits_for_place(listener));
            for reason in TimeoutReason::ALL {
                let labels = vec![("listener", listener.as_str()), ("reason", reason.as_str())];
                timeouts
                    .get_or_create(&labels)
                    .inc_by(stats.timeouts(listener, reason));
            }
        }
        let described: [(&str, &str, &dyn EncodeMetric); 4] = [
            (
                "outpost_connections_open",
                "Client connections open now, per listener",
                &open,
            ),
            (
                "outpost_connections_accepted",
                "Client connections accepted, per listener",
                &accepted,
            ),
            (
                "outpost_connections_waited_for_place",
                "Connections that waited for a place under connections.max_connections",
                &waits,
            ),
            (
                "outpost_connections_timed_out",
                "Connections closed by a timeout (header_timeout, idle_timeout, send_timeout) and request bodies cut for arriving too slowly (body_too_slow), per listener",
                &timeouts,
            ),
        ];
        for (name, help, metric) in described {
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        Ok(())
    }
}
