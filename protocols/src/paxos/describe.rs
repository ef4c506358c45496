//! Paxos's messages as Lamport names the phases (Prepare, Promise, Accept, Accepted),
//! with this implementation's Nack, Heartbeat, CatchUp, Chosen and the snapshot
//! transfer (SnapshotChunk, SnapshotPull), and ballots written
//! `round.node`, for timelines and diagrams. Heartbeats and their replies are routine.

use crate::describe::{starts_with_any, Describe, LogEntry, Narration, Vocabulary};
use crate::paxos::{Ballot, Paxos, PaxosMessage, SlotValue};
use crate::Command;

fn slot_range(slots: &[u64]) -> String {
    match slots {
        [] => "no slots".into(),
        [one] => format!("slot {one}"),
        [first, .., last] => format!("slots {first}..={last}"),
    }
}

fn slot_values(slots: &[(u64, SlotValue)], command: &dyn Fn(&Command) -> String) -> String {
    match slots {
        [] => "no slots".into(),
        [(slot, Some(c))] => format!("slot {slot} {}", command(c)),
        [(slot, None)] => format!("slot {slot} no-op"),
        [(first, _), .., (last, _)] => format!("slots {first}..={last}"),
    }
}

impl Describe for Paxos {
    fn vocabulary() -> Vocabulary {
        Vocabulary {
            protocol: "paxos",
            generation: <Self as crate::Protocol>::GENERATION,
            show_term: <Self as crate::Protocol>::show_generation,
            show_entries: |first, last, ballot| {
                let slots = if first == last {
                    first.to_string()
                } else {
                    format!("{first}..{last}")
                };
                if ballot == 0 {
                    slots
                } else {
                    format!("{slots}@{}", Ballot::from_u64(ballot))
                }
            },
            log_legend: "6@2.4 = slot 6 accepted at ballot 2.4 (round 2, node 4); a chosen slot whose ballot is no longer kept shows its number only",
        }
    }

    fn vote(&self) -> Option<String> {
        let promised = self.acceptor.promised();
        (promised != Ballot::ZERO).then(|| format!("promised {promised}"))
    }

    fn log_view(&self) -> Vec<LogEntry> {
        let commit = self.learner.commit();
        let last = commit
            .max(self.acceptor.last_slot())
            .max(self.learner.last_known());
        (self.learner.start() + 1..=last)
            .filter_map(|slot| {
                let chosen = slot <= commit || self.learner.chosen(slot).is_some();
                let ballot = self.acceptor.slot(slot).map(|(b, _)| b.as_u64());
                (chosen || ballot.is_some()).then(|| LogEntry {
                    index: slot,
                    generation: ballot.unwrap_or(0),
                    committed: chosen,
                })
            })
            .collect()
    }

    fn describe(msg: &PaxosMessage, command: &dyn Fn(&Command) -> String) -> String {
        match msg {
            PaxosMessage::Prepare {
                ballot,
                era_from,
                slot_from,
            } => format!("Prepare {ballot} (eras from {era_from}, slots from {slot_from})"),
            PaxosMessage::Promise {
                ballot,
                chosen_era,
                eras,
                chosen,
                accepted,
            } => {
                let mut parts = Vec::new();
                if let Some((era, v)) = chosen_era {
                    parts.push(format!("era {era} chosen = node {}", v.leader));
                }
                if let Some(e) = eras.last() {
                    parts.push(format!(
                        "accepted era {} = node {} at {}",
                        e.era, e.value.leader, e.ballot
                    ));
                }
                if !chosen.is_empty() {
                    parts.push(format!("{} chosen slot(s)", chosen.len()));
                }
                if !accepted.is_empty() {
                    parts.push(format!("{} accepted slot(s)", accepted.len()));
                }
                if parts.is_empty() {
                    format!("Promise {ballot}: nothing accepted")
                } else {
                    format!("Promise {ballot}: {}", parts.join(", "))
                }
            }
            PaxosMessage::Accept {
                ballot,
                era,
                slots,
                commit,
            } => {
                let mut parts = Vec::new();
                if let Some((e, v)) = era {
                    parts.push(format!("era {e} = node {}", v.leader));
                }
                if !slots.is_empty() {
                    parts.push(slot_values(slots, command));
                }
                format!("Accept {ballot}: {}; commit {commit}", parts.join(", "))
            }
            PaxosMessage::Accepted { ballot, era, slots } => {
                let mut parts = Vec::new();
                if let Some(e) = era {
                    parts.push(format!("era {e}"));
                }
                if !slots.is_empty() {
                    parts.push(slot_range(slots));
                }
                format!("Accepted {ballot}: {}", parts.join(", "))
            }
            PaxosMessage::Nack { ballot, higher } => {
                format!("Nack {ballot}: pre-empted by {higher}")
            }
            PaxosMessage::Heartbeat {
                ballot,
                era,
                commit,
            } => format!("Heartbeat {ballot} era {era}, commit {commit}"),
            PaxosMessage::HeartbeatReply { ballot } => format!("HeartbeatReply {ballot}"),
            PaxosMessage::TakeOver { ballot, commit } => {
                format!("TakeOver from {ballot}: run Phase 1 once you hold slots ..={commit}")
            }
            PaxosMessage::LeaseProbe { ballot, round } => {
                format!("LeaseProbe {ballot} round {round}")
            }
            PaxosMessage::LeaseProbeAck { ballot, round } => {
                format!("LeaseProbe ok {ballot} round {round}")
            }
            PaxosMessage::CatchUp { from } => format!("CatchUp from slot {from}"),
            PaxosMessage::Chosen {
                commit,
                from,
                values,
            } => match values.len() as u64 {
                0 => format!("Chosen nothing new (commit {commit})"),
                n => match from.checked_add(n - 1) {
                    Some(last) => format!("Chosen slots {from}..={last} (commit {commit})"),
                    // Past the last slot: no honest node sends it (receivers ignore it).
                    None => format!("Chosen {n} slot(s) from {from} (commit {commit})"),
                },
            },
            PaxosMessage::SnapshotChunk {
                index,
                offset,
                data,
                done,
                ..
            } => match (data.len(), done) {
                (0, false) if *offset == 0 => {
                    format!("SnapshotChunk offer: my snapshot through slot {index}")
                }
                (n, true) => format!(
                    "SnapshotChunk through slot {index}: last {n} byte(s) from offset {offset}"
                ),
                (n, false) => {
                    format!("SnapshotChunk through slot {index}: {n} byte(s) from offset {offset}")
                }
            },
            PaxosMessage::SnapshotPull { index, offset } => {
                format!("SnapshotPull snapshot through slot {index} from byte {offset}")
            }
        }
    }

    /// Multi-Paxos Phase 2 for client slots ("Paxos Made Simple" §3): the leader's
    /// `chooses slot ...` is the fate of a write; each acceptor's `accept Accept(..):
    /// slots ...` and each learner's `learn: slots ...` repeat for every write. Phase 1,
    /// the leadership eras (`accept Accept(..): era ...`, `learn: era ...`), duels and
    /// refusals are decisions.
    fn narration(text: &str) -> Narration {
        let accept_of_slots = text.starts_with("accept Accept(")
            && (text.contains(": slots ") || text.contains(": nothing new"));
        if starts_with_any(text, &["chooses slot"]) {
            Narration::Commit
        } else if accept_of_slots || starts_with_any(text, &["learn: slots"]) {
            Narration::Routine
        } else {
            Narration::Decision
        }
    }

    fn arrow_label(msg: &PaxosMessage) -> Option<String> {
        Some(match msg {
            PaxosMessage::Prepare { ballot, .. } => format!("Prepare {ballot}"),
            PaxosMessage::Promise { ballot, .. } => format!("Promise {ballot} ✓"),
            PaxosMessage::Nack { ballot, .. } => format!("Nack {ballot} ✗"),
            _ => return None,
        })
    }

    fn routine(msg: &PaxosMessage) -> bool {
        matches!(
            msg,
            PaxosMessage::Heartbeat { .. }
                | PaxosMessage::HeartbeatReply { .. }
                | PaxosMessage::LeaseProbe { .. }
                | PaxosMessage::LeaseProbeAck { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestId;

    #[test]
    fn phase_two_of_client_slots_is_routine_and_eras_are_decisions() {
        assert_eq!(
            Paxos::narration("chooses slot 1: accepted at 1.1 by 2, 3"),
            Narration::Commit
        );
        assert_eq!(
            Paxos::narration("chooses slots 2..=4: accepted at 1.1 by 1, 3"),
            Narration::Commit
        );
        for routine in [
            "accept Accept(1.1) from 1: slots 1..=1; no higher promise",
            "accept Accept(1.1) from 1: nothing new (already chosen)",
            "learn: slots 1..=1 chosen (accepted at 1.1, leader's commit point 1)",
            "learn: slots 3..=5 chosen (told by 2)",
        ] {
            assert_eq!(Paxos::narration(routine), Narration::Routine, "{routine}");
        }
        for decision in [
            "accept Accept(1.1) from 1: era 1 and 0 slot(s); no higher promise",
            "learn: era 1 is led by 1 from ballot 1.1 (its heartbeat)",
            "promise Prepare(1.1) to 1: no higher promise; nothing accepted since slot 1",
            "reject Accept(1.1) from 1: promised 2.3",
            "elected: a quorum accepted \"1 leads from 1.1\" for era 1",
        ] {
            assert_eq!(
                Paxos::narration(decision),
                Narration::Decision,
                "{decision}"
            );
        }
    }

    #[test]
    fn terms_print_as_ballots_and_commands_as_the_caller_renders_them() {
        let b = Ballot::new(3, 2);
        assert_eq!((Paxos::vocabulary().show_term)(b.as_u64()), "3.2");
        assert_eq!(Ballot::from_u64(b.as_u64()), b);
        let put = Command {
            id: RequestId { origin: 1, seq: 1 },
            data: "x=1".into(),
        };
        let accept = PaxosMessage::Accept {
            ballot: b,
            era: None,
            slots: vec![(7, Some(put))],
            commit: 6,
        };
        let text = |c: &Command| String::from_utf8_lossy(&c.data).into_owned();
        assert_eq!(
            Paxos::describe(&accept, &text),
            "Accept 3.2: slot 7 x=1; commit 6"
        );
        let offer = PaxosMessage::SnapshotChunk {
            index: 40,
            term: 0,
            offset: 0,
            data: bytes::Bytes::new(),
            done: false,
        };
        assert_eq!(
            Paxos::describe(&offer, &text),
            "SnapshotChunk offer: my snapshot through slot 40"
        );
        let last = PaxosMessage::SnapshotChunk {
            index: 40,
            term: 0,
            offset: 1024,
            data: bytes::Bytes::from_static(b"abc"),
            done: true,
        };
        assert_eq!(
            Paxos::describe(&last, &text),
            "SnapshotChunk through slot 40: last 3 byte(s) from offset 1024"
        );
        let pull = PaxosMessage::SnapshotPull {
            index: 40,
            offset: 1027,
        };
        assert_eq!(
            Paxos::describe(&pull, &text),
            "SnapshotPull snapshot through slot 40 from byte 1027"
        );
        let reply = PaxosMessage::HeartbeatReply { ballot: b };
        assert_eq!(Paxos::describe(&reply, &text), "HeartbeatReply 3.2");
        assert!(Paxos::routine(&reply));
    }
}
