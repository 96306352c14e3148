//! The operator's side of rollouts across a fleet, with nothing but object storage in the
//! middle: the status objects devices write (`<device_id>.json`, [`reports`]), tallied per
//! published bundle and per wave ([`tally`]), and the rollout's abort criteria and schedule
//! judged against them ([`judge`]), and the control to sign after a change or a verdict
//! ([`control`]), one round of `fleet watch` over them ([`round`]): what `outpost fleet status` shows and what `outpost fleet watch` and
//! `outpost fleet open|pause|resume|yank` sign.

pub mod control;
pub mod judge;
pub mod reports;
pub mod round;
pub mod tally;

pub use control::{after_verdict, changed, seed_cut, Change, ControlError};
pub use judge::{judge, Verdict};
pub use reports::{read_reports, DeviceReport, ReportsRead};
pub use round::{decide, Decision};
pub use tally::{planned_share, Tally, VersionTally};
