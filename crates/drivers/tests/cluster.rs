//! Every protocol on the real runtime: 3-node loopback TCP clusters with WALs on disk.
//! Each scenario is written once, generic over the protocol, and run for each.

use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::{Event, Protocol};
use runtime::client::{status, Client};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

fn key(i: u32) -> Bytes {
    Bytes::from(format!("k{i:04}"))
}

/// Starts a cluster and returns it with its first ready leader and that leader's term.
async fn start<P: Protocol>(n: u64, dir: &tempfile::TempDir) -> (LocalCluster<P>, u64, u64) {
    let cluster = LocalCluster::<P>::start(ClusterOptions::new(n, dir.path().to_path_buf()))
        .await
        .expect("cluster starts");
    let ready = cluster
        .wait_ready(0, None, 0, WAIT)
        .await
        .expect("a leader becomes ready");
    let Event::LeaderReady { term } = ready.event else {
        unreachable!("wait_ready returns LeaderReady")
    };
    (cluster, ready.node, term)
}

async fn writes_survive_a_leader_kill_and_the_old_leader_catches_up<P: Protocol>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut cluster, leader, term) = start::<P>(3, &dir).await;
    let mut client = cluster.client();
    for i in 0..20 {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put commits");
    }
    let cursor = cluster.bus().len();
    cluster.kill(leader).await.expect("kill");
    let next = cluster
        .wait_ready(cursor, Some(leader), term, WAIT)
        .await
        .expect("a new leader");
    assert_ne!(next.node, leader);
    for i in 20..40 {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put commits after failover");
    }
    for i in 0..40 {
        let v = client.get(key(i)).await.expect("get");
        assert_eq!(
            v,
            Some(Bytes::from(format!("v{i}"))),
            "acknowledged write {i} is readable"
        );
    }
    // The old leader restarts from its WAL and catches up with everything.
    cluster.restart(leader).await.expect("restart");
    let addr = cluster.client_addrs()[&leader];
    let mut caught_up = false;
    for _ in 0..200 {
        let s = status(addr, Duration::from_secs(2)).await.expect("status");
        let leader_now = cluster.leader().map(|(l, _)| l).expect("leader");
        let reference = status(cluster.client_addrs()[&leader_now], Duration::from_secs(2))
            .await
            .expect("status");
        if s.applied >= reference.applied && s.applied >= 80 {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(caught_up, "restarted node applied everything");
    cluster.shutdown().await;
}

async fn state_survives_a_full_cluster_restart<P: Protocol>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut cluster, _, term_before) = start::<P>(3, &dir).await;
    let mut client = cluster.client();
    client
        .put(key(1), Bytes::from_static(b"durable"))
        .await
        .expect("put");
    for id in cluster.ids() {
        cluster.kill(id).await.expect("kill");
    }
    for id in cluster.ids() {
        cluster.restart(id).await.expect("restart");
    }
    let mut client = Client::new(cluster.client_addrs().clone());
    assert_eq!(
        client.get(key(1)).await.expect("get"),
        Some(Bytes::from_static(b"durable"))
    );
    let term_after = cluster.leader().expect("leader").1;
    assert!(
        term_after > term_before,
        "terms are durable: {term_after} > {term_before}"
    );
    cluster.shutdown().await;
}

async fn isolated_leader_is_replaced_and_writes_continue<P: Protocol>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster, leader, term) = start::<P>(3, &dir).await;
    let cursor = cluster.bus().len();
    cluster.isolate(leader);
    let next = cluster
        .wait_ready(cursor, Some(leader), term, WAIT)
        .await
        .expect("new leader");
    let mut client = cluster.client();
    client.try_timeout = Duration::from_millis(300);
    client
        .put(key(7), Bytes::from_static(b"after"))
        .await
        .expect("put after isolation");
    cluster.heal();
    assert_ne!(next.node, leader);
    cluster.shutdown().await;
}

/// Bad input: garbage, truncated and oversized frames on both ports close only that
/// connection; the node keeps serving and commits a write afterwards.
async fn hostile_bytes_on_both_ports_do_not_hurt_the_node<P: Protocol>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster, _, _) = start::<P>(3, &dir).await;
    let mut targets: Vec<_> = cluster.peer_addrs().values().copied().collect();
    targets.extend(cluster.client_addrs().values().copied());
    let payloads: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0xff; 64],
        {
            let mut v = (u32::MAX).to_le_bytes().to_vec(); // oversized length
            v.push(1);
            v
        },
        {
            let mut v = 100u32.to_le_bytes().to_vec(); // truncated frame
            v.extend_from_slice(&[1, 2, 3]);
            v
        },
        {
            let mut v = 3u32.to_le_bytes().to_vec(); // right framing, garbage inside
            v.extend_from_slice(&[1, 0xde, 0xad, 0xbe]);
            v
        },
    ];
    for addr in &targets {
        for p in &payloads {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let _ = s.write_all(p).await;
            let _ = s.shutdown().await;
        }
    }
    let mut client = cluster.client();
    client
        .put(key(9), Bytes::from_static(b"still fine"))
        .await
        .expect("node still commits");
    assert_eq!(
        client.get(key(9)).await.expect("get"),
        Some(Bytes::from_static(b"still fine"))
    );
    assert!(cluster
        .running()
        .iter()
        .all(|id| cluster.node(*id).is_some_and(|h| !h.is_finished())));
    cluster.shutdown().await;
}

/// A client's retry of a put whose first attempt committed (sent again to the leader,
/// then, after the leader is killed, to its successor) is applied once and answers with
/// the first attempt's "previous value" (Raft thesis §6.3). Without client sessions the
/// retries were applied again and answered with the put's own value.
async fn a_retried_put_is_applied_once_across_a_leader_change<P: Protocol>() {
    use kv::{KvCommand, KvOp, Session};
    use runtime::client::{ClientOp, ClientReply, ClientRequest, Connection};
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut cluster, leader, term) = start::<P>(3, &dir).await;
    let client = Session::new_client_id();
    let put = |seq: u64, value: &'static [u8]| ClientRequest {
        id: seq,
        op: ClientOp::Kv(KvCommand {
            session: Session { client, seq },
            op: KvOp::Put {
                key: Bytes::from_static(b"once"),
                value: Bytes::from_static(value),
            },
        }),
    };
    let mut to_leader = Connection::connect(cluster.client_addrs()[&leader])
        .await
        .expect("connect to the leader");
    let first = to_leader.call(&put(1, b"first")).await.expect("answer");
    assert_eq!(first, ClientReply::Value(None), "nothing was there before");
    let retry = to_leader.call(&put(1, b"first")).await.expect("answer");
    assert_eq!(
        retry,
        ClientReply::Value(None),
        "the retry gets the first answer"
    );
    drop(to_leader);
    let cursor = cluster.bus().len();
    cluster.kill(leader).await.expect("kill");
    let next = cluster
        .wait_ready(cursor, Some(leader), term, WAIT)
        .await
        .expect("a new leader");
    let mut to_next = Connection::connect(cluster.client_addrs()[&next.node])
        .await
        .expect("connect to the new leader");
    let late_retry = to_next.call(&put(1, b"first")).await.expect("answer");
    assert_eq!(
        late_retry,
        ClientReply::Value(None),
        "the new leader's state machine remembers the session"
    );
    // The client's next command sees the store as one application of the first left it.
    let second = to_next.call(&put(2, b"second")).await.expect("answer");
    assert_eq!(
        second,
        ClientReply::Value(Some(Bytes::from_static(b"first")))
    );
    cluster.shutdown().await;
}

/// The defect: with two of three data directories deleted, the two blank nodes formed
/// a majority, elected a leader with an empty log and every acknowledged write was
/// lost without a word. Now a wiped node refuses to start, so the writes stay on the
/// node that kept them and the cluster waits instead of forgetting.
async fn wiped_nodes_refuse_to_rejoin_instead_of_losing_writes<P: Protocol>() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut cluster, leader, _) = start::<P>(3, &dir).await;
    let mut client = cluster.client();
    for i in 0..10 {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put commits");
    }
    let wiped: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    for &id in &wiped {
        cluster.kill(id).await.expect("kill");
        std::fs::remove_dir_all(dir.path().join(format!("node-{id}"))).expect("wipe");
        let err = cluster
            .restart(id)
            .await
            .expect_err("a wiped node is refused");
        let text = err.to_string();
        assert!(
            text.contains("is empty") && text.contains("--bootstrap"),
            "{text}"
        );
    }
    // The node that kept its data still has every write; nothing elected a blank log.
    let kept = status(cluster.client_addrs()[&leader], WAIT)
        .await
        .expect("the survivor answers");
    assert!(kept.applied >= 10, "{kept:?}");
    cluster.shutdown().await;
}

/// Declares the scenario tests for one protocol.
macro_rules! scenarios {
    ($module:ident, $P:ty) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn writes_survive_a_leader_kill_and_the_old_leader_catches_up() {
                super::writes_survive_a_leader_kill_and_the_old_leader_catches_up::<$P>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn state_survives_a_full_cluster_restart() {
                super::state_survives_a_full_cluster_restart::<$P>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn isolated_leader_is_replaced_and_writes_continue() {
                super::isolated_leader_is_replaced_and_writes_continue::<$P>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_retried_put_is_applied_once_across_a_leader_change() {
                super::a_retried_put_is_applied_once_across_a_leader_change::<$P>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn wiped_nodes_refuse_to_rejoin_instead_of_losing_writes() {
                super::wiped_nodes_refuse_to_rejoin_instead_of_losing_writes::<$P>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn hostile_bytes_on_both_ports_do_not_hurt_the_node() {
                super::hostile_bytes_on_both_ports_do_not_hurt_the_node::<$P>().await;
            }
        }
    };
}

scenarios!(raft, Raft);
scenarios!(paxos, Paxos);
scenarios!(zab, Zab);

/// ZAB observers on the real runtime: they apply the committed stream (INFORM) and a
/// write sent to an observer is forwarded and commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zab_observer_applies_the_committed_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ClusterOptions::new(3, dir.path().to_path_buf());
    opts.observers = 1;
    let cluster = LocalCluster::<Zab>::start(opts)
        .await
        .expect("cluster starts");
    cluster
        .wait_ready(0, None, 0, WAIT)
        .await
        .expect("a leader becomes ready");
    let observer = 4;
    let mut via_observer = Client::new(
        [(observer, cluster.client_addrs()[&observer])]
            .into_iter()
            .collect(),
    );
    via_observer
        .put(key(1), Bytes::from_static(b"through the observer"))
        .await
        .expect("forwarded write commits");
    let mut client = cluster.client();
    for i in 2..12 {
        client
            .put(key(i), Bytes::from(format!("v{i}")))
            .await
            .expect("put");
    }
    let addr = cluster.client_addrs()[&observer];
    let mut applied = 0;
    for _ in 0..200 {
        let s = status(addr, Duration::from_secs(2)).await.expect("status");
        assert_eq!(s.status.role, protocols::Role::Observing);
        applied = s.applied;
        if applied >= 11 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(applied >= 11, "observer applied {applied} of 11 commands");
    cluster.shutdown().await;
}

/// The fault filter's after-write delay (the Figure 16 trial's disk write) holds only
/// what a node's durability gate released behind a write of its log: a follower's
/// answer to entries (logged first) waits; its answer to a heartbeat (nothing to log)
/// does not, so a CheckQuorum leader keeps hearing its followers through a hold far
/// longer than its election timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_after_write_delay_holds_only_answers_that_followed_a_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster, leader, term) = start::<Raft>(3, &dir).await;
    let timing = protocols::Timing::default();
    assert!(timing.check_quorum, "the test relies on CheckQuorum");
    let mut client = cluster.client();
    client
        .put(key(0), Bytes::from_static(b"v0"))
        .await
        .expect("put commits");
    let cursor = cluster.bus().len();
    // Idle with a hold of two seconds: were heartbeat answers held too, CheckQuorum
    // would depose the leader after its minimum election timeout.
    cluster
        .faults()
        .delay_kind_after_write("AppendEntriesResponse", Duration::from_secs(2));
    tokio::time::sleep(timing.election_timeout_max * 3).await;
    let campaigned = cluster.bus().since(cursor).into_iter().find(|s| {
        matches!(
            s.event,
            Event::RoleChanged {
                role: protocols::Role::Candidate | protocols::Role::Follower,
                ..
            } | Event::LeaderElected { .. }
        )
    });
    assert_eq!(campaigned, None, "the leader lost its followers");
    assert_eq!(cluster.leader(), Some((leader, term)));
    // A shorter hold (under CheckQuorum's window) on the answers to entries: a write
    // now waits for it.
    let hold = timing.election_timeout_min / 2;
    cluster
        .faults()
        .delay_kind_after_write("AppendEntriesResponse", hold);
    let started = std::time::Instant::now();
    client
        .put(key(1), Bytes::from_static(b"v1"))
        .await
        .expect("put commits");
    assert!(
        started.elapsed() >= hold,
        "the answers to entries were not held: {:?}",
        started.elapsed()
    );
    cluster.shutdown().await;
}
