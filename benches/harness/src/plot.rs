//! The latency-vs-throughput plot as a self-contained SVG: for each server, p50 and p99
//! latency against achieved throughput over its open-loop runs (where queueing shows).

use std::fmt::Write;

use crate::stats::{LoadShape, ScenarioResult};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// One line: a label and its (throughput, latency) points.
struct Series {
    label: String,
    colour: &'static str,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// Draws p50 and p99 latency against throughput for the open-loop runs of every target.
pub fn latency_vs_throughput(scenarios: &[ScenarioResult], title: &str) -> String {
    let mut targets: Vec<&str> = Vec::new();
    for s in scenarios {
        if matches!(s.load, LoadShape::Open { .. }) && !targets.contains(&s.target.as_str()) {
            targets.push(&s.target);
        }
    }
    let mut series = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let mut runs: Vec<&ScenarioResult> = scenarios
            .iter()
            .filter(|s| s.target == *target && matches!(s.load, LoadShape::Open { .. }))
            .collect();
        runs.sort_by(|a, b| a.throughput_per_s.total_cmp(&b.throughput_per_s));
        let colour = COLOURS[i % COLOURS.len()];
        for (label, dashed, pick) in [
            (
                "p50",
                false,
                (|s: &ScenarioResult| s.latency.p50_ms) as fn(&ScenarioResult) -> f64,
            ),
            ("p99", true, |s: &ScenarioResult| s.latency.p99_ms),
        ] {
            series.push(Series {
                label: format!("{target} {label}"),
                colour,
                dashed,
                points: runs.iter().map(|s| (s.throughput_per_s, pick(s))).collect(),
            });
        }
    }
    render(&series, title)
}

fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= value {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

/// Powers of ten (as exponents) that bracket the latencies, at least one decade apart.
fn latency_decades(values: impl Iterator<Item = f64>) -> (i32, i32) {
    let (low, high) = values
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !low.is_finite() {
        return (0, 1);
    }
    let low = low.log10().floor() as i32;
    let high = (high.log10().ceil() as i32).max(low + 1);
    (low, high)
}

fn render(series: &[Series], title: &str) -> String {
    let all = series.iter().flat_map(|s| s.points.iter());
    let x_max = nice_ceiling(all.clone().map(|p| p.0).fold(0.0, f64::max) * 1.05);
    let (decade_low, decade_high) = latency_decades(all.map(|p| p.1));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |v: f64| LEFT + v / x_max * plot_w;
    // Latency is on a log scale: queueing past saturation reaches seconds while the useful
    // region is milliseconds, and both must stay readable.
    let span = f64::from(decade_high - decade_low);
    let y = |v: f64| {
        let position = (v.max(10f64.powi(decade_low)).log10() - f64::from(decade_low)) / span;
        TOP + plot_h - position * plot_h
    };

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(title)
    );
    for i in 0..=5 {
        let fraction = f64::from(i) / 5.0;
        let gx = x(x_max * fraction);
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle">{:.0}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0,
            x_max * fraction
        );
    }
    for decade in decade_low..=decade_high {
        let value = 10f64.powi(decade);
        let gy = y(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            gy + 4.0,
            format_tick(value)
        );
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">achieved throughput (requests/s)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 15.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">latency (ms, log scale)</text>"#,
        TOP + plot_h / 2.0
    );
    for (i, s) in series.iter().enumerate() {
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            points.join(" "),
            s.colour
        );
        for (px, py) in &s.points {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                x(*px),
                y(*py),
                s.colour
            );
        }
        let ly = TOP + 14.0 + i as f64 * 20.0;
        let lx = LEFT + plot_w + 14.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 28.0,
            s.colour,
            lx + 34.0,
            ly + 4.0,
            escape(&s.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn format_tick(value: f64) -> String {
    if value >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_up_to_readable_values() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(2.2), 2.5);
    }

    #[test]
    fn latency_axis_spans_whole_decades() {
        assert_eq!(latency_decades([4.2, 9300.0].into_iter()), (0, 4));
        assert_eq!(latency_decades([12.0, 15.0].into_iter()), (1, 2));
        assert_eq!(latency_decades(std::iter::empty()), (0, 1));
    }
}
