//! A node's client port under clients that take too much, over real sockets: too many
//! connections, idle and half-sent requests, and a client that sends without ever
//! reading its answers. Each attack is reproduced first, then the node is checked to
//! keep serving well-behaved clients.

use bytes::Bytes;
use harness::client::{status, Client, ClientOp, ClientReply, ClientRequest, Connection};
use harness::cluster::{ClusterOptions, LocalCluster};
use harness::kv::{KvCommand, KvOp, Session};
use harness::runtime::ClientLimits;
use protocols::raft::Raft;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

/// A one-node Raft cluster (it elects itself) with these client limits, ready.
async fn node(limits: ClientLimits, dir: &tempfile::TempDir) -> (LocalCluster<Raft>, SocketAddr) {
    let mut opts = ClusterOptions::new(1, dir.path().to_path_buf());
    opts.client_limits = limits;
    let cluster = LocalCluster::<Raft>::start(opts)
        .await
        .expect("cluster starts");
    cluster
        .wait_ready(0, None, 0, WAIT)
        .await
        .expect("a leader becomes ready");
    let addr = cluster.client_addrs()[&1];
    (cluster, addr)
}

/// Whether the node closed `stream` within `within` (a read sees the end of stream or
/// a reset) rather than keeping it open.
async fn closed_by_node(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(within, stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_and_a_freed_slot_serves_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = ClientLimits {
        max_connections: 4,
        ..ClientLimits::default()
    };
    let (cluster, addr) = node(limits, &dir).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // Let the node accept them before the one too many arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(addr).await.expect("TCP accepts");
    assert!(
        closed_by_node(&mut extra, Duration::from_secs(5)).await,
        "a fifth connection was kept open past a cap of 4"
    );
    // A slot freed is a slot served.
    drop(idle.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut client = Client::new(cluster.client_addrs().clone());
    client
        .put(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
        .await
        .expect("a client is served once a slot is free");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_half_sent_requests_are_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = ClientLimits {
        idle_timeout_ms: 300,
        ..ClientLimits::default()
    };
    let (cluster, addr) = node(limits, &dir).await;
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    // Slow loris: two bytes of a frame header, then nothing.
    let mut loris = TcpStream::connect(addr).await.expect("connect");
    loris.write_all(&[0, 0]).await.expect("write");
    assert!(closed_by_node(&mut silent, Duration::from_secs(5)).await);
    assert!(closed_by_node(&mut loris, Duration::from_secs(5)).await);
    // A client that keeps talking is not cut off.
    let mut client = Client::new(cluster.client_addrs().clone());
    for i in 0..5u8 {
        client
            .put(Bytes::from(vec![b'k', i]), Bytes::from_static(b"v"))
            .await
            .expect("an active client is served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_stops_being_read() {
    // The attack: requests whose answers are large, sent without ever reading. Before,
    // the node kept taking requests and queueing answers without bound (3M requests
    // grew a node from 23 MB to 381 MB).
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = ClientLimits {
        max_in_flight: 8,
        ..ClientLimits::default()
    };
    let (cluster, addr) = node(limits, &dir).await;
    let mut client = Client::new(cluster.client_addrs().clone());
    let big = Bytes::from(vec![b'x'; 128 * 1024]);
    client
        .put(Bytes::from_static(b"big"), big.clone())
        .await
        .expect("put");
    let before = status(addr, WAIT).await.expect("status").applied;
    const SENT: u64 = 2000;
    let mut greedy = Connection::connect(addr).await.expect("connect");
    for id in 1..=SENT {
        let get = ClientRequest {
            id,
            op: ClientOp::Kv(KvCommand {
                session: Session::NONE,
                op: KvOp::Get {
                    key: Bytes::from_static(b"big"),
                },
            }),
        };
        greedy
            .send(&get)
            .await
            .expect("the requests fit in the socket buffers");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let taken = status(addr, WAIT).await.expect("status").applied - before;
    // 8 in flight, plus the few 128 KB answers the sockets' buffers hold.
    assert!(
        taken < 200,
        "the node took {taken} of {SENT} requests from a client that reads nothing"
    );
    // Others are still served meanwhile.
    client
        .put(Bytes::from_static(b"other"), Bytes::from_static(b"v"))
        .await
        .expect("another client is served");
    // Once the client reads, it gets every answer.
    for _ in 0..SENT {
        let resp = tokio::time::timeout(WAIT, greedy.recv())
            .await
            .expect("answers keep coming")
            .expect("an answer");
        assert_eq!(resp.reply, ClientReply::Value(Some(big.clone())));
    }
    cluster.shutdown().await;
}
