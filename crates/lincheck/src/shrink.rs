//! Shrinking a non-linearizable key's sub-history to a few operations that show the
//! violation, without inventing one.
//!
//! Linearizability is not closed under removing operations: dropping a write can leave
//! a read unexplained that the write explained. So operations are not simply removed.
//! A read (a get, or a cas that changed nothing) only constrains, and dropping it is
//! safe. A write taken out of the shown set stays in the search, weakened: it may have
//! taken effect within its real interval, or not at all (one whose outcome was unknown
//! already may take effect at any point after its invocation, or never). The shown
//! operations are thus a violation *whatever* the hidden writes did, and a violation of
//! the real history too: every trial admits all the linearizations the history does.
//! Hidden writes invoked after the last shown completion cannot matter and are left out
//! of the trials.
//!
//! Removal goes by whole chunks first, halving their size (as delta debugging does),
//! then by single operations until none can go. Afterwards, a hidden write that is the
//! source of a value a shown read returns is shown again, so that the words say where
//! the value came from.

use super::history::{Completion, Input, Operation, Output};
use super::search::{search, Budget, Duty, KeyVerdict};
use std::time::Duration;

/// Steps one trial search may take: a candidate that needs more is treated as not
/// showing the violation (its operations stay shown).
const STEPS_PER_TRIAL: u64 = 200_000;

/// A shrunk violation.
pub(crate) struct Shrunk {
    /// The operations to show (indices into the sub-history), in time order.
    pub(crate) shown: Vec<usize>,
    /// How many writes are hidden (the violation stands whatever they did).
    pub(crate) hidden_writes: usize,
    /// The shown operation whose answer nothing explains, if one alone is to blame.
    pub(crate) culprit: Option<usize>,
    /// Whether the shrunk operations are known to be 1-minimal: in the last pass, taking
    /// out any one of them was tried and made the trial linearizable. (Writes shown
    /// again as the sources of values read come on top.)
    pub(crate) minimal: bool,
}

/// The value a completed operation shows the key held: a get's answer, or the `from` of
/// a cas that swapped.
fn observed(op: &Operation) -> Option<&str> {
    match (&op.input, &op.outcome) {
        (Input::Get, Completion::Ok(Output::Value(v))) => Some(v),
        (Input::Cas { from, .. }, Completion::Ok(Output::Cas(true))) => Some(from),
        _ => None,
    }
}

/// `op` as a write that may or may not have happened (within its interval, if its
/// outcome was known), with that duty; `None` if it changes nothing (a get, a cas that
/// found another value).
fn weakened(op: &Operation) -> Option<(Operation, Duty)> {
    match (&op.input, &op.outcome) {
        (Input::Get, _) | (Input::Cas { .. }, Completion::Ok(Output::Cas(false))) => None,
        (_, Completion::Ok(_)) => Some((
            Operation {
                outcome: Completion::Unknown,
                ..op.clone()
            },
            Duty::MayUntilCompleted,
        )),
        _ => Some((
            Operation {
                completed: None,
                ..op.clone()
            },
            Duty::May,
        )),
    }
}

/// Can `value` be spelled as one of `bases` followed by any number of `pieces`?
fn spelled(value: &str, bases: &[&str], pieces: &[&str]) -> bool {
    let mut reach = vec![false; value.len() + 1];
    for base in bases {
        if let Some(slot) = value
            .starts_with(base)
            .then(|| reach.get_mut(base.len()))
            .flatten()
        {
            *slot = true;
        }
    }
    for at in 0..value.len() {
        if !reach.get(at).copied().unwrap_or(false) {
            continue;
        }
        for piece in pieces.iter().filter(|p| !p.is_empty()) {
            if value.get(at..).is_some_and(|rest| rest.starts_with(piece)) {
                if let Some(slot) = reach.get_mut(at + piece.len()) {
                    *slot = true;
                }
            }
        }
    }
    reach.last().copied().unwrap_or(false)
}

/// The value a write sets as a whole (a put, or a cas that swapped or may have), if it
/// does.
fn base_of(op: &Operation) -> Option<&str> {
    match (&op.input, &op.outcome) {
        (_, Completion::Failed) | (Input::Cas { .. }, Completion::Ok(Output::Cas(false))) => None,
        (Input::Put(v) | Input::Cas { to: v, .. }, _) => Some(v),
        _ => None,
    }
}

/// Could some order of `trial` give `read` its answer `value`? A necessary condition,
/// cheap to test: in any linearization the value read is the last whole write before
/// the read (or the initial `""`, if there is none) followed by appended pieces. That
/// write was invoked before the read completed, and it cannot have been overtaken by a
/// write known to be done before the read began (which rules the initial value out).
fn could_read(trial: &[&Operation], duties: &[Duty], read: &Operation, value: &str) -> bool {
    let (start, end) = (read.invoked, read.completed.unwrap_or(u64::MAX));
    let others = || {
        trial
            .iter()
            .zip(duties)
            .filter(move |(&op, _)| !std::ptr::eq(op, read) && op.invoked <= end)
    };
    // The latest invocation of a whole write surely done before the read began.
    let done_before = others()
        .filter(|(op, &duty)| duty == Duty::Must && base_of(op).is_some())
        .filter(|(op, _)| op.completed.is_some_and(|c| c < start))
        .map(|(op, _)| op.invoked)
        .max();
    let mut bases: Vec<&str> = Vec::new();
    if done_before.is_none() {
        bases.push("");
    }
    for (op, &duty) in others() {
        let latest = match duty {
            Duty::May => u64::MAX,
            _ => op.completed.unwrap_or(u64::MAX),
        };
        if let Some(v) = base_of(op).filter(|_| done_before.is_none_or(|d| latest >= d)) {
            bases.push(v);
        }
    }
    let pieces: Vec<&str> = others()
        .filter(|(op, _)| op.outcome != Completion::Failed)
        .filter_map(|(op, _)| match &op.input {
            Input::Append(v) => Some(v.as_str()),
            _ => None,
        })
        .collect();
    spelled(value, &bases, &pieces)
}

/// A read in `trial` (with a known answer) that no order can explain, found without a
/// search.
fn impossible_read(trial: &[&Operation], duties: &[Duty]) -> bool {
    trial.iter().zip(duties).any(|(&read, &duty)| {
        observed(read)
            .filter(|_| duty == Duty::Must)
            .is_some_and(|value| !could_read(trial, duties, read, value))
    })
}

/// Could `writer`'s write be where `read`, a value read, comes from (all of it, or its
/// last piece)?
fn source_of(writer: &Operation, read: &str) -> bool {
    match &writer.input {
        Input::Put(v) | Input::Cas { to: v, .. } => v == read,
        Input::Append(v) => !v.is_empty() && read.ends_with(v.as_str()),
        Input::Get => false,
    }
}

struct Shrinker<'a> {
    ops: &'a [&'a Operation],
    weak: Vec<Option<(Operation, Duty)>>,
    budget: Budget,
    /// Whether a trial gave up (ran out of steps) since this was last reset.
    gave_up: bool,
}

impl Shrinker<'_> {
    /// The hidden writes that could still matter: those invoked before the last shown
    /// completion.
    fn relevant(&self, shown: &[usize], hidden: &[usize]) -> Vec<usize> {
        let horizon = shown
            .iter()
            .filter_map(|&i| self.ops.get(i))
            .filter(|op| matches!(op.outcome, Completion::Ok(_)))
            .filter_map(|op| op.completed)
            .max()
            .unwrap_or(0);
        hidden
            .iter()
            .copied()
            .filter(|&i| self.ops.get(i).is_some_and(|op| op.invoked <= horizon))
            .collect()
    }

    /// The trial history: the shown operations as they are, then the hidden writes
    /// given, weakened.
    fn trial<'s>(&'s self, shown: &[usize], hidden: &[usize]) -> (Vec<&'s Operation>, Vec<Duty>) {
        let shown_ops = shown
            .iter()
            .filter_map(|&i| self.ops.get(i).map(|&op| (op, Duty::of(op))));
        let hidden_ops = hidden
            .iter()
            .filter_map(|&i| self.weak.get(i).and_then(Option::as_ref))
            .map(|(op, duty)| (op, *duty));
        shown_ops.chain(hidden_ops).unzip()
    }

    /// Is the trial still not linearizable? `None` if the trial could not tell.
    fn violates(&mut self, shown: &[usize], hidden: &[usize]) -> Option<bool> {
        let hidden = self.relevant(shown, hidden);
        let mut budget = self.budget.clone();
        let verdict = self.decide(shown, &hidden, &mut budget);
        self.budget = budget;
        if verdict.is_none() {
            self.gave_up = true;
        }
        verdict
    }

    /// [`Shrinker::violates`], spending from `budget`.
    fn decide(&self, shown: &[usize], hidden: &[usize], budget: &mut Budget) -> Option<bool> {
        let mut run = |ops: &[&Operation], duties: &[Duty]| {
            let mut trial_budget = budget.sub_budget(STEPS_PER_TRIAL);
            let out = search(ops, duties, &mut trial_budget);
            budget.charge(out.steps);
            out.verdict
        };
        let (trial, duties) = self.trial(shown, hidden);
        if impossible_read(&trial, &duties) {
            return Some(true);
        }
        // Two cheap ways to find a linearization first (the full search explores the
        // hidden writes' choices, which can take long): none of the hidden writes
        // happened; or they all happened, as they really did.
        let (bare, bare_duties) = self.trial(shown, &[]);
        if run(&bare, &bare_duties) == KeyVerdict::Linearizable {
            return Some(false);
        }
        let (real, real_duties): (Vec<&Operation>, Vec<Duty>) = shown
            .iter()
            .chain(hidden)
            .filter_map(|&i| self.ops.get(i).map(|&op| (op, Duty::of(op))))
            .unzip();
        if run(&real, &real_duties) == KeyVerdict::Linearizable {
            return Some(false);
        }
        match run(&trial, &duties) {
            KeyVerdict::NotLinearizable => Some(true),
            KeyVerdict::Linearizable => Some(false),
            KeyVerdict::Undecided(_) => None,
        }
    }

    /// Moves `shown[from..to]` out: writes to `hidden`, reads dropped.
    fn without(
        &self,
        shown: &[usize],
        hidden: &[usize],
        from: usize,
        to: usize,
    ) -> (Vec<usize>, Vec<usize>) {
        let mut next_hidden = hidden.to_vec();
        for &i in shown.iter().take(to).skip(from) {
            if self.weak.get(i).is_some_and(Option::is_some) {
                next_hidden.push(i);
            }
        }
        let next_shown = shown
            .iter()
            .take(from)
            .chain(shown.iter().skip(to))
            .copied()
            .collect();
        (next_shown, next_hidden)
    }
}

/// Shrinks `ops` (a non-linearizable sub-history of one key), within `time`.
pub(crate) fn shrink(ops: &[&Operation], time: Duration) -> Shrunk {
    let mut s = Shrinker {
        ops,
        weak: ops.iter().map(|op| weakened(op)).collect(),
        budget: Budget::new(Some(time), None),
        gave_up: false,
    };
    let mut shown: Vec<usize> = (0..ops.len()).collect();
    let mut hidden: Vec<usize> = Vec::new();
    let mut chunk = (shown.len() / 2).max(1);
    let mut again = true;
    let mut minimal = false;
    // Chunks of halving size, then single operations until nothing more goes.
    'passes: while chunk > 1 || again {
        again = false;
        s.gave_up = false;
        let mut start = 0;
        while start < shown.len() {
            if s.budget.out_of_time() {
                break 'passes;
            }
            let end = start.saturating_add(chunk).min(shown.len());
            let (next_shown, next_hidden) = s.without(&shown, &hidden, start, end);
            if s.violates(&next_shown, &next_hidden) == Some(true) {
                (shown, hidden) = (next_shown, next_hidden);
                again = true;
            } else {
                start = end;
            }
        }
        if chunk > 1 {
            chunk /= 2;
            again = true;
        } else if !again {
            minimal = !s.gave_up;
        }
    }
    // Show again the hidden write a shown read's value most likely comes from, if no
    // shown write provides it. (Showing a write as it happened only adds constraints:
    // the trial stays a violation.)
    let mut sources = Vec::new();
    for &r in &shown {
        let Some(read_op) = ops.get(r) else { continue };
        let Some(value) = observed(read_op) else {
            continue;
        };
        let before = read_op.completed.unwrap_or(u64::MAX);
        let provided = shown
            .iter()
            .filter(|&&w| w != r)
            .filter_map(|&w| ops.get(w))
            .any(|w| w.invoked < before && source_of(w, value));
        if provided || value.is_empty() {
            continue;
        }
        let source = hidden
            .iter()
            .copied()
            .filter(|&w| {
                ops.get(w)
                    .is_some_and(|w| w.invoked < before && source_of(w, value))
            })
            .max_by_key(|&w| ops.get(w).map(|w| w.invoked));
        if let Some(w) = source.filter(|w| !sources.contains(w)) {
            sources.push(w);
        }
    }
    hidden.retain(|w| !sources.contains(w));
    shown.extend(sources);
    shown.sort_by_key(|&i| ops.get(i).map(|op| (op.invoked, op.completed)));
    let culprit = culprit(&mut s, &shown, &hidden);
    Shrunk {
        hidden_writes: hidden.len(),
        culprit,
        minimal,
        shown,
    }
}

/// The shown operation (a position in `shown`) whose answer no order explains: the
/// latest one that, its answer forgotten, leaves the trial linearizable.
fn culprit(s: &mut Shrinker<'_>, shown: &[usize], hidden: &[usize]) -> Option<usize> {
    (0..shown.len()).rev().find(|&at| {
        let observes = shown.get(at).and_then(|&i| s.ops.get(i)).is_some_and(|op| {
            matches!(
                op.outcome,
                Completion::Ok(Output::Value(_) | Output::Cas(_))
            )
        });
        if !observes {
            return false;
        }
        // Forgotten: the operation as a write of unknown outcome, or dropped if a read.
        let (others, hidden) = s.without(shown, hidden, at, at + 1);
        s.violates(&others, &hidden) == Some(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::history::test_op as op;

    #[test]
    fn shrinks_to_the_operations_the_violation_needs() {
        // Many unrelated reads and writes, then a stale read of "a" after "b" was written.
        let mut ops = Vec::new();
        for i in 0..20u64 {
            let v = format!("v{i}");
            ops.push(op(
                1,
                Input::Put(v.clone()),
                (10 * i, 10 * i + 2),
                Completion::done(),
            ));
            ops.push(op(
                2,
                Input::Get,
                (10 * i + 3, 10 * i + 4),
                Completion::value(v),
            ));
        }
        ops.push(op(
            1,
            Input::Put("a".into()),
            (300, 302),
            Completion::done(),
        ));
        ops.push(op(
            1,
            Input::Put("b".into()),
            (303, 305),
            Completion::done(),
        ));
        ops.push(op(2, Input::Get, (306, 307), Completion::value("a")));
        let refs: Vec<&Operation> = ops.iter().collect();
        let shrunk = shrink(&refs, Duration::from_secs(5));
        assert!(shrunk.minimal);
        let shown: Vec<u64> = shrunk.shown.iter().map(|&i| ops[i].invoked).collect();
        assert_eq!(
            shown,
            [300, 303, 306],
            "the writes of a and b, and the stale read"
        );
        assert_eq!(shrunk.hidden_writes, 20);
        assert_eq!(shrunk.culprit, Some(2));
    }

    #[test]
    fn values_are_spelled_by_bases_and_appends() {
        assert!(spelled("", &[""], &[]));
        assert!(spelled("abcc", &["ab"], &["c", ""]));
        assert!(spelled("cc", &["", "ab"], &["c"]));
        assert!(!spelled("abd", &["ab"], &["c"]));
        assert!(!spelled("a", &["ab", ""], &["c"]));
    }

    #[test]
    fn reads_that_no_order_explains_are_found_without_a_search() {
        let put = |v: &str, at| op(1, Input::Put(v.into()), at, Completion::done());
        let get = |v: &str, at| op(2, Input::Get, at, Completion::value(v));
        let must = |n| vec![Duty::Must; n];
        // Initial value read after a write that surely happened before.
        let (p, g) = (put("a", (0, 1)), get("", (2, 3)));
        assert!(!could_read(&[&p, &g], &must(2), &g, ""));
        // ... but not if the write may not have happened, or overlaps the read.
        let optional = [Duty::MayUntilCompleted, Duty::Must];
        assert!(could_read(&[&p, &g], &optional, &g, ""));
        let (p, g) = (put("a", (0, 5)), get("", (2, 3)));
        assert!(could_read(&[&p, &g], &must(2), &g, ""));
        // A value only a write overtaken before the read began wrote.
        let (a, b, g) = (put("a", (0, 1)), put("b", (2, 3)), get("a", (4, 5)));
        assert!(!could_read(&[&a, &b, &g], &must(3), &g, "a"));
        // Appends add pieces to the last whole value.
        let c = op(3, Input::Append("c".into()), (4, 5), Completion::Unknown);
        let g = get("bcc", (6, 7));
        let duties = [Duty::Must, Duty::Must, Duty::May, Duty::Must];
        assert!(could_read(&[&a, &b, &c, &g], &duties, &g, "bcc"));
        assert!(!could_read(&[&a, &b, &c, &g], &duties, &g, "acc"));
    }

    #[test]
    fn a_write_that_could_explain_the_read_is_not_hidden_away() {
        // The cas finds "1" gone: only the unknown put of "2" in between can explain
        // that, and it does; the violation is the later read of "1".
        let ops = [
            op(1, Input::Put("1".into()), (0, 1), Completion::done()),
            Operation {
                completed: None,
                ..op(2, Input::Put("2".into()), (2, 0), Completion::Unknown)
            },
            op(
                3,
                Input::Cas {
                    from: "1".into(),
                    to: "3".into(),
                },
                (4, 5),
                Completion::cas(false),
            ),
            op(4, Input::Get, (6, 7), Completion::value("1")),
        ];
        let refs: Vec<&Operation> = ops.iter().collect();
        let shrunk = shrink(&refs, Duration::from_secs(5));
        // Shown: the put of "1" (where the read's value comes from), the cas and the
        // read; the unknown put of "2" stays hidden but in the search.
        assert_eq!(shrunk.shown, [0, 2, 3]);
        assert_eq!(shrunk.hidden_writes, 1);
    }
}
