//! Planned failover on the real runtime: 3-node loopback TCP clusters with WALs on disk.
//! The leadership transfer goes the way `cwb cluster`'s `transfer N` sends it (the
//! console, through the leader's client port, proved with the cluster's secret), and the
//! way `cwb bench --measure transfer` measures it.

use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use drivers::console::{self, Command};
use drivers::measure::{failover_on, Failure};
use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::{Event, Protocol};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn key(i: u32) -> Bytes {
    Bytes::from(format!("k{i:04}"))
}

async fn transfer_keeps_every_write_and_moves_the_leader<P: Protocol + protocols::Describe>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = LocalCluster::<P>::start(ClusterOptions::new(3, dir.path().to_path_buf()))
        .await
        .expect("cluster starts");
    let ready = cluster
        .wait_ready(0, None, 0, WAIT)
        .await
        .expect("a leader becomes ready");
    let (leader, Event::LeaderReady { term }) = (ready.node, ready.event) else {
        unreachable!("wait_ready returns LeaderReady")
    };
    let mut client = cluster.client();
    for i in 0..10 {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put commits");
    }
    let target = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    let cursor = cluster.bus().len();
    let lines = console::run(&mut cluster, &Command::Transfer(target), Instant::now()).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("hand its leadership to node {target}"))),
        "{lines:?}"
    );
    let next = cluster
        .wait_ready(cursor, Some(leader), term, WAIT)
        .await
        .expect("a new leader");
    assert_eq!(next.node, target, "{}: the target leads", P::NAME);
    for i in 10..20 {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put commits after the transfer");
    }
    for i in 0..20 {
        let v = client.get(key(i)).await.expect("get");
        assert_eq!(
            v,
            Some(Bytes::from(format!("v{i}"))),
            "write {i} is readable"
        );
    }
    cluster.shutdown().await;
}

/// The bench's planned-failover trial: it verifies that leadership went to the target
/// it asked for and decomposes the hand-over like a failover.
async fn the_bench_trial_measures_a_transfer<P: Protocol>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = LocalCluster::<P>::start(ClusterOptions::new(3, dir.path().to_path_buf()))
        .await
        .expect("cluster starts");
    let sample = failover_on(&mut cluster, Failure::Transfer, WAIT)
        .await
        .expect("a verified transfer");
    assert_eq!(sample.failure, Failure::Transfer);
    assert_ne!(sample.new_leader, sample.old_leader);
    assert!(sample.phases.total >= sample.phases.first_commit);
    cluster.shutdown().await;
}

macro_rules! transfers {
    ($module:ident, $P:ty) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn transfer_keeps_every_write_and_moves_the_leader() {
                super::transfer_keeps_every_write_and_moves_the_leader::<$P>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_bench_trial_measures_a_transfer() {
                super::the_bench_trial_measures_a_transfer::<$P>().await;
            }
        }
    };
}

transfers!(raft, Raft);
transfers!(zab, Zab);
transfers!(paxos, Paxos);
