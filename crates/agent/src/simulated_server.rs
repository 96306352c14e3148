//! A model server in memory, for tests and fleet simulations of the updater
//! ([`crate::server::ModelServer`] without a process): it loads and unloads versions, keeps a
//! default per model, and answers the watch's statistics as if unversioned traffic went to the
//! default version, a set number of requests between two looks (none while told to be quiet),
//! failing for versions told to fail. Versions told to be unloadable are refused as the real server refuses a model that does
//! not load (`model_load_failed`). It answers no inference: bundles checked against it carry no
//! golden cases (`require_golden_cases = false`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::error::AgentError;
use crate::server::ModelServer;

/// Requests the default version serves between two looks at the statistics.
const REQUESTS_PER_LOOK: u64 = 50;

type VersionKey = (String, u64);

#[derive(Debug, Default)]
struct Served {
    success: u64,
    failure: u64,
}

#[derive(Debug, Default)]
struct Inner {
    loaded: BTreeSet<VersionKey>,
    defaults: BTreeMap<String, u64>,
    served: BTreeMap<VersionKey, Served>,
    failing: BTreeSet<VersionKey>,
    unloadable: BTreeSet<VersionKey>,
    quiet: bool,
}

/// A server in memory; clones share it.
#[derive(Debug, Clone, Default)]
pub struct SimulatedServer {
    inner: Arc<Mutex<Inner>>,
}

impl SimulatedServer {
    /// A server serving nothing.
    pub fn new() -> SimulatedServer {
        SimulatedServer::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// From now on, every request `version` of `model` serves fails.
    pub fn fail_requests_of(&self, model: &str, version: u64) {
        self.with(|s| s.failing.insert((model.to_string(), version)));
    }

    /// From now on, `version` of `model` does not load.
    pub fn refuse_to_load(&self, model: &str, version: u64) {
        self.with(|s| s.unloadable.insert((model.to_string(), version)));
    }

    /// Whether requests come at all (a quiet camera: none, so a watch has nothing to judge).
    pub fn set_quiet(&self, quiet: bool) {
        self.with(|s| s.quiet = quiet);
    }

    /// The version unversioned requests of `model` go to.
    pub fn default_version(&self, model: &str) -> Option<u64> {
        self.with(|s| s.defaults.get(model).copied())
    }

    /// The versions of `model` loaded.
    pub fn loaded(&self, model: &str) -> Vec<u64> {
        self.with(|s| {
            s.loaded
                .iter()
                .filter(|(m, _)| m == model)
                .map(|(_, v)| *v)
                .collect()
        })
    }

    /// Serves `version` of `model` as the default from the start (a device installed before).
    pub fn serve(&self, model: &str, version: u64) {
        self.with(|s| {
            s.loaded.insert((model.to_string(), version));
            s.defaults.insert(model.to_string(), version);
        });
    }

    fn load(&self, model: &str, version: u64, default: bool) -> Result<(), AgentError> {
        self.with(|s| {
            let key = (model.to_string(), version);
            if s.unloadable.contains(&key) {
                return Err(AgentError::Bundle(format!(
                    "the server cannot load it: version {version} of {model} does not load"
                )));
            }
            s.loaded.insert(key);
            if default {
                s.defaults.insert(model.to_string(), version);
            }
            Ok(())
        })
    }

    fn statistics(&self) -> String {
        self.with(|s| {
            let traffic = if s.quiet { 0 } else { REQUESTS_PER_LOOK };
            for (model, version) in &s.defaults {
                let key = (model.clone(), *version);
                let failing = s.failing.contains(&key);
                let served = s.served.entry(key).or_default();
                if failing {
                    served.failure += traffic;
                } else {
                    served.success += traffic;
                }
            }
            let mut text = String::new();
            for ((model, version), served) in &s.served {
                let labels = format!("model=\"{model}\",version=\"{version}\",protocol=\"http\",endpoint=\"infer\"");
                text += &format!("outpost_inference_requests_total{{{labels},status=\"success\"}} {}\n", served.success);
                text += &format!("outpost_inference_requests_total{{{labels},status=\"failure\"}} {}\n", served.failure);
                for le in ["0.01", "+Inf"] {
                    text += &format!("outpost_inference_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}\n", served.success);
                }
            }
            text
        })
    }
}

impl ModelServer for SimulatedServer {
    fn load_candidate(
        &self,
        model: &str,
        version: u64,
    ) -> impl Future<Output = Result<(), AgentError>> + Send {
        std::future::ready(self.load(model, version, false))
    }

    fn make_default(
        &self,
        model: &str,
        version: u64,
    ) -> impl Future<Output = Result<(), AgentError>> + Send {
        std::future::ready(self.load(model, version, true))
    }

    fn unload_version(
        &self,
        model: &str,
        version: u64,
    ) -> impl Future<Output = Result<(), AgentError>> + Send {
        self.with(|s| s.loaded.remove(&(model.to_string(), version)));
        std::future::ready(Ok(()))
    }

    fn server_version(&self) -> impl Future<Output = Result<String, AgentError>> + Send {
        std::future::ready(Ok(env!("CARGO_PKG_VERSION").to_string()))
    }

    fn ready_versions(
        &self,
        model: &str,
    ) -> impl Future<Output = Result<Vec<u64>, AgentError>> + Send {
        std::future::ready(Ok(self.loaded(model)))
    }

    fn infer(
        &self,
        model: &str,
        version: u64,
        _body: &Value,
    ) -> impl Future<Output = Result<Value, AgentError>> + Send {
        std::future::ready(Err(AgentError::Server(format!(
            "inference on {model} version {version}: a simulated server answers none"
        ))))
    }

    fn image(
        &self,
        model: &str,
        version: u64,
        _image: Vec<u8>,
    ) -> impl Future<Output = Result<Value, AgentError>> + Send {
        std::future::ready(Err(AgentError::Server(format!(
            "camera request to {model} version {version}: a simulated server answers none"
        ))))
    }

    fn metrics(&self) -> impl Future<Output = Result<String, AgentError>> + Send {
        std::future::ready(Ok(self.statistics()))
    }
}
