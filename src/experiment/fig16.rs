//! Figure 16 of the Raft paper in the simulator: the time to detect and replace a
//! crashed leader of five servers, for each election-timeout range of the figure.
//!
//! One trial follows the paper's set-up (§9.3, quoted in [`super::paper`]) as closely
//! as the simulator allows, with nothing fitted to the published curves:
//! 1. five servers over the network profile `raft-fig16` (one-way delay 7.5 ms, normal
//!    jitter with a 1 ms standard deviation: the paper's "broadcast time of roughly
//!    15ms" read as a 15 ms round trip); heartbeat interval half the minimum election
//!    timeout, as the paper ran it; PreVote and CheckQuorum off (the paper's Raft has
//!    neither); Raft's timer rule of Figure 2;
//! 2. the nodes start one heartbeat interval apart and elect a first leader (so the
//!    first election does not depend on the range), then the cluster idles for a random time (so the
//!    crash falls at a random point of the heartbeat cycle);
//! 3. *servers with different log lengths*: the leader replicates three commands while
//!    its entry-carrying message (Raft `AppendEntries`, ZAB `PROPOSAL`, Paxos `Accept`)
//!    is dropped to one more follower before each, so the four followers end with 0, 1,
//!    2 and 3 of them (in a random order of followers): the two shortest logs cannot win
//!    a Raft election;
//! 4. the leader crashes at a time uniform within one heartbeat interval after that
//!    broadcast (the paper: "crashed uniformly randomly within its heartbeat
//!    interval");
//! 5. the downtime is the time from the crash to the next `LeaderElected` event.
//!
//! ZAB and Paxos run the same trial with the bench's mapping of the timers
//! (`protocols::timing`): ZAB's tick is the heartbeat, its syncLimit the timeout
//! minimum, and its finalize wait stays at the run's setting (200 ms by default);
//! Paxos draws its leader-failure timeout and back-off from the range.

use super::stats::Samples;
use bytes::Bytes;
use netmodel::NetModel;
use protocols::{DetRng, Event, NodeId, Protocol, RaftTimerReset, Time, Timing};
use sim::network::NetConfig;
use sim::{Action, SimConfig, Simulation};
use std::time::Duration;

/// How long a trial waits for the new leader before it is counted at this limit
/// (censored): the paper's top graph ends at 100 s.
pub const TRIAL_LIMIT: Duration = Duration::from_secs(100);

/// The timers of one Figure 16 setting: the range, a heartbeat of half its minimum,
/// PreVote and CheckQuorum off, the paper's timer rule; `finalize_wait` for ZAB.
pub fn timing(range: (u64, u64), finalize_wait: Duration) -> Timing {
    let min = Duration::from_millis(range.0);
    Timing {
        heartbeat: (min / 2).max(Duration::from_millis(1)),
        election_timeout_min: min,
        election_timeout_max: Duration::from_millis(range.1),
        finalize_wait,
        raft_timer_reset: RaftTimerReset::Figure2,
        pre_vote: false,
        check_quorum: false,
        reads: protocols::ReadPath::Log,
        snapshot_every: 0,
    }
}

/// The message kind that carries log entries from the leader, per protocol.
fn entry_kind(protocol: &str) -> &'static str {
    match protocol {
        "zab" => "PROPOSAL",
        "paxos" => "Accept",
        _ => "AppendEntries",
    }
}

/// One trial's outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// A new leader was elected this long after the crash.
    Elected(Duration),
    /// None within [`TRIAL_LIMIT`].
    Censored,
}

/// Why a trial could not be run.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    /// The cluster never elected its first leader.
    #[error("seed {seed}: no first leader within 10 s")]
    NoFirstLeader {
        /// The trial's seed.
        seed: u64,
    },
    /// The simulator's safety checker fired (a protocol bug: report it).
    #[error("seed {seed}: safety violation: {message}")]
    Violation {
        /// The trial's seed.
        seed: u64,
        /// The checker's message.
        message: String,
    },
}

/// Runs one trial of protocol `P` with `timing` over `net`, seeded with `seed`.
pub fn trial<P: Protocol>(
    timing: &Timing,
    net: &NetModel,
    seed: u64,
) -> Result<Outcome, TrialError> {
    let violation = |v: sim::invariants::Violation| TrialError::Violation {
        seed,
        message: v.to_string(),
    };
    let mut config = SimConfig::voters(5, seed);
    config.timing = timing.clone();
    config.net = NetConfig {
        model: Some(net.clone()),
        ..NetConfig::default()
    };
    let mut sim = Simulation::<P>::new(config);
    // The experiment's own choices, apart from the simulation's stream.
    let mut rng = DetRng::for_node(seed, 0xF16);
    // Nodes start one heartbeat interval apart, so that the first election does not
    // depend on the range (with 150-150 ms, simultaneous starts split votes forever).
    for id in sim.ids() {
        let at = Time::ZERO.plus(timing.heartbeat * (id.saturating_sub(1) as u32));
        sim.schedule(at, Action::Start(id));
    }
    let leader = sim
        .run_until_ready(Duration::from_secs(10))
        .map_err(violation)?
        .ok_or(TrialError::NoFirstLeader { seed })?;
    let idle = rng.duration_between(timing.election_timeout_max, timing.election_timeout_max * 3);
    sim.run_for(idle).map_err(violation)?;
    // Different log lengths: one more follower misses each of three commands.
    let mut followers: Vec<NodeId> = sim.ids().into_iter().filter(|&n| n != leader).collect();
    for i in (1..followers.len()).rev() {
        let j = rng.range_inclusive(0, i as u64) as usize;
        followers.swap(i, j);
    }
    let kind = entry_kind(P::NAME);
    for (i, &f) in followers.iter().take(3).enumerate() {
        sim.act(Action::DropKind {
            from: leader,
            to: f,
            kind: Some(kind.to_string()),
        })
        .map_err(violation)?;
        let data = kv::KvCommand {
            session: kv::Session::NONE,
            op: kv::KvOp::Put {
                key: Bytes::from(format!("k{i}")),
                value: Bytes::from_static(b"v"),
            },
        }
        .encode();
        sim.act(Action::Submit { node: leader, data })
            .map_err(violation)?;
    }
    // The crash: uniform within one heartbeat interval after that broadcast.
    let crash_after = rng.duration_between(Duration::ZERO, timing.heartbeat);
    sim.run_for(crash_after).map_err(violation)?;
    sim.act(Action::Crash(leader)).map_err(violation)?;
    let crashed_at = sim.now();
    let mark = sim.events().len();
    let elected = |s: &Simulation<P>| {
        s.events()[mark..]
            .iter()
            .find(|e| matches!(e.event, Event::LeaderElected { .. }))
            .map(|e| e.at)
    };
    sim.run_until_true(TRIAL_LIMIT, |s| elected(s).is_some())
        .map_err(violation)?;
    Ok(match elected(&sim) {
        Some(at) => Outcome::Elected(since(at, crashed_at)),
        None => Outcome::Censored,
    })
}

fn since(later: Time, earlier: Time) -> Duration {
    Duration::from_nanos(later.as_nanos().saturating_sub(earlier.as_nanos()))
}

/// `trials` trials of one setting (seeds `1..=trials`); `done` is called after each.
/// A trial whose cluster elects no first leader is counted in
/// [`Samples::no_first_leader`], not measured.
pub fn setting<P: Protocol>(
    timing: &Timing,
    net: &NetModel,
    trials: u32,
    done: &mut dyn FnMut(),
) -> Result<Samples, TrialError> {
    let mut values = Vec::new();
    let mut censored = 0;
    let mut no_first_leader = 0;
    for seed in 1..=u64::from(trials) {
        match trial::<P>(timing, net, seed) {
            Ok(Outcome::Elected(d)) => values.push(d.as_secs_f64() * 1000.0),
            Ok(Outcome::Censored) => {
                censored += 1;
                values.push(TRIAL_LIMIT.as_secs_f64() * 1000.0);
            }
            // A setting so short that no leader ever settles (its timeouts are below
            // the broadcast time) has nothing to crash: counted, not measured.
            Err(TrialError::NoFirstLeader { .. }) => no_first_leader += 1,
            Err(e) => return Err(e),
        }
        done();
    }
    let mut samples = Samples::new(values, censored);
    samples.no_first_leader = no_first_leader;
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::paxos::Paxos;
    use protocols::raft::Raft;
    use protocols::zab::Zab;

    fn net() -> NetModel {
        netmodel::profiles::named("raft-fig16").expect("profile")
    }

    #[test]
    fn a_raft_trial_replaces_the_leader_no_sooner_than_the_paper_allows() {
        let t = timing((150, 300), Duration::from_millis(200));
        for seed in 1..=20 {
            let Outcome::Elected(d) = trial::<Raft>(&t, &net(), seed).expect("runs") else {
                panic!("seed {seed}: no new leader in 100 s with 150-300 ms");
            };
            // Detection cannot come before the minimum timeout minus one heartbeat
            // interval (the paper's "half of the minimum election timeout").
            assert!(d >= Duration::from_millis(75), "seed {seed}: {d:?}");
        }
    }

    #[test]
    fn trials_replay_from_their_seed() {
        let t = timing((150, 155), Duration::from_millis(200));
        let a = trial::<Raft>(&t, &net(), 7).expect("runs");
        let b = trial::<Raft>(&t, &net(), 7).expect("runs");
        assert_eq!(a, b);
    }

    #[test]
    fn zab_and_paxos_run_the_same_trial() {
        let t = timing((150, 300), Duration::from_millis(200));
        assert!(matches!(
            trial::<Zab>(&t, &net(), 3).expect("runs"),
            Outcome::Elected(_)
        ));
        assert!(matches!(
            trial::<Paxos>(&t, &net(), 3).expect("runs"),
            Outcome::Elected(_)
        ));
    }
}
