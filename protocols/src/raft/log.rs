//! The replicated log and its two rules from the Raft paper (Ongaro & Ousterhout,
//! "In Search of an Understandable Consensus Algorithm", USENIX ATC 2014):
//! the Log Matching property (§5.3: same index and term implies same entry and same
//! prefix) that AppendEntries' consistency check maintains, and the "at least as up to
//! date" comparison used when granting votes (§5.4.1).
//!
//! Indexes start at 1; index 0 is the empty prefix with term 0.

use super::Term;
use crate::types::Command;
use serde::{Deserialize, Serialize};

/// One log entry. Its index is its position; `command` is `None` for the no-op a new
/// leader appends at the start of its term (§8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The client command, or `None` for a leader's no-op.
    pub command: Option<Command>,
}

/// Outcome of trying to append a leader's entries after `prev_index`.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The consistency check failed: we lack `prev_index` or hold another term there.
    /// `hint` is the index the leader should try next.
    Mismatch { hint: u64 },
    /// The entries are in the log. `dropped` lists the conflicting suffix that had to
    /// be deleted first (§5.3), as `(index, term)`; `new_from` is the first index
    /// actually written (None when every entry was already present).
    Appended {
        /// Index of the last entry the leader's message covers.
        last_index: u64,
        /// First index written by this append, if any.
        new_from: Option<u64>,
        /// The entries deleted because they conflicted, `(index, term)`, in order.
        dropped: Vec<(u64, Term)>,
    },
}

/// The in-memory log; durability is the caller's job (it persists what changed).
#[derive(Clone, Debug, Default)]
pub struct RaftLog {
    entries: Vec<Entry>,
}

impl RaftLog {
    /// An empty log.
    pub fn new() -> RaftLog {
        RaftLog::default()
    }

    /// Index of the last entry (0 when empty).
    pub fn last_index(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Term of the last entry (0 when empty).
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(0, |e| e.term)
    }

    /// Term of the entry at `index`; 0 for index 0; None past the end.
    pub fn term_at(&self, index: u64) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.entries.get(index as usize - 1).map(|e| e.term)
    }

    /// The entry at `index`, if present.
    pub fn get(&self, index: u64) -> Option<&Entry> {
        index
            .checked_sub(1)
            .and_then(|i| self.entries.get(i as usize))
    }

    /// Up to `max` entries starting at `from` (fewer at the end of the log).
    pub fn slice(&self, from: u64, max: usize) -> &[Entry] {
        let start = (from.max(1) - 1) as usize;
        if start >= self.entries.len() {
            return &[];
        }
        let end = self.entries.len().min(start + max);
        &self.entries[start..end]
    }

    /// Appends one entry at the end, returning its index.
    pub fn push(&mut self, entry: Entry) -> u64 {
        self.entries.push(entry);
        self.last_index()
    }

    /// Drops every entry at `from` and after.
    pub fn truncate_from(&mut self, from: u64) {
        self.entries.truncate(from.max(1) as usize - 1);
    }

    /// §5.4.1: a candidate's log is at least as up to date as ours if its last term is
    /// higher, or the terms are equal and its log is at least as long.
    pub fn candidate_is_up_to_date(&self, last_term: Term, last_index: u64) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// AppendEntries receiver rules 2-4 (Figure 2): check that we hold `prev_index` with
    /// `prev_term`; delete an existing entry that conflicts with a new one (same index,
    /// different term) and everything after it; append the entries not already present.
    /// Entries already present with the same term are kept, so a stale or duplicated
    /// message never truncates entries a later message appended.
    pub fn append_after(
        &mut self,
        prev_index: u64,
        prev_term: Term,
        entries: &[Entry],
    ) -> AppendOutcome {
        match self.term_at(prev_index) {
            None => {
                return AppendOutcome::Mismatch {
                    hint: self.last_index() + 1,
                };
            }
            Some(t) if t != prev_term => {
                // Skip back over the whole conflicting term in one round trip (the
                // optimization sketched at the end of §5.3).
                let mut hint = prev_index;
                while hint > 1 && self.term_at(hint - 1) == Some(t) {
                    hint -= 1;
                }
                return AppendOutcome::Mismatch { hint: hint.max(1) };
            }
            Some(_) => {}
        }
        let mut new_from = None;
        let mut dropped = Vec::new();
        for (offset, entry) in entries.iter().enumerate() {
            let index = prev_index + 1 + offset as u64;
            match self.term_at(index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    dropped = self
                        .slice(index, self.entries.len())
                        .iter()
                        .zip(index..)
                        .map(|(e, i)| (i, e.term))
                        .collect();
                    self.truncate_from(index);
                }
                None => {}
            }
            new_from = Some(index);
            self.entries.extend_from_slice(&entries[offset..]);
            break;
        }
        AppendOutcome::Appended {
            last_index: prev_index + entries.len() as u64,
            new_from,
            dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(terms: &[Term]) -> RaftLog {
        let mut log = RaftLog::new();
        for &t in terms {
            log.push(Entry {
                term: t,
                command: None,
            });
        }
        log
    }

    fn entries(terms: &[Term]) -> Vec<Entry> {
        terms
            .iter()
            .map(|&t| Entry {
                term: t,
                command: None,
            })
            .collect()
    }

    fn terms(log: &RaftLog) -> Vec<Term> {
        (1..=log.last_index())
            .map(|i| log.term_at(i).unwrap_or(0))
            .collect()
    }

    #[test]
    fn up_to_date_compares_last_term_then_length() {
        // §5.4.1, last paragraph.
        let log = log_of(&[1, 1, 2]);
        assert!(
            log.candidate_is_up_to_date(3, 1),
            "higher last term wins even if shorter"
        );
        assert!(log.candidate_is_up_to_date(2, 3), "same term, same length");
        assert!(log.candidate_is_up_to_date(2, 4), "same term, longer");
        assert!(!log.candidate_is_up_to_date(2, 2), "same term, shorter");
        assert!(
            !log.candidate_is_up_to_date(1, 9),
            "lower last term loses even if longer"
        );
    }

    #[test]
    fn consistency_check_rejects_missing_prev() {
        let mut log = log_of(&[1, 1]);
        assert_eq!(
            log.append_after(5, 1, &entries(&[1])),
            AppendOutcome::Mismatch { hint: 3 }
        );
        assert_eq!(terms(&log), vec![1, 1]);
    }

    #[test]
    fn consistency_check_rejects_wrong_prev_term_and_skips_the_term() {
        let mut log = log_of(&[1, 2, 2, 2]);
        assert_eq!(
            log.append_after(4, 3, &entries(&[3])),
            AppendOutcome::Mismatch { hint: 2 }
        );
    }

    #[test]
    fn conflicting_suffix_is_truncated_then_replaced() {
        // Figure 7-like: follower has extra entries from an old term.
        let mut log = log_of(&[1, 1, 2, 2, 2]);
        let out = log.append_after(2, 1, &entries(&[3, 3]));
        assert_eq!(
            out,
            AppendOutcome::Appended {
                last_index: 4,
                new_from: Some(3),
                dropped: vec![(3, 2), (4, 2), (5, 2)],
            }
        );
        assert_eq!(terms(&log), vec![1, 1, 3, 3]);
    }

    #[test]
    fn stale_shorter_append_never_truncates_matching_entries() {
        let mut log = log_of(&[1, 1, 1, 1]);
        let out = log.append_after(1, 1, &entries(&[1]));
        assert_eq!(
            out,
            AppendOutcome::Appended {
                last_index: 2,
                new_from: None,
                dropped: vec![],
            }
        );
        assert_eq!(terms(&log), vec![1, 1, 1, 1]);
    }

    #[test]
    fn heartbeat_with_matching_prev_appends_nothing() {
        let mut log = log_of(&[1]);
        assert_eq!(
            log.append_after(1, 1, &[]),
            AppendOutcome::Appended {
                last_index: 1,
                new_from: None,
                dropped: vec![],
            }
        );
        assert_eq!(
            log.append_after(0, 0, &[]),
            AppendOutcome::Appended {
                last_index: 0,
                new_from: None,
                dropped: vec![],
            }
        );
    }

    #[test]
    fn slice_is_bounded() {
        let log = log_of(&[1, 2, 3]);
        assert_eq!(log.slice(2, 10).len(), 2);
        assert_eq!(log.slice(2, 1).len(), 1);
        assert!(log.slice(4, 10).is_empty());
    }
}
