//! Scaling curves: throughput and commit latency against the value size (in MB/s as
//! well as ops/s) and against the cluster size, when a results file measured more
//! than one of either (`cwb bench --value-bytes 64,1024,65536`, `--nodes 3,5,7,9`).
//! The curves against the client count are in [`crate::steady_state`].

use crate::document::{Block, Document};
use crate::error::ReportError;
use crate::palette::protocol_color;
use crate::plots::{clients_plot, ClientSeries};
use crate::results::{ProtocolRun, Results, ThroughputPoint};
use crate::sections::file_prefix;

/// Adds the value-size and cluster-size curves the file has data for.
pub(crate) fn curves(
    doc: &mut Document,
    results: &Results,
    prefix: &str,
) -> Result<(), ReportError> {
    value_size(doc, results, prefix)?;
    cluster_size(doc, results, prefix)
}

fn distinct<T: PartialOrd + Copy>(mut v: Vec<T>) -> Vec<T> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v.dedup_by(|a, b| a == b);
    v
}

/// Throughput (ops/s and MB/s) and p50 latency against the value size, per cluster
/// size, at the largest client count measured at every value size.
fn value_size(doc: &mut Document, results: &Results, prefix: &str) -> Result<(), ReportError> {
    let sizes = distinct(
        results
            .runs
            .iter()
            .flat_map(|r| r.throughput.iter().map(|p| p.value_bytes))
            .collect(),
    );
    if sizes.len() < 2 {
        return Ok(());
    }
    let fsync = &results.settings.fsync;
    let node_counts = distinct(results.runs.iter().map(|r| r.nodes).collect());
    let mut first = true;
    for nodes in node_counts {
        let runs: Vec<&ProtocolRun> = results.runs.iter().filter(|r| r.nodes == nodes).collect();
        // The largest client count that every run of this size measured at every size.
        let clients = distinct(
            runs.iter()
                .flat_map(|r| r.throughput.iter().map(|p| p.clients))
                .collect(),
        )
        .into_iter()
        .rev()
        .find(|&c| {
            runs.iter().all(|r| {
                sizes
                    .iter()
                    .all(|&v| point(r, c, v, fsync).is_some() || r.throughput.is_empty())
            })
        });
        let Some(clients) = clients else { continue };
        let series = |value: fn(&ThroughputPoint) -> f64| -> Vec<ClientSeries> {
            runs.iter()
                .map(|r| ClientSeries {
                    label: r.protocol.clone(),
                    color: protocol_color(&r.protocol),
                    points: sizes
                        .iter()
                        .filter_map(|&v| point(r, clients, v, fsync))
                        .map(|p| (p.value_bytes as f64, value(p)))
                        .collect(),
                    marker: 0,
                })
                .filter(|s| !s.points.is_empty())
                .collect()
        };
        let mbs = series(|p| p.ops_per_sec * p.value_bytes as f64 / 1e6);
        if mbs.is_empty() {
            continue;
        }
        if first {
            doc.heading(3, format!("{prefix}Throughput against value size"));
            doc.paragraph(format!(
                "The throughput points at each value size, at the largest client count \
                 measured at all of them, fsync {fsync}: bytes of values committed per second \
                 (keys and framing not counted), ops/s and the median commit latency. The \
                 table of the section above holds every point."
            ));
            first = false;
        }
        let planned: Vec<f64> = sizes.iter().map(|&v| v as f64).collect();
        let fp = file_prefix(prefix);
        let x = "value size (bytes, log scale)";
        for (file, title, y, log_y, s) in [
            (
                format!("{fp}value-size-mbs-n{nodes}.svg"),
                format!("Value MB/s against value size, {nodes} nodes, {clients} clients"),
                "values committed (MB/s)",
                false,
                mbs,
            ),
            (
                format!("{fp}value-size-ops-n{nodes}.svg"),
                format!("Committed ops/s against value size, {nodes} nodes, {clients} clients"),
                "throughput (committed ops/s)",
                false,
                series(|p| p.ops_per_sec),
            ),
            (
                format!("{fp}value-size-p50-n{nodes}.svg"),
                format!("Commit latency p50 against value size, {nodes} nodes, {clients} clients"),
                "commit latency p50 (µs, log scale)",
                true,
                series(|p| p.latency_us.p50),
            ),
        ] {
            let plot = clients_plot(&file, &title, x, y, log_y, &s, &planned)?;
            doc.blocks.push(Block::Plot(plot));
        }
    }
    Ok(())
}

/// Throughput and p50 latency against the cluster size, at the largest client count
/// and the first value size every size measured.
fn cluster_size(doc: &mut Document, results: &Results, prefix: &str) -> Result<(), ReportError> {
    let with_points: Vec<&ProtocolRun> = results
        .runs
        .iter()
        .filter(|r| !r.throughput.is_empty())
        .collect();
    let node_counts = distinct(with_points.iter().map(|r| r.nodes).collect());
    if node_counts.len() < 2 {
        return Ok(());
    }
    let fsync = &results.settings.fsync;
    let value = results.settings.value_bytes;
    let clients = distinct(
        with_points
            .iter()
            .flat_map(|r| r.throughput.iter().map(|p| p.clients))
            .collect(),
    )
    .into_iter()
    .rev()
    .find(|&c| {
        with_points
            .iter()
            .all(|r| point(r, c, value, fsync).is_some())
    });
    let Some(clients) = clients else {
        return Ok(());
    };
    let protocols = {
        let mut p: Vec<&str> = with_points.iter().map(|r| r.protocol.as_str()).collect();
        p.dedup();
        p
    };
    let series = |get: fn(&ThroughputPoint) -> f64| -> Vec<ClientSeries> {
        protocols
            .iter()
            .map(|protocol| ClientSeries {
                label: protocol.to_string(),
                color: protocol_color(protocol),
                points: with_points
                    .iter()
                    .filter(|r| r.protocol == *protocol)
                    .filter_map(|r| {
                        point(r, clients, value, fsync).map(|p| (r.nodes as f64, get(p)))
                    })
                    .collect(),
                marker: 0,
            })
            .collect()
    };
    doc.heading(3, format!("{prefix}Throughput against cluster size"));
    doc.paragraph(format!(
        "The throughput point with {clients} clients and {value}-byte values at each cluster \
         size (Redis Cluster's size counts masters; it runs twice as many nodes)."
    ));
    let planned: Vec<f64> = node_counts.iter().map(|&n| n as f64).collect();
    let fp = file_prefix(prefix);
    let x = "cluster size (nodes, log scale)";
    let plot = clients_plot(
        &format!("{fp}cluster-size-ops.svg"),
        &format!("Committed ops/s against cluster size, {clients} clients"),
        x,
        "throughput (committed ops/s)",
        false,
        &series(|p| p.ops_per_sec),
        &planned,
    )?;
    doc.blocks.push(Block::Plot(plot));
    let plot = clients_plot(
        &format!("{fp}cluster-size-p50.svg"),
        &format!("Commit latency p50 against cluster size, {clients} clients"),
        x,
        "commit latency p50 (µs, log scale)",
        true,
        &series(|p| p.latency_us.p50),
        &planned,
    )?;
    doc.blocks.push(Block::Plot(plot));
    Ok(())
}

fn point<'a>(
    run: &'a ProtocolRun,
    clients: u32,
    value: u64,
    fsync: &str,
) -> Option<&'a ThroughputPoint> {
    crate::compare::find_point(Some(run), clients, value, fsync)
}
