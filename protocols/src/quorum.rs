//! Quorum arithmetic: who votes, and how many make a majority.
//!
//! A quorum is a strict majority of the *voting* members (docs/PROTOCOLS.md, "Cluster basics"):
//! 3 voters need 2, 4 need 3, 5 need 3. Observers (ZAB) receive the committed stream but
//! never count toward a quorum.

use crate::types::NodeId;
use serde::{Deserialize, Serialize};

/// The cluster's membership: voters and non-voting observers. Fixed for a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    voters: Vec<NodeId>,
    observers: Vec<NodeId>,
}

impl Membership {
    /// A membership of voters only.
    pub fn voters(ids: impl IntoIterator<Item = NodeId>) -> Membership {
        Membership::new(ids, [])
    }

    /// Voters plus observers. Ids are sorted and deduplicated; an id listed in both is a
    /// voter.
    pub fn new(
        voters: impl IntoIterator<Item = NodeId>,
        observers: impl IntoIterator<Item = NodeId>,
    ) -> Membership {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        let mut observers: Vec<NodeId> = observers
            .into_iter()
            .filter(|o| !voters.contains(o))
            .collect();
        observers.sort_unstable();
        observers.dedup();
        Membership { voters, observers }
    }

    /// The voting members, ascending.
    pub fn voter_ids(&self) -> &[NodeId] {
        &self.voters
    }

    /// The observers, ascending.
    pub fn observer_ids(&self) -> &[NodeId] {
        &self.observers
    }

    /// Every member, voters first.
    pub fn all(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(self.observers.iter()).copied()
    }

    /// Every member except `me`.
    pub fn peers_of(&self, me: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.all().filter(move |&id| id != me)
    }

    /// Whether `id` votes.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.binary_search(&id).is_ok()
    }

    /// Whether `id` is a member at all.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.observers.contains(&id)
    }

    /// The size of a quorum: a strict majority of the voters.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Whether the voters among `ids` form a quorum. Non-voters and duplicates are
    /// ignored, so callers may pass any tally.
    pub fn is_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a NodeId>) -> bool {
        let mut seen: Vec<NodeId> = ids
            .into_iter()
            .copied()
            .filter(|&i| self.is_voter(i))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len() >= self.quorum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_sizes_match_the_textbook() {
        assert_eq!(Membership::voters([1]).quorum(), 1);
        assert_eq!(Membership::voters([1, 2, 3]).quorum(), 2);
        assert_eq!(Membership::voters([1, 2, 3, 4]).quorum(), 3);
        assert_eq!(Membership::voters([1, 2, 3, 4, 5]).quorum(), 3);
    }

    #[test]
    fn observers_never_count() {
        let m = Membership::new([1, 2, 3], [4, 5]);
        assert_eq!(m.quorum(), 2);
        assert!(!m.is_quorum(&[1, 4, 5]));
        assert!(m.is_quorum(&[1, 3, 4]));
        assert!(!m.is_quorum(&[1, 1, 1]));
        assert!(!m.is_voter(4));
        assert!(m.contains(4));
        assert_eq!(m.peers_of(1).collect::<Vec<_>>(), vec![2, 3, 4, 5]);
    }
}
