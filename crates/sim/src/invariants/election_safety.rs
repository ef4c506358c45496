//! Election safety: at most one leader per term (Raft §5.2 and Figure 3), per epoch
//! (Zab §3: one established leader per epoch) and per ballot (Paxos).

use super::Violation;
use protocols::{Event, NodeId, Time};
use std::collections::BTreeMap;

/// The leader of each term, from `LeaderElected` and `LeaderReady` events.
#[derive(Debug, Default)]
pub struct ElectionSafety {
    leaders: BTreeMap<u64, NodeId>,
}

impl ElectionSafety {
    /// Leaders seen, per term.
    pub fn leaders(&self) -> &BTreeMap<u64, NodeId> {
        &self.leaders
    }

    /// Checks `node`'s `event`: a second node leading a term is a violation.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_leader_in_one_term_is_a_violation_a_new_term_is_not() {
        let mut check = ElectionSafety::default();
        let elected = |term| Event::LeaderElected { term };
        assert!(check.on_event(Time::ZERO, 1, &elected(1)).is_ok());
        assert!(check
            .on_event(Time::ZERO, 1, &Event::LeaderReady { term: 1 })
            .is_ok());
        assert!(check.on_event(Time::ZERO, 2, &elected(2)).is_ok());
        let v = check
            .on_event(Time::ZERO, 3, &elected(1))
            .expect_err("two leaders");
        assert!(v.what.contains("two leaders in term 1"), "{v}");
    }
}
