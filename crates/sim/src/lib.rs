//! The deterministic simulator: a virtual clock, a seeded random source and a faulty
//! network, driving the *same* protocol code that runs on the TCP runtime.
//!
//! Everything that happens is an entry in one time-ordered queue (message deliveries,
//! timer firings, scheduled faults and client commands); ties break by insertion order.
//! Given the same seed and the same schedule, a run is identical, which is what makes a
//! failing seed replayable (`cwb sim --protocol raft --seed N`).
//!
//! Durability is modelled as the runtime does it ([`DiskConfig`]), through the same
//! [`protocols::DurabilityGate`] the runtime uses. The records one step persists are
//! written at once and become durable one sync later (syncs finish in order, after a
//! random delay; zero by default, which makes every record durable within its step).
//! Until then the step's held effects wait: `Send`, `Reject`, `Event` and
//! `SignalWhenDurable`, which becomes an `Input::Durable` for the node once its sync is
//! done. `SendAhead` (unless an earlier send to the same peer waits) and `Apply` are
//! carried out at once. A crash throws away all volatile state *and every record not yet
//! durable*, with the effects waiting for it; a restart rebuilds the node with
//! [`Protocol::recover`] from its durable records, and rebuilds its state machine from
//! the `Apply` effects that follow.
//!
//! Faults are [`Action`]s: crashes and power failures (several nodes at one instant),
//! partitions, isolations, one-way cuts, dropped message kinds on one directed link, a
//! leader stranded in a minority with clients writing to it, and message loss;
//! [`chaos`] draws them at random ([`chaos::schedule`] has the mix).
//!
//! Safety is checked after every step by [`invariants::Checker`]: at most one leader per term,
//! and every node applies the same command at the same index (committed entries never
//! change). Protocol-specific invariants are checked by the caller through
//! [`Simulation::node`].

pub mod chaos;
mod clients;
pub mod failover;
mod faults;
mod host;
mod intercept;
pub mod invariants;
pub mod network;
mod run;
mod upcoming;

pub use faults::STRANDED_COMMANDS;
pub use intercept::{HeldMessage, InFlight};
pub use upcoming::{Fate, Upcoming};

use invariants::{Checker, Violation};
use kv::{StateMachine, StateMachineKind};
use lincheck::History;
use network::{NetConfig, Network};
use protocols::{
    DetRng, DurabilityGate, Effect, Event, Membership, NodeId, Protocol, RequestId, Time, Timing,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Duration;

/// Settings for one simulated run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Who is in the cluster.
    pub membership: Membership,
    /// Protocol timers.
    pub timing: Timing,
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Network behaviour.
    pub net: NetConfig,
    /// Ask protocols to narrate their decisions, and keep a readable trace.
    pub trace: bool,
    /// How long a node's log takes to make a write durable.
    pub disk: DiskConfig,
}

/// How the simulated disks behave: each sync takes a delay uniform in
/// `sync_min..=sync_max`, and a node's syncs finish in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DiskConfig {
    /// Shortest sync.
    pub sync_min: Duration,
    /// Longest sync; zero (the default) makes every write durable within its step.
    pub sync_max: Duration,
    /// A crash tears the writes not yet synced: half the time none of their bytes
    /// reached the disk, else a random prefix did (whole records, perhaps part of one),
    /// which recovery's scan cuts at the last intact record. Off, a crash loses every
    /// unsynced write (the scripted scenarios' clean story).
    pub tears: bool,
}

impl DiskConfig {
    /// Every sync takes exactly `sync`; a crash loses every unsynced write.
    pub fn fixed(sync: Duration) -> DiskConfig {
        DiskConfig {
            sync_min: sync,
            sync_max: sync,
            tears: false,
        }
    }
}

impl SimConfig {
    /// `n` voters with ids 1..=n, default timing and a clean network.
    pub fn voters(n: u64, seed: u64) -> SimConfig {
        SimConfig {
            membership: Membership::voters(1..=n),
            timing: Timing::default(),
            seed,
            net: NetConfig::default(),
            trace: false,
            disk: DiskConfig::default(),
        }
    }
}

/// Something scheduled to happen to the cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Start (or restart after a crash) a node from its durable records.
    Start(NodeId),
    /// Kill a node: volatile state lost, durable records kept.
    Crash(NodeId),
    /// A power failure: these nodes crash at the same instant, each losing its volatile
    /// state and the writes its disk had not synced (torn as [`DiskConfig::tears`]
    /// says); the nodes still up see their connections drop once all are down.
    PowerFailure(Vec<NodeId>),
    /// Split the network into groups.
    Partition(Vec<Vec<NodeId>>),
    /// Cut one node off from all others.
    Isolate(NodeId),
    /// Cut the links from every node of `from` to every node of `to` one way: those
    /// messages are lost while the ones the other way arrive (until [`Action::Heal`]).
    OneWay { from: Vec<NodeId>, to: Vec<NodeId> },
    /// Lose every message of one kind ([`Protocol::message_kind`], compared ignoring
    /// ASCII case) sent from `from` to `to`, until [`Action::StopDropKind`] or
    /// [`Action::Heal`]. `None` picks, when the action runs, one of the kinds sent on
    /// that link so far (nothing, if none was).
    DropKind {
        from: NodeId,
        to: NodeId,
        kind: Option<String>,
    },
    /// Stop dropping `kind` (every kind, if `None`) on the link from `from` to `to`.
    StopDropKind {
        from: NodeId,
        to: NodeId,
        kind: Option<String>,
    },
    /// Cut the current leader (the running node that leads the highest term; nothing
    /// happens without one) off with `minority - 1` other nodes picked at random, and
    /// send every third client command to it (at most [`STRANDED_COMMANDS`])
    /// until [`Action::Heal`]: a minority leader that keeps accepting writes it cannot
    /// commit.
    StrandLeader { minority: usize },
    /// Reconnect everything: partitions, one-way cuts and dropped kinds end, and client
    /// commands go where they are addressed again.
    Heal,
    /// Change the message-loss probability.
    SetLoss(f64),
    /// A client submits `data` to a node.
    Submit { node: NodeId, data: bytes::Bytes },
    /// Retrying client `client` (a number from 0) starts `op` at `node`, unless it has
    /// an operation outstanding ([`clients`](crate::clients) has how it retries).
    Invoke {
        client: usize,
        node: NodeId,
        op: kv::KvOp,
    },
    /// Retrying client `client`'s attempt `attempt` is due for a retry.
    Retry { client: usize, attempt: u32 },
    /// Give a node a disk of its own ([`Simulation::set_disk`]).
    SetDisk { node: NodeId, disk: DiskConfig },
    /// Ask the current leader (the running node that leads the highest term; nothing
    /// happens without one) to hand its leadership to `to`: a planned failover
    /// (`protocols::Input::TransferLeadership`).
    TransferLeadership { to: NodeId },
}

impl std::fmt::Display for Action {
    /// The action in words, as traces show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |ids: &[NodeId]| {
            ids.iter()
                .map(|id| format!("n{id}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let kind = |k: &Option<String>| k.clone().unwrap_or_else(|| "one kind".into());
        match self {
            Action::Start(id) => write!(f, "start n{id}"),
            Action::Crash(id) => write!(f, "crash n{id}"),
            Action::PowerFailure(ids) => write!(f, "power failure of {}", list(ids)),
            Action::Partition(groups) => {
                let groups: Vec<String> =
                    groups.iter().map(|g| format!("{{{}}}", list(g))).collect();
                write!(f, "partition {}", groups.join(" | "))
            }
            Action::Isolate(id) => write!(f, "isolate n{id}"),
            Action::OneWay { from, to } => {
                write!(
                    f,
                    "cut messages from {} to {} (one way)",
                    list(from),
                    list(to)
                )
            }
            Action::DropKind { from, to, kind: k } => {
                write!(f, "drop {} on n{from} -> n{to}", kind(k))
            }
            Action::StopDropKind { from, to, kind: k } => {
                write!(f, "stop dropping {} on n{from} -> n{to}", kind(k))
            }
            Action::StrandLeader { minority } => {
                write!(f, "strand the leader in a minority of {minority}")
            }
            Action::Heal => write!(f, "heal the network"),
            Action::SetLoss(p) => write!(f, "message loss {:.0}%", p * 100.0),
            Action::Submit { node, data } => match kv::KvCommand::decode(data) {
                Some(c) => write!(f, "client sends {} to n{node}", kv_text(&c.op)),
                None => write!(f, "client sends {} bytes to n{node}", data.len()),
            },
            Action::Invoke { client, node, op } => {
                write!(f, "client {client} invokes {} at n{node}", kv_text(op))
            }
            Action::Retry { client, attempt } => {
                write!(f, "client {client}'s attempt {attempt} is due for a retry")
            }
            Action::SetDisk { node, disk } => write!(
                f,
                "n{node}'s disk syncs in {:?}..{:?}",
                disk.sync_min, disk.sync_max
            ),
            Action::TransferLeadership { to } => {
                write!(f, "ask the leader to hand its leadership to n{to}")
            }
        }
    }
}

/// A client command in words: its key-value operation (`put k=v`), or its bytes as
/// text, cut at 24 characters. The trace's form of the commands messages carry.
pub fn command_text(c: &protocols::Command) -> String {
    match kv::KvCommand::decode(&c.data) {
        Some(cmd) => kv_text(&cmd.op),
        None => {
            let text = String::from_utf8_lossy(&c.data);
            if text.chars().count() > 24 {
                format!("{}…", text.chars().take(24).collect::<String>())
            } else {
                text.into_owned()
            }
        }
    }
}

/// A key-value operation in words: `put k=v`, `get k`, `set k=v`, `cas k a->b` (an
/// empty value shown as `""`).
pub fn kv_text(op: &kv::KvOp) -> String {
    let t = |b: &bytes::Bytes| {
        if b.is_empty() {
            "\"\"".to_string()
        } else {
            String::from_utf8_lossy(b).into_owned()
        }
    };
    match op {
        kv::KvOp::Put { key, value } => format!("put {}={}", t(key), t(value)),
        kv::KvOp::Get { key } => format!("get {}", t(key)),
        kv::KvOp::Set { key, value } => format!("set {}={}", t(key), t(value)),
        kv::KvOp::Cas { key, from, to } => format!("cas {} {}->{}", t(key), t(from), t(to)),
    }
}

/// A change made to every node right after it is recovered ([`Simulation::adjust_nodes`]).
pub type Adjust<P> = Box<dyn Fn(&mut P) + Send + Sync>;

/// One effect of protocol `P`.
type EffectOf<P> =
    Effect<<P as Protocol>::Message, <P as Protocol>::Record, <P as Protocol>::Timer>;

enum Pending<P: Protocol> {
    Deliver {
        from: NodeId,
        to: NodeId,
        /// When it was sent.
        sent: Time,
        incarnation: u64,
        msg: P::Message,
    },
    Timer {
        node: NodeId,
        timer: P::Timer,
        incarnation: u64,
        generation: u64,
    },
    Act(Action),
    /// A node's log finished syncing every write up to batch `batch`.
    Synced {
        node: NodeId,
        incarnation: u64,
        batch: u64,
    },
}

struct SimNode<P: Protocol> {
    /// The protocol state while the node is up.
    proto: Option<P>,
    /// Bumped on every crash, so stale timers and in-flight messages to the old
    /// incarnation are dropped.
    incarnation: u64,
    /// The bytes of the node's log that are durable: every record it persisted, encoded
    /// by the real record codec and framed as the WAL frames it (`length | crc |
    /// payload`).
    log: Vec<u8>,
    /// Framed records written but not yet durable, with their write job. A crash tears
    /// them: a random prefix of their bytes reaches the disk, the rest is lost.
    unsynced: Vec<(u64, Vec<u8>, Option<usize>)>,
    /// Snapshot files the node stored, encoded as the runtime writes them
    /// (`storage::snapshot`), oldest first; written durably at once and kept across
    /// crashes, the newest `storage::snapshot::KEEP` of them.
    snapshots: Vec<Vec<u8>>,
    /// The effect-ordering contract, shared with the runtime: what waits for which job.
    gate: DurabilityGate<P::Message, P::Record, P::Timer>,
    /// When the last sync scheduled finishes (syncs finish in order).
    last_sync_at: Time,
    /// This node's disk, if not the cluster's ([`Simulation::set_disk`]).
    disk: Option<DiskConfig>,
    /// Armed timers: generation of the latest arming.
    timers: HashMap<P::Timer, u64>,
    /// Commands applied by the current incarnation, in index order.
    applied: Vec<Option<RequestId>>,
    /// The state machine (key-value store or znode tree) the current incarnation
    /// rebuilt from what it applied: it gives a client the answer the runtime would.
    kv: Box<dyn StateMachine>,
}

/// What a node running a state machine other than the key-value store sent its
/// clients, in the order it sent it: answers to commands submitted to it, and
/// notifications (a znode watch fired, or a session ended).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// When.
    pub at: Time,
    /// The node that sent it (the one the client is connected to).
    pub node: NodeId,
    /// What it sent.
    pub what: Delivered,
}

/// One [`Delivery`].
#[derive(Clone, Debug, PartialEq)]
pub enum Delivered {
    /// The answer to request `id` (`znode::ZAnswer` bytes); `None`: an old duplicate.
    Answer {
        /// The request.
        id: RequestId,
        /// The answer.
        answer: Option<bytes::Bytes>,
    },
    /// A notification for client session `client` (`znode::WatchEvent` bytes).
    Notification {
        /// The session.
        client: u64,
        /// Its bytes.
        data: bytes::Bytes,
    },
}

/// One node's observable event, timestamped with virtual time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedEvent {
    /// When.
    pub at: Time,
    /// Which node.
    pub node: NodeId,
    /// What.
    pub event: Event,
}

/// What a node told the client of one command, or that it could not tell it yet.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyOutcome {
    /// The command was applied at `index` (the node it was sent to answers when it
    /// applies it); `answer` is what the key-value store returned.
    Done {
        /// The log position it was applied at.
        index: u64,
        /// The store's answer (a put's previous value, a get's value).
        answer: Option<bytes::Bytes>,
    },
    /// The node refused it, or lost the leadership it was waiting on
    /// ([`protocols::ClientError::LeadershipLost`]: no answer, it may still commit).
    Refused(protocols::ClientError),
}

/// One [`ReplyOutcome`], kept only with `SimConfig::trace` (for timelines).
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// When.
    pub at: Time,
    /// The node that answered (the one the command was sent to).
    pub node: NodeId,
    /// The command.
    pub id: RequestId,
    /// What the client got.
    pub outcome: ReplyOutcome,
}

/// A deterministic simulated cluster of protocol `P`.
pub struct Simulation<P: Protocol> {
    config: SimConfig,
    now: Time,
    rng: DetRng,
    network: Network,
    queue: BinaryHeap<Reverse<(Time, u64)>>,
    pending: HashMap<u64, Pending<P>>,
    next_seq: u64,
    nodes: BTreeMap<NodeId, SimNode<P>>,
    checker: Checker,
    events: Vec<TimedEvent>,
    trace: Vec<String>,
    /// What nodes told clients (only with `SimConfig::trace`).
    replies: Vec<Reply>,
    next_request: u64,
    messages: u64,
    /// Restarts whose recovery cut a torn tail off the log.
    torn_tails: u64,
    /// Snapshots nodes took of their state machines (log compaction).
    snapshots_taken: u64,
    /// Snapshots nodes installed from a leader.
    snapshots_installed: u64,
    /// What the clients saw: every key-value command submitted, from its submission
    /// to the answer of the node it was sent to (or none: a crash, or the run's end).
    history: History,
    /// Commands submitted and not answered yet, with the incarnation of the node they
    /// were sent to (a crash of that node leaves them unanswered for good).
    open: HashMap<RequestId, clients::OpenRequest>,
    /// The retrying clients ([`Action::Invoke`]).
    clients: Vec<clients::RetryingClient>,
    /// Attempts after the first that the retrying clients sent.
    client_retries: u64,
    /// The known-buggy read path: a read is answered at once from the store of the
    /// node it was sent to, without going through the log (see [`Self::set_local_reads`]).
    local_reads: bool,
    /// The known-buggy state machine that applies retries again (see
    /// [`Self::set_at_least_once`]).
    at_least_once: bool,
    /// Which state machine the nodes run ([`Self::set_state_machine`]).
    state_machine: StateMachineKind,
    /// Answers and notifications nodes sent their clients, for state machines other
    /// than the key-value store (whose answers go to the history).
    deliveries: Vec<Delivery>,
    /// Commands submitted to such a state machine and not answered yet, with the
    /// incarnation of the node they went to.
    awaiting: HashMap<RequestId, u64>,
    /// The cap on entries per replication message every node starts with
    /// ([`Protocol::set_max_batch`]); none: the protocols' own.
    max_batch: Option<usize>,
    /// Paxos's back-off after a lost ballot is off ([`Simulation::set_backoff`]).
    backoff_off: bool,
    /// The known bug every node starts with ([`Protocol::inject_bug`]); none in every
    /// run but a teaching one.
    bug: Option<protocols::Bug>,
    /// Settings every node is given right after it is recovered (a protocol's own
    /// options, such as Redis Cluster's WAIT-like acknowledgement).
    adjust: Option<Adjust<P>>,
    /// The message kinds sent on each directed link so far, for [`Action::DropKind`]
    /// without a kind.
    link_kinds: HashMap<(NodeId, NodeId), Vec<&'static str>>,
    /// Whether what is being carried out leaves after its node's write: its step wrote
    /// to an instant disk, or a sync released it.
    step_wrote: bool,
    /// A stranded leader ([`Action::StrandLeader`]) that client commands go to until
    /// the network heals, and how many went to it.
    steer: Option<(NodeId, u32)>,
    /// What the faults did, for reports.
    fault_stats: FaultStats,
}

/// What the network faults did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Messages lost to a drop rule ([`Action::DropKind`]).
    pub kind_drops: u64,
    /// Messages lost to a one-way cut ([`Action::OneWay`]).
    pub one_way_drops: u64,
    /// Leaders stranded in a minority ([`Action::StrandLeader`]).
    pub stranded_leaders: u64,
    /// Client commands sent to a stranded leader.
    pub stranded_writes: u64,
}

impl<P: Protocol> Simulation<P> {
    /// A cluster whose nodes all exist but none has started.
    pub fn new(config: SimConfig) -> Simulation<P> {
        let nodes = config
            .membership
            .all()
            .map(|id| {
                (
                    id,
                    SimNode {
                        proto: None,
                        incarnation: 0,
                        log: Vec::new(),
                        unsynced: Vec::new(),
                        snapshots: Vec::new(),
                        gate: DurabilityGate::new(),
                        last_sync_at: Time::ZERO,
                        disk: None,
                        timers: HashMap::new(),
                        applied: Vec::new(),
                        kv: Box::new(kv::KvStore::new()),
                    },
                )
            })
            .collect();
        Simulation {
            rng: DetRng::new(config.seed),
            network: Network::new(config.net.clone()),
            config,
            now: Time::ZERO,
            queue: BinaryHeap::new(),
            pending: HashMap::new(),
            next_seq: 0,
            nodes,
            checker: Checker::default(),
            events: Vec::new(),
            trace: Vec::new(),
            replies: Vec::new(),
            next_request: 0,
            messages: 0,
            torn_tails: 0,
            snapshots_taken: 0,
            snapshots_installed: 0,
            history: History::new(),
            open: HashMap::new(),
            clients: Vec::new(),
            client_retries: 0,
            local_reads: false,
            at_least_once: false,
            state_machine: StateMachineKind::Kv,
            deliveries: Vec::new(),
            awaiting: HashMap::new(),
            max_batch: None,
            backoff_off: false,
            bug: None,
            adjust: None,
            link_kinds: HashMap::new(),
            step_wrote: false,
            steer: None,
            fault_stats: FaultStats::default(),
        }
    }

    /// Gives node `id` durable records before it first starts (a scenario's initial log).
    pub fn preload(&mut self, id: NodeId, records: Vec<P::Record>) -> Result<(), Violation> {
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(&id) {
            n.log.clear();
            for r in &records {
                host::frame(&mut n.log, r)
                    .map_err(|e| Violation::new(now, format!("node {id}: {e}")))?;
            }
        }
        Ok(())
    }

    /// Runs `adjust` on every node right after it is recovered, from the next start on
    /// (a protocol's own options that the shared settings do not carry).
    pub fn adjust_nodes(&mut self, adjust: impl Fn(&mut P) + Send + Sync + 'static) {
        self.adjust = Some(Box::new(adjust));
    }

    /// Whether node `id` has run before or was given a history: its log is not empty.
    pub fn has_history(&self, id: NodeId) -> bool {
        self.nodes
            .get(&id)
            .is_some_and(|n| n.incarnation > 0 || !n.log.is_empty())
    }

    /// Gives node `id` a disk of its own (a slow leader disk, say), from now on.
    pub fn set_disk(&mut self, id: NodeId, disk: DiskConfig) {
        if let Some(n) = self.nodes.get_mut(&id) {
            n.disk = Some(disk);
        }
    }

    /// Every message of `kind` ([`Protocol::message_kind`], compared ignoring ASCII
    /// case) reaches the network `extra` after it is sent, on every link. The link
    /// stays first in, first out: a message sent after a delayed one on the same link
    /// arrives after it. Replaces an earlier setting for the same kind; zero removes it.
    pub fn delay_kind(&mut self, kind: &str, extra: Duration) {
        self.set_kind_delay(kind, extra, false);
    }

    /// Like [`Simulation::delay_kind`], but only for a message sent after its node's
    /// write (by a step that wrote to an instant disk, or released by a sync): the time
    /// a node spends writing to its disk before it answers, when only that answer is
    /// to wait (the node's own state changes at once). An answer that changed nothing
    /// durable (a repeated request, a refusal that saw no newer term) is released
    /// without waiting for any write and is not held, as on a real node. Meant for
    /// answer kinds (see [`netmodel::KindRules`]).
    pub fn delay_kind_after_write(&mut self, kind: &str, extra: Duration) {
        self.set_kind_delay(kind, extra, true);
    }

    fn set_kind_delay(&mut self, kind: &str, extra: Duration, after_write: bool) {
        self.network
            .kinds_mut()
            .delay_kind(kind, extra, after_write);
    }

    /// The extra delay of a message of `kind` sent now
    /// ([`Simulation::delay_kind`], [`Simulation::delay_kind_after_write`]).
    pub(crate) fn kind_delay(&self, kind: &str) -> Duration {
        self.network.kinds().delay(kind, self.step_wrote)
    }

    /// Current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The protocol state of a running node.
    pub fn node(&self, id: NodeId) -> Option<&P> {
        self.nodes.get(&id).and_then(|n| n.proto.as_ref())
    }

    /// Ids of the nodes that are up.
    pub fn running(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.proto.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    /// Every member's id.
    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// The indexes of the snapshots node `id` holds on its simulated disk (taken or
    /// installed), oldest first.
    pub fn snapshot_indexes(&self, id: NodeId) -> Vec<u64> {
        self.nodes.get(&id).map_or_else(Vec::new, |n| {
            n.snapshots
                .iter()
                .filter_map(|f| storage::snapshot::decode_snapshot(f).ok())
                .map(|s| s.index)
                .collect()
        })
    }

    /// Damages the newest snapshot file of node `id` (one flipped byte), as a disk
    /// may; false if it has none.
    pub fn damage_newest_snapshot(&mut self, id: NodeId) -> bool {
        let Some(file) = self.nodes.get_mut(&id).and_then(|n| n.snapshots.last_mut()) else {
            return false;
        };
        match file.last_mut() {
            Some(byte) => {
                *byte ^= 0x40;
                true
            }
            None => false,
        }
    }

    /// What node `id`'s current incarnation has applied, by index (from 1).
    pub fn applied(&self, id: NodeId) -> &[Option<RequestId>] {
        self.nodes.get(&id).map_or(&[], |n| &n.applied)
    }

    /// The node that most recently became a ready leader, if any.
    pub fn ready_leader(&self) -> Option<NodeId> {
        self.events.iter().rev().find_map(|e| match e.event {
            Event::LeaderReady { .. } => Some(e.node),
            _ => None,
        })
    }

    /// Runs until some node is a ready leader (or `limit` passes) and returns it.
    pub fn run_until_ready(&mut self, limit: Duration) -> Result<Option<NodeId>, Violation> {
        self.run_until_true(limit, |s| s.ready_leader().is_some())?;
        Ok(self.ready_leader())
    }

    /// Every protocol event so far.
    pub fn events(&self) -> &[TimedEvent] {
        &self.events
    }

    /// Every answer or refusal a node gave a client so far (kept only with
    /// `SimConfig::trace`): applies of a command at the node it was sent to, and
    /// rejections.
    pub fn replies(&self) -> &[Reply] {
        &self.replies
    }

    /// The readable trace (only kept with `SimConfig::trace`).
    pub fn trace(&self) -> &[String] {
        &self.trace
    }

    /// Restarts whose recovery cut a torn tail off the log.
    pub fn torn_tails_cut(&self) -> u64 {
        self.torn_tails
    }

    /// Snapshots taken and installed so far, over all nodes (log compaction,
    /// `Timing::snapshot_every`).
    pub fn snapshots(&self) -> (u64, u64) {
        (self.snapshots_taken, self.snapshots_installed)
    }

    /// Messages sent so far (each send counts once, however many copies arrive).
    pub fn messages_sent(&self) -> u64 {
        self.messages
    }

    /// The safety checker's view (highest committed index, leaders per term).
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// What the network faults did so far.
    pub fn fault_stats(&self) -> FaultStats {
        self.fault_stats
    }

    /// The network's state: partition, cuts and drop rules in force.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Every message kind ([`Protocol::message_kind`]) sent so far, on any link.
    pub fn kinds_sent(&self) -> std::collections::BTreeSet<&'static str> {
        self.link_kinds.values().flatten().copied().collect()
    }
}
