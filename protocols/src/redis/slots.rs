//! Hash slots: which master serves a key (Redis Cluster Specification, "Key distribution
//! model" and "Hash tags").
//!
//! The key space is split into [`SLOTS`] = 16384 slots; a key's slot is
//! `CRC16(key) mod 16384`, with CRC16 the XMODEM variant (polynomial 0x1021, initial value
//! 0). When a key holds a `{...}` with at least one byte between the first `{` and the
//! first `}` after it, only those bytes are hashed, so that related keys can share a slot.
//! Every node keeps a [`SlotMap`]: the master it believes serves each slot. A master's
//! claim travels as ranges ([`SlotRange`]) rather than the specification's 2 KB bitmap.

use crate::types::NodeId;
use serde::{Deserialize, Serialize};

/// Number of hash slots.
pub const SLOTS: u16 = 16384;

/// CRC16, XMODEM variant (the specification's reference: `CRC16("123456789") = 0x31C3`).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` that is hashed: the hash tag if it has a non-empty one, else all.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.iter().position(|&b| b == b'}') {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

/// The slot of `key`.
pub fn slot_of(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % SLOTS
}

/// Slots `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRange {
    /// First slot.
    pub first: u16,
    /// Last slot (inclusive).
    pub last: u16,
}

impl SlotRange {
    /// The slots of the range (none if it is upside down or past the last slot).
    pub fn slots(self) -> impl Iterator<Item = u16> {
        self.first..=self.last.min(SLOTS - 1)
    }
}

/// The `index`-th of `masters` equal shares of the slots (the layout
/// `redis-cli --cluster create` gives a new cluster).
pub fn share(index: usize, masters: usize) -> SlotRange {
    let masters = masters.max(1);
    let total = usize::from(SLOTS);
    let first = index.min(masters) * total / masters;
    let end = (index.min(masters) + 1) * total / masters;
    SlotRange {
        first: u16::try_from(first).unwrap_or(SLOTS - 1),
        last: u16::try_from(end.saturating_sub(1)).unwrap_or(SLOTS - 1),
    }
}

/// Which master each slot belongs to, as one node believes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotMap {
    /// `owner[slot]`; 0 when no master serves it.
    owner: Vec<NodeId>,
    /// How many slots each master serves (masters serving none are absent), kept with
    /// `owner`: every client command asks which masters there are (CLUSTERDOWN's
    /// check), and scanning 16384 slots for it cost more than the rest of a write.
    served: std::collections::BTreeMap<NodeId, u16>,
}

impl Default for SlotMap {
    fn default() -> Self {
        SlotMap {
            owner: vec![0; usize::from(SLOTS)],
            served: std::collections::BTreeMap::new(),
        }
    }
}

impl SlotMap {
    /// The master serving `slot`, if any.
    pub fn owner(&self, slot: u16) -> Option<NodeId> {
        self.owner
            .get(usize::from(slot))
            .copied()
            .filter(|&id| id != 0)
    }

    /// Gives `slot` to `node`.
    pub fn assign(&mut self, slot: u16, node: NodeId) {
        if let Some(o) = self.owner.get_mut(usize::from(slot)) {
            let was = std::mem::replace(o, node);
            Self::count(&mut self.served, was, node, 1);
        }
    }

    /// Moves `n` slots from `from`'s count to `to`'s (0: no master).
    fn count(
        served: &mut std::collections::BTreeMap<NodeId, u16>,
        from: NodeId,
        to: NodeId,
        n: u16,
    ) {
        if from == to || n == 0 {
            return;
        }
        if from != 0 {
            if let Some(c) = served.get_mut(&from) {
                *c = c.saturating_sub(n);
                if *c == 0 {
                    served.remove(&from);
                }
            }
        }
        if to != 0 {
            let c = served.entry(to).or_insert(0);
            *c = c.saturating_add(n);
        }
    }

    /// Slots `node` serves, as ranges in slot order.
    pub fn ranges_of(&self, node: NodeId) -> Vec<SlotRange> {
        let mut ranges: Vec<SlotRange> = Vec::new();
        for (slot, &owner) in self.owner.iter().enumerate() {
            if owner != node || node == 0 {
                continue;
            }
            let slot = u16::try_from(slot).unwrap_or(SLOTS - 1);
            match ranges.last_mut() {
                Some(r) if r.last + 1 == slot => r.last = slot,
                _ => ranges.push(SlotRange {
                    first: slot,
                    last: slot,
                }),
            }
        }
        ranges
    }

    /// Whether `node` serves any slot.
    pub fn serves_any(&self, node: NodeId) -> bool {
        self.served.contains_key(&node)
    }

    /// Every master serving at least one slot (the specification's cluster "size").
    pub fn masters(&self) -> std::collections::BTreeSet<NodeId> {
        self.served.keys().copied().collect()
    }

    /// Moves every slot of `from` to `to`.
    pub fn hand_over(&mut self, from: NodeId, to: NodeId) {
        if from == to {
            return;
        }
        let mut moved: u16 = 0;
        for o in self.owner.iter_mut().filter(|o| **o == from) {
            *o = to;
            moved = moved.saturating_add(1);
        }
        Self::count(&mut self.served, from, to, moved);
    }

    /// Every (range, owner) pair, for persisting the map.
    pub fn all_ranges(&self) -> Vec<(SlotRange, NodeId)> {
        let mut out: Vec<(SlotRange, NodeId)> = Vec::new();
        for (slot, &owner) in self.owner.iter().enumerate() {
            let slot = u16::try_from(slot).unwrap_or(SLOTS - 1);
            match out.last_mut() {
                Some((r, o)) if *o == owner && r.last + 1 == slot => r.last = slot,
                _ => out.push((
                    SlotRange {
                        first: slot,
                        last: slot,
                    },
                    owner,
                )),
            }
        }
        out.retain(|(_, o)| *o != 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_specification_reference_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn hash_tags_hash_only_the_first_non_empty_braces() {
        assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
        assert_eq!(
            slot_of(b"{user1000}.following"),
            slot_of(b"{user1000}.followers")
        );
        assert_eq!(
            hash_tag(b"foo{}{bar}"),
            b"foo{}{bar}",
            "empty first tag: whole key"
        );
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"no-tag{"), b"no-tag{");
        assert!(slot_of(b"anything") < SLOTS);
    }

    #[test]
    fn three_shares_cover_every_slot_once() {
        let ranges: Vec<SlotRange> = (0..3).map(|i| share(i, 3)).collect();
        assert_eq!(ranges[0].first, 0);
        assert_eq!(ranges[2].last, SLOTS - 1);
        assert_eq!(ranges[0].last + 1, ranges[1].first);
        assert_eq!(ranges[1].last + 1, ranges[2].first);
        let total: usize = ranges.iter().map(|r| r.slots().count()).sum();
        assert_eq!(total, usize::from(SLOTS));
    }

    #[test]
    fn a_map_reports_ranges_and_hands_them_over() {
        let mut map = SlotMap::default();
        for s in share(0, 2).slots() {
            map.assign(s, 1);
        }
        for s in share(1, 2).slots() {
            map.assign(s, 2);
        }
        assert_eq!(map.ranges_of(1), vec![share(0, 2)]);
        assert_eq!(map.masters().into_iter().collect::<Vec<_>>(), vec![1, 2]);
        map.hand_over(1, 3);
        assert!(!map.serves_any(1));
        assert_eq!(map.ranges_of(3), vec![share(0, 2)]);
        assert_eq!(map.all_ranges().len(), 2);
        assert_eq!(map.owner(0), Some(3));
        assert_eq!(map.masters().into_iter().collect::<Vec<_>>(), vec![2, 3]);
        // Single slots moving one way and back keep the masters' counts right.
        let last = share(1, 2).last;
        map.assign(last, 3);
        assert!(map.serves_any(2));
        for s in share(1, 2).slots() {
            map.assign(s, 3);
        }
        assert_eq!(map.masters().into_iter().collect::<Vec<_>>(), vec![3]);
        map.assign(0, 0);
        assert!(map.serves_any(3), "3 still serves every other slot");
        map.hand_over(3, 0);
        assert!(map.masters().is_empty());
        assert!(!map.serves_any(3));
    }
}
