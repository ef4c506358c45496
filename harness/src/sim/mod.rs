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
//! Safety is checked after every step by [`check::Checker`]: at most one leader per term,
//! and every node applies the same command at the same index (committed entries never
//! change). Protocol-specific invariants are checked by the caller through
//! [`Simulation::node`].

pub mod chaos;
pub mod check;
pub mod lamport;
pub mod network;
pub mod scenario;

use crate::kv::{KvCommand, KvOp, KvStore};
use crate::lincheck::{Completion, History, Input as LinInput, Output as LinOutput};
use crate::storage::{decode_record, encode_record, frame_record, recover_bytes, StorageError};
use check::{Checker, Violation};
use network::{NetConfig, Network};
use protocols::gate::Sync;
use protocols::{
    Command, DetRng, DurabilityGate, Effect, Event, Input, InputOf, Membership, NodeId, Protocol,
    RequestId, Setup, Time, Timing,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;
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
    /// Split the network into groups.
    Partition(Vec<Vec<NodeId>>),
    /// Cut one node off from all others.
    Isolate(NodeId),
    /// Reconnect everything.
    Heal,
    /// Change the message-loss probability.
    SetLoss(f64),
    /// A client submits `data` to a node.
    Submit { node: NodeId, data: bytes::Bytes },
    /// Give a node a disk of its own ([`Simulation::set_disk`]).
    SetDisk { node: NodeId, disk: DiskConfig },
}

/// One effect of protocol `P`.
type EffectOf<P> =
    Effect<<P as Protocol>::Message, <P as Protocol>::Record, <P as Protocol>::Timer>;

enum Pending<P: Protocol> {
    Deliver {
        from: NodeId,
        to: NodeId,
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
    unsynced: Vec<(u64, Vec<u8>)>,
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
    /// The key-value store the current incarnation rebuilt from what it applied: it
    /// gives a client the answer the runtime would.
    kv: KvStore,
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
    next_request: u64,
    messages: u64,
    /// Restarts whose recovery cut a torn tail off the log.
    torn_tails: u64,
    /// What the clients saw: every key-value command submitted, from its submission
    /// to the answer of the node it was sent to (or none: a crash, or the run's end).
    history: History,
    /// Commands submitted and not answered yet, with the incarnation of the node they
    /// were sent to (a crash of that node leaves them unanswered for good).
    open: HashMap<RequestId, (u64, LinInput)>,
    /// The known-buggy read path: a read is answered at once from the store of the
    /// node it was sent to, without going through the log (see [`Self::set_local_reads`]).
    local_reads: bool,
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
                        gate: DurabilityGate::new(),
                        last_sync_at: Time::ZERO,
                        disk: None,
                        timers: HashMap::new(),
                        applied: Vec::new(),
                        kv: KvStore::new(),
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
            next_request: 0,
            messages: 0,
            torn_tails: 0,
            history: History::new(),
            open: HashMap::new(),
            local_reads: false,
        }
    }

    /// Gives node `id` durable records before it first starts (a scenario's initial log).
    pub fn preload(&mut self, id: NodeId, records: Vec<P::Record>) -> Result<(), Violation> {
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(&id) {
            n.log.clear();
            for r in &records {
                frame(&mut n.log, r).map_err(|e| Violation::new(now, format!("node {id}: {e}")))?;
            }
        }
        Ok(())
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

    /// The readable trace (only kept with `SimConfig::trace`).
    pub fn trace(&self) -> &[String] {
        &self.trace
    }

    /// Messages sent so far.
    pub fn torn_tails_cut(&self) -> u64 {
        self.torn_tails
    }

    /// Messages sent so far (each send counts once, however many copies arrive).
    pub fn messages_sent(&self) -> u64 {
        self.messages
    }

    /// The safety checker's view (highest committed index, leaders per term).
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// Schedules `action` at time `at` (or now, if `at` is in the past).
    pub fn schedule(&mut self, at: Time, action: Action) {
        self.push(at.max(self.now), Pending::Act(action));
    }

    /// Carries out `action` now.
    pub fn act(&mut self, action: Action) -> Result<(), Violation> {
        self.apply_action(action)
    }

    /// Starts every node now.
    pub fn start_all(&mut self) -> Result<(), Violation> {
        for id in self.ids() {
            self.apply_action(Action::Start(id))?;
        }
        Ok(())
    }

    /// Runs until virtual time `until` or until nothing is left to do.
    pub fn run_until(&mut self, until: Time) -> Result<(), Violation> {
        while let Some(&Reverse((at, _))) = self.queue.peek() {
            if at > until {
                break;
            }
            self.step()?;
        }
        self.now = self.now.max(until);
        Ok(())
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), Violation> {
        self.run_until(self.now.plus(d))
    }

    /// Runs until `pred` holds (checked after every step) or `limit` passes; returns
    /// whether it held.
    pub fn run_until_true(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Simulation<P>) -> bool,
    ) -> Result<bool, Violation> {
        let until = self.now.plus(limit);
        while !pred(self) {
            match self.queue.peek() {
                Some(&Reverse((at, _))) if at <= until => {
                    self.step()?;
                }
                _ => {
                    self.now = self.now.max(until);
                    return Ok(pred(self));
                }
            }
        }
        Ok(true)
    }

    /// Processes the next queued happening. Returns false when the queue is empty.
    pub fn step(&mut self) -> Result<bool, Violation> {
        let Some(Reverse((at, seq))) = self.queue.pop() else {
            return Ok(false);
        };
        self.now = at;
        let Some(p) = self.pending.remove(&seq) else {
            return Ok(true);
        };
        match p {
            Pending::Deliver {
                from,
                to,
                incarnation,
                msg,
            } => {
                let alive = self
                    .nodes
                    .get(&to)
                    .is_some_and(|n| n.proto.is_some() && n.incarnation == incarnation);
                if alive && self.network.connected(from, to) {
                    if self.config.trace {
                        self.note(format!("n{from} -> n{to}: {msg:?}"));
                    }
                    self.input(to, Input::Message { from, msg })?;
                }
            }
            Pending::Timer {
                node,
                timer,
                incarnation,
                generation,
            } => {
                let live = self.nodes.get(&node).is_some_and(|n| {
                    n.proto.is_some()
                        && n.incarnation == incarnation
                        && n.timers.get(&timer) == Some(&generation)
                });
                if live {
                    if let Some(n) = self.nodes.get_mut(&node) {
                        n.timers.remove(&timer);
                    }
                    if self.config.trace {
                        self.note(format!("n{node}: timer {timer:?} fires"));
                    }
                    self.input(node, Input::Timer(timer))?;
                }
            }
            Pending::Act(action) => self.apply_action(action)?,
            Pending::Synced {
                node,
                incarnation,
                batch,
            } => self.synced(node, incarnation, batch)?,
        }
        Ok(true)
    }

    /// Node `id`'s log made every batch up to `batch` durable: keep those records and
    /// carry out what waited for them.
    fn synced(&mut self, id: NodeId, incarnation: u64, batch: u64) -> Result<(), Violation> {
        let Some(n) = self
            .nodes
            .get_mut(&id)
            .filter(|n| n.proto.is_some() && n.incarnation == incarnation)
        else {
            return Ok(());
        };
        let done = n.unsynced.partition_point(|(b, _)| *b <= batch);
        for (_, bytes) in n.unsynced.drain(..done) {
            n.log.extend_from_slice(&bytes);
        }
        let mut released = Vec::new();
        n.gate.durable(batch, &mut released);
        if self.config.trace && !released.is_empty() {
            self.note(format!("n{id}: log synced (writes 1..={batch} durable)"));
        }
        self.carry_out(id, released)
    }

    /// Submits a client command to `node` now; returns its id.
    pub fn submit(&mut self, node: NodeId, data: bytes::Bytes) -> Result<RequestId, Violation> {
        self.next_request += 1;
        let id = RequestId {
            origin: node,
            seq: self.next_request,
        };
        let running = self
            .nodes
            .get(&node)
            .filter(|n| n.proto.is_some())
            .map(|n| n.incarnation);
        // A key-value command enters the clients' history: one client per command.
        if let Some(KvCommand { op, .. }) = KvCommand::decode(&data) {
            let (key, input) = match op {
                KvOp::Get { key } => (key, LinInput::Get),
                KvOp::Put { key, value } | KvOp::Set { key, value } => (
                    key,
                    LinInput::Put(String::from_utf8_lossy(&value).into_owned()),
                ),
            };
            let local = self
                .nodes
                .get(&node)
                .filter(|n| self.local_reads && n.proto.is_some())
                .filter(|_| matches!(input, LinInput::Get))
                .map(|n| n.kv.peek(&key).cloned());
            let key = String::from_utf8_lossy(&key).into_owned();
            let now = self.now.as_nanos();
            let _ = self.history.invoke(id.seq, now, key, input.clone());
            if let Some(value) = local {
                let value = value
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_default();
                let _ = self
                    .history
                    .complete(id.seq, now, Completion::Ok(LinOutput::Value(value)));
                return Ok(id);
            }
            match running {
                Some(incarnation) => {
                    self.open.insert(id, (incarnation, input));
                }
                // Sent to a node that is down: it never arrived.
                None => {
                    let _ = self.history.complete(id.seq, now, Completion::Failed);
                }
            }
        }
        if running.is_some() {
            self.input(node, Input::Client(Command { id, data }))?;
        }
        Ok(id)
    }

    /// What the clients saw: every key-value command with its submission and answer.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Switches on a known-buggy read path for teaching and for testing the checker: a
    /// read is answered at once by the node it reaches, from its own store, as
    /// ZooKeeper's local reads are. A node behind its leader, or an old leader cut off
    /// from the rest, then answers with a stale value: sequentially consistent at best,
    /// not linearizable, and the history check says so.
    pub fn set_local_reads(&mut self, on: bool) {
        self.local_reads = on;
    }

    /// Closes `req`'s entry in the history if node `node`'s current incarnation is
    /// the one it was sent to.
    fn answer(
        &mut self,
        node: NodeId,
        req: RequestId,
        outcome: impl FnOnce(&LinInput) -> Completion,
    ) {
        let incarnation = self.nodes.get(&node).map(|n| n.incarnation);
        if req.origin != node {
            return;
        }
        if let Some((sent_to, input)) = self.open.get(&req) {
            if Some(*sent_to) == incarnation {
                let completion = outcome(input);
                self.open.remove(&req);
                let _ = self
                    .history
                    .complete(req.seq, self.now.as_nanos(), completion);
            }
        }
    }

    fn push(&mut self, at: Time, p: Pending<P>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Reverse((at, seq)));
        self.pending.insert(seq, p);
    }

    fn note(&mut self, line: String) {
        let mut s = String::with_capacity(line.len() + 16);
        let _ = write!(s, "[{:>10}] {line}", self.now.to_string());
        self.trace.push(s);
    }

    fn apply_action(&mut self, action: Action) -> Result<(), Violation> {
        if self.config.trace {
            self.note(format!("** {action:?}"));
        }
        match action {
            Action::Start(id) => {
                let Some(n) = self.nodes.get_mut(&id) else {
                    return Ok(());
                };
                if n.proto.is_some() {
                    return Ok(());
                }
                let setup = Setup {
                    id,
                    membership: self.config.membership.clone(),
                    timing: self.config.timing.clone(),
                    rng: DetRng::for_node(self.config.seed ^ n.incarnation.wrapping_mul(0x51), id),
                    narrate: self.config.trace,
                };
                // Recovery goes through the WAL's own scan: a torn tail is cut, and every
                // record is decoded by the codec that encoded it.
                let failed = |e: String| {
                    Violation::new(self.now, format!("node {id} failed to recover: {e}"))
                };
                let (payloads, intact) =
                    recover_bytes(&n.log).map_err(|e| failed(e.to_string()))?;
                if intact < n.log.len() as u64 {
                    self.torn_tails += 1;
                    n.log
                        .truncate(usize::try_from(intact).unwrap_or(usize::MAX));
                }
                let records = payloads
                    .iter()
                    .map(|p| decode_record::<P::Record>(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| failed(e.to_string()))?;
                let proto = P::recover(setup, records).map_err(|e| failed(e.to_string()))?;
                n.proto = Some(proto);
                n.applied.clear();
                n.kv = KvStore::new();
                n.timers.clear();
                self.input(id, Input::Start)?;
            }
            Action::Crash(id) => {
                if let Some(n) = self.nodes.get_mut(&id) {
                    if n.proto.take().is_some() {
                        n.incarnation += 1;
                        n.timers.clear();
                        // What the disk had not synced is lost or torn (see
                        // `DiskConfig::tears`); the effects that waited for it are gone.
                        let tears = n.disk.as_ref().unwrap_or(&self.config.disk).tears;
                        let unsynced: Vec<u8> =
                            n.unsynced.drain(..).flat_map(|(_, bytes)| bytes).collect();
                        if tears && !unsynced.is_empty() && self.rng.chance(0.5) {
                            let cut =
                                usize::try_from(self.rng.range_inclusive(0, unsynced.len() as u64))
                                    .unwrap_or(0);
                            n.log
                                .extend_from_slice(unsynced.get(..cut).unwrap_or_default());
                        }
                        n.gate = DurabilityGate::new();
                        let peers: Vec<NodeId> = self.config.membership.peers_of(id).collect();
                        // A crash resets the TCP connections: live peers notice.
                        for peer in peers {
                            if self.network.connected(id, peer)
                                && self.nodes.get(&peer).is_some_and(|p| p.proto.is_some())
                            {
                                self.input(peer, Input::PeerLost(id))?;
                            }
                        }
                    }
                }
            }
            Action::Partition(groups) => self.network.partition(groups),
            Action::Isolate(id) => {
                let all = self.ids();
                self.network.isolate(id, &all);
            }
            Action::Heal => self.network.heal(),
            Action::SetLoss(p) => self.network.config.loss = p,
            Action::Submit { node, data } => {
                self.submit(node, data)?;
            }
            Action::SetDisk { node, disk } => self.set_disk(node, disk),
        }
        Ok(())
    }

    /// Feeds one input to a running node and carries out its effects: persists are
    /// written as one batch, timers, applies and sends ahead happen at once, the rest
    /// waits for the batch to be durable (at once when the disk has no delay).
    fn input(&mut self, id: NodeId, input: InputOf<P>) -> Result<(), Violation> {
        let now = self.now;
        let mut out = Vec::new();
        let Some(n) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        let Some(proto) = n.proto.as_mut() else {
            return Ok(());
        };
        // Every input is a batch of its own here: the protocol sends what it batched
        // right after it.
        proto.step(now, input, &mut out);
        proto.end_of_batch(now, &mut out);
        let incarnation = n.incarnation;
        let disk = n.disk.as_ref().unwrap_or(&self.config.disk);
        let (sync_min, sync_max) = (disk.sync_min, disk.sync_max);
        // A disk without delay syncs within the step, unless earlier writes are still
        // on their way (syncs finish in order).
        let instant = sync_max.is_zero() && n.unsynced.is_empty();
        let sync = if instant { Sync::Now } else { Sync::Later };
        let mut records = Vec::new();
        let mut ready = Vec::new();
        let job = n.gate.admit(&mut out, (), sync, &mut records, &mut ready);
        if let Some(job) = job {
            let mut bytes = Vec::new();
            for r in &records {
                frame(&mut bytes, r).map_err(|e| Violation::new(now, format!("node {id}: {e}")))?;
            }
            if instant {
                n.log.extend_from_slice(&bytes);
            } else {
                n.unsynced.push((job, bytes));
                let delay = self.rng.duration_between(sync_min, sync_max);
                let at = now.plus(delay).max(n.last_sync_at);
                n.last_sync_at = at;
                self.push(
                    at,
                    Pending::Synced {
                        node: id,
                        incarnation,
                        batch: job,
                    },
                );
            }
        }
        self.carry_out(id, ready)
    }

    /// Carries out the effects of node `id` that its gate released, in order; then
    /// steps the durability signal released with them, if any.
    fn carry_out(&mut self, id: NodeId, effects: Vec<((), EffectOf<P>)>) -> Result<(), Violation> {
        let now = self.now;
        let Some(incarnation) = self.nodes.get(&id).map(|n| n.incarnation) else {
            return Ok(());
        };
        for ((), effect) in effects {
            match effect {
                Effect::Send { to, msg } | Effect::SendAhead { to, msg } => {
                    self.messages += 1;
                    let to_incarnation = self.nodes.get(&to).map_or(0, |n| n.incarnation);
                    for delay in self.network.deliveries(id, to, &mut self.rng) {
                        self.push(
                            now.plus(delay),
                            Pending::Deliver {
                                from: id,
                                to,
                                incarnation: to_incarnation,
                                msg: msg.clone(),
                            },
                        );
                    }
                }
                Effect::Persist(_) | Effect::SignalWhenDurable(_) => {}
                Effect::SetTimer { timer, after } => {
                    let generation = self.next_seq;
                    if let Some(n) = self.nodes.get_mut(&id) {
                        n.timers.insert(timer, generation);
                    }
                    self.push(
                        now.plus(after),
                        Pending::Timer {
                            node: id,
                            timer,
                            incarnation,
                            generation,
                        },
                    );
                }
                Effect::CancelTimer(timer) => {
                    if let Some(n) = self.nodes.get_mut(&id) {
                        n.timers.remove(&timer);
                    }
                }
                Effect::Apply { index, command } => {
                    let req = command.as_ref().map(|c| c.id);
                    let mut answer = None;
                    if let Some(n) = self.nodes.get_mut(&id) {
                        let expected = n.applied.len() as u64 + 1;
                        if index != expected {
                            return Err(Violation::new(
                                now,
                                format!("node {id} applied index {index}, expected {expected} (gap or repeat)"),
                            ));
                        }
                        n.applied.push(req);
                        match &command {
                            Some(c) => answer = Some(n.kv.apply(&c.data)),
                            None => n.kv.skip(),
                        }
                    }
                    self.checker.on_apply(now, id, index, req)?;
                    if let (Some(req), Some(value)) = (req, answer) {
                        self.answer(id, req, |input| {
                            Completion::Ok(match input {
                                LinInput::Get => LinOutput::Value(
                                    value
                                        .map(|v| String::from_utf8_lossy(&v).into_owned())
                                        .unwrap_or_default(),
                                ),
                                _ => LinOutput::Done,
                            })
                        });
                    }
                }
                // Refused without being appended: it never happens. Leadership lost after
                // it was appended: it may still commit, so it stays unanswered.
                Effect::Reject { id: req, error } => {
                    if !matches!(error, protocols::ClientError::LeadershipLost) {
                        self.answer(id, req, |_| Completion::Failed);
                    }
                }
                Effect::Event(event) => {
                    if let Event::Narrate(text) = &event {
                        if self.config.trace {
                            self.note(text.clone());
                        }
                        continue;
                    }
                    if self.config.trace {
                        self.note(format!("n{id}: {event:?}"));
                    }
                    self.checker.on_event(now, id, &event)?;
                    self.events.push(TimedEvent {
                        at: now,
                        node: id,
                        event,
                    });
                }
            }
        }
        let signal = self.nodes.get_mut(&id).and_then(|n| n.gate.take_signal());
        match signal {
            Some(token) => self.input(id, Input::Durable(token)),
            None => Ok(()),
        }
    }
}

/// Encodes `record` with the WAL's codec and appends it framed as the WAL frames it.
fn frame<R: serde::Serialize>(log: &mut Vec<u8>, record: &R) -> Result<(), StorageError> {
    frame_record(log, &encode_record(record)?)
}
