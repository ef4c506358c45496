//! Connections: accepting, dialing with back-off, and serving an established socket.
//!
//! Concern: the life of the one TCP connection between two nodes. The higher id
//! accepts and checks the dialer's hello (see [`super::handshake`]); the lower id dials,
//! retrying with exponential back-off (`reconnect_min` doubling to `reconnect_max`)
//! after a failed attempt or a lost connection. An established connection runs a reader
//! and a writer until either fails, the peer closes, or a newer connection from the
//! same peer replaces it.
//!
//! Robustness: anything a peer sends that is not a well-formed frame of a decodable
//! message (garbage, truncation, a bad version, an oversized length, a bad handshake)
//! closes that one connection with a `warn` naming the reason and the peer's address;
//! the node keeps serving everyone else.
//!
//! With TLS ([`crate::tls`]), the TLS handshake (mutual: both certificates checked
//! against the cluster's CA) comes first and the hello/welcome/proof exchange runs
//! inside the session, unchanged. A plain-TCP dialer on a TLS port, or a certificate
//! of another CA, is refused like a bad handshake.

use super::codec::{decode_shared, CodecError};
use super::frame::{read_frame, write_frame, FrameError, FRAME_HEADER_LEN};
use super::handshake::{hex, nonce, Handshake, HandshakeError, HandshakeKind, HANDSHAKE_LEN};
use super::peer::{Batch, Peer};
use super::{Shared, TransportEvent};
use crate::io_count::Counted;
use bytes::BytesMut;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::Instrument;

/// How long a new connection may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the accept loop pauses after a failed `accept` (e.g. out of descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Why a connection ended or was refused.
#[derive(Debug, Error)]
enum ConnectionEnd {
    #[error("peer closed the connection")]
    PeerClosed,
    #[error("replaced by a newer connection from the same peer")]
    Replaced,
    #[error("the node's inbox is closed")]
    InboxClosed,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("undecodable message: {0}")]
    Codec(#[from] CodecError),
    #[error("bad handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("handshake refused: {0}")]
    Refused(String),
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error(transparent)]
    TlsAccept(#[from] crate::tls::AcceptError),
    #[error("TLS handshake failed: {0}")]
    TlsDial(std::io::Error),
}

impl ConnectionEnd {
    /// True when the reason points at a misbehaving peer rather than normal churn.
    fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            ConnectionEnd::Frame(_)
                | ConnectionEnd::Codec(_)
                | ConnectionEnd::Handshake(_)
                | ConnectionEnd::Refused(_)
                | ConnectionEnd::HandshakeTimeout
                | ConnectionEnd::TlsAccept(_)
                | ConnectionEnd::TlsDial(_)
        )
    }
}

/// Starts the accept loop and one dialer per peer with a higher id.
pub(super) fn spawn_all<M>(shared: &Arc<Shared<M>>, listener: TcpListener)
where
    M: DeserializeOwned + Send + 'static,
{
    let span = tracing::info_span!("transport", node = shared.id);
    shared.spawn(accept_loop(shared.clone(), listener).instrument(span.clone()));
    for peer in shared.peers.values().filter(|p| p.id > shared.id) {
        shared.spawn(dial_loop(shared.clone(), peer.clone()).instrument(span.clone()));
    }
}

async fn accept_loop<M>(shared: Arc<Shared<M>>, listener: TcpListener)
where
    M: DeserializeOwned + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let task =
                    accept_one(shared.clone(), stream, addr).instrument(tracing::Span::current());
                shared.spawn(task);
            }
            Err(e) => {
                tracing::warn!(node = shared.id, reason = %e, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

/// Secures an incoming connection (with TLS), checks its hello, welcomes it and
/// serves it.
async fn accept_one<M>(shared: Arc<Shared<M>>, stream: TcpStream, addr: SocketAddr)
where
    M: DeserializeOwned + Send + 'static,
{
    if let Err(e) = stream.set_nodelay(true) {
        refuse(&shared, addr, &ConnectionEnd::Io(e));
        return;
    }
    match &shared.tls {
        None => {
            if let Some((peer, stream, buf)) = admit(&shared, stream, addr).await {
                let (reader, writer) = stream.into_split();
                serve(&shared, &peer, reader, writer, buf, addr).await;
            }
        }
        Some(tls) => {
            let stream = match crate::tls::accept(&tls.peer_acceptor, stream).await {
                Ok(stream) => stream,
                Err(e) => return refuse(&shared, addr, &ConnectionEnd::TlsAccept(e)),
            };
            if let Some((peer, stream, buf)) = admit(&shared, stream, addr).await {
                let (reader, writer) = tokio::io::split(stream);
                serve(&shared, &peer, reader, writer, buf, addr).await;
            }
        }
    }
}

/// Logs a refused incoming connection (at most one warning a second).
fn refuse<M>(shared: &Shared<M>, addr: SocketAddr, reason: &ConnectionEnd) {
    if let Some(suppressed) = shared.refusals.allow() {
        tracing::warn!(node = shared.id, peer_addr = %addr, reason = %reason, suppressed, "refusing incoming connection");
    }
}

/// Runs the hello/welcome/proof exchange on an incoming connection, bounded by
/// [`HANDSHAKE_TIMEOUT`]; `None` (logged) if it is refused.
async fn admit<M, S>(
    shared: &Shared<M>,
    mut stream: S,
    addr: SocketAddr,
) -> Option<(Arc<Peer>, S, BytesMut)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = BytesMut::new();
    let accepted =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, welcome(shared, &mut stream, &mut buf)).await;
    match accepted {
        Ok(Ok(peer)) => Some((peer, stream, buf)),
        Ok(Err(e)) => {
            refuse(shared, addr, &e);
            None
        }
        Err(_) => {
            refuse(shared, addr, &ConnectionEnd::HandshakeTimeout);
            None
        }
    }
}

async fn welcome<M, S>(
    shared: &Shared<M>,
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<Arc<Peer>, ConnectionEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hello = read_handshake(stream, buf).await?;
    if hello.kind != HandshakeKind::Hello {
        return Err(ConnectionEnd::Refused("expected a hello".into()));
    }
    if hello.to != shared.id {
        return Err(ConnectionEnd::Refused(format!(
            "meant for node {}, this is node {}",
            hello.to, shared.id
        )));
    }
    let peer = shared
        .peers
        .get(&hello.from)
        .ok_or_else(|| ConnectionEnd::Refused(format!("unknown node {}", hello.from)))?;
    if hello.from > shared.id {
        return Err(ConnectionEnd::Refused(format!(
            "node {} has a higher id and must be dialed",
            hello.from
        )));
    }
    if hello.cluster != shared.key.id {
        return Err(ConnectionEnd::Refused(format!(
            "node {} belongs to another cluster ({}, this is {})",
            hello.from,
            hex(&hello.cluster),
            hex(&shared.key.id)
        )));
    }
    let na = nonce().map_err(|e| ConnectionEnd::Refused(format!("no randomness: {e}")))?;
    let reply = Handshake {
        kind: HandshakeKind::Welcome,
        from: shared.id,
        to: hello.from,
        cluster: shared.key.id,
        nonce: na,
        proof: shared
            .key
            .welcome_proof(shared.id, hello.from, &hello.nonce, &na),
    };
    write_handshake(stream, reply).await?;
    let proof = read_handshake(stream, buf).await?;
    if proof.kind != HandshakeKind::Proof
        || proof.from != hello.from
        || !shared
            .key
            .verify_hello(hello.from, shared.id, &na, &hello.nonce, &proof.proof)
    {
        return Err(ConnectionEnd::Refused(format!(
            "node {} did not prove it holds the cluster's secret",
            hello.from
        )));
    }
    Ok(peer.clone())
}

/// Keeps one connection to `peer` (a higher id) up, redialing with back-off.
async fn dial_loop<M>(shared: Arc<Shared<M>>, peer: Arc<Peer>)
where
    M: DeserializeOwned + Send + 'static,
{
    let mut backoff = shared.reconnect_min;
    loop {
        let addr = peer.addr();
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, dial(&shared, &peer, addr)).await {
            Ok(Ok(Dialed::Plain(stream, buf))) => {
                let (reader, writer) = stream.into_split();
                serve(&shared, &peer, reader, writer, buf, addr).await;
                backoff = shared.reconnect_min;
            }
            Ok(Ok(Dialed::Tls(stream, buf))) => {
                let (reader, writer) = tokio::io::split(*stream);
                serve(&shared, &peer, reader, writer, buf, addr).await;
                backoff = shared.reconnect_min;
            }
            Ok(Err(e)) if e.is_misbehaviour() => {
                if let Some(suppressed) = shared.refusals.allow() {
                    tracing::warn!(node = shared.id, peer = peer.id, peer_addr = %addr, reason = %e, suppressed, "dial failed")
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(peer = peer.id, peer_addr = %addr, reason = %e, "dial failed")
            }
            Err(_) => tracing::debug!(peer = peer.id, peer_addr = %addr, "dial timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(shared.reconnect_max);
    }
}

/// A dialed connection that passed the handshake, with any bytes read past it.
enum Dialed {
    Plain(TcpStream, BytesMut),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>, BytesMut),
}

/// Connects to `peer` (with TLS when configured) and runs the handshake.
async fn dial<M>(
    shared: &Shared<M>,
    peer: &Peer,
    addr: SocketAddr,
) -> Result<Dialed, ConnectionEnd> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    match &shared.tls {
        None => {
            let (stream, buf) = greet(shared, peer, addr, stream).await?;
            Ok(Dialed::Plain(stream, buf))
        }
        Some(tls) => {
            let stream = crate::tls::connect(&tls.peer_connector, addr, stream)
                .await
                .map_err(ConnectionEnd::TlsDial)?;
            let (stream, buf) = greet(shared, peer, addr, stream).await?;
            Ok(Dialed::Tls(Box::new(stream), buf))
        }
    }
}

/// The dialer's side of the hello/welcome/proof exchange.
async fn greet<M, S>(
    shared: &Shared<M>,
    peer: &Peer,
    addr: SocketAddr,
    mut stream: S,
) -> Result<(S, BytesMut), ConnectionEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let nd = nonce().map_err(|e| ConnectionEnd::Refused(format!("no randomness: {e}")))?;
    write_handshake(
        &mut stream,
        Handshake {
            kind: HandshakeKind::Hello,
            from: shared.id,
            to: peer.id,
            cluster: shared.key.id,
            nonce: nd,
            proof: [0; 32],
        },
    )
    .await?;
    let mut buf = BytesMut::new();
    let reply = read_handshake(&mut stream, &mut buf).await?;
    if reply.kind != HandshakeKind::Welcome || reply.from != peer.id || reply.to != shared.id {
        return Err(ConnectionEnd::Refused(format!(
            "unexpected reply {:?} from node {}",
            reply.kind, reply.from
        )));
    }
    if !shared
        .key
        .verify_welcome(peer.id, shared.id, &nd, &reply.nonce, &reply.proof)
    {
        return Err(ConnectionEnd::Refused(format!(
            "the node at {addr} did not prove it holds the cluster's secret"
        )));
    }
    write_handshake(
        &mut stream,
        Handshake {
            kind: HandshakeKind::Proof,
            from: shared.id,
            to: peer.id,
            cluster: shared.key.id,
            nonce: [0; 32],
            proof: shared
                .key
                .hello_proof(shared.id, peer.id, &reply.nonce, &nd),
        },
    )
    .await?;
    Ok((stream, buf))
}

async fn read_handshake<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<Handshake, ConnectionEnd> {
    match read_frame(stream, HANDSHAKE_LEN, buf).await? {
        Some(payload) => Ok(Handshake::decode(&payload)?),
        None => Err(ConnectionEnd::PeerClosed),
    }
}

async fn write_handshake<S: AsyncWrite + Unpin>(
    stream: &mut S,
    handshake: Handshake,
) -> Result<(), ConnectionEnd> {
    let mut payload = BytesMut::with_capacity(HANDSHAKE_LEN);
    handshake.encode(&mut payload);
    let mut frame = BytesMut::with_capacity(FRAME_HEADER_LEN + HANDSHAKE_LEN);
    write_frame(&payload, &mut frame)?;
    stream.write_all(&frame).await?;
    // A TLS stream may hold the record back until flushed (a no-op for TCP).
    stream.flush().await?;
    Ok(())
}

/// Runs an established connection to `peer` until it ends; announces it and its end.
/// `buf` holds any bytes already read past the handshake.
async fn serve<M, R, W>(
    shared: &Shared<M>,
    peer: &Peer,
    reader: R,
    writer: W,
    buf: BytesMut,
    addr: SocketAddr,
) where
    M: DeserializeOwned + Send + 'static,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (generation, stop) = peer.attach(|replaced| {
        if replaced {
            shared.emit(TransportEvent::PeerLost(peer.id));
        }
        shared.emit(TransportEvent::PeerConnected(peer.id));
    });
    tracing::debug!(peer = peer.id, peer_addr = %addr, "connection established");
    let reader = Counted::new(reader, shared.io.clone());
    let writer = Counted::new(writer, shared.io.clone());
    let end = tokio::select! {
        end = read_loop(shared, peer, reader, buf) => end,
        end = write_loop(peer, writer) => end,
        _ = stop => ConnectionEnd::Replaced,
    };
    if end.is_misbehaviour() {
        tracing::warn!(node = shared.id, peer = peer.id, peer_addr = %addr, reason = %end, "closing peer connection");
    } else {
        tracing::info!(node = shared.id, peer = peer.id, peer_addr = %addr, reason = %end, "peer connection closed");
    }
    peer.detach(generation, || {
        shared.emit(TransportEvent::PeerLost(peer.id))
    });
}

async fn read_loop<M, R>(
    shared: &Shared<M>,
    peer: &Peer,
    mut reader: R,
    mut buf: BytesMut,
) -> ConnectionEnd
where
    M: DeserializeOwned + Send + 'static,
    R: AsyncRead + Unpin,
{
    loop {
        let payload = match read_frame(&mut reader, shared.max_frame, &mut buf).await {
            Ok(Some(payload)) => payload,
            Ok(None) => return ConnectionEnd::PeerClosed,
            Err(FrameError::Io(e)) => return ConnectionEnd::Io(e),
            Err(e) => return ConnectionEnd::Frame(e),
        };
        let msg = match decode_shared::<M>(&payload) {
            Ok(msg) => msg,
            Err(e) => return ConnectionEnd::Codec(e),
        };
        let delivered = shared.faults.can_talk(peer.id, shared.id);
        peer.count_received(FRAME_HEADER_LEN + payload.len(), delivered);
        if delivered
            && shared
                .inbox
                .send(TransportEvent::Message { from: peer.id, msg })
                .is_err()
        {
            return ConnectionEnd::InboxClosed;
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(peer: &Peer, mut writer: W) -> ConnectionEnd {
    let mut buf = BytesMut::new();
    let mut chunks = Vec::new();
    loop {
        match peer.take_chunks(&mut chunks) {
            Batch::Ready { messages, bytes } => {
                // One unit (the usual case: a node loop's batch) is written as it is;
                // several are gathered into one buffer for one syscall.
                let written = match chunks.as_slice() {
                    [one] => writer.write_all(one).await,
                    many => {
                        buf.clear();
                        for chunk in many {
                            buf.extend_from_slice(chunk);
                        }
                        writer.write_all(&buf).await
                    }
                };
                chunks.clear();
                // TLS holds records back until flushed; TCP's flush is a no-op.
                let written = match written {
                    Ok(()) => writer.flush().await,
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    return ConnectionEnd::Io(e);
                }
                peer.count_sent(messages, bytes);
            }
            Batch::WaitUntil(due) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = peer.outbox_ready.notified() => {}
                }
            }
            Batch::Empty => peer.outbox_ready.notified().await,
        }
    }
}
