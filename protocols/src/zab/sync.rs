//! Phase 2: Synchronization (DIFF / TRUNC / SNAP, NEWLEADER, UPTODATE).
//!
//! Zab paper §IV-B and ZooKeeper's `LearnerHandler.syncFollower` /
//! `queueCommittedProposals` and `Learner.syncWithLeader`:
//! - The leader brings each learner from its last zxid (reported in ACKEPOCH) to the
//!   leader's history: DIFF when the learner's last zxid is in the leader's history;
//!   TRUNC when the learner holds proposals the leader does not have (to the leader's
//!   last zxid, or to the closest earlier zxid when the histories diverge, followed by
//!   the missing proposals: ZooKeeper's TRUNC+DIFF); SNAP when the learner is more than
//!   `snap_threshold` transactions behind. The snapshot is the leader's committed
//!   history itself (the state machine lives in the harness), followed by the leader's
//!   later proposals.
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
use crate::zab::persist::ZabRecord;
use crate::zab::zxid::Zxid;
use crate::zab::{Out, Phase, Zab};

/// How to bring one learner up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncPlan {
    /// Send the leader's proposals from this index on.
    Diff { from: usize },
    /// Truncate the learner after `to`, then send the proposals from index `from` on.
    Trunc { to: Zxid, from: usize },
    /// Replace the learner's history.
    Snap,
}

/// Chooses DIFF, TRUNC or SNAP for a learner whose last zxid is `peer_last`, given the
/// leader's history `txns`.
pub(crate) fn plan_sync(txns: &[Txn], peer_last: Zxid, snap_threshold: usize) -> SyncPlan {
    let leader_last = txns.last().map_or(Zxid::ZERO, |t| t.zxid);
    if peer_last >= leader_last {
        return if peer_last == leader_last {
            SyncPlan::Diff { from: txns.len() }
        } else {
            SyncPlan::Trunc {
                to: leader_last,
                from: txns.len(),
            }
        };
    }
    let held = txns.partition_point(|t| t.zxid <= peer_last);
    let prev = held
        .checked_sub(1)
        .and_then(|i| txns.get(i))
        .map_or(Zxid::ZERO, |t| t.zxid);
    if txns.len() - held > snap_threshold {
        SyncPlan::Snap
    } else if prev == peer_last {
        SyncPlan::Diff { from: held }
    } else {
        SyncPlan::Trunc {
            to: prev,
            from: held,
        }
    }
}

impl Zab {
    /// Sends DIFF / TRUNC / SNAP and NEWLEADER to a learner whose ACKEPOCH we have.
    pub(super) fn sync_learner(&mut self, learner: NodeId, out: &mut Out) {
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        let (Some(epoch), Some(h)) = (l.new_epoch, l.learners.get(&learner)) else {
            return;
        };
        let txns = &self.history.txns;
        let plan = plan_sync(txns, h.last_zxid, self.snap_threshold);
        let (msg, what) = match plan {
            SyncPlan::Diff { from } => {
                let diff = txns.get(from..).unwrap_or_default().to_vec();
                let what = format!("DIFF of {} proposals after {}", diff.len(), h.last_zxid);
                (PeerMessage::Diff { epoch, txns: diff }, what)
            }
            SyncPlan::Trunc { to, from } => {
                let diff = txns.get(from..).unwrap_or_default().to_vec();
                let what = format!(
                    "TRUNC from {} back to {to}, then {} proposals",
                    h.last_zxid,
                    diff.len()
                );
                (
                    PeerMessage::Trunc {
                        epoch,
                        truncate_to: to,
                        txns: diff,
                    },
                    what,
                )
            }
            SyncPlan::Snap => {
                let (committed, rest) = txns.split_at(self.history.delivered.min(txns.len()));
                let what = format!(
                    "SNAP: {} behind; snapshot of {} committed transactions, then {} proposals",
                    h.last_zxid,
                    committed.len(),
                    rest.len()
                );
                (
                    PeerMessage::Snap {
                        epoch,
                        snapshot: committed.to_vec(),
                        txns: rest.to_vec(),
                    },
                    what,
                )
            }
        };
        let last = self.history.last_zxid();
        out.narrate(self.narrate, || {
            format!("sync {learner}: {what}; then NEWLEADER {epoch}")
        });
        self.send_to_learner(out, learner, msg);
        self.send_to_learner(out, learner, PeerMessage::NewLeader { epoch });
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
        self.deliver_through(self.history.txns.len(), out);
        let committed = self.history.delivered_zxid();
        for to in synced {
            self.send_to_learner(out, to, PeerMessage::UpToDate { epoch, committed });
        }
    }

    /// DIFF (`truncate_to` and `snapshot` both `None`), TRUNC or SNAP from our leader.
    pub(super) fn on_sync(
        &mut self,
        epoch: u32,
        truncate_to: Option<Zxid>,
        snapshot: Option<Vec<Txn>>,
        mut txns: Vec<Txn>,
        out: &mut Out,
    ) {
        let Phase::Learning(l) = &self.phase else {
            return;
        };
        if l.stage != LearnerStage::AwaitingSync || l.epoch != Some(epoch) {
            return;
        }
        // The leader of `epoch` holds no proposal of a later epoch (its history is
        // its own proposals and those of earlier epochs): one is invalid input, which
        // would leave us holding a zxid of an epoch we never accepted, above every
        // zxid a leader of ours could follow it with. Refused before anything is
        // logged, like a history that does not follow ours.
        let later = snapshot.iter().flatten().chain(&txns).map(|t| t.zxid);
        if let Some(zxid) = later.filter(|z| z.epoch() > epoch).max() {
            self.become_looking(out, || {
                format!("sync of epoch {epoch} carries {zxid}, of a later epoch")
            });
            return;
        }
        if let Some(mut snapshot) = snapshot {
            // A leader that has just restarted knows fewer of its transactions delivered
            // than we may have delivered ourselves (commit points are not persisted), so
            // its snapshot can be shorter than our delivered prefix. Our delivered ones
            // are committed: if they lead the leader's history, they join the snapshot.
            // (ZooKeeper's SNAP is the leader's whole database, rebuilt from its whole
            // log, so it never falls short of a learner's.)
            let delivered = self.history.delivered;
            if snapshot.len() < delivered && snapshot.len() + txns.len() >= delivered {
                let short = delivered - snapshot.len();
                snapshot.extend(txns.drain(..short));
            }
            let len = snapshot.len();
            if !self.history.replace(snapshot.clone()) {
                self.become_looking(out, || "SNAP does not extend my delivered prefix".into());
                return;
            }
            out.persist(ZabRecord::Snapshot { txns: snapshot });
            out.narrate(self.narrate, || {
                format!("SNAP: history replaced by {len} committed transactions")
            });
            self.deliver_through(len, out);
        } else if let Some(to) = truncate_to {
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

    #[test]
    fn plan_chooses_diff_trunc_or_snap_like_zookeeper() {
        let leader = vec![txn(1, 1), txn(1, 2), txn(1, 3), txn(2, 1), txn(2, 2)];
        let z = Zxid::new;
        // Up to date: empty DIFF.
        assert_eq!(plan_sync(&leader, z(2, 2), 3), SyncPlan::Diff { from: 5 });
        // Slightly behind, last zxid in our history: DIFF.
        assert_eq!(plan_sync(&leader, z(1, 3), 3), SyncPlan::Diff { from: 3 });
        assert_eq!(
            plan_sync(&leader, Zxid::ZERO, 5),
            SyncPlan::Diff { from: 0 }
        );
        // Ahead of the leader: TRUNC to the leader's last zxid.
        assert_eq!(
            plan_sync(&leader, z(2, 7), 3),
            SyncPlan::Trunc {
                to: z(2, 2),
                from: 5
            }
        );
        // Diverged (an uncommitted 1:4 from an older epoch): TRUNC to 1:3, then DIFF.
        assert_eq!(
            plan_sync(&leader, z(1, 4), 3),
            SyncPlan::Trunc {
                to: z(1, 3),
                from: 3
            }
        );
        // Too far behind: SNAP.
        assert_eq!(plan_sync(&leader, z(1, 1), 3), SyncPlan::Snap);
        assert_eq!(plan_sync(&leader, Zxid::ZERO, 4), SyncPlan::Snap);
        // Empty leader history.
        assert_eq!(plan_sync(&[], Zxid::ZERO, 0), SyncPlan::Diff { from: 0 });
        assert_eq!(
            plan_sync(&[], z(1, 1), 0),
            SyncPlan::Trunc {
                to: Zxid::ZERO,
                from: 0
            }
        );
    }
}
