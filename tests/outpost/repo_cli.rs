//! `outpost repo init`, `publish` and `refresh` as a publisher runs them, checked by reading the
//! repository the way a device does (outpost-trust's client, through tough), and `repo check
//! --download`, which fetches a verified copy of the newest bundle.

use std::path::Path;
use std::process::Command;

fn outpost(args: &[&str], paths: &[&Path]) {
    let status = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(args)
        .args(paths)
        .status()
        .unwrap();
    assert!(status.success(), "outpost {args:?} {paths:?} failed");
}

#[test]
fn a_published_bundle_is_offered_to_devices_and_refresh_moves_the_versions_on() {
    let dir = tempfile::tempdir().unwrap();
    let (keys, repo) = (dir.path().join("keys"), dir.path().join("repo"));
    let bundle = dir.path().join("m.bundle");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mobilenet_v2_int8");
    let repo_flags = [
        "--keys",
        keys.to_str().unwrap(),
        "--repo",
        repo.to_str().unwrap(),
    ];

    outpost(&[&["repo", "init"][..], &repo_flags].concat(), &[]);
    let mode = std::fs::metadata(keys.join("targets.pk8")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    outpost(
        &[
            "bundle",
            "create",
            "--name",
            "mobilenet_v2_int8",
            "--version",
            "1",
            "-o",
        ],
        &[&bundle, &model],
    );
    outpost(
        &[&["repo", "publish"][..], &repo_flags].concat(),
        &[&bundle],
    );
    outpost(&[&["repo", "refresh"][..], &repo_flags].concat(), &[]);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let root = std::fs::read(repo.join("metadata/1.root.json")).unwrap();
    let datastore = dir.path().join("device");
    std::fs::create_dir_all(&datastore).unwrap();
    let loaded = runtime
        .block_on(outpost_trust::TrustedRepository::load_dir(
            &root, &repo, &datastore,
        ))
        .unwrap();
    let offered = loaded.bundles();
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].model, "mobilenet_v2_int8");
    assert_eq!(offered[0].version, 1);
    assert_eq!(loaded.versions(), [3, 3, 3], "init, publish, refresh");
    // Initialising again would replace the keys: refused.
    let again = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["repo", "init", "--keys", keys.to_str().unwrap(), "--repo"])
        .arg(&repo)
        .status()
        .unwrap();
    assert!(!again.success());

    // A verified copy of the newest bundle, for a device without a link.
    let carried = dir.path().join("carried");
    let check = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["repo", "check", "--trusted-root"])
        .arg(repo.join("metadata/1.root.json"))
        .arg("--repo")
        .arg(&repo)
        .arg("--download")
        .arg(&carried)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(
        std::fs::read(carried.join("mobilenet_v2_int8-1.bundle")).unwrap(),
        std::fs::read(&bundle).unwrap()
    );
}
