//! The per-network view: with several results files measured on different networks
//! (`cwb bench --net`, recorded as `settings.network`), each protocol's medians with
//! one column per network, so that the effect of the network on each protocol reads
//! along a row (docs/METHOD.md, "Comparing networks").

use crate::compare::{find_point, median};
use crate::document::{file_label, number, Document, NOT_MEASURED};
use crate::results::{ProtocolRun, Results};
use crate::sections::run_keys;
use std::path::PathBuf;

/// The network a file was measured on, in a few words.
fn network_name(results: &Results) -> String {
    results
        .settings
        .network
        .as_ref()
        .map_or("loopback".to_string(), |n| n.name.clone())
}

/// One client's commit latency median in ms: the one-client throughput point, else
/// the median over the leader placements.
fn one_client_commit_ms(run: &ProtocolRun, fsync: &str) -> Option<f64> {
    let value_bytes = run.throughput.first().map(|p| p.value_bytes)?;
    find_point(Some(run), 1, value_bytes, fsync)
        .filter(|p| p.latency_us.is_measured())
        .map(|p| p.latency_us.p50 / 1000.0)
}

fn placement_commit_ms(run: &ProtocolRun) -> Option<f64> {
    let mut p50s: Vec<f64> = run
        .placement
        .iter()
        .filter(|p| p.latency_us.is_measured())
        .map(|p| p.latency_us.p50 / 1000.0)
        .collect();
    if p50s.is_empty() {
        return None;
    }
    p50s.sort_by(f64::total_cmp);
    p50s.get((p50s.len() - 1) / 2).copied()
}

/// Adds the section when the files were measured on at least two networks.
pub(crate) fn by_network(doc: &mut Document, inputs: &[(PathBuf, Results)]) {
    let names: Vec<String> = inputs.iter().map(|(_, r)| network_name(r)).collect();
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < 2 {
        return;
    }
    doc.heading(2, "By network");
    doc.paragraph(
        "Each protocol's medians on each network the files were measured on (one column \
         per file, headed by its network). A row reads as what the network costs that \
         protocol; a column compares the protocols on one network.",
    );
    type Get = fn(&ProtocolRun, &Results) -> Option<f64>;
    let measures: [(&str, Get); 5] = [
        ("cold start to leader ready, median ms", |r, _| {
            median(r.election.as_ref())
        }),
        ("kill failover, total, median ms", |r, _| {
            r.failover_kill
                .as_ref()
                .and_then(|f| median(Some(&f.total)))
        }),
        ("one client's commit, median ms", |r, res| {
            one_client_commit_ms(r, &res.settings.fsync)
        }),
        (
            "one client's commit over the leader placements, median of medians ms",
            |r, _| placement_commit_ms(r),
        ),
        ("throughput at the most clients, ops/s", |r, _| {
            r.throughput
                .iter()
                .max_by_key(|p| p.clients)
                .map(|p| p.ops_per_sec)
        }),
    ];
    let mut keys: Vec<(String, usize)> = Vec::new();
    for (_, results) in inputs {
        for key in run_keys(results) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let mut header: Vec<String> = vec!["protocol".into(), "nodes".into()];
    header.extend(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{}: {n}", file_label(i))),
    );
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    for (label, get) in measures {
        let rows: Vec<Vec<String>> = keys
            .iter()
            .map(|(protocol, nodes)| {
                let mut cells = vec![protocol.clone(), nodes.to_string()];
                cells.extend(inputs.iter().map(|(_, results)| {
                    results
                        .run(protocol, *nodes)
                        .and_then(|r| get(r, results))
                        .map_or(NOT_MEASURED.to_string(), number)
                }));
                cells
            })
            .filter(|cells| cells[2..].iter().any(|c| c != NOT_MEASURED))
            .collect();
        if rows.is_empty() {
            continue;
        }
        doc.heading(3, format!("By network: {label}"));
        doc.table(&header, rows, 2);
    }
}
