//! Durable state: the accepted epoch, the current epoch and the history, and how they
//! are rebuilt after a crash.
//!
//! Zab paper §IV, "persistent variables": `acceptedEpoch` (the last NEWEPOCH accepted),
//! `currentEpoch` (the last NEWLEADER accepted) and the history of accepted proposals.
//! ZooKeeper keeps the two epochs in the files `acceptedEpoch` / `currentEpoch` and the
//! history in its transaction log plus snapshots; here they are [`ZabRecord`]s appended
//! to the harness's write-ahead log and replayed oldest first by [`History::replay`].
//!
//! Log compaction (`snapshot.rs`) drops the prefix of the history a stored snapshot
//! covers: the history then starts after a [`ZabRecord::Base`], the position and zxid
//! of the last transaction dropped. Positions stay global: the `n`-th transaction ever
//! delivered is at position `n` whatever was compacted before it, so [`History::get`]
//! and [`History::count_through`] answer in the delivered sequence's indexes.
//!
//! What is known committed after a restart: everything up to the log's base (only
//! delivered transactions are ever compacted or installed from a leader's image).
//! Proposals logged after it are not known committed until a leader says so again
//! (UPTODATE / COMMIT); commit points are not persisted, exactly as ZooKeeper does not
//! persist them.

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
    /// The history starts after `index`, the position of the delivered transaction
    /// `zxid`; every record before this one is superseded (written first by a rebase,
    /// [`crate::Effect::Rebase`], after a snapshot through at least `index` is stored or
    /// a leader's image through `index` was installed).
    Base {
        /// The global position of the last transaction compacted away.
        index: u64,
        /// Its zxid.
        zxid: Zxid,
    },
}

/// The durable state in memory, plus how much of it was delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Last epoch accepted through LEADERINFO (or proposed, on a leader).
    pub accepted_epoch: u32,
    /// Last epoch whose NEWLEADER this server accepted.
    pub current_epoch: u32,
    /// The logged proposals after the base, strictly increasing by zxid: `txns[i]` is
    /// at global position `base + i + 1`.
    pub txns: Vec<Txn>,
    /// How many transactions are delivered (applied), compacted ones included; the
    /// 1-based global index of the last one. Never below `base`.
    pub delivered: usize,
    /// How many transactions were compacted away (covered by a snapshot).
    pub base: usize,
    /// The zxid of the last one (`Zxid::ZERO` when none).
    pub base_zxid: Zxid,
}

impl History {
    /// The global position of the last logged transaction (compacted ones count).
    pub fn len(&self) -> usize {
        self.base.saturating_add(self.txns.len())
    }

    /// Whether nothing was ever logged (or everything logged was truncated).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The transaction at global position `index` (1-based), if still held.
    pub fn get(&self, index: usize) -> Option<&Txn> {
        index
            .checked_sub(self.base)
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.txns.get(i))
    }

    /// The zxid at global position `index`: the base's for `index == base`, `None` when
    /// compacted away or beyond the log.
    pub fn zxid_at(&self, index: usize) -> Option<Zxid> {
        if index == self.base {
            return Some(self.base_zxid);
        }
        self.get(index).map(|t| t.zxid)
    }

    /// The held transactions from global position `from` (1-based) on; empty when
    /// `from` is beyond the log, everything held when it is at or below the base.
    pub fn held_from(&self, from: usize) -> &[Txn] {
        let skip = from.saturating_sub(self.base).saturating_sub(1);
        self.txns.get(skip..).unwrap_or_default()
    }

    /// The last logged zxid (the base's when nothing after it is held).
    pub fn last_zxid(&self) -> Zxid {
        self.txns.last().map_or(self.base_zxid, |t| t.zxid)
    }

    /// The last delivered zxid (`Zxid::ZERO` when nothing is delivered).
    pub fn delivered_zxid(&self) -> Zxid {
        self.zxid_at(self.delivered).unwrap_or(Zxid::ZERO)
    }

    /// How many transactions have a zxid `<= zxid`: the global position of `zxid` if it
    /// is logged. For a zxid below the base the answer is the base (what was compacted
    /// is not known one by one any more).
    pub fn count_through(&self, zxid: Zxid) -> usize {
        self.base
            .saturating_add(self.txns.partition_point(|t| t.zxid <= zxid))
    }

    /// Whether `zxid` is logged or is the base (`Zxid::ZERO` counts as the empty prefix,
    /// held only when nothing was compacted).
    pub fn contains(&self, zxid: Zxid) -> bool {
        zxid == self.base_zxid || self.txns.binary_search_by_key(&zxid, |t| t.zxid).is_ok()
    }

    /// Drops the delivered transactions up to global position `index`, whose zxid must
    /// be `zxid`. Returns false (and changes nothing) when `index` is not delivered or
    /// the history holds another transaction there; true also when it is at or below
    /// the base already.
    pub fn compact_to(&mut self, index: usize, zxid: Zxid) -> bool {
        if index <= self.base {
            return true;
        }
        if index > self.delivered || self.zxid_at(index) != Some(zxid) {
            return false;
        }
        self.txns.drain(..index - self.base);
        self.base = index;
        self.base_zxid = zxid;
        true
    }

    /// Restarts the history after `index` / `zxid`, the end of a leader's image that
    /// this server installed: everything before is delivered, nothing after is held.
    pub fn restart_after(&mut self, index: usize, zxid: Zxid) {
        self.txns.clear();
        self.base = index;
        self.base_zxid = zxid;
        self.delivered = index;
    }

    /// The records that rebuild this history from its base: both epochs, the base, and
    /// every held proposal ([`crate::Effect::Rebase`]).
    pub fn base_records(&self) -> Vec<ZabRecord> {
        let mut records = Vec::with_capacity(self.txns.len().saturating_add(3));
        records.push(ZabRecord::AcceptedEpoch(self.accepted_epoch));
        records.push(ZabRecord::CurrentEpoch(self.current_epoch));
        records.push(ZabRecord::Base {
            index: self.base as u64,
            zxid: self.base_zxid,
        });
        records.extend(self.txns.iter().cloned().map(ZabRecord::Proposal));
        records
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
        self.txns.truncate(keep.saturating_sub(self.base));
        true
    }

    /// Rebuilds the durable state from every record, oldest first. Everything up to a
    /// base counts as delivered (a snapshot holds it).
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
                ZabRecord::Base { index, zxid } => {
                    let Ok(index) = usize::try_from(index) else {
                        return Err(bad(format!("base index {index} does not fit")));
                    };
                    if (index == 0) != (zxid == Zxid::ZERO) {
                        return Err(bad(format!("base {zxid} at index {index}")));
                    }
                    h.restart_after(index, zxid);
                }
            }
        }
        Ok(h)
    }
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
    fn a_base_is_known_delivered_and_positions_stay_global() {
        let h = History::replay(vec![
            ZabRecord::AcceptedEpoch(3),
            ZabRecord::Proposal(txn(1, 9)),
            ZabRecord::Base {
                index: 2,
                zxid: Zxid::new(2, 1),
            },
            ZabRecord::Proposal(txn(3, 1)),
        ])
        .expect("consistent records");
        assert_eq!((h.delivered, h.base, h.len()), (2, 2, 3));
        assert_eq!(h.last_zxid(), Zxid::new(3, 1));
        assert_eq!(h.delivered_zxid(), Zxid::new(2, 1));
        assert_eq!(h.get(3).map(|t| t.zxid), Some(Zxid::new(3, 1)));
        assert_eq!(h.get(2), None, "compacted");
        assert_eq!(h.count_through(Zxid::new(3, 1)), 3);
        assert!(h.contains(Zxid::new(2, 1)) && !h.contains(Zxid::ZERO));
    }

    #[test]
    fn compaction_keeps_positions_and_the_rebase_rebuilds_the_same_history() {
        let mut h = History {
            accepted_epoch: 2,
            current_epoch: 2,
            txns: vec![txn(1, 1), txn(1, 2), txn(1, 3), txn(2, 1), txn(2, 2)],
            delivered: 4,
            ..History::default()
        };
        assert!(!h.compact_to(5, Zxid::new(2, 2)), "not delivered");
        assert!(!h.compact_to(3, Zxid::new(1, 2)), "another zxid there");
        assert!(h.compact_to(3, Zxid::new(1, 3)));
        assert_eq!((h.base, h.base_zxid, h.len()), (3, Zxid::new(1, 3), 5));
        assert_eq!(h.get(4).map(|t| t.zxid), Some(Zxid::new(2, 1)));
        assert_eq!(h.held_from(5), &[txn(2, 2)]);
        assert_eq!(h.held_from(1).len(), 2);
        assert_eq!(h.delivered_zxid(), Zxid::new(2, 1));
        assert!(h.compact_to(2, Zxid::new(9, 9)), "already below the base");
        // TRUNC never reaches below the base (it is delivered).
        assert!(!h.clone().truncate_after(Zxid::new(1, 2)));
        assert!(!h.clone().truncate_after(Zxid::ZERO));
        let mut rebuilt = History::replay(h.base_records()).expect("rebase replays");
        rebuilt.delivered = h.delivered;
        assert_eq!(rebuilt, h);
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
        let below_base = History::replay(vec![
            ZabRecord::Base {
                index: 2,
                zxid: Zxid::new(1, 2),
            },
            ZabRecord::Truncate {
                last_kept: Zxid::new(1, 1),
            },
        ]);
        assert!(matches!(
            below_base,
            Err(RecoveryError::Inconsistent { record: 1, .. })
        ));
    }

    #[test]
    fn truncation_never_drops_delivered_transactions() {
        let mut h = History {
            txns: vec![txn(1, 1), txn(1, 2), txn(1, 3)],
            delivered: 2,
            ..History::default()
        };
        assert!(!h.truncate_after(Zxid::new(1, 1)));
        assert!(h.truncate_after(Zxid::new(1, 2)));
        assert_eq!(h.txns.len(), 2);
        assert!(h.append(txn(2, 1)));
        assert_eq!(h.count_through(Zxid::new(1, 9)), 2);
        assert!(
            h.contains(Zxid::ZERO) && h.contains(Zxid::new(2, 1)) && !h.contains(Zxid::new(1, 3))
        );
    }
}
