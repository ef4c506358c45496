//! Snapshots of the delivered state and log compaction (ZooKeeper's `ZKDatabase`
//! snapshots, taken by `SyncRequestProcessor` every `snapCount` transactions, and
//! `PurgeTxnLog`, which drops the transaction logs older than the snapshots kept;
//! `docs/DESIGN.md`, "Snapshots and log compaction").
//!
//! With [`crate::Timing::snapshot_every`] set, a server asks its host for the state
//! machine's image every that many delivered transactions
//! ([`crate::Effect::TakeSnapshot`], right after the delivery it covers). The image's
//! `term` is the whole zxid of its last transaction, so that it names one transaction
//! exactly (an epoch alone would not).
//!
//! When the image is stored ([`crate::Input::SnapshotTaken`]) the server keeps it and
//! compacts its history up to the snapshot *before* it, as Raft and Paxos do here: one
//! interval of history stays, so that a newest image damaged on disk can be replaced
//! by the previous one plus the log after it, and a learner a little behind still gets
//! a DIFF. The history then starts after a base (the position and zxid of the last
//! transaction dropped; positions stay the global delivered index, `persist.rs`), and
//! the server rewrites the start of its log ([`crate::Effect::Rebase`]: both epochs,
//! the base and the proposals kept), after which the host may delete the log segments
//! before it.
//!
//! A leader serves SNAP from its newest image followed by its proposals after it
//! (`sync.rs`); a learner installs the image ([`crate::Effect::InstallSnapshot`]) and
//! restarts its history after it.
//!
//! A restarted server is handed the newest stored image that fits its history
//! ([`crate::Protocol::restore_snapshot`]): it fits when it ends at or after the base
//! at a transaction the history holds at the image's position. Everything up to it is
//! then known delivered (an image only ever holds delivered transactions) and is not
//! applied again on start. A history that starts after a base needs such an image: the
//! host refuses to start without one ([`crate::Protocol::log_start`]).

use crate::effect::Effect;
use crate::node::RecoveryError;
use crate::output::Output;
use crate::snapshot::Snapshot;
use crate::zab::zxid::Zxid;
use crate::zab::{Out, Zab};

impl Zab {
    /// After delivering: asks the host for a snapshot when one is due.
    pub(super) fn request_snapshot_if_due(&mut self, out: &mut Out) {
        let delivered = self.history.delivered as u64;
        if self.schedule.due(delivered) {
            out.push(Effect::TakeSnapshot {
                index: delivered,
                term: self.history.delivered_zxid().0,
            });
        }
    }

    /// The host stored the image asked for: keep it, compact the history to the
    /// previous image, rewrite the log's start.
    pub(super) fn on_snapshot_taken(&mut self, snapshot: Snapshot, out: &mut Out) {
        let newer = self
            .snapshot
            .as_ref()
            .is_none_or(|s| snapshot.index > s.index);
        if !newer || snapshot.index > self.history.delivered as u64 {
            return;
        }
        let (index, zxid) = (snapshot.index, Zxid(snapshot.term));
        if let Some(previous) = self.snapshot.replace(snapshot) {
            let through = usize::try_from(previous.index).unwrap_or(usize::MAX);
            // Fails only for an image that does not name our delivered transaction at
            // its position, which the host never hands us; then nothing is dropped.
            self.history.compact_to(through, Zxid(previous.term));
        }
        let (base, base_zxid) = (self.history.base, self.history.base_zxid);
        out.narrate(self.narrate, || {
            format!("snapshot through index {index} (zxid {zxid}) stored; history compacted up to {base} ({base_zxid})")
        });
        out.push(Effect::Rebase(self.history.base_records()));
    }

    /// A learner received its leader's whole image through `index` / `zxid`: the state
    /// machine becomes the image, the history restarts after it.
    pub(super) fn install_image(&mut self, snapshot: Snapshot, out: &mut Out) {
        let index = usize::try_from(snapshot.index).unwrap_or(usize::MAX);
        let zxid = Zxid(snapshot.term);
        self.history.restart_after(index, zxid);
        self.schedule.restart_at(snapshot.index);
        let size = snapshot.data.len();
        out.narrate(self.narrate, || {
            format!("SNAP: installed the leader's image through index {index} ({zxid}, {size} bytes); history restarts after it")
        });
        self.snapshot = Some(snapshot.clone());
        out.push(Effect::InstallSnapshot(snapshot));
        out.push(Effect::Rebase(self.history.base_records()));
    }

    /// [`crate::Protocol::restore_snapshot`]: the image must end at or after the base,
    /// at a transaction our history holds at the same position.
    pub(super) fn restore(&mut self, snapshot: &Snapshot) -> Result<(), RecoveryError> {
        let zxid = Zxid(snapshot.term);
        let index = usize::try_from(snapshot.index).ok();
        let held = index.and_then(|i| self.history.zxid_at(i));
        let index = match (index, held) {
            (Some(i), Some(z)) if z == zxid && i >= self.history.base => i,
            _ => {
                return Err(RecoveryError::Inconsistent {
                    record: 0,
                    reason: format!(
                        "the snapshot through index {} ends at {zxid}, which the history (from index {}) does not hold there ({})",
                        snapshot.index,
                        self.history.base,
                        held.map_or_else(|| "not held".to_string(), |z| z.to_string())
                    ),
                })
            }
        };
        self.history.delivered = self.history.delivered.max(index);
        self.restored_through = index;
        self.schedule.restart_at(snapshot.index);
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }
}
