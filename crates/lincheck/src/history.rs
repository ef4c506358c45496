//! The operation and history model: what clients asked, when, and what they were told.
//!
//! A history is a set of operations, each with an invocation time and (usually) a
//! completion time. It is built from the events clients record, in the order each client
//! saw them: [`History::invoke`] when a client sends an operation, [`History::complete`]
//! when it gets the answer, gives up (`Unknown`), or learns that the operation definitely
//! did not happen (`Failed`). Events of different clients may arrive in any order: only
//! the times matter. An operation still pending when the history ends has an unknown
//! outcome, as if its client had timed out.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use thiserror::Error;

/// A client (a Jepsen "process"): issues one operation at a time.
pub type ClientId = u64;

/// What an operation asks of the key-value store, on one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// Read the key's value (a missing key reads as the empty value `""`).
    Get,
    /// Replace the key's value.
    Put(String),
    /// Add to the end of the key's value.
    Append(String),
    /// Compare-and-set: replace the value with `to` if and only if it is `from`.
    Cas {
        /// The value the key must hold for the swap to happen.
        from: String,
        /// The value it is swapped to.
        to: String,
    },
}

impl Input {
    /// The operation's name: `get`, `put`, `append` or `cas`.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Get => "get",
            Input::Put(_) => "put",
            Input::Append(_) => "append",
            Input::Cas { .. } => "cas",
        }
    }

    /// The kind of [`Output`] an `ok` completion of this operation carries.
    pub fn expected_output(&self) -> &'static str {
        match self {
            Input::Get => "a value",
            Input::Put(_) | Input::Append(_) => "no value",
            Input::Cas { .. } => "whether it swapped",
        }
    }

    fn accepts(&self, output: &Output) -> bool {
        matches!(
            (self, output),
            (Input::Get, Output::Value(_))
                | (Input::Put(_) | Input::Append(_), Output::Done)
                | (Input::Cas { .. }, Output::Cas(_))
        )
    }
}

/// What an operation that completed `ok` answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// A put or an append was applied.
    Done,
    /// A get read this value (`""` for a missing key).
    Value(String),
    /// A compare-and-set swapped (`true`), or definitely found a value other than its
    /// `from` and changed nothing (`false`).
    Cas(bool),
}

/// How an operation ended, as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Completion {
    /// It took effect, with this answer.
    Ok(Output),
    /// It definitely did not take effect (the checker drops it).
    Failed,
    /// No answer (timeout, lost connection): it may have taken effect at any point after
    /// its invocation, or never. Also the outcome of an operation still pending when the
    /// history ends.
    Unknown,
}

impl Completion {
    /// An `ok` completion of a put or an append.
    pub fn done() -> Completion {
        Completion::Ok(Output::Done)
    }

    /// An `ok` completion of a get that read `value`.
    pub fn value(value: impl Into<String>) -> Completion {
        Completion::Ok(Output::Value(value.into()))
    }

    /// An `ok` completion of a compare-and-set: `true` if it swapped, `false` if the key
    /// definitely held something other than its `from`.
    pub fn cas(swapped: bool) -> Completion {
        Completion::Ok(Output::Cas(swapped))
    }
}

/// How the history's times are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Clock {
    /// Nanoseconds (the native format, the simulator, real clusters).
    #[default]
    Nanos,
    /// Line numbers of the file the history was read from (formats without times: each
    /// event happens at its line).
    Lines,
}

impl Clock {
    /// `time` in words: `line 17`, or nanoseconds after `origin` in a readable unit.
    pub fn show(self, time: u64, origin: u64) -> String {
        match self {
            Clock::Lines => format!("line {time}"),
            Clock::Nanos => show_nanos(time.saturating_sub(origin)),
        }
    }
}

/// `12 ns`, `3.5 us`, `10 ms`, `1.25 s`: the largest unit the value reaches, with at
/// most three decimals and no trailing zeros.
fn show_nanos(ns: u64) -> String {
    let (unit, scale) = match ns {
        0..=999 => return format!("{ns} ns"),
        1_000..=999_999 => ("us", 1_000),
        1_000_000..=999_999_999 => ("ms", 1_000_000),
        _ => ("s", 1_000_000_000),
    };
    let whole = ns / scale;
    let thousandths = (ns % scale) / (scale / 1_000);
    if thousandths == 0 {
        return format!("{whole} {unit}");
    }
    let decimals = format!("{thousandths:03}");
    format!("{whole}.{} {unit}", decimals.trim_end_matches('0'))
}

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Who issued it.
    pub client: ClientId,
    /// The key it is about (the checker checks each key on its own).
    pub key: String,
    /// What it asked.
    pub input: Input,
    /// When it was invoked.
    pub invoked: u64,
    /// When its completion event arrived (`ok`, `fail` or `info`); `None` if it was
    /// still pending when the history ended.
    pub completed: Option<u64>,
    /// How it ended.
    pub outcome: Completion,
}

/// A history that cannot be: its events contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// A client invoked an operation while its previous one was still pending.
    #[error(
        "client {client} invokes a new operation while its {pending} invoked at time {since} is still pending"
    )]
    Busy {
        /// The client.
        client: ClientId,
        /// The pending operation's name.
        pending: &'static str,
        /// When the pending operation was invoked.
        since: u64,
    },
    /// A completion event for a client with no pending operation.
    #[error("client {client} completes an operation, but it has none pending")]
    NothingPending {
        /// The client.
        client: ClientId,
    },
    /// A completion earlier than its invocation.
    #[error("client {client}'s {op} completes at time {completed}, before its invocation at time {invoked}")]
    CompletedBeforeInvoked {
        /// The client.
        client: ClientId,
        /// The operation's name.
        op: &'static str,
        /// The invocation time.
        invoked: u64,
        /// The completion time.
        completed: u64,
    },
    /// An `ok` completion whose answer does not fit the operation (a get with no value,
    /// a put with one...).
    #[error("client {client}'s {op} completed ok with {found}, expected {expected}")]
    WrongOutput {
        /// The client.
        client: ClientId,
        /// The operation's name.
        op: &'static str,
        /// What this kind of operation answers.
        expected: &'static str,
        /// What the completion carried.
        found: String,
    },
}

/// Counts that describe a history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations.
    pub operations: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Operations that definitely did not happen (dropped by the checker).
    pub failed: usize,
    /// Operations with an unknown outcome (timed out, or pending at the end).
    pub unknown: usize,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} operations on {} key{} ({} failed, {} with unknown outcome)",
            self.operations,
            self.keys,
            if self.keys == 1 { "" } else { "s" },
            self.failed,
            self.unknown
        )
    }
}

/// The operations clients performed on the key-value store, with their times.
#[derive(Clone, Debug, Default)]
pub struct History {
    clock: Clock,
    ops: Vec<Operation>,
    /// Each client's pending operation (an index into `ops`).
    open: HashMap<ClientId, usize>,
}

impl History {
    /// An empty history whose times are nanoseconds.
    pub fn new() -> History {
        History::default()
    }

    /// An empty history whose times are read with `clock`.
    pub fn with_clock(clock: Clock) -> History {
        History {
            clock,
            ..History::default()
        }
    }

    /// How the times are to be read.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Client `client` invokes `input` on `key` at `time`; returns the operation's index.
    pub fn invoke(
        &mut self,
        client: ClientId,
        time: u64,
        key: impl Into<String>,
        input: Input,
    ) -> Result<usize, HistoryError> {
        if let Some(pending) = self.pending(client) {
            return Err(HistoryError::Busy {
                client,
                pending: pending.input.name(),
                since: pending.invoked,
            });
        }
        let index = self.ops.len();
        self.ops.push(Operation {
            client,
            key: key.into(),
            input,
            invoked: time,
            completed: None,
            outcome: Completion::Unknown,
        });
        self.open.insert(client, index);
        Ok(index)
    }

    /// Client `client`'s pending operation completes at `time`; returns its index.
    pub fn complete(
        &mut self,
        client: ClientId,
        time: u64,
        completion: Completion,
    ) -> Result<usize, HistoryError> {
        let index = *self
            .open
            .get(&client)
            .ok_or(HistoryError::NothingPending { client })?;
        let op = self
            .ops
            .get_mut(index)
            .ok_or(HistoryError::NothingPending { client })?;
        validate(op, time, &completion)?;
        op.completed = Some(time);
        op.outcome = completion;
        self.open.remove(&client);
        Ok(index)
    }

    /// Adds a whole operation (invocation and completion already paired), checking that
    /// its completion fits; returns its index.
    pub fn push(&mut self, op: Operation) -> Result<usize, HistoryError> {
        if let Some(completed) = op.completed {
            validate(&op, completed, &op.outcome)?;
        } else if op.outcome != Completion::Unknown {
            return Err(HistoryError::WrongOutput {
                client: op.client,
                op: op.input.name(),
                expected: "a completion time",
                found: "none".into(),
            });
        }
        self.ops.push(op);
        Ok(self.ops.len() - 1)
    }

    /// The operation `client` is waiting for, if any.
    pub fn pending(&self, client: ClientId) -> Option<&Operation> {
        self.open.get(&client).and_then(|&i| self.ops.get(i))
    }

    /// The operations, in the order they were invoked (or pushed).
    pub fn ops(&self) -> &[Operation] {
        &self.ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// No operations at all.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The earliest invocation time (the origin times are shown from), 0 if empty.
    pub fn origin(&self) -> u64 {
        self.ops.iter().map(|op| op.invoked).min().unwrap_or(0)
    }

    /// Operation, key, failure and unknown-outcome counts.
    pub fn stats(&self) -> Stats {
        let keys: BTreeSet<&str> = self.ops.iter().map(|op| op.key.as_str()).collect();
        Stats {
            operations: self.ops.len(),
            keys: keys.len(),
            failed: self
                .ops
                .iter()
                .filter(|op| op.outcome == Completion::Failed)
                .count(),
            unknown: self
                .ops
                .iter()
                .filter(|op| op.outcome == Completion::Unknown)
                .count(),
        }
    }
}

fn validate(op: &Operation, time: u64, completion: &Completion) -> Result<(), HistoryError> {
    if time < op.invoked {
        return Err(HistoryError::CompletedBeforeInvoked {
            client: op.client,
            op: op.input.name(),
            invoked: op.invoked,
            completed: time,
        });
    }
    if let Completion::Ok(output) = completion {
        if !op.input.accepts(output) {
            return Err(HistoryError::WrongOutput {
                client: op.client,
                op: op.input.name(),
                expected: op.input.expected_output(),
                found: match output {
                    Output::Done => "no value".into(),
                    Output::Value(v) => format!("the value {v:?}"),
                    Output::Cas(b) => format!("a cas result ({b})"),
                },
            });
        }
    }
    Ok(())
}

/// A completed operation on key "x" for the checker's own tests.
#[cfg(test)]
pub(crate) fn test_op(client: u64, input: Input, at: (u64, u64), outcome: Completion) -> Operation {
    Operation {
        client,
        key: "x".into(),
        input,
        invoked: at.0,
        completed: Some(at.1),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_then_complete_pairs_by_client() {
        let mut h = History::new();
        let a = h
            .invoke(1, 10, "x", Input::Put("1".into()))
            .expect("invoke");
        let b = h.invoke(2, 11, "x", Input::Get).expect("invoke");
        assert_eq!(h.complete(2, 13, Completion::value("1")), Ok(b));
        assert_eq!(h.complete(1, 14, Completion::done()), Ok(a));
        assert_eq!(h.ops()[a].completed, Some(14));
        assert_eq!(h.ops()[b].outcome, Completion::value("1"));
        assert!(h.pending(1).is_none());
    }

    #[test]
    fn contradictory_events_are_refused() {
        let mut h = History::new();
        h.invoke(1, 10, "x", Input::Get).expect("invoke");
        assert!(matches!(
            h.invoke(1, 11, "x", Input::Get),
            Err(HistoryError::Busy { client: 1, .. })
        ));
        assert_eq!(
            h.complete(2, 12, Completion::done()),
            Err(HistoryError::NothingPending { client: 2 })
        );
        assert!(matches!(
            h.complete(1, 5, Completion::value("")),
            Err(HistoryError::CompletedBeforeInvoked { .. })
        ));
        assert!(matches!(
            h.complete(1, 12, Completion::done()),
            Err(HistoryError::WrongOutput { op: "get", .. })
        ));
        // The failed attempts left the operation pending; a right answer is accepted.
        assert!(h.complete(1, 12, Completion::value("")).is_ok());
    }

    #[test]
    fn a_client_may_go_on_after_an_unknown_outcome() {
        let mut h = History::new();
        h.invoke(1, 1, "x", Input::Append("a".into()))
            .expect("invoke");
        h.complete(1, 2, Completion::Unknown).expect("complete");
        h.invoke(1, 3, "x", Input::Get).expect("invoke again");
        let stats = h.stats();
        assert_eq!((stats.operations, stats.keys, stats.unknown), (2, 1, 2));
    }

    #[test]
    fn times_read_well() {
        assert_eq!(Clock::Lines.show(17, 3), "line 17");
        assert_eq!(Clock::Nanos.show(12, 0), "12 ns");
        assert_eq!(Clock::Nanos.show(10_000_000, 0), "10 ms");
        assert_eq!(Clock::Nanos.show(10_500_000, 0), "10.5 ms");
        assert_eq!(Clock::Nanos.show(1_250_000_000, 0), "1.25 s");
        assert_eq!(Clock::Nanos.show(1_000_003_500, 1_000_000_000), "3.5 us");
    }
}
