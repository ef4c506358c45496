//! The node's client port: framed [`ClientRequest`]s in, [`ClientResponse`]s out.
//!
//! One task accepts connections; each connection gets a reader (decodes requests and
//! hands commands to the node loop) and a writer (encodes the loop's answers, writing
//! whatever has accumulated in one `write_all`). The loop hands a connection all the
//! answers of one iteration at once ([`ReplyTo`]), so its writer wakes once for them. A
//! malformed, truncated or oversized frame closes that connection with a logged reason;
//! the node keeps serving.
//!
//! Resources are bounded ([`ClientLimits`]): a connection beyond `max_connections` is
//! closed at once (so idle clients cannot take the file descriptors the peer port
//! needs); a connection that completes no request frame within `idle_timeout` (an idle
//! client, or one that sends half a frame and stops) is closed; and a connection has at
//! most `max_in_flight` requests unanswered. A client that sends and never reads its
//! answers stops being read once that many answers wait for it: the node's memory for
//! it stays bounded, and is freed with the connection. Warnings about hostile or
//! broken connections are rate-limited. Key and value traffic needs no credential on
//! this port; a fault command (isolate, heal) is refused unless it carries a proof of
//! the cluster's secret over a nonce this connection was handed just before (so a
//! recorded command cannot be replayed).
//!
//! With TLS ([`crate::tls`]) each connection's task first runs the TLS handshake (the
//! node presents its certificate; clients present none); a plain-TCP client, or one
//! whose handshake fails or stalls, is refused with a rate-limited warning.

use crate::client::{
    ClientOp, ClientReply, ClientRequest, ClientResponse, Fault, MAX_CLIENT_FRAME,
};
use crate::io_count::{Counted, IoCounters};
use crate::transport::handshake::{nonce, ClusterKey};
use crate::transport::{codec, frame, Faults};
use crate::warn_limit::WarnLimiter;
use bytes::{Bytes, BytesMut};
use protocols::NodeId;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// Bounds on what clients may take of a node (settings in `cluster.toml`'s
/// `[client_port]`, all optional).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientLimits {
    /// Open client connections at most; more are closed as they arrive.
    pub max_connections: usize,
    /// A connection that completes no request within this long is closed (ms).
    pub idle_timeout_ms: u64,
    /// Unanswered requests per connection at most; the connection is not read
    /// meanwhile.
    pub max_in_flight: usize,
}

impl Default for ClientLimits {
    /// 512 connections (well under the common 1024 file-descriptor limit, which the
    /// peer connections and the WAL share), 60 s of silence, 4096 requests in flight
    /// (the benchmark pipelines 16 closed-loop clients per connection).
    fn default() -> ClientLimits {
        ClientLimits {
            max_connections: 512,
            idle_timeout_ms: 60_000,
            max_in_flight: 4096,
        }
    }
}

/// Logs a refused or closed client connection, rate-limited by `limiter`.
fn warn(limiter: &WarnLimiter, node: NodeId, addr: std::net::SocketAddr, what: &str, reason: &str) {
    if let Some(suppressed) = limiter.allow() {
        tracing::warn!(node, %addr, reason, suppressed, "closing client connection: {what}");
    }
}

/// Where the answers for one client connection go.
#[derive(Clone, Debug)]
pub struct ReplyTo {
    /// The connection's number, unique in this process.
    pub conn: u64,
    /// The connection writer's queue; each item is written with one `write_all`. It
    /// holds at most the connection's `max_in_flight` answers: the reader takes a
    /// permit per request, and the writer returns one per answer written.
    pub tx: mpsc::UnboundedSender<Vec<ClientResponse>>,
}

impl ReplyTo {
    /// Sends one answer on its own (best effort: the client may be gone).
    pub fn send(&self, resp: ClientResponse) {
        let _ = self.tx.send(vec![resp]);
    }
}

/// Numbers client connections.
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// What the client port hands the node loop.
#[derive(Debug)]
pub enum ClientMsg {
    /// A state-machine command to replicate.
    Command {
        /// The client's request id.
        request: u64,
        /// The operation as the protocols replicate it ([`kv::KvCommand::encode`]'s
        /// bytes, checked to decode), a slice of the request's frame.
        command: Bytes,
        /// Where the answer goes.
        reply_to: ReplyTo,
    },
    /// A status query.
    Status {
        /// The client's request id.
        request: u64,
        /// Where the answer goes.
        reply_to: ReplyTo,
    },
    /// A proved request to hand leadership to `to` ([`Fault::TransferLeadership`]),
    /// stepped into the protocol as `Input::TransferLeadership`.
    Transfer {
        /// The node that should lead next.
        to: NodeId,
    },
}

/// Accepts client connections until aborted; aborting it closes every connection.
/// Every connection's socket reads and writes are counted in `io`.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    node: NodeId,
    listener: TcpListener,
    to_node: mpsc::Sender<ClientMsg>,
    faults: Faults,
    limits: ClientLimits,
    key: ClusterKey,
    tls: Option<crate::tls::NodeTls>,
    io: Arc<IoCounters>,
) {
    let mut conns = JoinSet::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let port = Arc::new(Port {
        faults,
        limits,
        limiter: WarnLimiter::new(),
        key,
        tls,
        io,
    });
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                while conns.try_join_next().is_some() {}
                let Ok(slot) = open.clone().try_acquire_owned() else {
                    warn(
                        &port.limiter,
                        node,
                        addr,
                        "too many connections",
                        "limit reached",
                    );
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let conn = connection(node, stream, addr, to_node.clone(), port.clone());
                conns.spawn(async move {
                    conn.await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!(node, error = %e, "client accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// What every connection of a client port shares.
struct Port {
    faults: Faults,
    limits: ClientLimits,
    limiter: WarnLimiter,
    key: ClusterKey,
    /// The node's TLS, if configured (its client acceptor is used here).
    tls: Option<crate::tls::NodeTls>,
    /// Socket reads and writes of every client connection.
    io: Arc<IoCounters>,
}

/// Serves one client connection, after the TLS handshake if the port has TLS.
async fn connection(
    node: NodeId,
    stream: TcpStream,
    addr: std::net::SocketAddr,
    to_node: mpsc::Sender<ClientMsg>,
    port: Arc<Port>,
) {
    match &port.tls {
        None => {
            let (reader, writer) = stream.into_split();
            let reader = Counted::new(reader, port.io.clone());
            let writer = Counted::new(writer, port.io.clone());
            session(node, reader, writer, addr, to_node, port).await;
        }
        Some(tls) => match crate::tls::accept(&tls.client_acceptor, stream).await {
            Ok(stream) => {
                let (reader, writer) = tokio::io::split(stream);
                let reader = Counted::new(reader, port.io.clone());
                let writer = Counted::new(writer, port.io.clone());
                session(node, reader, writer, addr, to_node, port).await;
            }
            // A connection closed unused (a port probe) is not worth a warning, as
            // on the plain port.
            Err(crate::tls::AcceptError::Closed) => {
                tracing::debug!(node, %addr, "client connection closed before TLS")
            }
            Err(e) => warn(&port.limiter, node, addr, "refused", &e.to_string()),
        },
    }
}

/// Reads requests from `reader` and writes answers to `writer` until either ends.
async fn session<R, W>(
    node: NodeId,
    mut reader: R,
    mut writer: W,
    addr: std::net::SocketAddr,
    to_node: mpsc::Sender<ClientMsg>,
    port: Arc<Port>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let limits = port.limits;
    let (tx, mut reply_rx) = mpsc::unbounded_channel::<Vec<ClientResponse>>();
    let reply_tx = ReplyTo {
        conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
        tx,
    };
    // One permit per unanswered request: the reader takes it, the writer gives it back
    // once the answer is written.
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight.max(1)));
    let answered = in_flight.clone();
    let write = async move {
        let mut out = BytesMut::with_capacity(4096);
        while let Some(first) = reply_rx.recv().await {
            out.clear();
            let mut written = 0;
            let mut next = Some(first);
            while let Some(batch) = next {
                for resp in &batch {
                    if let Err(e) = codec::encode_frame(resp, MAX_CLIENT_FRAME, &mut out) {
                        tracing::warn!(node, %addr, error = %e, "client response not encodable");
                    }
                }
                // Notifications answer no request: they return no permit.
                written += batch
                    .iter()
                    .filter(|r| !matches!(r.reply, ClientReply::Watch(_)))
                    .count();
                next = reply_rx.try_recv().ok();
            }
            // TLS holds records back until flushed; TCP's flush is a no-op.
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            answered.add_permits(written);
            // A large answer's buffer is not kept for the connection's lifetime.
            if out.capacity() > 1 << 20 {
                out = BytesMut::with_capacity(4096);
            }
        }
    };
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let read = async move {
        let mut buf = BytesMut::with_capacity(8192);
        // The nonce handed out by the last challenge on this connection, if unused.
        let mut challenge: Option<[u8; 32]> = None;
        loop {
            // Wait for room before reading more: a client that does not read its
            // answers is not read either.
            match in_flight.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => return,
            }
            let next = match frame::take_frame(&mut buf, MAX_CLIENT_FRAME) {
                // Already buffered (a pipelined burst): no wait, so no idle timer to
                // arm and no clock to read (a profiled cost per request).
                Ok(Some(p)) => Ok(Ok(Some(p))),
                _ => {
                    tokio::time::timeout(
                        idle,
                        frame::read_frame(&mut reader, MAX_CLIENT_FRAME, &mut buf),
                    )
                    .await
                }
            };
            let payload = match next {
                Err(_elapsed) => {
                    let what = if buf.is_empty() {
                        "idle"
                    } else {
                        "a request frame left unfinished"
                    };
                    tracing::debug!(node, %addr, "closing client connection: {what}");
                    return;
                }
                Ok(Ok(Some(p))) => p,
                Ok(Ok(None)) => return,
                Ok(Err(frame::FrameError::Io(e))) => {
                    // The client went away (reset, broken pipe): not a protocol error.
                    tracing::debug!(node, %addr, error = %e, "client connection closed");
                    return;
                }
                Ok(Err(e)) => {
                    warn(&port.limiter, node, addr, "bad frame", &e.to_string());
                    return;
                }
            };
            // The hot path: a command goes to the node as the bytes it came in.
            if let Some((request, command)) = ClientRequest::split_command(&payload) {
                let msg = ClientMsg::Command {
                    request,
                    command,
                    reply_to: reply_tx.clone(),
                };
                if to_node.send(msg).await.is_err() {
                    return; // the node is stopping
                }
                continue;
            }
            let req: ClientRequest = match codec::decode(&payload) {
                Ok(r) => r,
                Err(e) => {
                    warn(
                        &port.limiter,
                        node,
                        addr,
                        "undecodable request",
                        &e.to_string(),
                    );
                    return;
                }
            };
            let reply_to = reply_tx.clone();
            let msg = match req.op {
                // `split_command` takes every command that decodes; kept for safety.
                ClientOp::Kv(command) => ClientMsg::Command {
                    request: req.id,
                    command: command.encode(),
                    reply_to,
                },
                ClientOp::Command(command) => ClientMsg::Command {
                    request: req.id,
                    command,
                    reply_to,
                },
                ClientOp::Status => ClientMsg::Status {
                    request: req.id,
                    reply_to,
                },
                ClientOp::Challenge => {
                    let reply = match nonce() {
                        Ok(n) => {
                            challenge = Some(n);
                            ClientReply::Challenge(n)
                        }
                        Err(e) => ClientReply::Error(format!("no randomness: {e}")),
                    };
                    reply_to.send(ClientResponse { id: req.id, reply });
                    continue;
                }
                ClientOp::Fault { fault, proof } => {
                    // The nonce is used once, whatever the outcome.
                    let proved = challenge.take().is_some_and(|n| {
                        postcard::to_stdvec(&fault)
                            .is_ok_and(|bytes| port.key.verify_fault(node, &n, &bytes, &proof))
                    });
                    let reply = if !proved {
                        warn(
                            &port.limiter,
                            node,
                            addr,
                            "unproved fault command",
                            "no valid proof of the cluster's secret",
                        );
                        ClientReply::Error(
                            "fault command refused: no valid proof of the cluster's secret".into(),
                        )
                    } else {
                        match fault {
                            Fault::Isolate { node: victim } => {
                                port.faults.isolate(victim);
                                tracing::info!(node, victim, "fault injected: isolate");
                            }
                            Fault::Partition { groups } => {
                                tracing::info!(node, ?groups, "fault injected: partition");
                                port.faults.partition(groups);
                            }
                            Fault::Heal => {
                                port.faults.heal();
                                tracing::info!(node, "faults healed");
                            }
                            Fault::TransferLeadership { to } => {
                                tracing::info!(node, to, "leadership transfer requested");
                                if to_node.send(ClientMsg::Transfer { to }).await.is_err() {
                                    return; // the node is stopping
                                }
                            }
                        }
                        ClientReply::Ok
                    };
                    reply_to.send(ClientResponse { id: req.id, reply });
                    continue;
                }
            };
            if to_node.send(msg).await.is_err() {
                return; // the node is stopping
            }
        }
    };
    // The connection ends when the client stops sending (or sends garbage); answers
    // still in flight for it are dropped with it.
    tokio::select! {
        _ = read => {}
        _ = write => {}
    }
}
