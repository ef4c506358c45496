//! State machine safety: no two nodes apply different commands at one index, and a
//! committed entry never changes, across crashes and restarts (Raft Figure 3; Zab §3.1
//! "integrity" and "total order"; Paxos: one value chosen per slot, as learned).

use super::Violation;
use protocols::{NodeId, RequestId, Time};

/// The command first applied at each index, by any node.
#[derive(Debug, Default)]
pub struct StateMachineSafety {
    committed: Vec<Option<RequestId>>,
}

impl StateMachineSafety {
    /// The committed sequence as first applied.
    pub fn committed(&self) -> &[Option<RequestId>] {
        &self.committed
    }

    /// Checks that `node` applied at `index` what every node applied there.
    pub fn on_apply(
        &mut self,
        at: Time,
        node: NodeId,
        index: u64,
        req: Option<RequestId>,
    ) -> Result<(), Violation> {
        let i = usize::try_from(index.saturating_sub(1)).unwrap_or(usize::MAX);
        match self.committed.get(i) {
            Some(first) if *first != req => Err(Violation::new(
                at,
                format!(
                    "node {node} applied {} at index {index}, but {} was committed there",
                    protocols::entry_text(req),
                    protocols::entry_text(*first)
                ),
            )),
            Some(_) => Ok(()),
            None if i == self.committed.len() => {
                self.committed.push(req);
                Ok(())
            }
            None => Err(Violation::new(
                at,
                format!("node {node} applied index {index} before index {i}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(seq: u64) -> Option<RequestId> {
        Some(RequestId { origin: 1, seq })
    }

    #[test]
    fn a_different_command_at_a_committed_index_is_a_violation() {
        let mut check = StateMachineSafety::default();
        assert!(check.on_apply(Time::ZERO, 1, 1, req(1)).is_ok());
        assert!(check.on_apply(Time::ZERO, 2, 1, req(1)).is_ok());
        assert!(check.on_apply(Time::ZERO, 2, 2, None).is_ok());
        let v = check
            .on_apply(Time::ZERO, 3, 2, req(9))
            .expect_err("changed entry");
        assert!(v.what.contains("at index 2"), "{v}");
        assert!(check.on_apply(Time::ZERO, 3, 5, req(5)).is_err(), "a gap");
    }
}
