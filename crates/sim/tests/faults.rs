//! The chaos faults one at a time, on Raft: a power failure of every node, a one-way
//! cut, a dropped message kind and a leader stranded in a minority with clients
//! writing to it. Each is staged on a cluster with a leader and checked for what it
//! must do; the simulator's own checks (one leader per term, one command per index)
//! run after every step as always.

use kv::{KvCommand, KvOp, Session};
use lincheck::Completion;
use protocols::raft::Raft;
use protocols::NodeId;
use sim::{Action, DiskConfig, SimConfig, Simulation};
use std::time::Duration;

fn put(n: u64) -> bytes::Bytes {
    KvCommand {
        session: Session::NONE,
        op: KvOp::Put {
            key: "k".into(),
            value: format!("v{n}").into(),
        },
    }
    .encode()
}

/// `n` Raft nodes with a ready leader.
fn cluster(n: u64, seed: u64) -> (Simulation<Raft>, NodeId) {
    cluster_with(SimConfig::voters(n, seed))
}

/// A ready leader in a cluster of `config`.
fn cluster_with(config: SimConfig) -> (Simulation<Raft>, NodeId) {
    let mut sim = Simulation::<Raft>::new(config);
    sim.start_all().expect("safe");
    let leader = sim
        .run_until_ready(Duration::from_secs(5))
        .expect("safe")
        .expect("a leader");
    (sim, leader)
}

fn committed(sim: &Simulation<Raft>) -> usize {
    sim.checker().committed().len()
}

#[test]
fn a_power_failure_of_every_node_loses_only_what_no_disk_had_synced() {
    let (mut sim, leader) = cluster(3, 1);
    sim.submit(leader, put(1)).expect("safe");
    sim.run_for(Duration::from_millis(200)).expect("safe");
    let before = committed(&sim);
    // Disks that take 50 ms to sync: the next write is on no disk when the power fails.
    for id in sim.ids() {
        sim.set_disk(id, DiskConfig::fixed(Duration::from_millis(50)));
    }
    sim.submit(leader, put(2)).expect("safe");
    sim.run_for(Duration::from_millis(5)).expect("safe");
    sim.act(Action::PowerFailure(sim.ids())).expect("safe");
    assert!(sim.running().is_empty());
    sim.start_all().expect("safe");
    sim.run_for(Duration::from_secs(2)).expect("safe");
    assert!(sim.ready_leader().is_some());
    // The committed write survived (the checker would have failed otherwise); the
    // unsynced one is gone and its client never got an answer.
    assert!(committed(&sim) >= before);
    let ops = sim.history().ops();
    assert_eq!(ops.len(), 2);
    assert!(matches!(ops[0].outcome, Completion::Ok(_)));
    assert_eq!(ops[1].outcome, Completion::Unknown);
}

#[test]
fn without_check_quorum_a_leader_that_cannot_hear_its_followers_commits_nothing_until_the_cut_heals(
) {
    let mut config = SimConfig::voters(3, 2);
    config.timing.check_quorum = false;
    let (mut sim, leader) = cluster_with(config);
    let followers: Vec<NodeId> = sim.ids().into_iter().filter(|&i| i != leader).collect();
    sim.act(Action::OneWay {
        from: followers.clone(),
        to: vec![leader],
    })
    .expect("safe");
    let before = committed(&sim);
    sim.submit(leader, put(1)).expect("safe");
    sim.run_for(Duration::from_secs(1)).expect("safe");
    // Its heartbeats still arrive, so nobody campaigns; their answers do not.
    assert_eq!(committed(&sim), before, "nothing commits without the acks");
    assert_eq!(sim.ready_leader(), Some(leader));
    assert!(sim.fault_stats().one_way_drops > 0);
    sim.act(Action::Heal).expect("safe");
    sim.run_for(Duration::from_secs(1)).expect("safe");
    assert_eq!(committed(&sim), before + 1);
}

#[test]
fn with_check_quorum_a_leader_that_cannot_hear_its_followers_steps_down_and_another_commits() {
    // The same cut with CheckQuorum on (the default): the deaf leader steps down within
    // an election timeout, and once its heartbeats stop, a follower takes over and
    // commits the write it had replicated.
    let (mut sim, leader) = cluster(3, 2);
    let followers: Vec<NodeId> = sim.ids().into_iter().filter(|&i| i != leader).collect();
    sim.act(Action::OneWay {
        from: followers.clone(),
        to: vec![leader],
    })
    .expect("safe");
    let before = committed(&sim);
    sim.submit(leader, put(1)).expect("safe");
    sim.run_for(Duration::from_secs(1)).expect("safe");
    let now = sim.ready_leader().expect("a leader");
    assert!(followers.contains(&now), "leader {now}");
    assert_eq!(committed(&sim), before + 2, "the write and the new no-op");
}

#[test]
fn a_dropped_kind_loses_that_kind_on_that_link_only() {
    let (mut sim, leader) = cluster(3, 3);
    let follower = sim.ids().into_iter().find(|&i| i != leader).expect("one");
    sim.act(Action::DropKind {
        from: leader,
        to: follower,
        // Raft's AppendEntries with entries; empty ones are `Heartbeat`s.
        kind: Some("AppendEntries".into()),
    })
    .expect("safe");
    for n in 1..=3 {
        sim.submit(leader, put(n)).expect("safe");
    }
    sim.run_for(Duration::from_secs(1)).expect("safe");
    // Heartbeats kept the follower following; the other follower made the majority.
    assert!(sim.fault_stats().kind_drops > 0);
    assert_eq!(sim.ready_leader(), Some(leader));
    let full = sim.applied(leader).len();
    assert!(sim.applied(follower).len() < full);
    sim.act(Action::StopDropKind {
        from: leader,
        to: follower,
        kind: None,
    })
    .expect("safe");
    sim.run_for(Duration::from_secs(1)).expect("safe");
    assert_eq!(sim.applied(follower).len(), full);
    // Without a kind: one of those the link carried, picked when the action runs.
    sim.act(Action::DropKind {
        from: follower,
        to: leader,
        kind: None,
    })
    .expect("safe");
    assert_eq!(sim.network().kind_drops().len(), 1);
}

#[test]
fn without_check_quorum_a_stranded_leader_takes_writes_it_never_commits() {
    let mut config = SimConfig::voters(5, 4);
    config.timing.check_quorum = false;
    let (mut sim, old) = cluster_with(config);
    sim.act(Action::StrandLeader { minority: 2 }).expect("safe");
    let before = committed(&sim);
    for n in 1..=60 {
        let someone = 1 + n % 5;
        sim.schedule(
            sim.now().plus(Duration::from_millis(15 * n)),
            Action::Submit {
                node: someone,
                data: put(n),
            },
        );
    }
    sim.run_for(Duration::from_secs(2)).expect("safe");
    let stats = sim.fault_stats();
    assert_eq!(stats.stranded_leaders, 1);
    assert_eq!(stats.stranded_writes, 20, "every third command went to it");
    // The old leader appended them; the majority elected a new leader meanwhile.
    let stranded = sim.node(old).expect("up");
    assert!(stranded.log().last_index() > stranded.commit_index() + 10);
    let new = sim.ready_leader().expect("a leader");
    assert_ne!(new, old);
    sim.act(Action::Heal).expect("safe");
    sim.run_for(Duration::from_secs(2)).expect("safe");
    // None of the commands sent to the stranded leader was applied.
    let unanswered = sim
        .history()
        .ops()
        .iter()
        .filter(|op| op.outcome == Completion::Unknown)
        .count();
    assert!(unanswered >= 20, "{unanswered} unanswered");
    assert!(committed(&sim) > before);
    assert!(sim
        .applied(old)
        .iter()
        .flatten()
        .all(|req| req.origin != old));
}

#[test]
fn with_check_quorum_a_stranded_leader_steps_down_and_takes_few_writes() {
    // CheckQuorum (the default): the stranded leader hears from only one follower of
    // four, so it steps down within an election timeout; the commands steered to it
    // afterwards are refused rather than appended.
    let (mut sim, old) = cluster(5, 4);
    sim.act(Action::StrandLeader { minority: 2 }).expect("safe");
    for n in 1..=60 {
        sim.schedule(
            sim.now().plus(Duration::from_millis(15 * n)),
            Action::Submit {
                node: 1 + n % 5,
                data: put(n),
            },
        );
    }
    sim.run_for(Duration::from_secs(2)).expect("safe");
    assert_eq!(sim.fault_stats().stranded_leaders, 1);
    let stranded = sim.node(old).expect("up");
    assert!(!stranded.role().is_leader(), "stepped down");
    let tail = stranded.log().last_index() - stranded.commit_index();
    assert!(tail < 10, "{tail} uncommitted entries");
    let new = sim.ready_leader().expect("a leader");
    assert_ne!(new, old);
}
