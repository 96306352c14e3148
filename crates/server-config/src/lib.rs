//! The server configuration: one typed structure read from a TOML file, then overridden by
//! `OUTPOST_*` environment variables and command-line flags (flags win, then the environment,
//! then the file, then the defaults). Each setting is declared once, in its section below or in
//! the engine's (`outpost_engine::config`): its type, default, doc and flag, from which the
//! environment variable's name follows ([`flags`] turns them into command-line arguments).
//! docs/configuration.md is checked against these declarations by a test. Its own crate, apart
//! from the server's listeners and wiring, so that what reads untrusted text (the file) builds
//! alone, as its fuzz target does.

mod control_exposure;
pub mod flags;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use outpost_settings::settings_section;

pub use outpost_engine::config::{
    ControlMode, InferenceConfig, LimitsConfig, MemoryConfig, ModelControlConfig,
};

/// The environment variable holding the control token itself. Environment only, never a flag
/// or the file, so it stays out of process listings and configuration files.
pub const CONTROL_TOKEN_ENV: &str = "OUTPOST_CONTROL_TOKEN";

const ANY_ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

settings_section! {
    /// `[http]`: the REST front end.
    #[derive(Debug)]
    pub struct HttpConfig {
        /// Address to bind the HTTP server to.
        host: IpAddr = ANY_ADDRESS, flag "http-host";
        /// HTTP port; 0 picks a free port (printed on standard output).
        port: u16 = 8000, flag "http-port";
        /// Largest request body in bytes; larger ones get 413.
        max_body_bytes: usize = 32 * 1024 * 1024, flag "max-body-bytes";
    }
}

settings_section! {
    /// `[connections]`: what a client connection may hold, on every listener (HTTP, gRPC,
    /// metrics): slow, silent and idle clients are closed (counted in /metrics).
    #[derive(Debug)]
    pub struct ConnectionsConfig {
        /// Open connections per listener; further ones wait in the kernel's queue until one
        /// closes.
        max_connections: usize = 512, flag "max-connections";
        /// Seconds a client has to send a whole request head: from the accept for the first
        /// request (HTTP/2: the first request's headers), from its first byte for later ones.
        header_read_timeout_secs: u64 = 10, flag "header-read-timeout-secs";
        /// Seconds a connection may wait for its next request after an answer.
        idle_timeout_secs: u64 = 60, flag "idle-timeout-secs";
        /// Seconds an answer may wait for the client to read it.
        send_timeout_secs: u64 = 30;
        /// Seconds a request body has to arrive, extended by one second for every
        /// `body_min_bytes_per_sec` bytes that arrived; a slower body is cut (408 over HTTP).
        body_timeout_secs: u64 = 20;
        /// The pace a request body must keep beyond `body_timeout_secs`, in bytes a second.
        body_min_bytes_per_sec: u64 = 1000;
    }
}

impl ConnectionsConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max_connections", self.max_connections as u64),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("send_timeout_secs", self.send_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("body_min_bytes_per_sec", self.body_min_bytes_per_sec),
        ];
        match positive.iter().find(|(_, value)| *value == 0) {
            Some((name, _)) => Err(ConfigError::Invalid(format!(
                "connections.{name} must be positive"
            ))),
            None => Ok(()),
        }
    }
}

settings_section! {
    /// `[grpc]`: the gRPC front end (`inference.GRPCInferenceService`).
    #[derive(Debug)]
    pub struct GrpcConfig {
        /// Serve gRPC (inference.GRPCInferenceService) on its own port.
        enabled: bool = true, flag "grpc-enabled";
        /// Address to bind the gRPC server to.
        host: IpAddr = ANY_ADDRESS, flag "grpc-host";
        /// gRPC port; 0 picks a free port (printed on standard output).
        port: u16 = 8001, flag "grpc-port";
        /// Largest request message accepted; larger ones get OUT_OF_RANGE before decoding.
        max_message_bytes: usize = 32 * 1024 * 1024;
    }
}

settings_section! {
    /// `[metrics]`: Prometheus metrics (`GET /metrics`).
    #[derive(Debug)]
    pub struct MetricsConfig {
        /// Serve Prometheus metrics on /metrics.
        enabled: bool = true, flag "metrics-enabled";
        /// Address of the metrics listener when `port` is set.
        host: IpAddr = ANY_ADDRESS;
        /// Serve /metrics on this port instead of the HTTP port; 0 picks a free port.
        port: Option<u16> = None, flag "metrics-port";
    }
}

settings_section! {
    /// `[status_page]`: the read-only status page at `/` (docs/status-page.md).
    #[derive(Debug)]
    pub struct StatusPageConfig {
        /// Serve the status page at / and its figures at /status/data.
        enabled: bool = true, flag "status-page";
        /// The `/status` URL of an agent beside the server; the server fetches it for the page.
        agent_status_url: Option<String> = None, flag "agent-status-url";
    }
}

impl StatusPageConfig {
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.agent_status_url {
            let scheme = url.split_once("://").map(|(scheme, _)| scheme);
            if !matches!(scheme, Some("http" | "https")) || url.len() > 2048 {
                return Err(ConfigError::Invalid(format!(
                    "status_page.agent_status_url must be an http:// or https:// URL, such as http://127.0.0.1:8003/status (got {url:?})"
                )));
            }
        }
        Ok(())
    }
}

settings_section! {
    /// `[tls]`: TLS (rustls) on the HTTP and gRPC listeners. Off unless a certificate and its key
    /// are given; then every listener named below accepts TLS only.
    #[derive(Debug)]
    pub struct TlsConfig {
        /// PEM certificate chain, the server's certificate first; with the key, the HTTP and gRPC
        /// listeners accept TLS only.
        cert_file: Option<PathBuf> = None, flag "tls-cert";
        /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
        key_file: Option<PathBuf> = None, flag "tls-key";
        /// PEM CA certificates clients must present a certificate from (mutual TLS).
        client_ca_file: Option<PathBuf> = None, flag "tls-client-ca";
        /// Serve HTTP over TLS when a certificate is configured.
        http: bool = true;
        /// Serve gRPC over TLS when a certificate is configured.
        grpc: bool = true;
        /// Seconds a client has to finish its handshake before the connection is closed.
        handshake_timeout_secs: u64 = 10;
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

settings_section! {
    /// The whole server configuration.
    #[derive(Debug)]
    pub struct ServerConfig {
        /// Model repository: <dir>/<model>/<version>/model.onnx.
        model_repository: PathBuf = PathBuf::from("models"), flag "model-repository";
        /// Report ready only when every model loaded (Triton's strict readiness).
        strict_readiness: bool = false, flag "strict-readiness";
        /// Seconds to let in-flight requests finish after SIGTERM/SIGINT.
        shutdown_timeout_secs: u64 = 30;
    }
    sections {
        /// `[http]`: the REST front end.
        http: HttpConfig,
        /// `[grpc]`: the gRPC front end.
        grpc: GrpcConfig,
        /// `[connections]`: limits on client connections.
        connections: ConnectionsConfig,
        /// `[tls]`: TLS on both listeners.
        tls: TlsConfig,
        /// `[metrics]`: Prometheus metrics.
        metrics: MetricsConfig,
        /// `[status_page]`: the status page.
        status_page: StatusPageConfig,
        /// `[memory]`: the memory budget.
        memory: MemoryConfig,
        /// `[model_control]`: loading and unloading models after start.
        model_control: ModelControlConfig,
        /// `[limits]`: bounds on what one request may ask for.
        limits: LimitsConfig,
        /// `[inference]`: how requests are executed.
        inference: InferenceConfig,
        /// `[log]`: logging.
        log: LogConfig,
        /// `[outbox]`: store-and-forward of answered requests.
        outbox: OutboxConfig,
    }
    tables {
        /// `[upstream]`: the upstream every model has, with the keys of `[upstream]` in
        /// `model.toml`; a model's own `[upstream]` replaces them key by key.
        upstream: Option<UpstreamConfig>,
    }
}

pub use outpost_core::upstream::UpstreamConfig;

pub use outpost_outbox::OutboxConfig;
pub use outpost_settings::flags::SettingOverrides;
pub use outpost_settings::logging::{LogConfig, LogFormat};

pub use outpost_settings::ConfigError;

/// The runtimes' own sections (`[ort]`), by name, as the file gives them.
pub type RuntimeSections = std::collections::BTreeMap<String, toml::Table>;

/// The token the control endpoints require, if any: `OUTPOST_CONTROL_TOKEN`'s, else the first
/// line of `model_control.token_file`.
pub fn resolve_control_token(config: &ModelControlConfig) -> Result<Option<String>, ConfigError> {
    outpost_settings::file::secret(
        CONTROL_TOKEN_ENV,
        config.token_file.as_deref(),
        "model_control.token_file",
    )
}

impl ServerConfig {
    /// Parses TOML text; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<ServerConfig, ConfigError> {
        outpost_settings::file::parse_toml(text, path)
    }

    /// The file's values (or the defaults without a file) with `overrides` applied, checked.
    pub fn load(
        file: Option<&Path>,
        overrides: &SettingOverrides,
    ) -> Result<ServerConfig, ConfigError> {
        let config: ServerConfig = outpost_settings::file::load(file, overrides)?;
        config.check()?;
        Ok(config)
    }

    /// [`ServerConfig::load`], leaving out the sections of the runtimes named in `runtimes`
    /// (`[ort]`) and the overrides below them, which are returned for the runtimes to read.
    pub fn load_with_runtimes(
        file: Option<&Path>,
        overrides: &SettingOverrides,
        runtimes: &[&str],
    ) -> Result<(ServerConfig, RuntimeSections), ConfigError> {
        let (config, sections): (ServerConfig, _) =
            outpost_settings::file::load_with_plug_ins(file, overrides, runtimes)?;
        config.check()?;
        Ok((config, sections))
    }

    /// [`ServerConfig::load_with_runtimes`] over the file's text; `path` only names it in
    /// errors.
    pub fn parse_with_runtimes(
        text: &str,
        path: &Path,
        overrides: &SettingOverrides,
        runtimes: &[&str],
    ) -> Result<(ServerConfig, RuntimeSections), ConfigError> {
        let (config, sections): (ServerConfig, _) =
            outpost_settings::file::parse_with_plug_ins(Some((text, path)), overrides, runtimes)?;
        config.check()?;
        Ok((config, sections))
    }

    #[cfg(test)]
    fn apply(&mut self, overrides: &SettingOverrides) -> Result<(), ConfigError> {
        overrides.apply_to(self).map_err(ConfigError::from)
    }

    /// Refuses values out of range or that contradict each other.
    pub fn check(&self) -> Result<(), ConfigError> {
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
        self.connections.check()?;
        self.status_page.check()?;
        if let Some(problem) = self
            .upstream
            .as_ref()
            .and_then(|u| u.problems().into_iter().next())
        {
            return Err(ConfigError::Invalid(format!("[upstream]: {problem}")));
        }
        if let Some(problem) = self.outbox.problems() {
            return Err(ConfigError::Invalid(problem));
        }
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

    fn overrides(pairs: &[(&str, &str)]) -> SettingOverrides {
        SettingOverrides::from_pairs(pairs)
    }

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
        config.apply(&overrides(&[("http.port", "0")])).unwrap();
        assert_eq!(config.http.port, 0);
        assert_eq!(config.http.max_body_bytes, 1024);
        assert_eq!(config.model_repository, PathBuf::from("/srv/models"));
    }

    #[test]
    fn a_runtime_s_section_and_flags_are_left_to_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("outpost.toml");
        std::fs::write(&file, "[http]\nport = 9000\n[npu]\ncores = 2\n").unwrap();
        let given = overrides(&[("npu.cores", "4"), ("http.port", "0")]);
        let (config, sections) =
            ServerConfig::load_with_runtimes(Some(&file), &given, &["npu"]).unwrap();
        assert_eq!(config.http.port, 0);
        assert_eq!(sections["npu"]["cores"].as_integer(), Some(2));
        // Without the runtime registered, its section is an unknown key.
        let error = ServerConfig::load_with_runtimes(Some(&file), &given, &[]).unwrap_err();
        assert!(error.to_string().contains("npu"), "{error}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(ServerConfig::from_toml("[http]\nprot = 1", Path::new("x")).is_err());
        assert!(ServerConfig::from_toml("modle_repository = 'x'", Path::new("x")).is_err());
        assert!(ServerConfig::load(None, &overrides(&[("http.max_body_bytes", "0")])).is_err());
        assert!(ServerConfig::load(None, &overrides(&[("http.port", "eighty")])).is_err());
    }

    #[test]
    fn an_upstream_for_every_model_comes_from_the_file_only() {
        let path = Path::new("outpost.toml");
        let text = "[upstream]\nurl = \"grpc://cloud:8001\"\npolicy = \"prefer_upstream\"";
        let config = ServerConfig::from_toml(text, path).unwrap();
        config.check().unwrap();
        let upstream = config.upstream.as_ref().unwrap();
        assert_eq!(upstream.url, "grpc://cloud:8001");
        assert_eq!(upstream.timeout_ms, 500);
        assert!(ServerConfig::default().upstream.is_none());
        assert!(
            ServerConfig::from_toml("[upstream]\nurl = \"http://c\"\nbogus = 1", path).is_err()
        );
        let wrong = ServerConfig::from_toml("[upstream]\nurl = \"ftp://c\"", path).unwrap();
        assert!(wrong
            .check()
            .unwrap_err()
            .to_string()
            .contains("[upstream]"));
        let mut flagged = ServerConfig::default();
        let refused = flagged
            .apply(&overrides(&[("upstream.url", "http://c")]))
            .unwrap_err();
        assert!(refused.to_string().contains("file only"), "{refused}");
    }

    #[test]
    fn tls_needs_certificate_and_key_together() {
        let only_cert = overrides(&[("tls.cert_file", "/etc/outpost/server.pem")]);
        assert!(ServerConfig::load(None, &only_cert).is_err());
        let only_client_ca = overrides(&[("tls.client_ca_file", "/etc/outpost/clients.pem")]);
        assert!(ServerConfig::load(None, &only_client_ca).is_err());
        let both = overrides(&[
            ("tls.cert_file", "/etc/outpost/server.pem"),
            ("tls.key_file", "/etc/outpost/server.key"),
        ]);
        let config = ServerConfig::load(None, &both).unwrap();
        assert!(config.tls.enabled() && config.tls.http && config.tls.grpc);
        assert!(!ServerConfig::default().tls.enabled());
    }
}
