//! The sequential specification of one key of the key-value store.
//!
//! A key holds a string, empty at first. Applied one at a time:
//! - `get` answers the value (and changes nothing);
//! - `put v` replaces it with `v`; `append v` adds `v` to its end;
//! - `cas from to` swaps it to `to` if it is `from`; one that answered "not equal"
//!   found some other value and changed nothing.
//!
//! [`apply`] states this on plain strings. The search uses [`KvModel`], the same rules on
//! interned values: each distinct value gets a number, so that comparing values and
//! memoizing states (Lowe 2017) costs an integer compare instead of a string compare.

use super::history::{Completion, Input, Operation, Output};
use rustc_hash::FxHashMap;

/// The specification: from `value`, can the operation `input` have answered `outcome`,
/// and what does the key hold afterwards? `None` if that answer is impossible from
/// `value`. An operation that failed, or a get whose answer is unknown, changes nothing;
/// one whose outcome is unknown behaves as if it took effect now.
pub fn apply(value: &str, input: &Input, outcome: &Completion) -> Option<String> {
    match (input, outcome) {
        (_, Completion::Failed) | (Input::Get, Completion::Unknown) => Some(value.to_string()),
        (Input::Get, Completion::Ok(Output::Value(read))) => {
            (read == value).then(|| value.to_string())
        }
        (Input::Put(v), Completion::Ok(Output::Done) | Completion::Unknown) => Some(v.clone()),
        (Input::Append(v), Completion::Ok(Output::Done) | Completion::Unknown) => {
            Some(format!("{value}{v}"))
        }
        (Input::Cas { from, to }, Completion::Ok(Output::Cas(true))) => {
            (value == from).then(|| to.clone())
        }
        (Input::Cas { from, .. }, Completion::Ok(Output::Cas(false))) => {
            (value != from).then(|| value.to_string())
        }
        (Input::Cas { from, to }, Completion::Unknown) => Some(if value == from {
            to.clone()
        } else {
            value.to_string()
        }),
        // An answer of the wrong kind (the history refuses those) explains nothing.
        (_, Completion::Ok(_)) => None,
    }
}

/// An interned value: equal ids are equal strings.
pub(crate) type StateId = u32;

/// One operation made ready for the search: its effect as a function of the key's
/// (interned) value.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// A get that read this value.
    Read(StateId),
    /// A put (of this value).
    Write(StateId),
    /// An append of this string.
    Append(String),
    /// A cas that swapped `from` to `to`.
    Swapped { from: StateId, to: StateId },
    /// A cas that found a value other than `from`.
    NotEqual { from: StateId },
    /// A cas with an unknown outcome: swaps if the value is `from`, else changes nothing.
    MaybeSwap { from: StateId, to: StateId },
}

impl Step {
    /// Steps of operations whose outcome is known must be linearized; the others may
    /// also never have happened.
    pub(crate) fn definite(op: &Operation) -> bool {
        matches!(op.outcome, Completion::Ok(_))
    }
}

/// The specification on interned values, with the values it has seen.
#[derive(Debug, Default)]
pub(crate) struct KvModel {
    ids: FxHashMap<String, StateId>,
    values: Vec<String>,
    /// Appends already computed: (value, operation index) -> value after the append.
    appended: FxHashMap<(StateId, u32), StateId>,
}

impl KvModel {
    /// A model whose only value so far is the initial one, `""`.
    pub(crate) fn new() -> KvModel {
        let mut model = KvModel::default();
        model.intern("");
        model
    }

    /// The value every key starts with.
    pub(crate) const INITIAL: StateId = 0;

    /// The number of `value`, numbering it if it is new.
    pub(crate) fn intern(&mut self, value: &str) -> StateId {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        // More than 4 billion distinct values cannot be searched anyway; saturate.
        let id = StateId::try_from(self.values.len()).unwrap_or(StateId::MAX);
        self.values.push(value.to_string());
        self.ids.insert(value.to_string(), id);
        id
    }

    /// The string behind `id`.
    pub(crate) fn value(&self, id: StateId) -> &str {
        self.values.get(id as usize).map_or("", String::as_str)
    }

    /// `op`'s step, or `None` if the search can drop the operation: it failed, or it is
    /// a get whose answer is unknown (reads change nothing).
    pub(crate) fn prepare(&mut self, op: &Operation) -> Option<Step> {
        Some(match (&op.input, &op.outcome) {
            (_, Completion::Failed) | (Input::Get, Completion::Unknown) => return None,
            (Input::Get, Completion::Ok(Output::Value(v))) => Step::Read(self.intern(v)),
            (Input::Put(v), _) => Step::Write(self.intern(v)),
            (Input::Append(v), _) => Step::Append(v.clone()),
            (Input::Cas { from, to }, Completion::Ok(Output::Cas(true))) => Step::Swapped {
                from: self.intern(from),
                to: self.intern(to),
            },
            (Input::Cas { from, .. }, Completion::Ok(Output::Cas(false))) => Step::NotEqual {
                from: self.intern(from),
            },
            (Input::Cas { from, to }, _) => Step::MaybeSwap {
                from: self.intern(from),
                to: self.intern(to),
            },
            // A get with a non-value answer: the history refuses those; nothing explains it.
            (Input::Get, Completion::Ok(_)) => Step::Read(StateId::MAX),
        })
    }

    /// From value `state`, the value after step `step` of operation number `index`, or
    /// `None` if the operation's answer is impossible from `state`.
    pub(crate) fn step(&mut self, state: StateId, step: &Step, index: u32) -> Option<StateId> {
        match step {
            Step::Read(read) => (*read == state).then_some(state),
            Step::Write(v) => Some(*v),
            Step::Swapped { from, to } => (*from == state).then_some(*to),
            Step::NotEqual { from } => (*from != state).then_some(state),
            Step::MaybeSwap { from, to } => Some(if *from == state { *to } else { state }),
            Step::Append(suffix) => {
                if let Some(&after) = self.appended.get(&(state, index)) {
                    return Some(after);
                }
                let joined = format!("{}{suffix}", self.value(state));
                let after = self.intern(&joined);
                self.appended.insert((state, index), after);
                Some(after)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(input: Input, outcome: Completion) -> Operation {
        Operation {
            client: 1,
            key: "k".into(),
            input,
            invoked: 0,
            completed: Some(1),
            outcome,
        }
    }

    fn cas(from: &str, to: &str) -> Input {
        Input::Cas {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn the_specification() {
        let put = Input::Put("a".into());
        assert_eq!(
            apply("", &Input::Get, &Completion::value("")),
            Some("".into())
        );
        assert_eq!(apply("x", &Input::Get, &Completion::value("")), None);
        assert_eq!(apply("x", &put, &Completion::done()), Some("a".into()));
        assert_eq!(
            apply("x", &Input::Append("y".into()), &Completion::done()),
            Some("xy".into())
        );
        assert_eq!(
            apply("a", &cas("a", "b"), &Completion::cas(true)),
            Some("b".into())
        );
        assert_eq!(apply("c", &cas("a", "b"), &Completion::cas(true)), None);
        assert_eq!(
            apply("c", &cas("a", "b"), &Completion::cas(false)),
            Some("c".into())
        );
        assert_eq!(apply("a", &cas("a", "b"), &Completion::cas(false)), None);
        assert_eq!(
            apply("a", &cas("a", "b"), &Completion::Unknown),
            Some("b".into())
        );
        assert_eq!(
            apply("c", &cas("a", "b"), &Completion::Unknown),
            Some("c".into())
        );
        // Failed operations and unanswered reads change nothing.
        assert_eq!(apply("x", &put, &Completion::Failed), Some("x".into()));
        assert_eq!(
            apply("x", &Input::Get, &Completion::Unknown),
            Some("x".into())
        );
        // An answer of the wrong kind explains nothing.
        assert_eq!(apply("x", &put, &Completion::value("x")), None);
    }

    /// The interned model computes exactly what the specification says, from every
    /// value of a small set, for every kind of operation and answer.
    #[test]
    fn interned_steps_agree_with_the_specification() {
        let values = ["", "a", "b", "ab"];
        let mut cases = vec![
            (Input::Put("a".into()), Completion::done()),
            (Input::Put("b".into()), Completion::Unknown),
            (Input::Append("b".into()), Completion::done()),
            (Input::Append("b".into()), Completion::Unknown),
        ];
        for v in values {
            cases.push((Input::Get, Completion::value(v)));
            for outcome in [
                Completion::cas(true),
                Completion::cas(false),
                Completion::Unknown,
            ] {
                cases.push((cas(v, "b"), outcome));
            }
        }
        let mut model = KvModel::new();
        for (index, (input, outcome)) in cases.iter().enumerate() {
            let o = op(input.clone(), outcome.clone());
            let step = model.prepare(&o).expect("kept");
            for v in values {
                let state = model.intern(v);
                let index = u32::try_from(index).expect("small");
                let got = model
                    .step(state, &step, index)
                    .map(|s| model.value(s).to_string());
                assert_eq!(
                    got,
                    apply(v, input, outcome),
                    "{input:?} {outcome:?} from {v:?}"
                );
            }
        }
    }

    #[test]
    fn failed_operations_and_unanswered_reads_are_dropped() {
        let mut model = KvModel::new();
        assert!(model
            .prepare(&op(Input::Put("a".into()), Completion::Failed))
            .is_none());
        assert!(model
            .prepare(&op(Input::Get, Completion::Unknown))
            .is_none());
        assert!(model
            .prepare(&op(Input::Put("a".into()), Completion::Unknown))
            .is_some());
    }
}
