//! Transaction ids (zxids): the total order of ZAB.
//!
//! Zab paper (Junqueira, Reed, Serafini, DSN 2011), §III: every transaction is named by
//! a zxid `<e, c>`, the epoch `e` of the leader that proposed it and a counter `c` that
//! the leader increments for each proposal. ZooKeeper packs both into one 64-bit number
//! (`ZxidUtils`: epoch in the high 32 bits, counter in the low 32), so the numeric order
//! of the packed value is the lexicographic order of `(epoch, counter)`.
//!
//! Counter exhaustion: ZooKeeper's leader refuses to use the counter value `0xffffffff`
//! and forces a new election instead ("zxid lower 32 bits have rolled over"), which
//! starts a new epoch whose counter restarts at 1. [`Zxid::next`] returns `None` in that
//! case and the leader steps down (see `broadcast.rs`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A ZAB transaction id: epoch in the high 32 bits, counter in the low 32 bits.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Zxid(pub u64);

impl Zxid {
    /// The zxid before any transaction (epoch 0, counter 0).
    pub const ZERO: Zxid = Zxid(0);

    /// The highest counter a leader may hand out; the next proposal forces a new epoch.
    pub const MAX_COUNTER: u32 = u32::MAX - 1;

    /// The zxid `<epoch, counter>`.
    pub fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid((u64::from(epoch) << 32) | u64::from(counter))
    }

    /// The epoch of the leader that proposed it.
    pub fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The position within its epoch.
    pub fn counter(self) -> u32 {
        (self.0 & 0xffff_ffff) as u32
    }

    /// The next zxid of the same epoch, or `None` when the counter is exhausted (the
    /// leader must then give up so that a new epoch starts).
    pub fn next(self) -> Option<Zxid> {
        let counter = self.counter().checked_add(1)?;
        (counter <= Zxid::MAX_COUNTER).then(|| Zxid::new(self.epoch(), counter))
    }

    /// The zxid a leader of `epoch` gives its first proposal after `last` (the last zxid
    /// in its history): the counter restarts at 1 in a new epoch. `None` when the
    /// counter is exhausted or `last` belongs to a later epoch (a bug guard).
    pub fn next_in_epoch(last: Zxid, epoch: u32) -> Option<Zxid> {
        match last.epoch().cmp(&epoch) {
            std::cmp::Ordering::Less => Some(Zxid::new(epoch, 1)),
            std::cmp::Ordering::Equal => last.next(),
            std::cmp::Ordering::Greater => None,
        }
    }

    /// Whether `self` may directly follow `prev` in the history written by a leader of
    /// `epoch`: the next counter of the same epoch, or counter 1 of `epoch` after any
    /// earlier epoch. Learners use it to detect a lost proposal.
    pub fn directly_follows(self, prev: Zxid, epoch: u32) -> bool {
        self.epoch() == epoch && Zxid::next_in_epoch(prev, epoch) == Some(self)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_epoch_high_and_counter_low() {
        let z = Zxid::new(1, 9);
        assert_eq!(z.0, 0x1_0000_0009);
        assert_eq!(z.epoch(), 1);
        assert_eq!(z.counter(), 9);
        assert_eq!(z.to_string(), "0x100000009");
        assert_eq!(Zxid::ZERO.to_string(), "0x0");
    }

    #[test]
    fn orders_by_epoch_then_counter() {
        assert!(Zxid::new(1, 9) > Zxid::new(1, 8));
        assert!(Zxid::new(2, 0) > Zxid::new(1, u32::MAX));
        assert!(Zxid::new(2, 1) > Zxid::new(1, 1_000_000));
        assert!(Zxid::ZERO < Zxid::new(0, 1));
        let mut v = vec![
            Zxid::new(2, 1),
            Zxid::new(1, 3),
            Zxid::new(1, 1),
            Zxid::new(3, 0),
        ];
        v.sort();
        assert_eq!(
            v,
            vec![
                Zxid::new(1, 1),
                Zxid::new(1, 3),
                Zxid::new(2, 1),
                Zxid::new(3, 0)
            ]
        );
    }

    #[test]
    fn counter_exhaustion_forces_a_new_epoch() {
        assert_eq!(Zxid::new(4, 7).next(), Some(Zxid::new(4, 8)));
        assert_eq!(
            Zxid::new(4, Zxid::MAX_COUNTER - 1).next(),
            Some(Zxid::new(4, Zxid::MAX_COUNTER))
        );
        // ZooKeeper never hands out 0xffffffff: the leader must start a new epoch.
        assert_eq!(Zxid::new(4, Zxid::MAX_COUNTER).next(), None);
        assert_eq!(Zxid::new(4, u32::MAX).next(), None);
        // The epoch never rolls into the next one through the counter.
        assert_eq!(Zxid::new(u32::MAX, Zxid::MAX_COUNTER).next(), None);
    }

    #[test]
    fn a_new_epoch_restarts_the_counter_at_one() {
        assert_eq!(
            Zxid::next_in_epoch(Zxid::new(1, 9), 2),
            Some(Zxid::new(2, 1))
        );
        assert_eq!(Zxid::next_in_epoch(Zxid::ZERO, 1), Some(Zxid::new(1, 1)));
        assert_eq!(
            Zxid::next_in_epoch(Zxid::new(2, 5), 2),
            Some(Zxid::new(2, 6))
        );
        assert_eq!(Zxid::next_in_epoch(Zxid::new(3, 5), 2), None);
        assert_eq!(
            Zxid::next_in_epoch(Zxid::new(2, Zxid::MAX_COUNTER), 2),
            None
        );
    }

    #[test]
    fn detects_gaps() {
        assert!(Zxid::new(2, 1).directly_follows(Zxid::new(1, 9), 2));
        assert!(Zxid::new(2, 2).directly_follows(Zxid::new(2, 1), 2));
        assert!(!Zxid::new(2, 3).directly_follows(Zxid::new(2, 1), 2));
        assert!(!Zxid::new(2, 2).directly_follows(Zxid::new(1, 9), 2));
        assert!(!Zxid::new(3, 1).directly_follows(Zxid::new(2, 1), 2));
    }
}
