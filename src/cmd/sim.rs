//! `cwb sim`: the deterministic simulator from the command line.
//!
//! Two modes:
//! - `--scenario FILE`: run a scripted teaching scenario (scenarios/*.toml: cluster size,
//!   initial histories, start order, faults, expectations) and print its narrated
//!   timeline: each message in a short readable form, each vote with the rule that
//!   decided it, each role change, then the expectations' results (non-zero exit if one
//!   fails). `--svg OUT.svg` also writes its message-sequence (Lamport) diagram.
//! - `--seed N` (the default): replay one seed of the random-fault schedule the safety
//!   tests sweep (crashes, power failures, restarts, partitions, one-way cuts, dropped
//!   message kinds, stranded leaders, loss, duplication: `sim::chaos::schedule`),
//!   narrated the same way. A seed that failed a test replays exactly here.
//! - `--recipes --seed N`: replay one seed of the recipe chaos sweep (ZooKeeper's lock,
//!   read/write lock and fair election on the znode tree under the same faults, with
//!   client pauses; `recipes::chaos`), narrated by the clients.
//!   Redis Cluster's seeds (`--protocol redis`, six nodes) run the same faults and
//!   clients judged by what it promises (`sim::chaos::redis`): one master per
//!   configEpoch, progress once healed, one slot map everywhere; the acknowledged writes
//!   it loses are counted, not failed.
//! - `--failover kill|isolate`: failover trials under load, reporting the failover time
//!   and the acknowledged writes lost (`--trials`, `--wait-replicas`).
//!
//! In both modes `--bug NAME` runs every node with a known-buggy variant of its protocol
//! (`protocols::Bug`; `--bug help` lists them with the seed or scenario that catches
//! each). This is the only command that can switch one on.

use anyhow::Context;
use drivers::with_protocol;
use protocols::{Bug, Protocol};
use runtime::config::ProtocolKind;
use sim::chaos::{run_seed, ChaosConfig};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use teaching::lamport::{render_svg, SvgOptions};
use teaching::scenario::{self, Scenario, Scripted, TextOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// raft, zab, paxos or redis. Seed mode: default raft (redis: six nodes, judged by
    /// what Redis Cluster promises).
    /// Scenario mode: overrides the file's; `all` runs the scenario with each of the
    /// three consensus protocols, one after the other (and with --html, side by side on
    /// one page).
    #[arg(long, value_name = "raft|zab|paxos|redis|all", value_parser = parse_protocol)]
    protocol: Option<Choice>,
    /// With --scenario and --protocol all: write one self-contained HTML page with the
    /// three protocols' timelines, aligned on the scenario's steps, and their diagrams.
    #[arg(long, value_name = "OUT.html", requires = "scenario")]
    html: Option<PathBuf>,
    /// Run this scenario file instead of a random-fault seed.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Write the run's message-sequence diagram to this SVG file (a seed replay too;
    /// with --protocol all, one file per protocol: OUT.raft.svg, OUT.zab.svg, ...).
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// The seed to replay (default 0); with --scenario, overrides the file's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// With --scenario: overrides the file's Raft election-timer rule (figure2 or etcd).
    #[arg(long, value_enum, requires = "scenario")]
    raft_timer_reset: Option<protocols::RaftTimerReset>,
    /// Raft PreVote (thesis §9.6): on (the default) or off; with --scenario, overrides
    /// the file's.
    #[arg(long, value_enum)]
    pre_vote: Option<super::OnOff>,
    /// Raft and Paxos leaders step down without a majority within the election
    /// timeout: on (the default) or off; with --scenario, overrides the file's.
    #[arg(long, value_enum)]
    check_quorum: Option<super::OnOff>,
    /// With --scenario: Paxos's random back-off after a lost ballot, on (the default)
    /// or off (dueling proposers may then livelock: scenarios/paxos-livelock.toml);
    /// overrides the file's `backoff`.
    #[arg(long, value_enum, requires = "scenario")]
    backoff: Option<super::OnOff>,
    /// How reads are served: log (the default), index or lease (Raft), lease (Paxos),
    /// local or sync (ZAB), local (every protocol, not linearizable); with --scenario,
    /// overrides the file's. A bug that needs a read path runs with it unless this says
    /// otherwise.
    #[arg(long, value_enum)]
    reads: Option<protocols::ReadPath>,
    /// Entries applied between two snapshots of the state machine, after which the log
    /// they cover is compacted (Raft, ZAB, Paxos; 0: none, the default); with
    /// --scenario, overrides the file's timing.
    #[arg(long)]
    snapshot_every: Option<u64>,
    /// The most image bytes one snapshot message carries (Raft's InstallSnapshot chunk,
    /// ZAB's SNAP chunk, Paxos's piece; default 1 MiB);
    /// with --scenario, overrides the file's timing.
    #[arg(long)]
    snapshot_chunk_bytes: Option<u64>,
    /// Seed mode: voting nodes.
    #[arg(long, default_value_t = 5)]
    nodes: u64,
    /// Seed mode: observers (non-voting members; ZAB and Paxos have them).
    #[arg(long, default_value_t = 0)]
    observers: u64,
    /// Seed mode: the known-buggy read path (reads answered by the node they reach,
    /// from its own store, without the log, as ZooKeeper's local reads): the check of
    /// the clients' history catches the stale reads.
    #[arg(long)]
    local_reads: bool,
    /// Seed mode: the known-buggy state machine that ignores client sessions and
    /// applies a retried write every time it commits: the check of the clients'
    /// history catches the write applied twice.
    #[arg(long)]
    at_least_once: bool,
    /// Seed mode: planned failovers among the faults: the leader is asked every
    /// 200-600 ms to hand its leadership to a node picked at random.
    #[arg(long)]
    transfers: bool,
    /// Seed mode: links that may reorder messages (a later message can overtake an
    /// earlier one on the same link), which TCP never does; for replaying schedules
    /// found before the simulator's links were FIFO.
    #[arg(long)]
    reorder: bool,
    /// A known-buggy protocol variant, for teaching (`help` lists them, each with the
    /// seed or scenario that catches it): every node runs with it. Only `cwb sim` can
    /// switch one on.
    #[arg(long, value_name = "NAME|help")]
    bug: Option<String>,
    /// Seed mode: replay a seed of the recipe chaos sweep instead (lock, read/write
    /// lock and fair-election clients on the znode tree, with client pauses and
    /// crashes; `recipes::chaos`), printing the clients' narration and the checks.
    #[arg(long, conflicts_with_all = ["scenario", "failover"])]
    recipes: bool,
    /// With --recipes: a deliberately broken client or resource (skip-watch,
    /// trust-event, no-fence), to see the check that catches it.
    #[arg(long, value_name = "NAME", requires = "recipes")]
    recipe_bug: Option<String>,
    /// Seed mode: seconds of virtual time with faults, then as long healed.
    #[arg(long, default_value_t = 4.0)]
    faulty_secs: f64,
    /// Print only protocol events and decisions, not every message.
    #[arg(long)]
    quiet: bool,
    /// With --scenario: also heartbeats, timers, commit advances and lost messages (in
    /// the SVG too).
    #[arg(long)]
    verbose: bool,
    /// Run failover trials instead of a chaos seed: kill or isolate the node serving
    /// the load's first key, under load, and report the failover time and the
    /// acknowledged writes lost (`sim::failover`).
    #[arg(long, value_enum, conflicts_with = "scenario")]
    failover: Option<FaultArg>,
    /// With --failover: how many trials (seeds from --seed on).
    #[arg(long, default_value_t = 1)]
    trials: u64,
    /// With --protocol redis: answer a write only once this many replicas have it
    /// (Redis's WAIT; 0: asynchronous, the default).
    #[arg(long, default_value_t = 0)]
    wait_replicas: usize,
}

impl Args {
    /// `--pre-vote` and `--check-quorum`, where given, over `timing`.
    fn apply_switches(&self, timing: &mut protocols::Timing) {
        if let Some(v) = self.pre_vote {
            timing.pre_vote = v.on();
        }
        if let Some(v) = self.check_quorum {
            timing.check_quorum = v.on();
        }
        if let Some(reads) = self.reads {
            timing.reads = reads;
        }
        if let Some(every) = self.snapshot_every {
            timing.snapshot_every = every;
        }
        if let Some(bytes) = self.snapshot_chunk_bytes {
            timing.snapshot_chunk_bytes = bytes;
        }
    }
}

/// `--protocol`: one protocol, or all three (scenario mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// This protocol.
    One(ProtocolKind),
    /// Raft, ZAB and Paxos, one after the other.
    All,
}

fn parse_protocol(s: &str) -> Result<Choice, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(Choice::All);
    }
    s.parse::<ProtocolKind>()
        .map(Choice::One)
        .map_err(|e| format!("{e}, or all"))
}

/// `--bug NAME`: the bug, checked against the protocol that runs.
fn bug_for(args: &Args, protocol: ProtocolKind) -> anyhow::Result<Option<Bug>> {
    let Some(name) = &args.bug else {
        return Ok(None);
    };
    let bug: Bug = name.parse()?;
    if bug.protocol() != protocol {
        anyhow::bail!(
            "--bug {bug} is a bug of {}, but this run is {protocol}: pass --protocol {}",
            bug.protocol(),
            bug.protocol()
        );
    }
    Ok(Some(bug))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.bug.as_deref() == Some("help") {
        return print(&format!(
            "Known bugs (cwb sim --protocol P --seed N --bug NAME, or cwb sim --scenario F --bug NAME):\n{}",
            Bug::catalogue()
        ));
    }
    match args.scenario.clone() {
        Some(path) => {
            let mut scenario = Scenario::load(&path)?;
            if let Some(seed) = args.seed {
                scenario.seed = seed;
            }
            if let Some(b) = args.backoff {
                scenario.backoff = b.on();
            }
            if let Some(reset) = args.raft_timer_reset {
                scenario.timing.raft_timer_reset = reset;
            }
            args.apply_switches(&mut scenario.timing);
            let protocol = match args.protocol {
                Some(Choice::All) => return run_all(&args, &scenario),
                Some(Choice::One(p)) => Some(p),
                None => scenario.protocol,
            };
            if args.html.is_some() {
                anyhow::bail!("--html shows the three protocols side by side: pass --protocol all");
            }
            let protocol = protocol.with_context(|| {
                format!(
                    "{} names no protocol: pass --protocol raft|zab|paxos|all",
                    path.display()
                )
            })?;
            let bug = bug_for(&args, protocol)?;
            with_protocol!(protocol, P => run_scenario::<P>(&args, &scenario, bug))
        }
        None => {
            let protocol = match args.protocol {
                None => ProtocolKind::Raft,
                Some(Choice::One(p)) => p,
                Some(Choice::All) => {
                    anyhow::bail!("--protocol all runs a scenario: pass --scenario FILE")
                }
            };
            if args.recipes {
                return super::recipe_chaos::replay(
                    protocol,
                    args.nodes,
                    args.faulty_secs,
                    args.seed.unwrap_or(0),
                    args.recipe_bug.as_deref(),
                );
            }
            let bug = bug_for(&args, protocol)?;
            let fault = match (args.failover, protocol) {
                (Some(fault), _) => fault,
                // Redis Cluster promises no single agreed sequence: its seeds are judged
                // by what it does promise.
                (None, ProtocolKind::Redis) => return replay_redis(&args),
                (None, _) => return with_protocol!(protocol, P => replay::<P>(&args, bug)),
            };
            match protocol {
                ProtocolKind::Raft => trials::<protocols::raft::Raft>(&args, protocol, fault),
                ProtocolKind::Zab => trials::<protocols::zab::Zab>(&args, protocol, fault),
                ProtocolKind::Paxos => trials::<protocols::paxos::Paxos>(&args, protocol, fault),
                ProtocolKind::Redis => trials::<protocols::redis::Redis>(&args, protocol, fault),
            }
        }
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn run_scenario<P: Scripted>(
    args: &Args,
    scenario: &Scenario,
    bug: Option<Bug>,
) -> anyhow::Result<()> {
    let outcome = scenario::run_with_bug::<P>(scenario, bug)?;
    let text = scenario::render(
        scenario,
        &outcome,
        TextOptions {
            verbose: args.verbose,
            quiet: args.quiet,
        },
    );
    print(&text)?;
    if let Some(path) = &args.svg {
        let svg = diagram::<P>(args, scenario, &outcome, false);
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote the message-sequence diagram to {}", path.display());
    }
    if outcome.passed() {
        Ok(())
    } else {
        let failed = outcome.checks.iter().filter(|c| !c.passed()).count();
        anyhow::bail!(
            "scenario failed: {failed} of {} expectations failed, {} problem(s)",
            outcome.checks.len(),
            outcome.problems.len()
        )
    }
}

/// `--failover kill|isolate`: the fault a failover trial strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultArg {
    /// Crash the node serving the load's first key.
    Kill,
    /// Cut it off from every other node (its clients still reach it).
    Isolate,
}

/// `--failover`: `--trials` failover trials from `--seed` on, one line each and a
/// summary (`sim::failover`).
fn trials<P: sim::failover::FailoverTarget>(
    args: &Args,
    protocol: ProtocolKind,
    fault: FaultArg,
) -> anyhow::Result<()> {
    use sim::failover::{failover_trial, FailoverFault, TrialConfig};
    let fault = match fault {
        FaultArg::Kill => FailoverFault::Kill,
        FaultArg::Isolate => FailoverFault::Isolate,
    };
    if args.wait_replicas > 0 && protocol != ProtocolKind::Redis {
        anyhow::bail!("--wait-replicas is Redis Cluster's WAIT: pass --protocol redis");
    }
    let first = args.seed.unwrap_or(0);
    let wait = args.wait_replicas;
    let mut text = format!(
        "{protocol}: {fault} the node serving the first key at 2 s, back 4 s later; {} nodes, a command every 2 ms{}\n",
        if protocol == ProtocolKind::Redis { 6 } else { args.nodes },
        if protocol == ProtocolKind::Redis {
            format!(", WAIT-like {wait}")
        } else {
            String::new()
        }
    );
    let (mut times, mut acked, mut lost, mut verdicts) = (Vec::new(), 0, 0, [0u32; 3]);
    let mut submitted = 0;
    for seed in first..first + args.trials.max(1) {
        let mut cfg = TrialConfig::new(seed, fault);
        if protocol != ProtocolKind::Redis {
            cfg.nodes = args.nodes;
        }
        let o = failover_trial::<P>(&cfg, move |node: &mut P| set_wait(node, wait))
            .map_err(|v| anyhow::anyhow!("seed {seed}: {v}"))?;
        let verdict = match o.linearizable {
            Some(true) => "linearizable",
            Some(false) => "NOT linearizable",
            None => "undecided",
        };
        verdicts[match o.linearizable {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        }] += 1;
        text.push_str(&format!(
            "seed {seed}: n{} {fault}; failover {}; {} commands submitted, {} writes acknowledged, {} lost; {verdict}\n",
            o.victim,
            o.failover.map_or("none".into(), |d| format!(
                "{:.0} ms",
                d.as_secs_f64() * 1000.0
            )),
            o.submitted,
            o.acknowledged,
            o.lost
        ));
        submitted += o.submitted;
        times.extend(o.failover);
        acked += o.acknowledged;
        lost += o.lost;
    }
    let mean = if times.is_empty() {
        "none".to_string()
    } else {
        let ms: f64 =
            times.iter().map(|d| d.as_secs_f64() * 1000.0).sum::<f64>() / times.len() as f64;
        format!("{ms:.0} ms")
    };
    text.push_str(&format!(
        "summary: {} trials, mean failover {mean}, {submitted} commands submitted, {acked} writes acknowledged, {lost} lost ({:.2} per failover); linearizable {}, not {}, undecided {}\n",
        args.trials.max(1),
        lost as f64 / args.trials.max(1) as f64,
        verdicts[0],
        verdicts[1],
        verdicts[2]
    ));
    print(&text)
}

/// Gives a Redis Cluster node the WAIT-like setting; other protocols have none.
fn set_wait<P: Protocol>(node: &mut P, wait: usize) {
    node.acknowledge_after_replicas(wait);
}

/// `--protocol all`: the scenario with each protocol, the timelines one after the
/// other, and with `--html` one page with them side by side.
/// The scenario's message-sequence diagram of one protocol's run (`--svg`, `--html`).
fn diagram<P: Scripted>(
    args: &Args,
    scenario: &Scenario,
    outcome: &scenario::Outcome<P>,
    compact: bool,
) -> String {
    render_svg(
        &format!("{} ({})", scenario.name, P::NAME),
        &outcome.sim.ids(),
        &outcome.vocabulary,
        &outcome.timeline,
        &outcome.checks,
        SvgOptions {
            verbose: args.verbose,
            compact,
            ..SvgOptions::default()
        },
    )
}

fn run_all(args: &Args, scenario: &Scenario) -> anyhow::Result<()> {
    if args.bug.is_some() {
        anyhow::bail!("--bug is a bug of one protocol: pass --protocol raft|zab|paxos");
    }
    let mut columns = Vec::new();
    let mut full_svgs = Vec::new();
    for kind in ProtocolKind::ALL {
        let (full, column) = with_protocol!(kind, P => column::<P>(args, scenario))?;
        full_svgs.push(full);
        columns.push(column);
    }
    for c in &columns {
        print(&c.text)?;
        print("\n")?;
    }
    if let Some(path) = &args.svg {
        for (kind, svg) in ProtocolKind::ALL.iter().zip(&full_svgs) {
            let file = path.with_extension(format!("{kind}.svg"));
            std::fs::write(&file, svg)
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!(
                "wrote the {kind} message-sequence diagram to {}",
                file.display()
            );
        }
    }
    if let Some(path) = &args.html {
        let html = teaching::side_by_side::render_html(scenario, &columns);
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote the three runs side by side to {}", path.display());
    }
    let failed: Vec<&str> = columns
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.protocol.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("scenario failed with {}", failed.join(", "))
    }
}

fn column<P: Scripted>(
    args: &Args,
    scenario: &Scenario,
) -> anyhow::Result<(String, teaching::side_by_side::Column)> {
    let outcome = scenario::run::<P>(scenario)?;
    let text = scenario::render(
        scenario,
        &outcome,
        TextOptions {
            verbose: args.verbose,
            quiet: args.quiet,
        },
    );
    let svg = diagram::<P>(args, scenario, &outcome, true);
    // The full-size diagram, for --svg.
    let full_svg = if args.svg.is_some() {
        diagram::<P>(args, scenario, &outcome, false)
    } else {
        String::new()
    };
    Ok((
        full_svg,
        teaching::side_by_side::Column {
            protocol: P::NAME.to_string(),
            text,
            svg,
            passed: outcome.passed(),
        },
    ))
}

fn replay<P: Scripted>(args: &Args, bug: Option<Bug>) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or(0);
    let mut cfg = ChaosConfig {
        voters: args.nodes,
        observers: args.observers,
        faulty: Duration::from_secs_f64(args.faulty_secs),
        settle: Duration::from_secs_f64(args.faulty_secs),
        local_reads: args.local_reads,
        at_least_once: args.at_least_once,
        transfers: args.transfers,
        reorder: args.reorder,
        bug,
        ..ChaosConfig::default()
    };
    if let Some(bug) = bug {
        bug.adjust(&mut cfg.timing);
    }
    args.apply_switches(&mut cfg.timing);
    cfg.timing.validate().context("invalid timing")?;
    let kind: ProtocolKind = P::NAME.parse()?;
    if !cfg.timing.reads.supported_by(kind) {
        anyhow::bail!(
            "{} has no {} read path (it has: {})",
            P::NAME,
            cfg.timing.reads,
            protocols::ReadPath::for_protocol(kind)
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let (sim, result) = if let Some(path) = &args.svg {
        let r = teaching::replay::run_seed::<P>(seed, &cfg);
        let svg = render_svg(
            &format!("seed {seed}: random faults ({})", P::NAME),
            &r.sim.ids(),
            &P::vocabulary(),
            &r.timeline,
            &[],
            SvgOptions {
                verbose: args.verbose,
                ..SvgOptions::default()
            },
        );
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote the message-sequence diagram to {}", path.display());
        (r.sim, r.result)
    } else {
        run_seed::<P>(seed, &cfg, true, |_, _| Ok(()))
    };
    let mut text = trace_text(&sim, args.quiet);
    match result {
        Ok(r) => {
            text.push_str(&format!(
                "seed {} OK: {} crashes, {} partitions, {} terms with a leader, {} entries committed, {} messages; \
                 {} client operations ({} reads), {}\n",
                r.seed,
                r.crashes,
                r.partitions,
                r.terms_with_leader,
                r.committed,
                r.messages,
                r.operations,
                cfg.timing.reads,
                if r.linearizable {
                    "linearizable"
                } else {
                    "linearizability undecided within the step budget"
                }
            ));
            print(&text)
        }
        Err(f) => {
            print(&text)?;
            anyhow::bail!("{f}")
        }
    }
}

/// A replayed seed's narrated trace (without messages and timers when `quiet`), then
/// the leader of every generation.
fn trace_text<P: Protocol>(sim: &sim::Simulation<P>, quiet: bool) -> String {
    let mut text = String::new();
    for line in sim.trace() {
        if quiet && (line.contains(" -> n") || line.contains("timer")) {
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    let leaders: Vec<String> = sim
        .checker()
        .leaders()
        .iter()
        .map(|(g, n)| format!("{} {} n{n}", P::GENERATION, P::show_generation(*g)))
        .collect();
    text.push_str(&format!(
        "\nleaders: {}\n",
        if leaders.is_empty() {
            "none".to_string()
        } else {
            leaders.join(", ")
        }
    ));
    text
}

/// A Redis Cluster chaos seed (`sim::chaos::redis`): six nodes, the consensus sweeps'
/// faults and clients, judged by what Redis Cluster promises.
fn replay_redis(args: &Args) -> anyhow::Result<()> {
    use sim::chaos::redis;
    if args.wait_replicas > 0 {
        anyhow::bail!("--wait-replicas applies to --failover trials; a chaos seed runs asynchronous replication");
    }
    let seed = args.seed.unwrap_or(0);
    let mut cfg = redis::config();
    cfg.faulty = Duration::from_secs_f64(args.faulty_secs);
    cfg.settle = cfg.faulty;
    args.apply_switches(&mut cfg.timing);
    cfg.timing.validate().context("invalid timing")?;
    let (sim, result) = redis::run_seed(seed, &cfg, true);
    let mut text = trace_text(&sim, args.quiet);
    match result {
        Ok(r) => {
            let c = &r.chaos;
            text.push_str(&format!(
                "seed {seed} OK: {} crashes, {} partitions, {} promotions, {} messages; {} client operations; \
                 {} acknowledged writes, {} lost (asynchronous replication: counted, not a failure); {}\n",
                c.crashes,
                c.partitions,
                r.promotions,
                c.messages,
                c.operations,
                r.acknowledged,
                r.lost,
                match r.linearizable {
                    Some(true) => "linearizable",
                    Some(false) => "not linearizable",
                    None => "linearizability undecided within the step budget",
                }
            ));
            print(&text)
        }
        Err(f) => {
            print(&text)?;
            anyhow::bail!("{f}")
        }
    }
}
