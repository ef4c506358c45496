//! A 3-node Raft cluster with TLS on both ports (in-process, real loopback sockets):
//! it elects and commits over TLS; a client of another CA fails at once with a TLS
//! error; plain TCP on the TLS client port is refused while the cluster keeps serving.

use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use protocols::raft::Raft;
use runtime::client::{status_with, Client, ClientError};
use runtime::tls::LoopbackTls;
use runtime::transport::{write_frame, FRAME_HEADER_LEN};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

async fn tls_cluster(dir: &tempfile::TempDir) -> LocalCluster<Raft> {
    let opts = ClusterOptions {
        tls: Some(LoopbackTls::generate().expect("make a CA and a certificate")),
        ..ClusterOptions::new(3, dir.path().to_path_buf())
    };
    let cluster = LocalCluster::<Raft>::start(opts)
        .await
        .expect("cluster starts");
    cluster
        .wait_ready(0, None, 0, WAIT)
        .await
        .expect("a leader becomes ready over TLS");
    cluster
}

async fn put_and_get(client: &mut Client, key: &str, value: &str) {
    let key = Bytes::from(key.to_string());
    client
        .put(key.clone(), Bytes::from(value.to_string()))
        .await
        .expect("put commits over TLS");
    assert_eq!(
        client.get(key).await.expect("get"),
        Some(Bytes::from(value.to_string()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_elects_and_commits_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = tls_cluster(&dir).await;
    let mut client = cluster.client();
    for i in 0..20 {
        put_and_get(&mut client, &format!("k{i}"), &format!("v{i}")).await;
    }
    // Every node answers status over TLS; the leader committed every command.
    let tls = cluster.client_tls();
    let mut most = 0;
    for addr in cluster.client_addrs().values() {
        let s = status_with(*addr, tls.as_ref(), Duration::from_secs(2))
            .await
            .expect("status over TLS");
        most = most.max(s.status.commit_index);
    }
    assert!(most >= 40, "commit index {most} after 40 commands");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_another_ca_fails_at_once_with_a_tls_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = tls_cluster(&dir).await;
    let other = LoopbackTls::generate().expect("another CA");
    let mut stranger = Client::new(cluster.client_addrs().clone()).with_tls(Some(other.client));
    let started = std::time::Instant::now();
    let err = stranger
        .put(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
        .await
        .expect_err("a certificate of another CA is refused");
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("TLS")
            && text.contains("invalid peer certificate")
            && text.contains("[tls] ca"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not retried until the deadline"
    );
    let status = status_with(
        cluster.client_addrs()[&1],
        Some(&LoopbackTls::generate().expect("CA").client),
        Duration::from_secs(2),
    )
    .await;
    assert!(matches!(status, Err(ClientError::Tls { .. })), "{status:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_tcp_on_the_tls_client_port_is_refused_and_the_cluster_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = tls_cluster(&dir).await;
    let addr = cluster.client_addrs()[&1];
    // A plain request frame: the node closes the connection without answering.
    let mut raw = TcpStream::connect(addr).await.expect("connect");
    let mut frame = bytes::BytesMut::new();
    write_frame(&[0u8; 8], &mut frame).expect("frame");
    assert!(frame.len() > FRAME_HEADER_LEN);
    raw.write_all(&frame).await.expect("write");
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(WAIT, raw.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "the plain connection was not closed");
    assert!(sink.is_empty(), "a plain client got an answer: {sink:?}");
    // A plain client gets no answer (and no leader) before its deadline.
    let mut plain = Client::new(cluster.client_addrs().clone());
    plain.deadline = Duration::from_millis(500);
    assert!(plain
        .put(Bytes::from_static(b"k"), Bytes::from_static(b"plain"))
        .await
        .is_err());
    // The cluster still serves its TLS clients.
    let mut client = cluster.client();
    put_and_get(&mut client, "after", "plain tries").await;
    cluster.shutdown().await;
}
