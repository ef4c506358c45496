//! Paxos safety under random faults in the deterministic simulator, over many seeds.
//!
//! Faults: crashes and restarts from the WAL records, partitions, isolations, message
//! loss and duplication (`harness::sim::chaos`). Checked after every step by the
//! simulator's checker: at most one leader per ballot (`term` = `Ballot::as_u64`) and
//! every node applies the same command at each index. Checked here as well, from the
//! nodes' own state ("Paxos Made Simple" §2.1 safety: only a single value is chosen):
//! at most one value chosen per slot, and at most one leadership value per era, across
//! all nodes and all incarnations. `CWB_SEEDS=N` sets the number of seeds (default 1000).

use harness::sim::chaos::{self, ChaosConfig};
use harness::sim::{SimConfig, Simulation};
use protocols::paxos::{Leadership, Paxos};
use protocols::{Event, NodeId, Protocol, RequestId};
use std::collections::BTreeMap;
use std::time::Duration;

fn seeds() -> u64 {
    harness::sim::chaos::seeds(1000)
}

/// What has been seen chosen so far, across every node and incarnation.
#[derive(Default)]
struct Chosen {
    /// Slot -> the command (by request id) first seen chosen there, and by whom.
    slots: BTreeMap<u64, (Option<RequestId>, NodeId)>,
    /// Era -> the leadership value first seen chosen, and by whom.
    eras: BTreeMap<u64, (Leadership, NodeId)>,
    /// How far each node's known-chosen slots have been checked.
    checked: BTreeMap<NodeId, u64>,
}

impl Chosen {
    /// At most one value per slot and per era.
    fn check(&mut self, sim: &Simulation<Paxos>) -> Result<(), String> {
        for id in sim.running() {
            let Some(node) = sim.node(id) else { continue };
            let (era, value) = node.known_era();
            if let Some(value) = value {
                match self.eras.get(&era) {
                    Some((first, by)) if *first != value => {
                        return Err(format!("two leaders chosen for era {era}: {first:?} (node {by}) and {value:?} (node {id})"));
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
                        return Err(format!("two values chosen for slot {slot}: {first:?} (node {by}) and {req:?} (node {id})"));
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

/// Seeds `0..n` under `cfg`, with [`Chosen`] checked too; returns the leader ballots
/// and messages seen.
fn sweep(cfg: &ChaosConfig, n: u64) -> (usize, u64) {
    let report = chaos::sweep::<Paxos, _>(
        cfg,
        n,
        || {
            let mut chosen = Chosen::default();
            move |sim: &Simulation<Paxos>, step| {
                if step % 16 == 0 {
                    chosen.check(sim)?;
                }
                Ok(())
            }
        },
        |_, _| false,
    );
    (report.terms_with_leader, report.messages)
}

#[test]
fn paxos_is_safe_under_random_faults() {
    let n = seeds();
    let (leaders, _) = sweep(&ChaosConfig::default(), n);
    assert!(
        leaders as u64 >= n,
        "faults must force elections: {leaders} leader ballots over {n} seeds"
    );
}

#[test]
fn three_node_clusters_too() {
    let cfg = ChaosConfig {
        voters: 3,
        ..ChaosConfig::default()
    };
    sweep(&cfg, (seeds() / 4).max(10));
}

#[test]
fn observers_learn_the_same_sequence() {
    let cfg = ChaosConfig {
        voters: 3,
        observers: 2,
        ..ChaosConfig::default()
    };
    sweep(&cfg, (seeds() / 10).max(10));
}

#[test]
fn a_seed_replays_identically() {
    harness::sim::chaos::assert_replays_identically::<Paxos>(42);
}

#[test]
fn fresh_cluster_elects_exactly_one_leader_and_commits() {
    let mut sim = Simulation::<Paxos>::new(SimConfig::voters(3, 7));
    sim.start_all().expect("safe");
    let leader = sim
        .run_until_ready(Duration::from_secs(5))
        .expect("safe")
        .expect("one leader");
    assert!(sim
        .node(leader)
        .is_some_and(|n| n.status().role.is_leader()));
    let elected: Vec<NodeId> = sim
        .events()
        .iter()
        .filter(|e| matches!(e.event, Event::LeaderElected { .. }))
        .map(|e| e.node)
        .collect();
    assert_eq!(elected, vec![leader]);
    sim.submit(leader, bytes::Bytes::from_static(b"put a 1"))
        .expect("safe");
    sim.run_for(Duration::from_secs(1)).expect("safe");
    for id in sim.ids() {
        assert_eq!(
            sim.applied(id).len(),
            1,
            "node {id} applied the command (no no-op on a fresh log)"
        );
    }
}
