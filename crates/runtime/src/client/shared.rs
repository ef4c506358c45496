//! Many concurrent callers sharing one connection per node (client side of the
//! workload): [`Pipeline`] pipelines requests on one connection and matches answers by
//! request id; [`SharedClient`] finds the leader for all its callers at once.

use super::{ClientError, ClientOp, ClientReply, ClientRequest, ClientResponse, MAX_CLIENT_FRAME};
use crate::tls::{ClientStream, ClientTls};
use crate::transport::{codec, frame};
use bytes::{Bytes, BytesMut};
use kv::{KvCommand, KvOp, Session};
use protocols::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// One request waiting on a [`Pipeline`].
struct PipelinedRequest {
    op: ClientOp,
    reply: oneshot::Sender<ClientReply>,
}

/// A connection shared by many concurrent callers: requests are pipelined (every
/// request queued while the previous write was in progress goes out in one `write`),
/// and responses are matched to callers by request id. Many closed-loop clients can
/// share one, as etcd's benchmark tool multiplexes `--clients` over `--conns`; it
/// saves a pair of syscalls per operation on both ends.
#[derive(Clone)]
pub struct Pipeline {
    requests: mpsc::UnboundedSender<PipelinedRequest>,
}

impl Pipeline {
    /// Connects to a node's client port and starts the connection's task. A request
    /// not answered within `answer_timeout` gives up the whole connection: its callers
    /// get an error, as from a broken connection. (One timer per connection, not one
    /// per call.)
    pub async fn connect(
        addr: SocketAddr,
        answer_timeout: Duration,
    ) -> Result<Pipeline, ClientError> {
        Pipeline::connect_with(addr, None, answer_timeout).await
    }

    /// [`Pipeline::connect`], with TLS if `tls` is given.
    pub async fn connect_with(
        addr: SocketAddr,
        tls: Option<&ClientTls>,
        answer_timeout: Duration,
    ) -> Result<Pipeline, ClientError> {
        let (requests, queue) = mpsc::unbounded_channel();
        match super::open(addr, tls).await? {
            ClientStream::Plain(tcp) => {
                let (reader, writer) = tcp.into_split();
                tokio::spawn(run_pipeline(addr, reader, writer, queue, answer_timeout));
            }
            ClientStream::Tls(tls) => {
                let (reader, writer) = tokio::io::split(*tls);
                tokio::spawn(run_pipeline(addr, reader, writer, queue, answer_timeout));
            }
        }
        Ok(Pipeline { requests })
    }

    /// Sends `op` and waits for its answer.
    pub async fn call(&self, op: ClientOp) -> Result<ClientReply, ClientError> {
        let (reply, answer) = oneshot::channel();
        let closed = || ClientError::Refused("pipelined connection closed".into());
        self.requests
            .send(PipelinedRequest { op, reply })
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }
}

/// Serves one pipelined connection until it breaks or every [`Pipeline`] is dropped.
async fn run_pipeline<R, W>(
    addr: SocketAddr,
    mut reader: R,
    mut writer: W,
    mut queue: mpsc::UnboundedReceiver<PipelinedRequest>,
    answer_timeout: Duration,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Unanswered requests by id (ids grow, so the first is the oldest), with when
    // they were sent.
    let mut waiting: BTreeMap<u64, (Instant, oneshot::Sender<ClientReply>)> = BTreeMap::new();
    let mut next_id = 0u64;
    let mut out = BytesMut::with_capacity(16 * 1024);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    // Fires no earlier than the oldest request's answer is due; moved only when it
    // fires early or finds nothing waiting.
    let due = tokio::time::sleep(answer_timeout);
    tokio::pin!(due);
    loop {
        tokio::select! {
            () = &mut due, if !waiting.is_empty() => {
                let oldest = waiting.first_key_value().map(|(_, (sent, _))| *sent + answer_timeout);
                match oldest {
                    Some(at) if Instant::now() >= at => {
                        tracing::debug!(%addr, waiting = waiting.len(), "giving up a connection: an answer is overdue");
                        return;
                    }
                    Some(at) => due.as_mut().reset(at),
                    None => {}
                }
            }
            first = queue.recv() => {
                let Some(first) = first else { return };
                // Let the callers just woken by answers queue their next requests, so
                // that they leave together.
                tokio::task::yield_now().await;
                out.clear();
                let sent = Instant::now();
                if waiting.is_empty() && due.is_elapsed() {
                    due.as_mut().reset(sent + answer_timeout);
                }
                let mut next = Some(first);
                while let Some(req) = next {
                    next_id += 1;
                    let frame = ClientRequest { id: next_id, op: req.op };
                    if codec::encode_frame(&frame, MAX_CLIENT_FRAME, &mut out).is_ok() {
                        waiting.insert(next_id, (sent, req.reply));
                    }
                    next = queue.try_recv().ok();
                }
                // TLS holds records back until flushed; TCP's flush is a no-op.
                if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
            // Cancel-safe: a partly read frame stays in `buf` for the next call.
            payload = frame::read_frame(&mut reader, MAX_CLIENT_FRAME, &mut buf) => {
                let Ok(Some(mut payload)) = payload else { return };
                // Answer every response this read brought in before waiting again.
                loop {
                    match codec::decode::<ClientResponse>(&payload) {
                        Ok(resp) => {
                            if let Some((_, reply)) = waiting.remove(&resp.id) {
                                let _ = reply.send(resp.reply);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%addr, reason = %e, "closing pipelined connection: bad response");
                            return;
                        }
                    }
                    match frame::take_frame(&mut buf, MAX_CLIENT_FRAME) {
                        Ok(Some(p)) => payload = p,
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
            }
        }
    }
}

/// A key-value client for many concurrent callers sharing one [`Pipeline`] per node.
/// It finds the leader like [`super::Client`]: it follows `NotLeader` hints, and on a timeout
/// or a broken connection moves on to the next node.
pub struct SharedClient {
    nodes: BTreeMap<NodeId, SocketAddr>,
    route: Mutex<Route>,
    /// Give up a call after this long (checked between tries: the last try may run up
    /// to `try_timeout` past it).
    pub deadline: Duration,
    /// Wait at most this long for one node's answer before trying another.
    pub try_timeout: Duration,
    /// TLS to the client ports, if the cluster has it.
    tls: Option<ClientTls>,
}

/// Where a [`SharedClient`] sends its requests.
#[derive(Default)]
struct Route {
    /// The node believed to lead.
    leader: Option<NodeId>,
    /// Round-robin position when no leader is known.
    rotate: usize,
    /// Open connections, by node.
    conns: BTreeMap<NodeId, Pipeline>,
}

impl SharedClient {
    /// A client of the cluster whose client ports are `nodes`.
    pub fn new(nodes: BTreeMap<NodeId, SocketAddr>) -> SharedClient {
        SharedClient {
            nodes,
            route: Mutex::new(Route::default()),
            deadline: Duration::from_secs(10),
            try_timeout: Duration::from_secs(1),
            tls: None,
        }
    }

    /// This client, talking TLS checked against the cluster's CA when `tls` is given.
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> SharedClient {
        self.tls = tls;
        self
    }

    /// Starts by sending to `node`, believed to lead (a hint: a `NotLeader` answer or
    /// a failure still moves the client on).
    pub fn start_at(&self, node: NodeId) {
        if self.nodes.contains_key(&node) {
            self.route().leader = Some(node);
        }
    }

    fn route(&self) -> std::sync::MutexGuard<'_, Route> {
        self.route.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node to try next and its open connection, if any.
    fn target(&self) -> Option<(NodeId, Option<Pipeline>)> {
        let route = self.route();
        let id = match route.leader {
            Some(l) => l,
            None => *self
                .nodes
                .keys()
                .nth(route.rotate % self.nodes.len().max(1))?,
        };
        let conn = route.conns.get(&id).filter(|c| !c.is_closed()).cloned();
        Some((id, conn))
    }

    /// Forgets `node` as the leader (and its connection if `broken`); moves on.
    fn give_up_on(&self, node: NodeId, hint: Option<NodeId>, broken: bool) {
        let mut route = self.route();
        if broken {
            route.conns.remove(&node);
        }
        if route.leader == Some(node) || route.leader.is_none() {
            match hint.filter(|h| *h != node && self.nodes.contains_key(h)) {
                Some(h) => route.leader = Some(h),
                None => {
                    route.leader = None;
                    route.rotate += 1;
                }
            }
        }
    }

    /// Sets `key` to `value`; returns the previous value.
    pub async fn put(
        &self,
        session: Session,
        key: Bytes,
        value: Bytes,
    ) -> Result<Option<Bytes>, ClientError> {
        self.kv(session, KvOp::Put { key, value }).await
    }

    /// Opens the connection to the node this client would send to next, if none is
    /// open: one try, within the try timeout. A caller about to time requests opens it
    /// first, so that the first request's latency is not the connection's set-up (and
    /// the callers sharing this client do not race to open one each).
    pub async fn connect(&self) -> Result<(), ClientError> {
        let Some((node, None)) = self.target() else {
            return Ok(());
        };
        let Some(addr) = self.nodes.get(&node).copied() else {
            return Ok(());
        };
        let c = Pipeline::connect_with(addr, self.tls.as_ref(), self.try_timeout).await?;
        self.route().conns.entry(node).or_insert(c);
        Ok(())
    }

    /// Sets `key` to `value` without asking for the previous value.
    pub async fn set(&self, session: Session, key: Bytes, value: Bytes) -> Result<(), ClientError> {
        self.kv(session, KvOp::Set { key, value }).await.map(drop)
    }

    /// Runs one state-machine command, retrying across nodes until the deadline. The
    /// callers sharing this client are distinct clients of the state machine: each
    /// passes its own session (client id, and this command's number, which every
    /// retry here reuses).
    pub async fn kv(&self, session: Session, op: KvOp) -> Result<Option<Bytes>, ClientError> {
        let command = KvCommand { session, op };
        let start = tokio::time::Instant::now();
        loop {
            let left = self.deadline.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(ClientError::Timeout(self.deadline));
            }
            let Some((node, conn)) = self.target() else {
                return Err(ClientError::Timeout(self.deadline));
            };
            let conn = match conn {
                Some(c) => c,
                None => {
                    let Some(addr) = self.nodes.get(&node).copied() else {
                        return Err(ClientError::Timeout(self.deadline));
                    };
                    match Pipeline::connect_with(addr, self.tls.as_ref(), self.try_timeout).await {
                        Ok(c) => {
                            let mut route = self.route();
                            route.conns.entry(node).or_insert(c).clone()
                        }
                        Err(e) if e.is_fatal() => return Err(e),
                        Err(_) => {
                            self.give_up_on(node, None, true);
                            tokio::time::sleep(Duration::from_millis(2).min(left)).await;
                            continue;
                        }
                    }
                }
            };
            match conn.call(ClientOp::Kv(command.clone())).await {
                Ok(ClientReply::Value(v)) => {
                    let mut route = self.route();
                    if route.leader.is_none() {
                        route.leader = Some(node);
                    }
                    return Ok(v);
                }
                Ok(ClientReply::NotLeader { leader, .. }) => {
                    self.give_up_on(node, leader, false);
                    if leader.is_none() {
                        tokio::time::sleep(Duration::from_millis(5).min(left)).await;
                    }
                }
                Ok(ClientReply::Error(e)) => return Err(ClientError::Refused(e)),
                Ok(ClientReply::Retry(_)) => {
                    self.give_up_on(node, None, false);
                    tokio::time::sleep(Duration::from_millis(5).min(left)).await;
                }
                Ok(other) => {
                    return Err(ClientError::Protocol {
                        addr: self
                            .nodes
                            .get(&node)
                            .copied()
                            .unwrap_or(([0, 0, 0, 0], 0).into()),
                        reason: format!("unexpected {other:?}"),
                    })
                }
                Err(_) => {
                    self.give_up_on(node, None, true);
                    tokio::time::sleep(Duration::from_millis(2).min(left)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::net::{TcpListener, TcpStream};

    /// Listens on a free loopback port and serves every connection with `serve`.
    async fn listen<F, Fut>(serve: F) -> SocketAddr
    where
        F: Fn(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
        addr
    }

    /// A fake node: answers each put with its key (in reverse order within a read),
    /// or with `NotLeader { leader }` when `redirect` is set.
    async fn fake_node(redirect: Option<NodeId>) -> SocketAddr {
        listen(move |mut stream| async move {
            let mut buf = BytesMut::new();
            loop {
                let Ok(Some(first)) =
                    frame::read_frame(&mut stream, MAX_CLIENT_FRAME, &mut buf).await
                else {
                    return;
                };
                let mut reqs = vec![first];
                while let Ok(Some(p)) = frame::take_frame(&mut buf, MAX_CLIENT_FRAME) {
                    reqs.push(p);
                }
                let mut out = BytesMut::new();
                for p in reqs.iter().rev() {
                    let req: ClientRequest = codec::decode(p).unwrap();
                    let reply = match (&req.op, redirect) {
                        (_, Some(l)) => ClientReply::NotLeader {
                            leader: Some(l),
                            addr: None,
                        },
                        (
                            ClientOp::Kv(KvCommand {
                                op: KvOp::Put { key, .. },
                                ..
                            }),
                            None,
                        ) => ClientReply::Value(Some(key.clone())),
                        _ => ClientReply::Error("unexpected".into()),
                    };
                    let resp = ClientResponse { id: req.id, reply };
                    codec::encode_frame(&resp, MAX_CLIENT_FRAME, &mut out).unwrap();
                }
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_a_connection_and_follow_the_leader_hint() {
        let follower = fake_node(Some(2)).await;
        let leader = fake_node(None).await;
        let nodes = BTreeMap::from([(1, follower), (2, leader)]);
        let client = Arc::new(SharedClient::new(nodes));
        let calls: Vec<_> = (0..20u8)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let key = Bytes::from(vec![b'k', i]);
                    let got = client
                        .put(Session::NONE, key.clone(), Bytes::from_static(b"v"))
                        .await;
                    (key, got)
                })
            })
            .collect();
        for call in calls {
            let (key, got) = call.await.unwrap();
            assert_eq!(got.unwrap(), Some(key), "each caller gets its own answer");
        }
        let route = client.route();
        assert_eq!(route.leader, Some(2), "the hint was followed");
        assert!(route.conns.len() <= 2, "at most one connection per node");
    }

    /// A node that reads requests and never answers.
    async fn silent_node() -> SocketAddr {
        listen(|mut stream| async move {
            let mut buf = BytesMut::new();
            while let Ok(Some(_)) = frame::read_frame(&mut stream, MAX_CLIENT_FRAME, &mut buf).await
            {
            }
        })
        .await
    }

    #[tokio::test]
    async fn connect_opens_one_connection_that_requests_then_use() {
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let inner = fake_node(None).await;
        // Counts connections, then relays each to the fake node.
        let addr = listen(move |mut stream| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if let Ok(mut node) = TcpStream::connect(inner).await {
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut node).await;
                }
            }
        })
        .await;
        let client = Arc::new(SharedClient::new(BTreeMap::from([(1, addr)])));
        client.connect().await.expect("connects");
        client
            .connect()
            .await
            .expect("a second call keeps the open one");
        assert!(client.target().is_some_and(|(_, c)| c.is_some()));
        // Sixteen callers at once use that connection instead of racing to open their own.
        let calls: Vec<_> = (0..16u8)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let key = Bytes::from(vec![i]);
                    matches!(client.put(Session::NONE, key.clone(), Bytes::from_static(b"v")).await, Ok(Some(k)) if k == key)
                })
            })
            .collect();
        for call in calls {
            assert!(call.await.expect("joins"), "answered");
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unanswered_request_gives_up_the_node_after_the_try_timeout() {
        let nodes = BTreeMap::from([(1, silent_node().await), (2, fake_node(None).await)]);
        let mut client = SharedClient::new(nodes);
        client.try_timeout = Duration::from_millis(100);
        let start = Instant::now();
        let key = Bytes::from_static(b"k");
        let got = client
            .put(Session::NONE, key.clone(), Bytes::from_static(b"v"))
            .await;
        assert_eq!(got.unwrap(), Some(key), "answered by the next node");
        assert!(
            start.elapsed() >= client.try_timeout,
            "node 1 was waited for"
        );
        let route = client.route();
        assert_eq!(route.leader, Some(2));
        assert!(
            !route.conns.contains_key(&1),
            "the silent connection is dropped"
        );
    }

    #[tokio::test]
    async fn start_at_sends_to_that_node_first() {
        let nodes = BTreeMap::from([(1, silent_node().await), (2, fake_node(None).await)]);
        let client = SharedClient::new(nodes);
        client.start_at(2);
        client.start_at(9); // not a member: ignored
        let key = Bytes::from_static(b"k");
        let got = client
            .put(Session::NONE, key.clone(), Bytes::from_static(b"v"))
            .await;
        assert_eq!(got.unwrap(), Some(key));
        let route = client.route();
        assert_eq!(route.conns.keys().copied().collect::<Vec<_>>(), [2]);
    }

    #[tokio::test]
    async fn the_single_connection_client_starts_at_that_node_too() {
        let nodes = BTreeMap::from([(1, silent_node().await), (2, fake_node(None).await)]);
        let mut client = crate::client::Client::new(nodes);
        client.start_at(2);
        let key = Bytes::from_static(b"k");
        let got = client.put(key.clone(), Bytes::from_static(b"v")).await;
        assert_eq!(got.unwrap(), Some(key));
        assert_eq!(client.leader_guess(), Some(2));
    }
}
