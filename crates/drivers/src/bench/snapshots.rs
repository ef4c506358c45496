//! The log-compaction benchmarks (Raft §7): `catchup`, `recovery` and `soak`, each on
//! fresh in-process 3-node loopback clusters with real WAL and snapshot files, run
//! without snapshots and with them where the measure compares the two
//! (docs/METHOD.md, "Snapshots: catch-up, recovery and soak").
//!
//! - catch-up: a follower is isolated while [`SnapshotPlan::catchup_entries`] entries
//!   commit, then healed; timed from the heal to it having applied the leader's
//!   commit index, with the bytes the nodes sent meanwhile;
//! - recovery: for each log length, a follower is stopped after that many entries
//!   committed and started again; timed from the start to caught up;
//! - soak: writers at full throughput for the plan's duration, the process's resident
//!   memory and the data directories' bytes sampled periodically.
//!
//! The writers are closed-loop clients of the shared workload's key space
//! ([`crate::workload::key`]), so the state machine reaches a steady size and only the
//! log grows with the run.

use super::{ms, BenchError, Measure, Plan, Progress};
use crate::cluster::{ClusterOptions, LocalCluster};
use bytes::Bytes;
use protocols::{NodeId, Protocol};
use reports::snapshots::{Catchup, Recovery, SnapshotBench, Soak, SoakSample};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The snapshot interval the "with snapshots" runs use when the plan sets none.
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 10_000;

/// How long a cluster may take to elect, or a node to catch up, before the run fails.
const WAIT: Duration = Duration::from_secs(600);

/// The sizes of the compaction measures.
#[derive(Clone, Debug)]
pub struct SnapshotPlan {
    /// Entries committed while the follower is isolated (`catchup`).
    pub catchup_entries: u64,
    /// Log lengths a follower is restarted with (`recovery`).
    pub recovery_entries: Vec<u64>,
}

impl Default for SnapshotPlan {
    fn default() -> SnapshotPlan {
        SnapshotPlan {
            catchup_entries: 100_000,
            recovery_entries: vec![10_000, 100_000],
        }
    }
}

/// Whether the plan asks for any compaction measure.
pub fn wanted(plan: &Plan) -> bool {
    plan.measure
        .iter()
        .any(|m| matches!(m, Measure::Catchup | Measure::Recovery | Measure::Soak))
}

/// The snapshot intervals compared: none, and the plan's (or the default).
fn intervals(plan: &Plan) -> [u64; 2] {
    let with = match plan.timing.snapshot_every {
        0 => DEFAULT_SNAPSHOT_EVERY,
        n => n,
    };
    [0, with]
}

/// Progress steps of the compaction measures.
pub fn steps(plan: &Plan) -> u64 {
    let per_protocol: u64 = plan
        .measure
        .iter()
        .map(|m| match m {
            Measure::Catchup => 2,
            Measure::Recovery => 2 * plan.snapshots.recovery_entries.len() as u64,
            Measure::Soak => 1,
            _ => 0,
        })
        .sum();
    per_protocol * plan.protocols.iter().filter(|p| p.is_consensus()).count() as u64
}

/// Runs the compaction measures the plan asks for on protocol `P`, adding to `out`.
pub async fn measure<P: Protocol>(
    plan: &Plan,
    out: &mut SnapshotBench,
    progress: &mut dyn Progress,
) -> Result<(), BenchError> {
    for m in &plan.measure {
        match m {
            Measure::Catchup => {
                for every in intervals(plan) {
                    progress.doing(format!(
                        "{} catch-up after {} entries, snapshot every {every}",
                        P::NAME,
                        plan.snapshots.catchup_entries
                    ));
                    out.catchup.push(catchup::<P>(plan, every).await?);
                    progress.step_done();
                }
            }
            Measure::Recovery => {
                for &entries in &plan.snapshots.recovery_entries {
                    for every in intervals(plan) {
                        progress.doing(format!(
                            "{} recovery with {entries} entries, snapshot every {every}",
                            P::NAME
                        ));
                        out.recovery
                            .push(recovery::<P>(plan, every, entries).await?);
                        progress.step_done();
                    }
                }
            }
            Measure::Soak => {
                progress.doing(format!(
                    "{} soak for {} s, snapshot every {}",
                    P::NAME,
                    plan.duration.as_secs(),
                    plan.timing.snapshot_every
                ));
                out.soak.push(soak::<P>(plan).await?);
                progress.step_done();
            }
            _ => {}
        }
    }
    Ok(())
}

fn failed(what: &'static str) -> BenchError {
    BenchError::Io {
        what,
        source: std::io::Error::other("see the measure's description in docs/METHOD.md"),
    }
}

/// A fresh 3-node cluster with snapshots every `every` entries, its leader elected.
async fn cluster<P: Protocol>(
    plan: &Plan,
    every: u64,
    dir: &Path,
) -> Result<(LocalCluster<P>, NodeId), BenchError> {
    let mut opts = ClusterOptions::new(3, dir.to_path_buf());
    opts.timing = plan.timing.clone();
    opts.timing.snapshot_every = every;
    opts.fsync = plan.fsync;
    let cluster = LocalCluster::<P>::start(opts)
        .await
        .map_err(|_| failed("starting a cluster"))?;
    let ready = cluster
        .wait_ready(0, None, 0, WAIT)
        .await
        .ok_or_else(|| failed("waiting for a leader"))?;
    Ok((cluster, ready.node))
}

/// Entries node `id` has applied, per its latest status.
fn applied<P: Protocol>(cluster: &LocalCluster<P>, id: NodeId) -> u64 {
    cluster
        .node(id)
        .and_then(|h| h.status())
        .map_or(0, |s| s.applied)
}

/// Waits until node `id` has applied at least `target` entries; the instant it had.
async fn caught_up<P: Protocol>(
    cluster: &LocalCluster<P>,
    id: NodeId,
    target: u64,
) -> Result<Instant, BenchError> {
    let deadline = Instant::now() + WAIT;
    loop {
        if applied(cluster, id) >= target {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(failed("waiting for a node to catch up"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The leader's applied count once it stops moving (every acknowledged write and the
/// leader's own entries applied).
async fn settled<P: Protocol>(cluster: &LocalCluster<P>, leader: NodeId) -> u64 {
    let mut last = applied(cluster, leader);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = applied(cluster, leader);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// When closed-loop writers stop: after a number of acknowledged writes, or when a
/// flag is raised.
struct Budget {
    issued: AtomicU64,
    limit: u64,
    stop: AtomicBool,
    errors: AtomicU64,
}

/// Runs `clients` closed-loop writers against the cluster until the budget is spent.
async fn write<P: Protocol>(
    cluster: &LocalCluster<P>,
    clients: u32,
    value_bytes: usize,
    budget: Arc<Budget>,
) -> Result<(), BenchError> {
    let value = Bytes::from(vec![b'v'; value_bytes]);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients.max(1) {
        let mut client = cluster.client();
        let budget = budget.clone();
        let value = value.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            while !budget.stop.load(Ordering::Relaxed)
                && budget.issued.fetch_add(1, Ordering::Relaxed) < budget.limit
            {
                let key = crate::workload::key(c, n);
                n = n.wrapping_add(1);
                while client.put(key.clone(), value.clone()).await.is_err() {
                    if budget.errors.fetch_add(1, Ordering::Relaxed) > 10_000 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    if budget.errors.load(Ordering::Relaxed) > 10_000 {
        return Err(failed("writing: too many failed writes"));
    }
    Ok(())
}

fn budget(limit: u64) -> Arc<Budget> {
    Arc::new(Budget {
        issued: AtomicU64::new(0),
        limit,
        stop: AtomicBool::new(false),
        errors: AtomicU64::new(0),
    })
}

/// Writers for the compaction measures: the largest client count of the plan.
fn writers(plan: &Plan) -> u32 {
    plan.clients.iter().copied().max().unwrap_or(64)
}

/// One node other than the leader.
fn follower<P: Protocol>(cluster: &LocalCluster<P>, leader: NodeId) -> Result<NodeId, BenchError> {
    cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .ok_or_else(|| failed("finding a follower"))
}

fn sent(counts: &runtime::host::MessageCounts) -> (u64, u64, u64) {
    let total = counts.by_kind.values().map(|&(_, b)| b).sum();
    // Raft's InstallSnapshot, the pieces of a Paxos snapshot (`SnapshotChunk`), or
    // the chunks of a ZAB SNAP image.
    let (n, b) = ["InstallSnapshot", "SnapshotChunk", "SNAP"]
        .iter()
        .filter_map(|kind| counts.by_kind.get(*kind))
        .fold((0, 0), |(n, b), &(kn, kb)| (n + kn, b + kb));
    (total, b, n)
}

async fn catchup<P: Protocol>(plan: &Plan, every: u64) -> Result<Catchup, BenchError> {
    let dir = super::data_dir()?;
    let (cluster, leader) = cluster::<P>(plan, every, dir.path()).await?;
    let lagging = follower(&cluster, leader)?;
    cluster.isolate(lagging);
    let entries = plan.snapshots.catchup_entries;
    let t0 = Instant::now();
    write(&cluster, writers(plan), plan.value_bytes, budget(entries)).await?;
    let write_ms = ms(t0.elapsed());
    let target = settled(&cluster, leader).await;
    let behind = target.saturating_sub(applied(&cluster, lagging));
    // Counts read once every node has shared what it sent (a loaded machine delays it).
    let before = sent(&crate::measure::settled_message_counts(&cluster).await);
    let healed = Instant::now();
    cluster.heal();
    let done = caught_up(&cluster, lagging, target).await?;
    let after = sent(&crate::measure::settled_message_counts(&cluster).await);
    cluster.shutdown().await;
    Ok(Catchup {
        protocol: P::NAME.to_string(),
        snapshot_every: every,
        entries,
        write_ms,
        behind,
        catchup_ms: ms(done.duration_since(healed)),
        bytes_sent: after.0.saturating_sub(before.0),
        install_snapshot_bytes: after.1.saturating_sub(before.1),
        install_snapshots: after.2.saturating_sub(before.2),
    })
}

async fn recovery<P: Protocol>(
    plan: &Plan,
    every: u64,
    entries: u64,
) -> Result<Recovery, BenchError> {
    let dir = super::data_dir()?;
    let (mut cluster, leader) = cluster::<P>(plan, every, dir.path()).await?;
    let node = follower(&cluster, leader)?;
    write(&cluster, writers(plan), plan.value_bytes, budget(entries)).await?;
    let target = settled(&cluster, leader).await;
    caught_up(&cluster, node, target).await?;
    cluster
        .kill(node)
        .await
        .map_err(|_| failed("stopping the follower"))?;
    let disk_bytes = dir_bytes(&dir.path().join(format!("node-{node}")));
    let t0 = Instant::now();
    cluster
        .restart(node)
        .await
        .map_err(|_| failed("restarting the follower"))?;
    let done = caught_up(&cluster, node, target).await?;
    cluster.shutdown().await;
    Ok(Recovery {
        protocol: P::NAME.to_string(),
        snapshot_every: every,
        log_entries: entries,
        disk_bytes,
        recovery_ms: ms(done.duration_since(t0)),
    })
}

async fn soak<P: Protocol>(plan: &Plan) -> Result<Soak, BenchError> {
    let dir = super::data_dir()?;
    let every = plan.timing.snapshot_every;
    let (cluster, leader) = cluster::<P>(plan, every, dir.path()).await?;
    let clients = writers(plan);
    let interval = (plan.duration / 20).max(Duration::from_millis(100));
    let budget = budget(u64::MAX);
    let sample = |t0: Instant| SoakSample {
        t_ms: ms(t0.elapsed()),
        rss_kb: own_rss_kb(),
        disk_bytes: dir_bytes(dir.path()),
        applied: applied(&cluster, leader),
    };
    let t0 = Instant::now();
    let mut samples = vec![sample(t0)];
    let sampler = async {
        let mut next = t0 + interval;
        while next < t0 + plan.duration {
            tokio::time::sleep_until(next.into()).await;
            samples.push(sample(t0));
            next += interval;
        }
        tokio::time::sleep_until((t0 + plan.duration).into()).await;
        budget.stop.store(true, Ordering::Relaxed);
    };
    let (written, ()) = tokio::join!(
        write(&cluster, clients, plan.value_bytes, budget.clone()),
        sampler
    );
    written?;
    let duration_ms = ms(t0.elapsed());
    samples.push(sample(t0));
    cluster.shutdown().await;
    Ok(Soak {
        protocol: P::NAME.to_string(),
        snapshot_every: every,
        clients,
        duration_ms,
        samples,
    })
}

/// Resident memory of this process (kB; 0 where /proc is not available).
fn own_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| crate::process_cluster::vm_rss_kb(&s))
        .unwrap_or(0)
}

/// Bytes of the regular files under `dir`, recursively (0 for what cannot be read).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
