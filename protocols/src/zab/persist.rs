//! Durable state: the accepted epoch, the current epoch and the history, and how they
//! are rebuilt after a crash.
//!
//! Zab paper §IV, "persistent variables": `acceptedEpoch` (the last NEWEPOCH accepted),
//! `currentEpoch` (the last NEWLEADER accepted) and the history of accepted proposals.
//! ZooKeeper keeps the two epochs in the files `acceptedEpoch` / `currentEpoch` and the
//! history in its transaction log plus snapshots; here they are [`ZabRecord`]s appended
//! to the harness's write-ahead log and replayed oldest first by [`History::replay`].
//!
//! What is known committed after a restart: the last SNAP snapshot received (a leader
//! only ever sends its committed history as the snapshot). Proposals logged after it are
//! not known committed until a leader says so again (UPTODATE / COMMIT); commit points
//! are not persisted, exactly as ZooKeeper does not persist them.

use crate::node::RecoveryError;
use crate::zab::messages::Txn;
use crate::zab::zxid::Zxid;
use serde::{Deserialize, Serialize};

/// One durable record. Each is written (and made durable) before any message that
/// depends on it is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZabRecord {
    /// Accepted a NEWEPOCH (LEADERINFO) for this epoch; never ack an older one again.
    AcceptedEpoch(u32),
    /// Accepted NEWLEADER for this epoch: the history is now this epoch's.
    CurrentEpoch(u32),
    /// Logged one proposal, appended after the previous last zxid.
    Proposal(Txn),
    /// Dropped every proposal after `last_kept` (TRUNC).
    Truncate {
        /// The last zxid kept (`Zxid::ZERO`: none).
        last_kept: Zxid,
    },
    /// Replaced the whole history with a leader's committed history (SNAP).
    Snapshot {
        /// The committed history, in zxid order.
        txns: Vec<Txn>,
    },
}

/// The durable state in memory, plus how much of it was delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Last epoch accepted through LEADERINFO (or proposed, on a leader).
    pub accepted_epoch: u32,
    /// Last epoch whose NEWLEADER this server accepted.
    pub current_epoch: u32,
    /// Every logged proposal, strictly increasing by zxid.
    pub txns: Vec<Txn>,
    /// How many of `txns` are delivered (applied); the 1-based index of the last one.
    pub delivered: usize,
}

impl History {
    /// The last logged zxid (`Zxid::ZERO` when empty).
    pub fn last_zxid(&self) -> Zxid {
        self.txns.last().map_or(Zxid::ZERO, |t| t.zxid)
    }

    /// The last delivered zxid (`Zxid::ZERO` when nothing is delivered).
    pub fn delivered_zxid(&self) -> Zxid {
        self.delivered
            .checked_sub(1)
            .and_then(|i| self.txns.get(i))
            .map_or(Zxid::ZERO, |t| t.zxid)
    }

    /// How many transactions have a zxid `<= zxid` (the 1-based position of `zxid` if it
    /// is logged).
    pub fn count_through(&self, zxid: Zxid) -> usize {
        self.txns.partition_point(|t| t.zxid <= zxid)
    }

    /// Whether `zxid` is logged (`Zxid::ZERO` counts as the empty prefix, always held).
    pub fn contains(&self, zxid: Zxid) -> bool {
        zxid == Zxid::ZERO || self.txns.binary_search_by_key(&zxid, |t| t.zxid).is_ok()
    }

    /// Appends `txn` if it is newer than the last logged zxid. Returns whether it did.
    pub fn append(&mut self, txn: Txn) -> bool {
        if txn.zxid <= self.last_zxid() {
            return false;
        }
        self.txns.push(txn);
        true
    }

    /// Drops every transaction after `last_kept`, never below the delivered prefix.
    /// Returns false (and changes nothing) when `last_kept` is not logged or would drop a
    /// delivered transaction.
    pub fn truncate_after(&mut self, last_kept: Zxid) -> bool {
        if !self.contains(last_kept) {
            return false;
        }
        let keep = self.count_through(last_kept);
        if keep < self.delivered {
            return false;
        }
        self.txns.truncate(keep);
        true
    }

    /// Replaces the history with `snapshot` if it keeps the delivered prefix intact.
    pub fn replace(&mut self, snapshot: Vec<Txn>) -> bool {
        let keeps_delivered = self.delivered <= snapshot.len()
            && self
                .txns
                .iter()
                .zip(&snapshot)
                .take(self.delivered)
                .all(|(a, b)| a.zxid == b.zxid);
        if !keeps_delivered || !strictly_increasing(&snapshot) {
            return false;
        }
        self.txns = snapshot;
        true
    }

    /// Rebuilds the durable state from every record, oldest first. The snapshot part
    /// counts as delivered; the caller re-applies it on start.
    pub fn replay(records: Vec<ZabRecord>) -> Result<History, RecoveryError> {
        let mut h = History::default();
        for (i, record) in records.into_iter().enumerate() {
            let bad = |reason: String| RecoveryError::Inconsistent { record: i, reason };
            match record {
                ZabRecord::AcceptedEpoch(e) => {
                    if e < h.accepted_epoch {
                        return Err(bad(format!(
                            "accepted epoch went back from {} to {e}",
                            h.accepted_epoch
                        )));
                    }
                    h.accepted_epoch = e;
                }
                ZabRecord::CurrentEpoch(e) => {
                    if e < h.current_epoch || e > h.accepted_epoch {
                        return Err(bad(format!(
                            "current epoch {e} outside {}..={}",
                            h.current_epoch, h.accepted_epoch
                        )));
                    }
                    h.current_epoch = e;
                }
                ZabRecord::Proposal(txn) => {
                    let (zxid, last) = (txn.zxid, h.last_zxid());
                    if !h.append(txn) {
                        return Err(bad(format!("proposal {zxid} does not follow {last}")));
                    }
                }
                ZabRecord::Truncate { last_kept } => {
                    if !h.truncate_after(last_kept) {
                        return Err(bad(format!("cannot truncate to {last_kept}")));
                    }
                }
                ZabRecord::Snapshot { txns } => {
                    if !strictly_increasing(&txns) {
                        return Err(bad("snapshot zxids are not increasing".into()));
                    }
                    h.delivered = txns.len();
                    h.txns = txns;
                }
            }
        }
        Ok(h)
    }
}

fn strictly_increasing(txns: &[Txn]) -> bool {
    txns.windows(2)
        .all(|w| matches!(w, [a, b] if a.zxid < b.zxid))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::types::{Command, RequestId};
    use bytes::Bytes;

    pub(crate) fn txn(epoch: u32, counter: u32) -> Txn {
        Txn {
            zxid: Zxid::new(epoch, counter),
            command: Command {
                id: RequestId {
                    origin: 0,
                    seq: u64::from(epoch) << 32 | u64::from(counter),
                },
                data: Bytes::from(format!("{epoch}:{counter}")),
            },
        }
    }

    #[test]
    fn replay_rebuilds_epochs_and_history() {
        let h = History::replay(vec![
            ZabRecord::AcceptedEpoch(1),
            ZabRecord::CurrentEpoch(1),
            ZabRecord::Proposal(txn(1, 1)),
            ZabRecord::Proposal(txn(1, 2)),
            ZabRecord::Proposal(txn(1, 3)),
            ZabRecord::AcceptedEpoch(2),
            ZabRecord::Truncate {
                last_kept: Zxid::new(1, 2),
            },
            ZabRecord::Proposal(txn(2, 1)),
            ZabRecord::CurrentEpoch(2),
        ])
        .expect("consistent records");
        assert_eq!((h.accepted_epoch, h.current_epoch), (2, 2));
        assert_eq!(h.txns, vec![txn(1, 1), txn(1, 2), txn(2, 1)]);
        assert_eq!(h.delivered, 0);
    }

    #[test]
    fn a_snapshot_is_known_committed() {
        let h = History::replay(vec![
            ZabRecord::AcceptedEpoch(3),
            ZabRecord::Snapshot {
                txns: vec![txn(1, 1), txn(2, 1)],
            },
            ZabRecord::Proposal(txn(3, 1)),
        ])
        .expect("consistent records");
        assert_eq!(h.delivered, 2);
        assert_eq!(h.last_zxid(), Zxid::new(3, 1));
        assert_eq!(h.delivered_zxid(), Zxid::new(2, 1));
    }

    #[test]
    fn contradictions_are_reported_with_their_record() {
        let out_of_order = History::replay(vec![
            ZabRecord::Proposal(txn(1, 2)),
            ZabRecord::Proposal(txn(1, 1)),
        ]);
        assert!(matches!(
            out_of_order,
            Err(RecoveryError::Inconsistent { record: 1, .. })
        ));
        let unknown_trunc = History::replay(vec![
            ZabRecord::Proposal(txn(1, 1)),
            ZabRecord::Truncate {
                last_kept: Zxid::new(1, 5),
            },
        ]);
        assert!(matches!(
            unknown_trunc,
            Err(RecoveryError::Inconsistent { record: 1, .. })
        ));
        let current_above_accepted = History::replay(vec![ZabRecord::CurrentEpoch(1)]);
        assert!(matches!(
            current_above_accepted,
            Err(RecoveryError::Inconsistent { record: 0, .. })
        ));
        let below_snapshot = History::replay(vec![
            ZabRecord::Snapshot {
                txns: vec![txn(1, 1), txn(1, 2)],
            },
            ZabRecord::Truncate {
                last_kept: Zxid::new(1, 1),
            },
        ]);
        assert!(matches!(
            below_snapshot,
            Err(RecoveryError::Inconsistent { record: 1, .. })
        ));
    }

    #[test]
    fn truncation_and_replacement_never_drop_delivered_transactions() {
        let mut h = History {
            txns: vec![txn(1, 1), txn(1, 2), txn(1, 3)],
            delivered: 2,
            ..History::default()
        };
        assert!(!h.truncate_after(Zxid::new(1, 1)));
        assert!(!h.replace(vec![txn(1, 1)]));
        assert!(!h.replace(vec![txn(1, 1), txn(2, 1)]));
        assert!(h.truncate_after(Zxid::new(1, 2)));
        assert_eq!(h.txns.len(), 2);
        assert!(h.replace(vec![txn(1, 1), txn(1, 2), txn(2, 1)]));
        assert_eq!(h.count_through(Zxid::new(1, 9)), 2);
        assert!(
            h.contains(Zxid::ZERO) && h.contains(Zxid::new(2, 1)) && !h.contains(Zxid::new(1, 3))
        );
    }
}
