//! `Simulation::delay_kind`: messages of one kind reach the network later (a voter's
//! disk write before it answers), the rest keep the network's delays. Times here are
//! the simulator's virtual clock, so the checks are exact, not timed.

use protocols::raft::Raft;
use protocols::{Event, Role};
use sim::{SimConfig, Simulation};
use std::time::Duration;

/// From the first candidacy in `sim` to the first event that `end` picks.
fn from_campaign_to<P: protocols::Protocol>(
    sim: &Simulation<P>,
    end: fn(&Event) -> bool,
) -> Duration {
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
    Duration::from_nanos(at(&end) - campaign)
}

/// Starts a fresh three-node cluster of `P` set up by `configure`, runs it until a
/// leader is ready (within `limit`), and times it from the first candidacy to the
/// first event that `end` picks.
fn first_leader<P: protocols::Protocol>(
    seed: u64,
    limit: Duration,
    configure: impl FnOnce(&mut Simulation<P>),
    end: fn(&Event) -> bool,
) -> Duration {
    let mut sim = Simulation::<P>::new(SimConfig::voters(3, seed));
    configure(&mut sim);
    sim.start_all().expect("starts");
    sim.run_until_ready(limit)
        .expect("no violation")
        .expect("a leader");
    from_campaign_to(&sim, end)
}

/// From the first candidacy to the first election in a fresh three-node cluster.
fn first_election(vote_answer_delay: Duration, seed: u64) -> Duration {
    first_leader::<Raft>(
        seed,
        Duration::from_secs(10),
        |sim| sim.delay_kind("requestvoteresponse", vote_answer_delay),
        |e| matches!(e, Event::LeaderElected { .. }),
    )
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

#[test]
fn a_delayed_kind_keeps_its_link_first_in_first_out() {
    // Heartbeats wait 40 ms; the entries a leader sends a few milliseconds after one
    // (a write every 5 ms) must still be queued to arrive after it, as on one TCP
    // stream.
    for seed in 1..=3 {
        let mut sim = Simulation::<Raft>::new(SimConfig::voters(3, seed));
        sim.delay_kind("heartbeat", Duration::from_millis(40));
        sim.start_all().expect("starts");
        let leader = sim
            .run_until_ready(Duration::from_secs(10))
            .expect("no violation")
            .expect("a leader");
        let mut checked = 0;
        for w in 0..100u32 {
            sim.submit(leader, bytes::Bytes::from(format!("w{w}")))
                .expect("submits");
            // Look at the queues every 0.5 ms: a message due before one sent earlier
            // is in flight beside it for at least that long.
            for _ in 0..10 {
                sim.run_for(Duration::from_micros(500)).expect("runs");
                for to in (1..=3).filter(|&t| t != leader) {
                    let mut queued = sim.in_flight(leader, to);
                    queued.sort_by_key(|q| (q.sent, q.seq));
                    for pair in queued.windows(2) {
                        checked += 1;
                        assert!(
                            pair[0].at <= pair[1].at,
                            "seed {seed}, {leader} -> {to}: sent at {:?} but due at {:?}, before one sent at {:?} due at {:?}",
                            pair[1].sent, pair[1].at, pair[0].sent, pair[0].at
                        );
                    }
                }
            }
        }
        assert!(
            checked > 0,
            "seed {seed}: never two messages in flight on a link"
        );
    }
}

/// From the first candidacy to the first leader able to commit, in a fresh three-node
/// Paxos cluster whose acceptors answer a Prepare `promise_delay` late: with
/// `after_write`, only a Promise that wrote a raised promise waits.
fn first_paxos_leader(promise_delay: Duration, after_write: bool, seed: u64) -> Duration {
    first_leader::<protocols::paxos::Paxos>(
        seed,
        Duration::from_secs(30),
        |sim| {
            if after_write {
                sim.delay_kind_after_write("Promise", promise_delay)
            } else {
                sim.delay_kind("Promise", promise_delay)
            }
        },
        |e| matches!(e, Event::LeaderReady { .. }),
    )
}

#[test]
fn only_an_answer_that_wrote_waits_for_the_write() {
    // A Paxos candidate resends its Prepare every heartbeat (50 ms) until a quorum
    // promises. Each first Promise raises the acceptor's promise (a write) and waits
    // 120 ms; the repeats answer the same ballot, change nothing durable and leave at
    // once (queued behind the first on their link). So the leader is ready about one
    // delay after its campaign. Delaying every Promise instead pushes each repeat
    // 120 ms past its own sending, and the Accepted answers queue behind the last.
    let delay = Duration::from_millis(120);
    for seed in 1..=3 {
        let after_write = first_paxos_leader(delay, true, seed);
        let every = first_paxos_leader(delay, false, seed);
        assert!(after_write >= delay, "seed {seed}: {after_write:?}");
        assert!(
            after_write < delay + Duration::from_millis(40),
            "seed {seed}: ready {after_write:?} after the campaign"
        );
        assert!(
            every > after_write,
            "seed {seed}: {every:?} <= {after_write:?}"
        );
    }
}
