//! Why a setting's text could not be used: a key that names no setting, a value its type does
//! not read, a choice that is not one of those offered.

use thiserror::Error;

/// A value that is not one of a setting's choices.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {what} '{value}' (expected {expected})")]
pub struct UnknownChoice {
    /// What the setting chooses (`log format`).
    pub what: &'static str,
    /// The value given.
    pub value: String,
    /// The choices, as a sentence (`text or json`).
    pub expected: &'static str,
}

/// Why a setting could not be set from a flag's or variable's text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SettingError {
    /// The key names no setting.
    #[error("no setting '{0}'")]
    NoSuchSetting(String),
    /// The key is below a table that only the configuration file sets.
    #[error("[{0}] is set in the configuration file only")]
    FileOnly(&'static str),
    /// A path setting was given an empty text.
    #[error("an empty path")]
    EmptyPath,
    /// Not one of the setting's choices.
    #[error(transparent)]
    Choice(#[from] UnknownChoice),
    /// The setting's type does not read the text (its parser's reason: a number out of range).
    #[error("{0}")]
    Unreadable(String),
    /// A given setting, with its key and text, and why it could not be used.
    #[error("{key} = '{text}': {reason}")]
    Given {
        /// The setting's key.
        key: String,
        /// The text given.
        text: String,
        /// Why.
        reason: Box<SettingError>,
    },
}

impl SettingError {
    /// The error of a type's `FromStr`: a choice stays a choice, anything else keeps its words.
    pub fn from_parse<E: std::fmt::Display + 'static>(error: E) -> SettingError {
        let any: &dyn std::any::Any = &error;
        match any.downcast_ref::<UnknownChoice>() {
            Some(choice) => SettingError::Choice(choice.clone()),
            None => SettingError::Unreadable(error.to_string()),
        }
    }
}
