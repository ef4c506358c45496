//! `cwb sim`: replay one deterministic simulation seed and print what happened.
//!
//! The same random-fault schedule the safety tests sweep (crashes, restarts,
//! partitions, loss, duplication), narrated: every message delivered, every timer, and
//! each protocol decision with the rule that made it. A seed that failed a test
//! replays exactly here.

use crate::dispatch::with_protocol;
use harness::config::ProtocolKind;
use harness::sim::chaos::{run_seed, ChaosConfig};
use protocols::Protocol;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// raft, zab or paxos.
    #[arg(long, default_value = "raft")]
    protocol: ProtocolKind,
    /// The seed to replay.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Voting nodes.
    #[arg(long, default_value_t = 5)]
    nodes: u64,
    /// Seconds of virtual time with faults, then as long healed.
    #[arg(long, default_value_t = 4.0)]
    faulty_secs: f64,
    /// Print only protocol events and decisions, not every message.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    with_protocol!(args.protocol, P => replay::<P>(args))
}

fn replay<P: Protocol>(args: Args) -> anyhow::Result<()> {
    let cfg = ChaosConfig {
        voters: args.nodes,
        faulty: Duration::from_secs_f64(args.faulty_secs),
        settle: Duration::from_secs_f64(args.faulty_secs),
        ..ChaosConfig::default()
    };
    let (sim, result) = run_seed::<P>(args.seed, &cfg, true, |_, _| Ok(()));
    for line in sim.trace() {
        if args.quiet && (line.contains(" -> n") || line.contains("timer")) {
            continue;
        }
        println!("{line}");
    }
    println!("\nleaders by term: {:?}", sim.checker().leaders());
    match result {
        Ok(r) => {
            println!(
                "seed {} OK: {} crashes, {} partitions, {} terms with a leader, {} entries committed, {} messages",
                r.seed, r.crashes, r.partitions, r.terms_with_leader, r.committed, r.messages
            );
            Ok(())
        }
        Err(f) => anyhow::bail!("{f}"),
    }
}
