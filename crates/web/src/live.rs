//! Live mode: an in-process cluster ([`drivers::cluster::LocalCluster`]) behind a
//! lock, shown and driven by the page.
//!
//! Three tasks run beside the HTTP server: one follows the cluster's event bus and
//! turns each event into the narrated line `cwb cluster` prints; one samples every
//! node's messages per peer ([`runtime::host::view`]) every [`SAMPLE_EVERY`] and sends
//! what each link carried since, with its count (under load a link carries hundreds
//! of messages a second; the page animates one per link and sample, labelled with the
//! count); one writes at the client load the page sets.

use crate::access::{self, Access};
use crate::model::{self, NodeJson, TimerJson, Words};
use crate::ServeError;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use drivers::cluster::LocalCluster;
use drivers::console::{self, Command};
use protocols::{Describe, Event, NodeId, Protocol};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, oneshot, Mutex};
use tokio::task::JoinHandle;

/// How often messages per link are sampled for the page.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(120);

/// Timeline lines kept for a page that connects later.
pub const BACKLOG: usize = 400;

/// The highest client load the page may set (writes per second).
pub const MAX_LOAD: u32 = 2000;

/// The network faults the page set (the fault filter keeps no readable copy).
#[derive(Clone, Debug, Default, Serialize)]
struct NetState {
    loss: f64,
    delay_ms: u64,
    groups: Vec<Vec<NodeId>>,
}

/// Everything the handlers share.
pub struct Live<P: Protocol> {
    cluster: Mutex<LocalCluster<P>>,
    ids: Vec<NodeId>,
    words: Words,
    origin: Instant,
    backlog: SyncMutex<VecDeque<Arc<str>>>,
    tx: broadcast::Sender<Arc<str>>,
    load: AtomicU32,
    net: SyncMutex<NetState>,
}

fn lock<T>(m: &SyncMutex<T>) -> MutexGuard<'_, T> {
    // Every update is a single assignment or push: a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<P: Protocol + Describe> Live<P> {
    /// Sends one JSON message to every page and keeps timeline lines for later ones.
    fn send(&self, msg: Value) {
        let text: Arc<str> = Arc::from(msg.to_string());
        if msg["type"] == "line" {
            let mut b = lock(&self.backlog);
            if b.len() >= BACKLOG {
                b.pop_front();
            }
            b.push_back(text.clone());
        }
        let _ = self.tx.send(text);
    }

    fn line(&self, kind: &str, node: Option<NodeId>, text: String) {
        self.send(json!({"type": "line", "kind": kind, "node": node, "text": text}));
    }

    /// The snapshot `GET /api/state` returns.
    pub async fn snapshot(&self) -> Value {
        let cluster = self.cluster.lock().await;
        let v = P::vocabulary();
        let now = Instant::now();
        let net = lock(&self.net).clone();
        let group_of = |id: NodeId| {
            net.groups
                .iter()
                .position(|g| g.contains(&id))
                .map_or(0, |i| i + 1)
        };
        let nodes: Vec<NodeJson> = self
            .ids
            .iter()
            .map(|&id| {
                let mut n = match cluster.node(id).and_then(|h| h.status().map(|s| (h, s))) {
                    Some((h, s)) => {
                        let view = h.view().unwrap_or_default();
                        let mut n = model::node_json(
                            id,
                            &s.status,
                            &view.log_tail,
                            view.log_len,
                            view.vote,
                            &v,
                        );
                        n.applied = Some(s.applied);
                        n.timers = view
                            .timers
                            .iter()
                            .map(|t| TimerJson {
                                name: t.name.clone(),
                                remaining_ms: t
                                    .deadline
                                    .saturating_duration_since(now)
                                    .as_secs_f64()
                                    * 1000.0,
                                total_ms: t.armed_for.as_secs_f64() * 1000.0,
                            })
                            .collect();
                        n
                    }
                    None => model::down_json(id),
                };
                n.isolated = cluster.faults().is_isolated(id);
                n.group = group_of(id);
                n
            })
            .collect();
        json!({
            "mode": "live",
            "words": self.words,
            "leader": cluster.leader().map(|(id, _)| id),
            "nodes": nodes,
            "net": net,
            "load": self.load.load(Ordering::Relaxed),
            "uptime_ms": self.origin.elapsed().as_millis() as u64,
        })
    }

    /// Carries out one command line from the page; the lines it printed, or the usage.
    pub async fn command(&self, line: &str) -> Result<Vec<String>, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["load", n] = words.as_slice() {
            let n = n
                .parse::<u32>()
                .ok()
                .filter(|&n| n <= MAX_LOAD)
                .ok_or(format!(
                    "usage: load N (writes per second, 0 to {MAX_LOAD})"
                ))?;
            self.load.store(n, Ordering::Relaxed);
            let text = format!(
                "{} *** client load set to {n} writes/s",
                console::stamp(self.origin)
            );
            self.line("command", None, text.clone());
            return Ok(vec![text]);
        }
        let cmd = match console::parse(line)? {
            None => return Ok(Vec::new()),
            Some(Command::Quit) => {
                return Err("quit is for the terminal: stop cwb serve there".into())
            }
            Some(cmd) => cmd,
        };
        let lines = match &cmd {
            // A put may wait seconds for a leader: not while holding the cluster.
            Command::Put(..) | Command::Get(..) => {
                let client = self.cluster.lock().await.client();
                console::client_command(client, &cmd)
                    .await
                    .unwrap_or_default()
            }
            _ => {
                let mut cluster = self.cluster.lock().await;
                let lines = console::run(&mut cluster, &cmd, self.origin).await;
                let mut net = lock(&self.net);
                match &cmd {
                    Command::Partition(groups) => net.groups = groups.clone(),
                    Command::Heal => *net = NetState::default(),
                    Command::Loss(p) => net.loss = *p,
                    Command::Delay(d) => net.delay_ms = d.as_millis() as u64,
                    _ => {}
                }
                lines
            }
        };
        for l in &lines {
            self.line("command", None, l.clone());
        }
        Ok(lines)
    }

    /// Follows the event bus: one timeline line per event, as `cwb cluster` prints it.
    async fn follow_events(self: Arc<Self>) {
        let bus = self.cluster.lock().await.bus().clone();
        let v = P::vocabulary();
        let mut cursor = 0;
        loop {
            let fresh = bus.wait_new(&mut cursor, Duration::from_secs(3600)).await;
            for s in fresh {
                if matches!(s.event, Event::Committed { .. }) {
                    continue;
                }
                let t = s.at.saturating_duration_since(self.origin).as_secs_f64() * 1000.0;
                let what = protocols::event_text(v.generation, v.show_term, &s.event);
                let kind = match s.event {
                    Event::Narrate(_) => "narration",
                    _ => "event",
                };
                self.line(
                    kind,
                    Some(s.node),
                    format!("[{t:>9.1} ms] {}", protocols::narration_line(s.node, &what)),
                );
            }
        }
    }

    /// Samples messages per link every [`SAMPLE_EVERY`].
    async fn sample_messages(self: Arc<Self>) {
        let mut seen: BTreeMap<(NodeId, NodeId), u64> = BTreeMap::new();
        loop {
            tokio::time::sleep(SAMPLE_EVERY).await;
            let views: Vec<(NodeId, runtime::host::view::NodeView)> = {
                let cluster = self.cluster.lock().await;
                cluster
                    .running()
                    .into_iter()
                    .filter_map(|id| cluster.node(id).and_then(|h| h.view()).map(|v| (id, v)))
                    .collect()
            };
            let mut links = Vec::new();
            for (from, view) in views {
                for (&to, c) in &view.sent_to {
                    let before = seen.insert((from, to), c.messages).unwrap_or(0);
                    // A restarted node counts from zero again.
                    let fresh = if c.messages >= before {
                        c.messages - before
                    } else {
                        c.messages
                    };
                    if fresh > 0 {
                        links.push(
                            json!({"from": from, "to": to, "count": fresh, "kind": c.last_kind}),
                        );
                    }
                }
            }
            if !links.is_empty() {
                self.send(json!({"type": "messages", "links": links}));
            }
        }
    }

    /// Writes at the load the page set, and says when writes stop and start succeeding.
    async fn write_load(self: Arc<Self>) {
        let mut failing_since: Option<Instant> = None;
        let mut n: u64 = 0;
        let mut client = self.cluster.lock().await.client();
        client.deadline = Duration::from_millis(500);
        client.try_timeout = Duration::from_millis(200);
        loop {
            let rate = self.load.load(Ordering::Relaxed);
            if rate == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            n += 1;
            let key = Bytes::from(format!("key{}", n % 100));
            match client.put(key, Bytes::from(format!("value{n}"))).await {
                Ok(_) => {
                    if let Some(since) = failing_since.take() {
                        self.line(
                            "client",
                            None,
                            format!(
                                "{} client: writes succeed again (via node {}) after {:.1} ms without a commit",
                                console::stamp(self.origin),
                                client.leader_guess().unwrap_or(0),
                                since.elapsed().as_secs_f64() * 1000.0
                            ),
                        );
                    }
                }
                Err(e) => {
                    if failing_since.is_none() {
                        failing_since = Some(Instant::now());
                        self.line(
                            "client",
                            None,
                            format!(
                                "{} client: write failed ({e}); retrying",
                                console::stamp(self.origin)
                            ),
                        );
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs_f64(1.0 / f64::from(rate.max(1)))).await;
        }
    }
}

#[derive(Deserialize)]
struct CommandBody {
    command: String,
}

async fn state<P: Protocol + Describe>(State(live): State<Arc<Live<P>>>) -> Json<Value> {
    Json(live.snapshot().await)
}

async fn command<P: Protocol + Describe>(
    State(live): State<Arc<Live<P>>>,
    Json(body): Json<CommandBody>,
) -> Response {
    match live.command(&body.command).await {
        Ok(lines) => Json(json!({"ok": true, "lines": lines})).into_response(),
        Err(usage) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"ok": false, "lines": [usage]})),
        )
            .into_response(),
    }
}

async fn events<P: Protocol + Describe>(
    State(live): State<Arc<Live<P>>>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| stream(live, socket))
}

/// Sends the backlog, then everything new, until the page goes away.
async fn stream<P: Protocol + Describe>(live: Arc<Live<P>>, mut socket: WebSocket) {
    let mut rx = live.tx.subscribe();
    let backlog: Vec<Arc<str>> = lock(&live.backlog).iter().cloned().collect();
    for text in backlog {
        if socket
            .send(Message::Text(text.as_ref().into()))
            .await
            .is_err()
        {
            return;
        }
    }
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(text) => {
                    if socket.send(Message::Text(text.as_ref().into())).await.is_err() {
                        return;
                    }
                }
                // A slow page misses some messages; it keeps the rest.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A running server; [`Server::stop`] ends it.
pub struct Server {
    /// Where the page is served.
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), std::io::Error>>,
}

impl Server {
    /// Stops serving and waits for the server (and, in live mode, the cluster) to stop.
    pub async fn stop(self) -> Result<(), ServeError> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(result) => result.map_err(ServeError::Io),
            Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
        }
    }
}

/// Serves `router` on `listener` until [`Server::stop`], then runs `after`.
pub(crate) fn spawn_server(
    listener: tokio::net::TcpListener,
    router: Router,
    after: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Server, ServeError> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        after.await;
        result
    });
    Ok(Server { addr, stop, task })
}

/// Serves the live page for `cluster` on `listener`, with the client load starting at
/// `writes_per_sec`. `origin` is the instant timeline stamps count from.
pub fn serve<P: Protocol + Describe>(
    cluster: LocalCluster<P>,
    listener: tokio::net::TcpListener,
    access: Access,
    writes_per_sec: u32,
    origin: Instant,
) -> Result<Server, ServeError> {
    let (tx, _) = broadcast::channel(1024);
    let live = Arc::new(Live {
        ids: cluster.ids(),
        cluster: Mutex::new(cluster),
        words: Words::of::<P>(),
        origin,
        backlog: SyncMutex::new(VecDeque::new()),
        tx,
        load: AtomicU32::new(writes_per_sec.min(MAX_LOAD)),
        net: SyncMutex::new(NetState::default()),
    });
    let tasks = vec![
        tokio::spawn(live.clone().follow_events()),
        tokio::spawn(live.clone().sample_messages()),
        tokio::spawn(live.clone().write_load()),
    ];
    let router = Router::new()
        .route("/api/mode", get(|| async { Json(json!({"mode": "live"})) }))
        .route("/api/state", get(state::<P>))
        .route("/api/events", get(events::<P>))
        .route("/api/command", post(command::<P>))
        .layer(axum::middleware::from_fn(move |req, next| {
            access::require(access.clone(), req, next)
        }))
        .with_state(live.clone())
        .merge(crate::assets::routes());
    spawn_server(listener, router, async move {
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
        let mut cluster = live.cluster.lock().await;
        for id in cluster.running() {
            let _ = cluster.kill(id).await;
        }
    })
}
