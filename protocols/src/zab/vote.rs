//! Vote ordering and vote agreement for FastLeaderElection.
//!
//! Source: ZooKeeper `FastLeaderElection.totalOrderPredicate` (which vote is better:
//! higher epoch, then higher zxid, then higher sid; a vote for a server that cannot
//! vote never wins) and `Vote.equals` (when two recorded votes count as the same vote
//! in a tally). docs/PROTOCOLS.md, "FastLeaderElection", rule 2.

use crate::quorum::Membership;
use crate::zab::messages::{ServerState, Vote};
use std::cmp::Ordering;

/// A vote as recorded in a tally: with the round and the state it was sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ballot {
    /// The vote.
    pub(crate) vote: Vote,
    /// The sender's round.
    pub(crate) round: u64,
    /// The sender's state.
    pub(crate) state: ServerState,
}

impl Ballot {
    /// ZooKeeper's `Vote.equals`: if either side is LOOKING everything must match;
    /// between FOLLOWING / LEADING reports only the leader and its epoch matter.
    pub(crate) fn agrees(&self, other: &Ballot) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.vote == other.vote && self.round == other.round
        } else {
            self.vote.leader == other.vote.leader && self.vote.peer_epoch == other.vote.peer_epoch
        }
    }
}

/// ZooKeeper's `totalOrderPredicate`: whether `new` beats `current`: higher epoch, then
/// higher zxid, then higher sid. A vote for a non-voter never wins.
pub fn total_order_predicate(new: &Vote, current: &Vote, membership: &Membership) -> bool {
    membership.is_voter(new.leader)
        && (new.peer_epoch, new.zxid, new.leader)
            > (current.peer_epoch, current.zxid, current.leader)
}

/// The rule that orders `new` against `current`, for narration:
/// "epoch equal (1), zxid 0x100000009 > 0x100000008".
pub fn explain_comparison(new: &Vote, current: &Vote) -> String {
    fn sym<T: Ord>(a: T, b: T) -> &'static str {
        match a.cmp(&b) {
            Ordering::Greater => ">",
            Ordering::Less => "<",
            Ordering::Equal => "=",
        }
    }
    if new.peer_epoch != current.peer_epoch {
        format!(
            "epoch {} {} {}",
            new.peer_epoch,
            sym(new.peer_epoch, current.peer_epoch),
            current.peer_epoch
        )
    } else if new.zxid != current.zxid {
        format!(
            "epoch equal ({}), zxid {} {} {}",
            new.peer_epoch,
            new.zxid,
            sym(new.zxid, current.zxid),
            current.zxid
        )
    } else {
        format!(
            "epoch and zxid equal, sid {} {} {}",
            new.leader,
            sym(new.leader, current.leader),
            current.leader
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::NodeId;
    use crate::zab::zxid::Zxid;

    fn v(leader: NodeId, epoch: u32, counter: u32, peer_epoch: u32) -> Vote {
        Vote {
            leader,
            zxid: Zxid::new(epoch, counter),
            peer_epoch,
        }
    }

    #[test]
    fn total_order_predicate_table() {
        let m = Membership::new([1, 2, 3, 4, 5], [6]);
        // (new, current, new beats current)
        let table = [
            (v(1, 1, 1, 2), v(5, 1, 9, 1), true), // higher epoch wins over zxid and sid
            (v(5, 1, 9, 1), v(1, 1, 1, 2), false), // lower epoch loses
            (v(3, 1, 9, 1), v(4, 1, 8, 1), true), // same epoch: higher zxid wins
            (v(4, 1, 8, 1), v(3, 1, 9, 1), false), // lower zxid loses despite higher sid
            (v(3, 2, 1, 2), v(5, 1, 9, 2), true), // zxid epoch bits count
            (v(4, 1, 9, 1), v(3, 1, 9, 1), true), // all equal but sid: higher sid wins
            (v(3, 1, 9, 1), v(4, 1, 9, 1), false), // lower sid loses
            (v(3, 1, 9, 1), v(3, 1, 9, 1), false), // identical: not better
            (v(6, 9, 9, 9), v(1, 0, 0, 0), false), // a vote for an observer never wins
            (v(1, 0, 0, 0), v(0, 0, 0, 0), true), // any voter beats an observer's empty vote
        ];
        for (new, current, expected) in table {
            assert_eq!(
                total_order_predicate(&new, &current, &m),
                expected,
                "{new:?} vs {current:?}"
            );
        }
    }

    #[test]
    fn explanations_name_the_deciding_rule() {
        assert_eq!(
            explain_comparison(&v(3, 1, 9, 1), &v(4, 1, 8, 1)),
            "epoch equal (1), zxid 0x100000009 > 0x100000008"
        );
        assert_eq!(
            explain_comparison(&v(1, 1, 1, 2), &v(5, 1, 9, 1)),
            "epoch 2 > 1"
        );
        assert_eq!(
            explain_comparison(&v(4, 1, 9, 1), &v(3, 1, 9, 1)),
            "epoch and zxid equal, sid 4 > 3"
        );
    }

    #[test]
    fn ballots_agree_like_zookeeper_votes() {
        let looking = |leader, round| Ballot {
            vote: v(leader, 1, 1, 1),
            round,
            state: ServerState::Looking,
        };
        let report = |leader, round, peer_epoch, state| Ballot {
            vote: v(leader, 1, 7, peer_epoch),
            round,
            state,
        };
        assert!(looking(3, 2).agrees(&looking(3, 2)));
        assert!(!looking(3, 2).agrees(&looking(3, 1)));
        // Reports compare leader and epoch only, whatever the zxid and round.
        assert!(report(3, 1, 2, ServerState::Following).agrees(&report(
            3,
            5,
            2,
            ServerState::Leading
        )));
        assert!(!report(3, 1, 2, ServerState::Following).agrees(&report(
            3,
            1,
            1,
            ServerState::Leading
        )));
        // Against a LOOKING vote everything counts.
        assert!(!report(3, 2, 1, ServerState::Following).agrees(&looking(3, 2)));
    }
}
