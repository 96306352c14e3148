//! A parsed `model.toml` checked as a whole: counts at least one, the sections' own checks,
//! the files it names inside the model directory, the model file a plain name inside the
//! version directory.

use std::path::PathBuf;

use super::{
    stays_inside_model_dir, DynamicBatchingConfig, ModelConfig, ModelConfigError, VersionPolicy,
};
use crate::image_config::{PostprocessConfig, PreprocessConfig};

impl ModelConfig {
    pub(super) fn check(&self) -> Result<(), ModelConfigError> {
        if self.instances == Some(0) {
            return Err(ModelConfigError::Invalid(
                "instances must be at least 1".into(),
            ));
        }
        if self.threads.intra_op == Some(0) || self.threads.inter_op == Some(0) {
            return Err(ModelConfigError::Invalid(
                "thread counts must be at least 1 (leave them out to derive them from the CPUs)"
                    .into(),
            ));
        }
        if let Some(problem) = self
            .dynamic_batching
            .as_ref()
            .and_then(DynamicBatchingConfig::problems)
        {
            return Err(ModelConfigError::Invalid(problem));
        }
        if let Some(problem) = self
            .upstream
            .as_ref()
            .and_then(|u| u.problems().into_iter().next())
        {
            return Err(ModelConfigError::Invalid(problem));
        }
        if let VersionPolicy::Latest(0) = self.version_policy {
            return Err(ModelConfigError::Invalid(
                "version_policy latest must be at least 1".into(),
            ));
        }
        if let Some(problem) = self
            .preprocess
            .as_ref()
            .and_then(PreprocessConfig::problems)
        {
            return Err(ModelConfigError::Invalid(problem));
        }
        if let Some(problem) = self
            .postprocess
            .as_ref()
            .and_then(PostprocessConfig::problems)
        {
            return Err(ModelConfigError::Invalid(problem));
        }
        let named_files = self
            .labels
            .iter()
            .map(PathBuf::as_path)
            .chain(self.postprocess.iter().flat_map(PostprocessConfig::files));
        for file in named_files {
            if !stays_inside_model_dir(file) {
                return Err(ModelConfigError::Invalid(format!(
                    "{} must be a relative path inside the model directory",
                    file.display()
                )));
            }
        }
        if self.model_filename.contains('/') || self.model_filename.contains("..") {
            return Err(ModelConfigError::Invalid(
                "model_filename must be a plain file name inside the version directory".into(),
            ));
        }
        Ok(())
    }
}
