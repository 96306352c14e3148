//! How a bundle reaches a fleet: its rollout schedule, signed with it as the target's custom
//! metadata (waves of `start_after`, a time from publishing, and cumulative `fleet_percent`,
//! with the abort criteria `fleet watch` judges), the control the fleet role signs for it (how
//! much of the fleet is open now, paused, yanked), and each device's stable place in the fleet
//! (its seed, from its device id).
//!
//! Devices never read their own clock for waves: a wave opens when the fleet role signs an
//! `open_percent` that covers it (`outpost fleet watch`, on the operator's clock, opens each wave
//! once its `start_after` has passed and the abort criteria hold), so a device whose clock runs
//! ahead cannot install early, and a pause signed in time stops every device that has not
//! installed. Waves that start at publishing (`start_after` 0) are open without any control.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::TrustError;

/// The custom field of a bundle target that carries its rollout.
pub const ROLLOUT_FIELD: &str = "rollout";

/// The custom field of a control target (signed by the fleet role).
pub const CONTROL_FIELD: &str = "outpost_control";

/// How a device's refusal of a yanked version begins: `fleet watch` tells a yank (the fleet's
/// decision) from a device's failure by it.
pub const YANKED: &str = "yanked by the fleet";

/// The refusal a device records for a yank whose control gives `reason` (may be empty).
pub fn yank_refusal(reason: &str) -> String {
    if reason.is_empty() {
        YANKED.to_string()
    } else {
        format!("{YANKED}: {reason}")
    }
}

/// The parts of the fleet a seed tells apart: a device is in the first `percent * 100` of them.
pub const SEED_SPAN: u32 = 10_000;

/// One wave: from `start_after` past publishing, `fleet_percent` of the fleet (counting the
/// earlier waves) may install.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Wave {
    /// Seconds after publishing.
    pub start_after_secs: u64,
    /// The share of the fleet, cumulative, 0 to 100.
    pub fleet_percent: u32,
}

/// A bundle's rollout: when each wave may open and when `fleet watch` halts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// When the bundle was published (the publisher's clock).
    pub published_at: Timestamp,
    /// Waves in order of `start_after_secs`, `fleet_percent` growing, the last at 100.
    pub waves: Vec<Wave>,
    /// `fleet watch` pauses the rollout when more than this share of the devices that
    /// reported on the version failed with it (rolled back or refused it).
    pub max_failed_percent: u32,
    /// ... once at least this many devices reported on it.
    pub min_reports: u32,
}

/// A schedule's waves and criteria as a file (`--waves FILE`, TOML).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    #[serde(default = "default_max_failed_percent")]
    max_failed_percent: u32,
    #[serde(default = "default_min_reports")]
    min_reports: u32,
    wave: Vec<WaveFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaveFile {
    start_after: String,
    fleet_percent: u32,
}

fn default_max_failed_percent() -> u32 {
    10
}

fn default_min_reports() -> u32 {
    1
}

/// A duration in jiff's friendly (`4h`, `1d 12h`, `90s`) or ISO 8601 form, days of 24 hours.
pub(crate) fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let span: jiff::Span = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration such as 7d, 12h or 90s: {e}"))?;
    span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("{text:?}: {e}"))
}

/// The named schedules of `--waves`, as (start after, cumulative percent).
const PRESETS: [(&str, &[(u64, u32)]); 3] = [
    // Bottlerocket's spacing: an hour for the first 1 %, six days to all.
    (
        "default",
        &[
            (3600, 1),
            (4 * 3600, 5),
            (24 * 3600, 10),
            (3 * 24 * 3600, 25),
            (6 * 24 * 3600, 100),
        ],
    ),
    // The same waves within two hours.
    (
        "fast",
        &[
            (5 * 60, 1),
            (15 * 60, 5),
            (30 * 60, 10),
            (3600, 25),
            (2 * 3600, 100),
        ],
    ),
    // Everyone at once.
    ("now", &[(0, 100)]),
];

impl Schedule {
    /// `--waves`: `default`, `fast`, `now`, or a TOML file of `[[wave]]` tables
    /// (`start_after = "4h"`, `fleet_percent = 5`) with optional `max_failed_percent` and
    /// `min_reports`; the schedule starts at `published_at`.
    pub fn named_or_file(spec: &str, published_at: Timestamp) -> Result<Schedule, TrustError> {
        if let Some((_, waves)) = PRESETS.iter().find(|(name, _)| *name == spec) {
            return Schedule::new(
                published_at,
                waves
                    .iter()
                    .map(|&(start_after_secs, fleet_percent)| Wave {
                        start_after_secs,
                        fleet_percent,
                    })
                    .collect(),
                default_max_failed_percent(),
                default_min_reports(),
            );
        }
        Schedule::from_file(Path::new(spec), published_at)
    }

    fn from_file(path: &Path, published_at: Timestamp) -> Result<Schedule, TrustError> {
        let bad = |reason: String| {
            TrustError::Repository(format!("waves in {}: {reason}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            bad(format!(
                "{e} (--waves takes default, fast, now or a TOML file)"
            ))
        })?;
        let file: ScheduleFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let waves = file
            .wave
            .iter()
            .map(|wave| {
                let after = parse_duration(&wave.start_after).map_err(&bad)?;
                let start_after_secs = u64::try_from(after.as_secs())
                    .map_err(|_| bad(format!("start_after {} is negative", wave.start_after)))?;
                Ok(Wave {
                    start_after_secs,
                    fleet_percent: wave.fleet_percent,
                })
            })
            .collect::<Result<Vec<_>, TrustError>>()?;
        Schedule::new(
            published_at,
            waves,
            file.max_failed_percent,
            file.min_reports,
        )
        .map_err(|e| bad(e.to_string()))
    }

    /// A schedule, checked: at least one wave, in order of start, shares growing within 0-100
    /// and the last at 100, criteria within bounds.
    pub fn new(
        published_at: Timestamp,
        waves: Vec<Wave>,
        max_failed_percent: u32,
        min_reports: u32,
    ) -> Result<Schedule, TrustError> {
        let bad = |reason: &str| TrustError::Repository(format!("rollout schedule: {reason}"));
        let Some(last) = waves.last() else {
            return Err(bad("no wave"));
        };
        if last.fleet_percent != 100 {
            return Err(bad("the last wave must reach 100 % of the fleet"));
        }
        for pair in waves.windows(2) {
            if pair[1].start_after_secs < pair[0].start_after_secs {
                return Err(bad("waves must be in order of start_after"));
            }
            if pair[1].fleet_percent <= pair[0].fleet_percent {
                return Err(bad(
                    "each wave's fleet_percent counts the earlier ones and must grow",
                ));
            }
        }
        if waves.iter().any(|w| !(1..=100).contains(&w.fleet_percent)) {
            return Err(bad("fleet_percent must be 1 to 100"));
        }
        if max_failed_percent > 100 {
            return Err(bad("max_failed_percent must be 0 to 100"));
        }
        Ok(Schedule {
            published_at,
            waves,
            max_failed_percent,
            min_reports,
        })
    }

    /// The share open `elapsed` after publishing: the last wave started by then (0 before the
    /// first).
    pub fn percent_at(&self, elapsed: SignedDuration) -> u32 {
        self.waves
            .iter()
            .take_while(|w| {
                i64::try_from(w.start_after_secs)
                    .is_ok_and(|s| SignedDuration::from_secs(s) <= elapsed)
            })
            .map(|w| w.fleet_percent)
            .last()
            .unwrap_or(0)
    }

    /// The share open from publishing on, with no control signed: waves of `start_after` 0.
    pub fn open_from_start(&self) -> u32 {
        self.percent_at(SignedDuration::ZERO)
    }

    /// The wave (1-based) a device with `seed` belongs to.
    pub fn wave_of(&self, seed: u32) -> usize {
        self.waves
            .iter()
            .position(|w| seed_admitted(seed, w.fleet_percent))
            .map_or(self.waves.len(), |i| i + 1)
    }
}

/// What the fleet role signed about one bundle: how much of the fleet may install it now,
/// and whether it is paused or yanked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// The share of the fleet open, cumulative (the waves opened so far).
    pub open_percent: u32,
    /// Devices whose seed is below this may install, in place of `open_percent`'s own cut
    /// (seed < open_percent × 100). `fleet watch` draws it through the seeds of the devices that
    /// reported, so that a wave takes its planned share of the known fleet exactly rather than
    /// on average (1 % of 200 devices is 2 of them, not 0 or 5 by chance); devices it does not
    /// know yet fall on either side by their seed. It never goes down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_below_seed: Option<u32>,
    /// No device that has not installed it installs it (those that have keep it).
    #[serde(default)]
    pub paused: bool,
    /// No device installs it, and devices on it go back to their last known good version.
    #[serde(default)]
    pub yanked: bool,
    /// Why, in words (shown by `fleet status` and in devices' status).
    #[serde(default)]
    pub reason: String,
    /// When it was signed (the operator's clock).
    pub signed_at: Timestamp,
}

impl Control {
    /// The seeds open: those below this.
    pub fn seed_cut(&self) -> u32 {
        self.open_below_seed
            .unwrap_or_else(|| percent_cut(self.open_percent))
    }
}

/// The seed below which the first `percent` of the fleet falls, by seed alone.
pub fn percent_cut(percent: u32) -> u32 {
    percent.min(100) * (SEED_SPAN / 100)
}

/// Where a device stands with one bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Its wave is open: it may install.
    Open,
    /// Its wave (1-based) has not been opened.
    WaitingForWave(usize),
    /// The rollout is paused.
    Paused,
    /// The bundle was yanked: never install it, and leave it if it is installed.
    Yanked,
}

/// Whether a device with `seed` may install a bundle with `schedule` (none: published before
/// rollouts, open to all) under `control` (none signed yet).
pub fn admission(schedule: Option<&Schedule>, control: Option<&Control>, seed: u32) -> Admission {
    if control.is_some_and(|c| c.yanked) {
        return Admission::Yanked;
    }
    let Some(schedule) = schedule else {
        return if control.is_some_and(|c| c.paused) {
            Admission::Paused
        } else {
            Admission::Open
        };
    };
    if control.is_some_and(|c| c.paused) {
        return Admission::Paused;
    }
    let cut = control
        .map_or(0, Control::seed_cut)
        .max(percent_cut(schedule.open_from_start()));
    if seed < cut {
        Admission::Open
    } else {
        Admission::WaitingForWave(schedule.wave_of(seed))
    }
}

/// A device's stable place in the fleet, 0 to 9999, from its id: the same id always lands in
/// the same place, and ids spread evenly.
pub fn device_seed(device_id: &str) -> u32 {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("outpost wave seed\n{device_id}").as_bytes(),
    );
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    (u64::from_be_bytes(first) % u64::from(SEED_SPAN)) as u32
}

/// Whether `seed` falls within the first `percent` of the fleet.
pub fn seed_admitted(seed: u32, percent: u32) -> bool {
    seed < percent_cut(percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn default_schedule() -> Schedule {
        Schedule::named_or_file("default", at("2026-12-01T00:00:00Z")).unwrap()
    }

    #[test]
    fn the_default_waves_open_as_bottlerocket_spaces_them() {
        let schedule = default_schedule();
        let hours = |h: i64| SignedDuration::from_hours(h);
        assert_eq!(schedule.percent_at(hours(0)), 0);
        assert_eq!(schedule.percent_at(hours(1)), 1);
        assert_eq!(schedule.percent_at(hours(3)), 1);
        assert_eq!(schedule.percent_at(hours(4)), 5);
        assert_eq!(schedule.percent_at(hours(24)), 10);
        assert_eq!(schedule.percent_at(hours(72)), 25);
        assert_eq!(schedule.percent_at(hours(144)), 100);
        assert_eq!(
            Schedule::named_or_file("now", at("2026-12-01T00:00:00Z"))
                .unwrap()
                .open_from_start(),
            100
        );
    }

    #[test]
    fn seeds_are_stable_and_spread_evenly_over_the_fleet() {
        assert_eq!(
            device_seed("cam-entrance-01"),
            device_seed("cam-entrance-01")
        );
        let seeds: Vec<u32> = (0..10_000)
            .map(|i| device_seed(&format!("cam-{i}")))
            .collect();
        for percent in [1, 5, 10, 25, 50] {
            let inside = seeds.iter().filter(|s| seed_admitted(**s, percent)).count();
            let share = inside as f64 / 100.0;
            assert!(
                (share - f64::from(percent)).abs() < 0.6,
                "{percent} %: {share} %"
            );
        }
        assert!(seeds.iter().all(|s| seed_admitted(*s, 100)));
        assert!(!seeds.iter().any(|s| seed_admitted(*s, 0)));
    }

    #[test]
    fn a_device_installs_only_once_a_signed_control_opens_its_wave() {
        let schedule = default_schedule();
        let seed = (0..)
            .find(|s| !seed_admitted(*s, 1) && seed_admitted(*s, 5))
            .unwrap();
        assert_eq!(schedule.wave_of(seed), 2);
        // Published, no control yet: nobody (the first wave starts after an hour).
        assert_eq!(
            admission(Some(&schedule), None, seed),
            Admission::WaitingForWave(2)
        );
        let control = |open_percent: u32| Control {
            open_percent,
            open_below_seed: None,
            paused: false,
            yanked: false,
            reason: String::new(),
            signed_at: at("2026-12-01T01:00:00Z"),
        };
        assert_eq!(
            admission(Some(&schedule), Some(&control(1)), seed),
            Admission::WaitingForWave(2)
        );
        assert_eq!(
            admission(Some(&schedule), Some(&control(5)), seed),
            Admission::Open
        );
        let paused = Control {
            paused: true,
            ..control(5)
        };
        assert_eq!(
            admission(Some(&schedule), Some(&paused), seed),
            Admission::Paused
        );
        let yanked = Control {
            yanked: true,
            ..control(100)
        };
        assert_eq!(
            admission(Some(&schedule), Some(&yanked), seed),
            Admission::Yanked
        );
        // A cut through the known fleet's seeds decides in place of the share's own cut.
        let cut = |below: u32| Control {
            open_below_seed: Some(below),
            ..control(1)
        };
        assert_eq!(
            admission(Some(&schedule), Some(&cut(seed + 1)), seed),
            Admission::Open
        );
        assert_eq!(
            admission(Some(&schedule), Some(&cut(seed)), seed),
            Admission::WaitingForWave(2)
        );
        // A bundle published without a rollout is open to all, unless controlled.
        assert_eq!(admission(None, None, seed), Admission::Open);
        assert_eq!(admission(None, Some(&paused), seed), Admission::Paused);
    }

    #[test]
    fn schedules_that_do_not_add_up_are_refused() {
        let start = at("2026-12-01T00:00:00Z");
        let wave = |start_after_secs, fleet_percent| Wave {
            start_after_secs,
            fleet_percent,
        };
        assert!(Schedule::new(start, vec![], 10, 1).is_err());
        assert!(Schedule::new(start, vec![wave(0, 50)], 10, 1).is_err());
        assert!(Schedule::new(start, vec![wave(60, 10), wave(0, 100)], 10, 1).is_err());
        assert!(
            Schedule::new(start, vec![wave(0, 10), wave(60, 5), wave(90, 100)], 10, 1).is_err()
        );
        assert!(Schedule::new(start, vec![wave(0, 100)], 120, 1).is_err());
        assert!(Schedule::new(start, vec![wave(0, 10), wave(60, 100)], 10, 1).is_ok());
    }

    #[test]
    fn a_waves_file_is_read_with_durations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("waves.toml");
        std::fs::write(
            &path,
            "max_failed_percent = 20\n[[wave]]\nstart_after = \"2s\"\nfleet_percent = 10\n\
             [[wave]]\nstart_after = \"1m 30s\"\nfleet_percent = 100\n",
        )
        .unwrap();
        let schedule =
            Schedule::named_or_file(path.to_str().unwrap(), at("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(schedule.waves[1].start_after_secs, 90);
        assert_eq!(schedule.max_failed_percent, 20);
        assert_eq!(schedule.min_reports, 1);
        std::fs::write(
            &path,
            "[[wave]]\nstart_after = \"soon\"\nfleet_percent = 100\n",
        )
        .unwrap();
        let refused = Schedule::named_or_file(path.to_str().unwrap(), at("2026-12-01T00:00:00Z"));
        assert!(refused.unwrap_err().to_string().contains("soon"));
        assert!(Schedule::named_or_file("fastest", at("2026-12-01T00:00:00Z")).is_err());
    }
}
