//! The matrix's failovers under load ([`crate::loaded`]): Redis Cluster's kill and
//! isolate failovers (decomposed into the shared phases and into its specification's
//! steps) and every protocol's acknowledged writes lost per failover, with the
//! linearizability checker's verdict (Redis Cluster once per WAIT-like setting).

use super::trials::{cluster_options, failover_measures, TRIAL_TIMEOUT};
use super::{data_dir, ms, BenchError, Plan, Progress};
use crate::loaded::{LoadedSample, REDIS_STEPS};
use crate::measure::Failure;
use protocols::Protocol;
use reports::results as r;
use std::collections::BTreeMap;

/// Trials already run, by fault and WAIT-like setting (`None`: a consensus protocol),
/// with how many were discarded: Redis Cluster's asynchronous kill and isolate
/// failovers serve both its failover measures and its lost writes.
pub(super) type Samples = BTreeMap<(&'static str, Option<u32>), (Vec<LoadedSample>, u32)>;

/// `plan.trials` failovers under load of `failure` with `wait` (Redis Cluster's
/// WAIT-like setting), each on a fresh in-process cluster of `nodes` nodes; reuses
/// trials `done` already holds.
async fn trials<P: Protocol>(
    plan: &Plan,
    nodes: u64,
    failure: Failure,
    wait: Option<u32>,
    done: &mut Samples,
    progress: &mut dyn Progress,
) -> Result<(), BenchError> {
    let key = (failure.as_str(), wait);
    if done.contains_key(&key) {
        for _ in 0..plan.trials {
            progress.step_done();
        }
        return Ok(());
    }
    let label = match wait {
        Some(0) => " async".to_string(),
        Some(n) => format!(" WAIT {n}"),
        None => String::new(),
    };
    let name = failure.as_str();
    let (mut samples, mut discarded) = (Vec::new(), 0);
    for trial in 0..plan.trials {
        progress.doing(format!(
            "{} n={nodes} {name} under load{label} #{}",
            P::NAME,
            trial + 1
        ));
        let dir = data_dir()?;
        let mut opts = cluster_options(plan, &plan.timing, nodes, u64::from(trial) + 1, &dir);
        opts.wait_replicas = wait.unwrap_or(0) as usize;
        match crate::cluster::failover_under_load::<P>(opts, failure, TRIAL_TIMEOUT).await {
            Ok(s) => samples.push(s),
            Err(e) => {
                discarded += 1;
                progress.note(format!(
                    "{} n={nodes} {name} under load{label} trial {} discarded: {e}",
                    P::NAME,
                    trial + 1
                ));
            }
        }
        progress.step_done();
    }
    done.insert(key, (samples, discarded));
    Ok(())
}

/// Redis Cluster's failover after `failure`, asynchronous replication: the shared
/// decomposition and its specification's steps.
pub(super) async fn redis_failover<P: Protocol>(
    plan: &Plan,
    nodes: u64,
    failure: Failure,
    done: &mut Samples,
    progress: &mut dyn Progress,
) -> Result<(r::Failover, r::FailoverSteps), BenchError> {
    trials::<P>(plan, nodes, failure, Some(0), done, progress).await?;
    let (samples, discarded) = done
        .get(&(failure.as_str(), Some(0)))
        .map_or((&[][..], 0), |(s, d)| (&s[..], *d));
    let failovers: Vec<_> = samples.iter().map(|s| s.failover.clone()).collect();
    let steps = REDIS_STEPS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let per_trial = samples
                .iter()
                .filter_map(|s| s.steps.get(i).map(|(_, d)| ms(*d)))
                .collect();
            (name.to_string(), r::Measure::from_ms(per_trial))
        })
        .collect();
    Ok((
        failover_measures(&failovers, discarded),
        r::FailoverSteps {
            failure: failure.as_str().to_string(),
            steps,
        },
    ))
}

/// Acknowledged writes lost per kill and per isolation under load: once for a
/// consensus protocol, once per `plan.wait_replicas` setting for Redis Cluster.
pub(super) async fn lost_writes<P: Protocol>(
    plan: &Plan,
    nodes: u64,
    done: &mut Samples,
    progress: &mut dyn Progress,
) -> Result<Vec<r::LostWrites>, BenchError> {
    let settings: Vec<Option<u32>> = if crate::loaded::is_redis::<P>() {
        let mut w = plan.wait_replicas.clone();
        if w.is_empty() {
            w.push(0);
        }
        w.into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    let mut rows = Vec::new();
    for wait in settings {
        for failure in [Failure::Kill, Failure::Isolate] {
            trials::<P>(plan, nodes, failure, wait, done, progress).await?;
            if let Some((samples, discarded)) = done.get(&(failure.as_str(), wait)) {
                rows.push(lost_row(failure, wait, samples, *discarded));
            }
        }
    }
    Ok(rows)
}

fn lost_row(
    failure: Failure,
    wait: Option<u32>,
    samples: &[LoadedSample],
    discarded: u32,
) -> r::LostWrites {
    let count = |f: fn(&LoadedSample) -> u64| {
        r::Measure::from_counts("writes", samples.iter().map(|s| f(s) as f64).collect())
    };
    let verdicts = |v: Option<bool>| samples.iter().filter(|s| s.linearizable == v).count() as u32;
    r::LostWrites {
        failure: failure.as_str().to_string(),
        wait_replicas: wait,
        acknowledged: count(|s| s.acknowledged),
        lost: count(|s| s.lost),
        failover: r::Measure::from_ms(samples.iter().map(|s| ms(s.first_write)).collect()),
        linearizable: verdicts(Some(true)),
        not_linearizable: verdicts(Some(false)),
        undecided: verdicts(None),
        trials_discarded: discarded,
    }
}
