//! Phase 2: Synchronization (DIFF / TRUNC / SNAP, NEWLEADER, UPTODATE).
//!
//! Zab paper §IV-B and ZooKeeper's `LearnerHandler.syncFollower` /
//! `queueCommittedProposals` and `Learner.syncWithLeader`:
//! - The leader brings each learner from its last zxid (reported in ACKEPOCH) to the
//!   leader's history: DIFF when the learner's last zxid is in the leader's history
//!   (at or after its compaction point); TRUNC when the learner holds proposals the
//!   leader does not have (to the leader's last zxid, or to the closest earlier zxid
//!   when the histories diverge, followed by the missing proposals: ZooKeeper's
//!   TRUNC+DIFF); SNAP when the learner is below the leader's compaction point, or more
//!   than `snap_threshold` transactions behind and below the leader's newest image
//!   (`snap.rs`: the image in chunks, then the proposals after it). Proposals travel in
//!   DIFF messages of at most `snapshot_chunk_bytes` each (the first may be the TRUNC),
//!   so that a learner however far behind is never sent a message near the
//!   transport's frame limit; the learner appends each DIFF that follows the first
//!   until NEWLEADER.
//! - NEWLEADER follows; the learner records the new epoch as current (after logging the
//!   synchronized history) and ACKs it. The leader's own history counts as acked.
//! - With a quorum of NEWLEADER acks the leader is established: it delivers its whole
//!   history (the initial history of the epoch is committed), and sends UPTODATE to
//!   every synchronized learner, which delivers up to the leader's commit point and may
//!   serve clients. Learners that join later go through the same steps one by one.

use crate::effect::Event;
use crate::output::Output;
use crate::types::NodeId;
use crate::zab::discovery::{HandleStage, LeaderPhase, LearnerStage};
use crate::zab::messages::{PeerMessage, Txn};
use crate::zab::persist::{History, ZabRecord};
use crate::zab::zxid::Zxid;
use crate::zab::{Out, Phase, Zab};

/// How to bring one learner up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncPlan {
    /// Send the leader's proposals after global position `after`.
    Diff { after: usize },
    /// Truncate the learner after `to`, then send the proposals after position `after`.
    Trunc { to: Zxid, after: usize },
    /// Send the leader's newest image, then the proposals after it (`snap.rs`).
    Snap,
    /// The learner is below the compaction point and the leader holds no image: it
    /// cannot be synchronized (a leader restored without an image cannot start).
    Unreachable,
}

/// Chooses DIFF, TRUNC or SNAP for a learner whose last zxid is `peer_last`, given the
/// leader's `history` and the end of its newest image (`image`, position and zxid).
pub(crate) fn plan_sync(
    history: &History,
    image: Option<(usize, Zxid)>,
    peer_last: Zxid,
    snap_threshold: usize,
) -> SyncPlan {
    let leader_last = history.last_zxid();
    let len = history.len();
    if peer_last >= leader_last {
        return if peer_last == leader_last {
            SyncPlan::Diff { after: len }
        } else {
            SyncPlan::Trunc {
                to: leader_last,
                after: len,
            }
        };
    }
    let snap = match image {
        Some(_) => SyncPlan::Snap,
        None => SyncPlan::Unreachable,
    };
    if peer_last < history.base_zxid {
        return snap; // below the compaction point
    }
    let held = history.count_through(peer_last);
    let prev = history.zxid_at(held).unwrap_or(Zxid::ZERO);
    let below_image = image.is_some_and(|(_, zxid)| peer_last < zxid);
    if len.saturating_sub(held) > snap_threshold && below_image {
        snap
    } else if prev == peer_last {
        SyncPlan::Diff { after: held }
    } else {
        SyncPlan::Trunc {
            to: prev,
            after: held,
        }
    }
}

/// Bytes counted per proposal on top of its command's data when DIFF batches are cut:
/// more than the zxid, request id and length prefixes take on the wire.
pub(crate) const TXN_OVERHEAD_BYTES: u64 = 64;

/// Cuts `txns` into batches of at most `limit` bytes each (a proposal larger than that
/// travels alone); at least one batch, possibly empty.
pub(crate) fn batches(txns: &[Txn], limit: u64) -> Vec<Vec<Txn>> {
    let mut out = vec![Vec::new()];
    let mut bytes = 0u64;
    for txn in txns {
        let size = (txn.command.data.len() as u64).saturating_add(TXN_OVERHEAD_BYTES);
        let full = bytes.saturating_add(size) > limit;
        match out.last_mut() {
            Some(batch) if !full || batch.is_empty() => {
                batch.push(txn.clone());
                bytes = bytes.saturating_add(size);
            }
            _ => {
                out.push(vec![txn.clone()]);
                bytes = size;
            }
        }
    }
    out
}

impl Zab {
    /// Sends DIFF / TRUNC / SNAP and NEWLEADER to a learner whose ACKEPOCH we have.
    pub(super) fn sync_learner(&mut self, learner: NodeId, out: &mut Out) {
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        let (Some(_), Some(h)) = (l.new_epoch, l.learners.get(&learner)) else {
            return;
        };
        let image = self.snapshot.as_ref().and_then(|s| {
            usize::try_from(s.index)
                .ok()
                .map(|index| (index, Zxid(s.term)))
        });
        let peer_last = h.last_zxid;
        match plan_sync(&self.history, image, peer_last, self.snap_threshold) {
            SyncPlan::Diff { after } => self.finish_sync(learner, after, None, out),
            SyncPlan::Trunc { to, after } => self.finish_sync(learner, after, Some(to), out),
            SyncPlan::Snap => {
                if !self.start_snap(learner, out) {
                    self.forget_learner(learner);
                }
            }
            SyncPlan::Unreachable => {
                let base = self.history.base_zxid;
                out.narrate(self.narrate, || {
                    format!("cannot sync {learner}: {peer_last} is below my compaction point {base} and I hold no image")
                });
                self.forget_learner(learner);
            }
        }
    }

    /// Sends `learner` our proposals after global position `after` (after a TRUNC to
    /// `truncate_to` if given) in DIFF batches of at most `snapshot_chunk_bytes`, then
    /// NEWLEADER; from now on proposals are forwarded to it.
    pub(super) fn finish_sync(
        &mut self,
        learner: NodeId,
        after: usize,
        truncate_to: Option<Zxid>,
        out: &mut Out,
    ) {
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        let (Some(epoch), Some(h)) = (l.new_epoch, l.learners.get(&learner)) else {
            return;
        };
        let peer_last = h.last_zxid;
        let txns = self.history.held_from(after.saturating_add(1));
        let count = txns.len();
        let mut batches = batches(txns, self.snapshot_chunk_bytes).into_iter();
        let first = batches.next().unwrap_or_default();
        let parts = batches.len() + 1;
        let what = match truncate_to {
            None => format!(
                "DIFF of {count} proposals after {}",
                self.history.zxid_at(after).unwrap_or(peer_last)
            ),
            Some(to) => format!("TRUNC from {peer_last} back to {to}, then {count} proposals"),
        };
        let split = if parts > 1 {
            format!(" in {parts} messages")
        } else {
            String::new()
        };
        out.narrate(self.narrate, || {
            format!("sync {learner}: {what}{split}; then NEWLEADER {epoch}")
        });
        let head = match truncate_to {
            None => PeerMessage::Diff { epoch, txns: first },
            Some(to) => PeerMessage::Trunc {
                epoch,
                truncate_to: to,
                txns: first,
            },
        };
        self.send_to_learner(out, learner, head);
        for txns in batches {
            self.send_to_learner(out, learner, PeerMessage::Diff { epoch, txns });
        }
        self.send_to_learner(out, learner, PeerMessage::NewLeader { epoch });
        let last = self.history.last_zxid();
        if let Phase::Leading(l) = &mut self.phase {
            if let Some(h) = l.learners.get_mut(&learner) {
                h.stage = HandleStage::Syncing;
                h.synced_through = last;
                h.informed = last;
            }
        }
    }

    /// The ACK of NEWLEADER from a learner we synchronized.
    pub(super) fn on_newleader_ack(&mut self, from: NodeId, out: &mut Out) {
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        let (Some(epoch), established) = (l.new_epoch, l.is_established()) else {
            return;
        };
        let Some(h) = l.learners.get_mut(&from) else {
            return;
        };
        if h.stage != HandleStage::Syncing {
            return;
        }
        h.stage = HandleStage::Synced;
        h.acked = h.acked.max(h.synced_through);
        self.count_newleader_ack(from);
        if established {
            let committed = self.history.delivered_zxid();
            out.narrate(self.narrate, || {
                format!("{from} acknowledged NEWLEADER: UPTODATE (committed through {committed})")
            });
            self.send_to_learner(out, from, PeerMessage::UpToDate { epoch, committed });
            self.maybe_commit(out);
        } else {
            self.check_newleader_quorum(out);
        }
    }

    /// A quorum acknowledged NEWLEADER: commit the initial history, release learners.
    pub(super) fn establish(&mut self, out: &mut Out) {
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        let Some(epoch) = l.new_epoch else { return };
        l.phase = LeaderPhase::Established;
        let synced: Vec<NodeId> = l
            .learners
            .iter()
            .filter(|(_, h)| h.stage == HandleStage::Synced)
            .map(|(&s, _)| s)
            .collect();
        self.update_election_vote(epoch);
        out.narrate(self.narrate, || {
            format!("established as leader of epoch {epoch}")
        });
        out.event(Event::LeaderReady {
            term: u64::from(epoch),
        });
        self.deliver_through(self.history.len(), out);
        let committed = self.history.delivered_zxid();
        for to in synced {
            self.send_to_learner(out, to, PeerMessage::UpToDate { epoch, committed });
        }
    }

    /// DIFF (`truncate_to` `None`) or TRUNC from our leader: the first sync message
    /// (after SNAP's image, if any), or a DIFF continuing it.
    pub(super) fn on_sync(
        &mut self,
        epoch: u32,
        truncate_to: Option<Zxid>,
        txns: Vec<Txn>,
        out: &mut Out,
    ) {
        let Phase::Learning(l) = &self.phase else {
            return;
        };
        let first = l.stage == LearnerStage::AwaitingSync;
        let continues = l.stage == LearnerStage::AwaitingNewLeader && truncate_to.is_none();
        if !(first || continues) || l.epoch != Some(epoch) {
            return;
        }
        // The leader of `epoch` holds no proposal of a later epoch (its history is
        // its own proposals and those of earlier epochs): one is invalid input, which
        // would leave us holding a zxid of an epoch we never accepted, above every
        // zxid a leader of ours could follow it with. Refused before anything is
        // logged, like a history that does not follow ours.
        if let Some(zxid) = txns
            .iter()
            .map(|t| t.zxid)
            .filter(|z| z.epoch() > epoch)
            .max()
        {
            self.become_looking(out, || {
                format!("sync of epoch {epoch} carries {zxid}, of a later epoch")
            });
            return;
        }
        if l.image.is_some() {
            self.become_looking(out, || {
                "sync proposals before the SNAP image was complete".into()
            });
            return;
        }
        if let Some(to) = truncate_to {
            let dropped: Vec<Zxid> = self
                .history
                .txns
                .iter()
                .map(|t| t.zxid)
                .filter(|&z| z > to)
                .collect();
            if !self.history.truncate_after(to) {
                self.become_looking(out, || {
                    format!("cannot TRUNC to {to}: not in my log or below my delivered prefix")
                });
                return;
            }
            out.persist(ZabRecord::Truncate { last_kept: to });
            out.narrate(self.narrate, || match dropped.as_slice() {
                [] => format!("TRUNC: nothing after {to} to drop"),
                [one] => format!(
                    "drops proposal {one}: TRUNC to {to}, the new leader's history has no {one}"
                ),
                [first, .., last] => format!(
                    "drops {} proposals {first}..={last}: TRUNC to {to}, not in the new leader's history",
                    dropped.len()
                ),
            });
        }
        let count = txns.len();
        for txn in txns {
            let (zxid, last) = (txn.zxid, self.history.last_zxid());
            if !self.history.append(txn.clone()) {
                self.become_looking(out, || {
                    format!("sync proposal {zxid} does not follow {last}")
                });
                return;
            }
            out.persist(ZabRecord::Proposal(txn));
        }
        let last = self.history.last_zxid();
        out.narrate(self.narrate, || {
            format!("logged {count} synchronized proposals; last zxid {last}")
        });
        if let Phase::Learning(l) = &mut self.phase {
            l.stage = LearnerStage::AwaitingNewLeader;
        }
    }

    /// NEWLEADER: record the epoch as current, then ACK.
    pub(super) fn on_new_leader(&mut self, epoch: u32, out: &mut Out) {
        let Phase::Learning(l) = &self.phase else {
            return;
        };
        if l.stage != LearnerStage::AwaitingNewLeader || l.epoch != Some(epoch) {
            return;
        }
        if epoch > self.history.current_epoch {
            self.history.current_epoch = epoch;
            out.persist(ZabRecord::CurrentEpoch(epoch));
        }
        out.narrate(self.narrate, || {
            format!("NEWLEADER: epoch {epoch} is current; ACK")
        });
        self.send_to_leader(
            out,
            PeerMessage::Ack {
                zxid: Zxid::new(epoch, 0),
            },
        );
        if let Phase::Learning(l) = &mut self.phase {
            l.stage = LearnerStage::AwaitingUpToDate;
        }
    }

    /// UPTODATE: deliver up to the leader's commit point and serve clients.
    pub(super) fn on_up_to_date(&mut self, epoch: u32, committed: Zxid, out: &mut Out) {
        let Phase::Learning(l) = &mut self.phase else {
            return;
        };
        if l.stage != LearnerStage::AwaitingUpToDate || l.epoch != Some(epoch) {
            return;
        }
        l.stage = LearnerStage::Serving;
        self.update_election_vote(epoch);
        out.narrate(self.narrate, || {
            format!("UPTODATE: committed through {committed}; serving")
        });
        let count = self.history.count_through(committed);
        self.deliver_through(count, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::persist::tests::txn;

    fn history(txns: Vec<Txn>) -> History {
        History {
            txns,
            ..History::default()
        }
    }

    #[test]
    fn plan_chooses_diff_trunc_or_snap_like_zookeeper() {
        let leader = history(vec![txn(1, 1), txn(1, 2), txn(1, 3), txn(2, 1), txn(2, 2)]);
        let z = Zxid::new;
        let image = Some((3, z(1, 3)));
        // Up to date: empty DIFF.
        assert_eq!(
            plan_sync(&leader, image, z(2, 2), 3),
            SyncPlan::Diff { after: 5 }
        );
        // Slightly behind, last zxid in our history: DIFF.
        assert_eq!(
            plan_sync(&leader, image, z(1, 3), 3),
            SyncPlan::Diff { after: 3 }
        );
        assert_eq!(
            plan_sync(&leader, None, Zxid::ZERO, 5),
            SyncPlan::Diff { after: 0 }
        );
        // Ahead of the leader: TRUNC to the leader's last zxid.
        assert_eq!(
            plan_sync(&leader, image, z(2, 7), 3),
            SyncPlan::Trunc {
                to: z(2, 2),
                after: 5
            }
        );
        // Diverged (an uncommitted 1:4 from an older epoch): TRUNC to 1:3, then DIFF.
        assert_eq!(
            plan_sync(&leader, image, z(1, 4), 3),
            SyncPlan::Trunc {
                to: z(1, 3),
                after: 3
            }
        );
        // Too far behind and below the image: SNAP.
        assert_eq!(plan_sync(&leader, image, z(1, 1), 3), SyncPlan::Snap);
        assert_eq!(plan_sync(&leader, image, Zxid::ZERO, 4), SyncPlan::Snap);
        // Too far behind without an image, or at or above it: the log serves it.
        assert_eq!(
            plan_sync(&leader, None, z(1, 1), 3),
            SyncPlan::Diff { after: 1 }
        );
        assert_eq!(
            plan_sync(&leader, Some((1, z(1, 1))), z(1, 1), 3),
            SyncPlan::Diff { after: 1 }
        );
        // Empty leader history.
        let empty = History::default();
        assert_eq!(
            plan_sync(&empty, None, Zxid::ZERO, 0),
            SyncPlan::Diff { after: 0 }
        );
        assert_eq!(
            plan_sync(&empty, None, z(1, 1), 0),
            SyncPlan::Trunc {
                to: Zxid::ZERO,
                after: 0
            }
        );
    }

    #[test]
    fn below_the_compaction_point_only_snap_serves() {
        let mut leader = history(vec![txn(1, 1), txn(1, 2), txn(1, 3), txn(2, 1), txn(2, 2)]);
        leader.delivered = 5;
        assert!(leader.compact_to(3, Zxid::new(1, 3)));
        let z = Zxid::new;
        let image = Some((4, z(2, 1)));
        assert_eq!(plan_sync(&leader, image, z(1, 2), 100), SyncPlan::Snap);
        assert_eq!(plan_sync(&leader, image, Zxid::ZERO, 100), SyncPlan::Snap);
        assert_eq!(
            plan_sync(&leader, None, z(1, 2), 100),
            SyncPlan::Unreachable
        );
        // At the compaction point itself, or diverging just after it: the log serves.
        assert_eq!(
            plan_sync(&leader, image, z(1, 3), 100),
            SyncPlan::Diff { after: 3 }
        );
        assert_eq!(
            plan_sync(&leader, image, z(1, 9), 100),
            SyncPlan::Trunc {
                to: z(1, 3),
                after: 3
            }
        );
        assert_eq!(
            plan_sync(&leader, image, z(2, 1), 100),
            SyncPlan::Diff { after: 4 }
        );
    }

    #[test]
    fn diff_batches_stay_within_the_chunk_size() {
        let txns: Vec<Txn> = (1..=10).map(|c| txn(1, c)).collect();
        let per = txns[0].command.data.len() as u64 + TXN_OVERHEAD_BYTES;
        let cut = batches(&txns, 3 * per);
        assert_eq!(
            cut.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        assert_eq!(cut.concat(), txns);
        // A proposal larger than the limit travels alone; nothing makes one empty batch.
        assert_eq!(
            batches(&txns[..2], 1)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![1, 1]
        );
        assert_eq!(batches(&[], 1), vec![Vec::<Txn>::new()]);
    }
}
