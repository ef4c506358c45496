//! Random fault schedules for safety sweeps over many seeds.
//!
//! One seed fixes everything: the schedule of crashes, power failures, restarts,
//! partitions, isolations, one-way cuts, dropped message kinds, stranded leaders and
//! message loss during a faulty phase ([`mod@schedule`] has the mix), the client
//! commands, and the network's delays. After the faulty phase the network heals, every node restarts, and the run
//! must make progress again (a liveness check) and converge: every running node applies
//! the same sequence. Failures carry the `cwb sim` command that replays them
//! ([`replay_command`]); [`sweep`] runs many seeds and prints it for a failing one.

pub mod redis;
pub mod schedule;

use super::invariants::Violation;
use super::network::NetConfig;
use super::{Action, DiskConfig, SimConfig, Simulation};
use lincheck::{self, Limits, Verdict};
use protocols::{Bug, DetRng, Membership, NodeId, Protocol, Time, Timing};
use schedule::{schedule_clients, schedule_faults};
use std::fmt;
use std::time::Duration;

/// Shape of a chaos run.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    /// Voting members (ids 1..=voters).
    pub voters: u64,
    /// Observers (ids after the voters); only protocols that have them use them.
    pub observers: u64,
    /// Length of the faulty phase.
    pub faulty: Duration,
    /// Length of the healed phase that must show progress.
    pub settle: Duration,
    /// Highest message-loss probability a fault may set.
    pub max_loss: f64,
    /// Probability that a message is duplicated.
    pub duplicate: f64,
    /// Mean gap between client commands.
    pub client_gap: Duration,
    /// Protocol timers.
    pub timing: Timing,
    /// Sync delays: slow enough that crashes land between a write and its sync, and
    /// that a leader's sends ahead of its log race with its own sync; crashes tear the
    /// unsynced tail, which recovery cuts with the WAL's own scan.
    pub disk: DiskConfig,
    /// The known-buggy read path (reads answered by the node they reach, without the
    /// log; [`Simulation::set_local_reads`]): the history check catches it.
    pub local_reads: bool,
    /// The known-buggy state machine that applies a retried command every time it
    /// commits ([`Simulation::set_at_least_once`]): the history check catches it.
    pub at_least_once: bool,
    /// One seed in four caps the entries (Raft) or slots (Paxos) per replication
    /// message at 1 to 3 (drawn from the seed; [`Protocol::set_max_batch`]), so that a
    /// lagging node catches up over many round trips, through more interleavings.
    pub small_batches: bool,
    /// A known bug every node runs with ([`Simulation::set_bug`]); `None` in the
    /// sweeps. `cwb sim --bug help` lists them with the seed that catches each.
    pub bug: Option<Bug>,
    /// Planned failovers among the faults: every 200-600 ms of the faulty phase the
    /// current leader is asked to hand its leadership to a node picked at random
    /// ([`Action::TransferLeadership`]), drawn from a random source of their own so that
    /// the seed's fault plan stays what it was. Off in the sweeps; `cwb sim
    /// --transfers` and the transfer tests switch it on.
    pub transfers: bool,
    /// Links that may reorder ([`crate::network::NetConfig::reorder`]); off in the
    /// sweeps, since TCP links never reorder.
    pub reorder: bool,
}

impl Default for ChaosConfig {
    fn default() -> ChaosConfig {
        ChaosConfig {
            voters: 5,
            observers: 0,
            faulty: Duration::from_secs(4),
            settle: Duration::from_secs(4),
            max_loss: 0.3,
            duplicate: 0.05,
            client_gap: Duration::from_millis(15),
            timing: Timing::default(),
            disk: DiskConfig {
                sync_min: Duration::from_micros(100),
                sync_max: Duration::from_millis(3),
                tears: true,
            },
            local_reads: false,
            at_least_once: false,
            small_batches: true,
            bug: None,
            transfers: false,
            reorder: false,
        }
    }
}

/// What a successful run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChaosReport {
    /// The seed.
    pub seed: u64,
    /// Crashes injected.
    pub crashes: u32,
    /// Partitions, isolations and stranded leaders injected.
    pub partitions: u32,
    /// Power failures injected (their crashes count in `crashes` too).
    pub power_failures: u32,
    /// One-way cuts injected.
    pub one_way_cuts: u32,
    /// Dropped-kind windows injected.
    pub kind_drops: u32,
    /// What the network faults did ([`crate::FaultStats`]).
    pub faults: crate::FaultStats,
    /// Distinct leadership terms seen.
    pub terms_with_leader: usize,
    /// Entries committed in the end.
    pub committed: usize,
    /// Messages sent.
    pub messages: u64,
    /// Restarts whose recovery cut a torn tail off the log.
    pub torn_tails: u64,
    /// Client operations in the history.
    pub operations: usize,
    /// Of those, operations whose outcome the client never learned (it gave up after
    /// its retries, or the run ended), and operations that definitely failed.
    pub unknown: usize,
    /// Operations refused by every node they reached.
    pub failed: usize,
    /// Compare-and-sets that swapped.
    pub cas_swapped: usize,
    /// Attempts the clients sent again.
    pub retries: u64,
    /// The cap on entries per replication message, if the seed has one.
    pub max_batch: Option<usize>,
    /// The history was checked and found linearizable (false: undecided within the
    /// step budget).
    pub linearizable: bool,
}

/// A failed run: the seed to replay and what broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChaosFailure {
    /// Replay with this seed.
    pub seed: u64,
    /// The command that replays it ([`replay_command`]).
    pub replay: String,
    /// Which check failed.
    pub stage: Stage,
    /// What broke.
    pub violation: Violation,
}

/// Which of a chaos run's checks failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A safety check, after some step.
    Safety,
    /// Nothing was committed after the network healed.
    Progress,
    /// A running node had not applied every committed entry after the quiet period.
    Convergence,
    /// What the clients saw is not linearizable.
    Linearizability,
}

impl fmt::Display for ChaosFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} failed {}\nreplay: {}",
            self.seed, self.violation, self.replay
        )
    }
}

/// The `cwb sim` command that replays `seed` of `P` under `cfg`, with its trace.
pub fn replay_command<P: Protocol>(cfg: &ChaosConfig, seed: u64) -> String {
    let mut cmd = format!(
        "cargo run --release -- sim --protocol {} --nodes {}",
        P::NAME,
        cfg.voters
    );
    if cfg.observers > 0 {
        cmd.push_str(&format!(" --observers {}", cfg.observers));
    }
    if cfg.faulty != ChaosConfig::default().faulty {
        cmd.push_str(&format!(" --faulty-secs {}", cfg.faulty.as_secs_f64()));
    }
    let defaults = Timing::default();
    if cfg.timing.pre_vote != defaults.pre_vote {
        cmd.push_str(if cfg.timing.pre_vote {
            " --pre-vote on"
        } else {
            " --pre-vote off"
        });
    }
    if cfg.timing.check_quorum != defaults.check_quorum {
        cmd.push_str(if cfg.timing.check_quorum {
            " --check-quorum on"
        } else {
            " --check-quorum off"
        });
    }
    if cfg.timing.reads != defaults.reads {
        cmd.push_str(&format!(" --reads {}", cfg.timing.reads));
    }
    if cfg.timing.snapshot_every != defaults.snapshot_every {
        cmd.push_str(&format!(" --snapshot-every {}", cfg.timing.snapshot_every));
    }
    if cfg.timing.snapshot_chunk_bytes != defaults.snapshot_chunk_bytes {
        cmd.push_str(&format!(
            " --snapshot-chunk-bytes {}",
            cfg.timing.snapshot_chunk_bytes
        ));
    }
    if cfg.local_reads {
        cmd.push_str(" --local-reads");
    }
    if cfg.at_least_once {
        cmd.push_str(" --at-least-once");
    }
    if cfg.transfers {
        cmd.push_str(" --transfers");
    }
    if cfg.reorder {
        cmd.push_str(" --reorder");
    }
    if let Some(bug) = cfg.bug {
        cmd.push_str(&format!(" --bug {bug}"));
    }
    cmd.push_str(&format!(" --seed {seed}"));
    cmd
}

/// The simulator config a chaos seed runs with.
pub fn sim_config(seed: u64, cfg: &ChaosConfig, trace: bool) -> SimConfig {
    let voters = 1..=cfg.voters;
    let observers = cfg.voters + 1..=cfg.voters + cfg.observers;
    SimConfig {
        membership: Membership::new(voters, observers),
        timing: cfg.timing.clone(),
        seed,
        net: NetConfig {
            duplicate: cfg.duplicate,
            reorder: cfg.reorder,
            ..NetConfig::default()
        },
        trace,
        disk: cfg.disk.clone(),
    }
}

/// Runs one seed. `check` is called after every step with the simulation and the step
/// count; return `Err(reason)` for a protocol-specific violation.
pub fn run_seed<P: Protocol>(
    seed: u64,
    cfg: &ChaosConfig,
    trace: bool,
    mut check: impl FnMut(&Simulation<P>, u64) -> Result<(), String>,
) -> (Simulation<P>, Result<ChaosReport, ChaosFailure>) {
    let mut sim = Simulation::<P>::new(sim_config(seed, cfg, trace));
    sim.set_local_reads(cfg.local_reads);
    sim.set_at_least_once(cfg.at_least_once);
    let bug_refused = sim.set_bug(cfg.bug).err();
    let max_batch = small_batch(seed, cfg);
    sim.set_max_batch(max_batch);
    let mut report = ChaosReport {
        seed,
        max_batch,
        ..ChaosReport::default()
    };
    let result = match bug_refused {
        Some(bug) => Err((
            Stage::Safety,
            Violation::new(
                Time::ZERO,
                format!("{bug} is a bug of {}, not of {}", bug.protocol(), P::NAME),
            ),
        )),
        None => drive(&mut sim, cfg, &mut report, &mut check),
    };
    let result = result
        .map(|()| report)
        .map_err(|(stage, violation)| ChaosFailure {
            seed,
            replay: replay_command::<P>(cfg, seed),
            stage,
            violation,
        });
    (sim, result)
}

/// The cap on entries per replication message a seed runs with (see
/// [`ChaosConfig::small_batches`]), drawn from the seed alone so that the fault plan
/// stays what it was.
pub fn small_batch(seed: u64, cfg: &ChaosConfig) -> Option<usize> {
    let mut draw = DetRng::new(seed ^ 0x0BA7_C4E5);
    (cfg.small_batches && draw.range_inclusive(0, 3) == 0)
        .then(|| draw.range_inclusive(1, 3) as usize)
}

fn drive<P: Protocol>(
    sim: &mut Simulation<P>,
    cfg: &ChaosConfig,
    report: &mut ChaosReport,
    check: &mut impl FnMut(&Simulation<P>, u64) -> Result<(), String>,
) -> Result<(), (Stage, Violation)> {
    let safety = |v| (Stage::Safety, v);
    let mut plan = DetRng::new(sim.config.seed ^ 0xC4A0_5EED);
    let ids = sim.ids();
    schedule_faults(sim, cfg, &mut plan, &ids, report);
    schedule_clients(sim, cfg, &mut plan, &ids, Time::ZERO, sim_end(cfg));
    if cfg.transfers {
        schedule_transfers(sim, cfg, &ids);
    }
    sim.start_all().map_err(safety)?;

    let faulty_end = Time::ZERO.plus(cfg.faulty);
    run_checked(sim, faulty_end, check).map_err(safety)?;
    // Heal everything and bring every node back.
    sim.act(Action::Heal).map_err(safety)?;
    sim.act(Action::SetLoss(0.0)).map_err(safety)?;
    sim.start_all().map_err(safety)?;
    let committed_before = sim.checker().committed().len();
    run_checked(sim, sim_end(cfg), check).map_err(safety)?;
    let committed_after = sim.checker().committed().len();
    if committed_after <= committed_before {
        return Err((
            Stage::Progress,
            Violation::new(
            sim.now(),
            format!("no progress after healing: {committed_before} entries committed before, {committed_after} after"),
        )));
    }
    // Quiet period: every node must converge on the same applied sequence.
    let quiet_end = sim.now().plus(cfg.timing.election_timeout_max * 4);
    run_checked(sim, quiet_end, check).map_err(safety)?;
    let longest = sim.checker().committed().len();
    for id in sim.running() {
        if sim.applied(id).len() != longest {
            return Err((
                Stage::Convergence,
                Violation::new(
                    sim.now(),
                    format!(
                    "node {id} applied {} entries after the quiet period; {longest} are committed",
                    sim.applied(id).len()
                ),
                ),
            ));
        }
    }
    // What the clients saw: every read and write, with its answer or none, must have a
    // linearization (a step budget keeps the verdict the same on every machine).
    let limits = Limits {
        time: None,
        steps: Some(20_000_000),
        shrink_time: std::time::Duration::from_secs(2),
    };
    match lincheck::check(sim.history(), limits) {
        Verdict::Linearizable => report.linearizable = true,
        Verdict::Undecided(_) => {}
        Verdict::NotLinearizable(anomaly) => {
            return Err((
                Stage::Linearizability,
                Violation::new(sim.now(), format!("{anomaly:#}")),
            ))
        }
    }
    let stats = sim.history().stats();
    report.operations = stats.operations;
    report.unknown = stats.unknown;
    report.failed = stats.failed;
    report.cas_swapped = sim
        .history()
        .ops()
        .iter()
        .filter(|op| op.outcome == lincheck::Completion::cas(true))
        .count();
    report.retries = sim.client_retries();
    report.terms_with_leader = sim.checker().leaders().len();
    report.committed = longest;
    report.messages = sim.messages_sent();
    report.torn_tails = sim.torn_tails_cut();
    report.faults = sim.fault_stats();
    Ok(())
}

/// Planned failovers through the faulty phase ([`ChaosConfig::transfers`]).
fn schedule_transfers<P: Protocol>(sim: &mut Simulation<P>, cfg: &ChaosConfig, ids: &[NodeId]) {
    let voters: Vec<NodeId> = ids
        .iter()
        .copied()
        .filter(|&id| sim.config.membership.is_voter(id))
        .collect();
    if voters.is_empty() {
        return;
    }
    let mut draw = DetRng::new(sim.config.seed ^ 0x7A45_F3E5);
    let end = Time::ZERO.plus(cfg.faulty);
    let mut at = Time::ZERO;
    loop {
        at = at.plus(Duration::from_millis(draw.range_inclusive(200, 600)));
        if at >= end {
            return;
        }
        let i = draw.range_inclusive(0, voters.len() as u64 - 1) as usize;
        sim.schedule(at, Action::TransferLeadership { to: voters[i] });
    }
}

fn sim_end(cfg: &ChaosConfig) -> Time {
    Time::ZERO.plus(cfg.faulty + cfg.settle)
}

fn run_checked<P: Protocol>(
    sim: &mut Simulation<P>,
    until: Time,
    check: &mut impl FnMut(&Simulation<P>, u64) -> Result<(), String>,
) -> Result<(), Violation> {
    let mut steps = 0u64;
    while sim.queue.peek().is_some_and(|r| r.0 .0 <= until) {
        sim.step()?;
        steps += 1;
        check(sim, steps).map_err(|what| Violation::new(sim.now(), what))?;
    }
    sim.now = sim.now.max(until);
    Ok(())
}

/// How many seeds a sweep runs: `CWB_SEEDS` from the environment, else `default`.
pub fn seeds(default: u64) -> u64 {
    std::env::var("CWB_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// What a [`sweep`] saw over its seeds.
#[derive(Clone, Debug, Default)]
pub struct SweepReport {
    /// Distinct leadership terms seen, summed over the seeds.
    pub terms_with_leader: usize,
    /// Messages sent, summed over the seeds.
    pub messages: u64,
    /// Restarts whose recovery cut a torn tail, summed over the seeds.
    pub torn_tails: u64,
    /// Client operations whose history was checked for linearizability, summed.
    pub operations: u64,
    /// Of those, operations with an unknown outcome, refused everywhere, and
    /// compare-and-sets that swapped; and the attempts the clients sent again.
    pub unknown: u64,
    /// See `unknown`.
    pub failed: u64,
    /// See `unknown`.
    pub cas_swapped: u64,
    /// See `unknown`.
    pub retries: u64,
    /// Seeds whose history the checker could not decide within its step budget.
    pub undecided: u64,
    /// Seeds that ran with a small cap on entries per replication message.
    pub small_batch_seeds: u64,
    /// Seeds whose failure `tolerate` accepted.
    pub tolerated: Vec<u64>,
    /// Power failures, summed over the seeds.
    pub power_failures: u64,
    /// What the network faults did, summed over the seeds.
    pub faults: crate::FaultStats,
}

impl SweepReport {
    /// One line on what the faults did: power failures, messages lost to one-way cuts
    /// and to dropped kinds, leaders stranded and the commands sent to them.
    pub fn faults_line(&self) -> String {
        let f = &self.faults;
        format!(
            "{} power failures, {} messages lost to one-way cuts, {} to dropped kinds, \
             {} leaders stranded in a minority with {} client commands sent to them",
            self.power_failures,
            f.one_way_drops,
            f.kind_drops,
            f.stranded_leaders,
            f.stranded_writes
        )
    }

    /// One line on what the clients did: operations checked, their outcomes, retries.
    pub fn clients_line(&self) -> String {
        format!(
            "{} client operations checked linearizable ({} with unknown outcome, {} refused \
             everywhere, {} compare-and-sets swapped), {} attempts retried, {} seeds undecided, \
             {} seeds with 1-3 entries per replication message",
            self.operations,
            self.unknown,
            self.failed,
            self.cas_swapped,
            self.retries,
            self.undecided,
            self.small_batch_seeds
        )
    }

    /// Whether every kind of fault did something over the sweep (a schedule change
    /// that silently dropped one would otherwise go unnoticed).
    pub fn every_fault_struck(&self) -> bool {
        let f = &self.faults;
        self.power_failures > 0
            && f.one_way_drops > 0
            && f.kind_drops > 0
            && f.stranded_leaders > 0
            && f.stranded_writes > 0
    }
}

/// Runs seeds `0..n` of `P` under `cfg`. `new_check` makes each seed's own check
/// (called after every step, as in [`run_seed`]). A failure that `tolerate` accepts is
/// recorded; any other panics with the failure and the command that replays it.
pub fn sweep<P: Protocol, C>(
    cfg: &ChaosConfig,
    n: u64,
    mut new_check: impl FnMut() -> C,
    tolerate: impl Fn(&Simulation<P>, &ChaosFailure) -> bool,
) -> SweepReport
where
    C: FnMut(&Simulation<P>, u64) -> Result<(), String>,
{
    let mut report = SweepReport::default();
    for seed in 0..n {
        let (sim, result) = run_seed::<P>(seed, cfg, false, new_check());
        match result {
            Ok(r) => {
                report.terms_with_leader += r.terms_with_leader;
                report.messages += r.messages;
                report.torn_tails += r.torn_tails;
                report.operations += r.operations as u64;
                report.unknown += r.unknown as u64;
                report.failed += r.failed as u64;
                report.cas_swapped += r.cas_swapped as u64;
                report.retries += r.retries;
                report.small_batch_seeds += u64::from(r.max_batch.is_some());
                report.undecided += u64::from(!r.linearizable);
                report.power_failures += u64::from(r.power_failures);
                report.faults.kind_drops += r.faults.kind_drops;
                report.faults.one_way_drops += r.faults.one_way_drops;
                report.faults.stranded_leaders += r.faults.stranded_leaders;
                report.faults.stranded_writes += r.faults.stranded_writes;
            }
            Err(failure) if tolerate(&sim, &failure) => report.tolerated.push(seed),
            Err(failure) => panic!("{}: {failure}", P::NAME),
        }
    }
    report
}

/// Runs `seed` twice with tracing on and panics unless both runs are identical: same
/// outcome, same trace, and a trace long enough to mean something.
pub fn assert_replays_identically<P: Protocol>(seed: u64) {
    let cfg = ChaosConfig::default();
    let (a, ra) = run_seed::<P>(seed, &cfg, true, |_, _| Ok(()));
    let (b, rb) = run_seed::<P>(seed, &cfg, true, |_, _| Ok(()));
    assert_eq!(ra, rb, "{}: seed {seed} has two outcomes", P::NAME);
    assert!(
        a.trace() == b.trace(),
        "{}: seed {seed} has two traces",
        P::NAME
    );
    assert!(
        a.trace().len() > 100,
        "{}: seed {seed} recorded no real trace",
        P::NAME
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::raft::Raft;
    use protocols::zab::Zab;

    #[test]
    fn the_replay_command_names_everything_the_run_depends_on() {
        let default = ChaosConfig::default();
        assert_eq!(
            replay_command::<Raft>(&default, 7),
            "cargo run --release -- sim --protocol raft --nodes 5 --seed 7"
        );
        let custom = ChaosConfig {
            voters: 3,
            observers: 2,
            faulty: Duration::from_millis(2500),
            reorder: true,
            ..ChaosConfig::default()
        };
        assert_eq!(
            replay_command::<Zab>(&custom, 9),
            "cargo run --release -- sim --protocol zab --nodes 3 --observers 2 --faulty-secs 2.5 --reorder --seed 9"
        );
    }

    fn three_voters() -> ChaosConfig {
        ChaosConfig {
            voters: 3,
            ..ChaosConfig::default()
        }
    }

    /// A made-up check that fails every seed a few steps in.
    fn fails_after_ten_steps(_: &Simulation<Raft>, step: u64) -> Result<(), String> {
        if step > 10 {
            Err("made up".into())
        } else {
            Ok(())
        }
    }

    #[test]
    #[should_panic(
        expected = "replay: cargo run --release -- sim --protocol raft --nodes 3 --seed 0"
    )]
    fn a_failing_seed_panics_with_its_replay_command() {
        let cfg = three_voters();
        sweep::<Raft, _>(&cfg, 2, || fails_after_ten_steps, |_, _| false);
    }

    #[test]
    fn a_tolerated_failure_is_recorded_not_raised() {
        let cfg = three_voters();
        let report = sweep::<Raft, _>(
            &cfg,
            2,
            || fails_after_ten_steps,
            |_, failure| failure.stage == Stage::Safety,
        );
        assert_eq!(report.tolerated, [0, 1]);
    }
}
