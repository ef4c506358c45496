//! Raft's Log Matching property (§5.3, Figure 3): if two logs contain an entry with the
//! same index and term, the logs are identical in all entries up to that index.

use crate::Simulation;
use protocols::raft::Raft;

/// Checks every pair of running nodes.
pub fn log_matching(sim: &Simulation<Raft>) -> Result<(), String> {
    let nodes: Vec<&Raft> = sim
        .running()
        .iter()
        .filter_map(|&id| sim.node(id))
        .collect();
    for (i, a) in nodes.iter().enumerate() {
        for b in nodes.iter().skip(i + 1) {
            let common = a.log().last_index().min(b.log().last_index());
            // Entries compacted into a snapshot (§7) are committed; state machine
            // safety checks them. Compare what both logs still hold.
            let from = a.log().start().max(b.log().start());
            // The highest index where the terms agree; everything below must match.
            let Some(top) = (from.max(1)..=common)
                .rev()
                .find(|&k| a.log().term_at(k) == b.log().term_at(k))
            else {
                continue;
            };
            if let Some(k) = (from + 1..=top).find(|&k| a.log().get(k) != b.log().get(k)) {
                return Err(format!(
                    "log matching: nodes {} and {} agree on the term at {top} but differ at {k}",
                    a.id(),
                    b.id()
                ));
            }
        }
    }
    Ok(())
}
