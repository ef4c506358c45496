//! Snapshots and log compaction, the protocol side (Raft §7, "Log compaction"; the
//! same idea as ZooKeeper's fuzzy snapshots and etcd's `raftpb.Snapshot`).
//!
//! A snapshot is the state machine's image after every command up to `index` was
//! applied, with the protocol's generation of that entry (`term`: Raft's term of the
//! entry at `index`). The protocols never look inside the image: the host produces it
//! from its state machine, the protocol only carries it (to a lagging follower) and
//! drops the log prefix it covers.
//!
//! The cycle, as effects and inputs (see `docs/DESIGN.md`, "Snapshots and log
//! compaction"):
//! 1. A protocol with [`crate::Timing::snapshot_every`] set emits
//!    [`crate::Effect::TakeSnapshot`] after applying that many entries since its last
//!    request. The host captures the state machine at once (it has applied exactly up
//!    to `index`), writes the image durably in the background, and steps
//!    [`crate::Input::SnapshotTaken`] with it.
//! 2. The protocol keeps the image (to send to followers), drops its log up to the
//!    snapshot *before* this one, and emits [`crate::Effect::Rebase`]: the records that
//!    rebuild its persistent state from that point. Once they are durable the host may
//!    delete every log record written before them.
//! 3. A follower handed an image by its leader emits [`crate::Effect::InstallSnapshot`]
//!    (the host replaces its state machine and stores the image durably at once) and a
//!    `Rebase`; its answer waits behind the rebase like any answer behind a persist.
//! 4. After a restart the host gives the newest valid stored snapshot to
//!    [`crate::Protocol::restore_snapshot`], after [`crate::Protocol::recover`].
//!
//! Keeping one snapshot interval of log behind the newest snapshot lets a node whose
//! newest image is damaged on disk start from the one before it and the log after it,
//! and spares a follower a little behind a whole image (etcd keeps
//! `SnapshotCatchUpEntries` for the same reason).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A state machine image and the last log position it includes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last applied index the image includes.
    pub index: u64,
    /// The protocol's generation of the entry at `index` (Raft: its term).
    pub term: u64,
    /// The state machine's image, opaque to the protocol.
    pub data: Bytes,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The image may be megabytes: show its size, not its bytes.
        write!(
            f,
            "Snapshot {{ index: {}, term: {}, data: {} bytes }}",
            self.index,
            self.term,
            self.data.len()
        )
    }
}

/// When a protocol asks for its next snapshot: after `every` more applied entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotSchedule {
    /// Entries applied between two snapshots (0: never).
    every: u64,
    /// The applied index of the last request.
    requested: u64,
}

impl SnapshotSchedule {
    /// A schedule of one snapshot every `every` applied entries (0: off).
    pub fn new(every: u64) -> SnapshotSchedule {
        SnapshotSchedule {
            every,
            requested: 0,
        }
    }

    /// Whether a snapshot is due now that `applied` entries are applied; if so, notes
    /// the request.
    pub fn due(&mut self, applied: u64) -> bool {
        if self.every == 0 || applied < self.requested.saturating_add(self.every) {
            return false;
        }
        self.requested = applied;
        true
    }

    /// A snapshot at `index` exists already (restored, or installed from a leader):
    /// count the next interval from there.
    pub fn restart_at(&mut self, index: u64) {
        self.requested = self.requested.max(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_asks_every_n_applied_entries_and_never_when_off() {
        let mut s = SnapshotSchedule::new(3);
        assert!(!s.due(2));
        assert!(s.due(3));
        assert!(!s.due(5));
        assert!(s.due(7), "counted from the last request, not a multiple");
        s.restart_at(20);
        assert!(!s.due(22));
        assert!(s.due(23));
        let mut off = SnapshotSchedule::new(0);
        assert!(!off.due(1_000_000));
    }

    #[test]
    fn debug_shows_the_size_not_the_image() {
        let s = Snapshot {
            index: 4,
            term: 2,
            data: Bytes::from(vec![7; 1000]),
        };
        assert_eq!(
            format!("{s:?}"),
            "Snapshot { index: 4, term: 2, data: 1000 bytes }"
        );
    }
}
