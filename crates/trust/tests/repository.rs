//! A repository made by `Publisher` and read by `TrustedRepository`, both through tough: what
//! was published is what a device downloads, and tampered, expired or rolled-back metadata and
//! tampered bundles are refused.

use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use outpost_trust::{Expiries, Publisher, TrustedRepository};

/// A bundle of a stand-in model `m` at `version`, written into `dir`.
fn bundle(dir: &Path, version: u64) -> PathBuf {
    outpost_testkit::bundles::stand_in_bundle(dir, "m", version)
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

struct Fixture {
    dir: tempfile::TempDir,
    publisher: Publisher,
}

impl Fixture {
    async fn new(expiries: &Expiries) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let publisher = Publisher::new(&dir.path().join("keys"), &dir.path().join("repo"));
        publisher.init(expiries).await.unwrap();
        Fixture { dir, publisher }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn load(&self, datastore: &str) -> Result<TrustedRepository, outpost_trust::TrustError> {
        let root = std::fs::read(self.publisher.root_path()).unwrap();
        let datastore = self.path(datastore);
        std::fs::create_dir_all(&datastore).unwrap();
        TrustedRepository::load_dir(&root, &self.path("repo"), &datastore).await
    }
}

#[tokio::test]
async fn a_published_bundle_downloads_as_it_was_published() {
    let f = Fixture::new(&Expiries::default()).await;
    assert!(f.load("device").await.unwrap().bundles().is_empty());
    let first = bundle(f.dir.path(), 1);
    let name = f
        .publisher
        .publish(&first, None, &Expiries::default())
        .await
        .unwrap();
    assert_eq!(name.raw(), "m-1.bundle");
    f.publisher
        .publish(&bundle(f.dir.path(), 2), None, &Expiries::default())
        .await
        .unwrap();

    let repository = f.load("device").await.unwrap();
    let mut offered: Vec<(String, u64)> = repository
        .bundles()
        .into_iter()
        .map(|b| (b.model, b.version))
        .collect();
    offered.sort();
    assert_eq!(offered, [("m".to_string(), 1), ("m".to_string(), 2)]);
    let signed = repository
        .bundles()
        .into_iter()
        .find(|b| b.version == 1)
        .unwrap();
    let bytes = std::fs::read(&first).unwrap();
    assert_eq!(signed.length, bytes.len() as u64);
    assert_eq!(signed.sha256.as_bytes().to_vec(), sha256(&bytes));
    let dest = f.path("downloaded.bundle");
    repository.download(&name, &dest).await.unwrap();
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(&first).unwrap()
    );
    assert_eq!(repository.versions(), [3, 3, 3], "init, then two publishes");
}

/// The file holding target `name` in the repository's targets/ folder.
fn target_file(f: &Fixture, name: &str) -> PathBuf {
    std::fs::read_dir(f.path("repo/targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().ends_with(name))
        .unwrap()
}

#[tokio::test]
async fn tampered_and_lengthened_bundles_are_refused() {
    let f = Fixture::new(&Expiries::default()).await;
    let name = f
        .publisher
        .publish(&bundle(f.dir.path(), 1), None, &Expiries::default())
        .await
        .unwrap();
    let stored = target_file(&f, "m-1.bundle");
    let original = std::fs::read(&stored).unwrap();
    let repository = f.load("device").await.unwrap();

    let mut changed = original.clone();
    changed[600] ^= 0x01;
    std::fs::write(&stored, &changed).unwrap();
    let dest = f.path("out.bundle");
    assert!(repository.download(&name, &dest).await.is_err());
    assert!(!dest.exists() && !f.path("out.partial").exists());

    let mut longer = original.clone();
    longer.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&stored, &longer).unwrap();
    assert!(repository.download(&name, &dest).await.is_err());
    assert!(!dest.exists());
}

#[tokio::test]
async fn tampered_metadata_is_refused() {
    let f = Fixture::new(&Expiries::default()).await;
    f.publisher
        .publish(&bundle(f.dir.path(), 1), None, &Expiries::default())
        .await
        .unwrap();
    let targets = f.path("repo/metadata/2.targets.json");
    let text = std::fs::read_to_string(&targets).unwrap();
    std::fs::write(&targets, text.replace("\"m\"", "\"n\"")).unwrap();
    let error = f.load("device").await.unwrap_err().to_string();
    assert!(!error.is_empty());
}

#[tokio::test]
async fn expired_metadata_is_refused_until_refreshed() {
    let expired = Expiries {
        timestamp: SignedDuration::from_secs(-3600),
        ..Expiries::default()
    };
    let f = Fixture::new(&expired).await;
    let error = f.load("device").await.unwrap_err().to_string();
    assert!(error.to_lowercase().contains("expire"), "{error}");
    f.publisher.refresh(&Expiries::default()).await.unwrap();
    f.load("device").await.unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test]
async fn metadata_older_than_what_the_device_saw_is_refused() {
    let f = Fixture::new(&Expiries::default()).await;
    f.publisher
        .publish(&bundle(f.dir.path(), 1), None, &Expiries::default())
        .await
        .unwrap();
    copy_dir(&f.path("repo/metadata"), &f.path("old-metadata"));
    f.publisher
        .publish(&bundle(f.dir.path(), 2), None, &Expiries::default())
        .await
        .unwrap();
    assert_eq!(f.load("device").await.unwrap().bundles().len(), 2);
    // The repository is put back to what it was before the second publish (an attacker
    // replaying old, validly signed metadata): the device refuses it; a new device would not
    // know better.
    std::fs::remove_dir_all(f.path("repo/metadata")).unwrap();
    copy_dir(&f.path("old-metadata"), &f.path("repo/metadata"));
    assert!(f.load("device").await.is_err());
    assert_eq!(f.load("new-device").await.unwrap().bundles().len(), 1);
}

#[tokio::test]
async fn a_lapsing_timestamp_is_renewed_with_the_timestamp_key_alone() {
    let short = Expiries {
        timestamp: SignedDuration::from_secs(60),
        ..Expiries::default()
    };
    let f = Fixture::new(&short).await;
    f.publisher
        .publish(&bundle(f.dir.path(), 1), None, &short)
        .await
        .unwrap();
    let device = f.load("device").await.unwrap();
    let [targets, snapshot, timestamp] = device.versions();
    // The machine that keeps the repository fresh holds only the timestamp key.
    let online_keys = f.path("online-keys");
    std::fs::create_dir_all(&online_keys).unwrap();
    let timestamp_key =
        outpost_trust::keys::key_path(&f.path("keys"), tough::schema::RoleType::Timestamp);
    std::fs::copy(
        &timestamp_key,
        online_keys.join(timestamp_key.file_name().unwrap()),
    )
    .unwrap();
    let online = Publisher::new(&online_keys, &f.path("repo"));
    let lifetimes = Expiries {
        timestamp: SignedDuration::from_hours(1),
        ..Expiries::default()
    };
    // A minute left of a one-hour lifetime: due; only timestamp.json is written.
    let (plan, written) = online.renew_due(&lifetimes).await.unwrap();
    assert_eq!(plan.renew, outpost_trust::Renewal::Timestamp);
    assert_eq!(written, ["timestamp.json"]);
    let renewed = online.signed_expiries().await.unwrap();
    assert!(renewed.timestamp > jiff::Timestamp::now() + SignedDuration::from_mins(59));
    let device = f.load("device").await.unwrap();
    assert_eq!(
        device.versions(),
        [targets, snapshot, timestamp + 1],
        "targets and snapshot untouched"
    );
    assert_eq!(device.bundles().len(), 1);
    // Fresh for another half hour: nothing to do, and the next look is then.
    let (plan, written) = online.renew_due(&lifetimes).await.unwrap();
    assert_eq!(plan.renew, outpost_trust::Renewal::Nothing);
    assert!(written.is_empty());
    assert!(plan.next_check >= renewed.timestamp - SignedDuration::from_mins(31));
    // Snapshot due: that needs its key, which this machine does not have.
    let snapshot_soon = Expiries {
        snapshot: SignedDuration::from_hours(24 * 30),
        ..lifetimes
    };
    let error = online.renew_due(&snapshot_soon).await.unwrap_err();
    assert!(error.to_string().contains("key"), "{error}");
    f.load("device").await.unwrap();
}

#[tokio::test]
async fn publishes_at_the_same_time_both_land() {
    let f = Fixture::new(&Expiries::default()).await;
    let (one, two) = (bundle(f.dir.path(), 1), bundle(f.dir.path(), 2));
    let (a, b) = (f.publisher.clone(), f.publisher.clone());
    let first = tokio::spawn(async move { a.publish(&one, None, &Expiries::default()).await });
    let second = tokio::spawn(async move { b.publish(&two, None, &Expiries::default()).await });
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    assert_eq!(f.load("device").await.unwrap().bundles().len(), 2);
}

/// The fleet role: what it signs reaches devices as controls, a bundle's rollout reaches them
/// with the bundle, a later publish keeps the controls, and no other key signs a control.
#[tokio::test]
async fn the_fleet_role_signs_controls_and_nothing_else() {
    use outpost_trust::{Control, Schedule};

    let f = Fixture::new(&Expiries::default()).await;
    let published_at: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let schedule = Schedule::named_or_file("default", published_at).unwrap();
    f.publisher
        .publish(
            &bundle(f.dir.path(), 1),
            Some(&schedule),
            &Expiries::default(),
        )
        .await
        .unwrap();
    let device = f.load("device").await.unwrap();
    assert_eq!(device.bundles()[0].rollout.as_ref(), Some(&schedule));
    assert!(device.controls().is_empty());

    let control = Control {
        open_percent: 5,
        open_below_seed: None,
        paused: false,
        yanked: false,
        reason: "wave 2".into(),
        signed_at: published_at,
    };
    let written = f
        .publisher
        .sign_control("m", 1, &control, &Expiries::default())
        .await
        .unwrap();
    assert_eq!(written.last().map(String::as_str), Some("timestamp.json"));
    let device = f.load("device").await.unwrap();
    assert_eq!(device.control("m", 1).unwrap(), control);
    assert_eq!(device.bundles().len(), 1);

    // A later publish (targets key) keeps the fleet role's control.
    f.publisher
        .publish(&bundle(f.dir.path(), 2), None, &Expiries::default())
        .await
        .unwrap();
    let device = f.load("device").await.unwrap();
    assert_eq!(device.control("m", 1).unwrap(), control);
    assert_eq!(device.bundles().len(), 2);

    // A key the delegation does not name (here the targets key in place of the fleet key)
    // cannot sign a control, and what devices trust stays as it was.
    let keys = f.path("keys");
    std::fs::copy(keys.join("targets.pk8"), keys.join("fleet.pk8")).unwrap();
    let paused = Control {
        paused: true,
        ..control.clone()
    };
    let refused = f
        .publisher
        .sign_control("m", 1, &paused, &Expiries::default())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("fleet role"), "{refused}");
    let device = f.load("device").await.unwrap();
    assert_eq!(device.control("m", 1).unwrap(), control);
}

/// A signing whose upload lost the race for timestamp.json leaves its versioned files behind;
/// the folder then takes the published state again (older versions), and the next signing must
/// go above what it left, never sign a different file under a version already written.
/// The fleet role lapses with its own signature, which nothing but the fleet key renews: a
/// renewal signs it again as it is, for another lifetime, and devices keep its controls.
#[tokio::test]
async fn the_fleet_role_is_renewed_as_it_is_by_the_fleet_key() {
    use outpost_trust::Control;

    let short = Expiries {
        root: SignedDuration::from_hours(2),
        ..Expiries::default()
    };
    let f = Fixture::new(&short).await;
    f.publisher
        .publish(&bundle(f.dir.path(), 1), None, &Expiries::default())
        .await
        .unwrap();
    let control = Control {
        open_percent: 100,
        open_below_seed: None,
        paused: true,
        yanked: false,
        reason: "looking".into(),
        signed_at: jiff::Timestamp::now(),
    };
    f.publisher
        .sign_control("m", 1, &control, &short)
        .await
        .unwrap();
    let first = f.publisher.fleet_role_expiry().await.unwrap();
    assert!(first < jiff::Timestamp::now() + SignedDuration::from_hours(3));
    let longer = Expiries {
        root: SignedDuration::from_hours(24 * 365),
        ..Expiries::default()
    };
    let written = f.publisher.renew_fleet_role(&longer).await.unwrap();
    assert_eq!(written.last().map(String::as_str), Some("timestamp.json"));
    let renewed = f.publisher.fleet_role_expiry().await.unwrap();
    assert!(
        renewed > first + SignedDuration::from_hours(24 * 300),
        "{renewed}"
    );
    let device = f.load("device").await.unwrap();
    assert_eq!(device.control("m", 1).unwrap(), control);
}

#[tokio::test]
async fn a_signing_after_a_lost_race_skips_the_versions_it_left_behind() {
    let f = Fixture::new(&Expiries::default()).await;
    let metadata = f.publisher.metadata_dir();
    let saved: Vec<(PathBuf, Vec<u8>)> = ["1.targets.json", "1.snapshot.json", "timestamp.json"]
        .iter()
        .map(|name| {
            (
                metadata.join(name),
                std::fs::read(metadata.join(name)).unwrap(),
            )
        })
        .collect();
    f.publisher
        .publish(&bundle(f.dir.path(), 1), None, &Expiries::default())
        .await
        .unwrap();
    let left = std::fs::read(metadata.join("2.snapshot.json")).unwrap();
    // The published state taken back: version 1 named by timestamp.json again.
    for (path, bytes) in &saved {
        std::fs::write(path, bytes).unwrap();
    }
    f.publisher
        .publish(&bundle(f.dir.path(), 2), None, &Expiries::default())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(metadata.join("2.snapshot.json")).unwrap(),
        left
    );
    let device = f.load("device").await.unwrap();
    let [targets, snapshot, _] = device.versions();
    assert_eq!((targets, snapshot), (3, 3));
}
