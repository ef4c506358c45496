//! Paxos's safety requirement ("Paxos Made Simple" §2.1: only a single value is
//! chosen), read from every node's own state across all incarnations: at most one value
//! chosen per slot (Multi-Paxos commits), and at most one leadership value per era (the
//! Basic-Paxos leader election).

use crate::Simulation;
use protocols::paxos::{Leadership, Paxos};
use protocols::{NodeId, Protocol, RequestId};
use std::collections::BTreeMap;

/// What has been seen chosen so far, across every node and incarnation.
#[derive(Default)]
pub struct PaxosOneValue {
    /// Slot -> the command (by request id) first seen chosen there, and by whom.
    slots: BTreeMap<u64, (Option<RequestId>, NodeId)>,
    /// Era -> the leadership value first seen chosen, and by whom.
    eras: BTreeMap<u64, (Leadership, NodeId)>,
    /// How far each node's known-chosen slots have been checked.
    checked: BTreeMap<NodeId, u64>,
}

impl PaxosOneValue {
    /// At most one value per slot and per era.
    pub fn check(&mut self, sim: &Simulation<Paxos>) -> Result<(), String> {
        for id in sim.running() {
            let Some(node) = sim.node(id) else { continue };
            let (era, value) = node.known_era();
            if let Some(value) = value {
                match self.eras.get(&era) {
                    Some((first, by)) if *first != value => {
                        return Err(format!("two leaders chosen for era {era}: {first} (node {by}) and {value} (node {id})"));
                    }
                    Some(_) => {}
                    None => {
                        self.eras.insert(era, (value, id));
                    }
                }
            }
            // Commit prefixes only grow, so re-check from where this node was checked,
            // plus any out-of-order chosen slots above it.
            let from = self
                .checked
                .get(&id)
                .copied()
                .unwrap_or(0)
                .min(node.status().commit_index)
                + 1;
            for slot in from..=node.last_known_chosen() {
                let Some(value) = node.chosen(slot) else {
                    continue;
                };
                let req = value.as_ref().map(|c| c.id);
                match self.slots.get(&slot) {
                    Some((first, by)) if *first != req => {
                        return Err(format!(
                            "two values chosen for slot {slot}: {} (node {by}) and {} (node {id})",
                            protocols::entry_text(*first),
                            protocols::entry_text(req)
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.slots.insert(slot, (req, id));
                    }
                }
            }
            self.checked.insert(id, node.status().commit_index);
        }
        Ok(())
    }
}
