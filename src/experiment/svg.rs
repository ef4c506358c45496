//! The Figure 16 plots, in the paper's layout: two panels stacked, each a cumulative
//! distribution of downtime (x: ms, y: percent of trials). The top panel varies the
//! randomness of the range (log x axis, 100 ms to 100 s, as the paper's), the bottom
//! one scales the minimum (linear x axis, 0 to 600 ms). What the paper's text states
//! is drawn beside our curves in black: a median as a dot at 50%, a worst case as a
//! dot at 100%, a mean as a short bar, "all trials above" as a shaded band.
//!
//! Plain SVG text is written by hand: the plot is a few polylines and labels.

use super::paper::{self, Stated};
use super::stats::Samples;
use std::fmt::Write as _;

/// Colours of the curves, in range order (colour-blind friendly: Okabe-Ito).
const COLOURS: &[&str] = &[
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2",
];

const WIDTH: f64 = 820.0;
const PANEL_HEIGHT: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// One curve: a range and its trials.
pub struct Curve<'a> {
    /// The range (ms).
    pub range: (u64, u64),
    /// Its downtimes.
    pub samples: &'a Samples,
}

enum Axis {
    Log { lo: f64, hi: f64 },
    Linear { hi: f64 },
}

impl Axis {
    /// Position in [0, 1] of `v` on the axis (clamped).
    fn frac(&self, v: f64) -> f64 {
        let f = match self {
            Axis::Log { lo, hi } => (v.max(*lo).ln() - lo.ln()) / (hi.ln() - lo.ln()),
            Axis::Linear { hi } => v / hi,
        };
        f.clamp(0.0, 1.0)
    }

    fn ticks(&self) -> Vec<f64> {
        match self {
            Axis::Log { .. } => vec![100.0, 1000.0, 10_000.0, 100_000.0],
            Axis::Linear { hi } => (0..=6).map(|i| f64::from(i) * hi / 6.0).collect(),
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws one panel with its origin at `y0`.
fn panel(out: &mut String, y0: f64, title: &str, axis: &Axis, curves: &[Curve<'_>]) {
    let w = WIDTH - LEFT - RIGHT;
    let h = PANEL_HEIGHT - TOP - BOTTOM;
    let x = |v: f64| LEFT + axis.frac(v) * w;
    let y = |pct: f64| y0 + TOP + h - pct / 100.0 * h;
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="15" font-weight="bold">{}</text>"#,
        LEFT,
        y0 + 24.0,
        esc(title)
    );
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{}" width="{w}" height="{h}" fill="none" stroke="#444"/>"##,
        y0 + TOP
    );
    for pct in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{yy}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" font-size="12" text-anchor="end">{pct}%</text>"##,
            LEFT + w,
            LEFT - 6.0,
            y(pct) + 4.0,
            yy = y(pct)
        );
    }
    for t in axis.ticks() {
        let label = if t >= 1000.0 {
            format!("{}", t)
        } else {
            format!("{}", t.round())
        };
        let _ = writeln!(
            out,
            r##"<line x1="{xx}" x2="{xx}" y1="{}" y2="{}" stroke="#ddd"/><text x="{xx}" y="{}" font-size="12" text-anchor="middle">{label}</text>"##,
            y0 + TOP,
            y0 + TOP + h,
            y0 + TOP + h + 16.0,
            xx = x(t)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="13" text-anchor="middle">time without leader (ms){}</text>"#,
        LEFT + w / 2.0,
        y0 + TOP + h + 36.0,
        if matches!(axis, Axis::Log { .. }) {
            ", log scale"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        r#"<text x="18" y="{}" font-size="13" transform="rotate(-90 18 {})" text-anchor="middle">cumulative percent</text>"#,
        y0 + TOP + h / 2.0,
        y0 + TOP + h / 2.0
    );
    for (i, c) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let sorted = c.samples.sorted();
        let n = sorted.len();
        if n == 0 {
            continue;
        }
        // At most 400 points per curve: every k-th order statistic, plus the last.
        let step = n.div_ceil(400).max(1);
        let mut pts = String::new();
        let mut prev_pct = 0.0;
        for (k, &v) in sorted.iter().enumerate() {
            if k % step != 0 && k + 1 != n {
                continue;
            }
            let pct = (k + 1) as f64 / n as f64 * 100.0;
            let _ = write!(pts, "{:.1},{:.1} ", x(v), y(prev_pct));
            let _ = write!(pts, "{:.1},{:.1} ", x(v), y(pct));
            prev_pct = pct;
        }
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{pts}"/>"#
        );
        let ly = y0 + TOP + 14.0 + i as f64 * 20.0;
        let censored = if c.samples.censored > 0 {
            format!(" ({} > {} s)", c.samples.censored, c.samples.limit_s)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}" font-size="12">{}-{} ms{}</text>"#,
            LEFT + w + 12.0,
            LEFT + w + 32.0,
            LEFT + w + 38.0,
            ly + 4.0,
            c.range.0,
            c.range.1,
            esc(&censored)
        );
        for stated in paper::stated(c.range) {
            match stated {
                Stated::Median(v) => dot(out, x(v), y(50.0), colour, &format!("paper median {v}")),
                Stated::Max(v) => dot(out, x(v), y(100.0), colour, &format!("paper max {v}")),
                Stated::Mean(v) => {
                    let _ = writeln!(
                        out,
                        r#"<line x1="{xx}" x2="{xx}" y1="{}" y2="{}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}" font-size="11">paper mean {v}</text>"#,
                        y(40.0),
                        y(60.0),
                        x(v) + 4.0,
                        y(62.0),
                        xx = x(v)
                    );
                }
                Stated::AllAbove(v) => {
                    let _ = writeln!(
                        out,
                        r#"<rect x="{}" y="{}" width="{}" height="{h}" fill="{colour}" fill-opacity="0.07"/><text x="{}" y="{}" font-size="11">paper: every {}-{} trial &gt; {} s</text>"#,
                        x(v),
                        y0 + TOP,
                        LEFT + w - x(v),
                        x(v) + 4.0,
                        y(8.0),
                        c.range.0,
                        c.range.1,
                        v / 1000.0
                    );
                }
            }
        }
    }
    let ly = y0 + TOP + 14.0 + curves.len() as f64 * 20.0 + 6.0;
    dot(out, LEFT + w + 22.0, ly, "#000", "");
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="11">ringed: the paper's text</text>"#,
        LEFT + w + 38.0,
        ly + 4.0
    );
}

fn dot(out: &mut String, x: f64, y: f64, colour: &str, label: &str) {
    let _ = writeln!(
        out,
        r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{colour}" stroke="#000" stroke-width="1.5"/>"##
    );
    if !label.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            x + 7.0,
            y + 14.0,
            esc(label)
        );
    }
}

/// The two panels of one protocol: `top` and `bottom` curves in the paper's order. A
/// panel without curves (a run of some ranges only, `--ranges`) is left out, unless
/// both are empty.
pub fn figure(protocol: &str, source: &str, top: &[Curve<'_>], bottom: &[Curve<'_>]) -> String {
    let panels = [
        (
            "randomness of the election timeout range",
            Axis::Log {
                lo: 100.0,
                hi: 100_000.0,
            },
            top,
        ),
        (
            "minimum of the range scaled",
            Axis::Linear { hi: 600.0 },
            bottom,
        ),
    ];
    let mut shown: Vec<_> = panels.iter().filter(|(_, _, c)| !c.is_empty()).collect();
    if shown.is_empty() {
        shown.push(&panels[0]);
    }
    let height = shown.len() as f64 * PANEL_HEIGHT;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, (title, axis, curves)) in shown.into_iter().enumerate() {
        panel(
            &mut out,
            i as f64 * PANEL_HEIGHT,
            &format!("{protocol} ({source}): {title}"),
            axis,
            curves,
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_has_both_panels_a_curve_per_range_and_the_papers_points() {
        let a = Samples::new(vec![200.0, 250.0, 290.0, 300.0], 0);
        let b = Samples::new(vec![30.0, 35.0, 40.0], 0);
        let svg = figure(
            "raft",
            "sim",
            &[Curve {
                range: (150, 155),
                samples: &a,
            }],
            &[Curve {
                range: (12, 24),
                samples: &b,
            }],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("paper median 287"));
        assert!(svg.contains("paper mean 35"));
        assert!(svg.contains("150-155 ms") && svg.contains("12-24 ms"));
        assert!(svg.contains("minimum of the range scaled"));
    }

    #[test]
    fn a_panel_without_curves_is_left_out() {
        let a = Samples::new(vec![200.0, 250.0], 0);
        let top = [Curve {
            range: (150, 155),
            samples: &a,
        }];
        let svg = figure("raft", "real", &top, &[]);
        assert!(svg.contains("randomness of the election timeout range"));
        assert!(!svg.contains("minimum of the range scaled"));
        assert!(svg.contains(&format!(r#"height="{PANEL_HEIGHT}""#)));
        let bottom_only = figure("raft", "real", &[], &top);
        assert!(!bottom_only.contains("randomness of the election"));
        assert!(bottom_only.contains("minimum of the range scaled"));
        let neither = figure("raft", "real", &[], &[]);
        assert!(neither.contains("randomness of the election timeout range"));
    }
}
