//! Reads spread over the ensemble (`Workload::read_from_every_node`): on a read path a
//! follower serves itself (ZooKeeper's local reads), each node answers reads of its own
//! share of the clients; otherwise every read goes to the leader. Real 3-node loopback
//! clusters with WALs on disk; no timing is asserted.

use drivers::cluster::{ClusterOptions, LocalCluster};
use drivers::measure::settled_message_counts;
use drivers::workload::{run_lanes, Lane, Workload, CLIENTS_PER_CONNECTION};
use protocols::zab::Zab;
use protocols::ReadPath;
use std::time::Duration;

/// Socket reads on each node's client connections after a read-only workload.
async fn client_reads_per_node(spread: bool) -> Vec<u64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ClusterOptions::new(3, dir.path().to_path_buf());
    opts.timing.reads = ReadPath::Local;
    let cluster = LocalCluster::<Zab>::start(opts)
        .await
        .expect("cluster starts");
    let ready = cluster
        .wait_ready(0, None, 0, Duration::from_secs(20))
        .await
        .expect("a leader");
    let w = Workload {
        clients: 6,
        value_bytes: 16,
        warmup: Duration::ZERO,
        duration: Duration::from_millis(300),
        read_percent: 100,
        clients_per_connection: CLIENTS_PER_CONNECTION,
        read_from_every_node: spread,
    };
    let lane = Lane {
        start: ready.node,
        keys: None,
    };
    let result = run_lanes(cluster.client_addrs(), None, &[lane], &w).await;
    assert!(result.reads > 0 && result.errors == 0, "{result:?}");
    let _ = settled_message_counts(&cluster).await;
    let mut reads = Vec::new();
    for id in cluster.ids() {
        let node = cluster.node(id).expect("running");
        // The leader's own count, then the followers'.
        let n = node.message_counts().client_reads;
        if id == ready.node {
            reads.insert(0, n);
        } else {
            reads.push(n);
        }
    }
    drivers::measure::Cluster::shutdown(cluster).await;
    reads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_reads_spread_over_every_node_only_when_asked() {
    let spread = client_reads_per_node(true).await;
    assert!(
        spread.iter().all(|&n| n > 0),
        "every node served reads: {spread:?}"
    );
    let at_leader = client_reads_per_node(false).await;
    assert!(at_leader[0] > 0, "{at_leader:?}");
    assert!(
        at_leader[1..].iter().all(|&n| n == 0),
        "no follower was asked: {at_leader:?}"
    );
}
