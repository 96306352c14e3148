//! What a verified repository lists, read out of tough's metadata: the bundles the top-level
//! targets role signs (each with its model, version, length, sha256 and rollout) and the
//! controls the delegated fleet role signs. Bundles come from the top-level role only, so the
//! fleet key cannot offer a model; controls come from the fleet role only.

use tough::schema::Target;
use tough::{Repository, TargetName};

use crate::error::TrustError;
use crate::rollout::{Control, Schedule, CONTROL_FIELD, ROLLOUT_FIELD};

/// The custom field of a bundle target: the model and version it installs, and its rollout.
pub const CUSTOM_FIELD: &str = "outpost";

/// The delegated role's name (`N.fleet.json`).
pub const FLEET_ROLE: &str = "fleet";

/// The names the fleet role may sign.
pub const CONTROL_PATTERN: &str = "fleet-control.*";

/// The target name of the control of `model`'s `version`.
pub fn control_target_name(model: &str, version: u64) -> String {
    format!("fleet-control.{model}.{version}.json")
}

/// A control as the fleet role signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedControl {
    /// The model.
    pub model: String,
    /// The version.
    pub version: u64,
    /// What it says.
    pub control: Control,
}

/// The control of `model`'s `version` among `controls`, if the fleet role signed one.
pub fn control_for<'a>(
    controls: &'a [SignedControl],
    model: &str,
    version: u64,
) -> Option<&'a Control> {
    controls
        .iter()
        .find(|c| c.model == model && c.version == version)
        .map(|c| &c.control)
}

/// The control in a fleet-role target's custom metadata, if it is one.
pub(crate) fn control_of(target: &Target) -> Option<SignedControl> {
    let custom = target.custom.get(CONTROL_FIELD)?;
    Some(SignedControl {
        model: custom.get("model")?.as_str()?.to_string(),
        version: custom.get("version")?.as_u64()?,
        control: serde_json::from_value(custom.get("control")?.clone()).ok()?,
    })
}

/// A bundle the repository offers.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleTarget {
    /// The target's name.
    pub name: TargetName,
    /// The model it installs.
    pub model: String,
    /// The version it installs.
    pub version: u64,
    /// Its signed length in bytes.
    pub length: u64,
    /// Its signed sha256.
    pub sha256: outpost_core::Sha256,
    /// Its rollout across the fleet; `None` for a bundle published without one (open to all).
    pub rollout: Option<Schedule>,
}

impl BundleTarget {
    /// Where the target's file lies inside the repository: `targets/<sha256>.<name>`, as
    /// consistent snapshots name target files.
    pub fn repository_path(&self) -> String {
        format!("targets/{}.{}", self.sha256, self.name.raw())
    }
}

/// A target name, checked as tough checks names (no `..`, no absolute paths).
pub fn target_name(raw: &str) -> Result<TargetName, TrustError> {
    TargetName::new(raw).map_err(TrustError::tuf(format!("the target name {raw:?}")))
}

/// Every bundle the top-level targets role of `repository` lists (targets without Outpost's
/// custom field, without a 32-byte sha256 or with a rollout that cannot be read are left out).
/// Delegated roles never offer bundles: the fleet role's key cannot publish a model.
pub fn bundles_of(repository: &Repository) -> Vec<BundleTarget> {
    repository
        .targets()
        .signed
        .targets
        .iter()
        .filter_map(|(name, target)| {
            let custom = target.custom.get(CUSTOM_FIELD)?;
            let rollout = match custom.get(ROLLOUT_FIELD) {
                None => None,
                Some(value) => Some(serde_json::from_value(value.clone()).ok()?),
            };
            Some(BundleTarget {
                name: name.clone(),
                model: custom.get("model")?.as_str()?.to_string(),
                version: custom.get("version")?.as_u64()?,
                length: target.length,
                sha256: outpost_core::Sha256::try_from(target.hashes.sha256.as_ref()).ok()?,
                rollout,
            })
        })
        .collect()
}

/// The controls the fleet role of `repository` signed (none where it delegates no fleet role).
pub fn controls_of(repository: &Repository) -> Vec<SignedControl> {
    let Some(delegations) = &repository.targets().signed.delegations else {
        return Vec::new();
    };
    delegations
        .roles
        .iter()
        .filter(|role| role.name == FLEET_ROLE)
        .filter_map(|role| role.targets.as_ref())
        .flat_map(|signed| signed.signed.targets.values())
        .filter_map(control_of)
        .collect()
}
