//! A cluster of hosts on one machine: every node a `cwb node` process in a network
//! namespace of its own, with its own address on a bridge, the client and the
//! measures in this namespace. Needs root and iproute2; without them each test says so
//! and passes without running (CI runs as root, so it runs there).

use drivers::cluster::ClusterOptions;
use drivers::measure::{cold_election_on, failover_on, Cluster, Failure};
use drivers::process_cluster::ProcessCluster;
use runtime::config::ProtocolKind;
use std::time::Duration;

const CWB: &str = env!("CARGO_BIN_EXE_cwb");
const WAIT: Duration = Duration::from_secs(30);

/// A three-node process cluster in namespaces, or `None` (with the reason printed)
/// where namespaces cannot be made.
async fn cluster(protocol: ProtocolKind, dir: &std::path::Path) -> Option<ProcessCluster> {
    let mut opts = ClusterOptions::new(3, dir.to_path_buf());
    opts.namespaces = true;
    match ProcessCluster::start(CWB.as_ref(), protocol, &opts).await {
        Ok(c) => Some(c),
        Err(drivers::process_cluster::ProcessClusterError::Namespaces(
            e @ drivers::netns::NetnsError::Unavailable(_),
        )) => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("the namespace cluster starts: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_in_their_own_namespaces_elect_commit_and_fail_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(mut cluster) = cluster(ProtocolKind::Raft, dir.path()).await else {
        return;
    };
    let ns = cluster.namespaces().expect("namespaces in use");
    let names: Vec<String> = (1..=3).map(|id| ns.namespace(id)).collect();
    // Each node has an address of its own on the bridge, and binds it with the same
    // ports as the others, as on real hosts.
    let addrs = cluster.client_addrs().clone();
    let ips: std::collections::BTreeSet<_> = addrs.values().map(|a| a.ip()).collect();
    assert_eq!(ips.len(), 3, "three distinct addresses: {addrs:?}");
    assert!(addrs
        .values()
        .all(|a| !a.ip().is_loopback() && a.port() == 7101));
    for name in &names {
        assert!(drivers::netns::exists(name), "{name} exists");
    }
    let config = std::fs::read_to_string(cluster.config_path()).expect("config");
    for a in addrs.values() {
        assert!(config.contains(&a.ip().to_string()), "{config}");
    }

    cold_election_on(&cluster, WAIT)
        .await
        .expect("a leader is elected across the bridge");
    let mut client = cluster.client();
    client
        .put("k".into(), "v".into())
        .await
        .expect("a write commits across the bridge");
    assert_eq!(client.get("k".into()).await.expect("get"), Some("v".into()));
    let sample = failover_on(&mut cluster, Failure::Kill, WAIT)
        .await
        .expect("the killed leader's process is replaced");
    assert_ne!(sample.old_leader, sample.new_leader);
    assert!(sample.phases.total >= sample.phases.election);

    drop(cluster);
    for name in &names {
        assert!(
            !drivers::netns::exists(name),
            "{name} is removed with the cluster"
        );
    }
}
