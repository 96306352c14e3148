//! The scheduling benchmark's figures and its gate (`outpost-bench-scheduling`): one row per
//! model, photo size, client count and server, and the verdict at each point of the shipped
//! default against the best fixed configuration measured beside it.

use serde::Serialize;

/// One point's figures for one server.
#[derive(Debug, Serialize, Clone)]
pub struct Row {
    /// The model's folder name under `models/`.
    pub model: String,
    /// `720p` or `1080p`.
    pub photo: String,
    /// Closed-loop clients.
    pub clients: usize,
    /// The server: `default` or a fixed configuration's name.
    pub side: String,
    /// Answers per second.
    pub infer_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// The server's CPU time per answer, ms.
    pub cpu_ms_per_infer: f64,
    /// Failed requests.
    pub errors: u64,
}

/// The gate at one point: the default against the best fixed configuration.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// The model.
    pub model: String,
    /// The photo size.
    pub photo: String,
    /// Clients.
    pub clients: usize,
    /// `p50` (one client) or `throughput`.
    pub measure: &'static str,
    /// The default's figure.
    pub default: f64,
    /// The best fixed configuration's figure.
    pub best_fixed: f64,
    /// Which fixed configuration that was.
    pub best_side: String,
    /// Default over best for throughput, best over default for p50: 1.0 is as good.
    pub ratio: f64,
    /// Whether the ratio is within the tolerance.
    pub pass: bool,
}

/// What a verdict compares, and which way is better.
#[derive(Debug, Clone, Copy)]
enum Measure {
    P50,
    Throughput,
    CpuPerAnswer,
}

impl Measure {
    fn name(self) -> &'static str {
        match self {
            Measure::P50 => "p50",
            Measure::Throughput => "throughput",
            Measure::CpuPerAnswer => "CPU per answer",
        }
    }

    fn figure(self, row: &Row) -> f64 {
        match self {
            Measure::P50 => row.p50_ms,
            Measure::Throughput => row.infer_per_s,
            Measure::CpuPerAnswer => row.cpu_ms_per_infer,
        }
    }

    /// `default` against `other`: above 1 where the default is better.
    fn ratio(self, default: &Row, other: &Row) -> f64 {
        match self {
            Measure::Throughput => default.infer_per_s / other.infer_per_s,
            Measure::P50 | Measure::CpuPerAnswer => self.figure(other) / self.figure(default),
        }
    }
}

/// The gate at every point of `rows`: the side named `default_side` against the best of the
/// others, p50 with one client, throughput with more, and also server CPU time per answer at
/// `cpu_clients` clients, each passing within `tolerance` (0.10: 10 %).
pub fn verdicts(
    rows: &[Row],
    default_side: &str,
    tolerance: f64,
    cpu_clients: Option<usize>,
) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for default in rows.iter().filter(|r| r.side == default_side) {
        let mut measures = vec![if default.clients == 1 {
            Measure::P50
        } else {
            Measure::Throughput
        }];
        if cpu_clients == Some(default.clients) {
            measures.push(Measure::CpuPerAnswer);
        }
        for measure in measures {
            let best = rows
                .iter()
                .filter(|r| {
                    r.side != default_side
                        && (&r.model, &r.photo, r.clients)
                            == (&default.model, &default.photo, default.clients)
                })
                .min_by(|a, b| {
                    measure
                        .ratio(default, a)
                        .total_cmp(&measure.ratio(default, b))
                });
            let Some(best) = best else { continue };
            let ratio = measure.ratio(default, best);
            verdicts.push(Verdict {
                model: default.model.clone(),
                photo: default.photo.clone(),
                clients: default.clients,
                measure: measure.name(),
                default: measure.figure(default),
                best_fixed: measure.figure(best),
                best_side: best.side.clone(),
                ratio,
                pass: ratio >= 1.0 - tolerance,
            });
        }
    }
    verdicts
}

/// The rows, the idle memory of each server and the verdicts as Markdown tables.
pub fn markdown(rows: &[Row], idle: &[(String, f64)], verdicts: &[Verdict]) -> String {
    let mut text = String::from(
        "| model | photo | clients | server | infer/s | p50 ms | p99 ms | server CPU ms per answer | errors |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        text.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} |\n",
            r.model,
            r.photo,
            r.clients,
            r.side,
            r.infer_per_s,
            r.p50_ms,
            r.p99_ms,
            r.cpu_ms_per_infer,
            r.errors
        ));
    }
    text.push_str("\n| server | idle RSS MiB |\n|---|---|\n");
    for (side, mib) in idle {
        text.push_str(&format!("| {side} | {mib:.1} |\n"));
    }
    text.push_str(
        "\n| model | photo | clients | measure | default | best fixed | best fixed side | default against best | gate |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for v in verdicts {
        text.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {} | {:.3} | {} |\n",
            v.model,
            v.photo,
            v.clients,
            v.measure,
            v.default,
            v.best_fixed,
            v.best_side,
            v.ratio,
            if v.pass { "pass" } else { "FAIL" }
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(side: &str, clients: usize, infer_per_s: f64, p50_ms: f64) -> Row {
        Row {
            model: "m".into(),
            photo: "720p".into(),
            clients,
            side: side.into(),
            infer_per_s,
            p50_ms,
            p99_ms: p50_ms * 2.0,
            cpu_ms_per_infer: 5.0,
            errors: 0,
        }
    }

    #[test]
    fn one_client_is_judged_on_p50_and_more_on_throughput_against_the_best_fixed() {
        let rows = vec![
            row("default", 1, 100.0, 5.0),
            row("latency", 1, 110.0, 4.8),
            row("throughput", 1, 80.0, 6.0),
            row("default", 2, 150.0, 9.0),
            row("latency", 2, 160.0, 9.0),
            row("throughput", 2, 250.0, 7.0),
        ];
        let verdicts = verdicts(&rows, "default", 0.10, None);
        assert_eq!(verdicts.len(), 2);
        let one = &verdicts[0];
        assert_eq!(
            (one.clients, one.measure, one.best_side.as_str()),
            (1, "p50", "latency")
        );
        assert!((one.ratio - 0.96).abs() < 1e-9 && one.pass);
        let two = &verdicts[1];
        assert_eq!(
            (two.measure, two.best_side.as_str()),
            ("throughput", "throughput")
        );
        assert!((two.ratio - 0.6).abs() < 1e-9 && !two.pass);
    }

    #[test]
    fn a_default_better_than_every_fixed_side_passes_and_the_table_says_so() {
        let rows = vec![row("default", 4, 300.0, 12.0), row("fixed", 4, 280.0, 13.0)];
        let verdicts = verdicts(&rows, "default", 0.10, None);
        assert!(verdicts[0].ratio > 1.0 && verdicts[0].pass);
        let table = markdown(&rows, &[("default".into(), 58.0)], &verdicts);
        assert!(table
            .contains("| m | 720p | 4 | throughput | 300.00 | 280.00 | fixed | 1.071 | pass |"));
        assert!(table.contains("| default | 58.0 |"));
    }

    #[test]
    fn cpu_per_answer_is_judged_at_the_chosen_client_count_lower_being_better() {
        let mut heavy = row("default", 4, 300.0, 12.0);
        heavy.cpu_ms_per_infer = 6.0;
        let mut lean = row("throughput", 4, 290.0, 12.5);
        lean.cpu_ms_per_infer = 5.0;
        let rows = vec![heavy, lean];
        let verdicts = verdicts(&rows, "default", 0.10, Some(4));
        assert_eq!(verdicts.len(), 2);
        let cpu = &verdicts[1];
        assert_eq!(cpu.measure, "CPU per answer");
        assert!((cpu.ratio - 5.0 / 6.0).abs() < 1e-9 && !cpu.pass);
        assert!(verdicts[0].pass);
    }
}
