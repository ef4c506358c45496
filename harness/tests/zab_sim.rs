//! ZAB safety under random faults in the deterministic simulator, over many seeds.
//!
//! Checked after every step: at most one established leader per epoch and a committed
//! prefix that never changes (the simulator's checker, Zab §3.2 "primary order" and
//! "integrity"); here, ZAB-specific invariants: every zxid names one transaction on
//! every server, an established leader holds every committed transaction (the paper's
//! "primary integrity"), epochs and logs are locally consistent, and observers never
//! count toward a quorum. After the faults heal every server must deliver the same
//! sequence. The default 300 seeds (plus a quarter as many with observers) take about
//! a minute in a debug build; `CWB_SEEDS=10000 cargo test -p harness --release --test
//! zab_sim` runs a longer sweep. A failure prints its seed.

use harness::sim::chaos::{run_seed, ChaosConfig};
use harness::sim::{Action, SimConfig, Simulation};
use protocols::zab::{ServerState, Zab, Zxid};
use protocols::{Event, Membership, Protocol, RequestId};
use std::collections::BTreeMap;
use std::time::Duration;

fn seeds() -> u64 {
    harness::sim::chaos::seeds(1000)
}

/// Each zxid is assigned once, by the one leader of its epoch: every server that logged
/// it logged the same command.
fn zxids_name_one_transaction(sim: &Simulation<Zab>) -> Result<(), String> {
    let mut seen: BTreeMap<Zxid, (RequestId, u64)> = BTreeMap::new();
    for id in sim.running() {
        let Some(node) = sim.node(id) else { continue };
        for txn in &node.history().txns {
            match seen.get(&txn.zxid) {
                Some(&(other, holder)) if other != txn.command.id => {
                    return Err(format!(
                        "zxid {} is {other:?} on node {holder} but {:?} on node {id}",
                        txn.zxid, txn.command.id
                    ))
                }
                _ => {
                    seen.insert(txn.zxid, (txn.command.id, id));
                }
            }
        }
    }
    Ok(())
}

/// Local consistency of each server: epochs ordered, zxids increasing, delivery within
/// the log.
fn local_invariants(sim: &Simulation<Zab>) -> Result<(), String> {
    for id in sim.running() {
        let Some(node) = sim.node(id) else { continue };
        let h = node.history();
        if h.current_epoch > h.accepted_epoch {
            return Err(format!(
                "node {id}: current epoch {} > accepted {}",
                h.current_epoch, h.accepted_epoch
            ));
        }
        if h.delivered > h.txns.len() || h.txns.windows(2).any(|w| w[0].zxid >= w[1].zxid) {
            return Err(format!(
                "node {id}: log out of order or delivered beyond it"
            ));
        }
        if sim.applied(id).len() != h.delivered {
            return Err(format!(
                "node {id}: {} applied but {} delivered",
                sim.applied(id).len(),
                h.delivered
            ));
        }
    }
    Ok(())
}

/// Primary integrity: a leader, once established, holds every committed transaction
/// at its delivered position.
fn established_leader_holds_committed(
    sim: &Simulation<Zab>,
    seen_events: &mut usize,
) -> Result<(), String> {
    let events = sim.events();
    for e in &events[*seen_events..] {
        let Event::LeaderReady { term } = e.event else {
            continue;
        };
        let Some(leader) = sim.node(e.node) else {
            continue;
        };
        for (i, committed) in sim.checker().committed().iter().enumerate() {
            let held = leader.history().txns.get(i).map(|t| t.command.id);
            if held != *committed {
                return Err(format!(
                    "leader {} of epoch {term} lacks committed index {} ({committed:?}, holds {held:?})",
                    e.node,
                    i + 1
                ));
            }
        }
    }
    *seen_events = events.len();
    Ok(())
}

fn check(sim: &Simulation<Zab>, step: u64, seen: &mut usize) -> Result<(), String> {
    established_leader_holds_committed(sim, seen)?;
    if step % 50 == 0 {
        local_invariants(sim)?;
        zxids_name_one_transaction(sim)?;
    }
    Ok(())
}

fn sweep(cfg: &ChaosConfig, n: u64) -> usize {
    let mut epochs = 0;
    for seed in 0..n {
        let mut seen = 0;
        let (_, result) =
            run_seed::<Zab>(seed, cfg, false, |sim, step| check(sim, step, &mut seen));
        match result {
            Ok(report) => epochs += report.terms_with_leader,
            Err(failure) => panic!(
                "{failure}\nreplay: cargo run -- sim --protocol zab --nodes {} --seed {seed}",
                cfg.voters
            ),
        }
    }
    epochs
}

#[test]
fn zab_is_safe_under_random_faults() {
    let n = seeds();
    let epochs = sweep(&ChaosConfig::default(), n);
    assert!(
        epochs as u64 >= n,
        "faults must force elections: {epochs} epochs over {n} seeds"
    );
}

#[test]
fn observers_too() {
    let cfg = ChaosConfig {
        voters: 3,
        observers: 2,
        ..ChaosConfig::default()
    };
    sweep(&cfg, (seeds() / 4).max(10));
}

#[test]
fn a_seed_replays_identically() {
    harness::sim::chaos::assert_replays_identically::<Zab>(42);
}

#[test]
fn fresh_cluster_elects_one_leader_and_commits() {
    let mut sim = Simulation::<Zab>::new(SimConfig::voters(3, 7));
    sim.start_all().expect("safe");
    let leader = sim
        .run_until_ready(Duration::from_secs(5))
        .expect("safe")
        .expect("a leader");
    sim.run_for(Duration::from_millis(100)).expect("safe"); // UPTODATE reaches followers
                                                            // A write at a follower is forwarded; all three deliver it.
    let follower = sim
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    sim.submit(follower, bytes::Bytes::from_static(b"put a 1"))
        .expect("safe");
    sim.run_for(Duration::from_secs(1)).expect("safe");
    for id in sim.ids() {
        assert_eq!(sim.applied(id).len(), 1, "node {id} delivered the command");
    }
}

#[test]
fn observers_never_count_toward_a_quorum() {
    let config = SimConfig {
        membership: Membership::new([1, 2, 3], [4, 5]),
        ..SimConfig::voters(3, 11)
    };
    let mut sim = Simulation::<Zab>::new(config);
    sim.start_all().expect("safe");
    let leader = sim
        .run_until_ready(Duration::from_secs(5))
        .expect("safe")
        .expect("a leader");
    sim.run_for(Duration::from_millis(500)).expect("safe"); // observers join and sync
    sim.submit(4, bytes::Bytes::from_static(b"put a 1"))
        .expect("safe");
    sim.run_for(Duration::from_secs(1)).expect("safe");
    assert_eq!(sim.applied(5).len(), 1, "observers deliver through INFORM");
    // Two voters down: the leader and two observers are 3 servers but 1 voter of 3.
    for id in [1, 2, 3]
        .into_iter()
        .filter(|&id| id != leader)
        .collect::<Vec<_>>()
    {
        sim.act(Action::Crash(id)).expect("safe");
    }
    for at in [leader, 4, 5] {
        sim.submit(at, bytes::Bytes::from_static(b"put b 2"))
            .expect("safe");
    }
    sim.run_for(Duration::from_secs(3)).expect("safe");
    let committed = sim.checker().committed().len();
    assert_eq!(committed, 1, "nothing commits without a quorum of voters");
    let elected = sim
        .events()
        .iter()
        .filter(|e| matches!(e.event, Event::LeaderReady { .. }))
        .count();
    assert_eq!(
        elected, 1,
        "no leader is established without a quorum of voters"
    );
    for id in [4, 5] {
        assert_ne!(
            sim.node(id).map(Zab::server_state),
            Some(ServerState::Following)
        );
        assert!(!sim.node(id).is_some_and(|z| z.status().role.is_leader()));
    }
}
