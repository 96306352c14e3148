//! The `[log]` section shared by Outpost's commands (line format and filter) and the
//! structured logging it sets up: text or JSON lines on standard error, filtered by the
//! configured level or `RUST_LOG`.

use std::io::IsTerminal;

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::settings_section;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = crate::UnknownChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(crate::UnknownChoice {
                what: "log format",
                value: other.to_string(),
                expected: "text or json",
            }),
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

crate::setting_value_from_str!(LogFormat);

settings_section! {
    /// `[log]`.
    #[derive(Debug)]
    pub struct LogConfig {
        /// Log format: text or json lines on standard error.
        format: LogFormat = LogFormat::Text, flag "log-format";
        /// A tracing filter, e.g. info or outpost_engine=debug,info; RUST_LOG overrides it. The
        /// default keeps ONNX Runtime's own chatter (ort) at warnings.
        level: String = "info,ort=warn".to_string(), flag "log-level";
    }
}

/// Installs the global subscriber. Calling it twice leaves the first one in place.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
