//! `cwb compare`: the embedded default. A quick benchmark of all three protocols on a
//! 3-node loopback cluster, a summary table, and the HTML report.

use super::bench;
use anyhow::Context;
use drivers::bench::Measure;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output directory for results.json and the report.
    #[arg(long, short, default_value = "reports/out/compare")]
    out: PathBuf,
    /// Trials per election and failover measure.
    #[arg(long, default_value_t = 8)]
    trials: u32,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bench_args = bench::Args {
        protocols: runtime::config::ProtocolKind::ALL.to_vec(),
        nodes: vec![3],
        trials: args.trials,
        measure: vec![
            Measure::Election,
            Measure::Kill,
            Measure::Isolate,
            Measure::Throughput,
        ],
        clients: vec![1, 64],
        value_bytes: vec![256],
        warmup_ms: 300,
        duration_ms: 1500,
        rounds: 3,
        read_ratio: 0,
        fsync: storage::FsyncPolicy::Batch,
        timing: super::TimingArgs {
            heartbeat_ms: 50,
            election_timeout: "150-300".into(),
            finalize_wait_ms: 200,
            raft_timer_reset: protocols::RaftTimerReset::Figure2,
            pre_vote: super::OnOff::On,
            check_quorum: super::OnOff::On,
            reads: protocols::ReadPath::Log,
            snapshot_every: 0,
            snapshot_chunk_bytes: protocols::timing::DEFAULT_SNAPSHOT_CHUNK_BYTES,
        },
        sweep: None,
        net: None,
        out: args.out.join("results.json"),
        processes: false,
        netns: false,
        tls: false,
        peers: Vec::new(),
        wait_replicas: vec![0, 1],
        catchup_entries: 100_000,
        recovery_entries: vec![10_000, 100_000],
        config: None,
    };
    println!(
        "comparing raft, zab and paxos on 3-node loopback clusters: {} trials each of cold-start election, leader kill and leader isolation, then 1 and 64 closed-loop clients (fsync = batch)",
        args.trials
    );
    let results = bench::collect(&bench_args).await?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    results.save(&bench_args.out).context("writing results")?;
    super::summary::print(&results);
    let paths = reports::write_report(&[(bench_args.out.clone(), results)], &args.out)
        .context("writing the report")?;
    println!("\nresults: {}", bench_args.out.display());
    println!("report:  {}", paths.html.display());
    Ok(())
}
