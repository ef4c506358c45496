//! A cluster started elsewhere: `cwb node` processes already running on other hosts
//! (or this one) under a supervisor, named by their `cluster.toml`, measured from
//! this host (`cwb bench --config cluster.toml`) through [`Cluster`] like the clusters
//! this program starts itself.
//!
//! How the measures see a remote cluster:
//! - events: one connection per node subscribed to its protocol events
//!   ([`runtime::client::ClientOp::Subscribe`], proved with the cluster's secret). Each
//!   batch is stamped with THIS host's monotonic clock when it arrives, so every
//!   duration a measure computes is read on one clock; the nodes' clocks are never
//!   read, let alone compared. An event's stamp is therefore late by the one-way
//!   trip from its node to this host (and by the node's own hand-off to its client
//!   port), which differs per node; on a LAN a fraction of a millisecond. A
//!   subscription starts with the node's standing (its latest role and, if it leads,
//!   its `LeaderElected`/`LeaderReady`), stamped when the cluster is connected: what
//!   happened before is not timed;
//! - kill: [`Fault::Crash`] sent to the node: its process exits at once (as after a
//!   SIGKILL) and its event stream ends, which is the proof the crash happened. Its
//!   supervisor (systemd's `Restart=always`, a container's `--restart always`)
//!   starts it again; [`Cluster::restart`] waits for that, until the node answers
//!   and subscribes again with a new incarnation. Each crash is recorded
//!   ([`CrashRecord`]);
//! - isolate, heal, transfer: the fault commands of the nodes' client ports, as for
//!   `--processes`;
//! - what stays on the nodes' hosts is not collected: message counts, timer
//!   lateness, node CPU and memory;
//! - one trial after another on the same nodes: before each, [`RemoteCluster::connect`]
//!   waits until every node answers and all agree on one leader (a node crashed by
//!   the previous trial has rejoined), so trials do not overlap. Nothing is cold
//!   started: there is no election measure.

use crate::measure::{Cluster, MeasureError};
use protocols::{NodeId, ProtocolKind, Timing};
use runtime::client::{self, ClientError, EventStream, Fault, NodeStatus};
use runtime::config::{ClusterConfig, ConfigError};
use runtime::events::EventBus;
use runtime::host::MessageCounts;
use runtime::tls::ClientTls;
use runtime::transport::handshake::ClusterKey;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use storage::FsyncPolicy;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long one fault command or status question may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a crashed node's process may take to exit (its stream to end).
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a supervisor may take to restart a crashed node, and the cluster to
/// agree on a leader before a trial.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a remote cluster operation failed.
#[derive(Debug, Error)]
pub enum RemoteError {
    /// The config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A node runs another protocol than its config names.
    #[error(
        "node {id} at {addr} runs {running}, but {config} says {expected}: is this the file the nodes were started with?"
    )]
    ProtocolMismatch {
        /// The node.
        id: NodeId,
        /// Its client address.
        addr: SocketAddr,
        /// What it runs.
        running: String,
        /// What the config says.
        expected: ProtocolKind,
        /// The config file.
        config: PathBuf,
    },
    /// The cluster did not settle (every node answering, one leader) in time.
    #[error("the cluster did not settle within {timeout:?}: {state}")]
    NotSettled {
        /// How long we waited.
        timeout: Duration,
        /// What was seen last.
        state: String,
    },
    /// A node refused or failed a request.
    #[error("node {id}: {what}: {source}")]
    Node {
        /// The node.
        id: NodeId,
        /// What was asked.
        what: &'static str,
        /// Why it failed.
        source: ClientError,
    },
    /// A crashed node's process did not exit.
    #[error(
        "node {0} accepted the crash command but its process did not exit within {EXIT_TIMEOUT:?}"
    )]
    DidNotExit(NodeId),
    /// A crashed node did not come back.
    #[error("node {id} did not come back within {timeout:?} after its crash: does its supervisor restart it (systemd Restart=always)?")]
    NotRestarted {
        /// The node.
        id: NodeId,
        /// How long we waited.
        timeout: Duration,
    },
    /// A crashed node answered again as the same process.
    #[error("node {id} answers with the incarnation it had before its crash ({incarnation}): it was not restarted")]
    SameIncarnation {
        /// The node.
        id: NodeId,
        /// Its incarnation.
        incarnation: u64,
    },
    /// No such node in the config.
    #[error("node {0} is not in the cluster's config")]
    UnknownNode(NodeId),
}

impl From<RemoteError> for MeasureError {
    fn from(e: RemoteError) -> MeasureError {
        MeasureError::Cluster(Box::new(e))
    }
}

/// One crash of a node on command, as this host saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashRecord {
    /// The node.
    pub node: NodeId,
    /// Its process's incarnation before the crash.
    pub incarnation_before: u64,
    /// Its event stream ended after the command: the process exited.
    pub exited: bool,
    /// Its incarnation once it answered again, if it did.
    pub incarnation_after: Option<u64>,
    /// From the crash command to the restarted node's subscription.
    pub back_after: Option<Duration>,
}

/// What every trial on one remote cluster shares: its config, and what was seen of
/// it across trials (crashes, events lost).
pub struct RemoteSpec {
    /// The config file.
    pub config: PathBuf,
    /// What the nodes run.
    pub protocol: ProtocolKind,
    /// Their WAL policy.
    pub fsync: FsyncPolicy,
    /// Their timers.
    pub timing: Timing,
    /// Voters.
    pub voters: u64,
    /// Every node's client address.
    pub clients: BTreeMap<NodeId, SocketAddr>,
    key: ClusterKey,
    tls: Option<ClientTls>,
    crashes: Mutex<Vec<CrashRecord>>,
    events_lost: AtomicU64,
    /// What went wrong between trials (a node not back, a heal that failed).
    notes: Mutex<Vec<String>>,
}

impl std::fmt::Debug for RemoteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSpec")
            .field("config", &self.config)
            .field("protocol", &self.protocol)
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

impl RemoteSpec {
    /// Reads the cluster's config: the same file the nodes were started with (its
    /// addresses, protocol, timers and secret).
    pub fn load(config: &Path) -> Result<RemoteSpec, RemoteError> {
        let cfg = ClusterConfig::load(config)?;
        Ok(RemoteSpec {
            // The full path, for the results file's record of what was measured.
            config: std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf()),
            protocol: cfg.protocol,
            fsync: cfg.fsync,
            timing: cfg.timing.clone(),
            voters: cfg.membership.voter_ids().len() as u64,
            clients: cfg.clients.clone(),
            tls: cfg.client_tls(),
            key: cfg.key,
            crashes: Mutex::new(Vec::new()),
            events_lost: AtomicU64::new(0),
            notes: Mutex::new(Vec::new()),
        })
    }

    /// Every crash carried out so far.
    pub fn crashes(&self) -> Vec<CrashRecord> {
        self.crashes.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// What went wrong between trials since the last call.
    pub fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    fn note(&self, line: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.push(line);
        }
    }

    /// Events the nodes reported lost on their streams (a subscriber too slow).
    pub fn events_lost(&self) -> u64 {
        self.events_lost.load(Ordering::Relaxed)
    }

    fn addr(&self, id: NodeId) -> Result<SocketAddr, RemoteError> {
        self.clients
            .get(&id)
            .copied()
            .ok_or(RemoteError::UnknownNode(id))
    }

    async fn status(&self, id: NodeId) -> Result<NodeStatus, ClientError> {
        let addr = self.clients.get(&id).copied().ok_or_else(|| {
            ClientError::Refused(format!("node {id} is not in the cluster's config"))
        })?;
        client::status_with(addr, self.tls.as_ref(), CALL_TIMEOUT).await
    }

    async fn fault(&self, id: NodeId, fault: Fault) -> Result<(), RemoteError> {
        let addr = self.addr(id)?;
        client::fault_with(addr, self.tls.as_ref(), id, &self.key, fault, CALL_TIMEOUT)
            .await
            .map_err(|source| RemoteError::Node {
                id,
                what: "fault command",
                source,
            })
    }

    /// Waits until every node answers, runs the config's protocol, and all name one
    /// leader that says it leads.
    async fn settle(&self, timeout: Duration) -> Result<(), RemoteError> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut statuses = BTreeMap::new();
            let mut state = String::new();
            for (&id, &addr) in &self.clients {
                match self.status(id).await {
                    Ok(s) if s.protocol != self.protocol.to_string() => {
                        return Err(RemoteError::ProtocolMismatch {
                            id,
                            addr,
                            running: s.protocol,
                            expected: self.protocol,
                            config: self.config.clone(),
                        })
                    }
                    Ok(s) => {
                        statuses.insert(id, s.status);
                    }
                    Err(e) => state = format!("node {id} at {addr}: {e}"),
                }
            }
            if statuses.len() == self.clients.len() {
                let leaders: Vec<NodeId> = statuses
                    .iter()
                    .filter(|(_, s)| s.role.is_leader())
                    .map(|(&id, _)| id)
                    .collect();
                match leaders.as_slice() {
                    [l] if statuses
                        .iter()
                        .all(|(&id, s)| id == *l || s.leader == Some(*l)) =>
                    {
                        return Ok(())
                    }
                    _ => {
                        state = format!(
                            "leaders {leaders:?}; each node's leader: {:?}",
                            statuses
                                .iter()
                                .map(|(id, s)| (*id, s.leader))
                                .collect::<Vec<_>>()
                        )
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(RemoteError::NotSettled { timeout, state });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One node's event subscription: the task that publishes its events, and whether
/// its stream has ended.
struct Subscribed {
    incarnation: u64,
    task: JoinHandle<()>,
    ended: watch::Receiver<bool>,
}

/// A crash carried out in this trial, the node not yet seen back.
struct Crashed {
    record: CrashRecord,
    at: Instant,
}

/// A connection to a running remote cluster for one trial ([`RemoteCluster::connect`]
/// to [`Cluster::shutdown`], which leaves the nodes running, healed and restarted).
pub struct RemoteCluster {
    spec: Arc<RemoteSpec>,
    bus: EventBus,
    started: Instant,
    streams: BTreeMap<NodeId, Subscribed>,
    crashed: BTreeMap<NodeId, Crashed>,
}

impl RemoteCluster {
    /// Waits until the cluster has settled (every node answering, one leader all
    /// agree on), then subscribes to every node's events.
    pub async fn connect(spec: Arc<RemoteSpec>) -> Result<RemoteCluster, RemoteError> {
        spec.settle(SETTLE_TIMEOUT).await?;
        let mut cluster = RemoteCluster {
            spec,
            bus: EventBus::new(),
            started: Instant::now(),
            streams: BTreeMap::new(),
            crashed: BTreeMap::new(),
        };
        let ids: Vec<NodeId> = cluster.spec.clients.keys().copied().collect();
        for id in ids {
            let sub = cluster.subscribe(id).await?;
            cluster.streams.insert(id, sub);
        }
        Ok(cluster)
    }

    /// Subscribes to node `id`'s events: its standing goes on the bus at once, its
    /// events as they arrive, each stamped with this host's clock on arrival.
    async fn subscribe(&self, id: NodeId) -> Result<Subscribed, RemoteError> {
        let addr = self.spec.addr(id)?;
        let mut stream: EventStream = client::subscribe_with(
            addr,
            self.spec.tls.as_ref(),
            id,
            &self.spec.key,
            CALL_TIMEOUT,
        )
        .await
        .map_err(|source| RemoteError::Node {
            id,
            what: "event subscription",
            source,
        })?;
        let now = Instant::now();
        for event in std::mem::take(&mut stream.subscription.standing) {
            self.bus.publish_at(now, id, event);
        }
        let (ended_tx, ended) = watch::channel(false);
        let (bus, spec) = (self.bus.clone(), self.spec.clone());
        let incarnation = stream.subscription.incarnation;
        let task = tokio::spawn(async move {
            while let Ok(batch) = stream.next().await {
                let at = Instant::now();
                if batch.lost > 0 {
                    spec.events_lost.fetch_add(batch.lost, Ordering::Relaxed);
                }
                for event in batch.events {
                    bus.publish_at(at, id, event);
                }
            }
            let _ = ended_tx.send(true);
        });
        Ok(Subscribed {
            incarnation,
            task,
            ended,
        })
    }

    /// The cluster's config and what was seen of it.
    pub fn spec(&self) -> &RemoteSpec {
        &self.spec
    }

    /// Waits until node `id`'s supervisor has restarted it after a crash: it answers
    /// again and subscribes with a new incarnation.
    async fn await_restart(&mut self, id: NodeId) -> Result<(), RemoteError> {
        let Some(mut crash) = self.crashed.remove(&id) else {
            return Ok(());
        };
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let result = loop {
            if self.spec.status(id).await.is_ok() {
                match self.subscribe(id).await {
                    Ok(sub) if sub.incarnation == crash.record.incarnation_before => {
                        sub.task.abort();
                        break Err(RemoteError::SameIncarnation {
                            id,
                            incarnation: sub.incarnation,
                        });
                    }
                    Ok(sub) => {
                        crash.record.incarnation_after = Some(sub.incarnation);
                        crash.record.back_after = Some(crash.at.elapsed());
                        if let Some(old) = self.streams.insert(id, sub) {
                            old.task.abort();
                        }
                        break Ok(());
                    }
                    // Up, but not ready to serve a stream yet: try again.
                    Err(_) => {}
                }
            }
            if Instant::now() > deadline {
                break Err(RemoteError::NotRestarted {
                    id,
                    timeout: SETTLE_TIMEOUT,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if let Ok(mut all) = self.spec.crashes.lock() {
            all.push(crash.record);
        }
        result
    }
}

/// The events this cluster's measures see, and what they can do to it.
impl Cluster for RemoteCluster {
    type Error = RemoteError;

    fn started(&self) -> Instant {
        self.started
    }

    fn bus(&self) -> &EventBus {
        &self.bus
    }

    fn client_addrs(&self) -> &BTreeMap<NodeId, SocketAddr> {
        &self.spec.clients
    }

    fn client_tls(&self) -> Option<ClientTls> {
        self.spec.tls.clone()
    }

    /// [`Fault::Crash`]; resolves once the node's event stream has ended (its process
    /// exited), to the instant just before the command was sent.
    async fn kill(&mut self, id: NodeId) -> Result<Instant, RemoteError> {
        let mut ended = self
            .streams
            .get(&id)
            .map(|s| (s.ended.clone(), s.incarnation))
            .ok_or(RemoteError::UnknownNode(id))?;
        let t0 = Instant::now();
        self.spec.fault(id, Fault::Crash).await?;
        let exited = tokio::time::timeout(EXIT_TIMEOUT, ended.0.wait_for(|&e| e))
            .await
            .is_ok_and(|r| r.is_ok());
        self.crashed.insert(
            id,
            Crashed {
                record: CrashRecord {
                    node: id,
                    incarnation_before: ended.1,
                    exited,
                    incarnation_after: None,
                    back_after: None,
                },
                at: t0,
            },
        );
        if !exited {
            return Err(RemoteError::DidNotExit(id));
        }
        Ok(t0)
    }

    /// A crashed node's process exited (its stream ended right after the command);
    /// whether its supervisor has started it again since does not matter.
    fn verify_killed(
        &self,
        id: NodeId,
        _addr: SocketAddr,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send {
        let exited = self.crashed.get(&id).is_some_and(|c| c.record.exited);
        async move {
            if exited {
                Ok(())
            } else {
                Err(format!("node {id}'s process was not seen to exit"))
            }
        }
    }

    /// Waits for the node's supervisor to restart it.
    async fn restart(&mut self, id: NodeId) -> Result<(), RemoteError> {
        self.await_restart(id).await
    }

    async fn isolate(&mut self, id: NodeId) -> Result<Instant, RemoteError> {
        let t0 = Instant::now();
        self.spec.fault(id, Fault::Isolate { node: id }).await?;
        Ok(t0)
    }

    /// Sends `Heal` to every node that is not down after a crash.
    async fn heal(&mut self) -> Result<(), RemoteError> {
        let mut first_error = None;
        let ids: Vec<NodeId> = self.spec.clients.keys().copied().collect();
        for id in ids.into_iter().filter(|id| !self.crashed.contains_key(id)) {
            if let Err(e) = self.spec.fault(id, Fault::Heal).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn transfer(&mut self, leader: NodeId, to: NodeId) -> Result<Instant, RemoteError> {
        let t0 = Instant::now();
        self.spec
            .fault(leader, Fault::TransferLeadership { to })
            .await?;
        Ok(t0)
    }

    /// Not collected: the counters live on the nodes' hosts.
    fn message_counts(&self) -> MessageCounts {
        MessageCounts::default()
    }

    /// Not measured: the nodes run on other hosts.
    fn node_process_cpu(&self) -> Option<crate::cpu::CpuTime> {
        None
    }

    /// Leaves the cluster as the next trial needs it: crashed nodes restarted by
    /// their supervisors, every fault healed; then drops the subscriptions.
    async fn shutdown(mut self) {
        let crashed: Vec<NodeId> = self.crashed.keys().copied().collect();
        for id in crashed {
            if let Err(e) = self.await_restart(id).await {
                self.spec.note(e.to_string());
            }
        }
        if let Err(e) = Cluster::heal(&mut self).await {
            self.spec
                .note(format!("healing the cluster after a trial: {e}"));
        }
        for sub in self.streams.values() {
            sub.task.abort();
        }
    }
}

impl Drop for RemoteCluster {
    fn drop(&mut self) {
        for sub in self.streams.values() {
            sub.task.abort();
        }
    }
}
