//! The updater's rules, driven in process: a repository published into a folder with the real
//! publisher, a server in memory ([`SimulatedServer`]) and a clock moved by hand
//! ([`ManualClock`]), so that steps, waves, pauses, yanks, watch verdicts and the clock check are
//! decided as in service, without waiting for any of them.

use std::path::PathBuf;
use std::sync::Arc;

use outpost_settings::flags::SettingOverrides;
use outpost_trust::rollout::seed_admitted;
use outpost_trust::{device_seed, Control, Expiries, Publisher, Schedule};

use crate::clock::{Clock, ManualClock};
use crate::error::Failure;
use crate::run::assemble;
use crate::simulated_server::SimulatedServer;
use crate::status::SharedStatus;
use crate::updater::Updater;
use crate::AgentConfig;

const MODEL: &str = "m";

/// A publisher's repository in a folder.
struct Repository {
    dir: tempfile::TempDir,
    publisher: Publisher,
}

impl Repository {
    async fn new() -> Repository {
        let dir = tempfile::tempdir().unwrap();
        let publisher = Publisher::new(&dir.path().join("keys"), &dir.path().join("repo"));
        publisher.init(&Expiries::default()).await.unwrap();
        Repository { dir, publisher }
    }

    fn bundle(&self, version: u64) -> PathBuf {
        outpost_testkit::bundles::stand_in_bundle(self.dir.path(), MODEL, version)
    }

    /// Publishes `version` with the waves `waves` (a preset's name).
    async fn publish(&self, version: u64, waves: &str) {
        let schedule = Schedule::named_or_file(waves, jiff::Timestamp::now()).unwrap();
        self.publisher
            .publish(&self.bundle(version), Some(&schedule), &Expiries::default())
            .await
            .unwrap();
    }

    /// Signs a control for `version` with the fleet key.
    async fn control(&self, version: u64, open_percent: u32, paused: bool, yanked: bool) {
        let control = Control {
            open_percent,
            open_below_seed: None,
            paused,
            yanked,
            reason: if yanked {
                "bad answers".into()
            } else {
                String::new()
            },
            signed_at: jiff::Timestamp::now(),
        };
        self.publisher
            .sign_control(MODEL, version, &control, &Expiries::default())
            .await
            .unwrap();
    }

    /// A device following this repository, named `id`, with settings `extra`.
    fn device(&self, id: &str, extra: &[(&str, &str)]) -> Device {
        let home = self.dir.path().join("devices").join(id);
        let models = home.join("models");
        std::fs::create_dir_all(&models).unwrap();
        let repo = self.dir.path().join("repo");
        let root = self.publisher.root_path();
        let state = home.join("state");
        let mut pairs = vec![
            ("repository.url", repo.to_str().unwrap()),
            ("repository.trusted_root", root.to_str().unwrap()),
            ("model_repository", models.to_str().unwrap()),
            ("state_dir", state.to_str().unwrap()),
            ("device_id", id),
            ("require_golden_cases", "false"),
        ];
        pairs.extend_from_slice(extra);
        let config = AgentConfig::load(None, &SettingOverrides::from_pairs(&pairs)).unwrap();
        let server = SimulatedServer::new();
        let clock = ManualClock::at(crate::state::now_secs());
        let parts = assemble(config, server.clone(), clock.clone()).unwrap();
        Device {
            updater: parts.updater,
            status: parts.status,
            server,
            clock,
            models,
        }
    }
}

/// One device: its updater, what it reports, its server and its clock.
struct Device {
    updater: Updater<SimulatedServer>,
    status: SharedStatus,
    server: SimulatedServer,
    clock: Arc<ManualClock>,
    models: PathBuf,
}

impl Device {
    fn on_disk(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.models.join(MODEL))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.parse::<u64>().is_ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn model_status(&self) -> crate::status::ModelStatus {
        self.status.lock().unwrap().models[MODEL].clone()
    }

    fn record(&self) -> crate::state::ModelRecord {
        self.model_status().record
    }

    fn rejected(&self) -> Vec<u64> {
        self.record().rejected.iter().map(|r| r.version).collect()
    }
}

/// A device id whose wave seed falls outside the first `percent` of the fleet.
fn id_outside(percent: u32) -> String {
    (0..)
        .map(|i| format!("device-{i}"))
        .find(|id| !seed_admitted(device_seed(id), percent))
        .unwrap()
}

async fn on_version_1(repository: &Repository, device: &mut Device) {
    repository.publish(1, "now").await;
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(1));
    assert_eq!(device.record().last_good, Some(1));
}

#[tokio::test]
async fn an_update_passes_its_steps_and_its_watch_ends_by_the_device_clock() {
    let repository = Repository::new().await;
    let mut device = repository.device("camera-1", &[]);
    on_version_1(&repository, &mut device).await;
    repository.publish(2, "now").await;
    let before = device.clock.now_secs();
    device.updater.check().await.unwrap();
    let watched = device.clock.now_secs() - before;
    assert!((300..400).contains(&watched), "watched for {watched} s");
    assert_eq!(device.server.default_version(MODEL), Some(2));
    assert_eq!(device.server.loaded(MODEL), vec![2]);
    assert_eq!(device.on_disk(), vec!["2"]);
    let record = device.record();
    assert_eq!((record.active, record.last_good), (Some(2), Some(2)));
    assert!(record.update.is_none());
    // Nothing new: the next check changes nothing.
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(2));
}

#[tokio::test]
async fn a_version_failing_after_promotion_is_rolled_back_and_never_tried_again() {
    let repository = Repository::new().await;
    let mut device = repository.device("camera-1", &[]);
    on_version_1(&repository, &mut device).await;
    device.server.fail_requests_of(MODEL, 2);
    repository.publish(2, "now").await;
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(1));
    assert_eq!(device.on_disk(), vec!["1"]);
    assert_eq!(device.rejected(), vec![2]);
    assert_eq!(device.record().last_good, Some(1));
    device.updater.check().await.unwrap();
    assert_eq!(device.on_disk(), vec!["1"]);
}

#[tokio::test]
async fn a_version_that_does_not_load_is_refused_before_it_takes_traffic() {
    let repository = Repository::new().await;
    let mut device = repository.device("camera-1", &[]);
    on_version_1(&repository, &mut device).await;
    device.server.refuse_to_load(MODEL, 2);
    repository.publish(2, "now").await;
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(1));
    assert_eq!(device.on_disk(), vec!["1"]);
    assert_eq!(device.rejected(), vec![2]);
}

#[tokio::test]
async fn a_device_installs_only_once_the_fleet_role_opened_its_wave() {
    let repository = Repository::new().await;
    let id = id_outside(50);
    let mut device = repository.device(&id, &[]);
    on_version_1(&repository, &mut device).await;
    // The default schedule opens nothing at publishing (its first wave starts after an hour);
    // the device's clock moving days ahead opens nothing either: only signed controls do.
    repository.publish(2, "default").await;
    device.clock.advance(30 * 24 * 3600);
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(1));
    assert_eq!(
        device.model_status().waiting,
        ["version 2: waiting for wave 5"]
    );
    repository.control(2, 50, false, false).await;
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(1));
    repository.control(2, 100, false, false).await;
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(2));
    assert_eq!(device.on_disk(), vec!["2"]);
}

#[tokio::test]
async fn a_paused_rollout_holds_devices_until_it_is_resumed() {
    let repository = Repository::new().await;
    let mut device = repository.device("camera-1", &[]);
    on_version_1(&repository, &mut device).await;
    repository.publish(2, "now").await;
    repository.control(2, 100, true, false).await;
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(1));
    assert_eq!(device.on_disk(), vec!["1"]);
    repository.control(2, 100, false, false).await;
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(2));
}

#[tokio::test]
async fn a_yanked_version_sends_devices_on_it_back_and_is_never_installed_again() {
    let repository = Repository::new().await;
    let mut device = repository.device("camera-1", &[]);
    on_version_1(&repository, &mut device).await;
    repository.publish(2, "now").await;
    device.updater.check().await.unwrap();
    assert_eq!(device.on_disk(), vec!["2"]);
    repository.control(2, 100, false, true).await;
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(1));
    assert_eq!(device.on_disk(), vec!["1"]);
    assert_eq!(device.rejected(), vec![2]);
    // A device that never had it does not take it.
    let mut newcomer = repository.device("camera-2", &[]);
    newcomer.updater.check().await.unwrap();
    assert_eq!(newcomer.server.default_version(MODEL), Some(1));
}

#[tokio::test]
async fn a_clock_gone_back_stops_installs_until_it_is_right_again() {
    let repository = Repository::new().await;
    let mut device = repository.device("camera-1", &[]);
    device.updater.check().await.unwrap();
    device.clock.advance(-24 * 3600);
    repository.publish(1, "now").await;
    let error = device.updater.check().await.unwrap_err();
    assert_eq!(error.kind(), Failure::Clock, "{error}");
    assert_eq!(device.server.default_version(MODEL), None);
    assert!(device.on_disk().is_empty());
    device.clock.advance(24 * 3600);
    device.updater.check().await.unwrap();
    assert_eq!(device.server.default_version(MODEL), Some(1));
}

/// A device whose version 2 saw no request in its watch, with `watch.on_quiet = on_quiet`
/// (and the repository, which holds its folders).
async fn quiet_watch(on_quiet: &str) -> (Repository, Device) {
    let repository = Repository::new().await;
    let mut device = repository.device("camera-1", &[("watch.on_quiet", on_quiet)]);
    on_version_1(&repository, &mut device).await;
    device.server.set_quiet(true);
    repository.publish(2, "now").await;
    let before = device.clock.now_secs();
    device.updater.check().await.unwrap();
    // Not judged at the window's end (300 s): the watch goes on to max_window_secs (3600 s).
    let watched = device.clock.now_secs() - before;
    assert!((3600..3700).contains(&watched), "watched for {watched} s");
    let last_watch = device.record().last_watch.unwrap_or_default();
    assert!(last_watch.contains("not judged"), "{last_watch}");
    (repository, device)
}

#[tokio::test]
async fn a_quiet_watch_is_extended_then_kept_as_not_judged() {
    let (_repository, device) = quiet_watch("keep").await;
    assert_eq!(device.server.default_version(MODEL), Some(2));
    // Kept, but the last known good version stays version 1, on disk.
    assert_eq!(device.record().last_good, Some(1));
    assert_eq!(device.on_disk(), vec!["1", "2"]);
}

#[tokio::test]
async fn a_quiet_watch_is_extended_then_rolled_back_when_set_so() {
    let (_repository, device) = quiet_watch("roll_back").await;
    assert_eq!(device.server.default_version(MODEL), Some(1));
    assert_eq!(device.on_disk(), vec!["1"]);
    assert_eq!(device.rejected(), vec![2]);
}
