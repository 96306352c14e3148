//! The publisher's side: `init` makes the keys and a root of trust, `publish` signs a bundle in
//! as a target, `refresh` re-signs before the short-lived roles expire. The repository is a
//! folder in TUF's layout with consistent snapshots: `metadata/` (`1.root.json`,
//! `N.targets.json`, `N.snapshot.json`, `timestamp.json`) and `targets/`
//! (`<sha256>.<name>`), ready to be copied to object storage as it is. Each signing bumps the
//! version of targets, snapshot and timestamp, so clients that saw the old ones take the new.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tough::editor::signed::PathExists;
use tough::editor::RepositoryEditor;
use tough::key_source::KeySource;
use tough::schema::{PathPattern, PathSet, RoleKeys, RoleType, Root, Target};
use tough::{ExpirationEnforcement, RepositoryLoader, TargetName};

use crate::error::TrustError;
use crate::keys::FLEET_KEY_FILE;
use crate::keys::{self, key_path, ROLES};
use crate::listing::{CONTROL_PATTERN, CUSTOM_FIELD, FLEET_ROLE};
use crate::renewal::{self, Expiries, Renewal, RenewalPlan, SignedExpiries};
use crate::rollout::{Schedule, ROLLOUT_FIELD};

/// The file in the repository folder that one signing at a time holds ([`Publisher::lock`]);
/// not part of what is uploaded (only `metadata/` and `targets/` are).
const LOCK_FILE: &str = ".outpost-repo.lock";

/// The one metadata file that is not versioned in its name.
const TIMESTAMP_FILE: &str = "timestamp.json";

/// A bundle repository's publisher: its keys folder and its repository folder.
#[derive(Debug, Clone)]
pub struct Publisher {
    keys_dir: PathBuf,
    repo_dir: PathBuf,
}

impl Publisher {
    /// The publisher of the repository in `repo_dir`, signing with the keys in `keys_dir`.
    pub fn new(keys_dir: &Path, repo_dir: &Path) -> Publisher {
        Publisher {
            keys_dir: keys_dir.to_path_buf(),
            repo_dir: repo_dir.to_path_buf(),
        }
    }

    /// The keys folder.
    pub(crate) fn keys_dir(&self) -> &Path {
        &self.keys_dir
    }

    /// The metadata folder.
    pub fn metadata_dir(&self) -> PathBuf {
        self.repo_dir.join("metadata")
    }

    /// The targets folder.
    pub fn targets_dir(&self) -> PathBuf {
        self.repo_dir.join("targets")
    }

    /// The root of trust devices are given (`--trusted-root`).
    pub fn root_path(&self) -> PathBuf {
        self.metadata_dir().join("1.root.json")
    }

    /// Makes a key per role, a root that trusts them (threshold 1 each, consistent snapshots),
    /// and a first, empty set of targets, snapshot and timestamp. Refuses to touch existing keys.
    pub async fn init(&self, expiries: &Expiries) -> Result<(), TrustError> {
        let _lock = self.lock().await?;
        keys::generate_all(&self.keys_dir)?;
        let mut root = Root {
            spec_version: "1.0.0".to_string(),
            consistent_snapshot: true,
            version: NonZeroU64::MIN,
            expires: expires_in(expiries.root),
            keys: HashMap::new(),
            roles: HashMap::new(),
            _extra: HashMap::new(),
        };
        for role in ROLES {
            let key = keys::public_key(&key_path(&self.keys_dir, role)).await?;
            let id = key
                .key_id()
                .map_err(|e| TrustError::Repository(format!("the {role} key's id: {e}")))?;
            root.roles.insert(
                role,
                RoleKeys {
                    keyids: vec![id.clone()],
                    threshold: NonZeroU64::MIN,
                    _extra: HashMap::new(),
                },
            );
            root.keys.insert(id, key);
        }
        self.sign_role(root.clone(), &root, RoleType::Root, "root.json")
            .await?;
        let mut editor = RepositoryEditor::new(self.root_path())
            .await
            .map_err(TrustError::tuf("reading root.json"))?;
        // The fleet role, for rollouts' controls only (crate::fleet). It lasts as long as root:
        // the publisher's signings carry it unchanged, and only the fleet key renews it.
        editor
            .delegate_role(
                FLEET_ROLE,
                &[keys::source(&self.keys_dir.join(FLEET_KEY_FILE))],
                PathSet::Paths(vec![PathPattern::new(CONTROL_PATTERN).map_err(|e| {
                    TrustError::Repository(format!("the fleet role's paths: {e}"))
                })?]),
                true,
                NonZeroU64::MIN,
                expires_in(expiries.root),
                NonZeroU64::MIN,
            )
            .await
            .map_err(TrustError::tuf("delegating the fleet role"))?;
        self.sign_and_write(editor, [NonZeroU64::MIN; 3], expiries)
            .await?;
        Ok(())
    }

    /// Checks `bundle`, adds it as the target `<model>-<version>.bundle` (replacing one of that
    /// name) with its `rollout` (none: open to the whole fleet at once, as before rollouts),
    /// signs and writes the repository. Answers the target's name.
    pub async fn publish(
        &self,
        bundle: &Path,
        rollout: Option<&Schedule>,
        expiries: &Expiries,
    ) -> Result<TargetName, TrustError> {
        let file = std::fs::File::open(bundle)
            .map_err(TrustError::io(format!("opening {}", bundle.display())))?;
        let manifest = outpost_bundle::read::verify(
            std::io::BufReader::new(file),
            &outpost_bundle::Limits::default(),
        )?;
        let name = TargetName::new(format!("{}-{}.bundle", manifest.name, manifest.version))
            .map_err(TrustError::tuf("naming the target"))?;
        let mut target = Target::from_path(bundle)
            .await
            .map_err(|e| TrustError::Repository(format!("hashing {}: {e}", bundle.display())))?;
        let mut custom = json!({ "model": manifest.name, "version": manifest.version });
        if let Some(rollout) = rollout {
            custom[ROLLOUT_FIELD] = serde_json::to_value(rollout)
                .map_err(|e| TrustError::Repository(format!("the rollout: {e}")))?;
        }
        target.custom.insert(CUSTOM_FIELD.to_string(), custom);
        let _lock = self.lock().await?;
        let (mut editor, versions) = self.edit().await?;
        editor
            .add_target(name.clone(), target)
            .map_err(TrustError::tuf("adding the target"))?;
        let signed = self.sign_and_write(editor, versions, expiries).await?;
        signed
            .copy_target(
                bundle,
                &self.targets_dir(),
                PathExists::Replace,
                Some(&name),
            )
            .await
            .map_err(TrustError::tuf("copying the bundle into targets/"))?;
        Ok(name)
    }

    /// Signs new targets, snapshot and timestamp with nothing else changed, pushing their
    /// expiry forward.
    pub async fn refresh(&self, expiries: &Expiries) -> Result<(), TrustError> {
        let _lock = self.lock().await?;
        let (editor, versions) = self.edit().await?;
        self.sign_and_write(editor, versions, expiries).await?;
        Ok(())
    }

    /// The bundles and controls the folder's repository holds now (signatures checked, expiry
    /// not: what a signing starts from).
    pub async fn published(
        &self,
    ) -> Result<
        (
            Vec<crate::listing::BundleTarget>,
            Vec<crate::listing::SignedControl>,
        ),
        TrustError,
    > {
        let repository = self.load().await?;
        Ok((
            crate::listing::bundles_of(&repository),
            crate::listing::controls_of(&repository),
        ))
    }

    /// When targets, snapshot and timestamp lapse now.
    pub async fn signed_expiries(&self) -> Result<SignedExpiries, TrustError> {
        Ok(expiries_of(&self.load().await?))
    }

    /// Re-signs what is due at this moment ([`crate::renewal::plan`]: a role with less than
    /// half of its lifetime left; timestamp.json alone needs only the timestamp key) with
    /// `lifetimes`. Answers the plan, and the metadata files it wrote (to upload, in order).
    pub async fn renew_due(
        &self,
        lifetimes: &Expiries,
    ) -> Result<(RenewalPlan, Vec<String>), TrustError> {
        let _lock = self.lock().await?;
        let repository = self.load().await?;
        let plan = renewal::plan(&expiries_of(&repository), lifetimes, Timestamp::now());
        let written = match plan.renew {
            Renewal::Nothing => Vec::new(),
            Renewal::Timestamp => {
                self.sign_timestamp(&repository, lifetimes.timestamp)
                    .await?;
                vec![TIMESTAMP_FILE.to_string()]
            }
            Renewal::All => {
                let (editor, versions) = self.editor_over(repository).await?;
                self.sign_and_write(editor, versions, lifetimes).await?;
                let [targets, snapshot, _] = versions;
                vec![
                    format!("{targets}.targets.json"),
                    format!("{snapshot}.snapshot.json"),
                    TIMESTAMP_FILE.to_string(),
                ]
            }
        };
        Ok((plan, written))
    }

    /// Signs a new timestamp.json naming the same snapshot, valid for `lifetime`.
    async fn sign_timestamp(
        &self,
        repository: &tough::Repository,
        lifetime: SignedDuration,
    ) -> Result<(), TrustError> {
        let mut timestamp = repository.timestamp().signed.clone();
        timestamp.version = timestamp.version.saturating_add(1);
        timestamp.expires = expires_in(lifetime);
        let root = repository.root().signed.clone();
        self.sign_role(timestamp, &root, RoleType::Timestamp, TIMESTAMP_FILE)
            .await?;
        Ok(())
    }

    /// The version to sign `role` at after `current`: one above it, and above every
    /// `N.<role>.json` the folder holds. A signing whose upload lost the race for
    /// timestamp.json left its files in the folder (and perhaps in the store, where a versioned
    /// file is never replaced): the next signing must not reuse their versions.
    pub(crate) fn next_version(&self, current: NonZeroU64, role: &str) -> NonZeroU64 {
        let suffix = format!(".{role}.json");
        let highest = std::fs::read_dir(self.metadata_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                name.strip_suffix(&suffix)?.parse::<u64>().ok()
            })
            .max()
            .unwrap_or(0);
        current
            .saturating_add(1)
            .max(NonZeroU64::new(highest.saturating_add(1)).unwrap_or(NonZeroU64::MIN))
    }

    /// Signs `role` with the key of `key_role` (a top-level role `root` names) and writes it
    /// into the metadata folder.
    pub(crate) async fn sign_role<T>(
        &self,
        role: T,
        root: &Root,
        key_role: RoleType,
        file: &str,
    ) -> Result<tough::editor::signed::SignedRole<T>, TrustError>
    where
        T: tough::schema::Role + serde::Serialize,
    {
        let key = [keys::source(&key_path(&self.keys_dir, key_role))];
        let signed = tough::editor::signed::SignedRole::new(
            role,
            &tough::schema::KeyHolder::Root(root.clone()),
            &key,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .await
        .map_err(TrustError::tuf(format!("signing {file}")))?;
        signed
            .write(self.metadata_dir(), true)
            .await
            .map_err(TrustError::tuf(format!("writing {file}")))?;
        Ok(signed)
    }

    /// Holds the repository folder for one signing (or an upload of what was signed): another
    /// `outpost repo` on the same folder waits, so that a publish and a running refresh loop
    /// never sign from the same versions. Released when dropped.
    pub async fn lock(&self) -> Result<std::fs::File, TrustError> {
        std::fs::create_dir_all(&self.repo_dir).map_err(TrustError::io(format!(
            "creating {}",
            self.repo_dir.display()
        )))?;
        let path = self.repo_dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(TrustError::io(format!("opening {}", path.display())))?;
        // Waiting blocks a thread, not the caller's runtime.
        let context = format!("locking {}", path.display());
        tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|e| TrustError::Repository(format!("{context}: {e}")))?
            .map_err(TrustError::io(context))
    }

    /// The current repository, read with its signatures checked but its expiry not enforced
    /// (so that an expired repository can be refreshed).
    pub(crate) async fn load(&self) -> Result<tough::Repository, TrustError> {
        let root = std::fs::read(self.root_path()).map_err(TrustError::io(format!(
            "reading {}",
            self.root_path().display()
        )))?;
        RepositoryLoader::new(
            &root,
            dir_url(&self.metadata_dir())?,
            dir_url(&self.targets_dir())?,
        )
        .expiration_enforcement(ExpirationEnforcement::Unsafe)
        .load()
        .await
        .map_err(TrustError::tuf("reading the repository"))
    }

    /// An editor over the current repository and the next versions of targets, snapshot and
    /// timestamp.
    async fn edit(&self) -> Result<(RepositoryEditor, [NonZeroU64; 3]), TrustError> {
        self.editor_over(self.load().await?).await
    }

    async fn editor_over(
        &self,
        repository: tough::Repository,
    ) -> Result<(RepositoryEditor, [NonZeroU64; 3]), TrustError> {
        let versions = [
            self.next_version(repository.targets().signed.version, "targets"),
            self.next_version(repository.snapshot().signed.version, "snapshot"),
            repository.timestamp().signed.version.saturating_add(1),
        ];
        let editor = RepositoryEditor::from_repo(self.root_path(), repository)
            .await
            .map_err(TrustError::tuf("editing the repository"))?;
        Ok((editor, versions))
    }

    /// Signs targets, snapshot and timestamp at `versions` and writes the metadata.
    async fn sign_and_write(
        &self,
        mut editor: RepositoryEditor,
        [targets, snapshot, timestamp]: [NonZeroU64; 3],
        expiries: &Expiries,
    ) -> Result<tough::editor::signed::SignedRepository, TrustError> {
        editor
            .targets_version(targets)
            .map_err(TrustError::tuf("setting targets' version"))?;
        editor
            .targets_expires(expires_in(expiries.targets))
            .map_err(TrustError::tuf("setting targets' expiry"))?;
        editor
            .snapshot_version(snapshot)
            .snapshot_expires(expires_in(expiries.snapshot))
            .timestamp_version(timestamp)
            .timestamp_expires(expires_in(expiries.timestamp));
        let keys: Vec<Box<dyn KeySource>> =
            [RoleType::Targets, RoleType::Snapshot, RoleType::Timestamp]
                .into_iter()
                .map(|role| keys::source(&key_path(&self.keys_dir, role)))
                .collect();
        let signed = editor
            .sign(&keys)
            .await
            .map_err(TrustError::tuf("signing the repository"))?;
        std::fs::create_dir_all(self.targets_dir()).map_err(TrustError::io(format!(
            "creating {}",
            self.targets_dir().display()
        )))?;
        signed
            .write(self.metadata_dir())
            .await
            .map_err(TrustError::tuf("writing the metadata"))?;
        Ok(signed)
    }
}

/// When `repository`'s targets, snapshot and timestamp lapse.
fn expiries_of(repository: &tough::Repository) -> SignedExpiries {
    SignedExpiries {
        targets: repository.targets().signed.expires,
        snapshot: repository.snapshot().signed.expires,
        timestamp: repository.timestamp().signed.expires,
    }
}

/// The expiry of a signing made now that lasts `duration`.
pub(crate) fn expires_in(duration: SignedDuration) -> Timestamp {
    let at = Timestamp::now()
        .checked_add(duration)
        .unwrap_or(Timestamp::MAX);
    // Whole seconds: the specification's form (`YYYY-MM-DDTHH:MM:SSZ`), which python-tuf
    // insists on.
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

/// A `file://` URL for a folder, ending in '/'.
pub(crate) fn dir_url(dir: &Path) -> Result<url::Url, TrustError> {
    let absolute =
        std::path::absolute(dir).map_err(TrustError::io(format!("resolving {}", dir.display())))?;
    url::Url::from_directory_path(&absolute)
        .map_err(|()| TrustError::Repository(format!("{} is not a usable path", dir.display())))
}
