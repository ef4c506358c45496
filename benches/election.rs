//! Election latency on a real loopback TCP cluster: cold start -> leader ready.
//!
//! Each iteration starts a fresh in-process cluster (real sockets, real WAL files in a
//! temporary directory, `fsync = batch`) and measures, from harness timestamps, the
//! time from just before the nodes start until a leader is ready to commit. Criterion
//! gets the measured durations through `iter_custom`, so cluster set-up and tear-down
//! are not counted.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use harness::cluster::ClusterOptions;
use harness::measure::cold_election;
use protocols::raft::Raft;
use std::time::Duration;

fn election(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("election/cold_start");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_millis(500));
    for nodes in [3u64, 5] {
        group.bench_with_input(BenchmarkId::new("raft", nodes), &nodes, |b, &nodes| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let dir = tempfile::tempdir().expect("tempdir");
                        let opts = ClusterOptions::new(nodes, dir.path().to_path_buf());
                        let s = cold_election::<Raft>(opts, Duration::from_secs(30))
                            .await
                            .expect("a leader");
                        total += s.election.ready;
                    }
                    total
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, election);
criterion_main!(benches);
