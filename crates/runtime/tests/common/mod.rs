//! Helpers shared by the transport tests: a cluster of transports on loopback port 0,
//! and waiting on their events with a generous timeout (no sleep is ever an assertion).

#![allow(dead_code)] // each test file uses a different part

use protocols::NodeId;
use runtime::transport::handshake::ClusterKey;
use runtime::transport::{Faults, Transport, TransportConfig, TransportEvent};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::time::timeout;

/// Long enough for a loaded 2-core machine; only reached when a test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    Ping(u64),
    Text(String),
}

pub type Event = TransportEvent<Msg>;

pub struct Node {
    pub transport: Transport<Msg>,
    pub events: UnboundedReceiver<Event>,
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
}

pub async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral loopback port")
}

/// The key of the clusters these tests build.
pub fn key() -> ClusterKey {
    ClusterKey {
        id: [0x42; 16],
        secret: std::sync::Arc::from(&b"the secret of the transport tests"[..]),
    }
}

pub fn start(
    id: NodeId,
    peers: &BTreeMap<NodeId, SocketAddr>,
    listener: TcpListener,
    faults: Faults,
) -> Node {
    start_keyed(id, peers, listener, faults, key())
}

pub fn start_keyed(
    id: NodeId,
    peers: &BTreeMap<NodeId, SocketAddr>,
    listener: TcpListener,
    faults: Faults,
    key: ClusterKey,
) -> Node {
    let (tx, events) = unbounded_channel();
    let transport = Transport::start(
        TransportConfig {
            key,
            ..TransportConfig::new(id, peers.clone())
        },
        listener,
        faults,
        tx,
    )
    .expect("start");
    Node { transport, events }
}

/// Starts nodes `ids`, each with `faults(id)`, and waits until every pair is connected.
pub async fn cluster(
    ids: &[NodeId],
    faults: impl Fn(NodeId) -> Faults,
) -> (BTreeMap<NodeId, Node>, BTreeMap<NodeId, SocketAddr>) {
    let mut listeners = BTreeMap::new();
    for id in ids {
        listeners.insert(*id, bind().await);
    }
    let addrs: BTreeMap<_, _> = listeners
        .iter()
        .map(|(id, l)| (*id, l.local_addr().unwrap()))
        .collect();
    let mut nodes: BTreeMap<_, _> = listeners
        .into_iter()
        .map(|(id, l)| (id, start(id, &addrs, l, faults(id))))
        .collect();
    for id in ids {
        let others: Vec<NodeId> = ids.iter().copied().filter(|o| o != id).collect();
        connected_all(nodes.get_mut(id).unwrap(), &others).await;
    }
    (nodes, addrs)
}

/// Waits until `node` has seen every one of `peers` connect, in whatever order their
/// handshakes finish.
pub async fn connected_all(node: &mut Node, peers: &[NodeId]) {
    let mut waiting: std::collections::BTreeSet<NodeId> = peers.iter().copied().collect();
    while !waiting.is_empty() {
        let event = expect(
            node,
            &format!("PeerConnected of {waiting:?}"),
            |e| matches!(e, Event::PeerConnected(p) if waiting.contains(p)),
        )
        .await;
        if let Event::PeerConnected(p) = event {
            waiting.remove(&p);
        }
    }
}

/// The next event satisfying `wanted`, skipping others.
pub async fn expect(node: &mut Node, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
    let found = timeout(PATIENCE, async {
        while let Some(event) = node.events.recv().await {
            if wanted(&event) {
                return Some(event);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(event)) => event,
        Ok(None) => panic!(
            "node {}: inbox closed while waiting for {what}",
            node.transport.id()
        ),
        Err(_) => panic!("node {}: timed out waiting for {what}", node.transport.id()),
    }
}

pub async fn connected(node: &mut Node, peer: NodeId) {
    expect(node, &format!("PeerConnected({peer})"), |e| {
        *e == Event::PeerConnected(peer)
    })
    .await;
}

pub async fn lost(node: &mut Node, peer: NodeId) {
    expect(node, &format!("PeerLost({peer})"), |e| {
        *e == Event::PeerLost(peer)
    })
    .await;
}

/// The next message, whoever sent it (connection events are skipped).
pub async fn next_message(node: &mut Node) -> (NodeId, Msg) {
    match expect(node, "a message", |e| matches!(e, Event::Message { .. })).await {
        Event::Message { from, msg } => (from, msg),
        _ => unreachable!(),
    }
}

/// Waits until `condition` holds, polling (the condition is the assertion, not the time).
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let polled = timeout(PATIENCE, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "timed out waiting until {what}");
}

pub fn node(nodes: &mut BTreeMap<NodeId, Node>, id: NodeId) -> &mut Node {
    nodes.get_mut(&id).expect("node exists")
}
