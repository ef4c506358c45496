//! A planned hand-over of leadership: the Multi-Paxos equivalent of Raft's leadership
//! transfer (Raft thesis §3.10).
//!
//! Paxos has no leader to transfer in its definition: any proposer may start Phase 1
//! with a higher ballot at any time, and the current leader yields when it sees it
//! ("Paxos Made Simple" §2.4, §3). Systems built on Multi-Paxos hand leadership over
//! that way: the chosen server is brought up to date, then proposes with a higher ballot,
//! and the old leader stops leading when its acceptor promises that ballot (Chubby and
//! Spanner rely on leases expiring instead, which is the same pre-emption after a wait).
//! This module runs it on request:
//! 1. The leader stops proposing: client commands are refused
//!    ([`crate::ClientError::NotLeader`], naming the target).
//! 2. It waits until every slot it proposed is chosen (its pipeline is empty), then
//!    sends TakeOver with its ballot and commit point to the target.
//! 3. The target, a follower of that leader (or of none it knows of a later ballot),
//!    first learns every slot through that
//!    commit point (from its own accepted values, or with CatchUp as any lagging
//!    learner does), then runs Phase 1 at once with a ballot above every one it has
//!    seen, without waiting for its leader-failure timeout.
//! 4. The old leader's acceptor promises the higher ballot, and the leader steps down
//!    as for any pre-emption; the target re-proposes what Phase 1 finds, is elected,
//!    and is ready once those slots are chosen.
//! 5. If no other leader took over within an election timeout (the target is down or
//!    cut off), the old leader proposes again; a TakeOver the target could not act on
//!    within the minimum election timeout is dropped, so a late one cannot depose a
//!    leader that resumed.
//!
//! Departures: the TakeOver message is this workbench's (Paxos names no such message;
//! etcd's Raft calls it TimeoutNow). Under lease reads ([`super::lease`]) followers
//! ignore Prepares while the old leader's lease holds, so the takeover's Phase 1 succeeds
//! only once that lease lapsed (its Prepare is retransmitted meanwhile): a hand-over
//! cannot shorten a lease that was promised.

use super::{Ballot, Paxos, PaxosMessage, Stance};
use crate::effect::ClientError;
use crate::node::Effects;
use crate::output::Output;
use crate::types::{Command, NodeId, Time};

/// A hand-over the leader runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The node that is to lead next.
    pub to: NodeId,
    /// The ballot we led with when it was asked for (a transfer of an earlier
    /// leadership of ours is void).
    pub ballot: Ballot,
    /// When it was asked for.
    pub started: Time,
    /// Whether TakeOver went out.
    pub sent: bool,
}

/// A TakeOver a follower waits to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakeOver {
    /// The leader that asked.
    pub from: NodeId,
    /// Its commit point, which we must hold first.
    pub commit: u64,
    /// When it arrived.
    pub at: Time,
}

impl Paxos {
    /// The hand-over this node runs as leader, if any.
    pub fn transfer(&self) -> Option<Transfer> {
        match (&self.stance, self.transfer) {
            (Stance::Leader(l), Some(t)) if l.ballot == t.ballot => Some(t),
            _ => None,
        }
    }

    /// `Input::TransferLeadership { to }`: step 1.
    pub(super) fn start_transfer(&mut self, to: NodeId, out: &mut Effects<Paxos>) {
        let narrate = self.narrate;
        let Stance::Leader(lead) = &self.stance else {
            out.narrate(narrate, || {
                format!("ignore the request to hand leadership to {to}: we do not lead")
            });
            return;
        };
        if to == self.id || !self.membership.is_voter(to) {
            out.narrate(narrate, || {
                format!("ignore the request to hand leadership to {to}: it is not another voter")
            });
            return;
        }
        if self.transfer().is_some_and(|t| t.to == to) {
            out.narrate(narrate, || {
                format!("a hand-over to {to} is already under way")
            });
            return;
        }
        let ballot = lead.ballot;
        self.transfer = Some(Transfer {
            to,
            ballot,
            started: self.now,
            sent: false,
        });
        out.narrate(narrate, || {
            format!(
                "hand leadership to {to}: stop proposing; once every slot is chosen it takes \
                 over with a higher ballot"
            )
        });
    }

    /// Step 1: a leader handing over refuses new commands, naming the target.
    pub(super) fn refuses_during_transfer(
        &self,
        command: &Command,
        out: &mut Effects<Paxos>,
    ) -> bool {
        let Some(t) = self.transfer() else {
            return false;
        };
        out.reject(command.id, ClientError::NotLeader { leader: Some(t.to) });
        true
    }

    /// After every step: the leader's steps 2 and 5, the target's step 3. Returns
    /// whether the target started Phase 1 (its Prepare to itself waits in the inbox).
    pub(super) fn advance_transfer(&mut self, out: &mut Effects<Paxos>) -> bool {
        self.advance_leader_side(out);
        self.advance_target_side(out)
    }

    fn advance_leader_side(&mut self, out: &mut Effects<Paxos>) {
        let Some(t) = self.transfer() else {
            self.transfer = None;
            return;
        };
        let limit = self.timing.election_timeout_max;
        if self.now.since(t.started) >= limit {
            self.transfer = None;
            out.narrate(self.narrate, || {
                format!(
                    "abort the hand-over to {}: nobody took over within an election timeout \
                     ({} ms); proposing again",
                    t.to,
                    limit.as_millis()
                )
            });
            return;
        }
        let Stance::Leader(lead) = &self.stance else {
            return;
        };
        let settled = lead.ready && lead.pipeline.is_idle() && lead.unsent.is_empty();
        if t.sent || !settled {
            return;
        }
        let commit = self.learner.commit();
        if let Some(t) = self.transfer.as_mut() {
            t.sent = true;
        }
        out.narrate(self.narrate, || {
            format!(
                "every slot through {commit} is chosen: TakeOver to {}",
                t.to
            )
        });
        self.send(
            t.to,
            PaxosMessage::TakeOver {
                ballot: t.ballot,
                commit,
            },
            out,
        );
    }

    /// TakeOver at a follower of `from`: note it (step 3 runs after every step).
    pub(super) fn on_take_over(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        commit: u64,
        out: &mut Effects<Paxos>,
    ) {
        // From a leader at least as recent as any we know of (we may not have learned
        // its era yet if the request came right after its election).
        let current = ballot.node == from
            && ballot >= self.acceptor.promised()
            && self.learner.era_value().is_none_or(|v| ballot >= v.ballot);
        if !matches!(self.stance, Stance::Follower)
            || !current
            || !self.membership.is_voter(self.id)
        {
            out.narrate(self.narrate, || {
                format!("ignore TakeOver from {from} at {ballot}: not the current leader's")
            });
            return;
        }
        self.learn_through(ballot, commit, out);
        self.take_over = Some(TakeOver {
            from,
            commit,
            at: self.now,
        });
    }

    fn advance_target_side(&mut self, out: &mut Effects<Paxos>) -> bool {
        let Some(t) = self.take_over else {
            return false;
        };
        if !matches!(self.stance, Stance::Follower)
            || self.now.since(t.at) >= self.timing.election_timeout_min
        {
            self.take_over = None;
            return false;
        }
        let have = self.learner.commit();
        if have < t.commit {
            return false; // CatchUp (sent by the learner) brings the rest
        }
        self.take_over = None;
        self.start_election(
            &format!(
                "leader {} hands leadership over and we hold every slot through {have}",
                t.from
            ),
            out,
        );
        true
    }
}
