//! Snapshots in chunks on the real runtime: an image larger than the peer transport's
//! frame limit still reaches a follower that fell behind the leader's compaction
//! point. Raft sends it as InstallSnapshot (§7, Figure 13), ZAB as SNAP
//! (`protocols/src/zab/snap.rs`); one test body runs both.
//!
//! The defect this guards against: the image (Raft) or the whole committed history
//! (ZAB's SNAP) used to travel in one message, so one over the frame limit (16 MiB by
//! default; a 64k-key store of 256-byte values makes about 17.5 MB) could never be
//! sent, and the follower never caught up. To stay fast the test lowers the frame limit
//! to 64 KiB and writes an image of about 300 KB (values small enough that the log kept
//! after the image fits in a few messages); with one chunk as large as the image
//! (`snapshot_chunk_bytes = u64::MAX`, the old behaviour) the follower is stuck and the
//! wait below fails.

mod common;

use common::{applied, caught_up, WAIT};

use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::{Event, Protocol, Timing};

const MAX_FRAME: usize = 64 << 10;
const CHUNK: u64 = 16 << 10;
const WRITES: u32 = 600;
const VALUE: usize = 500;
const EVERY: u64 = 40;

fn value(i: u32) -> Bytes {
    let mut v = format!("v{i}-").into_bytes();
    v.resize(VALUE, b'x');
    Bytes::from(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_catches_up_through_an_image_larger_than_the_frame_limit() {
    catches_up_in_chunks::<Raft>("InstallSnapshot").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zab_follower_catches_up_through_a_snap_image_larger_than_the_frame_limit() {
    catches_up_in_chunks::<Zab>("SNAP").await;
}

/// Cuts a follower off while the others commit and compact far past it, heals, and
/// checks it caught up through `kind` messages of at most `CHUNK` image bytes, then
/// serves what it installed once it leads.
async fn catches_up_in_chunks<P: Protocol>(kind: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ClusterOptions {
        timing: Timing {
            snapshot_every: EVERY,
            snapshot_chunk_bytes: CHUNK,
            ..Timing::default()
        },
        max_frame: MAX_FRAME,
        ..ClusterOptions::new(3, dir.path().to_path_buf())
    };
    let cluster = LocalCluster::<P>::start(opts)
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
    let key = |i: u32| Bytes::from(format!("k{i:04}"));
    for i in 0..5 {
        client.put(key(i), value(i)).await.expect("put");
    }
    cluster.isolate(lagging);
    for i in 5..WRITES {
        client.put(key(i), value(i)).await.expect("put");
    }
    let target = applied(&cluster, leader);
    // Behind the leader's log start (compaction point), which trails its newest
    // snapshot by an interval.
    assert!(applied(&cluster, lagging) + 2 * EVERY < target);
    cluster.heal();
    caught_up(&cluster, lagging, target).await;
    // It came through `kind`, in many chunks of at most CHUNK image bytes: the image is
    // several frames long.
    // Read once every node has shared what it sent (a loaded machine delays that).
    let sent = drivers::measure::settled_message_counts(&cluster).await;
    let (chunks, _) = sent.by_kind.get(kind).copied().unwrap_or((0, 0));
    let image = (WRITES as u64) * VALUE as u64;
    assert!(
        chunks >= image / CHUNK,
        "{chunks} {kind} messages for an image of about {image} bytes: {:?}",
        sent.by_kind
    );
    assert!(image > 4 * MAX_FRAME as u64);
    // And what it installed answers reads once it leads.
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
    for i in [0, WRITES / 2, WRITES - 1] {
        let got = client.get(key(i)).await.expect("get");
        assert_eq!(got, Some(value(i)), "key {i}");
    }
    cluster.shutdown().await;
}
