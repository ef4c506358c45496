//! `cwb node`: one node of a cluster as its own OS process (multi-process or LAN mode).
//!
//! Every node is started with the same config file; `--id` picks which one this
//! process is. Killing the process (SIGKILL) is a crash: peers see its connections
//! reset, and a restart recovers from its data directory.
//!
//! With `--events-json` the node prints, instead of readable lines, one JSON
//! [`EventLine`] per protocol event on standard output (its banner goes to standard
//! error): the wall-clock time its runtime carried out the effect, in unix nanoseconds,
//! so another process on the machine can measure it (`cwb bench --processes`, see
//! `runtime::event_lines`). It also prints one [`TimerLatenessLine`] with the timer
//! lateness its runtime recorded since the previous one, before each batch of events
//! and at least every 500 ms.

use crate::display::event_line;
use anyhow::Context;
use drivers::with_protocol;
use protocols::{Describe, NodeId, Protocol, Vocabulary};
use runtime::config::{ClusterConfig, ConfigError, Validated};
use runtime::event_lines::{ClockReference, EventLine, TimerLatenessLine};
use runtime::events::{EventBus, Latencies, Stamped};
use runtime::host::{self, NodeOptions};
use runtime::transport::Faults;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use storage::identity::Start;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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
    /// The first start of a new cluster: create this node's empty data directory.
    /// Without it a node refuses an empty directory, since a node that lost its log
    /// must not rejoin as a voter (docs/DESIGN.md, "A node that lost its data").
    /// Ignored when the directory already holds this node's data.
    #[arg(long)]
    bootstrap: bool,
    /// Print each protocol event as one JSON line (unix-nanosecond wall-clock stamp,
    /// node, event) for a measuring process.
    #[arg(long)]
    events_json: bool,
    /// Stop when standard input closes: a node started by another program
    /// (`cwb bench --processes`) then never outlives it.
    #[arg(long)]
    exit_on_stdin_close: bool,
    /// The replicated state machine, overriding the config's `state_machine`:
    /// `kv` (the key-value store) or `znode` (ZooKeeper's tree, for `cwb zk`).
    #[arg(long, value_name = "kv|znode")]
    state_machine: Option<kv::StateMachineKind>,
}

/// Resolves once standard input reaches its end (or fails). The reading thread is a
/// plain thread, so it never holds up the runtime's shutdown.
fn stdin_closed() -> anyhow::Result<oneshot::Receiver<()>> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            let _ = tx.send(());
        })
        .context("starting the stdin watcher")?;
    Ok(rx)
}

/// Prints, as one JSON line, the timer lateness recorded on `bus` since `reported`
/// (then brings `reported` up to date). Nothing is printed when there is none.
fn print_timer_lateness(
    bus: &EventBus,
    id: NodeId,
    reported: &mut Latencies,
) -> anyhow::Result<()> {
    let fresh = bus.timer_lateness_since(reported);
    if fresh.is_empty() {
        return Ok(());
    }
    let line = TimerLatenessLine {
        node: id,
        timer_lateness_us: fresh,
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &line).context("writing a timer-lateness line")?;
    out.write_all(b"\n")
        .and_then(|()| out.flush())
        .context("writing a timer-lateness line")
}

/// Writes the events as the user asked: readable lines, or JSON lines. A closed
/// standard output is an error (nobody is listening any more).
fn print_events(
    events: &[Stamped],
    clock: &ClockReference,
    json: bool,
    vocabulary: &Vocabulary,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for s in events {
        if json {
            let line = EventLine {
                unix_nanos: clock.unix_nanos_at(s.at),
                node: s.node,
                event: s.event.clone(),
            };
            serde_json::to_writer(&mut out, &line).context("writing an event line")?;
            out.write_all(b"\n").context("writing an event line")?;
        } else if let Some(line) = event_line(clock.instant, s, vocabulary) {
            writeln!(out, "{line}").context("writing an event line")?;
        }
    }
    out.flush().context("writing event lines")
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = ClusterConfig::load(&args.config)?;
    if !cfg.membership.contains(args.id) {
        return Err(ConfigError::UnknownNode(args.id).into());
    }
    super::refuse_redis(cfg.protocol, "node")?;
    with_protocol!(cfg.protocol, P => serve::<P>(cfg, args).await)
}

async fn serve<P: Protocol + Describe>(cfg: Validated, args: Args) -> anyhow::Result<()> {
    let id = args.id;
    let peer = cfg.peers[&id];
    let client = cfg.clients[&id];
    // Before binding anything: this node's certificate and key must load.
    let tls = cfg.node_tls(id)?;
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
        client_limits: cfg.client_limits,
        key: cfg.key.clone(),
        tls,
        start: if args.bootstrap {
            Start::Bootstrap
        } else {
            Start::Rejoin
        },
        state_machine: args.state_machine.unwrap_or(cfg.state_machine),
        wait_replicas: 0,
        max_frame: runtime::transport::DEFAULT_MAX_FRAME,
        // This process is the node: a proved crash command ends it at once, for its
        // supervisor to restart (`cwb bench --config` crashes leaders this way).
        exit: Some(host::ProcessExit::immediate(
            runtime::client::CRASH_EXIT_CODE,
        )),
    };
    // The node runs until it is stopped: its bus keeps the latest events only (far
    // more than one print reads; a narrating node publishes several per command).
    let bus = EventBus::keeping(runtime::events::KEEP_FOLLOWED);
    let clock = ClockReference::now();
    // A process restart is a new incarnation: mix the start time into the seed so a
    // restarted node does not replay its previous timeouts.
    let incarnation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let handle = host::spawn::<P>(
        opts,
        peer_listener,
        client_listener,
        Faults::default(),
        bus.clone(),
        incarnation,
    )?;
    let banner = format!(
        "node {id}: {} {} on peer {peer}, client {client}{}, data {}, fsync={}",
        P::NAME,
        if cfg.membership.is_voter(id) {
            "voter"
        } else {
            "observer"
        },
        if cfg.tls.is_some() { " (TLS)" } else { "" },
        cfg.node_dir(id).display(),
        cfg.fsync
    );
    if args.events_json {
        eprintln!("{banner}");
    } else {
        println!("{banner}");
    }
    let mut stdin_watch = if args.exit_on_stdin_close {
        Some(stdin_closed()?)
    } else {
        None
    };
    let mut cursor = 0;
    let mut lateness_reported = Latencies::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = async { stdin_watch.as_mut()?.await.ok() }, if stdin_watch.is_some() => break,
            fresh = bus.wait_new(&mut cursor, Duration::from_millis(500)) => {
                // Lateness is read after the events, so it includes the timer behind
                // each of them, and printed before them.
                let lateness = if args.events_json {
                    print_timer_lateness(&bus, id, &mut lateness_reported)
                } else {
                    Ok(())
                };
                let printed = lateness
                    .and_then(|()| print_events(&fresh, &clock, args.events_json, &P::vocabulary()));
                if let Err(e) = printed {
                    handle.kill().await;
                    return Err(e);
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
