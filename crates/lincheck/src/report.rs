//! An anomaly in words: the small sub-history of one key that no order explains.
//!
//! `{}` gives one line, `{:#}` one operation per line:
//!
//! ```text
//! key "x": client 2 put "1" [10 ms .. 12 ms] ok; client 3 get [13 ms .. 14 ms] -> "": no order of these operations explains client 3's get answer ""
//! ```

use super::history::{Clock, Completion, History, Input, Operation, Output};
use super::shrink;
use std::fmt;
use std::time::Duration;

/// The longest sub-history shown in full; longer ones (only when shrinking was off or
/// ran out of time) are cut, with a count of what was left out.
const SHOWN: usize = 40;

/// A non-linearizable key and a small sub-history of it that is still not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// The key.
    pub key: String,
    /// The sub-history, in invocation order: no order of these operations fits the
    /// key-value model, whatever the key's other writes did (see `hidden_writes`).
    pub ops: Vec<Operation>,
    /// The operation (an index into `ops`) whose answer no order explains, if one alone
    /// is to blame.
    pub culprit: Option<usize>,
    /// Whether shrinking ran to the end (else `ops` is larger than it needs to be).
    pub minimal: bool,
    /// Writes of the key not shown: the shown operations are a violation whether or not,
    /// and whenever, these took effect.
    pub hidden_writes: usize,
    /// How many operations the whole history has on this key (failed ones included).
    pub key_operations: usize,
    /// Remarks that help read it (e.g. a value only a failed write wrote).
    pub notes: Vec<String>,
    /// How times are shown.
    pub clock: Clock,
    /// Times are shown from here (the history's first invocation).
    pub origin: u64,
}

impl Anomaly {
    /// Shrinks `relevant` (the key's operations the search used, which are not
    /// linearizable) within `shrink_time`, and words it; `all` is every operation the
    /// history has on the key.
    pub(crate) fn explain(
        history: &History,
        key: &str,
        all: &[&Operation],
        relevant: &[&Operation],
        shrink_time: Duration,
    ) -> Anomaly {
        let (ops, culprit, minimal, hidden_writes) = if shrink_time.is_zero() {
            let mut ops: Vec<Operation> = relevant.iter().map(|&op| op.clone()).collect();
            ops.sort_by_key(|op| (op.invoked, op.completed));
            (ops, None, false, 0)
        } else {
            let shrunk = shrink::shrink(relevant, shrink_time);
            let ops = shrunk
                .shown
                .iter()
                .filter_map(|&i| relevant.get(i).map(|&op| op.clone()))
                .collect();
            (ops, shrunk.culprit, shrunk.minimal, shrunk.hidden_writes)
        };
        let mut anomaly = Anomaly {
            key: key.to_string(),
            ops,
            culprit,
            minimal,
            hidden_writes,
            key_operations: all.len(),
            notes: Vec::new(),
            clock: history.clock(),
            origin: history.origin(),
        };
        anomaly.notes = anomaly.failed_writer_notes(all);
        anomaly
    }

    /// One operation in words, e.g. `client 2 put "1" [10 ms .. 12 ms] ok`.
    pub fn describe(&self, op: &Operation) -> String {
        format!(
            "client {} {} {} {}",
            op.client,
            what(op),
            self.interval(op),
            self.answer(op)
        )
    }

    /// `[start .. end]`; `?` for the end of an operation whose outcome is unknown.
    fn interval(&self, op: &Operation) -> String {
        let start = self.clock.show(op.invoked, self.origin);
        let end = match (&op.outcome, op.completed) {
            (Completion::Unknown, _) | (_, None) => "?".to_string(),
            (_, Some(t)) => self.clock.show(t, self.origin),
        };
        format!("[{start} .. {end}]")
    }

    fn answer(&self, op: &Operation) -> String {
        match &op.outcome {
            Completion::Ok(Output::Value(v)) => format!("-> {v:?}"),
            Completion::Ok(Output::Done | Output::Cas(true)) => "ok".to_string(),
            Completion::Ok(Output::Cas(false)) => "-> not equal".to_string(),
            Completion::Failed => "failed".to_string(),
            Completion::Unknown => match op.completed {
                Some(t) => format!(
                    "outcome unknown (gave up at {})",
                    self.clock.show(t, self.origin)
                ),
                None => "outcome unknown (never answered)".to_string(),
            },
        }
    }

    /// Why these operations are a violation, in words.
    pub fn explanation(&self) -> String {
        let whatever = match self.hidden_writes {
            0 => String::new(),
            1 => ", whether or not (and whenever) the key's one other write took effect".into(),
            n => format!(", whether or not (and whenever) the key's {n} other writes took effect"),
        };
        let Some(op) = self.culprit.and_then(|i| self.ops.get(i)) else {
            return format!(
                "no order of these operations is consistent with all their answers{whatever}"
            );
        };
        let answer = match (&op.input, &op.outcome) {
            (Input::Get, Completion::Ok(Output::Value(v))) => format!("get answer {v:?}"),
            (Input::Cas { from, .. }, Completion::Ok(Output::Cas(true))) => {
                format!("cas finding {from:?}")
            }
            (Input::Cas { from, .. }, Completion::Ok(Output::Cas(false))) => {
                format!("cas not finding {from:?}")
            }
            (input, _) => format!("{} answer", input.name()),
        };
        format!(
            "no order of these operations explains client {}'s {answer}{whatever}",
            op.client
        )
    }

    /// Notes on values the sub-history's answers show that only a failed write wrote
    /// (a read of an uncommitted value).
    fn failed_writer_notes(&self, all: &[&Operation]) -> Vec<String> {
        let written = |op: &Operation| -> Option<String> {
            match (&op.input, &op.outcome) {
                (Input::Put(v) | Input::Append(v), _) => Some(v.clone()),
                (
                    Input::Cas { to, .. },
                    Completion::Ok(Output::Cas(true)) | Completion::Failed | Completion::Unknown,
                ) => Some(to.clone()),
                _ => None,
            }
        };
        let mut notes = Vec::new();
        for op in &self.ops {
            let Completion::Ok(Output::Value(read)) = &op.outcome else {
                continue;
            };
            if read.is_empty() {
                continue;
            }
            let written_ok = all.iter().any(|w| {
                w.outcome != Completion::Failed && written(w).is_some_and(|v| read.contains(&v))
            });
            if written_ok {
                continue;
            }
            if let Some(failed) = all.iter().find(|w| {
                w.outcome == Completion::Failed && written(w).is_some_and(|v| read.contains(&v))
            }) {
                let note = format!(
                    "{read:?} was only ever written by client {}'s {} {}, which failed (definitely did not happen)",
                    failed.client,
                    what(failed),
                    self.interval(failed)
                );
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
        }
        notes
    }

    fn heading(&self) -> String {
        let size = if self.minimal {
            format!(
                "{} of its {} operations",
                self.ops.len(),
                self.key_operations
            )
        } else {
            format!(
                "{} of its {} operations; not fully shrunk",
                self.ops.len(),
                self.key_operations
            )
        };
        format!("key {:?} ({size})", self.key)
    }
}

/// The operation and its arguments: `get`, `put "1"`, `cas from "a" to "b"`.
fn what(op: &Operation) -> String {
    match &op.input {
        Input::Get => "get".to_string(),
        Input::Put(v) => format!("put {v:?}"),
        Input::Append(v) => format!("append {v:?}"),
        Input::Cas { from, to } => format!("cas from {from:?} to {to:?}"),
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self
            .ops
            .iter()
            .take(SHOWN)
            .map(|op| self.describe(op))
            .collect();
        let more = self.ops.len().saturating_sub(SHOWN);
        if f.alternate() {
            writeln!(f, "{}:", self.heading())?;
            for line in &shown {
                writeln!(f, "  {line}")?;
            }
            if more > 0 {
                writeln!(f, "  ... and {more} more")?;
            }
            write!(f, "{}", self.explanation())?;
            for note in &self.notes {
                write!(f, "\nnote: {note}")?;
            }
            Ok(())
        } else {
            write!(f, "key {:?}: {}", self.key, shown.join("; "))?;
            if more > 0 {
                write!(f, "; ... and {more} more")?;
            }
            write!(f, ": {}", self.explanation())?;
            for note in &self.notes {
                write!(f, "; note: {note}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::history::test_op as op;

    fn anomaly(ops: Vec<Operation>, culprit: Option<usize>) -> Anomaly {
        Anomaly {
            key: "x".into(),
            key_operations: ops.len(),
            ops,
            culprit,
            minimal: true,
            hidden_writes: 0,
            notes: Vec::new(),
            clock: Clock::Nanos,
            origin: 0,
        }
    }

    #[test]
    fn reads_as_the_issue_asks() {
        let a = anomaly(
            vec![
                op(
                    2,
                    Input::Put("1".into()),
                    (10_000_000, 12_000_000),
                    Completion::done(),
                ),
                op(
                    3,
                    Input::Get,
                    (13_000_000, 14_000_000),
                    Completion::value(""),
                ),
            ],
            Some(1),
        );
        assert_eq!(
            a.to_string(),
            "key \"x\": client 2 put \"1\" [10 ms .. 12 ms] ok; client 3 get [13 ms .. 14 ms] -> \"\": \
             no order of these operations explains client 3's get answer \"\""
        );
        let long = format!("{a:#}");
        assert!(long.starts_with("key \"x\" (2 of its 2 operations):\n  client 2 put"));
    }

    #[test]
    fn every_kind_of_answer_has_words() {
        let a = anomaly(Vec::new(), None);
        let cas = Input::Cas {
            from: "a".into(),
            to: "b".into(),
        };
        let unknown = Operation {
            completed: None,
            ..op(1, Input::Append("z".into()), (5, 0), Completion::Unknown)
        };
        assert_eq!(
            a.describe(&op(1, cas.clone(), (1, 2), Completion::cas(false))),
            "client 1 cas from \"a\" to \"b\" [1 ns .. 2 ns] -> not equal"
        );
        assert_eq!(
            a.describe(&unknown),
            "client 1 append \"z\" [5 ns .. ?] outcome unknown (never answered)"
        );
        assert_eq!(
            a.explanation(),
            "no order of these operations is consistent with all their answers"
        );
    }
}
