//! The measured part of the report for one results file: election latency (cold
//! start to leader ready / elected), idle resident memory of node processes (when
//! measured) and the timeout sweep (Raft paper §9.3, Figure 16); the failover
//! decomposition is in `failover.rs`, throughput and message counts in
//! `steady_state.rs`. Each is a table (median, p99, min, max) followed by its plots.
//! A (protocol, cluster size) listed in the settings but absent from the results
//! shows "not measured".

use crate::document::{count_cell, number, summary_cells, Block, Document, NOT_MEASURED};
use crate::error::ReportError;
use crate::palette::{category_color, protocol_color};
use crate::plots::{sweep_plot, CdfSeries, SweepSeries};
use crate::results::{Measure, ProtocolRun, Results, SweepPoint};

/// Every (protocol, cluster size) the run set out to measure or did measure, in the
/// settings' protocol order and increasing size.
/// Redis Cluster runs `2n` nodes (`n` masters with one replica each) for a size `n`:
/// its keys use its own sizes, so that no table lists it "not measured" at the
/// consensus sizes (nor the consensus protocols at its).
pub(crate) fn run_keys(results: &Results) -> Vec<(String, usize)> {
    let mut protocols = results.settings.protocols.clone();
    let mut sizes = results.settings.cluster_sizes.clone();
    for run in &results.runs {
        if !protocols.contains(&run.protocol) {
            protocols.push(run.protocol.clone());
        }
        if run.protocol != "redis" && !sizes.contains(&run.nodes) {
            sizes.push(run.nodes);
        }
    }
    sizes.sort_unstable();
    sizes.dedup();
    let mut keys = Vec::new();
    for protocol in &protocols {
        if protocol == "redis" {
            let mut own: Vec<usize> = sizes.iter().map(|n| n.saturating_mul(2)).collect();
            own.extend(
                results
                    .runs
                    .iter()
                    .filter(|r| r.protocol == "redis")
                    .map(|r| r.nodes),
            );
            own.sort_unstable();
            own.dedup();
            keys.extend(own.into_iter().map(|n| (protocol.clone(), n)));
            continue;
        }
        for &nodes in &sizes {
            keys.push((protocol.clone(), nodes));
        }
    }
    keys
}

/// A row: protocol, nodes, then `rest`.
pub(crate) fn row(protocol: &str, nodes: usize, rest: Vec<String>) -> Vec<String> {
    let mut cells = vec![protocol.to_string(), nodes.to_string()];
    cells.extend(rest);
    cells
}

/// Label, sample count and the four summary cells of an optional measure.
pub(crate) fn measure_cells(label: &str, measure: Option<&Measure>) -> Vec<String> {
    let summary = measure.map(|m| &m.summary);
    let mut cells = vec![label.to_string(), count_cell(summary)];
    cells.extend(summary_cells(summary));
    cells
}

/// Adds all measured sections of one results file. `prefix` makes plot file names
/// unique when several files are reported together.
pub(crate) fn measured(
    doc: &mut Document,
    results: &Results,
    prefix: &str,
) -> Result<(), ReportError> {
    let keys = run_keys(results);
    election(doc, results, &keys, prefix)?;
    idle_memory(doc, results, &keys, prefix);
    crate::failover::failover(doc, results, &keys, prefix)?;
    crate::steady_state::throughput(doc, results, &keys, prefix)?;
    crate::scaling::curves(doc, results, prefix)?;
    crate::steady_state::messages(doc, results, &keys, prefix)?;
    crate::cost::cost_per_op(doc, results, &keys, prefix);
    crate::placement::section(doc, results, &keys, prefix)?;
    sweep(doc, results, prefix)?;
    Ok(())
}

pub(crate) fn sizes_of(keys: &[(String, usize)]) -> Vec<usize> {
    let mut sizes: Vec<usize> = keys.iter().map(|k| k.1).collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

fn election(
    doc: &mut Document,
    results: &Results,
    keys: &[(String, usize)],
    prefix: &str,
) -> Result<(), ReportError> {
    doc.heading(3, format!("{prefix}Election latency (cold start)"));
    let mut rows = Vec::new();
    for (protocol, nodes) in keys {
        let run = results.run(protocol, *nodes);
        let ready = run.and_then(|r| r.election.as_ref());
        let elected = run.and_then(|r| r.elected.as_ref());
        rows.push(row(protocol, *nodes, measure_cells("leader ready", ready)));
        rows.push(row(
            protocol,
            *nodes,
            measure_cells("leader elected", elected),
        ));
    }
    doc.table(
        &[
            "protocol",
            "nodes",
            "until",
            "trials",
            "median ms",
            "p99 ms",
            "min ms",
            "max ms",
        ],
        rows,
        3,
    );
    for nodes in sizes_of(keys) {
        let series: Vec<CdfSeries<'_>> = keys
            .iter()
            .filter(|k| k.1 == nodes)
            .filter_map(|(protocol, _)| {
                let measure = results.run(protocol, nodes)?.election.as_ref()?;
                Some(CdfSeries {
                    label: protocol.clone(),
                    color: protocol_color(protocol),
                    samples: &measure.samples,
                })
            })
            .collect();
        if series.iter().all(|s| s.samples.is_empty()) {
            continue;
        }
        let title = format!("Time to a ready leader from cold start, {nodes} nodes");
        let file = format!("{}election-cdf-n{nodes}.svg", file_prefix(prefix));
        let plot =
            crate::plots::cdf_plot(&file, &title, "time without a ready leader (ms)", &series)?;
        doc.blocks.push(Block::Plot(plot));
    }
    Ok(())
}

/// The performance target for one idle node of a 3-node cluster, in kB (30 MB).
pub(crate) const IDLE_RSS_TARGET_KB: f64 = 30.0 * 1024.0;

/// Resident memory per node process at idle, when the run measured it (multi-process
/// mode); nothing at all otherwise.
fn idle_memory(doc: &mut Document, results: &Results, keys: &[(String, usize)], prefix: &str) {
    if results.runs.iter().all(|r| r.idle_rss_kb.is_none()) {
        return;
    }
    doc.heading(3, format!("{prefix}Idle resident memory"));
    doc.paragraph(format!(
        "Resident memory (VmRSS) of each node process about one second after a \
         cold-start election settled, one sample per node. Target: under {} kB \
         ({} MB) per node at idle in a 3-node cluster.",
        number(IDLE_RSS_TARGET_KB),
        number(IDLE_RSS_TARGET_KB / 1024.0)
    ));
    let mut rows = Vec::new();
    for (protocol, nodes) in keys {
        let rss = results
            .run(protocol, *nodes)
            .and_then(|r| r.idle_rss_kb.as_ref());
        let mut cells = measure_cells("idle resident memory per node", rss);
        let within = rss.map(|m| &m.summary).filter(|s| s.is_measured()).map_or(
            NOT_MEASURED.to_string(),
            |s| {
                if s.max < IDLE_RSS_TARGET_KB {
                    "yes".to_string()
                } else {
                    "no".to_string()
                }
            },
        );
        cells.push(within);
        rows.push(row(protocol, *nodes, cells));
    }
    doc.table(
        &[
            "protocol",
            "nodes",
            "measure",
            "samples",
            "median kB",
            "p99 kB",
            "min kB",
            "max kB",
            "every node under target",
        ],
        rows,
        3,
    );
}

/// Plot file-name prefix from the section prefix ("A: " -> "a-").
pub(crate) fn file_prefix(prefix: &str) -> String {
    let slug = crate::document::anchor_of(prefix);
    if slug.is_empty() {
        String::new()
    } else {
        format!("{slug}-")
    }
}

fn sweep(doc: &mut Document, results: &Results, prefix: &str) -> Result<(), ReportError> {
    let runs: Vec<&ProtocolRun> = results
        .runs
        .iter()
        .filter(|r| !r.sweep.is_empty())
        .collect();
    if runs.is_empty() {
        return Ok(());
    }
    doc.heading(3, format!("{prefix}Election timeout sweep"));
    doc.paragraph(
        "Election latency (cold start to a ready leader) under other timeout settings, \
         in the manner of Figure 16 of the Raft paper: at a cold start every node's \
         timer starts at once, as every follower's does at the last heartbeat of a \
         leader that then crashes (the paper's setting), but the time also holds node \
         start-up. The last column is the mean number of split votes (Raft), duels \
         (Paxos) or restarted elections (ZAB) per trial.",
    );
    let mut settings: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for run in &runs {
        let mut points = Vec::new();
        for point in &run.sweep {
            let index = match settings.iter().position(|s| s == &point.setting) {
                Some(i) => i,
                None => {
                    settings.push(point.setting.clone());
                    settings.len() - 1
                }
            };
            let s = &point.election_ms.summary;
            if s.is_measured() {
                points.push((index, s.p50, s.p99));
            }
            let mut cells = measure_cells(&point.setting, Some(&point.election_ms));
            cells.push(point.trials.to_string());
            let extra = &point.split_votes_or_extra_rounds.summary;
            cells.push(if extra.is_measured() {
                number(extra.mean)
            } else {
                NOT_MEASURED.into()
            });
            rows.push(row(&run.protocol, run.nodes, cells));
        }
        lines.push(SweepSeries {
            label: format!("{} n={}", run.protocol, run.nodes),
            color: protocol_color(&run.protocol),
            points,
        });
    }
    let mut columns = SWEEP_COLUMNS.to_vec();
    columns.extend(["trials", "extra rounds"]);
    doc.table(&columns, rows, 3);
    let fp = file_prefix(prefix);
    let plot = sweep_plot(
        &format!("{fp}sweep.svg"),
        "Election time against the timeout setting",
        "election time (ms)",
        &settings,
        &lines,
    )?;
    doc.blocks.push(Block::Plot(plot));
    sweep_failovers(doc, &fp, &runs, &settings)?;
    for run in &runs {
        let series: Vec<CdfSeries<'_>> = run
            .sweep
            .iter()
            .enumerate()
            .map(|(i, p)| CdfSeries {
                label: format!("{} ms", p.setting),
                color: category_color(i),
                samples: &p.election_ms.samples,
            })
            .collect();
        let plot = crate::plots::cdf_plot(
            &format!(
                "{fp}sweep-cdf-{}-n{}.svg",
                crate::document::anchor_of(&run.protocol),
                run.nodes
            ),
            &format!(
                "{} n={}: election time per timeout setting",
                run.protocol, run.nodes
            ),
            "time without a ready leader (ms)",
            &series,
        )?;
        doc.blocks.push(Block::Plot(plot));
    }
    Ok(())
}

/// The columns of every sweep table: the run, the setting and a measure's summary.
const SWEEP_COLUMNS: [&str; 8] = [
    "protocol",
    "nodes",
    "setting ms",
    "samples",
    "median ms",
    "p99 ms",
    "min ms",
    "max ms",
];

/// The sweep's kill and isolate failovers (fault -> first commit) per setting, when
/// the run measured them: a table and a plot each.
fn sweep_failovers(
    doc: &mut Document,
    fp: &str,
    runs: &[&ProtocolRun],
    settings: &[String],
) -> Result<(), ReportError> {
    type Pick = fn(&SweepPoint) -> (Option<&Measure>, Option<&Measure>);
    let failures: [(&str, Pick); 2] = [
        ("kill", |p| (p.kill_ms.as_ref(), p.kill_rounds.as_ref())),
        ("isolate", |p| {
            (p.isolate_ms.as_ref(), p.isolate_rounds.as_ref())
        }),
    ];
    for (name, pick) in failures {
        if !runs
            .iter()
            .any(|r| r.sweep.iter().any(|p| pick(p).0.is_some()))
        {
            continue;
        }
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for run in runs {
            let mut points = Vec::new();
            for point in &run.sweep {
                let (Some(m), rounds) = pick(point) else {
                    continue;
                };
                if let Some(index) = settings.iter().position(|s| s == &point.setting) {
                    if m.summary.is_measured() {
                        points.push((index, m.summary.p50, m.summary.p99));
                    }
                }
                let mut cells = measure_cells(&point.setting, Some(m));
                cells.push(match rounds.map(|r| &r.summary) {
                    Some(r) if r.is_measured() => number(r.mean),
                    _ => NOT_MEASURED.into(),
                });
                rows.push(row(&run.protocol, run.nodes, cells));
            }
            lines.push(SweepSeries {
                label: format!("{} n={}", run.protocol, run.nodes),
                color: protocol_color(&run.protocol),
                points,
            });
        }
        doc.paragraph(format!(
            "Failover after the leader's {name} (the fault to the first acknowledged \
             write) at each setting, over the same number of trials; the last column is \
             the mean number of extra election rounds (split votes, duels, restarted \
             elections) per failover."
        ));
        let mut columns = SWEEP_COLUMNS.to_vec();
        columns.push("extra rounds");
        doc.table(&columns, rows, 3);
        let plot = sweep_plot(
            &format!("{fp}sweep-{name}.svg"),
            &format!("Failover after a {name} against the timeout setting"),
            "fault -> first commit (ms)",
            settings,
            &lines,
        )?;
        doc.blocks.push(Block::Plot(plot));
        for run in runs {
            let series: Vec<CdfSeries<'_>> = run
                .sweep
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    pick(p).0.map(|m| CdfSeries {
                        label: format!("{} ms", p.setting),
                        color: category_color(i),
                        samples: &m.samples,
                    })
                })
                .collect();
            if series.is_empty() {
                continue;
            }
            let plot = crate::plots::cdf_plot(
                &format!(
                    "{fp}sweep-{name}-cdf-{}-n{}.svg",
                    crate::document::anchor_of(&run.protocol),
                    run.nodes
                ),
                &format!(
                    "{} n={}: failover after a {name} per timeout setting",
                    run.protocol, run.nodes
                ),
                "fault -> first commit (ms)",
                &series,
            )?;
            doc.blocks.push(Block::Plot(plot));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(doc: &Document) -> Vec<&crate::document::Table> {
        doc.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Table(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn fixture() -> Results {
        crate::results::load(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/small.json"))
            .expect("fixture loads")
    }

    #[test]
    fn idle_memory_shows_only_when_measured() {
        let mut results = fixture();
        let mut doc = Document::new("t");
        idle_memory(&mut doc, &results, &run_keys(&results), "");
        assert!(doc.blocks.is_empty(), "in-process runs: no memory section");

        let first = &mut results.runs[0];
        first.idle_rss_kb = Some(Measure::from_kb(vec![7000.0, 7200.0, 40000.0]));
        let (protocol, nodes) = (first.protocol.clone(), first.nodes);
        let mut doc = Document::new("t");
        idle_memory(&mut doc, &results, &run_keys(&results), "");
        let table = tables(&doc)[0];
        let measured = table
            .rows
            .iter()
            .find(|r| r[0] == protocol && r[1] == nodes.to_string())
            .expect("a row for the measured run");
        assert_eq!(measured[2], "idle resident memory per node");
        assert_eq!(measured[3], "3");
        let median: f64 = measured[4].parse().expect("a number of kB");
        assert!((7200.0..7208.0).contains(&median), "{median}");
        assert_eq!(measured[8], "no", "one node is above 30 MB");
        assert!(table
            .rows
            .iter()
            .filter(|r| r[0] != protocol || r[1] != nodes.to_string())
            .all(|r| r[4] == NOT_MEASURED));
    }

    #[test]
    fn sweep_failovers_get_a_table_and_plot_only_when_measured() {
        let mut results = fixture();
        let mut doc = Document::new("t");
        sweep(&mut doc, &results, "").expect("sweep section");
        let without = tables(&doc).len();
        let run = results
            .runs
            .iter_mut()
            .find(|r| !r.sweep.is_empty())
            .expect("the fixture has a sweep");
        run.sweep[0].kill_ms = Some(Measure::from_ms(vec![180.0, 200.0, 220.0]));
        run.sweep[0].kill_rounds = Some(Measure::from_counts("rounds", vec![0.0, 1.0, 2.0]));
        let (protocol, nodes) = (run.protocol.clone(), run.nodes);
        let setting = run.sweep[0].setting.clone();
        let mut doc = Document::new("t");
        sweep(&mut doc, &results, "").expect("sweep section");
        let all = tables(&doc);
        assert_eq!(all.len(), without + 1, "one more table: kills");
        let kills = all[without];
        assert_eq!(kills.rows.len(), 1, "only the setting with kills has a row");
        assert_eq!(kills.rows[0][2], setting);
        assert_eq!(kills.rows[0][4], "200");
        assert_eq!(kills.rows[0][8], "1.00", "mean extra rounds per failover");
        let plots: Vec<&str> = doc
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Plot(p) => Some(p.file_name.as_str()),
                _ => None,
            })
            .collect();
        assert!(
            plots.iter().any(|f| f.ends_with("sweep-kill.svg")),
            "{plots:?}"
        );
        let cdf = format!(
            "sweep-kill-cdf-{}-n{nodes}.svg",
            crate::document::anchor_of(&protocol)
        );
        assert!(plots.iter().any(|f| f.ends_with(&cdf)), "{plots:?}");
    }
}
