//! The measurements the CLI and the benches share: cold-start election and failover
//! after a kill or an isolation, each on a fresh in-process loopback cluster.
//!
//! Every trial verifies that its fault took effect before it counts: a killed leader's
//! client port must refuse connections; an isolated leader must not commit anything
//! while isolated (beyond the few acknowledgements already queued inside it when the
//! filter went up).

use crate::client::Client;
use crate::cluster::{ClusterError, ClusterOptions, LocalCluster};
use crate::metrics::{election_after, failover_phases, Election, FailoverPhases};
use crate::runtime::MessageCounts;
use bytes::Bytes;
use protocols::{Event, NodeId, Protocol};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a trial produced no sample.
#[derive(Debug, Error)]
pub enum MeasureError {
    /// The cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Nothing happened in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    /// The fault did not take effect; the trial is discarded.
    #[error("fault not verified: {0}")]
    FaultNotVerified(String),
}

/// How the leader fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The process dies; peers see connections reset.
    Kill,
    /// Silent: every packet to and from it is dropped, sockets stay up.
    Isolate,
}

impl Failure {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Kill => "kill",
            Failure::Isolate => "isolate",
        }
    }
}

/// One cold-start election.
#[derive(Clone, Debug)]
pub struct ElectionSample {
    /// Timings.
    pub election: Election,
    /// Messages sent by all nodes from start until the leader was ready.
    pub messages: MessageCounts,
    /// Extra election rounds before the winner was ready: Raft terms with a split vote,
    /// Paxos ballots pre-empted in a duel (distinct campaign terms minus one). ZAB's
    /// FastLeaderElection converges within its round, so it shows 0 unless a round is
    /// restarted.
    pub extra_rounds: u32,
}

/// Starts a cluster, waits for its first ready leader, stops it.
pub async fn cold_election<P: Protocol>(
    opts: ClusterOptions,
    timeout: Duration,
) -> Result<ElectionSample, MeasureError> {
    let cluster = LocalCluster::<P>::start(opts).await?;
    let ready = cluster.wait_ready(0, None, 0, timeout).await;
    let result = match ready {
        Some(_) => {
            let events = cluster.bus().snapshot();
            let election = election_after(&events, cluster.started(), None, 0)
                .ok_or(MeasureError::Timeout(timeout, "a leader"))?;
            let ready_at = cluster.started() + election.ready;
            // Distinct terms (ballots) in which someone campaigned before the winner was
            // ready: one means a clean election, more mean split votes or duels.
            let mut terms: Vec<u64> = events
                .iter()
                .filter(|s| s.at <= ready_at)
                .filter_map(|s| match s.event {
                    Event::RoleChanged {
                        role: protocols::Role::Candidate,
                        term,
                    } => Some(term),
                    _ => None,
                })
                .collect();
            terms.sort_unstable();
            terms.dedup();
            let extra_rounds = (terms.len() as u32).saturating_sub(1);
            Ok(ElectionSample {
                election,
                messages: cluster.message_counts(),
                extra_rounds,
            })
        }
        None => Err(MeasureError::Timeout(timeout, "a leader")),
    };
    cluster.shutdown().await;
    result
}

/// One failover.
#[derive(Clone, Debug)]
pub struct FailoverSample {
    /// Kill or isolate.
    pub failure: Failure,
    /// The failed leader.
    pub old_leader: NodeId,
    /// Its successor.
    pub new_leader: NodeId,
    /// Detection, election, recovery, first commit, total.
    pub phases: FailoverPhases,
    /// Client-observed window without a commit: last acknowledged write before the
    /// failure -> first acknowledged write after it.
    pub unavailability: Duration,
}

/// One acknowledged write: when it was acknowledged and by which node.
type Ack = (Instant, NodeId);

/// Starts a cluster, keeps one client writing, fails the leader, and measures until
/// the new leader acknowledges a write.
pub async fn failover<P: Protocol>(
    opts: ClusterOptions,
    failure: Failure,
    timeout: Duration,
) -> Result<FailoverSample, MeasureError> {
    let mut cluster = LocalCluster::<P>::start(opts).await?;
    let result = failover_on(&mut cluster, failure, timeout).await;
    cluster.shutdown().await;
    result
}

async fn failover_on<P: Protocol>(
    cluster: &mut LocalCluster<P>,
    failure: Failure,
    timeout: Duration,
) -> Result<FailoverSample, MeasureError> {
    cluster
        .wait_ready(0, None, 0, timeout)
        .await
        .ok_or(MeasureError::Timeout(timeout, "a first leader"))?;
    // One closed-loop writer; a short per-try timeout so it moves on from a silent
    // leader quickly (it bounds how precisely the client sees the new leader).
    let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let mut client = cluster.client();
    client.try_timeout = Duration::from_millis(20);
    client.deadline = timeout;
    let writer = tokio::spawn(write_forever(client, acks.clone()));
    // Steady state: some writes acknowledged by the old leader first.
    let steady = tokio::time::timeout(timeout, async {
        while acks.lock().map(|a| a.len()).unwrap_or(0) < 10 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    if steady.is_err() {
        writer.abort();
        return Err(MeasureError::Timeout(timeout, "steady writes"));
    }
    // The leader to fail is the latest one to become ready (leadership may have changed
    // since the first election). Clients may talk to followers (ZAB forwards writes),
    // so which node acknowledged a write does not say who leads.
    let (old, old_term) = cluster
        .bus()
        .snapshot()
        .iter()
        .filter_map(|s| match s.event {
            Event::LeaderReady { term } => Some((s.node, term)),
            _ => None,
        })
        .max_by_key(|&(_, term)| term)
        .ok_or(MeasureError::Timeout(timeout, "the leader's ready event"))?;
    let old_addr = cluster.client_addrs()[&old];
    let cursor = cluster.bus().len();
    let commit_before = live_commit(old_addr).await;
    let t0 = match failure {
        Failure::Kill => cluster.kill(old).await?,
        Failure::Isolate => cluster.isolate(old),
    };
    let new = cluster
        .wait_ready(cursor, Some(old), old_term, timeout)
        .await;
    let Some(new) = new else {
        writer.abort();
        return Err(MeasureError::Timeout(timeout, "a new leader"));
    };
    let new_leader = new.node;
    // The first write acknowledged once the new leader is ready: only it can commit now
    // (the old one is dead or cut off from every quorum).
    let deadline = Instant::now() + timeout;
    let first_write = loop {
        let found = acks
            .lock()
            .ok()
            .and_then(|a| a.iter().find(|(at, _)| *at >= new.at).copied());
        if let Some(ack) = found {
            break ack.0;
        }
        if Instant::now() > deadline {
            writer.abort();
            return Err(MeasureError::Timeout(
                timeout,
                "a write committed by the new leader",
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    writer.abort();
    // Verify the fault took effect.
    match failure {
        Failure::Kill => {
            let addr = cluster.client_addrs()[&old];
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Err(MeasureError::FaultNotVerified(format!(
                    "killed node {old} still accepts clients"
                )));
            }
        }
        Failure::Isolate => {
            let commit_after = live_commit(old_addr).await;
            if commit_after > commit_before + 8 {
                return Err(MeasureError::FaultNotVerified(format!(
                    "isolated node {old} kept committing ({commit_before} -> {commit_after})"
                )));
            }
            cluster.heal();
        }
    }
    let events = cluster.bus().snapshot();
    let phases = failover_phases(&events, t0, old, old_term, first_write)
        .ok_or(MeasureError::Timeout(timeout, "the failover's events"))?;
    let last_before = acks
        .lock()
        .ok()
        .and_then(|a| {
            a.iter()
                .filter(|(at, _)| *at <= t0)
                .map(|(at, _)| *at)
                .max()
        })
        .unwrap_or(t0);
    Ok(FailoverSample {
        failure,
        old_leader: old,
        new_leader,
        phases,
        unavailability: first_write.saturating_duration_since(last_before),
    })
}

/// A node's commit index, asked through its client port (never stale). The client
/// port is not subject to the fault filter, so an isolated node still answers.
async fn live_commit(addr: std::net::SocketAddr) -> u64 {
    crate::client::status(addr, Duration::from_secs(2))
        .await
        .map_or(0, |s| s.status.commit_index)
}

async fn write_forever(mut client: Client, acks: Arc<Mutex<Vec<Ack>>>) {
    let value = Bytes::from(vec![b'v'; 256]);
    let mut n: u64 = 0;
    loop {
        n += 1;
        let key = Bytes::from(format!("{:08}", n % 1000));
        if client.put(key, value.clone()).await.is_ok() {
            if let (Some(via), Ok(mut a)) = (client.leader_guess(), acks.lock()) {
                a.push((Instant::now(), via));
            }
        }
    }
}

/// One throughput point.
#[derive(Clone, Debug)]
pub struct ThroughputSample {
    /// The closed-loop run.
    pub result: crate::workload::WorkloadResult,
    /// Messages and WAL traffic during the counted period (all nodes).
    pub messages: MessageCounts,
}

/// Starts a cluster, waits for a ready leader, runs the closed-loop workload.
pub async fn throughput<P: Protocol>(
    opts: ClusterOptions,
    workload: &crate::workload::Workload,
    timeout: Duration,
) -> Result<ThroughputSample, MeasureError> {
    let cluster = LocalCluster::<P>::start(opts).await?;
    if cluster.wait_ready(0, None, 0, timeout).await.is_none() {
        cluster.shutdown().await;
        return Err(MeasureError::Timeout(timeout, "a leader"));
    }
    let warm = crate::workload::Workload {
        duration: Duration::ZERO,
        ..workload.clone()
    };
    let _ = crate::workload::run(cluster.client_addrs(), &warm).await;
    let before = cluster.message_counts();
    let counted = crate::workload::Workload {
        warmup: Duration::ZERO,
        ..workload.clone()
    };
    let result = crate::workload::run(cluster.client_addrs(), &counted).await;
    tokio::time::sleep(Duration::from_millis(10)).await; // let counters publish
    let messages = cluster.message_counts().minus(&before);
    cluster.shutdown().await;
    Ok(ThroughputSample { result, messages })
}
