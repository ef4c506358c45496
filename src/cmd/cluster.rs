//! `cwb cluster`: an in-process loopback cluster to watch.
//!
//! Prints every role change as it happens (who leads which term/epoch/ballot, and
//! when), runs a light client load, and takes commands on standard input: kill,
//! restart, isolate and heal nodes, put and get keys, show status. Every line goes
//! through one printer ([`printer`]) that keeps stamp order and, with `--narrate`,
//! folds the per-write traffic.

mod printer;

use super::TimingArgs;
use anyhow::Context;
use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use drivers::console;
use drivers::narration::Detail;
use drivers::with_protocol;
use protocols::{Describe, NodeId, Protocol};
use runtime::config::ProtocolKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use storage::FsyncPolicy;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The options of an in-process loopback cluster, shared by `cwb cluster` and
/// `cwb serve` (which shows the same cluster in a browser).
#[derive(clap::Args, Debug)]
pub struct LocalClusterArgs {
    /// raft, zab, paxos or redis (Redis Cluster: with --nodes 6 or more).
    #[arg(long, default_value = "raft")]
    pub protocol: ProtocolKind,
    /// Voting nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Non-voting observers (ZAB).
    #[arg(long, default_value_t = 0)]
    pub observers: u64,
    /// WAL durability: always, batch or never.
    #[arg(long, default_value = "batch")]
    pub fsync: FsyncPolicy,
    #[command(flatten)]
    pub timing: TimingArgs,
    /// Seed for election timeouts and back-off (with `cwb serve --sim`: of the simulation).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the protocols' own explanation of each decision: `--narrate` shows
    /// decisions in full and folds the per-write traffic into commit points and the
    /// answers to puts; `--narrate all` prints every line.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "digest")]
    pub narrate: Option<Detail>,
    /// Client writes per second while the cluster runs (0: none).
    #[arg(long, default_value_t = 20)]
    pub writes_per_sec: u32,
    /// Keep node data here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// TLS on both ports of every node (a fresh CA and a loopback certificate).
    #[arg(long)]
    pub tls: bool,
    /// The network between the nodes, on top of loopback: a profile (lan, dc,
    /// cross-az, wan, lossy, raft-fig16) or a network TOML file.
    #[arg(long)]
    pub net: Option<String>,
    /// With --protocol redis: a master answers a write only once this many of its
    /// replicas have it (Redis's WAIT; 0, the default: asynchronously).
    #[arg(long, default_value_t = 0)]
    pub wait_replicas: usize,
}

impl LocalClusterArgs {
    /// The cluster's options, its data directory and whether that directory is a
    /// temporary one to remove at the end.
    pub fn options(&self) -> anyhow::Result<(ClusterOptions, PathBuf, bool)> {
        let (dir, temporary) = match &self.data_dir {
            Some(d) => (d.clone(), false),
            None => (temp_dir(), true),
        };
        if self.protocol == ProtocolKind::Redis && self.nodes < 6 {
            anyhow::bail!(
                "Redis Cluster pairs each master with a replica and fails a master over only \
                 with the votes of a majority of masters: pass --nodes 6 (3 masters, 3 replicas) \
                 or more"
            );
        }
        if self.wait_replicas > 0 && self.protocol != ProtocolKind::Redis {
            anyhow::bail!(
                "--wait-replicas is Redis Cluster's WAIT (the consensus protocols answer a \
                 write once a majority has it): pass --protocol redis"
            );
        }
        let mut opts = ClusterOptions::new(self.nodes, dir.clone());
        opts.wait_replicas = self.wait_replicas;
        opts.observers = self.observers;
        opts.timing = self.timing.timing()?;
        opts.fsync = self.fsync;
        opts.seed = self.seed;
        opts.narrate = self.narrate.is_some();
        // Runs until it is stopped, followed by a printer or a web page.
        opts.keep_events = Some(runtime::events::KEEP_FOLLOWED);
        if self.tls {
            opts.tls =
                Some(runtime::tls::LoopbackTls::generate().context("making a CA for --tls")?);
        }
        if let Some(spec) = &self.net {
            let model = netmodel::NetModel::parse_spec(spec)?;
            println!("network: {}", model.describe());
            opts.net = Some(model);
        }
        Ok((opts, dir, temporary))
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    cluster: LocalClusterArgs,
    /// Kill the leader this many seconds after start.
    #[arg(long)]
    kill_leader_after: Option<f64>,
    /// Restart a killed node this many seconds after killing it.
    #[arg(long, default_value_t = 2.0)]
    restart_after: f64,
    /// Stop after this many seconds (default: run until `quit` or Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    with_protocol!(args.cluster.protocol, P => watch::<P>(args).await)
}

async fn watch<P: Protocol + Describe>(args: Args) -> anyhow::Result<()> {
    let (opts, dir, temporary) = args.cluster.options()?;
    let timing = opts.timing.clone();
    let origin = Instant::now();
    let mut cluster = LocalCluster::<P>::start(opts)
        .await
        .context("starting the cluster")?;
    if args.cluster.protocol == ProtocolKind::Redis {
        // Redis Cluster has no PreVote, CheckQuorum or election-timeout range: its own
        // settings instead.
        println!(
            "Redis Cluster: {} masters with their replicas on 127.0.0.1 (nodes 1-{} start as masters), \
             {}; a leader below is a master, its configEpoch the generation; node timeout {} ms, \
             clusterCron every {} ms, wait-replicas {}, append-only file fsync={}, data in {}",
            args.cluster.nodes / 2,
            args.cluster.nodes / 2,
            match args.cluster.wait_replicas {
                0 => "asynchronous replication".to_string(),
                n => format!("a write answered once {n} replica(s) have it (WAIT {n})"),
            },
            timing.election_timeout_min.as_millis(),
            timing.heartbeat.as_millis(),
            args.cluster.wait_replicas,
            args.cluster.fsync,
            dir.display()
        );
    } else {
        println!(
        "{} cluster: {} voters{} on 127.0.0.1, fsync={}, heartbeat {} ms, election timeout {}-{} ms, PreVote {}, CheckQuorum {}, data in {}",
        P::NAME,
        args.cluster.nodes,
        if args.cluster.observers > 0 { format!(" + {} observers", args.cluster.observers) } else { String::new() },
        args.cluster.fsync,
        timing.heartbeat.as_millis(),
        timing.election_timeout_min.as_millis(),
        timing.election_timeout_max.as_millis(),
        if timing.pre_vote { "on" } else { "off" },
        if timing.check_quorum { "on" } else { "off" },
        dir.display()
    );
    }
    for (id, addr) in cluster.client_addrs() {
        println!(
            "  node {id}: peer {}  client {addr}",
            cluster.peer_addrs()[id]
        );
    }
    println!("{}", console::HELP);

    let stop = Arc::new(AtomicBool::new(false));
    let detail = args.cluster.narrate.unwrap_or(Detail::Digest);
    let printer = printer::Printer::start::<P>(cluster.bus().clone(), origin, detail);
    let out = printer.console();
    let writer = (args.cluster.writes_per_sec > 0).then(|| {
        tokio::spawn(write_load(
            cluster.client(),
            args.cluster.writes_per_sec,
            out.clone(),
            stop.clone(),
        ))
    });
    let mut answers: Vec<(String, tokio::task::JoinHandle<()>)> = Vec::new();

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let deadline = args
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
    let mut kill_at = args
        .kill_leader_after
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
    let mut restart_at: Option<(tokio::time::Instant, NodeId)> = None;
    loop {
        let next_timer = [deadline, kill_at, restart_at.map(|r| r.0)]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    answers.retain(|(_, h)| !h.is_finished());
                    if !command(&mut cluster, line.trim(), origin, &out, &mut answers).await {
                        break;
                    }
                }
                _ => stdin_open = false,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = sleep_until(next_timer) => {
                let now = tokio::time::Instant::now();
                if deadline.is_some_and(|d| d <= now) {
                    break;
                }
                if kill_at.is_some_and(|k| k <= now) {
                    kill_at = None;
                    let at = Instant::now();
                    let (killed, line) = console::kill_leader(&mut cluster, origin).await;
                    out.say(at, &line);
                    if let Some(id) = killed {
                        restart_at = Some((now + Duration::from_secs_f64(args.restart_after), id));
                    }
                }
                if let Some((at, id)) = restart_at {
                    if at <= now {
                        restart_at = None;
                        let at = Instant::now();
                        out.say(at, &console::restart(&mut cluster, id, origin).await);
                    }
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(w) = writer {
        let _ = w.await;
    }
    for (what, answer) in answers {
        if !answer.is_finished() {
            answer.abort();
            out.say(Instant::now(), &format!("{what}: no answer before quit"));
        }
    }
    printer.finish().await;
    let counts = drivers::measure::settled_message_counts(&cluster).await;
    cluster.shutdown().await;
    println!("messages sent, by kind:");
    for (kind, (n, bytes)) in &counts.by_kind {
        println!("  {kind:<24} {n:>8} msgs {bytes:>10} bytes");
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

pub(crate) fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!("cwb-cluster-{}-{nanos}", std::process::id()))
}

async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// A light closed-loop writer that reports when writes stop and start succeeding.
async fn write_load(
    mut client: runtime::client::Client,
    per_sec: u32,
    out: printer::Console,
    stop: Arc<AtomicBool>,
) {
    client.deadline = Duration::from_millis(500);
    client.try_timeout = Duration::from_millis(200);
    let gap = Duration::from_secs_f64(1.0 / f64::from(per_sec.max(1)));
    let mut failing_since: Option<Instant> = None;
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = Bytes::from(format!("key{}", n % 100));
        let started = Instant::now();
        match client.put(key, Bytes::from(format!("value{n}"))).await {
            Ok(_) => {
                let took = started.elapsed();
                if took > Duration::from_millis(50) && failing_since.is_none() {
                    out.say(
                        Instant::now(),
                        &format!(
                            "client: a write waited {:.1} ms for a leader; committed via node {}",
                            took.as_secs_f64() * 1000.0,
                            client.leader_guess().unwrap_or(0)
                        ),
                    );
                }
                if let Some(since) = failing_since.take() {
                    out.say(
                        Instant::now(),
                        &format!(
                            "client: writes succeed again (via node {}) after {:.1} ms without a commit",
                            client.leader_guess().unwrap_or(0),
                            since.elapsed().as_secs_f64() * 1000.0
                        ),
                    );
                }
            }
            Err(e) => {
                if failing_since.is_none() {
                    failing_since = Some(Instant::now());
                    out.say(
                        Instant::now(),
                        &format!("client: write failed ({e}); retrying"),
                    );
                }
            }
        }
        tokio::time::sleep(gap).await;
    }
}

/// Runs one typed command, its lines stamped when it started (so a kill shows before
/// its effects); a put or get runs in the background (`answers`). Returns false to
/// quit.
async fn command<P: Protocol + Describe>(
    cluster: &mut LocalCluster<P>,
    line: &str,
    origin: Instant,
    out: &printer::Console,
    answers: &mut Vec<(String, tokio::task::JoinHandle<()>)>,
) -> bool {
    let at = Instant::now();
    match console::parse(line) {
        Ok(None) => {}
        Ok(Some(console::Command::Quit)) => return false,
        Ok(Some(cmd @ (console::Command::Put(..) | console::Command::Get(..)))) => {
            answers.push((line.to_string(), out.client_command(cluster.client(), cmd)));
        }
        Ok(Some(cmd)) => {
            for line in console::run(cluster, &cmd, origin).await {
                out.say(at, &line);
            }
        }
        Err(usage) => out.say(at, &usage),
    }
    true
}
