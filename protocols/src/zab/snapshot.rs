//! Snapshots of the delivered state (ZooKeeper's `ZKDatabase` snapshots, taken by
//! `SyncRequestProcessor` every `snapCount` transactions; `docs/DESIGN.md`, "Snapshots
//! and log compaction").
//!
//! With [`crate::Timing::snapshot_every`] set, a server asks its host for the state
//! machine's image every that many delivered transactions
//! ([`crate::Effect::TakeSnapshot`], right after the delivery it covers). The image's
//! `term` is the whole zxid of its last transaction, so that it names one transaction
//! exactly (an epoch alone would not). A restarted server is handed the newest stored
//! image that fits its history ([`crate::Protocol::restore_snapshot`]): it fits when
//! the history holds the image's last transaction at the image's index. Everything up
//! to it is then known delivered (an image only ever holds delivered transactions) and
//! is not applied again on start.
//!
//! What this does not do yet: drop the history prefix a snapshot covers, and serve
//! SNAP sync from the image (SNAP still sends the committed history itself, see
//! `sync.rs`), so ZAB's log still grows with its history.

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

    /// The host stored the image asked for: keep the newest.
    pub(super) fn on_snapshot_taken(&mut self, snapshot: Snapshot, out: &mut Out) {
        let newer = self
            .snapshot
            .as_ref()
            .is_none_or(|s| snapshot.index > s.index);
        if !newer || snapshot.index > self.history.delivered as u64 {
            return;
        }
        let (index, zxid) = (snapshot.index, Zxid(snapshot.term));
        out.narrate(self.narrate, || {
            format!("snapshot through index {index} (zxid {zxid}) stored")
        });
        self.snapshot = Some(snapshot);
    }

    /// [`crate::Protocol::restore_snapshot`]: the image must end at a transaction our
    /// history holds at the same position.
    pub(super) fn restore(&mut self, snapshot: &Snapshot) -> Result<(), RecoveryError> {
        let zxid = Zxid(snapshot.term);
        let held = usize::try_from(snapshot.index)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.history.txns.get(i))
            .map(|t| t.zxid);
        if snapshot.index > 0 && held != Some(zxid) {
            return Err(RecoveryError::Inconsistent {
                record: 0,
                reason: format!(
                    "the snapshot through index {} ends at {zxid}, which the history does not hold there ({})",
                    snapshot.index,
                    held.map_or_else(|| "too short".to_string(), |z| z.to_string())
                ),
            });
        }
        // `held` matched, so the index fits in usize and the history.
        let index = usize::try_from(snapshot.index).unwrap_or(0);
        self.history.delivered = self.history.delivered.max(index);
        self.restored_through = index;
        self.schedule.restart_at(snapshot.index);
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }
}
