//! One protocol at one cluster size: cold-start elections, failovers after a kill and
//! after an isolation, idle memory of node processes, and the optional timeout sweep.

use super::{data_dir, ms, BenchError, Measure, Plan, Progress, Sweep};
use crate::cluster::ClusterOptions;
use crate::measure::{
    self, Cluster, ElectionSample, FailoverSample, Failure, MeasureError, ThroughputSample,
};
use crate::process_cluster::ProcessCluster;
use crate::remote_cluster::{RemoteCluster, RemoteSpec};
use crate::workload::Workload;
use protocols::{Protocol, ProtocolKind, Timing};
use reports::results as r;
use reports::Summary;
use runtime::events::Latencies;
use runtime::host::MessageCounts;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long one trial may wait for what it measures.
pub(super) const TRIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a process cluster idles after its cold-start election before its
/// resident memory is read.
const IDLE_SETTLE: Duration = Duration::from_secs(1);

/// Where each trial's cluster runs.
#[derive(Clone, Debug)]
pub(super) enum Hosting {
    /// Nodes as tokio tasks in this process.
    InProcess,
    /// One `exe node` OS process per node, running `protocol`.
    Processes {
        /// The cwb executable.
        exe: PathBuf,
        /// What the nodes run.
        protocol: ProtocolKind,
    },
    /// Nodes started elsewhere, the same ones for every trial
    /// ([`crate::remote_cluster`]).
    Remote(Arc<RemoteSpec>),
}

/// A remote cluster, connected for one trial.
async fn remote(spec: &Arc<RemoteSpec>) -> Result<RemoteCluster, MeasureError> {
    Ok(RemoteCluster::connect(spec.clone()).await?)
}

/// What a remote cluster cannot measure (refused before the run starts).
fn not_remote(what: &'static str) -> MeasureError {
    MeasureError::FaultNotVerified(format!("{what} is not measured on a remote cluster"))
}

pub(super) fn cluster_options(
    plan: &Plan,
    timing: &Timing,
    nodes: u64,
    seed: u64,
    dir: &tempfile::TempDir,
) -> ClusterOptions {
    let mut opts = ClusterOptions::new(nodes, dir.path().to_path_buf());
    opts.timing = timing.clone();
    opts.fsync = plan.fsync;
    opts.seed = seed;
    opts.tls = plan.tls.clone();
    opts.net = plan.net.clone();
    opts.namespaces = plan.namespaces;
    opts
}

/// One cold-start election; with `idle_rss` (process clusters only), also the
/// resident memory of every node, in kB, once the cluster idled for [`IDLE_SETTLE`].
async fn election_trial<P: Protocol>(
    hosting: &Hosting,
    opts: ClusterOptions,
    idle_rss: bool,
) -> Result<(ElectionSample, Vec<u64>), MeasureError> {
    let (exe, protocol) = match hosting {
        Hosting::InProcess => {
            let sample = crate::cluster::cold_election::<P>(opts, TRIAL_TIMEOUT).await?;
            return Ok((sample, Vec::new()));
        }
        Hosting::Remote(_) => return Err(not_remote("a cold-start election")),
        Hosting::Processes { exe, protocol } => (exe, protocol),
    };
    let cluster = ProcessCluster::start(exe, *protocol, &opts).await?;
    let sample = measure::cold_election_on(&cluster, TRIAL_TIMEOUT).await;
    let mut rss = Vec::new();
    if idle_rss && sample.is_ok() {
        tokio::time::sleep(IDLE_SETTLE).await;
        rss = cluster.resident_kb().into_values().collect();
    }
    cluster.shutdown().await;
    Ok((sample?, rss))
}

async fn failover_trial<P: Protocol>(
    hosting: &Hosting,
    opts: ClusterOptions,
    failure: Failure,
) -> Result<FailoverSample, MeasureError> {
    let (exe, protocol) = match hosting {
        Hosting::InProcess => {
            return crate::cluster::failover::<P>(opts, failure, TRIAL_TIMEOUT).await
        }
        Hosting::Remote(spec) => {
            let mut cluster = remote(spec).await?;
            let sample = measure::failover_on(&mut cluster, failure, TRIAL_TIMEOUT).await;
            cluster.shutdown().await;
            return sample;
        }
        Hosting::Processes { exe, protocol } => (exe, protocol),
    };
    let mut cluster = ProcessCluster::start(exe, *protocol, &opts).await?;
    let sample = measure::failover_on(&mut cluster, failure, TRIAL_TIMEOUT).await;
    cluster.shutdown().await;
    sample
}

pub(super) async fn throughput_trial<P: Protocol>(
    hosting: &Hosting,
    opts: ClusterOptions,
    workload: &Workload,
) -> Result<ThroughputSample, MeasureError> {
    let (exe, protocol) = match hosting {
        Hosting::InProcess => {
            return crate::cluster::throughput::<P>(opts, workload, TRIAL_TIMEOUT).await
        }
        Hosting::Remote(spec) => {
            let cluster = remote(spec).await?;
            let sample = measure::throughput_on(&cluster, workload, TRIAL_TIMEOUT).await;
            cluster.shutdown().await;
            return sample;
        }
        Hosting::Processes { exe, protocol } => (exe, protocol),
    };
    let cluster = ProcessCluster::start(exe, *protocol, &opts).await?;
    let sample = measure::throughput_on(&cluster, workload, TRIAL_TIMEOUT).await;
    cluster.shutdown().await;
    sample
}

/// Elections, failovers, idle memory and the sweep of protocol `P` at `nodes` nodes;
/// throughput is measured later, in rounds across all runs.
pub(super) async fn measure_protocol<P: Protocol>(
    plan: &Plan,
    hosting: &Hosting,
    nodes: u64,
    progress: &mut dyn Progress,
) -> Result<r::ProtocolRun, BenchError> {
    let redis = crate::loaded::is_redis::<P>();
    if redis {
        return measure_redis::<P>(plan, nodes, progress).await;
    }
    let wants = |m: Measure| plan.measure.contains(&m);
    let mut run = r::ProtocolRun {
        election_phase_wait_ms: Some(super::ms(P::election_phase_wait(&plan.timing))),
        ..r::ProtocolRun::new(P::NAME, nodes as usize)
    };
    let processes = matches!(hosting, Hosting::Processes { .. });
    // Timer lateness over every election and failover trial of this run.
    let mut lateness = Latencies::new();
    let mut idle_rss: Vec<u64> = Vec::new();
    if wants(Measure::Election) {
        let (mut ready, mut elected, mut per_election) = (Vec::new(), Vec::new(), Vec::new());
        let mut rounds = Vec::new();
        for trial in 0..plan.trials {
            progress.doing(format!("{} n={nodes} election #{}", P::NAME, trial + 1));
            let dir = data_dir()?;
            let opts = cluster_options(plan, &plan.timing, nodes, u64::from(trial) + 1, &dir);
            let want_rss = processes && idle_rss.is_empty();
            match election_trial::<P>(hosting, opts, want_rss).await {
                Ok((e, rss)) => {
                    ready.push(ms(e.election.ready));
                    elected.push(ms(e.election.elected));
                    per_election.push(e.messages);
                    rounds.push(f64::from(e.extra_rounds));
                    lateness.merge(&e.timer_lateness);
                    if want_rss {
                        idle_rss = rss;
                    }
                }
                Err(e) => progress.note(format!(
                    "{} n={nodes} election trial {} failed: {e}",
                    P::NAME,
                    trial + 1
                )),
            }
            progress.step_done();
        }
        run.messages.per_election = average_counts(&per_election);
        run.election = Some(r::Measure::from_ms(ready));
        run.election_extra_rounds = Some(r::Measure::from_counts("rounds", rounds));
        run.elected = Some(r::Measure::from_ms(elected));
    }
    if processes && idle_rss.is_empty() {
        // Memory is measured even when elections are not (one extra cold start).
        progress.doing(format!("{} n={nodes} idle memory", P::NAME));
        let dir = data_dir()?;
        let opts = cluster_options(plan, &plan.timing, nodes, 1, &dir);
        match election_trial::<P>(hosting, opts, true).await {
            Ok((_, rss)) => idle_rss = rss,
            Err(e) => progress.note(format!("{} n={nodes} idle memory: {e}", P::NAME)),
        }
    }
    if !idle_rss.is_empty() {
        run.idle_rss_kb = Some(r::Measure::from_kb(
            idle_rss.iter().map(|&kb| kb as f64).collect(),
        ));
    }
    for (wanted, failure) in [
        (Measure::Kill, Failure::Kill),
        (Measure::Isolate, Failure::Isolate),
        (Measure::Transfer, Failure::Transfer),
    ] {
        if !wants(wanted) {
            continue;
        }
        let (samples, discarded) =
            failover_trials::<P>(plan, &plan.timing, hosting, nodes, failure, "", progress).await?;
        for f in &samples {
            lateness.merge(&f.timer_lateness);
        }
        let f = failover_measures(&samples, discarded);
        match failure {
            Failure::Kill => run.failover_kill = Some(f),
            Failure::Isolate => run.failover_isolate = Some(f),
            Failure::Transfer => run.failover_transfer = Some(f),
        }
    }
    if lateness.count() > 0 {
        run.timer_lateness_us = Some(Summary::from_histogram(lateness.histogram(), 1.0));
    }
    if let Some(sweep) = &plan.sweep {
        run.sweep = sweep_points::<P>(plan, sweep, hosting, nodes, progress).await?;
    }
    if wants(Measure::Placement) {
        run.placement = super::placement::measure::<P>(plan, hosting, nodes, progress).await?;
    }
    if wants(Measure::Lost) {
        if processes {
            progress.note(format!(
                "{} n={nodes}: the lost measure runs on in-process clusters only",
                P::NAME
            ));
            (0..2 * plan.trials).for_each(|_| progress.step_done());
        } else {
            let mut done = super::loaded::Samples::new();
            run.lost_writes =
                super::loaded::lost_writes::<P>(plan, nodes, &mut done, progress).await?;
        }
    }
    Ok(run)
}

/// Redis Cluster at size `n`: `n` masters with one replica each (`2n` nodes; the
/// specification needs a majority of masters to fail one over, so the protocols'
/// sizes count masters). Its failovers are measured under load ([`super::loaded`]);
/// cold-start elections, planned transfers and timeout sweeps do not apply (its
/// masters serve from the start; its manual failover is asked of a replica; its
/// election delay is fixed by the specification) and are skipped.
async fn measure_redis<P: Protocol>(
    plan: &Plan,
    masters: u64,
    progress: &mut dyn Progress,
) -> Result<r::ProtocolRun, BenchError> {
    let nodes = masters.saturating_mul(2);
    let mut run = r::ProtocolRun {
        election_phase_wait_ms: Some(super::ms(P::election_phase_wait(&plan.timing))),
        ..r::ProtocolRun::new(P::NAME, nodes as usize)
    };
    let mut done = super::loaded::Samples::new();
    let mut lateness = Latencies::new();
    for m in &plan.measure {
        match m {
            Measure::Kill | Measure::Isolate => {
                let failure = if *m == Measure::Kill {
                    Failure::Kill
                } else {
                    Failure::Isolate
                };
                let (f, steps) =
                    super::loaded::redis_failover::<P>(plan, nodes, failure, &mut done, progress)
                        .await?;
                if *m == Measure::Kill {
                    run.failover_kill = Some(f);
                } else {
                    run.failover_isolate = Some(f);
                }
                run.failover_steps.push(steps);
            }
            Measure::Lost => {
                run.lost_writes =
                    super::loaded::lost_writes::<P>(plan, nodes, &mut done, progress).await?;
            }
            Measure::Election | Measure::Transfer => {
                progress.note(format!(
                    "{} n={nodes}: no {} measure (its masters serve from the start; a manual failover is asked of a replica)",
                    P::NAME,
                    if *m == Measure::Election { "election" } else { "transfer" }
                ));
                (0..plan.trials).for_each(|_| progress.step_done());
            }
            Measure::Placement => {
                progress.note(format!(
                    "{} n={nodes}: no placement measure (every master leads its own slots)",
                    P::NAME
                ));
                progress.step_done();
            }
            Measure::Throughput
            | Measure::Recipes
            | Measure::Catchup
            | Measure::Recovery
            | Measure::Soak => {}
        }
    }
    if plan.sweep.is_some() {
        progress.note(format!(
            "{} n={nodes}: no timeout sweep (its election delay is the specification's)",
            P::NAME
        ));
    }
    for (samples, _) in done.values() {
        for s in samples {
            lateness.merge(&s.failover.timer_lateness);
        }
    }
    if lateness.count() > 0 {
        run.timer_lateness_us = Some(Summary::from_histogram(lateness.histogram(), 1.0));
    }
    Ok(run)
}

/// The sweep's settings, each a timing of its own.
fn sweep_settings(sweep: &Sweep, timing: &Timing) -> Vec<(String, Timing)> {
    match sweep {
        Sweep::ElectionTimeout(ranges) => ranges
            .iter()
            .map(|&(lo, hi)| {
                let t = Timing {
                    election_timeout_min: Duration::from_millis(lo),
                    election_timeout_max: Duration::from_millis(hi),
                    ..timing.clone()
                };
                (format!("{lo}-{hi}"), t)
            })
            .collect(),
        Sweep::FinalizeWait(waits) => waits
            .iter()
            .map(|&w| {
                let t = Timing {
                    finalize_wait: Duration::from_millis(w),
                    ..timing.clone()
                };
                (format!("{w}"), t)
            })
            .collect(),
        Sweep::NotificationTimeout(caps) => caps
            .iter()
            .map(|&c| {
                let t = Timing {
                    max_notification_interval: Some(Duration::from_millis(c)),
                    ..timing.clone()
                };
                (format!("{c}"), t)
            })
            .collect(),
        Sweep::BackoffDoublings(doublings) => doublings
            .iter()
            .map(|&d| {
                let t = Timing {
                    contention_doublings: Some(d),
                    ..timing.clone()
                };
                (format!("{d}"), t)
            })
            .collect(),
    }
}

/// `plan.trials` cold elections per sweep setting, and as many kill and isolate
/// failovers when the plan measures those.
async fn sweep_points<P: Protocol>(
    plan: &Plan,
    sweep: &Sweep,
    hosting: &Hosting,
    nodes: u64,
    progress: &mut dyn Progress,
) -> Result<Vec<r::SweepPoint>, BenchError> {
    let mut points = Vec::new();
    for (label, t) in sweep_settings(sweep, &plan.timing) {
        if t.validate().is_err() {
            return Err(BenchError::SweepSetting {
                label,
                heartbeat_ms: t.heartbeat.as_millis(),
            });
        }
        let (mut times, mut rounds) = (Vec::new(), Vec::new());
        for trial in 0..plan.trials {
            progress.doing(format!(
                "{} n={nodes} sweep {label} #{}",
                P::NAME,
                trial + 1
            ));
            let dir = data_dir()?;
            let opts = cluster_options(plan, &t, nodes, u64::from(trial) + 1, &dir);
            if let Ok((e, _)) = election_trial::<P>(hosting, opts, false).await {
                times.push(ms(e.election.ready));
                rounds.push(f64::from(e.extra_rounds));
            }
            progress.step_done();
        }
        let mut failovers = [None, None];
        let mut failover_rounds = [None, None];
        for (slot, (wanted, failure)) in [
            (Measure::Kill, Failure::Kill),
            (Measure::Isolate, Failure::Isolate),
        ]
        .into_iter()
        .enumerate()
        {
            if !plan.measure.contains(&wanted) {
                continue;
            }
            let prefix = format!("sweep {label} ");
            let (samples, _) =
                failover_trials::<P>(plan, &t, hosting, nodes, failure, &prefix, progress).await?;
            let totals = samples.iter().map(|f| ms(f.phases.total)).collect();
            failovers[slot] = Some(r::Measure::from_ms(totals));
            let extra = samples.iter().map(|f| f64::from(f.extra_rounds)).collect();
            failover_rounds[slot] = Some(r::Measure::from_counts("rounds", extra));
        }
        let [kill_ms, isolate_ms] = failovers;
        let [kill_rounds, isolate_rounds] = failover_rounds;
        points.push(r::SweepPoint {
            setting: label,
            trials: times.len() as u32,
            election_ms: r::Measure::from_ms(times),
            split_votes_or_extra_rounds: r::Measure::from_counts("rounds", rounds),
            kill_ms,
            isolate_ms,
            kill_rounds,
            isolate_rounds,
        });
    }
    Ok(points)
}

/// `plan.trials` failovers of `failure` under `timing`, each on a fresh cluster; the
/// samples and how many trials were discarded (each reported through `progress`,
/// its lines prefixed with `label`).
async fn failover_trials<P: Protocol>(
    plan: &Plan,
    timing: &Timing,
    hosting: &Hosting,
    nodes: u64,
    failure: Failure,
    label: &str,
    progress: &mut dyn Progress,
) -> Result<(Vec<FailoverSample>, u32), BenchError> {
    let name = failure.as_str();
    let mut samples = Vec::new();
    let mut discarded = 0;
    for trial in 0..plan.trials {
        progress.doing(format!(
            "{} n={nodes} {label}{name} #{}",
            P::NAME,
            trial + 1
        ));
        let dir = data_dir()?;
        let opts = cluster_options(plan, timing, nodes, u64::from(trial) + 1, &dir);
        match failover_trial::<P>(hosting, opts, failure).await {
            Ok(f) => samples.push(f),
            Err(e) => {
                discarded += 1;
                progress.note(format!(
                    "{} n={nodes} {label}{name} trial {} discarded: {e}",
                    P::NAME,
                    trial + 1
                ));
            }
        }
        progress.step_done();
    }
    Ok((samples, discarded))
}

pub(super) fn failover_measures(samples: &[FailoverSample], discarded: u32) -> r::Failover {
    let pick = |f: fn(&FailoverSample) -> Duration| {
        r::Measure::from_ms(samples.iter().map(|s| ms(f(s))).collect())
    };
    r::Failover {
        detection: pick(|s| s.phases.detection),
        election: pick(|s| s.phases.election),
        recovery: pick(|s| s.phases.recovery),
        first_commit: pick(|s| s.phases.first_commit),
        total: pick(|s| s.phases.total),
        unavailability: pick(|s| s.unavailability),
        extra_rounds: Some(r::Measure::from_counts(
            "rounds",
            samples.iter().map(|s| f64::from(s.extra_rounds)).collect(),
        )),
        trials_discarded: discarded,
    }
}

/// Mean messages per trial, by kind.
fn average_counts(trials: &[MessageCounts]) -> BTreeMap<String, f64> {
    let mut msgs = BTreeMap::new();
    let n = trials.len().max(1) as f64;
    for t in trials {
        for (kind, (m, _)) in &t.by_kind {
            *msgs.entry(kind.to_string()).or_insert(0.0) += *m as f64 / n;
        }
    }
    msgs
}
