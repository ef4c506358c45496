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
//! the log's start) sends it its newest image in chunks ([`super::install`]).

use super::log::RaftLog;
use super::{Raft, RaftRecord};
use crate::effect::Effect;
use crate::node::{Effects, RecoveryError};
use crate::output::Output;
use crate::snapshot::Snapshot;

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
