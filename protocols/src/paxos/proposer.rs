//! The proposer role: winning a leadership era with Phase 1 and Phase 2.
//!
//! Lamport, "Paxos Made Simple" (2001) §2.2 (choose a ballot above every one seen, win
//! promises from a majority, then propose the value of the highest-ballot proposal they
//! report, or your own if none) and §3 (a new leader runs Phase 1 for every instance at
//! once, re-proposes what it finds and fills gaps with no-ops). The leader/ballot
//! structure follows van Renesse & Altinbuken, "Paxos Made Moderately Complex" (2015)
//! §3: a leader is whoever owns an adopted ballot, and a pre-empted one backs off.
//!
//! # The election as a Basic-Paxos instance
//! Leadership eras `1, 2, ...` form a log of their own beside the command log. The
//! value of era `e` is [`Leadership`] "node X leads from ballot b". A node that sees no
//! live leader sends one `Prepare(b)` covering every era after the latest it knows
//! chosen and every slot after its commit point. With promises from a majority it walks
//! the eras upward from the first not known chosen:
//! - if a promise reports an accepted leadership proposal for that era, it must propose
//!   the one with the highest ballot, say "Q leads from b_Q" (Paxos's safety rule: that
//!   value may already be chosen). Once a quorum accepts it, every learner learns that Q
//!   led era `e`. But our Phase 1 at `b > b_Q` already revoked `b_Q` on a majority, so Q
//!   can no longer get anything accepted: its reign is over (if its value was chosen at
//!   `b_Q` before our Prepare, it may have led for a while; Q sees the higher ballot in
//!   Nacks or in our heartbeat and steps down). The same Phase 1 covers era `e + 1`,
//!   so we go on to propose there without a new Prepare;
//! - if no promise reports a proposal for that era, propose "I lead from b" together
//!   with the re-proposals of every slot found (highest ballot per slot; no-op in gaps).
//!   When a quorum accepts it we are elected (LeaderElected); once every re-proposed
//!   slot is chosen we are ready (LeaderReady).
//!
//! Safety: each era and each slot is an ordinary Paxos instance and a proposer sends at
//! most one value per instance per ballot, so at most one value is chosen per era and
//! per slot. "Node X leads from ballot b" names its ballot and only X proposes it, and
//! X does so for one era only (it stops proposing eras once its own value is chosen), so
//! at most one node leads per ballot, and the leader runs slot Phase 2 only at the ballot
//! whose Phase 1 it won. Liveness: a proposer whose Phase 1 is not interrupted finishes
//! in a bounded number of Phase 2 rounds (eras are only proposed after the previous one
//! is chosen, so at most one unfinished era can exist above the latest chosen one; older
//! chosen eras are skipped using the promises' `chosen_era` facts). Duels, where two
//! proposers keep pre-empting each other, are broken by a random back-off drawn from
//! `election_timeout_min..=max` before a proposer retries, as Raft breaks split votes;
//! each failed campaign doubles that range for the next one until a leader is heard
//! (up to eight times), so duels end even where a campaign's two round trips take
//! longer than the configured timeout ([`Paxos::contention_timeout`]).
//! And a follower that promises a new ballot restarts its own leader timeout, as a Raft
//! vote grant restarts the election timer (Figure 2), so the proposer it promised gets
//! a full timeout to finish before that follower campaigns. Without it a follower whose
//! promise is slow to become durable pre-empts the very ballot it is promising, and
//! on a slow enough disk the duel never ends.

use super::ballot::Ballot;
use super::learner::MAX_SLOT_GAP;
use super::messages::{AcceptedEra, AcceptedSlot, Leadership, PaxosMessage, PaxosTimer, SlotValue};
use super::multi::{Leading, Pipeline};
use super::persist::PaxosRecord;
use super::{Paxos, Stance};
use crate::bugs::Bug;
use crate::effect::Event;
use crate::node::Effects;
use crate::output::Output;
use crate::types::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// What one acceptor reported in its Promise.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The latest era it knows chosen.
    pub chosen_era: Option<(u64, Leadership)>,
    /// Its accepted leadership proposals.
    pub eras: Vec<AcceptedEra>,
    /// Slots it knows chosen.
    pub chosen: Vec<(u64, SlotValue)>,
    /// Its accepted slot proposals.
    pub accepted: Vec<AcceptedSlot>,
}

/// Phase 2 of an election: what the proposer does after winning Phase 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Leadership proposals found in the promises (highest ballot per era), still to
    /// be re-proposed.
    found_eras: BTreeMap<u64, (Ballot, Leadership)>,
    /// Slot proposals to make once we propose ourselves: found values and no-ops.
    recovery: Vec<(u64, SlotValue)>,
    /// The highest slot anybody reported.
    last_slot: u64,
    /// The era being proposed now.
    era: u64,
    /// The value proposed for it.
    value: Leadership,
    /// Voters that accepted it.
    acks: BTreeSet<NodeId>,
    /// The slot re-proposals, once we propose ourselves.
    pub pipeline: Option<Pipeline>,
}

/// A node running an election ballot.
#[derive(Clone, Debug, PartialEq)]
pub struct Campaign {
    /// Its ballot.
    pub ballot: Ballot,
    /// Promises received (Phase 1).
    promises: BTreeMap<NodeId, Report>,
    /// Set once a majority promised (Phase 2).
    pub plan: Option<Plan>,
}

impl Paxos {
    /// No live leader: run Phase 1 with a ballot above every one seen.
    pub(super) fn start_election(&mut self, why: &str, out: &mut Effects<Paxos>) {
        if matches!(self.stance, Stance::Candidate(_)) {
            // Our own campaign timed out unfinished.
            self.campaign_failed();
        }
        let timeout = self.contention_timeout();
        if !self.membership.is_voter(self.id) {
            out.set_timer(PaxosTimer::LeaderTimeout, timeout);
            return; // observers learn, never lead
        }
        let mut seen = self.acceptor.promised().max(self.highest_seen);
        if let Some(v) = self.learner.era_value() {
            seen = seen.max(v.ballot);
        }
        let Some(ballot) = Ballot::above(seen, self.id) else {
            // Rounds are exhausted (as Raft's last term, only forged messages could
            // have brought a cluster here): numbering past them would wrap the term.
            out.narrate(self.narrate, || {
                format!("{why}: cannot campaign, no ballot can follow {seen}")
            });
            out.set_timer(PaxosTimer::LeaderTimeout, timeout);
            return;
        };
        self.highest_seen = ballot;
        self.stance = Stance::Candidate(Campaign {
            ballot,
            promises: BTreeMap::new(),
            plan: None,
        });
        let (era_from, slot_from) = (
            self.learner.era().saturating_add(1),
            self.learner.commit() + 1,
        );
        out.narrate(self.narrate, || {
            format!("{why}: send Prepare({ballot}) for era {era_from} on and slots {slot_from} on")
        });
        out.cancel_timer(PaxosTimer::Backoff);
        out.set_timer(PaxosTimer::LeaderTimeout, timeout);
        out.set_timer(PaxosTimer::Retransmit, self.timing.heartbeat);
        self.broadcast(
            PaxosMessage::Prepare {
                ballot,
                era_from,
                slot_from,
            },
            out,
        );
    }

    /// Phase 1b reply: count it; a majority moves us to Phase 2.
    pub(super) fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        report: Report,
        out: &mut Effects<Paxos>,
    ) {
        let Stance::Candidate(c) = &mut self.stance else {
            return;
        };
        if c.ballot != ballot || c.plan.is_some() || !self.membership.is_voter(from) {
            return;
        }
        // A promise reaching absurdly far beyond our commit point is malformed, or we
        // are too far behind to re-propose its range: not counting it is always safe.
        let horizon = self.learner.commit().saturating_add(MAX_SLOT_GAP);
        let reach = report
            .accepted
            .iter()
            .map(|a| a.slot)
            .chain(report.chosen.iter().map(|c| c.0))
            .max();
        if reach.is_some_and(|slot| slot > horizon) {
            return;
        }
        c.promises.insert(from, report);
        if self.membership.is_quorum(c.promises.keys()) {
            self.phase_one_won(out);
        }
    }

    /// A majority promised: learn the facts they told us, collect what must be
    /// re-proposed, and start Phase 2.
    fn phase_one_won(&mut self, out: &mut Effects<Paxos>) {
        let Stance::Candidate(c) = &mut self.stance else {
            return;
        };
        let ballot = c.ballot;
        let promises = std::mem::take(&mut c.promises);
        for report in promises.values() {
            if let Some((era, value)) = report.chosen_era {
                if self.learner.learn_era(era, value) {
                    self.acceptor.forget_eras_through(era);
                    out.persist(PaxosRecord::EraChosen { era, value });
                }
            }
            for (slot, value) in &report.chosen {
                self.learner.learn(*slot, value.clone());
            }
        }
        let known_era = self.learner.era();
        let mut found_eras: BTreeMap<u64, (Ballot, Leadership)> = BTreeMap::new();
        let mut highest: BTreeMap<u64, (Ballot, SlotValue)> = BTreeMap::new();
        let mut last_slot = self.learner.last_known();
        for report in promises.values() {
            for a in report.eras.iter().filter(|a| a.era > known_era) {
                if found_eras.get(&a.era).is_none_or(|(b, _)| a.ballot > *b) {
                    found_eras.insert(a.era, (a.ballot, a.value));
                }
            }
            for a in &report.accepted {
                last_slot = last_slot.max(a.slot);
                if highest.get(&a.slot).is_none_or(|(b, _)| a.ballot > *b) {
                    highest.insert(a.slot, (a.ballot, a.value.clone()));
                }
            }
            last_slot = last_slot.max(report.chosen.iter().map(|c| c.0).max().unwrap_or(0));
        }
        if self.bug == Some(Bug::PaxosIgnoreAcceptedInPromises) {
            // BUG (teaching, off by default): P2c (Paxos Made Simple §2.2) says to
            // propose the highest-ballot value reported; we propose our own instead
            // (ourselves for the era, a no-op in every slot not known chosen).
            found_eras.clear();
            highest.clear();
        }
        let commit = self.learner.commit();
        let recovery: Vec<(u64, SlotValue)> = (commit + 1..=last_slot)
            .filter(|s| self.learner.chosen(*s).is_none())
            .map(|s| (s, highest.get(&s).and_then(|(_, v)| v.clone())))
            .collect();
        let voters: Vec<NodeId> = promises.keys().copied().collect();
        let (found, gaps) = (
            recovery.iter().filter(|r| r.1.is_some()).count(),
            recovery.iter().filter(|r| r.1.is_none()).count(),
        );
        out.narrate(self.narrate, || {
            format!(
                "won Phase 1 of {ballot}: promises from {voters:?}; re-propose {} slot(s) up to {last_slot} (highest-ballot value per slot, no-op in {gaps} gap(s)), {} era(s) found",
                found + gaps,
                found_eras.len()
            )
        });
        if let Stance::Candidate(c) = &mut self.stance {
            c.plan = Some(Plan {
                found_eras,
                recovery,
                last_slot,
                era: 0,
                value: Leadership {
                    leader: self.id,
                    ballot,
                },
                acks: BTreeSet::new(),
                pipeline: None,
            });
        }
        self.propose_next_era(out);
    }

    /// Phase 2 for the first era not known chosen: a found value if any, else ourselves
    /// (with the slot re-proposals batched alongside).
    fn propose_next_era(&mut self, out: &mut Effects<Paxos>) {
        let era = self.learner.era().saturating_add(1);
        let (me, now, commit) = (self.id, self.now, self.learner.commit());
        let Stance::Candidate(c) = &mut self.stance else {
            return;
        };
        let ballot = c.ballot;
        let Some(plan) = c.plan.as_mut() else { return };
        let own = Leadership { leader: me, ballot };
        let found = plan.found_eras.remove(&era);
        plan.found_eras = plan.found_eras.split_off(&era);
        let value = found.map(|(_, v)| v).unwrap_or(own);
        plan.era = era;
        plan.value = value;
        plan.acks.clear();
        let mut messages = Vec::new();
        if found.is_some() {
            messages.push(PaxosMessage::Accept {
                ballot,
                era: Some((era, value)),
                slots: Vec::new(),
                commit,
            });
        } else {
            let pipeline = Pipeline::new(&plan.recovery, plan.last_slot, now);
            let all = pipeline.all();
            plan.pipeline = Some(pipeline);
            let mut chunks = all.chunks(self.max_batch);
            let first = chunks.next().map(<[_]>::to_vec).unwrap_or_default();
            messages.push(PaxosMessage::Accept {
                ballot,
                era: Some((era, value)),
                slots: first,
                commit,
            });
            messages.extend(chunks.map(|c| PaxosMessage::Accept {
                ballot,
                era: None,
                slots: c.to_vec(),
                commit,
            }));
        }
        out.narrate(self.narrate, || match found {
            Some((b, v)) => format!(
                "send Accept({ballot}, era {era}: {} leads from {}): a promise reports it accepted at {b}, the highest for era {era}, so it must be proposed",
                v.leader, v.ballot
            ),
            None => format!("send Accept({ballot}, era {era}: {me} leads from {ballot}): no promise reports a leadership proposal for era {era}"),
        });
        for msg in messages {
            self.broadcast(msg, out);
        }
    }

    /// Phase 2b for the era we propose: a quorum makes it chosen.
    pub(super) fn on_era_accepted(&mut self, from: NodeId, era: u64, out: &mut Effects<Paxos>) {
        let me = self.id;
        let Stance::Candidate(c) = &mut self.stance else {
            return;
        };
        let ballot = c.ballot;
        let Some(plan) = c.plan.as_mut() else { return };
        if era != plan.era || !self.membership.is_voter(from) {
            return;
        }
        plan.acks.insert(from);
        if !self.membership.is_quorum(&plan.acks) {
            return;
        }
        let value = plan.value;
        if self.learner.learn_era(era, value) {
            self.acceptor.forget_eras_through(era);
            out.persist(PaxosRecord::EraChosen { era, value });
        }
        if value == (Leadership { leader: me, ballot }) {
            self.become_leader(era, out);
        } else {
            out.narrate(self.narrate, || {
                format!("chosen: era {era} is led by {} from {}; our Phase 1 at {ballot} already covers era {}", value.leader, value.ballot, era.saturating_add(1))
            });
            self.propose_next_era(out);
        }
    }

    /// Our own leadership value was chosen: lead.
    fn become_leader(&mut self, era: u64, out: &mut Effects<Paxos>) {
        let Stance::Candidate(c) = std::mem::replace(&mut self.stance, Stance::Follower) else {
            return;
        };
        let ballot = c.ballot;
        let last = self.learner.last_known();
        let pipeline = c
            .plan
            .and_then(|p| p.pipeline)
            .unwrap_or_else(|| Pipeline::new(&[], last, self.now));
        let now = self.now;
        let heard = self
            .membership
            .voter_ids()
            .iter()
            .filter(|&&v| v != self.id)
            .map(|&v| (v, now))
            .collect();
        self.stance = Stance::Leader(Leading {
            ballot,
            era,
            pipeline,
            ready: false,
            unsent: Vec::new(),
            heard,
        });
        out.event(Event::LeaderElected {
            term: ballot.as_u64(),
        });
        out.narrate(self.narrate, || {
            format!(
                "elected: a quorum accepted \"{} leads from {ballot}\" for era {era}",
                self.id
            )
        });
        out.cancel_timer(PaxosTimer::LeaderTimeout);
        out.cancel_timer(PaxosTimer::Backoff);
        self.send_heartbeats(out);
    }

    /// A Nack: if it refuses our current ballot, we are pre-empted.
    pub(super) fn on_nack(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        higher: Ballot,
        out: &mut Effects<Paxos>,
    ) {
        if higher <= ballot {
            return; // malformed
        }
        self.highest_seen = self.highest_seen.max(higher);
        if self.own_ballot() == Some(ballot) {
            self.preempted(higher, &format!("Nack from {from}"), out);
        }
    }

    /// Our acceptor just promised `promised`: if that is above our own ballot, our
    /// ballot can no longer win.
    pub(super) fn check_own_ballot(&mut self, promised: Ballot, out: &mut Effects<Paxos>) {
        if self.own_ballot().is_some_and(|mine| promised > mine) {
            self.preempted(promised, "our acceptor promised it", out);
        }
    }

    /// A follower that promised a new ballot gives its candidate a full timeout to
    /// finish before campaigning itself (as a Raft vote grant resets the election
    /// timer, Figure 2): a follower whose promise is slow to become durable would
    /// otherwise pre-empt the very ballot it is promising.
    pub(super) fn give_candidate_time(&mut self, out: &mut Effects<Paxos>) {
        if matches!(self.stance, Stance::Follower) {
            let after = self.contention_timeout();
            out.set_timer(PaxosTimer::LeaderTimeout, after);
        }
    }

    /// Our ballot lost to `higher` (a duel): step down and back off for a random time.
    pub(super) fn preempted(&mut self, higher: Ballot, why: &str, out: &mut Effects<Paxos>) {
        let Some(mine) = self.own_ballot() else {
            return;
        };
        if higher <= mine {
            return;
        }
        self.duels += 1;
        if matches!(self.stance, Stance::Candidate(_)) {
            // A deposed leader's ballot did its work; only a lost campaign counts.
            self.campaign_failed();
        }
        self.highest_seen = self.highest_seen.max(higher);
        self.stance = Stance::Follower;
        out.cancel_timer(PaxosTimer::Heartbeat);
        out.cancel_timer(PaxosTimer::Retransmit);
        out.cancel_timer(PaxosTimer::LeaderTimeout);
        let duels = self.duels;
        if !self.backoff {
            // Teaching only (`Protocol::set_backoff`): retry at once, as both duelists
            // do, so each new Phase 1 pre-empts the other's Phase 2 (§2.4).
            out.set_timer(PaxosTimer::Backoff, std::time::Duration::ZERO);
            out.narrate(self.narrate, || {
                format!(
                    "duel #{duels}: ballot {mine} pre-empted by {higher} ({why}); back-off is off, retry at once"
                )
            });
            return;
        }
        let wait = self.contention_timeout();
        out.set_timer(PaxosTimer::Backoff, wait);
        out.narrate(self.narrate, || {
            format!(
                "duel #{duels}: ballot {mine} pre-empted by {higher} ({why}); back off {wait:?}"
            )
        });
    }

    /// Re-sends Phase 1 or the leadership Accept to voters that have not answered.
    pub(super) fn retransmit_campaign(&mut self, out: &mut Effects<Paxos>) {
        let Stance::Candidate(c) = &self.stance else {
            return;
        };
        let ballot = c.ballot;
        let (era_from, commit) = (self.learner.era().saturating_add(1), self.learner.commit());
        let mut sends = Vec::new();
        for voter in self
            .membership
            .voter_ids()
            .iter()
            .copied()
            .filter(|v| *v != self.id)
        {
            match &c.plan {
                None if !c.promises.contains_key(&voter) => {
                    sends.push((
                        voter,
                        PaxosMessage::Prepare {
                            ballot,
                            era_from,
                            slot_from: commit + 1,
                        },
                    ));
                }
                Some(plan) if !plan.acks.contains(&voter) => {
                    let msg = PaxosMessage::Accept {
                        ballot,
                        era: Some((plan.era, plan.value)),
                        slots: Vec::new(),
                        commit,
                    };
                    sends.push((voter, msg));
                }
                _ => {}
            }
        }
        for (to, msg) in sends {
            self.send(to, msg, out);
        }
    }
}
