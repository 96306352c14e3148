//! The agent's configuration: one typed structure read from a TOML file, then overridden by
//! `OUTPOST_*` environment variables and command-line flags (flags win), each setting declared
//! once below with its type, default, doc and flag, as the server's are. docs/agent.md is
//! checked against these declarations by a test.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use outpost_settings::flags::SettingOverrides;
use outpost_settings::logging::LogConfig;
use outpost_settings::settings_section;
use outpost_storage::StorageSettings;

/// The environment variable holding the server's control token, as the server reads it.
pub const CONTROL_TOKEN_ENV: &str = "OUTPOST_CONTROL_TOKEN";

settings_section! {
    /// `[repository]`: the signed bundle repository and how it is reached.
    #[derive(Debug)]
    pub struct RepositoryConfig {
        /// Repository URL: s3://bucket/prefix, gs://, az://, http(s)://, file:// or a folder.
        url: String = String::new(), flag "repository", shown "required";
        /// The TUF root.json this device trusts (the publisher's metadata/1.root.json).
        trusted_root: PathBuf = PathBuf::from("root.json"), flag "trusted-root";
        /// Seconds between checks for new bundles while all is well.
        poll_interval_secs: u64 = 60, flag "poll-interval-secs";
        /// Longest wait between retries while the repository cannot be reached (exponential
        /// backoff from the poll interval, with jitter).
        max_backoff_secs: u64 = 900;
        /// Longest wait for a connection to the repository.
        connect_timeout_secs: u64 = 5;
        /// Longest a whole request to the repository may take, body included; a download cut
        /// by it continues from where it stopped.
        request_timeout_secs: u64 = 600;
        /// Longest wait for the next bytes from the repository: a stalled transfer is
        /// abandoned after it and resumed at the next attempt.
        stall_timeout_secs: u64 = 30, flag "repository-stall-timeout-secs";
        /// Retries of a failed request within one attempt.
        max_retries: usize = 2;
        /// Download at most this many bytes per second (none: no cap).
        bandwidth_bytes_per_sec: Option<u64> = None, flag "bandwidth-bytes-per-sec";
    }
}

settings_section! {
    /// `[server]`: the Outpost server the agent installs for, reached only through its public
    /// API. It must run with `model_control.mode = explicit`.
    #[derive(Debug)]
    pub struct ServerLinkConfig {
        /// The server's HTTP address.
        url: String = "http://127.0.0.1:8000".to_string(), flag "server";
        /// The server's Prometheus endpoint, when it is on its own port.
        metrics_url: Option<String> = None, flag "server-metrics", shown "<server>/metrics";
        /// A file whose first line is the server's control token (OUTPOST_CONTROL_TOKEN, when
        /// set, wins).
        control_token_file: Option<PathBuf> = None, flag "control-token-file";
        /// Longest wait for one request to the server (loading a model takes a while).
        request_timeout_secs: u64 = 120;
    }
}

settings_section! {
    /// `[watch]`: how a promoted version is watched before it counts as good.
    #[derive(Debug)]
    pub struct WatchConfig {
        /// Seconds a promoted version is watched; 0 skips the watch.
        window_secs: u64 = 300, flag "watch-window-secs";
        /// Seconds between looks at the server's statistics during the watch.
        sample_secs: u64 = 5;
        /// Requests the new version must have answered before its figures are judged.
        min_requests: u64 = 20, flag "watch-min-requests";
        /// A watch that has not seen `min_requests` when `window_secs` ends goes on until this
        /// many seconds after the promotion (a quiet camera), then follows `on_quiet`.
        max_window_secs: u64 = 3600;
        /// What a watch that never saw `min_requests` does: `keep` the version (recorded as
        /// not judged, never as passed) or `roll_back` to the last known good one.
        on_quiet: QuietPolicy = QuietPolicy::Keep;
        /// Roll back when the new version's failed share of requests exceeds the previous
        /// version's by more than this many percentage points.
        max_error_rate_increase_percent: u32 = 2;
        /// Roll back when the new version's p99 latency exceeds the previous version's by more
        /// than this many percent.
        max_p99_increase_percent: u32 = 50;
    }
}

/// What a watch that never saw enough requests to judge does (`watch.on_quiet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuietPolicy {
    /// Keep the version, recorded as not judged; the previous good version stays the one to go
    /// back to.
    #[default]
    Keep,
    /// Go back to the last known good version.
    RollBack,
}

impl std::str::FromStr for QuietPolicy {
    type Err = outpost_settings::UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "keep" => Ok(QuietPolicy::Keep),
            "roll_back" => Ok(QuietPolicy::RollBack),
            other => Err(outpost_settings::UnknownChoice {
                what: "watch.on_quiet",
                value: other.to_string(),
                expected: "keep or roll_back",
            }),
        }
    }
}

impl std::fmt::Display for QuietPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuietPolicy::Keep => "keep",
            QuietPolicy::RollBack => "roll_back",
        })
    }
}

outpost_settings::setting_value_from_str!(QuietPolicy);

settings_section! {
    /// `[status]`: the agent's own `GET /status` and `GET /metrics`.
    #[derive(Debug)]
    pub struct StatusConfig {
        /// Address to bind the status listener to.
        host: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST), flag "status-host";
        /// Port of the status listener; 0 picks a free port (printed on standard output).
        port: u16 = 8003, flag "status-port";
        /// Where this device also writes its status, as `<device_id>.json`: any object store
        /// URL (s3://bucket/fleet/status/, gs://, az://, file://, a folder); none: nowhere.
        url: Option<String> = None, flag "status-url";
        /// Seconds between status writes while nothing changes (a change is written at once).
        heartbeat_secs: u64 = 900, flag "status-heartbeat-secs";
    }
}

settings_section! {
    /// The whole agent configuration.
    #[derive(Debug)]
    pub struct AgentConfig {
        /// The model repository the server serves from; versions are installed here.
        model_repository: PathBuf = PathBuf::from("models"), flag "model-repository";
        /// Where the agent keeps its state, downloads and TUF metadata (same filesystem as the
        /// model repository is best: nothing is copied between them).
        state_dir: Option<PathBuf> = None, flag "state-dir", shown "<model_repository>/.outpost-agent";
        /// Seconds to let the step in progress finish after SIGTERM before it is abandoned
        /// (an abandoned step is resumed or undone at the next start).
        shutdown_timeout_secs: u64 = 20;
        /// Refuse a bundle without golden cases: nothing would check its version before it
        /// takes traffic. `false` installs such a bundle once the server has loaded it.
        require_golden_cases: bool = true, flag "require-golden-cases";
        /// This device's name in the fleet (letters, digits, `.`, `_`, `-`; at most 128): the
        /// name of its status object and the source of its place in rollouts' waves.
        device_id: Option<String> = None, flag "device-id", shown "the machine id (/etc/machine-id), else one made once and kept in the state folder";
    }
    sections {
        /// `[repository]`: the signed bundle repository.
        repository: RepositoryConfig,
        /// `[server]`: the server the agent installs for.
        server: ServerLinkConfig,
        /// `[watch]`: watching a promoted version.
        watch: WatchConfig,
        /// `[status]`: the agent's status listener.
        status: StatusConfig,
        /// `[log]`: logging.
        log: LogConfig,
    }
}

pub use outpost_settings::ConfigError;

/// Where the machine id is read from when `device_id` is not set.
const MACHINE_ID: &str = "/etc/machine-id";

/// A device id names an object: letters, digits, `.`, `_` and `-`, 1 to 128 of them, not
/// starting with a dot.
pub(crate) fn check_device_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > 128 || id.starts_with('.') || !id.chars().all(allowed) {
        return Err(format!(
            "device id {id:?} must be 1 to 128 letters, digits, '.', '_' or '-', not starting with '.'"
        ));
    }
    Ok(())
}

impl AgentConfig {
    /// The file's values (or the defaults) with `overrides` applied, checked.
    pub fn load(
        file: Option<&Path>,
        overrides: &SettingOverrides,
    ) -> Result<AgentConfig, ConfigError> {
        let config: AgentConfig = outpost_settings::file::load(file, overrides)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.repository.url.trim().is_empty() {
            return invalid("repository.url (--repository) is required");
        }
        if self.repository.poll_interval_secs == 0 || self.repository.max_backoff_secs == 0 {
            return invalid("repository.poll_interval_secs and max_backoff_secs must be positive");
        }
        if self.repository.connect_timeout_secs == 0 || self.repository.request_timeout_secs == 0 {
            return invalid("repository timeouts must be positive");
        }
        if self.repository.bandwidth_bytes_per_sec == Some(0) {
            return invalid("repository.bandwidth_bytes_per_sec must be positive when set");
        }
        if self.watch.sample_secs == 0 || self.server.request_timeout_secs == 0 {
            return invalid("watch.sample_secs and server.request_timeout_secs must be positive");
        }
        if self.status.heartbeat_secs == 0 {
            return invalid("status.heartbeat_secs must be positive");
        }
        if let Some(id) = &self.device_id {
            check_device_id(id).map_err(ConfigError::Invalid)?;
        }
        Ok(())
    }

    /// This device's id: `device_id`, else the machine id (`/etc/machine-id`).
    pub fn device_id(&self) -> Result<String, ConfigError> {
        if let Some(id) = &self.device_id {
            return Ok(id.clone());
        }
        let machine_id = std::fs::read_to_string(MACHINE_ID)
            .map(|text| text.trim().to_string())
            .map_err(|e| {
                ConfigError::Invalid(format!(
                    "device_id (--device-id) is not set and {MACHINE_ID} cannot be read ({e})"
                ))
            })?;
        check_device_id(&machine_id).map_err(|problem| {
            ConfigError::Invalid(format!(
                "{MACHINE_ID}: {problem}; set device_id (--device-id)"
            ))
        })?;
        Ok(machine_id)
    }

    /// The state folder.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.model_repository.join(".outpost-agent"))
    }

    /// How the repository is reached.
    pub fn storage_settings(&self) -> StorageSettings {
        let r = &self.repository;
        StorageSettings {
            connect_timeout: Duration::from_secs(r.connect_timeout_secs),
            request_timeout: Duration::from_secs(r.request_timeout_secs),
            stall_timeout: Duration::from_secs(r.stall_timeout_secs),
            max_retries: r.max_retries,
            retry_timeout: Duration::from_secs(r.stall_timeout_secs),
        }
    }

    /// The server's control token: OUTPOST_CONTROL_TOKEN's, else the first line of
    /// `server.control_token_file`, else none.
    pub fn control_token(&self) -> Result<Option<String>, ConfigError> {
        outpost_settings::file::secret(
            CONTROL_TOKEN_ENV,
            self.server.control_token_file.as_deref(),
            "server.control_token_file",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(pairs: &[(&str, &str)]) -> SettingOverrides {
        SettingOverrides::from_pairs(pairs)
    }

    #[test]
    fn the_repository_is_required_and_flags_win() {
        assert!(AgentConfig::load(None, &overrides(&[])).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(
            &file,
            "model_repository = '/srv/models'\n[repository]\nurl = 's3://a/b'\npoll_interval_secs = 30\n",
        )
        .unwrap();
        let config = AgentConfig::load(
            Some(&file),
            &overrides(&[("repository.poll_interval_secs", "5")]),
        )
        .unwrap();
        assert_eq!(config.repository.poll_interval_secs, 5);
        assert_eq!(config.repository.url, "s3://a/b");
        assert_eq!(
            config.state_dir(),
            PathBuf::from("/srv/models/.outpost-agent")
        );
        std::fs::write(&file, "[repository]\nurl = 's3://a/b'\nurll = 1\n").unwrap();
        assert!(AgentConfig::load(Some(&file), &overrides(&[])).is_err());
        let zero = overrides(&[
            ("repository.url", "file:///r"),
            ("repository.poll_interval_secs", "0"),
        ]);
        assert!(AgentConfig::load(None, &zero).is_err());
    }

    #[test]
    fn device_ids_name_an_object_safely() {
        for good in ["cam-01", "site3.door_2", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"] {
            assert!(check_device_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "../x", "cam 1", &"x".repeat(129)] {
            assert!(check_device_id(bad).is_err(), "{bad}");
        }
        let set = overrides(&[("repository.url", "file:///r"), ("device_id", "a/b")]);
        assert!(AgentConfig::load(None, &set).is_err());
    }

    /// docs/agent.md against the settings as declared: every setting has its row with its
    /// flag, environment variable and default, and every row is a setting.
    #[test]
    fn every_agent_setting_is_documented() {
        use outpost_settings::Section;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/agent.md");
        let text = std::fs::read_to_string(path).unwrap();
        let problems = outpost_settings::docs::table_problems(&text, &AgentConfig::settings());
        assert!(
            problems.is_empty(),
            "docs/agent.md:\n{}",
            problems.join("\n")
        );
    }
}
