//! Log compaction on the real runtime (Raft §7): a 3-node loopback TCP cluster with
//! WALs and snapshot files on disk. A follower cut off while the others commit and
//! compact past it catches up by InstallSnapshot, restarts from the snapshot it
//! installed, and then leads with every write intact.

mod common;

use common::{applied, caught_up, files, key, settled_snapshots, snapshots, WAIT};

use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use protocols::raft::Raft;
use protocols::{Event, Timing};

const EVERY: u64 = 40;
const WRITES: u32 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_follower_catches_up_by_install_snapshot_and_restarts_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ClusterOptions {
        timing: Timing {
            snapshot_every: EVERY,
            ..Timing::default()
        },
        ..ClusterOptions::new(3, dir.path().to_path_buf())
    };
    let mut cluster = LocalCluster::<Raft>::start(opts)
        .await
        .expect("cluster starts");
    let ready = cluster
        .wait_ready(0, None, 0, WAIT)
        .await
        .expect("a leader");
    let (leader, Event::LeaderReady { term }) = (ready.node, ready.event) else {
        unreachable!("wait_ready returns LeaderReady")
    };
    let lagging = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    let mut client = cluster.client();
    for i in 0..10 {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put");
    }
    // Cut the follower off while the others commit and compact well past it.
    cluster.isolate(lagging);
    for i in 10..WRITES {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put");
    }
    let leader_dir = dir.path().join(format!("node-{leader}"));
    let target = applied(&cluster, leader);
    assert!(applied(&cluster, lagging) + 2 * EVERY < target);
    // The leader keeps two snapshot files, and its WAL lost the segments they cover:
    // each compaction started a new segment and deleted the ones before it.
    let snaps = settled_snapshots(&leader_dir).await;
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let segments = files(&leader_dir, "wal-");
    assert!(segments.len() <= 2, "{segments:?}");
    assert!(
        !segments.contains(&"wal-0000000000000000.log".to_string()),
        "{segments:?}"
    );
    cluster.heal();
    caught_up(&cluster, lagging, target).await;
    // Read once every node has shared what it sent (a loaded machine delays that).
    let sent = drivers::measure::settled_message_counts(&cluster).await;
    assert!(
        sent.by_kind.contains_key("InstallSnapshot"),
        "{:?}",
        sent.by_kind.keys().collect::<Vec<_>>()
    );
    let lagging_dir = dir.path().join(format!("node-{lagging}"));
    assert!(!snapshots(&lagging_dir).is_empty(), "the image was stored");

    // A restart starts from the installed snapshot and the log after it.
    cluster.kill(lagging).await.expect("kill");
    cluster.restart(lagging).await.expect("restart");
    caught_up(&cluster, lagging, target).await;

    // It then leads, answering every read from the state it installed.
    let cursor = cluster.bus().len();
    cluster
        .transfer(leader, lagging)
        .await
        .expect("transfer asked");
    let next = cluster
        .wait_ready(cursor, Some(leader), term, WAIT)
        .await
        .expect("a new leader");
    assert_eq!(next.node, lagging);
    for i in 0..WRITES {
        let v = client.get(key(i)).await.expect("get");
        assert_eq!(v, Some(Bytes::from(format!("v{i}"))), "write {i}");
    }
    cluster.shutdown().await;
}
