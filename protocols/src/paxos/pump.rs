//! Test support: a tiny deterministic message pump for Paxos scenarios.
//!
//! Not a simulator (that is the harness's job): the test decides which queued message
//! is delivered, which is dropped, which timer fires and which node crashes, so each
//! classic case of "Paxos Made Simple" §2 can be staged exactly.

use super::*;
use crate::gate::{DurabilityGate, Sync};
use crate::types::{Command, RequestId};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// A command with a recognisable payload.
pub fn cmd(origin: NodeId, seq: u64) -> Command {
    Command {
        id: RequestId { origin, seq },
        data: Bytes::from(format!("c{origin}.{seq}")),
    }
}

/// The setup of node `id` in a cluster of voters `1..=n`.
pub fn setup(id: NodeId, n: u64, narrate: bool) -> Setup {
    Setup {
        id,
        membership: Membership::voters(1..=n),
        timing: Timing::default(),
        rng: DetRng::for_node(11, id),
        narrate,
    }
}

/// Node `id` of `1..=n`, recovered from `records` and started (start effects dropped).
pub fn node(id: NodeId, n: u64, records: Vec<PaxosRecord>) -> Paxos {
    let mut p = Paxos::recover(setup(id, n, false), records).expect("records replay");
    p.step(Time::ZERO, Input::Start, &mut Vec::new());
    p
}

/// A message on the wire.
pub type Wire = (NodeId, NodeId, PaxosMessage);

/// A cluster whose network the test drives by hand.
pub struct Net {
    /// Cluster size; voters are `1..=n`.
    n: u64,
    /// Narrate?
    narrate: bool,
    /// Running nodes (crashed ones are absent).
    pub nodes: BTreeMap<NodeId, Paxos>,
    /// Every record each node persisted.
    pub disks: BTreeMap<NodeId, Vec<PaxosRecord>>,
    /// Messages sent and not yet delivered or dropped, oldest first.
    pub queue: Vec<Wire>,
    /// What each node applied since its last (re)start.
    pub applied: BTreeMap<NodeId, Vec<SlotValue>>,
    /// Every event, with its node.
    pub events: Vec<(NodeId, Event)>,
    /// Armed timers per node.
    pub timers: BTreeMap<NodeId, BTreeSet<PaxosTimer>>,
    /// Each node's effect-ordering gate (the one the runtime and simulator use).
    gates: BTreeMap<NodeId, DurabilityGate<PaxosMessage, PaxosRecord, PaxosTimer>>,
    /// Virtual time: one millisecond per step.
    now: Time,
}

impl Net {
    /// `n` fresh started nodes.
    pub fn new(n: u64, narrate: bool) -> Net {
        let mut net = Net {
            n,
            narrate,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            queue: Vec::new(),
            applied: BTreeMap::new(),
            events: Vec::new(),
            timers: BTreeMap::new(),
            gates: BTreeMap::new(),
            now: Time::ZERO,
        };
        for id in 1..=n {
            net.restart(id);
        }
        net
    }

    /// Feeds `input` to node `id` as a batch of its own (as the simulator does) and
    /// routes its effects.
    pub fn step(&mut self, id: NodeId, input: InputOf<Paxos>) {
        self.step_without_ending_the_batch(id, input);
        self.end_batch(id);
    }

    /// Feeds `input` to node `id`, more inputs of the same batch to follow.
    pub fn step_without_ending_the_batch(&mut self, id: NodeId, input: InputOf<Paxos>) {
        self.now = self.now.plus(Duration::from_millis(1));
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let mut out = Vec::new();
        node.step(self.now, input, &mut out);
        self.route(id, out);
    }

    /// Ends node `id`'s batch (the leader sends its queued Accepts).
    pub fn end_batch(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let mut out = Vec::new();
        node.end_of_batch(self.now, &mut out);
        self.route(id, out);
    }

    /// Carries out node `id`'s effects through its gate (an instant disk).
    fn route(&mut self, id: NodeId, mut out: Effects<Paxos>) {
        // Disks here are instant (`Sync::Now`): a durability signal comes due within
        // the step.
        let gate = self.gates.entry(id).or_default();
        let (mut records, mut ready) = (Vec::new(), Vec::new());
        gate.admit(&mut out, (), Sync::Now, &mut records, &mut ready);
        let signal = gate.take_signal();
        self.disks.entry(id).or_default().extend(records);
        for ((), effect) in ready {
            match effect {
                Effect::Send { to, msg } | Effect::SendAhead { to, msg } => {
                    self.queue.push((id, to, msg))
                }
                Effect::Persist(_) | Effect::SignalWhenDurable(_) => {}
                Effect::SetTimer { timer, .. } => {
                    self.timers.entry(id).or_default().insert(timer);
                }
                Effect::CancelTimer(timer) => {
                    self.timers.entry(id).or_default().remove(&timer);
                }
                Effect::Apply { index, command } => {
                    let log = self.applied.entry(id).or_default();
                    assert_eq!(
                        index,
                        log.len() as u64 + 1,
                        "node {id} applied out of order"
                    );
                    log.push(command);
                }
                Effect::Reject { .. } => {}
                Effect::Event(e) => self.events.push((id, e)),
            }
        }
        if let Some(token) = signal {
            self.step(id, Input::Durable(token));
        }
    }

    /// Fires `timer` at node `id` (whether or not it is armed).
    pub fn fire(&mut self, id: NodeId, timer: PaxosTimer) {
        self.timers.entry(id).or_default().remove(&timer);
        self.step(id, Input::Timer(timer));
    }

    /// Whether node `id` has `timer` armed.
    pub fn armed(&self, id: NodeId, timer: PaxosTimer) -> bool {
        self.timers.get(&id).is_some_and(|t| t.contains(&timer))
    }

    /// Delivers the oldest queued message matching `pick`; false if none matches.
    pub fn deliver_one(&mut self, pick: impl Fn(&Wire) -> bool) -> bool {
        let Some(i) = self.queue.iter().position(pick) else {
            return false;
        };
        let (from, to, msg) = self.queue.remove(i);
        self.step(to, Input::Message { from, msg });
        true
    }

    /// Delivers matching messages (including new ones they cause) until none is left.
    pub fn deliver_while(&mut self, pick: impl Fn(&Wire) -> bool) {
        for _ in 0..100_000 {
            if !self.deliver_one(&pick) {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    /// Delivers everything until the network is quiet.
    pub fn deliver_all(&mut self) {
        self.deliver_while(|_| true);
    }

    /// Drops every queued message matching `pick`.
    pub fn drop_where(&mut self, pick: impl Fn(&Wire) -> bool) {
        self.queue.retain(|w| !pick(w));
    }

    /// Client command `c` submitted at node `id` (a batch of its own: a leader sends
    /// its Accepts at once).
    pub fn client(&mut self, id: NodeId, c: Command) {
        self.step(id, Input::Client(c));
    }

    /// Node `id` crashes: its volatile state and the messages to it are lost.
    pub fn crash(&mut self, id: NodeId) {
        self.nodes.remove(&id);
        self.timers.remove(&id);
        self.gates.remove(&id);
        self.queue.retain(|(_, to, _)| *to != id);
    }

    /// Node `id` (re)starts from its records.
    pub fn restart(&mut self, id: NodeId) {
        let records = self.disks.get(&id).cloned().unwrap_or_default();
        let node =
            Paxos::recover(setup(id, self.n, self.narrate), records).expect("records replay");
        self.nodes.insert(id, node);
        self.applied.insert(id, Vec::new());
        self.timers.remove(&id);
        self.step(id, Input::Start);
    }

    /// Node `id` times out and the network runs until quiet; if its ballot was too low
    /// (a Nack told it a higher one), it retries after its back-off, a few times.
    pub fn elect(&mut self, id: NodeId) {
        self.fire(id, PaxosTimer::LeaderTimeout);
        self.deliver_all();
        for _ in 0..5 {
            if !self.armed(id, PaxosTimer::Backoff) || self.leaders().contains(&id) {
                return;
            }
            self.fire(id, PaxosTimer::Backoff);
            self.deliver_all();
        }
    }

    /// Every running node's leader heartbeat goes out and the network runs until quiet.
    pub fn heartbeat(&mut self) {
        let leaders: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, p)| p.status().role == Role::Leader)
            .map(|(id, _)| *id)
            .collect();
        for id in leaders {
            self.fire(id, PaxosTimer::Heartbeat);
        }
        self.deliver_all();
    }

    /// The running nodes that believe they lead.
    pub fn leaders(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, p)| p.status().role == Role::Leader)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Events `pick` selects, with their node.
    pub fn events_where(&self, pick: impl Fn(&Event) -> bool) -> Vec<(NodeId, Event)> {
        self.events
            .iter()
            .filter(|(_, e)| pick(e))
            .cloned()
            .collect()
    }
}
