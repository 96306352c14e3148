//! A bundle's control after a change: by hand (`fleet open|pause|resume|yank`) or for one of
//! `fleet watch`'s verdicts. Opening only ever widens: the cut through the devices' seeds
//! (`Control::open_below_seed`) never goes below the one signed before. `fleet watch` draws the
//! cut through the seeds of the devices that reported ([`seed_cut`]), so a wave takes exactly
//! its share of the fleet the status location knows (never more than a few points from the
//! share's cut by seed alone, whatever the status objects say); an opening by hand cuts by the
//! share alone.
//! A yanked bundle stays yanked.

use jiff::Timestamp;
use outpost_trust::rollout::{percent_cut, SEED_SPAN};
use outpost_trust::{Control, Schedule};
use thiserror::Error;

use crate::judge::Verdict;
use crate::tally::planned_share;

/// Why a control cannot change.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ControlError {
    /// A yank is for good.
    #[error("it was yanked, for good: publish a new version to go forward")]
    Yanked,
    /// An opening outside 1 to 100 %.
    #[error("a share of the fleet is 1 to 100 %, not {0}")]
    Percent(u32),
}

/// A change of a bundle's control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Open it to this share of the fleet, cumulative.
    Open(u32),
    /// Stop devices that have not installed it.
    Pause,
    /// Let a paused rollout go on.
    Resume,
    /// Withdraw it for good.
    Yank,
}

/// How far, in points of the fleet, a cut drawn through the reported seeds may stray from the
/// share's own cut: enough for chance in how seeds spread (a few points for a few hundred
/// devices), and all that forged or stale status objects can move a wave.
pub const MAX_CUT_SHIFT_POINTS: u32 = 5;

/// The seed below which `percent` of the devices with `seeds` fall: the planned share of the
/// known fleet, rounded to the nearest device, kept within [`MAX_CUT_SHIFT_POINTS`] of the
/// share's cut by seed alone (which it is with no device known); at 100 %, every seed.
pub fn seed_cut(seeds: &[u32], percent: u32) -> u32 {
    if percent >= 100 {
        return SEED_SPAN;
    }
    if seeds.is_empty() {
        return percent_cut(percent);
    }
    let mut sorted = seeds.to_vec();
    sorted.sort_unstable();
    let drawn = match planned_share(sorted.len(), percent) {
        0 => 0,
        n => sorted[n - 1].saturating_add(1),
    };
    drawn.clamp(
        percent_cut(percent.saturating_sub(MAX_CUT_SHIFT_POINTS)),
        percent_cut(percent + MAX_CUT_SHIFT_POINTS),
    )
}

/// The control after `change` for `reason` at `now`, from the one signed before (none yet:
/// nothing open beyond the waves that start at publishing). `seeds` are the known devices'
/// seeds, drawn through when opening (empty: the share's own cut).
pub fn changed(
    change: Change,
    reason: &str,
    before: Option<Control>,
    schedule: Option<&Schedule>,
    seeds: &[u32],
    now: Timestamp,
) -> Result<Control, ControlError> {
    let from_start = schedule.map_or(100, Schedule::open_from_start);
    let mut control = before.unwrap_or(Control {
        open_percent: from_start,
        open_below_seed: None,
        paused: false,
        yanked: false,
        reason: String::new(),
        signed_at: now,
    });
    if control.yanked {
        return Err(ControlError::Yanked);
    }
    match change {
        Change::Open(percent) => {
            if !(1..=100).contains(&percent) {
                return Err(ControlError::Percent(percent));
            }
            let widest_before = control.seed_cut().max(percent_cut(from_start));
            control.open_percent = percent.max(control.open_percent);
            control.open_below_seed = Some(seed_cut(seeds, percent).max(widest_before));
        }
        Change::Pause => control.paused = true,
        Change::Resume => control.paused = false,
        Change::Yank => control.yanked = true,
    }
    control.reason = reason.to_string();
    control.signed_at = now;
    Ok(control)
}

/// The control `fleet watch` signs for `verdict` (none: nothing to sign), from the one before.
pub fn after_verdict(
    verdict: &Verdict,
    before: Option<Control>,
    schedule: &Schedule,
    seeds: &[u32],
    now: Timestamp,
) -> Result<Option<Control>, ControlError> {
    let change = match verdict {
        Verdict::Nothing => return Ok(None),
        Verdict::Open(percent) => (
            Change::Open(*percent),
            format!("opened to {percent} % by fleet watch"),
        ),
        Verdict::Halt(reason) => (Change::Pause, reason.clone()),
    };
    changed(change.0, &change.1, before, Some(schedule), seeds, now).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-02T00:00:00Z".parse().unwrap()
    }

    fn schedule() -> Schedule {
        Schedule::named_or_file("default", "2026-12-01T00:00:00Z".parse().unwrap()).unwrap()
    }

    #[test]
    fn a_cut_takes_the_planned_share_of_the_known_devices() {
        let seeds: Vec<u32> = (0..200).map(|i| (i * 7919) % 10_000).collect();
        for percent in [1, 5, 10, 25, 50] {
            let cut = seed_cut(&seeds, percent);
            let open = seeds.iter().filter(|s| **s < cut).count();
            assert_eq!(open, 200 * percent as usize / 100, "{percent} %");
        }
        assert_eq!(seed_cut(&seeds, 100), SEED_SPAN);
        // Forged reports (800 made-up devices with the highest seeds) cannot open a 25 % wave to
        // every real device: the cut stays within 5 points of the share's own.
        let mut forged = seeds.clone();
        forged.extend(std::iter::repeat_n(9_999, 800));
        assert_eq!(seed_cut(&forged, 25), percent_cut(30));
        forged.extend(std::iter::repeat_n(0, 5_000));
        assert_eq!(seed_cut(&forged, 25), percent_cut(20));
        assert_eq!(seed_cut(&[], 5), percent_cut(5));
        assert_eq!(seed_cut(&seeds[..10], 1), 0);
    }

    #[test]
    fn opening_only_widens_and_a_yank_is_for_good() {
        let s = schedule();
        let seeds: Vec<u32> = (0..100).map(|i| i * 100 + 50).collect();
        let first = changed(Change::Open(10), "", None, Some(&s), &seeds, now()).unwrap();
        assert_eq!(first.open_below_seed, Some(951));
        // By hand to 5 %: the share's own cut (500) is below the one before, which stays.
        let by_hand = changed(
            Change::Open(5),
            "",
            Some(first.clone()),
            Some(&s),
            &[],
            now(),
        )
        .unwrap();
        assert_eq!((by_hand.open_percent, by_hand.seed_cut()), (10, 951));
        // The watch's next wave with devices now known to be elsewhere: never narrower.
        let wider = changed(
            Change::Open(25),
            "",
            Some(by_hand),
            None,
            &seeds[50..],
            now(),
        )
        .unwrap();
        assert!(wider.seed_cut() >= 951);
        let paused = changed(
            Change::Pause,
            "halt",
            Some(wider.clone()),
            Some(&s),
            &[],
            now(),
        )
        .unwrap();
        assert!(paused.paused && paused.seed_cut() == wider.seed_cut());
        let yanked = changed(Change::Yank, "bad", Some(paused), Some(&s), &[], now()).unwrap();
        assert_eq!(
            changed(Change::Resume, "", Some(yanked), Some(&s), &[], now()),
            Err(ControlError::Yanked)
        );
        assert_eq!(
            changed(Change::Open(0), "", None, Some(&s), &[], now()),
            Err(ControlError::Percent(0))
        );
    }

    #[test]
    fn a_verdict_becomes_the_control_to_sign() {
        let s = schedule();
        assert_eq!(
            after_verdict(&Verdict::Nothing, None, &s, &[], now()),
            Ok(None)
        );
        let opened = after_verdict(&Verdict::Open(5), None, &s, &[], now())
            .unwrap()
            .unwrap();
        assert_eq!((opened.open_percent, opened.paused), (5, false));
        let halted = after_verdict(
            &Verdict::Halt("3 of 4 failed".into()),
            Some(opened),
            &s,
            &[],
            now(),
        )
        .unwrap()
        .unwrap();
        assert!(halted.paused);
        assert_eq!(halted.reason, "3 of 4 failed");
    }
}
