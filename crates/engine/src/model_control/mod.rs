//! Model control, Triton's three modes: `none` (models load at start and stay), `explicit`
//! (clients load and unload models by name over REST and gRPC) and `poll` (the repository is
//! rescanned every few seconds; new, changed and removed model directories are loaded, reloaded
//! and unloaded). Both front ends call [`ModelControl`]; it also owns the control token that the
//! control endpoints require when one is configured ([`auth`]), the poller ([`poller`]) and the
//! repository index ([`index`]).
//!
//! A reload that leaves a model with no ready version keeps the previous versions serving and
//! reports the failure. Versions can also be loaded, made the default and unloaded one at a
//! time ([`versions`], asked for by the requests' parameters: [`parameters`]).

mod auth;
mod fingerprint;
mod index;
mod parameters;
mod poller;
mod versions;

pub use index::{IndexEntry, ModelState};
pub use parameters::{LoadTarget, ParameterValue, UnloadTarget};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::backends::Backends;
use crate::config::ControlMode;
use crate::error::{ControlError, EngineError};
use crate::memory::MemoryBudget;
use crate::repository::scan::{self, is_valid_model_name, FoundModel};
use crate::repository::{served_model, LoadContext, LoadDefaults, ModelRepository};

use crate::request_metrics::RequestMetrics;
use crate::upstream::Upstreams;
use fingerprint::{fingerprint, Fingerprint};

/// Why a model is unloaded; each is logged, and decides whether its directory is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unload {
    /// A client asked for it.
    Requested,
    /// Its directory left the repository (poll mode).
    Removed,
    /// Idle, and unloaded to make room in the memory budget. Its directory stays remembered, so
    /// the poller does not load it back until its files change.
    Evicted,
}

/// Loads and unloads models in the repository on behalf of the front ends and the poller.
pub(crate) struct ModelControl {
    /// What it was made of.
    setup: ControlSetup,
    /// One load or unload at a time; also guards the fingerprints.
    loaded_from: Mutex<HashMap<String, Fingerprint>>,
    /// Models unloaded since start and why (for the status page), at most
    /// [`MAX_DEPARTED`]; a name loaded again stays here, and readers skip it.
    departed: Mutex<BTreeMap<String, &'static str>>,
}

/// How many unloaded models are remembered for the status page.
const MAX_DEPARTED: usize = 1024;

/// What model control is made of.
pub(crate) struct ControlSetup {
    /// `none`, `explicit` or `poll`.
    pub mode: ControlMode,
    /// The model repository directory.
    pub root: PathBuf,
    /// The runtimes models load on.
    pub backends: Backends,
    /// Threads and queue places of versions whose configuration does not set them.
    pub defaults: LoadDefaults,
    /// The memory budget loads must fit.
    pub budget: MemoryBudget,
    /// Where loaded models are served from.
    pub repository: Arc<ModelRepository>,
    /// The bearer token control requests must present, if any.
    pub token: Option<String>,
    /// Where each loaded version records its requests.
    pub metrics: RequestMetrics,
    /// Clients and circuits of models' upstreams.
    pub upstreams: Arc<Upstreams>,
    /// Whether the outbox is open (models with `forward` need it).
    pub outbox_open: bool,
}

impl Unload {
    /// Why, in the status page's words.
    fn describe(self) -> &'static str {
        match self {
            Unload::Requested => "unloaded on request",
            Unload::Removed => "its directory left the repository",
            Unload::Evicted => "unloaded while idle to make room in the memory budget",
        }
    }
}

impl ModelControl {
    /// Models unloaded since start and why; some may have loaded again since.
    pub(crate) fn departed(&self) -> BTreeMap<String, &'static str> {
        self.departed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether the control endpoints require a token.
    pub(crate) fn token_required(&self) -> bool {
        self.setup.token.is_some()
    }

    /// Model control as `setup` says; nothing is loaded until [`ModelControl::load_all`].
    pub(crate) fn new(setup: ControlSetup) -> ModelControl {
        ModelControl {
            setup,
            loaded_from: Mutex::new(HashMap::new()),
            departed: Mutex::new(BTreeMap::new()),
        }
    }

    /// Loads `found` (every version its policy selects), making room in the memory budget by
    /// evicting idle models when allowed.
    fn load_entry(&self, found: &FoundModel) -> crate::repository::ModelEntry {
        let evict_one_idle = |keep: &str| self.evict_one_idle(keep);
        served_model::load_model(found, &self.load_context(&evict_one_idle))
    }

    /// What a load needs, with `evict_one_idle` to make room.
    fn load_context<'a>(&'a self, evict_one_idle: &'a dyn Fn(&str) -> bool) -> LoadContext<'a> {
        LoadContext {
            backends: &self.setup.backends,
            defaults: self.setup.defaults,
            budget: &self.setup.budget,
            evict_one_idle,
            metrics: &self.setup.metrics,
            upstreams: &self.setup.upstreams,
            outbox_open: self.setup.outbox_open,
        }
    }

    /// The control mode.
    pub(crate) fn mode(&self) -> ControlMode {
        self.setup.mode
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, Fingerprint>> {
        self.loaded_from
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads every model in the repository (at start).
    pub(crate) fn load_all(&self) -> Result<(), ControlError> {
        let found =
            scan::scan(&self.setup.root).map_err(|e| ControlError::Repository(e.to_string()))?;
        let mut loaded_from = self.locked();
        for model in found {
            let print = fingerprint(&model.dir);
            let entry = self.load_entry(&model);
            self.setup.repository.insert(entry);
            loaded_from.insert(model.name.clone(), print);
        }
        Ok(())
    }

    /// Loads (or reloads) one model directory. Blocking: call off the async runtime.
    pub(crate) fn load(&self, name: &str) -> Result<(), ControlError> {
        if !is_valid_model_name(name) {
            return Err(ControlError::BadName(name.to_string()));
        }
        let dir = self.setup.root.join(name);
        if !dir.is_dir() {
            return Err(ControlError::UnknownModel(name.to_string()));
        }
        let mut loaded_from = self.locked();
        self.load_locked(&mut loaded_from, name, &dir, fingerprint(&dir))
    }

    /// Loads `name` from `dir`, remembering `print` (the directory as read before the load).
    fn load_locked(
        &self,
        loaded_from: &mut HashMap<String, Fingerprint>,
        name: &str,
        dir: &Path,
        print: Fingerprint,
    ) -> Result<(), ControlError> {
        let found = FoundModel {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            versions: scan::versions_in(dir),
        };
        let entry = self.load_entry(&found);
        loaded_from.insert(name.to_string(), print);
        let ready = !entry.ready_versions().is_empty();
        let still_serving = self
            .setup
            .repository
            .entry(name)
            .is_ok_and(|old| !old.ready_versions().is_empty());
        if ready || !still_serving {
            let reason = (!ready).then(|| entry.unavailable_reason());
            self.setup.repository.insert(entry);
            tracing::info!(model = name, ready, "model loaded on request");
            return match reason {
                None => Ok(()),
                Some(reason) => Err(ControlError::LoadFailed {
                    model: name.to_string(),
                    reason,
                }),
            };
        }
        let reason = entry.unavailable_reason();
        tracing::warn!(model = name, %reason, "reload failed; the previous versions keep serving");
        Err(ControlError::LoadFailed {
            model: name.to_string(),
            reason: format!("{reason} (the previously loaded versions keep serving)"),
        })
    }

    /// Unloads one model: it stops taking requests; requests already running finish.
    pub(crate) fn unload(&self, name: &str) -> Result<(), ControlError> {
        if !is_valid_model_name(name) {
            return Err(ControlError::BadName(name.to_string()));
        }
        let mut loaded_from = self.locked();
        let removed = self.remove_model(name, Unload::Requested, Some(&mut loaded_from));
        if !removed && !self.setup.root.join(name).is_dir() {
            return Err(ControlError::UnknownModel(name.to_string()));
        }
        Ok(())
    }

    /// The one way a model leaves the repository, whoever asks: requests still running on it
    /// keep it alive and finish; the memory freed now goes back to the system at once, and the
    /// memory budget (and so the room for request bodies) is measured again. `loaded_from` is
    /// the record of loaded directories when the caller holds it. True when the model was loaded.
    fn remove_model(
        &self,
        name: &str,
        why: Unload,
        loaded_from: Option<&mut HashMap<String, Fingerprint>>,
    ) -> bool {
        let removed = self.setup.repository.remove(name);
        if removed {
            let mut departed = self
                .departed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if departed.len() < MAX_DEPARTED || departed.contains_key(name) {
                departed.insert(name.to_string(), why.describe());
            }
        }
        if why != Unload::Evicted {
            if let Some(loaded_from) = loaded_from {
                loaded_from.remove(name);
            }
        }
        self.setup.budget.note_models_released();
        match why {
            Unload::Requested => tracing::info!(model = name, "model unloaded on request"),
            Unload::Removed => {
                tracing::info!(model = name, "model directory removed; model unloaded");
            }
            Unload::Evicted => tracing::warn!(
                model = name,
                "unloaded the least recently used idle model to make room"
            ),
        }
        removed
    }

    /// Unloads the ready model (other than `keep`) whose last request is oldest among those with
    /// no request in flight. Returns whether one was unloaded. Called while a load holds the
    /// record of loaded directories, which eviction leaves as it is.
    fn evict_one_idle(&self, keep: &str) -> bool {
        let idle_candidates = self
            .setup
            .repository
            .entries()
            .into_iter()
            .filter_map(|entry| {
                if entry.name == keep {
                    return None;
                }
                let ready: Vec<_> = entry.ready().cloned().collect();
                let idle = !ready.is_empty() && ready.iter().all(|s| s.admission.in_system() == 0);
                let last_used = ready
                    .iter()
                    .map(|s| s.stats.snapshot().last_inference_ms)
                    .max()
                    .unwrap_or(0);
                idle.then_some((last_used, entry.name))
            });
        let Some((_, victim)) = idle_candidates.min() else {
            return false;
        };
        self.remove_model(&victim, Unload::Evicted, None)
    }

    /// The repository index, for a caller presenting `token`. The repository is scanned off
    /// the async runtime.
    pub(crate) async fn authorized_index(
        self: &Arc<Self>,
        token: Option<&str>,
        ready_only: bool,
    ) -> Result<Vec<IndexEntry>, EngineError> {
        self.authorize(token)?;
        self.off_runtime(move |control| Ok(control.index(ready_only)))
            .await
    }

    /// Loads (or reloads) model `name`, or one version of it, for a caller presenting
    /// `token`, in explicit mode only, off the async runtime.
    pub(crate) async fn authorized_load(
        self: &Arc<Self>,
        token: Option<&str>,
        name: String,
        target: LoadTarget,
    ) -> Result<(), EngineError> {
        self.authorize(token)?;
        self.check_explicit()?;
        self.off_runtime(move |control| match target {
            LoadTarget::Model => control.load(&name),
            LoadTarget::Candidate(version) => control.load_version(&name, version, false),
            LoadTarget::Default(version) => control.load_version(&name, version, true),
        })
        .await
    }

    /// Unloads model `name`, or one version of it, for a caller presenting `token`, in
    /// explicit mode only, off the async runtime.
    pub(crate) async fn authorized_unload(
        self: &Arc<Self>,
        token: Option<&str>,
        name: String,
        target: UnloadTarget,
    ) -> Result<(), EngineError> {
        self.authorize(token)?;
        self.check_explicit()?;
        self.off_runtime(move |control| match target {
            UnloadTarget::Model => control.unload(&name),
            UnloadTarget::Version(version) => control.unload_version(&name, version),
        })
        .await
    }

    /// Runs `action` (which reads the repository from disk, or loads models) on the blocking
    /// thread pool.
    async fn off_runtime<T: Send + 'static>(
        self: &Arc<Self>,
        action: impl FnOnce(&ModelControl) -> Result<T, ControlError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let control = self.clone();
        tokio::task::spawn_blocking(move || action(&control))
            .await
            .map_err(|e| EngineError::Internal(format!("model control failed: {e}")))?
            .map_err(EngineError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(token: Option<&str>, mode: ControlMode) -> ModelControl {
        ModelControl::new(ControlSetup {
            mode,
            root: PathBuf::from("/nonexistent"),
            backends: Backends::new(Vec::new()),
            defaults: LoadDefaults {
                cpus: 1,
                intra_op_threads: 1,
                parallel_idle_release: std::time::Duration::from_secs(60),
                admission_capacity: 1,
            },
            budget: MemoryBudget::unlimited(),
            repository: Arc::new(ModelRepository::new()),
            token: token.map(str::to_string),
            metrics: RequestMetrics::default(),
            upstreams: Arc::new(Upstreams::new(None, None)),
            outbox_open: false,
        })
    }

    #[test]
    fn the_token_is_required_only_when_configured() {
        let open = control(None, ControlMode::Explicit);
        assert_eq!(open.authorize(None), Ok(()));
        let guarded = control(Some("s3cret"), ControlMode::Explicit);
        assert_eq!(guarded.authorize(Some("s3cret")), Ok(()));
        for wrong in [None, Some("s3cre"), Some("s3cret "), Some("")] {
            assert_eq!(
                guarded.authorize(wrong),
                Err(ControlError::Unauthorized),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn load_and_unload_need_explicit_mode_and_a_safe_name() {
        assert_eq!(
            control(None, ControlMode::None).check_explicit(),
            Err(ControlError::Disabled(ControlMode::None))
        );
        assert_eq!(
            control(None, ControlMode::Poll).check_explicit(),
            Err(ControlError::Disabled(ControlMode::Poll))
        );
        let explicit = control(None, ControlMode::Explicit);
        assert_eq!(explicit.check_explicit(), Ok(()));
        assert_eq!(
            explicit.load("../etc"),
            Err(ControlError::BadName("../etc".into()))
        );
        assert_eq!(
            explicit.load("absent"),
            Err(ControlError::UnknownModel("absent".into()))
        );
    }
}
