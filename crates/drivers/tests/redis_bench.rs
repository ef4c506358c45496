//! Redis Cluster in the benchmark matrix, on real loopback clusters (port 0, temporary
//! directories): failovers under load are measured and decomposed into the
//! specification's steps, acknowledged writes are counted lost or kept, the clients'
//! history gets a verdict, and throughput clients reach every master. Only structure
//! and invariants are asserted, never timings.

use drivers::bench::{self, Measure, Plan, Silent};
use drivers::cluster::{ClusterOptions, LocalCluster};
use drivers::loaded::{redis_masters, REDIS_STEPS};
use drivers::measure::{throughput_routed_on, Failure};
use drivers::workload::Workload;
use protocols::redis::Redis;
use protocols::{ProtocolKind, Timing};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn plan(protocols: Vec<ProtocolKind>, measure: Vec<Measure>) -> Plan {
    Plan {
        protocols,
        nodes: vec![3],
        trials: 1,
        measure,
        clients: vec![6],
        value_bytes: 64,
        value_sizes: Vec::new(),
        warmup: Duration::from_millis(100),
        duration: Duration::from_millis(300),
        rounds: 1,
        read_percent: 0,
        fsync: storage::FsyncPolicy::Batch,
        timing: Timing::default(),
        sweep: None,
        processes: None,
        tls: None,
        net: None,
        command_line: "test".into(),
        connection_per_client: false,
        wait_replicas: vec![0, 1],
        namespaces: false,
        snapshots: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bench_run_measures_redis_failovers_and_the_writes_they_lose() {
    let p = plan(
        vec![ProtocolKind::Redis],
        vec![Measure::Kill, Measure::Lost],
    );
    let results = bench::collect(&p, &mut Silent).await.expect("bench runs");
    let run = &results.runs[0];
    assert_eq!(run.protocol, "redis");
    assert_eq!(run.nodes, 6, "size 3: three masters with one replica each");
    assert!(run.election.is_none(), "no cold-start election for Redis");

    // The kill failover, decomposed both ways; its steps add up to the total.
    let kill = run.failover_kill.as_ref().expect("kill measured");
    assert_eq!(kill.total.samples.len() as u32 + kill.trials_discarded, 1);
    let steps = &run.failover_steps[0];
    assert_eq!(steps.failure, "kill");
    let names: Vec<&str> = steps.steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, REDIS_STEPS);
    if let Some(&total) = kill.total.samples.first() {
        let sum: f64 = steps.steps.iter().map(|(_, m)| m.samples[0]).sum();
        assert!(
            (sum - total).abs() < 0.01,
            "steps {sum} ms, total {total} ms"
        );
        let phases = kill.detection.samples[0]
            + kill.election.samples[0]
            + kill.recovery.samples[0]
            + kill.first_commit.samples[0];
        assert!(
            (phases - total).abs() < 0.01,
            "phases {phases}, total {total}"
        );
    }

    // Lost writes: kill and isolate, asynchronous and WAIT 1.
    let rows: Vec<(String, Option<u32>)> = run
        .lost_writes
        .iter()
        .map(|l| (l.failure.clone(), l.wait_replicas))
        .collect();
    assert_eq!(
        rows,
        [
            ("kill".to_string(), Some(0)),
            ("isolate".to_string(), Some(0)),
            ("kill".to_string(), Some(1)),
            ("isolate".to_string(), Some(1)),
        ]
    );
    for l in &run.lost_writes {
        let trials = l.acknowledged.samples.len() as u32;
        assert_eq!(trials + l.trials_discarded, 1, "{l:?}");
        assert_eq!(l.linearizable + l.not_linearizable + l.undecided, trials);
        for (acked, lost) in l.acknowledged.samples.iter().zip(&l.lost.samples) {
            assert!(*acked > 0.0, "writes were acknowledged: {l:?}");
            assert!(lost <= acked, "{l:?}");
            if *lost > 0.0 {
                // A lost write is read back empty after it was acknowledged.
                assert_eq!(l.linearizable, 0, "a lost write is not linearizable: {l:?}");
            }
        }
        if l.wait_replicas == Some(1) {
            // The only replica has every acknowledged write, and it is the one
            // promoted: nothing acknowledged is lost.
            assert!(l.lost.samples.iter().all(|&n| n == 0.0), "{l:?}");
        }
    }
    assert_eq!(
        results.settings.protocol_timing["redis"]["lost writes: wait-replicas"],
        "0, 1 (0: asynchronous)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_loses_no_acknowledged_write_to_a_leader_kill_under_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ClusterOptions::new(3, dir.path().into());
    let s =
        drivers::cluster::failover_under_load::<protocols::raft::Raft>(opts, Failure::Kill, WAIT)
            .await
            .expect("a failover under load");
    assert!(s.acknowledged > 0);
    assert_eq!(s.lost, 0, "{s:?}");
    assert_ne!(s.linearizable, Some(false), "{s:?}");
    assert!(s.steps.is_empty(), "Redis's steps only");
    assert_ne!(s.failover.new_leader, s.failover.old_leader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_throughput_clients_write_to_every_master() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = LocalCluster::<Redis>::start(ClusterOptions::new(6, dir.path().into()))
        .await
        .expect("cluster starts");
    let masters = redis_masters(6);
    assert_eq!(masters, [1, 2, 3]);
    let w = Workload {
        clients: 6,
        value_bytes: 32,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(300),
        read_percent: 0,
        clients_per_connection: 16,
        read_from_every_node: false,
    };
    let sample = throughput_routed_on(&cluster, Some(&masters), &w, WAIT)
        .await
        .expect("throughput measured");
    assert!(sample.result.ops > 0);
    for m in masters {
        let addr = cluster.client_addrs()[&m];
        let s = runtime::client::status(addr, Duration::from_secs(2))
            .await
            .expect("status");
        assert!(s.status.role.is_leader(), "node {m} is a master");
        assert!(s.status.commit_index > 0, "master {m} served writes: {s:?}");
    }
    cluster.shutdown().await;
}
