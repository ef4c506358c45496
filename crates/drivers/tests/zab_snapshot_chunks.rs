//! ZAB's SNAP in chunks on the real runtime (`protocols/src/zab/snap.rs`): a follower
//! that was cut off while the ensemble committed and compacted far past it catches up
//! from the leader's stored snapshot, sent in chunks, although the image is several
//! times larger than the peer transport's frame limit.
//!
//! The defect this guards against: SNAP used to carry the leader's whole committed
//! history in one message, so a history over the frame limit (16 MiB by default; about
//! 60,000 transactions of 256 bytes) could never be sent and the follower never caught
//! up. To stay fast the test lowers the frame limit to 64 KiB and commits about 300 KB
//! (values small enough that the proposals after the image fit in a few DIFFs); the
//! follower is below the leader's compaction point, so only the image can bring it up.

mod common;

use common::{applied, caught_up, WAIT};

use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use protocols::zab::Zab;
use protocols::{Event, Timing};

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
async fn a_zab_follower_catches_up_through_a_snap_image_larger_than_the_frame_limit() {
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
    let cluster = LocalCluster::<Zab>::start(opts)
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
    // Below the leader's compaction point, which trails its newest snapshot by an
    // interval.
    assert!(applied(&cluster, lagging) + 2 * EVERY < target);
    cluster.heal();
    caught_up(&cluster, lagging, target).await;
    // It came through SNAP, in many chunks of at most CHUNK image bytes: the image is
    // several frames long.
    let sent = cluster.message_counts();
    let (chunks, _) = sent.by_kind.get("SNAP").copied().unwrap_or((0, 0));
    let image = (WRITES as u64) * VALUE as u64;
    assert!(
        chunks >= image / CHUNK,
        "{chunks} SNAP messages for an image of about {image} bytes: {:?}",
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
