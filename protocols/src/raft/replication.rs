//! Log replication and commitment (Raft §5.3 and §5.4.2).
//!
//! The leader appends client commands to its log, persists them, and replicates them
//! with AppendEntries. Replication is pipelined: up to [`MAX_INFLIGHT`] AppendEntries
//! messages per follower may be unacknowledged, each carrying up to [`MAX_BATCH`]
//! entries; commands that arrive while the pipeline is full wait and leave together
//! in the next message, which is how the leader batches under load (as etcd-io/raft's
//! inflight window does). Client commands are also batched in time: each one is
//! logged and persisted at once, but the AppendEntries go out at the end of the batch
//! ([`crate::Protocol::end_of_batch`]), once the harness has handed over the inputs
//! already waiting, so a burst of commands shares one message per follower. A follower runs the consistency check and conflict
//! truncation of Figure 2; a failed check makes the leader back up `nextIndex` to the
//! follower's hint and probe from there, one message at a time until one is accepted,
//! ignoring the refusals of messages pipelined before the back-up (etcd-io/raft's
//! probe and replicate states; the refusal names the `prevLogIndex` it refuses). An entry is committed once stored on a majority *and*
//! of the leader's current term (§5.4.2); earlier entries commit with it.
//!
//! The leader writes its own log in parallel with replicating it (thesis §10.2.1):
//! AppendEntries leave as [`crate::Effect::SendAhead`], each flush marks the log's last index
//! with [`crate::Effect::SignalWhenDurable`], and the leader's own `matchIndex` is the last
//! index reported durable. "Stored on a majority" therefore always means durably
//! stored, and a leader that crashes before its write finishes loses nothing committed.

use super::log::{AppendOutcome, Entry};
use super::{Raft, RaftMessage, RaftRecord, RaftTimer, RoleState, Term};
use crate::bugs::Bug;
use crate::effect::Event;
use crate::node::Effects;
use crate::output::Output;
use crate::types::{Command, NodeId};
use std::collections::VecDeque;

/// Unacknowledged AppendEntries messages allowed per follower.
pub const MAX_INFLIGHT: usize = 4;
/// Entries carried by one AppendEntries message at most (a node may lower it:
/// [`Protocol::set_max_batch`](crate::Protocol::set_max_batch)).
pub const MAX_BATCH: usize = 2048;

/// The leader's view of one follower (Figure 2: `nextIndex`, `matchIndex`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Next index to send.
    pub next_index: u64,
    /// Highest index known replicated there.
    pub match_index: u64,
    /// Last index of each AppendEntries with entries that is not yet acknowledged.
    pub(super) inflight: VecDeque<u64>,
    /// Probing after a refusal (etcd-io/raft's probe state): one AppendEntries at a
    /// time, all after `next_index - 1`, until one is accepted. Only the refusal of
    /// that index counts; the refusals of messages pipelined before the back-up are
    /// stale and ignored, where each used to reset `nextIndex` and send everything
    /// again (a follower far behind a slow disk was resent its backlog once per
    /// message in flight).
    pub(super) probing: bool,
    /// A snapshot being sent in chunks (§7, [`super::install`]), until the follower
    /// answers that it holds everything the image covers.
    pub(super) transfer: Option<super::install::Outgoing>,
}

impl Progress {
    /// A follower we know nothing about: start right after the leader's last entry
    /// before this term (the no-op index), and back up on rejection.
    pub fn new(noop_index: u64) -> Progress {
        Progress {
            next_index: noop_index,
            match_index: 0,
            inflight: VecDeque::new(),
            probing: false,
            transfer: None,
        }
    }
}

impl Raft {
    /// A client command arrives. Only the leader accepts it; others name the leader.
    pub(super) fn on_client(&mut self, cmd: Command, out: &mut Effects<Self>) {
        if !matches!(self.role, RoleState::Leader { .. }) {
            self.reject_client(&cmd, out);
            return;
        }
        if self.refuses_during_transfer(&cmd, out) {
            return;
        }
        let entry = Entry {
            term: self.term,
            command: Some(cmd),
        };
        let index = self.log.push(entry.clone());
        out.persist(RaftRecord::Entries {
            first_index: index,
            entries: vec![entry],
        });
        // Batching: the AppendEntries go out at the end of the batch, so a burst of
        // commands shares one message per follower.
        self.unflushed = true;
    }

    /// End of a batch with new commands: the entries appended since the last flush go
    /// to every follower, while our own copy is written (thesis §10.2.1); we count it
    /// once it is durable.
    pub(super) fn flush(&mut self, out: &mut Effects<Self>) {
        if matches!(self.role, RoleState::Leader { .. }) {
            self.durable_marks.mark(self.log.last_index(), out);
            self.broadcast_append(out);
        }
    }

    /// Our log is durable up to the index marked with `token`: as leader, that is our
    /// own `matchIndex`.
    pub(super) fn on_durable(&mut self, token: u64, out: &mut Effects<Self>) {
        let Some(index) = self.durable_marks.reached(token).last() else {
            return;
        };
        if let RoleState::Leader { durable_index, .. } = &mut self.role {
            *durable_index = (*durable_index).max(index);
            self.advance_commit(out);
        }
    }

    /// Heartbeat timer: every follower hears from the leader at least this often.
    pub(super) fn on_heartbeat_timer(&mut self, out: &mut Effects<Self>) {
        if !matches!(self.role, RoleState::Leader { .. }) || self.check_quorum(out) {
            return;
        }
        self.abort_transfer_if_late(out);
        let peers: Vec<NodeId> = self.setup.membership.peers_of(self.id()).collect();
        for peer in peers {
            self.send_append(peer, true, out);
        }
        self.renew_lease(out);
        out.set_timer(RaftTimer::Heartbeat, self.setup.timing.heartbeat);
    }

    /// Sends whatever each follower is missing, within its pipeline window.
    pub(super) fn broadcast_append(&mut self, out: &mut Effects<Self>) {
        let peers: Vec<NodeId> = self.setup.membership.peers_of(self.id()).collect();
        for peer in peers {
            self.send_append(peer, false, out);
        }
    }

    /// Sends one AppendEntries to `peer`: new entries if the window allows, else (when
    /// `heartbeat`) an empty one that proves liveness and probes `nextIndex`.
    pub(super) fn send_append(&mut self, peer: NodeId, heartbeat: bool, out: &mut Effects<Self>) {
        let (term, commit, last) = (self.term, self.commit_index, self.log.last_index());
        let start = self.log.start();
        let RoleState::Leader { progress, .. } = &mut self.role else {
            return;
        };
        if progress.get(&peer).is_some_and(|p| p.next_index <= start) {
            // §7: the entries this follower needs were compacted into a snapshot.
            self.send_snapshot(peer, heartbeat, out);
            return;
        }
        let Some(p) = progress.get_mut(&peer) else {
            return;
        };
        let window = if p.probing { 1 } else { MAX_INFLIGHT };
        let window_open = p.inflight.len() < window && p.next_index <= last;
        if !window_open && !heartbeat {
            return;
        }
        let prev_log_index = p.next_index.saturating_sub(1).min(last);
        let prev_log_term = self.log.term_at(prev_log_index).unwrap_or(0);
        let entries: Vec<Entry> = if window_open {
            self.log.slice(prev_log_index + 1, self.max_batch).to_vec()
        } else {
            Vec::new()
        };
        if !entries.is_empty() {
            let sent_to = prev_log_index + entries.len() as u64;
            if !p.probing {
                // Replicating: pipeline the next message after this one. A probe
                // keeps `next_index` until it is answered.
                p.next_index = sent_to + 1;
            }
            p.inflight.push_back(sent_to);
        }
        out.send_ahead(
            peer,
            RaftMessage::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit: commit,
            },
        );
    }

    /// AppendEntries receiver (Figure 2). `term` has already been observed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_append_entries(
        &mut self,
        from: NodeId,
        term: Term,
        prev_log_index: u64,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: u64,
        out: &mut Effects<Self>,
    ) {
        if term < self.term {
            // Rule 1: reply false; our term tells the stale leader to step down.
            let index = self.log.last_index() + 1;
            out.send(
                from,
                RaftMessage::AppendEntriesResponse {
                    term: self.term,
                    success: false,
                    index,
                    rejected: prev_log_index,
                },
            );
            return;
        }
        if matches!(self.role, RoleState::Leader { .. }) {
            return; // impossible by election safety; never let a peer break us
        }
        if matches!(
            self.role,
            RoleState::Candidate { .. } | RoleState::PreCandidate { .. }
        ) {
            // §5.2: a candidate that hears from a leader of its term steps back (and a
            // pre-candidate stops asking); like any AppendEntries from the current
            // leader, it restarts the timeout.
            self.become_follower(true, out);
        } else if self.setup.membership.is_voter(self.id()) {
            self.reset_election_timer(out);
        }
        self.leader_heard_at = Some(self.now);
        if self.leader != Some(from) {
            self.leader = Some(from);
            out.narrate(self.setup.narrate, || {
                format!("follows leader {from} in term {term}")
            });
        }
        let (success, index) = match self
            .log
            .append_after(prev_log_index, prev_log_term, &entries)
        {
            AppendOutcome::Mismatch { hint } => {
                out.narrate(self.setup.narrate, || {
                    format!("reject AppendEntries after {prev_log_index}: no entry of term {prev_log_term} there")
                });
                (false, hint)
            }
            AppendOutcome::Appended {
                last_index,
                new_from,
                dropped,
            } => {
                if let Some(&(index, old)) = dropped.first() {
                    let new = index
                        .checked_sub(prev_log_index + 1)
                        .and_then(|i| entries.get(i as usize))
                        .map_or(term, |e| e.term);
                    out.narrate(self.setup.narrate, || {
                        truncation_text(&dropped, from, index, old, new)
                    });
                }
                if let Some(first_index) = new_from {
                    let skip = (first_index - prev_log_index - 1) as usize;
                    let mut entries = entries;
                    entries.drain(..skip.min(entries.len()));
                    out.persist(RaftRecord::Entries {
                        first_index,
                        entries,
                    });
                }
                let new_commit = leader_commit.min(last_index);
                if new_commit > self.commit_index {
                    self.commit_index = new_commit;
                    self.apply_committed(out);
                }
                (true, last_index)
            }
        };
        out.send(
            from,
            RaftMessage::AppendEntriesResponse {
                term: self.term,
                success,
                index,
                rejected: if success { 0 } else { prev_log_index },
            },
        );
    }

    /// AppendEntriesResponse at the leader.
    pub(super) fn on_append_response(
        &mut self,
        from: NodeId,
        term: Term,
        success: bool,
        index: u64,
        rejected: u64,
        out: &mut Effects<Self>,
    ) {
        if term != self.term {
            return;
        }
        self.heard_from_follower(from);
        let last = self.log.last_index();
        let RoleState::Leader { progress, .. } = &mut self.role else {
            return;
        };
        let Some(p) = progress.get_mut(&from) else {
            return;
        };
        if p.transfer.is_some() && !success {
            return; // a heartbeat's refusal while the snapshot is on its way
        }
        p.transfer = None;
        if success {
            let index = index.min(last);
            if index > p.match_index {
                p.match_index = index;
            }
            p.next_index = p.next_index.max(p.match_index + 1);
            p.probing = false;
            while p.inflight.front().is_some_and(|&i| i <= index) {
                p.inflight.pop_front();
            }
        } else if if p.probing {
            rejected.saturating_add(1) != p.next_index
        } else {
            rejected < p.match_index
        } {
            // A stale refusal: of a message sent before we last backed up (or before
            // the follower acknowledged more). The message after the back-up answers
            // for it.
            return;
        } else if index <= p.match_index {
            // The follower lacks entries it acknowledged: it restarted without the tail
            // of its log (`fsync never`, or a lost disk). Believe it, as ZAB's and
            // Paxos's leaders do, and repair it from its hint; a stale or duplicated
            // refusal costs one resend, since the commit index never goes back.
            p.match_index = index.saturating_sub(1);
            p.next_index = index.clamp(1, last + 1);
            p.inflight.clear();
            p.probing = true;
        } else {
            // Back up to the follower's hint and probe from there.
            p.next_index = index.min(last + 1);
            p.inflight.clear();
            p.probing = true;
        }
        self.send_append(from, false, out);
        if success {
            self.advance_commit(out);
            self.transfer_if_caught_up(from, out);
        }
    }

    /// §5.3/§5.4.2: the highest index stored on a majority of voters becomes committed
    /// if it belongs to the current term. An entry of an earlier term on a majority is
    /// not enough (Figure 8, staged in `tests/figure8.rs`): a leader of a later term
    /// whose last entry is newer may still be elected without it and overwrite it. The
    /// no-op a leader sends right after the point where a follower's log matches makes
    /// that case rare here (a follower's acknowledgement usually covers the no-op too),
    /// but not impossible: one that is more than `max_batch` entries behind, or one that
    /// lost an acknowledged tail, is counted below the no-op.
    pub(super) fn advance_commit(&mut self, out: &mut Effects<Self>) {
        let me = self.id();
        let RoleState::Leader {
            progress,
            durable_index,
            ..
        } = &self.role
        else {
            return;
        };
        let mut matched: Vec<u64> = self
            .setup
            .membership
            .voter_ids()
            .iter()
            .map(|&v| {
                if v == me && self.bug == Some(Bug::RaftCountOwnCopyEarly) {
                    // BUG (teaching, off by default): counts our copy before it is
                    // durable, against thesis §10.2.1.
                    self.log.last_index()
                } else if v == me {
                    *durable_index
                } else {
                    progress.get(&v).map_or(0, |p| p.match_index)
                }
            })
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&candidate) = matched.get(self.setup.membership.quorum() - 1) else {
            return;
        };
        // BUG (teaching, off by default): without the §5.4.2 current-term rule an entry
        // of an earlier term commits by counting replicas (Figure 8).
        let old_terms = self.bug == Some(Bug::RaftCommitOldTerms);
        if candidate <= self.commit_index
            || (self.log.term_at(candidate) != Some(self.term) && !old_terms)
        {
            return;
        }
        if self.setup.narrate {
            let mut holders: Vec<NodeId> = self
                .setup
                .membership
                .voter_ids()
                .iter()
                .copied()
                .filter(|&v| {
                    let m = if v == me {
                        *durable_index
                    } else {
                        progress.get(&v).map_or(0, |p| p.match_index)
                    };
                    m >= candidate
                })
                .collect();
            // The leader first, then the others by id.
            holders.sort_by_key(|&v| (v != me, v));
            let first = self.commit_index + 1;
            out.narrate(true, || commit_text(first, candidate, &holders));
        }
        self.commit_index = candidate;
        self.apply_committed(out);
        let term = self.term;
        if let RoleState::Leader {
            ready, noop_index, ..
        } = &mut self.role
        {
            if !*ready && candidate >= *noop_index {
                *ready = true;
                out.event(Event::LeaderReady { term });
            }
        }
    }
}

/// `commits index 2: stored on 5, 4, 3`: the leader's commit index moved to `last`
/// (from `first`), and `holders` (the leader first) hold `last` durably, a majority.
fn commit_text(first: u64, last: u64, holders: &[NodeId]) -> String {
    let on: Vec<String> = holders.iter().map(NodeId::to_string).collect();
    if first >= last {
        format!("commits index {last}: stored on {}", on.join(", "))
    } else {
        format!(
            "commits indexes {first}..={last}: {last} is stored on {}",
            on.join(", ")
        )
    }
}

/// `drops entry 3 (term 1): conflicts with leader 2's entry 3 (term 2)` (§5.3): a
/// follower deletes the conflicting entry and everything after it.
fn truncation_text(
    dropped: &[(u64, Term)],
    leader: NodeId,
    index: u64,
    old: Term,
    new: Term,
) -> String {
    let why = format!("conflicts with leader {leader}'s entry {index} (term {new})");
    match dropped {
        [_] => format!("drops entry {index} (term {old}): {why}"),
        few if few.len() <= 6 => {
            let list: Vec<String> = few.iter().map(|(i, t)| format!("{i}@{t}")).collect();
            format!(
                "drops entries {}: entry {index} (term {old}) {why}",
                list.join(" ")
            )
        }
        many => format!(
            "drops entries {index}..={}: entry {index} (term {old}) {why}",
            many.last().map_or(index, |(i, _)| *i)
        ),
    }
}
