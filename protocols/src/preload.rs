//! Initial durable state for teaching scenarios: a node's history, described once in a
//! protocol-neutral way and turned into each protocol's own durable records.
//!
//! docs/PROTOCOLS.md's scenarios start from servers that already hold some history ("servers
//! with last zxids 9,9,9,8,8"). A scenario describes a history as a list of
//! `(generation, count)` pairs, oldest first: `count` entries written under leadership
//! generation `generation` (ZAB epoch, Raft term, Paxos ballot round). Each protocol maps
//! that list onto the records it would have written itself, so that
//! [`crate::Protocol::recover`] rebuilds a node exactly as if it had lived through it:
//!
//! | protocol | `[(1, 9)]` becomes | known committed? |
//! |---|---|---|
//! | ZAB | accepted and current epoch 1, proposals `0x100000001..=0x100000009` logged | no (commit points are not durable in ZAB) |
//! | Raft | `currentTerm` 1, nine log entries of term 1 | no (`commitIndex` is volatile, Figure 2) |
//! | Paxos | nine slots accepted at ballot `1.0` and recorded chosen | yes (the learner's commit point is durable) |
//!
//! The entry at a given position of a given generation carries the same command on every
//! node (its id is derived from the generation and the position), so two nodes preloaded
//! with a common prefix agree on it, as two real servers would.

use crate::node::Protocol;
use crate::types::{Command, RequestId};
use bytes::Bytes;
use thiserror::Error;

/// The most entries a preloaded history may hold (a guard against typos in scenario
/// files, which are user input).
pub const MAX_PRELOADED_ENTRIES: u64 = 100_000;

/// Why a history description cannot be turned into records.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PreloadError {
    /// Generation 0 is "before any leader" in every protocol and holds no entries.
    #[error("history entry {position}: generation must be at least 1")]
    ZeroGeneration {
        /// Position of the pair in the list (0-based).
        position: usize,
    },
    /// Generations must strictly increase along a history.
    #[error("history entry {position}: generation {generation} does not follow {previous}")]
    NotIncreasing {
        /// Position of the pair in the list (0-based).
        position: usize,
        /// The offending generation.
        generation: u64,
        /// The generation before it.
        previous: u64,
    },
    /// A pair with no entries says nothing.
    #[error("history entry {position}: count must be at least 1")]
    Empty {
        /// Position of the pair in the list (0-based).
        position: usize,
    },
    /// Too many entries in total.
    #[error("history holds {total} entries; at most {MAX_PRELOADED_ENTRIES} are allowed")]
    TooLong {
        /// Total entries requested.
        total: u64,
    },
    /// The protocol cannot represent this generation or count (ZAB: 32-bit epochs and
    /// counters; Paxos: 48-bit ballot rounds), or no generation would be left above it
    /// for the next leader.
    #[error("history entry {position}: {reason}")]
    OutOfRange {
        /// Position of the pair in the list (0-based).
        position: usize,
        /// What does not fit.
        reason: String,
    },
}

/// A protocol that can start from a described history.
pub trait Preload: Protocol {
    /// The records a node holding `history` (`(generation, count)` pairs, oldest first)
    /// would have persisted.
    fn preload(history: &[(u64, u64)]) -> Result<Vec<Self::Record>, PreloadError>;

    /// The records of a node holding `history` in a cluster whose nodes hold
    /// `cluster` (one history per member, empty for a node without one). A scenario
    /// describes each node's history on its own, but the start must be one a real run
    /// could reach: each protocol records here what the other histories imply for this
    /// node. Raft and ZAB: a generation's entries exist only because a leader of it was
    /// elected by a majority, so every node starts knowing the highest generation any
    /// history reaches ([`reached`]; otherwise a node could be elected in it a second
    /// time and write other entries at the same positions). Paxos: a slot is chosen
    /// only if a majority accepted one value in it ([`chosen_prefix`]).
    /// Default: [`Preload::preload`].
    fn preload_among(
        history: &[(u64, u64)],
        cluster: &[&[(u64, u64)]],
    ) -> Result<Vec<Self::Record>, PreloadError> {
        let _ = cluster;
        Self::preload(history)
    }
}

/// The highest generation any of `cluster`'s histories reaches (0: none).
pub fn reached(cluster: &[&[(u64, u64)]]) -> u64 {
    cluster
        .iter()
        .filter_map(|h| h.last().map(|&(generation, _)| generation))
        .max()
        .unwrap_or(0)
}

/// The generation of each position of `history`, position 1 first.
fn generations(history: &[(u64, u64)]) -> impl Iterator<Item = u64> + '_ {
    history
        .iter()
        .flat_map(|&(generation, count)| std::iter::repeat_n(generation, count as usize))
}

/// How many leading positions a majority of `cluster` (one history per member) hold
/// with the same entry: the positions that were chosen (committed) for certain.
pub fn chosen_prefix(cluster: &[&[(u64, u64)]]) -> u64 {
    let majority = cluster.len() / 2 + 1;
    let mut columns: Vec<Box<dyn Iterator<Item = u64> + '_>> = cluster
        .iter()
        .map(|h| Box::new(generations(h)) as Box<dyn Iterator<Item = u64>>)
        .collect();
    let mut prefix = 0;
    loop {
        let mut counts: std::collections::BTreeMap<u64, usize> = Default::default();
        for column in &mut columns {
            if let Some(generation) = column.next() {
                *counts.entry(generation).or_default() += 1;
            }
        }
        if counts.values().any(|&n| n >= majority) {
            prefix += 1;
        } else {
            return prefix;
        }
    }
}

/// Checks the shape every protocol needs: generations at least 1 and strictly
/// increasing, counts at least 1, a bounded total.
pub fn validate(history: &[(u64, u64)]) -> Result<(), PreloadError> {
    let mut previous = 0;
    let mut total: u64 = 0;
    for (position, &(generation, count)) in history.iter().enumerate() {
        if generation == 0 {
            return Err(PreloadError::ZeroGeneration { position });
        }
        if generation <= previous {
            return Err(PreloadError::NotIncreasing {
                position,
                generation,
                previous,
            });
        }
        if count == 0 {
            return Err(PreloadError::Empty { position });
        }
        total = total.saturating_add(count);
        if total > MAX_PRELOADED_ENTRIES {
            return Err(PreloadError::TooLong { total });
        }
        previous = generation;
    }
    Ok(())
}

/// The command preloaded at position `position` (1-based within its generation) of
/// `generation`: the same on every node. Its origin is 0, which no node uses.
pub fn preloaded_command(generation: u64, position: u64) -> Command {
    Command {
        id: RequestId {
            origin: 0,
            seq: (generation << 32) | (position & 0xffff_ffff),
        },
        data: Bytes::from(format!("preloaded {generation}:{position}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_bad_pair() {
        assert_eq!(validate(&[(1, 9), (3, 2)]), Ok(()));
        assert_eq!(validate(&[]), Ok(()));
        assert_eq!(
            validate(&[(0, 1)]),
            Err(PreloadError::ZeroGeneration { position: 0 })
        );
        assert_eq!(
            validate(&[(2, 1), (2, 1)]),
            Err(PreloadError::NotIncreasing {
                position: 1,
                generation: 2,
                previous: 2
            })
        );
        assert_eq!(
            validate(&[(1, 3), (2, 0)]),
            Err(PreloadError::Empty { position: 1 })
        );
        assert!(matches!(
            validate(&[(1, MAX_PRELOADED_ENTRIES), (2, 1)]),
            Err(PreloadError::TooLong { .. })
        ));
    }

    #[test]
    fn a_position_is_chosen_when_a_majority_holds_one_entry_there() {
        let [a, b, c]: [&[(u64, u64)]; 3] = [&[(1, 1), (2, 2)], &[(1, 1), (3, 1)], &[(1, 1)]];
        // Raft's Figure 8 (b): position 1 everywhere, 2 split between terms 2 and 3.
        assert_eq!(chosen_prefix(&[a, a, b, c, c]), 1);
        assert_eq!(chosen_prefix(&[a, a, a, c, c]), 3);
        // One node of five holds a history: nothing was chosen.
        assert_eq!(chosen_prefix(&[c, &[], &[], &[], &[]]), 0);
        assert_eq!(reached(&[a, b, c, &[]]), 3);
        assert_eq!(reached(&[]), 0);
    }

    #[test]
    fn preloaded_commands_depend_on_generation_and_position_only() {
        assert_eq!(preloaded_command(1, 9), preloaded_command(1, 9));
        assert_ne!(preloaded_command(1, 9).id, preloaded_command(2, 9).id);
        assert_eq!(preloaded_command(1, 9).id.seq, 0x1_0000_0009);
    }
}
