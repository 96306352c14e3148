//! What the status page shows of the engine, read when someone asks ([`collect`]): every model
//! with its versions (state, the reason when not ready, default and candidates, the runtime and
//! execution provider, requests and failures, queue places, resident memory), the models
//! unloaded since start, each upstream's circuit, the inference threads and the memory budget,
//! and per model a series of requests per second, failures and p50/p99 latency over the last
//! minutes ([`history`]). Nothing runs while nobody asks: the series is sampled on each read.

mod history;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

pub(crate) use history::StatusHistory;

use outpost_vision::ImagePipeline;

use crate::container::ContainerLimits;
use crate::executor::ExecutorLoad;
use crate::latency::LatencyCounts;
use crate::memory::MemoryBudget;
use crate::repository::{ModelEntry, VersionState};

/// The engine as the status page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EngineStatus {
    /// `none`, `explicit` or `poll`: whether models can be loaded and unloaded after start.
    pub control_mode: &'static str,
    /// Whether the control endpoints require a token.
    pub control_token_required: bool,
    /// Every model loaded or tried, by name, then those unloaded since start.
    pub models: Vec<ModelStatus>,
    /// The inference threads.
    pub executor: ExecutorStatus,
    /// The memory budget and what uses it.
    pub memory: MemoryStatus,
    /// Seconds the series cover at most.
    pub window_secs: u64,
}

/// One model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStatus {
    /// Its name.
    pub name: String,
    /// `ready` (a version takes unversioned requests), `candidates` (only versions being
    /// checked are loaded), `unavailable` (nothing serves: the reason says why) or `unloaded`.
    pub state: &'static str,
    /// Why it is not ready; empty when it is.
    pub reason: String,
    /// The version unversioned requests go to.
    pub default_version: Option<u64>,
    /// Each version tried.
    pub versions: Vec<VersionStatus>,
    /// The camera endpoint's answer kind (`classification`, `detection`, ...) when the model
    /// has an image pipeline.
    pub image_answer: Option<&'static str>,
    /// Its upstream, when it has one.
    pub upstream: Option<UpstreamStatus>,
    /// Requests, failures and latency over the last minutes, oldest first.
    pub series: Vec<SeriesPoint>,
}

/// One version of a model.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    /// The version number.
    pub version: u64,
    /// Loaded and serving.
    pub ready: bool,
    /// Loaded to be checked, reachable by explicit version only.
    pub candidate: bool,
    /// Why the load failed; empty when ready.
    pub reason: String,
    /// The runtime's name (Triton's `backend`), when loaded.
    pub backend: Option<&'static str>,
    /// The execution provider it runs on, when loaded.
    pub execution_provider: Option<String>,
    /// Whether it runs on an accelerator.
    pub on_accelerator: bool,
    /// Requests answered since it loaded.
    pub requests: u64,
    /// Requests failed since it loaded.
    pub failures: u64,
    /// Requests holding a place in its queue now.
    pub in_flight: usize,
    /// Places in its queue.
    pub capacity: usize,
    /// How much the server's resident memory grew while it loaded.
    pub resident_bytes: u64,
    /// How long its load took, in milliseconds.
    pub load_ms: u64,
}

/// A model's upstream and its circuit.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamStatus {
    /// The URL and remote model.
    pub endpoint: String,
    /// `prefer_upstream`, `prefer_local` or `upstream_only`, as configured.
    pub policy: &'static str,
    /// `closed` (online), `open` (offline: answered locally) or `half_open` (trying again).
    pub circuit: &'static str,
}

/// The inference threads.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutorStatus {
    /// Threads (requests that can run at once).
    pub threads: usize,
    /// Running a request now.
    pub busy: usize,
    /// Requests waiting for a thread.
    pub waiting: usize,
}

/// The memory budget and what uses it.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryStatus {
    /// Resident memory models may load into, when there is a budget.
    pub budget_bytes: Option<u64>,
    /// The container's memory limit, when there is one.
    pub limit_bytes: Option<u64>,
    /// What the container's cgroup uses, when it can be read.
    pub used_bytes: Option<u64>,
    /// The process's resident memory.
    pub resident_bytes: u64,
    /// What the loaded versions' loads added, summed.
    pub models_bytes: u64,
    /// Reserved by request bodies in flight.
    pub request_bodies_bytes: u64,
}

/// One interval of a model's series.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoint {
    /// The interval's end, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Its length in seconds.
    pub secs: f64,
    /// Requests answered per second.
    pub requests_per_sec: f64,
    /// Requests failed per second.
    pub failures_per_sec: f64,
    /// Median end-to-end latency of the answered requests, in milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile, in milliseconds.
    pub p99_ms: Option<f64>,
}

/// What `collect` reads from.
pub(crate) struct StatusSources<'a> {
    pub control_mode: &'static str,
    pub control_token_required: bool,
    pub entries: Vec<ModelEntry>,
    /// Unloaded since start, with why, not counting those loaded again.
    pub departed: BTreeMap<String, &'static str>,
    pub executor: ExecutorLoad,
    pub budget: &'a MemoryBudget,
    pub container: &'a ContainerLimits,
    pub history: &'a StatusHistory,
}

/// Counts of one version at one moment, for the series.
#[derive(Debug, Clone, Default)]
pub(crate) struct VersionCounts {
    pub requests: u64,
    pub failures: u64,
    pub latency: LatencyCounts,
}

/// The status now; takes a sample for the series when the last is old enough.
pub(crate) fn collect(sources: StatusSources<'_>) -> EngineStatus {
    let mut counts = BTreeMap::new();
    let mut models: Vec<ModelStatus> = sources
        .entries
        .iter()
        .map(|entry| model_status(entry, &mut counts))
        .collect();
    let series = sources.history.sample(counts);
    for model in &mut models {
        model.series = series.get(&model.name).cloned().unwrap_or_default();
    }
    for (name, why) in sources.departed {
        if models.iter().all(|m| m.name != name) {
            models.push(ModelStatus {
                series: series.get(&name).cloned().unwrap_or_default(),
                name,
                state: "unloaded",
                reason: why.to_string(),
                default_version: None,
                versions: Vec::new(),
                image_answer: None,
                upstream: None,
            });
        }
    }
    let models_bytes = models
        .iter()
        .flat_map(|m| &m.versions)
        .filter(|v| v.ready)
        .map(|v| v.resident_bytes)
        .sum();
    EngineStatus {
        control_mode: sources.control_mode,
        control_token_required: sources.control_token_required,
        models,
        executor: ExecutorStatus {
            threads: sources.executor.threads(),
            busy: sources.executor.busy(),
            waiting: sources.executor.waiting(),
        },
        memory: MemoryStatus {
            budget_bytes: sources.budget.budget_bytes(),
            limit_bytes: sources.container.memory_limit_bytes,
            used_bytes: sources.container.memory_used_bytes(),
            resident_bytes: crate::process_memory::total_resident_bytes(),
            models_bytes,
            request_bodies_bytes: sources.budget.bodies().reserved_bytes(),
        },
        window_secs: history::WINDOW.as_secs(),
    }
}

fn model_status(
    entry: &ModelEntry,
    counts: &mut BTreeMap<(String, u64), VersionCounts>,
) -> ModelStatus {
    let mut versions = Vec::new();
    let mut image_answer = None;
    let mut upstream = None;
    for (&version, state) in &entry.versions {
        let candidate = entry.candidates.contains(&version);
        match state {
            VersionState::Ready(served) => {
                let stats = served.stats.snapshot();
                let (requests, failures) = (stats.success.count, stats.fail.count);
                counts.insert(
                    (entry.name.clone(), version),
                    VersionCounts {
                        requests,
                        failures,
                        latency: stats.success_latency,
                    },
                );
                if image_answer.is_none() || Some(version) == entry.default_target() {
                    image_answer = served.image.as_ref().and_then(ImagePipeline::answer_kind);
                }
                if let Some(model_upstream) = &served.upstream {
                    upstream = Some(UpstreamStatus {
                        endpoint: model_upstream.endpoint().to_string(),
                        policy: model_upstream.config.policy.as_str(),
                        circuit: model_upstream.circuit().as_str(),
                    });
                }
                versions.push(VersionStatus {
                    version,
                    ready: true,
                    candidate,
                    reason: String::new(),
                    backend: Some(served.backend_name()),
                    execution_provider: Some(served.execution_provider().to_string()),
                    on_accelerator: served.model.on_accelerator(),
                    requests,
                    failures,
                    in_flight: served.admission.in_system(),
                    capacity: served.admission.capacity(),
                    resident_bytes: served.resident_bytes,
                    load_ms: duration_ms(served.load_duration),
                });
            }
            VersionState::Failed(reason) => versions.push(VersionStatus {
                version,
                ready: false,
                candidate,
                reason: reason.to_string(),
                backend: None,
                execution_provider: None,
                on_accelerator: false,
                requests: 0,
                failures: 0,
                in_flight: 0,
                capacity: 0,
                resident_bytes: 0,
                load_ms: 0,
            }),
        }
    }
    let default_version = entry.default_target();
    let serving = default_version
        .and_then(|v| entry.versions.get(&v))
        .is_some_and(|state| matches!(state, VersionState::Ready(_)));
    let (state, reason) = if serving {
        ("ready", String::new())
    } else if entry.only_candidates() {
        ("candidates", entry.unavailable_reason())
    } else {
        ("unavailable", entry.unavailable_reason())
    };
    ModelStatus {
        name: entry.name.clone(),
        state,
        reason,
        default_version: default_version.filter(|_| serving),
        versions,
        image_answer,
        upstream,
        series: Vec::new(),
    }
}

fn duration_ms(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}
