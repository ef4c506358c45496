//! A planned hand-over of leadership: the ZAB equivalent of Raft's leadership transfer
//! (Raft thesis §3.10).
//!
//! ZooKeeper has no command that moves leadership to a chosen server; operators restart
//! the leader and let FastLeaderElection pick whoever has the highest (epoch, zxid, sid).
//! The one place ZooKeeper hands leadership to a server it chose is reconfiguration
//! (3.5+): a leader removed from the ensemble picks a *designated leader* among the
//! followers that acknowledged everything (`Leader.getDesignatedLeader`), and once the
//! change commits every server restarts its election with its vote set to that server
//! (`QuorumPeer.processReconfig`, `updateVote`), so the round agrees on it at once. This
//! module runs that hand-over on request:
//! 1. The leader stops proposing: client commands are refused
//!    ([`crate::ClientError::NotLeader`], naming the target) and forwarded REQUESTs
//!    dropped (their follower answers its client when it leaves its role).
//! 2. It waits until the target has acknowledged every proposal it logged (its ACKs
//!    reach the leader's last zxid; a target still connecting is synchronized first), so the target's vote is as good as any: FLE orders
//!    votes by epoch, then zxid, then sid, and the target now has the highest zxid.
//! 3. It sends HANDOFF ([`super::Handoff`]: its epoch and the vote for the target) to
//!    every learner and every voter, and goes back to LOOKING itself. Each server that
//!    follows it (or is LOOKING and holds nothing newer) votes for the target instead
//!    of itself in every round of that election, so the first round's votes already
//!    agree; after `finalizeWait` the target leads a new epoch through Discovery
//!    and Synchronization like any elected leader.
//! 4. If the target has not caught up within `syncLimit` ticks (about an election
//!    timeout), the leader gives up and proposes again.
//!
//! Departures from ZooKeeper: the hand-over is triggered by a request rather than by
//! committing a reconfiguration that removes the leader, and the leader keeps its seat
//! (it becomes a follower of the new epoch). A server that misses the HANDOFF (cut off,
//! slow) votes for itself as usual; FLE then still converges, on the target or on any
//! server with an equal zxid and a higher sid, so the hand-over may elect another server
//! but never weakens an election rule.

use crate::effect::ClientError;
use crate::output::Output;
use crate::types::{Command, NodeId};
use crate::zab::messages::{Handoff, Vote, ZabMessage};
use crate::zab::{Out, Phase, Zab};

/// A hand-over the leader is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingHandoff {
    /// The server that is to lead next.
    pub(crate) to: NodeId,
    /// The leader's tick when the request arrived.
    pub(crate) started_tick: u64,
}

impl Zab {
    /// `Input::TransferLeadership { to }` at an established leader: step 1, then step 3
    /// at once if the target holds everything already.
    pub(super) fn start_handoff(&mut self, to: NodeId, out: &mut Out) {
        let narrate = self.narrate;
        let Phase::Leading(l) = &self.phase else {
            out.narrate(narrate, || {
                format!("ignore the request to hand leadership to {to}: we do not lead")
            });
            return;
        };
        if !l.is_established() {
            out.narrate(narrate, || {
                format!("ignore the request to hand leadership to {to}: not established yet")
            });
            return;
        }
        if to == self.id || !self.is_voter(to) {
            out.narrate(narrate, || {
                format!("ignore the request to hand leadership to {to}: not another voter")
            });
            return;
        }
        if self.handoff.is_some_and(|h| h.to == to) {
            out.narrate(narrate, || {
                format!("a hand-over to {to} is already under way")
            });
            return;
        }
        let started_tick = l.tick;
        self.handoff = Some(PendingHandoff { to, started_tick });
        let last = self.history.last_zxid();
        out.narrate(narrate, || {
            format!(
                "hand leadership to {to}: stop proposing, wait for its ACK of {last}, then step \
                 down with a vote for it (ZooKeeper's designated leader)"
            )
        });
        self.handoff_if_caught_up(out);
    }

    /// Steps 2 and 3: once the target acknowledged our last zxid, step down for it.
    /// Checked after every input: the target may still be connecting or synchronizing
    /// (its NEWLEADER ACK counts as acknowledging what it was synchronized with).
    pub(super) fn handoff_if_caught_up(&mut self, out: &mut Out) {
        let (Some(h), Phase::Leading(l)) = (self.handoff, &self.phase) else {
            return;
        };
        let last = self.history.last_zxid();
        let acked = l.learners.get(&h.to).map(|x| x.acked);
        if acked.is_none_or(|a| a < last) {
            return;
        }
        let epoch = self.history.current_epoch;
        let designated = Vote {
            leader: h.to,
            zxid: last,
            peer_epoch: epoch,
        };
        // Every voter: a server still LOOKING (not yet a learner of ours) must vote for
        // the target too, or its own vote, as good and with a higher sid, would win.
        let voters: Vec<NodeId> = self
            .membership
            .voter_ids()
            .iter()
            .copied()
            .filter(|&v| v != self.id)
            .collect();
        let learners: Vec<NodeId> = l
            .learners
            .keys()
            .copied()
            .filter(|s| !voters.contains(s))
            .chain(voters.iter().copied())
            .collect();
        for to in learners {
            out.send(to, ZabMessage::Handoff(Handoff { epoch, designated }));
        }
        self.designated = Some(designated);
        let to = h.to;
        self.become_looking(out, || {
            format!("{to} acknowledged everything up to {last}: step down and vote for it")
        });
    }

    /// Step 1: a leader handing over refuses new commands, naming the target.
    pub(super) fn refuses_during_handoff(&self, command: &Command, out: &mut Out) -> bool {
        let Some(h) = self.handoff else {
            return false;
        };
        out.reject(command.id, ClientError::NotLeader { leader: Some(h.to) });
        true
    }

    /// Step 4: at a leader tick, gives up a hand-over older than `syncLimit` ticks.
    pub(super) fn abort_handoff_if_late(&mut self, tick: u64, out: &mut Out) {
        let limit = self.timing.sync_limit;
        if let Some(h) = self
            .handoff
            .filter(|h| tick.saturating_sub(h.started_tick) > limit)
        {
            self.handoff = None;
            out.narrate(self.narrate, || {
                format!(
                    "abort the hand-over to {}: it did not catch up within syncLimit ({limit} \
                     ticks); proposing again",
                    h.to
                )
            });
        }
    }

    /// HANDOFF at a learner: if it comes from the leader we follow, in our epoch, go
    /// back to LOOKING and open the round with the designated vote (voters only).
    pub(super) fn on_handoff(&mut self, from: NodeId, h: Handoff, out: &mut Out) {
        // From the leader we follow, in an epoch at least ours (a learner still
        // synchronizing has not adopted its leader's epoch yet); or, while we are
        // LOOKING, from a leader of an epoch at least ours whose designated vote is as
        // good as our own (it holds every transaction we logged).
        let follows = matches!(&self.phase, Phase::Learning(l) if l.leader == from)
            && h.epoch >= self.history.current_epoch;
        let looking = matches!(self.phase, Phase::Looking)
            && h.epoch >= self.history.current_epoch
            && h.designated.zxid >= self.history.last_zxid();
        let ours = (follows || looking) && self.is_voter(h.designated.leader);
        if !ours {
            out.narrate(self.narrate, || {
                format!(
                    "ignore HANDOFF from {from} for epoch {}: not our leader's",
                    h.epoch
                )
            });
            return;
        }
        if self.is_voter(self.id) {
            self.designated = Some(h.designated);
        }
        let to = h.designated.leader;
        self.become_looking(out, || format!("leader {from} hands leadership to {to}"));
    }
}
