//! The ratios a run reports and gates on, computed from its scenarios. Each compares two
//! measurements taken in the same run, so the machine's speed cancels out.

use std::collections::BTreeMap;

use crate::stats::{LoadShape, ScenarioResult};

/// Highest closed-loop throughput of `target` with `protocol`: its throughput at saturation.
pub fn saturation(scenarios: &[ScenarioResult], target: &str, protocol: &str) -> Option<f64> {
    scenarios
        .iter()
        .filter(|s| s.target == target && s.protocol == protocol)
        .filter(|s| matches!(s.load, LoadShape::Closed { .. }))
        .map(|s| s.throughput_per_s)
        .fold(None, |best, t| Some(best.map_or(t, |b: f64| b.max(t))))
}

/// p50 latency of `target` with `protocol` and one sequential client.
pub fn sequential_p50(scenarios: &[ScenarioResult], target: &str, protocol: &str) -> Option<f64> {
    scenarios
        .iter()
        .find(|s| {
            s.target == target
                && s.protocol == protocol
                && s.load == LoadShape::Closed { concurrency: 1 }
        })
        .map(|s| s.latency.p50_ms)
}

/// Peak resident memory of `target`, in MiB, over its closed-loop scenarios (`open: false`: a
/// fixed number of requests in flight, the same for every server) or its open-loop ones
/// (`open: true`: the arrival rate is fixed, so past saturation requests pile up in whatever
/// the server lets queue).
pub fn peak_rss(scenarios: &[ScenarioResult], target: &str, open: bool) -> Option<f64> {
    scenarios
        .iter()
        .filter(|s| s.target == target)
        .filter(|s| matches!(s.load, LoadShape::Open { .. }) == open)
        .filter_map(|s| s.server.map(|u| u.peak_rss_mib))
        .fold(None, |best, m| Some(best.map_or(m, |b: f64| b.max(m))))
}

fn divide(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    }
}

/// Every ratio the scenarios allow; a ratio whose scenarios did not run is absent.
pub fn compute(scenarios: &[ScenarioResult]) -> BTreeMap<String, f64> {
    let mut ratios = BTreeMap::new();
    let mut put = |name: &str, value: Option<f64>| {
        if let Some(v) = value {
            ratios.insert(name.to_string(), v);
        }
    };
    let sat = |target, protocol| saturation(scenarios, target, protocol);
    put(
        "outpost_binary_vs_inprocess_throughput",
        divide(sat("outpost", "binary"), sat("in-process", "direct")),
    );
    put(
        "outpost_binary_vs_inprocess_p50",
        divide(
            sequential_p50(scenarios, "outpost", "binary"),
            sequential_p50(scenarios, "in-process", "direct"),
        ),
    );
    put(
        "outpost_vs_python_binary_throughput",
        divide(sat("outpost", "binary"), sat("python", "binary")),
    );
    put(
        "outpost_vs_python_json_throughput",
        divide(sat("outpost", "json"), sat("python", "json")),
    );
    put(
        "outpost_json_vs_binary_throughput",
        divide(sat("outpost", "json"), sat("outpost", "binary")),
    );
    put(
        "outpost_camera_vs_binary_throughput",
        divide(sat("outpost", "camera"), sat("outpost", "binary_paired")),
    );
    put(
        "python_vs_outpost_peak_rss",
        divide(
            peak_rss(scenarios, "python", false),
            peak_rss(scenarios, "outpost", false),
        ),
    );
    for resolution in ["720p", "1080p"] {
        let throughput = |a: &str, b: &str| {
            median(
                camera_pairs(scenarios, resolution, a, b)
                    .iter()
                    .map(|(x, y)| x.throughput_per_s / y.throughput_per_s),
            )
        };
        put(
            &format!("outpost_vs_python_camera_{resolution}_throughput"),
            throughput("outpost", "python"),
        );
        put(
            &format!("python_vs_outpost_camera_{resolution}_p99"),
            median(
                camera_pairs(scenarios, resolution, "outpost", "python")
                    .iter()
                    .map(|(o, p)| p.latency.p99_ms / o.latency.p99_ms),
            ),
        );
        // The ceiling: the camera path without server, protocol or load generator, against
        // the peer; and how much of it Outpost reaches.
        put(
            &format!("inprocess_vs_python_camera_{resolution}_throughput"),
            throughput("in-process", "python"),
        );
        put(
            &format!("outpost_vs_inprocess_camera_{resolution}_throughput"),
            throughput("outpost", "in-process"),
        );
    }
    ratios
}

/// Two targets' results (`first`, `second`) for each benchmark photo of `resolution`
/// (protocols `camera_<photo>_<resolution>`), where both ran and answered.
pub fn camera_pairs<'a>(
    scenarios: &'a [ScenarioResult],
    resolution: &str,
    first: &str,
    second: &str,
) -> Vec<(&'a ScenarioResult, &'a ScenarioResult)> {
    let suffix = format!("_{resolution}");
    let answered = |s: &ScenarioResult| s.throughput_per_s > 0.0 && s.latency.p99_ms > 0.0;
    scenarios
        .iter()
        .filter(|s| s.target == first)
        .filter(|s| s.protocol.starts_with("camera_") && s.protocol.ends_with(&suffix))
        .filter_map(|a| {
            let b = scenarios
                .iter()
                .find(|s| s.target == second && s.protocol == a.protocol)?;
            (answered(a) && answered(b)).then_some((a, b))
        })
        .collect()
}

/// The median of `values`, when there are any.
fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{LatencySummary, ProcessUsage};
    use std::collections::BTreeMap;

    fn scenario(
        target: &str,
        protocol: &str,
        load: LoadShape,
        rps: f64,
        p50: f64,
    ) -> ScenarioResult {
        ScenarioResult {
            name: format!("{target}/{protocol}"),
            target: target.into(),
            protocol: protocol.into(),
            load,
            duration_s: 1.0,
            successes: rps as u64,
            throughput_per_s: rps,
            latency: LatencySummary {
                p50_ms: p50,
                p90_ms: p50,
                p99_ms: p50,
                max_ms: p50,
                mean_ms: p50,
            },
            errors: BTreeMap::new(),
            server: Some(ProcessUsage {
                peak_rss_mib: rps,
                cpu_seconds: 1.0,
            }),
        }
    }

    #[test]
    fn ratios_use_saturation_and_the_sequential_client() {
        let closed = |c| LoadShape::Closed { concurrency: c };
        let scenarios = vec![
            scenario("in-process", "direct", closed(1), 200.0, 5.0),
            scenario("in-process", "direct", closed(2), 400.0, 5.0),
            scenario("outpost", "binary", closed(1), 180.0, 5.5),
            scenario("outpost", "binary", closed(4), 360.0, 11.0),
            // Open-loop runs never count as saturation.
            scenario(
                "outpost",
                "binary",
                LoadShape::Open { rate_per_s: 900.0 },
                900.0,
                50.0,
            ),
            scenario("python", "binary", closed(4), 120.0, 30.0),
        ];
        let ratios = compute(&scenarios);
        assert_eq!(ratios["outpost_binary_vs_inprocess_throughput"], 0.9);
        assert_eq!(ratios["outpost_binary_vs_inprocess_p50"], 1.1);
        assert_eq!(ratios["outpost_vs_python_binary_throughput"], 3.0);
        assert!(!ratios.contains_key("outpost_vs_python_json_throughput"));
        // Memory compares the fixed-concurrency runs; the open-loop overload is left out.
        assert_eq!(ratios["python_vs_outpost_peak_rss"], 120.0 / 360.0);
        assert_eq!(peak_rss(&scenarios, "outpost", true), Some(900.0));
    }

    #[test]
    fn camera_ratios_are_medians_over_the_photos_of_each_resolution() {
        let closed = LoadShape::Closed { concurrency: 4 };
        let mut scenarios = Vec::new();
        // Outpost at 2x, 3x and 1x the peer's throughput on the 720p photos, with half, a third
        // and the same p99 (p99 equals p50 in these results).
        for (photo, outpost_rps, python_rps) in [
            ("a", 200.0, 100.0),
            ("b", 300.0, 100.0),
            ("c", 100.0, 100.0),
        ] {
            let protocol = format!("camera_{photo}_720p");
            scenarios.push(scenario(
                "outpost",
                &protocol,
                closed,
                outpost_rps,
                10.0 / outpost_rps * 100.0,
            ));
            scenarios.push(scenario("python", &protocol, closed, python_rps, 10.0));
            let two = LoadShape::Closed { concurrency: 2 };
            scenarios.push(scenario(
                "in-process",
                &protocol,
                two,
                4.0 * python_rps,
                5.0,
            ));
        }
        // A 1080p photo the peer did not answer is left out.
        scenarios.push(scenario("outpost", "camera_a_1080p", closed, 50.0, 5.0));
        scenarios.push(scenario("python", "camera_a_1080p", closed, 0.0, 0.0));
        let ratios = compute(&scenarios);
        assert_eq!(ratios["outpost_vs_python_camera_720p_throughput"], 2.0);
        assert!((ratios["python_vs_outpost_camera_720p_p99"] - 2.0).abs() < 1e-9);
        assert!(!ratios.contains_key("outpost_vs_python_camera_1080p_throughput"));
        assert_eq!(ratios["inprocess_vs_python_camera_720p_throughput"], 4.0);
        assert_eq!(ratios["outpost_vs_inprocess_camera_720p_throughput"], 0.5);
    }
}
