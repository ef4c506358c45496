//! The node-to-node TCP transport shared by every protocol, with a fault filter.
//!
//! Concern: carrying protocol messages between nodes over real TCP (loopback or LAN),
//! best effort, as the protocols' papers assume of the network (Raft §5.1: "messages
//! may be lost"; ZAB and Paxos likewise tolerate loss and retry). One transport and one
//! codec serve Raft, ZAB and Paxos so that comparisons measure the protocols only.
//!
//! # Layout
//! - [`frame`]: length + version framing, reused by the client port.
//! - [`codec`]: postcard encoding of messages.
//! - [`handshake`]: the hello/welcome exchange that names both ends of a connection.
//! - [`faults`]: isolation, partitions, loss and delay injected on real sockets.
//! - `peer`: one peer's outbound queue, current connection and counters.
//! - `connection`: the accept loop, the dialer with back-off, reader and writer.
//!
//! # Connections
//! One TCP connection (TLS over TCP with `[tls]`, see [`crate::tls`]) per pair of nodes: the lower id dials the higher one (as
//! ZooKeeper's `QuorumCnxManager` keeps one connection per pair, chosen by sid), both
//! directions share it, and a newer connection from the same peer replaces an older
//! one. The dialer retries with exponential back-off. [`TransportEvent::PeerConnected`]
//! and [`TransportEvent::PeerLost`] bracket every established connection, in order.
//!
//! # Sending
//! [`Transport::send`] never blocks and never fails loudly: it encodes the message once
//! and queues the frame for the peer's writer, which writes whatever has accumulated
//! with one `write_all`. [`Transport::send_deferred`] encodes straight into a per-peer
//! batch that [`Transport::flush`] queues as one unit: a node loop that defers all the
//! sends of one iteration and flushes at its end wakes each peer's writer once and lets
//! it write them with one syscall, however many messages the iteration produced. A peer that is not connected gets a small bounded queue; beyond
//! it, messages are dropped (protocols retransmit).

pub mod codec;
mod connection;
pub mod faults;
pub mod frame;
pub mod handshake;
mod peer;

pub use codec::{decode, encode, encode_frame, CodecError};
pub use faults::{Faults, KindWatch, Verdict};
pub use frame::{
    read_frame, write_frame, FrameError, DEFAULT_MAX_FRAME, FRAME_HEADER_LEN, FRAME_VERSION,
};
pub use peer::{PeerStats, MAX_QUEUED_BYTES, MAX_QUEUED_WHILE_CONNECTING};

use bytes::{Bytes, BytesMut};
use peer::Peer;
use protocols::NodeId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

/// How one node's transport is set up.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// This node's id.
    pub id: NodeId,
    /// Every peer's listening address. May include this node's own id, which is ignored.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// The largest frame payload sent or accepted, in bytes.
    pub max_frame: usize,
    /// The dialer's first back-off after a failed or lost connection.
    pub reconnect_min: Duration,
    /// The dialer's longest back-off (it doubles from `reconnect_min` up to this).
    pub reconnect_max: Duration,
    /// The cluster's identity and secret, proved by both ends of every connection.
    pub key: handshake::ClusterKey,
    /// Mutual TLS under the handshake (`None`: plain TCP).
    pub tls: Option<crate::tls::NodeTls>,
}

impl TransportConfig {
    /// A configuration with the defaults: 16 MiB frames, back-off 10 ms .. 500 ms.
    pub fn new(id: NodeId, peers: BTreeMap<NodeId, SocketAddr>) -> TransportConfig {
        TransportConfig {
            id,
            peers,
            max_frame: DEFAULT_MAX_FRAME,
            reconnect_min: Duration::from_millis(10),
            reconnect_max: Duration::from_millis(500),
            key: handshake::ClusterKey::default(),
            tls: None,
        }
    }

    fn validate(&self) -> Result<(), TransportError> {
        let bad = |why: String| Err(TransportError::InvalidConfig(why));
        if self.reconnect_min.is_zero() {
            return bad("reconnect_min must be positive".into());
        }
        if self.reconnect_min > self.reconnect_max {
            return bad(format!(
                "reconnect_min {:?} exceeds reconnect_max {:?}",
                self.reconnect_min, self.reconnect_max
            ));
        }
        if self.max_frame < handshake::HANDSHAKE_LEN || self.max_frame > u32::MAX as usize {
            return bad(format!(
                "max_frame {} outside {}..={}",
                self.max_frame,
                handshake::HANDSHAKE_LEN,
                u32::MAX
            ));
        }
        Ok(())
    }
}

/// What the transport tells its node.
#[derive(Clone, Debug, PartialEq)]
pub enum TransportEvent<M> {
    /// `msg` arrived from `from`.
    Message {
        /// The sending peer.
        from: NodeId,
        /// The decoded message.
        msg: M,
    },
    /// A connection to the peer was established (messages to it now flow).
    PeerConnected(NodeId),
    /// The established connection to the peer dropped (or was replaced by a newer one,
    /// in which case `PeerConnected` follows at once).
    PeerLost(NodeId),
}

/// Why the transport could not start or be reconfigured.
#[derive(Debug, Error)]
pub enum TransportError {
    /// `start` was called outside a tokio runtime.
    #[error("the transport must be started inside a tokio runtime")]
    NoRuntime,
    /// The configuration is inconsistent.
    #[error("invalid transport configuration: {0}")]
    InvalidConfig(String),
    /// The listener failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// A message encoded once, ready to be sent to any number of peers.
#[derive(Clone, Debug)]
pub struct EncodedMessage {
    frame: Bytes,
}

impl EncodedMessage {
    /// The complete frame's length in bytes (header included).
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Always false: a frame has at least its header.
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }
}

/// State shared by the transport handle and its tasks.
struct Shared<M> {
    id: NodeId,
    peers: BTreeMap<NodeId, Arc<Peer>>,
    faults: Faults,
    max_frame: usize,
    reconnect_min: Duration,
    reconnect_max: Duration,
    key: handshake::ClusterKey,
    /// Mutual TLS under the handshake, if configured.
    tls: Option<crate::tls::NodeTls>,
    /// Warnings about refused connections, at most one a second.
    refusals: crate::warn_limit::WarnLimiter,
    inbox: UnboundedSender<TransportEvent<M>>,
    runtime: tokio::runtime::Handle,
    /// Every task of this transport; `None` once shut down.
    tasks: Mutex<Option<JoinSet<()>>>,
    /// Socket reads and writes of every peer connection (for cost per operation).
    io: Arc<crate::io_count::IoCounters>,
}

impl<M: Send + 'static> Shared<M> {
    /// Runs `task` as part of this transport (aborted at shutdown); a no-op after it.
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(set) = tasks.as_mut() {
            while set.try_join_next().is_some() {}
            set.spawn_on(task, &self.runtime);
        }
    }

    fn emit(&self, event: TransportEvent<M>) {
        // The node dropped its inbox: it is going away, and nobody is listening.
        let _ = self.inbox.send(event);
    }
}

/// One node's endpoint of the TCP transport. Dropping it shuts it down.
pub struct Transport<M> {
    shared: Arc<Shared<M>>,
    local_addr: SocketAddr,
    /// Frames encoded by [`Transport::send_deferred`] and not yet flushed, by peer:
    /// (the frames back to back, how many).
    deferred: BTreeMap<NodeId, (BytesMut, u64)>,
    /// Names a message's kind for the fault filter's kind rules ([`Faults::drop_kind`],
    /// [`Faults::delay_kind`]); `None`: messages have no kind, and no kind rule applies.
    kind_of: Option<fn(&M) -> &'static str>,
    _messages: PhantomData<fn(M) -> M>,
}

thread_local! {
    /// Encoding scratch: frames are split off it, so small messages share allocations.
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

const SCRATCH_BLOCK: usize = 64 * 1024;

impl<M: Serialize + DeserializeOwned + Send + 'static> Transport<M> {
    /// Starts serving `listener` and dialing every peer with a higher id. Must be called
    /// inside a tokio runtime. Events (messages, connections) go to `inbox`.
    pub fn start(
        cfg: TransportConfig,
        listener: TcpListener,
        faults: Faults,
        inbox: UnboundedSender<TransportEvent<M>>,
    ) -> Result<Transport<M>, TransportError> {
        cfg.validate()?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| TransportError::NoRuntime)?;
        let local_addr = listener.local_addr()?;
        let peers = cfg
            .peers
            .iter()
            .filter(|(id, _)| **id != cfg.id)
            .map(|(id, addr)| (*id, Arc::new(Peer::new(*id, *addr))))
            .collect::<BTreeMap<_, _>>();
        let shared = Arc::new(Shared {
            id: cfg.id,
            peers,
            faults,
            max_frame: cfg.max_frame,
            reconnect_min: cfg.reconnect_min,
            reconnect_max: cfg.reconnect_max,
            key: cfg.key.clone(),
            tls: cfg.tls.clone(),
            refusals: crate::warn_limit::WarnLimiter::new(),
            inbox,
            runtime,
            tasks: Mutex::new(Some(JoinSet::new())),
            io: Arc::default(),
        });
        connection::spawn_all(&shared, listener);
        Ok(Transport {
            shared,
            local_addr,
            deferred: BTreeMap::new(),
            kind_of: None,
            _messages: PhantomData,
        })
    }

    /// Names the kind of each message for the fault filter's kind rules and watches (a
    /// host passes its protocol's `Protocol::message_kind`). Called only while a kind
    /// rule or a watch is in force; without it, neither ever applies.
    pub fn set_message_kind(&mut self, kind_of: fn(&M) -> &'static str) {
        self.kind_of = Some(kind_of);
    }

    /// The kind of `msg`, if the transport was told how to name it.
    fn kind(&self, msg: &M) -> Option<&'static str> {
        self.kind_of.map(|kind_of| kind_of(msg))
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.shared.id
    }

    /// The address the transport listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Encodes `msg` once for [`Transport::send_encoded`]. `None` (with a warning) if
    /// it cannot be encoded or exceeds `max_frame`.
    pub fn encode(&self, msg: &M) -> Option<EncodedMessage> {
        let encoded = SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => {
                if buf.capacity() < SCRATCH_BLOCK / 4 {
                    buf.reserve(SCRATCH_BLOCK);
                }
                codec::encode_frame(msg, self.shared.max_frame, &mut buf)
                    .map(|()| buf.split().freeze())
            }
            Err(_) => {
                let mut buf = BytesMut::new();
                codec::encode_frame(msg, self.shared.max_frame, &mut buf).map(|()| buf.freeze())
            }
        });
        match encoded {
            Ok(frame) => Some(EncodedMessage { frame }),
            Err(e) => {
                tracing::warn!(node = self.shared.id, reason = %e, "message not sent: cannot encode");
                None
            }
        }
    }

    /// Sends `msg` to peer `to`, best effort: never blocks, never panics. The message is
    /// dropped if the fault filter says so, if `to` is unknown, or if the peer's queue is
    /// full. A message to this node itself is delivered to its own inbox.
    pub fn send(&self, to: NodeId, msg: &M) {
        if let Some(peer) = self.shared.peers.get(&to) {
            // Ask the filter first: a dropped message is never encoded (unless the
            // network model times messages by their size).
            if self.shared.faults.needs_sizes() {
                if let Some(encoded) = self.encode(msg) {
                    self.send_encoded_of(to, &encoded, false, || self.kind(msg));
                }
                return;
            }
            match self
                .shared
                .faults
                .verdict_of(self.shared.id, to, 0, false, || self.kind(msg))
            {
                Verdict::Drop => peer.count_fault_drop(),
                Verdict::Deliver { delay } => {
                    if let Some(encoded) = self.encode(msg) {
                        enqueue(peer, encoded.frame, delay);
                    }
                }
            }
        } else if let Some(encoded) = self.encode(msg) {
            self.send_encoded(to, &encoded);
        }
    }

    /// Sends an already encoded message to `to` (see [`Transport::send`]). Its kind is
    /// not known here, so the fault filter's kind rules do not apply to it.
    pub fn send_encoded(&self, to: NodeId, msg: &EncodedMessage) {
        self.send_encoded_of(to, msg, false, || None)
    }

    /// [`Transport::send_encoded`] for a message whose kind `kind()` names, sent after
    /// this node's write if `after_write` ([`Faults::verdict_of`]).
    fn send_encoded_of(
        &self,
        to: NodeId,
        msg: &EncodedMessage,
        after_write: bool,
        kind: impl FnOnce() -> Option<&'static str>,
    ) {
        if to == self.shared.id {
            self.deliver_locally(msg);
            return;
        }
        let Some(peer) = self.shared.peers.get(&to) else {
            tracing::debug!(node = self.shared.id, to, "message to unknown peer dropped");
            return;
        };
        match self
            .shared
            .faults
            .verdict_of(self.shared.id, to, msg.frame.len(), after_write, kind)
        {
            Verdict::Drop => peer.count_fault_drop(),
            Verdict::Deliver { delay } => enqueue(peer, msg.frame.clone(), delay),
        }
    }

    /// Like [`Transport::send`], but a message to a connected-or-not peer that the
    /// fault filter lets through undelayed is only encoded into that peer's pending
    /// batch; [`Transport::flush`] queues the batch. Messages to one peer keep their
    /// order whichever way they go: a delayed one (a kind delay, say) flushes the
    /// peer's batch before it and holds back everything queued after it. `after_write`
    /// says whether the message leaves after this node's write (the durability gate
    /// held it for one), for the filter's [`Faults::delay_kind_after_write`]. Returns
    /// the frame's length if it was encoded.
    pub fn send_deferred(&mut self, to: NodeId, msg: &M, after_write: bool) -> Option<usize> {
        if to == self.shared.id
            || !self.shared.peers.contains_key(&to)
            || self.shared.faults.needs_sizes()
        {
            let encoded = self.encode(msg)?;
            self.send_encoded_of(to, &encoded, after_write, || self.kind(msg));
            return Some(encoded.len());
        }
        let kind_of = self.kind_of;
        match self
            .shared
            .faults
            .verdict_of(self.shared.id, to, 0, after_write, || {
                kind_of.map(|k| k(msg))
            }) {
            Verdict::Drop => {
                if let Some(peer) = self.shared.peers.get(&to) {
                    peer.count_fault_drop();
                }
                None
            }
            Verdict::Deliver { delay } if !delay.is_zero() => {
                self.flush_peer(to);
                let encoded = self.encode(msg)?;
                if let Some(peer) = self.shared.peers.get(&to) {
                    enqueue(peer, encoded.frame.clone(), delay);
                }
                Some(encoded.len())
            }
            Verdict::Deliver { .. } => {
                let max_frame = self.shared.max_frame;
                let (buf, frames) = self.deferred.entry(to).or_default();
                if buf.capacity() - buf.len() < SCRATCH_BLOCK / 4 {
                    buf.reserve(SCRATCH_BLOCK);
                }
                let before = buf.len();
                match codec::encode_frame(msg, max_frame, buf) {
                    Ok(()) => {
                        *frames += 1;
                        Some(buf.len() - before)
                    }
                    Err(e) => {
                        tracing::warn!(node = self.shared.id, reason = %e, "message not sent: cannot encode");
                        None
                    }
                }
            }
        }
    }

    /// Queues every deferred batch for its peer's writer (one unit per peer).
    pub fn flush(&mut self) {
        for (&to, (buf, frames)) in &mut self.deferred {
            hand_over(&self.shared, to, buf, frames);
        }
    }

    fn flush_peer(&mut self, to: NodeId) {
        if let Some((buf, frames)) = self.deferred.get_mut(&to) {
            hand_over(&self.shared, to, buf, frames);
        }
    }

    fn deliver_locally(&self, msg: &EncodedMessage) {
        match msg.frame.get(FRAME_HEADER_LEN..).map(decode::<M>) {
            Some(Ok(decoded)) => self.shared.emit(TransportEvent::Message {
                from: self.shared.id,
                msg: decoded,
            }),
            Some(Err(e)) => {
                tracing::warn!(node = self.shared.id, reason = %e, "message to self not decodable")
            }
            None => tracing::warn!(
                node = self.shared.id,
                "message to self shorter than a frame header"
            ),
        }
    }

    /// True while a connection to peer `id` is established.
    pub fn is_connected(&self, id: NodeId) -> bool {
        self.shared.peers.get(&id).is_some_and(|p| p.is_connected())
    }

    /// Traffic counters per peer.
    pub fn stats(&self) -> BTreeMap<NodeId, PeerStats> {
        self.shared
            .peers
            .iter()
            .map(|(id, peer)| (*id, peer.stats()))
            .collect()
    }

    /// Socket reads and writes made on all peer connections so far.
    pub fn io(&self) -> &crate::io_count::IoCounters {
        &self.shared.io
    }

    /// The fault filter this transport consults.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }
}

impl<M> Transport<M> {
    /// Stops every task of this transport: the listener and all connections close
    /// (shortly after: aborted tasks release their sockets as they are dropped). Use
    /// [`Transport::close`] to wait until the listening port is free again.
    pub fn shutdown(&self) {
        drop(self.take_tasks());
        self.forget_connections();
    }

    fn take_tasks(&self) -> Option<JoinSet<()>> {
        self.shared
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    fn forget_connections(&self) {
        for peer in self.shared.peers.values() {
            peer.forget_connection();
        }
    }

    /// Shuts down and waits until every task has stopped, so every socket (the
    /// listener included) is closed when this returns.
    pub async fn close(&self) {
        if let Some(mut set) = self.take_tasks() {
            set.abort_all();
            while set.join_next().await.is_some() {}
        }
        self.forget_connections();
    }
}

impl<M> Drop for Transport<M> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn enqueue(peer: &Peer, frame: Bytes, delay: Duration) {
    let due = (!delay.is_zero()).then(|| tokio::time::Instant::now() + delay);
    peer.enqueue(frame, due);
}

/// Hands `to`'s deferred frames, if any, to its writer as one unit.
fn hand_over<M>(shared: &Shared<M>, to: NodeId, buf: &mut BytesMut, frames: &mut u64) {
    if *frames == 0 {
        return;
    }
    let bytes = buf.split().freeze();
    let n = std::mem::take(frames);
    if let Some(peer) = shared.peers.get(&to) {
        peer.enqueue_frames(bytes, n, None);
    }
}
