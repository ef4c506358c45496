//! The benchmark matrix behind `cwb bench` and `cwb compare`: real loopback TCP
//! clusters, one fresh cluster per trial, written as one schema-versioned results
//! document (the `reports` crate's [`Results`]; docs/METHOD.md says how each figure is
//! measured).
//!
//! Each trial runs on a fresh cluster (real sockets on 127.0.0.1, real WAL files in a
//! temporary directory), in-process by default or, with [`Plan::processes`], one
//! `cwb node` OS process per node ([`crate::process_cluster`]; there message counts are
//! not collected, and the idle resident memory of every node process is recorded once
//! per protocol and size, about a second after a cold-start election):
//! - election: cold start -> leader elected, and -> leader ready;
//! - failover after a kill and after an isolation of the leader, decomposed into
//!   detection, election, recovery and first commit, plus the client-observed window
//!   without a commit; a trial whose fault is not verified is discarded and counted;
//! - throughput: C closed-loop clients, P-byte values, after a warm-up; measured in
//!   [`Plan::rounds`] rounds after everything else, each round visiting every protocol,
//!   size and client count in turn, so that a noisy minute on a shared machine hits
//!   every protocol alike; the median round is reported, with every round's figure;
//! - acknowledged writes lost per failover under a load of writers, with the
//!   linearizability checker's verdict (`lost`, [`crate::loaded`]);
//! - message counts per committed operation and per election, by message type;
//! - commit latency with each node in turn leading (`placement`, [`crate::placement`]);
//! - optionally a timeout sweep ([`Sweep`]).
//!
//! The machine's loopback round trip and fsync latency are measured in the same run.
//! The caller sees progress through [`Progress`]; this module prints nothing.
//!
//! Redis Cluster runs at `2n` nodes for a size `n` (`n` masters with one replica
//! each); its failovers are measured under load, with its specification's steps.
//!
//! With [`collect_remote`] every trial runs on one cluster started elsewhere
//! ([`crate::remote_cluster`]): kills are crashes on command, restarted by the nodes'
//! supervisors.
//!
//! Files: `plan.rs` (what to measure), `trials.rs` (one protocol and size: elections,
//! failovers, sweeps), `remote.rs` (what a remote run may measure, and its record),
//! `loaded.rs` (failovers under load: lost writes, Redis Cluster's failovers),
//! `throughput.rs` (the interleaved throughput rounds),
//! `provenance.rs` (machine, time, commit), `extra.rs` (systems measured beside the
//! protocols, [`ExtraSystems`]).

mod extra;
mod loaded;
mod placement;
mod plan;
pub mod provenance;
mod remote;
pub mod snapshots;
mod throughput;
mod trials;

pub use extra::{ExtraSystems, Settings as ExtraSettings, StepFuture};
pub use plan::{parse_range, BenchError, Measure, Plan, Sweep};

use crate::with_protocol;
use protocols::Protocol;
use reports::results::{self as r, Results};
use reports::Summary;
use std::collections::BTreeMap;
use std::time::Duration;
use trials::Hosting;

/// How a long run reports where it is. Every method has a silent default.
pub trait Progress {
    /// The run has `total` steps (trials and throughput points).
    fn start(&mut self, _total: u64) {}
    /// What runs now, e.g. `raft n=3 kill #4`.
    fn doing(&mut self, _what: String) {}
    /// One step is done.
    fn step_done(&mut self) {}
    /// Something worth a line of its own (a failed or discarded trial).
    fn note(&mut self, _line: String) {}
    /// The run is over.
    fn finish(&mut self) {}
}

/// A [`Progress`] that shows nothing.
pub struct Silent;

impl Progress for Silent {}

/// Runs the whole plan and returns the results document.
pub async fn collect(plan: &Plan, progress: &mut dyn Progress) -> Result<Results, BenchError> {
    collect_with(plan, progress, None).await
}

/// [`collect`], with `extra` systems measured in the same run (their trials after the
/// protocols', their throughput points in the same rounds).
pub async fn collect_with(
    plan: &Plan,
    progress: &mut dyn Progress,
    extra: Option<&mut dyn ExtraSystems>,
) -> Result<Results, BenchError> {
    collect_inner(plan, progress, extra, None).await
}

/// [`collect`] on a cluster started elsewhere (`cwb bench --config`): every trial on
/// its running nodes ([`crate::remote_cluster`]). The plan must be the cluster's own
/// (its protocol, size, timers and fsync, from the config) and ask only for what can
/// be measured on nodes this program does not start ([`remote::check`]).
pub async fn collect_remote(
    plan: &Plan,
    cluster: std::sync::Arc<crate::remote_cluster::RemoteSpec>,
    progress: &mut dyn Progress,
) -> Result<Results, BenchError> {
    remote::check(plan, &cluster)?;
    collect_inner(plan, progress, None, Some(cluster)).await
}

async fn collect_inner(
    plan: &Plan,
    progress: &mut dyn Progress,
    mut extra: Option<&mut dyn ExtraSystems>,
    remote: Option<std::sync::Arc<crate::remote_cluster::RemoteSpec>>,
) -> Result<Results, BenchError> {
    plan.timing.validate()?;
    if let Some(p) = plan
        .protocols
        .iter()
        .find(|p| !plan.timing.reads.supported_by(**p))
    {
        return Err(BenchError::Syntax(format!(
            "{p} has no {} read path (it has: {})",
            plan.timing.reads,
            protocols::ReadPath::for_protocol(*p)
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if plan.processes.is_some() && plan.protocols.iter().any(|p| !p.is_consensus()) {
        return Err(BenchError::Syntax(
            "redis runs on in-process clusters only: `cwb node` does not run it".into(),
        ));
    }
    if plan.net.is_some() && plan.processes.is_some() {
        return Err(BenchError::Syntax(
            "--net applies to in-process clusters only: node processes have a fault filter each"
                .into(),
        ));
    }
    let exe = plan.processes.clone();
    let mut sizes: Vec<usize> = plan.nodes.iter().map(|&n| n as usize).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let baseline = measure_baseline(&sizes).await?;
    let extra_steps = extra.as_deref().map_or(0, |x| x.steps(plan));
    progress.start(plan.planned_steps() + extra_steps + snapshots::steps(plan));
    let mut runs = Vec::new();
    let mut hosts = Vec::new();
    let mut protocol_timing: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for &protocol in &plan.protocols {
        let mapping = with_protocol!(protocol, P => P::timing_mapping(&plan.timing));
        let mut mapping: BTreeMap<String, String> = mapping.into_iter().collect();
        if !protocol.is_consensus() {
            mapping.insert(
                "cluster layout".into(),
                "size n: n masters with one replica each (2n nodes)".into(),
            );
            if plan.measure.contains(&Measure::Lost) {
                let waits: Vec<String> = plan.wait_replicas.iter().map(|w| w.to_string()).collect();
                mapping.insert(
                    "lost writes: wait-replicas".into(),
                    format!("{} (0: asynchronous)", waits.join(", ")),
                );
            }
        }
        protocol_timing.insert(protocol.to_string(), mapping);
        let hosting = match (&exe, &remote) {
            (_, Some(spec)) => Hosting::Remote(spec.clone()),
            (Some(exe), None) => Hosting::Processes {
                exe: exe.clone(),
                protocol,
            },
            (None, None) => Hosting::InProcess,
        };
        for &nodes in &plan.nodes {
            let run = with_protocol!(protocol, P => trials::measure_protocol::<P>(plan, &hosting, nodes, progress).await?);
            runs.push(run);
            hosts.push((protocol, hosting.clone()));
        }
    }
    if let Some(x) = extra.as_deref_mut() {
        x.trials(plan, progress).await;
    }
    if plan.measure.contains(&Measure::Throughput) {
        throughput::rounds(plan, &hosts, &mut runs, progress, extra.as_deref_mut()).await?;
    }
    let mut compaction = None;
    if snapshots::wanted(plan) {
        if plan.processes.is_some() {
            return Err(BenchError::Syntax(
                "catchup, recovery and soak run on in-process clusters only".into(),
            ));
        }
        let mut bench = reports::snapshots::SnapshotBench::default();
        for &protocol in plan.protocols.iter().filter(|p| p.is_consensus()) {
            with_protocol!(protocol, P => snapshots::measure::<P>(plan, &mut bench, progress).await?);
        }
        compaction = Some(bench);
    }
    if plan.connection_per_client {
        for params in protocol_timing.values_mut() {
            params.insert("client connections".into(), "one per client".into());
        }
    }
    if let Some(x) = extra {
        let (extra_runs, settings) = x.finish(plan);
        runs.extend(extra_runs);
        protocol_timing.extend(settings);
    }
    if let Some(spec) = &remote {
        for line in spec.take_notes() {
            progress.note(line);
        }
    }
    progress.finish();
    let timing = &plan.timing;
    Ok(Results {
        schema_version: r::SCHEMA_VERSION,
        created: provenance::now_rfc3339(),
        machine: provenance::machine(),
        git_commit: provenance::git_commit(),
        settings: r::Settings {
            protocols: plan.protocols.iter().map(|p| p.to_string()).collect(),
            cluster_sizes: plan.nodes.iter().map(|&n| n as usize).collect(),
            trials: plan.trials,
            mode: if remote.is_some() {
                r::Mode::Remote
            } else if plan.processes.is_some() {
                r::Mode::MultiProcess
            } else {
                r::Mode::InProcess
            },
            fsync: plan.fsync.to_string(),
            timing: r::Timing {
                heartbeat_ms: millis(timing.heartbeat),
                election_timeout_min_ms: millis(timing.election_timeout_min),
                election_timeout_max_ms: millis(timing.election_timeout_max),
                finalize_wait_ms: millis(timing.finalize_wait),
                raft_timer_reset: timing.raft_timer_reset.as_str().to_string(),
                pre_vote: timing.pre_vote,
                check_quorum: timing.check_quorum,
                reads: timing.reads.to_string(),
                snapshot_every: timing.snapshot_every,
                snapshot_chunk_bytes: timing.snapshot_chunk_bytes,
            },
            protocol_timing,
            clients: if plan.measure.contains(&Measure::Throughput) {
                plan.clients.clone()
            } else {
                Vec::new()
            },
            value_bytes: plan.value_bytes as u64,
            key_bytes: 8,
            warmup_ms: millis(plan.warmup),
            duration_ms: millis(plan.duration),
            read_percent: plan.read_percent,
            command_line: plan.command_line.clone(),
            network: plan.net.as_ref().map(|m| r::Network {
                name: m.name.clone(),
                description: m.describe(),
            }),
            remote: remote.as_deref().map(remote::record),
        },
        baseline,
        runs,
        snapshots: compaction,
    })
}

/// The machine's lower bounds; the concurrent fsync once per cluster size of the run.
async fn measure_baseline(cluster_sizes: &[usize]) -> Result<r::Baseline, BenchError> {
    let failed = |what: &'static str| move |source| BenchError::Io { what, source };
    let rtt = crate::baseline::loopback_rtt(2000)
        .await
        .map_err(failed("measuring the loopback round trip"))?;
    let dir = tempfile::tempdir().map_err(failed("creating a temporary directory"))?;
    let fsync =
        crate::baseline::fsync(dir.path(), 200).map_err(failed("measuring fsync latency"))?;
    let mut concurrent_fsync = Vec::new();
    for &writers in cluster_sizes {
        let lat = crate::baseline::fsync_concurrent(dir.path(), writers, 200)
            .map_err(failed("measuring fsync with concurrent writers"))?;
        concurrent_fsync.push(r::ConcurrentFsync {
            writers,
            latency_us: Summary::from_histogram(lat.histogram(), 1.0),
        });
    }
    Ok(r::Baseline {
        loopback_rtt_us: Summary::from_histogram(rtt.histogram(), 1.0),
        fsync_us: Summary::from_histogram(fsync.histogram(), 1.0),
        concurrent_fsync,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A fresh temporary data directory for one trial's cluster.
fn data_dir() -> Result<tempfile::TempDir, BenchError> {
    tempfile::tempdir().map_err(|source| BenchError::Io {
        what: "creating a temporary data directory",
        source,
    })
}
