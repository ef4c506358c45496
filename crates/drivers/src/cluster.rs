//! In-process loopback clusters: N nodes as tokio tasks in one process, talking real
//! TCP on 127.0.0.1 (docs/DESIGN.md, cluster mode 1). Used by `cwb cluster`, the benches and
//! the runtime tests.
//!
//! Every listener is bound (on port 0 by default) before any node starts, so every node
//! knows every address from the start. A killed node's tasks are aborted (its sockets
//! reset, as a crash would); a restart rebinds the same ports and recovers from the
//! node's data directory.

use crate::measure::{
    cold_election_on, failover_on, ElectionSample, FailoverSample, Failure, MeasureError,
    ThroughputSample,
};
use protocols::{Event, Membership, NodeId, Protocol, Timing};
use runtime::client::Client;
use runtime::events::{EventBus, Stamped};
use runtime::host::{self, MessageCounts, NodeHandle, NodeOptions, RuntimeError};
use runtime::transport::Faults;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use storage::identity::Start;
use storage::FsyncPolicy;
use thiserror::Error;
use tokio::net::TcpListener;

/// How to build a local cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Voting nodes, ids 1..=voters.
    pub voters: u64,
    /// Observers, ids after the voters.
    pub observers: u64,
    /// Timers.
    pub timing: Timing,
    /// WAL policy.
    pub fsync: FsyncPolicy,
    /// Node N keeps its WAL in `base_dir/node-N`.
    pub base_dir: PathBuf,
    /// Seed for the nodes' random sources.
    pub seed: u64,
    /// Protocol narration into the log.
    pub narrate: bool,
    /// Bounds on every node's client connections.
    pub client_limits: runtime::host::ClientLimits,
    /// The cluster's identity and secret (a fresh one per cluster by default).
    pub key: runtime::transport::handshake::ClusterKey,
    /// TLS on both ports of every node (`None`, the default: plain TCP).
    pub tls: Option<runtime::tls::LoopbackTls>,
    /// The replicated state machine (the key-value store by default).
    pub state_machine: kv::StateMachineKind,
    /// The network model every message meets on top of loopback (`netmodel`: delay,
    /// loss, bandwidth, one-way cuts; `None`, the default: loopback as it is).
    pub net: Option<netmodel::NetModel>,
    /// Redis Cluster's WAIT-like option: a master answers a write once this many
    /// replicas have it (0, the default: asynchronously). Other protocols ignore it.
    pub wait_replicas: usize,
    /// Process clusters only: each node in a network namespace of its own, with its
    /// own address on a bridge ([`crate::netns`]; needs root). Off by default.
    pub namespaces: bool,
    /// The largest peer frame, in bytes (the transport's 16 MiB by default; in-process
    /// clusters only).
    pub max_frame: usize,
    /// In-process clusters only: node `i` (in id order) starts `i * start_gap` after the
    /// first (zero, the default: all together), as the simulator's Figure 16 trial
    /// staggers its nodes by a heartbeat interval. Every port is bound before the first
    /// node starts, so earlier nodes' connections wait for the later ones.
    pub start_gap: Duration,
    /// In-process clusters only: extra delays per message kind in the fault filter from
    /// before the first node starts ([`Faults::set_kind_delay`]; the voters' disk write
    /// of the Figure 16 trial). None by default.
    pub kind_delays: Vec<netmodel::KindDelay>,
    /// In-process clusters only: the event bus keeps this many of the latest
    /// events and lets older ones go ([`EventBus::keeping`]), for a cluster that runs
    /// as long as someone watches it (`cwb cluster`, the web page); `None`, the
    /// default: every event, which the measures read back.
    pub keep_events: Option<usize>,
}

impl ClusterOptions {
    /// `n` voters with default timing and `fsync = batch`, data under `base_dir`.
    pub fn new(n: u64, base_dir: PathBuf) -> ClusterOptions {
        ClusterOptions {
            voters: n,
            observers: 0,
            timing: Timing::default(),
            fsync: FsyncPolicy::Batch,
            base_dir,
            seed: 0,
            narrate: false,
            client_limits: Default::default(),
            // Without randomness the cluster still runs, unprotected, as an unnamed one.
            key: runtime::transport::handshake::ClusterKey::generate().unwrap_or_default(),
            tls: None,
            state_machine: kv::StateMachineKind::Kv,
            net: None,
            wait_replicas: 0,
            namespaces: false,
            max_frame: runtime::transport::DEFAULT_MAX_FRAME,
            start_gap: Duration::ZERO,
            kind_delays: Vec::new(),
            keep_events: None,
        }
    }
}

/// Why a cluster operation failed.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// A node failed to start.
    #[error(transparent)]
    Node(#[from] RuntimeError),
    /// A port could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// No such node.
    #[error("node {0} is not in the cluster")]
    UnknownNode(NodeId),
    /// A leadership transfer request did not reach node `id`.
    #[error("node {id}: transfer request: {source}")]
    Transfer {
        /// The node asked.
        id: NodeId,
        /// Why.
        source: runtime::client::ClientError,
    },
}

/// A running in-process cluster of protocol `P`.
pub struct LocalCluster<P: Protocol> {
    opts: ClusterOptions,
    membership: Membership,
    peers: BTreeMap<NodeId, SocketAddr>,
    clients: BTreeMap<NodeId, SocketAddr>,
    handles: BTreeMap<NodeId, NodeHandle>,
    incarnations: BTreeMap<NodeId, u64>,
    faults: Faults,
    bus: EventBus,
    started: Instant,
    /// How nodes are started: [`host::spawn`], or [`host::spawn_viewed`] for a live
    /// display ([`LocalCluster::start_viewed`]).
    spawn: Spawn,
    _protocol: PhantomData<P>,
}

/// [`host::spawn`]'s signature.
type Spawn = fn(
    runtime::host::NodeOptions,
    TcpListener,
    TcpListener,
    Faults,
    EventBus,
    u64,
) -> Result<NodeHandle, RuntimeError>;

async fn bind(addr: SocketAddr) -> Result<TcpListener, ClusterError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ClusterError::Bind { addr, source })
}

/// Binds `addr` again after a kill: the killed node's aborted tasks release their
/// listeners asynchronously, so retry briefly while the port is still taken.
async fn rebind(addr: SocketAddr) -> Result<TcpListener, ClusterError> {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 500 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(source) => return Err(ClusterError::Bind { addr, source }),
        }
    }
}

impl<P: Protocol> LocalCluster<P> {
    /// Binds every port, then starts every node. `started()` is the instant just before
    /// the first node starts: the trigger of a cold-start election.
    pub async fn start(opts: ClusterOptions) -> Result<LocalCluster<P>, ClusterError> {
        LocalCluster::start_with(opts, host::spawn::<P>).await
    }

    /// [`LocalCluster::start`], every node keeping a view for live displays
    /// ([`NodeHandle::view`]: log tail, vote, timers, messages per peer).
    pub async fn start_viewed(opts: ClusterOptions) -> Result<LocalCluster<P>, ClusterError>
    where
        P: protocols::Describe,
    {
        LocalCluster::start_with(opts, host::spawn_viewed::<P>).await
    }

    async fn start_with(
        opts: ClusterOptions,
        spawn: Spawn,
    ) -> Result<LocalCluster<P>, ClusterError> {
        let membership = Membership::new(
            1..=opts.voters,
            opts.voters + 1..=opts.voters + opts.observers,
        );
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut listeners = BTreeMap::new();
        let (mut peers, mut clients) = (BTreeMap::new(), BTreeMap::new());
        for id in membership.all() {
            let p = bind(any).await?;
            let c = bind(any).await?;
            let io = |source| ClusterError::Bind { addr: any, source };
            peers.insert(id, p.local_addr().map_err(io)?);
            clients.insert(id, c.local_addr().map_err(io)?);
            listeners.insert(id, (p, c));
        }
        let faults = match &opts.net {
            Some(model) => {
                let f = Faults::with_seed(opts.seed);
                f.set_network(Some(model.clone()));
                f
            }
            None => Faults::default(),
        };
        for rule in &opts.kind_delays {
            faults.set_kind_delay(rule);
        }
        let gap = opts.start_gap;
        let bus = opts
            .keep_events
            .map_or_else(EventBus::new, EventBus::keeping);
        let mut cluster = LocalCluster {
            opts,
            membership,
            peers,
            clients,
            handles: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            faults,
            bus,
            started: Instant::now(),
            spawn,
            _protocol: PhantomData,
        };
        for (i, (id, (p, c))) in listeners.into_iter().enumerate() {
            if i > 0 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            cluster.spawn_node(id, p, c)?;
        }
        Ok(cluster)
    }

    /// Options for node `id`; its first start in this cluster bootstraps its directory.
    fn options_for(&self, id: NodeId) -> NodeOptions {
        let start = if self.incarnations.get(&id).is_some_and(|&i| i > 1) {
            Start::Rejoin
        } else {
            Start::Bootstrap
        };
        NodeOptions {
            id,
            membership: self.membership.clone(),
            timing: self.opts.timing.clone(),
            fsync: self.opts.fsync,
            data_dir: self.opts.base_dir.join(format!("node-{id}")),
            seed: self.opts.seed,
            narrate: self.opts.narrate,
            peers: self.peers.clone(),
            clients: self.clients.clone(),
            client_limits: self.opts.client_limits,
            key: self.opts.key.clone(),
            tls: self.opts.tls.as_ref().map(|t| t.node.clone()),
            start,
            state_machine: self.opts.state_machine,
            wait_replicas: self.opts.wait_replicas,
            max_frame: self.opts.max_frame,
            // An in-process node cannot end this process: it refuses a crash command.
            exit: None,
        }
    }

    fn spawn_node(
        &mut self,
        id: NodeId,
        p: TcpListener,
        c: TcpListener,
    ) -> Result<(), ClusterError> {
        let incarnation = self.incarnations.get(&id).map_or(1, |i| i + 1);
        self.incarnations.insert(id, incarnation);
        let handle = (self.spawn)(
            self.options_for(id),
            p,
            c,
            self.faults.clone(),
            self.bus.clone(),
            incarnation,
        )?;
        self.handles.insert(id, handle);
        Ok(())
    }

    /// The instant just before the nodes were started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Every member.
    pub fn ids(&self) -> Vec<NodeId> {
        self.membership.all().collect()
    }

    /// The membership.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Nodes currently running.
    pub fn running(&self) -> Vec<NodeId> {
        self.handles.keys().copied().collect()
    }

    /// Every node's client address.
    pub fn client_addrs(&self) -> &BTreeMap<NodeId, SocketAddr> {
        &self.clients
    }

    /// Every node's peer address.
    pub fn peer_addrs(&self) -> &BTreeMap<NodeId, SocketAddr> {
        &self.peers
    }

    /// A client of this cluster.
    pub fn client(&self) -> Client {
        Client::new(self.clients.clone()).with_tls(self.client_tls())
    }

    /// TLS to the client ports, if the cluster runs with it.
    pub fn client_tls(&self) -> Option<runtime::tls::ClientTls> {
        self.opts.tls.as_ref().map(|t| t.client.clone())
    }

    /// The event bus every node reports to.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// The shared fault filter.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// A running node's handle.
    pub fn node(&self, id: NodeId) -> Option<&NodeHandle> {
        self.handles.get(&id)
    }

    /// Kills node `id` (crash: tasks aborted, sockets reset). Returns the instant the
    /// kill was issued.
    pub async fn kill(&mut self, id: NodeId) -> Result<Instant, ClusterError> {
        let handle = self
            .handles
            .remove(&id)
            .ok_or(ClusterError::UnknownNode(id))?;
        let t0 = Instant::now();
        handle.kill().await;
        Ok(t0)
    }

    /// Restarts a killed node on its old ports, from its data directory.
    pub async fn restart(&mut self, id: NodeId) -> Result<(), ClusterError> {
        if self.handles.contains_key(&id) {
            return Ok(());
        }
        let (Some(&pa), Some(&ca)) = (self.peers.get(&id), self.clients.get(&id)) else {
            return Err(ClusterError::UnknownNode(id));
        };
        let p = rebind(pa).await?;
        let c = rebind(ca).await?;
        self.spawn_node(id, p, c)
    }

    /// Silently cuts node `id` off (its sockets stay up). Returns the instant.
    pub fn isolate(&self, id: NodeId) -> Instant {
        self.faults.isolate(id);
        Instant::now()
    }

    /// Removes every injected fault.
    pub fn heal(&self) {
        self.faults.heal();
    }

    /// Asks node `leader` to hand its leadership to `to` (a planned failover), through
    /// its client port with the cluster's secret, as `cwb transfer` does; returns the
    /// instant the request was issued. A node that does not lead ignores it.
    pub fn transfer(
        &self,
        leader: NodeId,
        to: NodeId,
    ) -> impl std::future::Future<Output = Result<Instant, ClusterError>> + Send + 'static {
        // What the request needs, taken now: the future holds no reference to the
        // cluster (which is not `Sync`).
        let addr = self.clients.get(&leader).copied();
        let tls = self.client_tls();
        let key = self.opts.key.clone();
        async move {
            let addr = addr.ok_or(ClusterError::UnknownNode(leader))?;
            let t0 = Instant::now();
            runtime::client::fault_with(
                addr,
                tls.as_ref(),
                leader,
                &key,
                runtime::client::Fault::TransferLeadership { to },
                std::time::Duration::from_secs(2),
            )
            .await
            .map_err(|source| ClusterError::Transfer { id: leader, source })?;
            Ok(t0)
        }
    }

    /// Waits for a leader to become ready after event position `cursor`, other than
    /// `except`, in a term above `after_term`.
    pub async fn wait_ready(
        &self,
        cursor: usize,
        except: Option<NodeId>,
        after_term: u64,
        timeout: Duration,
    ) -> Option<Stamped> {
        self.bus
            .wait_for(cursor, timeout, |s| {
                Some(s.node) != except
                    && matches!(s.event, Event::LeaderReady { term } if term > after_term)
            })
            .await
    }

    /// The leader among running nodes, per their latest status: (id, term).
    pub fn leader(&self) -> Option<(NodeId, u64)> {
        self.handles
            .values()
            .filter_map(|h| h.status())
            .filter(|s| s.status.role.is_leader())
            .max_by_key(|s| s.status.term)
            .map(|s| (s.id, s.status.term))
    }

    /// Message counts summed over running nodes.
    pub fn message_counts(&self) -> MessageCounts {
        self.message_counts_if_complete().0
    }

    /// Message counts summed over running nodes, and whether every node has shared
    /// all it has sent until now.
    pub fn message_counts_if_complete(&self) -> (MessageCounts, bool) {
        let mut total = MessageCounts::default();
        let mut complete = true;
        for h in self.handles.values() {
            let (counts, shared_all) = h.message_counts_if_complete();
            total.add(&counts);
            complete &= shared_all;
        }
        (total, complete)
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        let ids: Vec<NodeId> = self.handles.keys().copied().collect();
        for id in ids {
            let _ = self.kill(id).await;
        }
    }
}

/// The measures ([`crate::measure`]) run on in-process clusters through this.
impl<P: Protocol> crate::measure::Cluster for LocalCluster<P> {
    type Error = ClusterError;

    fn started(&self) -> Instant {
        self.started
    }

    fn bus(&self) -> &EventBus {
        &self.bus
    }

    fn client_addrs(&self) -> &BTreeMap<NodeId, SocketAddr> {
        &self.clients
    }

    fn client_tls(&self) -> Option<runtime::tls::ClientTls> {
        LocalCluster::client_tls(self)
    }

    async fn kill(&mut self, id: NodeId) -> Result<Instant, ClusterError> {
        LocalCluster::kill(self, id).await
    }

    async fn restart(&mut self, id: NodeId) -> Result<(), ClusterError> {
        LocalCluster::restart(self, id).await
    }

    async fn isolate(&mut self, id: NodeId) -> Result<Instant, ClusterError> {
        Ok(LocalCluster::isolate(self, id))
    }

    async fn heal(&mut self) -> Result<(), ClusterError> {
        LocalCluster::heal(self);
        Ok(())
    }

    async fn transfer(&mut self, leader: NodeId, to: NodeId) -> Result<Instant, ClusterError> {
        LocalCluster::transfer(self, leader, to).await
    }

    fn message_counts(&self) -> MessageCounts {
        LocalCluster::message_counts(self)
    }

    fn message_counts_if_complete(&self) -> (MessageCounts, bool) {
        LocalCluster::message_counts_if_complete(self)
    }

    fn slowest_one_way(&self) -> Duration {
        let nodes: Vec<NodeId> = self.peers.keys().copied().collect();
        self.opts
            .net
            .as_ref()
            .map_or(Duration::ZERO, |net| net.slowest_one_way(&nodes))
    }

    async fn shutdown(self) {
        LocalCluster::shutdown(self).await
    }
}

impl From<ClusterError> for MeasureError {
    fn from(e: ClusterError) -> MeasureError {
        MeasureError::Cluster(Box::new(e))
    }
}

/// Starts an in-process cluster, waits for its first ready leader, stops it.
pub async fn cold_election<P: Protocol>(
    opts: ClusterOptions,
    timeout: Duration,
) -> Result<ElectionSample, MeasureError> {
    let cluster = LocalCluster::<P>::start(opts).await?;
    let result = cold_election_on(&cluster, timeout).await;
    crate::measure::Cluster::shutdown(cluster).await;
    result
}

/// Starts an in-process cluster, keeps one client writing, fails the leader, and
/// measures until the new leader acknowledges a write.
pub async fn failover<P: Protocol>(
    opts: ClusterOptions,
    failure: Failure,
    timeout: Duration,
) -> Result<FailoverSample, MeasureError> {
    let mut cluster = LocalCluster::<P>::start(opts).await?;
    let result = failover_on(&mut cluster, failure, timeout).await;
    crate::measure::Cluster::shutdown(cluster).await;
    result
}

/// Starts an in-process cluster, waits for a ready leader (Redis Cluster: every
/// master), runs the closed-loop workload (Redis Cluster: clients routed by slot).
pub async fn throughput<P: Protocol>(
    opts: ClusterOptions,
    workload: &crate::workload::Workload,
    timeout: Duration,
) -> Result<ThroughputSample, MeasureError> {
    let masters = crate::loaded::is_redis::<P>().then(|| crate::loaded::redis_masters(opts.voters));
    let cluster = LocalCluster::<P>::start(opts).await?;
    let result =
        crate::measure::throughput_routed_on(&cluster, masters.as_deref(), workload, timeout).await;
    crate::measure::Cluster::shutdown(cluster).await;
    result
}

/// Starts an in-process cluster (for Redis Cluster with narration on, which its
/// failover steps are read from), fails the node serving the first writers' keys under
/// a load of writers, and measures the failover and the acknowledged writes it lost
/// ([`crate::loaded`]).
pub async fn failover_under_load<P: Protocol>(
    mut opts: ClusterOptions,
    failure: Failure,
    timeout: Duration,
) -> Result<crate::loaded::LoadedSample, MeasureError> {
    let redis = crate::loaded::is_redis::<P>();
    opts.narrate |= redis;
    let plan =
        crate::loaded::LoadPlan::new(redis.then(|| crate::loaded::redis_masters(opts.voters)));
    let mut cluster = LocalCluster::<P>::start(opts).await?;
    let result = crate::loaded::failover_under_load(&mut cluster, failure, &plan, timeout).await;
    crate::measure::Cluster::shutdown(cluster).await;
    result
}
