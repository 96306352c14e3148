//! One round of `fleet watch`: every published bundle with a rollout judged against the devices'
//! reports at the operator's `now`, and, where the verdict calls for it, the control to sign
//! (a wave opened, cut through the reported seeds, or an automatic halt). Signing and uploading
//! are the caller's (`outpost fleet watch`, a simulation).

use jiff::{SignedDuration, Timestamp};
use outpost_trust::listing::control_for;
use outpost_trust::{BundleTarget, Control, SignedControl};

use crate::control::{after_verdict, ControlError};
use crate::judge::{judge, Verdict};
use crate::reports::DeviceReport;
use crate::tally::Tally;

/// What a round decided for one bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The model.
    pub model: String,
    /// The bundle's version.
    pub version: u64,
    /// Why: a wave opened, or a halt with its reason.
    pub verdict: Verdict,
    /// The control to sign.
    pub control: Control,
}

/// The decisions of one round over `bundles` and their `controls`, from `reports`, at `now`.
pub fn decide(
    bundles: &[BundleTarget],
    controls: &[SignedControl],
    reports: &[DeviceReport],
    now: Timestamp,
) -> Result<Vec<Decision>, ControlError> {
    let tally = Tally::of(bundles, reports, now, SignedDuration::MAX);
    let seeds: Vec<u32> = reports.iter().filter_map(|r| r.wave_seed).collect();
    let mut decisions = Vec::new();
    for bundle in bundles {
        let (Some(schedule), Some(counted)) = (
            &bundle.rollout,
            tally.version(&bundle.model, bundle.version),
        ) else {
            continue;
        };
        let before = control_for(controls, &bundle.model, bundle.version).cloned();
        let verdict = judge(schedule, before.as_ref(), counted, now);
        if let Some(control) = after_verdict(&verdict, before, schedule, &seeds, now)? {
            decisions.push(Decision {
                model: bundle.model.clone(),
                version: bundle.version,
                verdict,
                control,
            });
        }
    }
    Ok(decisions)
}
