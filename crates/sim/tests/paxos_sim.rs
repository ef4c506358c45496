//! Paxos safety under random faults in the deterministic simulator, over many seeds.
//!
//! Faults: crashes and restarts from the WAL records, partitions, isolations, message
//! loss and duplication (`sim::chaos`). Checked after every step by the
//! simulator's checker: at most one leader per ballot (`term` = `Ballot::as_u64`) and
//! every node applies the same command at each index. Checked here as well, from the
//! nodes' own state ("Paxos Made Simple" §2.1 safety: only a single value is chosen):
//! at most one value chosen per slot, and at most one leadership value per era, across
//! all nodes and all incarnations. `CWB_SEEDS=N` sets the number of seeds (default 1000).

use protocols::paxos::Paxos;
use protocols::{Event, NodeId, Protocol};
use sim::chaos::{self, ChaosConfig};
use sim::invariants::PaxosOneValue;
use sim::{SimConfig, Simulation};
use std::time::Duration;

fn seeds() -> u64 {
    sim::chaos::seeds(1000)
}

/// Seeds `0..n` under `cfg`, with [`PaxosOneValue`] checked too.
fn sweep(cfg: &ChaosConfig, n: u64) -> chaos::SweepReport {
    chaos::sweep::<Paxos, _>(
        cfg,
        n,
        || {
            let mut chosen = PaxosOneValue::default();
            move |sim: &Simulation<Paxos>, step| {
                if step % 16 == 0 {
                    chosen.check(sim)?;
                }
                Ok(())
            }
        },
        |_, _| false,
    )
}

#[test]
fn paxos_is_safe_under_random_faults() {
    let n = seeds();
    let report = sweep(&ChaosConfig::default(), n);
    let leaders = report.terms_with_leader;
    assert!(
        leaders as u64 >= n,
        "faults must force elections: {leaders} leader ballots over {n} seeds"
    );
    eprintln!(
        "{n} seeds: {}; {}",
        report.clients_line(),
        report.faults_line()
    );
    assert!(
        report.every_fault_struck() || n < 100,
        "{}",
        report.faults_line()
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
fn without_pre_vote_or_check_quorum_it_is_safe_too() {
    // The defaults run PreVote and CheckQuorum; the variants without them (the
    // paper's §5 algorithm, kept for comparison) are swept too, on fewer seeds.
    let cfg = ChaosConfig {
        timing: protocols::Timing {
            pre_vote: false,
            check_quorum: false,
            ..protocols::Timing::default()
        },
        ..ChaosConfig::default()
    };
    let report = sweep(&cfg, (seeds() / 4).max(10));
    eprintln!("{}", report.clients_line());
    let replay = chaos::replay_command::<Paxos>(&cfg, 1);
    assert!(
        replay.contains("--pre-vote off --check-quorum off"),
        "{replay}"
    );
}

#[test]
fn a_seed_replays_identically() {
    sim::chaos::assert_replays_identically::<Paxos>(42);
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
