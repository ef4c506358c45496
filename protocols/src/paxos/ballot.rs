//! Ballot (proposal) numbers: the total order every Paxos rule compares against.
//!
//! Lamport, "Paxos Made Simple" (2001) §2.2: proposals are numbered from a totally ordered
//! set, and each proposer draws from a set disjoint from everyone else's so that no two
//! proposals share a number. Here a ballot is the pair `(round, node)`, compared by
//! round first and node id second (van Renesse & Altinbuken, "Paxos Made Moderately
//! Complex" (2015) §3: ballot numbers are lexicographically ordered pairs of a sequence
//! number and a leader id).

use crate::types::NodeId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How many low bits of [`Ballot::as_u64`] hold the node id. Node ids must therefore be
/// below 65536 (`1 << NODE_BITS`); larger ids are truncated in the encoding only, never
/// in the ordering.
pub const NODE_BITS: u32 = 16;

/// The largest round [`Ballot::as_u64`] holds (48 bits). No ballot can be numbered
/// above a ballot of this round, so one in a message (or any larger round, which the
/// encoding would wrap) is invalid input, refused as Raft refuses a term at `u64::MAX`;
/// a proposer never numbers its own ballots up to it ([`Ballot::above`]).
pub const MAX_ROUND: u64 = u64::MAX >> NODE_BITS;

/// A proposal number. Ordered by `round`, then by `node` (the derive follows field
/// order), so two proposers never hold equal ballots and every pair is comparable.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    /// The attempt counter; a proposer retries with a round above every one it has seen.
    pub round: u64,
    /// The proposer that owns this ballot (ties between equal rounds go to the higher id).
    pub node: NodeId,
}

impl Ballot {
    /// Below every real ballot: what an acceptor has promised before its first Prepare.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };

    /// The ballot `round` of `node`.
    pub fn new(round: u64, node: NodeId) -> Ballot {
        Ballot { round, node }
    }

    /// The ballot as the workbench's leadership `term`: `round << 16 | node`. Monotone in
    /// the ballot order as long as node ids are below 65536 and rounds below 2^48.
    pub fn as_u64(self) -> u64 {
        (self.round << NODE_BITS) | (self.node & ((1 << NODE_BITS) - 1))
    }

    /// The ballot a leadership `term` encodes (the inverse of [`Ballot::as_u64`]).
    pub fn from_u64(term: u64) -> Ballot {
        Ballot {
            round: term >> NODE_BITS,
            node: term & ((1 << NODE_BITS) - 1),
        }
    }

    /// Whether an honest proposer can hold this ballot: its round is below
    /// [`MAX_ROUND`], so that a higher ballot can still follow it.
    pub fn is_valid(self) -> bool {
        self.round < MAX_ROUND
    }

    /// The first ballot of `node` that is above `seen`; `None` when rounds are
    /// exhausted (it would be of [`MAX_ROUND`]: no ballot could follow it).
    pub fn above(seen: Ballot, node: NodeId) -> Option<Ballot> {
        let round = seen.round.checked_add(1).filter(|&r| r < MAX_ROUND)?;
        Some(Ballot { round, node })
    }
}

impl fmt::Display for Ballot {
    /// `round.node`, e.g. `3.1`, the notation the narration uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_decides_before_node() {
        assert!(Ballot::new(2, 1) > Ballot::new(1, 9));
        assert!(Ballot::new(1, 2) > Ballot::new(1, 1));
        assert!(Ballot::ZERO < Ballot::new(1, 1));
        assert_eq!(Ballot::new(3, 2), Ballot::new(3, 2));
    }

    #[test]
    fn encoding_is_round_high_node_low_and_keeps_the_order() {
        assert_eq!(Ballot::new(3, 2).as_u64(), (3 << 16) | 2);
        assert_eq!(Ballot::ZERO.as_u64(), 0);
        let mut ballots = [
            Ballot::new(2, 1),
            Ballot::new(1, 3),
            Ballot::new(1, 1),
            Ballot::new(2, 5),
        ];
        ballots.sort();
        let encoded: Vec<u64> = ballots.iter().map(|b| b.as_u64()).collect();
        let mut sorted = encoded.clone();
        sorted.sort_unstable();
        assert_eq!(encoded, sorted);
    }

    #[test]
    fn above_beats_what_was_seen_for_any_node() {
        let seen = Ballot::new(4, 9);
        assert!(Ballot::above(seen, 1) > Some(seen));
        assert_eq!(Ballot::above(seen, 1), Some(Ballot::new(5, 1)));
        assert_eq!(Ballot::new(3, 1).to_string(), "3.1");
    }

    #[test]
    fn rounds_end_below_the_largest_the_term_holds() {
        let last = Ballot::new(MAX_ROUND - 1, 9);
        assert!(last.is_valid() && !Ballot::new(MAX_ROUND, 1).is_valid());
        assert_eq!(Ballot::from_u64(last.as_u64()), last);
        assert_eq!(
            Ballot::above(Ballot::new(MAX_ROUND - 2, 9), 1),
            Some(Ballot::new(MAX_ROUND - 1, 1))
        );
        assert_eq!(Ballot::above(last, 1), None);
        assert_eq!(Ballot::above(Ballot::new(u64::MAX, 1), 1), None);
    }
}
