//! The client side of a node's client port: the wire format and a small client that
//! finds the leader.
//!
//! Requests and responses are postcard-encoded in the same frames as peer traffic
//! ([`crate::transport::frame`]). A connection may pipeline requests; each response
//! names the request id it answers, and responses may come back out of order.
//! [`Pipeline`] and [`SharedClient`] use that to let many concurrent callers share one
//! connection per node.
//!
//! Every way in takes an optional [`ClientTls`] (the cluster's CA, from `[tls]` in
//! the config: [`crate::config::Validated::client_tls`]); with it, connections are TLS
//! and the node's certificate must be signed by that CA. A certificate that fails the
//! check is a [`ClientError::Tls`] at once, not retried on other nodes.

use crate::host::timer::sleep_precisely;
use crate::tls::{ClientStream, ClientTls};
use crate::transport::handshake::ClusterKey;
use crate::transport::{codec, frame};
use bytes::{Bytes, BytesMut};
use kv::{KvCommand, KvOp, Session};
use protocols::{NodeId, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod shared;
pub use shared::{Pipeline, SharedClient};

/// Largest client frame accepted either way.
pub const MAX_CLIENT_FRAME: usize = 4 << 20;

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientOp {
    /// A state-machine command and its client session, committed through the protocol.
    Kv(KvCommand),
    /// The node's role, term, leader and indexes (answered locally).
    Status,
    /// Asks for a fresh nonce to prove a fault command with (one per connection, used
    /// once): answered with [`ClientReply::Challenge`].
    Challenge,
    /// A fault command, proved with the cluster's secret over the nonce this connection
    /// was handed ([`crate::transport::handshake::ClusterKey::fault_proof`] of the
    /// postcard bytes of `fault`). Without a valid proof it is refused.
    Fault {
        /// What to do.
        fault: Fault,
        /// The proof.
        proof: [u8; 32],
    },
    /// A command for whichever state machine the cluster runs (`state_machine` in
    /// `cluster.toml`), as the bytes it replicates: a `znode::ZCommand` for the znode
    /// tree. Committed through the protocol like [`ClientOp::Kv`].
    Command(Bytes),
    /// Subscribes this connection to the node's protocol events (role changes,
    /// `LeaderElected`, `LeaderReady`, narration: what `cwb node --events-json`
    /// prints), proved like a fault command: [`ClusterKey::fault_proof`] of
    /// [`SUBSCRIBE_PROOF`] over a nonce of this connection. Answered with
    /// [`ClientReply::Subscribed`], then [`ClientReply::Events`] as events happen,
    /// under the same request id, until the connection closes. A node serves at most
    /// [`MAX_SUBSCRIBERS`] streams; a subscriber that does not keep up loses events,
    /// counted in the next [`EventBatch::lost`], and never holds the node up.
    Subscribe {
        /// The proof.
        proof: [u8; 32],
    },
}

/// The bytes a [`ClientOp::Subscribe`] proves (in place of a fault command's). No
/// [`Fault`] encodes to them: postcard would read their first byte as variant 115.
pub const SUBSCRIBE_PROOF: &[u8] = b"subscribe to events";

/// Event streams one node serves at once at most ([`ClientOp::Subscribe`]).
pub const MAX_SUBSCRIBERS: usize = 8;

/// The exit code of a node process that carried out [`Fault::Crash`]: what a shell
/// reports for a process killed by SIGKILL (128 + 9).
pub const CRASH_EXIT_CODE: i32 = 137;

/// Fault injection for multi-process clusters, on one node's transport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fault {
    /// Drop all traffic to and from `node` (the node itself: isolate itself).
    Isolate {
        /// The node to cut off.
        node: NodeId,
    },
    /// Split the cluster into groups: messages between nodes of different groups are
    /// dropped (nodes named in no group form one more group together). Sent to every
    /// node, so that each one's filter cuts its side of each link.
    Partition {
        /// The groups.
        groups: Vec<Vec<NodeId>>,
    },
    /// Undo every injected fault.
    Heal,
    /// Not a fault but an operator's request under the same proof: the node, if it
    /// leads, hands its leadership to `to` (a planned failover,
    /// `protocols::Input::TransferLeadership`).
    TransferLeadership {
        /// The node that should lead next.
        to: NodeId,
    },
    /// The node's process exits at once with [`CRASH_EXIT_CODE`], as a SIGKILL would
    /// end it: no clean shutdown, nothing written that was not already handed to the
    /// OS; its supervisor (systemd's `Restart=always`) restarts it and it recovers
    /// from its data directory. Only a node that is a process of its own accepts it
    /// (`cwb node`); a node hosted inside another program refuses it. The connection
    /// closes with the process, usually before any answer.
    Crash,
}

/// A framed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRequest {
    /// Chosen by the client; echoed in the response.
    pub id: u64,
    /// The operation.
    pub op: ClientOp,
}

impl ClientRequest {
    /// Splits a request frame for a state-machine command without copying: its id and
    /// the command's bytes, a slice of `frame` that is exactly [`KvCommand::encode`]'s
    /// (postcard writes the id, the [`ClientOp`] variant, then the `KvCommand`). `None` for
    /// any other request, or a command that does not decode; decode those with
    /// [`codec::decode`].
    pub fn split_command(frame: &Bytes) -> Option<(u64, Bytes)> {
        let mut at = 0;
        let id = kv::varint(frame, &mut at)?;
        // `ClientOp::Kv` is the enum's first variant (postcard: a `u32` varint).
        if kv::varint_u32(frame, &mut at)? != 0 {
            return None;
        }
        let command = frame.slice(at..);
        KvCommand::decode_shared(&command)?;
        Some((id, command))
    }
}

/// A node's status report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node.
    pub id: NodeId,
    /// Which protocol it runs.
    pub protocol: String,
    /// Its protocol state.
    pub status: Status,
    /// Entries applied to its state machine.
    pub applied: u64,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientReply {
    /// The command committed; a put returns the previous value, a get the current.
    Value(Option<Bytes>),
    /// This node does not lead; try `leader` (id and client address) if known.
    NotLeader {
        /// The leader's id, if known.
        leader: Option<NodeId>,
        /// The leader's client address, if known.
        addr: Option<SocketAddr>,
    },
    /// A status report.
    Status(NodeStatus),
    /// A nonce for the next fault command on this connection.
    Challenge([u8; 32]),
    /// Done (fault commands).
    Ok,
    /// Not served this time, for a passing reason (leadership lost before the command
    /// committed, overload): the client may retry, here or elsewhere. The command may
    /// still commit.
    Retry(String),
    /// The node refused the request.
    Error(String),
    /// Not an answer: a notification for the client's session (a znode watch fired,
    /// or the session expired), sent after the answers of the commands applied before
    /// it. Its response id is 0 and it takes no in-flight slot.
    Watch(Bytes),
    /// The connection is subscribed to the node's events ([`ClientOp::Subscribe`]).
    Subscribed(Subscription),
    /// Events of a subscribed connection, under the subscription's request id; like
    /// [`ClientReply::Watch`] they take no in-flight slot.
    Events(EventBatch),
}

/// What a node answers a subscription with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Which start of the node process this is (`cwb node`: its start time in unix
    /// nanoseconds): a different number after a crash means the node was restarted.
    pub incarnation: u64,
    /// The node's standing before the stream starts, as its latest events: its last
    /// role change and, if it leads, its `LeaderElected` and `LeaderReady` since
    /// (`EventBus::subscribe`). They happened before the subscription: their time is
    /// unknown to the subscriber.
    pub standing: Vec<protocols::Event>,
}

/// Events the node carried out since the previous batch, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBatch {
    /// Events lost just before these because the subscriber did not keep up (counted
    /// over the node's whole event bus).
    pub lost: u64,
    /// The node's events.
    pub events: Vec<protocols::Event>,
}

/// A framed response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientResponse {
    /// The request answered.
    pub id: u64,
    /// The answer.
    pub reply: ClientReply,
}

/// Why a client call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// No node answered usefully before the deadline.
    #[error("no leader answered within {0:?}")]
    Timeout(Duration),
    /// A node refused the request.
    #[error("node refused: {0}")]
    Refused(String),
    /// A connection failed.
    #[error("i/o error talking to {addr}: {source}")]
    Io {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS handshake failed: the node's certificate is not signed by the
    /// config's CA (or does not name the address dialed), or the node speaks no TLS.
    #[error("TLS with {addr} failed: {reason} (is the config's [tls] ca this cluster's CA, and does the node run with [tls]?)")]
    Tls {
        /// Where.
        addr: SocketAddr,
        /// rustls's words.
        reason: String,
    },
    /// The node sent something we cannot read.
    #[error("bad response from {addr}: {reason}")]
    Protocol {
        /// Where.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// True for a failure no other node of the cluster would cure (a certificate
    /// another CA signed): not worth a retry.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ClientError::Tls { .. })
    }
}

/// Opens a connection to a node's client port, with TLS if `tls` is given. A
/// certificate or TLS protocol failure is [`ClientError::Tls`]; a refused or broken
/// connection is [`ClientError::Io`].
pub(crate) async fn open(
    addr: SocketAddr,
    tls: Option<&ClientTls>,
) -> Result<ClientStream, ClientError> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Io { addr, source })?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(ClientStream::Plain(tcp));
    };
    match tls.connect(addr, tcp).await {
        Ok(stream) => Ok(ClientStream::Tls(Box::new(stream))),
        // rustls reports bad certificates and protocol violations as InvalidData.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(ClientError::Tls {
            addr,
            reason: e.to_string(),
        }),
        Err(source) => Err(ClientError::Io { addr, source }),
    }
}

/// One framed connection to one node.
pub struct Connection {
    addr: SocketAddr,
    stream: ClientStream,
    buf: BytesMut,
    out: BytesMut,
}

impl Connection {
    /// Connects to a node's client port over plain TCP.
    pub async fn connect(addr: SocketAddr) -> Result<Connection, ClientError> {
        Connection::connect_with(addr, None).await
    }

    /// Connects to a node's client port, with TLS if `tls` is given.
    pub async fn connect_with(
        addr: SocketAddr,
        tls: Option<&ClientTls>,
    ) -> Result<Connection, ClientError> {
        let stream = open(addr, tls).await?;
        Ok(Connection {
            addr,
            stream,
            buf: BytesMut::with_capacity(8192),
            out: BytesMut::new(),
        })
    }

    /// Sends one request.
    pub async fn send(&mut self, req: &ClientRequest) -> Result<(), ClientError> {
        self.out.clear();
        codec::encode_frame(req, MAX_CLIENT_FRAME, &mut self.out).map_err(|e| {
            ClientError::Protocol {
                addr: self.addr,
                reason: e.to_string(),
            }
        })?;
        let addr = self.addr;
        let written = match self.stream.write_all(&self.out).await {
            Ok(()) => self.stream.flush().await,
            Err(e) => Err(e),
        };
        written.map_err(|source| ClientError::Io { addr, source })
    }

    /// Receives one response.
    pub async fn recv(&mut self) -> Result<ClientResponse, ClientError> {
        let addr = self.addr;
        match frame::read_frame(&mut self.stream, MAX_CLIENT_FRAME, &mut self.buf).await {
            Ok(Some(payload)) => codec::decode(&payload).map_err(|e| ClientError::Protocol {
                addr,
                reason: e.to_string(),
            }),
            Ok(None) => Err(ClientError::Io {
                addr,
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "node closed the connection",
                ),
            }),
            Err(frame::FrameError::Io(source)) => Err(ClientError::Io { addr, source }),
            Err(e) => Err(ClientError::Protocol {
                addr,
                reason: e.to_string(),
            }),
        }
    }

    /// Sends a request and waits for its response.
    pub async fn call(&mut self, req: &ClientRequest) -> Result<ClientReply, ClientError> {
        self.send(req).await?;
        loop {
            let resp = self.recv().await?;
            if resp.id == req.id {
                return Ok(resp.reply);
            }
        }
    }
}

/// Asks one node for its status (plain TCP).
pub async fn status(addr: SocketAddr, timeout: Duration) -> Result<NodeStatus, ClientError> {
    status_with(addr, None, timeout).await
}

/// Asks one node for its status, over TLS if `tls` is given.
pub async fn status_with(
    addr: SocketAddr,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> Result<NodeStatus, ClientError> {
    let call = async {
        let mut c = Connection::connect_with(addr, tls).await?;
        match c
            .call(&ClientRequest {
                id: 1,
                op: ClientOp::Status,
            })
            .await?
        {
            ClientReply::Status(s) => Ok(s),
            other => Err(ClientError::Protocol {
                addr,
                reason: format!("expected a status, got {other:?}"),
            }),
        }
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

/// Sends a fault command to node `node` at `addr`, proved with the cluster's `key`:
/// first a challenge for a nonce, then the command with its proof (plain TCP).
pub async fn fault(
    addr: SocketAddr,
    node: NodeId,
    key: &ClusterKey,
    fault: Fault,
    timeout: Duration,
) -> Result<(), ClientError> {
    fault_with(addr, None, node, key, fault, timeout).await
}

/// [`fault`], over TLS if `tls` is given.
pub async fn fault_with(
    addr: SocketAddr,
    tls: Option<&ClientTls>,
    node: NodeId,
    key: &ClusterKey,
    fault: Fault,
    timeout: Duration,
) -> Result<(), ClientError> {
    let call = async {
        let mut c = Connection::connect_with(addr, tls).await?;
        let nonce = challenge(&mut c, addr).await?;
        let bytes = postcard::to_stdvec(&fault).map_err(|e| ClientError::Protocol {
            addr,
            reason: e.to_string(),
        })?;
        let proof = key.fault_proof(node, &nonce, &bytes);
        let crash = fault == Fault::Crash;
        let op = ClientOp::Fault { fault, proof };
        match c.call(&ClientRequest { id: 2, op }).await {
            Ok(ClientReply::Ok) => Ok(()),
            Ok(ClientReply::Error(e)) => Err(ClientError::Refused(e)),
            // A crash ends the process at once: the connection closes unanswered.
            Err(ClientError::Io { .. }) if crash => Ok(()),
            Err(e) => Err(e),
            Ok(other) => Err(ClientError::Protocol {
                addr,
                reason: format!("unexpected {other:?}"),
            }),
        }
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

/// Asks the node at `addr` for a fresh nonce to prove the next request with (request
/// id 1 on `conn`).
async fn challenge(conn: &mut Connection, addr: SocketAddr) -> Result<[u8; 32], ClientError> {
    match conn
        .call(&ClientRequest {
            id: 1,
            op: ClientOp::Challenge,
        })
        .await?
    {
        ClientReply::Challenge(nonce) => Ok(nonce),
        other => Err(ClientError::Protocol {
            addr,
            reason: format!("expected a challenge, got {other:?}"),
        }),
    }
}

/// A connection subscribed to one node's events ([`ClientOp::Subscribe`]).
pub struct EventStream {
    conn: Connection,
    request: u64,
    /// The node's answer: its incarnation and its standing before the stream.
    pub subscription: Subscription,
}

/// Subscribes to node `node`'s events at `addr`, proved with the cluster's `key`
/// (TLS if `tls` is given): a challenge, then the subscription, within `timeout`.
pub async fn subscribe_with(
    addr: SocketAddr,
    tls: Option<&ClientTls>,
    node: NodeId,
    key: &ClusterKey,
    timeout: Duration,
) -> Result<EventStream, ClientError> {
    let call = async {
        let mut conn = Connection::connect_with(addr, tls).await?;
        let nonce = challenge(&mut conn, addr).await?;
        let proof = key.fault_proof(node, &nonce, SUBSCRIBE_PROOF);
        let req = ClientRequest {
            id: 2,
            op: ClientOp::Subscribe { proof },
        };
        match conn.call(&req).await? {
            ClientReply::Subscribed(subscription) => Ok(EventStream {
                conn,
                request: req.id,
                subscription,
            }),
            ClientReply::Error(e) => Err(ClientError::Refused(e)),
            other => Err(ClientError::Protocol {
                addr,
                reason: format!("expected a subscription, got {other:?}"),
            }),
        }
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

impl EventStream {
    /// The next batch of events; an error once the connection ends (the node
    /// stopped, or crashed: [`ClientError::Io`]).
    pub async fn next(&mut self) -> Result<EventBatch, ClientError> {
        loop {
            let resp = self.conn.recv().await?;
            match resp.reply {
                ClientReply::Events(batch) if resp.id == self.request => return Ok(batch),
                ClientReply::Error(e) => return Err(ClientError::Refused(e)),
                _ => {}
            }
        }
    }
}

/// A key-value client that finds the leader: it follows `NotLeader` hints, and on a
/// timeout or a broken connection moves on to the next node.
pub struct Client {
    nodes: BTreeMap<NodeId, SocketAddr>,
    current: Option<(NodeId, Connection)>,
    next_id: u64,
    /// This client's session: its id and the number of its last command (every retry
    /// of a command carries the same number, so it is applied once).
    session: Session,
    /// Give up a call after this long.
    pub deadline: Duration,
    /// Wait at most this long for one node's answer before trying another.
    pub try_timeout: Duration,
    /// Pause before the next try when no node is known to lead (an answer without a
    /// leader hint, or "retry"); after a broken connection, at most 2 ms. It bounds
    /// how precisely a client sees a new leader become ready.
    pub retry_pause: Duration,
    rotate: usize,
    /// The node to try first, before any other (see [`Client::start_at`]).
    first: Option<NodeId>,
    /// TLS to the client ports, if the cluster has it.
    tls: Option<ClientTls>,
}

impl Client {
    /// A client of the cluster whose client ports are `nodes`.
    pub fn new(nodes: BTreeMap<NodeId, SocketAddr>) -> Client {
        Client {
            nodes,
            current: None,
            next_id: 0,
            session: Session {
                client: Session::new_client_id(),
                seq: 0,
            },
            deadline: Duration::from_secs(10),
            try_timeout: Duration::from_secs(1),
            retry_pause: Duration::from_millis(5),
            rotate: 0,
            first: None,
            tls: None,
        }
    }

    /// This client, talking TLS checked against the cluster's CA when `tls` is given
    /// ([`crate::config::Validated::client_tls`]).
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Client {
        self.tls = tls;
        self
    }

    /// Starts by sending to `node`, believed to lead (a hint: a `NotLeader` answer or
    /// a failure still moves the client on).
    pub fn start_at(&mut self, node: NodeId) {
        if self.nodes.contains_key(&node) {
            self.first = Some(node);
        }
    }

    /// The node this client currently talks to.
    pub fn leader_guess(&self) -> Option<NodeId> {
        self.current.as_ref().map(|(id, _)| *id)
    }

    /// Sets `key` to `value`; returns the previous value.
    pub async fn put(&mut self, key: Bytes, value: Bytes) -> Result<Option<Bytes>, ClientError> {
        self.kv(KvOp::Put { key, value }).await
    }

    /// Sets `key` to `value` without asking for the previous value.
    pub async fn set(&mut self, key: Bytes, value: Bytes) -> Result<(), ClientError> {
        self.kv(KvOp::Set { key, value }).await.map(drop)
    }

    /// Reads `key` (through the log: linearizable).
    pub async fn get(&mut self, key: Bytes) -> Result<Option<Bytes>, ClientError> {
        self.kv(KvOp::Get { key }).await
    }

    /// Runs one state-machine command, retrying across nodes until the deadline. Every
    /// try carries the same session number: the command is applied once, and a retry
    /// of one that committed gets its first answer.
    pub async fn kv(&mut self, op: KvOp) -> Result<Option<Bytes>, ClientError> {
        let start = tokio::time::Instant::now();
        let mut hint: Option<NodeId> = self.first.take();
        self.session.seq += 1;
        let command = KvCommand {
            session: self.session,
            op,
        };
        loop {
            let left = self.deadline.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(ClientError::Timeout(self.deadline));
            }
            self.next_id += 1;
            let req = ClientRequest {
                id: self.next_id,
                op: ClientOp::Kv(command.clone()),
            };
            let target = hint.take();
            let attempt =
                tokio::time::timeout(self.try_timeout.min(left), self.attempt(target, &req)).await;
            match attempt {
                Ok(Ok(ClientReply::Value(v))) => return Ok(v),
                Ok(Ok(ClientReply::NotLeader { leader, .. })) => {
                    let current = self.leader_guess();
                    self.current = None;
                    match leader {
                        Some(l) if Some(l) != current && self.nodes.contains_key(&l) => {
                            hint = Some(l)
                        }
                        _ => {
                            self.rotate += 1;
                            sleep_precisely(self.retry_pause.min(left)).await;
                        }
                    }
                }
                Ok(Ok(ClientReply::Error(e))) => return Err(ClientError::Refused(e)),
                Ok(Ok(ClientReply::Retry(_))) => {
                    self.current = None;
                    self.rotate += 1;
                    sleep_precisely(self.retry_pause.min(left)).await;
                }
                Ok(Ok(other)) => {
                    let addr = self
                        .current
                        .as_ref()
                        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |(_, c)| c.addr);
                    return Err(ClientError::Protocol {
                        addr,
                        reason: format!("unexpected {other:?}"),
                    });
                }
                Ok(Err(e)) if e.is_fatal() => return Err(e),
                Ok(Err(_)) | Err(_) => {
                    // Broken connection or no answer in time: move on.
                    self.current = None;
                    self.rotate += 1;
                    let pause = self.retry_pause.min(Duration::from_millis(2));
                    sleep_precisely(pause.min(left)).await;
                }
            }
        }
    }

    async fn attempt(
        &mut self,
        target: Option<NodeId>,
        req: &ClientRequest,
    ) -> Result<ClientReply, ClientError> {
        if let Some(t) = target {
            if self.leader_guess() != Some(t) {
                self.current = None;
            }
        }
        if self.current.is_none() {
            let id = match target {
                Some(t) => t,
                None => {
                    let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
                    ids[self.rotate % ids.len().max(1)]
                }
            };
            let addr = self.nodes[&id];
            self.current = Some((id, Connection::connect_with(addr, self.tls.as_ref()).await?));
        }
        match self.current.as_mut() {
            Some((_, conn)) => conn.call(req).await,
            None => Err(ClientError::Timeout(Duration::ZERO)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn without_a_leader_hint_the_client_pauses_retry_pause_before_the_next_try() {
        // A node that knows no leader for its first two answers, then commits.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answered = Arc::new(AtomicUsize::new(0));
        let count = answered.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let (mut stream, mut buf) = (stream, BytesMut::new());
                    while let Ok(Some(frame)) =
                        frame::read_frame(&mut stream, MAX_CLIENT_FRAME, &mut buf).await
                    {
                        let req: ClientRequest = codec::decode(&frame).unwrap();
                        let reply = if count.fetch_add(1, Ordering::SeqCst) < 2 {
                            ClientReply::NotLeader {
                                leader: None,
                                addr: None,
                            }
                        } else {
                            ClientReply::Value(None)
                        };
                        let mut out = BytesMut::new();
                        let resp = ClientResponse { id: req.id, reply };
                        codec::encode_frame(&resp, MAX_CLIENT_FRAME, &mut out).unwrap();
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let mut client = Client::new(BTreeMap::from([(1, addr)]));
        client.retry_pause = Duration::from_millis(40);
        let start = std::time::Instant::now();
        client
            .set(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
            .await
            .unwrap();
        assert_eq!(answered.load(Ordering::SeqCst), 3);
        assert!(
            start.elapsed() >= Duration::from_millis(80),
            "two answers without a leader, two pauses"
        );
    }

    fn request_bytes(id: u64, op: ClientOp) -> Bytes {
        Bytes::from(postcard::to_stdvec(&ClientRequest { id, op }).unwrap())
    }

    #[test]
    fn a_command_request_splits_into_its_id_and_the_replicated_bytes() {
        let ops = [
            KvOp::Put {
                key: Bytes::from_static(b"0000abcd"),
                value: Bytes::from(vec![b'x'; 300]),
            },
            KvOp::Get {
                key: Bytes::from_static(b"k"),
            },
        ];
        for (id, op) in [u64::MAX, 7].into_iter().zip(ops) {
            let sent = KvCommand {
                session: Session { client: 9, seq: 3 },
                op,
            };
            let frame = request_bytes(id, ClientOp::Kv(sent.clone()));
            let (got_id, command) = ClientRequest::split_command(&frame).unwrap();
            assert_eq!(got_id, id);
            assert_eq!(command, sent.encode());
        }
    }

    #[test]
    fn other_requests_and_broken_commands_do_not_split() {
        assert_eq!(
            ClientRequest::split_command(&request_bytes(1, ClientOp::Status)),
            None
        );
        assert_eq!(
            ClientRequest::split_command(&request_bytes(1, ClientOp::Challenge)),
            None
        );
        let whole = request_bytes(
            3,
            ClientOp::Kv(KvCommand {
                session: Session::NONE,
                op: KvOp::Put {
                    key: Bytes::from_static(b"key"),
                    value: Bytes::from_static(b"value"),
                },
            }),
        );
        for cut in 0..whole.len() {
            assert_eq!(ClientRequest::split_command(&whole.slice(..cut)), None);
        }
        let mut trailing = whole.to_vec();
        trailing.push(0);
        assert_eq!(ClientRequest::split_command(&Bytes::from(trailing)), None);
    }
}
