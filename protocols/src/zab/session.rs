//! Learner sessions: the ordered, exactly-once channel ZooKeeper gets from TCP.
//!
//! ZooKeeper runs Discovery, Synchronization and Broadcast over one TCP connection per
//! learner (`LearnerHandler`), so messages arrive in order, once, and a lost message
//! means a broken connection, after which the learner goes back to LOOKING. The
//! harness's transport, and above all the simulator, may reorder, duplicate and drop
//! messages, so every non-election message travels in a numbered session: the learner
//! opens it with FOLLOWERINFO (number 0) under a fresh random session id, each side
//! numbers what it sends, and the receiver delivers in order, drops duplicates and
//! messages of other sessions, and declares the session broken when a gap outlives a
//! tick (the missing message was lost). A leader remembers the sessions it closed
//! ([`ClosedSessions`]), so that a FOLLOWERINFO of one, delayed or duplicated, cannot
//! open it again over the learner's current session: a TCP connection, once closed,
//! delivers nothing more. The `impl Zab` below numbers outgoing session messages and
//! dispatches incoming ones, in order, to the phase handlers.

use crate::output::Output;
use crate::types::NodeId;
use crate::zab::messages::{PeerMessage, ZabMessage};
use crate::zab::{Out, Phase, Zab};
use std::collections::{BTreeMap, VecDeque};

/// Most out-of-order messages a session holds before it gives up.
const MAX_HELD: usize = 4096;

/// Closed sessions remembered per learner. A learner opens a new session each time it
/// starts following, so only the last few can still have messages in flight.
const CLOSED_KEPT: usize = 16;

/// Sessions this server closed as a leader (replaced by a newer FOLLOWERINFO, broken,
/// or dropped), per learner. Kept across roles: a stale FOLLOWERINFO may arrive in a
/// later leadership, or while LOOKING, into the backlog.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClosedSessions {
    by_learner: BTreeMap<NodeId, VecDeque<u64>>,
}

impl ClosedSessions {
    /// Remembers that `learner`'s `session` is over, forgetting the oldest beyond
    /// [`CLOSED_KEPT`].
    pub(crate) fn close(&mut self, learner: NodeId, session: u64) {
        let closed = self.by_learner.entry(learner).or_default();
        if closed.contains(&session) {
            return;
        }
        if closed.len() == CLOSED_KEPT {
            closed.pop_front();
        }
        closed.push_back(session);
    }

    /// Whether `learner`'s `session` was closed here.
    pub(crate) fn contains(&self, learner: NodeId, session: u64) -> bool {
        self.by_learner
            .get(&learner)
            .is_some_and(|closed| closed.contains(&session))
    }
}

/// The receiving end of one session direction.
#[derive(Clone, Debug, Default)]
pub(crate) struct Inbox {
    /// The number of the next message to deliver.
    next: u64,
    /// Messages that arrived ahead of `next`.
    held: BTreeMap<u64, PeerMessage>,
    /// `next` at the previous tick, to see whether a gap persists.
    next_at_last_tick: u64,
    /// Whether messages were held at the previous tick.
    gap_at_last_tick: bool,
    /// Too many messages were held: the session is broken.
    overflowed: bool,
}

impl Inbox {
    /// An inbox whose next expected message is number `next`.
    pub(crate) fn starting_at(next: u64) -> Inbox {
        Inbox {
            next,
            next_at_last_tick: next,
            ..Inbox::default()
        }
    }

    /// Takes message number `seq`; returns the messages now deliverable, in order.
    pub(crate) fn accept(&mut self, seq: u64, body: PeerMessage) -> Vec<PeerMessage> {
        if seq < self.next || self.overflowed {
            return Vec::new(); // a duplicate, or a dead session
        }
        if self.held.len() >= MAX_HELD {
            self.overflowed = true;
            self.held.clear();
            return Vec::new();
        }
        self.held.entry(seq).or_insert(body);
        let mut ready = Vec::new();
        while let Some(m) = self.held.remove(&self.next) {
            ready.push(m);
            self.next += 1;
        }
        ready
    }

    /// The number of the next message to deliver (tests stage in-session messages).
    #[cfg(test)]
    pub(crate) fn next_seq(&self) -> u64 {
        self.next
    }

    /// Called once per tick: whether a message was lost (a gap has not been filled
    /// since the previous tick, or the inbox overflowed).
    pub(crate) fn broken_at_tick(&mut self) -> bool {
        let gap = !self.held.is_empty();
        let stuck = gap && self.gap_at_last_tick && self.next == self.next_at_last_tick;
        self.gap_at_last_tick = gap;
        self.next_at_last_tick = self.next;
        stuck || self.overflowed
    }
}

impl Zab {
    /// Drops `learner`'s handle, if we lead and have one, and closes its session for
    /// good. Whether there was one.
    pub(super) fn forget_learner(&mut self, learner: NodeId) -> bool {
        let Phase::Leading(l) = &mut self.phase else {
            return false;
        };
        let Some(h) = l.learners.remove(&learner) else {
            return false;
        };
        self.closed_sessions.close(learner, h.session);
        true
    }

    /// Sends the next message of `learner`'s session.
    pub(super) fn send_to_learner(&mut self, out: &mut Out, learner: NodeId, body: PeerMessage) {
        if let Some(msg) = self.next_to_learner(learner, body) {
            out.send(learner, msg);
        }
    }

    /// Sends the next message of `learner`'s session without waiting for our log
    /// (PROPOSAL, COMMIT, INFORM: see `broadcast.rs`).
    pub(super) fn send_ahead_to_learner(
        &mut self,
        out: &mut Out,
        learner: NodeId,
        body: PeerMessage,
    ) {
        if let Some(msg) = self.next_to_learner(learner, body) {
            out.send_ahead(learner, msg);
        }
    }

    /// Numbers `body` as the next message of `learner`'s session.
    fn next_to_learner(&mut self, learner: NodeId, body: PeerMessage) -> Option<ZabMessage> {
        let Phase::Leading(l) = &mut self.phase else {
            return None;
        };
        let h = l.learners.get_mut(&learner)?;
        let (session, seq) = (h.session, h.out_seq);
        h.out_seq += 1;
        Some(ZabMessage::Peer { session, seq, body })
    }

    /// Sends the next message of our session to our leader.
    pub(super) fn send_to_leader(&mut self, out: &mut Out, body: PeerMessage) {
        if let Phase::Learning(l) = &mut self.phase {
            let (session, seq) = (l.session, l.out_seq);
            l.out_seq += 1;
            out.send(l.leader, ZabMessage::Peer { session, seq, body });
        }
    }

    /// Sends the next message of our session to our leader without waiting for our log
    /// (only [`crate::Bug::ZabAckBeforePersist`] does this).
    pub(super) fn send_ahead_to_leader(&mut self, out: &mut Out, body: PeerMessage) {
        if let Phase::Learning(l) = &mut self.phase {
            let (session, seq) = (l.session, l.out_seq);
            l.out_seq += 1;
            out.send_ahead(l.leader, ZabMessage::Peer { session, seq, body });
        }
    }

    /// A session message to a leader from `from`.
    pub(super) fn leader_receive(
        &mut self,
        from: NodeId,
        session: u64,
        seq: u64,
        body: PeerMessage,
        out: &mut Out,
    ) {
        let observer = !self.is_voter(from);
        if seq == 0 {
            match body {
                PeerMessage::FollowerInfo { accepted_epoch } if !observer => {
                    self.on_learner_info(from, accepted_epoch, session, out)
                }
                PeerMessage::ObserverInfo { accepted_epoch } if observer => {
                    self.on_learner_info(from, accepted_epoch, session, out)
                }
                _ => {}
            }
            return;
        }
        let Some(l) = self.leader() else { return };
        let tick = l.tick;
        let Some(h) = l.learners.get_mut(&from).filter(|h| h.session == session) else {
            return;
        };
        let ready = h.inbox.accept(seq, body);
        if !ready.is_empty() {
            h.last_heard = tick;
        }
        for body in ready {
            let same_session = matches!(&self.phase, Phase::Leading(l)
                if l.learners.get(&from).is_some_and(|h| h.session == session));
            if !same_session {
                break;
            }
            match body {
                PeerMessage::AckEpoch {
                    current_epoch,
                    last_zxid,
                } => self.on_ack_epoch(from, current_epoch, last_zxid, out),
                PeerMessage::Ack { zxid } => self.on_ack(from, zxid, out),
                PeerMessage::SnapAck { received } => self.on_snap_ack(from, received, out),
                PeerMessage::Request { command } => self.on_request(from, command, out),
                PeerMessage::Sync { token } => self.on_sync_request(from, token, out),
                // PINGs only refresh `last_heard`; anything else is not for a leader.
                _ => {}
            }
        }
    }

    /// A session message to a learner from `from`.
    pub(super) fn learner_receive(
        &mut self,
        from: NodeId,
        session: u64,
        seq: u64,
        body: PeerMessage,
        out: &mut Out,
    ) {
        let Phase::Learning(l) = &mut self.phase else {
            return;
        };
        if from != l.leader || session != l.session {
            return;
        }
        let ready = l.inbox.accept(seq, body);
        if !ready.is_empty() {
            l.silent_ticks = 0;
        }
        for body in ready {
            if !matches!(&self.phase, Phase::Learning(l) if l.session == session) {
                break;
            }
            match body {
                PeerMessage::LeaderInfo { new_epoch } => self.on_leader_info(new_epoch, out),
                PeerMessage::Diff { epoch, txns } => self.on_sync(epoch, None, txns, out),
                PeerMessage::Trunc {
                    epoch,
                    truncate_to,
                    txns,
                } => self.on_sync(epoch, Some(truncate_to), txns, out),
                PeerMessage::Snap {
                    epoch,
                    last_index,
                    last_zxid,
                    size,
                    offset,
                    data,
                    done,
                } => self.on_snap_chunk(
                    epoch,
                    crate::zab::snap::Chunk {
                        last_index,
                        last_zxid,
                        size,
                        offset,
                        data,
                        done,
                    },
                    out,
                ),
                PeerMessage::NewLeader { epoch } => self.on_new_leader(epoch, out),
                PeerMessage::UpToDate { epoch, committed } => {
                    self.on_up_to_date(epoch, committed, out)
                }
                PeerMessage::Proposal { txn } => self.on_proposal(txn, out),
                PeerMessage::Commit { zxid } => self.on_commit(zxid, out),
                PeerMessage::Inform { txns, committed } => self.on_inform(txns, committed, out),
                PeerMessage::Ping { epoch } => self.on_leader_ping(epoch, out),
                PeerMessage::SyncReply { token, zxid } => self.on_sync_reply(token, zxid),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(epoch: u32) -> PeerMessage {
        PeerMessage::Ping { epoch }
    }

    #[test]
    fn delivers_in_order_once() {
        let mut inbox = Inbox::starting_at(1);
        assert_eq!(inbox.accept(2, ping(2)), vec![]);
        assert_eq!(inbox.accept(1, ping(1)), vec![ping(1), ping(2)]);
        assert_eq!(inbox.accept(2, ping(2)), vec![], "duplicate");
        assert_eq!(
            inbox.accept(0, ping(0)),
            vec![],
            "older than the session start"
        );
        assert_eq!(inbox.accept(3, ping(3)), vec![ping(3)]);
        assert!(!inbox.broken_at_tick());
    }

    #[test]
    fn a_gap_that_outlives_a_tick_is_a_lost_message() {
        let mut inbox = Inbox::starting_at(0);
        assert_eq!(inbox.accept(1, ping(1)), vec![]);
        // Reordering is forgiven for a tick...
        assert!(!inbox.broken_at_tick());
        inbox.accept(0, ping(0));
        assert!(!inbox.broken_at_tick(), "the gap was filled");
        // ...but a gap that persists from one tick to the next is a loss.
        inbox.accept(3, ping(3));
        assert!(!inbox.broken_at_tick());
        assert!(inbox.broken_at_tick());
    }

    #[test]
    fn a_flood_of_out_of_order_messages_breaks_the_session() {
        let mut inbox = Inbox::starting_at(0);
        for seq in 1..=MAX_HELD as u64 + 1 {
            inbox.accept(seq, ping(1));
        }
        assert_eq!(inbox.accept(0, ping(0)), vec![]);
        assert!(inbox.broken_at_tick());
    }

    #[test]
    fn closed_sessions_are_kept_per_learner_and_the_oldest_forgotten_first() {
        let mut closed = ClosedSessions::default();
        for session in 0..CLOSED_KEPT as u64 {
            closed.close(1, session);
        }
        closed.close(1, 0); // already closed: not counted twice
        assert!(closed.contains(1, 0));
        assert!(!closed.contains(2, 0), "per learner");
        closed.close(1, 100);
        assert!(!closed.contains(1, 0), "the oldest is forgotten");
        assert!(closed.contains(1, 1) && closed.contains(1, 100));
    }
}
