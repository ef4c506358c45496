//! Real ZooKeeper and etcd ensembles on loopback: each starts from its installed
//! binaries, elects a leader, acknowledges the closed-loop workload's writes through
//! the crate's own clients, and after its leader is killed acknowledges a write again.
//! A system that is not installed is skipped with the package to install printed.

use drivers::workload::Workload;
use peers::{drive, Ensemble, PeerKind};
use std::time::Duration;

async fn exercise(kind: PeerKind) {
    if let Err(e) = kind.check_installed() {
        println!("skipped: {e}");
        return;
    }
    let timing = protocols::Timing::default();
    let mut ensemble = Ensemble::start(kind, 3, &timing)
        .await
        .unwrap_or_else(|e| panic!("{kind} ensemble: {e}"));
    assert!(!ensemble.version.is_empty(), "{kind} reported no version");
    let data_dir = ensemble.dir().to_path_buf();
    let leader = ensemble
        .leader(Duration::from_secs(10))
        .await
        .expect("a leader");

    let w = Workload {
        clients: 4,
        value_bytes: 64,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(300),
        read_percent: 0,
        clients_per_connection: 1,
        read_from_every_node: false,
    };
    let sample = drive::throughput(&ensemble, leader, &w)
        .await
        .expect("throughput");
    assert!(sample.result.ops > 0, "{kind}: no write acknowledged");

    let f = drive::failover(&mut ensemble, leader, 64)
        .await
        .unwrap_or_else(|e| panic!("{kind} failover: {e}"));
    println!(
        "{kind} {}: {} writes in 300 ms; failover {:.1} ms (unavailable {:.1} ms)",
        ensemble.version, sample.result.ops, f.total_ms, f.unavailability_ms
    );
    assert!(f.total_ms > 0.0 && f.unavailability_ms >= f.total_ms);
    let new_leader = ensemble
        .leader(Duration::from_secs(10))
        .await
        .expect("a new leader");
    assert_ne!(new_leader, leader, "{kind}: the killed server still leads");
    assert_eq!(ensemble.pids().len(), 2);

    drop(ensemble);
    assert!(
        !data_dir.exists(),
        "{kind}: {} left behind",
        data_dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zookeeper_ensemble_commits_and_fails_over() {
    exercise(PeerKind::Zookeeper).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_ensemble_commits_and_fails_over() {
    exercise(PeerKind::Etcd).await;
}
