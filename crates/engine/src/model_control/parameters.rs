//! The parameters of a load or unload request (Triton's repository extension carries a
//! parameter map on both, over REST and gRPC), read into what the request asks for:
//!
//! - load, no parameters: the whole model, as its directory says;
//! - load `{"version": N}`: version N alone, as a *candidate* (reachable by explicit version
//!   only; unversioned requests keep going where they went);
//! - load `{"version": N, "default": true}`: version N (loaded if it is not) becomes the
//!   version unversioned requests go to, in one step: promotion and rollback;
//! - unload, no parameters: the whole model; unload `{"version": N}`: that version alone.

use crate::error::ControlError;

/// One parameter value as a front end received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    String(String),
}

/// What a load request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadTarget {
    /// The whole model directory.
    Model,
    /// One version, as a candidate.
    Candidate(u64),
    /// One version, as the default.
    Default(u64),
}

/// What an unload request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnloadTarget {
    /// The whole model.
    Model,
    /// One version.
    Version(u64),
}

fn version(value: &ParameterValue) -> Result<u64, ControlError> {
    let number = match value {
        ParameterValue::Int(n) => u64::try_from(*n).ok(),
        ParameterValue::String(text) => text.parse::<u64>().ok(),
        ParameterValue::Bool(_) => None,
    };
    number.filter(|n| *n > 0).ok_or_else(|| {
        ControlError::BadParameter(format!(
            "parameter 'version' must be a positive version number, not {value:?}"
        ))
    })
}

fn unknown(name: &str, known: &str) -> ControlError {
    ControlError::BadParameter(format!(
        "unknown parameter '{name}' (this server takes {known})"
    ))
}

impl LoadTarget {
    /// Reads a load request's parameters.
    pub fn from_parameters(
        parameters: impl IntoIterator<Item = (String, ParameterValue)>,
    ) -> Result<LoadTarget, ControlError> {
        let mut chosen = None;
        let mut make_default = false;
        for (name, value) in parameters {
            match (name.as_str(), value) {
                ("version", value) => chosen = Some(version(&value)?),
                ("default", ParameterValue::Bool(b)) => make_default = b,
                ("default", other) => {
                    return Err(ControlError::BadParameter(format!(
                        "parameter 'default' must be a boolean, not {other:?}"
                    )))
                }
                (other, _) => return Err(unknown(other, "'version' and 'default'")),
            }
        }
        match (chosen, make_default) {
            (None, false) => Ok(LoadTarget::Model),
            (None, true) => Err(ControlError::BadParameter(
                "parameter 'default' needs 'version': the version to make the default".into(),
            )),
            (Some(v), false) => Ok(LoadTarget::Candidate(v)),
            (Some(v), true) => Ok(LoadTarget::Default(v)),
        }
    }
}

impl UnloadTarget {
    /// Reads an unload request's parameters.
    pub fn from_parameters(
        parameters: impl IntoIterator<Item = (String, ParameterValue)>,
    ) -> Result<UnloadTarget, ControlError> {
        let mut target = UnloadTarget::Model;
        for (name, value) in parameters {
            match name.as_str() {
                "version" => target = UnloadTarget::Version(version(&value)?),
                // Triton's clients send this one; the server always unloads what it is asked.
                "unload_dependents" => {}
                other => return Err(unknown(other, "'version'")),
            }
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, ParameterValue)]) -> Vec<(String, ParameterValue)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn load_parameters_choose_the_target() {
        use ParameterValue::*;
        assert_eq!(
            LoadTarget::from_parameters(params(&[])),
            Ok(LoadTarget::Model)
        );
        assert_eq!(
            LoadTarget::from_parameters(params(&[("version", Int(3))])),
            Ok(LoadTarget::Candidate(3))
        );
        assert_eq!(
            LoadTarget::from_parameters(params(&[
                ("version", String("4".into())),
                ("default", Bool(true))
            ])),
            Ok(LoadTarget::Default(4))
        );
        for bad in [
            params(&[("version", Int(0))]),
            params(&[("version", Int(-2))]),
            params(&[("version", Bool(true))]),
            params(&[("version", String("x".into()))]),
            params(&[("default", Bool(true))]),
            params(&[("version", Int(2)), ("default", Int(1))]),
            params(&[("config", String("{}".into()))]),
        ] {
            let error = LoadTarget::from_parameters(bad.clone()).unwrap_err();
            assert!(matches!(error, ControlError::BadParameter(_)), "{bad:?}");
        }
    }

    #[test]
    fn unload_parameters_choose_the_target() {
        use ParameterValue::*;
        assert_eq!(
            UnloadTarget::from_parameters(params(&[("unload_dependents", Bool(false))])),
            Ok(UnloadTarget::Model)
        );
        assert_eq!(
            UnloadTarget::from_parameters(params(&[("version", Int(2))])),
            Ok(UnloadTarget::Version(2))
        );
        assert!(UnloadTarget::from_parameters(params(&[("default", Bool(true))])).is_err());
    }
}
