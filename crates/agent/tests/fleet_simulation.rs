//! A fleet of 200 devices, each the agent's real updater (in one process: a server in memory
//! and a clock moved by hand), following a real S3-compatible bucket (moto's server, started
//! here) while `fleet watch`'s decisions (`outpost_fleet`) run on a simulated operator's clock
//! through the default schedule's five waves (1 h → 1 %, 4 h → 5 %, 1 d → 10 %, 3 d → 25 %,
//! 6 d → 100 %). Six days pass in moments. Checked: just before each wave starts, no device
//! beyond the earlier waves has the new version (none installs early, whatever its clock says);
//! just after, the devices on it are the wave's planned share of the fleet (within ±2 % of the
//! fleet; the cut drawn through the reported seeds makes it exact); each device downloads each
//! bundle once (GETs counted at moto); devices off the network during their wave install it once
//! back, unless the rollout was paused meanwhile (then only once resumed); every device's status
//! is in the bucket; and, with nothing changing, a poll costs each device one small request.
//!
//! moto's server comes from the test environment (`scripts/setup-test-env.sh` installs it into
//! `.venv`), or from `OUTPOST_MOTO_SERVER`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use outpost_agent::clock::ManualClock;
use outpost_agent::run::{assemble, Assembled};
use outpost_agent::simulated_server::SimulatedServer;
use outpost_agent::AgentConfig;
use outpost_fleet::{changed, decide, read_reports, Change, Verdict};
use outpost_settings::flags::SettingOverrides;
use outpost_storage::upload::{upload_repository, Replacing};
use outpost_storage::{NoProgress, RepositoryLocation, StorageSettings};
use outpost_trust::listing::control_for;
use outpost_trust::{device_seed, Expiries, Publisher, Schedule};

const DEVICES: usize = 200;
const MODEL: &str = "camera";
const BUCKET: &str = "fleet";
/// Devices checking at once.
const AT_ONCE: usize = 16;

/// moto's S3 server on a free loopback port, with the request lines it logged.
struct Moto {
    process: Child,
    endpoint: String,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl Moto {
    fn start() -> Moto {
        let server = std::env::var_os("OUTPOST_MOTO_SERVER").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"),
            PathBuf::from,
        );
        assert!(
            server.is_file(),
            "moto's server is not at {} (run scripts/setup-test-env.sh, or set OUTPOST_MOTO_SERVER)",
            server.display()
        );
        let mut process = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting moto's server");
        let mut lines = BufReader::new(process.stderr.take().unwrap()).lines();
        let endpoint = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let at = line.find("Running on http://127.0.0.1:")?;
                let address = line[at + "Running on ".len()..].split_whitespace().next()?;
                Some(address.to_string())
            })
            .expect("moto's server did not say where it listens");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let logged = requests.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let line = without_colours(&line);
                for method in ["GET", "HEAD", "PUT", "POST", "DELETE"] {
                    let Some(at) = line.find(&format!("\"{method} /")) else {
                        continue;
                    };
                    let rest = &line[at + method.len() + 2..];
                    let path = rest.split_whitespace().next().unwrap_or_default();
                    logged
                        .lock()
                        .unwrap()
                        .push((method.to_string(), path.to_string()));
                }
            }
        });
        Moto {
            process,
            endpoint,
            requests,
        }
    }

    /// Waits until moto has logged every request answered so far: a marker request, sent
    /// after them, shows up in the log.
    async fn settled(&self) {
        let marker = format!("/{BUCKET}/log-marker-{}", next_marker());
        let _ = reqwest::get(format!("{}{marker}", self.endpoint)).await;
        for _ in 0..1000 {
            if self
                .requests
                .lock()
                .unwrap()
                .iter()
                .any(|(_, path)| *path == marker)
            {
                self.requests
                    .lock()
                    .unwrap()
                    .retain(|(_, path)| *path != marker);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("moto's log never showed {marker}");
    }

    /// GETs of paths containing `part`.
    fn gets_of(&self, part: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(method, path)| method == "GET" && path.contains(part))
            .count()
    }
}

/// `line` without its terminal colour codes (moto colours the lines of 3xx and 4xx answers).
fn without_colours(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// A marker no request of the test names.
fn next_marker() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A bundle of `MODEL` at `version` (a stand-in model file the simulated server loads as it is).
fn bundle(dir: &Path, version: u64) -> PathBuf {
    outpost_testkit::bundles::stand_in_bundle(dir, MODEL, version)
}

/// One simulated device.
struct Device {
    parts: Assembled<SimulatedServer>,
    server: SimulatedServer,
    clock: Arc<ManualClock>,
    status_written: Option<String>,
}

impl Device {
    /// One check at `now` (the device's clock set to it), then its status written if it
    /// changed (as the agent's status writer does between heartbeats).
    async fn check_at(&mut self, now: Timestamp) {
        self.clock.set(now.as_second());
        if let Err(error) = self.parts.updater.check().await {
            panic!("a device's check failed: {error}");
        }
        let writer = self.parts.status_writer.as_ref().unwrap();
        writer
            .write_if_changed(&mut self.status_written)
            .await
            .unwrap();
    }
}

/// The operator's side: the repository folder, where it is published, where devices report.
struct Operator {
    publisher: Publisher,
    folder: PathBuf,
    repository: RepositoryLocation,
    status: RepositoryLocation,
}

impl Operator {
    async fn upload(&self) {
        upload_repository(
            &self.folder,
            &self.repository,
            &Replacing::Anything,
            &NoProgress,
        )
        .await
        .unwrap();
    }

    /// Signs `change` for `version` by hand (`outpost fleet pause|resume`), and uploads it.
    async fn change(&self, version: u64, change: Change, now: Timestamp) {
        let (bundles, controls) = self.publisher.published().await.unwrap();
        let bundle = bundles.iter().find(|b| b.version == version).unwrap();
        let before = control_for(&controls, MODEL, version).cloned();
        let control =
            changed(change, "by hand", before, bundle.rollout.as_ref(), &[], now).unwrap();
        self.publisher
            .sign_control(MODEL, version, &control, &Expiries::default())
            .await
            .unwrap();
        self.upload().await;
    }

    /// One round of `fleet watch` at `now`: the reports read and judged, what they call for
    /// signed and uploaded. Answers the verdicts that were not "nothing".
    async fn watch_round(&self, now: Timestamp) -> Vec<Verdict> {
        let (bundles, controls) = self.publisher.published().await.unwrap();
        let read = read_reports(&self.status).await.unwrap();
        let decisions = decide(&bundles, &controls, &read.reports, now).unwrap();
        for decision in &decisions {
            self.publisher
                .sign_control(
                    &decision.model,
                    decision.version,
                    &decision.control,
                    &Expiries::default(),
                )
                .await
                .unwrap();
        }
        if !decisions.is_empty() {
            self.upload().await;
        }
        decisions.into_iter().map(|d| d.verdict).collect()
    }
}

async fn check_all(devices: &mut [Device], now: Timestamp) {
    check_some(devices, now, |_| true).await;
}

/// One check at `now` by the devices whose index `online` accepts.
async fn check_some(devices: &mut [Device], now: Timestamp, online: impl Fn(usize) -> bool) {
    let checks = devices
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| online(*i))
        .map(|(_, device)| device.check_at(now));
    futures_util::stream::iter(checks)
        .buffer_unordered(AT_ONCE)
        .collect::<Vec<()>>()
        .await;
}

fn on_version(devices: &[Device], version: u64) -> usize {
    devices
        .iter()
        .filter(|d| d.server.default_version(MODEL) == Some(version))
        .count()
}

fn device_id(i: usize) -> String {
    format!("camera-{i:03}")
}

fn device(
    dir: &Path,
    i: usize,
    root: &Path,
    repository: &str,
    status: &str,
    at: Timestamp,
) -> Device {
    let home = dir.join("devices").join(i.to_string());
    let models = home.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let state = home.join("state");
    let id = device_id(i);
    let pairs = [
        ("repository.url", repository),
        ("repository.trusted_root", root.to_str().unwrap()),
        ("model_repository", models.to_str().unwrap()),
        ("state_dir", state.to_str().unwrap()),
        ("device_id", id.as_str()),
        ("require_golden_cases", "false"),
        ("status.url", status),
    ];
    let config = AgentConfig::load(None, &SettingOverrides::from_pairs(&pairs)).unwrap();
    let server = SimulatedServer::new();
    let clock = ManualClock::at(at.as_second());
    let parts = assemble(config, server.clone(), clock.clone()).unwrap();
    Device {
        parts,
        server,
        clock,
        status_written: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_devices_follow_the_five_waves_exactly() {
    let moto = Moto::start();
    // The S3 settings every location below reads (this test is its binary's only one, so no
    // other thread reads the environment meanwhile).
    for (name, value) in [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ] {
        std::env::set_var(name, value);
    }
    let created = reqwest::Client::new()
        .put(format!("{}/{BUCKET}", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");

    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("repo");
    let publisher = Publisher::new(&dir.path().join("keys"), &folder);
    publisher.init(&Expiries::default()).await.unwrap();
    let settings = StorageSettings::default();
    let repository_url = format!("s3://{BUCKET}/repo");
    let status_url = format!("s3://{BUCKET}/status");
    let operator = Operator {
        repository: RepositoryLocation::open(&repository_url, &settings).unwrap(),
        status: RepositoryLocation::open(&status_url, &settings).unwrap(),
        publisher,
        folder,
    };
    let started = Timestamp::now();
    let at_once = Schedule::named_or_file("now", started).unwrap();
    operator
        .publisher
        .publish(&bundle(dir.path(), 1), Some(&at_once), &Expiries::default())
        .await
        .unwrap();
    operator.upload().await;

    let root = operator.publisher.root_path();
    let mut devices: Vec<Device> = (0..DEVICES)
        .map(|i| device(dir.path(), i, &root, &repository_url, &status_url, started))
        .collect();
    check_all(&mut devices, started).await;
    assert_eq!(
        on_version(&devices, 1),
        DEVICES,
        "every device on version 1"
    );

    // Version 2 with the default waves, published ten minutes later by the operator's clock.
    let published = started + SignedDuration::from_mins(10);
    let schedule = Schedule::named_or_file("default", published).unwrap();
    operator
        .publisher
        .publish(
            &bundle(dir.path(), 2),
            Some(&schedule),
            &Expiries::default(),
        )
        .await
        .unwrap();
    operator.upload().await;

    // The devices in seed order: wave N takes those ranked below its planned share.
    let mut by_seed: Vec<usize> = (0..DEVICES).collect();
    by_seed.sort_by_key(|&i| device_seed(&device_id(i)));
    let mut share_before = 0;
    for (index, wave) in schedule.waves.iter().enumerate() {
        let start =
            published + SignedDuration::from_secs(i64::try_from(wave.start_after_secs).unwrap());
        // A minute before the wave: the watch opens nothing, and devices (their clocks there
        // too) stay where the earlier waves put them.
        let before = start - SignedDuration::from_mins(1);
        assert!(operator.watch_round(before).await.is_empty());
        check_all(&mut devices, before).await;
        assert_eq!(
            on_version(&devices, 2),
            share_before,
            "devices on version 2 a minute before the {} % wave",
            wave.fleet_percent
        );
        // A minute after: the watch opens it, and the share planned installs. In waves 3 and 4,
        // two of the devices the wave takes are off the network meanwhile (no check of theirs
        // reaches the bucket).
        let planned = DEVICES * wave.fleet_percent as usize / 100;
        let offline: Vec<usize> = match index {
            2 | 3 => by_seed[share_before..planned][..2].to_vec(),
            _ => Vec::new(),
        };
        let after = start + SignedDuration::from_mins(1);
        assert_eq!(
            operator.watch_round(after).await,
            vec![Verdict::Open(wave.fleet_percent)]
        );
        check_some(&mut devices, after, |i| !offline.contains(&i)).await;
        assert_eq!(on_version(&devices, 2), planned - offline.len());
        if index == 3 {
            // Wave 4 is paused before its two devices come back: they never install it, their
            // status says why; resumed, they do.
            operator.change(2, Change::Pause, after).await;
            let back = after + SignedDuration::from_mins(30);
            check_some(&mut devices, back, |i| offline.contains(&i)).await;
            assert_eq!(on_version(&devices, 2), planned - offline.len());
            for &i in &offline {
                let waiting = devices[i].parts.status.lock().unwrap().models[MODEL]
                    .waiting
                    .clone();
                assert_eq!(waiting, ["version 2: paused"], "device {i}");
            }
            operator.change(2, Change::Resume, back).await;
        }
        // Back on the network, the wave's devices that missed it install it.
        let back = after + SignedDuration::from_hours(1);
        check_some(&mut devices, back, |i| offline.contains(&i)).await;
        let on_new = on_version(&devices, 2);
        let off_by = on_new.abs_diff(planned) as f64 * 100.0 / DEVICES as f64;
        println!(
            "wave {:>3} % at +{}: {on_new} devices on version 2 (planned {planned}, {off_by:.1} % of the fleet off){}",
            wave.fleet_percent,
            after.duration_since(published),
            if offline.is_empty() { "" } else { "; two were off the network at first" },
        );
        assert!(
            off_by <= 2.0,
            "{on_new} devices on version 2, {planned} planned"
        );
        assert_eq!(
            on_new, planned,
            "the cut through the reported seeds is exact"
        );
        share_before = on_new;
    }
    // Each device downloaded each bundle once.
    moto.settled().await;
    assert_eq!(moto.gets_of(&format!("{MODEL}-1.bundle")), DEVICES);
    assert_eq!(moto.gets_of(&format!("{MODEL}-2.bundle")), DEVICES);
    let reports = read_reports(&operator.status).await.unwrap();
    assert_eq!(reports.reports.len(), DEVICES);

    // Idle: with nothing changing, a poll is one conditional GET of timestamp.json per device
    // (answered 304), and no status is written (the heartbeat's writes are the writer loop's).
    let end = published + SignedDuration::from_hours(24 * 7);
    moto.settled().await;
    let before_idle = moto.requests.lock().unwrap().len();
    for round in 1..=3 {
        check_all(&mut devices, end + SignedDuration::from_mins(round)).await;
    }
    moto.settled().await;
    let idle: Vec<(String, String)> = moto.requests.lock().unwrap()[before_idle..].to_vec();
    assert_eq!(idle.len(), 3 * DEVICES, "{:?}", &idle[..idle.len().min(10)]);
    assert!(idle
        .iter()
        .all(|(method, path)| method == "GET" && path.ends_with("/metadata/timestamp.json")));
    println!(
        "{} requests at moto in all; idle: {} per device per poll",
        moto.requests.lock().unwrap().len(),
        idle.len() / (3 * DEVICES)
    );
}
