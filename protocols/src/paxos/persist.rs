//! Durable records and crash recovery.
//!
//! Lamport, "Paxos Made Simple" (2001) §2.3: "Paxos requires that an acceptor remember
//! [its promise and accepted proposals] even if it fails and then restarts", so both are
//! written before the reply that reveals them (the harness makes every `Persist` durable
//! before any later `Send`). The learner's commit point is persisted too, so a
//! restarted node can replay its chosen prefix (`Apply` from slot 1) without waiting
//! for a leader. Records are replayed oldest first by [`replay`].
//!
//! Log compaction ([`super::snapshot`]) rewrites the start of the log as a
//! [`PaxosRecord::Base`] (the acceptor's whole state and the compacted start) followed
//! by `Committed` records holding the chosen values after that start; together with
//! the snapshot through `start` they rebuild everything written before them.

use super::acceptor::Acceptor;
use super::ballot::Ballot;
use super::learner::Learner;
use super::messages::{AcceptedEra, AcceptedSlot, Leadership, SlotValue};
use crate::node::RecoveryError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One entry of a Paxos node's write-ahead log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PaxosRecord {
    /// The acceptor promised `ballot` (Phase 1b) without accepting anything new.
    Promised {
        /// The ballot promised.
        ballot: Ballot,
    },
    /// The acceptor accepted these proposals at `ballot` (Phase 2b); implies a promise.
    Accepted {
        /// The ballot accepted.
        ballot: Ballot,
        /// A leadership proposal accepted: (era, value).
        era: Option<(u64, Leadership)>,
        /// Slot proposals accepted: (slot, value).
        slots: Vec<(u64, SlotValue)>,
    },
    /// The learner learned that `value` was chosen for leadership `era`.
    EraChosen {
        /// The era.
        era: u64,
        /// Who leads it, from which ballot.
        value: Leadership,
    },
    /// The learner's gap-free chosen prefix now ends at `upto`.
    Committed {
        /// The new commit point.
        upto: u64,
        /// Chosen values of newly committed slots that the acceptor did not hold (the
        /// others equal the acceptor's accepted value for that slot at this point).
        values: Vec<(u64, SlotValue)>,
    },
    /// The start of a compacted log: slots up to `start` are chosen and held by a
    /// snapshot; the acceptor's promise and its accepted proposals, and the latest era
    /// known chosen, as they stood. Replaces every record before it.
    Base {
        /// The last slot a snapshot covers.
        start: u64,
        /// The acceptor's promise.
        promised: Ballot,
        /// The latest leadership era known chosen, and its value.
        era: Option<(u64, Leadership)>,
        /// Accepted leadership proposals of later eras.
        eras: Vec<AcceptedEra>,
        /// Accepted slot proposals not folded into the chosen prefix.
        accepted: Vec<AcceptedSlot>,
    },
}

/// Most chosen values one `Committed` record of a rebased log carries.
pub const BASE_VALUES_PER_RECORD: usize = 4096;

/// The records that rebuild `acceptor` and `learner` from the learner's compacted
/// start: a [`PaxosRecord::Base`], then the chosen prefix after it in `Committed`
/// records of at most [`BASE_VALUES_PER_RECORD`] values.
pub fn base_records(acceptor: &Acceptor, learner: &Learner) -> Vec<PaxosRecord> {
    let start = learner.start();
    let mut records = vec![PaxosRecord::Base {
        start,
        promised: acceptor.promised(),
        era: learner.era_value().map(|v| (learner.era(), v)),
        eras: acceptor.eras_from(0),
        accepted: acceptor.slots_from(start.saturating_add(1), |_| false),
    }];
    let mut values = Vec::new();
    for slot in start + 1..=learner.commit() {
        if let Some(value) = learner.chosen(slot) {
            values.push((slot, value.clone()));
        }
        if values.len() == BASE_VALUES_PER_RECORD || slot == learner.commit() {
            records.push(PaxosRecord::Committed {
                upto: slot,
                values: std::mem::take(&mut values),
            });
        }
    }
    records
}

/// Rebuilds the acceptor and learner from every record, oldest first.
pub fn replay(records: &[PaxosRecord]) -> Result<(Acceptor, Learner), RecoveryError> {
    let mut acceptor = Acceptor::default();
    let mut learner = Learner::default();
    for (index, record) in records.iter().enumerate() {
        let bad = |reason: String| RecoveryError::Inconsistent {
            record: index,
            reason,
        };
        match record {
            PaxosRecord::Promised { ballot } => {
                acceptor
                    .promise(*ballot)
                    .map_err(|p| bad(format!("promise {ballot} below earlier promise {p}")))?;
            }
            PaxosRecord::Accepted { ballot, era, slots } => {
                acceptor
                    .admit(*ballot)
                    .map_err(|p| bad(format!("accepted {ballot} below earlier promise {p}")))?;
                if let Some((e, value)) = era {
                    if *e > learner.era() {
                        acceptor.store_era(*e, *ballot, *value);
                    }
                }
                for (slot, value) in slots {
                    if !learner.is_known(*slot) {
                        acceptor.store_slot(*slot, *ballot, value.clone());
                    }
                }
            }
            PaxosRecord::EraChosen { era, value } => {
                if learner.learn_era(*era, *value) {
                    acceptor.forget_eras_through(*era);
                }
            }
            PaxosRecord::Base {
                start,
                promised,
                era,
                eras,
                accepted,
            } => {
                acceptor = Acceptor::default();
                acceptor
                    .promise(*promised)
                    .map_err(|p| bad(format!("base promise {promised} below {p}")))?;
                learner = Learner::default();
                learner.start_after(*start);
                if let Some((e, value)) = era {
                    learner.learn_era(*e, *value);
                }
                for a in eras.iter().filter(|a| a.era > learner.era()) {
                    acceptor.store_era(a.era, a.ballot, a.value);
                }
                for a in accepted.iter().filter(|a| a.slot > *start) {
                    acceptor.store_slot(a.slot, a.ballot, a.value.clone());
                }
            }
            PaxosRecord::Committed { upto, values } => {
                let commit = learner.commit();
                if *upto < commit {
                    return Err(bad(format!("commit point {upto} below earlier {commit}")));
                }
                let given: BTreeMap<u64, &SlotValue> =
                    values.iter().map(|(s, v)| (*s, v)).collect();
                for slot in commit + 1..=*upto {
                    let value = match (given.get(&slot), acceptor.slot(slot)) {
                        (Some(v), _) => (*v).clone(),
                        (None, Some((_, v))) => v.clone(),
                        (None, None) => {
                            return Err(bad(format!("no value for committed slot {slot}")))
                        }
                    };
                    learner.learn(slot, value);
                }
                acceptor.forget_slots_through(*upto);
            }
        }
    }
    Ok((acceptor, learner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_restores_promise_accepts_and_prefix() {
        let b = Ballot::new(2, 1);
        let records = vec![
            PaxosRecord::Promised {
                ballot: Ballot::new(1, 3),
            },
            PaxosRecord::Accepted {
                ballot: b,
                era: None,
                slots: vec![(1, None), (2, None)],
            },
            PaxosRecord::Committed {
                upto: 1,
                values: vec![],
            },
            PaxosRecord::Promised {
                ballot: Ballot::new(5, 2),
            },
        ];
        let (acceptor, learner) = replay(&records).expect("consistent");
        assert_eq!(acceptor.promised(), Ballot::new(5, 2));
        assert_eq!(learner.commit(), 1);
        assert_eq!(acceptor.slot(2), Some(&(b, None)));
        assert_eq!(acceptor.slot(1), None);
    }

    #[test]
    fn replay_refuses_contradictions() {
        let records = vec![
            PaxosRecord::Promised {
                ballot: Ballot::new(5, 2),
            },
            PaxosRecord::Promised {
                ballot: Ballot::new(1, 3),
            },
        ];
        assert!(matches!(
            replay(&records),
            Err(RecoveryError::Inconsistent { record: 1, .. })
        ));
        let records = vec![PaxosRecord::Committed {
            upto: 1,
            values: vec![],
        }];
        assert!(matches!(
            replay(&records),
            Err(RecoveryError::Inconsistent { record: 0, .. })
        ));
    }
}
