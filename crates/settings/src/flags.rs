//! The settings as command-line flags: one `--flag` per setting of a [`Section`] that declares
//! one, each also read from its `OUTPOST_*` environment variable (a flag wins over its
//! variable), with the declared doc and default as its help. Values are checked as the
//! setting's type reads them.

use std::marker::PhantomData;

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};

use crate::{Section, Setting, SettingError};

/// Settings given as flags or `OUTPOST_*` variables: each setting's key and text, applied over
/// the file in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingOverrides(pub Vec<(String, String)>);

impl SettingOverrides {
    /// Overrides from `(key, text)` pairs, as flags would give them.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> SettingOverrides {
        SettingOverrides(
            pairs
                .iter()
                .map(|(key, text)| (key.to_string(), text.to_string()))
                .collect(),
        )
    }

    /// Sets each given setting of `section`, in order; the error names the setting and value.
    pub fn apply_to<S: Section>(&self, section: &mut S) -> Result<(), SettingError> {
        for (key, text) in &self.0 {
            section
                .set(key, text)
                .map_err(|reason| SettingError::Given {
                    key: key.clone(),
                    text: text.clone(),
                    reason: Box::new(reason),
                })?;
        }
        Ok(())
    }
}

/// The settings of section `S` given on the command line or in the environment, for
/// `#[command(flatten)]` in a command.
#[derive(Debug, Clone)]
pub struct SettingFlags<S> {
    /// Each given setting's key and text.
    pub overrides: SettingOverrides,
    section: PhantomData<fn() -> S>,
}

impl<S> Default for SettingFlags<S> {
    fn default() -> Self {
        SettingFlags {
            overrides: SettingOverrides::default(),
            section: PhantomData,
        }
    }
}

/// Every one of `settings` that has a flag, with that flag.
fn flagged(settings: Vec<Setting>) -> impl Iterator<Item = (&'static str, Setting)> {
    settings
        .into_iter()
        .filter_map(|setting| Some((setting.flag?, setting)))
}

/// Adds a flag (and its variable) for each of `settings` that declares one: settings known only
/// at run time, such as those of the runtimes a binary registers.
pub fn add_flags(command: Command, settings: Vec<Setting>) -> Command {
    flagged(settings).fold(command, |command, (flag, setting)| {
        command.arg(argument(flag, &setting))
    })
}

/// The values given for `settings` through the flags [`add_flags`] added.
pub fn given_flags(matches: &ArgMatches, settings: Vec<Setting>) -> SettingOverrides {
    SettingOverrides(
        flagged(settings)
            .filter_map(|(flag, setting)| {
                let text = matches.get_one::<String>(flag)?;
                Some((setting.key, text.clone()))
            })
            .collect(),
    )
}

fn argument(flag: &'static str, setting: &Setting) -> Arg {
    let check = setting.check;
    let mut arg = Arg::new(flag)
        .long(flag)
        .num_args(1)
        .value_name("VALUE")
        .help(format!(
            "{} [default: {}]",
            setting.summary(),
            setting.default
        ))
        .value_parser(move |text: &str| check(text).map(|()| text.to_string()));
    if let Some(env) = setting.env() {
        arg = arg.env(env);
    }
    arg
}

impl<S: Section> Args for SettingFlags<S> {
    fn augment_args(command: Command) -> Command {
        add_flags(command, S::settings())
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

impl<S: Section> FromArgMatches for SettingFlags<S> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(SettingFlags {
            overrides: given_flags(matches, S::settings()),
            section: PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}
