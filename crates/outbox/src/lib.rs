//! Outpost's store-and-forward outbox. Answered requests of models with `forward` set are
//! appended as JSON records ([`Outbox::append`]) to a durable SQLite store
//! ([`store::OutboxStore`]) by one writer thread that commits whatever has arrived in one
//! transaction (group commit: one sync to disk for many requests); `append` returns once the
//! record is on disk. A forwarder task ([`forward`]) uploads batches to object storage or an
//! HTTP endpoint as `<prefix>/<device>/<date>/<first-seq>-<last-seq>.jsonl.zst` ([`batch_format`]) and removes
//! them only once the upload is confirmed; keys are fixed before the upload, so a retried upload
//! never makes a second copy. Over its bounds the outbox drops the oldest records and counts
//! them ([`metrics`]).

pub mod batch_format;
pub mod config;
pub mod error;
#[cfg(feature = "forward")]
pub mod forward;
pub mod metrics;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use config::OutboxConfig;
pub use error::OutboxError;
use store::{Backlog, OutboxStore, Record};

/// Records taken in one transaction at most.
const GROUP_COMMIT_MAX: usize = 1024;

struct Pending {
    record: Record,
    done: tokio::sync::oneshot::Sender<bool>,
}

impl outpost_core::RecordSink for Outbox {
    fn append(
        &self,
        json: String,
        at_ms: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(Outbox::append(self, json, at_ms))
    }
}

/// Counts kept while the server runs (the backlog itself is read from the store).
#[derive(Debug, Default)]
pub struct OutboxCounts {
    /// Records dropped to keep the bounds.
    pub dropped_over_bounds: AtomicU64,
    /// Records that could not be written (the disk is full or failing).
    pub dropped_unwritten: AtomicU64,
    /// Transactions the writer committed (each one sync to disk); records written over
    /// commits is the group commit's size.
    pub commits: AtomicU64,
    /// Records uploaded and removed.
    pub uploaded_records: AtomicU64,
    /// Batches uploaded.
    pub uploaded_batches: AtomicU64,
    /// Uploads that failed.
    pub upload_failures: AtomicU64,
    /// When the last upload succeeded (seconds since the Unix epoch; 0 before the first).
    pub last_upload_unix: AtomicU64,
}

/// The outbox: its store, its writer thread and its counts.
pub struct Outbox {
    sender: Mutex<Option<mpsc::Sender<Pending>>>,
    store: Arc<Mutex<OutboxStore>>,
    counts: Arc<OutboxCounts>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

fn lock(store: &Mutex<OutboxStore>) -> MutexGuard<'_, OutboxStore> {
    // Every store operation is one SQLite transaction; a panic cannot leave it half done.
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Outbox {
    /// Opens the outbox `config` describes and starts its writer; `None` when no path is set.
    pub fn open(config: &OutboxConfig) -> Result<Option<Arc<Outbox>>, OutboxError> {
        let Some(path) = &config.path else {
            return Ok(None);
        };
        let store = Arc::new(Mutex::new(OutboxStore::open(path, config.bounds())?));
        let counts = Arc::new(OutboxCounts::default());
        let (sender, receiver) = mpsc::channel();
        let writer_store = store.clone();
        let writer_counts = counts.clone();
        let commit_interval = config.commit_interval();
        std::thread::Builder::new()
            .name("outbox-writer".into())
            .spawn(move || write_loop(&receiver, &writer_store, &writer_counts, commit_interval))
            .map_err(|source| OutboxError::Io {
                path: path.clone(),
                source,
            })?;
        let backlog = lock(&store).backlog()?;
        tracing::info!(
            path = %path.display(),
            records = backlog.records,
            bytes = backlog.bytes,
            max_bytes = config.max_bytes,
            "outbox open"
        );
        Ok(Some(Arc::new(Outbox {
            sender: Mutex::new(Some(sender)),
            store,
            counts,
        })))
    }

    /// Appends one record (a JSON object answered at `at_ms`); returns once it is on disk.
    /// A record that cannot be written is counted as dropped and logged: the answer it
    /// describes still goes out.
    pub async fn append(&self, json: String, at_ms: i64) {
        let (done, written) = tokio::sync::oneshot::channel();
        let sent = self
            .sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|s| {
                s.send(Pending {
                    record: Record { at_ms, json },
                    done,
                })
                .is_ok()
            });
        if !sent || !written.await.unwrap_or(false) {
            self.counts
                .dropped_unwritten
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// What waits to be uploaded now (read from the store).
    pub fn backlog(&self) -> Result<Backlog, OutboxError> {
        lock(&self.store).backlog()
    }

    /// The counts kept while the server runs.
    pub fn counts(&self) -> &Arc<OutboxCounts> {
        &self.counts
    }

    /// Stops taking records; the writer finishes those already sent and exits.
    pub fn close(&self) {
        self.sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }
}

/// The writer thread: takes what has arrived (up to [`GROUP_COMMIT_MAX`]), writes it in one
/// transaction, then answers each record's caller. A record that comes less than
/// `commit_interval` after the previous commit started waits out the rest of the interval,
/// gathering those that come meanwhile into the same transaction: one sync for all of them.
fn write_loop(
    receiver: &mpsc::Receiver<Pending>,
    store: &Mutex<OutboxStore>,
    counts: &OutboxCounts,
    commit_interval: Duration,
) {
    let mut last_commit: Option<Instant> = None;
    while let Ok(first) = receiver.recv() {
        let mut group = vec![first];
        // Sleeping out the interval (rather than waking for each record) leaves the CPUs to
        // the inference threads; what came meanwhile is then taken at once.
        if let Some(wait) = last_commit
            .map(|at| (at + commit_interval).saturating_duration_since(Instant::now()))
            .filter(|wait| !wait.is_zero())
        {
            std::thread::sleep(wait);
        }
        while group.len() < GROUP_COMMIT_MAX {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        last_commit = Some(Instant::now());
        let (records, callers): (Vec<Record>, Vec<_>) =
            group.into_iter().map(|p| (p.record, p.done)).unzip();
        let written = match lock(store).append(&records, now_ms()) {
            Ok(dropped) => {
                counts.commits.fetch_add(1, Ordering::Relaxed);
                if dropped > 0 {
                    counts
                        .dropped_over_bounds
                        .fetch_add(dropped, Ordering::Relaxed);
                    tracing::warn!(dropped, "outbox over its bounds: oldest records dropped");
                }
                true
            }
            Err(error) => {
                tracing::error!(%error, records = records.len(), "outbox records not written");
                false
            }
        };
        for caller in callers {
            let _ = caller.send(written);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(dir: &std::path::Path, commit_interval_ms: u64) -> Arc<Outbox> {
        let config = OutboxConfig {
            path: Some(dir.join("outbox.db")),
            commit_interval_ms,
            ..OutboxConfig::default()
        };
        Outbox::open(&config).unwrap().unwrap()
    }

    #[test]
    fn records_coming_within_the_interval_share_one_commit() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = outbox(dir.path(), 300);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // The first record after a quiet spell is committed at once.
            let started = Instant::now();
            outbox.append("{\"n\":0}".into(), now_ms()).await;
            assert!(started.elapsed() < Duration::from_millis(250));
            assert_eq!(outbox.counts().commits.load(Ordering::Relaxed), 1);
            // Those coming right after wait out the interval and are committed together.
            let appends: Vec<_> = (1..=6)
                .map(|n| {
                    let outbox = outbox.clone();
                    tokio::spawn(
                        async move { outbox.append(format!("{{\"n\":{n}}}"), now_ms()).await },
                    )
                })
                .collect();
            for append in appends {
                append.await.unwrap();
            }
            assert!(started.elapsed() >= Duration::from_millis(300));
        });
        assert_eq!(outbox.counts().commits.load(Ordering::Relaxed), 2);
        assert_eq!(lock(&outbox.store).backlog().unwrap().records, 7);
        assert_eq!(outbox.counts().dropped_unwritten.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn without_an_interval_each_record_is_committed_when_it_comes() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = outbox(dir.path(), 0);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for n in 0..3 {
                outbox.append(format!("{{\"n\":{n}}}"), now_ms()).await;
            }
        });
        assert_eq!(outbox.counts().commits.load(Ordering::Relaxed), 3);
    }
}
