//! The systems side by side: Redis Cluster's failover over asynchronous replication
//! beside the three consensus protocols, in one table per results file: failover time
//! after a kill and after an isolation, acknowledged writes lost per failover (Redis
//! Cluster asynchronous and with its WAIT-like option), throughput and the
//! linearizability checker's verdict on the clients' history; then Redis Cluster's
//! failover in its specification's steps (PFAIL, FAIL, the election delay, the vote),
//! as a table and a stacked bar plot. Shown only when the file measured lost writes or
//! Redis Cluster's steps.

use crate::bars::{stacked_bars, BarFrame, SegmentKind, StackedBar};
use crate::document::{number, Block, Document, NOT_MEASURED};
use crate::error::ReportError;
use crate::palette::category_color;
use crate::results::{LostWrites, Measure, ProtocolRun, Results};
use crate::sections::file_prefix;

/// The median of a measure, as a cell.
fn median(m: Option<&Measure>) -> String {
    m.filter(|m| m.summary.is_measured())
        .map_or(NOT_MEASURED.to_string(), |m| number(m.summary.p50))
}

/// Mean of a count measure's samples (lost writes per failover: a mean, since most
/// trials of a protocol that loses writes rarely lose any).
fn mean(m: &Measure) -> Option<f64> {
    (!m.samples.is_empty()).then(|| m.samples.iter().sum::<f64>() / m.samples.len() as f64)
}

/// "3.2 of 1,050": lost writes per failover out of those acknowledged (means).
fn lost_cell(l: Option<&LostWrites>) -> String {
    let Some(l) = l else {
        return NOT_MEASURED.to_string();
    };
    match (mean(&l.lost), mean(&l.acknowledged)) {
        (Some(lost), Some(acked)) => format!("{} of {}", number(lost), number(acked)),
        _ => NOT_MEASURED.to_string(),
    }
}

/// The verdict over the rows of one replication setting: "yes (20/20)", "no (3 of
/// 20 not)", or "undecided".
fn verdict_cell(rows: &[&LostWrites]) -> String {
    let judged: u32 = rows
        .iter()
        .map(|l| l.linearizable + l.not_linearizable + l.undecided)
        .sum();
    let not: u32 = rows.iter().map(|l| l.not_linearizable).sum();
    let undecided: u32 = rows.iter().map(|l| l.undecided).sum();
    if judged == 0 {
        NOT_MEASURED.to_string()
    } else if not > 0 {
        format!("no ({not} of {judged} not)")
    } else if undecided > 0 {
        format!("undecided ({undecided} of {judged})")
    } else {
        format!("yes ({judged}/{judged})")
    }
}

/// The best throughput point of a run: "41,200 (64 clients)".
fn throughput_cell(run: &ProtocolRun) -> String {
    run.throughput
        .iter()
        .filter(|p| p.ops_per_sec.is_finite() && p.ops > 0)
        .max_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec))
        .map_or(NOT_MEASURED.to_string(), |p| {
            format!("{} ({} clients)", number(p.ops_per_sec), p.clients)
        })
}

/// The replication settings a run measured lost writes under, in order ("quorum"
/// for the consensus protocols; Redis Cluster's WAIT-like settings).
fn settings_of(run: &ProtocolRun) -> Vec<Option<u32>> {
    let mut settings: Vec<Option<u32>> = Vec::new();
    for l in &run.lost_writes {
        if !settings.contains(&l.wait_replicas) {
            settings.push(l.wait_replicas);
        }
    }
    settings
}

/// One row per run and replication setting.
fn side_by_side_rows(results: &Results) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for run in &results.runs {
        let mut settings = settings_of(run);
        if settings.is_empty() {
            // Measured failovers but no lost writes: the row still shows them.
            if run.failover_kill.is_none() && run.failover_isolate.is_none() {
                continue;
            }
            settings.push(if run.protocol == "redis" {
                Some(0)
            } else {
                None
            });
        }
        for (i, wait) in settings.iter().enumerate() {
            let lost = |failure: &str| {
                run.lost_writes
                    .iter()
                    .find(|l| l.failure == failure && l.wait_replicas == *wait)
            };
            // Failover time: the failover measure where it ran under this setting (the
            // consensus protocols; Redis Cluster's asynchronous row), else the lost
            // measure's own (fault -> first write on the failed node's keys).
            let asynchronous = matches!(wait, None | Some(0));
            let time = |failure: &str, measured: Option<&Measure>| {
                if asynchronous && measured.is_some() {
                    median(measured)
                } else {
                    median(lost(failure).map(|l| &l.failover))
                }
            };
            let verdict_rows: Vec<&LostWrites> = run
                .lost_writes
                .iter()
                .filter(|l| l.wait_replicas == *wait)
                .collect();
            rows.push(vec![
                run.protocol.clone(),
                run.nodes.to_string(),
                match wait {
                    None => "quorum".to_string(),
                    Some(0) => "async".to_string(),
                    Some(n) => format!("WAIT {n}"),
                },
                time("kill", run.failover_kill.as_ref().map(|f| &f.total)),
                time("isolate", run.failover_isolate.as_ref().map(|f| &f.total)),
                lost_cell(lost("kill")),
                lost_cell(lost("isolate")),
                // Throughput was measured with the run's default replication.
                if i == 0 {
                    throughput_cell(run)
                } else {
                    NOT_MEASURED.to_string()
                },
                verdict_cell(&verdict_rows),
            ]);
        }
    }
    rows
}

/// The side-by-side section of one results file, when it has something to show.
pub(crate) fn side_by_side(
    doc: &mut Document,
    results: &Results,
    prefix: &str,
) -> Result<(), ReportError> {
    let has_lost = results.runs.iter().any(|r| !r.lost_writes.is_empty());
    let has_redis = results.runs.iter().any(|r| r.protocol == "redis");
    if !has_lost && !has_redis {
        return Ok(());
    }
    doc.heading(
        3,
        format!("{prefix}Consensus and Redis Cluster side by side: failover and what it loses"),
    );
    doc.paragraph(
        "Failover: median ms from the fault to the first write acknowledged on the failed \
         node's keys by its successor. Lost: acknowledged writes per failover that read back \
         empty afterwards, mean over the trials, of the writes acknowledged per trial (six \
         writers, each a write of its own key every 2 ms). Linearizable: the checker's \
         verdict on each trial's client history, kill and isolation together. Redis Cluster \
         at size n runs n masters with one replica each; asynchronous replication answers a \
         write before the replica has it, WAIT 1 only once it has. Throughput: the best \
         point measured (median round), with the run's default replication.",
    );
    let rows = side_by_side_rows(results);
    let header = [
        "system",
        "nodes",
        "replication",
        "failover after kill, ms",
        "failover after isolation, ms",
        "lost per kill",
        "lost per isolation",
        "throughput, ops/s",
        "linearizable",
    ];
    doc.table(&header, rows, 3);
    redis_steps(doc, results, prefix)
}

/// Redis Cluster's failover in its specification's steps: a table of medians and a
/// stacked bar per fault.
fn redis_steps(doc: &mut Document, results: &Results, prefix: &str) -> Result<(), ReportError> {
    let runs: Vec<&ProtocolRun> = results
        .runs
        .iter()
        .filter(|r| !r.failover_steps.is_empty())
        .collect();
    let Some(names) = runs
        .first()
        .and_then(|r| r.failover_steps.first())
        .map(|s| s.steps.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>())
    else {
        return Ok(());
    };
    doc.paragraph(
        "Redis Cluster's failover in its specification's steps (median ms, each from the end \
         of the one before): PFAIL (a node's ping waited the node timeout), FAIL (a majority \
         of masters reported it), the replica learns FAIL and draws its election delay \
         (500 ms + random 0-500 ms + rank * 1000 ms), FAILOVER_AUTH_REQUEST after the delay, \
         the majority's votes and the promotion, and the first write the promoted replica \
         acknowledges on the failed master's slots. In the shared decomposition (the \
         failover section), detection runs up to the replica learning FAIL, election over \
         the delay and the vote, recovery is zero.",
    );
    let mut header: Vec<&str> = vec!["system", "nodes", "fault", "trials"];
    header.extend(names.iter().map(String::as_str));
    let mut rows = Vec::new();
    let mut bars = Vec::new();
    for run in &runs {
        for s in &run.failover_steps {
            let trials = s.steps.first().map_or(0, |(_, m)| m.samples.len());
            let mut row = vec![
                run.protocol.clone(),
                run.nodes.to_string(),
                s.failure.clone(),
                trials.to_string(),
            ];
            row.extend(s.steps.iter().map(|(_, m)| median(Some(m))));
            rows.push(row);
            let medians: Option<Vec<f64>> = s
                .steps
                .iter()
                .map(|(_, m)| m.summary.is_measured().then_some(m.summary.p50))
                .collect();
            bars.push(StackedBar {
                label: format!("{} n={} {}", run.protocol, run.nodes, s.failure),
                segments: medians,
            });
        }
    }
    doc.table(&header, rows, 3);
    if bars.iter().all(|b| b.segments.is_none()) {
        return Ok(());
    }
    let kinds: Vec<SegmentKind> = names
        .iter()
        .enumerate()
        .map(|(i, name)| SegmentKind {
            name: name.clone(),
            color: category_color(i),
        })
        .collect();
    let file = format!("{}redis-failover-steps.svg", file_prefix(prefix));
    let plot = stacked_bars(
        BarFrame::full(
            &file,
            "Redis Cluster's failover, step by step (medians)",
            "time since the master's loss (ms)",
            "fault",
        ),
        &kinds,
        &bars,
    )?;
    doc.blocks.push(Block::Plot(plot));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Failover, FailoverSteps};

    fn ms(v: &[f64]) -> Measure {
        Measure::from_ms(v.to_vec())
    }

    fn writes(v: &[f64]) -> Measure {
        Measure::from_counts("writes", v.to_vec())
    }

    fn lost(failure: &str, wait: Option<u32>, acked: &[f64], gone: &[f64]) -> LostWrites {
        LostWrites {
            failure: failure.into(),
            wait_replicas: wait,
            acknowledged: writes(acked),
            lost: writes(gone),
            failover: ms(&[1200.0, 1300.0]),
            linearizable: gone.iter().filter(|&&g| g == 0.0).count() as u32,
            not_linearizable: gone.iter().filter(|&&g| g > 0.0).count() as u32,
            undecided: 0,
            trials_discarded: 0,
        }
    }

    fn failover(total: f64) -> Failover {
        Failover {
            detection: ms(&[total / 2.0]),
            election: ms(&[total / 2.0]),
            recovery: ms(&[0.0]),
            first_commit: ms(&[0.0]),
            total: ms(&[total]),
            unavailability: ms(&[total]),
            extra_rounds: None,
            trials_discarded: 0,
        }
    }

    fn fixture() -> Results {
        let mut results: Results =
            serde_json::from_str(include_str!("../fixtures/small.json")).expect("fixture parses");
        let raft = ProtocolRun {
            failover_kill: Some(failover(300.0)),
            lost_writes: vec![
                lost("kill", None, &[900.0, 1000.0], &[0.0, 0.0]),
                lost("isolate", None, &[900.0, 1000.0], &[0.0, 0.0]),
            ],
            ..ProtocolRun::new("raft", 3)
        };
        let redis = ProtocolRun {
            failover_kill: Some(failover(1150.0)),
            failover_isolate: Some(failover(1200.0)),
            lost_writes: vec![
                lost("kill", Some(0), &[700.0, 800.0], &[0.0, 2.0]),
                lost("isolate", Some(0), &[900.0, 1000.0], &[80.0, 120.0]),
                lost("kill", Some(1), &[600.0, 700.0], &[0.0, 0.0]),
                lost("isolate", Some(1), &[600.0, 650.0], &[0.0, 0.0]),
            ],
            failover_steps: vec![FailoverSteps {
                failure: "kill".into(),
                steps: ["PFAIL", "FAIL", "election delay"]
                    .iter()
                    .map(|n| (n.to_string(), ms(&[150.0, 160.0])))
                    .collect(),
            }],
            ..ProtocolRun::new("redis", 6)
        };
        results.runs = vec![raft, redis];
        results
    }

    #[test]
    fn one_row_per_system_and_replication_setting() {
        let rows = side_by_side_rows(&fixture());
        let keys: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r[0].as_str(), r[2].as_str()))
            .collect();
        assert_eq!(
            keys,
            [("raft", "quorum"), ("redis", "async"), ("redis", "WAIT 1")]
        );
        let redis_async = &rows[1];
        assert_eq!(redis_async[3], "1150", "the failover measure's total");
        assert_eq!(
            redis_async[5], "1.00 of 750",
            "mean lost of mean acknowledged"
        );
        assert_eq!(redis_async[6], "100 of 950");
        assert_eq!(redis_async[8], "no (3 of 4 not)");
        let wait = &rows[2];
        assert_eq!(
            wait[3], "1200",
            "the lost measure's own failover time (median)"
        );
        assert_eq!(wait[6], "0 of 625");
        assert_eq!(wait[7], NOT_MEASURED, "throughput ran asynchronously");
        assert_eq!(wait[8], "yes (4/4)");
        assert_eq!(rows[0][8], "yes (4/4)");
    }

    #[test]
    fn the_section_has_its_table_and_the_steps_plot_only_when_measured() {
        let mut doc = Document::new("t");
        side_by_side(&mut doc, &fixture(), "").expect("renders");
        let tables = doc.tables();
        assert_eq!(tables.len(), 2, "side by side, and Redis's steps");
        assert_eq!(tables[1].header[4..], ["PFAIL", "FAIL", "election delay"]);
        assert_eq!(doc.plots().len(), 1);
        assert!(doc.plots()[0].svg.contains("PFAIL"));

        let mut plain = fixture();
        plain.runs.clear();
        let mut doc = Document::new("t");
        side_by_side(&mut doc, &plain, "").expect("renders");
        assert!(doc.blocks.is_empty(), "nothing to show, nothing shown");
    }
}
