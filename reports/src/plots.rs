//! Line plots drawn with plotters' SVG backend: election-latency CDFs in the manner of
//! Figure 16 of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
//! Consensus Algorithm", §9.3: x = time, y = cumulative percent of trials), the
//! timeout sweep, throughput against clients and latency percentiles against clients.
//! Bar plots (failover decomposition, message counts) are in `bars.rs`, colours in
//! `palette.rs`. Every axis names its quantity and unit; a line joins only points
//! measured as a series ([`joined_runs`]), the rest are markers.

use std::error::Error;
use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::document::Plot;
use crate::error::ReportError;

/// Result of a drawing closure; plotters' errors are boxed and turned into
/// [`ReportError::Plot`] by [`render`].
pub(crate) type DrawResult = Result<(), Box<dyn Error>>;

/// Width and height of every plot, in pixels.
pub(crate) const PLOT_SIZE: (u32, u32) = (820, 460);

/// Font family of all plot text; SVG viewers pick their own sans-serif face.
pub(crate) const FONT: &str = "sans-serif";

/// An axis tick label: no trailing zeros ("100", "2.5", "0.25").
pub(crate) fn tick(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Draws one plot into an SVG string. `draw` gets the whole drawing area. plotters'
/// SVG backend writes `<text>` elements for the viewer to render and measures labels
/// with a built-in estimate, so no font is needed.
pub(crate) fn render(
    file_name: &str,
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> Result<Plot, ReportError> {
    let mut svg = String::new();
    let outcome = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(|e| Box::new(e) as Box<dyn Error>)
            .and_then(|()| draw(&root));
        drawn.and_then(|()| root.present().map_err(|e| Box::new(e) as Box<dyn Error>))
    };
    match outcome {
        Ok(()) => Ok(Plot {
            file_name: file_name.to_string(),
            title: title.to_string(),
            svg,
        }),
        Err(e) => Err(ReportError::Plot {
            plot: file_name.to_string(),
            message: e.to_string(),
        }),
    }
}

/// One line of a CDF plot: its legend label, colour and raw samples.
pub(crate) struct CdfSeries<'a> {
    /// Legend label.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// Raw samples (any order; invalid values are skipped).
    pub samples: &'a [f64],
}

/// The points of an empirical CDF drawn as a staircase: (value, cumulative percent).
pub(crate) fn cdf_points(samples: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mut points = Vec::with_capacity(sorted.len() * 2);
    for (i, value) in sorted.iter().enumerate() {
        points.push((*value, i as f64 / n * 100.0));
        points.push((*value, (i + 1) as f64 / n * 100.0));
    }
    points
}

/// A CDF plot: x = `x_desc` (milliseconds), y = cumulative percent of trials.
pub(crate) fn cdf_plot(
    file_name: &str,
    title: &str,
    x_desc: &str,
    series: &[CdfSeries<'_>],
) -> Result<Plot, ReportError> {
    let curves: Vec<(&CdfSeries<'_>, Vec<(f64, f64)>)> = series
        .iter()
        .map(|s| (s, cdf_points(s.samples)))
        .filter(|(_, points)| !points.is_empty())
        .collect();
    let x_max = curves
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.0))
        .fold(0.0_f64, f64::max);
    let x_max = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
    render(file_name, title, PLOT_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..100.0)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("cumulative % of trials")
            .label_style((FONT, 13))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
        for (s, points) in &curves {
            let line_color = s.color;
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    line_color.stroke_width(2),
                ))?
                .label(s.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], line_color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// One line of an "against clients" plot.
pub(crate) struct ClientSeries {
    /// Legend label.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// (clients, value) points, in increasing client order.
    pub points: Vec<(f64, f64)>,
    /// Marker: 0 circle, 1 triangle, 2 cross.
    pub marker: usize,
}

/// Which points of one series are joined by lines, as ranges of indices into its
/// points (sorted by x). A line between two points claims the quantity was measured
/// along the way, so the rule is:
///
/// - a series of one or two points is drawn as markers only: two points are no
///   series (a line from 1 to 64 clients would invent everything in between);
/// - a series of three or more points (a sweep) joins each point to the next only
///   when they are neighbours in `planned`, every x the run measured or set out to
///   measure (in any series): a line never bridges an x at which this series has no
///   point, so a gap in a sweep stays a gap.
///
/// Every point keeps its marker whatever the decision.
pub(crate) fn joined_runs(xs: &[f64], planned: &[f64]) -> Vec<Range<usize>> {
    if xs.len() <= 2 {
        return Vec::new();
    }
    let mut plan: Vec<f64> = planned.iter().chain(xs).copied().collect();
    plan.sort_by(f64::total_cmp);
    plan.dedup();
    let slot = |x: f64| plan.iter().position(|p| *p == x);
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=xs.len() {
        let adjacent = i < xs.len()
            && matches!((slot(xs[i - 1]), slot(xs[i])), (Some(a), Some(b)) if b == a + 1);
        if !adjacent {
            if i - start >= 2 {
                runs.push(start..i);
            }
            start = i;
        }
    }
    runs
}

/// A plot of values against client counts, both axes logarithmic when `log_y`,
/// x always logarithmic (client counts grow geometrically in practice). The x axis is
/// labelled at the measured client counts, a logarithmic y axis at 1, 2 and 5 times
/// each power of ten; the legend stands to the right of the plotting area, off the
/// data. `planned` holds the client counts the run set out to measure: lines join
/// only what [`joined_runs`] allows.
pub(crate) fn clients_plot(
    file_name: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    log_y: bool,
    series: &[ClientSeries],
    planned: &[f64],
) -> Result<Plot, ReportError> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let x_min = all().map(|p| p.0).fold(f64::INFINITY, f64::min).max(1.0);
    let x_max = all().map(|p| p.0).fold(1.0_f64, f64::max);
    let (x_lo, x_hi) = (x_min / 1.3, x_max * 1.3);
    let mut client_counts: Vec<f64> = all().map(|p| p.0).filter(|x| *x >= 1.0).collect();
    client_counts.sort_by(f64::total_cmp);
    client_counts.dedup();
    let y_pos_min = all()
        .map(|p| p.1)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let y_max = all().map(|p| p.1).fold(0.0_f64, f64::max);
    let y_max = if y_max > 0.0 { y_max } else { 1.0 };
    let x_axis = (x_lo..x_hi).log_scale().with_key_points(client_counts);
    render(file_name, title, PLOT_SIZE, |root| {
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(title, (FONT, 20))
            .margin(12)
            .margin_right(LEGEND_WIDTH)
            .x_label_area_size(42)
            .y_label_area_size(70);
        if log_y {
            let y_lo = if y_pos_min.is_finite() {
                y_pos_min / 1.5
            } else {
                y_max / 10.0
            };
            let y_hi = y_max * 1.5;
            let y_axis = (y_lo..y_hi)
                .log_scale()
                .with_key_points(log_ticks(y_lo, y_hi));
            let mut chart = builder.build_cartesian_2d(x_axis, y_axis)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .label_style((FONT, 13))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| tick(*y))
                .draw()?;
            draw_client_series(&mut chart, series, planned)?;
        } else {
            let mut chart = builder.build_cartesian_2d(x_axis, 0.0..y_max * 1.1)?;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .label_style((FONT, 13))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| tick(*y))
                .draw()?;
            draw_client_series(&mut chart, series, planned)?;
        }
        draw_client_legend(root, series, planned)
    })
}

/// Room at the right of a [`clients_plot`] for its legend, in pixels.
const LEGEND_WIDTH: u32 = 130;

/// Ticks for a logarithmic axis over `lo..=hi`: 1, 2 and 5 times each power of ten
/// in the range, or the range's ends if it holds none of them.
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let mut ticks = Vec::new();
    let mut decade = 10f64.powi(lo.log10().floor() as i32);
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = m * decade;
            if t >= lo && t <= hi {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    if ticks.is_empty() {
        ticks = vec![lo, hi];
    }
    ticks
}

/// The x axis of every plot against clients.
pub(crate) const CLIENTS_DESC: &str = "closed-loop clients (count, log scale)";

/// The runs of a client series' points that [`joined_runs`] lets a line join.
fn client_runs(s: &ClientSeries, planned: &[f64]) -> Vec<Range<usize>> {
    let xs: Vec<f64> = s.points.iter().map(|p| p.0).collect();
    joined_runs(&xs, planned)
}

/// Draws markers, and lines where [`joined_runs`] allows, on either kind of y axis.
fn draw_client_series<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    series: &[ClientSeries],
    planned: &[f64],
) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        for run in client_runs(s, planned) {
            let points = s.points.get(run).unwrap_or_default();
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                s.color.stroke_width(2),
            ))?;
        }
        chart.draw_series(s.points.iter().map(|&p| marker(s.marker, p, s.color)))?;
    }
    Ok(())
}

/// The legend of a [`clients_plot`], in the room right of its plotting area: the
/// series' marker (on a short line when the series is drawn with lines), then its
/// label. The marker is what tells p50, p99
/// and p999 apart.
fn draw_client_legend(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    series: &[ClientSeries],
    planned: &[f64],
) -> DrawResult {
    let x = PLOT_SIZE.0 as i32 - LEGEND_WIDTH as i32 + 4;
    let mut y = 48;
    for s in series.iter().filter(|s| !s.points.is_empty()) {
        // A line in the legend only for a series drawn with lines.
        if !client_runs(s, planned).is_empty() {
            root.draw(&PathElement::new(
                vec![(x, y), (x + 20, y)],
                s.color.stroke_width(2),
            ))?;
        }
        root.draw(&marker(s.marker, (x + 10, y), s.color))?;
        root.draw(&Text::new(
            s.label.as_str(),
            (x + 26, y - 7),
            (FONT, 12).into_font().color(&BLACK),
        ))?;
        y += 18;
    }
    Ok(())
}

/// A series marker at `at`: 0 circle, 1 triangle, anything else a cross.
fn marker<C, DB: DrawingBackend>(kind: usize, at: C, color: RGBColor) -> DynElement<'static, DB, C>
where
    C: Clone + 'static,
{
    match kind {
        0 => Circle::new(at, 4, color.filled()).into_dyn(),
        1 => TriangleMarker::new(at, 5, color.filled()).into_dyn(),
        _ => Cross::new(at, 5, color.stroke_width(2)).into_dyn(),
    }
}

/// One line of the timeout-sweep summary plot.
pub(crate) struct SweepSeries {
    /// Legend label.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// (index into the settings, median ms, p99 ms).
    pub points: Vec<(usize, f64, f64)>,
}

/// Election time against the timeout setting: median (circles, joined as
/// [`joined_runs`] allows) and p99 (triangles) for each (protocol, cluster size) that
/// has sweep points.
pub(crate) fn sweep_plot(
    file_name: &str,
    title: &str,
    y_desc: &str,
    settings: &[String],
    series: &[SweepSeries],
) -> Result<Plot, ReportError> {
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1.max(p.2)))
        .fold(0.0_f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    // A segmented range 0..=k has k+1 slots: ask for one per setting (at least two).
    let slots = settings.len().max(2);
    render(file_name, title, PLOT_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d((0..slots - 1).into_segmented(), 0.0..y_max)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("election timeout setting (ms)")
            .y_desc(y_desc)
            .label_style((FONT, 13))
            .y_label_formatter(&|v| tick(*v))
            .x_labels(slots)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => settings.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()?;
        let planned: Vec<f64> = (0..settings.len()).map(|i| i as f64).collect();
        for s in series {
            let c = s.color;
            let median: Vec<(SegmentValue<usize>, f64)> = s
                .points
                .iter()
                .map(|&(i, p50, _)| (SegmentValue::CenterOf(i), p50))
                .collect();
            let xs: Vec<f64> = s.points.iter().map(|p| p.0 as f64).collect();
            for run in joined_runs(&xs, &planned) {
                let points = median.get(run).unwrap_or_default();
                chart.draw_series(LineSeries::new(points.iter().cloned(), c.stroke_width(2)))?;
            }
            chart
                .draw_series(
                    median
                        .iter()
                        .map(|(x, y)| Circle::new((x.clone(), *y), 4, c.filled())),
                )?
                .label(format!("{} median", s.label))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
            chart
                .draw_series(s.points.iter().map(|&(i, _, p99)| {
                    TriangleMarker::new((SegmentValue::CenterOf(i), p99), 5, c.filled())
                }))?
                .label(format!("{} p99", s.label))
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 5, c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_one_two_five_per_decade_inside_the_range() {
        assert_eq!(
            log_ticks(150.0, 12_000.0),
            [200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0]
        );
        assert_eq!(log_ticks(0.7, 1.5), [1.0]);
        assert_eq!(log_ticks(3.0, 4.0), [3.0, 4.0], "no 1-2-5 tick: the ends");
        assert!(log_ticks(0.0, 4.0).is_empty());
    }

    #[test]
    fn cdf_is_a_staircase_to_one_hundred_percent() {
        let points = cdf_points(&[20.0, 10.0, f64::NAN]);
        assert_eq!(
            points,
            vec![(10.0, 0.0), (10.0, 50.0), (20.0, 50.0), (20.0, 100.0)]
        );
        assert!(cdf_points(&[]).is_empty());
    }

    #[test]
    fn two_points_are_markers_a_sweep_is_a_line() {
        let planned = [1.0, 4.0, 16.0, 64.0];
        // 1 and 64 clients with nothing between: no line.
        assert!(joined_runs(&[1.0, 64.0], &planned).is_empty());
        assert!(joined_runs(&[1.0, 64.0], &[1.0, 64.0]).is_empty());
        assert!(joined_runs(&[4.0], &planned).is_empty());
        // The full sweep: one line through every point.
        assert_eq!(joined_runs(&planned, &planned), vec![0..4]);
        // A hole at 16: 1-4 joined, no line across the hole to 64.
        assert_eq!(joined_runs(&[1.0, 4.0, 64.0], &planned), vec![0..2]);
        // Three points, each alone between gaps: markers only.
        assert!(joined_runs(&[1.0, 16.0, 256.0], &[1.0, 4.0, 16.0, 64.0, 256.0]).is_empty());
        // Points outside the plan extend it (older files list no client counts).
        assert_eq!(joined_runs(&[1.0, 2.0, 3.0], &[]), vec![0..3]);
    }

    #[test]
    fn a_cdf_plot_is_an_svg_with_its_title() {
        let samples = [150.0, 160.0, 170.0];
        let plot = cdf_plot(
            "t.svg",
            "Election <time> & more",
            "ms",
            &[CdfSeries {
                label: "raft".into(),
                color: crate::palette::RAFT,
                samples: &samples,
            }],
        )
        .unwrap();
        assert!(plot.svg.starts_with("<svg"), "{}", &plot.svg[..40]);
        assert!(plot.svg.contains("Election &lt;time&gt; &amp; more"));
    }
}
