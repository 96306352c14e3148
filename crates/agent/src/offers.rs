//! Which of a model's signed bundles this device may take now: the rules of rollouts, apart
//! from any I/O. A bundle is offered to this device when its rollout's wave covers the
//! device's seed (opened by the fleet role's signed control, or at publishing), it is neither
//! paused nor yanked, and this device never refused it. The newest offered version above the
//! active one is installed; when the active version itself is yanked, the device goes back to
//! its last known good version if another is on disk, else installs the newest offered version
//! below it.

use outpost_trust::listing::control_for;
use outpost_trust::{admission, Admission, BundleTarget, SignedControl};

use crate::state::ModelRecord;

/// What to do about one model after a verified check, when no update is under way.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Nothing to install.
    Stay,
    /// Install this bundle.
    Install(BundleTarget),
    /// The active version was yanked and the last known good version is another one on disk:
    /// go back to it.
    RollBackYanked(Yanked),
    /// The active version was yanked and no other is on disk: install this (older) bundle in
    /// its place.
    ReplaceYanked(Yanked, BundleTarget),
}

/// The active version, yanked.
#[derive(Debug, Clone, PartialEq)]
pub struct Yanked {
    /// The version.
    pub version: u64,
    /// Its bundle's sha256, refused for good.
    pub sha256: outpost_core::Sha256,
    /// Why, in words.
    pub reason: String,
}

/// A model's offers looked at: the choice, and what the device waits for (for its status).
#[derive(Debug, Clone, PartialEq)]
pub struct Looked {
    /// What to do.
    pub choice: Choice,
    /// Newer versions not offered to this device yet, in words (`version 3: waiting for wave
    /// 2`, `version 4: paused`).
    pub waiting: Vec<String>,
}

/// Where this device stands with `bundle`.
pub fn standing(bundle: &BundleTarget, controls: &[SignedControl], seed: u32) -> Admission {
    let control = control_for(controls, &bundle.model, bundle.version);
    admission(bundle.rollout.as_ref(), control, seed)
}

/// The refusal a device records for `model`'s yanked `version`, with the reason its control
/// gives.
pub fn yank_reason(model: &str, version: u64, controls: &[SignedControl]) -> String {
    let given = control_for(controls, model, version).map_or("", |c| c.reason.as_str());
    outpost_trust::rollout::yank_refusal(given)
}

/// What a device with `seed` and `record` (no update under way) does about `offered` (the
/// model's signed bundles) under `controls`. `on_disk` tells whether a version is installed.
pub fn look(
    offered: &[&BundleTarget],
    controls: &[SignedControl],
    record: &ModelRecord,
    seed: u32,
    on_disk: impl Fn(u64) -> bool,
) -> Looked {
    let mut waiting = Vec::new();
    let mut open = Vec::new();
    for bundle in offered {
        if record.was_rejected(&bundle.sha256) {
            continue;
        }
        match standing(bundle, controls, seed) {
            Admission::Open => open.push(*bundle),
            Admission::Yanked => {}
            Admission::WaitingForWave(wave) => {
                waiting.push((bundle.version, format!("waiting for wave {wave}")));
            }
            Admission::Paused => waiting.push((bundle.version, "paused".to_string())),
        }
    }
    let active = record.active;
    let active_yanked = active.and_then(|version| {
        offered
            .iter()
            .find(|b| b.version == version && standing(b, controls, seed) == Admission::Yanked)
    });
    let floor = if active_yanked.is_some() {
        0
    } else {
        active.unwrap_or(0)
    };
    waiting.retain(|(version, _)| *version > floor);
    waiting.sort();
    let waiting = waiting
        .into_iter()
        .map(|(version, why)| format!("version {version}: {why}"))
        .collect();
    let newest = open
        .into_iter()
        .filter(|b| b.version > floor && Some(b.version) != active)
        .max_by_key(|b| b.version)
        .cloned();
    let choice = match (active_yanked, newest) {
        (Some(bundle), newest) => {
            let yanked = Yanked {
                version: bundle.version,
                sha256: bundle.sha256,
                reason: yank_reason(&bundle.model, bundle.version, controls),
            };
            let good_on_disk = record
                .last_good
                .is_some_and(|good| Some(good) != active && on_disk(good));
            match newest {
                _ if good_on_disk => Choice::RollBackYanked(yanked),
                Some(newest) => Choice::ReplaceYanked(yanked, newest),
                None => Choice::Stay,
            }
        }
        (None, Some(newest)) => Choice::Install(newest),
        (None, None) => Choice::Stay,
    };
    Looked { choice, waiting }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_trust::{Control, Schedule};

    fn bundle(version: u64, rollout: Option<Schedule>) -> BundleTarget {
        BundleTarget {
            name: outpost_trust::listing::target_name(&format!("m-{version}.bundle")).unwrap(),
            model: "m".into(),
            version,
            length: 10,
            sha256: outpost_core::Sha256::from_bytes([version as u8; 32]),
            rollout,
        }
    }

    fn schedule() -> Schedule {
        Schedule::named_or_file("default", "2026-12-01T00:00:00Z".parse().unwrap()).unwrap()
    }

    fn control(version: u64, open_percent: u32, paused: bool, yanked: bool) -> SignedControl {
        SignedControl {
            model: "m".into(),
            version,
            control: Control {
                open_percent,
                open_below_seed: None,
                paused,
                yanked,
                reason: if yanked {
                    "bad boxes".into()
                } else {
                    String::new()
                },
                signed_at: "2026-12-01T01:00:00Z".parse().unwrap(),
            },
        }
    }

    fn record(active: Option<u64>, last_good: Option<u64>) -> ModelRecord {
        ModelRecord {
            active,
            last_good,
            ..ModelRecord::default()
        }
    }

    /// A seed in the second wave of the default schedule (1 % to 5 %).
    const SECOND_WAVE: u32 = 300;

    #[test]
    fn a_device_takes_a_bundle_once_its_wave_is_open_and_not_before() {
        let two = bundle(2, Some(schedule()));
        let offered = [&two];
        let looked = look(
            &offered,
            &[],
            &record(Some(1), Some(1)),
            SECOND_WAVE,
            |_| true,
        );
        assert_eq!(looked.choice, Choice::Stay);
        assert_eq!(looked.waiting, vec!["version 2: waiting for wave 2"]);
        let first_wave = [control(2, 1, false, false)];
        let looked = look(
            &offered,
            &first_wave,
            &record(Some(1), Some(1)),
            SECOND_WAVE,
            |_| true,
        );
        assert_eq!(looked.choice, Choice::Stay);
        let second_wave = [control(2, 5, false, false)];
        let looked = look(
            &offered,
            &second_wave,
            &record(Some(1), Some(1)),
            SECOND_WAVE,
            |_| true,
        );
        assert_eq!(looked.choice, Choice::Install(two.clone()));
        assert!(looked.waiting.is_empty());
        // Paused: nothing, and the status says why.
        let paused = [control(2, 5, true, false)];
        let looked = look(
            &offered,
            &paused,
            &record(Some(1), Some(1)),
            SECOND_WAVE,
            |_| true,
        );
        assert_eq!(looked.choice, Choice::Stay);
        assert_eq!(looked.waiting, vec!["version 2: paused"]);
    }

    #[test]
    fn an_open_older_version_is_taken_while_a_newer_one_waits() {
        let (two, three) = (bundle(2, None), bundle(3, Some(schedule())));
        let looked = look(
            &[&two, &three],
            &[],
            &record(Some(1), Some(1)),
            SECOND_WAVE,
            |_| true,
        );
        assert_eq!(looked.choice, Choice::Install(two));
        assert_eq!(looked.waiting, vec!["version 3: waiting for wave 2"]);
    }

    #[test]
    fn a_yanked_active_version_goes_back_to_the_last_good_one_or_to_an_older_bundle() {
        let (one, two) = (bundle(1, None), bundle(2, None));
        let yank = [control(2, 100, false, true)];
        // Watching version 2 (1 is the last good one, on disk): roll back.
        let looked = look(&[&one, &two], &yank, &record(Some(2), Some(1)), 0, |v| {
            v == 1
        });
        let yanked = Yanked {
            version: 2,
            sha256: two.sha256,
            reason: "yanked by the fleet: bad boxes".into(),
        };
        assert_eq!(looked.choice, Choice::RollBackYanked(yanked.clone()));
        // Version 2 passed its watch, 1 is gone from disk: install 1 again.
        let looked = look(&[&one, &two], &yank, &record(Some(2), Some(2)), 0, |v| {
            v == 2
        });
        assert_eq!(looked.choice, Choice::ReplaceYanked(yanked, one.clone()));
        // Nothing else published: stay on it.
        let looked = look(&[&two], &yank, &record(Some(2), Some(2)), 0, |v| v == 2);
        assert_eq!(looked.choice, Choice::Stay);
        // A device on version 1 never takes the yanked 2.
        let looked = look(&[&one, &two], &yank, &record(Some(1), Some(1)), 0, |_| true);
        assert_eq!(looked.choice, Choice::Stay);
        assert!(looked.waiting.is_empty());
    }

    #[test]
    fn a_refused_bundle_is_never_offered_again() {
        let two = bundle(2, None);
        let mut refused = record(Some(1), Some(1));
        refused.reject(2, two.sha256, "golden case failed");
        let looked = look(&[&two], &[], &refused, 0, |_| true);
        assert_eq!(looked.choice, Choice::Stay);
    }
}
