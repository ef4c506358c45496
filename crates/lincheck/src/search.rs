//! The Wing-Gong search with Lowe's memoization, on one key's operations.
//!
//! The invocations and completions of the key's operations are laid out in time order
//! in a doubly linked list. Walking it from the front, the search tries to linearize
//! each operation whose invocation it meets (its effect must fit the model's current
//! value); a linearized operation is lifted out of the list (both its events) and the
//! walk restarts from the front. Meeting a completion means that operation had to be
//! linearized already: the search backtracks, putting back the last operation it
//! linearized and trying the next candidate after it (Wing & Gong 1993).
//!
//! Lowe (2017) prunes this exponential search: a configuration, the set of linearized
//! operations with the value they leave, is explored only once; meeting it again by
//! another order leads nowhere new. The set is a bitset and the value an interned
//! number, so remembering a configuration is cheap.
//!
//! An operation with an unknown outcome has no completion in the list: it may be
//! linearized at any point after its invocation, or never. The key's sub-history is
//! linearizable as soon as every operation with a known outcome is linearized. (Shrinking
//! also uses operations that may be linearized only before their completion, or never:
//! meeting such a completion drops the operation instead of backtracking.)

use super::history::Operation;
use super::model::{KvModel, StateId, Step};
use rustc_hash::FxHashSet;
use std::time::{Duration, Instant};

/// What the search may spend: a deadline and a number of steps, either unbounded.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    deadline: Option<Instant>,
    steps_left: Option<u64>,
    /// Steps since the clock was last read (reading it on every step would cost more
    /// than the step).
    unchecked: u32,
}

/// Why a search gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exhausted {
    Time,
    Steps,
    /// The remembered configurations reached [`MAX_MEMO_BYTES`].
    Memory,
}

/// The most memory one search spends remembering configurations (Lowe's memoization
/// grows with the configurations explored; a pathological history must not exhaust the
/// machine's memory before its time limit).
pub(crate) const MAX_MEMO_BYTES: usize = 1 << 30;

impl Budget {
    pub(crate) fn new(time: Option<Duration>, steps: Option<u64>) -> Budget {
        Budget {
            deadline: time.and_then(|t| Instant::now().checked_add(t)),
            steps_left: steps,
            unchecked: 0,
        }
    }

    /// The same deadline with at most `steps` steps (never more than this budget has).
    pub(crate) fn sub_budget(&self, steps: u64) -> Budget {
        Budget {
            deadline: self.deadline,
            steps_left: Some(self.steps_left.map_or(steps, |left| left.min(steps))),
            unchecked: 0,
        }
    }

    /// Spends `n` steps of `other` from this budget (after a sub-budget's search).
    pub(crate) fn charge(&mut self, n: u64) {
        if let Some(left) = &mut self.steps_left {
            *left = left.saturating_sub(n);
        }
    }

    pub(crate) fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn tick(&mut self) -> Result<(), Exhausted> {
        if let Some(left) = &mut self.steps_left {
            if *left == 0 {
                return Err(Exhausted::Steps);
            }
            *left -= 1;
        }
        self.unchecked += 1;
        if self.unchecked >= 1024 {
            self.unchecked = 0;
            if self.out_of_time() {
                return Err(Exhausted::Time);
            }
        }
        Ok(())
    }
}

/// The verdict on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyVerdict {
    Linearizable,
    NotLinearizable,
    Undecided(Exhausted),
}

/// What one search found and spent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    pub(crate) verdict: KeyVerdict,
    pub(crate) steps: u64,
}

/// What the search must do with an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Duty {
    /// Linearize it between its invocation and its completion (a known outcome).
    Must,
    /// Linearize it between its invocation and its completion, or never.
    MayUntilCompleted,
    /// Linearize it at any point after its invocation, or never (an unknown outcome).
    May,
}

impl Duty {
    /// The duty an operation's outcome gives it.
    pub(crate) fn of(op: &Operation) -> Duty {
        if Step::definite(op) {
            Duty::Must
        } else {
            Duty::May
        }
    }
}

/// A choice the search made, undone when it backtracks.
#[derive(Clone, Copy, Debug)]
enum Choice {
    /// Linearized the operation at this invocation node, from this value.
    Linearized { call: u32, before: StateId },
    /// Dropped this operation (reached its completion without linearizing it).
    Dropped { op: u32 },
}

/// A node of the event list: node 0 is the sentinel before the first event and after
/// the last one.
#[derive(Clone, Copy, Debug)]
struct Node {
    prev: u32,
    next: u32,
    /// The operation (an index into the search's operations).
    op: u32,
    call: bool,
}

/// The event list with "dancing links": lifting an operation unlinks its nodes, which
/// keep their own links, so that putting it back (in reverse order) is two writes each.
struct Events {
    nodes: Vec<Node>,
    /// Each operation's invocation node and completion node (0: none).
    of_op: Vec<(u32, u32)>,
}

impl Events {
    fn new(ops: &[&Operation], duties: &[Duty]) -> Events {
        // (time, completions after invocations at equal times, operation, is call)
        let mut events: Vec<(u64, u8, u32, bool)> = Vec::with_capacity(2 * ops.len());
        for (i, op) in (0u32..).zip(ops) {
            events.push((op.invoked, 0, i, true));
            if duties.get(i as usize).is_some_and(|&d| d != Duty::May) {
                // A known outcome's completion time; pushed ops always have one.
                let end = op.completed.unwrap_or(u64::MAX).max(op.invoked);
                events.push((end, 1, i, false));
            }
        }
        events.sort_unstable();
        let mut nodes = Vec::with_capacity(events.len() + 1);
        let mut of_op = vec![(0u32, 0u32); ops.len()];
        nodes.push(Node {
            prev: 0,
            next: 0,
            op: 0,
            call: false,
        });
        for (position, &(_, _, op, call)) in (1u32..).zip(&events) {
            nodes.push(Node {
                prev: position - 1,
                next: 0,
                op,
                call,
            });
            if let Some(prev) = nodes.get_mut(position as usize - 1) {
                prev.next = position;
            }
            if let Some(slot) = of_op.get_mut(op as usize) {
                if call {
                    slot.0 = position;
                } else {
                    slot.1 = position;
                }
            }
        }
        let last = u32::try_from(nodes.len() - 1).unwrap_or(0);
        nodes[0].prev = last;
        Events { nodes, of_op }
    }

    fn node(&self, at: u32) -> Node {
        self.nodes[at as usize]
    }

    fn unlink(&mut self, at: u32) {
        if at == 0 {
            return;
        }
        let Node { prev, next, .. } = self.node(at);
        self.nodes[prev as usize].next = next;
        self.nodes[next as usize].prev = prev;
    }

    fn relink(&mut self, at: u32) {
        if at == 0 {
            return;
        }
        let Node { prev, next, .. } = self.node(at);
        self.nodes[prev as usize].next = at;
        self.nodes[next as usize].prev = at;
    }

    fn lift(&mut self, op: u32) {
        let (call, ret) = self.of_op[op as usize];
        self.unlink(call);
        self.unlink(ret);
    }

    fn unlift(&mut self, op: u32) {
        let (call, ret) = self.of_op[op as usize];
        self.relink(ret);
        self.relink(call);
    }
}

/// Is the sub-history `ops` (all on one key) linearizable, within `budget`?
pub(crate) fn check_key(ops: &[&Operation], budget: &mut Budget) -> Outcome {
    let duties: Vec<Duty> = ops.iter().map(|op| Duty::of(op)).collect();
    search(ops, &duties, budget)
}

/// Does `ops` (all on one key) have a linearization in which each operation does its
/// duty (see [`Duty`]), within `budget`?
pub(crate) fn search(ops: &[&Operation], duties: &[Duty], budget: &mut Budget) -> Outcome {
    let mut model = KvModel::new();
    let mut kept: Vec<&Operation> = Vec::with_capacity(ops.len());
    let mut kept_duties: Vec<Duty> = Vec::with_capacity(ops.len());
    let mut steps: Vec<Step> = Vec::with_capacity(ops.len());
    for (&op, &duty) in ops.iter().zip(duties) {
        if let Some(step) = model.prepare(op) {
            kept.push(op);
            kept_duties.push(duty);
            steps.push(step);
        }
    }
    let duties = kept_duties;
    let mut remaining = duties.iter().filter(|&&d| d == Duty::Must).count();
    let mut events = Events::new(&kept, &duties);
    let words = kept.len().div_ceil(64);
    // Operations decided: linearized, or dropped.
    let mut decided = vec![0u64; words];
    let mut seen: FxHashSet<(Box<[u64]>, StateId)> = FxHashSet::default();
    // Each remembered configuration: its bitset, its value, the set's own overhead.
    let memo_entry_bytes = 8 * words + 32;
    let memo_limit = MAX_MEMO_BYTES / memo_entry_bytes;
    let mut stack: Vec<Choice> = Vec::new();
    let mut state = KvModel::INITIAL;
    let mut at = events.node(0).next;
    let mut spent = 0u64;
    let done = |verdict, steps| Outcome { verdict, steps };
    let bit = |i: u32| ((i / 64) as usize, 1u64 << (i % 64));
    loop {
        if remaining == 0 {
            return done(KeyVerdict::Linearizable, spent);
        }
        if let Err(why) = budget.tick() {
            return done(KeyVerdict::Undecided(why), spent);
        }
        if seen.len() >= memo_limit {
            return done(KeyVerdict::Undecided(Exhausted::Memory), spent);
        }
        spent += 1;
        let node = events.node(at);
        let i = node.op;
        let (word, mask) = bit(i);
        let duty = duties.get(i as usize).copied().unwrap_or(Duty::Must);
        if at != 0 && node.call {
            if let Some(after) = model.step(state, &steps[i as usize], i) {
                decided[word] |= mask;
                if seen.insert((decided.clone().into_boxed_slice(), after)) {
                    stack.push(Choice::Linearized {
                        call: at,
                        before: state,
                    });
                    state = after;
                    events.lift(i);
                    if duty == Duty::Must {
                        remaining -= 1;
                    }
                    at = events.node(0).next;
                    continue;
                }
                decided[word] &= !mask;
            }
            at = node.next;
            continue;
        }
        if at != 0 && duty == Duty::MayUntilCompleted {
            // Its completion, and it was not linearized: in this branch it never happened.
            decided[word] |= mask;
            if seen.insert((decided.clone().into_boxed_slice(), state)) {
                stack.push(Choice::Dropped { op: i });
                events.lift(i);
                at = events.node(0).next;
                continue;
            }
            decided[word] &= !mask;
        }
        // The completion of an operation that had to be linearized by now (or the end
        // of the list): undo choices back to the last linearization, and try the next
        // candidate after it.
        loop {
            match stack.pop() {
                None => return done(KeyVerdict::NotLinearizable, spent),
                Some(Choice::Dropped { op }) => {
                    let (w, m) = bit(op);
                    decided[w] &= !m;
                    events.unlift(op);
                }
                Some(Choice::Linearized { call, before }) => {
                    let op = events.node(call).op;
                    let (w, m) = bit(op);
                    decided[w] &= !m;
                    state = before;
                    events.unlift(op);
                    if duties.get(op as usize) == Some(&Duty::Must) {
                        remaining += 1;
                    }
                    at = events.node(call).next;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Completion, Input};

    fn op(
        client: u64,
        input: Input,
        invoked: u64,
        completed: u64,
        outcome: Completion,
    ) -> Operation {
        Operation {
            client,
            key: "x".into(),
            input,
            invoked,
            completed: Some(completed),
            outcome,
        }
    }

    fn verdict(ops: &[Operation]) -> KeyVerdict {
        let refs: Vec<&Operation> = ops.iter().collect();
        check_key(&refs, &mut Budget::new(None, None)).verdict
    }

    #[test]
    fn overlapping_operations_may_take_effect_in_either_order() {
        let put = |c, v: &str, a, b| op(c, Input::Put(v.into()), a, b, Completion::done());
        let get = |c, v: &str, a, b| op(c, Input::Get, a, b, Completion::value(v));
        // The put of "2" overlaps the put of "1"; the read sees "1" last.
        let ops = [put(1, "1", 0, 10), put(2, "2", 5, 8), get(3, "1", 11, 12)];
        assert_eq!(verdict(&ops), KeyVerdict::Linearizable);
        // Not overlapping: "2" was written last, so reading "1" is stale.
        let ops = [put(1, "1", 0, 4), put(2, "2", 5, 8), get(3, "1", 11, 12)];
        assert_eq!(verdict(&ops), KeyVerdict::NotLinearizable);
    }

    #[test]
    fn an_empty_history_and_one_of_unknown_outcomes_are_linearizable() {
        assert_eq!(verdict(&[]), KeyVerdict::Linearizable);
        let unknown = Operation {
            completed: None,
            ..op(1, Input::Put("a".into()), 0, 0, Completion::Unknown)
        };
        assert_eq!(verdict(&[unknown]), KeyVerdict::Linearizable);
    }

    #[test]
    fn an_optional_operation_happens_before_its_completion_or_never() {
        let put = op(1, Input::Put("1".into()), 0, 10, Completion::done());
        let read = |v: &str, a, b| op(2, Input::Get, a, b, Completion::value(v));
        let (early, late, empty) = (read("1", 5, 6), read("1", 20, 21), read("", 20, 21));
        let optional = [Duty::MayUntilCompleted, Duty::Must];
        let run =
            |ops: [&Operation; 2]| search(&ops, &optional, &mut Budget::new(None, None)).verdict;
        assert_eq!(run([&put, &early]), KeyVerdict::Linearizable);
        assert_eq!(run([&put, &late]), KeyVerdict::Linearizable);
        assert_eq!(
            run([&put, &empty]),
            KeyVerdict::Linearizable,
            "it may not have happened"
        );
        let both = [&put, &early, &empty];
        let duties = [Duty::MayUntilCompleted, Duty::Must, Duty::Must];
        assert_eq!(
            search(&both, &duties, &mut Budget::new(None, None)).verdict,
            KeyVerdict::NotLinearizable,
            "seen, it happened"
        );
        // Not after its completion: a read of "1" after "2" was written and read.
        let two = op(3, Input::Put("2".into()), 11, 12, Completion::done());
        let seen_two = read("2", 13, 14);
        let ops = [&put, &two, &seen_two, &late];
        let duties = [Duty::MayUntilCompleted, Duty::Must, Duty::Must, Duty::Must];
        assert_eq!(
            search(&ops, &duties, &mut Budget::new(None, None)).verdict,
            KeyVerdict::NotLinearizable
        );
    }

    #[test]
    fn the_budget_is_respected() {
        let ops: Vec<Operation> = (0..50)
            .map(|i| op(i, Input::Append("a".into()), 0, 100, Completion::done()))
            .collect();
        let refs: Vec<&Operation> = ops.iter().collect();
        let out = check_key(&refs, &mut Budget::new(None, Some(10)));
        assert_eq!(out.verdict, KeyVerdict::Undecided(Exhausted::Steps));
    }
}
