//! Chaos sweeps for Redis Cluster: the same random fault schedules as the consensus
//! protocols' sweeps ([`super::schedule`]: crashes, power failures, partitions,
//! isolations, one-way cuts, dropped message kinds, a stranded master, loss and
//! duplication) with the same clients, judged by what Redis Cluster promises, and
//! counting what it does not.
//!
//! Redis Cluster agrees on no single sequence of commands: each master owns a
//! replication stream over its hash slots and answers a write before its replicas have
//! it. The generic sweep's checks (one applied sequence on every node, a linearizable
//! history) would fail it by design. What the Redis Cluster Specification does promise,
//! and what fails a seed here:
//!
//! - **One master per configEpoch** ("Configuration handling, propagation, and
//!   failovers"): every promotion wins a majority of masters' votes for a fresh epoch,
//!   so no two nodes ever claim slots under the same configEpoch. Checked by the
//!   simulator's one-leader-per-generation check on every promotion
//!   (`LeaderElected { term: configEpoch }`), and after every step here: no two nodes
//!   that believe they are masters serving slots hold the same configEpoch.
//! - **Progress once healed**: after the network heals and every node restarts, writes
//!   are acknowledged again.
//! - **Configuration propagation** ("UPDATE messages", "Replica migration" aside): after
//!   a quiet period every running node holds the same slot map, every slot's owner
//!   believes it is a master, and every replica of such a master holds its master's
//!   whole stream (the replication offsets and commands agree).
//!
//! Not promised, so counted and never failed: acknowledged writes lost (a put or a
//! swap a node answered whose value is in no command of the stream of the key's final
//! master: values are unique per command, so this is exact), and the linearizability
//! checker's verdict on the clients' history.

use super::schedule::{schedule_clients, schedule_faults};
use super::{replay_command, run_checked, sim_config, sim_end, ChaosConfig, ChaosFailure};
use super::{ChaosReport, Stage};
use crate::invariants::Violation;
use crate::{Action, Simulation};
use kv::{KvCommand, KvOp};
use lincheck::{Completion, Input, Limits, Verdict};
use protocols::redis::Redis;
use protocols::{DetRng, NodeId, Time};
use std::collections::{BTreeMap, BTreeSet};

/// Nodes of a Redis chaos run: three masters with one replica each.
pub const NODES: u64 = 6;

/// What a Redis Cluster chaos seed did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisChaosReport {
    /// The faults and client counts, as for the consensus protocols.
    pub chaos: ChaosReport,
    /// Distinct configEpochs under which a replica was promoted.
    pub promotions: usize,
    /// Puts and swaps a node acknowledged.
    pub acknowledged: usize,
    /// Of those, the ones the final state lacks.
    pub lost: usize,
    /// The checker's verdict: `Some(true)` linearizable, `Some(false)` not, `None`
    /// undecided within its step budget.
    pub linearizable: Option<bool>,
}

/// The [`ChaosConfig`] of a Redis Cluster sweep: the default schedule on six nodes.
pub fn config() -> ChaosConfig {
    ChaosConfig {
        voters: NODES,
        // Replication caps its own batches; the cap is a Raft/Paxos setting.
        small_batches: false,
        ..ChaosConfig::default()
    }
}

/// Runs one seed of Redis Cluster under `cfg` (see [`config`]).
pub fn run_seed(
    seed: u64,
    cfg: &ChaosConfig,
    trace: bool,
) -> (Simulation<Redis>, Result<RedisChaosReport, ChaosFailure>) {
    let mut sim = Simulation::<Redis>::new(sim_config(seed, cfg, trace));
    let mut report = RedisChaosReport {
        chaos: ChaosReport {
            seed,
            ..ChaosReport::default()
        },
        ..RedisChaosReport::default()
    };
    let result = drive(&mut sim, cfg, &mut report).map_err(|(stage, violation)| ChaosFailure {
        seed,
        replay: replay_command::<Redis>(cfg, seed),
        stage,
        violation,
    });
    (sim, result.map(|()| report))
}

fn drive(
    sim: &mut Simulation<Redis>,
    cfg: &ChaosConfig,
    report: &mut RedisChaosReport,
) -> Result<(), (Stage, Violation)> {
    let safety = |v| (Stage::Safety, v);
    let mut plan = DetRng::new(sim.config.seed ^ 0xC4A0_5EED);
    let ids = sim.ids();
    schedule_faults(sim, cfg, &mut plan, &ids, &mut report.chaos);
    schedule_clients(sim, cfg, &mut plan, &ids, Time::ZERO, sim_end(cfg));
    sim.start_all().map_err(safety)?;
    let mut check = |sim: &Simulation<Redis>, _step: u64| one_master_per_config_epoch(sim);
    run_checked(sim, Time::ZERO.plus(cfg.faulty), &mut check).map_err(safety)?;
    sim.act(Action::Heal).map_err(safety)?;
    sim.act(Action::SetLoss(0.0)).map_err(safety)?;
    sim.start_all().map_err(safety)?;
    let healed = sim.now();
    run_checked(sim, sim_end(cfg), &mut check).map_err(safety)?;
    let after = acknowledged_writes(sim)
        .filter(|(op, _)| op.completed.is_some_and(|t| t >= healed.as_nanos()))
        .count();
    if after == 0 {
        return Err((
            Stage::Progress,
            Violation::new(
                sim.now(),
                "no write acknowledged after the network healed and every node restarted"
                    .to_string(),
            ),
        ));
    }
    let quiet_end = sim.now().plus(cfg.timing.election_timeout_max * 4);
    run_checked(sim, quiet_end, &mut check).map_err(safety)?;
    converged(sim).map_err(|what| (Stage::Convergence, Violation::new(sim.now(), what)))?;

    let (acknowledged, lost) = lost_writes(sim);
    report.acknowledged = acknowledged;
    report.lost = lost;
    let limits = Limits {
        time: None,
        steps: Some(20_000_000),
        shrink_time: std::time::Duration::ZERO,
    };
    report.linearizable = match lincheck::check(sim.history(), limits) {
        Verdict::Linearizable => Some(true),
        Verdict::NotLinearizable(_) => Some(false),
        Verdict::Undecided(_) => None,
    };
    report.promotions = sim.checker().leaders().len();
    let stats = sim.history().stats();
    let c = &mut report.chaos;
    c.operations = stats.operations;
    c.unknown = stats.unknown;
    c.failed = stats.failed;
    c.retries = sim.client_retries();
    c.messages = sim.messages_sent();
    c.torn_tails = sim.torn_tails_cut();
    c.faults = sim.fault_stats();
    c.linearizable = report.linearizable == Some(true);
    Ok(())
}

/// After every step: no two running nodes that believe they are masters serving slots
/// hold the same configEpoch.
fn one_master_per_config_epoch(sim: &Simulation<Redis>) -> Result<(), String> {
    let mut seen: BTreeMap<u64, NodeId> = BTreeMap::new();
    for id in sim.running() {
        let Some(n) = sim.node(id) else { continue };
        if !n.is_master() || !n.slot_map().serves_any(id) {
            continue;
        }
        if let Some(other) = seen.insert(n.config_epoch(), id) {
            return Err(format!(
                "nodes {other} and {id} both serve slots as masters of configEpoch {}",
                n.config_epoch()
            ));
        }
    }
    Ok(())
}

/// After the quiet period: one slot map everywhere, its owners masters, and every
/// replica of an owner holding the owner's stream.
fn converged(sim: &Simulation<Redis>) -> Result<(), String> {
    let running = sim.running();
    let nodes: Vec<(NodeId, &Redis)> = running
        .iter()
        .filter_map(|&id| sim.node(id).map(|n| (id, n)))
        .collect();
    let Some(&(first, reference)) = nodes.first() else {
        return Err("no node runs".to_string());
    };
    let map = reference.slot_map().all_ranges();
    for &(id, n) in &nodes {
        if n.slot_map().all_ranges() != map {
            return Err(format!(
                "nodes {first} and {id} hold different slot maps: {map:?} against {:?}",
                n.slot_map().all_ranges()
            ));
        }
    }
    let owners: BTreeSet<NodeId> = map.iter().map(|(_, owner)| *owner).collect();
    for &owner in &owners {
        let Some(master) = sim.node(owner) else {
            return Err(format!("slot owner {owner} does not run"));
        };
        if !master.is_master() {
            return Err(format!(
                "every node maps slots to {owner}, which replicates {:?}",
                master.master()
            ));
        }
        for &(id, n) in &nodes {
            if n.master() == Some(owner) && n.stream().commands() != master.stream().commands() {
                return Err(format!(
                    "replica {id} holds {} commands of its master {owner}'s {}",
                    n.stream().offset(),
                    master.stream().offset()
                ));
            }
        }
    }
    Ok(())
}

/// The puts and swaps a node acknowledged, each with the value it wrote.
fn acknowledged_writes(
    sim: &Simulation<Redis>,
) -> impl Iterator<Item = (&lincheck::Operation, &str)> + '_ {
    sim.history().ops().iter().filter_map(|op| {
        let written = match (&op.input, &op.outcome) {
            (Input::Put(v), Completion::Ok(_)) => v,
            (Input::Cas { to, .. }, outcome) if *outcome == Completion::cas(true) => to,
            _ => return None,
        };
        Some((op, written.as_str()))
    })
}

/// A key and the value a command wrote to it.
type KeyValue = (Vec<u8>, Vec<u8>);

/// (acknowledged, lost): an acknowledged write is lost when no command in the stream of
/// the master its key maps to at the end wrote its value.
fn lost_writes(sim: &Simulation<Redis>) -> (usize, usize) {
    let Some(view) = sim.running().into_iter().find_map(|id| sim.node(id)) else {
        return (0, 0);
    };
    // Per master, the (key, value) pairs its stream wrote.
    let mut held: BTreeMap<NodeId, BTreeSet<KeyValue>> = BTreeMap::new();
    for master in view.slot_map().masters() {
        let Some(n) = sim.node(master) else { continue };
        let writes = n
            .stream()
            .commands()
            .iter()
            .filter_map(|c| KvCommand::decode(&c.data))
            .filter_map(|c| match c.op {
                KvOp::Put { key, value } => Some((key.to_vec(), value.to_vec())),
                KvOp::Cas { key, to, .. } => Some((key.to_vec(), to.to_vec())),
                _ => None,
            })
            .collect();
        held.insert(master, writes);
    }
    let (mut acknowledged, mut lost) = (0, 0);
    for (op, value) in acknowledged_writes(sim) {
        acknowledged += 1;
        let key = op.key.as_bytes().to_vec();
        let master = view
            .slot_map()
            .owner(protocols::redis::slots::slot_of(&key));
        let kept = master
            .and_then(|m| held.get(&m))
            .is_some_and(|w| w.contains(&(key, value.as_bytes().to_vec())));
        lost += usize::from(!kept);
    }
    (acknowledged, lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_runs_every_fault_and_keeps_what_redis_cluster_promises() {
        let cfg = config();
        let (_, result) = run_seed(3, &cfg, false);
        let report = result.unwrap_or_else(|f| panic!("{f}"));
        assert!(report.acknowledged > 0, "{report:?}");
        assert!(report.chaos.operations > 0, "{report:?}");
        assert!(report.lost <= report.acknowledged);
    }
}
