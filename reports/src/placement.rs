//! The leader-placement section: one client's commit latency with each node in turn
//! leading (`cwb bench --measure placement`; docs/METHOD.md, "Leader placement"),
//! per protocol, with the leader's region when the network model has regions.

use crate::bars::{stacked_bars, BarFrame, SegmentKind, StackedBar};
use crate::document::{number, Block, Document};
use crate::error::ReportError;
use crate::palette::category_color;
use crate::results::Results;
use crate::sections::{file_prefix, row};

/// Adds the section if any run measured placement.
pub(crate) fn section(
    doc: &mut Document,
    results: &Results,
    keys: &[(String, usize)],
    prefix: &str,
) -> Result<(), ReportError> {
    let runs: Vec<_> = keys
        .iter()
        .filter_map(|(protocol, nodes)| results.run(protocol, *nodes))
        .filter(|r| !r.placement.is_empty())
        .collect();
    if runs.is_empty() {
        return Ok(());
    }
    doc.heading(3, format!("{prefix}Commit latency by leader placement"));
    let network = results
        .settings
        .network
        .as_ref()
        .map_or("loopback (no network model)".to_string(), |n| {
            n.description.clone()
        });
    doc.paragraph(format!(
        "One client writes to the leader for {} ms with each node in turn leading, moved \
         there by planned leadership transfers on one cluster; network: {network}. A commit \
         waits for the leader's nearest quorum, so on a network with regions the leader's \
         region sets the latency.",
        results.settings.duration_ms
    ));
    let mut rows = Vec::new();
    let mut bars = Vec::new();
    for run in &runs {
        for p in &run.placement {
            let region = p.region.clone().unwrap_or_else(|| "-".into());
            let s = &p.latency_us;
            rows.push(row(
                &run.protocol,
                run.nodes,
                vec![
                    format!("n{}", p.leader),
                    region.clone(),
                    p.ops.to_string(),
                    p.errors.to_string(),
                    number(s.p50 / 1000.0),
                    number(s.p99 / 1000.0),
                ],
            ));
            let place = p
                .region
                .as_ref()
                .map_or(format!("n{}", p.leader), |r| format!("n{} {r}", p.leader));
            bars.push(StackedBar {
                label: format!("{} {place}", run.protocol),
                segments: s
                    .is_measured()
                    .then(|| vec![s.p50 / 1000.0, (s.p99 - s.p50).max(0.0) / 1000.0]),
            });
        }
    }
    doc.table(
        &[
            "protocol",
            "nodes",
            "leader",
            "region",
            "writes",
            "failed",
            "commit p50 ms",
            "commit p99 ms",
        ],
        rows,
        4,
    );
    let file = format!("{}placement.svg", file_prefix(prefix));
    let kinds = [
        SegmentKind {
            name: "median".into(),
            color: category_color(0),
        },
        SegmentKind {
            name: "median to p99".into(),
            color: category_color(1),
        },
    ];
    let frame = BarFrame::full(
        &file,
        "Commit latency by leader placement (one client)",
        "commit latency (ms)",
        "protocol and leader",
    );
    doc.blocks
        .push(Block::Plot(stacked_bars(frame, &kinds, &bars)?));
    Ok(())
}
