//! Handler tests, each tied to a sentence of the Raft paper (in the manner of
//! etcd-io/raft's raft_paper_test.go): one input, the exact effects asserted.
//!
//! The node under test runs in the generic [`Pump`] with an on-demand disk; its peers
//! are never started, so what they say is written by hand and what it sends waits in
//! the pump's queue. Its effects are asserted as the node produced them, before the
//! durability gate.

mod election;
mod figure8;
mod install;
mod prevote;
mod reads;
mod recovery;
mod replication;
mod snapshot;
mod transfer;

use super::log::Entry;
use super::*;
use crate::effect::Effect;
use crate::pump::{Disk, Pump};
use crate::timing::{RaftTimerReset, Timing};
use crate::types::{Command, RequestId};
use crate::Membership;
use bytes::Bytes;
use std::ops::Deref;

type Out = Effects<Raft>;

/// Node `id` under test, hosted by a pump (see the module docs).
struct One {
    pump: Pump<Raft>,
    id: NodeId,
}

impl Deref for One {
    type Target = Raft;

    fn deref(&self) -> &Raft {
        self.pump.node(self.id)
    }
}

/// Node `id` of voters `1..=n` with `records` on its disk, not started yet, running the
/// paper's §5 rules only: PreVote and CheckQuorum off (they have tests of their own, in
/// `prevote.rs`, which start nodes with [`node_with`]).
fn node(id: NodeId, n: u64, records: Vec<RaftRecord>) -> One {
    node_with(paper(), id, n, records)
}

/// The default timing with PreVote and CheckQuorum off: §5 as the paper states it.
fn paper() -> Timing {
    Timing {
        pre_vote: false,
        check_quorum: false,
        ..Timing::default()
    }
}

/// Node `id` of voters `1..=n` running `timing`, with `records` on its disk.
fn node_with(timing: Timing, id: NodeId, n: u64, records: Vec<RaftRecord>) -> One {
    one(
        id,
        Pump::new(Membership::voters(1..=n)).timing(timing),
        records,
    )
}

fn one(id: NodeId, pump: Pump<Raft>, records: Vec<RaftRecord>) -> One {
    let mut pump = pump.disk(Disk::OnDemand);
    pump.disks.insert(id, records);
    One { pump, id }
}

/// Recovers the node from its disk and starts it.
fn start(r: &mut One) -> Out {
    r.pump.start(r.id)
}

/// One input, more of the same batch to follow (the batch ends with [`end_batch`]).
fn step(r: &mut One, input: InputOf<Raft>) -> Out {
    r.pump.step_in_batch(r.id, input)
}

/// The host has stepped every queued input (etcd's Ready boundary).
fn end_batch(r: &mut One) -> Out {
    r.pump.end_batch(r.id)
}

/// Reports everything the node has written so far durable.
fn all_durable(r: &mut One) -> Out {
    r.pump.sync(r.id)
}

fn msg(from: NodeId, msg: RaftMessage) -> InputOf<Raft> {
    Input::Message { from, msg }
}

fn sends(out: &Out) -> Vec<(NodeId, RaftMessage)> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } | Effect::SendAhead { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

fn cmd(seq: u64) -> Command {
    Command {
        id: RequestId { origin: 1, seq },
        data: Bytes::from_static(b"x"),
    }
}

/// Index of the first effect matching `f`.
fn pos(out: &Out, f: impl Fn(&Effect<RaftMessage, RaftRecord, RaftTimer>) -> bool) -> usize {
    out.iter().position(f).expect("effect present")
}

/// Makes node 1 of `n` the leader of term 1 with every vote in.
fn leader(n: u64) -> One {
    let mut r = node(1, n, vec![]);
    start(&mut r);
    step(&mut r, Input::Timer(RaftTimer::Election));
    for v in 2..=n {
        step(
            &mut r,
            msg(
                v,
                RaftMessage::RequestVoteResponse {
                    term: 1,
                    granted: true,
                },
            ),
        );
    }
    assert_eq!(r.role(), Role::Leader);
    r
}

fn election_timer_set(out: &Out) -> bool {
    out.iter().any(|e| {
        matches!(
            e,
            Effect::SetTimer {
                timer: RaftTimer::Election,
                ..
            }
        )
    })
}

fn node_with_reset(id: NodeId, reset: RaftTimerReset) -> One {
    let pump = Pump::new(Membership::voters(1..=3)).timing(Timing {
        raft_timer_reset: reset,
        ..paper()
    });
    // Five entries of term 1: more up to date than a candidate with four.
    let entries = (0..5)
        .map(|_| Entry {
            term: 1,
            command: None,
        })
        .collect();
    let records = vec![
        RaftRecord::HardState {
            term: 1,
            voted_for: None,
        },
        RaftRecord::Entries {
            first_index: 1,
            entries,
        },
    ];
    one(id, pump, records)
}

/// A RequestVote of term 2 from a candidate whose log (four entries of term 1) is
/// behind ours.
fn stale_candidacy() -> InputOf<Raft> {
    msg(
        2,
        RaftMessage::RequestVote {
            term: 2,
            last_log_index: 4,
            last_log_term: 1,
        },
    )
}
