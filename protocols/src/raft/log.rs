//! The replicated log and its two rules from the Raft paper (Ongaro & Ousterhout,
//! "In Search of an Understandable Consensus Algorithm", USENIX ATC 2014):
//! the Log Matching property (§5.3: same index and term implies same entry and same
//! prefix) that AppendEntries' consistency check maintains, and the "at least as up to
//! date" comparison used when granting votes (§5.4.1).
//!
//! Indexes start at 1; index 0 is the empty prefix with term 0. After log compaction
//! (§7) the log starts after `start`, the last index a snapshot includes, whose term it
//! still knows (`start_term`): the consistency check at `start` works as at index 0.

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
    /// The last index compacted away (0: none): `entries[0]` is index `start + 1`.
    start: u64,
    /// The term of the entry at `start` (0 when `start` is 0).
    start_term: Term,
    entries: Vec<Entry>,
}

impl RaftLog {
    /// An empty log.
    pub fn new() -> RaftLog {
        RaftLog::default()
    }

    /// A log whose entries up to `start` (of term `start_term`) were compacted into a
    /// snapshot, holding nothing after it yet.
    pub fn starting_after(start: u64, start_term: Term) -> RaftLog {
        RaftLog {
            start,
            start_term,
            entries: Vec::new(),
        }
    }

    /// The last index compacted into a snapshot (0: none); the log holds the entries
    /// after it.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The term of the entry at [`RaftLog::start`].
    pub fn start_term(&self) -> Term {
        self.start_term
    }

    /// Index of the last entry (`start` when empty).
    pub fn last_index(&self) -> u64 {
        self.start + self.entries.len() as u64
    }

    /// Term of the last entry (`start_term` when empty).
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.start_term, |e| e.term)
    }

    /// Position of `index` in `entries`, if it is after `start`.
    fn position(&self, index: u64) -> Option<usize> {
        index
            .checked_sub(self.start + 1)
            .and_then(|i| usize::try_from(i).ok())
    }

    /// Term of the entry at `index`; `start_term` at `start` (0 for index 0); None past
    /// the end and before `start` (compacted away).
    pub fn term_at(&self, index: u64) -> Option<Term> {
        if index == self.start {
            return Some(self.start_term);
        }
        self.entries.get(self.position(index)?).map(|e| e.term)
    }

    /// The entry at `index`, if present (not compacted and not past the end).
    pub fn get(&self, index: u64) -> Option<&Entry> {
        self.entries.get(self.position(index)?)
    }

    /// Up to `max` entries starting at `from` (fewer at the end of the log; none of
    /// those compacted away, so `from` at or before `start` starts after it).
    pub fn slice(&self, from: u64, max: usize) -> &[Entry] {
        let start = self.position(from.max(self.start + 1)).unwrap_or(0);
        if start >= self.entries.len() {
            return &[];
        }
        let end = self.entries.len().min(start.saturating_add(max));
        &self.entries[start..end]
    }

    /// Appends one entry at the end, returning its index.
    pub fn push(&mut self, entry: Entry) -> u64 {
        self.entries.push(entry);
        self.last_index()
    }

    /// Drops every entry at `from` and after (never the compacted prefix).
    pub fn truncate_from(&mut self, from: u64) {
        let keep = self.position(from.max(self.start + 1)).unwrap_or(0);
        self.entries.truncate(keep);
    }

    /// Log compaction (§7): drops every entry up to `index`, which becomes the new
    /// start, keeping its term. An `index` at or before the start changes nothing; one
    /// past the end empties the log (it then starts at `index` with `term`).
    pub fn compact_to(&mut self, index: u64, term: Term) {
        if index <= self.start {
            return;
        }
        match self.position(index) {
            Some(i) if i < self.entries.len() => {
                self.start_term = self.entries[i].term;
                self.entries.drain(..=i);
            }
            _ => {
                self.entries.clear();
                self.start_term = term;
            }
        }
        self.start = index;
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
        if prev_index < self.start {
            // The leader resends entries we compacted: they are committed, so they match
            // ours (Log Matching); keep only those after our start (etcd answers such a
            // message the same way, from its committed index).
            let skip = self.start - prev_index;
            let Some(rest) = usize::try_from(skip).ok().and_then(|s| entries.get(s..)) else {
                return AppendOutcome::Appended {
                    last_index: prev_index + entries.len() as u64,
                    new_from: None,
                    dropped: Vec::new(),
                };
            };
            let (start, start_term) = (self.start, self.start_term);
            return self.append_after(start, start_term, rest);
        }
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
                while hint > self.start + 1 && self.term_at(hint - 1) == Some(t) {
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
                        .slice(index, usize::MAX)
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
    fn compacted_log_keeps_its_start_term_and_indexes() {
        let mut log = log_of(&[1, 1, 2, 2, 3]);
        log.compact_to(3, 0);
        assert_eq!((log.start(), log.start_term()), (3, 2));
        assert_eq!((log.last_index(), log.last_term()), (5, 3));
        assert_eq!(log.term_at(3), Some(2), "the start's term is kept");
        assert_eq!(log.term_at(2), None, "compacted away");
        assert!(log.get(3).is_none());
        assert_eq!(log.get(4).map(|e| e.term), Some(2));
        assert_eq!(log.slice(1, 10).len(), 2, "a slice starts after the start");
        assert_eq!(terms_from(&log, 4), vec![2, 3]);
        // Compacting past the end empties the log and takes the snapshot's term.
        log.compact_to(9, 4);
        assert_eq!((log.start(), log.last_index(), log.last_term()), (9, 9, 4));
        // Going back changes nothing.
        log.compact_to(2, 1);
        assert_eq!(log.start(), 9);
    }

    #[test]
    fn consistency_check_at_the_start_and_before_it() {
        let mut log = log_of(&[1, 1, 2]);
        log.compact_to(2, 0);
        // At the start: checked against the kept term.
        assert_eq!(
            log.append_after(2, 1, &entries(&[2, 3])),
            AppendOutcome::Appended {
                last_index: 4,
                new_from: Some(4),
                dropped: vec![],
            }
        );
        assert_eq!(
            log.append_after(2, 5, &[]),
            AppendOutcome::Mismatch { hint: 2 }
        );
        // Before the start: compacted entries are committed and skipped.
        assert_eq!(
            log.append_after(0, 0, &entries(&[1, 1, 2, 3, 3])),
            AppendOutcome::Appended {
                last_index: 5,
                new_from: Some(5),
                dropped: vec![],
            }
        );
        assert_eq!(terms_from(&log, 3), vec![2, 3, 3]);
        // A message wholly inside the compacted prefix is acknowledged as is.
        assert_eq!(
            log.append_after(0, 0, &entries(&[1])),
            AppendOutcome::Appended {
                last_index: 1,
                new_from: None,
                dropped: vec![],
            }
        );
        log.truncate_from(1);
        assert_eq!(
            log.last_index(),
            2,
            "truncation never reaches the compacted prefix"
        );
    }

    fn terms_from(log: &RaftLog, from: u64) -> Vec<Term> {
        (from..=log.last_index())
            .map(|i| log.term_at(i).unwrap_or(0))
            .collect()
    }

    #[test]
    fn slice_is_bounded() {
        let log = log_of(&[1, 2, 3]);
        assert_eq!(log.slice(2, 10).len(), 2);
        assert_eq!(log.slice(2, 1).len(), 1);
        assert!(log.slice(4, 10).is_empty());
    }
}
