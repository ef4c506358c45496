//! The peer transport with TLS on loopback: peers whose certificates the cluster's CA
//! signed connect (mutual TLS, then the unchanged HMAC handshake inside it); a peer
//! with a certificate of another CA, a plain-TCP transport and raw plain bytes on the
//! TLS port are refused, and the node keeps serving its real peers.

mod common;

use common::*;
use protocols::NodeId;
use runtime::tls::{CertAuthority, ClusterCa, NodeTls};
use runtime::transport::{Faults, Transport, TransportConfig, TransportEvent};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::timeout;

/// How long a refused peer is watched for a connection that must not come.
const NOT_ADMITTED_FOR: Duration = Duration::from_millis(600);

/// A node certificate for 127.0.0.1 from `ca`, trusting `ca`.
fn node_tls(ca: &CertAuthority, id: NodeId) -> NodeTls {
    mixed_tls(ca, ca, id)
}

/// A node that trusts `trusts` but presents a certificate `signed_by` signed.
fn mixed_tls(trusts: &CertAuthority, signed_by: &CertAuthority, id: NodeId) -> NodeTls {
    let issued = signed_by
        .issue(id, &[IpAddr::from([127, 0, 0, 1])])
        .expect("issue a certificate");
    ClusterCa::from_pem(trusts.cert_pem().as_bytes(), Path::new("ca.pem"))
        .expect("the CA loads")
        .node_from_pem(
            issued.cert_pem.as_bytes(),
            Path::new("node.pem"),
            issued.key_pem.as_bytes(),
            Path::new("node.key"),
        )
        .expect("the node's pair loads")
}

fn start_tls(
    id: NodeId,
    peers: &BTreeMap<NodeId, SocketAddr>,
    listener: TcpListener,
    tls: Option<NodeTls>,
) -> Node {
    let (tx, events) = unbounded_channel();
    let transport = Transport::start(
        TransportConfig {
            key: key(),
            tls,
            ..TransportConfig::new(id, peers.clone())
        },
        listener,
        Faults::default(),
        tx,
    )
    .expect("start");
    Node { transport, events }
}

/// The bound ports of would-be peers: node 1 dials nodes 2 and 3, which dial node 4.
struct Strangers {
    dialer: TcpListener,
    acceptor: TcpListener,
    addrs: BTreeMap<NodeId, SocketAddr>,
}

/// Nodes 2 and 3 of one CA, connected (as `a` and `b`), and the ports of nodes 1 and
/// 4 for the caller's strangers.
async fn two_tls_nodes(ca: &CertAuthority) -> (Node, Node, Strangers) {
    let (l1, l2, l3, l4) = (bind().await, bind().await, bind().await, bind().await);
    let addrs: BTreeMap<NodeId, SocketAddr> = [(1, &l1), (2, &l2), (3, &l3), (4, &l4)]
        .into_iter()
        .map(|(id, l)| (id, l.local_addr().expect("addr")))
        .collect();
    let mut a = start_tls(2, &addrs, l2, Some(node_tls(ca, 2)));
    let mut b = start_tls(3, &addrs, l3, Some(node_tls(ca, 3)));
    connected(&mut a, 3).await;
    connected(&mut b, 2).await;
    let strangers = Strangers {
        dialer: l1,
        acceptor: l4,
        addrs,
    };
    (a, b, strangers)
}

/// Nodes 2 (`a`) and 3 (`b`) exchange a message each way.
async fn assert_exchange(a: &mut Node, b: &mut Node, n: u64) {
    a.transport.send(3, &Msg::Ping(n));
    assert_eq!(next_message(b).await, (2, Msg::Ping(n)));
    b.transport.send(2, &Msg::Text(format!("pong {n}")));
    assert_eq!(next_message(a).await, (3, Msg::Text(format!("pong {n}"))));
}

/// True if `node` reports any of `peers` connected within [`NOT_ADMITTED_FOR`].
async fn admits(node: &mut Node, peers: &[NodeId]) -> bool {
    timeout(NOT_ADMITTED_FOR, async {
        while let Some(event) = node.events.recv().await {
            if matches!(event, TransportEvent::PeerConnected(p) if peers.contains(&p)) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

#[tokio::test]
async fn peers_of_the_cluster_ca_connect_over_tls_and_exchange_messages() {
    init_tracing();
    let ca = CertAuthority::generate("test").expect("ca");
    let (mut a, mut b, _) = two_tls_nodes(&ca).await;
    for n in 0..50 {
        assert_exchange(&mut a, &mut b, n).await;
    }
    // A large message crosses several TLS records.
    let big = "x".repeat(200_000);
    a.transport.send(3, &Msg::Text(big.clone()));
    assert_eq!(next_message(&mut b).await, (2, Msg::Text(big)));
}

#[tokio::test]
async fn a_peer_with_a_certificate_of_another_ca_is_refused() {
    init_tracing();
    let ca = CertAuthority::generate("ours").expect("ca");
    let theirs = CertAuthority::generate("theirs").expect("ca");
    let (mut a, mut b, strangers) = two_tls_nodes(&ca).await;
    // Both strangers hold the cluster secret. Node 1 trusts our CA but presents a
    // certificate of another: nodes 2 and 3 (accepting) refuse it. Node 4 is of the
    // other CA altogether: nodes 2 and 3 (dialing) refuse its certificate.
    let mut dialer = start_tls(
        1,
        &strangers.addrs,
        strangers.dialer,
        Some(mixed_tls(&ca, &theirs, 1)),
    );
    let mut acceptor = start_tls(
        4,
        &strangers.addrs,
        strangers.acceptor,
        Some(node_tls(&theirs, 4)),
    );
    let (a_admits, b_admits, dialer_admits, acceptor_admits) = tokio::join!(
        admits(&mut a, &[1, 4]),
        admits(&mut b, &[1, 4]),
        admits(&mut dialer, &[2, 3]),
        admits(&mut acceptor, &[2, 3]),
    );
    assert!(
        !a_admits && !b_admits,
        "a certificate of another CA was admitted"
    );
    assert!(
        !dialer_admits && !acceptor_admits,
        "a stranger admitted a node of our CA"
    );
    assert_exchange(&mut a, &mut b, 1).await;
}

#[tokio::test]
async fn a_plain_tcp_peer_on_a_tls_port_is_refused_and_the_node_keeps_serving() {
    init_tracing();
    let ca = CertAuthority::generate("test").expect("ca");
    let (mut a, mut b, strangers) = two_tls_nodes(&ca).await;
    // A transport without TLS (with the secret) dialing nodes 2 and 3 is never
    // admitted.
    let mut plain = start_tls(1, &strangers.addrs, strangers.dialer, None);
    let (a_admits, b_admits, plain_admits) = tokio::join!(
        admits(&mut a, &[1]),
        admits(&mut b, &[1]),
        admits(&mut plain, &[2, 3])
    );
    assert!(!a_admits && !b_admits, "a plain-TCP peer was admitted");
    assert!(!plain_admits);
    // Raw plain bytes (a frame header) on the TLS port: the connection is closed.
    let mut raw = TcpStream::connect(strangers.addrs[&2])
        .await
        .expect("connect");
    raw.write_all(&[0, 0, 0, 105, 1]).await.expect("write");
    let mut sink = Vec::new();
    let closed = timeout(PATIENCE, raw.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "the plain connection was not closed");
    assert!(sink.is_empty(), "a plain client got bytes back: {sink:?}");
    assert_exchange(&mut a, &mut b, 2).await;
}
