//! `[outbox]` in the server configuration: where answered requests are kept until they are
//! forwarded, the bounds, and where they go. Declared once here (see `outpost_settings`);
//! docs/configuration.md is checked against it.

use std::path::PathBuf;
use std::time::Duration;

use outpost_settings::settings_section;

use crate::store::Bounds;

settings_section! {
    /// `[outbox]`: store-and-forward of answered requests (models with `forward` set).
    #[derive(Debug)]
    pub struct OutboxConfig {
        /// The outbox database (SQLite). Needed by any model with `forward` set.
        path: Option<PathBuf> = None, flag "outbox-path", shown "none (store-and-forward off)";
        /// Most bytes the outbox keeps on disk (database and write-ahead log); over it the oldest
        /// records are dropped and counted.
        max_bytes: u64 = 256 * 1024 * 1024, flag "outbox-max-bytes";
        /// Records older than this are dropped and counted.
        max_age_secs: u64 = 7 * 24 * 3600;
        /// Where batches go: s3://bucket/prefix, gs://, az://, http(s):// (HTTP PUT) or a folder.
        /// Without one records are kept, within the bounds, until one is set.
        destination: Option<String> = None, flag "outbox-destination";
        /// This device's name in the batches' keys.
        device_id: Option<String> = None, flag "device-id", shown "the host name";
        /// Least milliseconds between the starts of two commits: a record that comes sooner
        /// after the last commit waits, with the others that come meanwhile, and they are
        /// committed (and synced to disk) together. At low rates no record waits; under load
        /// this bounds the syncs per second. 0 commits whatever has arrived at once.
        commit_interval_ms: u64 = 10;
        /// Most records in one uploaded batch.
        batch_max_records: usize = 1000;
        /// Most bytes of records in one uploaded batch (before compression).
        batch_max_bytes: usize = 4 * 1024 * 1024;
        /// Seconds between looks at an empty outbox.
        upload_interval_secs: u64 = 5;
        /// Longest wait between retries of a failing upload (doubling from one second).
        retry_max_secs: u64 = 300;
    }
}

impl OutboxConfig {
    /// The bounds.
    pub fn bounds(&self) -> Bounds {
        Bounds {
            max_bytes: self.max_bytes,
            max_age: Duration::from_secs(self.max_age_secs),
        }
    }

    /// Least time between the starts of two commits.
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }

    /// The device's name: the configured one, else the host name, else `device`.
    pub fn device(&self) -> String {
        self.device_id.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "device".to_string())
        })
    }

    /// Values out of range.
    pub fn problems(&self) -> Option<String> {
        if self.max_bytes < 64 * 1024 {
            return Some("outbox.max_bytes must be at least 65536".into());
        }
        if self.batch_max_records == 0 || self.batch_max_bytes == 0 {
            return Some("outbox.batch_max_records and batch_max_bytes must be positive".into());
        }
        if self.upload_interval_secs == 0 || self.retry_max_secs == 0 {
            return Some("outbox.upload_interval_secs and retry_max_secs must be positive".into());
        }
        let device = self.device();
        if !device
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Some(format!(
                "outbox.device_id '{device}' must be letters, digits, '-', '_' and '.'"
            ));
        }
        None
    }
}
