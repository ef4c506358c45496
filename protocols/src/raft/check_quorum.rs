//! CheckQuorum (Ongaro, PhD thesis, 2014, §9.6 and §6.2; etcd-io/raft's
//! `checkQuorum`), behind [`crate::Timing::check_quorum`] (on by default).
//!
//! A leader cut off from a majority keeps believing it leads: clients that reach it
//! wait for commits that never come, and (with PreVote) the servers it still reaches
//! refuse pre-votes because they hear it. The rule: "a leader steps down if an election
//! timeout elapses without a successful round of heartbeats to a majority of its
//! cluster" (thesis §6.2). The leader notes when each follower last answered an
//! AppendEntries of its term; at every heartbeat it counts the voters heard within the
//! minimum election timeout, itself included, and steps down to follower (same term,
//! fresh election timer) if they are not a majority. etcd checks once per election
//! timeout, so it may take up to two to notice; checking the window at each heartbeat
//! notices within one election timeout plus one heartbeat.
//!
//! With CheckQuorum a server also trusts the lease of a leader it heard within the
//! minimum election timeout and ignores RequestVotes of a higher term meanwhile
//! ([`super::prevote`]): a leader that lost its majority steps down by itself, so
//! nobody needs to depose it.

use super::{Raft, RoleState};
use crate::node::Effects;
use crate::output::Output;
use crate::types::NodeId;

impl Raft {
    /// A follower answered an AppendEntries of our term: it is alive and follows us.
    pub(super) fn heard_from_follower(&mut self, from: NodeId) {
        let now = self.now;
        if let RoleState::Leader { heard, .. } = &mut self.role {
            if let Some(at) = heard.get_mut(&from) {
                *at = now;
            }
        }
    }

    /// At each heartbeat: steps down if a majority of voters (ourselves included) was
    /// not heard within the minimum election timeout. Returns whether we stepped down.
    pub(super) fn check_quorum(&mut self, out: &mut Effects<Self>) -> bool {
        if !self.setup.timing.check_quorum {
            return false;
        }
        let RoleState::Leader { heard, .. } = &self.role else {
            return false;
        };
        let (me, now, window) = (self.id(), self.now, self.setup.timing.election_timeout_min);
        let active: Vec<NodeId> = self
            .setup
            .membership
            .voter_ids()
            .iter()
            .copied()
            .filter(|&v| v == me || heard.get(&v).is_some_and(|&at| now.since(at) < window))
            .collect();
        if self.setup.membership.is_quorum(active.iter()) {
            return false;
        }
        let term = self.term;
        out.narrate(self.setup.narrate, || {
            format!(
                "step down in term {term}: heard from only {active:?} within the election \
                 timeout min ({} ms), not a majority (CheckQuorum, thesis §9.6)",
                window.as_millis()
            )
        });
        self.leader = None;
        self.leader_heard_at = None;
        self.become_follower(true, out);
        true
    }
}
