//! One device's updates, step by step. Per model, the newest signed bundle above the active
//! version that was never refused becomes an update, which goes through these steps, each
//! recorded in the state file before it starts (so a killed agent resumes where it was):
//!
//! 1. `downloading`: the bundle into `<state>/downloads/<sha256>.bundle`, resumably;
//! 2. `installing`: unpacked and renamed into `<repository>/<model>/<version>/`;
//! 3. `checking`: loaded on the server as a candidate, its golden cases run through the V2 API;
//!    a failure unloads and removes it and refuses the bundle for good;
//! 4. `promoting`: made the default on the server, then in `serving.toml`;
//! 5. `watching`: the server's statistics of the new version are compared with the previous
//!    version's until the window ends; worse than the bounds → `rolling_back`;
//! 6. `rolling_back`: the previous version is made the default again, the new one removed and
//!    refused.
//!
//! After a good watch the new version is the last known good one and older versions leave the
//! server and the disk. Steps past the download need no repository, so an update that was
//! under way finishes offline.

use outpost_core::Sha256;
use std::path::PathBuf;
use std::time::Duration;

use outpost_trust::{Admission, BundleTarget, SignedControl};

use crate::clock::SharedClock;
use crate::config::{AgentConfig, QuietPolicy};
use crate::error::{AgentError, Failure};
use crate::fetch::{Polled, RepositoryWatch};
use crate::golden::{run_cases, GoldenOutcome};
use crate::install::Installer;
use crate::metrics::AgentMetrics;
use crate::offers::{self, Choice};
use crate::server::ModelServer;
use crate::server_api::ServerApi;
use crate::state::{StateFile, Step, Update};
use crate::status::{AgentCondition, ModelStatus, SharedStatus};
use crate::watch::{judge, Verdict, VersionFigures, WatchBounds};

/// How far behind the latest time seen the clock may be before installs stop.
const CLOCK_SLACK_SECS: i64 = 300;

/// The agent's work, one check at a time, for the server `S` (the real one over HTTP, or a
/// test's).
pub struct Updater<S = ServerApi> {
    config: AgentConfig,
    api: S,
    clock: SharedClock,
    installer: Installer,
    repository: RepositoryWatch,
    state: StateFile,
    downloads: PathBuf,
    status: SharedStatus,
    metrics: AgentMetrics,
    seed: u32,
    /// Per model, the newer versions not offered to this device yet, in words (status only).
    waiting: std::collections::BTreeMap<String, Vec<String>>,
}

/// What the agent is made of.
pub struct UpdaterParts<S = ServerApi> {
    /// The configuration.
    pub config: AgentConfig,
    /// The server.
    pub api: S,
    /// Where the time comes from (`crate::clock::SystemClock` in service).
    pub clock: SharedClock,
    /// The model repository.
    pub installer: Installer,
    /// The signed repository.
    pub repository: RepositoryWatch,
    /// The durable state.
    pub state: StateFile,
    /// Where bundles download to.
    pub downloads: PathBuf,
    /// The report `/status` serves.
    pub status: SharedStatus,
    /// The agent's metrics.
    pub metrics: AgentMetrics,
    /// This device's place in the fleet's rollouts (`outpost_trust::device_seed`).
    pub seed: u32,
}

impl<S: ModelServer> Updater<S> {
    /// An updater over `parts`.
    pub fn new(parts: UpdaterParts<S>) -> Updater<S> {
        let updater = Updater {
            config: parts.config,
            api: parts.api,
            clock: parts.clock,
            installer: parts.installer,
            repository: parts.repository,
            state: parts.state,
            downloads: parts.downloads,
            status: parts.status,
            metrics: parts.metrics,
            seed: parts.seed,
            waiting: std::collections::BTreeMap::new(),
        };
        updater.publish_models();
        updater
    }

    fn report(&self, change: impl FnOnce(&mut crate::status::StatusReport)) {
        let mut report = self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut report);
    }

    fn publish_models(&self) {
        let models = self
            .state
            .state
            .models
            .iter()
            .map(|(name, record)| {
                let mut status = ModelStatus::of(record);
                status.waiting = self.waiting.get(name).cloned().unwrap_or_default();
                (name.clone(), status)
            })
            .collect();
        let seed = self.seed;
        self.report(|r| {
            r.models = models;
            r.wave_seed = Some(seed);
        });
    }

    fn save(&self) -> Result<(), AgentError> {
        self.state.save()?;
        self.publish_models();
        Ok(())
    }

    /// Finishes what a previous run left: removes staging leftovers and stray downloads, then
    /// carries every update that is past its download to its end (no repository needed).
    pub async fn resume(&mut self) -> Result<(), AgentError> {
        self.installer.clean_staging()?;
        let keep: Vec<String> = self
            .state
            .state
            .models
            .values()
            .filter_map(|r| r.update.as_ref().map(|u| u.sha256.to_hex()))
            .collect();
        if let Ok(entries) = std::fs::read_dir(&self.downloads) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !keep.iter().any(|sha| name.starts_with(sha.as_str())) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let models: Vec<String> = self.state.state.models.keys().cloned().collect();
        let mut first_error = None;
        for model in models {
            if let Err(error) = self.run_update(&model, None).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// One check: the clock, the repository, then every model's update.
    pub async fn check(&mut self) -> Result<(), AgentError> {
        self.report(|r| {
            r.state = AgentCondition::Working;
            r.last_check = Some(crate::state::now_text());
        });
        let result = self.check_inner().await;
        match &result {
            Ok(()) => self.report(|r| {
                r.state = AgentCondition::Idle;
                r.last_error = None;
                r.last_error_reason = None;
            }),
            Err(error) => {
                let reason = error.reason();
                let condition = AgentCondition::after_failure(error.kind());
                let message = error.to_string();
                self.report(|r| {
                    r.state = condition;
                    r.last_error = Some(message);
                    r.last_error_reason = Some(reason);
                });
            }
        }
        result
    }

    async fn check_inner(&mut self) -> Result<(), AgentError> {
        self.check_clock()?;
        match self.repository.poll().await {
            Ok(polled) => {
                self.metrics.check(match polled {
                    Polled::Unchanged => "unchanged",
                    Polled::Verified => "verified",
                });
                let versions = self
                    .repository
                    .verified()
                    .map(outpost_trust::TrustedRepository::versions);
                self.report(|r| {
                    r.last_success = Some(crate::state::now_text());
                    r.repository_versions = versions;
                });
            }
            Err(error) => {
                self.metrics.check("failed");
                if error.kind() != Failure::Unreachable {
                    self.metrics.verification_failed(error.reason());
                }
                // Updates past their download still finish.
                let _ = self.resume().await;
                return Err(error);
            }
        }
        let Some(repository) = self.repository.verified() else {
            return Ok(());
        };
        let bundles = repository.bundles();
        let controls = repository.controls();
        let mut models: Vec<String> = bundles.iter().map(|b| b.model.clone()).collect();
        models.extend(self.state.state.models.keys().cloned());
        models.sort();
        models.dedup();
        let mut first_error = None;
        for model in models {
            let offered: Vec<&BundleTarget> = bundles.iter().filter(|b| b.model == model).collect();
            if let Err(error) = self.update_model(&model, &offered, &controls).await {
                tracing::warn!(model, %error, "update did not finish; retrying later");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Refuses to go on while the clock is behind the latest time this device has seen.
    fn check_clock(&mut self) -> Result<(), AgentError> {
        let now = self.clock.now_secs();
        let latest = self.state.state.latest_time_seen;
        if now + CLOCK_SLACK_SECS < latest {
            return Err(AgentError::ClockBehind {
                now: jiff::Timestamp::from_second(now)
                    .unwrap_or_default()
                    .to_string(),
                latest: jiff::Timestamp::from_second(latest)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        if now > latest + 60 {
            self.state.state.latest_time_seen = now;
            self.state.save()?;
        }
        Ok(())
    }

    async fn update_model(
        &mut self,
        model: &str,
        offered: &[&BundleTarget],
        controls: &[SignedControl],
    ) -> Result<(), AgentError> {
        let seed = self.seed;
        let record = self.state.model(model);
        if let Some(update) = record.update.clone() {
            let target = offered.iter().find(|b| b.sha256 == update.sha256);
            let standing = target.map(|b| offers::standing(b, controls, seed));
            if standing == Some(Admission::Yanked) {
                return self.stop_yanked(model, &update, controls).await;
            }
            let held = matches!(
                standing,
                None | Some(Admission::Paused | Admission::WaitingForWave(_))
            );
            if held && update.step == Step::Downloading {
                let why = if target.is_none() {
                    "is no longer offered"
                } else {
                    "is no longer offered to this device (paused)"
                };
                tracing::warn!(
                    model,
                    version = update.version,
                    "the bundle being downloaded {why}; dropping it"
                );
                let record = self.state.model(model);
                record.update = None;
                record.event(format_args!(
                    "version {} {why}; download dropped",
                    update.version
                ));
                self.remove_download(&update.sha256);
                self.save()?;
                return Ok(());
            }
            let target = target.map(|b| (*b).clone());
            return self.run_update(model, target.as_ref()).await;
        }
        let installer = &self.installer;
        let looked = offers::look(offered, controls, record, seed, |version| {
            installer.version_dir(model, version).is_dir()
        });
        if self.waiting.get(model) != Some(&looked.waiting) {
            self.waiting.insert(model.to_string(), looked.waiting);
            self.publish_models();
        }
        let (newest, yanked) = match looked.choice {
            Choice::Stay => return Ok(()),
            Choice::Install(newest) => (newest, None),
            Choice::ReplaceYanked(yanked, newest) => (newest, Some(yanked)),
            Choice::RollBackYanked(yanked) => {
                tracing::warn!(model, version = yanked.version, reason = %yanked.reason, "the active version was yanked; going back to the last known good version");
                self.state.model(model).update = Some(Update {
                    version: yanked.version,
                    sha256: yanked.sha256,
                    step: Step::RollingBack {
                        reason: yanked.reason,
                    },
                });
                self.save()?;
                return self.run_update(model, None).await;
            }
        };
        let record = self.state.model(model);
        if let Some(yanked) = yanked {
            // Nothing to go back to on disk: the yanked version is refused and not compared
            // with, and an older bundle takes its place.
            tracing::warn!(model, version = yanked.version, reason = %yanked.reason, replacement = newest.version, "the active version was yanked; installing another in its place");
            record.reject(yanked.version, yanked.sha256, &yanked.reason);
            record.last_good = None;
            record.event(format_args!(
                "version {} {}; version {} takes its place",
                yanked.version, yanked.reason, newest.version
            ));
        }
        tracing::info!(
            model,
            version = newest.version,
            bytes = newest.length,
            "new bundle offered"
        );
        record.update = Some(Update {
            version: newest.version,
            sha256: newest.sha256,
            step: Step::Downloading,
        });
        self.save()?;
        self.run_update(model, Some(&newest)).await
    }

    /// Ends an update whose bundle was yanked: before promotion it is refused like a bad
    /// bundle; once promoted it is rolled back.
    async fn stop_yanked(
        &mut self,
        model: &str,
        update: &Update,
        controls: &[SignedControl],
    ) -> Result<(), AgentError> {
        let reason = offers::yank_reason(model, update.version, controls);
        match update.step {
            Step::Promoting | Step::Watching { .. } => {
                self.set_step(model, Step::RollingBack { reason })?;
                self.run_update(model, None).await
            }
            Step::RollingBack { .. } => self.run_update(model, None).await,
            Step::Downloading | Step::Installing | Step::Checking => {
                self.refuse(model, update, &reason).await
            }
        }
    }

    fn bundle_file(&self, sha256: &Sha256) -> PathBuf {
        self.downloads.join(format!("{sha256}.bundle"))
    }

    fn remove_download(&self, sha256: &Sha256) {
        for suffix in ["", ".partial", ".partial.etag"] {
            let _ = std::fs::remove_file(self.downloads.join(format!("{sha256}.bundle{suffix}")));
        }
    }

    fn set_step(&mut self, model: &str, step: Step) -> Result<(), AgentError> {
        if let Some(update) = &mut self.state.model(model).update {
            update.step = step;
        }
        self.save()
    }

    /// Carries `model`'s update forward until it ends or fails. `bundle` is its target when
    /// the repository was verified (needed only to download).
    async fn run_update(
        &mut self,
        model: &str,
        bundle: Option<&BundleTarget>,
    ) -> Result<(), AgentError> {
        loop {
            let Some(update) = self.state.model(model).update.clone() else {
                return Ok(());
            };
            let result = match &update.step {
                Step::Downloading => match bundle {
                    Some(bundle) => self.download(model, bundle, &update).await,
                    None => return Ok(()),
                },
                Step::Installing => self.install(model, &update).await,
                Step::Checking => self.check_candidate(model, &update).await,
                Step::Promoting => self.promote(model, &update).await,
                Step::Watching { until, quiet_until } => {
                    self.watch(model, &update, *until, quiet_until.unwrap_or(*until))
                        .await
                }
                Step::RollingBack { reason } => self.roll_back(model, &update, reason).await,
            };
            match result {
                Ok(()) => {}
                Err(error) if error.is_bundle_fault() => {
                    self.metrics.verification_failed(error.reason());
                    self.refuse(model, &update, &error.to_string()).await?;
                }
                Err(error) => {
                    let message = error.to_string();
                    self.state.model(model).event(format_args!(
                        "version {} at step {}: {message} (will retry)",
                        update.version,
                        update.step.name()
                    ));
                    self.save()?;
                    return Err(error);
                }
            }
        }
    }

    async fn download(
        &mut self,
        model: &str,
        bundle: &BundleTarget,
        update: &Update,
    ) -> Result<(), AgentError> {
        let dest = self.bundle_file(&update.sha256);
        if !dest.is_file() {
            std::fs::create_dir_all(&self.downloads).map_err(AgentError::io(format!(
                "creating {}",
                self.downloads.display()
            )))?;
            let done = self
                .repository
                .download(
                    bundle,
                    &dest,
                    self.config.repository.bandwidth_bytes_per_sec,
                )
                .await;
            let done = match done {
                Err(error) if error.is_bundle_fault() => {
                    self.remove_download(&update.sha256);
                    return Err(error);
                }
                other => other?,
            };
            self.metrics
                .download(done.transferred, done.resumed_from > 0);
            tracing::info!(
                model,
                version = update.version,
                transferred = done.transferred,
                resumed_from = done.resumed_from,
                "bundle downloaded and verified"
            );
        }
        self.set_step(model, Step::Installing)
    }

    async fn install(&mut self, model: &str, update: &Update) -> Result<(), AgentError> {
        let bundle = self.bundle_file(&update.sha256);
        if !bundle.is_file() {
            return self.set_step(model, Step::Downloading);
        }
        let server_version = self.api.server_version().await?;
        let installer = self.installer.clone();
        let (model_name, version) = (model.to_string(), update.version);
        let installed = tokio::task::spawn_blocking(move || {
            installer.install(&bundle, &model_name, version, &server_version)
        })
        .await
        .map_err(|e| AgentError::State(format!("install task failed: {e}")))?;
        installed?;
        tracing::info!(model, version, "installed into the model repository");
        self.set_step(model, Step::Checking)?;
        self.remove_download(&update.sha256);
        Ok(())
    }

    async fn check_candidate(&mut self, model: &str, update: &Update) -> Result<(), AgentError> {
        let version = update.version;
        if !self.installer.version_dir(model, version).is_dir() {
            return self.set_step(model, Step::Downloading);
        }
        if self.state.model(model).active.is_none() {
            // A model the agent has not promoted before: what the server serves now is the
            // version to go back to.
            let serving = self.api.ready_versions(model).await?;
            let current = serving.into_iter().filter(|v| *v != version).max();
            let record = self.state.model(model);
            record.active = current;
            record.last_good = current;
            self.save()?;
        }
        self.api.load_candidate(model, version).await?;
        let golden = self.installer.golden_dir(model, version);
        match run_cases(
            &self.api,
            model,
            version,
            &golden,
            self.config.require_golden_cases,
        )
        .await?
        {
            GoldenOutcome::Passed(cases) => {
                tracing::info!(model, version, cases, "golden cases passed");
                self.state.model(model).event(format_args!(
                    "version {version} passed {cases} golden cases"
                ));
                self.set_step(model, Step::Promoting)
            }
            GoldenOutcome::Failed(reason) => Err(AgentError::Bundle(reason)),
        }
    }

    async fn promote(&mut self, model: &str, update: &Update) -> Result<(), AgentError> {
        let version = update.version;
        self.api.make_default(model, version).await?;
        self.installer.write_default(model, version)?;
        let now = self.clock.now_secs();
        let after = |secs: u64| now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX / 4));
        let until = after(self.config.watch.window_secs);
        let quiet_until = Some(after(self.config.watch.max_window_secs).max(until));
        let record = self.state.model(model);
        record.active = Some(version);
        record.event(format_args!("version {version} promoted; watching it"));
        tracing::info!(
            model,
            version,
            "promoted: unversioned requests go to it now"
        );
        self.set_step(model, Step::Watching { until, quiet_until })
    }

    /// Watches the promoted version against the previous good one until `until`, or, while too
    /// few requests came to judge it, until `quiet_until`; then keeps it, or rolls it back.
    async fn watch(
        &mut self,
        model: &str,
        update: &Update,
        until: i64,
        quiet_until: i64,
    ) -> Result<(), AgentError> {
        let version = update.version;
        let previous = self.previous_good(model, version);
        let watch = &self.config.watch;
        let bounds = WatchBounds {
            min_requests: watch.min_requests,
            max_error_rate_increase_percent: f64::from(watch.max_error_rate_increase_percent),
            max_p99_increase_percent: f64::from(watch.max_p99_increase_percent),
        };
        let (sample, on_quiet) = (Duration::from_secs(watch.sample_secs), watch.on_quiet);
        if watch.window_secs == 0 {
            return self
                .keep_watched(model, version, "not watched (watch.window_secs = 0)".into())
                .await;
        }
        let Some(previous) = previous else {
            return self
                .keep_watched(
                    model,
                    version,
                    "passed: no earlier version to compare with".into(),
                )
                .await;
        };
        let mut seen = None;
        loop {
            match self.api.metrics().await {
                Ok(text) => {
                    let new = VersionFigures::read(&text, model, version);
                    let old = VersionFigures::read(&text, model, previous);
                    match judge(&new, &old, &bounds) {
                        Verdict::Worse(reason) => {
                            tracing::warn!(model, version, %reason, "promoted version is worse than the previous one; rolling back");
                            return self.set_step(model, Step::RollingBack { reason });
                        }
                        Verdict::TooFewRequests(requests) => seen = Some(requests),
                        Verdict::Healthy => seen = None,
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot read the server's statistics"),
            }
            // Enough requests: the watch ends with its window; too few: it goes on, up to
            // `quiet_until`.
            let left = if seen.is_some() { quiet_until } else { until } - self.clock.now_secs();
            if left <= 0 {
                break;
            }
            let left = Duration::from_secs(u64::try_from(left).unwrap_or(0));
            self.clock.sleep(sample.min(left)).await;
        }
        let Some(requests) = seen else {
            return self.keep_watched(model, version, "passed".into()).await;
        };
        let not_judged = format!(
            "not judged: {requests} requests in the watch, {} needed (watch.min_requests)",
            bounds.min_requests
        );
        tracing::warn!(model, version, %not_judged, on_quiet = %on_quiet, "watch ended without enough requests");
        match on_quiet {
            QuietPolicy::RollBack => self.set_step(
                model,
                Step::RollingBack {
                    reason: format!("{not_judged}; watch.on_quiet = roll_back"),
                },
            ),
            QuietPolicy::Keep => {
                // Kept, but not good: the previous version stays the one to go back to, on disk.
                self.remove_versions_except(model, &[version, previous])
                    .await?;
                let record = self.state.model(model);
                record.update = None;
                record.last_watch = Some(format!("{not_judged}; kept"));
                record.event(format_args!(
                    "version {version} {not_judged}; it keeps serving, version {previous} stays the last known good version"
                ));
                self.metrics.install("not_judged");
                self.save()
            }
        }
    }

    /// Unloads and deletes every installed version of `model` but those in `kept`.
    async fn remove_versions_except(
        &mut self,
        model: &str,
        kept: &[u64],
    ) -> Result<(), AgentError> {
        for old in self.installer.versions_on_disk(model) {
            if !kept.contains(&old) {
                self.api.unload_version(model, old).await?;
                self.installer.remove_version(model, old)?;
            }
        }
        Ok(())
    }

    /// Ends the watch of `version` as passed (`how`): it becomes the last known good version
    /// and every other version leaves the server and the disk.
    async fn keep_watched(
        &mut self,
        model: &str,
        version: u64,
        how: String,
    ) -> Result<(), AgentError> {
        self.remove_versions_except(model, &[version]).await?;
        let record = self.state.model(model);
        record.last_good = Some(version);
        record.update = None;
        record.event(format_args!(
            "version {version} {how}, and is the last known good version"
        ));
        record.last_watch = Some(how);
        self.metrics.install("promoted");
        tracing::info!(model, version, "watch passed");
        self.save()
    }

    async fn roll_back(
        &mut self,
        model: &str,
        update: &Update,
        reason: &str,
    ) -> Result<(), AgentError> {
        let version = update.version;
        let previous = self.previous_good(model, version);
        let Some(previous) = previous else {
            let record = self.state.model(model);
            record.update = None;
            record.event(format_args!(
                "version {version} is worse than allowed ({reason}), but there is no earlier version to go back to; it keeps serving"
            ));
            return self.save();
        };
        self.api.make_default(model, previous).await?;
        self.installer.write_default(model, previous)?;
        self.api.unload_version(model, version).await?;
        self.installer.remove_version(model, version)?;
        let record = self.state.model(model);
        record.active = Some(previous);
        record.last_watch = Some(format!("rolled back: {reason}"));
        self.metrics.rollback();
        self.record_refusal(
            model,
            update,
            &format!("rolled back: {reason}"),
            format!("rolled back from version {version} to {previous}: {reason}"),
        )
    }

    /// Refuses the bundle of `update` for good: the candidate leaves the server and the disk.
    async fn refuse(
        &mut self,
        model: &str,
        update: &Update,
        reason: &str,
    ) -> Result<(), AgentError> {
        let version = update.version;
        tracing::warn!(model, version, %reason, "bundle refused");
        let past_install = matches!(update.step, Step::Checking | Step::Promoting);
        if past_install {
            self.api.unload_version(model, version).await?;
        }
        if past_install || update.step == Step::Installing {
            self.installer.remove_version(model, version)?;
        }
        self.remove_download(&update.sha256);
        self.record_refusal(
            model,
            update,
            reason,
            format!("version {version} refused: {reason}"),
        )
    }

    /// The last known good version of `model` other than `version`: where a failing `version`
    /// goes back to, and what it is compared with.
    fn previous_good(&mut self, model: &str, version: u64) -> Option<u64> {
        self.state.model(model).last_good.filter(|v| *v != version)
    }

    /// Ends `update` with its bundle refused for good, for `reason`, recording `event`.
    fn record_refusal(
        &mut self,
        model: &str,
        update: &Update,
        reason: &str,
        event: String,
    ) -> Result<(), AgentError> {
        let record = self.state.model(model);
        record.reject(update.version, update.sha256, reason);
        record.update = None;
        record.event(event);
        self.metrics.install("rejected");
        self.save()
    }
}
