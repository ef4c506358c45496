//! The learner role: which values are chosen, and applying them in slot order.
//!
//! Lamport, "Paxos Made Simple" (2001) §2.4: a value is chosen once a majority of
//! acceptors accepted it; learners find out either by counting Accepted messages (the
//! proposer does this) or from a distinguished learner that tells the others (here the
//! leader: its heartbeat and every Accept carry its commit point, and a lagging learner
//! asks it for the chosen values it lacks with `CatchUp`). §3: a state machine executes
//! command `i` only after commands `1..i` are known, so chosen slots beyond a gap wait.
//!
//! Commit-point inference: a leader at ballot `b` reports slot `s` committed only if
//! `s` was chosen by a quorum of Accepted at `b`, or was known chosen before it proposed
//! anything at `b`. So a follower whose acceptor accepted slot `s` at exactly `b` holds
//! the chosen value; for every other slot below the commit point it asks for the value.

use super::ballot::Ballot;
use super::messages::{Leadership, PaxosMessage, PaxosTimer, SlotValue};
use super::persist::PaxosRecord;
use super::{Paxos, Stance};
use crate::effect::Event;
use crate::node::Effects;
use crate::output::Output;
use crate::types::NodeId;
use std::collections::BTreeMap;

/// How many chosen values one `Chosen` message carries at most.
pub const MAX_CHOSEN_BATCH: usize = 256;

/// The commit point is persisted each time it has advanced by this many slots, not on
/// every commit: a record per commit would add a durable write to every command (Raft
/// and ZAB persist no commit point at all). A restarted node replays the persisted
/// prefix at once and learns the rest (at most this many slots) from the leader.
pub const COMMIT_RECORD_EVERY: u64 = 64;

/// Slots further than this beyond a node's commit point are ignored as malformed (in
/// Accept and Chosen messages), so that no message can make a node track, or later
/// re-propose, an absurd range of slots. Ignoring a message is always safe in Paxos.
pub const MAX_SLOT_GAP: u64 = 1 << 20;

/// What one node has learned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Learner {
    /// Slots `1..=start` are chosen and compacted into a snapshot (0: none); their
    /// values are no longer held ([`super::snapshot`]).
    start: u64,
    /// Chosen values of slots `start + 1..=start + log.len()`, gap-free (the commit
    /// point is `start` plus its length).
    log: Vec<SlotValue>,
    /// Chosen values beyond the first gap, waiting for it to close.
    pending: BTreeMap<u64, SlotValue>,
    /// The latest leadership era known chosen (0: none).
    era: u64,
    /// Its value.
    era_value: Option<Leadership>,
}

impl Learner {
    /// Every slot up to here is known chosen.
    pub fn commit(&self) -> u64 {
        self.start + self.log.len() as u64
    }

    /// Slots up to here are compacted into a snapshot: chosen, values not held.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Whether `slot` is known chosen, its value held or compacted into a snapshot.
    pub fn is_known(&self, slot: u64) -> bool {
        (slot != 0 && slot <= self.start) || self.chosen(slot).is_some()
    }

    /// The chosen value of `slot`, if known and held (`None` for compacted slots too).
    pub fn chosen(&self, slot: u64) -> Option<&SlotValue> {
        if slot <= self.start {
            return None;
        }
        match usize::try_from(slot - self.start - 1)
            .ok()
            .and_then(|i| self.log.get(i))
        {
            Some(v) => Some(v),
            None => self.pending.get(&slot),
        }
    }

    /// Records that `value` was chosen in `slot`. Returns whether it was news.
    pub fn learn(&mut self, slot: u64, value: SlotValue) -> bool {
        if slot <= self.start || self.chosen(slot).is_some() {
            return false;
        }
        if slot == self.commit() + 1 {
            self.log.push(value);
            while let Some(next) = self.pending.remove(&(self.commit() + 1)) {
                self.log.push(next);
            }
        } else {
            self.pending.insert(slot, value);
        }
        true
    }

    /// The highest slot known chosen (at or beyond the commit point).
    pub fn last_known(&self) -> u64 {
        self.pending
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(self.commit())
    }

    /// Every chosen value known from `from` on, in slot order.
    pub fn known_from(&self, from: u64) -> Vec<(u64, SlotValue)> {
        let start = from.max(self.start + 1);
        let mut known: Vec<(u64, SlotValue)> = (start..=self.commit())
            .filter_map(|s| self.chosen(s).map(|v| (s, v.clone())))
            .collect();
        known.extend(self.pending.range(start..).map(|(s, v)| (*s, v.clone())));
        known
    }

    /// Up to `max` chosen values of the prefix from slot `from`.
    pub fn values(&self, from: u64, max: usize) -> Vec<SlotValue> {
        let skip = usize::try_from(from.max(self.start + 1) - self.start - 1).unwrap_or(usize::MAX);
        self.log.iter().skip(skip).take(max).cloned().collect()
    }

    /// Drops the values of slots up to `upto` (at most the commit point): a snapshot
    /// holds their effect ([`super::snapshot`]).
    pub fn compact_to(&mut self, upto: u64) {
        let upto = upto.min(self.commit());
        if upto <= self.start {
            return;
        }
        let n = usize::try_from(upto - self.start).unwrap_or(usize::MAX);
        self.log.drain(..n.min(self.log.len()));
        self.start = upto;
    }

    /// Starts the prefix after `index`, a snapshot's last slot at or beyond the commit
    /// point: every slot up to it is chosen; chosen values known beyond it are kept.
    pub fn start_after(&mut self, index: u64) {
        if index <= self.commit() {
            self.compact_to(index);
            return;
        }
        self.log.clear();
        self.start = index;
        self.pending = self.pending.split_off(&index.saturating_add(1));
        while let Some(next) = self.pending.remove(&(self.commit() + 1)) {
            self.log.push(next);
        }
    }

    /// The latest era known chosen (0: none).
    pub fn era(&self) -> u64 {
        self.era
    }

    /// The value of that era.
    pub fn era_value(&self) -> Option<Leadership> {
        self.era_value
    }

    /// Records that `value` was chosen for `era`. Returns whether it is newer than
    /// what was known (older eras no longer matter: only the latest leader does).
    pub fn learn_era(&mut self, era: u64, value: Leadership) -> bool {
        if era <= self.era {
            return false;
        }
        self.era = era;
        self.era_value = Some(value);
        true
    }
}

impl Paxos {
    /// A leader's heartbeat: follow it if it is current, refuse it if it is stale.
    pub(super) fn on_heartbeat(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        era: u64,
        commit: u64,
        out: &mut Effects<Paxos>,
    ) {
        if ballot.node != from || from == self.id {
            return;
        }
        let promised = self.acceptor.promised();
        if ballot < promised {
            self.reject(from, "Heartbeat", ballot, promised, out);
            return;
        }
        let value = Leadership {
            leader: from,
            ballot,
        };
        if era < self.learner.era()
            || (era == self.learner.era() && self.learner.era_value() != Some(value))
        {
            if let Some(current) = self.learner.era_value().filter(|v| v.ballot > ballot) {
                self.send(
                    from,
                    PaxosMessage::Nack {
                        ballot,
                        higher: current.ballot,
                    },
                    out,
                );
            }
            return; // a leader of an older era: ignore it
        }
        if let Some(mine) = self.own_ballot() {
            if ballot > mine {
                self.preempted(ballot, "a heartbeat from a higher-ballot leader", out);
            } else {
                return; // cannot happen: our own ballot is promised, so `ballot < promised`
            }
        }
        if self.learner.learn_era(era, value) {
            self.acceptor.forget_eras_through(era);
            out.persist(PaxosRecord::EraChosen { era, value });
            out.narrate(self.narrate, || {
                format!("learn: era {era} is led by {from} from ballot {ballot} (its heartbeat)")
            });
        }
        self.heard_from_leader(from, ballot, out);
        if self.timing.check_quorum
            && self.membership.is_voter(self.id)
            && matches!(self.stance, Stance::Follower)
        {
            // CheckQuorum: tell the leader we follow it.
            self.send(from, PaxosMessage::HeartbeatReply { ballot }, out);
        }
        self.learn_through(ballot, commit, out);
        if self.learner.commit() < commit {
            self.ask_for_missing(from, out);
        }
    }

    /// A message at `ballot` from `from` proves the leader we follow is alive: restart
    /// the failure detector and drop any back-off.
    pub(super) fn heard_from_leader(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        out: &mut Effects<Paxos>,
    ) {
        if !matches!(self.stance, Stance::Follower) {
            return;
        }
        if self.learner.era_value()
            != Some(Leadership {
                leader: from,
                ballot,
            })
        {
            return;
        }
        out.cancel_timer(PaxosTimer::Backoff);
        self.contention_over();
        let after = self.election_timeout();
        out.set_timer(PaxosTimer::LeaderTimeout, after);
    }

    /// Commit-point inference (module doc): every slot up to `commit` that our acceptor
    /// accepted at exactly `ballot` holds the chosen value.
    pub(super) fn learn_through(&mut self, ballot: Ballot, commit: u64, out: &mut Effects<Paxos>) {
        if !matches!(self.stance, Stance::Follower) || commit <= self.learner.commit() {
            return;
        }
        let found = self
            .acceptor
            .accepted_at(self.learner.commit() + 1, commit, ballot);
        let before = self.learner.commit();
        for (slot, value) in found {
            self.learner.learn(slot, value);
        }
        let after = self.learner.commit();
        if after > before {
            out.narrate(self.narrate, || format!("learn: slots {}..={after} chosen (accepted at {ballot}, leader's commit point {commit})", before + 1));
        }
    }

    /// Chosen values sent by the leader in answer to `CatchUp`.
    pub(super) fn on_chosen(
        &mut self,
        from: NodeId,
        commit: u64,
        first: u64,
        values: Vec<SlotValue>,
        out: &mut Effects<Paxos>,
    ) {
        if !matches!(self.stance, Stance::Follower) || first == 0 {
            return; // a proposer learns only from its own quorums and promises
        }
        if first > self.learner.commit().saturating_add(MAX_SLOT_GAP) {
            return;
        }
        let values: Vec<SlotValue> = values.into_iter().take(MAX_CHOSEN_BATCH).collect();
        let before = self.learner.commit();
        for (offset, value) in values.into_iter().enumerate() {
            if let Some(slot) = first.checked_add(offset as u64) {
                self.learner.learn(slot, value);
            }
        }
        let after = self.learner.commit();
        if after > before {
            out.narrate(self.narrate, || {
                format!(
                    "learn: slots {}..={after} chosen (told by {from})",
                    before + 1
                )
            });
            if after < commit {
                self.send(from, PaxosMessage::CatchUp { from: after + 1 }, out);
            }
        }
    }

    /// Answers a learner's `CatchUp` with the chosen values it lacks (any node may).
    pub(super) fn on_catch_up(&mut self, from: NodeId, first: u64, out: &mut Effects<Paxos>) {
        if first == 0 || first > self.learner.commit() {
            return;
        }
        if first <= self.learner.start() {
            // Compacted here: the learner needs our snapshot ([`super::snapshot`]).
            self.offer_snapshot(from, out);
            return;
        }
        let values = self.learner.values(first, MAX_CHOSEN_BATCH);
        let commit = self.learner.commit();
        self.send(
            from,
            PaxosMessage::Chosen {
                commit,
                from: first,
                values,
            },
            out,
        );
    }

    /// Applies newly chosen prefix slots in order, reports the commit point, and every
    /// [`COMMIT_RECORD_EVERY`] slots persists it (with the values our acceptor does not
    /// already hold; until then the acceptor keeps those slots, frozen).
    pub(super) fn flush_commits(&mut self, out: &mut Effects<Paxos>) {
        let commit = self.learner.commit();
        if self.log_lags_snapshot() {
            // Restored from a snapshot past the durable commit point: rewrite the
            // log's start instead (`snapshot.rs`).
            self.rebase_after_restore(out);
        } else if commit >= self.persisted_commit.saturating_add(COMMIT_RECORD_EVERY) {
            let values: Vec<(u64, SlotValue)> = (self.persisted_commit + 1..=commit)
                .filter_map(|s| {
                    let chosen = self.learner.chosen(s)?;
                    match self.acceptor.slot(s) {
                        Some((_, accepted)) if accepted == chosen => None,
                        _ => Some((s, chosen.clone())),
                    }
                })
                .collect();
            out.persist(PaxosRecord::Committed {
                upto: commit,
                values,
            });
            self.persisted_commit = commit;
            self.acceptor.forget_slots_through(commit);
        }
        if commit > self.applied {
            for slot in self.applied + 1..=commit {
                if let Some(command) = self.learner.chosen(slot) {
                    out.apply(slot, command.clone());
                }
            }
            self.applied = commit;
            out.event(Event::Committed { index: commit });
            self.request_snapshot_if_due(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_out_of_order_and_applies_only_the_prefix() {
        let mut l = Learner::default();
        assert!(l.learn(2, None));
        assert_eq!(l.commit(), 0);
        assert_eq!(l.last_known(), 2);
        assert!(l.learn(1, None));
        assert_eq!(l.commit(), 2);
        assert!(!l.learn(1, None));
        assert!(!l.learn(0, None));
        assert_eq!(l.values(2, 10), vec![None]);
        assert_eq!(l.known_from(1).len(), 2);
    }

    #[test]
    fn only_newer_eras_replace_the_leader() {
        let mut l = Learner::default();
        let a = Leadership {
            leader: 1,
            ballot: Ballot::new(1, 1),
        };
        let b = Leadership {
            leader: 2,
            ballot: Ballot::new(2, 2),
        };
        assert!(l.learn_era(2, b));
        assert!(!l.learn_era(1, a));
        assert_eq!((l.era(), l.era_value()), (2, Some(b)));
    }
}
