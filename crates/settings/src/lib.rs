//! Settings declared once. A section of the configuration is written with [`settings_section!`]:
//! each field with its type, its default, its doc comment and, when it has one, its
//! command-line flag. From that one declaration follow the TOML schema (a serde struct that
//! rejects unknown keys, defaults included), the flag and its `OUTPOST_*` environment variable
//! (derived from the flag's name), the `[default: ...]` shown in help, setting a value from a
//! flag's text ([`Section::set`]), and the list of settings ([`Section::settings`]) that the
//! documentation is checked against.

pub mod docs;
mod error;
pub mod file;
pub mod flags;
pub mod logging;

pub use error::{SettingError, UnknownChoice};
pub use file::ConfigError;

use std::net::IpAddr;
use std::path::PathBuf;

/// One setting, as declared.
#[derive(Debug, Clone)]
pub struct Setting {
    /// Its key in the TOML file, dotted below the top level (`http.port`).
    pub key: String,
    /// Its command-line flag without the dashes (`http-port`), when it has one.
    pub flag: Option<&'static str>,
    /// Its default, as written in the documentation (`8000`, `none`, or words).
    pub default: String,
    /// Its doc comment.
    pub doc: String,
    /// Checks a flag's or variable's text for this setting.
    pub check: fn(&str) -> Result<(), SettingError>,
}

impl Setting {
    /// The environment variable that sets it, derived from its flag: `--http-port` is
    /// `OUTPOST_HTTP_PORT`.
    pub fn env(&self) -> Option<String> {
        self.flag
            .map(|flag| format!("OUTPOST_{}", flag.to_ascii_uppercase().replace('-', "_")))
    }

    /// The first paragraph of its doc comment on one line, for a flag's help.
    pub fn summary(&self) -> String {
        let paragraph = self.doc.split("\n\n").next().unwrap_or("");
        paragraph.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// A configuration section declared with [`settings_section!`].
pub trait Section {
    /// Every setting of the section, nested sections' with their keys prefixed.
    fn settings() -> Vec<Setting>;

    /// Sets the setting at `key` (relative to this section) from a flag's text.
    fn set(&mut self, key: &str, text: &str) -> Result<(), SettingError>;
}

/// A type a setting may have: read from a flag's text and shown as a default.
pub trait SettingValue: Sized {
    /// Reads a flag's or environment variable's text.
    fn parse_setting(text: &str) -> Result<Self, SettingError>;
    /// The value as the documentation writes a default.
    fn show_setting(&self) -> String;
}

/// Implements [`SettingValue`] through `FromStr` and `Display`.
#[macro_export]
macro_rules! setting_value_from_str {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::SettingValue for $t {
            fn parse_setting(text: &str) -> Result<Self, $crate::SettingError> {
                text.trim()
                    .parse::<$t>()
                    .map_err(|e| $crate::SettingError::from_parse(e))
            }
            fn show_setting(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

setting_value_from_str!(bool, u16, u32, u64, usize, IpAddr, String);

impl SettingValue for PathBuf {
    fn parse_setting(text: &str) -> Result<Self, SettingError> {
        if text.is_empty() {
            return Err(SettingError::EmptyPath);
        }
        Ok(PathBuf::from(text))
    }
    fn show_setting(&self) -> String {
        self.display().to_string()
    }
}

/// An optional setting: a flag gives it a value; its default is `none` unless described.
impl<T: SettingValue> SettingValue for Option<T> {
    fn parse_setting(text: &str) -> Result<Self, SettingError> {
        T::parse_setting(text).map(Some)
    }
    fn show_setting(&self) -> String {
        match self {
            Some(value) => value.show_setting(),
            None => "none".to_string(),
        }
    }
}

/// The check a [`Setting`] carries for values of type `T`.
pub fn check<T: SettingValue>(text: &str) -> Result<(), SettingError> {
    T::parse_setting(text).map(|_| ())
}

/// Declares a configuration section: a serde struct (unknown keys are errors, missing keys take
/// their defaults) whose fields are each declared once.
///
/// ```
/// outpost_settings::settings_section! {
///     /// `[http]`: the REST front end.
///     #[derive(Debug)]
///     pub struct HttpConfig {
///         /// Port to bind; 0 picks a free one.
///         port: u16 = 8000, flag "http-port";
///         /// Largest request body accepted.
///         max_body_bytes: usize = 32 * 1024 * 1024;
///         /// Memory models may use.
///         budget_bytes: Option<u64> = None, shown "the container's limit";
///     }
/// }
/// use outpost_settings::Section;
/// let mut http = HttpConfig::default();
/// http.set("port", "9000").unwrap();
/// assert_eq!(http.port, 9000);
/// assert_eq!(HttpConfig::settings()[0].env().as_deref(), Some("OUTPOST_HTTP_PORT"));
/// assert_eq!(HttpConfig::settings()[2].default, "the container's limit");
/// ```
///
/// After the fields, `sections { name: Type, ... }` nests other sections (`[name]` tables);
/// then `tables { name: Type, ... }` holds whole tables that are written in the file only (no
/// flags: a table whose keys are documented with the type that reads them, for example the
/// `[upstream]` every model inherits). A table's type is `Default` (`Option<T>` is absent).
#[macro_export]
macro_rules! settings_section {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident : $ty:ty = $default:expr
                    $(, flag $flag:literal)?
                    $(, shown $shown:literal)?
                ;
            )*
        }
        $(sections {
            $(
                $(#[doc = $sdoc:literal])*
                $section:ident : $section_ty:ty
            ),* $(,)?
        })?
        $(tables {
            $(
                $(#[doc = $tdoc:literal])*
                $table:ident : $table_ty:ty
            ),* $(,)?
        })?
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
            $($(
                $(#[doc = $sdoc])*
                pub $section: $section_ty,
            )*)?
            $($(
                $(#[doc = $tdoc])*
                pub $table: $table_ty,
            )*)?
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $($field: $default,)*
                    $($($section: <$section_ty>::default(),)*)?
                    $($($table: <$table_ty>::default(),)*)?
                }
            }
        }

        impl $crate::Section for $name {
            fn settings() -> Vec<$crate::Setting> {
                let defaults = <$name as Default>::default();
                #[allow(unused_mut)]
                let mut settings = vec![
                    $(
                        $crate::Setting {
                            key: stringify!($field).to_string(),
                            flag: $crate::__first!($($flag)?),
                            default: $crate::__shown!(
                                $crate::SettingValue::show_setting(&defaults.$field)
                                $(, $shown)?
                            ),
                            doc: [$($doc),*]
                                .iter()
                                .map(|line: &&str| line.strip_prefix(' ').unwrap_or(line))
                                .collect::<Vec<_>>()
                                .join("\n"),
                            check: $crate::check::<$ty>,
                        },
                    )*
                ];
                $($(
                    settings.extend(
                        <$section_ty as $crate::Section>::settings()
                            .into_iter()
                            .map(|mut setting| {
                                setting.key = format!("{}.{}", stringify!($section), setting.key);
                                setting
                            }),
                    );
                )*)?
                settings
            }

            fn set(&mut self, key: &str, text: &str) -> Result<(), $crate::SettingError> {
                $($(
                    if let Some(rest) = key
                        .strip_prefix(stringify!($section))
                        .and_then(|rest| rest.strip_prefix('.'))
                    {
                        return $crate::Section::set(&mut self.$section, rest, text);
                    }
                )*)?
                $($(
                    if key == stringify!($table) || key.starts_with(concat!(stringify!($table), ".")) {
                        return Err($crate::SettingError::FileOnly(stringify!($table)));
                    }
                )*)?
                match key {
                    $(
                        stringify!($field) => {
                            self.$field = $crate::SettingValue::parse_setting(text)?;
                            Ok(())
                        }
                    )*
                    other => Err($crate::SettingError::NoSuchSetting(other.to_string())),
                }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __first {
    () => {
        None
    };
    ($flag:literal) => {
        Some($flag)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __shown {
    ($computed:expr) => {
        $computed
    };
    ($computed:expr, $shown:literal) => {
        $shown.to_string()
    };
}
