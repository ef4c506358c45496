//! A node's client port under clients that take too much or are not entitled, over real
//! sockets: unproved fault commands, too many
//! connections, idle and half-sent requests, and a client that sends without ever
//! reading its answers. Each attack is reproduced first, then the node is checked to
//! keep serving well-behaved clients.

use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use kv::{KvCommand, KvOp, Session};
use protocols::raft::Raft;
use runtime::client::{status, Client, ClientOp, ClientReply, ClientRequest, Connection};
use runtime::host::ClientLimits;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_commands_need_a_fresh_proof_of_the_secret() {
    // The attack: nine frames of `Isolate` on the client ports made any cluster
    // unavailable, with no credential. Now a fault command carries an HMAC of the
    // cluster's secret over a nonce the node handed out on that connection.
    use runtime::client::{fault, Fault};
    use runtime::transport::handshake::ClusterKey;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ClusterOptions::new(1, dir.path().to_path_buf());
    let key = ClusterKey::generate().expect("randomness");
    opts.key = key.clone();
    let cluster = LocalCluster::<Raft>::start(opts)
        .await
        .expect("cluster starts");
    let addr = cluster.client_addrs()[&1];
    let isolate = Fault::Isolate { node: 1 };
    let bytes = postcard::to_stdvec(&isolate).expect("encodes");
    // No challenge, a made-up proof: refused.
    let mut c = Connection::connect(addr).await.expect("connect");
    let forged = ClientOp::Fault {
        fault: isolate.clone(),
        proof: [0; 32],
    };
    assert!(matches!(
        call(&mut c, 1, forged.clone()).await,
        ClientReply::Error(_)
    ));
    // A challenge answered with another cluster's key: refused.
    let ClientReply::Challenge(nonce) = call(&mut c, 2, ClientOp::Challenge).await else {
        panic!("a challenge");
    };
    let stranger = ClusterKey::generate().expect("randomness");
    let wrong = ClientOp::Fault {
        fault: isolate.clone(),
        proof: stranger.fault_proof(1, &nonce, &bytes),
    };
    assert!(matches!(
        call(&mut c, 3, wrong).await,
        ClientReply::Error(_)
    ));
    // The right proof over this connection's nonce is accepted, once.
    let ClientReply::Challenge(nonce) = call(&mut c, 4, ClientOp::Challenge).await else {
        panic!("a challenge");
    };
    let proved = ClientOp::Fault {
        fault: isolate.clone(),
        proof: key.fault_proof(1, &nonce, &bytes),
    };
    assert_eq!(call(&mut c, 5, proved.clone()).await, ClientReply::Ok);
    assert!(
        matches!(call(&mut c, 6, proved.clone()).await, ClientReply::Error(_)),
        "a nonce proves one command"
    );
    // Replayed on another connection (which holds another nonce): refused.
    let mut other = Connection::connect(addr).await.expect("connect");
    let _ = call(&mut other, 1, ClientOp::Challenge).await;
    assert!(matches!(
        call(&mut other, 2, proved).await,
        ClientReply::Error(_)
    ));
    // What `cwb heal` does, with the cluster's key: accepted.
    fault(addr, 1, &key, Fault::Heal, WAIT)
        .await
        .expect("heal with the key");
    assert!(fault(addr, 1, &stranger, Fault::Heal, WAIT).await.is_err());
    cluster.shutdown().await;
}

async fn call(c: &mut Connection, id: u64, op: ClientOp) -> ClientReply {
    c.call(&ClientRequest { id, op }).await.expect("an answer")
}
