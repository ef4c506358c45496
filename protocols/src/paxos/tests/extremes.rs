//! Random messages with extreme field values (issue 23): `step` must neither panic (the
//! test build checks overflow) nor let a ballot, an era or the commit point wrap or go
//! back, and must never adopt a ballot or an era it could never move past.
//!
//! A node of voters 1..=3 and observer 4 is built in one of several states (a lone
//! fresh follower, the leader, a follower or the observer of a cluster that elected a
//! leader through the pump, a candidate in Phase 1 or Phase 2, a node recovered from
//! records, the leader of the last ballots and eras there are), then fed random inputs:
//! every message from any sender (members, unknown ids, itself), with ballots (round
//! and node), eras, slots, commit points and counts drawn from {0, 1, 2, max-1, max,
//! random, small}, ballots now and then the node's own, the one it promised or one of
//! the sender's; timers, client commands, durability reports, lost peers and some of
//! the cluster's own traffic. After every input the invariants below are checked; the
//! pump checks that every node applies in slot order. `PROPTEST_CASES` raises the
//! number of cases.

use super::*;
use crate::describe::Describe;
use crate::effect::{Effect, Event};
use crate::node::InputOf;
use crate::pump::Wire;
use ballot::MAX_ROUND;
use messages::{AcceptedEra, AcceptedSlot};
use proptest::prelude::*;

const OBSERVER: NodeId = 4;

/// Stand-ins for ballots known only when the message is delivered: the node's own
/// ballot (or its promise if it has none), its promise, and `round` of the sender.
const OWN: NodeId = 0xB0B0_0001;
const PROMISED: NodeId = 0xB0B0_0002;
const SENDER: NodeId = 0xB0B0_0003;

use crate::pump::extreme_u64 as e64;

/// Rounds: the extremes of `u64` and of the 48 bits the term encoding holds.
fn round() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => e64(),
        1 => (0u64..4).prop_map(|d| MAX_ROUND + 1 - d),
    ]
}

/// Members, unknown ids (0, 5, max) and the node itself.
fn id() -> impl Strategy<Value = NodeId> {
    prop_oneof![4 => 0u64..=5, 1 => Just(u64::MAX)]
}

fn ballot() -> impl Strategy<Value = Ballot> {
    prop_oneof![
        3 => (round(), id()).prop_map(|(r, n)| Ballot::new(r, n)),
        3 => round().prop_map(|r| Ballot::new(r, SENDER)),
        2 => Just(Ballot::new(0, OWN)),
        1 => Just(Ballot::new(0, PROMISED)),
    ]
}

fn leadership() -> impl Strategy<Value = Leadership> {
    (id(), ballot()).prop_map(|(leader, ballot)| Leadership { leader, ballot })
}

fn value() -> impl Strategy<Value = SlotValue> {
    prop::option::of((0u64..4).prop_map(|seq| cmd(9, seq)))
}

fn message() -> impl Strategy<Value = PaxosMessage> {
    let era = || (e64(), leadership());
    prop_oneof![
        (ballot(), e64(), e64()).prop_map(|(ballot, era_from, slot_from)| {
            PaxosMessage::Prepare {
                ballot,
                era_from,
                slot_from,
            }
        }),
        (
            ballot(),
            prop::option::of(era()),
            prop::collection::vec(
                (e64(), ballot(), leadership()).prop_map(|(era, ballot, value)| AcceptedEra {
                    era,
                    ballot,
                    value
                }),
                0..3
            ),
            prop::collection::vec((e64(), value()), 0..3),
            prop::collection::vec(
                (e64(), ballot(), value()).prop_map(|(slot, ballot, value)| AcceptedSlot {
                    slot,
                    ballot,
                    value
                }),
                0..3
            ),
        )
            .prop_map(|(ballot, chosen_era, eras, chosen, accepted)| {
                PaxosMessage::Promise {
                    ballot,
                    chosen_era,
                    eras,
                    chosen,
                    accepted,
                }
            })
            // Boxed: the whole strategy unboxed overflows a test thread's stack.
            .boxed(),
        (
            ballot(),
            prop::option::of(era()),
            prop::collection::vec((e64(), value()), 0..4),
            e64()
        )
            .prop_map(|(ballot, era, slots, commit)| PaxosMessage::Accept {
                ballot,
                era,
                slots,
                commit
            }),
        (
            ballot(),
            prop::option::of(e64()),
            prop::collection::vec(e64(), 0..4)
        )
            .prop_map(|(ballot, era, slots)| PaxosMessage::Accepted { ballot, era, slots }),
        (ballot(), ballot()).prop_map(|(ballot, higher)| PaxosMessage::Nack { ballot, higher }),
        (ballot(), e64(), e64()).prop_map(|(ballot, era, commit)| PaxosMessage::Heartbeat {
            ballot,
            era,
            commit
        }),
        ballot().prop_map(|ballot| PaxosMessage::HeartbeatReply { ballot }),
        e64().prop_map(|from| PaxosMessage::CatchUp { from }),
        (e64(), e64(), prop::collection::vec(value(), 0..4)).prop_map(|(commit, from, values)| {
            PaxosMessage::Chosen {
                commit,
                from,
                values,
            }
        }),
        // Never a last piece: a forged whole image would be installed (as a forged
        // InstallSnapshot would be in Raft), which the crash-fault model excludes and
        // the pump's hosts cannot restore.
        (e64(), e64(), prop::collection::vec(any::<u8>(), 0..6)).prop_map(
            |(index, offset, data)| PaxosMessage::SnapshotChunk {
                index,
                term: 0,
                offset,
                data: data.into(),
                done: false,
            }
        ),
        (e64(), e64()).prop_map(|(index, offset)| PaxosMessage::SnapshotPull { index, offset }),
    ]
}

/// One thing that happens to the node under test.
#[derive(Clone, Debug)]
enum Act {
    Message(NodeId, PaxosMessage),
    Timer(PaxosTimer),
    Client(u64),
    Durable(u64),
    PeerLost(NodeId),
    /// Up to this many of the cluster's queued messages are delivered.
    Deliver(usize),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        12 => (id(), message()).prop_map(|(from, msg)| Act::Message(from, msg)),
        2 => prop_oneof![
            Just(PaxosTimer::LeaderTimeout),
            Just(PaxosTimer::Backoff),
            Just(PaxosTimer::Heartbeat),
            Just(PaxosTimer::Retransmit),
        ]
        .prop_map(Act::Timer),
        1 => (0u64..4).prop_map(Act::Client),
        1 => e64().prop_map(Act::Durable),
        1 => id().prop_map(Act::PeerLost),
        2 => (1usize..12).prop_map(Act::Deliver),
    ]
}

/// Replaces the stand-in ballots of `msg` (see [`OWN`]).
fn resolve(p: &Paxos, from: NodeId, mut msg: PaxosMessage) -> PaxosMessage {
    let promised = p.acceptor.promised();
    let own = p.own_ballot().unwrap_or(promised);
    let fix = |b: &mut Ballot| {
        *b = match b.node {
            OWN => own,
            PROMISED => promised,
            SENDER => Ballot::new(b.round, from),
            _ => *b,
        }
    };
    match &mut msg {
        PaxosMessage::Prepare { ballot, .. }
        | PaxosMessage::Accepted { ballot, .. }
        | PaxosMessage::Heartbeat { ballot, .. }
        | PaxosMessage::HeartbeatReply { ballot }
        | PaxosMessage::TakeOver { ballot, .. }
        | PaxosMessage::LeaseProbe { ballot, .. }
        | PaxosMessage::LeaseProbeAck { ballot, .. } => fix(ballot),
        PaxosMessage::Promise {
            ballot,
            chosen_era,
            eras,
            accepted,
            ..
        } => {
            fix(ballot);
            if let Some((_, v)) = chosen_era {
                fix(&mut v.ballot);
            }
            for e in eras {
                fix(&mut e.ballot);
                fix(&mut e.value.ballot);
            }
            for a in accepted {
                fix(&mut a.ballot);
            }
        }
        PaxosMessage::Accept { ballot, era, .. } => {
            fix(ballot);
            if let Some((_, v)) = era {
                fix(&mut v.ballot);
            }
        }
        PaxosMessage::Nack { ballot, higher } => {
            fix(ballot);
            fix(higher);
        }
        PaxosMessage::CatchUp { .. }
        | PaxosMessage::Chosen { .. }
        | PaxosMessage::SnapshotChunk { .. }
        | PaxosMessage::SnapshotPull { .. } => {}
    }
    msg
}

/// The states the node under test starts in.
#[derive(Clone, Copy, Debug)]
enum Start {
    Fresh,
    Leader,
    Follower,
    Observer,
    /// Node 2 timed out under leader 1: its Prepare is not delivered yet.
    Candidate,
    /// Node 1 won Phase 1; its leadership Accept is not delivered yet.
    PhaseTwo,
    Recovered,
    /// Leader 1 elected with the last rounds and eras there are, nearly.
    LastBallots,
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        Just(Start::Fresh),
        Just(Start::Leader),
        Just(Start::Follower),
        Just(Start::Observer),
        Just(Start::Candidate),
        Just(Start::PhaseTwo),
        Just(Start::Recovered),
        Just(Start::LastBallots),
    ]
}

fn build(start: Start) -> (Pump<Paxos>, NodeId) {
    let mut p = Pump::new(Membership::new([1, 2, 3], [OBSERVER]))
        .seed(5)
        .narrate(true);
    let elected = |p: &mut Pump<Paxos>| {
        p.start_all();
        p.elect(1);
        p.write(1, "a");
        p.write(1, "b");
        p.deliver_all();
        p.heartbeat();
    };
    match start {
        Start::Fresh => {
            p.start(1);
            (p, 1)
        }
        Start::Leader | Start::Follower | Start::Observer | Start::Candidate => {
            elected(&mut p);
            let target = match start {
                Start::Leader => 1,
                Start::Follower => 2,
                Start::Observer => OBSERVER,
                _ => {
                    p.fire(2, PaxosTimer::LeaderTimeout);
                    2
                }
            };
            (p, target)
        }
        Start::PhaseTwo => {
            p.start_all();
            p.fire(1, PaxosTimer::LeaderTimeout);
            p.deliver_while(|(_, _, m)| !matches!(m, PaxosMessage::Accept { .. }));
            (p, 1)
        }
        Start::Recovered => {
            let b = Ballot::new(2, 1);
            let lead = Leadership {
                leader: 1,
                ballot: b,
            };
            p.disks.insert(
                2,
                vec![
                    PaxosRecord::Accepted {
                        ballot: b,
                        era: Some((1, lead)),
                        slots: vec![(1, None), (2, Some(cmd(1, 1))), (4, None)],
                    },
                    PaxosRecord::EraChosen {
                        era: 1,
                        value: lead,
                    },
                    PaxosRecord::Committed {
                        upto: 2,
                        values: vec![],
                    },
                    PaxosRecord::Promised {
                        ballot: Ballot::new(3, 3),
                    },
                ],
            );
            p.start(2);
            (p, 2)
        }
        Start::LastBallots => {
            let b = Ballot::new(MAX_ROUND - 3, 3);
            let value = Leadership {
                leader: 3,
                ballot: b,
            };
            for id in [1, 2, 3] {
                p.disks.insert(
                    id,
                    vec![
                        PaxosRecord::Promised { ballot: b },
                        PaxosRecord::EraChosen {
                            era: u64::MAX - 3,
                            value,
                        },
                    ],
                );
            }
            elected(&mut p);
            (p, 1)
        }
    }
}

/// What must never go back, observed before an input.
#[derive(Clone, Copy, Debug)]
struct Before {
    promised: Ballot,
    highest_seen: Ballot,
    own: Option<Ballot>,
    era: u64,
    commit: u64,
    applied: u64,
}

fn before(p: &Paxos) -> Before {
    Before {
        promised: p.acceptor.promised(),
        highest_seen: p.highest_seen,
        own: p.own_ballot(),
        era: p.learner.era(),
        commit: p.learner.commit(),
        applied: p.applied,
    }
}

/// Whether `b` is encoded in a term without loss (round and node both fit).
fn encodable(b: Ballot) -> bool {
    Ballot::from_u64(b.as_u64()) == b
}

fn check_state(p: &Paxos, b: Before) -> Result<(), TestCaseError> {
    let promised = p.acceptor.promised();
    prop_assert!(promised >= b.promised, "promise went back");
    prop_assert!(promised.round < MAX_ROUND, "promised the last round");
    prop_assert!(
        p.highest_seen >= b.highest_seen,
        "highest ballot seen went back"
    );
    prop_assert!(p.highest_seen.round < MAX_ROUND, "saw the last round");
    prop_assert!(p.learner.era() >= b.era, "era went back");
    prop_assert!(p.learner.era() < u64::MAX, "learned the last era");
    prop_assert!(p.learner.commit() >= b.commit, "commit point went back");
    if let Some(own) = p.own_ballot().filter(|o| Some(*o) != b.own) {
        // A new ballot of ours: above everything seen, and encodable as a term.
        prop_assert!(
            own > b.highest_seen && own > b.promised,
            "ballot {own} not new"
        );
        prop_assert!(encodable(own), "ballot {own} does not fit a term");
    }
    if let Some(v) = p.learner.era_value() {
        prop_assert!(encodable(v.ballot), "leader ballot {} not a term", v.ballot);
    }
    Ok(())
}

/// What the node emitted for an input, against its state before it.
fn check_effects(p: &Paxos, out: &Effects<Paxos>, b: Before) -> Result<(), TestCaseError> {
    let mut applied = b.applied;
    for effect in out {
        match effect {
            Effect::Send { msg, .. } | Effect::SendAhead { msg, .. } => {
                Paxos::describe(msg, &|c| format!("{c:?}"));
                if let PaxosMessage::Prepare { ballot, .. }
                | PaxosMessage::Accept { ballot, .. }
                | PaxosMessage::Heartbeat { ballot, .. } = msg
                {
                    prop_assert_eq!(ballot.node, p.id, "{} of another's ballot", msg.kind());
                    prop_assert!(*ballot >= b.promised, "{} below the promise", msg.kind());
                    prop_assert!(encodable(*ballot));
                }
            }
            Effect::Apply { index, .. } => {
                prop_assert_eq!(*index, applied + 1, "Apply indexes are consecutive");
                applied = *index;
            }
            Effect::Event(
                Event::RoleChanged { term, .. }
                | Event::LeaderElected { term }
                | Event::LeaderReady { term },
            ) => {
                let ballot = Ballot::from_u64(*term);
                prop_assert!(ballot.round < MAX_ROUND, "term {term} of the last round");
            }
            Effect::Event(Event::Committed { index }) => prop_assert_eq!(*index, applied),
            _ => {}
        }
    }
    Ok(())
}

fn run(start: Start, acts: Vec<(Act, bool)>) -> Result<(), TestCaseError> {
    let (mut p, target) = build(start);
    for (act, ends_batch) in acts {
        let b = before(p.node(target));
        let input: InputOf<Paxos> = match act {
            Act::Message(from, msg) => {
                let msg = resolve(p.node(target), from, msg);
                Paxos::describe(&msg, &|c| format!("{c:?}"));
                Input::Message { from, msg }
            }
            Act::Timer(t) => Input::Timer(t),
            Act::Client(seq) => Input::Client(cmd(1, seq)),
            Act::Durable(token) => Input::Durable(token),
            Act::PeerLost(peer) => Input::PeerLost(peer),
            Act::Deliver(n) => {
                // Only the effects of fuzzed inputs are checked; the pump checks that
                // every node applies in order.
                for _ in 0..n {
                    if !p.deliver_one(|_: &Wire<Paxos>| true) {
                        break;
                    }
                }
                check_state(p.node(target), b)?;
                continue;
            }
        };
        let mut out = p.step_in_batch(target, input);
        if ends_batch {
            out.extend(p.end_batch(target));
        }
        check_effects(p.node(target), &out, b)?;
        check_state(p.node(target), b)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::pump::proptest_config(512))]
    #[test]
    fn step_neither_panics_nor_wraps_a_ballot_or_era(
        start in start(),
        acts in prop::collection::vec((act(), any::<bool>()), 1..48),
    ) {
        run(start, acts)?;
    }
}
