//! ZAB safety under random faults in the deterministic simulator, over many seeds.
//!
//! Checked after every step: at most one established leader per epoch and a committed
//! prefix that never changes (the simulator's checker, Zab §3.2 "primary order" and
//! "integrity"); here, ZAB-specific invariants: every zxid names one transaction on
//! every server, an established leader holds every committed transaction (the paper's
//! "primary integrity"), epochs and logs are locally consistent, and observers never
//! count toward a quorum. After the faults heal every server must deliver the same
//! sequence, except a server locked out by a newer accepted epoch, a liveness limit
//! ZAB shares with ZooKeeper (see `locked_out_by_a_newer_accepted_epoch`). The default 300 seeds (plus a quarter as many with observers) take about
//! a minute in a debug build; `CWB_SEEDS=10000 cargo test -p sim --release --test
//! zab_sim` runs a longer sweep. A failure prints its seed.

use protocols::zab::{ServerState, Zab};
use protocols::{Event, Membership, Protocol};
use sim::chaos::{self, run_seed, ChaosConfig, Stage};
use sim::invariants::{
    locked_out_by_a_newer_accepted_epoch, zab_local_order, zxids_name_one_transaction,
    ZabPrimaryIntegrity,
};
use sim::{Action, SimConfig, Simulation};
use std::time::Duration;

fn seeds() -> u64 {
    sim::chaos::seeds(1000)
}

fn check(sim: &Simulation<Zab>, step: u64, seen: &mut ZabPrimaryIntegrity) -> Result<(), String> {
    seen.check(sim)?;
    if step.is_multiple_of(50) {
        zab_local_order(sim)?;
        zxids_name_one_transaction(sim)?;
    }
    Ok(())
}

/// Runs `n` seeds; its report's `tolerated` are the seeds whose only failure was a
/// server locked out by a newer accepted epoch (see above).
fn sweep(cfg: &ChaosConfig, n: u64) -> chaos::SweepReport {
    let report = chaos::sweep::<Zab, _>(
        cfg,
        n,
        || {
            let mut seen = ZabPrimaryIntegrity::default();
            move |sim: &Simulation<Zab>, step| check(sim, step, &mut seen)
        },
        |sim, failure| {
            let locked_out =
                failure.stage == Stage::Convergence && locked_out_by_a_newer_accepted_epoch(sim);
            if locked_out {
                eprintln!("seed {}: a server is locked out by a newer accepted epoch (ZAB liveness, as in ZooKeeper)", failure.seed);
            }
            locked_out
        },
    );
    let locked_out = &report.tolerated;
    // Rare by construction (a few in 30,000 seeds); many would mean a regression.
    assert!(
        locked_out.len() as u64 * 1000 <= n.max(1000),
        "servers locked out by a newer accepted epoch in too many seeds: {locked_out:?}"
    );
    report
}

#[test]
fn zab_is_safe_under_random_faults() {
    let n = seeds();
    let report = sweep(&ChaosConfig::default(), n);
    let epochs = report.terms_with_leader;
    assert!(
        epochs as u64 >= n,
        "faults must force elections: {epochs} epochs over {n} seeds"
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
    sim::chaos::assert_replays_identically::<Zab>(42);
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

#[test]
fn a_server_locked_out_by_a_newer_accepted_epoch_is_told_apart() {
    // Found by a long sweep when the simulator's links could still reorder (seeds
    // 1005, 3331, 7367, 9590 and 10519 of the first 10,600): some servers accepted
    // epoch e+1 from a prospective leader that never won its ACKEPOCH quorum, while
    // another leader established epoch e with the rest; the former cannot follow
    // epoch e. With FIFO links no seed of the first 15,000 locks a server out, so the
    // schedule is replayed with reordering links (`--reorder`). To look for one on
    // FIFO links: `CWB_SEEDS=30000 cargo nextest run --release -p sim --test zab_sim
    // zab_is_safe --no-capture`.
    let seed = 1005;
    let cfg = ChaosConfig {
        reorder: true,
        ..ChaosConfig::default()
    };
    let mut seen = ZabPrimaryIntegrity::default();
    let (sim, result) = run_seed::<Zab>(seed, &cfg, false, |sim, step| check(sim, step, &mut seen));
    let failure = result.expect_err("this schedule locks servers out");
    assert!(failure.stage == Stage::Convergence, "{failure}");
    assert!(locked_out_by_a_newer_accepted_epoch(&sim), "{failure}");
}
