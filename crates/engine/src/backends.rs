//! The runtimes models can load on, in the order the binary registered them: each usable one
//! (its [`Backend`]) or why it is not, looked up by the name a model's `backend` gives. `auto`
//! picks the first usable runtime, and the choice is logged with its reason. The runtimes' keys
//! of `model.toml` are checked here too: a key no registered runtime reads is an error, and each
//! runtime checks its own keys whichever runtime ends up loading the model.

use std::sync::Arc;

use outpost_core::runtime::model_settings_of;
use outpost_core::{
    Backend, BackendError, ConfiguredRuntime, ProbeContext, ProbeError, Runtime, RuntimeChoice,
    RuntimeGauge,
};
use thiserror::Error;

/// A registered runtime as probed: its backend, or why it is not usable.
pub(crate) type Probed = (Arc<dyn Runtime>, Result<Arc<dyn Backend>, ProbeError>);

/// Each registered runtime with its settings read, ready to probe.
pub type ConfiguredRuntimes = Vec<(Arc<dyn Runtime>, Box<dyn ConfiguredRuntime>)>;

/// Reads the runtimes' own figures (for `/metrics`).
pub(crate) type RuntimeGauges = Arc<dyn Fn() -> Vec<RuntimeGauge> + Send + Sync>;

/// One registered runtime: usable (its backend) or not (why).
struct Registered {
    runtime: Arc<dyn Runtime>,
    backend: Result<Arc<dyn Backend>, Arc<ProbeError>>,
}

/// The runtimes the binary registered, as probed.
pub struct Backends {
    registered: Vec<Registered>,
}

/// Why no runtime can run a model.
#[derive(Debug, Clone, Error)]
pub enum NoRuntime {
    /// `backend` names no registered runtime.
    #[error("backend '{name}' is not a runtime this binary registers (it has: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names registered, comma-separated.
        known: String,
    },
    /// The runtime asked for is registered but not usable here.
    #[error("backend '{name}' requested but {reason}")]
    Unusable {
        /// The runtime.
        name: String,
        /// Why it is not usable.
        reason: Arc<ProbeError>,
    },
    /// `auto`, and no registered runtime is usable.
    #[error("no runtime is usable: {reasons}")]
    NoneUsable {
        /// Each runtime's reason, `; `-separated.
        reasons: String,
    },
}

/// The runtime chosen for a model, and why.
pub struct Chosen {
    /// The runtime.
    pub backend: Arc<dyn Backend>,
    /// Why it was chosen, for the load log.
    pub reason: String,
}

impl Backends {
    /// The runtimes as probed, in the binary's order.
    pub fn new(probed: Vec<Probed>) -> Backends {
        Backends {
            registered: probed
                .into_iter()
                .map(|(runtime, backend)| Registered {
                    runtime,
                    backend: backend.map_err(Arc::new),
                })
                .collect(),
        }
    }

    /// Probes each configured runtime, in order, logging those that are not usable.
    pub fn probe(configured: ConfiguredRuntimes, context: &ProbeContext) -> Backends {
        Backends::new(
            configured
                .into_iter()
                .map(|(runtime, configured)| {
                    let backend = configured.probe(context);
                    match &backend {
                        Ok(backend) => tracing::info!(
                            runtime = runtime.name(),
                            version = backend.version(),
                            "runtime usable"
                        ),
                        Err(reason) => {
                            tracing::warn!(runtime = runtime.name(), %reason, "runtime not usable");
                        }
                    }
                    (runtime, backend)
                })
                .collect(),
        )
    }

    /// The runtime for a model's `backend` setting, or why none can run it.
    pub fn choose(&self, choice: &RuntimeChoice) -> Result<Chosen, NoRuntime> {
        match choice {
            RuntimeChoice::Named(name) => {
                let registered = self
                    .registered
                    .iter()
                    .find(|r| r.runtime.name() == name)
                    .ok_or_else(|| NoRuntime::Unknown {
                        name: name.clone(),
                        known: self.names(),
                    })?;
                match &registered.backend {
                    Ok(backend) => Ok(Chosen {
                        backend: backend.clone(),
                        reason: "set in model.toml".to_string(),
                    }),
                    Err(reason) => Err(NoRuntime::Unusable {
                        name: name.clone(),
                        reason: reason.clone(),
                    }),
                }
            }
            RuntimeChoice::Auto => {
                let passed_over: Vec<&str> = self
                    .registered
                    .iter()
                    .take_while(|r| r.backend.is_err())
                    .map(|r| r.runtime.name())
                    .collect();
                let usable = self
                    .registered
                    .iter()
                    .find_map(|r| Some((r.runtime.name(), r.backend.as_ref().ok()?)));
                match usable {
                    Some((name, backend)) => Ok(Chosen {
                        backend: backend.clone(),
                        reason: if passed_over.is_empty() {
                            format!("auto: {name}, the first runtime registered, is usable")
                        } else {
                            format!("auto: {} not usable, using {name}", passed_over.join(", "))
                        },
                    }),
                    None => Err(NoRuntime::NoneUsable {
                        reasons: self
                            .registered
                            .iter()
                            .filter_map(|r| r.backend.as_ref().err())
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    }),
                }
            }
        }
    }

    /// Checks `model.toml`'s keys beyond its own: each must be read by a registered runtime,
    /// and each runtime's keys must be right for it (usable here or not).
    pub fn check_model_settings(&self, settings: &toml::Table) -> Result<(), ModelSettingsError> {
        for key in settings.keys() {
            let claimed = self
                .registered
                .iter()
                .any(|r| r.runtime.model_keys().contains(&key.as_str()));
            if !claimed {
                return Err(ModelSettingsError::UnknownKey {
                    key: key.clone(),
                    known: self.model_keys(),
                });
            }
        }
        for registered in &self.registered {
            let own = model_settings_of(registered.runtime.as_ref(), settings);
            if !own.is_empty() {
                registered.runtime.check_model_settings(&own)?;
            }
        }
        Ok(())
    }

    /// Reads what the usable runtimes report for `/metrics`.
    pub fn gauge_reader(&self) -> RuntimeGauges {
        let usable: Vec<Arc<dyn Backend>> = self
            .registered
            .iter()
            .filter_map(|r| r.backend.as_ref().ok().cloned())
            .collect();
        Arc::new(move || usable.iter().flat_map(|backend| backend.gauges()).collect())
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.registered.iter().map(|r| r.runtime.name()).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    }

    fn model_keys(&self) -> String {
        let mut known = vec!["the configuration's own keys".to_string()];
        for registered in &self.registered {
            let keys = registered.runtime.model_keys();
            if !keys.is_empty() {
                known.push(format!(
                    "{} reads {}",
                    registered.runtime.name(),
                    keys.join(", ")
                ));
            }
        }
        known.join("; ")
    }
}

/// Why a `model.toml`'s runtime keys cannot be used.
#[derive(Debug, Error)]
pub enum ModelSettingsError {
    /// A key of `model.toml` that neither the configuration nor any registered runtime reads.
    #[error("unknown key '{key}' in model.toml ({known})")]
    UnknownKey {
        /// The key.
        key: String,
        /// What the registered runtimes read.
        known: String,
    },
    /// A runtime refused its keys.
    #[error(transparent)]
    Runtime(#[from] BackendError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::{LoadRequest, LoadedModel, RuntimeIdentity, RuntimeSettings};

    struct Named(&'static str, &'static [&'static str]);

    impl Runtime for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn model_keys(&self) -> &'static [&'static str] {
            self.1
        }
        fn check_model_settings(&self, settings: &toml::Table) -> Result<(), BackendError> {
            match settings.get("level").and_then(toml::Value::as_integer) {
                Some(level) if level > 3 => Err(BackendError::Settings {
                    runtime: self.0,
                    message: "level is at most 3".into(),
                }),
                _ => Ok(()),
            }
        }
        fn configure(
            &self,
            _settings: &RuntimeSettings,
        ) -> Result<Box<dyn ConfiguredRuntime>, ProbeError> {
            unreachable!("the tests build the probed list directly")
        }
    }

    struct Usable(&'static str);

    impl Backend for Usable {
        fn identity(&self) -> RuntimeIdentity {
            RuntimeIdentity {
                backend: self.0,
                platform: self.0,
            }
        }
        fn load(&self, _request: &LoadRequest<'_>) -> Result<Box<dyn LoadedModel>, BackendError> {
            Err(BackendError::Inference("not in these tests".into()))
        }
    }

    fn unusable(name: &'static str) -> Result<Arc<dyn Backend>, ProbeError> {
        Err(ProbeError::Unusable {
            runtime: name,
            source: BackendError::LibraryUnavailable("gone".into()),
        })
    }

    fn backends(first_usable: bool) -> Backends {
        let first: Arc<dyn Runtime> = Arc::new(Named("fast", &["level"]));
        let second: Arc<dyn Runtime> = Arc::new(Named("plain", &[]));
        Backends::new(vec![
            (
                first,
                if first_usable {
                    Ok(Arc::new(Usable("fast")))
                } else {
                    unusable("fast")
                },
            ),
            (second, Ok(Arc::new(Usable("plain")))),
        ])
    }

    fn chosen(backends: &Backends, choice: &str) -> Result<&'static str, NoRuntime> {
        let choice = RuntimeChoice::try_from(choice.to_string()).unwrap();
        backends
            .choose(&choice)
            .map(|chosen| chosen.backend.identity().backend)
    }

    #[test]
    fn auto_takes_the_first_usable_runtime_and_says_why() {
        assert_eq!(chosen(&backends(true), "auto").unwrap(), "fast");
        assert_eq!(chosen(&backends(false), "auto").unwrap(), "plain");
        let reason = backends(false)
            .choose(&RuntimeChoice::Auto)
            .map(|c| c.reason)
            .unwrap_or_default();
        assert_eq!(reason, "auto: fast not usable, using plain");
    }

    #[test]
    fn a_name_finds_its_runtime_or_lists_the_known_ones() {
        assert_eq!(chosen(&backends(true), "plain").unwrap(), "plain");
        let error = chosen(&backends(false), "fast").unwrap_err();
        assert!(matches!(error, NoRuntime::Unusable { .. }), "{error}");
        assert!(error.to_string().contains("gone"), "{error}");
        let error = chosen(&backends(true), "tflite").unwrap_err();
        assert_eq!(
            error.to_string(),
            "backend 'tflite' is not a runtime this binary registers (it has: fast, plain)"
        );
        let none = Backends::new(Vec::new());
        assert!(matches!(
            none.choose(&RuntimeChoice::Auto),
            Err(NoRuntime::NoneUsable { .. })
        ));
    }

    #[test]
    fn model_keys_must_belong_to_a_runtime_that_accepts_them() {
        let table = |text: &str| -> toml::Table { toml::from_str(text).unwrap() };
        let backends = backends(false);
        assert!(backends.check_model_settings(&table("level = 2")).is_ok());
        // Checked even though `fast` is not usable here.
        let error = backends
            .check_model_settings(&table("level = 5"))
            .unwrap_err();
        assert!(error.to_string().contains("level is at most 3"), "{error}");
        let error = backends
            .check_model_settings(&table("backnd = \"fast\""))
            .unwrap_err();
        assert!(
            error.to_string().contains("unknown key 'backnd'"),
            "{error}"
        );
        assert!(error.to_string().contains("fast reads level"), "{error}");
    }
}
