//! Phase 1: Discovery, and the per-role state of leaders and learners.
//!
//! Zab paper §IV-A (CEPOCH, NEWEPOCH, ACK-E) as ZooKeeper implements it in
//! `Leader.getEpochToPropose` / `waitForEpochAck` and `Learner.registerWithLeader`:
//! - Each learner sends FOLLOWERINFO (OBSERVERINFO) with its accepted epoch.
//! - Once the leader and a quorum of voters have reported, the new epoch is the highest
//!   accepted epoch + 1; the leader records it as accepted and sends LEADERINFO.
//! - A learner accepts a newer epoch (recording it before answering) and answers
//!   ACKEPOCH with its current epoch and last zxid; for the epoch it had already
//!   accepted it answers with epoch -1 (`None`), which does not count toward the quorum;
//!   an older epoch sends it back to LOOKING.
//! - The leader checks every ACKEPOCH against its own state summary (current epoch, last
//!   zxid): FastLeaderElection should have picked the most up-to-date server of the
//!   quorum, and a learner that is ahead is dropped (ZooKeeper: "Follower is ahead of
//!   the leader"); without a quorum the leader gives up after `initLimit`. Once a quorum
//!   (with itself) has acked, it records the new epoch as current and synchronizes each
//!   learner (`sync.rs`); learners arriving later are synchronized without the check,
//!   as in ZooKeeper, and a TRUNC removes what they hold beyond the leader's history.

use crate::effect::{Event, Role};
use crate::output::Output;
use crate::types::NodeId;
use crate::zab::messages::{PeerMessage, ZabMessage};
use crate::zab::persist::ZabRecord;
use crate::zab::session::Inbox;
use crate::zab::zxid::Zxid;
use crate::zab::{Out, Phase, Zab, ZabTimer};
use std::collections::{BTreeMap, BTreeSet};

/// Where a leader stands; each wait is bounded by `initLimit` ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeaderPhase {
    /// Waiting for a quorum of FOLLOWERINFO to fix the new epoch.
    CollectingEpochs,
    /// Waiting for a quorum of ACKEPOCH.
    CollectingEpochAcks,
    /// Synchronizing; waiting for a quorum of NEWLEADER acks.
    CollectingNewLeaderAcks,
    /// Established: broadcasting.
    Established,
}

/// How far one learner got with this leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HandleStage {
    /// LEADERINFO sent (or pending), waiting for ACKEPOCH.
    AwaitingAckEpoch,
    /// ACKEPOCH received; synchronization waits for the epoch quorum.
    AwaitingSync,
    /// SNAP: the chunks of our image are on their way; the proposals after it, then
    /// NEWLEADER, follow once the last is acknowledged (`snap.rs`). Nothing else is
    /// forwarded meanwhile.
    Snapping,
    /// DIFF/TRUNC/SNAP and NEWLEADER sent; proposals are forwarded from now on.
    Syncing,
    /// NEWLEADER acknowledged.
    Synced,
}

/// The leader's view of one learner (ZooKeeper's `LearnerHandler`).
#[derive(Clone, Debug)]
pub(crate) struct LearnerHandle {
    /// The learner's session id, from FOLLOWERINFO.
    pub(crate) session: u64,
    /// Orders the learner's messages.
    pub(crate) inbox: Inbox,
    /// The number of our next message to it.
    pub(crate) out_seq: u64,
    /// A non-voting observer.
    pub(crate) observer: bool,
    /// Progress of its handshake.
    pub(crate) stage: HandleStage,
    /// Its last zxid, from ACKEPOCH.
    pub(crate) last_zxid: Zxid,
    /// Our last zxid when we synchronized it.
    pub(crate) synced_through: Zxid,
    /// The highest zxid it acknowledged (cumulative).
    pub(crate) acked: Zxid,
    /// Observers: the highest zxid they hold from us.
    pub(crate) informed: Zxid,
    /// Our tick when we last heard from it.
    pub(crate) last_heard: u64,
    /// SNAP: the image being streamed to it (stage `Snapping`, `snap.rs`).
    pub(crate) snap: Option<crate::zab::snap::Outgoing>,
}

/// A leader's state.
#[derive(Debug)]
pub(crate) struct LeaderState {
    /// Progress through Discovery and Synchronization.
    pub(crate) phase: LeaderPhase,
    /// The epoch being established, once a quorum reported its accepted epoch.
    pub(crate) new_epoch: Option<u32>,
    /// Our (current epoch, last zxid) when we started leading (`leaderStateSummary`).
    summary: (u32, Zxid),
    /// Accepted epochs reported in FOLLOWERINFO (ours included).
    connecting: BTreeMap<NodeId, u32>,
    /// Voters whose ACKEPOCH counts (ours included).
    epoch_acks: BTreeSet<NodeId>,
    /// Voters that acknowledged NEWLEADER (ours included).
    newleader_acks: BTreeSet<NodeId>,
    /// Every learner that registered with us.
    pub(crate) learners: BTreeMap<NodeId, LearnerHandle>,
    /// Ticks since we started leading.
    pub(crate) tick: u64,
    /// The tick at which the current phase started.
    pub(crate) phase_tick: u64,
    /// A COMMIT/INFORM of what was delivered waits for the end of the batch.
    pub(crate) commit_unsent: bool,
    /// The last zxid of this epoch our own log reports durable: our own ACK, which
    /// ZooKeeper's leader gives itself once its `SyncRequestProcessor` has flushed.
    pub(crate) self_acked: Zxid,
    /// Proposals were logged since the last end of batch, which marks them for a
    /// durability report.
    pub(crate) mark_unsent: bool,
}

impl LeaderState {
    /// Whether a quorum acknowledged NEWLEADER.
    pub(crate) fn is_established(&self) -> bool {
        self.phase == LeaderPhase::Established
    }

    /// Our current epoch when we started leading (the term `RoleChanged` reports).
    pub(crate) fn taken_in_epoch(&self) -> u32 {
        self.summary.0
    }
}

/// How far a learner got with its leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LearnerStage {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Connecting,
    /// ACKEPOCH sent, waiting for DIFF/TRUNC/SNAP.
    AwaitingSync,
    /// Synchronized, waiting for NEWLEADER.
    AwaitingNewLeader,
    /// NEWLEADER acknowledged, waiting for UPTODATE (proposals may already arrive).
    AwaitingUpToDate,
    /// UPTODATE received: serving clients.
    Serving,
}

/// A follower's or observer's state.
#[derive(Debug)]
pub(crate) struct LearnerState {
    /// The leader it follows.
    pub(crate) leader: NodeId,
    /// Whether it is a non-voting observer.
    pub(crate) observer: bool,
    /// Progress of its handshake.
    pub(crate) stage: LearnerStage,
    /// The leader's epoch, from LEADERINFO.
    pub(crate) epoch: Option<u32>,
    /// Ticks since the leader was last heard.
    pub(crate) silent_ticks: u64,
    /// Ticks since this session started (bounded until UPTODATE).
    pub(crate) handshake_ticks: u64,
    /// This session's random id.
    pub(crate) session: u64,
    /// Orders the leader's messages.
    pub(crate) inbox: Inbox,
    /// The number of our next message to the leader (FOLLOWERINFO is 0).
    pub(crate) out_seq: u64,
    /// The last proposal logged whose ACK waits for the end of the batch.
    pub(crate) ack_unsent: Option<Zxid>,
    /// Our current epoch when FLE made us a learner (the term `RoleChanged` reports).
    pub(crate) taken_in_epoch: u32,
    /// SNAP: the chunks of the leader's image received so far (`snap.rs`).
    pub(crate) image: Option<crate::zab::snap::Incoming>,
}

impl LearnerState {
    /// Whether it received UPTODATE and may serve clients.
    pub(crate) fn is_serving(&self) -> bool {
        self.stage == LearnerStage::Serving
    }
}

impl Zab {
    /// FLE chose us: start Discovery.
    pub(super) fn become_leading(&mut self, out: &mut Out) {
        let summary = (self.history.current_epoch, self.history.last_zxid());
        let mut connecting = BTreeMap::new();
        connecting.insert(self.id, self.history.accepted_epoch);
        self.phase = Phase::Leading(Box::new(LeaderState {
            phase: LeaderPhase::CollectingEpochs,
            new_epoch: None,
            summary,
            connecting,
            epoch_acks: BTreeSet::new(),
            newleader_acks: BTreeSet::new(),
            learners: BTreeMap::new(),
            tick: 0,
            phase_tick: 0,
            commit_unsent: false,
            self_acked: Zxid::ZERO,
            mark_unsent: false,
        }));
        self.durable_marks.forget();
        out.narrate(self.narrate, || {
            "LEADING: wait for a quorum of FOLLOWERINFO to pick the new epoch".into()
        });
        out.set_timer(ZabTimer::Tick, self.timing.tick);
        self.check_epoch_quorum(out);
        // Learners that decided for us before we did (see "Deviations" in mod.rs).
        for (from, (session, body)) in std::mem::take(&mut self.learner_backlog) {
            if matches!(self.phase, Phase::Leading(_)) {
                self.leader_receive(from, session, 0, body, out);
            }
        }
    }

    /// FLE chose `leader`: connect to it.
    pub(super) fn become_learner(&mut self, leader: NodeId, out: &mut Out) {
        self.learner_backlog.clear();
        let observer = !self.is_voter(self.id);
        let session = self.rng.next_u64() ^ self.now.as_nanos();
        self.phase = Phase::Learning(LearnerState {
            leader,
            observer,
            stage: LearnerStage::Connecting,
            epoch: None,
            silent_ticks: 0,
            handshake_ticks: 0,
            session,
            inbox: Inbox::starting_at(0),
            out_seq: 1,
            ack_unsent: None,
            taken_in_epoch: self.history.current_epoch,
            image: None,
        });
        let role = if observer {
            Role::Observing
        } else {
            Role::Following
        };
        out.narrate(self.narrate, || {
            format!(
                "{role} {leader}: send my accepted epoch {}",
                self.history.accepted_epoch
            )
        });
        out.set_timer(ZabTimer::Tick, self.timing.tick);
        self.send_learner_info(out);
    }

    /// FOLLOWERINFO / OBSERVERINFO, always message 0 of the session.
    pub(super) fn send_learner_info(&self, out: &mut Out) {
        if let Phase::Learning(l) = &self.phase {
            let accepted_epoch = self.history.accepted_epoch;
            let body = if l.observer {
                PeerMessage::ObserverInfo { accepted_epoch }
            } else {
                PeerMessage::FollowerInfo { accepted_epoch }
            };
            let msg = ZabMessage::Peer {
                session: l.session,
                seq: 0,
                body,
            };
            out.send(l.leader, msg);
        }
    }

    pub(super) fn leader(&mut self) -> Option<&mut LeaderState> {
        match &mut self.phase {
            Phase::Leading(l) => Some(l),
            _ => None,
        }
    }

    /// FOLLOWERINFO / OBSERVERINFO: a learner registers; a new session replaces any
    /// earlier one, which is closed for good.
    pub(super) fn on_learner_info(
        &mut self,
        from: NodeId,
        accepted_epoch: u32,
        session: u64,
        out: &mut Out,
    ) {
        let observer = !self.is_voter(from);
        if self.closed_sessions.contains(from, session) {
            return; // a late copy from a session we closed
        }
        if accepted_epoch == u32::MAX {
            // No server accepts the last epoch (see `check_epoch_quorum`): a forged
            // claim, refused like a lost message (the learner retries every tick).
            out.narrate(self.narrate, || {
                format!("ignore FOLLOWERINFO from {from}: invalid accepted epoch {accepted_epoch}")
            });
            return;
        }
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        if l.learners.get(&from).is_some_and(|h| h.session == session) {
            return; // a repeated FOLLOWERINFO of the session we have
        }
        let replaced = l.learners.insert(
            from,
            LearnerHandle {
                session,
                inbox: Inbox::starting_at(1),
                out_seq: 0,
                observer,
                stage: HandleStage::AwaitingAckEpoch,
                last_zxid: Zxid::ZERO,
                synced_through: Zxid::ZERO,
                acked: Zxid::ZERO,
                informed: Zxid::ZERO,
                last_heard: l.tick,
                snap: None,
            },
        );
        if let Some(h) = replaced {
            self.closed_sessions.close(from, h.session);
        }
        match l.new_epoch {
            Some(new_epoch) => {
                self.send_to_learner(out, from, PeerMessage::LeaderInfo { new_epoch })
            }
            None => {
                l.connecting.insert(from, accepted_epoch);
                out.narrate(self.narrate, || {
                    format!("FOLLOWERINFO from {from}: accepted epoch {accepted_epoch}")
                });
                self.check_epoch_quorum(out);
            }
        }
    }

    /// With a quorum of accepted epochs, fix and announce the new epoch.
    fn check_epoch_quorum(&mut self, out: &mut Out) {
        let id = self.id;
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        let voters: Vec<NodeId> = l.connecting.keys().copied().collect();
        if l.phase != LeaderPhase::CollectingEpochs || !self.membership.is_quorum(&voters) {
            return;
        }
        let highest = l.connecting.values().copied().max().unwrap_or(0);
        // The last epoch is never proposed: its leader's successor would need an epoch
        // that does not exist (Raft's candidates likewise stop below the last term).
        let Some(new_epoch) = highest.checked_add(1).filter(|&e| e < u32::MAX) else {
            self.become_looking(out, || "the epoch space is exhausted".into());
            return;
        };
        self.history.accepted_epoch = new_epoch;
        out.persist(ZabRecord::AcceptedEpoch(new_epoch));
        out.narrate(self.narrate, || {
            format!("epoch quorum {voters:?}: highest accepted epoch {highest}, propose new epoch {new_epoch}")
        });
        let Some(l) = self.leader() else { return };
        l.new_epoch = Some(new_epoch);
        l.phase = LeaderPhase::CollectingEpochAcks;
        l.phase_tick = l.tick;
        l.epoch_acks.insert(id);
        let waiting: Vec<NodeId> = l
            .learners
            .iter()
            .filter(|(_, h)| h.stage == HandleStage::AwaitingAckEpoch)
            .map(|(&s, _)| s)
            .collect();
        for to in waiting {
            self.send_to_learner(out, to, PeerMessage::LeaderInfo { new_epoch });
        }
        self.check_epoch_ack_quorum(out);
    }

    /// ACKEPOCH: while the epoch quorum is still open, check the learner is not ahead
    /// of us, then count it; afterwards just synchronize it (`Leader.waitForEpochAck`
    /// returns at once once `electionFinished`).
    pub(super) fn on_ack_epoch(
        &mut self,
        from: NodeId,
        current_epoch: Option<u32>,
        last_zxid: Zxid,
        out: &mut Out,
    ) {
        let voter = self.is_voter(from);
        let Some(l) = self.leader() else { return };
        let collecting = matches!(
            l.phase,
            LeaderPhase::CollectingEpochs | LeaderPhase::CollectingEpochAcks
        );
        let summary = l.summary;
        let (Some(_), Some(h)) = (l.new_epoch, l.learners.get_mut(&from)) else {
            return;
        };
        if h.stage != HandleStage::AwaitingAckEpoch {
            return;
        }
        if let (true, Some(epoch)) = (collecting, current_epoch) {
            if (epoch, last_zxid) > summary {
                // ZooKeeper: "Follower is ahead of the leader"; the learner's connection
                // is closed and it goes back to LOOKING once it hears nothing more.
                self.forget_learner(from);
                out.narrate(self.narrate, || {
                    format!(
                        "drop learner {from}: it is ahead of me (epoch {epoch}, zxid {last_zxid} > epoch {}, zxid {})",
                        summary.0, summary.1
                    )
                });
                return;
            }
        }
        h.last_zxid = last_zxid;
        h.stage = HandleStage::AwaitingSync;
        if collecting && voter && current_epoch.is_some() {
            l.epoch_acks.insert(from);
        }
        out.narrate(self.narrate, || match (collecting, current_epoch) {
            (true, Some(e)) => format!(
                "ACKEPOCH from {from}: epoch {e}, last zxid {last_zxid}; mine (epoch {}, zxid {}) is at least as recent",
                summary.0, summary.1
            ),
            (true, None) => {
                format!("ACKEPOCH from {from}: had already accepted this epoch (not counted), last zxid {last_zxid}")
            }
            (false, _) => format!("ACKEPOCH from late learner {from}: last zxid {last_zxid}"),
        });
        if collecting {
            self.check_epoch_ack_quorum(out);
        } else {
            self.sync_learner(from, out);
        }
    }

    /// With a quorum of ACKEPOCH, adopt the new epoch and synchronize everyone waiting.
    fn check_epoch_ack_quorum(&mut self, out: &mut Out) {
        let id = self.id;
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        let (LeaderPhase::CollectingEpochAcks, Some(epoch)) = (l.phase, l.new_epoch) else {
            return;
        };
        if !self.membership.is_quorum(&l.epoch_acks) {
            return;
        }
        let acks: Vec<NodeId> = l.epoch_acks.iter().copied().collect();
        self.history.current_epoch = epoch;
        out.persist(ZabRecord::CurrentEpoch(epoch));
        // Only now is this leader the unique one of `epoch`: every acker accepted the
        // epoch for the first time, and no server does that twice.
        out.event(Event::LeaderElected {
            term: u64::from(epoch),
        });
        out.narrate(self.narrate, || {
            format!("ACKEPOCH quorum {acks:?}: epoch {epoch} is current; synchronize learners")
        });
        let Some(l) = self.leader() else { return };
        l.phase = LeaderPhase::CollectingNewLeaderAcks;
        l.phase_tick = l.tick;
        l.newleader_acks.insert(id);
        let waiting: Vec<NodeId> = l
            .learners
            .iter()
            .filter(|(_, h)| h.stage == HandleStage::AwaitingSync)
            .map(|(&s, _)| s)
            .collect();
        for learner in waiting {
            self.sync_learner(learner, out);
        }
        self.check_newleader_quorum(out);
    }

    /// Counts a NEWLEADER ack.
    pub(super) fn count_newleader_ack(&mut self, from: NodeId) {
        let voter = self.is_voter(from);
        if let Some(l) = self.leader() {
            if voter {
                l.newleader_acks.insert(from);
            }
        }
    }

    /// With a quorum of NEWLEADER acks, the leader is established.
    pub(super) fn check_newleader_quorum(&mut self, out: &mut Out) {
        let Phase::Leading(l) = &self.phase else {
            return;
        };
        if l.phase == LeaderPhase::CollectingNewLeaderAcks
            && self.membership.is_quorum(&l.newleader_acks)
        {
            let acks: Vec<NodeId> = l.newleader_acks.iter().copied().collect();
            out.narrate(self.narrate, || {
                format!("NEWLEADER acknowledged by quorum {acks:?}")
            });
            self.establish(out);
        }
    }

    /// LEADERINFO: accept the new epoch (durably) and answer ACKEPOCH.
    pub(super) fn on_leader_info(&mut self, new_epoch: u32, out: &mut Out) {
        let Phase::Learning(l) = &self.phase else {
            return;
        };
        if l.stage != LearnerStage::Connecting {
            return;
        }
        let accepted = self.history.accepted_epoch;
        let last_zxid = self.history.last_zxid();
        if new_epoch == u32::MAX {
            // No honest leader proposes the last epoch (`check_epoch_quorum`): accepting
            // it would leave us unable ever to accept or propose another. The session
            // ends as for an older epoch; dropping its messages is always safe.
            self.become_looking(out, || {
                format!("leader's epoch {new_epoch} is invalid: it is the last one")
            });
            return;
        }
        let current_epoch = if new_epoch > accepted {
            self.history.accepted_epoch = new_epoch;
            out.persist(ZabRecord::AcceptedEpoch(new_epoch));
            Some(self.history.current_epoch)
        } else if new_epoch == accepted {
            None
        } else {
            self.become_looking(out, || {
                format!("leader's epoch {new_epoch} is older than my accepted epoch {accepted}")
            });
            return;
        };
        out.narrate(self.narrate, || {
            format!("accept epoch {new_epoch}; ACKEPOCH with last zxid {last_zxid}")
        });
        if let Phase::Learning(l) = &mut self.phase {
            l.stage = LearnerStage::AwaitingSync;
            l.epoch = Some(new_epoch);
        }
        self.send_to_leader(
            out,
            PeerMessage::AckEpoch {
                current_epoch,
                last_zxid,
            },
        );
    }
}
