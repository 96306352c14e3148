//! The forwarder: a task that uploads the outbox's batches to the destination while it can.
//! Each batch becomes one object, `<prefix>/<device>/<date>/<first-seq>-<last-seq>.jsonl.zst`
//! (the date of its first record, UTC; sequence numbers zero-padded so keys sort in order): one
//! JSON object per line, each with its `seq`, compressed with zstd. The records leave the
//! outbox only after the store answered the upload; a failed upload is retried (the same
//! batch, so the same key and the same bytes) after a wait that doubles up to
//! `retry_max_secs`. The batch's bytes are [`crate::batch_format`]'s.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use outpost_storage::{RepositoryLocation, StorageSettings};

use crate::batch_format::encode_batch;
use crate::config::OutboxConfig;
use crate::error::OutboxError;
use crate::store::Batch;
use crate::{lock, Outbox};

/// Where batches go.
struct Destination {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    device: String,
}

impl Destination {
    /// The object key of `batch`.
    fn key(&self, batch: &Batch) -> Path {
        let date = jiff::Timestamp::from_millisecond(batch.first_at_ms).map_or_else(
            |_| "undated".to_string(),
            |t| t.strftime("%Y-%m-%d").to_string(),
        );
        let name = format!("{:012}-{:012}.jsonl.zst", batch.first, batch.last);
        let mut parts: Vec<String> = self
            .prefix
            .parts()
            .map(|p| p.as_ref().to_string())
            .collect();
        parts.extend([self.device.clone(), date, name]);
        Path::from_iter(parts)
    }
}

impl Outbox {
    /// Starts the forwarder on the current async runtime, when `config` names a destination.
    pub fn spawn_forwarder(self: &Arc<Self>, config: &OutboxConfig) -> Result<(), OutboxError> {
        let Some(url) = &config.destination else {
            tracing::warn!(
                "outbox has no destination: records are kept, within its bounds, until one is set"
            );
            return Ok(());
        };
        let location = RepositoryLocation::open(url, &StorageSettings::default())
            .map_err(|e| OutboxError::Destination(e.to_string()))?;
        // A password in the URL (https://user:secret@host/) is never logged.
        let shown = location.shown_url();
        let destination = Destination {
            store: location.store,
            prefix: location.prefix,
            device: config.device(),
        };
        let outbox = self.clone();
        let limits = (config.batch_max_records, config.batch_max_bytes);
        let idle = Duration::from_secs(config.upload_interval_secs);
        let retry_max = Duration::from_secs(config.retry_max_secs);
        tracing::info!(destination = %shown, device = %destination.device, "outbox forwarding");
        tokio::spawn(async move {
            outbox.forward(&destination, limits, idle, retry_max).await;
        });
        Ok(())
    }

    async fn forward(
        self: Arc<Self>,
        destination: &Destination,
        (max_records, max_bytes): (usize, usize),
        idle: Duration,
        retry_max: Duration,
    ) {
        let mut retry = Duration::from_secs(1);
        loop {
            let store = self.store.clone();
            let next = tokio::task::spawn_blocking(move || {
                lock(&store).next_batch(max_records, max_bytes)
            })
            .await;
            let batch = match next {
                Ok(Ok(Some(batch))) => batch,
                Ok(Ok(None)) => {
                    tokio::time::sleep(idle).await;
                    continue;
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "outbox cannot read its next batch");
                    tokio::time::sleep(retry_max.min(Duration::from_secs(30))).await;
                    continue;
                }
                Err(_) => return,
            };
            match self.upload(destination, &batch).await {
                Ok(()) => {
                    retry = Duration::from_secs(1);
                    let counts = self.counts.clone();
                    counts
                        .uploaded_records
                        .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
                    counts.uploaded_batches.fetch_add(1, Ordering::Relaxed);
                    counts.last_upload_unix.store(
                        jiff::Timestamp::now().as_second().max(0) as u64,
                        Ordering::Relaxed,
                    );
                }
                Err(error) => {
                    self.counts.upload_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        %error,
                        first = batch.first,
                        last = batch.last,
                        retry_in_secs = retry.as_secs(),
                        "outbox upload failed; retrying the same batch"
                    );
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(retry_max);
                }
            }
        }
    }

    /// Uploads `batch` and, once the store has it, removes its records.
    async fn upload(&self, destination: &Destination, batch: &Batch) -> Result<(), String> {
        let body = encode_batch(batch).map_err(|e| format!("compressing the batch: {e}"))?;
        let key = destination.key(batch);
        destination
            .store
            .put(&key, PutPayload::from(body))
            .await
            .map_err(|e| format!("uploading {key}: {e}"))?;
        let store = self.store.clone();
        let confirmed = batch.clone();
        tokio::task::spawn_blocking(move || lock(&store).confirm(&confirmed))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        tracing::debug!(%key, records = batch.records.len(), "outbox batch uploaded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_device_the_date_and_the_records() {
        let batch = Batch {
            first: 7,
            last: 8,
            first_at_ms: 1_764_633_600_000,
            records: vec![(7, "{\"a\":1}".into()), (8, "{}".into())],
        };
        let destination = Destination {
            store: Arc::new(object_store::memory::InMemory::new()),
            prefix: Path::from("results/site-a"),
            device: "cam-3".into(),
        };
        assert_eq!(
            destination.key(&batch).as_ref(),
            "results/site-a/cam-3/2025-12-02/000000000007-000000000008.jsonl.zst"
        );
    }
}
