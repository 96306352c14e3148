//! Devices' status objects, as the agent writes them under `status.url`: read with the fields
//! a fleet view needs, each object bounded in size; an object that is not a report is counted
//! and left out, never trusted for anything (reports decide no device's install, only what
//! `fleet watch` signs with its own key).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use object_store::ObjectStoreExt;
use outpost_storage::RepositoryLocation;
use serde::{Deserialize, Serialize};

/// The most bytes a status object may have.
const MAX_REPORT_BYTES: u64 = 1 << 20;

/// One device's report, as far as the fleet view reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceReport {
    /// The device.
    pub device_id: String,
    /// When it was written (the device's clock).
    pub written_at: jiff::Timestamp,
    /// Its place in the waves.
    #[serde(default)]
    pub wave_seed: Option<u32>,
    /// The agent's condition (`idle`, `offline`, ...).
    #[serde(default)]
    pub state: String,
    /// Per model.
    #[serde(default)]
    pub models: BTreeMap<String, ModelReport>,
}

/// One model on one device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// The version serving.
    #[serde(default)]
    pub active: Option<u64>,
    /// The version being installed.
    #[serde(default)]
    pub candidate: Option<u64>,
    /// Its step.
    #[serde(default)]
    pub step: Option<String>,
    /// Versions not offered to it yet, and why.
    #[serde(default)]
    pub waiting: Vec<String>,
    /// Versions it refused or rolled back, with why.
    #[serde(default)]
    pub rejected: Vec<Refusal>,
}

/// A version a device refused or rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The version.
    pub version: u64,
    /// Why.
    pub reason: String,
}

/// What a read of the status location found.
#[derive(Debug, Default)]
pub struct ReportsRead {
    /// The reports, one per device.
    pub reports: Vec<DeviceReport>,
    /// Objects that were too large or not a report.
    pub unreadable: Vec<String>,
}

/// Reads every `*.json` object directly under `location`.
pub async fn read_reports(
    location: &RepositoryLocation,
) -> Result<ReportsRead, object_store::Error> {
    let objects: Vec<_> = location
        .store
        .list(Some(&location.prefix))
        .try_collect()
        .await?;
    let mut read = ReportsRead::default();
    for object in objects {
        let name = object.location.to_string();
        if !name.ends_with(".json") {
            continue;
        }
        if object.size > MAX_REPORT_BYTES {
            read.unreadable.push(name);
            continue;
        }
        let bytes = match location.store.get(&object.location).await {
            Ok(found) => found.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        match serde_json::from_slice::<DeviceReport>(&bytes) {
            Ok(report) => read.reports.push(report),
            Err(_) => read.unreadable.push(name),
        }
    }
    read.reports.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    Ok(read)
}
