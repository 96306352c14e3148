//! The server configuration: one typed structure read from a TOML file, then overridden by
//! `OUTPOST_*` environment variables and command-line flags (flags win, then the environment,
//! then the file, then the defaults). Documented field by field in docs/configuration.md.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use outpost_engine::config::{
    ControlMode, InferenceConfig, LimitsConfig, MemoryConfig, ModelControlConfig, OrtConfig,
};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format '{other}' (expected text or json)"
            )),
        }
    }
}

/// `[http]`: the REST front end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to bind.
    pub host: IpAddr,
    /// Port to bind; 0 picks a free one (printed on standard output).
    pub port: u16,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            host: IpAddr::from([0, 0, 0, 0]),
            port: 8000,
            max_body_bytes: 32 * 1024 * 1024,
        }
    }
}

/// `[grpc]`: the gRPC front end (`inference.GRPCInferenceService`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Serve gRPC at all.
    pub enabled: bool,
    /// Address to bind.
    pub host: IpAddr,
    /// Port to bind; 0 picks a free one (printed on standard output).
    pub port: u16,
    /// Largest request message accepted; larger ones get OUT_OF_RANGE before decoding.
    pub max_message_bytes: usize,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            enabled: true,
            host: IpAddr::from([0, 0, 0, 0]),
            port: 8001,
            max_message_bytes: 32 * 1024 * 1024,
        }
    }
}

/// `[metrics]`: Prometheus metrics (`GET /metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// Address of the metrics listener when `port` is set.
    pub host: IpAddr,
    /// Serve `/metrics` on this port only, instead of on the HTTP port; 0 picks a free one.
    pub port: Option<u16>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            host: IpAddr::from([0, 0, 0, 0]),
            port: None,
        }
    }
}

/// `[tls]`: TLS (rustls) on the HTTP and gRPC listeners. Off unless a certificate and its key
/// are given; then every listener named below accepts TLS only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates. When set, clients must present a certificate issued by one of them
    /// (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
    /// Serve HTTP over TLS when a certificate is configured.
    pub http: bool,
    /// Serve gRPC over TLS when a certificate is configured.
    pub grpc: bool,
    /// Seconds a client has to finish its handshake before the connection is closed.
    pub handshake_timeout_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            http: true,
            grpc: true,
            handshake_timeout_secs: 10,
        }
    }
}

impl TlsConfig {
    /// Whether a certificate (and so TLS) is configured.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err(ConfigError::Invalid(
                "tls.cert_file and tls.key_file go together: give both or neither".into(),
            ));
        }
        if self.client_ca_file.is_some() && !self.enabled() {
            return Err(ConfigError::Invalid(
                "tls.client_ca_file needs tls.cert_file and tls.key_file".into(),
            ));
        }
        if self.handshake_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "tls.handshake_timeout_secs must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `outpost_server=debug,info`. `RUST_LOG` overrides it.
    /// The default keeps ONNX Runtime's own chatter (`ort`) at warnings.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info,ort=warn".to_string(),
        }
    }
}

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Directory holding `<model>/<version>/model.onnx`.
    pub model_repository: PathBuf,
    /// When true, the server reports ready only if every model loaded (Triton's strict readiness).
    pub strict_readiness: bool,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    pub http: HttpConfig,
    pub grpc: GrpcConfig,
    pub tls: TlsConfig,
    pub metrics: MetricsConfig,
    pub memory: MemoryConfig,
    pub model_control: ModelControlConfig,
    pub limits: LimitsConfig,
    pub inference: InferenceConfig,
    pub ort: OrtConfig,
    pub log: LogConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            model_repository: PathBuf::from("models"),
            strict_readiness: false,
            shutdown_timeout_secs: 30,
            http: HttpConfig::default(),
            grpc: GrpcConfig::default(),
            tls: TlsConfig::default(),
            metrics: MetricsConfig::default(),
            memory: MemoryConfig::default(),
            model_control: ModelControlConfig::default(),
            limits: LimitsConfig::default(),
            inference: InferenceConfig::default(),
            ort: OrtConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// Values given on the command line or in `OUTPOST_*` variables; `None` leaves the file's value.
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    pub model_repository: Option<PathBuf>,
    pub http_host: Option<IpAddr>,
    pub http_port: Option<u16>,
    pub grpc_enabled: Option<bool>,
    pub grpc_host: Option<IpAddr>,
    pub grpc_port: Option<u16>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_client_ca_file: Option<PathBuf>,
    pub metrics_enabled: Option<bool>,
    pub metrics_port: Option<u16>,
    pub memory_budget_bytes: Option<u64>,
    pub evict_idle_models: Option<bool>,
    pub model_control_mode: Option<ControlMode>,
    pub model_control_token_file: Option<PathBuf>,
    pub model_control_token: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_tensor_elements: Option<usize>,
    pub max_image_bytes: Option<usize>,
    pub max_image_pixels: Option<u64>,
    pub max_concurrent_requests: Option<usize>,
    pub default_intra_op_threads: Option<usize>,
    pub max_queued_requests_per_model: Option<usize>,
    pub ort_library: Option<PathBuf>,
    pub ort_telemetry: Option<bool>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub strict_readiness: Option<bool>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The token the control endpoints require, if any: the environment's, else the file's
/// first line.
pub fn resolve_control_token(config: &ModelControlConfig) -> Result<Option<String>, ConfigError> {
    if let Some(token) = &config.token {
        return Ok(Some(token.clone()));
    }
    let Some(path) = &config.token_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "model_control.token_file {} is empty",
            path.display()
        )));
    }
    Ok(Some(token))
}

impl ServerConfig {
    /// Reads a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ServerConfig::from_toml(&text, path)
    }

    /// Parses TOML text; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<ServerConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The file's values (or the defaults without a file) with `overrides` applied, checked.
    pub fn load(
        file: Option<&Path>,
        overrides: ConfigOverrides,
    ) -> Result<ServerConfig, ConfigError> {
        let mut config = match file {
            Some(path) => ServerConfig::from_file(path)?,
            None => ServerConfig::default(),
        };
        config.apply(overrides);
        config.check()?;
        Ok(config)
    }

    fn apply(&mut self, o: ConfigOverrides) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        set(&mut self.model_repository, o.model_repository);
        set(&mut self.http.host, o.http_host);
        set(&mut self.http.port, o.http_port);
        set(&mut self.grpc.enabled, o.grpc_enabled);
        set(&mut self.grpc.host, o.grpc_host);
        set(&mut self.grpc.port, o.grpc_port);
        if o.tls_cert_file.is_some() {
            self.tls.cert_file = o.tls_cert_file;
        }
        if o.tls_key_file.is_some() {
            self.tls.key_file = o.tls_key_file;
        }
        if o.tls_client_ca_file.is_some() {
            self.tls.client_ca_file = o.tls_client_ca_file;
        }
        if o.memory_budget_bytes.is_some() {
            self.memory.budget_bytes = o.memory_budget_bytes;
        }
        set(&mut self.memory.evict_idle_models, o.evict_idle_models);
        set(&mut self.metrics.enabled, o.metrics_enabled);
        if o.metrics_port.is_some() {
            self.metrics.port = o.metrics_port;
        }
        set(&mut self.model_control.mode, o.model_control_mode);
        if o.model_control_token_file.is_some() {
            self.model_control.token_file = o.model_control_token_file;
        }
        if o.model_control_token.is_some() {
            self.model_control.token = o.model_control_token;
        }
        set(&mut self.http.max_body_bytes, o.max_body_bytes);
        set(&mut self.limits.max_tensor_elements, o.max_tensor_elements);
        set(&mut self.limits.max_image_bytes, o.max_image_bytes);
        set(&mut self.limits.max_image_pixels, o.max_image_pixels);
        set(&mut self.log.format, o.log_format);
        set(&mut self.log.level, o.log_level);
        set(&mut self.strict_readiness, o.strict_readiness);
        set(&mut self.ort.telemetry, o.ort_telemetry);
        if o.max_concurrent_requests.is_some() {
            self.inference.max_concurrent_requests = o.max_concurrent_requests;
        }
        if o.default_intra_op_threads.is_some() {
            self.inference.default_intra_op_threads = o.default_intra_op_threads;
        }
        set(
            &mut self.inference.max_queued_requests_per_model,
            o.max_queued_requests_per_model,
        );
        if o.ort_library.is_some() {
            self.ort.library_path = o.ort_library;
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.http.max_body_bytes == 0 {
            return Err(ConfigError::Invalid(
                "http.max_body_bytes must be positive".into(),
            ));
        }
        if self.grpc.max_message_bytes == 0 {
            return Err(ConfigError::Invalid(
                "grpc.max_message_bytes must be positive".into(),
            ));
        }
        self.tls.check()?;
        if self.model_control.poll_interval_secs == 0 {
            return Err(ConfigError::Invalid(
                "model_control.poll_interval_secs must be positive".into(),
            ));
        }
        if self.limits.max_tensor_elements == 0 {
            return Err(ConfigError::Invalid(
                "limits.max_tensor_elements must be positive".into(),
            ));
        }
        if self.limits.max_image_bytes == 0 || self.limits.max_image_pixels == 0 {
            return Err(ConfigError::Invalid(
                "limits.max_image_bytes and limits.max_image_pixels must be positive".into(),
            ));
        }
        if self.inference.max_concurrent_requests == Some(0)
            || self.inference.default_intra_op_threads == Some(0)
        {
            return Err(ConfigError::Invalid(
                "inference counts must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_overrides() {
        let text = r#"
            model_repository = "/srv/models"
            [http]
            port = 9000
            max_body_bytes = 1024
            [log]
            format = "json"
        "#;
        let mut config = ServerConfig::from_toml(text, Path::new("outpost.toml")).unwrap();
        assert_eq!(config.http.port, 9000);
        assert_eq!(config.log.format, LogFormat::Json);
        config.apply(ConfigOverrides {
            http_port: Some(0),
            ort_library: Some("/opt/libonnxruntime.so".into()),
            ..ConfigOverrides::default()
        });
        assert!(
            !config.ort.telemetry,
            "ONNX Runtime telemetry is off unless asked for"
        );
        assert_eq!(config.http.port, 0);
        assert_eq!(config.http.max_body_bytes, 1024);
        assert_eq!(config.model_repository, PathBuf::from("/srv/models"));
        assert_eq!(
            config.ort.library_path,
            Some(PathBuf::from("/opt/libonnxruntime.so"))
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(ServerConfig::from_toml("[http]\nprot = 1", Path::new("x")).is_err());
        assert!(ServerConfig::from_toml("modle_repository = 'x'", Path::new("x")).is_err());
        let zero = ConfigOverrides {
            max_body_bytes: Some(0),
            ..ConfigOverrides::default()
        };
        assert!(ServerConfig::load(None, zero).is_err());
    }

    #[test]
    fn tls_needs_certificate_and_key_together() {
        let only_cert = ConfigOverrides {
            tls_cert_file: Some("/etc/outpost/server.pem".into()),
            ..ConfigOverrides::default()
        };
        assert!(ServerConfig::load(None, only_cert).is_err());
        let only_client_ca = ConfigOverrides {
            tls_client_ca_file: Some("/etc/outpost/clients.pem".into()),
            ..ConfigOverrides::default()
        };
        assert!(ServerConfig::load(None, only_client_ca).is_err());
        let both = ConfigOverrides {
            tls_cert_file: Some("/etc/outpost/server.pem".into()),
            tls_key_file: Some("/etc/outpost/server.key".into()),
            ..ConfigOverrides::default()
        };
        let config = ServerConfig::load(None, both).unwrap();
        assert!(config.tls.enabled() && config.tls.http && config.tls.grpc);
        assert!(!ServerConfig::default().tls.enabled());
    }
}
