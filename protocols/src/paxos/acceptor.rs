//! The acceptor role: promises (Phase 1b) and acceptances (Phase 2b).
//!
//! Lamport, "Paxos Made Simple" (2001) §2.2 and §2.3: an acceptor promises a Prepare
//! only if it has not promised a higher ballot, answering with the highest-ballot
//! proposal it has accepted; it accepts an Accept unless it has promised a higher
//! ballot. It must remember both across crashes (§2.3, "an acceptor must remember this
//! information even if it fails and then restarts"), so every change is persisted
//! before the reply that depends on it is sent. Per §3 one Prepare covers every
//! instance from `from` on: here every leadership era and every log slot.
//!
//! One refinement keeps the log compact: once this node's learner knows a slot (or era)
//! chosen, its acceptor freezes it. An Accept for it is acknowledged only if it carries
//! the chosen value (which is then the truth whatever the ballot) and otherwise ignored,
//! as if lost; ignoring a message is always safe in Paxos.

use super::ballot::Ballot;
use super::learner::MAX_SLOT_GAP;
use super::messages::{AcceptedEra, AcceptedSlot, Leadership, PaxosMessage, SlotValue};
use super::persist::PaxosRecord;
use super::Paxos;
use crate::bugs::Bug;
use crate::node::Effects;
use crate::output::Output;
use crate::types::NodeId;
use std::collections::BTreeMap;

/// What one acceptor has promised and accepted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Acceptor {
    /// The highest ballot promised (an accepted ballot counts as promised).
    promised: Ballot,
    /// Accepted leadership proposals, per era, not yet known chosen.
    eras: BTreeMap<u64, (Ballot, Leadership)>,
    /// Accepted slot proposals, per slot, not yet folded into the learner's prefix.
    slots: BTreeMap<u64, (Ballot, SlotValue)>,
}

impl Acceptor {
    /// The highest ballot promised.
    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// Phase 1b rule: promise `ballot` if no higher one was promised. `Ok(true)` when the
    /// promise rose (it must be persisted), `Ok(false)` for a repeated Prepare of the
    /// ballot already promised, `Err(promised)` when a higher ballot was promised.
    pub fn promise(&mut self, ballot: Ballot) -> Result<bool, Ballot> {
        if ballot < self.promised {
            return Err(self.promised);
        }
        let raised = ballot > self.promised;
        self.promised = ballot;
        Ok(raised)
    }

    /// Phase 2b rule: an Accept at `ballot` may be accepted unless a higher ballot was
    /// promised; accepting raises the promise. Same results as [`Acceptor::promise`].
    pub fn admit(&mut self, ballot: Ballot) -> Result<bool, Ballot> {
        self.promise(ballot)
    }

    /// Stores an accepted leadership proposal.
    pub fn store_era(&mut self, era: u64, ballot: Ballot, value: Leadership) {
        self.eras.insert(era, (ballot, value));
    }

    /// Stores an accepted slot proposal.
    pub fn store_slot(&mut self, slot: u64, ballot: Ballot, value: SlotValue) {
        self.slots.insert(slot, (ballot, value));
    }

    /// The proposal accepted for `slot`, if any.
    pub fn slot(&self, slot: u64) -> Option<&(Ballot, SlotValue)> {
        self.slots.get(&slot)
    }

    /// Slots in `from..=to` accepted exactly at `ballot`.
    pub fn accepted_at(&self, from: u64, to: u64, ballot: Ballot) -> Vec<(u64, SlotValue)> {
        if from > to {
            return Vec::new();
        }
        self.slots
            .range(from..=to)
            .filter(|(_, (b, _))| *b == ballot)
            .map(|(s, (_, v))| (*s, v.clone()))
            .collect()
    }

    /// The highest slot with an accepted proposal (0 if none).
    pub fn last_slot(&self) -> u64 {
        self.slots.keys().next_back().copied().unwrap_or(0)
    }

    /// Accepted leadership proposals for eras `from` and later.
    pub fn eras_from(&self, from: u64) -> Vec<AcceptedEra> {
        self.eras
            .range(from..)
            .map(|(era, (ballot, value))| AcceptedEra {
                era: *era,
                ballot: *ballot,
                value: *value,
            })
            .collect()
    }

    /// Accepted slot proposals for slots `from` and later, except those `known` says
    /// are chosen.
    pub fn slots_from(&self, from: u64, known: impl Fn(u64) -> bool) -> Vec<AcceptedSlot> {
        self.slots
            .range(from..)
            .filter(|(slot, _)| !known(**slot))
            .map(|(slot, (ballot, value))| AcceptedSlot {
                slot: *slot,
                ballot: *ballot,
                value: value.clone(),
            })
            .collect()
    }

    /// Drops accepted leadership proposals of eras up to `era` (known chosen).
    pub fn forget_eras_through(&mut self, era: u64) {
        self.eras = self.eras.split_off(&era.saturating_add(1));
    }

    /// Drops accepted slot proposals up to `slot` (folded into the chosen prefix).
    pub fn forget_slots_through(&mut self, slot: u64) {
        self.slots = self.slots.split_off(&slot.saturating_add(1));
    }
}

impl Paxos {
    /// Phase 1b: answer `Prepare(ballot)` from `from`.
    pub(super) fn on_prepare(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        era_from: u64,
        slot_from: u64,
        out: &mut Effects<Paxos>,
    ) {
        if ballot.node != from {
            return; // malformed: a proposer only prepares its own ballots
        }
        if self.lease_forbids_prepare(from) {
            out.narrate(self.narrate, || {
                format!("ignore Prepare({ballot}) from {from}: a leader's lease granted here still runs")
            });
            return;
        }
        if slot_from <= self.learner.start() {
            // Slots the proposer does not know chosen are compacted into our snapshot:
            // we could not report them, so we do not promise (as if the Prepare were
            // lost, always safe) and offer the proposer our snapshot instead.
            let start = self.learner.start();
            out.narrate(self.narrate, || {
                format!("ignore Prepare({ballot}) from {from}: it lacks slots up to {start}, compacted into our snapshot; offer it the snapshot")
            });
            self.offer_snapshot(from, out);
            return;
        }
        match self.acceptor.promise(ballot) {
            Err(promised) => {
                self.reject(from, "Prepare", ballot, promised, out);
            }
            Ok(raised) => {
                // BUG (teaching, off by default): the promise is not written, so a
                // restart forgets it (Paxos Made Simple §2.3).
                if raised && self.bug != Some(Bug::PaxosPromiseNotPersisted) {
                    out.persist(PaxosRecord::Promised { ballot });
                }
                let known_era = self.learner.era();
                let chosen_era = self
                    .learner
                    .era_value()
                    .filter(|_| known_era >= era_from)
                    .map(|v| (known_era, v));
                let eras = self
                    .acceptor
                    .eras_from(era_from.max(known_era.saturating_add(1)));
                let chosen = self.learner.known_from(slot_from);
                let learner = &self.learner;
                let accepted = self.acceptor.slots_from(slot_from, |s| learner.is_known(s));
                out.narrate(self.narrate, || {
                    let best = accepted.iter().map(|a| a.ballot).chain(eras.iter().map(|e| e.ballot)).max();
                    match best {
                        Some(b) => format!(
                            "promise Prepare({ballot}) to {from}: no higher promise; reporting {} accepted slot(s), {} era(s), highest accepted {b}",
                            accepted.len(),
                            eras.len()
                        ),
                        None => format!("promise Prepare({ballot}) to {from}: no higher promise; nothing accepted since slot {slot_from}"),
                    }
                });
                self.send(
                    from,
                    PaxosMessage::Promise {
                        ballot,
                        chosen_era,
                        eras,
                        chosen,
                        accepted,
                    },
                    out,
                );
                if raised {
                    self.check_own_ballot(ballot, out);
                    self.give_candidate_time(out);
                }
            }
        }
    }

    /// Phase 2b: answer `Accept(ballot, ...)` from `from`, then learn from its commit point.
    pub(super) fn on_accept(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        era: Option<(u64, Leadership)>,
        slots: Vec<(u64, SlotValue)>,
        commit: u64,
        out: &mut Effects<Paxos>,
    ) {
        if ballot.node != from {
            return;
        }
        let raised = match self.acceptor.admit(ballot) {
            Err(promised) => {
                self.reject(from, "Accept", ballot, promised, out);
                return;
            }
            Ok(raised) => raised,
        };
        let mut stored_era = None;
        let mut acked_era = None;
        if let Some((e, value)) = era {
            if e > self.learner.era() {
                self.acceptor.store_era(e, ballot, value);
                stored_era = Some((e, value));
                acked_era = Some(e);
            } else if e == self.learner.era() && self.learner.era_value() == Some(value) {
                acked_era = Some(e);
            }
        }
        let mut stored = Vec::new();
        let mut acked = Vec::new();
        let horizon = self.learner.commit().saturating_add(MAX_SLOT_GAP);
        for (slot, value) in slots {
            if slot == 0 || slot > horizon {
                continue; // malformed
            }
            if slot <= self.learner.start() {
                // Chosen and compacted into our snapshot: a proposal at a ballot this
                // high can only carry the chosen value (Paxos Made Simple §2.2, P2b),
                // so acknowledging it without storing it is true.
                acked.push(slot);
                continue;
            }
            match self.learner.chosen(slot) {
                Some(chosen) if *chosen == value => acked.push(slot),
                Some(_) => {}
                None => {
                    self.acceptor.store_slot(slot, ballot, value.clone());
                    stored.push((slot, value));
                    acked.push(slot);
                }
            }
        }
        if stored_era.is_some() || !stored.is_empty() {
            out.persist(PaxosRecord::Accepted {
                ballot,
                era: stored_era,
                slots: stored,
            });
        } else if raised {
            out.persist(PaxosRecord::Promised { ballot });
        }
        out.narrate(self.narrate, || {
            match (acked_era, acked.first(), acked.last()) {
                (Some(e), _, _) => format!(
                "accept Accept({ballot}) from {from}: era {e} and {} slot(s); no higher promise",
                acked.len()
            ),
                (None, Some(a), Some(z)) => {
                    format!(
                        "accept Accept({ballot}) from {from}: slots {a}..={z}; no higher promise"
                    )
                }
                _ => format!("accept Accept({ballot}) from {from}: nothing new (already chosen)"),
            }
        });
        self.send(
            from,
            PaxosMessage::Accepted {
                ballot,
                era: acked_era,
                slots: acked,
            },
            out,
        );
        if raised {
            self.check_own_ballot(ballot, out);
        }
        if from != self.id {
            self.heard_from_leader(from, ballot, out);
            self.learn_through(ballot, commit, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::messages::{AcceptedEra, AcceptedSlot};
    use super::super::tests::{cluster, cmd};
    use super::super::*;
    use crate::effect::Effect;
    use crate::pump::Pump;

    /// Acceptor 2 of a cluster of three, the only node running.
    fn acceptor() -> Pump<Paxos> {
        let mut p = cluster(3, false);
        p.start(2);
        p
    }

    fn prepare(round: u64, node_id: NodeId) -> PaxosMessage {
        PaxosMessage::Prepare {
            ballot: Ballot::new(round, node_id),
            era_from: 1,
            slot_from: 1,
        }
    }

    fn step(p: &mut Pump<Paxos>, from: NodeId, msg: PaxosMessage) -> Effects<Paxos> {
        p.step(2, Input::Message { from, msg })
    }

    #[test]
    fn promises_a_higher_ballot_persisting_before_the_reply() {
        let mut p = acceptor();
        let out = step(&mut p, 1, prepare(1, 1));
        let b = Ballot::new(1, 1);
        assert_eq!(
            out[..2],
            [
                Effect::Persist(PaxosRecord::Promised { ballot: b }),
                Effect::Send {
                    to: 1,
                    msg: PaxosMessage::Promise {
                        ballot: b,
                        chosen_era: None,
                        eras: vec![],
                        chosen: vec![],
                        accepted: vec![]
                    }
                },
            ]
        );
        // ...and gives the proposer a full timeout before campaigning itself.
        assert!(matches!(
            out[2..],
            [Effect::SetTimer {
                timer: PaxosTimer::LeaderTimeout,
                ..
            }]
        ));
    }

    #[test]
    fn rejects_a_lower_ballot_with_the_promise_it_holds() {
        let mut p = acceptor();
        step(&mut p, 3, prepare(4, 3));
        let out = step(&mut p, 1, prepare(3, 1));
        assert_eq!(
            out,
            vec![Effect::Send {
                to: 1,
                msg: PaxosMessage::Nack {
                    ballot: Ballot::new(3, 1),
                    higher: Ballot::new(4, 3)
                }
            }]
        );
        // A repeated Prepare of the promised ballot is answered again but not re-persisted.
        let again = step(&mut p, 3, prepare(4, 3));
        assert!(matches!(
            again.as_slice(),
            [Effect::Send {
                to: 3,
                msg: PaxosMessage::Promise { .. }
            }]
        ));
    }

    #[test]
    fn accepts_unless_a_higher_ballot_was_promised() {
        let mut p = acceptor();
        let b = Ballot::new(2, 1);
        let accept = |ballot| PaxosMessage::Accept {
            ballot,
            era: None,
            slots: vec![(1, Some(cmd(1, 7)))],
            commit: 0,
        };
        let out = step(&mut p, 1, accept(b));
        assert_eq!(
            out,
            vec![
                Effect::Persist(PaxosRecord::Accepted {
                    ballot: b,
                    era: None,
                    slots: vec![(1, Some(cmd(1, 7)))]
                }),
                Effect::Send {
                    to: 1,
                    msg: PaxosMessage::Accepted {
                        ballot: b,
                        era: None,
                        slots: vec![1]
                    }
                },
            ]
        );
        step(&mut p, 3, prepare(3, 3));
        let out = step(&mut p, 1, accept(b));
        assert_eq!(
            out,
            vec![Effect::Send {
                to: 1,
                msg: PaxosMessage::Nack {
                    ballot: b,
                    higher: Ballot::new(3, 3)
                }
            }]
        );
    }

    #[test]
    fn promise_reports_the_highest_accepted_proposals() {
        let mut p = acceptor();
        let lead = Leadership {
            leader: 1,
            ballot: Ballot::new(1, 1),
        };
        let b1 = Ballot::new(1, 1);
        step(
            &mut p,
            1,
            PaxosMessage::Accept {
                ballot: b1,
                era: Some((1, lead)),
                slots: vec![(1, None), (2, Some(cmd(1, 1)))],
                commit: 0,
            },
        );
        let b3 = Ballot::new(2, 3);
        step(
            &mut p,
            3,
            PaxosMessage::Accept {
                ballot: b3,
                era: None,
                slots: vec![(2, Some(cmd(3, 1)))],
                commit: 0,
            },
        );
        let out = step(&mut p, 1, prepare(5, 1));
        let Some(Effect::Send {
            msg: PaxosMessage::Promise { eras, accepted, .. },
            ..
        }) = out.iter().find(|e| matches!(e, Effect::Send { .. }))
        else {
            panic!("expected a promise, got {out:?}");
        };

        assert_eq!(
            eras,
            &vec![AcceptedEra {
                era: 1,
                ballot: b1,
                value: lead
            }]
        );
        assert_eq!(
            accepted,
            &vec![
                AcceptedSlot {
                    slot: 1,
                    ballot: b1,
                    value: None
                },
                AcceptedSlot {
                    slot: 2,
                    ballot: b3,
                    value: Some(cmd(3, 1))
                },
            ]
        );
    }
}
