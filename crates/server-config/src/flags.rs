//! The server's settings as command-line flags and `OUTPOST_*` variables
//! ([`outpost_settings::flags`] over [`ServerConfig`]).

use outpost_settings::flags::SettingFlags as Flags;

use super::ServerConfig;

/// The server's settings given on the command line or in the environment, for
/// `#[command(flatten)]` in the `serve` command.
pub type SettingFlags = Flags<ServerConfig>;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, Command, FromArgMatches};
    use outpost_settings::{Section, Setting};

    fn flagged_settings() -> impl Iterator<Item = (&'static str, Setting)> {
        ServerConfig::settings()
            .into_iter()
            .filter_map(|setting| Some((setting.flag?, setting)))
    }

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
