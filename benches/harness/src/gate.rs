//! Regression gates: floors (and optional ceilings) on the ratios a run measures, kept in a
//! committed TOML file (`benches/gates.toml`). A gate whose ratio is missing from the run fails:
//! a scenario that silently stopped running must not pass.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The committed gate file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct GateFile {
    /// Every gate, one `[[gate]]` table each.
    #[serde(rename = "gate", default)]
    pub gates: Vec<Gate>,
}

/// One gated ratio.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Gate {
    /// Name of the ratio, as the report's `ratios` map names it.
    pub ratio: String,
    /// The run fails when the ratio is below this.
    #[serde(default)]
    pub floor: Option<f64>,
    /// The run fails when the ratio is above this (for ratios where lower is better).
    #[serde(default)]
    pub ceiling: Option<f64>,
    /// Why the bound is where it is.
    #[serde(default)]
    pub why: String,
}

/// Why the gate file could not be used.
#[derive(Debug, Error)]
pub enum GateFileError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid TOML of gates.
    #[error("{path} is not a valid gate file: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A gate bounds nothing.
    #[error("{path}: gate '{ratio}' has neither a floor nor a ceiling")]
    Unbounded {
        /// The file.
        path: String,
        /// The gate's ratio.
        ratio: String,
    },
}

impl GateFile {
    /// Reads and checks the gate file at `path`.
    pub fn load(path: &Path) -> Result<GateFile, GateFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| GateFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let file: GateFile = toml::from_str(&text).map_err(|e| GateFileError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if let Some(gate) = file
            .gates
            .iter()
            .find(|g| g.floor.is_none() && g.ceiling.is_none())
        {
            return Err(GateFileError::Unbounded {
                path: path.display().to_string(),
                ratio: gate.ratio.clone(),
            });
        }
        Ok(file)
    }
}

/// What became of one gate in a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateOutcome {
    /// The ratio gated.
    pub ratio: String,
    /// Its value in this run, when its scenarios ran.
    pub measured: Option<f64>,
    /// The lowest value allowed.
    pub floor: Option<f64>,
    /// The highest value allowed.
    pub ceiling: Option<f64>,
    /// Whether the value is within the bounds.
    pub passed: bool,
    /// Why it passed or failed, in words.
    pub reason: String,
}

/// Checks every gate against the run's ratios.
pub fn evaluate(gates: &GateFile, ratios: &BTreeMap<String, f64>) -> Vec<GateOutcome> {
    gates
        .gates
        .iter()
        .map(|gate| {
            let measured = ratios.get(&gate.ratio).copied();
            let (passed, reason) = match measured {
                None => (
                    false,
                    "not measured: its scenario did not run or failed".to_string(),
                ),
                Some(value) if !value.is_finite() => (false, format!("measured {value}")),
                Some(value) => match (gate.floor, gate.ceiling) {
                    (Some(floor), _) if value < floor => {
                        (false, format!("{value:.3} is below the floor {floor}"))
                    }
                    (_, Some(ceiling)) if value > ceiling => {
                        (false, format!("{value:.3} is above the ceiling {ceiling}"))
                    }
                    _ => (true, format!("{value:.3} within bounds")),
                },
            };
            GateOutcome {
                ratio: gate.ratio.clone(),
                measured,
                floor: gate.floor,
                ceiling: gate.ceiling,
                passed,
                reason,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(text: &str) -> GateFile {
        toml::from_str(text).unwrap()
    }

    fn ratios(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_ratio_below_its_floor_fails_and_above_passes() {
        let file = gates("[[gate]]\nratio = \"a\"\nfloor = 0.8\n");
        let below = evaluate(&file, &ratios(&[("a", 0.79)]));
        assert!(!below[0].passed, "{:?}", below[0]);
        assert!(below[0].reason.contains("below the floor"));
        let above = evaluate(&file, &ratios(&[("a", 0.81)]));
        assert!(above[0].passed, "{:?}", above[0]);
        let equal = evaluate(&file, &ratios(&[("a", 0.8)]));
        assert!(equal[0].passed);
    }

    #[test]
    fn a_ratio_above_its_ceiling_fails() {
        let file = gates("[[gate]]\nratio = \"p50\"\nceiling = 1.2\n");
        assert!(!evaluate(&file, &ratios(&[("p50", 1.21)]))[0].passed);
        assert!(evaluate(&file, &ratios(&[("p50", 1.19)]))[0].passed);
    }

    #[test]
    fn a_missing_scenario_fails() {
        let file = gates("[[gate]]\nratio = \"camera\"\nfloor = 0.5\n");
        let outcome = evaluate(&file, &ratios(&[("other", 9.0)]));
        assert!(!outcome[0].passed);
        assert_eq!(outcome[0].measured, None);
        assert!(outcome[0].reason.contains("not measured"));
    }

    #[test]
    fn a_non_finite_ratio_fails() {
        let file = gates("[[gate]]\nratio = \"a\"\nfloor = 0.5\n");
        assert!(!evaluate(&file, &ratios(&[("a", f64::NAN)]))[0].passed);
    }

    #[test]
    fn a_gate_without_bounds_is_refused_and_the_committed_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gates.toml");
        std::fs::write(&path, "[[gate]]\nratio = \"a\"\n").unwrap();
        assert!(matches!(
            GateFile::load(&path),
            Err(GateFileError::Unbounded { .. })
        ));
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gates.toml");
        let file = GateFile::load(&committed).unwrap();
        assert!(!file.gates.is_empty());
    }
}
