//! Reading `model.toml`: from a model directory (a missing file reads as empty), from text,
//! and over the server's `[upstream]`, which the model's own `[upstream]` overrides key by key.

use std::path::Path;

use super::{ModelConfig, ModelConfigError, MODEL_CONFIG_FILE};
use crate::upstream::UpstreamConfig;

impl ModelConfig {
    /// Reads `<model_dir>/model.toml`, or the defaults when the file does not exist.
    pub fn load_from_dir(model_dir: &Path) -> Result<ModelConfig, ModelConfigError> {
        ModelConfig::load_from_dir_over(model_dir, None)
    }

    /// Reads `<model_dir>/model.toml` (a missing file reads as empty) over the server's
    /// `[upstream]`, when it has one, as [`ModelConfig::parse_over`] does.
    pub fn load_from_dir_over(
        model_dir: &Path,
        server_upstream: Option<&UpstreamConfig>,
    ) -> Result<ModelConfig, ModelConfigError> {
        let path = model_dir.join(MODEL_CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ModelConfigError::Read { path, source }),
        };
        match server_upstream {
            None => ModelConfig::parse(&text, &path),
            Some(server_upstream) => ModelConfig::parse_over(&text, &path, server_upstream),
        }
    }

    /// Parses TOML text over the server's `[upstream]`, merged under the model's own as
    /// [`super::upstream_merge`] says.
    pub fn parse_over(
        text: &str,
        path: &Path,
        server_upstream: &UpstreamConfig,
    ) -> Result<ModelConfig, ModelConfigError> {
        let parse_error = |message: String| ModelConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        super::upstream_merge::merge_server_upstream(&mut table, server_upstream)
            .map_err(parse_error)?;
        let config: ModelConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Parses TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<ModelConfig, ModelConfigError> {
        let config: ModelConfig = toml::from_str(text).map_err(|e| ModelConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }
}
