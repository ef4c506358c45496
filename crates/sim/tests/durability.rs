//! A leader writes its log in parallel with replicating it (Raft thesis §10.2.1;
//! ZooKeeper's leader logs and sends a proposal at once; our Multi-Paxos leader sends
//! its Accepts ahead of its own acceptance). That is safe only if the leader counts its
//! own copy once it is durable. This is the targeted schedule that breaks a leader
//! which counts its copy early; random chaos seeds rarely hit it (a leader crash has to
//! land between a commit and the leader's own sync).
//!
//! Three nodes L (the leader), A and B. L's disk is slow; L cannot reach B. A client
//! command reaches L, which sends it to A. A stores it durably and acknowledges. A
//! leader that counted its own unsynced copy would now hold a "majority" (L + A) and
//! apply the command. Then L and A crash before L's disk syncs. L restarts without the
//! command, and L and B, a majority that never stored it durably, elect a leader that
//! commits another command at that index. The simulator's checker fails the run if a
//! command was applied at an index that later holds another one.

use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::{NodeId, Protocol};
use sim::invariants::Violation;
use sim::{Action, DiskConfig, SimConfig, Simulation};
use std::time::Duration;

fn unsafe_commit<P: Protocol, T>(v: Violation) -> T {
    panic!(
        "{}: a command was applied before a durable majority held it: {v}",
        P::NAME
    )
}

fn leader_counts_its_own_copy_only_once_durable<P: Protocol>() {
    let mut sim = Simulation::<P>::new(SimConfig::voters(3, 7));
    sim.start_all().expect("safe");
    let leader = sim
        .run_until_ready(Duration::from_secs(5))
        .expect("safe")
        .expect("a ready leader");
    sim.run_for(Duration::from_millis(300)).expect("safe"); // everyone in sync
    let others: Vec<NodeId> = sim.ids().into_iter().filter(|&i| i != leader).collect();
    let (a, b) = (others[0], others[1]);
    let slow = Duration::from_millis(100);
    sim.set_disk(leader, DiskConfig::fixed(slow));
    sim.act(Action::Partition(vec![vec![leader, a], vec![a, b]]))
        .expect("safe");
    let applied_before = sim.applied(a).len();
    sim.submit(leader, bytes::Bytes::from_static(b"put k v"))
        .expect("safe");
    // A stores and acknowledges within a few ms; the leader's own write takes 100 ms.
    sim.run_for(Duration::from_millis(20)).expect("safe");
    let leader_applied = sim.applied(leader).len();
    sim.act(Action::Crash(leader)).expect("safe");
    sim.act(Action::Crash(a)).expect("safe");
    sim.act(Action::Heal).expect("safe");
    sim.act(Action::Start(leader)).expect("safe");
    // L and B elect a leader, which commits a new command at the index.
    sim.run_for(Duration::from_secs(3))
        .unwrap_or_else(unsafe_commit::<P, _>);
    let new_leader = sim.ready_leader().expect("a leader after the crash");
    assert_ne!(new_leader, a, "{}: A is down", P::NAME);
    sim.submit(new_leader, bytes::Bytes::from_static(b"put k w"))
        .unwrap_or_else(unsafe_commit::<P, _>);
    sim.run_for(Duration::from_secs(1))
        .unwrap_or_else(unsafe_commit::<P, _>);
    assert_eq!(
        leader_applied,
        applied_before,
        "{}: the leader applied the command before its own copy was durable",
        P::NAME
    );
    assert!(
        sim.applied(b).len() > applied_before,
        "{}: L and B made progress after the crash",
        P::NAME
    );
}

#[test]
fn raft_leader_counts_its_own_entry_only_once_durable() {
    leader_counts_its_own_copy_only_once_durable::<Raft>();
}

#[test]
fn zab_leader_acks_its_own_proposal_only_once_durable() {
    leader_counts_its_own_copy_only_once_durable::<Zab>();
}

#[test]
fn paxos_leader_counts_its_own_acceptance_only_once_durable() {
    leader_counts_its_own_copy_only_once_durable::<Paxos>();
}
