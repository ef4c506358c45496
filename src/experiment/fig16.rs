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
use protocols::{DetRng, Event, NodeId, Protocol, RaftTimerReset, Role, Time, Timing};
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
        ..Timing::default()
    }
}

/// The message kind that carries log entries from the leader, per protocol.
pub(crate) fn entry_kind(protocol: &str) -> &'static str {
    match protocol {
        "zab" => "PROPOSAL",
        "paxos" => "Accept",
        _ => "AppendEntries",
    }
}

/// The kind of the leader's heartbeat, whose broadcast the real trial times its crash
/// from (Raft's AppendEntries without entries, ZAB's PING, Paxos's Heartbeat).
pub(crate) fn heartbeat_kind(protocol: &str) -> &'static str {
    match protocol {
        "zab" => "PING",
        _ => "Heartbeat",
    }
}

/// The paper's broadcast time (ms): "network round trip plus disk write" (the
/// dissertation's Figure 9.8), "roughly 15ms".
pub const BROADCAST_MS: f64 = 15.0;

/// How long a trial waits for a leader that every node follows before the crash.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// The leader every running node follows in its term, if there is one: it leads,
/// every other node is in its term and names it, and holds its whole log; and that
/// log's last index.
fn settled_leader<P: Protocol>(sim: &Simulation<P>) -> Option<(NodeId, u64)> {
    let running = sim.running();
    let statuses: Vec<(NodeId, protocols::Status)> = running
        .iter()
        .filter_map(|&id| sim.node(id).map(|p| (id, p.status())))
        .collect();
    settled(&statuses)
}

/// Of these nodes' statuses, the one leader that every other node follows in its term
/// with its whole log, and that log's last index (the simulator's and the real
/// trial's rule for "the leader of a working cluster").
pub(crate) fn settled(statuses: &[(NodeId, protocols::Status)]) -> Option<(NodeId, u64)> {
    let mut leaders = statuses.iter().filter(|(_, s)| s.role.is_leader());
    let (leader, ls) = leaders.next()?;
    if leaders.next().is_some() {
        return None;
    }
    statuses
        .iter()
        .filter(|(id, _)| id != leader)
        .all(|(_, s)| {
            s.term == ls.term && s.leader == Some(*leader) && s.last_index == ls.last_index
        })
        .then_some((*leader, ls.last_index))
}

/// The answer to a request for votes that a voter writes to disk first, per protocol.
pub(crate) fn vote_answer_kind(protocol: &str) -> &'static str {
    match protocol {
        "zab" => "ACKEPOCH",
        "paxos" => "Promise",
        _ => "RequestVoteResponse",
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

/// One trial taken apart: where its downtime went, on the simulator's clock or, for a
/// real trial, the harness's.
#[derive(Clone, Debug, PartialEq)]
pub struct Detail {
    /// When the new leader was elected, if it was.
    pub outcome: Outcome,
    /// From the last heartbeat broadcast to the crash (a real trial: from when the
    /// fault filter saw the broadcast leave to the kill).
    pub crash_after: Option<Duration>,
    /// From the crash to the first survivor leaving the follower role (its timer
    /// fired: Raft and Paxos candidacy, ZAB LOOKING): the detection.
    pub first_campaign: Option<Duration>,
    /// From the crash to the start of the campaign that won (the winner's last
    /// change to candidate or LOOKING before it was elected).
    pub winning_campaign: Option<Duration>,
    /// Distinct terms (ballots, epochs) the survivors campaigned in after the crash:
    /// 1 when the first campaign won.
    pub rounds: u32,
    /// Of the three commands before the crash, how many the winner held at the crash
    /// (a follower cut off from them can still get them another way before it: ZAB's
    /// resynchronization, Paxos's catch-up).
    pub winner_entries: Option<usize>,
    /// The narrated timeline of the whole trial, the crash marked (with `trace` only).
    pub trace: Vec<String>,
}

impl Detail {
    /// From the start of the winning campaign to the election: the winning round trip.
    pub fn winning_round(&self) -> Option<Duration> {
        match (self.outcome, self.winning_campaign) {
            (Outcome::Elected(d), Some(w)) => Some(d.saturating_sub(w)),
            _ => None,
        }
    }

    /// From the first campaign to the winning one: the rounds that did not elect.
    pub fn lost_rounds(&self) -> Option<Duration> {
        Some(self.winning_campaign?.saturating_sub(self.first_campaign?))
    }
}

/// Runs one trial of protocol `P` with `timing` over `net`, seeded with `seed`: the
/// voters answer a request for votes `disk_write` after it arrives (their durable
/// write). Returns where the downtime went ([`Detail`]); with `trace`, the nodes
/// narrate their decisions and the whole timeline is kept.
pub fn trial_detail<P: Protocol>(
    timing: &Timing,
    net: &NetModel,
    disk_write: Duration,
    seed: u64,
    trace: bool,
) -> Result<Detail, TrialError> {
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
    config.trace = trace;
    let mut sim = Simulation::<P>::new(config);
    // The voter's disk write before it answers (the dissertation's W): the vote is
    // cast, and the voter's timer restarted, when the request arrives; the answer
    // leaves `disk_write` later, if the voter wrote anything (a repeated request or a
    // refusal that changes nothing durable is answered at once). The candidate's own
    // write overlaps its requests, as the dissertation's election model has it
    // (docs/METHOD.md, "Figure 16").
    sim.delay_kind_after_write(vote_answer_kind(P::NAME), disk_write);
    // The experiment's own choices, apart from the simulation's stream.
    let mut rng = DetRng::for_node(seed, 0xF16);
    // Nodes start one heartbeat interval apart, so that the first election does not
    // depend on the range (with 150-150 ms, simultaneous starts split votes forever).
    for id in sim.ids() {
        let at = Time::ZERO.plus(timing.heartbeat * (id.saturating_sub(1) as u32));
        sim.schedule(at, Action::Start(id));
    }
    sim.run_until_ready(SETTLE_LIMIT)
        .map_err(violation)?
        .ok_or(TrialError::NoFirstLeader { seed })?;
    let idle = rng.duration_between(timing.election_timeout_max, timing.election_timeout_max * 3);
    sim.run_for(idle).map_err(violation)?;
    // The paper crashed "the leader" of a working cluster: with short timeouts the
    // first leader can still be deposed (a candidate that timed out before its first
    // heartbeat arrived raises the term), so wait until one leader is followed by all
    // in its term, and crash that one.
    let (leader, base) = loop {
        if let Some(l) = settled_leader(&sim) {
            break l;
        }
        if sim.now().as_nanos() >= Time::ZERO.plus(SETTLE_LIMIT).as_nanos() {
            return Err(TrialError::NoFirstLeader { seed });
        }
        sim.run_for(timing.heartbeat).map_err(violation)?;
    };
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
        let target = sim.node(leader).map_or(0, |p| p.status().last_index) + 1;
        sim.act(Action::Submit { node: leader, data })
            .map_err(violation)?;
        // Wait until the followers still meant to get this command hold it: a drop
        // rule is checked again on delivery, so installing the next one while this
        // command is on its way would cut it off too (the logs would not differ).
        let holders: Vec<NodeId> = followers[i + 1..].to_vec();
        sim.run_until_true(SETTLE_LIMIT, |s| {
            holders
                .iter()
                .all(|&h| s.node(h).is_some_and(|p| p.status().last_index >= target))
        })
        .map_err(violation)?;
    }
    // The crash: "the leader was crashed uniformly randomly within its heartbeat
    // interval", after a heartbeat broadcast that reached every follower at once (the
    // paper's "synchronized broadcast of heartbeat RPCs"; the leader here sends its
    // heartbeats to all followers in one step, every interval since it was elected).
    let elected_at = sim
        .events()
        .iter()
        .rev()
        .find(|e| e.node == leader && matches!(e.event, Event::LeaderElected { .. }))
        .map_or(Time::ZERO, |e| e.at);
    let hb = timing.heartbeat.as_nanos().max(1) as u64;
    let into_term = sim.now().as_nanos().saturating_sub(elected_at.as_nanos());
    let next_beat = elected_at.as_nanos() + (into_term / hb + 1) * hb;
    sim.run_for(Duration::from_nanos(next_beat - sim.now().as_nanos()))
        .map_err(violation)?;
    let crash_after = rng.duration_between(Duration::ZERO, timing.heartbeat);
    sim.run_for(crash_after).map_err(violation)?;
    // Marked before the crash: a ZAB follower goes LOOKING within the crash's own
    // step (its connection to the leader drops).
    let mark = sim.events().len();
    let traced = sim.trace().len();
    let held: Vec<(NodeId, u64)> = followers
        .iter()
        .map(|&f| {
            let last = sim.node(f).map_or(0, |p| p.status().last_index);
            (f, last.saturating_sub(base))
        })
        .collect();
    sim.act(Action::Crash(leader)).map_err(violation)?;
    let crashed_at = sim.now();
    let crash_line = format!(
        "[{:>10}] --- the trial crashes n{leader} here ---",
        crashed_at.to_string()
    );
    let elected = |s: &Simulation<P>| {
        s.events()[mark..]
            .iter()
            .any(|e| matches!(e.event, Event::LeaderElected { .. }))
    };
    sim.run_until_true(TRIAL_LIMIT, elected)
        .map_err(violation)?;
    let after = sim.events()[mark..]
        .iter()
        .map(|e| (since(e.at, crashed_at), e.node, &e.event));
    Ok(Detail {
        crash_after: Some(crash_after),
        trace: if trace {
            let mut t = sim.trace().to_vec();
            t.insert(traced.min(t.len()), crash_line);
            t
        } else {
            Vec::new()
        },
        ..read_after_crash(after, leader, &held)
    })
}

/// Where a trial's downtime went, read off the survivors' protocol events after the
/// crash, in order, each with its time since the crash: the same reading for the
/// simulator's trials and the real ones. `held` names each survivor and how many of the
/// three last commands it held at the crash. The outcome is the first `LeaderElected` of a
/// node other than `crashed`; a campaign is a survivor's change to candidate (Raft,
/// Paxos) or LOOKING (ZAB) up to that election; the rounds are the distinct terms
/// (ballots, epochs) campaigned in.
pub fn read_after_crash<'a>(
    events: impl IntoIterator<Item = (Duration, NodeId, &'a Event)>,
    crashed: NodeId,
    held: &[(NodeId, u64)],
) -> Detail {
    let campaigning = |role: Role| matches!(role, Role::Candidate | Role::Looking);
    let mut won = None;
    let mut campaigns: Vec<(Duration, NodeId, u64)> = Vec::new();
    for (at, node, event) in events {
        if node == crashed {
            continue;
        }
        match *event {
            Event::RoleChanged { role, term } if campaigning(role) => {
                campaigns.push((at, node, term))
            }
            Event::LeaderElected { .. } => {
                won = Some((at, node));
                break;
            }
            _ => {}
        }
    }
    let winning_campaign =
        won.and_then(|(_, winner)| campaigns.iter().rev().find(|c| c.1 == winner).map(|c| c.0));
    Detail {
        outcome: won.map_or(Outcome::Censored, |(at, _)| Outcome::Elected(at)),
        crash_after: None,
        first_campaign: campaigns.first().map(|c| c.0),
        winning_campaign,
        rounds: campaigns
            .iter()
            .map(|c| c.2)
            .collect::<std::collections::BTreeSet<u64>>()
            .len() as u32,
        winner_entries: won.and_then(|(_, w)| held.iter().find(|h| h.0 == w).map(|h| h.1 as usize)),
        trace: Vec::new(),
    }
}

fn since(later: Time, earlier: Time) -> Duration {
    Duration::from_nanos(later.as_nanos().saturating_sub(earlier.as_nanos()))
}

/// Where one setting's downtime went, averaged over its elected trials ([`Detail`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Breakdown {
    /// Trials that elected a leader (the averages are over these).
    pub elected: u32,
    /// Mean time from the last broadcast to the crash (ms), over the trials that know
    /// it ([`Detail::crash_after`]).
    pub crash_after_ms: f64,
    /// Trials that know when the crash came after the last broadcast (the simulator's).
    pub crash_after_known: u32,
    /// Mean time from the crash to the first campaign (ms): detection.
    pub detect_ms: f64,
    /// Mean time from the first campaign to the winning one (ms): rounds that did
    /// not elect (split votes, ineligible candidates).
    pub lost_ms: f64,
    /// Mean time from the winning campaign to the election (ms): its round trip.
    pub win_ms: f64,
    /// Trials whose first campaign won (one round).
    pub one_round: u32,
    /// Mean rounds (campaign terms) per trial.
    pub rounds: f64,
    /// Trials won by a follower holding 0, 1, 2, 3 or more of the last commands at the
    /// crash (more: the leader had appended entries after the three, a client's
    /// retry of the uncommitted third, say).
    pub winner_entries: [u32; 5],
}

impl Breakdown {
    /// Counts one trial (only an elected one is averaged).
    pub fn add(&mut self, d: &Detail) {
        let ms = |x: Duration| x.as_secs_f64() * 1000.0;
        let (Some(first), Some(win), Some(round)) =
            (d.first_campaign, d.lost_rounds(), d.winning_round())
        else {
            return;
        };
        self.elected += 1;
        if let Some(c) = d.crash_after {
            self.crash_after_ms += ms(c);
            self.crash_after_known += 1;
        }
        self.detect_ms += ms(first);
        self.lost_ms += ms(win);
        self.win_ms += ms(round);
        self.rounds += f64::from(d.rounds);
        if d.rounds <= 1 {
            self.one_round += 1;
        }
        if let Some(slot) = d
            .winner_entries
            .and_then(|e| self.winner_entries.get_mut(e.min(4)))
        {
            *slot += 1;
        }
    }

    /// The means, once every trial is added.
    pub fn finish(mut self) -> Breakdown {
        let n = f64::from(self.elected.max(1));
        self.crash_after_ms /= f64::from(self.crash_after_known.max(1));
        self.detect_ms /= n;
        self.lost_ms /= n;
        self.win_ms /= n;
        self.rounds /= n;
        self
    }
}

/// `trials` trials of one setting (seeds `1..=trials`); `done` is called after each.
/// A trial whose cluster elects no first leader is counted in
/// [`Samples::no_first_leader`], not measured.
pub fn setting<P: Protocol>(
    timing: &Timing,
    net: &NetModel,
    disk_write: Duration,
    trials: u32,
    done: &mut dyn FnMut(),
) -> Result<(Samples, Breakdown), TrialError> {
    let mut values = Vec::new();
    let mut censored = 0;
    let mut no_first_leader = 0;
    let mut breakdown = Breakdown::default();
    for seed in 1..=u64::from(trials) {
        match trial_detail::<P>(timing, net, disk_write, seed, false) {
            Ok(d) => {
                breakdown.add(&d);
                match d.outcome {
                    Outcome::Elected(d) => values.push(d.as_secs_f64() * 1000.0),
                    Outcome::Censored => {
                        censored += 1;
                        values.push(TRIAL_LIMIT.as_secs_f64() * 1000.0);
                    }
                }
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
    Ok((samples, breakdown.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::paxos::Paxos;
    use protocols::raft::Raft;
    use protocols::zab::Zab;

    fn net() -> NetModel {
        netmodel::profiles::named("lan").expect("profile")
    }

    #[test]
    fn the_breakdown_is_read_off_the_survivors_events() {
        let ms = Duration::from_millis;
        let role = |role, term| Event::RoleChanged { role, term };
        // n1 crashed; n2 (holds 0 commands) campaigns in vain in term 3, n5 (holds
        // all) campaigns in term 4 and wins; events after the election do not count.
        let events = [
            (ms(0), 1, role(Role::Candidate, 9)),
            (ms(100), 2, role(Role::Candidate, 3)),
            (ms(104), 4, role(Role::Follower, 3)),
            (ms(110), 5, role(Role::Candidate, 4)),
            (ms(126), 5, Event::LeaderElected { term: 4 }),
            (ms(127), 3, role(Role::Candidate, 5)),
        ];
        let d = read_after_crash(
            events.iter().map(|(at, n, e)| (*at, *n, e)),
            1,
            // What each survivor held at the crash, in any order: the winner's count
            // is read from it, not from its place in the list.
            &[(5, 1), (2, 0), (3, 1), (4, 2)],
        );
        assert_eq!(d.outcome, Outcome::Elected(ms(126)));
        assert_eq!(d.first_campaign, Some(ms(100)));
        assert_eq!(d.winning_campaign, Some(ms(110)));
        assert_eq!(d.lost_rounds(), Some(ms(10)));
        assert_eq!(d.winning_round(), Some(ms(16)));
        assert_eq!(d.rounds, 2);
        assert_eq!(d.winner_entries, Some(1));
        let none = read_after_crash(events[..3].iter().map(|(at, n, e)| (*at, *n, e)), 1, &[]);
        assert_eq!(none.outcome, Outcome::Censored);
        assert_eq!(none.winning_campaign, None);
    }

    /// The paper's broadcast time less the `lan` round trip.
    const DISK_WRITE: Duration = Duration::from_micros(14_850);

    fn outcome<P: Protocol>(t: &Timing, seed: u64) -> Outcome {
        trial_detail::<P>(t, &net(), DISK_WRITE, seed, false)
            .expect("runs")
            .outcome
    }

    #[test]
    fn a_raft_trial_replaces_the_leader_no_sooner_than_the_paper_allows() {
        let t = timing((150, 300), Duration::from_millis(200));
        for seed in 1..=20 {
            let Outcome::Elected(d) = outcome::<Raft>(&t, seed) else {
                panic!("seed {seed}: no new leader in 100 s with 150-300 ms");
            };
            // Detection cannot come before the minimum timeout minus one heartbeat
            // interval (the paper's "half of the minimum election timeout").
            assert!(d >= Duration::from_millis(75), "seed {seed}: {d:?}");
        }
    }

    #[test]
    fn the_logs_differ_so_only_the_two_longest_can_win() {
        // The dissertation: "two of the four servers were not eligible to become
        // leader". Each command reaches its followers before the next drop rule, so
        // the followers hold 0, 1, 2 and 3 of them, and the winner holds 2 or 3.
        for range in [(12, 24), (150, 155), (150, 300)] {
            let t = timing(range, Duration::from_millis(200));
            for seed in 1..=10 {
                let d = trial_detail::<Raft>(&t, &net(), DISK_WRITE, seed, false).expect("runs");
                assert!(
                    matches!(d.winner_entries, Some(2) | Some(3)),
                    "{range:?} seed {seed}: the winner held {:?} of the commands",
                    d.winner_entries
                );
                assert!(d.rounds >= 1, "{range:?} seed {seed}: no campaign counted");
            }
        }
    }

    #[test]
    fn the_crashed_node_led_a_settled_cluster() {
        // With 12-24 ms the first leader is often deposed before it settles; the trial
        // must crash the leader every node follows, so the crash is followed by
        // campaigns (an election already running at the crash would be counted).
        let t = timing((12, 24), Duration::from_millis(200));
        for seed in 1..=10 {
            let d = trial_detail::<Raft>(&t, &net(), DISK_WRITE, seed, false).expect("runs");
            assert!(
                d.first_campaign.is_some(),
                "seed {seed}: no campaign after the crash"
            );
        }
    }

    #[test]
    fn trials_replay_from_their_seed() {
        let t = timing((150, 155), Duration::from_millis(200));
        let a = trial_detail::<Raft>(&t, &net(), DISK_WRITE, 7, true).expect("runs");
        let b = trial_detail::<Raft>(&t, &net(), DISK_WRITE, 7, true).expect("runs");
        assert_eq!(a, b);
        assert!(
            a.trace.iter().any(|l| l.contains("the trial crashes")),
            "the narrated trial marks the crash"
        );
    }

    #[test]
    fn zab_and_paxos_run_the_same_trial() {
        let t = timing((150, 300), Duration::from_millis(200));
        assert!(matches!(outcome::<Zab>(&t, 3), Outcome::Elected(_)));
        assert!(matches!(outcome::<Paxos>(&t, 3), Outcome::Elected(_)));
    }
}
