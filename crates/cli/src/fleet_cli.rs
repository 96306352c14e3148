//! `outpost fleet open|pause|resume|yank|watch|status`: rollouts across a fleet. The control
//! commands sign with the fleet key plus the snapshot and timestamp keys
//! (crate::fleet_control); `watch` and `status` read the devices' reports
//! (crate::fleet_watch). Like `outpost repo`, with `--upload` the bucket's newer metadata is
//! taken into the folder first and the signed result goes back, timestamp.json replaced only if
//! unchanged meanwhile.

use outpost_fleet::Change;

use crate::fleet_args::FleetCommand;
use crate::fleet_control::change_control;

/// Runs a fleet command.
pub(crate) fn run(command: &FleetCommand) -> anyhow::Result<()> {
    crate::runtime::block_on(async {
        match command {
            FleetCommand::Open { target, percent } => {
                change_control(target, Change::Open(*percent)).await
            }
            FleetCommand::Pause(target) => change_control(target, Change::Pause).await,
            FleetCommand::Resume(target) => change_control(target, Change::Resume).await,
            FleetCommand::Yank(target) => change_control(target, Change::Yank).await,
            FleetCommand::Watch(args) => crate::fleet_watch::watch(args).await,
            FleetCommand::Status(args) => crate::fleet_watch::status(args).await,
        }
    })?
}
