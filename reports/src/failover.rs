//! The failover part of the report for one results file: each phase of a failover
//! (detection, election, recovery, first commit; docs/DESIGN.md "Fair comparison
//! rules") after the leader is killed or isolated, as a table, Raft's prediction from
//! its timers, the lateness of the harness's timers, the decomposition plot and the
//! election rounds. The decomposition bars are built here once, for this section and
//! for the headline's smaller copy of the plot.

use crate::bars::{stacked_bars, BarFrame, SegmentKind, StackedBar};
use crate::document::{number, Block, Document, Plot, NOT_MEASURED};
use crate::error::ReportError;
use crate::palette::PHASE_COLORS;
use crate::results::{Failover, Measure, ProtocolRun, Results};
use crate::sections::{file_prefix, measure_cells, row};

/// The four stacked phases of a failover, in time order.
pub(crate) const PHASES: [&str; 4] = ["detection", "election", "recovery", "first commit"];

/// Finds one failover in a run.
pub(crate) type PickFailover = fn(&ProtocolRun) -> Option<&Failover>;

/// The two faults, with how to find each in a run.
pub(crate) const FAULTS: [(&str, PickFailover); 2] = [
    ("kill", |r| r.failover_kill.as_ref()),
    ("isolate", |r| r.failover_isolate.as_ref()),
];

/// The planned failover (a leadership transfer), shown beside the two faults where a
/// run measured it.
pub(crate) const PLANNED: (&str, PickFailover) = ("transfer", |r| r.failover_transfer.as_ref());

/// The four phases, then the total and the clients' unavailability.
pub(crate) fn phases_of(f: &Failover) -> [&Measure; 6] {
    [
        &f.detection,
        &f.election,
        &f.recovery,
        &f.first_commit,
        &f.total,
        &f.unavailability,
    ]
}

/// The medians of the four phases, 0 for a phase not measured; `None` when no phase
/// was measured.
pub(crate) fn phase_medians(f: &Failover) -> Option<[f64; 4]> {
    let phases = phases_of(f);
    let mut medians = [0.0; 4];
    let mut any = false;
    for (median, m) in medians.iter_mut().zip(phases) {
        if m.summary.is_measured() {
            *median = m.summary.p50;
            any = true;
        }
    }
    any.then_some(medians)
}

/// One bar of the decomposition plot.
pub(crate) fn failover_bar(label: String, failover: Option<&Failover>) -> StackedBar {
    StackedBar {
        label,
        segments: failover.and_then(phase_medians).map(|m| m.to_vec()),
    }
}

/// The decomposition plot of `bars` in `frame`; `None` when no bar was measured.
pub(crate) fn decomposition_plot(
    frame: BarFrame<'_>,
    bars: &[StackedBar],
) -> Result<Option<Plot>, ReportError> {
    if bars.iter().all(|b| b.segments.is_none()) {
        return Ok(None);
    }
    let kinds: Vec<SegmentKind> = PHASES
        .iter()
        .zip(PHASE_COLORS)
        .map(|(name, color)| SegmentKind {
            name: name.to_string(),
            color,
        })
        .collect();
    stacked_bars(frame, &kinds, bars).map(Some)
}

/// The value axis of every decomposition plot.
pub(crate) const TIME_SINCE_LOSS: &str = "time since leader loss (ms)";

/// How late the harness fired the protocols' timers, when measured: the part of
/// every timeout-driven phase (detection above all) that is the harness's, not the
/// protocol's.
fn timer_lateness(doc: &mut Document, results: &Results, keys: &[(String, usize)]) {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .filter_map(|(protocol, nodes)| {
            let l = results.run(protocol, *nodes)?.timer_lateness_us?;
            l.is_measured().then(|| {
                row(
                    protocol,
                    *nodes,
                    vec![
                        l.count.to_string(),
                        number(l.p50),
                        number(l.p99),
                        number(l.max),
                    ],
                )
            })
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    doc.paragraph(
        "Timer lateness: how long after its deadline a node's loop fired a timer that \
         waited 1 ms or more (election timeouts, heartbeats, finalize waits), over every \
         election and failover trial; it is time the harness adds to the protocol's \
         timers, inside the detection phase for Raft and Paxos.",
    );
    doc.table(
        &[
            "protocol",
            "nodes",
            "timers",
            "median µs",
            "p99 µs",
            "max µs",
        ],
        rows,
        2,
    );
}

/// The failover section of one results file.
pub(crate) fn failover(
    doc: &mut Document,
    results: &Results,
    keys: &[(String, usize)],
    prefix: &str,
) -> Result<(), ReportError> {
    doc.heading(3, format!("{prefix}Failover (leader killed or isolated)"));
    doc.paragraph(
        "Per phase: trials, median, p99, min and max in ms. The plot stacks the phase \
         medians as a timeline from the leader's loss; their sum can differ from the \
         median total in the table.",
    );
    let names = [
        PHASES[0],
        PHASES[1],
        PHASES[2],
        PHASES[3],
        "total",
        "unavailability",
    ];
    let mut rows = Vec::new();
    let mut bars = Vec::new();
    let mut transfers = false;
    for (protocol, nodes) in keys {
        let run = results.run(protocol, *nodes);
        let planned = Some(PLANNED).filter(|(_, pick)| run.and_then(*pick).is_some());
        transfers |= planned.is_some();
        for (fault, pick) in FAULTS.into_iter().chain(planned) {
            let failover = run.and_then(pick);
            match failover {
                Some(f) => {
                    for (name, measure) in names.iter().zip(phases_of(f)) {
                        let mut cells = vec![fault.to_string()];
                        cells.extend(measure_cells(name, Some(measure)));
                        cells.push(f.trials_discarded.to_string());
                        rows.push(row(protocol, *nodes, cells));
                    }
                }
                None => {
                    let mut cells = vec![fault.to_string()];
                    cells.extend(measure_cells("all phases", None));
                    cells.push(NOT_MEASURED.to_string());
                    rows.push(row(protocol, *nodes, cells));
                }
            }
            bars.push(failover_bar(
                format!("{protocol} n={nodes} {fault}"),
                failover,
            ));
        }
    }
    doc.table(
        &[
            "protocol",
            "nodes",
            "fault",
            "phase",
            "trials",
            "median ms",
            "p99 ms",
            "min ms",
            "max ms",
            "discarded trials",
        ],
        rows,
        4,
    );
    crate::rounds::prediction(doc, results, keys);
    timer_lateness(doc, results, keys);
    let file = format!("{}failover.svg", file_prefix(prefix));
    let frame = BarFrame::full(
        &file,
        plot_title(transfers),
        TIME_SINCE_LOSS,
        "protocol, cluster size and fault",
    );
    if let Some(plot) = decomposition_plot(frame, &bars)? {
        doc.blocks.push(Block::Plot(plot));
    }
    crate::rounds::distribution(doc, results, keys);
    Ok(())
}

/// The decomposition plot's title: it names the faults its bars show.
fn plot_title(transfers: bool) -> &'static str {
    if transfers {
        "Failover decomposition (phase medians), kill, isolate and transfer"
    } else {
        "Failover decomposition (phase medians), kill and isolate"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_title_names_transfers_when_their_bars_are_shown() {
        assert!(plot_title(true).ends_with("kill, isolate and transfer"));
        assert!(!plot_title(false).contains("transfer"));
    }

    #[test]
    fn a_failover_without_any_phase_has_no_bar() {
        let f = Failover {
            detection: Measure::from_ms(vec![3.0]),
            election: Measure::from_ms(Vec::new()),
            recovery: Measure::from_ms(vec![1.0]),
            first_commit: Measure::from_ms(vec![1.0]),
            total: Measure::from_ms(vec![5.0]),
            unavailability: Measure::from_ms(vec![5.0]),
            extra_rounds: None,
            trials_discarded: 0,
        };
        assert_eq!(phase_medians(&f), Some([3.0, 0.0, 1.0, 1.0]));
        let empty = Failover {
            detection: Measure::from_ms(Vec::new()),
            recovery: Measure::from_ms(Vec::new()),
            first_commit: Measure::from_ms(Vec::new()),
            ..f.clone()
        };
        assert_eq!(phase_medians(&empty), None);
        assert!(failover_bar("x".into(), Some(&empty)).segments.is_none());
        assert!(failover_bar("x".into(), None).segments.is_none());
    }
}
