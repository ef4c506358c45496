//! PreVote (Ongaro, "Consensus: Bridging Theory and Practice", PhD thesis, 2014, §9.6
//! "Preventing disruptions when a server rejoins the cluster"), as etcd-io/raft runs
//! it (`MsgPreVote`), behind [`crate::Timing::pre_vote`] (on by default).
//!
//! The problem: a server cut off from the cluster times out again and again; without
//! PreVote each timeout increments its term, and once it can reach the others again
//! its RequestVote (or any reply) carries that higher term, which deposes a healthy
//! leader (§5.1) for nothing: the returning server's log is behind, so it cannot win.
//!
//! The rule (thesis §9.6): "a candidate would first ask other servers whether its log
//! was up-to-date enough to get their vote. Only if the candidate believed it could get
//! votes from a majority of the cluster would it increment its term and start a normal
//! election." A server whose election timeout fires becomes a *pre-candidate*: it sends
//! `PreVote` at its term plus one with its last log entry, and changes nothing else:
//! no term, no vote, nothing persisted. A receiver grants if
//! - the pre-vote's term is not below its own (a refusal tells a stale pre-candidate
//!   the current term, which it adopts);
//! - it has not heard from a current leader within the minimum election timeout (the
//!   lease: "servers ... disregard RequestVote RPCs when they believe a current leader
//!   exists", §9.6; a leader counts itself as current);
//! - at the pre-vote's own term it has not voted for another server;
//! - the candidate's log is at least as up to date as its own (§5.4.1).
//!
//! Granting records nothing and does not restart the election timer (a pre-vote is not
//! a vote, Figure 2's rule is about real votes). A granted answer carries the
//! pre-vote's term, which the pre-candidate must not adopt from it (etcd: "we send
//! pre-vote requests with a term in our future"); it adopts it by campaigning once a
//! majority (itself included) granted. A pre-candidate that hears AppendEntries from a
//! leader of its term follows it; one whose pre-vote fails tries again at its next
//! timeout.
//!
//! The same lease also guards real votes when CheckQuorum is on (etcd's `inLease`, see
//! [`super::check_quorum`]): a RequestVote of a higher term from a server we do not
//! believe in is ignored, term and all, while we heard from a leader that recently.

use super::{Raft, RaftMessage, RoleState, Term};
use crate::bugs::Bug;
use crate::node::Effects;
use crate::output::Output;
use crate::types::NodeId;

impl Raft {
    /// Whether we heard from a current leader within the minimum election timeout (a
    /// leader is its own current leader): the lease that PreVote refusals and, with
    /// CheckQuorum, ignored RequestVotes rest on (thesis §9.6).
    pub(super) fn in_lease(&self) -> bool {
        if matches!(self.role, RoleState::Leader { .. }) {
            return true;
        }
        self.leader.is_some()
            && self
                .leader_heard_at
                .is_some_and(|at| self.now.since(at) < self.setup.timing.election_timeout_min)
    }

    /// What the lease says, for narration.
    fn lease_reason(&self) -> String {
        match (&self.role, self.leader, self.leader_heard_at) {
            (RoleState::Leader { .. }, _, _) => format!("we lead term {}", self.term),
            (_, Some(l), Some(at)) => format!(
                "heard from leader {l} {} ms ago, within the election timeout min ({} ms)",
                self.now.since(at).as_millis(),
                self.setup.timing.election_timeout_min.as_millis()
            ),
            _ => "no leader heard".into(),
        }
    }

    /// Thesis §9.6 / etcd's `inLease`: with CheckQuorum on, a RequestVote of a higher
    /// term is ignored (not answered, its term not adopted) while we heard from a
    /// leader within the minimum election timeout. Returns whether it was ignored.
    pub(super) fn ignores_vote_request(
        &mut self,
        from: NodeId,
        term: Term,
        out: &mut Effects<Self>,
    ) -> bool {
        if !self.setup.timing.check_quorum || term <= self.term || !self.in_lease() {
            return false;
        }
        let why = self.lease_reason();
        out.narrate(self.setup.narrate, || {
            format!("ignore RequestVote from {from} for term {term}: {why} (thesis §9.6)")
        });
        true
    }

    /// The election timer fired with PreVote on: ask for pre-votes at the next term,
    /// changing nothing here (thesis §9.6).
    pub(super) fn start_pre_vote(&mut self, out: &mut Effects<Self>) {
        let Some(next) = self.term.checked_add(1).filter(|&t| t < Term::MAX) else {
            let term = self.term;
            out.narrate(self.setup.narrate, || {
                format!("cannot campaign: term {term} is the last valid term")
            });
            return;
        };
        let (id, term) = (self.id(), self.term);
        self.leader = None;
        self.leader_heard_at = None;
        self.role = RoleState::PreCandidate { votes: vec![id] };
        out.narrate(self.setup.narrate, || {
            format!(
                "election timeout, asking for pre-votes for term {next} (our term stays {term} \
                 until a majority would vote for us, thesis §9.6)"
            )
        });
        self.reset_election_timer(out);
        let msg = RaftMessage::PreVote {
            term: next,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        let voters: Vec<NodeId> = self.setup.membership.voter_ids().to_vec();
        for peer in voters.into_iter().filter(|&p| p != id) {
            out.send(peer, msg.clone());
        }
        self.maybe_win_pre_vote(out); // a single voter is its own majority
    }

    /// PreVote receiver (thesis §9.6). `term` was not observed: nothing here changes.
    pub(super) fn on_pre_vote(
        &mut self,
        from: NodeId,
        term: Term,
        last_log_index: u64,
        last_log_term: Term,
        out: &mut Effects<Self>,
    ) {
        let narrate = self.setup.narrate;
        let (our_term, our_last_term, our_last_index) =
            (self.term, self.log.last_term(), self.log.last_index());
        let granted = if term < self.term {
            out.narrate(narrate, || {
                format!("refuse pre-vote to {from}: its term {term} < ours {our_term}")
            });
            false
        } else if self.in_lease() {
            let why = self.lease_reason();
            out.narrate(narrate, || format!("refuse pre-vote to {from}: {why}"));
            false
        } else if term == self.term && self.voted_for.is_some_and(|v| v != from) {
            let v = self.voted_for.unwrap_or_default();
            out.narrate(narrate, || {
                format!("refuse pre-vote to {from}: already voted for {v} in term {term}")
            });
            false
        } else if !self
            .log
            .candidate_is_up_to_date(last_log_term, last_log_index)
            // BUG (teaching, off by default): skips the §5.4.1 check here too.
            && self.bug != Some(Bug::RaftNoUpToDateCheck)
        {
            out.narrate(narrate, || {
                format!(
                    "refuse pre-vote to {from}: its log (term {last_log_term}, index \
                     {last_log_index}) is behind ours (term {our_last_term}, index {our_last_index})"
                )
            });
            false
        } else {
            out.narrate(narrate, || {
                format!(
                    "pre-vote granted to {from} for term {term}: log up to date (term \
                     {last_log_term}, index {last_log_index} vs ours {our_last_term}, \
                     {our_last_index}), no leader heard within the election timeout"
                )
            });
            true
        };
        let term = if granted { term } else { self.term };
        out.send(from, RaftMessage::PreVoteResponse { term, granted });
    }

    /// PreVoteResponse at the pre-candidate. A refusal's term was observed already; a
    /// grant counts only for the pre-vote we are running (our term plus one).
    pub(super) fn on_pre_vote_response(
        &mut self,
        from: NodeId,
        term: Term,
        granted: bool,
        out: &mut Effects<Self>,
    ) {
        if !granted
            || self.term.checked_add(1) != Some(term)
            || !self.setup.membership.is_voter(from)
        {
            return;
        }
        if matches!(self.role, RoleState::PreCandidate { .. }) {
            self.count_grant(from);
            self.maybe_win_pre_vote(out);
        }
    }

    /// A majority granted the pre-vote: start the real election.
    fn maybe_win_pre_vote(&mut self, out: &mut Effects<Self>) {
        if !matches!(self.role, RoleState::PreCandidate { .. }) {
            return;
        }
        if let Some(votes) = self.grants_are_a_quorum().map(<[NodeId]>::to_vec) {
            self.campaign(&format!("pre-votes from {votes:?} are a majority"), out);
        }
    }
}
