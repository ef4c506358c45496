//! `cwb bench`: the measurement matrix on real loopback TCP clusters, written to one
//! schema-versioned JSON results file (see the `reports` crate and docs/METHOD.md).
//!
//! Each trial runs on a fresh cluster (real sockets on 127.0.0.1, real WAL files in a
//! temporary directory), in-process by default or, with `--processes`, one `cwb node`
//! OS process per node (`harness::process_cluster`; there message counts are not
//! collected, and the idle resident memory of every node process is recorded once per
//! protocol and size, about a second after a cold-start election):
//! - election: cold start -> leader elected, and -> leader ready;
//! - failover after a kill and after an isolation of the leader, decomposed into
//!   detection, election, recovery and first commit, plus the client-observed window
//!   without a commit; a trial whose fault is not verified is discarded and counted;
//! - throughput: C closed-loop clients, P-byte values, after a warm-up; measured in
//!   `--rounds` rounds after everything else, each round visiting every protocol,
//!   size and client count in turn, so that a noisy minute on a shared machine hits
//!   every protocol alike; the median round is reported, with every round's figure;
//! - message counts per committed operation and per election, by message type;
//! - optionally a timeout sweep (`--sweep election-timeout=150-151,150-155,...`).
//!
//! The machine's loopback round trip and fsync latency are measured in the same run.

use super::{parse_range, TimingArgs};
use crate::dispatch::with_protocol;
use anyhow::Context;
use harness::cluster::ClusterOptions;
use harness::config::ProtocolKind;
use harness::measure::{self, Cluster, ElectionSample, FailoverSample, Failure, MeasureError};
use harness::process_cluster::ProcessCluster;
use harness::runtime::MessageCounts;
use harness::storage::FsyncPolicy;
use harness::workload::Workload;
use indicatif::{ProgressBar, ProgressStyle};
use protocols::{Protocol, Timing};
use reports::results as r;
use reports::Summary;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One kind of measurement of `cwb bench`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// Cold-start elections.
    Election,
    /// Failover after the leader's process is killed.
    Kill,
    /// Failover after the leader is silently isolated.
    Isolate,
    /// Closed-loop commit throughput and latency.
    Throughput,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Protocols to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "raft,zab,paxos")]
    pub protocols: Vec<ProtocolKind>,
    /// Cluster sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,5")]
    pub nodes: Vec<u64>,
    /// Trials per election and failover measure.
    #[arg(long, default_value_t = 10)]
    pub trials: u32,
    /// What to measure (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "election,kill,isolate,throughput"
    )]
    pub measure: Vec<Measure>,
    /// Closed-loop client counts for throughput, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub clients: Vec<u32>,
    /// Value size in bytes (keys are 8 bytes).
    #[arg(long, default_value_t = 256)]
    pub value_bytes: usize,
    /// Throughput warm-up (ms), not counted.
    #[arg(long, default_value_t = 500)]
    pub warmup_ms: u64,
    /// Throughput counted period (ms).
    #[arg(long, default_value_t = 2000)]
    pub duration_ms: u64,
    /// Throughput rounds: every throughput point is measured once per round, the
    /// protocols interleaved; the median round is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// WAL durability: always, batch or never.
    #[arg(long, default_value = "batch")]
    pub fsync: FsyncPolicy,
    #[command(flatten)]
    pub timing: TimingArgs,
    /// Timeout sweep: `election-timeout=150-151,150-155,150-175,150-200,150-300`
    /// (Raft's range; Paxos's failure timeout and back-off) or
    /// `finalize-wait=50,100,200` (ZAB). Runs `--trials` cold elections per setting.
    #[arg(long)]
    pub sweep: Option<String>,
    /// Where to write the JSON results.
    #[arg(long, short, default_value = "reports/out/results.json")]
    pub out: PathBuf,
    /// Run each node as its own OS process (`cwb node`) instead of in-process.
    #[arg(long)]
    pub processes: bool,
}

/// What a sweep varies.
#[derive(Clone, Debug)]
enum Sweep {
    ElectionTimeout(Vec<(u64, u64)>),
    FinalizeWait(Vec<u64>),
}

fn parse_sweep(s: &str) -> anyhow::Result<Sweep> {
    let (key, values) = s.split_once('=').context("--sweep takes KEY=V1,V2,...")?;
    let values: Vec<&str> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    match key.trim() {
        "election-timeout" => Ok(Sweep::ElectionTimeout(
            values
                .iter()
                .map(|v| parse_range(v))
                .collect::<Result<_, _>>()?,
        )),
        "finalize-wait" => Ok(Sweep::FinalizeWait(
            values
                .iter()
                .map(|v| {
                    v.parse()
                        .with_context(|| format!("bad finalize wait {v:?}"))
                })
                .collect::<Result<_, _>>()?,
        )),
        other => {
            anyhow::bail!("unknown sweep {other:?}: expected election-timeout or finalize-wait")
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let results = collect(&args).await?;
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    results
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    super::summary::print(&results);
    println!("\nresults written to {}", args.out.display());
    Ok(())
}

/// Runs the whole matrix and returns the results document.
pub async fn collect(args: &Args) -> anyhow::Result<r::Results> {
    let exe = if args.processes {
        Some(std::env::current_exe().context("finding the cwb executable to run nodes")?)
    } else {
        None
    };
    let timing = args.timing.timing()?;
    let sweep = args.sweep.as_deref().map(parse_sweep).transpose()?;
    let mut sizes: Vec<usize> = args.nodes.iter().map(|&n| n as usize).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let baseline = measure_baseline(&sizes).await?;
    let bar = ProgressBar::new(planned_steps(args, sweep.as_ref()));
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .context("progress template")?
            .progress_chars("=> "),
    );
    let mut runs = Vec::new();
    let mut hosts = Vec::new();
    let mut protocol_timing = BTreeMap::new();
    for &protocol in &args.protocols {
        let mapping = with_protocol!(protocol, P => P::timing_mapping(&timing));
        protocol_timing.insert(protocol.to_string(), mapping.into_iter().collect());
        let hosting = match &exe {
            Some(exe) => Hosting::Processes {
                exe: exe.clone(),
                protocol,
            },
            None => Hosting::InProcess,
        };
        for &nodes in &args.nodes {
            let run = with_protocol!(protocol, P => measure_protocol::<P>(args, &hosting, &timing, sweep.as_ref(), nodes, &bar).await?);
            runs.push(run);
            hosts.push((protocol, hosting.clone()));
        }
    }
    if args.measure.contains(&Measure::Throughput) {
        throughput_rounds(args, &timing, &hosts, &mut runs, &bar).await?;
    }
    bar.finish_and_clear();
    Ok(r::Results {
        schema_version: r::SCHEMA_VERSION,
        created: super::now_rfc3339(),
        machine: super::machine(),
        git_commit: super::git_commit(),
        settings: r::Settings {
            protocols: args.protocols.iter().map(|p| p.to_string()).collect(),
            cluster_sizes: args.nodes.iter().map(|&n| n as usize).collect(),
            trials: args.trials,
            mode: if args.processes {
                r::Mode::MultiProcess
            } else {
                r::Mode::InProcess
            },
            fsync: args.fsync.to_string(),
            timing: r::Timing {
                heartbeat_ms: timing.heartbeat.as_millis() as u64,
                election_timeout_min_ms: timing.election_timeout_min.as_millis() as u64,
                election_timeout_max_ms: timing.election_timeout_max.as_millis() as u64,
                finalize_wait_ms: timing.finalize_wait.as_millis() as u64,
                raft_timer_reset: timing.raft_timer_reset.as_str().to_string(),
            },
            protocol_timing,
            clients: if args.measure.contains(&Measure::Throughput) {
                args.clients.clone()
            } else {
                Vec::new()
            },
            value_bytes: args.value_bytes as u64,
            key_bytes: 8,
            warmup_ms: args.warmup_ms,
            duration_ms: args.duration_ms,
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
        },
        baseline,
        runs,
    })
}

fn planned_steps(args: &Args, sweep: Option<&Sweep>) -> u64 {
    let per_size: u64 = args
        .measure
        .iter()
        .map(|m| {
            if *m == Measure::Throughput {
                args.clients.len() as u64 * u64::from(args.rounds)
            } else {
                u64::from(args.trials)
            }
        })
        .sum::<u64>()
        + match sweep {
            Some(Sweep::ElectionTimeout(v)) => v.len() as u64 * u64::from(args.trials),
            Some(Sweep::FinalizeWait(v)) => v.len() as u64 * u64::from(args.trials),
            None => 0,
        };
    args.protocols.len() as u64 * args.nodes.len() as u64 * per_size
}

/// The machine's lower bounds; the concurrent fsync once per cluster size of the run.
async fn measure_baseline(cluster_sizes: &[usize]) -> anyhow::Result<r::Baseline> {
    let rtt = harness::baseline::loopback_rtt(2000)
        .await
        .context("measuring the loopback round trip")?;
    let dir = tempfile::tempdir().context("temporary directory")?;
    let fsync = harness::baseline::fsync(dir.path(), 200).context("measuring fsync")?;
    let mut concurrent_fsync = Vec::new();
    for &writers in cluster_sizes {
        let lat = harness::baseline::fsync_concurrent(dir.path(), writers, 200)
            .with_context(|| format!("measuring fsync with {writers} writers at once"))?;
        concurrent_fsync.push(r::ConcurrentFsync {
            writers,
            latency_us: Summary::from_histogram(lat.histogram(), 1.0),
        });
    }
    Ok(r::Baseline {
        loopback_rtt_us: Summary::from_histogram(rtt.histogram(), 1.0),
        fsync_us: Summary::from_histogram(fsync.histogram(), 1.0),
        concurrent_fsync,
    })
}

/// A line above the progress bar (or on stderr when there is no terminal).
fn note(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cluster_options(
    args: &Args,
    timing: &Timing,
    nodes: u64,
    seed: u64,
    dir: &tempfile::TempDir,
) -> ClusterOptions {
    let mut opts = ClusterOptions::new(nodes, dir.path().to_path_buf());
    opts.timing = timing.clone();
    opts.fsync = args.fsync;
    opts.seed = seed;
    opts
}

/// Where each trial's cluster runs.
#[derive(Clone, Debug)]
enum Hosting {
    /// Nodes as tokio tasks in this process.
    InProcess,
    /// One `exe node` OS process per node, running `protocol`.
    Processes {
        /// The cwb executable.
        exe: PathBuf,
        /// What the nodes run.
        protocol: ProtocolKind,
    },
}

/// How long a process cluster idles after its cold-start election before its
/// resident memory is read.
const IDLE_SETTLE: Duration = Duration::from_secs(1);

/// One cold-start election; with `idle_rss` (process clusters only), also the
/// resident memory of every node, in kB, once the cluster idled for [`IDLE_SETTLE`].
async fn election_trial<P: Protocol>(
    hosting: &Hosting,
    opts: ClusterOptions,
    timeout: Duration,
    idle_rss: bool,
) -> Result<(ElectionSample, Vec<u64>), MeasureError> {
    let Hosting::Processes { exe, protocol } = hosting else {
        return Ok((
            measure::cold_election::<P>(opts, timeout).await?,
            Vec::new(),
        ));
    };
    let cluster = ProcessCluster::start(exe, *protocol, &opts).await?;
    let sample = measure::cold_election_on(&cluster, timeout).await;
    let mut rss = Vec::new();
    if idle_rss && sample.is_ok() {
        tokio::time::sleep(IDLE_SETTLE).await;
        rss = cluster.resident_kb().into_values().collect();
    }
    cluster.shutdown().await;
    Ok((sample?, rss))
}

async fn failover_trial<P: Protocol>(
    hosting: &Hosting,
    opts: ClusterOptions,
    failure: Failure,
    timeout: Duration,
) -> Result<FailoverSample, MeasureError> {
    let Hosting::Processes { exe, protocol } = hosting else {
        return measure::failover::<P>(opts, failure, timeout).await;
    };
    let mut cluster = ProcessCluster::start(exe, *protocol, &opts).await?;
    let sample = measure::failover_on(&mut cluster, failure, timeout).await;
    cluster.shutdown().await;
    sample
}

async fn throughput_trial<P: Protocol>(
    hosting: &Hosting,
    opts: ClusterOptions,
    workload: &Workload,
    timeout: Duration,
) -> Result<measure::ThroughputSample, MeasureError> {
    let Hosting::Processes { exe, protocol } = hosting else {
        return measure::throughput::<P>(opts, workload, timeout).await;
    };
    let cluster = ProcessCluster::start(exe, *protocol, &opts).await?;
    let sample = measure::throughput_on(&cluster, workload, timeout).await;
    cluster.shutdown().await;
    sample
}

async fn measure_protocol<P: Protocol>(
    args: &Args,
    hosting: &Hosting,
    timing: &Timing,
    sweep: Option<&Sweep>,
    nodes: u64,
    bar: &ProgressBar,
) -> anyhow::Result<r::ProtocolRun> {
    let timeout = Duration::from_secs(30);
    let wants = |m: Measure| args.measure.contains(&m);
    let mut run = r::ProtocolRun {
        protocol: P::NAME.to_string(),
        nodes: nodes as usize,
        election: None,
        elected: None,
        failover_kill: None,
        failover_isolate: None,
        throughput: Vec::new(),
        messages: r::MessageCounts::default(),
        sweep: Vec::new(),
        idle_rss_kb: None,
        election_extra_rounds: None,
        timer_lateness_us: None,
    };
    let processes = matches!(hosting, Hosting::Processes { .. });
    // Timer lateness over every election and failover trial of this run.
    let mut lateness = harness::metrics::Latencies::new();
    let mut idle_rss: Vec<u64> = Vec::new();
    if wants(Measure::Election) {
        let (mut ready, mut elected, mut per_election) = (Vec::new(), Vec::new(), Vec::new());
        let mut rounds = Vec::new();
        for trial in 0..args.trials {
            bar.set_message(format!("{} n={nodes} election #{}", P::NAME, trial + 1));
            let dir = tempfile::tempdir().context("temporary data directory")?;
            let opts = cluster_options(args, timing, nodes, u64::from(trial) + 1, &dir);
            let want_rss = processes && idle_rss.is_empty();
            match election_trial::<P>(hosting, opts, timeout, want_rss).await {
                Ok((e, rss)) => {
                    ready.push(ms(e.election.ready));
                    elected.push(ms(e.election.elected));
                    per_election.push(e.messages);
                    rounds.push(f64::from(e.extra_rounds));
                    lateness.merge(&e.timer_lateness);
                    if want_rss {
                        idle_rss = rss;
                    }
                }
                Err(e) => note(
                    bar,
                    format!(
                        "{} n={nodes} election trial {} failed: {e}",
                        P::NAME,
                        trial + 1
                    ),
                ),
            }
            bar.inc(1);
        }
        run.messages.per_election = average_counts(&per_election);
        run.election = Some(r::Measure::from_ms(ready));
        run.election_extra_rounds = Some(r::Measure::from_counts("rounds", rounds));
        run.elected = Some(r::Measure::from_ms(elected));
    }
    if processes && idle_rss.is_empty() {
        // Memory is measured even when elections are not (one extra cold start).
        bar.set_message(format!("{} n={nodes} idle memory", P::NAME));
        let dir = tempfile::tempdir().context("temporary data directory")?;
        let opts = cluster_options(args, timing, nodes, 1, &dir);
        match election_trial::<P>(hosting, opts, timeout, true).await {
            Ok((_, rss)) => idle_rss = rss,
            Err(e) => note(bar, format!("{} n={nodes} idle memory: {e}", P::NAME)),
        }
    }
    if !idle_rss.is_empty() {
        run.idle_rss_kb = Some(r::Measure::from_kb(
            idle_rss.iter().map(|&kb| kb as f64).collect(),
        ));
    }
    for (wanted, failure) in [
        (Measure::Kill, Failure::Kill),
        (Measure::Isolate, Failure::Isolate),
    ] {
        let name = failure.as_str();
        if !wants(wanted) {
            continue;
        }
        let mut samples = Vec::new();
        let mut discarded = 0;
        for trial in 0..args.trials {
            bar.set_message(format!("{} n={nodes} {name} #{}", P::NAME, trial + 1));
            let dir = tempfile::tempdir().context("temporary data directory")?;
            let opts = cluster_options(args, timing, nodes, u64::from(trial) + 1, &dir);
            match failover_trial::<P>(hosting, opts, failure, timeout).await {
                Ok(f) => {
                    lateness.merge(&f.timer_lateness);
                    samples.push(f);
                }
                Err(e) => {
                    discarded += 1;
                    note(
                        bar,
                        format!(
                            "{} n={nodes} {name} trial {} discarded: {e}",
                            P::NAME,
                            trial + 1
                        ),
                    );
                }
            }
            bar.inc(1);
        }
        let f = failover_measures(&samples, discarded);
        match failure {
            Failure::Kill => run.failover_kill = Some(f),
            Failure::Isolate => run.failover_isolate = Some(f),
        }
    }
    if lateness.count() > 0 {
        run.timer_lateness_us = Some(Summary::from_histogram(lateness.histogram(), 1.0));
    }
    if let Some(sweep) = sweep {
        let settings: Vec<(String, Timing)> = match sweep {
            Sweep::ElectionTimeout(ranges) => ranges
                .iter()
                .map(|&(lo, hi)| {
                    let t = Timing {
                        election_timeout_min: Duration::from_millis(lo),
                        election_timeout_max: Duration::from_millis(hi),
                        ..timing.clone()
                    };
                    (format!("{lo}-{hi}"), t)
                })
                .collect(),
            Sweep::FinalizeWait(waits) => waits
                .iter()
                .map(|&w| {
                    (
                        format!("{w}"),
                        Timing {
                            finalize_wait: Duration::from_millis(w),
                            ..timing.clone()
                        },
                    )
                })
                .collect(),
        };
        for (label, t) in settings {
            if t.validate().is_err() {
                anyhow::bail!(
                    "sweep setting {label} is not a valid timing with heartbeat {} ms",
                    t.heartbeat.as_millis()
                );
            }
            let (mut times, mut rounds) = (Vec::new(), Vec::new());
            for trial in 0..args.trials {
                bar.set_message(format!(
                    "{} n={nodes} sweep {label} #{}",
                    P::NAME,
                    trial + 1
                ));
                let dir = tempfile::tempdir().context("temporary data directory")?;
                let opts = cluster_options(args, &t, nodes, u64::from(trial) + 1, &dir);
                if let Ok((e, _)) = election_trial::<P>(hosting, opts, timeout, false).await {
                    times.push(ms(e.election.ready));
                    rounds.push(f64::from(e.extra_rounds));
                }
                bar.inc(1);
            }
            run.sweep.push(r::SweepPoint {
                setting: label,
                trials: times.len() as u32,
                election_ms: r::Measure::from_ms(times),
                split_votes_or_extra_rounds: r::Measure::from_counts("rounds", rounds),
            });
        }
    }
    Ok(run)
}

/// Measures every throughput point of every run, `args.rounds` times, round-robin over
/// the runs (protocols and sizes), so that machine noise is spread over all of them;
/// each point reports its median round and keeps every round's ops/s.
async fn throughput_rounds(
    args: &Args,
    timing: &Timing,
    hosts: &[(ProtocolKind, Hosting)],
    runs: &mut [r::ProtocolRun],
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(30);
    // samples[run][client index]: one per successful round.
    let mut samples: Vec<Vec<Vec<measure::ThroughputSample>>> = runs
        .iter()
        .map(|_| vec![Vec::new(); args.clients.len()])
        .collect();
    for round in 1..=args.rounds {
        for (i, ((protocol, hosting), run)) in hosts.iter().zip(runs.iter()).enumerate() {
            let nodes = run.nodes as u64;
            for (c, &clients) in args.clients.iter().enumerate() {
                bar.set_message(format!(
                    "{protocol} n={nodes} throughput c={clients} round {round}/{}",
                    args.rounds
                ));
                let dir = tempfile::tempdir().context("temporary data directory")?;
                let opts = cluster_options(args, timing, nodes, u64::from(round), &dir);
                let w = Workload {
                    clients,
                    value_bytes: args.value_bytes,
                    warmup: Duration::from_millis(args.warmup_ms),
                    duration: Duration::from_millis(args.duration_ms),
                };
                let sample = with_protocol!(*protocol, P => throughput_trial::<P>(hosting, opts, &w, timeout).await);
                match sample {
                    Ok(t) => samples[i][c].push(t),
                    Err(e) => note(
                        bar,
                        format!(
                            "{protocol} n={nodes} throughput c={clients} round {round} failed: {e}"
                        ),
                    ),
                }
                bar.inc(1);
            }
        }
    }
    for (run, per_clients) in runs.iter_mut().zip(samples) {
        let mut largest: Option<(u32, MessageCounts, u64)> = None;
        for (&clients, mut rounds) in args.clients.iter().zip(per_clients) {
            if rounds.is_empty() {
                continue;
            }
            rounds.sort_by(|a, b| a.result.ops_per_sec().total_cmp(&b.result.ops_per_sec()));
            let all: Vec<f64> = rounds.iter().map(|t| t.result.ops_per_sec()).collect();
            // The median round; of an even number, the lower of the middle two.
            let median = rounds.swap_remove((rounds.len() - 1) / 2);
            let t = &median.result;
            run.throughput.push(r::ThroughputPoint {
                clients,
                value_bytes: args.value_bytes as u64,
                fsync: args.fsync.to_string(),
                duration_ms: ms(t.elapsed),
                ops: t.ops,
                ops_per_sec: t.ops_per_sec(),
                latency_us: Summary::from_histogram(t.latency.histogram(), 1.0),
                errors: t.errors,
                rounds_ops_per_sec: all,
            });
            if largest.as_ref().is_none_or(|l| clients >= l.0) {
                largest = Some((clients, median.messages, t.ops));
            }
        }
        if let Some((clients, counts, ops)) = largest {
            run.messages.per_op_clients = Some(clients);
            let ops = ops.max(1) as f64;
            // Multi-process runs count nothing (`by_kind` stays empty): not measured.
            if !counts.by_kind.is_empty() {
                run.messages.wal_records_per_op = Some(counts.wal_records as f64 / ops);
                run.messages.wal_syncs_per_op = Some(counts.wal_syncs as f64 / ops);
            }
            for (kind, (n, b)) in counts.by_kind {
                run.messages.per_op.insert(kind.to_string(), n as f64 / ops);
                run.messages
                    .bytes_per_op
                    .insert(kind.to_string(), b as f64 / ops);
            }
        }
    }
    Ok(())
}

fn failover_measures(samples: &[FailoverSample], discarded: u32) -> r::Failover {
    let pick = |f: fn(&FailoverSample) -> Duration| {
        r::Measure::from_ms(samples.iter().map(|s| ms(f(s))).collect())
    };
    r::Failover {
        detection: pick(|s| s.phases.detection),
        election: pick(|s| s.phases.election),
        recovery: pick(|s| s.phases.recovery),
        first_commit: pick(|s| s.phases.first_commit),
        total: pick(|s| s.phases.total),
        unavailability: pick(|s| s.unavailability),
        extra_rounds: Some(r::Measure::from_counts(
            "rounds",
            samples.iter().map(|s| f64::from(s.extra_rounds)).collect(),
        )),
        trials_discarded: discarded,
    }
}

/// Mean messages per trial, by kind.
fn average_counts(trials: &[MessageCounts]) -> BTreeMap<String, f64> {
    let mut msgs = BTreeMap::new();
    let n = trials.len().max(1) as f64;
    for t in trials {
        for (kind, (m, _)) in &t.by_kind {
            *msgs.entry(kind.to_string()).or_insert(0.0) += *m as f64 / n;
        }
    }
    msgs
}
