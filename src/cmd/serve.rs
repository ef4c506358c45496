//! `cwb serve`: the live web view of an in-process cluster, or the step-through player
//! of a simulation (`--scenario F` or `--sim --seed N`), on 127.0.0.1 (the `web` crate).
//!
//! Live mode starts the cluster `cwb cluster` starts, with the same options, and the
//! page takes the commands `cwb cluster` reads on its standard input. Binding another
//! address (`--bind`) needs the cluster secret (`--secret-file`, hex), which the page's
//! commands then carry (open the printed URL, which has it after the `#`).

use anyhow::Context;
use drivers::cluster::LocalCluster;
use drivers::with_protocol;
use protocols::{Describe, Protocol};
use runtime::config::ProtocolKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use teaching::scenario::Scenario;
use web::access::Access;
use web::replay::ReplayOptions;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The live cluster: the options of `cwb cluster` (in replay mode --protocol,
    /// --nodes, --seed and the timings apply).
    #[command(flatten)]
    cluster: super::cluster::LocalClusterArgs,
    /// The page's port (0: any free one; the URL printed says which).
    #[arg(long, default_value_t = 7878)]
    port: u16,
    /// The address to listen on. Anything but loopback needs --secret-file.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// The cluster secret (hex, at least 32 digits), in a file: required to bind a
    /// non-loopback address; every command from the page must then carry it.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Replay: step through this teaching scenario (scenarios/*.toml) instead of
    /// running a live cluster; the page's picker offers the other files beside it.
    #[arg(long, conflicts_with = "sim")]
    scenario: Option<PathBuf>,
    /// Replay: step through a plain simulated run of --nodes nodes with --seed.
    #[arg(long)]
    sim: bool,
    /// Replay: with --sim, how long the run lasts (ms of simulated time).
    #[arg(long, default_value_t = 3000)]
    sim_ms: u64,
    /// Replay: run raft, zab and paxos side by side.
    #[arg(long)]
    side_by_side: bool,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let access = match &args.secret_file {
        Some(path) => Access::with_secret(&read_secret(path)?),
        None => Access::loopback(),
    };
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = web::bind(addr, &access).await?;
    if args.scenario.is_some() || args.sim {
        let opts = replay_options(&args)?;
        let server = web::replay::serve(opts, listener, access.clone())?;
        announce(server.addr, &args);
        wait(args.duration).await;
        server.stop().await?;
        return Ok(());
    }
    with_protocol!(args.cluster.protocol, P => live::<P>(args, listener, access).await)
}

fn read_secret(path: &PathBuf) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secret file {}", path.display()))?;
    let text = text.trim().to_string();
    match runtime::transport::handshake::unhex(&text) {
        Some(bytes) if bytes.len() >= 16 => Ok(text),
        _ => anyhow::bail!(
            "{}: the secret must be at least 32 hex digits (16 bytes)",
            path.display()
        ),
    }
}

fn replay_options(args: &Args) -> anyhow::Result<ReplayOptions> {
    let (mut scenario, name, dir) = match &args.scenario {
        Some(path) => (
            Scenario::load(path)?,
            path.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            path.parent().map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            }),
        ),
        None => {
            let mut s =
                web::replay::seed_scenario(args.cluster.nodes, args.cluster.seed, args.sim_ms)?;
            s.timing = args.cluster.timing.timing()?;
            let dir = PathBuf::from("scenarios");
            (s, String::new(), dir.is_dir().then_some(dir))
        }
    };
    let first = scenario.protocol.unwrap_or(args.cluster.protocol);
    if args.scenario.is_some() && args.sim {
        scenario.seed = args.cluster.seed;
    }
    let protocols = if args.side_by_side {
        ProtocolKind::ALL.to_vec()
    } else {
        vec![first]
    };
    Ok(ReplayOptions {
        scenario,
        name,
        dir,
        protocols,
    })
}

async fn live<P: Protocol + Describe>(
    args: Args,
    listener: tokio::net::TcpListener,
    access: Access,
) -> anyhow::Result<()> {
    let (opts, dir, temporary) = args.cluster.options()?;
    let origin = Instant::now();
    let cluster = LocalCluster::<P>::start_viewed(opts)
        .await
        .context("starting the cluster")?;
    println!(
        "{} cluster: {} voters{} on 127.0.0.1, fsync={}, data in {}",
        P::NAME,
        args.cluster.nodes,
        if args.cluster.observers > 0 {
            format!(" + {} observers", args.cluster.observers)
        } else {
            String::new()
        },
        args.cluster.fsync,
        dir.display()
    );
    let server = web::live::serve(
        cluster,
        listener,
        access,
        args.cluster.writes_per_sec,
        origin,
    )?;
    announce(server.addr, &args);
    wait(args.duration).await;
    server.stop().await?;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn announce(addr: SocketAddr, args: &Args) {
    let host = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let fragment = if args.secret_file.is_some() {
        "#secret=<the secret's hex>"
    } else {
        ""
    };
    println!("serving on http://{host}:{}/{fragment}", addr.port());
    println!("(Ctrl-C stops)");
}

async fn wait(duration: Option<f64>) {
    match duration {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(d)) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
