//! The steady-state part of the report for one results file: commit throughput and
//! client-observed latency against the number of closed-loop clients (the median of
//! `cwb bench --rounds` interleaved rounds, with their spread), and messages
//! (and bytes) per committed operation and per election by message kind (docs/DESIGN.md,
//! "Fair comparison rules": "commit throughput ... with latency p50/p99/p999").

use std::collections::BTreeMap;

use crate::bars::{stacked_bars, BarFrame, SegmentKind, StackedBar};
use crate::document::{number, Block, Document, NOT_MEASURED};
use crate::error::ReportError;
use crate::palette::{category_color, protocol_color};
use crate::plots::{clients_plot, ClientSeries, CLIENTS_DESC};
use crate::results::{ProtocolRun, Results};
use crate::sections::{file_prefix, row, sizes_of};
use crate::summary::Summary;

/// Reads one percentile out of a summary.
type SummaryField = fn(&Summary) -> f64;

/// Reads one message-count map (per op, per election) out of a run.
type KindCounts = fn(&ProtocolRun) -> &BTreeMap<String, f64>;

/// Label of a throughput series: the protocol, plus value size and fsync when the run
/// measured more than one workload shape.
fn workload_label(protocol: &str, value_bytes: u64, fsync: &str, several: bool) -> String {
    if several {
        format!("{protocol} {value_bytes} B fsync={fsync}")
    } else {
        protocol.to_string()
    }
}

pub(crate) fn throughput(
    doc: &mut Document,
    results: &Results,
    keys: &[(String, usize)],
    prefix: &str,
) -> Result<(), ReportError> {
    doc.heading(3, format!("{prefix}Commit throughput and latency"));
    let mut rows = Vec::new();
    for (protocol, nodes) in keys {
        let points = results
            .run(protocol, *nodes)
            .map_or(&[][..], |r| &r.throughput[..]);
        if points.is_empty() {
            let mut cells = vec![NOT_MEASURED.to_string(); 11];
            cells.insert(0, "-".into());
            rows.push(row(protocol, *nodes, cells));
        }
        for p in points {
            let l = &p.latency_us;
            let latency = |v: f64| {
                if l.is_measured() {
                    number(v)
                } else {
                    NOT_MEASURED.to_string()
                }
            };
            rows.push(row(
                protocol,
                *nodes,
                vec![
                    p.clients.to_string(),
                    p.value_bytes.to_string(),
                    p.fsync.clone(),
                    number(p.ops_per_sec),
                    number(p.ops_per_sec * p.value_bytes as f64 / 1e6),
                    // "n: min-max" over the rounds ("-" when measured once).
                    p.rounds_range().map_or("-".to_string(), |(lo, hi)| {
                        format!(
                            "{}: {}-{}",
                            p.rounds_ops_per_sec.len(),
                            number(lo),
                            number(hi)
                        )
                    }),
                    latency(l.p50),
                    latency(l.p99),
                    latency(l.p999),
                    p.cpu_us_per_op
                        .map_or(NOT_MEASURED.to_string(), |c| format!("{c:.1}")),
                    p.ops.to_string(),
                    p.errors.to_string(),
                ],
            ));
        }
    }
    doc.table(
        &[
            "protocol",
            "nodes",
            "clients",
            "value B",
            "fsync",
            "ops/s",
            "MB/s",
            "rounds: min-max ops/s",
            "p50 µs",
            "p99 µs",
            "p999 µs",
            "CPU µs/op",
            "ops",
            "errors",
        ],
        rows,
        5,
    );
    for nodes in sizes_of(keys) {
        let runs: Vec<&ProtocolRun> = results.runs.iter().filter(|r| r.nodes == nodes).collect();
        let mut shapes: Vec<(u64, String)> = runs
            .iter()
            .flat_map(|r| {
                r.throughput
                    .iter()
                    .map(|p| (p.value_bytes, p.fsync.clone()))
            })
            .collect();
        shapes.sort();
        shapes.dedup();
        if shapes.is_empty() {
            continue;
        }
        let several = shapes.len() > 1;
        let mut ops = Vec::new();
        let mut latency = Vec::new();
        for run in &runs {
            let base = protocol_color(&run.protocol);
            for (value_bytes, fsync) in &shapes {
                let mut pts: Vec<_> = run
                    .throughput
                    .iter()
                    .filter(|p| p.value_bytes == *value_bytes && &p.fsync == fsync)
                    .collect();
                if pts.is_empty() {
                    continue;
                }
                pts.sort_by_key(|p| p.clients);
                let label = workload_label(&run.protocol, *value_bytes, fsync, several);
                ops.push(ClientSeries {
                    label: label.clone(),
                    color: base,
                    points: pts
                        .iter()
                        .map(|p| (f64::from(p.clients), p.ops_per_sec))
                        .collect(),
                    marker: 0,
                });
                let pick: [(&str, SummaryField); 3] =
                    [("p50", |s| s.p50), ("p99", |s| s.p99), ("p999", |s| s.p999)];
                for (marker, (name, get)) in pick.iter().enumerate() {
                    latency.push(ClientSeries {
                        label: format!("{label} {name}"),
                        color: base,
                        points: pts
                            .iter()
                            .filter(|p| p.latency_us.is_measured())
                            .map(|p| (f64::from(p.clients), get(&p.latency_us)))
                            .collect(),
                        marker,
                    });
                }
            }
        }
        let fp = file_prefix(prefix);
        // The client counts the run set out to measure and measured: a line never
        // crosses one of them that a series lacks.
        let planned: Vec<f64> = results
            .settings
            .clients
            .iter()
            .copied()
            .chain(
                runs.iter()
                    .flat_map(|r| r.throughput.iter().map(|p| p.clients)),
            )
            .map(f64::from)
            .collect();
        let plot = clients_plot(
            &format!("{fp}throughput-n{nodes}.svg"),
            &format!("Committed ops/s against clients, {nodes} nodes"),
            CLIENTS_DESC,
            "throughput (committed ops/s)",
            false,
            &ops,
            &planned,
        )?;
        doc.blocks.push(Block::Plot(plot));
        let plot = clients_plot(
            &format!("{fp}latency-n{nodes}.svg"),
            &format!("Commit latency p50 / p99 / p999 against clients, {nodes} nodes"),
            CLIENTS_DESC,
            "commit latency (µs, log scale)",
            true,
            &latency,
            &planned,
        )?;
        doc.blocks.push(Block::Plot(plot));
    }
    Ok(())
}

pub(crate) fn messages(
    doc: &mut Document,
    results: &Results,
    keys: &[(String, usize)],
    prefix: &str,
) -> Result<(), ReportError> {
    doc.heading(3, format!("{prefix}Messages by kind"));
    doc.paragraph(format!(
        "Per op: messages sent by all nodes in steady state, divided by the operations \
         committed, at {}. Per election: from cold start to a ready leader, averaged over \
         the trials.",
        per_op_point(results, keys)
    ));
    let mut rows = Vec::new();
    for (protocol, nodes) in keys {
        let counts = results.run(protocol, *nodes).map(|r| &r.messages);
        let mut kinds: Vec<&String> = counts
            .map(|c| {
                c.per_op
                    .keys()
                    .chain(c.per_election.keys())
                    .chain(c.bytes_per_op.keys())
                    .collect()
            })
            .unwrap_or_default();
        kinds.sort();
        kinds.dedup();
        if kinds.is_empty() {
            rows.push(row(
                protocol,
                *nodes,
                vec![
                    "-".into(),
                    NOT_MEASURED.into(),
                    NOT_MEASURED.into(),
                    NOT_MEASURED.into(),
                ],
            ));
        }
        for kind in kinds {
            // A kind missing from a map that was measured was not sent there: zero.
            let cell = |m: Option<&BTreeMap<String, f64>>| match m {
                Some(m) if !m.is_empty() => number(m.get(kind).copied().unwrap_or(0.0)),
                _ => NOT_MEASURED.to_string(),
            };
            rows.push(row(
                protocol,
                *nodes,
                vec![
                    kind.clone(),
                    cell(counts.map(|c| &c.per_op)),
                    cell(counts.map(|c| &c.bytes_per_op)),
                    cell(counts.map(|c| &c.per_election)),
                ],
            ));
        }
    }
    doc.table(
        &[
            "protocol",
            "nodes",
            "message kind",
            "per op",
            "bytes per op",
            "per election",
        ],
        rows,
        3,
    );
    wal_writes(doc, results, keys);
    let charts: [(&str, &str, &str, KindCounts); 2] = [
        (
            "messages-per-op",
            "Messages per committed operation, by kind",
            "messages per committed operation (all nodes)",
            |r| &r.messages.per_op,
        ),
        (
            "messages-per-election",
            "Messages per election (cold start to ready), by kind",
            "messages per election (all nodes)",
            |r| &r.messages.per_election,
        ),
    ];
    for (file, title, x_desc, get) in charts {
        let mut chart_kinds: Vec<&String> = Vec::new();
        for kind in keys
            .iter()
            .filter_map(|(protocol, nodes)| results.run(protocol, *nodes))
            .flat_map(|r| get(r).keys())
        {
            if !chart_kinds.contains(&kind) {
                chart_kinds.push(kind);
            }
        }
        let bars: Vec<StackedBar> = keys
            .iter()
            .map(|(protocol, nodes)| {
                let map = results
                    .run(protocol, *nodes)
                    .map(get)
                    .filter(|m| !m.is_empty());
                StackedBar {
                    label: format!("{protocol} n={nodes}"),
                    segments: map.map(|m| {
                        chart_kinds
                            .iter()
                            .map(|k| m.get(*k).copied().unwrap_or(0.0))
                            .collect()
                    }),
                }
            })
            .collect();
        // Only the kinds this chart shows, coloured in order of first appearance.
        let kinds: Vec<SegmentKind> = chart_kinds
            .iter()
            .enumerate()
            .map(|(i, k)| SegmentKind {
                name: (*k).clone(),
                color: category_color(i),
            })
            .collect();
        if bars.iter().any(|b| b.segments.is_some()) {
            let file = format!("{}{file}.svg", file_prefix(prefix));
            let frame = BarFrame::full(&file, title, x_desc, "protocol and cluster size");
            let plot = stacked_bars(frame, &kinds, &bars)?;
            doc.blocks.push(Block::Plot(plot));
        }
    }
    Ok(())
}

/// Which throughput point the per-op counts of these runs come from, in words.
pub(crate) fn per_op_point(results: &Results, keys: &[(String, usize)]) -> String {
    let mut clients: Vec<u32> = keys
        .iter()
        .filter_map(|(protocol, nodes)| results.run(protocol, *nodes))
        .filter_map(|r| r.messages.per_op_clients)
        .collect();
    clients.sort_unstable();
    clients.dedup();
    match clients.as_slice() {
        [c] => format!("the throughput point with {c} closed-loop clients"),
        [] => "the throughput point with the most clients".to_string(),
        many => format!(
            "the throughput point with the most clients ({} clients, by run)",
            many.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// WAL records and fsyncs per committed operation (all nodes), when measured: how
/// much each protocol writes and how well group commit batches its syncs.
fn wal_writes(doc: &mut Document, results: &Results, keys: &[(String, usize)]) {
    let runs: Vec<_> = keys
        .iter()
        .filter_map(|(protocol, nodes)| results.run(protocol, *nodes))
        .filter(|r| r.messages.wal_syncs_per_op.is_some())
        .collect();
    if runs.is_empty() {
        return;
    }
    let cell = |v: Option<f64>| v.map_or(NOT_MEASURED.to_string(), number);
    let rows = runs
        .iter()
        .map(|r| {
            let m = &r.messages;
            row(
                &r.protocol,
                r.nodes,
                vec![
                    cell(m.wal_records_per_op),
                    cell(m.wal_syncs_per_op),
                    cell(m.wal_syncs_per_op.filter(|s| *s > 0.0).map(|s| 1.0 / s)),
                ],
            )
        })
        .collect();
    doc.paragraph(
        "WAL writes per committed operation, all nodes together, at the same point as \
         the messages (fsync policy as stated in the settings):",
    );
    doc.table(
        &[
            "protocol",
            "nodes",
            "WAL records per op",
            "fsyncs per op",
            "ops per fsync",
        ],
        rows,
        2,
    );
}
