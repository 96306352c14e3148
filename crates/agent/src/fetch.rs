//! The signed repository, as the agent polls it. A poll first asks whether `timestamp.json`
//! changed with one conditional GET (when the last verified metadata has not expired yet): if
//! it did not, nothing else is read. Otherwise the whole repository is loaded and verified by
//! tough from the trusted root (new root versions, signatures, thresholds, expiry, rollback,
//! snapshot/targets consistency), remembering what it saw in the datastore. Bundles then
//! download resumably, checked against their signed length and sha256.

use std::path::{Path, PathBuf};

use outpost_storage::conditional::{changed_since, current_etag, Freshness};
use outpost_storage::download::{download, Downloaded, Expected};
use outpost_storage::{RepositoryLocation, StorageSettings, StoreTransport};
use outpost_trust::{BundleTarget, TrustedRepository};

use crate::error::AgentError;

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// timestamp.json is as it was, and the verified metadata is still valid.
    Unchanged,
    /// The repository was loaded and verified anew.
    Verified,
}

/// The repository the agent follows.
pub struct RepositoryWatch {
    location: RepositoryLocation,
    trusted_root: Vec<u8>,
    datastore: PathBuf,
    timestamp_etag: Option<String>,
    verified: Option<TrustedRepository>,
}

impl RepositoryWatch {
    /// Follows the repository at `url` from `trusted_root` (root.json's bytes), remembering
    /// what it saw in `datastore`.
    pub fn new(
        url: &str,
        settings: &StorageSettings,
        trusted_root: Vec<u8>,
        datastore: PathBuf,
    ) -> Result<RepositoryWatch, AgentError> {
        Ok(RepositoryWatch {
            location: RepositoryLocation::open(url, settings)?,
            trusted_root,
            datastore,
            timestamp_etag: None,
            verified: None,
        })
    }

    fn timestamp_path(&self) -> object_store::path::Path {
        self.location
            .path_of(&self.location.join("metadata/timestamp.json"))
            .unwrap_or_default()
    }

    /// Polls the repository as the module says. On an error the last verified metadata is
    /// dropped when it has expired, so nothing is installed from it.
    pub async fn poll(&mut self) -> Result<Polled, AgentError> {
        let still_valid = self
            .verified
            .as_ref()
            .is_some_and(|r| jiff::Timestamp::now() < r.earliest_expiry());
        let store = self.location.store.clone();
        let mut seen = None;
        if let (true, Some(etag)) = (still_valid, &self.timestamp_etag) {
            match changed_since(store.as_ref(), &self.timestamp_path(), etag).await? {
                Freshness::Unchanged => return Ok(Polled::Unchanged),
                Freshness::Changed(etag) => seen = etag,
            }
        }
        if !still_valid {
            self.verified = None;
        }
        // The ETag is taken before the load (from the conditional GET that saw the change, else
        // a HEAD): if timestamp.json changes in between, the next poll sees a different ETag
        // and loads again.
        let etag = match seen {
            Some(etag) => Some(etag),
            None => current_etag(store.as_ref(), &self.timestamp_path()).await?,
        };
        let (metadata, targets) = (
            self.location.join("metadata/"),
            self.location.join("targets/"),
        );
        let repository = TrustedRepository::load(
            &self.trusted_root,
            metadata,
            targets,
            &self.datastore,
            StoreTransport::new(self.location.clone()),
        )
        .await?;
        self.verified = Some(repository);
        self.timestamp_etag = etag;
        Ok(Polled::Verified)
    }

    /// The last verified repository, if its metadata is still valid.
    pub fn verified(&self) -> Option<&TrustedRepository> {
        self.verified
            .as_ref()
            .filter(|r| jiff::Timestamp::now() < r.earliest_expiry())
    }

    /// Downloads `bundle` into `dest` (resuming a partial download), at most
    /// `bytes_per_second` when given.
    pub async fn download(
        &self,
        bundle: &BundleTarget,
        dest: &Path,
        bytes_per_second: Option<u64>,
    ) -> Result<Downloaded, AgentError> {
        let name = bundle.repository_path();
        let path = self
            .location
            .path_of(&self.location.join(&name))
            .ok_or_else(|| {
                AgentError::Bundle(format!("target name {name} leaves the repository"))
            })?;
        let expected = Expected {
            length: bundle.length,
            sha256: bundle.sha256,
        };
        Ok(download(
            self.location.store.as_ref(),
            &path,
            dest,
            &expected,
            bytes_per_second,
            &outpost_storage::NoProgress,
        )
        .await?)
    }
}
