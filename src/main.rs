//! `cwb`: the consensus workbench's command line.
//!
//! Runs Raft, ZAB and Paxos on one shared harness: in-process loopback clusters
//! (`cwb cluster`), one node per OS process from a config file (`cwb node`), a client
//! (`cwb put/get/status`), the deterministic simulator (`cwb sim`), the linearizability
//! checker of recorded client histories (`cwb lincheck`).

/// jemalloc (as TiKV and many Rust servers use): per-thread caches that take no
/// lock when one tokio worker frees a buffer another allocated, which the nodes, their
/// transports and the workload's clients do on every operation. glibc's malloc
/// contends on its arena locks there (about 5% of a `fsync = never` run's profile in
/// futex waits and wakes). Measured: `never` throughput +5-40% depending on protocol
/// (docs/METHOD.md, "The hot path").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod cmd;
mod display;
mod experiment;

use clap::{Parser, Subcommand};

/// The consensus workbench: Raft, ZAB and Paxos on one harness.
#[derive(Parser, Debug)]
#[command(name = "cwb", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start an in-process loopback cluster and watch it elect, fail and recover.
    Cluster(cmd::cluster::Args),
    /// Serve a page on 127.0.0.1 that shows a live cluster (or steps through a
    /// simulation) and lets you break it from the browser.
    Serve(cmd::serve::Args),
    /// Run one node of a cluster described by a config file, as its own process.
    Node(cmd::node::Args),
    /// Write a loopback cluster config file to stdout (or --out FILE; --tls adds a CA
    /// and node certificates).
    Config(cmd::client::ConfigArgs),
    /// Set a key through the cluster's leader.
    Put(cmd::client::PutArgs),
    /// Read a key through the cluster's log (linearizable).
    Get(cmd::client::GetArgs),
    /// Show every node's role, term, leader and indexes.
    Status(cmd::client::StatusArgs),
    /// Quick comparison of all three protocols with a summary and an HTML report (the default job).
    Compare(cmd::compare::Args),
    /// Measure elections, failovers and throughput on real loopback clusters; write JSON results.
    Bench(cmd::bench::Args),
    /// Turn results files into an HTML and Markdown report with plots.
    Report(cmd::report::Args),
    /// Silently cut one node of a process cluster off (packets dropped, sockets up).
    Isolate(cmd::client::IsolateArgs),
    /// Remove injected faults on every node of a process cluster.
    Heal(cmd::client::StatusArgs),
    /// Planned failover: ask the leader of a running cluster to hand its leadership to
    /// node --to, and wait until it leads.
    Transfer(cmd::client::TransferArgs),
    /// Run a scripted scenario (--scenario FILE) or replay a chaos seed, narrated.
    Sim(cmd::sim::Args),
    /// Exercises on the scenarios: `cwb exercise check ANSWERS.toml` grades a student's
    /// answers by running them as the scenario's expectations.
    Exercise(cmd::exercise::Args),
    /// Check a recorded client history for linearizability (exit 0: yes, 1: no, 2: undecided or bad input).
    Lincheck(cmd::lincheck::Args),
    /// Faults (kill -9, pauses, isolation) against node processes under retrying clients; check the history.
    Nemesis(cmd::nemesis::Args),
    /// ZooKeeper-style create/get/set/ls/rm/stat/watch against a cluster running the
    /// znode state machine (`state_machine = "znode"`).
    Zk(cmd::zk::Args),
    /// Run a ZooKeeper recipe (lock, herd-lock, rw-lock, fair-election,
    /// unfair-election, discovery) narrated in the simulator, with crashes.
    Recipe(cmd::zk::RecipeArgs),
    /// Reproduce a published result: `fig16` (the Raft paper's Figure 16) in the simulator.
    Experiment(cmd::experiment::Args),
}

/// A reader that stops early (`cwb cluster | head`) closes our standard output, and the
/// next `println!` panics with a broken pipe. The reader wanted no more output: stop
/// quietly with the status a death by SIGPIPE gives (128 + 13), as `cat` or `grep`
/// would, rather than print a panic. Every other panic reaches the default hook.
fn stop_quietly_when_stdout_closes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> anyhow::Result<()> {
    stop_quietly_when_stdout_closes();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("CWB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour codes only for a terminal: a log redirected to a file stays plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Sim(args) => cmd::sim::run(args),
        Command::Recipe(args) => cmd::zk::recipe(args),
        Command::Exercise(args) => cmd::exercise::run(args),
        Command::Config(args) => cmd::client::config(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Lincheck(args) => cmd::lincheck::run(args),
        Command::Experiment(args) => cmd::experiment::run(args),
        other => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                match other {
                    Command::Cluster(args) => cmd::cluster::run(args).await,
                    Command::Serve(args) => cmd::serve::run(args).await,
                    Command::Bench(args) => cmd::bench::run(args).await,
                    Command::Compare(args) => cmd::compare::run(args).await,
                    Command::Node(args) => cmd::node::run(args).await,
                    Command::Put(args) => cmd::client::put(args).await,
                    Command::Get(args) => cmd::client::get(args).await,
                    Command::Status(args) => cmd::client::status(args).await,
                    Command::Isolate(args) => cmd::client::isolate(args).await,
                    Command::Heal(args) => cmd::client::heal(args).await,
                    Command::Transfer(args) => cmd::client::transfer(args).await,
                    Command::Zk(args) => cmd::zk::run(args).await,
                    Command::Nemesis(args) => match cmd::nemesis::run(args).await? {
                        0 => Ok(()),
                        code => std::process::exit(code),
                    },
                    Command::Sim(_)
                    | Command::Recipe(_)
                    | Command::Exercise(_)
                    | Command::Config(_)
                    | Command::Report(_)
                    | Command::Lincheck(_)
                    | Command::Experiment(_) => {
                        unreachable!("handled above")
                    }
                }
            })
        }
    }
}
