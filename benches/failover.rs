//! Failover time of all three protocols on a real loopback TCP cluster: the leader
//! fails while a client writes -> the new leader acknowledges a write (docs/DESIGN.md,
//! "failover time"; the same measure as `cwb bench --measure kill,isolate`).
//!
//! Each iteration starts a fresh 3-node in-process cluster (real sockets, WAL files in
//! a temporary directory, `fsync = batch`, default timing), keeps one closed-loop
//! client writing, fails the leader that is acknowledging those writes and runs
//! [`drivers::cluster::failover`] until the successor acknowledges a write. Two
//! failures: `kill` (the node's tasks are aborted, peers see connections reset) and
//! `isolate` (every packet to and from it is silently dropped). A trial whose fault
//! could not be verified (a killed node still accepting clients, an isolated node
//! still committing) is discarded and retried, as the CLI does.
//!
//! Criterion gets the MEASURED failover time (`phases.total`: fault injected -> first
//! write acknowledged by the new leader) through `iter_custom`; start-up, the first
//! election, the steady writes and tear-down are not counted. Flat sampling with 10
//! samples of one trial each (and a 1 ms warm-up, i.e. one trial): criterion warns
//! that 10 samples do not fit in the target time, which is expected here.

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
};
use drivers::cluster::failover;
use drivers::cluster::ClusterOptions;
use drivers::measure::Failure;
use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::Protocol;
use std::time::Duration;
use tokio::runtime::Runtime;

/// A trial that produced no sample is retried this many times before the benchmark
/// gives up.
const ATTEMPTS: u32 = 3;
/// How long each wait of one trial may take (first leader, steady writes, successor).
const TRIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Cluster size: the smallest that survives one failure.
const NODES: u64 = 3;

/// One failover on a fresh cluster in its own temporary directory; returns fault ->
/// first write acknowledged by the new leader.
async fn one_failover<P: Protocol>(failure: Failure, seed: u64) -> Result<Duration, String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let mut opts = ClusterOptions::new(NODES, dir.path().to_path_buf());
        opts.seed = seed.wrapping_mul(31).wrapping_add(u64::from(attempt));
        match failover::<P>(opts, failure, TRIAL_TIMEOUT).await {
            Ok(sample) => return Ok(sample.phases.total),
            Err(e) => {
                eprintln!("{} {}: trial discarded: {e}", P::NAME, failure.as_str());
                last = e.to_string();
            }
        }
    }
    Err(format!("{ATTEMPTS} trials failed, the last: {last}"))
}

/// Registers `failover/<kill|isolate>/<protocol>/3` in `group` for protocol `P`.
fn register<P: Protocol>(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, failure: Failure) {
    let mut seed = 0u64;
    group.bench_function(BenchmarkId::new(P::NAME, NODES), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    seed += 1;
                    match one_failover::<P>(failure, seed).await {
                        Ok(took) => total += took,
                        Err(e) => panic!("{} {}: no failover: {e}", P::NAME, failure.as_str()),
                    }
                }
                total
            })
        })
    });
}

fn failover_benches(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build the tokio runtime: {e}"),
    };
    for failure in [Failure::Kill, Failure::Isolate] {
        let mut group = c.benchmark_group(format!("failover/{}", failure.as_str()));
        group.sampling_mode(SamplingMode::Flat);
        register::<Raft>(&mut group, &rt, failure);
        register::<Zab>(&mut group, &rt, failure);
        register::<Paxos>(&mut group, &rt, failure);
        group.finish();
    }
}

/// Small samples and short times (2-core machine); command-line flags such as
/// `--measurement-time` or `--quick` override them.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = failover_benches
}
criterion_main!(benches);
