//! Which of a node's own records are durable: the protocol side of
//! [`Effect::SignalWhenDurable`] / [`crate::Input::Durable`].
//!
//! A leader that sends ahead of its own log (Raft thesis §10.2.1; ZooKeeper's leader
//! ACKs its own proposal only after its `SyncRequestProcessor` has flushed it) must
//! count its own copy toward a quorum only once that copy is durable. It marks a point
//! in its stream of persisted records with a value (a log index, a zxid, a held reply)
//! and gets the value back when the harness reports the point durable.

use crate::effect::Effect;
use crate::output::Output;
use std::collections::VecDeque;

/// Marks in a node's persisted-record stream, each waiting to be reported durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurableMarks<V> {
    /// The last token issued (tokens increase for the node's whole incarnation, so a
    /// report about a forgotten mark never matches a new one).
    last_token: u64,
    /// Marks not yet reported durable, oldest first.
    waiting: VecDeque<(u64, V)>,
}

impl<V> Default for DurableMarks<V> {
    fn default() -> Self {
        DurableMarks {
            last_token: 0,
            waiting: VecDeque::new(),
        }
    }
}

impl<V> DurableMarks<V> {
    /// Marks the end of everything persisted so far with `value`: the harness will
    /// report it durable with `Input::Durable`.
    pub fn mark<M, R, T>(&mut self, value: V, out: &mut Vec<Effect<M, R, T>>) {
        self.last_token += 1;
        self.waiting.push_back((self.last_token, value));
        out.signal_when_durable(self.last_token);
    }

    /// `Input::Durable(token)` arrived: the values of every mark up to `token`, oldest
    /// first.
    pub fn reached(&mut self, token: u64) -> impl Iterator<Item = V> + '_ {
        let n = self.waiting.partition_point(|(t, _)| *t <= token);
        self.waiting.drain(..n).map(|(_, v)| v)
    }

    /// Forgets every waiting mark (the role they were made for has ended); reports
    /// about them will match nothing.
    pub fn forget(&mut self) {
        self.waiting.clear();
    }

    /// Whether any mark is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type E = Effect<(), (), ()>;

    #[test]
    fn a_report_returns_every_mark_up_to_its_token_in_order() {
        let mut marks = DurableMarks::default();
        let mut out: Vec<E> = Vec::new();
        marks.mark(10u64, &mut out);
        marks.mark(20, &mut out);
        marks.mark(30, &mut out);
        assert_eq!(
            out,
            vec![
                Effect::SignalWhenDurable(1),
                Effect::SignalWhenDurable(2),
                Effect::SignalWhenDurable(3)
            ]
        );
        assert_eq!(marks.reached(2).collect::<Vec<_>>(), vec![10, 20]);
        assert_eq!(marks.reached(2).count(), 0, "a repeated report is a no-op");
        assert_eq!(marks.reached(3).collect::<Vec<_>>(), vec![30]);
        assert!(marks.is_empty());
    }

    #[test]
    fn forgotten_marks_never_match_later_ones() {
        let mut marks = DurableMarks::default();
        let mut out: Vec<E> = Vec::new();
        marks.mark(1u64, &mut out);
        marks.forget();
        marks.mark(2, &mut out);
        // The report for the forgotten token 1 arrives late: it must not release 2.
        assert_eq!(marks.reached(1).count(), 0);
        assert_eq!(marks.reached(2).collect::<Vec<_>>(), vec![2]);
    }
}
