//! Devices counted per published bundle: on it, installing it, failed with it (refused or
//! rolled back, with their reasons; a yank is the fleet's decision, not a failure), waiting for
//! their wave or a resume; and per wave of its rollout (as `fleet watch` cuts the waves). Devices whose last report is older than
//! a bound are listed as silent.

use outpost_trust::rollout::YANKED;

/// How the agent begins the reason of a version it rolled back.
const ROLLED_BACK: &str = "rolled back: ";
use outpost_trust::{BundleTarget, Schedule};
use serde::Serialize;

use crate::reports::DeviceReport;

/// One bundle across the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionTally {
    /// The model.
    pub model: String,
    /// The version.
    pub version: u64,
    /// Devices serving it.
    pub installed: Vec<String>,
    /// Devices installing it, with their step.
    pub updating: Vec<(String, String)>,
    /// Devices that refused it or rolled it back, with why.
    pub failed: Vec<(String, String)>,
    /// Devices it is not offered to yet, with why.
    pub waiting: Vec<(String, String)>,
    /// Per wave of its rollout (none without one): devices in it, and of them on it and
    /// failed with it.
    pub waves: Vec<WaveCount>,
}

/// One wave of a bundle's rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaveCount {
    /// 1-based.
    pub wave: usize,
    /// The share of the fleet it reaches, cumulative.
    pub fleet_percent: u32,
    /// Devices in it: those whose seed ranks within its share of the reported seeds (as
    /// `fleet watch` cuts it), beyond the earlier waves'.
    pub devices: usize,
    /// Of them, serving the version.
    pub installed: usize,
    /// Of them, failed with it.
    pub failed: usize,
}

impl VersionTally {
    /// Devices that reported on the version: serving it or failed with it.
    pub fn reported(&self) -> usize {
        self.installed.len() + self.failed.len()
    }

    /// The failed share of those that reported, in percent.
    pub fn failed_percent(&self) -> f64 {
        match self.reported() {
            0 => 0.0,
            reported => self.failed.len() as f64 * 100.0 / reported as f64,
        }
    }
}

/// The fleet as its reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tally {
    /// Devices that reported.
    pub devices: usize,
    /// Per published bundle, in order of model and version.
    pub versions: Vec<VersionTally>,
    /// Devices whose last report is older than the bound, with when it was written.
    pub silent: Vec<(String, jiff::Timestamp)>,
}

impl Tally {
    /// Counts `reports` against `bundles`; a report written before `now - silent_after` makes
    /// its device silent.
    pub fn of(
        bundles: &[BundleTarget],
        reports: &[DeviceReport],
        now: jiff::Timestamp,
        silent_after: jiff::SignedDuration,
    ) -> Tally {
        let mut versions: Vec<VersionTally> = bundles
            .iter()
            .map(|bundle| version_tally(bundle, reports))
            .collect();
        versions.sort_by(|a, b| (&a.model, a.version).cmp(&(&b.model, b.version)));
        let silent = reports
            .iter()
            .filter(|r| now.duration_since(r.written_at) > silent_after)
            .map(|r| (r.device_id.clone(), r.written_at))
            .collect();
        Tally {
            devices: reports.len(),
            versions,
            silent,
        }
    }

    /// The tally of `model`'s `version`.
    pub fn version(&self, model: &str, version: u64) -> Option<&VersionTally> {
        self.versions
            .iter()
            .find(|v| v.model == model && v.version == version)
    }
}

fn version_tally(bundle: &BundleTarget, reports: &[DeviceReport]) -> VersionTally {
    let (model, version) = (&bundle.model, bundle.version);
    let waiting_prefix = format!("version {version}: ");
    let mut tally = VersionTally {
        model: model.clone(),
        version,
        installed: Vec::new(),
        updating: Vec::new(),
        failed: Vec::new(),
        waiting: Vec::new(),
        waves: Vec::new(),
    };
    for report in reports {
        let Some(on_device) = report.models.get(model) else {
            continue;
        };
        let device = report.device_id.clone();
        if let Some(refusal) = on_device
            .rejected
            .iter()
            .find(|r| r.version == version && !is_yank(&r.reason))
        {
            tally.failed.push((device, refusal.reason.clone()));
        } else if on_device.active == Some(version) && on_device.candidate.is_none() {
            tally.installed.push(device);
        } else if on_device.candidate == Some(version) {
            let step = on_device.step.clone().unwrap_or_default();
            tally.updating.push((device, step));
        } else if let Some(why) = on_device
            .waiting
            .iter()
            .find_map(|w| w.strip_prefix(&waiting_prefix))
        {
            tally.waiting.push((device, why.to_string()));
        }
    }
    if let Some(schedule) = &bundle.rollout {
        tally.waves = wave_counts(schedule, &tally, reports);
    }
    tally
}

/// Whether a refusal's reason is a yank's (refused before promotion, or rolled back after):
/// the fleet's decision, not the device's failure.
fn is_yank(reason: &str) -> bool {
    reason
        .strip_prefix(ROLLED_BACK)
        .unwrap_or(reason)
        .starts_with(YANKED)
}

/// How many of `devices` a wave open to `percent` takes: the share rounded to the nearest
/// device (1 % of 5 devices is none, of 200 is 2).
pub fn planned_share(devices: usize, percent: u32) -> usize {
    (devices * percent.min(100) as usize + 50) / 100
}

fn wave_counts(
    schedule: &Schedule,
    tally: &VersionTally,
    reports: &[DeviceReport],
) -> Vec<WaveCount> {
    let mut waves: Vec<WaveCount> = schedule
        .waves
        .iter()
        .enumerate()
        .map(|(i, wave)| WaveCount {
            wave: i + 1,
            fleet_percent: wave.fleet_percent,
            devices: 0,
            installed: 0,
            failed: 0,
        })
        .collect();
    // As `fleet watch` cuts the waves (crate::control::seed_cut): by each device's rank among
    // the reported seeds, each wave taking its share of them.
    let mut ranked: Vec<(u32, &DeviceReport)> = reports
        .iter()
        .filter_map(|report| Some((report.wave_seed?, report)))
        .collect();
    ranked.sort_by_key(|(seed, _)| *seed);
    let devices = ranked.len();
    for (rank, (_, report)) in ranked.into_iter().enumerate() {
        let Some(wave) = schedule
            .waves
            .iter()
            .position(|w| rank < planned_share(devices, w.fleet_percent))
        else {
            continue;
        };
        let count = &mut waves[wave];
        let id = &report.device_id;
        count.devices += 1;
        count.installed += usize::from(tally.installed.contains(id));
        count.failed += usize::from(tally.failed.iter().any(|(d, _)| d == id));
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::{ModelReport, Refusal};

    fn bundle(version: u64) -> BundleTarget {
        BundleTarget {
            name: outpost_trust::listing::target_name(&format!("m-{version}.bundle")).unwrap(),
            model: "m".into(),
            version,
            length: 1,
            sha256: outpost_core::Sha256::from_bytes([0; 32]),
            rollout: Some(
                Schedule::named_or_file("default", "2026-12-01T00:00:00Z".parse().unwrap())
                    .unwrap(),
            ),
        }
    }

    fn report(id: &str, seed: u32, written_at: &str, model: ModelReport) -> DeviceReport {
        DeviceReport {
            device_id: id.into(),
            written_at: written_at.parse().unwrap(),
            wave_seed: Some(seed),
            state: "idle".into(),
            models: [("m".to_string(), model)].into_iter().collect(),
        }
    }

    #[test]
    fn devices_are_counted_per_version_and_wave_and_a_yank_is_no_failure() {
        let on_two = ModelReport {
            active: Some(2),
            ..ModelReport::default()
        };
        let refused_two = ModelReport {
            active: Some(1),
            rejected: vec![Refusal {
                version: 2,
                reason: "golden case failed".into(),
            }],
            ..ModelReport::default()
        };
        let yanked_two = ModelReport {
            active: Some(1),
            rejected: vec![Refusal {
                version: 2,
                reason: "yanked by the fleet: bad boxes".into(),
            }],
            ..ModelReport::default()
        };
        let yanked_after_promotion = ModelReport {
            active: Some(1),
            rejected: vec![Refusal {
                version: 2,
                reason: "rolled back: yanked by the fleet: bad boxes".into(),
            }],
            ..ModelReport::default()
        };
        let waiting = ModelReport {
            active: Some(1),
            waiting: vec!["version 2: waiting for wave 3".into()],
            ..ModelReport::default()
        };
        let installing = ModelReport {
            active: Some(1),
            candidate: Some(2),
            step: Some("downloading".into()),
            ..ModelReport::default()
        };
        let reports = [
            report("a", 50, "2026-12-01T12:00:00Z", on_two),
            report("b", 300, "2026-12-01T12:00:00Z", refused_two),
            report("c", 400, "2026-12-01T12:00:00Z", yanked_two),
            report("d", 900, "2026-12-01T12:00:00Z", waiting),
            report("e", 9000, "2026-12-01T08:00:00Z", installing),
            report("f", 9500, "2026-12-01T12:00:00Z", yanked_after_promotion),
        ];
        let tally = Tally::of(
            &[bundle(1), bundle(2)],
            &reports,
            "2026-12-01T12:30:00Z".parse().unwrap(),
            jiff::SignedDuration::from_hours(2),
        );
        let two = tally.version("m", 2).unwrap();
        assert_eq!(two.installed, ["a"]);
        assert_eq!(
            two.failed,
            [("b".to_string(), "golden case failed".to_string())]
        );
        assert_eq!(
            two.waiting,
            [("d".to_string(), "waiting for wave 3".to_string())]
        );
        assert_eq!(two.updating, [("e".to_string(), "downloading".to_string())]);
        assert_eq!(two.reported(), 2);
        assert!((two.failed_percent() - 50.0).abs() < 1e-9);
        let per_wave: Vec<(usize, usize, usize)> = two
            .waves
            .iter()
            .map(|w| (w.devices, w.installed, w.failed))
            .collect();
        // Six devices ranked by seed: 1 % and 5 % of them round to none, 10 % to the first
        // ("a"), 25 % to two ("a", "b"), the rest come with the last wave.
        assert_eq!(
            per_wave,
            [(0, 0, 0), (0, 0, 0), (1, 1, 0), (1, 0, 1), (4, 0, 0)]
        );
        assert_eq!(tally.silent.len(), 1);
        assert_eq!(tally.silent[0].0, "e");
        assert_eq!(
            tally.version("m", 1).unwrap().installed,
            ["b", "c", "d", "f"]
        );
    }
}
