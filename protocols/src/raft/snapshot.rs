//! Log compaction and InstallSnapshot (Raft §7; the extended paper's Figure 13 and
//! thesis chapter 5).
//!
//! Each server snapshots on its own: every [`crate::Timing::snapshot_every`] applied
//! entries it asks its host for the state machine's image
//! ([`crate::Effect::TakeSnapshot`]). When the image is stored
//! ([`crate::Input::SnapshotTaken`]) the server keeps it, drops its log up to the
//! snapshot *before* it (one interval of log stays, so a damaged newest image can be
//! replaced by the previous one plus the log after it) and rewrites the start of its
//! log ([`crate::Effect::Rebase`]: a [`RaftRecord::Base`] with `currentTerm`,
//! `votedFor` and the compacted start, then the entries kept).
//!
//! A leader whose follower needs an entry it no longer holds (`nextIndex` at or before
//! the log's start) sends its newest image instead (InstallSnapshot, in one message
//! rather than Figure 13's chunks: the transport frames one message of any size the
//! codec accepts). Until the follower answers, heartbeats carry on so that it does not
//! campaign, and their refusals are ignored. The follower applies Figure 13's receiver
//! rules: a stale term is refused; an image it has already applied is only
//! acknowledged; otherwise, if its log holds the image's last entry with the same term
//! it keeps the entries after it, else it discards the whole log, and its state machine
//! is replaced by the image ([`crate::Effect::InstallSnapshot`]). Its answer waits for
//! the rewritten start of its log to be durable, like every answer behind a persist.

use super::log::RaftLog;
use super::{Raft, RaftMessage, RaftRecord, RoleState, Term};
use crate::effect::Effect;
use crate::node::{Effects, RecoveryError};
use crate::output::Output;
use crate::snapshot::Snapshot;
use crate::types::NodeId;

impl Raft {
    /// After applying: asks the host for a snapshot when one is due.
    pub(super) fn request_snapshot_if_due(&mut self, out: &mut Effects<Self>) {
        if self.schedule.due(self.last_applied) {
            out.push(Effect::TakeSnapshot {
                index: self.last_applied,
                term: self.log.term_at(self.last_applied).unwrap_or(0),
            });
        }
    }

    /// The records that rebuild this server's persistent state from its log's start:
    /// `currentTerm`, `votedFor`, the compacted start, and the entries after it.
    pub(super) fn base_records(&self) -> Vec<RaftRecord> {
        let mut records = vec![RaftRecord::Base {
            start: self.log.start(),
            start_term: self.log.start_term(),
            term: self.term,
            voted_for: self.voted_for,
        }];
        let entries = self.log.slice(self.log.start() + 1, usize::MAX).to_vec();
        if !entries.is_empty() {
            records.push(RaftRecord::Entries {
                first_index: self.log.start() + 1,
                entries,
            });
        }
        records
    }

    /// The host stored the image asked for: keep it, compact the log to the previous
    /// image, rewrite the log's start.
    pub(super) fn on_snapshot_taken(&mut self, snapshot: Snapshot, out: &mut Effects<Self>) {
        let newer = self
            .snapshot
            .as_ref()
            .is_none_or(|s| snapshot.index > s.index);
        if !newer || snapshot.index > self.last_applied {
            return; // an image older than one installed meanwhile
        }
        let index = snapshot.index;
        if let Some(previous) = self.snapshot.replace(snapshot) {
            self.log.compact_to(previous.index, previous.term);
        }
        let start = self.log.start();
        out.narrate(self.setup.narrate, || {
            format!("snapshot through {index} stored; log compacted up to {start} (§7)")
        });
        out.push(Effect::Rebase(self.base_records()));
    }

    /// Leader: `peer` needs entries compacted away; sends the newest image, or, while
    /// one is on its way, a heartbeat (its refusal is ignored).
    pub(super) fn send_snapshot(&mut self, peer: NodeId, heartbeat: bool, out: &mut Effects<Self>) {
        let (term, commit, now) = (self.term, self.commit_index, self.now);
        let (start, start_term) = (self.log.start(), self.log.start_term());
        let resend_after = self.setup.timing.election_timeout_max;
        let Some(snapshot) = self.snapshot.clone() else {
            return;
        };
        let RoleState::Leader { progress, .. } = &mut self.role else {
            return;
        };
        let Some(p) = progress.get_mut(&peer) else {
            return;
        };
        let waiting = p
            .snapshot_sent
            .is_some_and(|(_, at)| now < at.plus(resend_after));
        if waiting {
            if heartbeat {
                out.send_ahead(
                    peer,
                    RaftMessage::AppendEntries {
                        term,
                        prev_log_index: start,
                        prev_log_term: start_term,
                        entries: Vec::new(),
                        leader_commit: commit,
                    },
                );
            }
            return;
        }
        p.snapshot_sent = Some((snapshot.index, now));
        let index = snapshot.index;
        out.narrate(self.setup.narrate, || {
            format!("{peer} needs entries compacted away: send it the snapshot through {index} (InstallSnapshot, §7)")
        });
        out.send_ahead(peer, RaftMessage::InstallSnapshot { term, snapshot });
    }

    /// InstallSnapshot receiver (Figure 13). `term` has already been observed.
    pub(super) fn on_install_snapshot(
        &mut self,
        from: NodeId,
        term: Term,
        snapshot: Snapshot,
        out: &mut Effects<Self>,
    ) {
        if term < self.term {
            // Rule 1: reply immediately; our term tells the stale leader to step down.
            let reply = RaftMessage::InstallSnapshotResponse {
                term: self.term,
                index: 0,
            };
            out.send(from, reply);
            return;
        }
        if matches!(self.role, RoleState::Leader { .. }) {
            return; // impossible by election safety
        }
        if !matches!(self.role, RoleState::Follower) {
            self.become_follower(true, out);
        } else if self.setup.membership.is_voter(self.id()) {
            self.reset_election_timer(out);
        }
        self.leader_heard_at = Some(self.now);
        self.leader = Some(from);
        let index = snapshot.index;
        if index > self.last_applied {
            // Rules 6-8: keep the entries after the image's last one if ours matches
            // it, else discard the whole log; the state machine becomes the image.
            if self.log.term_at(index) == Some(snapshot.term) {
                self.log.compact_to(index, snapshot.term);
            } else {
                self.log = RaftLog::starting_after(index, snapshot.term);
            }
            self.commit_index = self.commit_index.max(index);
            self.last_applied = index;
            self.schedule.restart_at(index);
            out.narrate(self.setup.narrate, || {
                format!("installs {from}'s snapshot through {index}; log now starts after it")
            });
            self.snapshot = Some(snapshot.clone());
            out.push(Effect::InstallSnapshot(snapshot));
            out.push(Effect::Rebase(self.base_records()));
        }
        // An image we had applied already: committed entries match (Log Matching), so
        // acknowledging its index is true.
        out.send(
            from,
            RaftMessage::InstallSnapshotResponse {
                term: self.term,
                index,
            },
        );
    }

    /// InstallSnapshotResponse at the leader: the follower holds everything up to
    /// `index`; replicate from there.
    pub(super) fn on_install_snapshot_response(
        &mut self,
        from: NodeId,
        term: Term,
        index: u64,
        out: &mut Effects<Self>,
    ) {
        if term != self.term || index == 0 {
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
        p.match_index = p.match_index.max(index.min(last));
        p.next_index = p.match_index + 1;
        p.snapshot_sent = None;
        p.probing = false;
        p.inflight.clear();
        self.send_append(from, false, out);
        self.advance_commit(out);
    }

    /// [`crate::Protocol::restore_snapshot`]: the host restored the state machine from
    /// `snapshot`; resume after it. The image must not be older than the log's start.
    pub(super) fn restore(&mut self, snapshot: &Snapshot) -> Result<(), RecoveryError> {
        if snapshot.index < self.log.start() {
            return Err(RecoveryError::Inconsistent {
                record: 0,
                reason: format!(
                    "the snapshot through {} is older than the log's start after {}",
                    snapshot.index,
                    self.log.start()
                ),
            });
        }
        if self.log.term_at(snapshot.index) != Some(snapshot.term) {
            // The image goes past the durable log (a follower applies entries before
            // its own copy is synced) or contradicts it: it is committed, the log is not.
            self.log = RaftLog::starting_after(snapshot.index, snapshot.term);
        }
        self.commit_index = self.commit_index.max(snapshot.index);
        self.last_applied = snapshot.index;
        self.schedule.restart_at(snapshot.index);
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }
}
