//! The fleet role: a TUF role delegated by targets for the names `fleet-control.*` only, whose
//! key signs what a rollout may do now ([`Control`]: the share of the fleet open, pause, yank)
//! and nothing else. A bundle can only come from the top-level targets role, so the fleet key
//! (held by the machine that runs `outpost fleet watch`, with the snapshot and timestamp keys a
//! signing needs) can halt or open a rollout but never publish a model. Each control is a
//! target `fleet-control.<model>.<version>.json` whose file holds the same JSON as its custom
//! field; devices read the custom field from the verified metadata and never download it.

use std::collections::HashMap;
use std::num::NonZeroU64;

use serde_json::json;
use tough::editor::signed::SignedRole;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::{DelegatedTargets, Hashes, KeyHolder, Metafile, RoleType, Target, Targets};
use tough::TargetName;

use crate::error::TrustError;
use crate::keys::{self, FLEET_KEY_FILE};
use crate::listing::{control_target_name, FLEET_ROLE};
use crate::publisher::{expires_in, Publisher};
use crate::rollout::{Control, CONTROL_FIELD};

impl Publisher {
    /// Signs `control` for `model`'s `version` with the fleet key (replacing the control it
    /// had), then snapshot and timestamp with theirs. The fleet role lasts `lifetimes.root` (as
    /// long as root: nothing but the fleet key renews it), snapshot and timestamp theirs.
    /// Answers the metadata files written, to upload in order.
    pub async fn sign_control(
        &self,
        model: &str,
        version: u64,
        control: &Control,
        lifetimes: &crate::Expiries,
    ) -> Result<Vec<String>, TrustError> {
        let _lock = self.lock().await?;
        let repository = self.load().await?;
        let mut fleet = fleet_role(&repository)?;

        // The control's file, into targets/ under its consistent-snapshot name.
        let body = json!({ "model": model, "version": version, "control": control });
        let bytes = serde_json::to_vec_pretty(&body)
            .map_err(|e| TrustError::Repository(format!("writing the control: {e}")))?;
        let sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let name = control_target_name(model, version);
        let hex = outpost_core::Sha256::try_from(sha256.as_ref())
            .map_err(|e| TrustError::Repository(format!("hashing the control: {e}")))?
            .to_hex();
        let targets_dir = self.targets_dir();
        std::fs::create_dir_all(&targets_dir).map_err(TrustError::io(format!(
            "creating {}",
            targets_dir.display()
        )))?;
        let file = targets_dir.join(format!("{hex}.{name}"));
        std::fs::write(&file, &bytes)
            .map_err(TrustError::io(format!("writing {}", file.display())))?;
        let mut custom = HashMap::new();
        custom.insert(CONTROL_FIELD.to_string(), body);
        let target = Target {
            length: bytes.len() as u64,
            hashes: tough::schema::Hashes {
                sha256: Decoded::<Hex>::from(sha256.as_ref().to_vec()),
                _extra: HashMap::new(),
            },
            custom,
            _extra: HashMap::new(),
        };

        fleet.targets.insert(
            TargetName::new(name).map_err(TrustError::tuf("naming the control"))?,
            target,
        );
        self.sign_fleet_role(&repository, fleet, lifetimes).await
    }

    /// When the fleet role's signature lapses (as the folder's repository holds it).
    pub async fn fleet_role_expiry(&self) -> Result<jiff::Timestamp, TrustError> {
        Ok(fleet_role(&self.load().await?)?.expires)
    }

    /// Signs the fleet role again as it is, for another `lifetimes.root`, with snapshot and
    /// timestamp: its renewal, which only the fleet key can make (`fleet watch` does once half
    /// of its life has passed). Answers the metadata files written, to upload in order.
    pub async fn renew_fleet_role(
        &self,
        lifetimes: &crate::Expiries,
    ) -> Result<Vec<String>, TrustError> {
        let _lock = self.lock().await?;
        let repository = self.load().await?;
        let fleet = fleet_role(&repository)?;
        self.sign_fleet_role(&repository, fleet, lifetimes).await
    }

    /// Signs `fleet` (one version up, lasting `lifetimes.root`) with the fleet key, then
    /// snapshot and timestamp naming it.
    async fn sign_fleet_role(
        &self,
        repository: &tough::Repository,
        mut fleet: Targets,
        lifetimes: &crate::Expiries,
    ) -> Result<Vec<String>, TrustError> {
        let delegations = repository
            .targets()
            .signed
            .delegations
            .clone()
            .ok_or_else(no_fleet_role)?;
        fleet.version = self.next_version(fleet.version, FLEET_ROLE);
        fleet.expires = expires_in(lifetimes.root);
        let signed_fleet = SignedRole::new(
            DelegatedTargets {
                name: FLEET_ROLE.to_string(),
                targets: fleet,
            },
            &KeyHolder::Delegations(delegations),
            &[keys::source(&self.keys_dir().join(FLEET_KEY_FILE))],
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .await
        .map_err(TrustError::tuf("signing the fleet role"))?;
        signed_fleet
            .write(self.metadata_dir(), true)
            .await
            .map_err(TrustError::tuf("writing the fleet role"))?;
        let fleet_version = signed_fleet.signed().signed.targets.version;

        let root = repository.root().signed.clone();
        let mut snapshot = repository.snapshot().signed.clone();
        snapshot.version = self.next_version(snapshot.version, "snapshot");
        snapshot.expires = expires_in(lifetimes.snapshot);
        snapshot.meta.insert(
            format!("{FLEET_ROLE}.json"),
            metafile(fleet_version, signed_fleet.sha256(), *signed_fleet.length()),
        );
        let signed_snapshot = self
            .sign_role(snapshot, &root, RoleType::Snapshot, "snapshot.json")
            .await?;
        let snapshot_version = signed_snapshot.signed().signed.version;

        let mut timestamp = repository.timestamp().signed.clone();
        timestamp.version = timestamp.version.saturating_add(1);
        timestamp.expires = expires_in(lifetimes.timestamp);
        timestamp.meta.insert(
            "snapshot.json".to_string(),
            metafile(
                snapshot_version,
                signed_snapshot.sha256(),
                *signed_snapshot.length(),
            ),
        );
        self.sign_role(timestamp, &root, RoleType::Timestamp, "timestamp.json")
            .await?;
        Ok(vec![
            format!("{fleet_version}.{FLEET_ROLE}.json"),
            format!("{snapshot_version}.snapshot.json"),
            "timestamp.json".to_string(),
        ])
    }
}

/// The fleet role's metadata as `repository` holds it.
fn fleet_role(repository: &tough::Repository) -> Result<Targets, TrustError> {
    repository
        .targets()
        .signed
        .delegations
        .as_ref()
        .and_then(|delegations| {
            delegations
                .roles
                .iter()
                .find(|role| role.name == FLEET_ROLE)
        })
        .and_then(|role| role.targets.clone())
        .map(|signed| signed.signed)
        .ok_or_else(no_fleet_role)
}

fn no_fleet_role() -> TrustError {
    TrustError::Repository(format!(
        "the repository delegates no {FLEET_ROLE} role (it was made before rollouts; make a new one with `outpost repo init`)"
    ))
}

fn metafile(version: NonZeroU64, sha256: &[u8], length: u64) -> Metafile {
    Metafile {
        length: Some(length),
        hashes: Some(Hashes {
            sha256: sha256.to_vec().into(),
            _extra: HashMap::new(),
        }),
        version,
        _extra: HashMap::new(),
    }
}
