//! `cwb zk`: ZooKeeper-style commands against a running cluster whose nodes run the
//! znode state machine (`state_machine = "znode"` in the config, or
//! `cwb node --state-machine znode`). Output follows zkCli's where it has a form.
//!
//! Each invocation opens a session (its client id is fresh), finds the leader (the
//! protocols take commands there; watches live on the node the client talks to),
//! runs its command, and closes the session, which deletes its ephemeral nodes;
//! `--linger SECS` keeps the session open (with heartbeats) that long first.

use super::zk_session::{Redirect, ZkSession};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use runtime::config::ClusterConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use znode::{CreateMode, Stat, WatchEvent, ZAnswer, ZOp, ANY_VERSION};

/// Session timeout of a `cwb zk` session.
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The cluster's config file.
    #[arg(long)]
    config: PathBuf,
    /// Keep the session (and its ephemeral nodes) open this many seconds after the
    /// command, sending heartbeats.
    #[arg(long, default_value_t = 0)]
    linger: u64,
    #[command(subcommand)]
    op: ZkOp,
}

#[derive(clap::Subcommand, Debug)]
enum ZkOp {
    /// Create a node (its parent must exist).
    Create {
        /// The path (for -s, the prefix of the name).
        path: String,
        /// Its data.
        #[arg(default_value = "")]
        data: String,
        /// Ephemeral: deleted when this session ends.
        #[arg(short, long)]
        ephemeral: bool,
        /// Sequential: the parent's next 10-digit number is appended to the name.
        #[arg(short, long)]
        sequential: bool,
    },
    /// Print a node's data (and its stat with -s).
    Get {
        /// The path.
        path: String,
        /// Print the stat too.
        #[arg(short, long)]
        stat: bool,
    },
    /// Set a node's data, if its version is -v (default: any).
    Set {
        /// The path.
        path: String,
        /// The new data.
        data: String,
        /// The expected version (-1: any).
        #[arg(short, long, default_value_t = ANY_VERSION, allow_negative_numbers = true)]
        version: i32,
    },
    /// List a node's children.
    Ls {
        /// The path.
        path: String,
    },
    /// Delete a childless node, if its version is -v (default: any).
    Rm {
        /// The path.
        path: String,
        /// The expected version (-1: any).
        #[arg(short, long, default_value_t = ANY_VERSION, allow_negative_numbers = true)]
        version: i32,
    },
    /// Print a node's stat.
    Stat {
        /// The path.
        path: String,
    },
    /// Leave a watch and wait for it to fire: on the node's data (created, changed,
    /// deleted), or with --children on its children.
    Watch {
        /// The path.
        path: String,
        /// Watch the children instead of the data.
        #[arg(long)]
        children: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

/// zkCli's stat lines.
pub fn stat_lines(stat: &Stat) -> String {
    format!(
        "cZxid = {:#x}\nmZxid = {:#x}\npZxid = {:#x}\ncversion = {}\ndataVersion = {}\n\
         ephemeralOwner = {:#x}\ndataLength = {}\nnumChildren = {}",
        stat.czxid,
        stat.mzxid,
        stat.pzxid,
        stat.cversion,
        stat.version,
        stat.ephemeral_owner,
        stat.data_length,
        stat.num_children
    )
}

/// zkCli's line for a fired watch.
fn event_line(ev: &WatchEvent) -> String {
    format!(
        "WatchedEvent state:SyncConnected type:{:?} path:{}",
        ev.kind, ev.path
    )
}

fn answer(result: Result<ZAnswer, Redirect>) -> anyhow::Result<ZAnswer> {
    match result.map_err(|e| anyhow!("{e}"))? {
        ZAnswer::Error(e) => Err(anyhow!("{e}")),
        a => Ok(a),
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = ClusterConfig::load(&args.config)?;
    let tls = cfg.client_tls();
    let addrs: Vec<SocketAddr> = cfg.clients.values().copied().collect();
    let mut s = ZkSession::open(&addrs, tls.as_ref(), SESSION_TIMEOUT, None)
        .await
        .context("opening a session")?;
    let result = run_op(&mut s, args.op).await;
    if args.linger > 0 && result.is_ok() {
        let until = tokio::time::Instant::now() + Duration::from_secs(args.linger);
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(SESSION_TIMEOUT / 3).await;
            s.touch().await.map_err(|e| anyhow!("heartbeat: {e}"))?;
        }
    }
    // Closing deletes the session's ephemeral nodes at once (rather than at expiry).
    let _ = s.call(ZOp::CloseSession).await;
    result
}

async fn run_op(s: &mut ZkSession, op: ZkOp) -> anyhow::Result<()> {
    match op {
        ZkOp::Create {
            path,
            data,
            ephemeral,
            sequential,
        } => {
            let mode = match (ephemeral, sequential) {
                (false, false) => CreateMode::Persistent,
                (true, false) => CreateMode::Ephemeral,
                (false, true) => CreateMode::PersistentSequential,
                (true, true) => CreateMode::EphemeralSequential,
            };
            let op = ZOp::Create {
                path,
                data: Bytes::from(data),
                mode,
            };
            if let ZAnswer::Created { path, .. } = answer(s.call(op).await)? {
                println!("Created {path}");
            }
        }
        ZkOp::Get { path, stat } => {
            if let ZAnswer::Data { data, stat: st } =
                answer(s.call(ZOp::GetData { path, watch: false }).await)?
            {
                println!("{}", String::from_utf8_lossy(&data));
                if stat {
                    println!("{}", stat_lines(&st));
                }
            }
        }
        ZkOp::Set {
            path,
            data,
            version,
        } => {
            let op = ZOp::SetData {
                path,
                data: Bytes::from(data),
                version,
            };
            if let ZAnswer::Stat(st) = answer(s.call(op).await)? {
                println!("{}", stat_lines(&st));
            }
        }
        ZkOp::Ls { path } => {
            if let ZAnswer::Children { children, .. } =
                answer(s.call(ZOp::GetChildren { path, watch: false }).await)?
            {
                println!("[{}]", children.join(", "));
            }
        }
        ZkOp::Rm { path, version } => {
            answer(s.call(ZOp::Delete { path, version }).await)?;
        }
        ZkOp::Stat { path } => {
            match answer(
                s.call(ZOp::Exists {
                    path: path.clone(),
                    watch: false,
                })
                .await,
            )? {
                ZAnswer::Exists(Some(st)) => println!("{}", stat_lines(&st)),
                _ => bail!("no node: {path}"),
            }
        }
        ZkOp::Watch {
            path,
            children,
            timeout,
        } => {
            let op = if children {
                ZOp::GetChildren { path, watch: true }
            } else {
                ZOp::Exists { path, watch: true }
            };
            answer(s.call(op).await)?;
            println!("watching; waiting up to {timeout} s");
            match s
                .next_event(Duration::from_secs(timeout), SESSION_TIMEOUT / 3)
                .await?
            {
                Some(ev) => println!("WATCHER::\n\n{}", event_line(&ev)),
                None => bail!("no event within {timeout} s"),
            }
        }
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct RecipeArgs {
    /// lock, herd-lock, rw-lock, fair-election, unfair-election or discovery.
    recipe: recipes::demo::Demo,
    /// raft, zab or paxos.
    #[arg(long, default_value = "zab")]
    protocol: protocols::ProtocolKind,
    /// The simulation's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `cwb recipe`: one recipe narrated in the simulator.
pub fn recipe(args: RecipeArgs) -> anyhow::Result<()> {
    let lines = drivers::with_protocol!(args.protocol, P => recipes::demo::run::<P>(args.recipe, args.seed))
        .map_err(|e| anyhow!("{e}"))?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
