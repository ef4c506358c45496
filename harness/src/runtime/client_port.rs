//! The node's client port: framed [`ClientRequest`]s in, [`ClientResponse`]s out.
//!
//! One task accepts connections; each connection gets a reader (decodes requests and
//! hands commands to the node loop) and a writer (encodes the loop's answers, writing
//! whatever has accumulated in one `write_all`). The loop hands a connection all the
//! answers of one iteration at once ([`ReplyTo`]), so its writer wakes once for them. A malformed, truncated or oversized
//! frame closes that connection with a logged reason; the node keeps serving.

use crate::client::{ClientOp, ClientReply, ClientRequest, ClientResponse, MAX_CLIENT_FRAME};
use crate::transport::{codec, frame, Faults};
use bytes::{Bytes, BytesMut};
use protocols::NodeId;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Where the answers for one client connection go.
#[derive(Clone, Debug)]
pub struct ReplyTo {
    /// The connection's number, unique in this process.
    pub conn: u64,
    /// The connection writer's queue; each item is written with one `write_all`.
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
        /// The operation as the protocols replicate it ([`crate::kv::KvCommand::encode`]'s
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
}

/// Accepts client connections until aborted; aborting it closes every connection.
pub async fn serve(
    node: NodeId,
    listener: TcpListener,
    to_node: mpsc::Sender<ClientMsg>,
    faults: Faults,
) {
    let mut conns = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                while conns.try_join_next().is_some() {}
                let _ = stream.set_nodelay(true);
                conns.spawn(connection(
                    node,
                    stream,
                    addr,
                    to_node.clone(),
                    faults.clone(),
                ));
            }
            Err(e) => {
                tracing::warn!(node, error = %e, "client accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn connection(
    node: NodeId,
    stream: TcpStream,
    addr: std::net::SocketAddr,
    to_node: mpsc::Sender<ClientMsg>,
    faults: Faults,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut reply_rx) = mpsc::unbounded_channel::<Vec<ClientResponse>>();
    let reply_tx = ReplyTo {
        conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
        tx,
    };
    let write = async move {
        let mut out = BytesMut::with_capacity(4096);
        while let Some(first) = reply_rx.recv().await {
            out.clear();
            let mut next = Some(first);
            while let Some(batch) = next {
                for resp in &batch {
                    if let Err(e) = codec::encode_frame(resp, MAX_CLIENT_FRAME, &mut out) {
                        tracing::warn!(node, %addr, error = %e, "client response not encodable");
                    }
                }
                next = reply_rx.try_recv().ok();
            }
            if writer.write_all(&out).await.is_err() {
                return;
            }
        }
    };
    let read = async move {
        let mut buf = BytesMut::with_capacity(8192);
        loop {
            let payload = match frame::read_frame(&mut reader, MAX_CLIENT_FRAME, &mut buf).await {
                Ok(Some(p)) => p,
                Ok(None) => return,
                Err(frame::FrameError::Io(e)) => {
                    // The client went away (reset, broken pipe): not a protocol error.
                    tracing::debug!(node, %addr, error = %e, "client connection closed");
                    return;
                }
                Err(e) => {
                    tracing::warn!(node, %addr, reason = %e, "closing client connection: bad frame");
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
                    tracing::warn!(node, %addr, reason = %e, "closing client connection: undecodable request");
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
                ClientOp::Status => ClientMsg::Status {
                    request: req.id,
                    reply_to,
                },
                ClientOp::Isolate { node: victim } => {
                    faults.isolate(victim);
                    tracing::info!(node, victim, "fault injected: isolate");
                    reply_to.send(ClientResponse {
                        id: req.id,
                        reply: ClientReply::Ok,
                    });
                    continue;
                }
                ClientOp::Heal => {
                    faults.heal();
                    tracing::info!(node, "faults healed");
                    reply_to.send(ClientResponse {
                        id: req.id,
                        reply: ClientReply::Ok,
                    });
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
