//! A deterministic in-memory network for the protocols' unit tests: one [`Pump`] for
//! Raft, ZAB and Paxos alike (compiled for this crate's unit tests only).
//!
//! Not a simulator (that is the `sim` crate's job): nothing happens unless the test asks.
//! The test decides which queued message is delivered, dropped or held back by a
//! partition, which timer fires, which node crashes and when a disk reports its records
//! durable, so that each case a paper describes can be staged exactly.
//!
//! A node is driven the way every host drives it: each input is stepped, the batch is
//! ended with [`Protocol::end_of_batch`], and the batch's effects go through the node's
//! [`DurabilityGate`], the code the runtime and the simulator use. The pump then carries
//! out what the gate releases: messages join a FIFO queue, timers are marked armed (they
//! fire only when the test fires them), `Apply` is checked to arrive in index order
//! without gaps, events are collected, and a released durability signal is stepped back
//! in as [`Input::Durable`] (a batch of its own).
//!
//! Each node's disk keeps every record the node wrote, across crashes; a restarted node
//! is recovered from all of them. With [`Disk::Instant`] records are durable as soon as
//! they are written; with [`Disk::OnDemand`] only when the test calls [`Pump::sync`], so
//! that what waits for durability can be observed waiting.
//!
//! Set `PUMP_TRACE=1` to print every narration line as it is collected.

use crate::effect::{narration_line, ClientError, Effect, Event};
use crate::gate::{DurabilityGate, Sync};
use crate::node::{Effects, Input, InputOf, Protocol, Setup, Status};
use crate::quorum::Membership;
use crate::rng::DetRng;
use crate::timing::Timing;
use crate::types::{Command, NodeId, RequestId, Time};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

/// A message on the wire: (from, to, message).
pub type Wire<P> = (NodeId, NodeId, <P as Protocol>::Message);

/// Decides, when a message would be delivered, whether it is lost instead.
pub type DropRule<P> = Box<dyn FnMut(&Wire<P>) -> bool>;

type EffectOf<P> =
    Effect<<P as Protocol>::Message, <P as Protocol>::Record, <P as Protocol>::Timer>;
type Adjust<P> = Box<dyn FnMut(&mut P)>;
type GateOf<P> =
    DurabilityGate<<P as Protocol>::Message, <P as Protocol>::Record, <P as Protocol>::Timer>;

/// When a node's written records become durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disk {
    /// At once: what waited for them is released within the same call.
    Instant,
    /// Only when the test calls [`Pump::sync`].
    OnDemand,
}

/// A cluster of in-memory nodes whose network, timers, disks and crashes the test
/// drives by hand (see the module docs).
pub struct Pump<P: Protocol> {
    /// Who is in the cluster.
    pub membership: Membership,
    /// Running nodes; a node never started, or crashed, is absent.
    pub nodes: BTreeMap<NodeId, P>,
    /// Every record each node wrote, oldest first (kept across crashes).
    pub disks: BTreeMap<NodeId, Vec<P::Record>>,
    /// Messages sent and neither delivered nor dropped, oldest first.
    pub queue: VecDeque<Wire<P>>,
    /// Every message delivered to a running node, in delivery order.
    pub delivered: Vec<Wire<P>>,
    /// The timers each running node has armed.
    pub armed: BTreeMap<NodeId, HashSet<P::Timer>>,
    /// What each node applied since it (re)started, in index order.
    pub applied: BTreeMap<NodeId, Vec<Option<Command>>>,
    /// Every event released, with its node, in the order released.
    pub events: Vec<(NodeId, Event)>,
    /// Every client request refused, with the node that refused it.
    pub rejected: Vec<(NodeId, RequestId, ClientError)>,
    /// Reads served ([`Effect::ServeRead`]): (node, request), and the index the node
    /// had applied when it served it.
    pub served: Vec<(NodeId, RequestId, u64)>,
    /// A message this returns true for is lost when it would be delivered.
    pub drop_if: DropRule<P>,
    /// The snapshots each node stored ([`Effect::TakeSnapshot`],
    /// [`Effect::InstallSnapshot`]), oldest first (kept across crashes). An image is a
    /// name for the applied sequence kept in `images`.
    pub snapshots: BTreeMap<NodeId, Vec<crate::Snapshot>>,
    /// The applied sequence each image stands for.
    images: BTreeMap<bytes::Bytes, Vec<Option<Command>>>,
    gates: BTreeMap<NodeId, GateOf<P>>,
    /// The last write job each node's gate handed out (for [`Pump::sync`]).
    jobs: BTreeMap<NodeId, u64>,
    /// Effects of inputs stepped into a batch not yet ended.
    open: BTreeMap<NodeId, Effects<P>>,
    now: Time,
    tick: Duration,
    disk: Disk,
    seed: u64,
    narrate: bool,
    timing: Timing,
    on_recover: Option<Adjust<P>>,
    next_seq: u64,
}

impl<P: Protocol> Pump<P> {
    /// A cluster of `membership` with no node started, instant disks, narration off,
    /// default timing, random seed 1 and one millisecond of virtual time per input.
    pub fn new(membership: Membership) -> Pump<P> {
        Pump {
            membership,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            queue: VecDeque::new(),
            delivered: Vec::new(),
            armed: BTreeMap::new(),
            applied: BTreeMap::new(),
            events: Vec::new(),
            rejected: Vec::new(),
            served: Vec::new(),
            drop_if: Box::new(|_| false),
            snapshots: BTreeMap::new(),
            images: BTreeMap::new(),
            gates: BTreeMap::new(),
            jobs: BTreeMap::new(),
            open: BTreeMap::new(),
            now: Time::ZERO,
            tick: Duration::from_millis(1),
            disk: Disk::Instant,
            seed: 1,
            narrate: false,
            timing: Timing::default(),
            on_recover: None,
            next_seq: 0,
        }
    }

    /// Nodes draw their randomness from `DetRng::for_node(seed, id)`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Nodes narrate (their [`Event::Narrate`] lines are collected in [`Pump::events`]).
    pub fn narrate(mut self, on: bool) -> Self {
        self.narrate = on;
        self
    }

    /// The timing nodes are set up with.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Virtual time advanced by each input.
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// When written records become durable.
    pub fn disk(mut self, disk: Disk) -> Self {
        self.disk = disk;
        self
    }

    /// Adjusts every node right after it is recovered, before it starts.
    pub fn on_recover(mut self, adjust: impl FnMut(&mut P) + 'static) -> Self {
        self.on_recover = Some(Box::new(adjust));
        self
    }

    /// The current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Recovers node `id` from its disk and starts it; returns the start's effects.
    /// Panics if it is running, or if its records do not recover.
    pub fn start(&mut self, id: NodeId) -> Effects<P> {
        assert!(
            !self.nodes.contains_key(&id),
            "node {id} is already running"
        );
        let setup = Setup {
            id,
            membership: self.membership.clone(),
            timing: self.timing.clone(),
            rng: DetRng::for_node(self.seed, id),
            narrate: self.narrate,
        };
        let records = self.disks.get(&id).cloned().unwrap_or_default();
        let mut node = P::recover(setup, records).expect("the records recover");
        if let Some(adjust) = &mut self.on_recover {
            adjust(&mut node);
        }
        // The newest stored snapshot the node accepts, as every host starts it.
        let mut applied = Vec::new();
        for snapshot in self.snapshots.get(&id).into_iter().flatten().rev() {
            if node.restore_snapshot(snapshot).is_ok() {
                applied = self.images.get(&snapshot.data).cloned().unwrap_or_default();
                break;
            }
        }
        self.nodes.insert(id, node);
        self.applied.insert(id, applied);
        self.step(id, Input::Start)
    }

    /// Starts every member not running, in id order.
    pub fn start_all(&mut self) {
        let ids: Vec<NodeId> = self.membership.all().collect();
        for id in ids {
            if !self.nodes.contains_key(&id) {
                self.start(id);
            }
        }
    }

    /// Node `id` crashes: its volatile state, armed timers, open batch, effects waiting
    /// for durability and the messages queued to it are lost; its disk stays.
    pub fn crash(&mut self, id: NodeId) {
        self.nodes.remove(&id);
        self.armed.remove(&id);
        self.gates.remove(&id);
        self.jobs.remove(&id);
        self.open.remove(&id);
        self.queue.retain(|(_, to, _)| *to != id);
    }

    /// Crashes node `id` (if running) and starts it again from its disk.
    pub fn restart(&mut self, id: NodeId) -> Effects<P> {
        self.crash(id);
        self.start(id)
    }

    /// Whether node `id` is running.
    pub fn is_running(&self, id: NodeId) -> bool {
        self.nodes.contains_key(&id)
    }

    /// Node `id`; panics if it is not running.
    pub fn node(&self, id: NodeId) -> &P {
        self.nodes
            .get(&id)
            .unwrap_or_else(|| panic!("node {id} is not running"))
    }

    /// Node `id`, to adjust a setting; panics if it is not running.
    pub fn node_mut(&mut self, id: NodeId) -> &mut P {
        self.nodes
            .get_mut(&id)
            .unwrap_or_else(|| panic!("node {id} is not running"))
    }

    /// Node `id`'s status; panics if it is not running.
    pub fn status(&self, id: NodeId) -> Status {
        self.node(id).status()
    }

    /// The running nodes that believe they lead.
    pub fn leaders(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.status().role.is_leader())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Feeds `input` to node `id` as a batch of its own (as the simulator does) and
    /// carries out the effects; returns every effect the node produced meanwhile, in
    /// order (with those of the durability reports stepped back in). Nothing happens if
    /// the node is not running.
    pub fn step(&mut self, id: NodeId, input: InputOf<P>) -> Effects<P> {
        let mut out = self.step_in_batch(id, input);
        out.extend(self.end_batch(id));
        out
    }

    /// Feeds `input` to node `id` with more inputs of the same batch to follow: its
    /// effects wait for [`Pump::end_batch`]. Returns them.
    pub fn step_in_batch(&mut self, id: NodeId, input: InputOf<P>) -> Effects<P> {
        self.now = self.now.plus(self.tick);
        let Some(node) = self.nodes.get_mut(&id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        node.step(self.now, input, &mut out);
        self.open.entry(id).or_default().extend(out.iter().cloned());
        out
    }

    /// Ends node `id`'s batch and carries out its effects; returns what
    /// [`Protocol::end_of_batch`] produced and every effect of the durability reports
    /// stepped back in.
    pub fn end_batch(&mut self, id: NodeId) -> Effects<P> {
        let Some(node) = self.nodes.get_mut(&id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        node.end_of_batch(self.now, &mut out);
        let mut batch = self.open.remove(&id).unwrap_or_default();
        batch.extend(out.iter().cloned());
        let gate = self.gates.entry(id).or_default();
        let (mut records, mut ready) = (Vec::new(), Vec::new());
        let sync = match self.disk {
            Disk::Instant => Sync::Now,
            Disk::OnDemand => Sync::Later,
        };
        if let Some(job) = gate.admit(&mut batch, (), sync, &mut records, &mut ready) {
            self.jobs.insert(id, job);
        }
        let disk = self.disks.entry(id).or_default();
        match gate.take_rebase() {
            // Log compaction: the rebase's records replace everything before them.
            Some(at) => *disk = records.split_off(at.min(records.len())),
            None => disk.extend(records),
        }
        out.extend(self.carry_out(id, ready));
        out
    }

    /// With [`Disk::OnDemand`]: ends node `id`'s open batch, if any, and makes
    /// everything it wrote durable; returns the effects of the durability reports
    /// stepped back in.
    pub fn sync(&mut self, id: NodeId) -> Effects<P> {
        let mut out = Vec::new();
        if self.open.contains_key(&id) {
            out.extend(self.end_batch(id));
        }
        let (Some(gate), Some(&job)) = (self.gates.get_mut(&id), self.jobs.get(&id)) else {
            return out;
        };
        let mut ready = Vec::new();
        gate.durable(job, &mut ready);
        out.extend(self.carry_out(id, ready));
        out
    }

    /// Carries out what node `id`'s gate released, then steps its durability signal.
    fn carry_out(&mut self, id: NodeId, ready: Vec<((), EffectOf<P>)>) -> Effects<P> {
        let mut taken = Vec::new();
        for ((), effect) in ready {
            match effect {
                Effect::Send { to, msg } | Effect::SendAhead { to, msg } => {
                    self.queue.push_back((id, to, msg))
                }
                Effect::Persist(_) | Effect::SignalWhenDurable(_) => {}
                Effect::SetTimer { timer, .. } => {
                    self.armed.entry(id).or_default().insert(timer);
                }
                Effect::CancelTimer(timer) => {
                    self.armed.entry(id).or_default().remove(&timer);
                }
                Effect::Apply { index, command } => {
                    let applied = self.applied.entry(id).or_default();
                    if !P::SHARED_LOG && index == 1 {
                        applied.clear(); // a full resynchronisation (see Protocol::SHARED_LOG)
                    }
                    assert_eq!(
                        index,
                        applied.len() as u64 + 1,
                        "node {id} applies index {index} out of order"
                    );
                    applied.push(command);
                }
                Effect::TakeSnapshot { index, term } => {
                    let applied = self.applied.get(&id).cloned().unwrap_or_default();
                    assert_eq!(
                        applied.len() as u64,
                        index,
                        "node {id} snapshots at {index}"
                    );
                    let data = bytes::Bytes::from(format!("image of node {id} at {index}"));
                    self.images.insert(data.clone(), applied);
                    let snapshot = crate::Snapshot { index, term, data };
                    self.snapshots.entry(id).or_default().push(snapshot.clone());
                    taken.push(snapshot);
                }
                Effect::InstallSnapshot(snapshot) => {
                    let image = self.images.get(&snapshot.data).cloned();
                    let image = image.expect("an image the pump made");
                    self.applied.insert(id, image);
                    self.snapshots.entry(id).or_default().push(snapshot);
                }
                Effect::Rebase(_) => {}
                Effect::Reject { id: request, error } => self.rejected.push((id, request, error)),
                Effect::ServeRead { id: request } => {
                    let applied = self.applied.get(&id).map_or(0, |a| a.len() as u64);
                    self.served.push((id, request, applied));
                }
                Effect::Event(event) => {
                    if let Event::Narrate(text) = &event {
                        if std::env::var_os("PUMP_TRACE").is_some() {
                            eprintln!("{}", narration_line(id, text));
                        }
                    }
                    self.events.push((id, event));
                }
            }
        }
        let mut out = match self.gates.get_mut(&id).and_then(|g| g.take_signal()) {
            Some(token) => self.step(id, Input::Durable(token)),
            None => Vec::new(),
        };
        // The image is stored at once: report it back.
        for snapshot in taken {
            out.extend(self.step(id, Input::SnapshotTaken(snapshot)));
        }
        out
    }

    /// Delivers the oldest queued message `pick` selects (lost if [`Pump::drop_if`]
    /// says so, or if its receiver is down); false if none is selected.
    pub fn deliver_one(&mut self, pick: impl Fn(&Wire<P>) -> bool) -> bool {
        let Some(i) = self.queue.iter().position(pick) else {
            return false;
        };
        let Some(wire) = self.queue.remove(i) else {
            return false;
        };
        if (self.drop_if)(&wire) || !self.nodes.contains_key(&wire.1) {
            return true;
        }
        self.delivered.push(wire.clone());
        let (from, to, msg) = wire;
        self.step(to, Input::Message { from, msg });
        true
    }

    /// Delivers the messages `pick` selects, those they cause included, oldest first,
    /// until none is left; panics if that never happens.
    pub fn deliver_while(&mut self, pick: impl Fn(&Wire<P>) -> bool) {
        for _ in 0..100_000 {
            if !self.deliver_one(&pick) {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    /// Delivers every message until the network is quiet.
    pub fn deliver_all(&mut self) {
        self.deliver_while(|_| true);
    }

    /// Drops every queued message `pick` selects.
    pub fn drop_where(&mut self, pick: impl Fn(&Wire<P>) -> bool) {
        self.queue.retain(|w| !pick(w));
    }

    /// Cuts the network between `side` and every other node: messages across the cut
    /// are lost when they would be delivered, until [`Pump::heal`]. Replaces
    /// [`Pump::drop_if`].
    pub fn partition(&mut self, side: &[NodeId]) {
        let side: BTreeSet<NodeId> = side.iter().copied().collect();
        self.drop_if = Box::new(move |(from, to, _)| side.contains(from) != side.contains(to));
    }

    /// Lets `by` of virtual time pass with nothing happening (timers fire only when a
    /// test fires them).
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.plus(by);
    }

    /// Loses no more messages.
    pub fn heal(&mut self) {
        self.drop_if = Box::new(|_| false);
    }

    /// Fires `timer` at node `id`, armed or not (a test may stage a stale timer);
    /// returns the effects.
    pub fn fire(&mut self, id: NodeId, timer: P::Timer) -> Effects<P> {
        if let Some(armed) = self.armed.get_mut(&id) {
            armed.remove(&timer);
        }
        self.step(id, Input::Timer(timer))
    }

    /// Fires `timer` at node `id` if it is armed there; whether it was.
    pub fn fire_if_armed(&mut self, id: NodeId, timer: P::Timer) -> bool {
        let armed = self.is_armed(id, timer);
        if armed {
            self.fire(id, timer);
        }
        armed
    }

    /// Fires `timer` at every running node that has it armed, in id order; whether any
    /// had.
    pub fn fire_all(&mut self, timer: P::Timer) -> bool {
        let ids: Vec<NodeId> = self
            .armed
            .iter()
            .filter(|(_, armed)| armed.contains(&timer))
            .map(|(&id, _)| id)
            .collect();
        for &id in &ids {
            self.fire(id, timer);
        }
        !ids.is_empty()
    }

    /// Whether node `id` has `timer` armed.
    pub fn is_armed(&self, id: NodeId, timer: P::Timer) -> bool {
        self.armed.get(&id).is_some_and(|t| t.contains(&timer))
    }

    /// Client command `command` submitted at node `id` (a batch of its own).
    pub fn client(&mut self, id: NodeId, command: Command) -> Effects<P> {
        self.step(id, Input::Client(command))
    }

    /// A client writes `data` at node `id`, with a fresh request id; returns the id.
    pub fn write(&mut self, id: NodeId, data: &str) -> RequestId {
        self.next_seq += 1;
        let request = RequestId {
            origin: id,
            seq: self.next_seq,
        };
        self.client(
            id,
            Command {
                id: request,
                data: Bytes::from(data.to_owned()),
            },
        );
        request
    }

    /// The payloads node `id` applied since it (re)started, as text (protocol entries
    /// without a command left out).
    pub fn applied_data(&self, id: NodeId) -> Vec<String> {
        let applied = self.applied.get(&id).map(Vec::as_slice).unwrap_or_default();
        applied
            .iter()
            .flatten()
            .map(|c| String::from_utf8_lossy(&c.data).into_owned())
            .collect()
    }

    /// Events `pick` selects, with their node, in the order released.
    pub fn events_where(&self, pick: impl Fn(&Event) -> bool) -> Vec<(NodeId, Event)> {
        self.events
            .iter()
            .filter(|(_, e)| pick(e))
            .cloned()
            .collect()
    }

    /// Node `id`'s events, in the order released.
    pub fn events_of(&self, id: NodeId) -> Vec<Event> {
        self.events
            .iter()
            .filter(|(at, _)| *at == id)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// How many of node `id`'s events `pick` selects.
    pub fn count_events(&self, id: NodeId, pick: impl Fn(&Event) -> bool) -> usize {
        self.events
            .iter()
            .filter(|(at, e)| *at == id && pick(e))
            .count()
    }

    /// Node `id`'s narration (without node prefix), in order.
    pub fn narration(&self, id: NodeId) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Narrate(text) if *at == id => Some(text.clone()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;

/// The configuration of the protocols' property tests: `default` cases, or
/// `PROPTEST_CASES` when set (an explicit count would otherwise ignore it), and no
/// failure files written into the source tree.
pub fn proptest_config(default: u32) -> proptest::prelude::ProptestConfig {
    proptest::prelude::ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    }
}

/// The values a forged message carries to find overflows: 0, 1, 2, the top two of the
/// range, small values and any value; shared by the three protocols' extreme-value
/// property tests.
pub fn extreme_u64() -> impl proptest::strategy::Strategy<Value = u64> {
    use proptest::prelude::*;
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(u64::MAX - 1),
        Just(u64::MAX),
        any::<u64>(),
        0u64..8,
    ]
}
