//! The durability gate: the effect-ordering contract of [`crate::effect`], carried out
//! once for every host (the tokio runtime, the deterministic simulator, the protocols'
//! test pump [`crate::pump`]), so that the code the simulator sweeps is the code the real
//! cluster runs.
//!
//! The contract (Raft Figure 2: "respond to RPCs only after updating stable storage"; a
//! ZAB follower's ACK only after logging; a Paxos acceptor's promise only after recording
//! it):
//! - every [`Effect::Persist`] of a batch goes into one write job, made durable with one
//!   sync (group commit);
//! - [`Effect::Send`], [`Effect::Reject`], [`Effect::ServeRead`], [`Effect::Event`] and
//!   [`Effect::SignalWhenDurable`] wait until the job of their batch, and every earlier
//!   job, is durable, and leave in the order the protocol produced them;
//! - [`Effect::SendAhead`] leaves at once, unless an earlier send to the same peer is
//!   still waiting (per-peer order is kept, as TCP keeps it); [`Effect::Apply`] and the
//!   timer effects are carried out at once (see the module docs of [`crate::effect`]).
//!
//! A released durability signal is not handed to the host as an effect: the gate keeps
//! the latest token, and the host steps [`crate::Input::Durable`] with
//! [`DurabilityGate::take_signal`] after carrying out what was released with it.
//!
//! The gate holds no clock and does no I/O. A host writes the records of each job and
//! reports when they are durable ([`DurabilityGate::durable`]), or syncs them before it
//! carries out anything ([`Sync::Now`]: an inline log, an instant simulated disk).
//! Each released effect comes with the stamp its batch was admitted with (the runtime
//! stamps the instant the protocol produced an event, not the end of the fsync it
//! waited for).

use crate::effect::Effect;
use crate::types::NodeId;
use std::collections::{BTreeMap, VecDeque};

/// How the host makes a batch's records durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// The host writes and syncs the records before it carries out anything released
    /// by this call; a sync also makes every earlier job durable (the log is
    /// sequential).
    Now,
    /// The host writes the records in the background and calls
    /// [`DurabilityGate::durable`] with the job number once they are durable.
    Later,
}

/// An effect waiting for a job to be durable.
#[derive(Debug)]
struct Held<M, R, T, S> {
    job: u64,
    stamp: S,
    effect: Effect<M, R, T>,
}

/// Holds a node's effects until the records they depend on are durable.
#[derive(Debug)]
pub struct DurabilityGate<M, R, T, S = ()> {
    /// Number of the last write job handed out.
    submitted: u64,
    /// Every job up to this one is durable.
    durable: u64,
    /// Waiting effects, in protocol order.
    held: VecDeque<Held<M, R, T, S>>,
    /// Sends in `held`, by peer (a send ahead must not overtake them).
    held_to: BTreeMap<NodeId, usize>,
    /// The latest durability token released and not yet taken.
    signal: Option<u64>,
    /// The last admitted batch's [`Effect::Rebase`]: its job, and the position in that
    /// job's records where the rebase's records begin.
    rebase: Option<(u64, usize)>,
}

impl<M, R, T, S> Default for DurabilityGate<M, R, T, S> {
    fn default() -> Self {
        DurabilityGate {
            submitted: 0,
            durable: 0,
            held: VecDeque::new(),
            held_to: BTreeMap::new(),
            signal: None,
            rebase: None,
        }
    }
}

impl<M, R, T, S: Copy> DurabilityGate<M, R, T, S> {
    /// A gate with nothing written and nothing waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one batch of effects, in the order the protocol produced them, and leaves
    /// `effects` empty. Their records are appended to `records`, to be written as one
    /// job; what may be carried out now is appended to `ready`, in order, with `stamp`;
    /// the rest waits. Returns the job's number when the batch persisted anything.
    pub fn admit(
        &mut self,
        effects: &mut Vec<Effect<M, R, T>>,
        stamp: S,
        sync: Sync,
        records: &mut Vec<R>,
        ready: &mut Vec<(S, Effect<M, R, T>)>,
    ) -> Option<u64> {
        // The job number is assigned up front: every waiting effect of the batch waits
        // for the whole batch's records, whichever side of a persist it stands on.
        let writes = effects
            .iter()
            .any(|e| matches!(e, Effect::Persist(_) | Effect::Rebase(_)));
        let job = writes.then(|| {
            self.submitted += 1;
            self.submitted
        });
        if writes && sync == Sync::Now {
            self.durable = self.submitted;
            self.release(ready);
        }
        for e in effects.drain(..) {
            match e {
                Effect::Persist(r) => records.push(r),
                Effect::Rebase(rs) => {
                    self.rebase = Some((self.submitted, records.len()));
                    records.extend(rs);
                }
                Effect::SetTimer { .. }
                | Effect::CancelTimer(_)
                | Effect::Apply { .. }
                | Effect::TakeSnapshot { .. }
                | Effect::InstallSnapshot(_) => ready.push((stamp, e)),
                Effect::SendAhead { to, msg } if !self.held_to.contains_key(&to) => {
                    ready.push((stamp, Effect::Send { to, msg }))
                }
                Effect::SendAhead { to, msg } => self.hold(stamp, Effect::Send { to, msg }),
                other if self.held.is_empty() && self.durable >= self.submitted => {
                    self.pass(stamp, other, ready)
                }
                other => self.hold(stamp, other),
            }
        }
        job
    }

    /// Where the batch just admitted rebases the log ([`Effect::Rebase`]): the position
    /// in its records where the new start of the log begins. Every record before that
    /// position, and every earlier job's, may be deleted once the job is durable.
    /// `None` when the batch had no rebase (or it was taken already).
    pub fn take_rebase(&mut self) -> Option<usize> {
        let (job, at) = self.rebase.take()?;
        (job == self.submitted).then_some(at)
    }

    /// Every job up to `job` is durable: releases, in order, what waited for them.
    pub fn durable(&mut self, job: u64, ready: &mut Vec<(S, Effect<M, R, T>)>) {
        self.durable = self.durable.max(job);
        self.release(ready);
    }

    /// The latest durability token released since the last call: the host steps
    /// [`crate::Input::Durable`] with it after carrying out the effects released with it.
    pub fn take_signal(&mut self) -> Option<u64> {
        self.signal.take()
    }

    /// Whether a released durability token waits for [`Self::take_signal`].
    pub fn has_signal(&self) -> bool {
        self.signal.is_some()
    }

    /// Whether every job handed out is durable.
    pub fn is_settled(&self) -> bool {
        self.durable >= self.submitted
    }

    /// How many effects wait for durability.
    pub fn waiting(&self) -> usize {
        self.held.len()
    }

    fn release(&mut self, ready: &mut Vec<(S, Effect<M, R, T>)>) {
        while self.held.front().is_some_and(|h| h.job <= self.durable) {
            let Some(h) = self.held.pop_front() else {
                break;
            };
            if let Effect::Send { to, .. } = &h.effect {
                if let Some(n) = self.held_to.get_mut(to) {
                    *n -= 1;
                    if *n == 0 {
                        self.held_to.remove(to);
                    }
                }
            }
            self.pass(h.stamp, h.effect, ready);
        }
    }

    /// Hands `effect` to the host, keeping a durability signal for [`Self::take_signal`].
    fn pass(&mut self, stamp: S, effect: Effect<M, R, T>, ready: &mut Vec<(S, Effect<M, R, T>)>) {
        match effect {
            Effect::SignalWhenDurable(token) => self.signal = self.signal.max(Some(token)),
            other => ready.push((stamp, other)),
        }
    }

    fn hold(&mut self, stamp: S, effect: Effect<M, R, T>) {
        if let Effect::Send { to, .. } = &effect {
            *self.held_to.entry(*to).or_default() += 1;
        }
        self.held.push_back(Held {
            job: self.submitted,
            stamp,
            effect,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    type E = Effect<&'static str, &'static str, u8>;
    type Gate = DurabilityGate<&'static str, &'static str, u8, u32>;

    fn send(to: NodeId, msg: &'static str) -> E {
        Effect::Send { to, msg }
    }

    fn names(ready: &[(u32, E)]) -> Vec<String> {
        ready
            .iter()
            .map(|(stamp, e)| match e {
                Effect::Send { to, msg } => format!("{stamp}:send {msg}->{to}"),
                Effect::SetTimer { timer, .. } => format!("{stamp}:timer {timer}"),
                Effect::Apply { index, .. } => format!("{stamp}:apply {index}"),
                other => format!("{stamp}:{other:?}"),
            })
            .collect()
    }

    #[test]
    fn sends_wait_for_their_batch_timers_applies_and_sends_ahead_do_not() {
        let mut gate = Gate::new();
        let (mut records, mut ready) = (Vec::new(), Vec::new());
        let job = gate.admit(
            &mut vec![
                Effect::Persist("vote"),
                send(2, "granted"),
                Effect::SetTimer {
                    timer: 1,
                    after: Duration::from_millis(5),
                },
                Effect::SendAhead {
                    to: 3,
                    msg: "append",
                },
                Effect::Apply {
                    index: 1,
                    command: None,
                },
                Effect::SignalWhenDurable(7),
            ],
            10,
            Sync::Later,
            &mut records,
            &mut ready,
        );
        assert_eq!((job, records), (Some(1), vec!["vote"]));
        assert_eq!(
            names(&ready),
            ["10:timer 1", "10:send append->3", "10:apply 1"]
        );
        assert_eq!(gate.take_signal(), None);
        ready.clear();
        gate.durable(1, &mut ready);
        assert_eq!(names(&ready), ["10:send granted->2"]);
        assert_eq!(gate.take_signal(), Some(7));
        assert!(gate.is_settled());
    }

    #[test]
    fn a_rebase_is_written_in_its_batch_and_its_start_reported_once() {
        let mut gate = Gate::new();
        let (mut records, mut ready) = (Vec::new(), Vec::new());
        let job = gate.admit(
            &mut vec![
                Effect::Persist("entry 9"),
                Effect::TakeSnapshot { index: 8, term: 1 },
                Effect::Rebase(vec!["base", "entries"]),
                send(2, "ok"),
            ],
            7,
            Sync::Later,
            &mut records,
            &mut ready,
        );
        assert_eq!(job, Some(1));
        assert_eq!(records, ["entry 9", "base", "entries"]);
        assert_eq!(gate.take_rebase(), Some(1), "the base starts after entry 9");
        assert_eq!(gate.take_rebase(), None, "reported once");
        // The snapshot request is carried out at once; the answer waits for the job.
        assert_eq!(names(&ready), ["7:TakeSnapshot { index: 8, term: 1 }"]);
        gate.durable(1, &mut ready);
        assert_eq!(ready.len(), 2);
        // A later batch without a rebase reports none.
        records.clear();
        gate.admit(
            &mut vec![Effect::Persist("x")],
            8,
            Sync::Later,
            &mut records,
            &mut ready,
        );
        assert_eq!(gate.take_rebase(), None);
    }

    #[test]
    fn a_send_ahead_never_overtakes_a_held_send_to_the_same_peer() {
        let mut gate = Gate::new();
        let (mut records, mut ready) = (Vec::new(), Vec::new());
        gate.admit(
            &mut vec![Effect::Persist("r"), send(2, "ack")],
            1,
            Sync::Later,
            &mut records,
            &mut ready,
        );
        gate.admit(
            &mut vec![
                Effect::SendAhead { to: 2, msg: "a2" },
                Effect::SendAhead { to: 3, msg: "a3" },
            ],
            2,
            Sync::Later,
            &mut records,
            &mut ready,
        );
        assert_eq!(names(&ready), ["2:send a3->3"]);
        ready.clear();
        gate.durable(1, &mut ready);
        assert_eq!(names(&ready), ["1:send ack->2", "2:send a2->2"]);
    }

    #[test]
    fn later_batches_without_records_still_wait_behind_earlier_ones() {
        let mut gate = Gate::new();
        let (mut records, mut ready) = (Vec::new(), Vec::new());
        gate.admit(
            &mut vec![Effect::Persist("1"), send(2, "one")],
            1,
            Sync::Later,
            &mut records,
            &mut ready,
        );
        gate.admit(
            &mut vec![Effect::Persist("2"), send(2, "two")],
            2,
            Sync::Later,
            &mut records,
            &mut ready,
        );
        gate.admit(
            &mut vec![send(3, "three")],
            3,
            Sync::Later,
            &mut records,
            &mut ready,
        );
        assert!(ready.is_empty());
        gate.durable(1, &mut ready);
        assert_eq!(names(&ready), ["1:send one->2"]);
        ready.clear();
        gate.durable(2, &mut ready);
        assert_eq!(names(&ready), ["2:send two->2", "3:send three->3"]);
    }

    #[test]
    fn a_synchronous_write_releases_everything_in_protocol_order() {
        let mut gate = Gate::new();
        let (mut records, mut ready) = (Vec::new(), Vec::new());
        gate.admit(
            &mut vec![Effect::Persist("1"), send(2, "held")],
            1,
            Sync::Later,
            &mut records,
            &mut ready,
        );
        gate.admit(
            &mut vec![
                send(3, "first"),
                Effect::Persist("2"),
                Effect::SetTimer {
                    timer: 4,
                    after: Duration::ZERO,
                },
                send(3, "second"),
            ],
            2,
            Sync::Now,
            &mut records,
            &mut ready,
        );
        assert_eq!(records, ["1", "2"]);
        assert_eq!(
            names(&ready),
            [
                "1:send held->2",
                "2:send first->3",
                "2:timer 4",
                "2:send second->3"
            ]
        );
        assert!(gate.is_settled());
    }

    /// One recorded step of a host: a batch of a protocol's effects, or a report that
    /// every job up to this one is durable.
    enum Trace<M, R, T> {
        Batch(Vec<Effect<M, R, T>>),
        Durable(u64),
    }

    /// Drives `trace` through a gate, stamping each batch with `stamp(i)`, and returns
    /// what it released (with its durability signals) in order, each with the index of
    /// the trace step that released it.
    fn drive<M: Clone, R: Clone, T: Clone, S: Copy>(
        trace: &[Trace<M, R, T>],
        stamp: impl Fn(usize) -> S,
    ) -> Vec<(usize, Effect<M, R, T>)> {
        let mut gate = DurabilityGate::<M, R, T, S>::new();
        let mut released = Vec::new();
        for (i, step) in trace.iter().enumerate() {
            let mut ready = Vec::new();
            match step {
                Trace::Batch(effects) => {
                    gate.admit(
                        &mut effects.clone(),
                        stamp(i),
                        Sync::Later,
                        &mut Vec::new(),
                        &mut ready,
                    );
                }
                Trace::Durable(job) => gate.durable(*job, &mut ready),
            }
            released.extend(ready.into_iter().map(|(_, e)| (i, e)));
            released.extend(
                gate.take_signal()
                    .map(|t| (i, Effect::SignalWhenDurable(t))),
            );
        }
        released
    }

    #[test]
    fn a_raft_trace_releases_the_same_effects_as_the_runtime_and_the_simulator_drive_it() {
        use crate::raft::{Raft, RaftMessage, RaftTimer};
        use crate::{Command, DetRng, Input, Membership, Protocol, RequestId, Setup, Time};
        let setup = Setup {
            id: 1,
            membership: Membership::voters(1..=3),
            // The campaign below is §5.2's, without a pre-vote round first.
            timing: crate::Timing {
                pre_vote: false,
                ..crate::Timing::default()
            },
            rng: DetRng::for_node(1, 1),
            narrate: false,
        };
        let mut raft = Raft::recover(setup, Vec::new()).expect("empty log");
        // Each input is a batch of its own.
        let mut step = |input| {
            let mut out = Vec::new();
            raft.step(Time::ZERO, input, &mut out);
            raft.end_of_batch(Time::ZERO, &mut out);
            Trace::Batch(out)
        };
        let vote = |from| Input::Message {
            from,
            msg: RaftMessage::RequestVoteResponse {
                term: 1,
                granted: true,
            },
        };
        let command = |seq| {
            Input::Client(Command {
                id: RequestId { origin: 1, seq },
                data: bytes::Bytes::from_static(b"x"),
            })
        };
        // Campaign (vote for itself: job 1), win (no-op: job 2), two commands (jobs 3
        // and 4) and a follower's acknowledgement, with the log's reports in between.
        let trace = vec![
            step(Input::Start),
            step(Input::Timer(RaftTimer::Election)),
            Trace::Durable(1),
            step(vote(2)),
            step(command(1)),
            Trace::Durable(2),
            step(command(2)),
            step(Input::Message {
                from: 2,
                msg: RaftMessage::AppendEntriesResponse {
                    term: 1,
                    success: true,
                    index: 2,
                    rejected: 0,
                },
            }),
            Trace::Durable(4),
        ];
        // The runtime stamps batches with the instant they were produced, the
        // simulator with nothing: what leaves, and in which order, is the same.
        let runtime = drive(&trace, |i| {
            std::time::Instant::now() + Duration::from_millis(i as u64)
        });
        let simulator = drive(&trace, |_| ());
        assert_eq!(runtime, simulator);
        // RequestVotes leave only with the report that the vote for itself (job 1) is
        // durable, trace step 2 ...
        let vote_requests: Vec<usize> = runtime
            .iter()
            .filter(|(_, e)| {
                matches!(
                    e,
                    Effect::Send {
                        msg: RaftMessage::RequestVote { .. },
                        ..
                    }
                )
            })
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(vote_requests, [2, 2]);
        // ... while the new leader's AppendEntries (sent ahead) leave with its win ...
        assert!(runtime.iter().any(|(i, e)| *i == 3
            && matches!(
                e,
                Effect::Send {
                    msg: RaftMessage::AppendEntries { .. },
                    ..
                }
            )));
        // ... and the durability signals of its own log come back with the reports.
        let signals: Vec<usize> = runtime
            .iter()
            .filter(|(_, e)| matches!(e, Effect::SignalWhenDurable(_)))
            .map(|(i, _)| *i)
            .collect();
        assert!(
            !signals.is_empty()
                && signals
                    .iter()
                    .all(|&i| matches!(trace[i], Trace::Durable(_)))
        );
    }

    mod contract {
        //! Random batches and durability reports: nothing that waits leaves before its
        //! job is durable, sends to one peer keep their order, nothing is lost.
        use super::super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            /// A batch: `persists` records, then sends (peer, ahead?) in order.
            Batch {
                persists: bool,
                sends: Vec<(NodeId, bool)>,
            },
            Durable,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (any::<bool>(), prop::collection::vec((1u64..=3, any::<bool>()), 0..4))
                    .prop_map(|(persists, sends)| Op::Batch { persists, sends }),
                1 => Just(Op::Durable),
            ]
        }

        proptest! {
            #[test]
            fn nothing_waiting_leaves_early_and_per_peer_order_holds(
                ops in prop::collection::vec(op(), 1..40),
            ) {
                // A send's message is (job it must wait for, or 0 when ahead; serial).
                let mut gate = DurabilityGate::<(u64, u64), u8, u8, ()>::new();
                let (mut serial, mut submitted, mut durable) = (0u64, 0u64, 0u64);
                let mut sent: Vec<(NodeId, (u64, u64))> = Vec::new();
                let mut ready = Vec::new();
                let mut total = 0;
                for op in ops {
                    match op {
                        Op::Batch { persists, sends } => {
                            let mut effects = Vec::new();
                            if persists {
                                effects.push(Effect::Persist(0));
                                submitted += 1;
                            }
                            for (to, ahead) in sends {
                                serial += 1;
                                total += 1;
                                effects.push(if ahead {
                                    Effect::SendAhead { to, msg: (0, serial) }
                                } else {
                                    Effect::Send { to, msg: (submitted, serial) }
                                });
                            }
                            gate.admit(&mut effects, (), Sync::Later, &mut Vec::new(), &mut ready);
                        }
                        Op::Durable => {
                            durable = submitted;
                            gate.durable(durable, &mut ready);
                        }
                    }
                    for ((), e) in ready.drain(..) {
                        if let Effect::Send { to, msg } = e {
                            prop_assert!(msg.0 <= durable, "{msg:?} left before job {} was durable", msg.0);
                            sent.push((to, msg));
                        }
                    }
                }
                gate.durable(submitted, &mut ready);
                for ((), e) in ready.drain(..) {
                    if let Effect::Send { to, msg } = e {
                        sent.push((to, msg));
                    }
                }
                prop_assert_eq!(sent.len(), total, "an effect was lost");
                for peer in 1..=3 {
                    let serials: Vec<u64> = sent.iter().filter(|s| s.0 == peer).map(|s| s.1 .1).collect();
                    prop_assert!(serials.windows(2).all(|w| w[0] < w[1]), "peer {peer}: {serials:?}");
                }
            }
        }
    }
}
