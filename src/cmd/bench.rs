//! `cwb bench`: measure protocols on real loopback TCP clusters.
//!
//! Each trial runs on a fresh in-process cluster. Election: cold start -> leader
//! elected and -> leader ready. Failover after a kill and after an isolation,
//! decomposed into detection, election, recovery and first commit, plus the
//! client-observed unavailability window. Every injected fault is verified before its
//! trial counts (see `harness::measure`).

use super::TimingArgs;
use crate::dispatch::with_protocol;
use anyhow::Context;
use harness::cluster::ClusterOptions;
use harness::config::ProtocolKind;
use harness::measure::{self, Failure};
use harness::metrics::Latencies;
use harness::storage::FsyncPolicy;
use harness::workload::Workload;
use indicatif::{ProgressBar, ProgressStyle};
use protocols::{Protocol, Timing};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Protocols to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "raft")]
    protocols: Vec<ProtocolKind>,
    /// Cluster sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,5")]
    nodes: Vec<u64>,
    /// Trials per measure.
    #[arg(long, default_value_t = 20)]
    trials: u32,
    /// What to measure: election, kill, isolate, throughput (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "election,kill,isolate,throughput"
    )]
    measure: Vec<String>,
    /// Closed-loop client counts for throughput, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    clients: Vec<u32>,
    /// Value size in bytes (keys are 8 bytes).
    #[arg(long, default_value_t = 256)]
    value_bytes: usize,
    /// Throughput warm-up (ms), not counted.
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Throughput counted period (ms).
    #[arg(long, default_value_t = 3000)]
    duration_ms: u64,
    /// WAL durability: always, batch or never.
    #[arg(long, default_value = "batch")]
    fsync: FsyncPolicy,
    #[command(flatten)]
    timing: TimingArgs,
}

/// One protocol x size's samples.
#[derive(Default)]
struct Samples {
    elected: Latencies,
    ready: Latencies,
    campaigns: Vec<u32>,
    kill: Phases,
    isolate: Phases,
    discarded: u32,
    throughput: Vec<(u32, harness::measure::ThroughputSample)>,
    /// Why trials were discarded.
    reasons: Vec<String>,
}

#[derive(Default)]
struct Phases {
    detection: Latencies,
    election: Latencies,
    recovery: Latencies,
    first_commit: Latencies,
    total: Latencies,
    unavailability: Latencies,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let timing = args.timing.timing()?;
    let total_trials = args.protocols.len() as u64
        * args.nodes.len() as u64
        * args.measure.len() as u64
        * u64::from(args.trials);
    let bar = ProgressBar::new(total_trials);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .context("progress template")?
            .progress_chars("=> "),
    );
    let mut rows = Vec::new();
    for &protocol in &args.protocols {
        for &nodes in &args.nodes {
            let samples =
                with_protocol!(protocol, P => measure_one::<P>(&args, &timing, nodes, &bar).await?);
            rows.push((protocol, nodes, samples));
        }
    }
    bar.finish_and_clear();
    println!(
        "method: fresh in-process loopback TCP cluster per trial, fsync={}, heartbeat {} ms, election timeout {}-{} ms, {} trials",
        args.fsync,
        timing.heartbeat.as_millis(),
        timing.election_timeout_min.as_millis(),
        timing.election_timeout_max.as_millis(),
        args.trials
    );
    println!(
        "{:<7} {:>5} {:<30} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "proto", "nodes", "measure (ms)", "n", "min", "p50", "p90", "p99", "max"
    );
    for (protocol, nodes, s) in &rows {
        let line = |name: &str, l: &Latencies| {
            if l.count() > 0 {
                println!(
                    "{:<7} {:>5} {:<30} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                    protocol.as_str(),
                    nodes,
                    name,
                    l.count(),
                    ms(l.min()),
                    ms(l.quantile(0.5)),
                    ms(l.quantile(0.9)),
                    ms(l.quantile(0.99)),
                    ms(l.max())
                );
            }
        };
        line("cold start -> elected", &s.elected);
        line("cold start -> ready", &s.ready);
        for (name, p) in [("kill", &s.kill), ("isolate", &s.isolate)] {
            line(&format!("{name}: detection"), &p.detection);
            line(&format!("{name}: election"), &p.election);
            line(&format!("{name}: recovery"), &p.recovery);
            line(&format!("{name}: first commit"), &p.first_commit);
            line(&format!("{name}: total (-> 1st commit)"), &p.total);
            line(&format!("{name}: client unavailability"), &p.unavailability);
        }
        for (clients, t) in &s.throughput {
            let ops = t.result.ops.max(1) as f64;
            let msgs: u64 = t.messages.by_kind.values().map(|v| v.0).sum();
            println!(
                "{:<7} {:>5} throughput {clients:>3} clients: {:>9.0} ops/s  latency us p50 {:>7} p99 {:>7} p999 {:>7}  {:.2} msgs/op  {:.3} fsyncs/op  errors {}",
                protocol.as_str(),
                nodes,
                t.result.ops_per_sec(),
                t.result.latency.quantile(0.5).as_micros(),
                t.result.latency.quantile(0.99).as_micros(),
                t.result.latency.quantile(0.999).as_micros(),
                msgs as f64 / ops,
                t.messages.wal_syncs as f64 / ops,
                t.result.errors
            );
        }
        if !s.campaigns.is_empty() {
            let extra = s.campaigns.iter().filter(|&&c| c > 1).count();
            println!(
                "{:<7} {:>5} cold starts needing more than one campaign (split votes / extra rounds): {extra} of {}",
                protocol.as_str(),
                nodes,
                s.campaigns.len()
            );
        }
        if s.discarded > 0 {
            println!(
                "{:<7} {:>5} trials discarded (fault not verified or timed out): {}",
                protocol.as_str(),
                nodes,
                s.discarded
            );
            for r in &s.reasons {
                println!("          {r}");
            }
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn measure_one<P: Protocol>(
    args: &Args,
    timing: &Timing,
    nodes: u64,
    bar: &ProgressBar,
) -> anyhow::Result<Samples> {
    let mut s = Samples::default();
    let timeout = Duration::from_secs(30);
    for what in &args.measure {
        for trial in 0..args.trials {
            bar.set_message(format!("{} n={nodes} {what} #{}", P::NAME, trial + 1));
            let dir = tempfile::tempdir().context("temporary data directory")?;
            let mut opts = ClusterOptions::new(nodes, dir.path().to_path_buf());
            opts.timing = timing.clone();
            opts.fsync = args.fsync;
            opts.seed = u64::from(trial) + 1;
            match what.as_str() {
                "election" => match measure::cold_election::<P>(opts, timeout).await {
                    Ok(e) => {
                        s.elected.record(e.election.elected);
                        s.ready.record(e.election.ready);
                        s.campaigns.push(e.campaigns);
                    }
                    Err(e) => {
                        s.discarded += 1;
                        s.reasons.push(format!("election #{}: {e}", trial + 1));
                    }
                },
                "kill" | "isolate" => {
                    let failure = if what == "kill" {
                        Failure::Kill
                    } else {
                        Failure::Isolate
                    };
                    match measure::failover::<P>(opts, failure, timeout).await {
                        Ok(f) => {
                            let p = if failure == Failure::Kill {
                                &mut s.kill
                            } else {
                                &mut s.isolate
                            };
                            p.detection.record(f.phases.detection);
                            p.election.record(f.phases.election);
                            p.recovery.record(f.phases.recovery);
                            p.first_commit.record(f.phases.first_commit);
                            p.total.record(f.phases.total);
                            p.unavailability.record(f.unavailability);
                        }
                        Err(e) => {
                            s.discarded += 1;
                            s.reasons.push(format!("{what} #{}: {e}", trial + 1));
                        }
                    }
                }
                "throughput" => {
                    if trial > 0 {
                        bar.inc(1);
                        continue; // one run per client count (each runs for --duration-ms)
                    }
                    for &clients in &args.clients {
                        bar.set_message(format!("{} n={nodes} throughput c={clients}", P::NAME));
                        let dir = tempfile::tempdir().context("temporary data directory")?;
                        let mut opts = ClusterOptions::new(nodes, dir.path().to_path_buf());
                        opts.timing = timing.clone();
                        opts.fsync = args.fsync;
                        let w = Workload {
                            clients,
                            value_bytes: args.value_bytes,
                            warmup: Duration::from_millis(args.warmup_ms),
                            duration: Duration::from_millis(args.duration_ms),
                        };
                        match measure::throughput::<P>(opts, &w, timeout).await {
                            Ok(t) => s.throughput.push((clients, t)),
                            Err(e) => {
                                s.discarded += 1;
                                s.reasons.push(format!("throughput c={clients}: {e}"));
                            }
                        }
                    }
                }
                other => {
                    anyhow::bail!(
                        "unknown measure {other:?}: expected election, kill, isolate or throughput"
                    )
                }
            }
            bar.inc(1);
        }
    }
    Ok(s)
}
