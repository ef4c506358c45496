//! Horizontal stacked bar plots: the failover decomposition (detection, election,
//! recovery, first commit; docs/DESIGN.md "Fair comparison rules") read as a timeline from
//! the leader's loss, and messages per operation / per election by message kind.
//! Bars are horizontal so that long category names ("paxos n=5 isolate") stay legible.

use plotters::prelude::*;

use crate::document::{Plot, NOT_MEASURED};
use crate::error::ReportError;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::plots::{render, tick, FONT, PLOT_SIZE};

/// One bar: its label and segment lengths (in the order of the segment names), or
/// `None` when the quantity was not measured (the bar then says so).
pub(crate) struct StackedBar {
    /// Category label, left of the bar.
    pub label: String,
    /// Segment lengths, or `None` for "not measured".
    pub segments: Option<Vec<f64>>,
}

/// One kind of segment: its legend name and colour.
pub(crate) struct SegmentKind {
    /// Legend name.
    pub name: String,
    /// Fill colour.
    pub color: RGBColor,
}

/// Size and axis text of a bar chart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BarFrame<'a> {
    /// File name of the plot.
    pub file_name: &'a str,
    /// Caption.
    pub title: &'a str,
    /// Description of the value axis, with its unit.
    pub x_desc: &'a str,
    /// Description of the category axis (what a bar is).
    pub y_desc: &'a str,
    /// Width of the chart, legend excluded, in pixels.
    pub chart_width: u32,
    /// Width of the legend column right of the chart, in pixels.
    pub legend_width: u32,
    /// Font size of the caption.
    pub caption_size: u32,
}

impl<'a> BarFrame<'a> {
    /// The frame of a plot in the body of the report: full width.
    pub fn full(file_name: &'a str, title: &'a str, x_desc: &'a str, y_desc: &'a str) -> Self {
        BarFrame {
            file_name,
            title,
            x_desc,
            y_desc,
            chart_width: PLOT_SIZE.0,
            legend_width: 200,
            caption_size: 20,
        }
    }

    /// The same frame, small enough to stand beside a table (510 pixels).
    pub fn compact(self) -> Self {
        BarFrame {
            chart_width: 400,
            legend_width: 110,
            caption_size: 16,
            ..self
        }
    }
}

/// Draws `bars` top to bottom, each stacked from zero in the order of `kinds`. A
/// segment wide enough for its kind's name carries it; the legend sits right of the
/// chart so it never hides a bar.
pub(crate) fn stacked_bars(
    frame: BarFrame<'_>,
    kinds: &[SegmentKind],
    bars: &[StackedBar],
) -> Result<Plot, ReportError> {
    let clean = |v: &f64| if v.is_finite() && *v > 0.0 { *v } else { 0.0 };
    let total = |b: &StackedBar| {
        b.segments
            .as_ref()
            .map_or(0.0, |s| s.iter().map(clean).sum())
    };
    let x_max = bars.iter().map(total).fold(0.0_f64, f64::max);
    let x_max = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
    let count = bars.len().max(1);
    // A segmented range 0..=k has k+1 slots; ask for exactly `count` (at least two,
    // since a one-value range has no width).
    let slots = count.max(2);
    let row_height = 30;
    let legend_height = 24 * kinds.len() as u32 + 80;
    let height = (110 + row_height * slots as u32)
        .max(legend_height)
        .max(240);
    let longest_label = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(4);
    // Room for the longest label and, left of it, the axis description.
    let label_area = (longest_label as u32 * 7 + 16).clamp(60, 260) + 24;
    // plotters' y axis grows upwards: bar 0 goes to the top row.
    let row = |i: usize| slots - 1 - i;
    let bar_of_row = |r: usize| (slots - 1).checked_sub(r).and_then(|i| bars.get(i));
    let width = frame.chart_width + frame.legend_width;
    let x_labels = (frame.chart_width / 70).max(3) as usize;
    render(frame.file_name, frame.title, (width, height), |root| {
        let (chart_area, legend_area) = root.split_horizontally(frame.chart_width);
        let mut chart = ChartBuilder::on(&chart_area)
            .caption(frame.title, (FONT, frame.caption_size))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0.0..x_max, (0..slots - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(frame.x_desc)
            .y_desc(frame.y_desc)
            .label_style((FONT, 13))
            .x_labels(x_labels)
            .x_label_formatter(&|v| tick(*v))
            .y_labels(slots)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(r) => {
                    bar_of_row(*r).map(|b| b.label.clone()).unwrap_or_default()
                }
                _ => String::new(),
            })
            .draw()?;
        let pixels_per_unit = f64::from(frame.chart_width.saturating_sub(label_area + 24)) / x_max;
        for (k, kind) in kinds.iter().enumerate() {
            let mut rects = Vec::new();
            let mut names = Vec::new();
            for (i, bar) in bars.iter().enumerate() {
                let Some(segments) = &bar.segments else {
                    continue;
                };
                let start: f64 = segments.iter().take(k).map(clean).sum();
                let length = segments.get(k).map_or(0.0, clean);
                if length <= 0.0 {
                    continue;
                }
                let top = SegmentValue::Exact(row(i) + 1);
                let mut rect = Rectangle::new(
                    [(start, SegmentValue::Exact(row(i))), (start + length, top)],
                    kind.color.filled(),
                );
                rect.set_margin(4, 4, 0, 0);
                rects.push(rect);
                let fits = length * pixels_per_unit > kind.name.chars().count() as f64 * 6.5 + 8.0;
                if fits {
                    names.push(Text::new(
                        kind.name.clone(),
                        (start + length / 2.0, SegmentValue::CenterOf(row(i))),
                        (FONT, 11)
                            .into_font()
                            .color(&text_color_on(kind.color))
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    ));
                }
            }
            chart.draw_series(rects)?;
            chart.draw_series(names)?;
        }
        let missing = bars
            .iter()
            .enumerate()
            .filter(|(_, b)| b.segments.is_none());
        chart.draw_series(missing.map(|(i, _)| {
            Text::new(
                NOT_MEASURED,
                (x_max * 0.01, SegmentValue::CenterOf(row(i))),
                (FONT, 13)
                    .into_font()
                    .color(&RGBColor(90, 90, 90))
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            )
        }))?;
        for (k, kind) in kinds.iter().enumerate() {
            let y = 50 + 24 * k as i32;
            legend_area.draw(&Rectangle::new(
                [(8, y - 7), (22, y + 7)],
                kind.color.filled(),
            ))?;
            legend_area.draw(&Text::new(
                kind.name.clone(),
                (30, y),
                (FONT, 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
        Ok(())
    })
}

/// Black or white, whichever reads better on `fill`.
fn text_color_on(fill: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = fill;
    let luminance = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    if luminance > 150.0 {
        BLACK
    } else {
        WHITE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::palette::category_color;

    #[test]
    fn missing_bars_say_not_measured() {
        let plot = stacked_bars(
            BarFrame::full("f.svg", "Failover", "ms", "run").compact(),
            &[
                SegmentKind {
                    name: "detection".into(),
                    color: category_color(0),
                },
                SegmentKind {
                    name: "election".into(),
                    color: category_color(1),
                },
            ],
            &[
                StackedBar {
                    label: "raft n=3 kill".into(),
                    segments: Some(vec![150.0, 20.0]),
                },
                StackedBar {
                    label: "zab n=3 kill".into(),
                    segments: None,
                },
            ],
        )
        .unwrap();
        assert!(plot.svg.contains(NOT_MEASURED));
        assert!(plot.svg.contains("raft n=3 kill"));
        assert!(plot.svg.contains("detection"));
        assert!(plot.svg.contains("width=\"510\""), "compact: 400 + 110");
    }
}
