//! Putting a verified bundle into the model repository the server reads, so that the server
//! never sees half a version: the bundle is unpacked (with every check of
//! `outpost_bundle::read`) into `<repository>/.outpost-staging/`, on the same filesystem; its
//! model-level files and version files are joined into one version folder (which then carries
//! its own `model.toml`), synced, and renamed into `<repository>/<model>/<version>/` in one
//! step. Golden cases go to the agent's state folder. Also here: removing a version, and
//! `<model>/serving.toml`, which names the default version for a restarting server.

use std::path::{Path, PathBuf};

use outpost_bundle::manifest::server_satisfies;
use outpost_bundle::{read, Limits, Manifest, Part};

use crate::durable::{remove_dir, sync_parent, sync_tree, write_atomically};
use crate::error::AgentError;

/// Hidden folders of the model repository (the server skips names starting with a dot).
const STAGING: &str = ".outpost-staging";

/// Installs bundles into one model repository.
#[derive(Debug, Clone)]
pub struct Installer {
    repository: PathBuf,
    golden_root: PathBuf,
    limits: Limits,
}

impl Installer {
    /// Installs into `repository`, keeping golden cases under `golden_root`.
    pub fn new(repository: PathBuf, golden_root: PathBuf) -> Installer {
        Installer {
            repository,
            golden_root,
            limits: Limits::default(),
        }
    }

    /// `<repository>/<model>/<version>`.
    pub fn version_dir(&self, model: &str, version: u64) -> PathBuf {
        self.repository.join(model).join(version.to_string())
    }

    /// Where the golden cases of a version are kept.
    pub fn golden_dir(&self, model: &str, version: u64) -> PathBuf {
        self.golden_root.join(model).join(version.to_string())
    }

    fn staging(&self) -> PathBuf {
        self.repository.join(STAGING)
    }

    /// Removes what an interrupted install left in the staging folder.
    pub fn clean_staging(&self) -> Result<(), AgentError> {
        let staging = self.staging();
        remove_dir(&staging).map_err(AgentError::io(format!("removing {}", staging.display())))
    }

    /// Unpacks the bundle file `bundle` (already checked against its signed hash), which must
    /// be version `version` of `model` and servable by a server of version `server_version`,
    /// into the repository. Any failure leaves nothing behind.
    pub fn install(
        &self,
        bundle: &Path,
        model: &str,
        version: u64,
        server_version: &str,
    ) -> Result<Manifest, AgentError> {
        self.clean_staging()?;
        let staging = self.staging();
        std::fs::create_dir_all(&staging)
            .map_err(AgentError::io(format!("creating {}", staging.display())))?;
        let result = self.install_staged(bundle, model, version, server_version, &staging);
        let cleaned = self.clean_staging();
        let manifest = result?;
        cleaned?;
        Ok(manifest)
    }

    fn install_staged(
        &self,
        bundle: &Path,
        model: &str,
        version: u64,
        server_version: &str,
        staging: &Path,
    ) -> Result<Manifest, AgentError> {
        let unpacked = staging.join("unpacked");
        let file = std::fs::File::open(bundle)
            .map_err(AgentError::io(format!("opening {}", bundle.display())))?;
        let manifest = read::unpack(std::io::BufReader::new(file), &self.limits, &unpacked)
            .map_err(|e| match e {
                outpost_bundle::BundleError::Io { .. } => AgentError::Io {
                    context: format!("unpacking {}", bundle.display()),
                    source: std::io::Error::other(e.to_string()),
                },
                other => AgentError::Bundle(other.to_string()),
            })?;
        if manifest.name != model || manifest.version != version {
            return Err(AgentError::Bundle(format!(
                "its manifest is {} version {}, but the signed target is {model} version {version}",
                manifest.name, manifest.version
            )));
        }
        if !server_satisfies(server_version, &manifest.min_server_version) {
            return Err(AgentError::Server(format!(
                "{model} version {version} needs outpost {} or later; the server is {server_version} (it stays waiting until the server is upgraded)",
                manifest.min_server_version
            )));
        }
        // One folder for the version: model-level files and version files side by side.
        let joined = staging.join("version");
        let golden = staging.join("golden");
        for entry in &manifest.files {
            let Some((part, rest)) = entry.part() else {
                return Err(AgentError::Bundle(format!(
                    "unexpected path {}",
                    entry.path
                )));
            };
            let target = match part {
                Part::Model | Part::Version => joined.join(rest),
                Part::Golden => golden.join(rest),
            };
            if target.exists() {
                return Err(AgentError::Bundle(format!(
                    "{} is both a model file and a version file",
                    rest
                )));
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(AgentError::io(format!("creating {}", parent.display())))?;
            }
            std::fs::rename(unpacked.join(&entry.path), &target)
                .map_err(AgentError::io(format!("moving {}", entry.path)))?;
        }
        std::fs::create_dir_all(&joined)
            .map_err(AgentError::io(format!("creating {}", joined.display())))?;
        sync_tree(&joined).map_err(AgentError::io("syncing the staged version"))?;
        // Golden cases first: once the version folder is in place it may be checked.
        let golden_dir = self.golden_dir(model, version);
        remove_dir(&golden_dir).map_err(AgentError::io("removing old golden cases"))?;
        copy_tree(&golden, &golden_dir)?;
        let model_dir = self.repository.join(model);
        if !model_dir.is_dir() {
            std::fs::create_dir_all(&model_dir)
                .map_err(AgentError::io(format!("creating {}", model_dir.display())))?;
            sync_parent(&model_dir).map_err(AgentError::io("syncing the repository"))?;
        }
        let destination = self.version_dir(model, version);
        // A folder left under the version's name (not by an install of this bundle, which
        // renames in one step) is replaced by the verified content.
        remove_dir(&destination).map_err(AgentError::io(format!(
            "removing {}",
            destination.display()
        )))?;
        std::fs::rename(&joined, &destination).map_err(AgentError::io(format!(
            "renaming into {}",
            destination.display()
        )))?;
        sync_parent(&destination).map_err(AgentError::io("syncing the model folder"))?;
        Ok(manifest)
    }

    /// Removes version `version` of `model` from the repository, and its golden cases.
    pub fn remove_version(&self, model: &str, version: u64) -> Result<(), AgentError> {
        let dir = self.version_dir(model, version);
        remove_dir(&dir).map_err(AgentError::io(format!("removing {}", dir.display())))?;
        let golden = self.golden_dir(model, version);
        remove_dir(&golden).map_err(AgentError::io(format!("removing {}", golden.display())))
    }

    /// The versions of `model` on disk.
    pub fn versions_on_disk(&self, model: &str) -> Vec<u64> {
        let Ok(entries) = std::fs::read_dir(self.repository.join(model)) else {
            return Vec::new();
        };
        let mut versions: Vec<u64> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        versions.sort_unstable();
        versions
    }

    /// Writes `<model>/serving.toml` naming `version` the default, durably.
    pub fn write_default(&self, model: &str, version: u64) -> Result<(), AgentError> {
        let path = self.repository.join(model).join("serving.toml");
        let text = format!(
            "# Written by outpost agent: the version unversioned requests go to.\ndefault_version = {version}\n"
        );
        write_atomically(&path, text.as_bytes())
            .map_err(AgentError::io(format!("writing {}", path.display())))
    }
}

/// Copies the files under `from` (if it exists) into a new folder `to`, synced.
fn copy_tree(from: &Path, to: &Path) -> Result<(), AgentError> {
    std::fs::create_dir_all(to).map_err(AgentError::io(format!("creating {}", to.display())))?;
    if from.is_dir() {
        for entry in std::fs::read_dir(from).map_err(AgentError::io("reading golden cases"))? {
            let entry = entry.map_err(AgentError::io("reading golden cases"))?;
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy_tree(&entry.path(), &target)?;
            } else {
                std::fs::copy(entry.path(), &target)
                    .map_err(AgentError::io(format!("copying {}", target.display())))?;
            }
        }
    }
    sync_tree(to).map_err(AgentError::io("syncing golden cases"))
}
