//! The regression view: with two or more results files, each measure's median in the
//! first file (A) beside its median in every other file, with the relative change.
//! Lower is better for times and message counts, higher for throughput.

use std::path::PathBuf;

use crate::document::{change, file_label, number, Document, NOT_MEASURED};
use crate::method::file_name;
use crate::results::{Failover, ProtocolRun, Results, ThroughputPoint};
use crate::sections::run_keys;

/// How to read one scalar out of a run, for every file.
type Getter = Box<dyn Fn(&ProtocolRun) -> Option<f64>>;

/// The median of a measure, if it has samples.
pub(crate) fn median(measure: Option<&crate::results::Measure>) -> Option<f64> {
    measure
        .map(|m| &m.summary)
        .filter(|s| s.is_measured())
        .map(|s| s.p50)
}

/// The sum over all message kinds of a count map, if anything was counted.
pub(crate) fn all_kinds(counts: &std::collections::BTreeMap<String, f64>) -> Option<f64> {
    (!counts.is_empty()).then(|| counts.values().sum())
}

/// The scalar measures compared for every (protocol, nodes), with their labels.
fn fixed_measures() -> Vec<(&'static str, Getter)> {
    let failover = |pick: fn(&ProtocolRun) -> Option<&Failover>, total: bool| -> Getter {
        Box::new(move |r| {
            pick(r).and_then(|f| median(Some(if total { &f.total } else { &f.unavailability })))
        })
    };
    let sum = |pick: fn(&ProtocolRun) -> &std::collections::BTreeMap<String, f64>| -> Getter {
        Box::new(move |r| all_kinds(pick(r)))
    };
    vec![
        (
            "election: leader ready, median ms",
            Box::new(|r| median(r.election.as_ref())),
        ),
        (
            "election: leader elected, median ms",
            Box::new(|r| median(r.elected.as_ref())),
        ),
        (
            "failover kill: total, median ms",
            failover(|r| r.failover_kill.as_ref(), true),
        ),
        (
            "failover kill: unavailability, median ms",
            failover(|r| r.failover_kill.as_ref(), false),
        ),
        (
            "failover isolate: total, median ms",
            failover(|r| r.failover_isolate.as_ref(), true),
        ),
        (
            "failover isolate: unavailability, median ms",
            failover(|r| r.failover_isolate.as_ref(), false),
        ),
        (
            "planned failover (transfer): total, median ms",
            failover(|r| r.failover_transfer.as_ref(), true),
        ),
        ("messages per op (all kinds)", sum(|r| &r.messages.per_op)),
        (
            "messages per election (all kinds)",
            sum(|r| &r.messages.per_election),
        ),
        (
            "WAL fsyncs per op (all nodes)",
            Box::new(|r| r.messages.wal_syncs_per_op),
        ),
    ]
}

/// The throughput point of `run` with this workload shape, if measured.
pub(crate) fn find_point<'a>(
    run: Option<&'a ProtocolRun>,
    clients: u32,
    value_bytes: u64,
    fsync: &str,
) -> Option<&'a ThroughputPoint> {
    run?.throughput
        .iter()
        .find(|p| p.clients == clients && p.value_bytes == value_bytes && p.fsync == fsync)
}

/// Adds the comparison section. Does nothing with fewer than two files.
pub(crate) fn comparison(doc: &mut Document, inputs: &[(PathBuf, Results)]) {
    if inputs.len() < 2 {
        return;
    }
    doc.heading(2, "Comparison");
    let names: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, (path, _))| format!("{} = {}", file_label(i), file_name(path)))
        .collect();
    doc.paragraph(format!(
        "Medians of each measure in file A against the other files ({}); the change is \
         relative to A. For times, message and fsync counts and memory a negative change is an \
         improvement; for throughput a positive one is.",
        names.join(", ")
    ));
    let points: Vec<String> = inputs
        .iter()
        .map(|(_, results)| crate::steady_state::per_op_point(results, &run_keys(results)))
        .collect();
    if points.iter().any(|p| *p != points[0]) {
        doc.paragraph(format!(
            "The per-op message and fsync counts come from different workloads in these \
             files ({}): compare them with care.",
            points
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{}: {p}", file_label(i)))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }

    let mut keys: Vec<(String, usize)> = Vec::new();
    for (_, results) in inputs {
        for key in run_keys(results) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let mut header: Vec<String> = vec![
        "measure".into(),
        "protocol".into(),
        "nodes".into(),
        "A".into(),
    ];
    for i in 1..inputs.len() {
        header.push(file_label(i));
        header.push(format!("{} vs A", file_label(i)));
    }
    let mut rows = Vec::new();
    let mut push = |label: String, protocol: &str, nodes: usize, values: Vec<Option<f64>>| {
        // A measure no file has says nothing: no row.
        if values.iter().all(Option::is_none) {
            return;
        }
        let mut cells = vec![label, protocol.to_string(), nodes.to_string()];
        let first = values.first().copied().flatten();
        for (i, value) in values.iter().enumerate() {
            cells.push(value.map_or(NOT_MEASURED.to_string(), number));
            if i > 0 {
                cells.push(change(first, *value));
            }
        }
        rows.push(cells);
    };
    let measures = fixed_measures();
    for (protocol, nodes) in &keys {
        let runs: Vec<Option<&ProtocolRun>> = inputs
            .iter()
            .map(|(_, r)| r.run(protocol, *nodes))
            .collect();
        for (label, get) in &measures {
            let values = runs.iter().map(|r| r.and_then(get)).collect();
            push(label.to_string(), protocol, *nodes, values);
        }
        // Only multi-process runs measure memory: no row of "not measured" otherwise.
        let rss: Vec<Option<f64>> = runs
            .iter()
            .map(|r| r.and_then(|r| median(r.idle_rss_kb.as_ref())))
            .collect();
        if rss.iter().any(Option::is_some) {
            push(
                "idle resident memory per node, median kB".into(),
                protocol,
                *nodes,
                rss,
            );
        }
        // Throughput points are matched by workload shape across files.
        let mut shapes: Vec<(u32, u64, String)> = runs
            .iter()
            .flatten()
            .flat_map(|r| {
                r.throughput
                    .iter()
                    .map(|p| (p.clients, p.value_bytes, p.fsync.clone()))
            })
            .collect();
        shapes.sort();
        shapes.dedup();
        for (clients, value_bytes, fsync) in shapes {
            let shape = format!("{clients} clients, {value_bytes} B, fsync={fsync}");
            push(
                format!("throughput ops/s, {shape}"),
                protocol,
                *nodes,
                runs.iter()
                    .map(|r| find_point(*r, clients, value_bytes, &fsync).map(|p| p.ops_per_sec))
                    .collect(),
            );
            push(
                format!("latency p99 µs, {shape}"),
                protocol,
                *nodes,
                runs.iter()
                    .map(|r| {
                        find_point(*r, clients, value_bytes, &fsync)
                            .map(|p| p.latency_us)
                            .filter(|s| s.is_measured())
                            .map(|s| s.p99)
                    })
                    .collect(),
            );
        }
    }
    if rows.is_empty() {
        doc.paragraph("None of the files measured any of these measures (election, failover, messages, throughput).");
        return;
    }
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    doc.table(&header_refs, rows, 3);
}
