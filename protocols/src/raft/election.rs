//! Leader election (Raft §5.2, with the voting restriction of §5.4.1).
//!
//! A follower that hears nothing from a leader for a randomized election timeout
//! becomes a candidate: it increments its term, votes for itself (persisted), and asks
//! every voter for its vote. A server grants at most one vote per term, first come
//! first served, and only to a candidate whose log is at least as up to date as its
//! own. A candidate with votes from a majority becomes leader, appends a no-op (§8) and
//! starts sending heartbeats. With a split vote nobody wins and a fresh random timeout
//! starts the next term's election.

use super::log::Entry;
use super::replication::Progress;
use super::{Raft, RaftMessage, RaftTimer, RoleState, Term};
use crate::effect::{Effect, Event, Role};
use crate::node::Effects;
use crate::types::NodeId;

impl Raft {
    /// §5.2: the election timer fired. Leaders never arm it; observers never campaign.
    pub(super) fn on_election_timeout(&mut self, out: &mut Effects<Self>) {
        if matches!(self.role, RoleState::Leader { .. })
            || !self.setup.membership.is_voter(self.id())
        {
            return;
        }
        let Some(term) = self.term.checked_add(1).filter(|&t| t < Term::MAX) else {
            // Terms are exhausted (only a forged message could have brought us here);
            // wrapping to 0 would break every rule that orders terms.
            let (me, term) = (self.id(), self.term);
            self.narrate(out, || {
                format!("node {me}: cannot campaign: term {term} is the last valid term")
            });
            return;
        };
        self.term = term;
        self.voted_for = Some(self.id());
        self.leader = None;
        self.persist_hard_state(out);
        self.role = RoleState::Candidate {
            votes: vec![self.id()],
        };
        out.push(Effect::Event(Event::RoleChanged {
            role: Role::Candidate,
            term: self.term,
        }));
        let (term, id) = (self.term, self.id());
        self.narrate(out, || {
            format!("node {id}: election timeout, campaigning for term {term}")
        });
        self.reset_election_timer(out);
        let msg = RaftMessage::RequestVote {
            term: self.term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        let voters: Vec<NodeId> = self.setup.membership.voter_ids().to_vec();
        for peer in voters.into_iter().filter(|&p| p != id) {
            out.push(Effect::Send {
                to: peer,
                msg: msg.clone(),
            });
        }
        self.maybe_win(out); // a single-voter cluster wins at once
    }

    /// RequestVote receiver (Figure 2). `term` has already been observed.
    pub(super) fn on_request_vote(
        &mut self,
        from: NodeId,
        term: Term,
        last_log_index: u64,
        last_log_term: Term,
        out: &mut Effects<Self>,
    ) {
        let me = self.id();
        let (our_term, our_last_term, our_last_index) =
            (self.term, self.log.last_term(), self.log.last_index());
        let granted = if term < self.term {
            self.narrate(out, || {
                format!("node {me}: refuse vote to {from}: its term {term} < ours {our_term}")
            });
            false
        } else if self.voted_for.is_some_and(|v| v != from) {
            let v = self.voted_for.unwrap_or_default();
            self.narrate(out, || {
                format!("node {me}: refuse vote to {from}: already voted for {v} in term {term}")
            });
            false
        } else if !self
            .log
            .candidate_is_up_to_date(last_log_term, last_log_index)
        {
            self.narrate(out, || {
                format!(
                    "node {me}: refuse vote to {from}: its log (term {last_log_term}, index {last_log_index}) \
                     is behind ours (term {our_last_term}, index {our_last_index})"
                )
            });
            false
        } else {
            self.narrate(out, || {
                format!(
                    "node {me}: vote for {from} in term {term}: its log (term {last_log_term}, index \
                     {last_log_index}) is at least as up to date as ours (term {our_last_term}, index {our_last_index})"
                )
            });
            if self.voted_for.is_none() {
                self.voted_for = Some(from);
                self.persist_hard_state(out);
            }
            // §5.2: granting a vote resets the election timer.
            self.reset_election_timer(out);
            true
        };
        out.push(Effect::Send {
            to: from,
            msg: RaftMessage::RequestVoteResponse {
                term: self.term,
                granted,
            },
        });
    }

    /// RequestVoteResponse at the candidate.
    pub(super) fn on_vote(
        &mut self,
        from: NodeId,
        term: Term,
        granted: bool,
        out: &mut Effects<Self>,
    ) {
        if term != self.term || !granted || !self.setup.membership.is_voter(from) {
            return;
        }
        if let RoleState::Candidate { votes } = &mut self.role {
            if !votes.contains(&from) {
                votes.push(from);
            }
            self.maybe_win(out);
        }
    }

    fn maybe_win(&mut self, out: &mut Effects<Self>) {
        let won = match &self.role {
            RoleState::Candidate { votes } => self.setup.membership.is_quorum(votes.iter()),
            _ => false,
        };
        if won {
            self.become_leader(out);
        }
    }

    /// A candidate with a majority becomes leader (§5.2), appends its no-op (§8) and
    /// replicates it at once; the first round of AppendEntries doubles as the heartbeat
    /// that stops other elections.
    fn become_leader(&mut self, out: &mut Effects<Self>) {
        let (me, term) = (self.id(), self.term);
        if let RoleState::Candidate { votes } = &self.role {
            let votes = votes.clone();
            self.narrate(out, || {
                format!("node {me}: won term {term} with votes from {votes:?}")
            });
        }
        self.leader = Some(me);
        let noop_index = self.log.push(Entry {
            term,
            command: None,
        });
        out.push(Effect::Persist(super::RaftRecord::Entries {
            first_index: noop_index,
            entries: vec![Entry {
                term,
                command: None,
            }],
        }));
        let progress = self
            .setup
            .membership
            .peers_of(me)
            .map(|p| (p, Progress::new(noop_index)))
            .collect();
        self.role = RoleState::Leader {
            progress,
            ready: false,
            noop_index,
            durable_index: 0,
        };
        // Our own copy counts toward a quorum once it is durable (thesis §10.2.1).
        self.durable_marks.forget();
        self.durable_marks.mark(noop_index, out);
        out.push(Effect::CancelTimer(RaftTimer::Election));
        out.push(Effect::Event(Event::RoleChanged {
            role: Role::Leader,
            term,
        }));
        out.push(Effect::Event(Event::LeaderElected { term }));
        self.broadcast_append(out);
        out.push(Effect::SetTimer {
            timer: RaftTimer::Heartbeat,
            after: self.setup.timing.heartbeat,
        });
    }
}
