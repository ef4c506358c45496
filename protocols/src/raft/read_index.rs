//! ReadIndex reads (Ongaro, PhD thesis, 2014, §6.4 "Processing read-only queries more
//! efficiently"), and what every Raft read path shares: the dispatch of
//! [`crate::Input::Read`] by [`crate::Timing::reads`], the leader's rounds of
//! [`RaftMessage::ReadProbe`], and serving reads once they may be served.
//!
//! The thesis's four steps, as implemented here:
//! 1. The leader records its commit index as the read index. If it has not yet
//!    committed an entry of its term (its §8 no-op), it does not know the latest
//!    commit index, so the read index is the no-op's index: every entry committed by
//!    an earlier leader precedes it (Leader Completeness).
//! 2. It confirms that it is still the leader: it sends a new round of heartbeats
//!    (a `ReadProbe` numbered by [`crate::read::ReadRounds`]; one round serves every
//!    read that arrived in the same batch) and waits for a majority to acknowledge it.
//!    Then no leader of a later term had committed anything when the read arrived.
//! 3. It waits until its state machine has applied the read index.
//! 4. It serves the read from its state machine ([`crate::Effect::ServeRead`]).
//!
//! A leader that steps down refuses the reads still waiting (the client retries at the
//! new leader); a follower refuses reads with a hint to the leader (thesis §6.4 lets a
//! follower ask the leader for the read index; not implemented). Local reads
//! ([`ReadPath::Local`]) are served by any node at once from its own state, stale or
//! not; paths Raft lacks (ZooKeeper's `sync`) go through the log.

use super::{Raft, RaftMessage, RoleState, Term};
use crate::bugs::Bug;
use crate::effect::ClientError;
use crate::node::Effects;
use crate::output::Output;
use crate::read::{PendingRead, ReadPath};
use crate::types::{Command, NodeId};

impl Raft {
    /// A read-only command arrived: served by the run's read path.
    pub(super) fn on_read(&mut self, cmd: Command, out: &mut Effects<Self>) {
        match self.setup.timing.reads {
            ReadPath::Log | ReadPath::Sync => self.on_client(cmd, out),
            ReadPath::Local => out.serve_read(cmd.id),
            ReadPath::Index => self.read_index(cmd, out),
            ReadPath::Lease => self.lease_read(cmd, out),
        }
    }

    /// The read index (step 1): the commit index, or the no-op's index while the
    /// leader's term has nothing committed yet; `None` unless we lead.
    pub(super) fn read_index_now(&self) -> Option<u64> {
        match &self.role {
            RoleState::Leader { noop_index, .. } => Some(self.commit_index.max(*noop_index)),
            _ => None,
        }
    }

    /// ReadIndex: queue the read behind the next round of confirmation.
    fn read_index(&mut self, cmd: Command, out: &mut Effects<Self>) {
        let Some(index) = self.read_index_now() else {
            self.reject_client(&cmd, out);
            return;
        };
        // BUG (teaching, off by default): serves without confirming leadership (step 2
        // skipped), so a deposed leader that has not heard of its successor answers
        // from its stale state.
        let round = if self.bug == Some(Bug::RaftReadIndexWithoutRound) {
            0
        } else {
            self.read_rounds.next()
        };
        self.reads.push(PendingRead {
            id: cmd.id,
            round,
            index,
        });
    }

    /// End of a batch: starts the round the waiting reads need, once for all of them.
    pub(super) fn start_read_round_if_needed(&mut self, out: &mut Effects<Self>) {
        let needed = self.reads.round_needed();
        if needed > 0 && !self.read_rounds.pending_from(needed) {
            self.start_read_round(out);
        }
    }

    /// Sends a round of `ReadProbe`s to every voter (step 2).
    pub(super) fn start_read_round(&mut self, out: &mut Effects<Self>) {
        if !matches!(self.role, RoleState::Leader { .. }) {
            return;
        }
        let (me, term, now) = (self.id(), self.term, self.now);
        let round = self.read_rounds.start(now, me, &self.setup.membership);
        let voters: Vec<NodeId> = self.setup.membership.voter_ids().to_vec();
        for v in voters.into_iter().filter(|&v| v != me) {
            // A probe promises nothing about our own unsynced records.
            out.send_ahead(v, RaftMessage::ReadProbe { term, round });
        }
    }

    /// A follower hears a probe: it is a heartbeat of the leader of `term` (the term
    /// was observed already), acknowledged.
    pub(super) fn on_read_probe(
        &mut self,
        from: NodeId,
        term: Term,
        round: u64,
        out: &mut Effects<Self>,
    ) {
        if term == self.term && !matches!(self.role, RoleState::Leader { .. }) {
            if matches!(
                self.role,
                RoleState::Candidate { .. } | RoleState::PreCandidate { .. }
            ) {
                self.become_follower(true, out);
            } else if self.setup.membership.is_voter(self.id()) {
                self.reset_election_timer(out);
            }
            self.leader_heard_at = Some(self.now);
            self.leader = Some(from);
        }
        // A stale leader learns our term from the answer and steps down.
        out.send(
            from,
            RaftMessage::ReadProbeAck {
                term: self.term,
                round,
            },
        );
    }

    /// The leader hears an acknowledgement of `round` in `term`.
    pub(super) fn on_read_probe_ack(&mut self, from: NodeId, term: Term, round: u64) {
        if term != self.term || !matches!(self.role, RoleState::Leader { .. }) {
            return;
        }
        self.heard_from_follower(from);
        self.read_rounds.ack(from, round, &self.setup.membership);
    }

    /// Serves every waiting read whose round is confirmed and whose index is applied
    /// (steps 3 and 4).
    pub(super) fn serve_ready_reads(&mut self, out: &mut Effects<Self>) {
        if self.reads.is_empty() {
            return;
        }
        let confirmed = self.read_rounds.confirmed();
        for id in self.reads.take_ready(confirmed, self.last_applied) {
            out.serve_read(id);
        }
    }

    /// Leadership ends (or a new term begins): the waiting reads are refused and the
    /// rounds of the old term forgotten.
    pub(super) fn refuse_waiting_reads(&mut self, out: &mut Effects<Self>) {
        self.read_rounds = Default::default();
        for id in self.reads.take_all() {
            out.reject(
                id,
                ClientError::NotLeader {
                    leader: self.leader,
                },
            );
        }
    }
}
