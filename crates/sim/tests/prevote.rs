//! Raft's PreVote and CheckQuorum (thesis §9.6) under the simulator's own timers and
//! network, each with the setting off as the comparison: a follower cut off for a while
//! and healed, and a leader cut off from everyone.

use protocols::raft::Raft;
use protocols::{NodeId, Protocol};
use sim::{Action, SimConfig, Simulation};
use std::time::Duration;

/// Five Raft nodes with a ready leader, PreVote and CheckQuorum as given.
fn cluster(seed: u64, pre_vote: bool, check_quorum: bool) -> (Simulation<Raft>, NodeId) {
    let mut config = SimConfig::voters(5, seed);
    config.timing.pre_vote = pre_vote;
    config.timing.check_quorum = check_quorum;
    let mut sim = Simulation::<Raft>::new(config);
    sim.start_all().expect("safe");
    let leader = sim
        .run_until_ready(Duration::from_secs(5))
        .expect("safe")
        .expect("a leader");
    (sim, leader)
}

fn max_term(sim: &Simulation<Raft>) -> u64 {
    sim.running()
        .into_iter()
        .filter_map(|id| sim.node(id).map(|n| n.status().term))
        .max()
        .unwrap_or(0)
}

/// A follower is cut off for two seconds (several election timeouts), then healed;
/// returns (the leader before, the leader and highest term a second after healing,
/// the term before).
fn follower_returns(seed: u64, pre_vote: bool) -> (NodeId, Option<NodeId>, u64, u64) {
    let (mut sim, leader) = cluster(seed, pre_vote, pre_vote);
    let term = max_term(&sim);
    let follower = sim.ids().into_iter().find(|&i| i != leader).expect("one");
    sim.act(Action::Isolate(follower)).expect("safe");
    sim.run_for(Duration::from_secs(2)).expect("safe");
    sim.act(Action::Heal).expect("safe");
    sim.run_for(Duration::from_secs(1)).expect("safe");
    (leader, sim.ready_leader(), max_term(&sim), term)
}

#[test]
fn with_pre_vote_a_follower_back_from_a_partition_leaves_term_and_leader_alone() {
    for seed in 0..5 {
        let (before, after, term, was) = follower_returns(seed, true);
        assert_eq!(after, Some(before), "seed {seed}");
        assert_eq!(term, was, "seed {seed}: the term did not move");
    }
}

#[test]
fn without_pre_vote_a_follower_back_from_a_partition_forces_a_new_election() {
    for seed in 0..5 {
        let (_, after, term, was) = follower_returns(seed, false);
        assert!(term > was + 3, "seed {seed}: term {was} -> {term}");
        assert!(after.is_some(), "seed {seed}: the cluster recovers");
    }
}

/// The leader is cut off from everyone; how long until it no longer leads (within 3 s).
fn isolated_leader_leads_for(seed: u64, check_quorum: bool) -> Option<Duration> {
    let (mut sim, leader) = cluster(seed, true, check_quorum);
    sim.act(Action::Isolate(leader)).expect("safe");
    let cut = sim.now();
    while sim.now().since(cut) < Duration::from_secs(3) {
        sim.run_for(Duration::from_millis(5)).expect("safe");
        if !sim.node(leader).expect("up").role().is_leader() {
            return Some(sim.now().since(cut));
        }
    }
    None
}

#[test]
fn with_check_quorum_an_isolated_leader_steps_down_within_an_election_timeout() {
    let t = protocols::Timing::default();
    for seed in 0..5 {
        let took = isolated_leader_leads_for(seed, true).expect("steps down");
        assert!(
            took <= t.election_timeout_min + t.heartbeat + Duration::from_millis(10),
            "seed {seed}: {took:?}"
        );
    }
}

#[test]
fn without_check_quorum_an_isolated_leader_keeps_leading() {
    for seed in 0..5 {
        assert_eq!(isolated_leader_leads_for(seed, false), None, "seed {seed}");
    }
}
