//! The command line of `outpost fleet`: which bundle, which change, and where the repository,
//! its keys and the devices' reports are.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::repo_args::RepoArgs;

/// A rollout across the fleet, by hand.
#[derive(Subcommand)]
pub(crate) enum FleetCommand {
    /// Open a bundle to the first PERCENT of the fleet (the waves up to there): devices whose
    /// place in the fleet falls within it install it.
    Open {
        #[command(flatten)]
        target: Target,
        /// The share of the fleet, 1 to 100, cumulative.
        #[arg(long)]
        percent: u32,
    },
    /// Stop a rollout: devices that have not installed the bundle do not (those that have
    /// keep it).
    Pause(Target),
    /// Let a paused rollout go on where it stopped.
    Resume(Target),
    /// Withdraw a bundle: no device installs it, and devices on it go back to their last known
    /// good version. For good: publish a new version to go forward.
    Yank(Target),
    /// Run the rollouts: open each wave once its start_after has passed (this machine's clock),
    /// and pause a bundle when more of the devices that reported on it failed than its
    /// max_failed_percent allows. Every --interval until stopped, or --once.
    Watch(WatchArgs),
    /// Where the fleet stands, from the repository (read as devices read it) and the devices'
    /// status objects: per model and version, devices on it, installing, failed (with why),
    /// waiting, and per wave; devices silent for longer than --silent-after.
    Status(StatusArgs),
}

/// `outpost fleet watch`.
#[derive(Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    /// Where devices write their status (their status.url): s3://, gs://, az://, file:// or a
    /// folder.
    #[arg(long)]
    pub(crate) status: String,
    /// Judge once and exit (for a timer, a CronJob or CI).
    #[arg(long)]
    pub(crate) once: bool,
    /// Time between rounds when looping.
    #[arg(long, default_value = "1m", value_parser = crate::repo_args::lifetime)]
    pub(crate) interval: jiff::SignedDuration,
}

/// `outpost fleet status`.
#[derive(Args)]
pub(crate) struct StatusArgs {
    /// The repository, as devices are given it (s3://, gs://, az://, file:// or a folder).
    #[arg(long)]
    pub(crate) repository: String,
    /// The root of trust devices are given.
    #[arg(long)]
    pub(crate) trusted_root: PathBuf,
    /// Where devices write their status (their status.url).
    #[arg(long)]
    pub(crate) status: String,
    /// A device whose last report is older than this is listed as silent.
    #[arg(long, default_value = "2h", value_parser = crate::repo_args::lifetime)]
    pub(crate) silent_after: jiff::SignedDuration,
    /// JSON for scripts instead of tables.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The bundle a command is about, the reason given, and the folders and lifetimes.
#[derive(Args)]
pub(crate) struct Target {
    #[command(flatten)]
    pub(crate) repo: RepoArgs,
    /// The model.
    pub(crate) model: String,
    /// The bundle's version.
    pub(crate) version: u64,
    /// Why, in words (shown in devices' status and by `fleet status`).
    #[arg(long, default_value = "")]
    pub(crate) reason: String,
}
