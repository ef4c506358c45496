//! `cwb bench`: parses the matrix to run, shows its progress and prints the summary.
//! The matrix itself is `drivers::bench` (see its module docs and docs/METHOD.md).

use super::TimingArgs;
use anyhow::Context;
use drivers::bench::{self, Measure, Plan, Progress, Sweep};
use drivers::remote_cluster::RemoteSpec;
use indicatif::{ProgressBar, ProgressStyle};
use protocols::ProtocolKind;
use std::path::PathBuf;
use std::time::Duration;
use storage::FsyncPolicy;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Protocols to measure, comma-separated; `redis` (Redis Cluster) runs `2n` nodes
    /// for a size `n`: `n` masters with one replica each.
    #[arg(long, value_delimiter = ',', default_value = "raft,zab,paxos")]
    pub protocols: Vec<ProtocolKind>,
    /// Cluster sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,5")]
    pub nodes: Vec<u64>,
    /// Trials per election and failover measure.
    #[arg(long, default_value_t = 10)]
    pub trials: u32,
    /// What to measure (comma-separated); `lost` is the acknowledged writes lost per
    /// failover under load, with the linearizability checker's verdict.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "election,kill,isolate,throughput"
    )]
    pub measure: Vec<Measure>,
    /// Redis Cluster's WAIT-like settings the `lost` measure runs, comma-separated: a
    /// master answers a write once this many replicas have it (0: asynchronously).
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub wait_replicas: Vec<u32>,
    /// Closed-loop client counts for throughput, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub clients: Vec<u32>,
    /// Value size in bytes (keys are 8 bytes); a list (`64,1024,65536`) measures
    /// throughput at each size, with every client count, and the other measures at
    /// the first.
    #[arg(long, value_delimiter = ',', default_value = "256")]
    pub value_bytes: Vec<usize>,
    /// Percent of throughput operations that are reads (0-100): `--read-ratio 95` is a
    /// read-heavy mix, 50 an even one; reads take the `--reads` path.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub read_ratio: u32,
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
    /// (Raft's range; Paxos's failure timeout), `finalize-wait=50,100,200` (ZAB),
    /// `notification-timeout=400,1600,6400` (ZAB's maxNotificationInterval) or
    /// `backoff-doublings=0,1,3` (Paxos's back-off after lost campaigns). Runs
    /// `--trials` cold elections per setting, and as many failovers when `--measure`
    /// names kill or isolate.
    #[arg(long)]
    pub sweep: Option<Sweep>,
    /// Where to write the JSON results.
    #[arg(long, short, default_value = "reports/out/results.json")]
    pub out: PathBuf,
    /// Run each node as its own OS process (`cwb node`) instead of in-process.
    #[arg(long)]
    pub processes: bool,
    /// With --processes: run each node in a Linux network namespace of its own, with
    /// its own address on a bridge (a cluster of hosts on one machine; needs root and
    /// iproute2). The clients and the measures stay in this namespace.
    #[arg(long, requires = "processes")]
    pub netns: bool,
    /// TLS on both ports (a fresh CA and a loopback certificate), to compare with a
    /// run without: the election measure includes the TLS handshakes of the first
    /// connections, throughput the encryption.
    #[arg(long)]
    pub tls: bool,
    /// The network every message meets on top of loopback: a profile (loopback, lan,
    /// dc, cross-az, wan, lossy, raft-fig16) or a network TOML file (docs/METHOD.md,
    /// "Network profiles"). Recorded in the results; in-process clusters only.
    #[arg(long)]
    pub net: Option<String>,
    /// Real systems measured in the same run, comma-separated: `zookeeper`, `etcd`
    /// (a build with `--features peers`; Debian packages `zookeeper` and
    /// `etcd-server`). Each runs as a loopback ensemble of `--nodes` servers with its
    /// log synced; its throughput points join the rounds, its failover the `kill`
    /// measure; every system's clients, the protocols' included, then hold one
    /// connection each. See docs/METHOD.md, "Real ZooKeeper and etcd".
    #[arg(long, value_delimiter = ',')]
    pub peers: Vec<String>,
    /// `--measure catchup`: entries committed while a follower is isolated.
    #[arg(long, default_value_t = 100_000)]
    pub catchup_entries: u64,
    /// `--measure recovery`: the log lengths a follower is restarted with,
    /// comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub recovery_entries: Vec<u64>,
    /// Measure a cluster started elsewhere: the `cluster.toml` its `cwb node`
    /// processes run with, each under a supervisor that restarts it (systemd's
    /// `Restart=always`). Measures kill (a crash on command, a process exit and a
    /// restart), isolate, transfer and throughput (default: kill, isolate,
    /// throughput) on the running nodes, with the protocol, size, fsync and timers of
    /// the file. See docs/METHOD.md, "Measuring a running cluster".
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["processes", "netns", "net", "tls", "peers", "sweep"]
    )]
    pub config: Option<PathBuf>,
}

/// Only the defaults of [`Args`], to tell what a user set from what they left.
#[derive(clap::Parser)]
struct Defaults {
    #[command(flatten)]
    args: Args,
}

impl Args {
    /// The plan for a cluster started elsewhere, described by `spec`: its protocol,
    /// size, fsync and timers; an option set to something else is refused, and so is
    /// one that cannot apply to running nodes.
    fn remote_plan(&self, spec: &RemoteSpec) -> anyhow::Result<Plan> {
        use clap::Parser;
        let d = Defaults::try_parse_from(["bench"])
            .context("reading the bench defaults")?
            .args;
        let file = spec.config.display();
        let size = spec.clients.len() as u64;
        if self.nodes != d.nodes && self.nodes != [size] {
            anyhow::bail!(
                "--nodes does not apply with --config: the cluster's size is its file's ({size} nodes in {file})"
            );
        }
        if self.protocols != d.protocols && self.protocols != [spec.protocol] {
            anyhow::bail!(
                "--protocols {:?} does not match {file}: its nodes run {}",
                self.protocols
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>(),
                spec.protocol
            );
        }
        if self.fsync != d.fsync && self.fsync != spec.fsync {
            anyhow::bail!(
                "--fsync {} does not match {file}: its nodes run with fsync = {}",
                self.fsync,
                spec.fsync
            );
        }
        let timing = self.timing.timing()?;
        if timing != d.timing.timing()? && timing != spec.timing {
            anyhow::bail!(
                "the timer options do not match {file}: its nodes run with the file's [timing]; leave them out"
            );
        }
        let mut plan = self.plan()?;
        plan.protocols = vec![spec.protocol];
        plan.nodes = vec![size];
        plan.fsync = spec.fsync;
        plan.timing = spec.timing.clone();
        if self.measure == d.measure {
            plan.measure = vec![Measure::Kill, Measure::Isolate, Measure::Throughput];
        }
        Ok(plan)
    }
}

impl Args {
    /// The matrix these arguments ask for.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let processes = if self.processes {
            Some(std::env::current_exe().context("finding the cwb executable to run nodes")?)
        } else {
            None
        };
        Ok(Plan {
            protocols: self.protocols.clone(),
            nodes: self.nodes.clone(),
            trials: self.trials,
            measure: self.measure.clone(),
            clients: self.clients.clone(),
            value_bytes: self.value_bytes.first().copied().unwrap_or(256),
            value_sizes: if self.value_bytes.len() > 1 {
                self.value_bytes.clone()
            } else {
                Vec::new()
            },
            warmup: Duration::from_millis(self.warmup_ms),
            duration: Duration::from_millis(self.duration_ms),
            rounds: self.rounds,
            read_percent: self.read_ratio,
            fsync: self.fsync,
            timing: self.timing.timing()?,
            sweep: self.sweep.clone(),
            processes,
            tls: if self.tls {
                Some(runtime::tls::LoopbackTls::generate().context("making a CA for --tls")?)
            } else {
                None
            },
            net: match &self.net {
                Some(spec) => Some(netmodel::NetModel::parse_spec(spec)?),
                None => None,
            },
            command_line: std::env::args().collect::<Vec<_>>().join(" "),
            connection_per_client: !self.peers.is_empty(),
            namespaces: self.netns,
            wait_replicas: self.wait_replicas.clone(),
            snapshots: bench::snapshots::SnapshotPlan {
                catchup_entries: self.catchup_entries,
                recovery_entries: self.recovery_entries.clone(),
            },
        })
    }
}

pub async fn run(mut args: Args) -> anyhow::Result<()> {
    if args.measure.contains(&Measure::Recipes) {
        args.measure.retain(|m| *m != Measure::Recipes);
        super::recipes::run(&args.protocols, u64::from(args.trials), &args.out)?;
        if args.measure.is_empty() {
            return Ok(());
        }
    }
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

/// Runs the matrix with a progress bar on the terminal.
pub async fn collect(args: &Args) -> anyhow::Result<reports::results::Results> {
    let plan = args.plan()?;
    let mut bar = Bar(ProgressBar::new(0));
    bar.0.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .context("progress template")?
            .progress_chars("=> "),
    );
    if let Some(config) = &args.config {
        let spec = RemoteSpec::load(config)?;
        let plan = args.remote_plan(&spec)?;
        return Ok(bench::collect_remote(&plan, std::sync::Arc::new(spec), &mut bar).await?);
    }
    if !args.peers.is_empty() {
        return with_peers(args, &plan, &mut bar).await;
    }
    Ok(bench::collect(&plan, &mut bar).await?)
}

/// The run with real ZooKeeper and etcd beside the protocols; a Ctrl-C drops the run,
/// which kills their servers and removes their directories.
#[cfg(feature = "peers")]
async fn with_peers(
    args: &Args,
    plan: &Plan,
    bar: &mut Bar,
) -> anyhow::Result<reports::results::Results> {
    let kinds = args
        .peers
        .iter()
        .map(|s| s.parse::<peers::PeerKind>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if plan.fsync != FsyncPolicy::Batch {
        bar.note(format!(
            "note: zookeeper and etcd sync their logs before acknowledging whatever --fsync says (the protocols run with {})",
            plan.fsync
        ));
    }
    let mut systems = peers::Peers::new(&kinds);
    tokio::select! {
        results = bench::collect_with(plan, bar, Some(&mut systems)) => Ok(results?),
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted: the servers were stopped and their directories removed"),
    }
}

#[cfg(not(feature = "peers"))]
async fn with_peers(
    _args: &Args,
    _plan: &Plan,
    _bar: &mut Bar,
) -> anyhow::Result<reports::results::Results> {
    anyhow::bail!(
        "--peers needs a build with the `peers` feature: cargo run --release --features peers -- bench --peers zookeeper,etcd"
    )
}

/// The terminal's progress bar; notes go above it (or to stderr with no terminal).
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&mut self, total: u64) {
        self.0.set_length(total);
    }
    fn doing(&mut self, what: String) {
        self.0.set_message(what);
    }
    fn step_done(&mut self) {
        self.0.inc(1);
    }
    fn note(&mut self, line: String) {
        if self.0.is_hidden() {
            eprintln!("{line}");
        } else {
            self.0.println(line);
        }
    }
    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}
