//! The device's status written back to object storage (`status.url`): `<device_id>.json`, what
//! `GET /status` answers plus the device's id, the agent's and the server's versions and the
//! time of writing. Written within a second or two of a change of substance (an update's step,
//! a version, a refusal, the agent's condition; not the times of checks) and at least every
//! `status.heartbeat_secs`. Best effort, on a task of its own: an unreachable store never holds
//! up serving or installing; while it fails, the latest report waits (one, not a queue) and is
//! written once the store answers again, retried with backoff.

use std::time::Duration;

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use outpost_storage::RepositoryLocation;
use serde::Serialize;
use tokio::time::Instant;

use crate::backoff::next_delay;
use crate::server::ModelServer;
use crate::server_api::ServerApi;
use crate::status::{AgentCondition, SharedStatus, StatusReport};

/// How often the report is looked at for changes.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The first retry after a failed write (sooner when the heartbeat is shorter); later ones back
/// off up to the heartbeat.
const FIRST_RETRY: Duration = Duration::from_secs(15);

/// What is written.
#[derive(Serialize)]
struct DeviceReport<'a> {
    device_id: &'a str,
    agent_version: &'static str,
    server_version: Option<String>,
    written_at: String,
    #[serde(flatten)]
    status: &'a StatusReport,
}

/// Writes this device's status to `location`; the server's version comes from `S`.
pub struct StatusWriter<S = ServerApi> {
    location: RepositoryLocation,
    object: Path,
    device_id: String,
    heartbeat: Duration,
    status: SharedStatus,
    api: S,
}

impl<S: ModelServer> StatusWriter<S> {
    /// A writer of `status` as `<device_id>.json` under `location`.
    pub fn new(
        location: RepositoryLocation,
        device_id: String,
        heartbeat: Duration,
        status: SharedStatus,
        api: S,
    ) -> StatusWriter<S> {
        let object = location.prefix.clone().join(format!("{device_id}.json"));
        StatusWriter {
            location,
            object,
            device_id,
            heartbeat,
            status,
            api,
        }
    }

    /// The report now, and what of it counts as a change (`None` while a check is under way:
    /// the agent is between states).
    fn snapshot(&self) -> (StatusReport, Option<String>) {
        let report = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if report.state == AgentCondition::Working {
            return (report, None);
        }
        let substance = StatusReport {
            last_check: None,
            last_success: None,
            ..report.clone()
        };
        (report, serde_json::to_string(&substance).ok())
    }

    /// Writes the report as it is now (`outpost agent --once`).
    pub async fn write_now(&self) -> Result<(), StatusWriteError> {
        let (report, _) = self.snapshot();
        self.write(&report).await
    }

    /// Writes the report if its substance changed since `written` (what the last write held,
    /// updated here): what the writer's loop does between heartbeats, for callers that drive
    /// it themselves (a fleet simulation). Answers whether it wrote.
    pub async fn write_if_changed(
        &self,
        written: &mut Option<String>,
    ) -> Result<bool, StatusWriteError> {
        let (report, substance) = self.snapshot();
        if substance.is_none() || substance == *written {
            return Ok(false);
        }
        self.write(&report).await?;
        *written = substance;
        Ok(true)
    }

    async fn write(&self, report: &StatusReport) -> Result<(), StatusWriteError> {
        let server_version = self.api.server_version().await.ok();
        let body = DeviceReport {
            device_id: &self.device_id,
            agent_version: env!("CARGO_PKG_VERSION"),
            server_version,
            written_at: jiff::Timestamp::now().to_string(),
            status: report,
        };
        let bytes = serde_json::to_vec_pretty(&body).map_err(StatusWriteError::Encode)?;
        self.location
            .store
            .put(&self.object, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|source| StatusWriteError::Store {
                object: self.object.to_string(),
                source,
            })
    }

    /// Writes until the task is dropped.
    pub async fn run(self) {
        let mut written: Option<String> = None;
        let mut next_heartbeat = Instant::now();
        let mut failures = 0u32;
        let mut retry_at: Option<Instant> = None;
        loop {
            tokio::time::sleep(LOOK_EVERY).await;
            let (report, substance) = self.snapshot();
            let now = Instant::now();
            let changed = substance.is_some() && substance != written;
            let due = now >= next_heartbeat || retry_at.is_some_and(|at| now >= at);
            if retry_at.is_some_and(|at| now < at) || !(changed || due) {
                continue;
            }
            match self.write(&report).await {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(object = %self.object, "status written again");
                    }
                    written = substance.or(written);
                    failures = 0;
                    retry_at = None;
                    next_heartbeat = Instant::now() + self.heartbeat;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let wait = retry_delay(self.heartbeat, failures);
                    if failures == 1 {
                        tracing::warn!(object = %self.object, %error, "cannot write the status; keeping the latest and retrying");
                    }
                    retry_at = Some(Instant::now() + wait);
                }
            }
        }
    }
}

/// The wait after `failures` (one or more) failed writes in a row: from [`FIRST_RETRY`], or the
/// heartbeat when that is shorter, doubling up to the heartbeat.
fn retry_delay(heartbeat: Duration, failures: u32) -> Duration {
    next_delay(
        FIRST_RETRY.min(heartbeat),
        heartbeat,
        failures.saturating_sub(1),
    )
}

/// Why the status object could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StatusWriteError {
    /// The report did not encode.
    #[error("cannot encode the status report: {0}")]
    Encode(serde_json::Error),
    /// The bucket refused the object or could not be reached.
    #[error("cannot write {object}: {source}")]
    Store {
        /// The object's path in the bucket.
        object: String,
        /// Why.
        source: object_store::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_is_retried_within_a_heartbeat() {
        for heartbeat in [2, 10, 60, 900].map(Duration::from_secs) {
            for failures in 1..12 {
                let wait = retry_delay(heartbeat, failures);
                assert!(wait <= heartbeat, "{heartbeat:?} {failures}: {wait:?}");
            }
        }
        // The first retry of a long heartbeat comes after FIRST_RETRY (jitter taken off later).
        assert_eq!(retry_delay(Duration::from_secs(900), 1), FIRST_RETRY);
        assert!(retry_delay(Duration::from_secs(900), 8) >= Duration::from_secs(450));
    }
}
