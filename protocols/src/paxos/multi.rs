//! Multi-Paxos on the leader's side: the slot pipeline that runs only Phase 2.
//!
//! Lamport, "Paxos Made Simple" (2001) §3: once a leader has run Phase 1 for every
//! instance at once, each new command costs one Phase 2 round trip. The leader assigns
//! the next slot, sends `Accept(b, slot, cmd)` to every acceptor and counts Accepted
//! replies; a quorum makes the slot chosen. Many slots are in flight at once
//! (pipelining). New slots are batched: a client command only queues its slot, and the
//! end of the batch ([`crate::Protocol::end_of_batch`]) sends every slot queued
//! meanwhile in one Accept per acceptor (batching, as in "Paxos Made Live" §4, where
//! several values share one instance's messages; here several slots share one Phase 2
//! message) (up to [`MAX_BATCH`] slots each), so a burst of commands costs
//! one Phase 2 round of messages, not one per command. Slots found on takeover are
//! re-proposed in batches the same way, as are retransmissions. Nothing is re-ordered:
//! chosen slots are applied in slot order by the learner.
//!
//! The leader writes its own acceptance in parallel with the other acceptors' (as in
//! Raft thesis §10.2.1): its Accepts leave as `Effect::SendAhead`, and its own
//! acceptor's Accepted counts only once that acceptance is durable (`Paxos::send`).
//! This is safe because its ballot was promised durably before its first Accept left
//! (in Phase 1, as a candidate): a restart can never reuse that ballot.
//!
//! A leader that is pre-empted simply stops: its in-flight commands may still be chosen
//! by the next leader (who finds them in the promises) or may be lost, so it neither
//! answers nor rejects them; the harness times those clients out and they retry.

use super::ballot::Ballot;
use super::messages::{PaxosMessage, PaxosTimer, SlotValue};
use super::{Paxos, Stance};
use crate::effect::{ClientError, Event};
use crate::node::Effects;
use crate::output::Output;
use crate::quorum::Membership;
use crate::types::{Command, NodeId, Time};
use std::collections::{BTreeMap, BTreeSet};

/// Most slot proposals carried by one Accept message.
pub const MAX_BATCH: usize = 64;

/// Most slots a leader keeps in flight before answering clients `Overloaded`.
pub const MAX_IN_FLIGHT: usize = 4096;

/// One slot proposal awaiting a quorum.
#[derive(Clone, Debug, PartialEq)]
struct InFlight {
    /// The proposed value.
    value: SlotValue,
    /// Voters that accepted it at the leader's ballot.
    acks: BTreeSet<NodeId>,
    /// When it was last sent, for retransmission.
    sent_at: Time,
}

/// The slots a proposer has sent in Phase 2 and not yet seen chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// The slot the next client command gets.
    next_slot: u64,
    /// Proposals awaiting a quorum, by slot.
    in_flight: BTreeMap<u64, InFlight>,
    /// The last slot found on takeover; the leader is ready once it is committed.
    ready_at: u64,
}

impl Pipeline {
    /// A pipeline that re-proposes `recovery` (found on takeover) and then continues
    /// after `last_slot`.
    pub fn new(recovery: &[(u64, SlotValue)], last_slot: u64, now: Time) -> Pipeline {
        let in_flight = recovery
            .iter()
            .map(|(slot, value)| {
                (
                    *slot,
                    InFlight {
                        value: value.clone(),
                        acks: BTreeSet::new(),
                        sent_at: now,
                    },
                )
            })
            .collect();
        Pipeline {
            next_slot: last_slot.saturating_add(1),
            in_flight,
            ready_at: last_slot,
        }
    }

    /// The last slot found on takeover.
    pub fn ready_at(&self) -> u64 {
        self.ready_at
    }

    /// Whether every slot proposed is chosen (nothing in flight).
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// The highest slot assigned so far.
    pub fn last_slot(&self) -> u64 {
        self.next_slot.saturating_sub(1)
    }

    /// Counts `from`'s acceptance of `slots`; returns the slots that just became chosen.
    pub fn ack(
        &mut self,
        from: NodeId,
        slots: &[u64],
        membership: &Membership,
    ) -> Vec<(u64, SlotValue, Vec<NodeId>)> {
        let mut chosen = Vec::new();
        if !membership.is_voter(from) {
            return chosen;
        }
        for slot in slots {
            let Some(entry) = self.in_flight.get_mut(slot) else {
                continue;
            };
            entry.acks.insert(from);
            if membership.is_quorum(&entry.acks) {
                if let Some(done) = self.in_flight.remove(slot) {
                    chosen.push((*slot, done.value, done.acks.into_iter().collect()));
                }
            }
        }
        chosen
    }

    /// Proposals `peer` has not accepted that were last sent before `before`, oldest
    /// first, at most `max` of them.
    fn due_for(&self, peer: NodeId, before: Time, max: usize) -> Vec<(u64, SlotValue)> {
        let mut due = Vec::new();
        for (slot, entry) in self.in_flight.iter() {
            if due.len() >= max {
                break;
            }
            if entry.sent_at <= before && !entry.acks.contains(&peer) {
                due.push((*slot, entry.value.clone()));
            }
        }
        due
    }

    /// Marks every proposal older than `before` as sent at `now`.
    fn touch(&mut self, before: Time, now: Time) {
        for entry in self.in_flight.values_mut() {
            if entry.sent_at <= before {
                entry.sent_at = now;
            }
        }
    }

    /// Every proposal in flight, in slot order (for the first send).
    pub fn all(&self) -> Vec<(u64, SlotValue)> {
        self.in_flight
            .iter()
            .map(|(s, e)| (*s, e.value.clone()))
            .collect()
    }
}

/// The state of a node that leads.
#[derive(Clone, Debug, PartialEq)]
pub struct Leading {
    /// The ballot it won Phase 1 with; every Accept carries it.
    pub ballot: Ballot,
    /// The leadership era it won.
    pub era: u64,
    /// Its slots in flight.
    pub pipeline: Pipeline,
    /// Whether every slot found on takeover is chosen (LeaderReady was emitted).
    pub ready: bool,
    /// Slots proposed since the last end of batch, not yet sent, in slot order.
    pub unsent: Vec<(u64, SlotValue)>,
    /// CheckQuorum: when each other voter last answered at our ballot (a
    /// HeartbeatReply or an Accepted).
    pub heard: BTreeMap<NodeId, Time>,
}

impl Paxos {
    /// A client command: the ready leader proposes it in the next slot.
    pub(super) fn on_client(&mut self, command: Command, out: &mut Effects<Paxos>) {
        let hint = self.leader_hint();
        if self.refuses_during_transfer(&command, out) {
            return;
        }
        let Stance::Leader(lead) = &mut self.stance else {
            out.reject(command.id, ClientError::NotLeader { leader: hint });
            return;
        };
        if !lead.ready {
            out.reject(
                command.id,
                ClientError::NotLeader {
                    leader: Some(self.id),
                },
            );
            return;
        }
        if lead.pipeline.in_flight.len() >= MAX_IN_FLIGHT {
            out.reject(command.id, ClientError::Overloaded);
            return;
        }
        let slot = lead.pipeline.next_slot;
        lead.pipeline.next_slot += 1;
        let value = Some(command);
        lead.pipeline.in_flight.insert(
            slot,
            InFlight {
                value: value.clone(),
                acks: BTreeSet::new(),
                sent_at: self.now,
            },
        );
        lead.unsent.push((slot, value));
    }

    /// End of a batch: the slots queued since the last flush go out, one Accept per acceptor
    /// for up to [`MAX_BATCH`] of them (or the run's own cap).
    pub(super) fn flush_accepts(&mut self, out: &mut Effects<Paxos>) {
        let commit = self.learner.commit();
        let now = self.now;
        let Stance::Leader(lead) = &mut self.stance else {
            return;
        };
        let unsent = std::mem::take(&mut lead.unsent);
        let ballot = lead.ballot;
        for (slot, _) in &unsent {
            if let Some(entry) = lead.pipeline.in_flight.get_mut(slot) {
                entry.sent_at = now;
            }
        }
        for batch in unsent.chunks(self.max_batch) {
            self.broadcast_ahead(
                PaxosMessage::Accept {
                    ballot,
                    era: None,
                    slots: batch.to_vec(),
                    commit,
                },
                out,
            );
        }
    }

    /// Phase 2b replies: count them toward the leadership value and the slots.
    pub(super) fn on_accepted(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        era: Option<u64>,
        slots: Vec<u64>,
        out: &mut Effects<Paxos>,
    ) {
        let now = self.now;
        let (chosen, era_ack) = match &mut self.stance {
            Stance::Leader(lead) if lead.ballot == ballot => {
                if let Some(at) = lead.heard.get_mut(&from) {
                    *at = now;
                }
                (lead.pipeline.ack(from, &slots, &self.membership), None)
            }
            Stance::Candidate(campaign) if campaign.ballot == ballot => {
                let chosen = match campaign.plan.as_mut().and_then(|p| p.pipeline.as_mut()) {
                    Some(pipeline) => pipeline.ack(from, &slots, &self.membership),
                    None => Vec::new(),
                };
                (chosen, era)
            }
            _ => return,
        };
        self.learn_chosen_slots(chosen, ballot, out);
        if let Some(e) = era_ack {
            self.on_era_accepted(from, e, out);
        }
    }

    /// Hands slots chosen by a quorum at our ballot to our learner.
    fn learn_chosen_slots(
        &mut self,
        chosen: Vec<(u64, SlotValue, Vec<NodeId>)>,
        ballot: Ballot,
        out: &mut Effects<Paxos>,
    ) {
        if chosen.is_empty() {
            return;
        }
        let (first, last) = (chosen.first().map(|c| c.0), chosen.last().map(|c| c.0));
        // The acceptors of the last slot (a quorum's Accepted completes every slot it
        // carries at once, so they are usually the same for all).
        let by = chosen.last().map(|c| c.2.clone()).unwrap_or_default();
        for (slot, value, _) in chosen {
            self.learner.learn(slot, value);
        }
        let me = self.id;
        out.narrate(self.narrate, || {
            let mut by = by;
            by.sort_by_key(|&v| (v != me, v));
            let by: Vec<String> = by.iter().map(NodeId::to_string).collect();
            let by = by.join(", ");
            match (first, last) {
                (Some(a), Some(z)) if a != z => {
                    format!("chooses slots {a}..={z}: accepted at {ballot} by {by}")
                }
                (Some(a), _) => format!("chooses slot {a}: accepted at {ballot} by {by}"),
                _ => String::new(),
            }
        });
    }

    /// Emits LeaderReady once every slot found on takeover is chosen.
    pub(super) fn check_ready(&mut self, out: &mut Effects<Paxos>) {
        let commit = self.learner.commit();
        let Stance::Leader(lead) = &mut self.stance else {
            return;
        };
        if lead.ready || commit < lead.pipeline.ready_at() {
            return;
        }
        lead.ready = true;
        let (ballot, upto) = (lead.ballot, lead.pipeline.ready_at());
        self.contention_over();
        out.event(Event::LeaderReady {
            term: ballot.as_u64(),
        });
        out.narrate(self.narrate, || format!("ready: every slot up to {upto} found on takeover is chosen; serving clients at {ballot}"));
    }

    /// The leader's heartbeat to every peer (voters and observers), unless CheckQuorum
    /// finds that a majority no longer answers.
    pub(super) fn send_heartbeats(&mut self, out: &mut Effects<Paxos>) {
        if self.check_quorum(out) {
            return;
        }
        let Stance::Leader(lead) = &self.stance else {
            return;
        };
        let msg = PaxosMessage::Heartbeat {
            ballot: lead.ballot,
            era: lead.era,
            commit: self.learner.commit(),
        };
        // Liveness must not wait for our own disk: a heartbeat promises nothing about
        // our unsynced records (its commit point counts durable copies only).
        for peer in self.membership.peers_of(self.id) {
            out.send_ahead(peer, msg.clone());
        }
        if self.timing.reads == crate::read::ReadPath::Lease {
            self.start_lease_round(out);
        }
        out.set_timer(PaxosTimer::Heartbeat, self.timing.heartbeat);
    }

    /// Re-sends every slot proposal older than one heartbeat to the voters that have not
    /// accepted it.
    pub(super) fn retransmit_slots(&mut self, out: &mut Effects<Paxos>) {
        let now = self.now;
        let before = Time(
            now.0
                .saturating_sub(self.timing.heartbeat.as_nanos() as u64),
        );
        let commit = self.learner.commit();
        let voters: Vec<NodeId> = self
            .membership
            .voter_ids()
            .iter()
            .copied()
            .filter(|v| *v != self.id)
            .collect();
        let (ballot, pipeline) = match &mut self.stance {
            Stance::Leader(lead) => (lead.ballot, &mut lead.pipeline),
            Stance::Candidate(c) => match c.plan.as_mut().and_then(|p| p.pipeline.as_mut()) {
                Some(p) => (c.ballot, p),
                None => return,
            },
            Stance::Follower => return,
        };
        let mut sends = Vec::new();
        for peer in voters {
            let due = pipeline.due_for(peer, before, self.max_batch);
            if !due.is_empty() {
                sends.push((
                    peer,
                    PaxosMessage::Accept {
                        ballot,
                        era: None,
                        slots: due,
                        commit,
                    },
                ));
            }
        }
        pipeline.touch(before, now);
        for (peer, msg) in sends {
            self.send(peer, msg, out);
        }
    }
}

impl Paxos {
    /// A follower answered our heartbeat at `ballot`.
    pub(super) fn on_heartbeat_reply(&mut self, from: NodeId, ballot: Ballot) {
        let now = self.now;
        if let Stance::Leader(lead) = &mut self.stance {
            if lead.ballot == ballot {
                if let Some(at) = lead.heard.get_mut(&from) {
                    *at = now;
                }
            }
        }
    }

    /// CheckQuorum (as Raft thesis §9.6 has it for Raft; ZAB's leader does the same with
    /// `syncLimit`): at each heartbeat, a leader that has not heard from a majority of
    /// voters (itself included) within the election timeout min steps down to follower
    /// and arms its leader-failure timeout. Returns whether it stepped down. Like a
    /// pre-empted leader, it leaves its slots in flight to the next leader.
    pub(super) fn check_quorum(&mut self, out: &mut Effects<Paxos>) -> bool {
        if !self.timing.check_quorum {
            return false;
        }
        let Stance::Leader(lead) = &self.stance else {
            return false;
        };
        let (me, now, window) = (self.id, self.now, self.timing.election_timeout_min);
        let active: Vec<NodeId> = self
            .membership
            .voter_ids()
            .iter()
            .copied()
            .filter(|&v| v == me || lead.heard.get(&v).is_some_and(|&at| now.since(at) < window))
            .collect();
        if self.membership.is_quorum(active.iter()) {
            return false;
        }
        let ballot = lead.ballot;
        self.stance = Stance::Follower;
        out.cancel_timer(PaxosTimer::Heartbeat);
        out.cancel_timer(PaxosTimer::Retransmit);
        let after = self.election_timeout();
        out.set_timer(PaxosTimer::LeaderTimeout, after);
        out.narrate(self.narrate, || {
            format!(
                "step down from {ballot}: heard from only {active:?} within the election \
                 timeout min ({} ms), not a majority (CheckQuorum)",
                window.as_millis()
            )
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_chosen_by_a_quorum_of_voters_only() {
        let m = Membership::new([1, 2, 3], [4]);
        let mut p = Pipeline::new(&[(1, None)], 1, Time::ZERO);
        assert!(p.ack(1, &[1], &m).is_empty());
        assert!(p.ack(4, &[1], &m).is_empty());
        assert!(p.ack(1, &[1], &m).is_empty());
        assert_eq!(p.ack(3, &[1, 9], &m), vec![(1, None, vec![1, 3])]);
        assert!(p.ack(2, &[1], &m).is_empty());
        assert_eq!((p.ready_at(), p.last_slot()), (1, 1));
    }

    #[test]
    fn commands_taken_before_a_flush_share_one_accept_per_acceptor() {
        use crate::node::Input;
        use crate::paxos::tests::{cmd, started, Elections};
        let mut net = started(3, false);
        net.elect(1);
        net.step_in_batch(1, Input::Client(cmd(1, 1)));
        net.step_in_batch(1, Input::Client(cmd(1, 2)));
        assert!(
            !net.queue
                .iter()
                .any(|(_, _, m)| matches!(m, PaxosMessage::Accept { .. })),
            "nothing is sent before the end of the batch"
        );
        net.end_batch(1);
        let accepts: Vec<_> = net
            .queue
            .iter()
            .filter_map(|(_, to, m)| match m {
                PaxosMessage::Accept { slots, .. } => Some((*to, slots.len())),
                _ => None,
            })
            .collect();
        assert_eq!(accepts, vec![(2, 2), (3, 2)]);
        net.deliver_all();
        assert!(net.applied[&1].contains(&Some(cmd(1, 2))));
        net.heartbeat();
        assert_eq!(net.applied[&2], net.applied[&1]);
    }
}
