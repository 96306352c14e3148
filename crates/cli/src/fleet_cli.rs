//! `outpost fleet open|pause|resume|yank`: what a rollout may do now, signed with the fleet
//! key (the delegated role that signs controls and nothing else, `outpost_trust::fleet`) plus
//! the snapshot and timestamp keys, from a folder that holds no targets or root key. Like
//! `outpost repo`, with `--upload` the bucket's newer metadata is taken into the folder first
//! and the signed result goes back, timestamp.json replaced only if unchanged meanwhile.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use outpost_trust::{Control, Schedule};

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
}

/// The bundle a command is about, the reason given, and the folders and lifetimes.
#[derive(Args)]
pub(crate) struct Target {
    #[command(flatten)]
    repo: RepoArgs,
    /// The model.
    model: String,
    /// The bundle's version.
    version: u64,
    /// Why, in words (shown in devices' status and by `fleet status`).
    #[arg(long, default_value = "")]
    reason: String,
}

impl FleetCommand {
    fn target(&self) -> &Target {
        match self {
            FleetCommand::Open { target, .. }
            | FleetCommand::Pause(target)
            | FleetCommand::Resume(target)
            | FleetCommand::Yank(target) => target,
        }
    }

    /// The control after this command, from the one signed before (none yet: nothing open
    /// beyond the waves that start at publishing).
    fn next(
        &self,
        before: Option<Control>,
        schedule: Option<&Schedule>,
    ) -> anyhow::Result<Control> {
        let reason = self.target().reason.clone();
        let mut control = before.unwrap_or(Control {
            open_percent: schedule.map_or(100, Schedule::open_from_start),
            paused: false,
            yanked: false,
            reason: String::new(),
            signed_at: jiff::Timestamp::now(),
        });
        if control.yanked {
            bail!("it was yanked, for good: publish a new version to go forward");
        }
        match self {
            FleetCommand::Open { percent, .. } => {
                if !(1..=100).contains(percent) {
                    bail!("--percent must be 1 to 100");
                }
                control.open_percent = *percent;
            }
            FleetCommand::Pause(_) => control.paused = true,
            FleetCommand::Resume(_) => control.paused = false,
            FleetCommand::Yank(_) => control.yanked = true,
        }
        control.reason = reason;
        control.signed_at = jiff::Timestamp::now();
        Ok(control)
    }
}

/// Runs a fleet command.
pub(crate) fn run(command: &FleetCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let target = command.target();
        let repo = &target.repo;
        let replacing = crate::repo_cli::take_published(repo).await?;
        let publisher = repo.publisher();
        let (bundles, controls) = publisher.published().await?;
        let Some(bundle) = bundles
            .iter()
            .find(|b| b.model == target.model && b.version == target.version)
        else {
            bail!(
                "{} version {} is not published in {}",
                target.model,
                target.version,
                repo.repo.display()
            );
        };
        let before = controls
            .into_iter()
            .find(|c| c.model == target.model && c.version == target.version)
            .map(|c| c.control);
        let control = command
            .next(before, bundle.rollout.as_ref())
            .with_context(|| format!("{} version {}", target.model, target.version))?;
        publisher
            .sign_control(&target.model, target.version, &control, &repo.expiries())
            .await?;
        println!(
            "{} version {}: open to {} % of the fleet{}{}",
            target.model,
            target.version,
            control.open_percent,
            if control.paused { ", paused" } else { "" },
            if control.yanked { ", yanked" } else { "" },
        );
        crate::repo_cli::upload(repo, replacing).await
    })
}
