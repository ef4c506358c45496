//! Election latency of all three protocols on a real loopback TCP cluster: cold start
//! -> leader ready (docs/DESIGN.md, "election latency"; the same measure as `cwb bench
//! --measure election`).
//!
//! Each iteration starts a fresh in-process cluster (real sockets, real WAL files in a
//! temporary directory, `fsync = batch`, default timing) with
//! [`drivers::cluster::cold_election`] and takes, from harness timestamps, the time
//! from just before the nodes start until a leader is ready to commit (Raft: its no-op
//! committed; ZAB: NEWLEADER acknowledged by a quorum; Paxos: phase 1 won and earlier
//! slots re-proposed). Criterion gets the measured durations through `iter_custom`, so
//! cluster set-up and tear-down are not counted.
//!
//! Every iteration costs a whole election (hundreds of milliseconds), so the groups use
//! flat sampling with 10 samples of one or two trials each (a 1 ms warm-up is one
//! trial). When a sample holds one trial criterion warns that 10 samples do not fit in
//! the target time; that is expected here.

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
};
use drivers::cluster::cold_election;
use drivers::cluster::ClusterOptions;
use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::Protocol;
use std::time::Duration;
use tokio::runtime::Runtime;

/// A trial that produced no sample (no leader in time, a start failure) is retried this
/// many times before the benchmark gives up.
const ATTEMPTS: u32 = 3;
/// How long one trial may wait for a leader.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Cluster sizes measured.
const SIZES: [u64; 2] = [3, 5];

/// One cold-start election on a fresh cluster of `nodes` in its own temporary
/// directory; returns start -> leader ready. Seeds differ per trial so that Raft's
/// randomized timeouts (and thus split votes) vary as they would across real restarts.
async fn one_election<P: Protocol>(nodes: u64, seed: u64) -> Result<Duration, String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let mut opts = ClusterOptions::new(nodes, dir.path().to_path_buf());
        opts.seed = seed.wrapping_mul(31).wrapping_add(u64::from(attempt));
        match cold_election::<P>(opts, TRIAL_TIMEOUT).await {
            Ok(sample) => return Ok(sample.election.ready),
            Err(e) => {
                eprintln!("{} n={nodes}: trial discarded: {e}", P::NAME);
                last = e.to_string();
            }
        }
    }
    Err(format!("{ATTEMPTS} trials failed, the last: {last}"))
}

/// Registers `election/cold_start/<protocol>/<nodes>` in `group` for protocol `P`.
fn register<P: Protocol>(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, nodes: u64) {
    let mut seed = 0u64;
    group.bench_with_input(BenchmarkId::new(P::NAME, nodes), &nodes, |b, &nodes| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    seed += 1;
                    match one_election::<P>(nodes, seed).await {
                        Ok(ready) => total += ready,
                        Err(e) => panic!("{} n={nodes}: no election: {e}", P::NAME),
                    }
                }
                total
            })
        })
    });
}

fn election(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build the tokio runtime: {e}"),
    };
    let mut group = c.benchmark_group("election/cold_start");
    group.sampling_mode(SamplingMode::Flat);
    for nodes in SIZES {
        register::<Raft>(&mut group, &rt, nodes);
        register::<Zab>(&mut group, &rt, nodes);
        register::<Paxos>(&mut group, &rt, nodes);
    }
    group.finish();
}

/// Small samples and short times (2-core machine); command-line flags such as
/// `--measurement-time` or `--quick` override them.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = election
}
criterion_main!(benches);
