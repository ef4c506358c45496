//! Safety properties checked after every simulated step, for every protocol:
//!
//! | property | Raft | ZAB | Paxos |
//! |---|---|---|---|
//! | election safety: at most one leader per `term` | §5.2, Figure 3 | one established leader per epoch (Zab §3) | one leader per ballot |
//! | state machine safety: no two nodes apply different commands at one index; a committed entry never changes, across crashes | Figure 3 | primary order / integrity (Zab §3.1) | at most one value chosen per slot |
//!
//! Log matching and leader completeness need a protocol's log, so the Raft simulation
//! tests check them through [`super::Simulation::node`].

use protocols::{Event, NodeId, RequestId, Time};
use std::collections::BTreeMap;
use std::fmt;

/// A safety violation, with the virtual time it was detected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// When.
    pub at: Time,
    /// What went wrong, in words.
    pub what: String,
}

impl Violation {
    /// A violation detected at `at`.
    pub fn new(at: Time, what: String) -> Violation {
        Violation { at, what }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.at, self.what)
    }
}

impl std::error::Error for Violation {}

/// Cluster-wide memory of what was elected and applied.
#[derive(Debug, Default)]
pub struct Checker {
    /// Leader of each term, from `LeaderElected`.
    leaders: BTreeMap<u64, NodeId>,
    /// The command first applied at each index, by anyone.
    committed: Vec<Option<RequestId>>,
}

impl Checker {
    /// Leaders seen, per term.
    pub fn leaders(&self) -> &BTreeMap<u64, NodeId> {
        &self.leaders
    }

    /// The committed sequence as first applied.
    pub fn committed(&self) -> &[Option<RequestId>] {
        &self.committed
    }

    /// Election safety.
    pub fn on_event(&mut self, at: Time, node: NodeId, event: &Event) -> Result<(), Violation> {
        if let Event::LeaderElected { term } | Event::LeaderReady { term } = event {
            match self.leaders.get(term) {
                Some(&other) if other != node => {
                    return Err(Violation::new(
                        at,
                        format!("two leaders in term {term}: node {other} and node {node}"),
                    ));
                }
                _ => {
                    self.leaders.insert(*term, node);
                }
            }
        }
        Ok(())
    }

    /// State machine safety.
    pub fn on_apply(
        &mut self,
        at: Time,
        node: NodeId,
        index: u64,
        req: Option<RequestId>,
    ) -> Result<(), Violation> {
        let i = (index as usize).saturating_sub(1);
        match self.committed.get(i) {
            Some(first) if *first != req => Err(Violation::new(
                at,
                format!("node {node} applied {req:?} at index {index}, but {first:?} was committed there"),
            )),
            Some(_) => Ok(()),
            None if i == self.committed.len() => {
                self.committed.push(req);
                Ok(())
            }
            None => Err(Violation::new(at, format!("node {node} applied index {index} before index {}", i))),
        }
    }
}
