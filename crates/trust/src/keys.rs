//! Signing keys as files: one ed25519 key per role (`root.pk8`, `targets.pk8`, `snapshot.pk8`,
//! `timestamp.pk8`, and `fleet.pk8` for the delegated fleet role), PKCS#8 DER, created with mode
//! 0600 in a folder of mode 0700 and never overwritten. Files on the publisher's disk suit a test or a small fleet; production root and
//! targets keys belong offline or in a KMS/HSM (tough's `KeySource` takes those too), with only
//! the timestamp key, which must re-sign often, on a machine that runs unattended.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::key::Key;
use tough::schema::RoleType;

use crate::error::TrustError;

/// The top-level roles, each with a key of its own.
pub const ROLES: [RoleType; 4] = [
    RoleType::Root,
    RoleType::Targets,
    RoleType::Snapshot,
    RoleType::Timestamp,
];

/// The fleet role's key file (a delegated role, not one root names).
pub const FLEET_KEY_FILE: &str = "fleet.pk8";

/// The key file of `role` in `dir`.
pub fn key_path(dir: &Path, role: RoleType) -> PathBuf {
    dir.join(format!("{role}.pk8"))
}

/// Makes `dir` (0700) and a new key for every role in it, the fleet role's too; refuses if any
/// key file exists.
pub fn generate_all(dir: &Path) -> Result<(), TrustError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(TrustError::io(format!("creating {}", dir.display())))?;
    for role in ROLES {
        generate(&key_path(dir, role))?;
    }
    generate(&dir.join(FLEET_KEY_FILE))
}

/// Writes a new ed25519 key to `path` (which must not exist), readable by its owner only.
pub fn generate(path: &Path) -> Result<(), TrustError> {
    let failed = |reason: String| TrustError::Key {
        path: path.display().to_string(),
        reason,
    };
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|e| failed(format!("cannot generate: {e}")))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                failed("exists already: init never replaces a key".into())
            } else {
                failed(e.to_string())
            }
        })?;
    file.write_all(pkcs8.as_ref())
        .and_then(|()| file.sync_all())
        .map_err(|e| failed(e.to_string()))
}

/// The key at `path` as tough signs with it.
pub fn source(path: &Path) -> Box<dyn KeySource> {
    Box::new(LocalKeySource {
        path: path.to_path_buf(),
    })
}

/// The public half of the key at `path`, as root.json lists it.
pub async fn public_key(path: &Path) -> Result<Key, TrustError> {
    let signer = source(path).as_sign().await.map_err(|e| TrustError::Key {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(signer.tuf_key())
}
