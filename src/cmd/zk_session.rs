//! A ZooKeeper-style session with a real cluster that runs the znode state machine,
//! over a node's client port: `cwb zk` runs one command in one, and the recipe clients
//! of `cwb nemesis --workload recipes` run their recipes in them, moving to the new
//! leader when theirs fails.
//!
//! The protocols take commands at the leader, so a session talks to the node that
//! leads; its watches live there. Notifications arrive on the same connection, in order
//! with the answers ([`runtime::client::ClientReply::Watch`]): the ones that arrive
//! while a command waits for its answer are kept in [`ZkSession::events`], oldest
//! first.

use anyhow::bail;
use bytes::Bytes;
use kv::Session;
use runtime::client::{ClientOp, ClientReply, ClientRequest, Connection};
use runtime::tls::ClientTls;
use std::net::SocketAddr;
use std::time::Duration;
use znode::{WatchEvent, ZAnswer, ZCommand, ZOp};

/// A session with the leader.
pub struct ZkSession {
    conn: Connection,
    /// The session id (the client id of every command).
    pub client: u64,
    seq: u64,
    next_request: u64,
    /// Notifications that arrived while waiting for an answer, oldest first.
    pub events: Vec<WatchEvent>,
    /// Connections this session has had (1 for the first; each move adds one).
    pub connections: u64,
    /// Longest wait for one answer (`None`: no limit). A stopped node accepts
    /// connections and never answers; a client that must move on sets one.
    pub limit: Option<Duration>,
}

/// Why a command got no answer from this node.
#[derive(Debug)]
pub enum Redirect {
    /// Not the leader; the leader's client address if known.
    To(Option<SocketAddr>),
    /// Anything else.
    Failed(String),
}

impl std::fmt::Display for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Redirect::To(addr) => write!(f, "not the leader (leader: {addr:?})"),
            Redirect::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Redirect {}

impl ZkSession {
    /// Finds the leader among `addrs` and opens a session there that expires after
    /// `timeout` without a word from the client.
    pub async fn open(
        addrs: &[SocketAddr],
        tls: Option<&ClientTls>,
        timeout: Duration,
        limit: Option<Duration>,
    ) -> anyhow::Result<ZkSession> {
        let open = ZOp::OpenSession {
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        };
        let client = Session::new_client_id();
        let (s, answer) =
            ZkSession::find_leader(addrs, tls, client, 0, limit, |s| s.number(open.clone()))
                .await?;
        match answer {
            ZAnswer::SessionOpened { .. } => Ok(s),
            other => bail!("opening a session: unexpected answer {other:?}"),
        }
    }

    /// Tries `addrs` (following the redirects of nodes that do not lead) until one
    /// answers the command `first` numbers; that node's session and the answer.
    async fn find_leader(
        addrs: &[SocketAddr],
        tls: Option<&ClientTls>,
        client: u64,
        seq: u64,
        limit: Option<Duration>,
        mut first: impl FnMut(&mut ZkSession) -> Bytes,
    ) -> anyhow::Result<(ZkSession, ZAnswer)> {
        let mut tried = Vec::new();
        let mut queue: Vec<SocketAddr> = addrs.to_vec();
        for _round in 0..50 {
            let Some(addr) = queue.pop() else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                queue = addrs.to_vec();
                continue;
            };
            let connect = Connection::connect_with(addr, tls);
            let conn = match limit {
                Some(l) => tokio::time::timeout(l, connect)
                    .await
                    .unwrap_or_else(|_| Err(runtime::client::ClientError::Timeout(l))),
                None => connect.await,
            };
            let Ok(conn) = conn else {
                tried.push(addr);
                continue;
            };
            let mut s = ZkSession {
                conn,
                client,
                seq,
                next_request: 0,
                events: Vec::new(),
                connections: 1,
                limit,
            };
            let data = first(&mut s);
            match s.send(data).await {
                Ok(answer) => return Ok((s, answer)),
                Err(Redirect::To(Some(leader))) => queue.push(leader),
                Err(Redirect::To(None)) | Err(Redirect::Failed(_)) => tried.push(addr),
            }
        }
        bail!("no leader answered (tried {tried:?})")
    }

    /// Moves this session to the node that leads now: a new connection, the same
    /// session and numbering; `data` (the command that went unanswered, or a
    /// heartbeat) is sent there first, and its answer returned. The watches stay
    /// behind on the old node.
    pub async fn reconnect(
        &mut self,
        addrs: &[SocketAddr],
        tls: Option<&ClientTls>,
        data: Bytes,
    ) -> anyhow::Result<ZAnswer> {
        let (mut s, answer) =
            ZkSession::find_leader(addrs, tls, self.client, self.seq, self.limit, |_| {
                data.clone()
            })
            .await?;
        s.connections = self.connections + 1;
        let mut events = std::mem::take(&mut self.events);
        events.append(&mut s.events);
        s.events = events;
        *self = s;
        Ok(answer)
    }

    /// Numbers `op` as this session's next command and encodes it (send it with
    /// [`Self::send`]; a resend of the same bytes is answered once).
    pub fn number(&mut self, op: ZOp) -> Bytes {
        self.seq += 1;
        ZCommand {
            session: Session {
                client: self.client,
                seq: self.seq,
            },
            op,
        }
        .encode()
    }

    /// A heartbeat, encoded (numbered 0: it never shadows a command).
    pub fn heartbeat(&self) -> Bytes {
        ZCommand {
            session: Session {
                client: self.client,
                seq: 0,
            },
            op: ZOp::Touch,
        }
        .encode()
    }

    /// Sends one command and waits for its answer, keeping notifications.
    pub async fn call(&mut self, op: ZOp) -> Result<ZAnswer, Redirect> {
        let data = self.number(op);
        self.send(data).await
    }

    /// Sends encoded command bytes and waits for the answer (at most
    /// [`Self::limit`]), keeping notifications that arrive meanwhile.
    pub async fn send(&mut self, data: Bytes) -> Result<ZAnswer, Redirect> {
        match self.limit {
            Some(l) => tokio::time::timeout(l, self.send_unlimited(data))
                .await
                .unwrap_or_else(|_| Err(Redirect::Failed(format!("no answer within {l:?}")))),
            None => self.send_unlimited(data).await,
        }
    }

    async fn send_unlimited(&mut self, data: Bytes) -> Result<ZAnswer, Redirect> {
        self.next_request += 1;
        let id = self.next_request;
        let req = ClientRequest {
            id,
            op: ClientOp::Command(data),
        };
        self.conn
            .send(&req)
            .await
            .map_err(|e| Redirect::Failed(e.to_string()))?;
        loop {
            let resp = self
                .conn
                .recv()
                .await
                .map_err(|e| Redirect::Failed(e.to_string()))?;
            match resp.reply {
                ClientReply::Watch(bytes) => {
                    if let Some(ev) = WatchEvent::decode(&bytes) {
                        self.events.push(ev);
                    }
                }
                _ if resp.id != id => {}
                ClientReply::Value(Some(bytes)) => {
                    return ZAnswer::decode(&bytes)
                        .ok_or_else(|| Redirect::Failed("an answer that does not decode (does the cluster run the znode state machine?)".into()))
                }
                ClientReply::Value(None) => {
                    return Err(Redirect::Failed("no answer (a late duplicate)".into()))
                }
                ClientReply::NotLeader { addr, .. } => return Err(Redirect::To(addr)),
                ClientReply::Retry(why) | ClientReply::Error(why) => {
                    return Err(Redirect::Failed(why))
                }
                other => return Err(Redirect::Failed(format!("unexpected reply {other:?}"))),
            }
        }
    }

    /// Sends a heartbeat and waits for its answer.
    pub async fn touch(&mut self) -> Result<ZAnswer, Redirect> {
        let data = self.heartbeat();
        self.send(data).await
    }

    /// Waits up to `limit` for one notification (one kept already comes first);
    /// `Ok(None)` if none came, an error if the connection broke.
    pub async fn poll_event(&mut self, limit: Duration) -> Result<Option<WatchEvent>, Redirect> {
        if !self.events.is_empty() {
            return Ok(Some(self.events.remove(0)));
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.conn.recv()).await {
                Err(_) => return Ok(None),
                Ok(Err(e)) => return Err(Redirect::Failed(e.to_string())),
                Ok(Ok(resp)) => {
                    if let ClientReply::Watch(bytes) = resp.reply {
                        if let Some(ev) = WatchEvent::decode(&bytes) {
                            return Ok(Some(ev));
                        }
                    }
                }
            }
        }
    }

    /// Waits up to `limit` for a notification, sending a heartbeat every `beat`.
    pub async fn next_event(
        &mut self,
        limit: Duration,
        beat: Duration,
    ) -> anyhow::Result<Option<WatchEvent>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            match self.poll_event(beat.min(deadline - now)).await {
                Ok(Some(ev)) => return Ok(Some(ev)),
                Ok(None) => {
                    self.touch().await?;
                }
                Err(e) => bail!("connection lost while watching: {e}"),
            }
        }
    }
}
