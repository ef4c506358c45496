//! `cwb nemesis`: faults against a cluster of `cwb node` processes under retrying
//! clients; the clients' history is saved and checked for linearizability (the run
//! itself is `drivers::nemesis`). Exit status 0 when the history is linearizable and no
//! acknowledged write was lost, 1 when it is not or one was, 2 when the checker could
//! not decide within its limits.

use anyhow::Context;
use drivers::nemesis::{self, FaultKind, NemesisPlan};
use lincheck::Verdict;
use protocols::ProtocolKind;
use std::path::PathBuf;
use std::time::Duration;

mod recipe_clients;
mod recipe_run;

/// What the clients of a nemesis run do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Gets, puts and compare-and-sets on a few keys, checked for linearizability.
    Kv,
    /// ZooKeeper's exclusive lock and fair election on the znode tree, checked for
    /// overlapping holders, fencing and missed watch events.
    Recipes,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The protocol the nodes run.
    #[arg(long, value_enum, default_value_t = ProtocolKind::Raft)]
    protocol: ProtocolKind,
    /// Voters.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Faults to inject, one after another (100 makes the long run of docs/METHOD.md).
    #[arg(long, default_value_t = 10)]
    faults: u32,
    /// Which faults, cycled in this order (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "kill-leader,pause-leader,kill-random,isolate-leader,partition-minority,partition-majority"
    )]
    kinds: Vec<FaultKind>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: u32,
    /// Keys the clients share.
    #[arg(long, default_value_t = 3)]
    keys: u32,
    /// Operations each client starts per second at most (0: unlimited). Low rates keep
    /// the history small enough for the checker, as in Jepsen's runs.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// How long each fault lasts before its repair (ms).
    #[arg(long, default_value_t = 1000)]
    hold_ms: u64,
    /// Quiet time after a repair (ms).
    #[arg(long, default_value_t = 500)]
    gap_ms: u64,
    /// Seed of the fault choices and the nodes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// What the clients run: `kv` (the nodes run the key-value store) or `recipes`
    /// (the nodes run the znode tree; `--clients` recipe clients take turns on a lock,
    /// as many on a fair election; `--keys` and `--rate` do not apply).
    #[arg(long, value_enum, default_value_t = Workload::Kv)]
    workload: Workload,
    /// Recipes: every client's session timeout (ms).
    #[arg(long, default_value_t = 1000)]
    session_timeout_ms: u64,
    /// Recipes: the chance that a client pauses (sends and reads nothing, as in a long
    /// garbage-collection pause) for 2.5 session timeouts right after it is granted
    /// its lock (half this chance: right after it set its watch), while faults run.
    #[arg(long, default_value_t = 0.15)]
    pause_chance: f64,
    /// Recipes: a deliberately broken client or resource, to see a check catch it:
    /// skip-watch, trust-event or no-fence (as in `cwb sim --recipes --recipe-bug`).
    #[arg(long)]
    recipe_bug: Option<String>,
    /// Recipes: quiet time after the last repair, in which every client must hold its
    /// lock again (ms).
    #[arg(long, default_value_t = 3000)]
    settle_ms: u64,
    /// Where to write the clients' history (cwb JSON lines, readable by `cwb lincheck`;
    /// the recipe workload writes its holdings to `nemesis-recipes.jsonl` beside it).
    #[arg(long, short, default_value = "reports/out/nemesis-history.jsonl")]
    out: PathBuf,
}

impl Args {
    /// The nemesis plan of these arguments, its nodes' data under `base_dir`, with
    /// `keys` keys written at `rate` by the key-value clients (0: none).
    fn plan(
        &self,
        base_dir: &std::path::Path,
        keys: u32,
        rate: u32,
    ) -> anyhow::Result<NemesisPlan> {
        Ok(NemesisPlan {
            protocol: self.protocol,
            nodes: self.nodes,
            faults: self.faults,
            kinds: self.kinds.clone(),
            clients: self.clients,
            keys,
            rate,
            gap: Duration::from_millis(self.gap_ms),
            hold: Duration::from_millis(self.hold_ms),
            exe: std::env::current_exe().context("finding the cwb executable to run nodes")?,
            base_dir: base_dir.to_path_buf(),
            seed: self.seed,
        })
    }
}

pub async fn run(args: Args) -> anyhow::Result<i32> {
    super::refuse_redis(args.protocol, "nemesis")?;
    if args.workload == Workload::Recipes {
        return recipe_run::run(args).await;
    }
    let dir = tempfile::tempdir().context("temporary data directory")?;
    let plan = args.plan(dir.path(), args.keys, args.rate)?;
    println!(
        "nemesis: {} on {} node processes (fsync batch), {} clients on {} keys, {} faults ({})",
        args.protocol,
        args.nodes,
        args.clients,
        args.keys,
        args.faults,
        args.kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let report = nemesis::run(&plan, |line| println!("  {line}")).await?;
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = lincheck::formats::cwb::to_string(&report.history);
    std::fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))?;
    let stats = report.history.stats();
    println!(
        "operations: {} on {} keys ({} ok, {} failed, {} unknown)",
        stats.operations,
        stats.keys,
        stats
            .operations
            .saturating_sub(stats.failed)
            .saturating_sub(stats.unknown),
        stats.failed,
        stats.unknown
    );
    let mut windows: Vec<f64> = report
        .faults
        .iter()
        .filter_map(|f| f.unavailable)
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    windows.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        let i = ((windows.len() as f64 - 1.0) * q).round() as usize;
        windows.get(i).copied()
    };
    for kind in &args.kinds {
        let mut of: Vec<f64> = report
            .faults
            .iter()
            .filter(|f| f.kind == *kind)
            .filter_map(|f| f.unavailable)
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        of.sort_by(f64::total_cmp);
        if let (Some(first), Some(last)) = (of.first(), of.last()) {
            println!(
                "  {:<15} {:>3} faults, no write acknowledged for {first:.0}..{last:.0} ms (median {:.0} ms)",
                kind.name(),
                of.len(),
                of[of.len() / 2]
            );
        }
    }
    if let (Some(p50), Some(p99)) = (pick(0.5), pick(0.99)) {
        println!("unavailability after a fault: median {p50:.0} ms, p99 {p99:.0} ms");
    }
    println!("acknowledged writes lost: {}", report.lost_writes);
    println!("history: {}", args.out.display());
    let ok = match &report.verdict {
        Verdict::Linearizable => {
            println!("verdict: linearizable");
            true
        }
        Verdict::NotLinearizable(anomaly) => {
            println!("verdict: NOT linearizable\n{anomaly}");
            false
        }
        Verdict::Undecided(why) => {
            println!("verdict: undecided ({why}): try a lower --rate or more --keys");
            return Ok(2);
        }
    };
    Ok(if ok && report.lost_writes == 0 { 0 } else { 1 })
}
