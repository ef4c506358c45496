//! Phase 3: Broadcast (PROPOSAL, ACK, COMMIT, INFORM, REQUEST, PING) and liveness.
//!
//! Zab paper §IV-C and ZooKeeper's `Leader.propose` / `processAck` / `commit` /
//! `inform`, `Follower.processPacket`, `Observer.processPacket`:
//! - The established leader gives each command the next zxid of its epoch, logs it and
//!   sends PROPOSAL to every synchronized follower, without waiting (pipelined).
//!   Counter exhaustion makes it step down so that a new epoch starts (`zxid.rs`).
//! - A follower logs a proposal (durably) before ACKing it; proposals arrive in zxid
//!   order, so ACKs are cumulative. A gap means a message was lost: like a broken
//!   ZooKeeper connection, the follower goes back to LOOKING and rejoins.
//! - The leader logs a proposal and sends it at the same time, as ZooKeeper's leader
//!   hands it to its `SyncRequestProcessor` and its followers at once: PROPOSAL leaves
//!   as `Effect::SendAhead`. Its own ACK is the last zxid its log reports durable
//!   (each leader flush marks the proposals logged since the last one), as
//!   ZooKeeper's `AckRequestProcessor` acks only after the flush.
//! - When a quorum of voters (the leader included) has acked up to some zxid, the
//!   leader delivers everything up to it, sends COMMIT to followers and INFORM (the
//!   proposals and their commit in one message) to observers, which never ACK. These
//!   are decided by durable copies only, so they leave ahead of the log too.
//! - Coalescing (a deviation in message count only): because ACK and COMMIT are
//!   cumulative, a follower ACKs once per burst of proposals and a leader COMMITs once
//!   per burst of quorum ACKs. Both send at the end of the batch
//!   ([`crate::Protocol::end_of_batch`]), after the harness has handed over the inputs
//!   already waiting. ZooKeeper sends one
//!   ACK and one COMMIT per zxid (and relies on its buffered streams to share the
//!   syscalls); the acknowledged and committed prefixes are the same, only later by at
//!   most the inputs already queued. PROPOSALs stay one per command.
//! - Every tick the leader PINGs its learners, which answer with PING. A learner that
//!   hears nothing from its leader for `syncLimit` ticks (`initLimit` before UPTODATE),
//!   and a leader that has not heard from a quorum within `syncLimit` ticks, or cannot
//!   finish a Discovery / Synchronization wait within `initLimit` ticks, go back to
//!   LOOKING (ZooKeeper: "Not sufficient followers synced").

use crate::bugs::Bug;
use crate::output::Output;
use crate::types::{Command, NodeId};
use crate::zab::discovery::{HandleStage, LearnerStage};
use crate::zab::messages::{PeerMessage, Txn};
use crate::zab::persist::ZabRecord;
use crate::zab::zxid::Zxid;
use crate::zab::{Out, Phase, Zab, ZabTimer};

impl Zab {
    /// The established leader proposes `command`.
    pub(super) fn propose(&mut self, command: Command, out: &mut Out) {
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        let (Some(epoch), true) = (l.new_epoch, l.is_established()) else {
            return;
        };
        let last = self.history.last_zxid();
        let Some(zxid) = Zxid::next_in_epoch(last, epoch) else {
            self.become_looking(out, || {
                format!("zxid counter exhausted after {last}: a new epoch must start")
            });
            return;
        };
        let txn = Txn { zxid, command };
        let followers: Vec<NodeId> = l
            .learners
            .iter()
            .filter(|(_, h)| {
                !h.observer && matches!(h.stage, HandleStage::Syncing | HandleStage::Synced)
            })
            .map(|(&s, _)| s)
            .collect();
        self.history.append(txn.clone());
        out.persist(ZabRecord::Proposal(txn.clone()));
        out.narrate(self.narrate, || format!("PROPOSAL {zxid} to {followers:?}"));
        for to in followers {
            self.send_ahead_to_learner(out, to, PeerMessage::Proposal { txn: txn.clone() });
        }
        // Our own ACK waits for our log: the end of the batch asks for a durability
        // report.
        if let Phase::Leading(l) = &mut self.phase {
            l.mark_unsent = true;
        }
    }

    /// Our log reports the zxids marked with tokens up to `token` durable: as leader,
    /// that is our own ACK.
    pub(super) fn on_durable(&mut self, token: u64, out: &mut Out) {
        let Some(zxid) = self.durable_marks.reached(token).last() else {
            return;
        };
        if let Phase::Leading(l) = &mut self.phase {
            l.self_acked = l.self_acked.max(zxid);
            self.maybe_commit(out);
        }
    }

    /// A command forwarded by a learner.
    pub(super) fn on_request(&mut self, from: NodeId, command: Command, out: &mut Out) {
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        if self.handoff.is_some() {
            out.narrate(self.narrate, || {
                format!("drop REQUEST from {from}: handing leadership over")
            });
        } else if l.is_established() {
            self.propose(command, out);
        } else {
            out.narrate(self.narrate, || {
                format!("drop REQUEST from {from}: not established yet")
            });
        }
    }

    /// ACK from a learner: of NEWLEADER (`<epoch, 0>`) or of proposals up to `zxid`.
    pub(super) fn on_ack(&mut self, from: NodeId, zxid: Zxid, out: &mut Out) {
        let last = self.history.last_zxid();
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        let Some(epoch) = l.new_epoch else { return };
        if zxid == Zxid::new(epoch, 0) {
            self.on_newleader_ack(from, out);
            return;
        }
        let Some(h) = l.learners.get_mut(&from) else {
            return;
        };
        let acking = matches!(h.stage, HandleStage::Syncing | HandleStage::Synced);
        if h.observer || !acking || zxid.epoch() != epoch || zxid > last {
            return;
        }
        h.acked = h.acked.max(zxid);
        self.maybe_commit(out);
    }

    /// Commits up to the highest zxid a quorum of voters has logged.
    pub(super) fn maybe_commit(&mut self, out: &mut Out) {
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        if !l.is_established() {
            return;
        }
        let mut acked: Vec<Zxid> = l
            .learners
            .iter()
            .filter(|(&s, h)| !h.observer && self.membership.is_voter(s))
            .map(|(_, h)| h.acked)
            .collect();
        acked.push(l.self_acked);
        acked.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&quorum_zxid) = acked.get(self.membership.quorum() - 1) else {
            return;
        };
        if quorum_zxid <= self.history.delivered_zxid() {
            return;
        }
        if self.narrate {
            let mut holders: Vec<NodeId> = l
                .learners
                .iter()
                .filter(|(&s, h)| {
                    !h.observer && self.membership.is_voter(s) && h.acked >= quorum_zxid
                })
                .map(|(&s, _)| s)
                .collect();
            holders.sort_unstable();
            if l.self_acked >= quorum_zxid {
                holders.insert(0, self.id);
            }
            let on: Vec<String> = holders.iter().map(NodeId::to_string).collect();
            out.narrate(true, || {
                format!(
                    "commits zxid {quorum_zxid}: ACKed by {}; deliver, COMMIT at the flush",
                    on.join(", ")
                )
            });
        }
        self.deliver_through(self.history.count_through(quorum_zxid), out);
        if let Phase::Leading(l) = &mut self.phase {
            l.commit_unsent = true;
        }
    }

    /// End of a batch at a leader: a durability mark for the proposals logged since the last
    /// one, then one COMMIT to each follower and one INFORM to each observer for
    /// everything delivered so far.
    pub(super) fn flush_commits(&mut self, out: &mut Out) {
        let (committed, last) = (self.history.delivered_zxid(), self.history.last_zxid());
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        if std::mem::take(&mut l.mark_unsent) {
            self.durable_marks.mark(last, out);
        }
        if !std::mem::take(&mut l.commit_unsent) {
            return;
        }
        let mut followers = Vec::new();
        let mut observers = Vec::new();
        for (&s, h) in &l.learners {
            match (h.observer, h.stage) {
                (false, HandleStage::Syncing | HandleStage::Synced) => followers.push(s),
                (true, HandleStage::Syncing | HandleStage::Synced) => {
                    observers.push((s, h.informed))
                }
                _ => {}
            }
        }
        out.narrate(self.narrate, || {
            format!("flush: COMMIT {committed} to {followers:?}")
        });
        for to in followers {
            self.send_ahead_to_learner(out, to, PeerMessage::Commit { zxid: committed });
        }
        for (to, informed) in observers {
            let txns: Vec<Txn> = self
                .history
                .txns
                .iter()
                .filter(|t| t.zxid > informed && t.zxid <= committed)
                .cloned()
                .collect();
            self.send_ahead_to_learner(out, to, PeerMessage::Inform { txns, committed });
        }
        if let Phase::Leading(l) = &mut self.phase {
            for h in l.learners.values_mut().filter(|h| h.observer) {
                h.informed = h.informed.max(committed);
            }
        }
    }

    /// End of a batch at a follower: the one cumulative ACK for the proposals logged since.
    pub(super) fn flush_ack(&mut self, out: &mut Out) {
        let Phase::Learning(l) = &mut self.phase else {
            return;
        };
        if let Some(zxid) = l.ack_unsent.take() {
            if self.bug == Some(Bug::ZabAckBeforePersist) {
                // BUG (teaching, off by default): the ACK leaves ahead of our log,
                // before the proposals it acknowledges are durable (Zab §IV-C).
                self.send_ahead_to_leader(out, PeerMessage::Ack { zxid });
            } else {
                self.send_to_leader(out, PeerMessage::Ack { zxid });
            }
        }
    }

    /// One tick of a leader: PING, then check the quorum or the phase deadline.
    pub(super) fn leader_tick(&mut self, out: &mut Out) {
        let id = self.id;
        let (sync_limit, init_limit) = (self.timing.sync_limit, self.timing.init_limit);
        out.set_timer(ZabTimer::Tick, self.timing.tick);
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        l.tick += 1;
        let tick = l.tick;
        self.abort_handoff_if_late(tick, out);
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        let broken: Vec<NodeId> = l
            .learners
            .iter_mut()
            .filter_map(|(&s, h)| h.inbox.broken_at_tick().then_some(s))
            .collect();
        for &learner in &broken {
            self.forget_learner(learner);
        }
        if !broken.is_empty() {
            out.narrate(self.narrate, || {
                format!("sessions broken by a lost message: {broken:?}")
            });
        }
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        if let Some(epoch) = l.new_epoch {
            let learners: Vec<NodeId> = l.learners.keys().copied().collect();
            for to in learners {
                // Liveness does not wait for our disk (ZooKeeper's leader PINGs from
                // its own thread, whatever its SyncRequestProcessor is doing).
                self.send_ahead_to_learner(out, to, PeerMessage::Ping { epoch });
            }
        }
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        if l.is_established() {
            let mut alive: Vec<NodeId> = l
                .learners
                .iter()
                .filter(|(_, h)| {
                    h.stage == HandleStage::Synced && tick - h.last_heard <= sync_limit
                })
                .map(|(&s, _)| s)
                .collect();
            alive.push(id);
            if !self.membership.is_quorum(&alive) {
                self.become_looking(out, || {
                    format!(
                        "only {alive:?} heard within syncLimit ({sync_limit} ticks): not a quorum"
                    )
                });
            }
        } else if tick - l.phase_tick > init_limit {
            let phase = l.phase;
            self.become_looking(out, || {
                format!("{phase:?} did not finish within initLimit ({init_limit} ticks)")
            });
        }
    }

    /// One tick of a learner: give up on a silent leader; repeat FOLLOWERINFO.
    pub(super) fn learner_tick(&mut self, out: &mut Out) {
        out.set_timer(ZabTimer::Tick, self.timing.tick);
        let handshake_limit = 3 * self.timing.init_limit;
        let Phase::Learning(l) = &mut self.phase else {
            return;
        };
        l.silent_ticks += 1;
        if l.inbox.broken_at_tick() {
            let leader = l.leader;
            self.become_looking(out, || {
                format!("session with leader {leader} broken: a message was lost")
            });
            return;
        }
        if !l.is_serving() {
            l.handshake_ticks += 1;
            if l.handshake_ticks > handshake_limit {
                let (leader, stage) = (l.leader, l.stage);
                self.become_looking(out, || {
                    format!("no UPTODATE from {leader} within {handshake_limit} ticks (stuck in {stage:?})")
                });
                return;
            }
        }
        let (limit, name) = if l.is_serving() {
            (self.timing.sync_limit, "syncLimit")
        } else {
            (self.timing.init_limit, "initLimit")
        };
        let (silent, leader, stage) = (l.silent_ticks, l.leader, l.stage);
        if silent > limit {
            self.become_looking(out, || {
                format!("leader {leader} silent for {silent} ticks ({name} is {limit})")
            });
        } else if stage == LearnerStage::Connecting {
            self.send_learner_info(out);
        }
    }

    /// PING from the leader: answer it.
    pub(super) fn on_leader_ping(&mut self, epoch: u32, out: &mut Out) {
        let Phase::Learning(l) = &self.phase else {
            return;
        };
        if l.epoch == Some(epoch) {
            self.send_to_leader(out, PeerMessage::Ping { epoch });
        }
    }

    /// The epoch of the leader a learner receives proposals from, after NEWLEADER.
    fn broadcast_epoch(&self, observer: bool) -> Option<(NodeId, u32)> {
        match &self.phase {
            Phase::Learning(l)
                if l.observer == observer
                    && matches!(
                        l.stage,
                        LearnerStage::AwaitingUpToDate | LearnerStage::Serving
                    ) =>
            {
                l.epoch.map(|e| (l.leader, e))
            }
            _ => None,
        }
    }

    /// Logs `txn` after checking it directly follows our last zxid.
    fn log_in_order(&mut self, txn: Txn, epoch: u32, out: &mut Out) -> Result<(), ()> {
        let last = self.history.last_zxid();
        if !txn.zxid.directly_follows(last, epoch) {
            let zxid = txn.zxid;
            self.become_looking(out, || {
                format!("gap in the proposal stream: {zxid} after {last}")
            });
            return Err(());
        }
        self.history.append(txn.clone());
        out.persist(ZabRecord::Proposal(txn));
        Ok(())
    }

    /// PROPOSAL: log it, then ACK.
    pub(super) fn on_proposal(&mut self, txn: Txn, out: &mut Out) {
        let Some((_, epoch)) = self.broadcast_epoch(false) else {
            return;
        };
        let zxid = txn.zxid;
        if zxid <= self.history.last_zxid() && self.history.contains(zxid) {
            return; // a duplicate
        }
        if self.log_in_order(txn, epoch, out).is_ok() {
            if let Phase::Learning(l) = &mut self.phase {
                l.ack_unsent = Some(zxid);
            }
        }
    }

    /// COMMIT: deliver up to `zxid`.
    pub(super) fn on_commit(&mut self, zxid: Zxid, out: &mut Out) {
        let Some((_, epoch)) = self.broadcast_epoch(false) else {
            return;
        };
        if zxid.epoch() != epoch {
            return;
        }
        if !self.history.contains(zxid) {
            self.become_looking(out, || format!("COMMIT of {zxid}, which I never logged"));
            return;
        }
        self.deliver_through(self.history.count_through(zxid), out);
    }

    /// INFORM (observers): log the proposals, deliver up to `committed`.
    pub(super) fn on_inform(&mut self, txns: Vec<Txn>, committed: Zxid, out: &mut Out) {
        let Some((_, epoch)) = self.broadcast_epoch(true) else {
            return;
        };
        for txn in txns {
            if txn.zxid <= self.history.last_zxid() && self.history.contains(txn.zxid) {
                continue;
            }
            if self.log_in_order(txn, epoch, out).is_err() {
                return;
            }
        }
        if !self.history.contains(committed) {
            self.become_looking(out, || {
                format!("INFORM commits {committed}, which I never logged")
            });
            return;
        }
        self.deliver_through(self.history.count_through(committed), out);
    }
}
