//! What `/metrics` shows of the outbox, read at scrape time: the backlog (records, bytes, the
//! oldest record's age), the database's size on disk, records dropped (over the bounds, or not
//! written), records and batches uploaded, failed uploads, and the last good upload.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::{lock, now_ms, Outbox};

/// The outbox's metrics, for a Prometheus registry.
#[derive(Debug)]
pub struct OutboxCollector(pub Arc<Outbox>);

fn gauge<V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<V>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for OutboxCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let outbox = &self.0;
        let (backlog, path) = {
            let store = lock(&outbox.store);
            (store.backlog().ok(), store.path().to_path_buf())
        };
        if let Some(backlog) = backlog {
            gauge(
                &mut encoder,
                "outpost_outbox_backlog_records",
                "Records waiting to be uploaded",
                backlog.records as i64,
            )?;
            gauge(
                &mut encoder,
                "outpost_outbox_backlog_bytes",
                "Bytes of the records waiting to be uploaded",
                backlog.bytes as i64,
            )?;
            let age = backlog
                .oldest_at_ms
                .map_or(0.0, |at| (now_ms() - at).max(0) as f64 / 1000.0);
            gauge(
                &mut encoder,
                "outpost_outbox_oldest_record_age_seconds",
                "Age of the oldest record waiting to be uploaded (0 when none waits)",
                age,
            )?;
        }
        let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
        let on_disk = [&path, &wal]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum::<u64>();
        gauge(
            &mut encoder,
            "outpost_outbox_disk_bytes",
            "Bytes the outbox takes on disk (database and write-ahead log)",
            on_disk as i64,
        )?;
        let counts = outbox.counts();
        let mut dropped = encoder.encode_descriptor(
            "outpost_outbox_dropped",
            "Records dropped: the oldest, to keep the outbox within its bounds (reason=bounds), or records that could not be written (reason=write_failed)",
            None,
            MetricType::Counter,
        )?;
        for (reason, count) in [
            ("bounds", &counts.dropped_over_bounds),
            ("write_failed", &counts.dropped_unwritten),
        ] {
            ConstCounter::new(count.load(Ordering::Relaxed))
                .encode(dropped.encode_family(&[("reason", reason)])?)?;
        }
        counter(
            &mut encoder,
            "outpost_outbox_commits",
            "Transactions that wrote records, each synced to disk (records over commits: the group commit's size)",
            counts.commits.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "outpost_outbox_uploaded_records",
            "Records uploaded and removed from the outbox",
            counts.uploaded_records.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "outpost_outbox_uploaded_batches",
            "Batches uploaded",
            counts.uploaded_batches.load(Ordering::Relaxed),
        )?;
        counter(
            &mut encoder,
            "outpost_outbox_upload_failures",
            "Uploads that failed (each is retried)",
            counts.upload_failures.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut encoder,
            "outpost_outbox_last_upload_timestamp_seconds",
            "When the last upload succeeded (Unix time; 0 before the first)",
            counts.last_upload_unix.load(Ordering::Relaxed) as i64,
        )?;
        Ok(())
    }
}
