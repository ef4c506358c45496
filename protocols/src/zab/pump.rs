//! A deterministic in-test message pump for ZAB ensembles (test-only).
//!
//! Delivers queued messages in FIFO order, fires timers only on demand, keeps each
//! node's persisted records across crashes and checks that `Apply` indexes never skip.
//! Small on purpose; the harness's simulator does the randomized runs.

use crate::effect::{ClientError, Effect, Event};
use crate::gate::{DurabilityGate, Sync};
use crate::node::{Input, Protocol, Setup};
use crate::quorum::Membership;
use crate::timing::Timing;
use crate::types::Command;
use crate::types::{NodeId, RequestId, Time};
use crate::zab::*;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub(crate) type Msg = (NodeId, NodeId, ZabMessage);

/// A deterministic ensemble of ZAB nodes with a FIFO network and on-demand timers.
pub(crate) struct Pump {
    pub(crate) membership: Membership,
    pub(crate) nodes: BTreeMap<NodeId, Option<Zab>>,
    pub(crate) disk: BTreeMap<NodeId, Vec<ZabRecord>>,
    pub(crate) queue: VecDeque<Msg>,
    pub(crate) armed: BTreeMap<NodeId, BTreeSet<ZabTimer>>,
    /// Each node's effect-ordering gate (the one the runtime and simulator use).
    pub(crate) gates: BTreeMap<NodeId, DurabilityGate<ZabMessage, ZabRecord, ZabTimer>>,
    pub(crate) applied: BTreeMap<NodeId, Vec<Command>>,
    pub(crate) events: BTreeMap<NodeId, Vec<Event>>,
    pub(crate) rejected: Vec<(NodeId, RequestId, ClientError)>,
    pub(crate) sent: Vec<Msg>,
    /// Messages for which this returns true are lost.
    pub(crate) drop_if: Box<dyn FnMut(&Msg) -> bool>,
    pub(crate) next_seq: u64,
    pub(crate) snap_threshold: usize,
    /// Advances by one nanosecond per step.
    pub(crate) clock: u64,
}

impl Pump {
    pub(crate) fn new(voters: &[NodeId], observers: &[NodeId]) -> Pump {
        let membership = Membership::new(voters.iter().copied(), observers.iter().copied());
        let nodes = membership.all().map(|id| (id, None)).collect();
        Pump {
            membership,
            nodes,
            disk: BTreeMap::new(),
            queue: VecDeque::new(),
            armed: BTreeMap::new(),
            gates: BTreeMap::new(),
            applied: BTreeMap::new(),
            events: BTreeMap::new(),
            rejected: Vec::new(),
            sent: Vec::new(),
            drop_if: Box::new(|_| false),
            next_seq: 0,
            snap_threshold: SNAP_THRESHOLD,
            clock: 0,
        }
    }

    pub(crate) fn start(&mut self, id: NodeId) {
        let setup = Setup {
            id,
            membership: self.membership.clone(),
            timing: Timing::default(),
            rng: crate::DetRng::for_node(1, id),
            narrate: true,
        };
        let records = self.disk.get(&id).cloned().unwrap_or_default();
        let mut node = Zab::recover(setup, records).expect("recoverable records");
        node.set_snap_threshold(self.snap_threshold);
        self.nodes.insert(id, Some(node));
        self.step(id, Input::Start);
    }

    /// The node dies: its state machine and timers are gone, its disk stays.
    pub(crate) fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        self.armed.remove(&id);
        self.gates.remove(&id);
        self.applied.remove(&id);
    }

    pub(crate) fn step(&mut self, id: NodeId, input: Input<ZabMessage, ZabTimer>) -> Out {
        let Some(Some(node)) = self.nodes.get_mut(&id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        self.clock += 1;
        // Every input is a batch of its own, as in the simulator.
        node.step(Time(self.clock), input, &mut out);
        node.end_of_batch(Time(self.clock), &mut out);
        // Disks here are instant (`Sync::Now`): a durability signal comes due within the
        // step, and its effects are returned with the step's own.
        let gate = self.gates.entry(id).or_default();
        let (mut records, mut ready) = (Vec::new(), Vec::new());
        gate.admit(&mut out.clone(), (), Sync::Now, &mut records, &mut ready);
        let signal = gate.take_signal();
        self.disk.entry(id).or_default().extend(records);
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
                    assert_eq!(
                        index,
                        applied.len() as u64 + 1,
                        "node {id} applies with a gap"
                    );
                    applied.push(command.expect("ZAB applies only client commands"));
                }
                Effect::Reject { id: req, error } => self.rejected.push((id, req, error)),
                Effect::Event(e) => {
                    if let (Event::Narrate(text), Ok(_)) = (&e, std::env::var("ZAB_TRACE")) {
                        eprintln!("{text}");
                    }
                    self.events.entry(id).or_default().push(e);
                }
            }
        }
        if let Some(token) = signal {
            let more = self.step(id, Input::Durable(token));
            out.extend(more);
        }
        out
    }

    pub(crate) fn deliver_all(&mut self) {
        let mut budget = 100_000;
        while let Some(m) = self.queue.pop_front() {
            budget -= 1;
            assert!(budget > 0, "messages never stop");
            if (self.drop_if)(&m) {
                continue;
            }
            self.sent.push(m.clone());
            let (from, to, msg) = m;
            self.step(to, Input::Message { from, msg });
        }
    }

    pub(crate) fn fire(&mut self, id: NodeId, timer: ZabTimer) -> bool {
        let armed = self.armed.get_mut(&id).is_some_and(|t| t.remove(&timer));
        if armed {
            self.step(id, Input::Timer(timer));
        }
        armed
    }

    pub(crate) fn fire_all(&mut self, timer: ZabTimer) -> bool {
        let ids: Vec<NodeId> = self
            .armed
            .iter()
            .filter(|(_, t)| t.contains(&timer))
            .map(|(&i, _)| i)
            .collect();
        ids.iter()
            .fold(false, |any, &id| self.fire(id, timer) | any)
    }

    /// Delivers everything and lets every finalize wait expire, until quiet.
    pub(crate) fn settle(&mut self) {
        loop {
            self.deliver_all();
            if !self.fire_all(ZabTimer::FinalizeWait) {
                break;
            }
        }
    }

    /// `n` heartbeat ticks on every node, settling in between.
    pub(crate) fn run(&mut self, ticks: usize) {
        self.settle();
        for _ in 0..ticks {
            self.fire_all(ZabTimer::Tick);
            self.settle();
        }
    }

    pub(crate) fn client(&mut self, at: NodeId, data: &str) -> RequestId {
        self.next_seq += 1;
        let id = RequestId {
            origin: at,
            seq: self.next_seq,
        };
        self.step(
            at,
            Input::Client(Command {
                id,
                data: Bytes::from(data.to_owned()),
            }),
        );
        id
    }

    pub(crate) fn node(&self, id: NodeId) -> &Zab {
        self.nodes
            .get(&id)
            .and_then(Option::as_ref)
            .expect("node is up")
    }

    pub(crate) fn state(&self, id: NodeId) -> (ServerState, Option<NodeId>) {
        let n = self.node(id);
        (n.server_state(), n.status().leader)
    }

    pub(crate) fn applied_data(&self, id: NodeId) -> Vec<String> {
        let cmds = self.applied.get(&id).map(Vec::as_slice).unwrap_or_default();
        cmds.iter()
            .map(|c| String::from_utf8_lossy(&c.data).into_owned())
            .collect()
    }

    pub(crate) fn narration(&self, id: NodeId) -> Vec<String> {
        let events = self.events.get(&id).map(Vec::as_slice).unwrap_or_default();
        events
            .iter()
            .filter_map(|e| {
                if let Event::Narrate(t) = e {
                    Some(t.clone())
                } else {
                    None
                }
            })
            .collect()
    }

    pub(crate) fn count_events(&self, id: NodeId, pred: impl Fn(&Event) -> bool) -> usize {
        self.events
            .get(&id)
            .map_or(0, |e| e.iter().filter(|e| pred(e)).count())
    }

    /// Records giving a node epochs 1 and proposals `<1, 1..=last>`.
    pub(crate) fn preload(&mut self, id: NodeId, last: u32) {
        let mut records = vec![ZabRecord::AcceptedEpoch(1), ZabRecord::CurrentEpoch(1)];
        records.extend((1..=last).map(|c| ZabRecord::Proposal(txn(1, c))));
        self.disk.insert(id, records);
    }
}

pub(crate) fn txn(epoch: u32, counter: u32) -> Txn {
    Txn {
        zxid: Zxid::new(epoch, counter),
        command: Command {
            id: RequestId {
                origin: 99,
                seq: u64::from(epoch) << 32 | u64::from(counter),
            },
            data: Bytes::from(format!("{epoch}:{counter}")),
        },
    }
}
