//! The throughput points of every run, measured in interleaved rounds.

use super::trials::{cluster_options, throughput_trial, Hosting};
use super::{data_dir, ms, BenchError, Plan, Progress};
use crate::measure::ThroughputSample;
use crate::with_protocol;
use crate::workload::Workload;
use protocols::ProtocolKind;
use reports::results as r;
use reports::Summary;
use runtime::host::MessageCounts;

/// Measures every throughput point of every run, `plan.rounds` times, round-robin over
/// the runs (protocols and sizes), so that machine noise is spread over all of them;
/// each point reports its median round and keeps every round's ops/s. The `extra`
/// systems measure their points at the end of each round.
pub(super) async fn rounds<'x>(
    plan: &Plan,
    hosts: &[(ProtocolKind, Hosting)],
    runs: &mut [r::ProtocolRun],
    progress: &mut dyn Progress,
    mut extra: Option<&mut (dyn super::ExtraSystems + 'x)>,
) -> Result<(), BenchError> {
    // The throughput points: every value size with every client count.
    let points: Vec<(usize, u32)> = plan
        .throughput_values()
        .into_iter()
        .flat_map(|v| plan.clients.iter().map(move |&c| (v, c)))
        .collect();
    // samples[run][point index]: one per successful round.
    let mut samples: Vec<Vec<Vec<ThroughputSample>>> = runs
        .iter()
        .map(|_| vec![Vec::new(); points.len()])
        .collect();
    for round in 1..=plan.rounds {
        for (i, ((protocol, hosting), run)) in hosts.iter().zip(runs.iter()).enumerate() {
            let nodes = run.nodes as u64;
            for (c, &(value_bytes, clients)) in points.iter().enumerate() {
                let what = format!("{protocol} n={nodes} throughput c={clients} {value_bytes} B");
                progress.doing(format!("{what} round {round}/{}", plan.rounds));
                let dir = data_dir()?;
                let opts = cluster_options(plan, &plan.timing, nodes, u64::from(round), &dir);
                let w = Workload {
                    clients,
                    value_bytes,
                    warmup: plan.warmup,
                    duration: plan.duration,
                    read_percent: plan.read_percent,
                    clients_per_connection: if plan.connection_per_client {
                        1
                    } else {
                        crate::workload::CLIENTS_PER_CONNECTION
                    },
                    // A follower answers these reads itself: spread them.
                    read_from_every_node: plan.timing.reads.served_by_followers(),
                };
                let sample =
                    with_protocol!(*protocol, P => throughput_trial::<P>(hosting, opts, &w).await);
                match sample {
                    Ok(t) => {
                        if let Some(slot) = samples.get_mut(i).and_then(|s| s.get_mut(c)) {
                            slot.push(t);
                        }
                    }
                    Err(e) => progress.note(format!("{what} round {round} failed: {e}")),
                }
                progress.step_done();
            }
        }
        if let Some(x) = extra.as_deref_mut() {
            x.throughput_round(plan, round, progress).await;
        }
    }
    for (run, per_point) in runs.iter_mut().zip(samples) {
        record(plan, run, &points, per_point);
    }
    Ok(())
}

/// Writes one run's throughput points (the median round of each) and its messages per
/// operation (from the largest client count measured at the first value size).
fn record(
    plan: &Plan,
    run: &mut r::ProtocolRun,
    points: &[(usize, u32)],
    per_point: Vec<Vec<ThroughputSample>>,
) {
    let mut largest: Option<(u32, MessageCounts, u64)> = None;
    let first_size = points.first().map(|p| p.0);
    for (&(value_bytes, clients), mut rounds) in points.iter().zip(per_point) {
        if rounds.is_empty() {
            continue;
        }
        rounds.sort_by(|a, b| a.result.ops_per_sec().total_cmp(&b.result.ops_per_sec()));
        let all: Vec<f64> = rounds.iter().map(|t| t.result.ops_per_sec()).collect();
        // The median round; of an even number, the lower of the middle two.
        let median = rounds.swap_remove((rounds.len() - 1) / 2);
        let t = &median.result;
        let (cpu_us_per_op, cpu_system_us_per_op) =
            crate::cpu::CpuTime::per_op_us(median.cpu, t.ops);
        run.throughput.push(r::ThroughputPoint {
            clients,
            value_bytes: value_bytes as u64,
            fsync: plan.fsync.to_string(),
            duration_ms: ms(t.elapsed),
            ops: t.ops,
            ops_per_sec: t.ops_per_sec(),
            latency_us: Summary::from_histogram(t.latency.histogram(), 1.0),
            errors: t.errors,
            rounds_ops_per_sec: all,
            cpu_us_per_op,
            cpu_system_us_per_op,
            reads: t.reads,
            read_latency_us: (t.reads > 0)
                .then(|| Summary::from_histogram(t.read_latency.histogram(), 1.0)),
            write_latency_us: (t.reads > 0 && t.ops > t.reads)
                .then(|| Summary::from_histogram(t.write_latency.histogram(), 1.0)),
        });
        if Some(value_bytes) == first_size && largest.as_ref().is_none_or(|l| clients >= l.0) {
            largest = Some((clients, median.messages, t.ops));
        }
    }
    let Some((clients, counts, ops)) = largest else {
        return;
    };
    run.messages.per_op_clients = Some(clients);
    let ops = ops.max(1) as f64;
    // Multi-process runs count nothing (`by_kind` stays empty): not measured.
    if !counts.by_kind.is_empty() {
        run.messages.wal_records_per_op = Some(counts.wal_records as f64 / ops);
        run.messages.wal_syncs_per_op = Some(counts.wal_syncs as f64 / ops);
        run.messages.wal_writes_per_op = Some(counts.wal_writes as f64 / ops);
        run.messages.peer_writes_per_op = Some(counts.peer_writes as f64 / ops);
        run.messages.peer_reads_per_op = Some(counts.peer_reads as f64 / ops);
        run.messages.client_writes_per_op = Some(counts.client_writes as f64 / ops);
        run.messages.client_reads_per_op = Some(counts.client_reads as f64 / ops);
    }
    for (kind, (n, b)) in counts.by_kind {
        run.messages.per_op.insert(kind.to_string(), n as f64 / ops);
        run.messages
            .bytes_per_op
            .insert(kind.to_string(), b as f64 / ops);
    }
}
