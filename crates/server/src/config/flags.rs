//! The settings as command-line flags: one `--flag` per setting that declares one, each also read
//! from its `OUTPOST_*` environment variable (a flag wins over its variable), with the declared
//! doc and default as its help. Values are checked as the setting's type reads them.

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use outpost_settings::{Section, Setting};

use super::{ServerConfig, SettingOverrides};

/// The settings given on the command line or in the environment, for
/// `#[command(flatten)]` in the `serve` command.
#[derive(Debug, Clone, Default)]
pub struct SettingFlags {
    /// Each given setting's key and text.
    pub overrides: SettingOverrides,
}

/// Every setting that has a flag, with that flag.
fn flagged_settings() -> impl Iterator<Item = (&'static str, Setting)> {
    ServerConfig::settings()
        .into_iter()
        .filter_map(|setting| Some((setting.flag?, setting)))
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

impl Args for SettingFlags {
    fn augment_args(command: Command) -> Command {
        flagged_settings().fold(command, |command, (flag, setting)| {
            command.arg(argument(flag, &setting))
        })
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

impl FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let given = flagged_settings()
            .filter_map(|(flag, setting)| {
                let text = matches.get_one::<String>(flag)?;
                Some((setting.key, text.clone()))
            })
            .collect();
        Ok(SettingFlags {
            overrides: SettingOverrides(given),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<SettingFlags, clap::Error> {
        let command = SettingFlags::augment_args(Command::new("serve").no_binary_name(true));
        let matches = command.try_get_matches_from(args)?;
        SettingFlags::from_arg_matches(&matches)
    }

    #[test]
    fn flags_name_their_settings_and_bad_values_are_refused() {
        let flags = parse(&["--http-port", "0", "--model-control-mode", "explicit"]).unwrap();
        let mut given = flags.overrides.0;
        given.sort();
        assert_eq!(
            given,
            vec![
                ("http.port".to_string(), "0".to_string()),
                ("model_control.mode".to_string(), "explicit".to_string()),
            ]
        );
        assert!(parse(&["--http-port", "eighty"]).is_err());
        assert!(parse(&["--model-control-mode", "sometimes"]).is_err());
        assert!(
            parse(&["--shutdown-timeout-secs", "5"]).is_err(),
            "file-only settings have no flag"
        );
    }

    #[test]
    fn every_flag_is_unique_and_its_variable_follows_from_it() {
        let mut flags: Vec<_> = flagged_settings().map(|(flag, _)| flag).collect();
        let count = flags.len();
        flags.sort_unstable();
        flags.dedup();
        assert_eq!(flags.len(), count, "a flag names two settings");
        let (_, port) = flagged_settings()
            .find(|(flag, _)| *flag == "intra-op-threads")
            .unwrap();
        assert_eq!(port.env().as_deref(), Some("OUTPOST_INTRA_OP_THREADS"));
        assert_eq!(port.key, "inference.default_intra_op_threads");
    }
}
