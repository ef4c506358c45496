//! Preloaded history for teaching scenarios (see [`crate::preload`]): the records a Raft
//! server would hold after living through the described terms.
//!
//! Raft paper Figure 2, "persistent state on all servers": `currentTerm`, `votedFor` and
//! `log[]`. `[(1, 5), (2, 4)]` is a log of five entries of term 1 followed by four of
//! term 2 (indexes 1..=9), with `currentTerm` = 2 and no vote cast in it. Entries are
//! not known committed: `commitIndex` is volatile state, so a restarted server learns it
//! from the next leader (§5.3), whose election the up-to-date rule (§5.4.1) decides.

use crate::preload::{preloaded_command, validate, Preload, PreloadError};
use crate::raft::log::Entry;
use crate::raft::{Raft, RaftRecord};

/// The records of a server whose log holds `count` entries of each `(term, count)` of
/// `history`, oldest first, and whose current term is the last one.
pub fn history_records(history: &[(u64, u64)]) -> Result<Vec<RaftRecord>, PreloadError> {
    validate(history)?;
    let Some(&(last_term, _)) = history.last() else {
        return Ok(Vec::new());
    };
    let mut entries = Vec::new();
    for &(term, count) in history {
        for _ in 0..count {
            let index = entries.len() as u64 + 1;
            entries.push(Entry {
                term,
                command: Some(preloaded_command(term, index)),
            });
        }
    }
    Ok(vec![
        RaftRecord::HardState {
            term: last_term,
            voted_for: None,
        },
        RaftRecord::Entries {
            first_index: 1,
            entries,
        },
    ])
}

impl Preload for Raft {
    fn preload(history: &[(u64, u64)]) -> Result<Vec<RaftRecord>, PreloadError> {
        history_records(history)
    }

    /// `currentTerm` is at least the highest term of any history: a server that missed
    /// that term's entries still saw the term begin (a majority voted in it, §5.2), so it cannot
    /// be elected in that term a second time.
    fn preload_among(
        history: &[(u64, u64)],
        cluster: &[&[(u64, u64)]],
    ) -> Result<Vec<RaftRecord>, PreloadError> {
        let reached = crate::preload::reached(cluster);
        let mut records = history_records(history)?;
        let own = history.last().map_or(0, |&(term, _)| term);
        if reached > own {
            match records.first_mut() {
                Some(RaftRecord::HardState { term, .. }) => *term = reached,
                _ => records.insert(
                    0,
                    RaftRecord::HardState {
                        term: reached,
                        voted_for: None,
                    },
                ),
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DetRng, Membership, Protocol, Setup, Timing};

    fn recover(history: &[(u64, u64)]) -> Raft {
        let setup = Setup {
            id: 1,
            membership: Membership::voters([1, 2, 3]),
            timing: Timing::default(),
            rng: DetRng::for_node(1, 1),
            narrate: false,
        };
        Raft::recover(setup, history_records(history).expect("valid")).expect("recovers")
    }

    #[test]
    fn a_history_recovers_to_its_log_and_term() {
        let node = recover(&[(1, 5), (2, 4)]);
        assert_eq!(node.term(), 2);
        assert_eq!(node.log().last_index(), 9);
        assert_eq!(node.log().last_term(), 2);
        assert_eq!(node.log().term_at(5), Some(1));
        assert_eq!(node.commit_index(), 0);
        assert!(recover(&[]).log().last_index() == 0);
    }

    #[test]
    fn a_shorter_history_starts_in_the_highest_term_the_histories_reach() {
        let recover_reaching = |history: &[(u64, u64)], reached: u64| {
            let setup = Setup {
                id: 1,
                membership: Membership::voters([1, 2, 3]),
                timing: Timing::default(),
                rng: DetRng::for_node(1, 1),
                narrate: false,
            };
            let records = Raft::preload_among(history, &[history, &[(reached, 1)]]).expect("valid");
            Raft::recover(setup, records).expect("recovers")
        };
        // No history of its own: the term only.
        let empty = recover_reaching(&[], 2);
        assert_eq!((empty.term(), empty.log().last_index()), (2, 0));
        // An older history: its log, in the newer term.
        let older = recover_reaching(&[(1, 3)], 2);
        assert_eq!((older.term(), older.log().last_index()), (2, 3));
        assert_eq!(older.log().last_term(), 1);
        // Its own history reaches furthest: unchanged.
        let own: &[(u64, u64)] = &[(1, 1), (3, 2)];
        assert_eq!(
            Raft::preload_among(own, &[own, &[(2, 1)]]),
            history_records(own)
        );
        assert!(Raft::preload_among(&[], &[&[], &[]])
            .expect("valid")
            .is_empty());
    }

    #[test]
    fn common_prefixes_hold_the_same_entries() {
        let long = recover(&[(1, 9)]);
        let short = recover(&[(1, 8)]);
        for index in 1..=8 {
            assert_eq!(long.log().get(index), short.log().get(index));
        }
    }
}
