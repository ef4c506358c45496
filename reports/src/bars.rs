//! Horizontal stacked bar plots: the failover decomposition (detection, election,
//! recovery, first commit; DESIGN.md "Fair comparison rules") read as a timeline from
//! the leader's loss, and messages per operation / per election by message kind.
//! Bars are horizontal so that long category names ("paxos n=5 isolate") stay legible.

use plotters::prelude::*;

use crate::document::{Plot, NOT_MEASURED};
use crate::error::ReportError;
use crate::plots::{render, FONT, PLOT_SIZE};

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

/// Draws `bars` top to bottom, each stacked from zero in the order of `kinds`.
pub(crate) fn stacked_bars(
    file_name: &str,
    title: &str,
    x_desc: &str,
    kinds: &[SegmentKind],
    bars: &[StackedBar],
) -> Result<Plot, ReportError> {
    let total = |b: &StackedBar| {
        b.segments.as_ref().map_or(0.0, |s| {
            s.iter().filter(|v| v.is_finite() && **v > 0.0).sum()
        })
    };
    let x_max = bars.iter().map(total).fold(0.0_f64, f64::max);
    let x_max = if x_max > 0.0 { x_max * 1.08 } else { 1.0 };
    let count = bars.len().max(1);
    let height = (140 + 34 * count as u32).max(280);
    let longest_label = bars.iter().map(|b| b.label.len()).max().unwrap_or(4);
    let label_area = (longest_label as u32 * 8 + 16).clamp(60, 260);
    // plotters' y axis grows upwards: bar 0 goes to the top row.
    let row = |i: usize| count - 1 - i;
    render(file_name, title, (PLOT_SIZE.0, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0.0..x_max, (0..count).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(x_desc)
            .label_style((FONT, 13))
            .y_labels(count)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(r) => bars
                    .get(count.saturating_sub(1).saturating_sub(*r))
                    .map(|b| b.label.clone())
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .draw()?;
        for (k, kind) in kinds.iter().enumerate() {
            let fill = kind.color;
            let mut rects = Vec::new();
            for (i, bar) in bars.iter().enumerate() {
                let Some(segments) = &bar.segments else {
                    continue;
                };
                let clean = |v: &f64| if v.is_finite() && *v > 0.0 { *v } else { 0.0 };
                let start: f64 = segments.iter().take(k).map(clean).sum();
                let length = segments.get(k).map_or(0.0, clean);
                if length <= 0.0 {
                    continue;
                }
                let mut rect = Rectangle::new(
                    [
                        (start, SegmentValue::Exact(row(i))),
                        (start + length, SegmentValue::Exact(row(i) + 1)),
                    ],
                    fill.filled(),
                );
                rect.set_margin(5, 5, 0, 0);
                rects.push(rect);
            }
            chart
                .draw_series(rects)?
                .label(kind.name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], fill.filled()));
        }
        let missing = bars
            .iter()
            .enumerate()
            .filter(|(_, b)| b.segments.is_none());
        chart.draw_series(missing.map(|(i, _)| {
            Text::new(
                NOT_MEASURED,
                (x_max * 0.01, SegmentValue::CenterOf(row(i))),
                (FONT, 13).into_font().color(&RGBColor(90, 90, 90)),
            )
        }))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
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
    use crate::plots::color;

    #[test]
    fn missing_bars_say_not_measured() {
        let plot = stacked_bars(
            "f.svg",
            "Failover",
            "ms",
            &[
                SegmentKind {
                    name: "detection".into(),
                    color: color(0),
                },
                SegmentKind {
                    name: "election".into(),
                    color: color(1),
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
    }
}
