//! The client port's proved requests for a measuring host elsewhere, over real
//! sockets on an in-process node: the event stream (refused without the cluster's
//! secret, capped per node, starting with the node's standing and carrying its later
//! events) and the crash command, which a node hosted inside another program refuses.

use drivers::cluster::{ClusterOptions, LocalCluster};
use protocols::raft::Raft;
use protocols::Event;
use runtime::client::{fault, subscribe_with, ClientError, Fault, MAX_SUBSCRIBERS};
use runtime::transport::handshake::ClusterKey;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_need_the_secret_are_capped_and_carry_the_nodes_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = ClusterKey::generate().expect("randomness");
    let mut opts = ClusterOptions::new(1, dir.path().to_path_buf());
    opts.key = key.clone();
    let cluster = LocalCluster::<Raft>::start(opts)
        .await
        .expect("cluster starts");
    cluster
        .wait_ready(0, None, 0, WAIT)
        .await
        .expect("a leader becomes ready");
    let addr = cluster.client_addrs()[&1];

    let stranger = ClusterKey::generate().expect("randomness");
    let refused = subscribe_with(addr, None, 1, &stranger, WAIT).await;
    assert!(
        matches!(&refused, Err(ClientError::Refused(e)) if e.contains("no valid proof")),
        "{:?}",
        refused.err()
    );

    let mut streams = Vec::new();
    for _ in 0..MAX_SUBSCRIBERS {
        streams.push(
            subscribe_with(addr, None, 1, &key, WAIT)
                .await
                .expect("subscribed"),
        );
    }
    // The node leads: its standing says so.
    let standing = &streams[0].subscription.standing;
    assert!(
        standing
            .iter()
            .any(|e| matches!(e, Event::LeaderReady { .. })),
        "{standing:?}"
    );
    let one_too_many = subscribe_with(addr, None, 1, &key, WAIT).await;
    assert!(
        matches!(&one_too_many, Err(ClientError::Refused(e)) if e.contains("already serves")),
        "{:?}",
        one_too_many.err()
    );
    // A slot is given back with its connection.
    drop(streams.pop());
    let mut again = None;
    for _ in 0..100 {
        if let Ok(s) = subscribe_with(addr, None, 1, &key, WAIT).await {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stream = again.expect("a freed slot serves a new subscriber");

    // An event published later reaches the stream (put on the node's bus by hand: a
    // one-node cluster makes no more elections).
    cluster.bus().publish(1, Event::LeaderElected { term: 99 });
    let batch = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("in time")
        .expect("a batch");
    assert_eq!(batch.lost, 0);
    assert_eq!(batch.events, vec![Event::LeaderElected { term: 99 }]);

    // A node inside this process refuses to crash it.
    let crash = fault(addr, 1, &key, Fault::Crash, WAIT).await;
    assert!(
        matches!(&crash, Err(ClientError::Refused(e)) if e.contains("crash refused")),
        "{:?}",
        crash.err()
    );
    // ... and without the secret, the crash is refused before that.
    let unproved = fault(addr, 1, &stranger, Fault::Crash, WAIT).await;
    assert!(
        matches!(&unproved, Err(ClientError::Refused(e)) if e.contains("no valid proof")),
        "{:?}",
        unproved.err()
    );
    cluster.shutdown().await;
}
