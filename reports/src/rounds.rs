//! Election rounds and what the timers predict: how many extra rounds each cold start
//! and each failover needed (their distribution, per protocol), and for Raft the
//! failover that its randomized timeouts alone predict (Raft §5.2, §9.3), to read the
//! measured medians against.

use crate::document::{number, Document};
use crate::results::{Failover, Measure, Results};
use crate::sections::row;

/// Columns of the distribution: trials that needed 0, 1, 2, and 3 or more extra rounds.
const BUCKETS: [&str; 4] = ["0", "1", "2", "3+"];

/// How many samples fall into each of [`BUCKETS`].
fn histogram(samples: &[f64]) -> [usize; 4] {
    let mut counts = [0; 4];
    for &r in samples {
        // Counts are small whole numbers; anything past 2 lands in the last bucket.
        let i = if r < 0.5 {
            0
        } else if r < 1.5 {
            1
        } else if r < 2.5 {
            2
        } else {
            3
        };
        counts[i] += 1;
    }
    counts
}

/// The distribution of extra election rounds per cold start and per failover.
pub(crate) fn distribution(doc: &mut Document, results: &Results, keys: &[(String, usize)]) {
    let mut rows = Vec::new();
    for (protocol, nodes) in keys {
        let Some(run) = results.run(protocol, *nodes) else {
            continue;
        };
        let measures: [(&str, Option<&Measure>); 3] = [
            ("cold start", run.election_extra_rounds.as_ref()),
            (
                "kill",
                run.failover_kill
                    .as_ref()
                    .and_then(|f| f.extra_rounds.as_ref()),
            ),
            (
                "isolate",
                run.failover_isolate
                    .as_ref()
                    .and_then(|f| f.extra_rounds.as_ref()),
            ),
        ];
        for (what, measure) in measures {
            let Some(m) = measure.filter(|m| !m.samples.is_empty()) else {
                continue;
            };
            let counts = histogram(&m.samples);
            let mut cells = vec![what.to_string(), m.samples.len().to_string()];
            cells.extend(counts.iter().map(|c| c.to_string()));
            cells.push(format!(
                "{:.0}",
                m.samples.iter().copied().fold(0.0, f64::max)
            ));
            rows.push(row(protocol, *nodes, cells));
        }
    }
    if rows.is_empty() {
        return;
    }
    doc.heading(4, "Election rounds");
    doc.paragraph(
        "Trials by the number of extra election rounds they needed before a leader was \
         ready: Raft terms lost to a split vote or to a candidate that could not win, Paxos \
         ballots pre-empted in a duel, ZAB FastLeaderElections started over (a vote changed \
         within one FLE round is no extra round). In a failover only the surviving nodes \
         count: an isolated ZAB leader looking for followers is not a round.",
    );
    let mut header = vec!["protocol", "nodes", "trigger", "trials"];
    header.extend(BUCKETS);
    header.push("max");
    doc.table(&header, rows, 3);
}

/// The failover Raft's timers predict, in ms: the expected earliest of the survivors'
/// election timeouts, each drawn uniformly from `min..=max` when the last
/// AppendEntries reached it. The minimum of `k` uniform draws on [min, max] has the
/// mean `min + (max - min) / (k + 1)`. The failover's closed-loop writer keeps
/// AppendEntries flowing, so that last one arrived well under a millisecond before the
/// leader's loss (on an idle cluster, half a heartbeat interval earlier on average).
pub(crate) fn raft_predicted_failover_ms(results: &Results, nodes: usize) -> Option<f64> {
    let (min, max, survivors) = draws(results, nodes)?;
    Some(min + (max - min) / (survivors + 1.0))
}

/// The median of the same minimum: `min + (max - min) (1 - 2^(-1/k))`, a little below
/// its mean (388 against 400 ms for two survivors at 300-600 ms).
fn raft_predicted_median_ms(results: &Results, nodes: usize) -> Option<f64> {
    let (min, max, survivors) = draws(results, nodes)?;
    Some(min + (max - min) * (1.0 - 0.5f64.powf(1.0 / survivors)))
}

/// The timeout range and the number of survivors of a leader's loss, if any.
fn draws(results: &Results, nodes: usize) -> Option<(f64, f64, f64)> {
    let t = &results.settings.timing;
    let survivors = nodes.checked_sub(1).filter(|&k| k > 0)? as f64;
    Some((
        t.election_timeout_min_ms as f64,
        t.election_timeout_max_ms as f64,
        survivors,
    ))
}

/// Raft's measured failover medians against [`raft_predicted_failover_ms`].
pub(crate) fn prediction(doc: &mut Document, results: &Results, keys: &[(String, usize)]) {
    let mut rows = Vec::new();
    for (protocol, nodes) in keys.iter().filter(|(p, _)| p == "raft") {
        let Some(run) = results.run(protocol, *nodes) else {
            continue;
        };
        let (Some(predicted), Some(predicted_median)) = (
            raft_predicted_failover_ms(results, *nodes),
            raft_predicted_median_ms(results, *nodes),
        ) else {
            continue;
        };
        for (fault, failover) in [
            ("kill", run.failover_kill.as_ref()),
            ("isolate", run.failover_isolate.as_ref()),
        ] {
            let Some(f) = failover.filter(|f| f.total.summary.is_measured()) else {
                continue;
            };
            rows.push(row(
                protocol,
                *nodes,
                prediction_cells(fault, f, predicted, predicted_median),
            ));
        }
    }
    if rows.is_empty() {
        return;
    }
    let t = &results.settings.timing;
    doc.paragraph(format!(
        "What Raft's timers predict: every follower re-draws its election timeout \
         uniformly in {}-{} ms at each AppendEntries from its leader, which the failover's \
         writer keeps flowing, so the first survivor times out after the expected minimum \
         of the survivors' draws, min + (max - min) / (survivors + 1). Election, recovery \
         and the first commit add a few round trips and fsyncs; a median well above the \
         prediction points at extra rounds. The median of that minimum, also shown, is a \
         little below its mean.",
        t.election_timeout_min_ms, t.election_timeout_max_ms
    ));
    doc.table(
        &[
            "protocol",
            "nodes",
            "fault",
            "trials",
            "predicted mean ms",
            "predicted median ms",
            "median total ms",
            "median / predicted",
            "p99 ms",
            "max ms",
        ],
        rows,
        3,
    );
}

fn prediction_cells(fault: &str, f: &Failover, predicted: f64, median: f64) -> Vec<String> {
    let s = &f.total.summary;
    vec![
        fault.to_string(),
        s.count.to_string(),
        number(predicted),
        number(median),
        number(s.p50),
        format!("{:.3}", s.p50 / predicted),
        number(s.p99),
        number(s.max),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_whole_counts_and_lumps_three_and_more() {
        assert_eq!(histogram(&[0.0, 0.0, 1.0, 2.0, 3.0, 7.0]), [2, 1, 1, 2]);
    }

    #[test]
    fn raft_prediction_is_the_expected_minimum_of_the_survivors_draws() {
        let mut results =
            crate::results::load(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/small.json"))
                .expect("fixture loads");
        results.settings.timing.election_timeout_min_ms = 300;
        results.settings.timing.election_timeout_max_ms = 600;
        // Two survivors: 300 + 300 / 3; four: 300 + 300 / 5.
        assert_eq!(raft_predicted_failover_ms(&results, 3), Some(400.0));
        assert_eq!(raft_predicted_failover_ms(&results, 5), Some(360.0));
        let median = raft_predicted_median_ms(&results, 3).expect("two survivors");
        assert!((median - 387.87).abs() < 0.01, "{median}");
        assert_eq!(raft_predicted_failover_ms(&results, 1), None);
    }
}
