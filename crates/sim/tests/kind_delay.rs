//! `Simulation::delay_kind`: messages of one kind reach the network later (a voter's
//! disk write before it answers), the rest keep the network's delays. Times here are
//! the simulator's virtual clock, so the checks are exact, not timed.

use protocols::raft::Raft;
use protocols::{Event, Role};
use sim::{SimConfig, Simulation};
use std::time::Duration;

/// From the first candidacy to the first election in a fresh three-node cluster.
fn first_election(vote_answer_delay: Duration, seed: u64) -> Duration {
    let mut sim = Simulation::<Raft>::new(SimConfig::voters(3, seed));
    sim.delay_kind("requestvoteresponse", vote_answer_delay);
    sim.start_all().expect("starts");
    sim.run_until_ready(Duration::from_secs(10))
        .expect("no violation")
        .expect("a leader");
    let at = |pick: &dyn Fn(&Event) -> bool| {
        sim.events()
            .iter()
            .find(|e| pick(&e.event))
            .map(|e| e.at.as_nanos())
            .expect("event")
    };
    let campaign = at(&|e| {
        matches!(
            e,
            Event::RoleChanged {
                role: Role::Candidate,
                ..
            }
        )
    });
    let elected = at(&|e| matches!(e, Event::LeaderElected { .. }));
    Duration::from_nanos(elected - campaign)
}

#[test]
fn a_delayed_kind_arrives_that_much_later() {
    let mut quick = 0;
    for seed in 1..=5 {
        // The default network takes at most 2 ms one way: without the delay, an
        // election that no split vote holds up takes a round trip of under 4 ms.
        if first_election(Duration::ZERO, seed) < Duration::from_millis(40) {
            quick += 1;
        }
        // With it, no answer to a vote request can arrive before 40 ms have passed.
        let delayed = first_election(Duration::from_millis(40), seed);
        assert!(
            delayed >= Duration::from_millis(40),
            "seed {seed}: {delayed:?}"
        );
    }
    assert!(quick > 0, "every plain election took 40 ms or more");
}
