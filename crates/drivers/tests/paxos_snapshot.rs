//! Multi-Paxos log compaction on the real runtime (`protocols/src/paxos/snapshot.rs`):
//! a 3-node loopback TCP cluster with WALs and snapshot files on disk. A replica cut
//! off while the others commit and compact past it catches up through the leader's
//! snapshot, pulled in 1 MiB pieces (the image is larger than one), restarts from the
//! snapshot it installed, and then leads with every write intact; the third replica,
//! its newest snapshot file damaged, restarts from the one before it and its log.

mod common;

use common::{applied, caught_up, files, key, settled_snapshots, snapshots, WAIT};

use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use protocols::paxos::Paxos;
use protocols::{Event, NodeId, Timing};

const EVERY: u64 = 40;
const WRITES: u32 = 300;
/// Values large enough that the image (about 2.4 MB) takes three pieces.
const VALUE_BYTES: usize = 8 * 1024;

fn value(i: u32) -> Bytes {
    let mut v = format!("v{i}:").into_bytes();
    v.resize(VALUE_BYTES, b'.');
    Bytes::from(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_replica_catches_up_from_a_snapshot_in_pieces_and_restarts_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ClusterOptions {
        timing: Timing {
            snapshot_every: EVERY,
            ..Timing::default()
        },
        ..ClusterOptions::new(3, dir.path().to_path_buf())
    };
    let mut cluster = LocalCluster::<Paxos>::start(opts)
        .await
        .expect("cluster starts");
    let ready = cluster
        .wait_ready(0, None, 0, WAIT)
        .await
        .expect("a leader");
    let leader = ready.node;
    let others: Vec<NodeId> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    let (lagging, other) = (others[0], others[1]);
    let mut client = cluster.client();
    for i in 0..10 {
        client.put(key(i), value(i)).await.expect("put");
    }
    // Cut the replica off while the others commit and compact well past it.
    cluster.isolate(lagging);
    for i in 10..WRITES {
        client.put(key(i), value(i)).await.expect("put");
    }
    let target = applied(&cluster, leader);
    assert!(applied(&cluster, lagging) + 2 * EVERY < target);
    // The leader keeps two snapshot files, and its WAL lost the segments they cover.
    let leader_dir = dir.path().join(format!("node-{leader}"));
    let snaps = settled_snapshots(&leader_dir).await;
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    let segments = files(&leader_dir, "wal-");
    assert!(
        !segments.contains(&"wal-0000000000000000.log".to_string()),
        "{segments:?}"
    );
    cluster.heal();
    caught_up(&cluster, lagging, target).await;
    // Read once every node has shared what it sent (a loaded machine delays that).
    let sent = drivers::measure::settled_message_counts(&cluster).await;
    let (pieces, bytes) = sent
        .by_kind
        .get("SnapshotChunk")
        .copied()
        .expect("the snapshot was sent");
    assert!(
        bytes > protocols::timing::DEFAULT_SNAPSHOT_CHUNK_BYTES && pieces >= 3,
        "{pieces} pieces, {bytes} bytes"
    );
    let lagging_dir = dir.path().join(format!("node-{lagging}"));
    assert!(!snapshots(&lagging_dir).is_empty(), "the image was stored");

    // A restart starts from the installed snapshot and the log after it.
    cluster.kill(lagging).await.expect("kill");
    cluster.restart(lagging).await.expect("restart");
    caught_up(&cluster, lagging, target).await;

    // The third replica's newest snapshot is damaged: it starts from the one before it.
    cluster.kill(other).await.expect("kill");
    let other_dir = dir.path().join(format!("node-{other}"));
    let newest = snapshots(&other_dir).pop().expect("a snapshot");
    let path = other_dir.join(&newest);
    let mut raw = std::fs::read(&path).expect("read");
    let last = raw.len() - 1;
    raw[last] ^= 0xFF;
    std::fs::write(&path, raw).expect("write");
    cluster
        .restart(other)
        .await
        .expect("restart from the previous snapshot");
    caught_up(&cluster, other, target).await;

    // The caught-up replica then leads, answering every read from the state it
    // installed.
    // (The rejoining replica may have pre-empted the leader with its ballot: ask the
    // one leading now.)
    let (current, term) = cluster
        .ids()
        .into_iter()
        .filter_map(|id| Some((id, cluster.node(id)?.status()?.status)))
        .filter(|(_, s)| s.role.is_leader())
        .map(|(id, s)| (id, s.term))
        .max_by_key(|(_, term)| *term)
        .expect("a leader");
    let cursor = cluster.bus().len();
    cluster
        .transfer(current, lagging)
        .await
        .expect("transfer asked");
    let next = cluster
        .wait_ready(cursor, Some(current), term, WAIT)
        .await
        .expect("a new leader");
    assert!(matches!(next.event, Event::LeaderReady { .. }));
    assert_eq!(next.node, lagging);
    for i in 0..WRITES {
        let v = client.get(key(i)).await.expect("get");
        assert_eq!(v, Some(value(i)), "write {i}");
    }
    cluster.shutdown().await;
}
