//! `cwb node`: one node of a cluster as its own OS process (multi-process or LAN mode).
//!
//! Every node is started with the same config file; `--id` picks which one this
//! process is. Killing the process (SIGKILL) is a crash: peers see its connections
//! reset, and a restart recovers from its data directory.

use crate::dispatch::with_protocol;
use crate::display::event_line;
use anyhow::Context;
use harness::config::{ClusterConfig, ConfigError, Validated};
use harness::metrics::EventBus;
use harness::runtime::{self, NodeOptions};
use harness::transport::Faults;
use protocols::{NodeId, Protocol};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The cluster's config file.
    #[arg(long)]
    config: PathBuf,
    /// Which node of the file this process runs.
    #[arg(long)]
    id: NodeId,
    /// Print the protocol's explanation of each decision.
    #[arg(long)]
    narrate: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = ClusterConfig::load(&args.config)?;
    if !cfg.membership.contains(args.id) {
        return Err(ConfigError::UnknownNode(args.id).into());
    }
    with_protocol!(cfg.protocol, P => serve::<P>(cfg, args).await)
}

async fn serve<P: Protocol>(cfg: Validated, args: Args) -> anyhow::Result<()> {
    let id = args.id;
    let peer = cfg.peers[&id];
    let client = cfg.clients[&id];
    let peer_listener = TcpListener::bind(peer)
        .await
        .with_context(|| format!("node {id}: cannot bind peer port {peer}"))?;
    let client_listener = TcpListener::bind(client)
        .await
        .with_context(|| format!("node {id}: cannot bind client port {client}"))?;
    let opts = NodeOptions {
        id,
        membership: cfg.membership.clone(),
        timing: cfg.timing.clone(),
        fsync: cfg.fsync,
        data_dir: cfg.node_dir(id),
        seed: cfg.seed,
        narrate: args.narrate,
        peers: cfg.peers.clone(),
        clients: cfg.clients.clone(),
    };
    let bus = EventBus::new();
    let origin = Instant::now();
    // A process restart is a new incarnation: mix the start time into the seed so a
    // restarted node does not replay its previous timeouts.
    let incarnation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let handle = runtime::spawn::<P>(
        opts,
        peer_listener,
        client_listener,
        Faults::default(),
        bus.clone(),
        incarnation,
    )?;
    println!(
        "node {id}: {} {} on peer {peer}, client {client}, data {}, fsync={}",
        P::NAME,
        if cfg.membership.is_voter(id) {
            "voter"
        } else {
            "observer"
        },
        cfg.node_dir(id).display(),
        cfg.fsync
    );
    let mut cursor = 0;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            got = bus.wait_for(cursor, Duration::from_millis(500), |_| true) => {
                if got.is_some() {
                    let events = bus.snapshot();
                    for s in &events[cursor..] {
                        if let Some(line) = event_line(origin, s, P::NAME) {
                            println!("{line}");
                        }
                    }
                    cursor = events.len();
                }
                if handle.is_finished() {
                    anyhow::bail!("node {id} stopped: its storage failed (see the log above)");
                }
            }
        }
    }
    handle.kill().await;
    Ok(())
}
