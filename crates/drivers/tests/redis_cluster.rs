//! Redis Cluster's failover on the real runtime: six nodes (three masters with one
//! replica each) over loopback TCP with their files on disk. A killed master's replica
//! is elected and promoted, takes its slots over, and the old master comes back as the
//! replica of the node that replaced it.

use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use protocols::redis::Redis;
use protocols::Event;
use runtime::client::status;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn key(i: u32) -> Bytes {
    Bytes::from(format!("k{i:04}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_is_replaced_by_its_replica_which_serves_its_slots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cluster = LocalCluster::<Redis>::start(ClusterOptions::new(6, dir.path().into()))
        .await
        .expect("cluster starts");
    let mut client = cluster.client();
    client.deadline = WAIT;
    // Nodes 1-3 start as masters of a third of the slots each (configEpochs 1-3);
    // node 4 replicates node 1.
    for i in 0..30 {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put answered by the key's master");
    }
    let cursor = cluster.bus().len();
    cluster.kill(1).await.expect("kill node 1");
    let promoted = cluster
        .wait_ready(cursor, Some(1), 3, WAIT)
        .await
        .expect("a replica is promoted");
    assert_eq!(promoted.node, 4, "node 1's replica is the one promoted");
    let Event::LeaderReady { term } = promoted.event else {
        unreachable!("wait_ready returns LeaderReady")
    };
    assert_eq!(term, 4, "the promoted replica takes configEpoch 4");

    // Every slot is served again: the client follows MOVED to node 4 for node 1's.
    for i in 30..60 {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put answered after the failover");
    }
    for i in 30..60 {
        assert_eq!(
            client.get(key(i)).await.expect("get"),
            Some(Bytes::from(format!("v{i}"))),
            "write {i}, acknowledged after the failover, is readable"
        );
    }

    // The old master restarts with configEpoch 1 for slots that node 4 now holds at
    // configEpoch 4: the higher one wins, and it becomes node 4's replica.
    cluster.restart(1).await.expect("restart node 1");
    let addr = cluster.client_addrs()[&1];
    let mut follows = None;
    for _ in 0..400 {
        if let Ok(s) = status(addr, Duration::from_secs(2)).await {
            if !s.status.role.is_leader() && s.status.leader == Some(4) {
                follows = Some(s);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = follows.expect("the old master rejoins as node 4's replica");
    assert!(s.status.term >= 4, "it learned configEpoch 4: {s:?}");
    cluster.shutdown().await;
}
