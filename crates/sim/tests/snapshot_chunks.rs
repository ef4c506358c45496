//! InstallSnapshot in chunks (Raft §7, Figure 13) under the simulator: a follower cut
//! off while the others commit and compact past it catches up through an image sent in
//! many small chunks, and the simulator's checks hold throughout (state machine safety
//! on every apply and install, the installed image checked against the committed
//! prefix), with log matching and leader completeness checked as the run goes.
//! Some seeds also lose messages while the image travels, so chunks and answers go
//! missing and the transfer resumes from the follower's offset.

use bytes::Bytes;
use kv::{KvCommand, KvOp, Session};
use protocols::raft::Raft;
use protocols::Protocol;
use sim::invariants::{log_matching, RaftLeaderCompleteness};
use sim::{Action, SimConfig, Simulation};
use std::time::Duration;

/// Image bytes per chunk: the images here are a few KB, so a dozen chunks or more.
const CHUNK: u64 = 256;

fn put(i: u32) -> Bytes {
    KvCommand {
        session: Session::NONE,
        op: KvOp::Put {
            key: Bytes::from(format!("key-{i:04}")),
            value: Bytes::from(format!("value-{i:04}-of-some-length")),
        },
    }
    .encode()
}

/// Runs `d` of simulated time in small steps, checking the invariants between them.
fn run_checked(sim: &mut Simulation<Raft>, completeness: &mut RaftLeaderCompleteness, d: Duration) {
    let end = sim.now().plus(d);
    while sim.now() < end {
        sim.run_for(Duration::from_millis(10)).expect("safe");
        completeness.check(sim).expect("leader completeness");
        log_matching(sim).expect("log matching");
    }
}

/// One seed: returns (chunks delivered, images installed from a leader).
fn catch_up(seed: u64, loss: f64) -> (u64, u64) {
    let mut config = SimConfig::voters(3, seed);
    config.timing.snapshot_every = 20;
    config.timing.snapshot_chunk_bytes = CHUNK;
    config.trace = true;
    let mut sim = Simulation::<Raft>::new(config);
    let mut completeness = RaftLeaderCompleteness::default();
    sim.start_all().expect("safe");
    let leader = sim
        .run_until_ready(Duration::from_secs(5))
        .expect("safe")
        .expect("a leader");
    let lagging = sim
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");
    sim.act(Action::Isolate(lagging)).expect("safe");
    for i in 0..150 {
        sim.submit(leader, put(i)).expect("submits");
        run_checked(&mut sim, &mut completeness, Duration::from_millis(10));
    }
    let lead = sim.node(leader).expect("up");
    let (start, last) = (lead.log().start(), lead.log().last_index());
    assert!(
        start > sim.node(lagging).expect("up").log().last_index(),
        "seed {seed}: the leader compacted past the follower"
    );
    sim.act(Action::Heal).expect("safe");
    sim.act(Action::SetLoss(loss)).expect("safe");
    run_checked(&mut sim, &mut completeness, Duration::from_secs(3));
    sim.act(Action::SetLoss(0.0)).expect("safe");
    run_checked(&mut sim, &mut completeness, Duration::from_secs(2));
    let caught = sim.node(lagging).expect("up").status().commit_index;
    assert!(
        caught >= last,
        "seed {seed}: node {lagging} committed {caught} of {last}"
    );
    assert_eq!(
        sim.applied(lagging).len(),
        sim.applied(leader).len(),
        "seed {seed}: the same applied sequence length"
    );
    let chunks = sim
        .trace()
        .iter()
        .filter(|l| l.contains("InstallSnapshot term") && !l.contains("dropped"))
        .count() as u64;
    (chunks, sim.snapshots().1)
}

#[test]
fn a_follower_catches_up_through_a_snapshot_sent_in_many_chunks() {
    let mut sent = 0;
    for seed in 0..4 {
        let loss = if seed % 2 == 0 { 0.0 } else { 0.2 };
        let (chunks, installed) = catch_up(seed, loss);
        assert!(installed >= 1, "seed {seed}: an image installed");
        sent += chunks;
    }
    eprintln!("4 seeds: {sent} InstallSnapshot chunks delivered");
    assert!(sent > 4 * 8, "many chunks per image: {sent}");
}
