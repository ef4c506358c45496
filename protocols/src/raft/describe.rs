//! Raft's messages as the paper names its RPCs (RequestVote, AppendEntries and their
//! responses; an AppendEntries without entries is a heartbeat; PreVote and its response
//! from thesis §9.6), for timelines and diagrams. Heartbeats and successful acknowledgements are routine.

use crate::describe::{starts_with_any, Describe, LogEntry, Narration, Vocabulary};
use crate::raft::{Raft, RaftMessage};
use crate::Command;

impl Describe for Raft {
    fn vocabulary() -> Vocabulary {
        Vocabulary {
            protocol: "raft",
            generation: <Self as crate::Protocol>::GENERATION,
            show_term: <Self as crate::Protocol>::show_generation,
            show_entries: |first, last, term| {
                if first == last {
                    format!("{first}@{term}")
                } else {
                    format!("{first}..{last}@{term}")
                }
            },
            log_legend: "4@1 = index 4 written in term 1, 2..5@1 = indexes 2 to 5 of term 1",
        }
    }

    fn vote(&self) -> Option<String> {
        self.voted_for.map(|id| format!("voted for {id}"))
    }

    fn log_view(&self) -> Vec<LogEntry> {
        (self.log.start() + 1..=self.log.last_index())
            .filter_map(|index| {
                self.log.term_at(index).map(|generation| LogEntry {
                    index,
                    generation,
                    committed: index <= self.commit_index,
                })
            })
            .collect()
    }

    fn describe(msg: &RaftMessage, command: &dyn Fn(&Command) -> String) -> String {
        match msg {
            RaftMessage::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => format!("RequestVote term {term}, last entry {last_log_index}@{last_log_term}"),
            RaftMessage::TransferVote {
                term,
                last_log_index,
                last_log_term,
            } => format!(
                "RequestVote term {term}, last entry {last_log_index}@{last_log_term} (leadership transfer)"
            ),
            RaftMessage::TimeoutNow { term } => format!("TimeoutNow term {term}: campaign now"),
            RaftMessage::RequestVoteResponse { term, granted } => {
                if *granted {
                    format!("vote GRANTED (term {term})")
                } else {
                    format!("vote refused (term {term})")
                }
            }
            RaftMessage::PreVote {
                term,
                last_log_index,
                last_log_term,
            } => format!("PreVote term {term}, last entry {last_log_index}@{last_log_term}"),
            RaftMessage::PreVoteResponse { term, granted } => {
                if *granted {
                    format!("pre-vote GRANTED (term {term})")
                } else {
                    format!("pre-vote refused (term {term})")
                }
            }
            RaftMessage::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => {
                // Display only: a forged index near the maximum must not overflow here.
                let first = prev_log_index.saturating_add(1);
                let what = match entries.as_slice() {
                    [] => return format!("Heartbeat term {term}, commit {leader_commit}"),
                    [one] => match &one.command {
                        Some(c) => format!("entry {first} {}", command(c)),
                        None => format!("entry {first} no-op"),
                    },
                    many => format!(
                        "entries {}..={}",
                        first,
                        prev_log_index.saturating_add(many.len() as u64)
                    ),
                };
                format!(
                    "AppendEntries term {term} after {prev_log_index}@{prev_log_term}: {what}, commit {leader_commit}"
                )
            }
            RaftMessage::AppendEntriesResponse {
                term,
                success,
                index,
                ..
            } => {
                if *success {
                    format!("AppendEntries ok (term {term}), match {index}")
                } else {
                    format!("AppendEntries rejected (term {term}), retry from {index}")
                }
            }
            RaftMessage::ReadProbe { term, round } => {
                format!("ReadProbe term {term}, round {round}")
            }
            RaftMessage::ReadProbeAck { term, round } => {
                format!("ReadProbe ok (term {term}), round {round}")
            }
            RaftMessage::InstallSnapshot {
                term,
                last_index,
                last_term,
                size,
                offset,
                data,
                done,
            } => format!(
                "InstallSnapshot term {term}: snapshot through {last_index}@{last_term}, bytes {offset}..{} of {size}{}",
                offset.saturating_add(data.len() as u64),
                if *done { " (last)" } else { "" }
            ),
            RaftMessage::InstallSnapshotResponse {
                term,
                last_index: 0,
                ..
            } => format!("InstallSnapshot refused (term {term})"),
            RaftMessage::InstallSnapshotResponse {
                term,
                last_index,
                done: true,
                ..
            } => format!("InstallSnapshot ok (term {term}), match {last_index}"),
            RaftMessage::InstallSnapshotResponse {
                term,
                last_index,
                next_offset,
                ..
            } => format!(
                "InstallSnapshot (term {term}): holds {next_offset} bytes of the snapshot through {last_index}"
            ),
            RaftMessage::TransferLeader { term, to } => {
                format!("TransferLeader to {to} (term {term}): a request sent on to the leader")
            }
        }
    }

    /// The leader's commit points (`commits index 4: stored on 1, 3`, §5.3-§5.4.2) are
    /// the fate of writes; Raft narrates no other per-write step (AppendEntries and its
    /// acknowledgements are messages, not narration), so everything else is a decision.
    fn narration(text: &str) -> Narration {
        if starts_with_any(text, &["commits index"]) {
            Narration::Commit
        } else {
            Narration::Decision
        }
    }

    fn arrow_label(msg: &RaftMessage) -> Option<String> {
        let mark = |ok: bool| if ok { "✓" } else { "✗" };
        Some(match msg {
            RaftMessage::RequestVoteResponse { granted, .. } => format!("vote {}", mark(*granted)),
            RaftMessage::PreVoteResponse { granted, .. } => format!("pre-vote {}", mark(*granted)),
            RaftMessage::RequestVote { term, .. } => format!("RequestVote t{term}"),
            RaftMessage::PreVote { term, .. } => format!("PreVote t{term}"),
            RaftMessage::AppendEntriesResponse { success, .. } => {
                format!("AppendEntries {}", mark(*success))
            }
            _ => return None,
        })
    }

    fn routine(msg: &RaftMessage) -> bool {
        match msg {
            RaftMessage::AppendEntries { entries, .. } => entries.is_empty(),
            RaftMessage::AppendEntriesResponse { success, .. } => *success,
            RaftMessage::ReadProbe { .. } | RaftMessage::ReadProbeAck { .. } => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_vote_is_labelled_apart_from_a_granted_one() {
        let answer = |granted| RaftMessage::RequestVoteResponse { term: 2, granted };
        assert_eq!(Raft::arrow_label(&answer(true)).as_deref(), Some("vote ✓"));
        assert_eq!(Raft::arrow_label(&answer(false)).as_deref(), Some("vote ✗"));
        let pre = RaftMessage::PreVoteResponse {
            term: 2,
            granted: false,
        };
        assert_eq!(Raft::arrow_label(&pre).as_deref(), Some("pre-vote ✗"));
    }

    #[test]
    fn commit_points_are_marked_and_truncations_and_votes_are_decisions() {
        assert_eq!(
            Raft::narration("commits index 2: stored on 5, 4, 3"),
            Narration::Commit
        );
        assert_eq!(
            Raft::narration("commits indexes 2..=4: 4 is stored on 1, 3"),
            Narration::Commit
        );
        for decision in [
            "drops entry 3 (term 1): conflicts with leader 2's entry 3 (term 2)",
            "vote for 1 in term 1: its log (term 0, index 0) is at least as up to date as ours (term 0, index 0)",
            "follows leader 1 in term 1",
            "reject AppendEntries after 5: no entry of term 1 there",
        ] {
            assert_eq!(Raft::narration(decision), Narration::Decision, "{decision}");
        }
    }

    #[test]
    fn heartbeats_are_routine_and_votes_name_the_last_entry() {
        let hb = RaftMessage::AppendEntries {
            term: 2,
            prev_log_index: 4,
            prev_log_term: 2,
            entries: Vec::new(),
            leader_commit: 4,
        };
        let text = |_: &Command| String::new();
        assert_eq!(Raft::describe(&hb, &text), "Heartbeat term 2, commit 4");
        assert!(Raft::routine(&hb));
        let rv = RaftMessage::RequestVote {
            term: 2,
            last_log_index: 9,
            last_log_term: 1,
        };
        assert_eq!(
            Raft::describe(&rv, &text),
            "RequestVote term 2, last entry 9@1"
        );
        assert!(!Raft::routine(&rv));
        let pv = RaftMessage::PreVote {
            term: 3,
            last_log_index: 9,
            last_log_term: 1,
        };
        assert_eq!(Raft::describe(&pv, &text), "PreVote term 3, last entry 9@1");
        assert!(!Raft::routine(&pv));
        let granted = RaftMessage::PreVoteResponse {
            term: 3,
            granted: true,
        };
        assert_eq!(Raft::describe(&granted, &text), "pre-vote GRANTED (term 3)");
    }
}
