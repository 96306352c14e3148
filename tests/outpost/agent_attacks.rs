//! Attacks on a device, each against the real `outpost agent --once` and a real server: a
//! device that installed version 1 from a signed repository is then offered a repository with
//! one thing wrong — bad signatures, a key root does not name, too few signatures, each role
//! expired, metadata older than seen before, metadata from different publishes, target bytes
//! that do not match, the signed bytes followed by more, endless data, a valid bundle without
//! golden cases, bundles with hostile paths, links, devices or sizes, and a bundle whose
//! manifest names another model than its signed target. Each must be refused with the reason,
//! nothing installed, and version 1 still the one served.
//!
//! The forged repositories are signed here by hand (canonical JSON, ed25519 with the
//! publisher's own keys where the attack needs a valid signature), as an attacker holding some
//! of the keys, or none, would.

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use outpost_bundle::{FileEntry, Manifest};
use outpost_testkit::TestServer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const MODEL: &str = "classifier";

/// The binary under test, as cargo built it for this profile.
fn outpost_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_outpost"))
}
const TOKEN: &str = "attack-test-token";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn outpost(args: &[&str]) -> std::process::Output {
    Command::new(outpost_binary())
        .args(args)
        .output()
        .expect("outpost runs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A repository folder opened for forging: reads and re-signs its metadata.
struct Forge {
    repo: PathBuf,
    keys: PathBuf,
}

fn key_pair(path: &Path) -> Ed25519KeyPair {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&std::fs::read(path).unwrap()).unwrap()
}

/// The TUF key id of an ed25519 key: sha256 of its canonical JSON.
fn key_id(key: &Ed25519KeyPair) -> String {
    let public = json!({
        "keytype": "ed25519",
        "keyval": { "public": hex(key.public_key().as_ref()) },
        "scheme": "ed25519",
    });
    sha256_hex(&canonical(&public))
}

fn canonical(value: &Value) -> Vec<u8> {
    use serde::Serialize;
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut serializer).unwrap();
    out
}

/// `signed` with a signature by each of `keys`.
fn sign(signed: &Value, keys: &[&Ed25519KeyPair]) -> Value {
    let bytes = canonical(signed);
    let signatures: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "keyid": key_id(k), "sig": hex(k.sign(&bytes).as_ref()) }))
        .collect();
    json!({ "signed": signed, "signatures": signatures })
}

fn meta_entry(bytes: &[u8], version: u64) -> Value {
    json!({ "length": bytes.len(), "hashes": { "sha256": sha256_hex(bytes) }, "version": version })
}

/// A change to one role's signed metadata.
type Edit = Box<dyn Fn(&mut Value)>;

const PAST: &str = "2020-01-01T00:00:00Z";

impl Forge {
    fn key(&self, role: &str) -> Ed25519KeyPair {
        key_pair(&self.keys.join(format!("{role}.pk8")))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.repo.join("metadata").join(name)
    }

    fn read(&self, name: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.path(name)).unwrap()).unwrap()
    }

    fn write(&self, name: &str, document: &Value) -> Vec<u8> {
        let bytes = serde_json::to_vec_pretty(document).unwrap();
        std::fs::write(self.path(name), &bytes).unwrap();
        bytes
    }

    fn snapshot_version(&self) -> u64 {
        self.read("timestamp.json")["signed"]["meta"]["snapshot.json"]["version"]
            .as_u64()
            .unwrap()
    }

    fn targets_version(&self) -> u64 {
        let snapshot = self.read(&format!("{}.snapshot.json", self.snapshot_version()));
        snapshot["signed"]["meta"]["targets.json"]["version"]
            .as_u64()
            .unwrap()
    }

    /// Signs new timestamp (and, when given, snapshot and targets) metadata, each one version
    /// up and referring to the next, after `edit` changed what each says. `signer` signs the
    /// role named, the role's own key every other.
    fn reissue(
        &self,
        targets: Option<Edit>,
        snapshot: Option<&Edit>,
        timestamp: &dyn Fn(&mut Value),
    ) {
        let mut snapshot_doc = None;
        if let Some(edit_targets) = targets {
            let version = self.targets_version();
            let mut signed = self.read(&format!("{version}.targets.json"))["signed"].clone();
            signed["version"] = json!(version + 1);
            edit_targets(&mut signed);
            let bytes = self.write(
                &format!("{}.targets.json", version + 1),
                &sign(&signed, &[&self.key("targets")]),
            );
            let mut snap =
                self.read(&format!("{}.snapshot.json", self.snapshot_version()))["signed"].clone();
            snap["meta"]["targets.json"] = meta_entry(&bytes, version + 1);
            snapshot_doc = Some(snap);
        }
        if snapshot_doc.is_none() && snapshot.is_some() {
            snapshot_doc = Some(
                self.read(&format!("{}.snapshot.json", self.snapshot_version()))["signed"].clone(),
            );
        }
        let mut stamp = self.read("timestamp.json")["signed"].clone();
        if let Some(mut snap) = snapshot_doc {
            let version = self.snapshot_version() + 1;
            snap["version"] = json!(version);
            if let Some(edit) = snapshot {
                edit(&mut snap);
            }
            let bytes = self.write(
                &format!("{version}.snapshot.json"),
                &sign(&snap, &[&self.key("snapshot")]),
            );
            stamp["meta"]["snapshot.json"] = meta_entry(&bytes, version);
        }
        stamp["version"] = json!(stamp["version"].as_u64().unwrap() + 1);
        timestamp(&mut stamp);
        self.write("timestamp.json", &sign(&stamp, &[&self.key("timestamp")]));
    }

    /// Adds `bytes` as the bundle target `<model>-<version>.bundle` that claims to install
    /// `version` of `model`, signed with the targets key.
    fn add_bundle(&self, model: &'static str, version: u64, bytes: &[u8]) {
        let name = format!("{model}-{version}.bundle");
        let sha = sha256_hex(bytes);
        std::fs::write(
            self.repo.join("targets").join(format!("{sha}.{name}")),
            bytes,
        )
        .unwrap();
        let length = bytes.len();
        self.reissue(
            Some(Box::new(move |t: &mut Value| {
                t["targets"][&name] = json!({
                    "length": length,
                    "hashes": { "sha256": sha },
                    "custom": { "outpost": { "model": model, "version": version } },
                });
            })),
            None,
            &|_| {},
        );
    }

    /// Publishes a valid version 2 of the model: its bytes, and the file the repository serves
    /// them from (for the attack to change).
    fn publish_valid_version_2(&self) -> (Vec<u8>, PathBuf) {
        let good = valid_bundle(MODEL, 2);
        self.add_bundle(MODEL, 2, &good);
        let file = self
            .repo
            .join("targets")
            .join(format!("{}.{MODEL}-2.bundle", sha256_hex(&good)));
        (good, file)
    }

    /// Writes `2.root.json` after `edit`, signed by the root key.
    fn new_root(&self, edit: &dyn Fn(&mut Value)) {
        let mut signed = self.read("1.root.json")["signed"].clone();
        signed["version"] = json!(2);
        edit(&mut signed);
        self.write("2.root.json", &sign(&signed, &[&self.key("root")]));
    }
}

/// A tar archive whose first entry is `manifest` and whose second is `entry`, written header
/// by header so that names tar libraries refuse to write can be written.
fn raw_bundle(
    manifest: &Manifest,
    entry_name: &[u8],
    kind: tar::EntryType,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let manifest_bytes = manifest.to_json();
    for (name, kind, content) in [
        (
            &b"manifest.json"[..],
            tar::EntryType::Regular,
            &manifest_bytes[..],
        ),
        (entry_name, kind, data),
    ] {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(if kind == tar::EntryType::Regular {
            content.len() as u64
        } else {
            0
        });
        if kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        if kind == tar::EntryType::Regular {
            out.extend_from_slice(content);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn manifest_of(version: u64, files: &[(&str, u64, &[u8])]) -> Manifest {
    Manifest {
        format: 1,
        name: MODEL.to_string(),
        version,
        min_server_version: "0.1.0".to_string(),
        files: files
            .iter()
            .map(|(path, size, data)| FileEntry {
                path: path.to_string(),
                size: *size,
                sha256: sha256_hex(data).parse().expect("a sha256"),
            })
            .collect(),
    }
}

/// The device: a server and an agent that installed version 1.
struct Device {
    root: tempfile::TempDir,
    server: TestServer,
}

impl Device {
    fn models(&self) -> PathBuf {
        self.root.path().join("models")
    }

    fn publisher_repo(&self) -> PathBuf {
        self.root.path().join("repo")
    }

    fn keys(&self) -> PathBuf {
        self.root.path().join("keys")
    }

    fn state_template(&self) -> PathBuf {
        self.root.path().join("state")
    }

    /// `outpost agent --once` against `repo` with the state folder `state`.
    fn agent_once(&self, repo: &Path, state: &Path) -> (bool, String) {
        let trusted_root = self.publisher_repo().join("metadata/1.root.json");
        let output = Command::new(outpost_binary())
            .args(["agent", "--once", "--repository"])
            .arg(repo)
            .arg("--trusted-root")
            .arg(trusted_root)
            .arg("--model-repository")
            .arg(self.models())
            .arg("--state-dir")
            .arg(state)
            .args(["--server", &self.server.base_url])
            .env("OUTPOST_CONTROL_TOKEN", TOKEN)
            .env("OUTPOST_LOG_LEVEL", "warn")
            .output()
            .expect("the agent runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Checks that version 1 alone is installed, loaded and the default, and that nothing of
    /// the attack stayed.
    fn assert_untouched(&self, attack: &str, state: &Path) {
        let mut on_disk: Vec<String> = std::fs::read_dir(self.models().join(MODEL))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        assert_eq!(on_disk, ["1", "serving.toml"], "{attack}: model folder");
        let staging = self.models().join(".outpost-staging");
        assert!(!staging.exists(), "{attack}: staging left behind");
        let downloads: Vec<_> = std::fs::read_dir(state.join("downloads"))
            .unwrap()
            .collect();
        assert!(downloads.is_empty(), "{attack}: downloads left behind");
        let metadata: Value =
            reqwest::blocking::get(format!("{}/v2/models/{MODEL}", self.server.base_url))
                .unwrap()
                .json()
                .unwrap();
        assert_eq!(
            metadata["versions"],
            json!(["1"]),
            "{attack}: loaded versions"
        );
        let saved: Value =
            serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap()).unwrap();
        assert_eq!(
            saved["models"][MODEL]["active"],
            json!(1),
            "{attack}: active version"
        );
        assert!(
            saved["models"][MODEL]["update"].is_null(),
            "{attack}: update left in progress"
        );
    }
}

fn device() -> Device {
    let root = tempfile::tempdir().unwrap();
    let models = root.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let server = TestServer::start_with_env(
        &outpost_binary(),
        &models,
        &["--model-control-mode", "explicit"],
        &[("OUTPOST_CONTROL_TOKEN", TOKEN)],
    )
    .expect("server starts");
    let device = Device { root, server };
    let (keys, repo) = (device.keys(), device.publisher_repo());
    let bundle = device.root.path().join("v1.bundle");
    let model_dir = outpost_testkit::fixtures::repo_root().join("models/mobilenet_v2_int8");
    // Version 1's golden case: the devices require one.
    let golden = device.root.path().join("golden");
    std::fs::create_dir(&golden).unwrap();
    std::fs::copy(
        outpost_testkit::fixtures::repo_root().join("tests/fixtures/images/chelsea.png"),
        golden.join("chelsea.png"),
    )
    .unwrap();
    std::fs::write(
        golden.join("cases.toml"),
        "[[case]]\nname = \"chelsea\"\nimage = \"chelsea.png\"\ntop_label = \"Egyptian cat\"\nmin_score = 0.2\n",
    )
    .unwrap();
    for args in [
        vec![
            "repo",
            "init",
            "--keys",
            keys.to_str().unwrap(),
            "--repo",
            repo.to_str().unwrap(),
        ],
        vec![
            "bundle",
            "create",
            model_dir.to_str().unwrap(),
            "--name",
            MODEL,
            "--version",
            "1",
            "--golden",
            golden.to_str().unwrap(),
            "-o",
            bundle.to_str().unwrap(),
        ],
        vec![
            "repo",
            "publish",
            "--waves",
            "now",
            "--keys",
            keys.to_str().unwrap(),
            "--repo",
            repo.to_str().unwrap(),
            bundle.to_str().unwrap(),
        ],
    ] {
        let out = outpost(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The older repository the rollback attack replays, then a refresh the device sees.
    copy_dir(&repo, &device.root.path().join("repo-before-refresh"));
    let out = outpost(&[
        "repo",
        "refresh",
        "--keys",
        keys.to_str().unwrap(),
        "--repo",
        repo.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let (ok, stderr) = device.agent_once(&repo, &device.state_template());
    assert!(ok, "installing version 1: {stderr}");
    device.assert_untouched("version 1", &device.state_template());
    device
}

/// How an attack must be refused: the repository's metadata refused, with one of these reason
/// words; or the bundle (version 2) refused and recorded with one of these phrases.
enum Refusal {
    Metadata(&'static [&'static str]),
    Bundle(&'static [&'static str]),
}

type Attack = (&'static str, Refusal, Box<dyn Fn(&Forge, &Device)>);

const NOT_ITS_HASH: Refusal = Refusal::Bundle(&["does not match its signed sha256"]);
const HOSTILE: Refusal = Refusal::Bundle(&["bundle refused:"]);
const LONGER: Refusal = Refusal::Bundle(&["longer than its signed length"]);

fn attacks() -> Vec<Attack> {
    vec![
        (
            "bad signature",
            Refusal::Metadata(&["signature"]),
            Box::new(|f: &Forge, _: &Device| {
                let mut doc = f.read("timestamp.json");
                doc["signed"]["version"] = json!(doc["signed"]["version"].as_u64().unwrap() + 1);
                f.write("timestamp.json", &doc);
            }),
        ),
        (
            "signed by a key root does not name",
            Refusal::Metadata(&["signature"]),
            Box::new(|f: &Forge, _: &Device| {
                let stranger = Ed25519KeyPair::generate().unwrap();
                let mut stamp = f.read("timestamp.json")["signed"].clone();
                stamp["version"] = json!(stamp["version"].as_u64().unwrap() + 1);
                f.write("timestamp.json", &sign(&stamp, &[&stranger]));
            }),
        ),
        (
            "fewer signatures than the threshold",
            Refusal::Metadata(&["signature"]),
            Box::new(|f: &Forge, _: &Device| {
                let second = Ed25519KeyPair::generate().unwrap();
                let id = key_id(&second);
                f.new_root(&|root: &mut Value| {
                root["keys"][&id] = json!({
                    "keytype": "ed25519", "keyval": { "public": hex(second.public_key().as_ref()) },
                    "scheme": "ed25519",
                });
                root["roles"]["timestamp"]["keyids"].as_array_mut().unwrap().push(json!(id));
                root["roles"]["timestamp"]["threshold"] = json!(2);
            });
                f.reissue(None, None, &|_| {});
            }),
        ),
        (
            "expired timestamp",
            Refusal::Metadata(&["expired"]),
            Box::new(|f: &Forge, _: &Device| {
                f.reissue(None, None, &|t: &mut Value| t["expires"] = json!(PAST));
            }),
        ),
        (
            "expired snapshot",
            Refusal::Metadata(&["expired"]),
            Box::new(|f: &Forge, _: &Device| {
                let expire: Edit = Box::new(|s: &mut Value| s["expires"] = json!(PAST));
                f.reissue(None, Some(&expire), &|_| {});
            }),
        ),
        (
            "expired targets",
            Refusal::Metadata(&["expired"]),
            Box::new(|f: &Forge, _: &Device| {
                f.reissue(
                    Some(Box::new(|t: &mut Value| t["expires"] = json!(PAST))),
                    None,
                    &|_| {},
                );
            }),
        ),
        (
            "expired root",
            Refusal::Metadata(&["expired"]),
            Box::new(|f: &Forge, _: &Device| {
                f.new_root(&|root: &mut Value| root["expires"] = json!(PAST));
            }),
        ),
        (
            "metadata older than seen before",
            Refusal::Metadata(&["rollback"]),
            Box::new(|f: &Forge, d: &Device| {
                std::fs::remove_dir_all(&f.repo).unwrap();
                copy_dir(&d.root.path().join("repo-before-refresh"), &f.repo);
            }),
        ),
        (
            "snapshot and targets from different publishes",
            Refusal::Metadata(&["mix_and_match", "hash"]),
            Box::new(|f: &Forge, _: &Device| {
                // A new targets version is signed, but the snapshot served still names the old
                // one, whose file now holds the new content.
                let old = f.targets_version();
                f.reissue(Some(Box::new(|_t: &mut Value| {})), None, &|_| {});
                let newer = std::fs::read(f.path(&format!("{}.targets.json", old + 1))).unwrap();
                std::fs::write(f.path(&format!("{old}.targets.json")), newer).unwrap();
                let snapshot = f.snapshot_version();
                let mut stamp = f.read("timestamp.json")["signed"].clone();
                let previous =
                    std::fs::read(f.path(&format!("{}.snapshot.json", snapshot - 1))).unwrap();
                stamp["meta"]["snapshot.json"] = meta_entry(&previous, snapshot - 1);
                stamp["version"] = json!(stamp["version"].as_u64().unwrap() + 1);
                f.write("timestamp.json", &sign(&stamp, &[&f.key("timestamp")]));
            }),
        ),
        (
            "target bytes that do not match their hash",
            NOT_ITS_HASH,
            Box::new(|f: &Forge, _: &Device| {
                let (_, file) = f.publish_valid_version_2();
                let mut bytes = std::fs::read(&file).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0xff;
                std::fs::write(&file, bytes).unwrap();
            }),
        ),
        (
            "the signed bytes followed by more",
            LONGER,
            Box::new(|f: &Forge, _: &Device| {
                let (good, file) = f.publish_valid_version_2();
                let mut longer = good.clone();
                longer.extend_from_slice(b"appended after the signed length");
                std::fs::write(&file, longer).unwrap();
            }),
        ),
        (
            "endless data",
            LONGER,
            Box::new(|f: &Forge, _: &Device| {
                let (good, file) = f.publish_valid_version_2();
                let mut endless = vec![0x5a; 16 << 20];
                endless[..good.len()].copy_from_slice(&good);
                endless[0] ^= 1;
                std::fs::write(&file, endless).unwrap();
            }),
        ),
        (
            "a valid bundle without golden cases",
            Refusal::Bundle(&["has no golden cases"]),
            Box::new(|f: &Forge, _: &Device| {
                f.add_bundle(MODEL, 2, &valid_bundle(MODEL, 2));
            }),
        ),
        (
            "a bundle path that climbs out",
            HOSTILE,
            Box::new(|f: &Forge, _: &Device| {
                let data = b"evil";
                let manifest = manifest_of(2, &[("version/model.onnx", 4, data)]);
                f.add_bundle(
                    MODEL,
                    2,
                    &raw_bundle(
                        &manifest,
                        b"version/../../../evil",
                        tar::EntryType::Regular,
                        data,
                    ),
                );
            }),
        ),
        (
            "an absolute bundle path",
            HOSTILE,
            Box::new(|f: &Forge, _: &Device| {
                let data = b"evil";
                let manifest = manifest_of(2, &[("version/model.onnx", 4, data)]);
                f.add_bundle(
                    MODEL,
                    2,
                    &raw_bundle(
                        &manifest,
                        b"/tmp/outpost-evil",
                        tar::EntryType::Regular,
                        data,
                    ),
                );
            }),
        ),
        (
            "a symbolic link out of the folder",
            HOSTILE,
            Box::new(|f: &Forge, _: &Device| {
                let manifest = manifest_of(2, &[("version/model.onnx", 0, b"")]);
                f.add_bundle(
                    MODEL,
                    2,
                    &raw_bundle(
                        &manifest,
                        b"version/model.onnx",
                        tar::EntryType::Symlink,
                        b"",
                    ),
                );
            }),
        ),
        (
            "a device file",
            HOSTILE,
            Box::new(|f: &Forge, _: &Device| {
                let manifest = manifest_of(2, &[("version/model.onnx", 0, b"")]);
                f.add_bundle(
                    MODEL,
                    2,
                    &raw_bundle(&manifest, b"version/model.onnx", tar::EntryType::Char, b""),
                );
            }),
        ),
        (
            "sizes over the limits",
            HOSTILE,
            Box::new(|f: &Forge, _: &Device| {
                let manifest = manifest_of(2, &[("version/model.onnx", 5 << 30, b"x")]);
                f.add_bundle(
                    MODEL,
                    2,
                    &raw_bundle(
                        &manifest,
                        b"version/model.onnx",
                        tar::EntryType::Regular,
                        b"x",
                    ),
                );
            }),
        ),
        (
            "a manifest naming another model",
            HOSTILE,
            Box::new(|f: &Forge, _: &Device| {
                let bundle = valid_bundle("someone-else", 2);
                f.add_bundle(MODEL, 2, &bundle);
            }),
        ),
    ]
}

/// A valid bundle of version `version` of model `name`, made of the bundled model.
fn valid_bundle(name: &str, version: u64) -> Vec<u8> {
    let source = tempfile::tempdir().unwrap();
    let model_dir = outpost_testkit::fixtures::repo_root().join("models/mobilenet_v2_int8");
    copy_dir(&model_dir, source.path());
    std::fs::rename(
        source.path().join("1"),
        source.path().join(version.to_string()),
    )
    .unwrap();
    let mut bundle = Vec::new();
    outpost_bundle::create(
        &outpost_bundle::BundleSource {
            model_dir: source.path(),
            name,
            version,
            golden_dir: None,
            min_server_version: "0.1.0",
        },
        &mut bundle,
    )
    .unwrap();
    bundle
}

#[test]
fn every_attack_is_refused_with_nothing_installed() {
    let device = device();
    let mut failures = Vec::new();
    for (index, (name, refusal, attack)) in attacks().into_iter().enumerate() {
        let repo = device.root.path().join(format!("attack-{index}"));
        let state = device.root.path().join(format!("state-{index}"));
        copy_dir(&device.publisher_repo(), &repo);
        copy_dir(&device.state_template(), &state);
        let forge = Forge {
            repo: repo.clone(),
            keys: device.keys(),
        };
        attack(&forge, &device);
        let (ok, stderr) = device.agent_once(&repo, &state);
        match refusal {
            Refusal::Metadata(reasons) => {
                eprintln!("{name}: {}", stderr.trim());
                if ok {
                    failures.push(format!("{name}: accepted"));
                } else if !reasons
                    .iter()
                    .any(|r| stderr.contains(&format!("(reason: {r})")))
                {
                    failures.push(format!(
                        "{name}: refused for another reason than {reasons:?}: {stderr}"
                    ));
                }
            }
            Refusal::Bundle(phrases) => {
                let saved: Value =
                    serde_json::from_slice(&std::fs::read(state.join("state.json")).unwrap())
                        .unwrap();
                let rejected = &saved["models"][MODEL]["rejected"];
                let reason = rejected
                    .as_array()
                    .and_then(|r| r.iter().find(|x| x["version"] == json!(2)))
                    .and_then(|x| x["reason"].as_str())
                    .unwrap_or("");
                eprintln!("{name}: {reason}");
                if !phrases.iter().any(|p| reason.contains(p)) {
                    failures.push(format!(
                        "{name}: not refused as {phrases:?}: {rejected} / {stderr}"
                    ));
                }
            }
        }
        device.assert_untouched(name, &state);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
