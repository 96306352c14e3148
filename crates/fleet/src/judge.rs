//! What `fleet watch` does about one bundle, from its signed rollout, its current control and
//! the devices' reports, on the operator's clock: halt it when more of the devices that reported
//! on it failed than `max_failed_percent` allows (once `min_reports` did), else open the waves
//! whose `start_after` has passed. A paused or yanked bundle is left as it is.

use outpost_trust::{Control, Schedule};

use crate::tally::VersionTally;

/// What to sign for a bundle.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing.
    Nothing,
    /// Open it to this share of the fleet (the waves started by now).
    Open(u32),
    /// Pause it, for this reason.
    Halt(String),
}

/// The verdict on a bundle with `schedule` and `control` (none signed yet), seen in `tally`,
/// at `now`.
pub fn judge(
    schedule: &Schedule,
    control: Option<&Control>,
    tally: &VersionTally,
    now: jiff::Timestamp,
) -> Verdict {
    if control.is_some_and(|c| c.paused || c.yanked) {
        return Verdict::Nothing;
    }
    let reported = tally.reported();
    let failed = tally.failed_percent();
    if reported > 0
        && reported >= schedule.min_reports as usize
        && failed > f64::from(schedule.max_failed_percent)
    {
        let mut reasons: Vec<&str> = tally.failed.iter().map(|(_, r)| r.as_str()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        return Verdict::Halt(format!(
            "automatic halt: {} of {reported} devices that reported on version {} failed ({failed:.0} %, above max_failed_percent {}): {}",
            tally.failed.len(),
            tally.version,
            schedule.max_failed_percent,
            reasons.join("; ")
        ));
    }
    let due = schedule.percent_at(now.duration_since(schedule.published_at));
    let open = control.map_or_else(|| schedule.open_from_start(), |c| c.open_percent);
    if due > open {
        Verdict::Open(due)
    } else {
        Verdict::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule::named_or_file("default", "2026-12-01T00:00:00Z".parse().unwrap()).unwrap()
    }

    fn tally(installed: usize, failed: usize) -> VersionTally {
        VersionTally {
            model: "m".into(),
            version: 2,
            installed: (0..installed).map(|i| format!("ok-{i}")).collect(),
            updating: Vec::new(),
            failed: (0..failed)
                .map(|i| (format!("bad-{i}"), "rolled back: error rate".to_string()))
                .collect(),
            waiting: Vec::new(),
            waves: Vec::new(),
        }
    }

    fn control(open_percent: u32) -> Control {
        Control {
            open_percent,
            open_below_seed: None,
            paused: false,
            yanked: false,
            reason: String::new(),
            signed_at: "2026-12-01T01:00:00Z".parse().unwrap(),
        }
    }

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn waves_open_on_the_operators_clock_as_their_start_passes() {
        let s = schedule();
        assert_eq!(
            judge(&s, None, &tally(0, 0), at("2026-12-01T00:30:00Z")),
            Verdict::Nothing
        );
        assert_eq!(
            judge(&s, None, &tally(0, 0), at("2026-12-01T01:00:00Z")),
            Verdict::Open(1)
        );
        assert_eq!(
            judge(
                &s,
                Some(&control(1)),
                &tally(2, 0),
                at("2026-12-01T03:59:00Z")
            ),
            Verdict::Nothing
        );
        assert_eq!(
            judge(
                &s,
                Some(&control(1)),
                &tally(2, 0),
                at("2026-12-02T00:00:00Z")
            ),
            Verdict::Open(10)
        );
        assert_eq!(
            judge(
                &s,
                Some(&control(100)),
                &tally(9, 0),
                at("2026-12-09T00:00:00Z")
            ),
            Verdict::Nothing
        );
    }

    #[test]
    fn failures_above_the_bound_halt_and_a_paused_rollout_is_left_alone() {
        let s = schedule();
        let late = at("2026-12-02T00:00:00Z");
        // 1 of 10 failed: 10 %, not above 10 %.
        assert_eq!(
            judge(&s, Some(&control(1)), &tally(9, 1), late),
            Verdict::Open(10)
        );
        let Verdict::Halt(reason) = judge(&s, Some(&control(1)), &tally(8, 2), late) else {
            panic!("2 of 10 failed is above 10 %");
        };
        assert!(
            reason.contains("2 of 10 devices") && reason.contains("rolled back: error rate"),
            "{reason}"
        );
        let paused = Control {
            paused: true,
            ..control(1)
        };
        assert_eq!(
            judge(&s, Some(&paused), &tally(0, 5), late),
            Verdict::Nothing
        );
        // Fewer reports than min_reports: not judged yet.
        let strict = Schedule::new(s.published_at, s.waves.clone(), 10, 3).unwrap();
        assert_eq!(
            judge(&strict, Some(&control(1)), &tally(0, 2), late),
            Verdict::Open(10)
        );
    }
}
