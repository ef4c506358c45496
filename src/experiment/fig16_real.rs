//! Figure 16 of the Raft paper on real loopback clusters (`cwb experiment fig16
//! --where real`): five in-process nodes on real TCP sockets and WAL files, with the
//! network model (`raft-fig16` by default) in the transport's fault filter, and the
//! same timers as the simulator's trials ([`super::fig16::timing`]).
//!
//! One trial, as in [`super::fig16::trial_detail`] except where a real cluster cannot follow:
//! 1. the five nodes start together and elect a first leader (a range so narrow that
//!    no first leader settles within [`FIRST_LEADER_LIMIT`] counts as "no first
//!    leader", as in the simulator);
//! 2. the cluster idles for a random time between one and three maximum timeouts;
//! 3. the leader writes three commands, which reach every follower: the transport's
//!    fault filter cuts whole links, not one message kind, so the simulator's
//!    "different log lengths" (AppendEntries dropped while heartbeats pass) cannot be
//!    scripted here, and every follower can win;
//! 4. the leader is killed (its sockets reset) at a time uniform within one heartbeat
//!    interval after that;
//! 5. the downtime is the time from the kill to the next `LeaderElected` event of
//!    another node, on the harness clock; a trial with none within [`REAL_LIMIT`] is
//!    censored at it.

use super::fig16::Outcome;
use super::stats::Samples;
use anyhow::Context;
use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use drivers::measure::Cluster;
use netmodel::NetModel;
use protocols::{DetRng, Event, Protocol, Timing};
use std::time::Duration;

/// How long a real trial waits for the new leader before it is censored: a real trial
/// runs in real time, so the simulator's 100 s would make the narrow ranges take hours.
pub const REAL_LIMIT: Duration = Duration::from_secs(10);

/// How long a real trial waits for its first leader.
const FIRST_LEADER_LIMIT: Duration = Duration::from_secs(10);

/// Runs one real trial of protocol `P`; `Ok(None)`: no first leader.
pub async fn trial<P: Protocol>(
    timing: &Timing,
    net: &NetModel,
    seed: u64,
) -> anyhow::Result<Option<Outcome>> {
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let mut opts = ClusterOptions::new(5, dir.path().to_path_buf());
    opts.timing = timing.clone();
    opts.net = Some(net.clone());
    opts.seed = seed;
    let mut cluster = LocalCluster::<P>::start(opts)
        .await
        .context("starting a 5-node cluster")?;
    let outcome = crash_and_time(&mut cluster, timing, seed).await;
    Cluster::shutdown(cluster).await;
    outcome
}

async fn crash_and_time<P: Protocol>(
    cluster: &mut LocalCluster<P>,
    timing: &Timing,
    seed: u64,
) -> anyhow::Result<Option<Outcome>> {
    let Some(first) = cluster.wait_ready(0, None, 0, FIRST_LEADER_LIMIT).await else {
        return Ok(None);
    };
    let mut rng = DetRng::for_node(seed, 0xF16);
    let idle = rng.duration_between(timing.election_timeout_max, timing.election_timeout_max * 3);
    tokio::time::sleep(idle).await;
    // The leader now: leadership may have moved during the idle time.
    let leader = cluster.leader().map_or(first.node, |(id, _)| id);
    let mut client = cluster.client();
    client.deadline = Duration::from_secs(2);
    for i in 0..3 {
        // A write that fails (leadership moving) still leaves a leader to crash.
        let _ = client
            .put(Bytes::from(format!("k{i}")), Bytes::from_static(b"v"))
            .await;
    }
    let leader = cluster.leader().map_or(leader, |(id, _)| id);
    tokio::time::sleep(rng.duration_between(Duration::ZERO, timing.heartbeat)).await;
    let cursor = cluster.bus().len();
    let crashed_at = Cluster::kill(cluster, leader)
        .await
        .context("killing the leader")?;
    let elected = cluster
        .bus()
        .wait_for(cursor, REAL_LIMIT, |s| {
            s.node != leader && matches!(s.event, Event::LeaderElected { .. })
        })
        .await;
    Ok(Some(match elected {
        Some(s) => Outcome::Elected(s.at.saturating_duration_since(crashed_at)),
        None => Outcome::Censored,
    }))
}

/// `trials` real trials of one setting (seeds `1..=trials`); `done` is called after
/// each.
pub async fn setting<P: Protocol>(
    timing: &Timing,
    net: &NetModel,
    trials: u32,
    done: &mut dyn FnMut(),
) -> anyhow::Result<Samples> {
    let mut values = Vec::new();
    let mut censored = 0;
    let mut no_first_leader = 0;
    for seed in 1..=u64::from(trials) {
        match trial::<P>(timing, net, seed).await? {
            Some(Outcome::Elected(d)) => values.push(d.as_secs_f64() * 1000.0),
            Some(Outcome::Censored) => {
                censored += 1;
                values.push(REAL_LIMIT.as_secs_f64() * 1000.0);
            }
            None => no_first_leader += 1,
        }
        done();
    }
    let mut samples = Samples::new(values, censored);
    samples.no_first_leader = no_first_leader;
    samples.limit_s = REAL_LIMIT.as_secs_f64();
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::raft::Raft;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_real_raft_trial_replaces_the_crashed_leader() {
        let net = netmodel::profiles::named("raft-fig16").expect("profile");
        let timing = super::super::fig16::timing((150, 300), Duration::from_millis(200));
        let outcome = trial::<Raft>(&timing, &net, 1).await.expect("runs");
        let Some(Outcome::Elected(d)) = outcome else {
            panic!("no new leader within {REAL_LIMIT:?}: {outcome:?}");
        };
        // No survivor can detect the crash before its minimum timeout less one
        // heartbeat interval has passed since the leader's last heartbeat.
        assert!(d >= Duration::from_millis(75), "{d:?}");
    }
}
