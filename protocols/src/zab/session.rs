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
//! tick (the missing message was lost).

use crate::zab::messages::PeerMessage;
use std::collections::BTreeMap;

/// Most out-of-order messages a session holds before it gives up.
const MAX_HELD: usize = 4096;

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
}
