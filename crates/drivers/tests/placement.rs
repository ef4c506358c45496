//! Leader placement (`cwb bench --measure placement`) on 3-node loopback TCP clusters
//! with WALs on disk: every node is made the leader in turn by planned transfers, and
//! one client's writes to it are measured. No timing is asserted.

use drivers::cluster::{ClusterOptions, LocalCluster};
use drivers::placement::placement_on;
use drivers::workload::{Workload, CLIENTS_PER_CONNECTION};
use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::Protocol;
use std::time::Duration;

async fn every_node_leads_in_turn_and_its_writes_are_measured<P: Protocol>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = LocalCluster::<P>::start(ClusterOptions::new(3, dir.path().to_path_buf()))
        .await
        .expect("cluster starts");
    let workload = Workload {
        clients: 1,
        value_bytes: 64,
        warmup: Duration::from_millis(50),
        duration: Duration::from_millis(300),
        read_percent: 0,
        clients_per_connection: CLIENTS_PER_CONNECTION,
        read_from_every_node: false,
    };
    let samples = placement_on(&mut cluster, &workload, Duration::from_secs(20))
        .await
        .expect("placement runs");
    let leaders: Vec<u64> = samples.iter().map(|s| s.leader).collect();
    assert_eq!(leaders, vec![1, 2, 3], "{}: every node led once", P::NAME);
    for s in &samples {
        assert!(
            s.result.ops > 0 && s.result.latency.count() == s.result.ops,
            "{}: writes to leader {} were acknowledged and timed",
            P::NAME,
            s.leader
        );
    }
    // The last placement left node 3 leading.
    let status = cluster.leader().expect("a leader");
    assert_eq!(status.0, 3, "{}", P::NAME);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_leads_from_every_node() {
    every_node_leads_in_turn_and_its_writes_are_measured::<Raft>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zab_leads_from_every_node() {
    every_node_leads_in_turn_and_its_writes_are_measured::<Zab>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paxos_leads_from_every_node() {
    every_node_leads_in_turn_and_its_writes_are_measured::<Paxos>().await;
}
