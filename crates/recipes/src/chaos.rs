//! The recipes under the simulator's random faults: one seed's fault plan (the same
//! [`sim::chaos::schedule`] the protocol sweeps draw: crashes, power failures,
//! partitions, one-way cuts, dropped kinds, stranded leaders, loss), with recipe
//! clients on the znode tree instead of key-value clients, and client faults of their
//! own: pauses longer than the session timeout (the holder wakes up believing it still
//! holds) and crashes.
//!
//! Nine clients: three on an exclusive lock (`/lock`), two readers and a writer on a
//! read/write lock (`/rw`), three candidates in a fair election (`/election`), all
//! waiting on the node before their own. Each takes what it queues for, acts on the
//! resource it guards ([`Resource`], with its fencing token) every tick while it
//! believes it holds, gives it back after a while and queues again; a client whose
//! session ended starts over with a new one.
//!
//! Checked: every step's protocol invariants (the simulator's own); every grant
//! ([`crate::check::Checker`]: no two conflicting holders in the most advanced replica's
//! tree, tokens that grow); what each resource accepted ([`check_actions`]: no two
//! holders with overlapping fencing tokens); and, once the network healed, that every
//! live client took its lock again before the end (no missed watch event: a client
//! whose watch never fired waits forever). A failure carries the `cwb sim --recipes`
//! command that replays it.

use crate::broken::RecipeBug;
use crate::check::{check_actions, Action, Resource};
use crate::driver::{Driver, TICK};
use kv::StateMachineKind;
use protocols::{DetRng, Protocol, Time};
use sim::chaos::{schedule::schedule_faults, sim_config, small_batch, ChaosConfig, ChaosReport};
use sim::Simulation;
use std::fmt;
use std::time::Duration;
use znode::recipes::queue::{Access, QueueLock};
use znode::recipes::{Standing, Waiting};

/// Shape of a recipe chaos run.
#[derive(Clone, Debug)]
pub struct RecipeChaosConfig {
    /// The protocol-level fault plan and its phases.
    pub chaos: ChaosConfig,
    /// Session timeout of every client.
    pub session_timeout_ms: u32,
    /// A deliberately broken client or resource ([`RecipeBug`]); `None` in the sweeps.
    pub bug: Option<RecipeBug>,
}

impl Default for RecipeChaosConfig {
    fn default() -> RecipeChaosConfig {
        RecipeChaosConfig {
            chaos: ChaosConfig {
                voters: 3,
                ..ChaosConfig::default()
            },
            session_timeout_ms: 500,
            bug: None,
        }
    }
}

/// The `cwb sim --recipes` command that replays `seed` of `P` under `cfg`.
pub fn replay_command<P: Protocol>(cfg: &RecipeChaosConfig, seed: u64) -> String {
    let mut cmd = format!(
        "cargo run --release -- sim --recipes --protocol {} --nodes {}",
        P::NAME,
        cfg.chaos.voters
    );
    if cfg.chaos.faulty != RecipeChaosConfig::default().chaos.faulty {
        cmd.push_str(&format!(
            " --faulty-secs {}",
            cfg.chaos.faulty.as_secs_f64()
        ));
    }
    if let Some(bug) = cfg.bug {
        cmd.push_str(&format!(" --recipe-bug {bug}"));
    }
    cmd.push_str(&format!(" --seed {seed}"));
    cmd
}

/// What one seed's run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipeChaosReport {
    /// The seed.
    pub seed: u64,
    /// Protocol-level faults (crashes, partitions...).
    pub faults: u32,
    /// Locks and leaderships granted (checked).
    pub grants: usize,
    /// Actions the resources accepted (checked), and refused (stale tokens).
    pub actions: usize,
    /// See `actions`.
    pub refused: u64,
    /// Client pauses, client crashes, sessions that ended under a client.
    pub pauses: u32,
    /// See `pauses`.
    pub client_crashes: u32,
    /// See `pauses`.
    pub sessions_lost: u32,
    /// Watch notifications delivered.
    pub notifications: u64,
}

/// A failed seed: what broke, the narration's last lines, and the replay command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipeChaosFailure {
    /// The seed.
    pub seed: u64,
    /// The command that replays it.
    pub replay: String,
    /// What broke.
    pub what: String,
    /// The last lines of the clients' narration.
    pub tail: Vec<String>,
}

impl fmt::Display for RecipeChaosFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {} failed: {}", self.seed, self.what)?;
        for line in &self.tail {
            writeln!(f, "  {line}")?;
        }
        write!(f, "replay: {}", self.replay)
    }
}

/// One client's part: which lock, how it queues, what it guards.
#[derive(Clone, Copy)]
struct Part {
    parent: &'static str,
    access: Access,
    /// Index of its resource.
    resource: usize,
}

const PARTS: [Part; 9] = [
    Part {
        parent: "/lock",
        access: Access::Exclusive,
        resource: 0,
    },
    Part {
        parent: "/lock",
        access: Access::Exclusive,
        resource: 0,
    },
    Part {
        parent: "/lock",
        access: Access::Exclusive,
        resource: 0,
    },
    Part {
        parent: "/rw",
        access: Access::Read,
        resource: 1,
    },
    Part {
        parent: "/rw",
        access: Access::Read,
        resource: 1,
    },
    Part {
        parent: "/rw",
        access: Access::Write,
        resource: 1,
    },
    Part {
        parent: "/election",
        access: Access::Exclusive,
        resource: 2,
    },
    Part {
        parent: "/election",
        access: Access::Exclusive,
        resource: 2,
    },
    Part {
        parent: "/election",
        access: Access::Exclusive,
        resource: 2,
    },
];

fn name(i: usize) -> String {
    match PARTS[i].parent {
        "/lock" => format!("lock client {}", i + 1),
        "/rw" if PARTS[i].access == Access::Read => format!("reader {}", i - 2),
        "/rw" => "writer".into(),
        _ => format!("candidate {}", i - 5),
    }
}

/// A client's lifecycle beyond its recipe: when it queues again, when its pause ends.
#[derive(Clone, Copy, Default)]
struct Life {
    /// Queue again at this time (after a release).
    requeue: Option<Time>,
    /// Paused until this time.
    paused_until: Option<Time>,
    /// Crashed for good.
    crashed: bool,
    /// Last time it was granted.
    granted: Option<Time>,
}

/// Runs one seed (see the module docs).
pub fn run_seed<P: Protocol>(
    seed: u64,
    cfg: &RecipeChaosConfig,
) -> Result<RecipeChaosReport, RecipeChaosFailure> {
    run_seed_narrated::<P>(seed, cfg).1
}

/// Runs one seed, and returns the clients' whole narration beside the outcome (the
/// replay prints it).
pub fn run_seed_narrated<P: Protocol>(
    seed: u64,
    cfg: &RecipeChaosConfig,
) -> (Vec<String>, Result<RecipeChaosReport, RecipeChaosFailure>) {
    let mut report = RecipeChaosReport {
        seed,
        ..RecipeChaosReport::default()
    };
    let mut driver: Option<Driver<P>> = None;
    let result = drive::<P>(seed, cfg, &mut report, &mut driver);
    let narration = driver.map(|d| d.state.narration).unwrap_or_default();
    let n = narration.len();
    let tail = narration[n.saturating_sub(12)..].to_vec();
    let result = result.map(|()| report).map_err(|what| RecipeChaosFailure {
        seed,
        replay: replay_command::<P>(cfg, seed),
        what,
        tail,
    });
    (narration, result)
}

fn lock(cfg: &RecipeChaosConfig, i: usize) -> Box<dyn znode::recipes::Recipe> {
    let part = PARTS[i];
    let lock = QueueLock::new(
        part.parent,
        part.access,
        Waiting::Predecessor,
        name(i).as_bytes(),
    );
    RecipeBug::wrap(cfg.bug, lock)
}

fn drive<P: Protocol>(
    seed: u64,
    cfg: &RecipeChaosConfig,
    report: &mut RecipeChaosReport,
    slot: &mut Option<Driver<P>>,
) -> Result<(), String> {
    let chaos = &cfg.chaos;
    let mut sim = Simulation::<P>::new(sim_config(seed, chaos, false));
    sim.set_state_machine(StateMachineKind::Znode);
    sim.set_max_batch(small_batch(seed, chaos));
    let mut plan = DetRng::new(seed ^ 0xC4A0_5EED);
    let ids = sim.ids();
    let mut faults = ChaosReport::default();
    schedule_faults(&mut sim, chaos, &mut plan, &ids, &mut faults);
    report.faults = faults.crashes + faults.partitions + faults.one_way_cuts + faults.kind_drops;
    sim.start_all().map_err(|v| v.to_string())?;
    let d = slot.insert(Driver::over(sim, cfg.session_timeout_ms));
    // Client faults and hold times come from a random source of their own.
    let mut draw = DetRng::new(seed ^ 0x5EC1_9E5A);
    for i in 0..PARTS.len() {
        let hold = draw.duration_between(Duration::from_millis(20), Duration::from_millis(150));
        d.add(&name(i), lock(cfg, i), Some(hold));
    }
    let mut life = [Life::default(); PARTS.len()];
    let mut resources: Vec<Resource> = (0..3)
        .map(|_| Resource::new(cfg.bug != Some(RecipeBug::NoFence)))
        .collect();
    let timeout = Duration::from_millis(u64::from(cfg.session_timeout_ms));
    let faulty_end = Time::ZERO.plus(chaos.faulty);
    let end = faulty_end.plus(chaos.settle);
    let mut next_pause = Time::ZERO
        .plus(draw.duration_between(Duration::from_millis(200), Duration::from_millis(600)));
    let crash_at = draw
        .chance(0.5)
        .then(|| Time::ZERO.plus(draw.duration_between(Duration::from_millis(300), chaos.faulty)));
    let mut healed = false;
    let mut granted_after_heal = [false; PARTS.len()];
    while d.sim.now() < end {
        let now = d.sim.now();
        if !healed && now >= faulty_end {
            healed = true;
            d.sim.act(sim::Action::Heal).map_err(|v| v.to_string())?;
            d.sim
                .act(sim::Action::SetLoss(0.0))
                .map_err(|v| v.to_string())?;
            d.sim.start_all().map_err(|v| v.to_string())?;
        }
        // Client faults, during the faulty phase only.
        if now < faulty_end && now >= next_pause {
            next_pause = now.plus(
                draw.duration_between(Duration::from_millis(300), Duration::from_millis(900)),
            );
            let i = draw.range_inclusive(0, PARTS.len() as u64 - 1) as usize;
            let length = draw.duration_between(timeout / 2, timeout * 3);
            if !life[i].crashed && life[i].paused_until.is_none() {
                life[i].paused_until = Some(now.plus(length));
                d.pause_client(i);
                report.pauses += 1;
            }
        }
        if crash_at.is_some_and(|t| now >= t) && report.client_crashes == 0 {
            let i = draw.range_inclusive(0, PARTS.len() as u64 - 1) as usize;
            life[i].crashed = true;
            life[i].paused_until = None;
            d.crash_client(i);
            report.client_crashes += 1;
        }
        for i in 0..PARTS.len() {
            let l = &mut life[i];
            if l.crashed {
                continue;
            }
            if let Some(until) = l.paused_until {
                if now < until {
                    continue;
                }
                // It wakes up where it was: if it held, it carries on acting at once,
                // before it reads what reached it meanwhile.
                l.paused_until = None;
                act(d, &mut resources, i, now);
                d.resume_client(i)?;
            }
            match d.standing(i) {
                Standing::Held { .. } if d.clients[i].released_at.is_none() => {
                    if life[i].granted != d.clients[i].held_since {
                        life[i].granted = d.clients[i].held_since;
                        if healed {
                            granted_after_heal[i] = true;
                        }
                    }
                    act(d, &mut resources, i, now);
                }
                Standing::Released if d.clients[i].queued() => match life[i].requeue {
                    None => {
                        let gap = draw.duration_between(
                            Duration::from_millis(10),
                            Duration::from_millis(100),
                        );
                        life[i].requeue = Some(now.plus(gap));
                    }
                    Some(t) if now >= t => {
                        life[i].requeue = None;
                        d.restart_client(i, lock(cfg, i));
                    }
                    Some(_) => {}
                },
                Standing::Lost => {
                    report.sessions_lost += 1;
                    d.restart_client(i, lock(cfg, i));
                }
                _ => {}
            }
        }
        d.run_for(TICK)?;
    }
    for (r, resource) in resources.iter().enumerate() {
        check_actions(&resource.accepted).map_err(|e| format!("resource {r}: {e}"))?;
        report.actions += resource.accepted.len();
        report.refused += resource.refused;
    }
    // No missed watch event: after the heal, every live client queued again and got
    // its turn; one still waiting at the end was never told its turn had come.
    for i in 0..PARTS.len() {
        if !life[i].crashed && !granted_after_heal[i] {
            let waits = d.clients[i]
                .node_watched()
                .map_or(String::new(), |w| format!(" (it watched {w})"));
            let who = format!("{} ", name(i));
            let mine: Vec<&String> = d.narration.iter().filter(|l| l.contains(&who)).collect();
            let last = mine[mine.len().saturating_sub(8)..]
                .iter()
                .map(|l| format!("\n    {l}"))
                .collect::<String>();
            return Err(format!(
                "liveness: {} did not get its lock in the {:?} after the network healed{waits}: a missed watch event? its last steps:{last}",
                name(i),
                chaos.settle
            ));
        }
    }
    report.grants = d.checker.grants.len();
    report.notifications = d.notifications;
    Ok(())
}

/// Client `i` acts on its resource with its token, if it believes it holds.
fn act<P: Protocol>(d: &Driver<P>, resources: &mut [Resource], i: usize, now: Time) {
    if let (Standing::Held { token, .. }, None) = (d.standing(i), d.clients[i].released_at) {
        let part = PARTS[i];
        resources[part.resource].act(Action {
            client: i,
            token,
            write: part.access != Access::Read,
            at: now,
        });
    }
}

/// What a recipe sweep saw over its seeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipeSweep {
    /// Seeds run.
    pub seeds: u64,
    /// Summed over the seeds (see [`RecipeChaosReport`]).
    pub total: RecipeChaosReport,
}

impl fmt::Display for RecipeSweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.total;
        write!(
            f,
            "{} seeds: {} faults, {} client pauses, {} client crashes, {} sessions lost; \
             {} grants checked, {} resource actions checked ({} stale ones fenced off), {} notifications",
            self.seeds,
            t.faults,
            t.pauses,
            t.client_crashes,
            t.sessions_lost,
            t.grants,
            t.actions,
            t.refused,
            t.notifications
        )
    }
}

/// Runs seeds `0..n`; the first failure stops it.
pub fn sweep<P: Protocol>(
    cfg: &RecipeChaosConfig,
    n: u64,
) -> Result<RecipeSweep, RecipeChaosFailure> {
    let mut sweep = RecipeSweep {
        seeds: n,
        ..RecipeSweep::default()
    };
    for seed in 0..n {
        let r = run_seed::<P>(seed, cfg)?;
        let t = &mut sweep.total;
        t.faults += r.faults;
        t.grants += r.grants;
        t.actions += r.actions;
        t.refused += r.refused;
        t.pauses += r.pauses;
        t.client_crashes += r.client_crashes;
        t.sessions_lost += r.sessions_lost;
        t.notifications += r.notifications;
    }
    Ok(sweep)
}
