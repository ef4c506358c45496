//! Preloaded history for teaching scenarios (see [`crate::preload`]): the records a
//! Paxos node would hold after the described slots were chosen.
//!
//! Lamport, "Paxos Made Simple" (2001) §3: a leader fills consecutive instances (slots)
//! with Phase 2 at its ballot. `[(1, 5), (2, 4)]` is a node whose acceptor accepted slots
//! 1..=5 at a ballot of round 1 and slots 6..=9 at a ballot of round 2, and whose learner
//! recorded all nine as chosen (this implementation persists the learner's commit point,
//! see [`super::persist`]). The ballots belong to node 0, which stands for "a leader of
//! the past": no configured node ever holds them, so every live proposer's ballots are
//! distinct from them. In a cluster ([`Preload::preload_among`]), a slot is recorded
//! chosen only where a majority of the members' histories hold the same entry
//! ([`crate::preload::chosen_prefix`]); beyond that prefix the slots are accepted but
//! not known chosen, and the next leader's Phase 1 decides them (§2.2: it proposes the
//! value of the highest ballot its quorum reports).

use crate::paxos::ballot::{Ballot, MAX_ROUND};
use crate::paxos::persist::PaxosRecord;
use crate::paxos::Paxos;
use crate::preload::{preloaded_command, validate, Preload, PreloadError};

/// The records of a node that accepted and learned chosen `count` slots at a ballot of
/// round `round` for each `(round, count)` of `history`, oldest first.
pub fn history_records(history: &[(u64, u64)]) -> Result<Vec<PaxosRecord>, PreloadError> {
    history_records_chosen(history, u64::MAX)
}

/// As [`history_records`], with only the first `chosen` slots recorded chosen.
fn history_records_chosen(
    history: &[(u64, u64)],
    chosen: u64,
) -> Result<Vec<PaxosRecord>, PreloadError> {
    validate(history)?;
    let mut records = Vec::new();
    let mut slot = 0;
    for (position, &(round, count)) in history.iter().enumerate() {
        // A new leader needs a ballot round above it that the term encoding holds
        // (`ballot.rs`).
        if round >= MAX_ROUND - 1 {
            return Err(PreloadError::OutOfRange {
                position,
                reason: format!(
                    "ballot round {round} leaves no round for a new leader (rounds end below {MAX_ROUND})"
                ),
            });
        }
        let slots = (0..count)
            .map(|_| {
                slot += 1;
                (slot, Some(preloaded_command(round, slot)))
            })
            .collect();
        records.push(PaxosRecord::Accepted {
            ballot: Ballot::new(round, 0),
            era: None,
            slots,
        });
    }
    let upto = slot.min(chosen);
    if upto > 0 {
        records.push(PaxosRecord::Committed {
            upto,
            values: Vec::new(),
        });
    }
    Ok(records)
}

impl Preload for Paxos {
    fn preload(history: &[(u64, u64)]) -> Result<Vec<PaxosRecord>, PreloadError> {
        history_records(history)
    }

    fn preload_among(
        history: &[(u64, u64)],
        cluster: &[&[(u64, u64)]],
    ) -> Result<Vec<PaxosRecord>, PreloadError> {
        history_records_chosen(history, crate::preload::chosen_prefix(cluster))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paxos::persist::replay;

    #[test]
    fn a_history_replays_to_a_chosen_prefix() {
        let (acceptor, learner) =
            replay(&history_records(&[(1, 5), (2, 4)]).expect("valid")).expect("replays");
        assert_eq!(learner.commit(), 9);
        assert_eq!(acceptor.promised(), Ballot::new(2, 0));
        assert_eq!(
            learner.chosen(6),
            Some(&Some(preloaded_command(2, 6))),
            "slot 6 was filled in round 2"
        );
        assert!(history_records(&[]).expect("valid").is_empty());
    }

    #[test]
    fn only_slots_a_majority_holds_alike_are_recorded_chosen() {
        // Figure 8's start: slot 2 holds round 3 on one node, round 2 on two.
        let [a, b, c]: [&[(u64, u64)]; 3] = [&[(1, 1), (3, 1)], &[(1, 1)], &[(1, 1), (2, 2)]];
        let cluster = [a, b, b, c, c];
        let (_, learner) =
            replay(&Paxos::preload_among(c, &cluster).expect("valid")).expect("replays");
        assert_eq!(learner.commit(), 1);
        let (acceptor, learner) =
            replay(&Paxos::preload_among(a, &[a, a, b]).expect("valid")).expect("replays");
        assert_eq!(
            (learner.commit(), acceptor.promised()),
            (2, Ballot::new(3, 0))
        );
    }

    #[test]
    fn rounds_leave_room_for_a_new_leader() {
        assert!(history_records(&[(MAX_ROUND - 2, 1)]).is_ok());
        for round in [MAX_ROUND - 1, MAX_ROUND, u64::MAX] {
            assert!(matches!(
                history_records(&[(1, 1), (round, 1)]),
                Err(PreloadError::OutOfRange { position: 1, .. })
            ));
        }
    }

    #[test]
    fn common_prefixes_choose_the_same_values() {
        let (_, nine) = replay(&history_records(&[(1, 9)]).expect("valid")).expect("replays");
        let (_, eight) = replay(&history_records(&[(1, 8)]).expect("valid")).expect("replays");
        for slot in 1..=8 {
            assert_eq!(nine.chosen(slot), eight.chosen(slot));
        }
    }
}
