//! The device's side: a repository read through tough from the trusted root it was given. The
//! load checks every signature and threshold, each role's expiry, that no version went back
//! from what this device saw before (kept in a datastore folder, with the latest time seen, so
//! a clock stepped back is noticed), that snapshot and targets belong together, and the sizes
//! of the metadata. Bundles are then read only as the signed targets list them: a file longer
//! than its signed length is cut off, and one whose sha256 differs is refused.

use std::path::Path;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tough::{Repository, RepositoryLoader, TargetName};
use url::Url;

use crate::error::TrustError;
use crate::listing::{bundles_of, controls_of, BundleTarget, SignedControl};
use crate::rollout::Control;

/// A repository whose metadata checked out against the trusted root.
#[derive(Debug)]
pub struct TrustedRepository {
    repository: Repository,
}

impl TrustedRepository {
    /// Loads the repository at `metadata_url` / `targets_url` from `trusted_root` (root.json's
    /// bytes) through `transport`, remembering what it saw in `datastore`.
    pub async fn load<T>(
        trusted_root: &[u8],
        metadata_url: Url,
        targets_url: Url,
        datastore: &Path,
        transport: T,
    ) -> Result<TrustedRepository, TrustError>
    where
        T: tough::Transport + Send + Sync + 'static,
    {
        let repository = RepositoryLoader::new(&trusted_root, metadata_url, targets_url)
            .transport(transport)
            .datastore(datastore)
            .load()
            .await
            .map_err(TrustError::tuf("loading the repository"))?;
        Ok(TrustedRepository { repository })
    }

    /// [`TrustedRepository::load`] for a repository folder (`metadata/`, `targets/`).
    pub async fn load_dir(
        trusted_root: &[u8],
        repo_dir: &Path,
        datastore: &Path,
    ) -> Result<TrustedRepository, TrustError> {
        let metadata = crate::publisher::dir_url(&repo_dir.join("metadata"))?;
        let targets = crate::publisher::dir_url(&repo_dir.join("targets"))?;
        TrustedRepository::load(
            trusted_root,
            metadata,
            targets,
            datastore,
            tough::FilesystemTransport,
        )
        .await
    }

    /// The versions of the signed roles: targets, snapshot, timestamp.
    pub fn versions(&self) -> [u64; 3] {
        [
            self.repository.targets().signed.version.get(),
            self.repository.snapshot().signed.version.get(),
            self.repository.timestamp().signed.version.get(),
        ]
    }

    /// The earliest expiry of the four signed roles: after it the metadata must be read and
    /// checked again (and is refused if nothing newer was published).
    pub fn earliest_expiry(&self) -> jiff::Timestamp {
        [
            self.repository.root().signed.expires,
            self.repository.targets().signed.expires,
            self.repository.snapshot().signed.expires,
            self.repository.timestamp().signed.expires,
        ]
        .into_iter()
        .min()
        .unwrap_or_default()
    }

    /// Every bundle the top-level targets role lists (see [`bundles_of`]).
    pub fn bundles(&self) -> Vec<BundleTarget> {
        bundles_of(&self.repository)
    }

    /// The rollouts' controls the fleet role signed (see [`controls_of`]).
    pub fn controls(&self) -> Vec<SignedControl> {
        controls_of(&self.repository)
    }

    /// The control of `model`'s `version`, if the fleet role signed one.
    pub fn control(&self, model: &str, version: u64) -> Option<Control> {
        crate::listing::control_for(&self.controls(), model, version).cloned()
    }

    /// Downloads the target `name` into `dest`, checked against its signed length and sha256
    /// as it streams; written to `dest.partial` and renamed only once it checked out.
    pub async fn download(&self, name: &TargetName, dest: &Path) -> Result<(), TrustError> {
        let partial = dest.with_extension("partial");
        let result = self.download_to(name, &partial).await.and_then(|()| {
            std::fs::rename(&partial, dest)
                .map_err(TrustError::io(format!("renaming into {}", dest.display())))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    async fn download_to(&self, name: &TargetName, path: &Path) -> Result<(), TrustError> {
        let stream = self
            .repository
            .read_target(name)
            .await
            .map_err(TrustError::tuf(format!("reading {}", name.raw())))?
            .ok_or_else(|| TrustError::Repository(format!("no target named {}", name.raw())))?;
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(TrustError::io(format!("creating {}", path.display())))?;
        // The stream checks the signed length as it goes and the sha256 at its end: an error
        // from it means the bytes were refused.
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(TrustError::tuf(format!("downloading {}", name.raw())))?;
            file.write_all(&chunk)
                .await
                .map_err(TrustError::io(format!("writing {}", path.display())))?;
        }
        file.sync_all()
            .await
            .map_err(TrustError::io(format!("syncing {}", path.display())))
    }
}
