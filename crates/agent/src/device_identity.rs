//! This device's id in the fleet: the `device_id` setting, else the machine id
//! (`/etc/machine-id`), else, where neither exists (a container without a machine id), one
//! made once at random and kept in the state folder (`device-id`), so that the device keeps its
//! name (its status object) and its place in the rollouts' waves across restarts.

use std::path::Path;

use crate::config::{check_device_id, AgentConfig};
use crate::durable::write_atomically;
use crate::error::AgentError;

/// The file in the state folder that keeps a made-up id.
const KEPT_ID_FILE: &str = "device-id";

/// This device's id, from the configuration or kept in `state_dir`.
pub fn device_id(config: &AgentConfig, state_dir: &Path) -> Result<String, AgentError> {
    let unavailable = match config.device_id() {
        Ok(id) => return Ok(id),
        Err(error) if config.device_id.is_some() => return Err(error.into()),
        Err(error) => error,
    };
    let kept = state_dir.join(KEPT_ID_FILE);
    if let Ok(text) = std::fs::read_to_string(&kept) {
        let id = text.trim().to_string();
        if check_device_id(&id).is_ok() {
            return Ok(id);
        }
    }
    let id = format!("device-{:032x}", fastrand::u128(..));
    write_atomically(&kept, id.as_bytes())
        .map_err(AgentError::io(format!("writing {}", kept.display())))?;
    tracing::info!(device_id = %id, kept = %kept.display(), reason = %unavailable, "this device has no id set and no machine id: made one, kept in the state folder");
    Ok(id)
}
