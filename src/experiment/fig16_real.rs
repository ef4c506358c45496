//! Figure 16 of the Raft paper on real loopback clusters (`cwb experiment fig16
//! --where real`): five in-process nodes on real TCP sockets and WAL files, with the
//! network model (`--net`, `lan` by default) in the transport's fault filter, and the
//! same timers as the simulator's trials ([`super::fig16::timing`]).
//!
//! One trial follows [`super::fig16::trial_detail`] step by step, the simulator's
//! scripted faults played by the transport's fault filter and its message-kind rules:
//! 1. the voters' disk write: a vote answer (Raft `RequestVoteResponse`, ZAB
//!    `ACKEPOCH`, Paxos `Promise`) that its node's durability gate released behind a
//!    write leaves `disk_write` after the node sends it
//!    ([`runtime::transport::Faults::delay_kind_after_write`], the link kept first in,
//!    first out), as the simulator's `delay_kind_after_write` does; an answer that
//!    recorded nothing leaves at once;
//! 2. the five nodes start one heartbeat interval apart and elect a first leader (a
//!    trial with no settled leader within [`FIRST_LEADER_LIMIT`] counts as "no first
//!    leader", as in the simulator);
//! 3. the cluster idles for a random time between one and three maximum timeouts, then
//!    the trial waits until one leader is followed by every node in its term with its
//!    whole log;
//! 4. different log lengths: the leader gets three commands, its entry-carrying message
//!    (Raft `AppendEntries`, ZAB `PROPOSAL`, Paxos `Accept`) dropped to one more
//!    follower before each ([`runtime::transport::Faults::drop_kind`]), each command
//!    held by the followers still meant to get it before the next rule is installed:
//!    the followers hold 0, 1, 2 and 3 of them (the third is never committed, as in the
//!    simulator);
//! 5. the leader is killed (its sockets reset) at a time uniform within one heartbeat
//!    interval after its next heartbeat broadcast (seen by the fault filter,
//!    [`runtime::transport::Faults::watch_kind`]), as in the simulator: the paper
//!    "synchronized the old leader's heartbeat RPCs" before the crash, so every
//!    follower's timer starts from the same heartbeat, not from the last command it
//!    happened to receive;
//! 6. the downtime is the time from the kill to the next `LeaderElected` event of
//!    another node, on the harness clock; a trial with none within [`REAL_LIMIT`] is
//!    censored at it.

use super::fig16::{
    entry_kind, heartbeat_kind, read_after_crash, vote_answer_kind, Breakdown, Detail, Outcome,
};
use super::stats::Samples;
use anyhow::Context;
use bytes::Bytes;
use drivers::cluster::{ClusterOptions, LocalCluster};
use drivers::measure::Cluster;
use netmodel::NetModel;
use protocols::{DetRng, Event, NodeId, Protocol, Timing};
use std::time::{Duration, Instant};

/// How long a real trial waits for the new leader before it is censored: a real trial
/// runs in real time, so the simulator's 100 s would make the narrow ranges take hours.
pub const REAL_LIMIT: Duration = Duration::from_secs(10);

/// How long a real trial waits for its first leader, and then for a settled one.
const FIRST_LEADER_LIMIT: Duration = Duration::from_secs(10);

/// How long a trial waits for a command to reach the followers meant to hold it.
const COMMAND_LIMIT: Duration = Duration::from_secs(10);

/// How long a trial waits for the leader's next heartbeat broadcast.
const HEARTBEAT_LIMIT: Duration = Duration::from_secs(2);

/// How often the trial reads the nodes' status while it waits for a state.
const POLL: Duration = Duration::from_millis(1);

/// How long after the election a trial still collects the survivors' events: an event
/// is published once the write it waited behind is durable (a few fsyncs at most).
const EVENTS_SETTLE: Duration = Duration::from_millis(50);

/// One real trial's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct RealTrial {
    /// Where the downtime went, read off the survivors' events as the simulator's
    /// trials read theirs ([`super::fig16::read_after_crash`]).
    pub detail: Detail,
    /// Of the three commands, how many each follower held once they were sent (before
    /// the wait for a heartbeat), in the trial's order of followers (the n-th missed
    /// the commands from the n-th on). The breakdown reads the counts at the crash.
    pub held: Vec<u64>,
}

/// Runs one real trial of protocol `P`, the voters answering a request for votes
/// `disk_write` after sending their answer; `Ok(None)`: no settled leader to crash
/// (none within [`FIRST_LEADER_LIMIT`], or it sent no heartbeat within
/// [`HEARTBEAT_LIMIT`] after the commands: deposed before the crash).
pub async fn trial<P: Protocol>(
    timing: &Timing,
    net: &NetModel,
    disk_write: Duration,
    seed: u64,
) -> anyhow::Result<Option<RealTrial>> {
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let mut opts = ClusterOptions::new(5, dir.path().to_path_buf());
    opts.timing = timing.clone();
    opts.net = Some(net.clone());
    opts.seed = seed;
    opts.start_gap = timing.heartbeat;
    opts.kind_delays = vec![netmodel::KindDelay {
        kind: vote_answer_kind(P::NAME).to_string(),
        extra: disk_write,
        after_write: true,
    }];
    let mut cluster = LocalCluster::<P>::start(opts)
        .await
        .context("starting a 5-node cluster")?;
    let outcome = crash_and_time(&mut cluster, timing, seed).await;
    Cluster::shutdown(cluster).await;
    outcome
}

/// The leader every running node follows in its term with its whole log, if there is
/// one (the simulator's `settled_leader`), and that log's last index.
fn settled_leader<P: Protocol>(cluster: &LocalCluster<P>) -> Option<(NodeId, u64)> {
    let statuses: Vec<(NodeId, protocols::Status)> = cluster
        .running()
        .into_iter()
        .filter_map(|id| cluster.node(id)?.status().map(|s| (id, s.status)))
        .collect();
    if statuses.len() != cluster.running().len() {
        return None;
    }
    super::fig16::settled(&statuses)
}

fn last_index<P: Protocol>(cluster: &LocalCluster<P>, id: NodeId) -> u64 {
    cluster
        .node(id)
        .and_then(|h| h.status())
        .map_or(0, |s| s.status.last_index)
}

/// How long a follower's answer to a status question may take.
const STATUS_LIMIT: Duration = Duration::from_secs(1);

/// Asks each of `nodes` for its last log index through its client port (answered by
/// its loop, so current, unlike the published status [`last_index`] reads); each
/// answer comes with when it arrived.
fn ask_last_indexes<P: Protocol>(
    cluster: &LocalCluster<P>,
    nodes: &[NodeId],
) -> tokio::task::JoinSet<(NodeId, Option<(u64, Instant)>)> {
    let mut asked = tokio::task::JoinSet::new();
    for &id in nodes {
        let addr = cluster.client_addrs().get(&id).copied();
        let tls = cluster.client_tls();
        asked.spawn(async move {
            let Some(addr) = addr else {
                return (id, None);
            };
            let status = runtime::client::status_with(addr, tls.as_ref(), STATUS_LIMIT).await;
            (
                id,
                status.ok().map(|s| (s.status.last_index, Instant::now())),
            )
        });
    }
    asked
}

/// `published` (each node's entries past `base`, from its published status), with
/// every node that answered [`ask_last_indexes`] before `until` counted from its
/// answer.
async fn answers_past(
    mut asked: tokio::task::JoinSet<(NodeId, Option<(u64, Instant)>)>,
    published: Vec<(NodeId, u64)>,
    base: u64,
    until: Option<Instant>,
) -> Vec<(NodeId, u64)> {
    let mut answers = std::collections::BTreeMap::new();
    while let Some(answer) = asked.join_next().await {
        if let Ok((id, Some((last, at)))) = answer {
            if until.is_none_or(|until| at < until) {
                answers.insert(id, last.saturating_sub(base));
            }
        }
    }
    published
        .into_iter()
        .map(|(id, held)| (id, answers.get(&id).copied().unwrap_or(held)))
        .collect()
}

/// Polls until `done` holds or `limit` passes; whether it held.
async fn poll_until<P: Protocol>(
    cluster: &LocalCluster<P>,
    limit: Duration,
    done: impl Fn(&LocalCluster<P>) -> bool,
) -> bool {
    let until = Instant::now() + limit;
    loop {
        if done(cluster) {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn crash_and_time<P: Protocol>(
    cluster: &mut LocalCluster<P>,
    timing: &Timing,
    seed: u64,
) -> anyhow::Result<Option<RealTrial>> {
    let started = Instant::now();
    if cluster
        .wait_ready(0, None, 0, FIRST_LEADER_LIMIT)
        .await
        .is_none()
    {
        return Ok(None);
    }
    let mut rng = DetRng::for_node(seed, 0xF16);
    let idle = rng.duration_between(timing.election_timeout_max, timing.election_timeout_max * 3);
    tokio::time::sleep(idle).await;
    // Crash "the leader" of a working cluster: one that every node follows.
    let settle_left = FIRST_LEADER_LIMIT.saturating_sub(started.elapsed());
    if !poll_until(cluster, settle_left, |c| settled_leader(c).is_some()).await {
        return Ok(None);
    }
    let Some((leader, base)) = settled_leader(cluster) else {
        return Ok(None);
    };
    // Different log lengths: one more follower misses each of three commands.
    let mut followers: Vec<NodeId> = cluster.ids().into_iter().filter(|&n| n != leader).collect();
    for i in (1..followers.len()).rev() {
        let j = rng.range_inclusive(0, i as u64) as usize;
        followers.swap(i, j);
    }
    let kind = entry_kind(P::NAME);
    // The clients' writes: a JoinSet aborts whatever is still running when it is
    // dropped, on every way out of the trial.
    let mut writes = tokio::task::JoinSet::new();
    for (i, &f) in followers.iter().take(3).enumerate() {
        cluster.faults().drop_kind(leader, f, kind);
        // The write is not awaited: the third is held by too few nodes to commit.
        let mut client = cluster.client();
        client.deadline = Duration::from_secs(2);
        writes.spawn(async move {
            let _ = client
                .put(Bytes::from(format!("k{i}")), Bytes::from_static(b"v"))
                .await;
        });
        let target = base.saturating_add(i as u64 + 1);
        // Wait until the followers still meant to get this command hold it: a rule
        // installed while the command is on its way would cut it off too.
        let holders: Vec<NodeId> = followers[i + 1..].to_vec();
        let arrived = poll_until(cluster, COMMAND_LIMIT, |c| {
            last_index(c, leader) >= target && holders.iter().all(|&h| last_index(c, h) >= target)
        })
        .await;
        if !arrived {
            anyhow::bail!(
                "seed {seed}: command {} did not reach followers {holders:?} within {COMMAND_LIMIT:?}",
                i + 1
            );
        }
    }
    let held = |cluster: &LocalCluster<P>| -> Vec<(NodeId, u64)> {
        followers
            .iter()
            .map(|&f| (f, last_index(cluster, f).saturating_sub(base)))
            .collect()
    };
    let after_commands = held(cluster);
    // The crash: uniform within one heartbeat interval after the leader's next
    // heartbeat broadcast (its sends to every follower leave in one step, microseconds
    // apart; the watch reports the latest it saw when the trial wakes).
    let mut beats = cluster.faults().watch_kind(leader, heartbeat_kind(P::NAME));
    let beat = beats.next(HEARTBEAT_LIMIT).await;
    drop(beats);
    let Some(beat) = beat else {
        // Deposed since it settled (a follower's campaign reached it): no leader of a
        // working cluster to crash.
        return Ok(None);
    };
    let crash_after = rng.duration_between(Duration::ZERO, timing.heartbeat);
    tokio::time::sleep_until((beat + crash_after).into()).await;
    let cursor = cluster.bus().len();
    // Each follower's log at the crash, asked of the node itself as the leader is
    // killed: the published status `held` reads can be a few milliseconds old, and a
    // ZAB follower that missed a PROPOSAL goes back to LOOKING at the next COMMIT and is
    // synchronized with the whole history shortly before the crash. An answer counts
    // only if it came before a survivor was elected (no new leader had changed the log
    // it reports); a node that did not answer by then counts as it was published just
    // before the kill.
    let published = held(cluster);
    let asked = ask_last_indexes(cluster, &followers);
    let crashed_at = Cluster::kill(cluster, leader)
        .await
        .context("killing the leader")?;
    writes.abort_all();
    let elected = cluster
        .bus()
        .wait_for(cursor, REAL_LIMIT, |s| {
            s.node != leader && matches!(s.event, Event::LeaderElected { .. })
        })
        .await;
    let held_at_crash = answers_past(asked, published, base, elected.as_ref().map(|s| s.at)).await;
    // A node publishes an event once the write it waited behind is durable, stamped
    // when the protocol produced it: give the survivors' campaigns that came before the
    // election time to arrive, then put the events in time order.
    tokio::time::sleep(EVENTS_SETTLE).await;
    let mut after = cluster.bus().since(cursor);
    after.sort_by_key(|s| s.at);
    let mut detail = read_after_crash(
        after
            .iter()
            .map(|s| (s.at.saturating_duration_since(crashed_at), s.node, &s.event)),
        leader,
        &held_at_crash,
    );
    detail.crash_after = Some(crashed_at.saturating_duration_since(beat));
    if elected.is_none() {
        // Censored by the wait, whatever was published after it gave up.
        detail.outcome = Outcome::Censored;
    }
    Ok(Some(RealTrial {
        detail,
        held: after_commands.iter().map(|h| h.1).collect(),
    }))
}

/// `trials` real trials of one setting (seeds `1..=trials`); `done` is called after
/// each.
pub async fn setting<P: Protocol>(
    timing: &Timing,
    net: &NetModel,
    disk_write: Duration,
    trials: u32,
    done: &mut (dyn FnMut() + Send),
) -> anyhow::Result<(Samples, Breakdown)> {
    let mut values = Vec::new();
    let mut censored = 0;
    let mut no_first_leader = 0;
    let mut breakdown = Breakdown::default();
    for seed in 1..=u64::from(trials) {
        match trial::<P>(timing, net, disk_write, seed).await? {
            Some(t) => {
                breakdown.add(&t.detail);
                match t.detail.outcome {
                    Outcome::Elected(d) => values.push(d.as_secs_f64() * 1000.0),
                    Outcome::Censored => {
                        censored += 1;
                        values.push(REAL_LIMIT.as_secs_f64() * 1000.0);
                    }
                }
            }
            None => no_first_leader += 1,
        }
        done();
    }
    let mut samples = Samples::new(values, censored);
    samples.no_first_leader = no_first_leader;
    samples.limit_s = REAL_LIMIT.as_secs_f64();
    Ok((samples, breakdown.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocols::raft::Raft;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_real_raft_trial_replaces_the_crashed_leader() {
        let net = netmodel::profiles::named("lan").expect("profile");
        let timing = super::super::fig16::timing((150, 300), Duration::from_millis(200));
        let disk_write = Duration::from_micros(14_850);
        let t = trial::<Raft>(&timing, &net, disk_write, 1)
            .await
            .expect("runs")
            .expect("a settled first leader");
        // The kind rules made the logs differ as in the simulator: the followers hold
        // 0, 1, 2 and 3 of the commands, so only the two longest can win.
        assert_eq!(t.held, vec![0, 1, 2, 3]);
        let Outcome::Elected(d) = t.detail.outcome else {
            panic!("no new leader within {REAL_LIMIT:?}: {t:?}");
        };
        assert!(
            matches!(t.detail.winner_entries, Some(2) | Some(3)),
            "the winner held {:?} of the commands",
            t.detail.winner_entries
        );
        // The crash was timed from a heartbeat broadcast the fault filter saw leave, a
        // drawn part of one interval before it (plus the sleep's lateness; the bound
        // only catches a crash timed from something else, seconds earlier).
        let after = t.detail.crash_after.expect("timed from a heartbeat");
        assert!(after < timing.election_timeout_max * 3, "{:?}", t.detail);
        // The breakdown is read off the survivors' events: a campaign came first, at
        // least one round was fought, and the winning one ended at the election.
        let first = t.detail.first_campaign.expect("a survivor campaigned");
        let winning = t.detail.winning_campaign.expect("the winner campaigned");
        assert!(first <= winning && winning <= d, "{:?}", t.detail);
        assert!(t.detail.rounds >= 1);
        // No survivor can detect the crash before its minimum timeout less one
        // heartbeat interval has passed since the leader's last heartbeat.
        assert!(d >= Duration::from_millis(75), "{d:?}");
    }

    /// A ZAB follower that missed a PROPOSAL goes back to LOOKING at the COMMIT of it and
    /// is synchronized with the leader's whole history; with 12-24 ms timers that
    /// happens a few milliseconds before the crash, so the winner's log read from the
    /// published status at the crash could still look empty. Read from the node itself,
    /// FastLeaderElection's winner holds at least the two committed commands.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_real_zab_winner_holds_every_committed_command_at_the_crash() {
        let net = netmodel::profiles::named("lan").expect("profile");
        let timing = super::super::fig16::timing((12, 24), Duration::from_millis(200));
        let disk_write = Duration::from_micros(14_850);
        let mut crashed = 0;
        for seed in 1..=4 {
            let Some(t) = trial::<protocols::zab::Zab>(&timing, &net, disk_write, seed)
                .await
                .expect("runs")
            else {
                continue; // no settled first leader: nothing was crashed
            };
            crashed += 1;
            assert!(
                matches!(t.detail.outcome, Outcome::Elected(_)),
                "seed {seed}: no new leader within {REAL_LIMIT:?}"
            );
            assert!(
                t.detail.winner_entries.is_some_and(|n| n >= 2),
                "seed {seed}: the winner held {:?} of the commands at the crash",
                t.detail.winner_entries
            );
        }
        assert!(
            crashed >= 2,
            "only {crashed} of 4 trials had a leader to crash"
        );
    }
}
