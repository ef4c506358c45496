//! The headline: what a reader opening the report wants first, on its first screen.
//! One table with a row per protocol (cold-start election median; kill and isolate
//! failover medians with p99; throughput at the highest client count with p50 and
//! p99 commit latency; messages per committed operation), the best value of each
//! column marked, the performance targets in one line, the failover decomposition
//! plot beside the table, then one generated sentence per result (`sentences.rs`).
//!
//! The headline shows one cluster size: the targets' 3 nodes when the run measured
//! it, else the smallest size measured; the other sizes are in the sections below.

use std::path::Path;

use crate::bars::BarFrame;
use crate::compare::{all_kinds, median};
use crate::document::{number, Block, Document, Table, DASH};
use crate::error::ReportError;
use crate::failover::{
    decomposition_plot, failover_bar, phase_medians, PickFailover, FAULTS, TIME_SINCE_LOSS,
};
use crate::method::file_name;
use crate::results::{Failover, ProtocolRun, Results, ThroughputPoint};
use crate::sections::file_prefix;

/// The cluster size the headline prefers (the one the targets are set for).
const PREFERRED_NODES: usize = 3;

/// Which way is better for a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Better {
    /// Times, latencies, message counts.
    Lower,
    /// Throughput.
    Higher,
}

/// The indices of the best values: the lowest or highest, with every value that
/// prints like it (a reader cannot tell them apart). Nothing when fewer than two
/// values are there to compare, since a lone value is best of nothing.
pub(crate) fn best_rows(values: &[Option<f64>], better: Better) -> Vec<usize> {
    let valid: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)))
        .collect();
    if valid.len() < 2 {
        return Vec::new();
    }
    let pick = match better {
        Better::Lower => f64::min,
        Better::Higher => f64::max,
    };
    let Some(best) = valid.iter().map(|(_, v)| *v).reduce(pick) else {
        return Vec::new();
    };
    let shown = number(best);
    valid
        .into_iter()
        .filter(|(_, v)| number(*v) == shown)
        .map(|(i, _)| i)
        .collect()
}

/// A failover in the headline: its median and p99 (leader loss to the first commit)
/// and the medians of its four phases (0 for a phase not measured).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FailoverNumbers {
    /// Median of the total, ms.
    pub median: f64,
    /// p99 of the total, ms.
    pub p99: f64,
    /// Medians of detection, election, recovery and first commit, ms.
    pub phases: [f64; 4],
}

impl FailoverNumbers {
    /// The numbers of a failover whose total was measured.
    fn of(f: &Failover) -> Option<Self> {
        let s = &f.total.summary;
        s.is_measured().then(|| FailoverNumbers {
            median: s.p50,
            p99: s.p99,
            phases: phase_medians(f).unwrap_or_default(),
        })
    }
}

/// Throughput at one client count, with the commit latency there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Load {
    /// Closed-loop clients.
    pub clients: u32,
    /// Committed operations per second.
    pub ops_per_sec: f64,
    /// Commit latency p50, µs, when measured.
    pub p50_us: Option<f64>,
    /// Commit latency p99, µs, when measured.
    pub p99_us: Option<f64>,
}

impl Load {
    fn of(p: &ThroughputPoint) -> Self {
        let l = &p.latency_us;
        Load {
            clients: p.clients,
            ops_per_sec: p.ops_per_sec,
            p50_us: l.is_measured().then_some(l.p50),
            p99_us: l.is_measured().then_some(l.p99),
        }
    }
}

/// What the headline shows of one protocol; `None` for what it did not measure.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    /// Protocol name as in the results.
    pub protocol: String,
    /// Cold start to a ready leader, median ms.
    pub election_ms: Option<f64>,
    /// Failover after a kill.
    pub kill: Option<FailoverNumbers>,
    /// Failover after an isolation.
    pub isolate: Option<FailoverNumbers>,
    /// Throughput at the run's highest client count.
    pub throughput: Option<Load>,
    /// Messages per committed operation, all kinds and nodes.
    pub messages_per_op: Option<f64>,
}

/// The cluster size of the headline: [`PREFERRED_NODES`] when measured, else the
/// smallest size measured.
pub(crate) fn headline_nodes(results: &Results) -> Option<usize> {
    let sizes = results.runs.iter().map(|r| r.nodes);
    if results.runs.iter().any(|r| r.nodes == PREFERRED_NODES) {
        Some(PREFERRED_NODES)
    } else {
        sizes.min()
    }
}

/// The throughput points of the run's own workload (value size and fsync of its
/// settings) when it has any; every point otherwise.
fn workload_points<'a>(results: &Results, run: &'a ProtocolRun) -> Vec<&'a ThroughputPoint> {
    let s = &results.settings;
    let own: Vec<&ThroughputPoint> = run
        .throughput
        .iter()
        .filter(|p| p.value_bytes == s.value_bytes && p.fsync == s.fsync)
        .collect();
    if own.is_empty() {
        run.throughput.iter().collect()
    } else {
        own
    }
}

/// The headline's rows (one per protocol, in the settings' order) and the client
/// count they are compared at (the highest any protocol measured).
pub(crate) fn rows(results: &Results, nodes: usize) -> (Vec<Row>, Option<u32>) {
    let keys = crate::sections::run_keys(results);
    // Redis Cluster has its own sizes and no election to time: the side-by-side
    // section of the four systems shows it (`crate::systems`).
    let mut protocols: Vec<&String> = keys
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.as_str() != "redis")
        .collect();
    protocols.dedup();
    let rows: Vec<Row> = protocols
        .into_iter()
        .map(|protocol| {
            let run = results.run(protocol, nodes);
            let failover = |pick: PickFailover| run.and_then(pick).and_then(FailoverNumbers::of);
            Row {
                protocol: protocol.clone(),
                election_ms: run.and_then(|r| median(r.election.as_ref())),
                kill: failover(FAULTS[0].1),
                isolate: failover(FAULTS[1].1),
                throughput: run.and_then(|r| {
                    workload_points(results, r)
                        .into_iter()
                        .max_by_key(|p| p.clients)
                        .map(Load::of)
                }),
                messages_per_op: run.and_then(|r| all_kinds(&r.messages.per_op)),
            }
        })
        .collect();
    let clients = rows
        .iter()
        .filter_map(|r| r.throughput.map(|l| l.clients))
        .max();
    (rows, clients)
}

/// One cell: its text and the value it is ranked by (`None`: not ranked).
type Cell = (String, Option<f64>);

fn value_cell(value: Option<f64>) -> Cell {
    (value.map_or(DASH.to_string(), number), value)
}

/// The table: cells, column groups and best marks (see [`best_rows`]). Throughput
/// and latency measured at fewer clients than `clients` say so and are not ranked.
pub(crate) fn table(rows: &[Row], clients: Option<u32>) -> Table {
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                (crate::sentences::display_name(&r.protocol), None),
                value_cell(r.election_ms),
            ];
            for f in [r.kill, r.isolate] {
                cells.push(value_cell(f.map(|f| f.median)));
                cells.push(value_cell(f.map(|f| f.p99)));
            }
            match r.throughput {
                Some(l) if Some(l.clients) == clients => {
                    cells.push(value_cell(Some(l.ops_per_sec)));
                    cells.push(value_cell(l.p50_us));
                    cells.push(value_cell(l.p99_us));
                }
                Some(l) => {
                    let at = |v: Option<f64>| {
                        let text = v.map_or(DASH.to_string(), number);
                        (format!("{text} ({} clients)", l.clients), None)
                    };
                    cells.push(at(Some(l.ops_per_sec)));
                    cells.push(at(l.p50_us));
                    cells.push(at(l.p99_us));
                }
                None => cells.extend([value_cell(None), value_cell(None), value_cell(None)]),
            }
            cells.push(value_cell(r.messages_per_op));
            cells
        })
        .collect();
    let better = [
        None,
        Some(Better::Lower),
        Some(Better::Lower),
        Some(Better::Lower),
        Some(Better::Lower),
        Some(Better::Lower),
        Some(Better::Higher),
        Some(Better::Lower),
        Some(Better::Lower),
        Some(Better::Lower),
    ];
    let mut table = Table {
        header: [
            "protocol", "median", "median", "p99", "median", "p99", "ops/s", "p50 µs", "p99 µs",
            "per op",
        ]
        .map(String::from)
        .to_vec(),
        groups: vec![
            (String::new(), 1),
            ("cold election, ms".into(), 1),
            ("kill failover, ms".into(), 2),
            ("isolate failover, ms".into(), 2),
            (
                clients.map_or("throughput".into(), |c| format!("throughput, {c} clients")),
                3,
            ),
            ("messages".into(), 1),
        ],
        numeric_from: 1,
        ..Table::default()
    };
    for (col, better) in better.iter().enumerate() {
        let Some(better) = better else { continue };
        let values: Vec<Option<f64>> = cells.iter().map(|row| row[col].1).collect();
        for r in best_rows(&values, *better) {
            table.best.insert((r, col));
        }
    }
    table.rows = cells
        .into_iter()
        .map(|row| row.into_iter().map(|(text, _)| text).collect())
        .collect();
    table
}

/// Adds the headline of one results file. `prefix` ("A: ") tells files apart.
pub(crate) fn headline(
    doc: &mut Document,
    path: &Path,
    results: &Results,
    prefix: &str,
) -> Result<(), ReportError> {
    let name = file_name(path);
    doc.heading(
        2,
        if prefix.is_empty() {
            "Results at a glance".to_string()
        } else {
            format!("{prefix}Results at a glance ({name})")
        },
    );
    let Some(nodes) = headline_nodes(results) else {
        doc.paragraph(format!("{name} holds no measurement."));
        return Ok(());
    };
    let s = &results.settings;
    let others: Vec<String> = crate::sections::sizes_of(&crate::sections::run_keys(results))
        .into_iter()
        .filter(|n| *n != nodes)
        .map(|n| n.to_string())
        .collect();
    let elsewhere = if others.is_empty() {
        String::new()
    } else {
        format!(
            " ({}-node results are in the sections below)",
            others.join(", ")
        )
    };
    doc.paragraph(format!(
        "{name}: {nodes}-node clusters, {}, fsync {}, {} trials per election and \
         failover{elsewhere}.",
        s.mode.as_str(),
        s.fsync,
        s.trials
    ));
    let (rows, clients) = rows(results, nodes);
    let mut table = table(&rows, clients);
    table.csv = format!("{}headline.csv", file_prefix(prefix));
    let left = vec![
        Block::Table(table),
        Block::Paragraph(format!(
            "Medians and 99th percentiles in ms of: cold start to a ready leader; leader \
             loss to the first commit by a new leader. Throughput: committed ops/s at the \
             highest client count measured ({} B values), with the commit latency there. \
             Messages: sent by all nodes per committed operation. {} and bold: the best \
             of its column (lowest time, latency and messages; highest throughput). \
             {DASH}: not measured.",
            s.value_bytes,
            crate::html::BEST_MARK
        )),
        Block::Paragraph(crate::targets::summary_line(results)),
    ];
    let bars: Vec<_> = rows
        .iter()
        .flat_map(|r| {
            let run = results.run(&r.protocol, nodes);
            FAULTS.map(|(fault, pick)| {
                failover_bar(format!("{} {fault}", r.protocol), run.and_then(pick))
            })
        })
        .collect();
    let file = format!("{}headline-failover.svg", file_prefix(prefix));
    let title = format!("Failover phases, {nodes} nodes (medians)");
    let frame = BarFrame::full(&file, &title, TIME_SINCE_LOSS, "protocol and fault").compact();
    match decomposition_plot(frame, &bars)? {
        Some(plot) => doc
            .blocks
            .push(Block::Beside(left, vec![Block::Plot(plot)])),
        None => {
            doc.blocks.extend(left);
            doc.paragraph("No failover was measured.");
        }
    }
    let sentences = crate::sentences::all(&rows, clients);
    if !sentences.is_empty() {
        doc.blocks.push(Block::List(sentences));
    }
    Ok(())
}

#[cfg(test)]
#[path = "headline_tests.rs"]
mod tests;
