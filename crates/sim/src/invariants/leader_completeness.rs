//! Leader completeness: a newly elected leader holds every committed entry. Raft §5.4
//! and Figure 3 "Leader Completeness", checked when a leader is elected; ZAB's "primary
//! integrity" (Zab §3.2), checked when a leader is established (ready), since a ZAB
//! leader learns its followers' history during Discovery and Synchronization.

use crate::Simulation;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::{Event, NodeId, RequestId};

/// Checks each new leader's log against the committed sequence: `held(leader, index)`
/// is the request the leader holds at `index` (1-based), if it holds one.
fn check_new_leaders<P: protocols::Protocol>(
    sim: &Simulation<P>,
    seen_events: &mut usize,
    is_new_leader: impl Fn(&Event) -> Option<u64>,
    held: impl Fn(&P, u64) -> Option<Option<RequestId>>,
) -> Result<(), String> {
    let events = sim.events();
    for e in events.get(*seen_events..).unwrap_or_default() {
        let Some(term) = is_new_leader(&e.event) else {
            continue;
        };
        let Some(leader) = sim.node(e.node) else {
            continue;
        };
        // Entries compacted into the leader's snapshot (§7) are in its state machine,
        // which state machine safety checks at every apply.
        let start = leader.log_start();
        for (i, committed) in sim.checker().committed().iter().enumerate() {
            let index = i as u64 + 1;
            if index <= start {
                continue;
            }
            let holds = held(leader, index);
            if holds != Some(*committed) {
                return Err(missing(e.node, term, index, *committed, holds));
            }
        }
    }
    *seen_events = events.len();
    Ok(())
}

fn missing(
    leader: NodeId,
    term: u64,
    index: u64,
    committed: Option<RequestId>,
    holds: Option<Option<RequestId>>,
) -> String {
    let holds = match holds {
        Some(entry) => protocols::entry_text(entry),
        None => "nothing".to_string(),
    };
    format!(
        "leader completeness: leader {leader} of term {term} lacks committed index {index} ({}; it holds {holds})",
        protocols::entry_text(committed)
    )
}

/// Raft §5.4: checked at every `LeaderElected`.
#[derive(Debug, Default)]
pub struct RaftLeaderCompleteness {
    seen_events: usize,
}

impl RaftLeaderCompleteness {
    /// Checks the leaders elected since the last call.
    pub fn check(&mut self, sim: &Simulation<Raft>) -> Result<(), String> {
        check_new_leaders(
            sim,
            &mut self.seen_events,
            |event| match event {
                Event::LeaderElected { term } => Some(*term),
                _ => None,
            },
            |leader, index| {
                leader
                    .log()
                    .get(index)
                    .map(|entry| entry.command.as_ref().map(|c| c.id))
            },
        )
    }
}

/// Zab §3.2 primary integrity: checked at every `LeaderReady` (an established leader).
#[derive(Debug, Default)]
pub struct ZabPrimaryIntegrity {
    seen_events: usize,
}

impl ZabPrimaryIntegrity {
    /// Checks the leaders established since the last call.
    pub fn check(&mut self, sim: &Simulation<Zab>) -> Result<(), String> {
        check_new_leaders(
            sim,
            &mut self.seen_events,
            |event| match event {
                Event::LeaderReady { term } => Some(*term),
                _ => None,
            },
            |leader, index| {
                let index = usize::try_from(index).ok()?;
                leader.history().get(index).map(|t| Some(t.command.id))
            },
        )
    }
}
