//! Leader election (Raft §5.2, with the voting restriction of §5.4.1).
//!
//! A follower that hears nothing from a leader for a randomized election timeout
//! becomes a candidate: it increments its term, votes for itself (persisted), and asks
//! every voter for its vote. A server grants at most one vote per term, first come
//! first served, and only to a candidate whose log is at least as up to date as its
//! own. A candidate with votes from a majority becomes leader, appends a no-op (§8) and
//! starts sending heartbeats. With a split vote nobody wins and a fresh random timeout
//! starts the next term's election. With PreVote on (thesis §9.6, [`super::prevote`])
//! the timeout first runs a pre-vote round, and the election starts only once a
//! majority would vote.

use super::log::Entry;
use super::replication::Progress;
use super::{Raft, RaftMessage, RaftTimer, RoleState, Term};
use crate::bugs::Bug;
use crate::effect::Event;
use crate::node::Effects;
use crate::output::Output;
use crate::types::NodeId;

impl Raft {
    /// §5.2: the election timer fired. Leaders never arm it; observers never campaign.
    /// With PreVote on, a pre-vote round comes first (thesis §9.6).
    pub(super) fn on_election_timeout(&mut self, out: &mut Effects<Self>) {
        if matches!(self.role, RoleState::Leader { .. })
            || !self.setup.membership.is_voter(self.id())
        {
            return;
        }
        self.narrate_lost_election(out);
        if self.setup.timing.pre_vote {
            self.start_pre_vote(out);
        } else {
            self.campaign("election timeout", out);
        }
    }

    /// Why the election or pre-vote this node ran gave no leader, said when its timer
    /// fires again: the grants it counted against the majority it needed, who refused
    /// (each refusal is narrated with its rule by the voter) and who never answered.
    /// Several candidates' lines side by side show a split vote, counted per candidate.
    fn narrate_lost_election(&self, out: &mut Effects<Self>) {
        let (votes, refused, what) = match &self.role {
            RoleState::Candidate { votes, refused } => {
                (votes, &refused[..], format!("term {} ends", self.term))
            }
            RoleState::PreCandidate { votes } => (
                votes,
                &[][..],
                format!("pre-vote for term {} ends", self.term.saturating_add(1)),
            ),
            _ => return,
        };
        let voters = self.setup.membership.voter_ids();
        let needed = voters.len() / 2 + 1;
        let silent: Vec<NodeId> = voters
            .iter()
            .copied()
            .filter(|v| !votes.contains(v) && !refused.contains(v))
            .collect();
        let list = |ids: &[NodeId]| {
            ids.iter()
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.narrate(self.setup.narrate, || {
            let mut s = format!(
                "{what} without a majority for us: granted by {} ({} of the {needed} needed)",
                list(votes),
                votes.len()
            );
            if !refused.is_empty() {
                s.push_str(&format!(
                    "; refused by {} (one vote per term, first come first served, or our log is behind: §5.2, §5.4.1)",
                    list(refused)
                ));
            }
            if !silent.is_empty() {
                s.push_str(&format!(
                    "; no answer from {} (down, cut off, or refusing a pre-vote)",
                    list(&silent)
                ));
            }
            s
        });
    }

    /// §5.2: increments the term, votes for itself and asks every voter for its vote.
    pub(super) fn campaign(&mut self, why: &str, out: &mut Effects<Self>) {
        self.campaign_as(why, false, out);
    }

    /// [`Raft::campaign`]; `transfer` marks the campaign of a leadership transfer's
    /// target (thesis §3.10): its votes go out as [`RaftMessage::TransferVote`].
    pub(super) fn campaign_as(&mut self, why: &str, transfer: bool, out: &mut Effects<Self>) {
        let Some(term) = self.term.checked_add(1).filter(|&t| t < Term::MAX) else {
            // Terms are exhausted (only a forged message could have brought us here);
            // wrapping to 0 would break every rule that orders terms.
            let term = self.term;
            out.narrate(self.setup.narrate, || {
                format!("cannot campaign: term {term} is the last valid term")
            });
            return;
        };
        self.term = term;
        self.voted_for = Some(self.id());
        self.leader = None;
        self.persist_hard_state(out);
        self.role = RoleState::Candidate {
            votes: vec![self.id()],
            refused: Vec::new(),
        };
        let (term, id) = (self.term, self.id());
        out.narrate(self.setup.narrate, || {
            format!("{why}, campaigning for term {term}")
        });
        self.reset_election_timer(out);
        let (term, last_log_index, last_log_term) =
            (self.term, self.log.last_index(), self.log.last_term());
        let msg = if transfer {
            RaftMessage::TransferVote {
                term,
                last_log_index,
                last_log_term,
            }
        } else {
            RaftMessage::RequestVote {
                term,
                last_log_index,
                last_log_term,
            }
        };
        let voters: Vec<NodeId> = self.setup.membership.voter_ids().to_vec();
        for peer in voters.into_iter().filter(|&p| p != id) {
            out.send(peer, msg.clone());
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
        let narrate = self.setup.narrate;
        let (our_term, our_last_term, our_last_index) =
            (self.term, self.log.last_term(), self.log.last_index());
        let granted = if term < self.term {
            out.narrate(narrate, || {
                format!("refuse vote to {from}: its term {term} < ours {our_term}")
            });
            false
        } else if self.voted_for.is_some_and(|v| v != from) {
            let v = self.voted_for.unwrap_or_default();
            out.narrate(narrate, || {
                format!("refuse vote to {from}: already voted for {v} in term {term}")
            });
            false
        } else if !self
            .log
            .candidate_is_up_to_date(last_log_term, last_log_index)
            // BUG (teaching, off by default): skips the §5.4.1 voting restriction.
            && self.bug != Some(Bug::RaftNoUpToDateCheck)
        {
            out.narrate(narrate, || {
                format!(
                    "refuse vote to {from}: its log (term {last_log_term}, index {last_log_index}) \
                     is behind ours (term {our_last_term}, index {our_last_index})"
                )
            });
            false
        } else {
            out.narrate(narrate, || {
                format!(
                    "vote for {from} in term {term}: its log (term {last_log_term}, index \
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
        out.send(
            from,
            RaftMessage::RequestVoteResponse {
                term: self.term,
                granted,
            },
        );
    }

    /// RequestVoteResponse at the candidate.
    pub(super) fn on_vote(
        &mut self,
        from: NodeId,
        term: Term,
        granted: bool,
        out: &mut Effects<Self>,
    ) {
        if term != self.term || !self.setup.membership.is_voter(from) {
            return;
        }
        if !granted {
            if let RoleState::Candidate { refused, .. } = &mut self.role {
                if !refused.contains(&from) {
                    refused.push(from);
                }
            }
            return;
        }
        if matches!(self.role, RoleState::Candidate { .. }) {
            self.count_grant(from);
            self.maybe_win(out);
        }
    }

    fn maybe_win(&mut self, out: &mut Effects<Self>) {
        if matches!(self.role, RoleState::Candidate { .. }) && self.grants_are_a_quorum().is_some()
        {
            self.become_leader(out);
        }
    }

    /// Counts `from`'s grant (once per voter) toward the election or the pre-vote this
    /// node runs.
    pub(super) fn count_grant(&mut self, from: NodeId) {
        if let RoleState::Candidate { votes, .. } | RoleState::PreCandidate { votes } =
            &mut self.role
        {
            if !votes.contains(&from) {
                votes.push(from);
            }
        }
    }

    /// The grants of the election or pre-vote this node runs, if they are a quorum.
    pub(super) fn grants_are_a_quorum(&self) -> Option<&[NodeId]> {
        match &self.role {
            RoleState::Candidate { votes, .. } | RoleState::PreCandidate { votes } => {
                Some(&votes[..]).filter(|v| self.setup.membership.is_quorum(v.iter()))
            }
            _ => None,
        }
    }

    /// A candidate with a majority becomes leader (§5.2), appends its no-op (§8) and
    /// replicates it at once; the first round of AppendEntries doubles as the heartbeat
    /// that stops other elections.
    fn become_leader(&mut self, out: &mut Effects<Self>) {
        let (me, term) = (self.id(), self.term);
        if let RoleState::Candidate { votes, .. } = &self.role {
            let votes = votes.clone();
            out.narrate(self.setup.narrate, || {
                format!("won term {term} with votes from {votes:?}")
            });
        }
        self.leader = Some(me);
        let noop_index = self.log.push(Entry {
            term,
            command: None,
        });
        out.persist(super::RaftRecord::Entries {
            first_index: noop_index,
            entries: vec![Entry {
                term,
                command: None,
            }],
        });
        let progress = self
            .setup
            .membership
            .peers_of(me)
            .map(|p| (p, Progress::new(noop_index)))
            .collect();
        let now = self.now;
        let heard = self
            .setup
            .membership
            .peers_of(me)
            .map(|p| (p, now))
            .collect();
        self.role = RoleState::Leader {
            progress,
            heard,
            ready: false,
            noop_index,
            durable_index: 0,
            transfer: None,
        };
        // Our own copy counts toward a quorum once it is durable (thesis §10.2.1).
        self.durable_marks.forget();
        self.durable_marks.mark(noop_index, out);
        out.cancel_timer(RaftTimer::Election);
        out.event(Event::LeaderElected { term });
        self.broadcast_append(out);
        self.read_rounds = Default::default();
        self.renew_lease(out);
        out.set_timer(RaftTimer::Heartbeat, self.setup.timing.heartbeat);
    }
}
