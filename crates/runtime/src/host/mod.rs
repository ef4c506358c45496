//! Hosts one protocol node on tokio: the node's event loop, its timers, its transport,
//! its write-ahead log and its client port.
//!
//! The loop follows etcd-io/raft's Ready cycle. It waits for one input (a peer
//! message, a client command, a due timer, a durability report of its WAL writer), then
//! drains whatever else is already queued (up to [`MAX_BATCH`] rounds, each taking at
//! most one peer message, one client message and one WAL report), stepping the
//! protocol for each and collecting the effects, and due timers. It ends the batch
//! with `Protocol::end_of_batch` (etcd's `Ready` boundary: the protocol sends what it
//! batched over those inputs, e.g. Raft's AppendEntries, ZAB's ACK/COMMIT, Paxos's
//! Accepts). Then it passes the effects through the
//! [`protocols::DurabilityGate`], the one implementation of the effect-ordering
//! contract that the simulator and the protocols' test pumps use too, and carries out
//! what it releases:
//! 1. every `Persist` record of the batch is encoded and handed to the log as one job;
//!    under `fsync = batch`/`always` a writer thread appends and syncs it while the loop
//!    keeps stepping new inputs (`wal_writer`), coalescing every job queued meanwhile
//!    behind one fdatasync (group commit across loop iterations); under `never` the
//!    loop appends and `write`s it itself;
//! 2. timers are (re)armed at once (they are local and observable by nobody);
//! 3. applies (committed by durable copies on a quorum) are carried out at once, and
//!    so are a leader's sends ahead of its log (`Effect::SendAhead`, Raft thesis
//!    §10.2.1) unless an earlier send to the same peer still waits; every other effect
//!    (sends, client rejections, events, durability signals) is carried out in the
//!    protocol's order, but only once every job submitted up to the end of its batch
//!    is durable; until then it waits in a FIFO. A durability signal that comes due
//!    is stepped into the protocol as `Input::Durable` before the next inputs, as a
//!    batch of its own;
//! 4. the iteration's sends are handed to the transport as one batch per peer, and
//!    its client answers as one batch per client connection.
//!
//! This keeps the protocols' one ordering rule exactly: a record is durable before any
//! send, reject or signal that followed it (the exempt effects are the protocol's
//! responsibility, see `protocols::effect`). A crash loses the not-yet-durable records
//! together with every effect waiting for them, which is indistinguishable from the node
//! crashing before it received the inputs that produced them (inputs the network may
//! lose anyway). The protocol's in-memory state runs ahead of its durable state only
//! inside the node, where nobody can observe it.
//!
//! A storage failure stops the node (it cannot keep its promises any more); nothing a
//! peer or a client sends can stop it.

mod client_port;
mod counts;
mod effects;
mod handle;
mod snapshots;
pub(crate) mod timer;
pub mod view;
mod wal_writer;

use crate::client::{ClientReply, ClientResponse, NodeStatus};
use crate::events::EventBus;
use crate::transport::handshake::ClusterKey;
use crate::transport::{Faults, Transport, TransportConfig, TransportError, TransportEvent};
use kv::{StateMachine, StateMachineKind};
use protocols::{
    Command, DetRng, DurabilityGate, Effect, Input, Membership, NodeId, Protocol, RecoveryError,
    RequestId, Setup, Time, Timing,
};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use storage::identity::Start;
use storage::{
    decode_record, FsyncPolicy, StorageError, Wal, WalOptions, WalStats, PREALLOCATE_BYTES,
};
use thiserror::Error;
use timer::PreciseTimer;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use view::{Reader, Viewing};
use wal_writer::{WalReport, WalWriter};

pub use client_port::{ClientLimits, ClientMsg, ProcessExit, ReplyTo, STREAM_BATCHES_QUEUED};
pub use counts::MessageCounts;
pub use handle::NodeHandle;

/// Drain rounds per loop iteration at most: each round takes at most one item from
/// each source (peer, client, WAL writer), so an iteration steps at most about three
/// times this many inputs, and one WAL job covers all their records.
pub const MAX_BATCH: usize = 1024;

/// Everything one node needs to run.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// This node.
    pub id: NodeId,
    /// Voters and observers.
    pub membership: Membership,
    /// Timers.
    pub timing: Timing,
    /// WAL durability.
    pub fsync: FsyncPolicy,
    /// This node's data directory (its WAL).
    pub data_dir: PathBuf,
    /// Seed of the node's random source (mixed with its id and incarnation).
    pub seed: u64,
    /// Protocol narration into the log (`tracing` at info level).
    pub narrate: bool,
    /// Every node's peer address.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Every node's client address (for leader hints).
    pub clients: BTreeMap<NodeId, SocketAddr>,
    /// Bounds on client connections.
    pub client_limits: ClientLimits,
    /// The cluster's identity and secret, which every peer connection proves.
    pub key: ClusterKey,
    /// TLS on both ports (`None`: plain TCP).
    pub tls: Option<crate::tls::NodeTls>,
    /// The first start of a new cluster (`cwb node --bootstrap`): only then may the
    /// node create an empty data directory; otherwise an empty one is refused
    /// ([`storage::StorageError::EmptyDirectory`]).
    pub start: Start,
    /// The replicated state machine (`state_machine` in `cluster.toml`).
    pub state_machine: StateMachineKind,
    /// Redis Cluster's WAIT-like option ([`protocols::Protocol::acknowledge_after_replicas`]):
    /// a master answers a write once this many replicas have it; 0, the default:
    /// asynchronously. Other protocols ignore it.
    pub wait_replicas: usize,
    /// The largest peer frame sent or accepted, in bytes
    /// ([`crate::transport::DEFAULT_MAX_FRAME`] in every normal run; tests lower it).
    pub max_frame: usize,
    /// How the node's process ends itself on a proved `Fault::Crash`: set only by a
    /// program whose process is this one node (`cwb node`); `None` refuses the crash.
    pub exit: Option<ProcessExit>,
}

/// Why a node could not start or had to stop.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// The WAL failed.
    #[error("node {node}: storage: {source}")]
    Storage {
        /// The node.
        node: NodeId,
        /// The failure.
        source: StorageError,
    },
    /// Persisted records did not rebuild a node.
    #[error("node {node}: recovery: {source}")]
    Recovery {
        /// The node.
        node: NodeId,
        /// The failure.
        source: RecoveryError,
    },
    /// A record in the WAL is not one of this protocol's.
    #[error("node {node}: record {index} in {dir} is not a {protocol} record: {source}")]
    ForeignRecord {
        /// The node.
        node: NodeId,
        /// Its position.
        index: usize,
        /// The WAL directory.
        dir: PathBuf,
        /// The protocol expected.
        protocol: &'static str,
        /// The decode failure.
        source: StorageError,
    },
    /// The transport did not start.
    #[error("node {node}: transport: {source}")]
    Transport {
        /// The node.
        node: NodeId,
        /// The failure.
        source: TransportError,
    },
    /// A socket failed.
    #[error("node {node}: {source}")]
    Io {
        /// The node.
        node: NodeId,
        /// The failure.
        source: std::io::Error,
    },
}

/// The process-wide origin of protocol [`Time`].
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn now() -> Time {
    time_at(Instant::now())
}

/// Protocol [`Time`] at `at`: lets one clock read serve both a protocol step and the
/// harness's own bookkeeping (the clock is read once per client command, not twice).
fn time_at(at: Instant) -> Time {
    Time(at.saturating_duration_since(origin()).as_nanos() as u64)
}

/// Starts node `opts.id` running protocol `P` on the given (already bound) listeners.
/// Recovers its state from its WAL first; a corrupt WAL is an error here.
pub fn spawn<P: Protocol>(
    opts: NodeOptions,
    peer_listener: TcpListener,
    client_listener: TcpListener,
    faults: Faults,
    bus: EventBus,
    incarnation: u64,
) -> Result<NodeHandle, RuntimeError> {
    spawn_with::<P>(
        opts,
        peer_listener,
        client_listener,
        faults,
        bus,
        incarnation,
        None,
    )
}

/// [`spawn`], and the node keeps a [`view::NodeView`] for live displays
/// ([`NodeHandle::view`]): its log tail, vote, timers and messages per peer.
pub fn spawn_viewed<P: Protocol + protocols::Describe>(
    opts: NodeOptions,
    peer_listener: TcpListener,
    client_listener: TcpListener,
    faults: Faults,
    bus: EventBus,
    incarnation: u64,
) -> Result<NodeHandle, RuntimeError> {
    spawn_with(
        opts,
        peer_listener,
        client_listener,
        faults,
        bus,
        incarnation,
        Some(view::reader::<P>()),
    )
}

fn spawn_with<P: Protocol>(
    opts: NodeOptions,
    peer_listener: TcpListener,
    client_listener: TcpListener,
    faults: Faults,
    bus: EventBus,
    incarnation: u64,
    reader: Option<Reader<P>>,
) -> Result<NodeHandle, RuntimeError> {
    let id = opts.id;
    let wal_options = WalOptions {
        // fdatasync of appends inside zero-filled room skips the file-size journal
        // commit (measured on this kind of disk: ~150 us instead of ~205 us).
        preallocate_bytes: if opts.fsync == FsyncPolicy::Never {
            0
        } else {
            PREALLOCATE_BYTES
        },
        ..WalOptions::default()
    };
    let (wal, payloads) = Wal::open_with(&opts.data_dir, opts.fsync, wal_options)
        .map_err(|source| RuntimeError::Storage { node: id, source })?;
    // With the directory locked: it must be this node's, of this cluster.
    storage::identity::claim(
        &opts.data_dir,
        &crate::transport::handshake::hex(&opts.key.id),
        id,
        opts.start,
        !payloads.is_empty(),
    )
    .map_err(|source| RuntimeError::Storage { node: id, source })?;
    let mut records = Vec::with_capacity(payloads.len());
    for (index, p) in payloads.iter().enumerate() {
        let r: P::Record = decode_record(p).map_err(|source| RuntimeError::ForeignRecord {
            node: id,
            index,
            dir: opts.data_dir.clone(),
            protocol: P::NAME,
            source,
        })?;
        records.push(r);
    }
    let setup = Setup {
        id,
        membership: opts.membership.clone(),
        timing: opts.timing.clone(),
        rng: DetRng::for_node(opts.seed ^ incarnation.wrapping_mul(0x9E37_79B9), id),
        narrate: opts.narrate,
    };
    let mut proto =
        P::recover(setup, records).map_err(|source| RuntimeError::Recovery { node: id, source })?;
    proto.route_by_key(kv::command_key);
    let mut kv = znode::new_state_machine(opts.state_machine);
    snapshots::restore(id, &opts.data_dir, &mut proto, &mut *kv)?;
    if opts.wait_replicas > 0 {
        proto.acknowledge_after_replicas(opts.wait_replicas);
    }
    let peer_addr = peer_listener
        .local_addr()
        .map_err(|source| RuntimeError::Io { node: id, source })?;
    let client_addr = client_listener
        .local_addr()
        .map_err(|source| RuntimeError::Io { node: id, source })?;
    let (log, wal_released) = if opts.fsync == FsyncPolicy::Never {
        (Log::Inline(wal), None)
    } else {
        let (writer, reports, released) =
            WalWriter::start(id, wal).map_err(|source| RuntimeError::Io { node: id, source })?;
        (Log::Threaded { writer, reports }, Some(released))
    };
    let (peer_tx, peer_rx) = mpsc::unbounded_channel();
    let mut transport = Transport::start(
        TransportConfig {
            key: opts.key.clone(),
            tls: opts.tls.clone(),
            max_frame: opts.max_frame,
            ..TransportConfig::new(id, opts.peers.clone())
        },
        peer_listener,
        faults.clone(),
        peer_tx,
    )
    .map_err(|source| RuntimeError::Transport { node: id, source })?;
    // The fault filter's kind rules (drop AppendEntries to one follower, delay vote
    // answers) name the protocol's message kinds, as the simulator's do.
    transport.set_message_kind(P::message_kind);
    let (client_tx, client_rx) = mpsc::channel(65_536);
    let client_io = Arc::new(crate::io_count::IoCounters::default());
    let clients = tokio::spawn(client_port::serve(
        id,
        client_listener,
        client_tx,
        faults,
        opts.client_limits,
        opts.key.clone(),
        opts.tls.clone(),
        client_io.clone(),
        client_port::PortControl {
            bus: bus.clone(),
            exit: opts.exit.clone(),
            incarnation,
        },
    ));
    let counts = Arc::new(counts::SharedCounts::new());
    let status = Arc::new(Mutex::new(None));
    let viewing = reader.map(Viewing::new);
    let view = viewing.as_ref().map(|v| v.shared.clone());
    let node = NodeLoop::<P> {
        id,
        proto,
        log,
        gate: DurabilityGate::new(),
        records: Vec::new(),
        ready: Vec::new(),
        record_buf: Vec::new(),
        wal_stats: WalStats::default(),
        transport,
        peer_rx,
        client_rx,
        timers: Vec::new(),
        wake: PreciseTimer::new(),
        kv,
        state_machine: opts.state_machine,
        snapshots: snapshots::Snapshots::new(
            opts.data_dir.clone(),
            opts.fsync != FsyncPolicy::Never,
        ),
        watchers: FxHashMap::default(),
        pending: FxHashMap::default(),
        replies: HashMap::new(),
        next_seq: 0,
        bus,
        clients: opts.clients.clone(),
        counts: counts.clone(),
        local_counts: MessageCounts::default(),
        apply_clock_ms: None,
        client_io,
        status: status.clone(),
        last_publish: Instant::now() - PUBLISH_EVERY,
        unpublished: false,
        sent_unshared: false,
        reads: opts.timing.reads,
        viewing,
    };
    let main = tokio::spawn(node.run());
    Ok(NodeHandle {
        id,
        peer_addr,
        client_addr,
        main,
        clients,
        counts,
        status,
        view,
        wal_released,
    })
}

/// Where the node's records go.
enum Log {
    /// Appended and handed to the OS inside the loop (`fsync = never`: a `write` is
    /// cheaper than a hop to another thread, and there is no fsync to wait for).
    Inline(Wal),
    /// Appended and synced by a writer thread while the loop keeps stepping.
    Threaded {
        /// The thread's handle.
        writer: WalWriter,
        /// Its durability reports.
        reports: mpsc::UnboundedReceiver<WalReport>,
    },
}

/// One effect of protocol `P`.
type EffectOf<P> =
    Effect<<P as Protocol>::Message, <P as Protocol>::Record, <P as Protocol>::Timer>;

/// A client waiting for its command to be applied.
struct Waiting {
    request: u64,
    /// The command as proposed. Request numbers restart from 1 with each incarnation
    /// of the node, so a command an earlier incarnation proposed can commit now under
    /// the same number: an applied command answers this request only if its bytes are
    /// these (the same bytes are the same client request, whose answer is the same).
    command: bytes::Bytes,
    reply_to: ReplyTo,
    since: Instant,
    /// A read sent as `Input::Read` (the run's read path is not the log): its key,
    /// read from the store when the protocol serves it (`Effect::ServeRead`).
    read_key: Option<bytes::Bytes>,
}

struct NodeLoop<P: Protocol> {
    id: NodeId,
    proto: P,
    log: Log,
    /// The effect-ordering contract: holds effects until their records are durable;
    /// each released effect carries the instant its batch was produced.
    gate: DurabilityGate<P::Message, P::Record, P::Timer, Instant>,
    /// A batch's records on their way to the log (kept to reuse its allocation).
    records: Vec<P::Record>,
    /// Effects the gate released, on their way out (kept to reuse its allocation).
    ready: Vec<(Instant, EffectOf<P>)>,
    /// An inline log's record encoding buffer (kept to reuse its allocation).
    record_buf: Vec<u8>,
    /// The log's counters as last reported.
    wal_stats: WalStats,
    transport: Transport<P::Message>,
    peer_rx: mpsc::UnboundedReceiver<TransportEvent<P::Message>>,
    client_rx: mpsc::Receiver<ClientMsg>,
    /// Armed timers and their deadlines (a protocol has a handful: a linear scan beats
    /// hashing).
    timers: Vec<ArmedTimer<P::Timer>>,
    /// Wakes the loop at the earliest of them.
    wake: PreciseTimer,
    /// The replicated state machine (the key-value store or the znode tree).
    kv: Box<dyn StateMachine>,
    /// Which state machine `kv` is (a full resynchronisation starts a fresh one).
    state_machine: StateMachineKind,
    /// Snapshots of `kv` being written, and their files ([`snapshots`]).
    snapshots: snapshots::Snapshots,
    /// Where each client session's notifications go: the connection of its last
    /// command applied here (znode watches; unused by the key-value store).
    watchers: FxHashMap<u64, ReplyTo>,
    /// Answers collected this iteration, by client connection.
    replies: HashMap<
        u64,
        (
            mpsc::UnboundedSender<Vec<ClientResponse>>,
            Vec<ClientResponse>,
        ),
    >,
    /// Commands received here, by sequence number, until applied or rejected.
    pending: FxHashMap<u64, Waiting>,
    next_seq: u64,
    bus: EventBus,
    clients: BTreeMap<NodeId, SocketAddr>,
    counts: Arc<counts::SharedCounts>,
    local_counts: MessageCounts,
    /// The wall-clock millisecond handed to the state machine with every apply of the
    /// current batch of released effects: read once, at the batch's first apply, not
    /// once per command on every node (`None` until then).
    apply_clock_ms: Option<u64>,
    /// Socket reads and writes of the client port's connections.
    client_io: Arc<crate::io_count::IoCounters>,
    status: Arc<Mutex<Option<NodeStatus>>>,
    last_publish: Instant,
    /// Something changed since the last [`Self::publish`].
    unpublished: bool,
    /// A message was counted since the last [`Self::publish`] (the shared counts are
    /// marked incomplete until the next one).
    sent_unshared: bool,
    /// How reads are served (`Timing::reads`).
    reads: protocols::ReadPath,
    /// The live display's view of this node, if it keeps one ([`spawn_viewed`]).
    viewing: Option<Viewing<P>>,
}

/// A timer the protocol has set.
struct ArmedTimer<T> {
    timer: T,
    deadline: tokio::time::Instant,
    /// Set at least [`crate::events::TIMED_WAIT`] ahead: a wait whose lateness is
    /// recorded.
    timed: bool,
    /// How long ahead it was set (for live views).
    after: Duration,
}

/// How often counters and status are shared with the [`NodeHandle`]: a node's
/// [`NodeHandle::message_counts`] may lag what it has sent by up to this long.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(5);

/// Waiting clients are told to retry after this long (they have timed out themselves;
/// the answer also returns their connection's in-flight permit).
const PENDING_TTL: Duration = Duration::from_secs(60);

impl<P: Protocol> NodeLoop<P> {
    async fn run(mut self) -> Result<(), RuntimeError> {
        let mut out = Vec::with_capacity(256);
        self.proto.step(now(), Input::Start, &mut out);
        self.end_batch(&mut out)?;
        let mut last_sweep = Instant::now();
        loop {
            let deadline = self.timers.iter().map(|t| t.deadline).min();
            // One sleep: the next timer, or the moment to share what changed.
            let wake = deadline.into_iter().chain(self.publish_due()).min();
            tokio::select! {
                ev = self.peer_rx.recv() => match ev {
                    Some(ev) => self.on_transport(ev, &mut out),
                    None => return Ok(()),
                },
                msg = self.client_rx.recv() => match msg {
                    Some(msg) => self.on_client(msg, &mut out),
                    None => return Ok(()),
                },
                report = wal_report(&mut self.log) => self.on_wal_report(report)?,
                Some(done) = self.snapshots.done_rx.recv() => self.on_snapshot_done(done, &mut out),
                _ = self.wake.sleep_until(wake) => {}
            }
            // Drain what is already queued, alternating sources so neither starves.
            for _ in 0..MAX_BATCH {
                let mut got = false;
                if let Ok(ev) = self.peer_rx.try_recv() {
                    self.on_transport(ev, &mut out);
                    got = true;
                }
                if let Ok(msg) = self.client_rx.try_recv() {
                    self.on_client(msg, &mut out);
                    got = true;
                }
                if let Log::Threaded { reports, .. } = &mut self.log {
                    if let Ok(report) = reports.try_recv() {
                        self.on_wal_report(report)?;
                        got = true;
                    }
                }
                if !got {
                    break;
                }
            }
            self.fire_due_timers(&mut out);
            self.propose_own(&mut out);
            self.end_batch(&mut out)?;
            if last_sweep.elapsed() > Duration::from_secs(1) {
                last_sweep = Instant::now();
                let expired: Vec<u64> = self
                    .pending
                    .iter()
                    .filter(|(_, w)| w.since.elapsed() >= PENDING_TTL)
                    .map(|(&seq, _)| seq)
                    .collect();
                self.watchers.retain(|_, to| !to.tx.is_closed());
                for seq in expired {
                    if let Some(w) = self.pending.remove(&seq) {
                        w.reply_to.send(ClientResponse {
                            id: w.request,
                            reply: ClientReply::Retry(
                                "not committed in time; it may still commit".into(),
                            ),
                        });
                    }
                }
            }
        }
    }

    fn on_transport(
        &mut self,
        ev: TransportEvent<P::Message>,
        out: &mut Vec<Effect<P::Message, P::Record, P::Timer>>,
    ) {
        match ev {
            TransportEvent::Message { from, msg } => {
                self.proto.step(now(), Input::Message { from, msg }, out)
            }
            TransportEvent::PeerLost(peer) => self.proto.step(now(), Input::PeerLost(peer), out),
            TransportEvent::PeerConnected(_) => {}
        }
    }

    fn on_client(
        &mut self,
        msg: ClientMsg,
        out: &mut Vec<Effect<P::Message, P::Record, P::Timer>>,
    ) {
        match msg {
            ClientMsg::Command {
                request,
                command,
                reply_to,
            } => {
                self.next_seq += 1;
                let id = RequestId {
                    origin: self.id,
                    seq: self.next_seq,
                };
                let read_key = self.read_key(&command);
                let read = read_key.is_some();
                let at = Instant::now();
                self.pending.insert(
                    self.next_seq,
                    Waiting {
                        request,
                        command: command.clone(),
                        reply_to,
                        since: at,
                        read_key,
                    },
                );
                let command = Command { id, data: command };
                let input = if read {
                    Input::Read(command)
                } else {
                    Input::Client(command)
                };
                self.proto.step(time_at(at), input, out);
            }
            ClientMsg::Transfer { to } => {
                self.proto
                    .step(now(), Input::TransferLeadership { to }, out);
            }
            ClientMsg::Status { request, reply_to } => {
                let status = self.node_status();
                reply_to.send(ClientResponse {
                    id: request,
                    reply: ClientReply::Status(status),
                });
            }
        }
    }

    /// Proposes the commands the state machine asks for while this node leads (the
    /// znode tree's session expiries); they carry this node's request ids but nobody
    /// waits for their answers.
    fn propose_own(&mut self, out: &mut Vec<Effect<P::Message, P::Record, P::Timer>>) {
        let now = now();
        let leading = self.proto.status().role.is_leader();
        for data in self.kv.proposals(now.as_nanos() / 1_000_000, leading) {
            self.next_seq += 1;
            let id = RequestId {
                origin: self.id,
                seq: self.next_seq,
            };
            self.proto
                .step(now, Input::Client(Command { id, data }), out);
        }
    }

    /// The key of a read-only command, when the run's read path is not the log
    /// (`protocols::read`): such a read goes to the protocol as `Input::Read`.
    fn read_key(&self, command: &bytes::Bytes) -> Option<bytes::Bytes> {
        if self.reads == protocols::ReadPath::Log {
            return None;
        }
        match kv::KvCommand::decode_shared(command)?.op {
            kv::KvOp::Get { key } => Some(key),
            _ => None,
        }
    }

    fn node_status(&self) -> NodeStatus {
        NodeStatus {
            id: self.id,
            protocol: P::NAME.to_string(),
            status: self.proto.status(),
            applied: self.kv.applied(),
        }
    }

    /// Ends a batch: tells the protocol (which sends what it batched) and carries out
    /// the effects. A durability signal that came due meanwhile (an inline log syncs
    /// within the batch) is stepped back at once, as a batch of its own, so nothing owed
    /// to the protocol waits for the next input. This ends: a durability step asks for
    /// a new signal only for records persisted since, which only new inputs bring.
    fn end_batch(
        &mut self,
        out: &mut Vec<Effect<P::Message, P::Record, P::Timer>>,
    ) -> Result<(), RuntimeError> {
        loop {
            self.proto.end_of_batch(now(), out);
            self.execute(out)?;
            let Some(token) = self.gate.take_signal() else {
                return Ok(());
            };
            self.proto.step(now(), Input::Durable(token), out);
        }
    }

    /// Steps the inputs the node owes itself: a durability signal that came due, then
    /// every timer that is due.
    fn fire_due_timers(&mut self, out: &mut Vec<Effect<P::Message, P::Record, P::Timer>>) {
        if let Some(token) = self.gate.take_signal() {
            self.proto.step(now(), Input::Durable(token), out);
        }
        let now_i = tokio::time::Instant::now();
        while let Some(i) = self.timers.iter().position(|t| t.deadline <= now_i) {
            let t = self.timers.swap_remove(i);
            if t.timed {
                self.bus.record_timer_lateness(now_i - t.deadline);
            }
            self.proto.step(now(), Input::Timer(t.timer), out);
        }
    }
}

/// The next report of the WAL writer thread (never, for an inline log).
async fn wal_report(log: &mut Log) -> WalReport {
    match log {
        Log::Threaded { reports, .. } => match reports.recv().await {
            Some(report) => report,
            None => std::future::pending().await,
        },
        Log::Inline(_) => std::future::pending().await,
    }
}
