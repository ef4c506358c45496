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
//! Two proved requests serve a measuring host that runs elsewhere (`cwb bench
//! --config`): [`Fault::Crash`] ends the node's process at once through the
//! [`ProcessExit`] its host was given (only `cwb node` gives one; a node inside
//! another program refuses), and [`ClientOp::Subscribe`] turns the connection into a
//! stream of the node's protocol events. A stream is bounded at both ends: at most
//! [`MAX_SUBSCRIBERS`] per node, and per stream at most [`STREAM_BATCHES_QUEUED`]
//! batches waiting for the socket; a subscriber that reads slower than events come
//! falls behind in the bus's ring ([`crate::events::LIVE_EVENTS`]) and is told how
//! many it lost. The node loop never waits for a subscriber. The subscription needs
//! the proof because a stream holds one of a few slots for as long as its connection
//! lasts, exempt from the idle timeout: unproved, anyone who can reach the port could
//! take every slot and blind the operator's measurements.
//!
//! With TLS ([`crate::tls`]) each connection's task first runs the TLS handshake (the
//! node presents its certificate; clients present none); a plain-TCP client, or one
//! whose handshake fails or stalls, is refused with a rate-limited warning.

use crate::client::{
    ClientOp, ClientReply, ClientRequest, ClientResponse, EventBatch, Fault, Subscription,
    MAX_CLIENT_FRAME, MAX_SUBSCRIBERS, SUBSCRIBE_PROOF,
};
use crate::events::{EventBus, Stamped};
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
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit, Semaphore};
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

/// How a node's process ends itself on [`Fault::Crash`]: given to the host by a
/// program whose whole process is the node (`cwb node`), never by one that hosts
/// nodes inside itself. Calling it is expected not to return (a test's stand-in may).
#[derive(Clone)]
pub struct ProcessExit(Arc<dyn Fn() + Send + Sync>);

impl ProcessExit {
    /// Ends the process the way `exit` does.
    pub fn new(exit: impl Fn() + Send + Sync + 'static) -> ProcessExit {
        ProcessExit(Arc::new(exit))
    }

    /// Ends this process at once with `code`: `_exit(2)`, so nothing more runs, no
    /// buffer is flushed and no destructor runs (what was written to the WAL is in
    /// the OS's hands, as after a SIGKILL).
    pub fn immediate(code: i32) -> ProcessExit {
        ProcessExit::new(move || exit_now(code))
    }
}

#[cfg(target_os = "linux")]
fn exit_now(code: i32) {
    // SAFETY: `_exit` takes no pointer and never returns; it is async-signal-safe.
    unsafe { libc::_exit(code) }
}

#[cfg(not(target_os = "linux"))]
fn exit_now(code: i32) {
    std::process::exit(code)
}

impl std::fmt::Debug for ProcessExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProcessExit")
    }
}

/// What the client port needs of its node beyond the wire: its events, its way to
/// exit, and which start of it this is.
#[derive(Clone)]
pub struct PortControl {
    /// The bus the node publishes its events on (subscriptions read it).
    pub bus: EventBus,
    /// How [`Fault::Crash`] ends the process; `None`: refused.
    pub exit: Option<ProcessExit>,
    /// The node's incarnation, told to subscribers.
    pub incarnation: u64,
}

/// Batches of events one stream may have waiting for its socket; beyond that the
/// stream stops taking events from the bus's ring and, if the ring overflows, loses
/// the oldest.
pub const STREAM_BATCHES_QUEUED: usize = 4;

/// Events in one [`ClientReply::Events`] at most.
const MAX_EVENTS_PER_BATCH: usize = 256;

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
    control: PortControl,
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
        control,
        subscribers: Arc::new(Semaphore::new(MAX_SUBSCRIBERS)),
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
    /// Events, exit, incarnation.
    control: PortControl,
    /// Free event-stream slots.
    subscribers: Arc<Semaphore>,
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
    // Event batches of this connection's stream waiting for the socket.
    let stream_room = Arc::new(Semaphore::new(STREAM_BATCHES_QUEUED));
    let stream_written = stream_room.clone();
    let write = async move {
        let mut out = BytesMut::with_capacity(4096);
        while let Some(first) = reply_rx.recv().await {
            out.clear();
            let (mut written, mut streamed) = (0, 0);
            let mut next = Some(first);
            while let Some(batch) = next {
                for resp in &batch {
                    if let Err(e) = codec::encode_frame(resp, MAX_CLIENT_FRAME, &mut out) {
                        tracing::warn!(node, %addr, error = %e, "client response not encodable");
                    }
                }
                // Notifications answer no request: they return no permit.
                for resp in &batch {
                    match resp.reply {
                        ClientReply::Watch(_) => {}
                        ClientReply::Events(_) => streamed += 1,
                        _ => written += 1,
                    }
                }
                next = reply_rx.try_recv().ok();
            }
            // TLS holds records back until flushed; TCP's flush is a no-op.
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            answered.add_permits(written);
            stream_written.add_permits(streamed);
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
        // Set once the connection streams events: it is then kept however quiet.
        let mut streaming = false;
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
                    let read = frame::read_frame(&mut reader, MAX_CLIENT_FRAME, &mut buf);
                    if streaming {
                        Ok(read.await)
                    } else {
                        tokio::time::timeout(idle, read).await
                    }
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
                ClientOp::Subscribe { proof } => {
                    // The nonce is used once, whatever the outcome.
                    let proved = challenge
                        .take()
                        .is_some_and(|n| port.key.verify_fault(node, &n, SUBSCRIBE_PROOF, &proof));
                    let reply = match subscribe(node, &port, proved, streaming) {
                        Err(refusal) => ClientReply::Error(refusal),
                        Ok((slot, standing, live)) => {
                            streaming = true;
                            tokio::spawn(stream_events(
                                node,
                                live,
                                req.id,
                                reply_to.clone(),
                                stream_room.clone(),
                                slot,
                            ));
                            ClientReply::Subscribed(Subscription {
                                incarnation: port.control.incarnation,
                                standing,
                            })
                        }
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
                                ClientReply::Ok
                            }
                            Fault::Partition { groups } => {
                                tracing::info!(node, ?groups, "fault injected: partition");
                                port.faults.partition(groups);
                                ClientReply::Ok
                            }
                            Fault::Heal => {
                                port.faults.heal();
                                tracing::info!(node, "faults healed");
                                ClientReply::Ok
                            }
                            Fault::TransferLeadership { to } => {
                                tracing::info!(node, to, "leadership transfer requested");
                                if to_node.send(ClientMsg::Transfer { to }).await.is_err() {
                                    return; // the node is stopping
                                }
                                ClientReply::Ok
                            }
                            Fault::Crash => crash(node, port.control.exit.as_ref()),
                        }
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
    // still in flight for it are dropped with it, and so is its event stream.
    tokio::select! {
        _ = read => {}
        _ = write => {}
    }
}

/// Carries out a proved [`Fault::Crash`]: ends the process through `exit`, or
/// refuses when the host was given no way to exit.
fn crash(node: NodeId, exit: Option<&ProcessExit>) -> ClientReply {
    match exit {
        Some(exit) => {
            tracing::warn!(node, "crash requested: the process exits now");
            (exit.0)();
            // Only a test's stand-in returns.
            ClientReply::Ok
        }
        None => ClientReply::Error(
            "crash refused: this node runs inside another program, not as a process of its own \
             (only `cwb node` can crash itself; kill an in-process node with its cluster)"
                .into(),
        ),
    }
}

/// A proved subscription's stream slot, the node's standing and its live events; or
/// why it is refused.
#[allow(clippy::type_complexity)]
fn subscribe(
    node: NodeId,
    port: &Port,
    proved: bool,
    already: bool,
) -> Result<
    (
        OwnedSemaphorePermit,
        Vec<protocols::Event>,
        broadcast::Receiver<Stamped>,
    ),
    String,
> {
    if !proved {
        return Err("subscription refused: no valid proof of the cluster's secret".into());
    }
    if already {
        return Err("this connection is already subscribed".into());
    }
    let Ok(slot) = port.subscribers.clone().try_acquire_owned() else {
        return Err(format!(
            "subscription refused: node {node} already serves {MAX_SUBSCRIBERS} event streams"
        ));
    };
    let (standing, live) = port.control.bus.subscribe(node);
    Ok((slot, standing, live))
}

/// Forwards node `node`'s events from `live` to a subscribed connection, as
/// [`ClientReply::Events`] under request id `request`, until the connection closes.
/// At most [`STREAM_BATCHES_QUEUED`] batches wait for the socket (`room`); meanwhile
/// events wait in the bus's ring, and what overflows it is counted as lost. The
/// stream's `slot` is given back when this ends.
async fn stream_events(
    node: NodeId,
    mut live: broadcast::Receiver<Stamped>,
    request: u64,
    reply: ReplyTo,
    room: Arc<Semaphore>,
    slot: OwnedSemaphorePermit,
) {
    let _slot = slot;
    let mut lost = 0u64;
    loop {
        let permit = tokio::select! {
            p = room.acquire() => p,
            _ = reply.tx.closed() => return,
        };
        match permit {
            Ok(p) => p.forget(),
            Err(_) => return,
        }
        let mut events = Vec::new();
        while events.is_empty() && lost == 0 {
            let got = tokio::select! {
                got = live.recv() => got,
                _ = reply.tx.closed() => return,
            };
            match got {
                Ok(s) if s.node == node => events.push(s.event),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => lost = lost.saturating_add(n),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
        while events.len() < MAX_EVENTS_PER_BATCH {
            match live.try_recv() {
                Ok(s) if s.node == node => events.push(s.event),
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(n)) => lost = lost.saturating_add(n),
                Err(_) => break,
            }
        }
        let batch = ClientResponse {
            id: request,
            reply: ClientReply::Events(EventBatch { lost, events }),
        };
        if reply.tx.send(vec![batch]).is_err() {
            return;
        }
        lost = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::{Event, Role};
    use std::sync::atomic::AtomicBool;

    #[test]
    fn a_crash_is_refused_without_a_way_to_exit_and_carried_out_with_one() {
        let refused = crash(1, None);
        assert!(
            matches!(&refused, ClientReply::Error(e) if e.contains("crash refused")),
            "{refused:?}"
        );
        let exited = Arc::new(AtomicBool::new(false));
        let flag = exited.clone();
        let exit = ProcessExit::new(move || flag.store(true, Ordering::SeqCst));
        assert_eq!(crash(1, Some(&exit)), ClientReply::Ok);
        assert!(exited.load(Ordering::SeqCst), "the exit was called");
    }

    #[test]
    fn crash_and_subscribe_requests_decode_as_sent() {
        for op in [
            ClientOp::Fault {
                fault: Fault::Crash,
                proof: [7; 32],
            },
            ClientOp::Subscribe { proof: [9; 32] },
        ] {
            let req = ClientRequest { id: 5, op };
            let bytes = postcard::to_stdvec(&req).expect("encodes");
            let back: ClientRequest = postcard::from_bytes(&bytes).expect("decodes");
            assert_eq!(back, req);
            assert_eq!(ClientRequest::split_command(&Bytes::from(bytes)), None);
        }
        // The subscription's proved bytes are no fault command's.
        assert!(postcard::from_bytes::<Fault>(SUBSCRIBE_PROOF).is_err());
        let reply = ClientResponse {
            id: 2,
            reply: ClientReply::Events(EventBatch {
                lost: 3,
                events: vec![Event::LeaderReady { term: 4 }],
            }),
        };
        let bytes = postcard::to_stdvec(&reply).expect("encodes");
        assert_eq!(
            postcard::from_bytes::<ClientResponse>(&bytes).ok(),
            Some(reply)
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_subscriber_that_falls_behind_loses_the_oldest_events_counted() {
        let bus = EventBus::new();
        let (standing, live) = bus.subscribe(1);
        assert!(standing.is_empty());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(STREAM_BATCHES_QUEUED));
        let slot = Arc::new(Semaphore::new(1))
            .try_acquire_owned()
            .expect("a free slot");
        let forwarder = tokio::spawn(stream_events(
            1,
            live,
            7,
            ReplyTo { conn: 0, tx },
            room.clone(),
            slot,
        ));
        // Published without yielding: the forwarder reads nothing meanwhile, and
        // publishing never waits for it.
        let published = 3 * crate::events::LIVE_EVENTS as u64;
        for term in 0..published {
            bus.publish(1, Event::LeaderElected { term });
        }
        // Another node's event on the same bus is not this stream's.
        bus.publish(2, Event::LeaderReady { term: 1 });
        bus.publish(1, Event::LeaderReady { term: published });
        let (mut got, mut lost, mut last) = (0u64, 0u64, None);
        while last != Some(published) {
            let batch = rx.recv().await.expect("the stream goes on");
            for resp in batch {
                assert_eq!(resp.id, 7);
                let ClientReply::Events(b) = resp.reply else {
                    panic!("not an event batch: {:?}", resp.reply);
                };
                lost += b.lost;
                for e in b.events {
                    let term = match e {
                        Event::LeaderElected { term } | Event::LeaderReady { term } => term,
                        other => panic!("unexpected {other:?}"),
                    };
                    assert!(last.is_none_or(|l| term > l), "in order");
                    last = Some(term);
                    got += 1;
                }
                // What the connection's writer does once a batch is written.
                room.add_permits(1);
            }
        }
        assert!(lost > 0 && got > 0, "got {got}, lost {lost}");
        // Every event of the bus was either forwarded, counted lost, or node 2's
        // one event (read and left out).
        assert!(
            got + lost == published + 1 || got + lost == published + 2,
            "got {got} + lost {lost} of {}",
            published + 2
        );
        forwarder.abort();
    }

    #[test]
    fn a_subscription_starts_with_the_nodes_standing() {
        let bus = EventBus::new();
        bus.publish(
            1,
            Event::RoleChanged {
                role: Role::Candidate,
                term: 2,
            },
        );
        bus.publish(
            1,
            Event::RoleChanged {
                role: Role::Leader,
                term: 2,
            },
        );
        bus.publish(
            2,
            Event::RoleChanged {
                role: Role::Follower,
                term: 2,
            },
        );
        bus.publish(1, Event::LeaderElected { term: 2 });
        bus.publish(1, Event::LeaderReady { term: 2 });
        let (standing, _) = bus.subscribe(1);
        assert_eq!(
            standing,
            vec![
                Event::RoleChanged {
                    role: Role::Leader,
                    term: 2
                },
                Event::LeaderElected { term: 2 },
                Event::LeaderReady { term: 2 },
            ]
        );
        let (standing, _) = bus.subscribe(2);
        assert_eq!(
            standing,
            vec![Event::RoleChanged {
                role: Role::Follower,
                term: 2
            }]
        );
        bus.publish(
            1,
            Event::RoleChanged {
                role: Role::Follower,
                term: 3,
            },
        );
        let (standing, _) = bus.subscribe(1);
        assert_eq!(
            standing,
            vec![Event::RoleChanged {
                role: Role::Follower,
                term: 3
            }]
        );
    }
}
