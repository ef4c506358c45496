//! A linearizability checker for the key-value store: did the clients see a single
//! copy of each key, changing atomically, in an order that respects real time?
//!
//! # What is checked
//! Herlihy and Wing (1990) call a history *linearizable* if every operation can be
//! given a single instant between its invocation and its completion such that, taken in
//! the order of those instants, the operations follow the sequential specification:
//! here, a map of string keys to string values with `get`, `put`, `append` and
//! compare-and-set ([`model`]). Their locality result lets a checker split the history
//! by key, as Porcupine does (Athalye, github.com/anishathalye/porcupine): the history
//! is linearizable if and only if each key's sub-history is, and each key is searched on
//! its own, which turns one exponential search into many small ones.
//!
//! Completions follow Jepsen's conventions ([`Completion`]): `ok` carries the answer;
//! `fail` means the operation definitely did not happen, so it is dropped; an unknown
//! outcome (`info`: a timeout, a lost connection, or no completion at all) means it may
//! have taken effect at any instant after its invocation, or never. A read with an
//! unknown outcome is dropped too (reads change nothing).
//!
//! # How
//! Each key is searched with the algorithm of Wing and Gong (1993), tightened by Lowe
//! ("Testing for linearizability", 2017): walk the time-ordered events, linearize an
//! operation when its invocation comes up and the model accepts its answer, backtrack
//! when the completion of an operation not yet linearized comes up, and never explore a
//! configuration (which operations are linearized, and the key's value) twice
//! ([`search`]). The search is bounded by [`Limits`]; past them the verdict is
//! [`Verdict::Undecided`].
//!
//! A violation is reported as an [`Anomaly`]: the key, and a sub-history of it shrunk
//! until every operation in it is needed ([`shrink`]), in words ([`report`]).
//!
//! # Files
//! [`formats`] reads three formats: the native one ([`formats::cwb`], one JSON object
//! per line, times in nanoseconds, what the simulator and real-cluster runs write),
//! Jepsen register logs ([`formats::jepsen`]) and Porcupine's key-value logs
//! ([`formats::edn`]). `cwb lincheck FILE` runs the checker on a file.
//!
//! # Example
//! ```
//! use lincheck::{check, Completion, History, Input, Limits, Verdict};
//!
//! let mut h = History::new();
//! h.invoke(1, 10, "x", Input::Put("1".into()))?; // times in nanoseconds
//! h.complete(1, 20, Completion::done())?;
//! h.invoke(2, 30, "x", Input::Get)?;
//! h.complete(2, 40, Completion::value(""))?; // stale: "1" was written before
//! match check(&h, Limits::default()) {
//!     Verdict::NotLinearizable(anomaly) => assert_eq!(
//!         anomaly.to_string(),
//!         "key \"x\": client 1 put \"1\" [0 ns .. 10 ns] ok; client 2 get [20 ns .. 30 ns] -> \"\": \
//!          no order of these operations explains client 2's get answer \"\""
//!     ),
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), lincheck::HistoryError>(())
//! ```

pub mod formats;
pub mod generate;
pub mod history;
pub mod model;
pub mod report;
pub mod search;
pub mod shrink;

pub use history::{
    ClientId, Clock, Completion, History, HistoryError, Input, Operation, Output, Stats,
};
pub use report::Anomaly;

use search::{Budget, Exhausted, KeyVerdict};
use std::collections::BTreeMap;
use std::time::Duration;

/// How much the checker may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for the verdict, all keys together (`None`: no limit).
    pub time: Option<Duration>,
    /// Search steps for the verdict, all keys together (`None`: no limit). Unlike time,
    /// a step limit gives the same verdict on every machine.
    pub steps: Option<u64>,
    /// Wall-clock time, on top of `time`, to shrink a violation to a minimal
    /// sub-history (zero: report the key's whole sub-history).
    pub shrink_time: Duration,
}

impl Default for Limits {
    /// 10 s for the verdict, no step limit, 2 s to shrink a violation.
    fn default() -> Limits {
        Limits {
            time: Some(Duration::from_secs(10)),
            steps: None,
            shrink_time: Duration::from_secs(2),
        }
    }
}

impl Limits {
    /// No limits at all (and 10 s to shrink a violation).
    pub fn unlimited() -> Limits {
        Limits {
            time: None,
            steps: None,
            shrink_time: Duration::from_secs(10),
        }
    }
}

/// The checker's verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every key's sub-history has a linearization.
    Linearizable,
    /// Some key's sub-history has none: here is a small piece of it that shows why.
    NotLinearizable(Anomaly),
    /// The limits ran out before a verdict: why.
    Undecided(String),
}

/// Does the search use this operation? Failed operations did not happen, and a read
/// with no answer tells nothing.
fn searched(op: &Operation) -> bool {
    !matches!(
        (&op.input, &op.outcome),
        (_, Completion::Failed) | (Input::Get, Completion::Unknown)
    )
}

/// The operations of one key the search must place: [`searched`] ones, less the puts
/// with an unknown outcome whose value no read returned, on a key that only sees gets
/// and puts. Such a put never needs to be linearized: in any linearization that has it,
/// no get comes between it and the next put (that get would have returned its value),
/// so taking it out changes no answer; and an unknown outcome allows "never". Dropping
/// them keeps the verdict and spares the search the writes of a leader cut off in a
/// minority, which accepts many and commits none.
fn relevant<'h>(all: &[&'h Operation]) -> Vec<&'h Operation> {
    let ops: Vec<&Operation> = all.iter().copied().filter(|op| searched(op)).collect();
    if !ops
        .iter()
        .all(|op| matches!(op.input, Input::Get | Input::Put(_)))
    {
        return ops;
    }
    let read: std::collections::HashSet<&str> = ops
        .iter()
        .filter_map(|op| match &op.outcome {
            Completion::Ok(Output::Value(v)) => Some(v.as_str()),
            _ => None,
        })
        .collect();
    ops.into_iter()
        .filter(|op| match (&op.input, &op.outcome) {
            (Input::Put(v), Completion::Unknown) => read.contains(v.as_str()),
            _ => true,
        })
        .collect()
}

/// Checks `history`, key by key (the smallest first), within `limits`.
pub fn check(history: &History, limits: Limits) -> Verdict {
    let mut budget = Budget::new(limits.time, limits.steps);
    let mut keys: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in history.ops() {
        keys.entry(op.key.as_str()).or_default().push(op);
    }
    let mut order: Vec<(&str, Vec<&Operation>)> = keys.into_iter().collect();
    order.sort_by_key(|(_, ops)| ops.len());
    let total = order.len();
    for (done, (key, all)) in order.iter().enumerate() {
        let relevant = relevant(all);
        match search::check_key(&relevant, &mut budget).verdict {
            KeyVerdict::Linearizable => {}
            KeyVerdict::NotLinearizable => {
                return Verdict::NotLinearizable(Anomaly::explain(
                    history,
                    key,
                    all,
                    &relevant,
                    limits.shrink_time,
                ))
            }
            KeyVerdict::Undecided(why) => {
                let limit = match (why, limits.time, limits.steps) {
                    (Exhausted::Time, Some(t), _) => format!("the time limit of {t:?}"),
                    (Exhausted::Steps, _, Some(s)) => format!("the limit of {s} search steps"),
                    (Exhausted::Memory, _, _) => format!(
                        "the memory for remembered configurations ({} MiB)",
                        search::MAX_MEMO_BYTES >> 20
                    ),
                    _ => "the limits".to_string(),
                };
                return Verdict::Undecided(format!(
                    "{limit} ran out while checking key {key:?} ({} operations); {done} of {total} keys were linearizable",
                    all.len()
                ));
            }
        }
    }
    Verdict::Linearizable
}

#[cfg(test)]
mod tests;
