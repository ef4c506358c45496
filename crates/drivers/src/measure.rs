//! The measurements the CLI and the benches share: cold-start election, failover after
//! a kill or an isolation, and closed-loop throughput, each on a fresh loopback cluster.
//!
//! The measures run on any [`Cluster`]: an in-process [`LocalCluster`] (docs/DESIGN.md,
//! cluster mode 1) or a [`ProcessCluster`](crate::process_cluster::ProcessCluster) of
//! `cwb node` processes (mode 2). They read only harness-stamped events from the
//! cluster's [`EventBus`] and client acknowledgements, so both hostings are measured
//! by the same code. `cold_election`, `failover` and `throughput` start and stop an
//! in-process cluster; the `*_on` variants take a cluster already started.
//!
//! Every trial verifies that its fault took effect before it counts: a killed leader's
//! client port must refuse connections; an isolated leader must not commit anything
//! while isolated (beyond the few acknowledgements already queued inside it when the
//! filter went up).

use crate::metrics::{election_after, failover_phases, Election, FailoverPhases};
use bytes::Bytes;
use protocols::{Event, NodeId, Role};
use runtime::client::Client;
use runtime::events::{EventBus, Latencies, Stamped};
use runtime::host::MessageCounts;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a trial produced no sample.
#[derive(Debug, Error)]
pub enum MeasureError {
    /// The cluster failed (an in-process node, or a node process: spawn, fault
    /// command); each kind of cluster converts its own error.
    #[error(transparent)]
    Cluster(Box<dyn std::error::Error + Send + Sync>),
    /// Nothing happened in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    /// The fault did not take effect; the trial is discarded.
    #[error("fault not verified: {0}")]
    FaultNotVerified(String),
}

/// What the measures need from a running cluster, however its nodes are hosted.
/// Starting one is particular to each kind ([`LocalCluster::start`](crate::cluster::LocalCluster::start),
/// [`ProcessCluster::start`](crate::process_cluster::ProcessCluster::start)).
pub trait Cluster {
    /// Why an operation on the cluster failed.
    type Error: Into<MeasureError>;

    /// The instant just before the nodes were started: a cold start's trigger.
    fn started(&self) -> Instant;

    /// Every node's events, stamped on the harness clock.
    fn bus(&self) -> &EventBus;

    /// Every node's client address.
    fn client_addrs(&self) -> &BTreeMap<NodeId, SocketAddr>;

    /// TLS to the client ports, if the cluster runs with it.
    fn client_tls(&self) -> Option<runtime::tls::ClientTls> {
        None
    }

    /// A leader-finding client of this cluster.
    fn client(&self) -> Client {
        Client::new(self.client_addrs().clone()).with_tls(self.client_tls())
    }

    /// Waits for a leader to become ready after event position `cursor`, other than
    /// `except`, in a term above `after_term`.
    fn wait_ready(
        &self,
        cursor: usize,
        except: Option<NodeId>,
        after_term: u64,
        timeout: Duration,
    ) -> impl Future<Output = Option<Stamped>> + Send {
        let bus = self.bus().clone();
        async move {
            bus.wait_for(cursor, timeout, |s| {
                Some(s.node) != except
                    && matches!(s.event, Event::LeaderReady { term } if term > after_term)
            })
            .await
        }
    }

    /// The largest mean one-way delay the cluster's network model puts between two
    /// of its nodes (zero on plain loopback): a client must wait at least a few of
    /// these for an answer before it gives a node up.
    fn slowest_one_way(&self) -> Duration {
        Duration::ZERO
    }

    /// Crashes node `id` (its peers see connections reset) and resolves once it is
    /// gone, to the instant the kill was issued.
    fn kill(&mut self, id: NodeId) -> impl Future<Output = Result<Instant, Self::Error>> + Send;

    /// Checks, once a failover is over, that the node [`Self::kill`] crashed is
    /// down: by default its client port at `addr` refuses connections. A cluster whose
    /// nodes are restarted by a supervisor of their own checks what it saw instead.
    fn verify_killed(
        &self,
        id: NodeId,
        addr: SocketAddr,
    ) -> impl Future<Output = Result<(), String>> + Send {
        async move {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => Err(format!("killed node {id} still accepts clients")),
                Err(_) => Ok(()),
            }
        }
    }

    /// Restarts a killed node on its old ports, from its data directory.
    fn restart(&mut self, id: NodeId) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Silently cuts node `id` off: everything to and from it is dropped, its sockets
    /// stay up. Returns the instant the fault was issued.
    fn isolate(&mut self, id: NodeId) -> impl Future<Output = Result<Instant, Self::Error>> + Send;

    /// Removes every injected fault.
    fn heal(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Asks the leader `leader` to hand its leadership to `to` (a planned failover,
    /// `protocols::Input::TransferLeadership`), proved with the cluster's secret on its
    /// client port. Returns the instant the request was issued.
    fn transfer(
        &mut self,
        leader: NodeId,
        to: NodeId,
    ) -> impl Future<Output = Result<Instant, Self::Error>> + Send;

    /// Messages and WAL traffic summed over running nodes since they started. Empty
    /// when the cluster cannot count them (a process cluster: the counters live in
    /// the node processes).
    fn message_counts(&self) -> MessageCounts;

    /// [`Self::message_counts`], and whether they are complete: every node has shared
    /// all it has sent until now.
    fn message_counts_if_complete(&self) -> (MessageCounts, bool) {
        (self.message_counts(), true)
    }

    /// CPU time used so far by node processes other than this one: zero for an
    /// in-process cluster, whose nodes' CPU is this process's
    /// ([`crate::cpu::this_process`]); `None` if it cannot be read.
    fn node_process_cpu(&self) -> Option<crate::cpu::CpuTime> {
        Some(crate::cpu::CpuTime::default())
    }

    /// Stops every node.
    fn shutdown(self) -> impl Future<Output = ()> + Send;
}

/// How the leader fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The process dies; peers see connections reset.
    Kill,
    /// Silent: every packet to and from it is dropped, sockets stay up.
    Isolate,
    /// Planned: the leader is asked to hand its leadership to another node (Raft's
    /// leadership transfer, ZAB's hand-over, Paxos's takeover); nothing fails.
    Transfer,
}

impl Failure {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Kill => "kill",
            Failure::Isolate => "isolate",
            Failure::Transfer => "transfer",
        }
    }
}

/// One cold-start election.
#[derive(Clone, Debug)]
pub struct ElectionSample {
    /// Timings.
    pub election: Election,
    /// Messages sent by all nodes from start until the leader was ready, with the
    /// election's answers still in flight then (counted [`COUNTS_SETTLE`]
    /// after it).
    pub messages: MessageCounts,
    /// Extra election rounds before the winner was ready (see [`extra_rounds`]).
    pub extra_rounds: u32,
    /// How late the nodes' timers fired in the trial (empty for node processes,
    /// which do not report it).
    pub timer_lateness: Latencies,
}

/// Extra election rounds among `events` up to `ready_at`: Raft terms with a split
/// vote and Paxos ballots pre-empted in a duel (distinct campaign terms minus one), or
/// ZAB FastLeaderElections started over (a server LOOKING again before the leader was
/// ready, e.g. a prospective leader that found no quorum of followers). A vote changed
/// inside one FastLeaderElection round is not a round: FLE converges within it.
/// Events of `except` (a failed leader, whose own campaigns are not the survivors'
/// rounds) are left out.
pub fn extra_rounds(events: &[Stamped], ready_at: Instant, except: Option<NodeId>) -> u32 {
    let mut terms = Vec::new();
    let mut lookings: BTreeMap<NodeId, u32> = BTreeMap::new();
    for s in events
        .iter()
        .filter(|s| s.at <= ready_at && Some(s.node) != except)
    {
        match s.event {
            Event::RoleChanged {
                role: Role::Candidate,
                term,
            } => terms.push(term),
            Event::RoleChanged {
                role: Role::Looking,
                ..
            } => *lookings.entry(s.node).or_default() += 1,
            _ => {}
        }
    }
    terms.sort_unstable();
    terms.dedup();
    let campaigns = terms.len() as u32;
    let restarts = lookings.values().copied().max().unwrap_or(0);
    campaigns.max(restarts).saturating_sub(1)
}

/// The latest leader to become ready among `events`, and its term.
pub fn latest_ready(events: &[Stamped]) -> Option<(NodeId, u64)> {
    events
        .iter()
        .filter_map(|s| match s.event {
            Event::LeaderReady { term } => Some((s.node, term)),
            _ => None,
        })
        .max_by_key(|&(_, term)| term)
}

/// How long to wait before reading a cluster's message counts so that every node has
/// shared its counters since (see [`runtime::host::PUBLISH_EVERY`]).
pub const COUNTS_SETTLE: Duration =
    runtime::host::PUBLISH_EVERY.saturating_add(Duration::from_millis(2));

/// A cluster's message counts after [`COUNTS_SETTLE`] and then at the first moment
/// every node has shared all it has sent (polled every millisecond, for at most a
/// second; then the counts as they are). On a loaded machine a node may share its
/// counters well after [`runtime::host::PUBLISH_EVERY`]; a fixed pause then missed
/// messages that had already been answered.
pub async fn settled_message_counts<C: Cluster>(cluster: &C) -> MessageCounts {
    tokio::time::sleep(COUNTS_SETTLE).await;
    let give_up = Instant::now() + Duration::from_secs(1);
    loop {
        let (counts, complete) = cluster.message_counts_if_complete();
        if complete || Instant::now() >= give_up {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits for the first ready leader of a cluster just started, and measures its
/// election from [`Cluster::started`]. The caller stops the cluster.
pub async fn cold_election_on<C: Cluster>(
    cluster: &C,
    timeout: Duration,
) -> Result<ElectionSample, MeasureError> {
    cluster
        .wait_ready(0, None, 0, timeout)
        .await
        .ok_or(MeasureError::Timeout(timeout, "a leader"))?;
    let events = cluster.bus().snapshot();
    let election = election_after(&events, cluster.started(), None, 0)
        .ok_or(MeasureError::Timeout(timeout, "a leader"))?;
    let ready_at = cluster.started() + election.ready;
    let extra_rounds = extra_rounds(&events, ready_at, None);
    // Nodes share their counters at most every PUBLISH_EVERY: counted at once, the
    // messages a node sent just before (a vote, an answer held for its fsync) would be
    // missing. After the wait the counts hold everything sent up to the ready leader,
    // the election's answers still in flight, and a heartbeat only if one falls in
    // those few milliseconds.
    Ok(ElectionSample {
        election,
        messages: settled_message_counts(cluster).await,
        extra_rounds,
        timer_lateness: cluster.bus().timer_lateness(),
    })
}

/// The failover writer's pause between tries while no node knows a leader: the
/// resolution of the "first commit" phase.
pub const FAILOVER_RETRY_PAUSE: Duration = Duration::from_millis(1);

/// The failover writer's per-try timeout: 20 ms on loopback, plus eight one-way
/// delays of the slowest link on a modelled network. A write needs up to four one-way
/// trips between nodes (a follower forwarding it, the leader's proposal and its
/// acknowledgement, the answer back); the rest is headroom for jitter. With a fixed
/// 20 ms every write on a WAN timed out before its quorum could answer, and every
/// failover trial was discarded waiting for steady writes.
pub fn failover_try_timeout(slowest_one_way: Duration) -> Duration {
    Duration::from_millis(20).saturating_add(slowest_one_way.saturating_mul(8))
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
    /// Extra election rounds among the surviving nodes between the fault and the new
    /// leader's readiness (see [`extra_rounds`]; the failed leader's own campaigns,
    /// e.g. an isolated ZAB leader looking for followers, are not counted).
    pub extra_rounds: u32,
    /// How late the nodes' timers fired in the trial (empty for node processes,
    /// which do not report it).
    pub timer_lateness: Latencies,
}

/// One acknowledged write: when it was acknowledged and by which node.
type Ack = (Instant, NodeId);

/// [`failover`] on a cluster just started; the caller stops the cluster. An isolated
/// leader is healed before this returns a sample.
pub async fn failover_on<C: Cluster>(
    cluster: &mut C,
    failure: Failure,
    timeout: Duration,
) -> Result<FailoverSample, MeasureError> {
    cluster
        .wait_ready(0, None, 0, timeout)
        .await
        .ok_or(MeasureError::Timeout(timeout, "a first leader"))?;
    // One closed-loop writer; a short per-try timeout so it moves on from a silent
    // leader quickly, and a short pause between tries while no node knows a leader
    // (both bound how precisely the client sees the new leader).
    let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let mut client = cluster.client();
    client.try_timeout = failover_try_timeout(cluster.slowest_one_way());
    client.retry_pause = FAILOVER_RETRY_PAUSE;
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
    let (old, old_term) = latest_ready(&cluster.bus().snapshot())
        .ok_or(MeasureError::Timeout(timeout, "the leader's ready event"))?;
    let old_addr = *cluster
        .client_addrs()
        .get(&old)
        .ok_or(MeasureError::Timeout(
            timeout,
            "the ready leader's client address",
        ))?;
    let cursor = cluster.bus().len();
    let tls = cluster.client_tls();
    // A transfer goes to the lowest-numbered other node: for ZAB that is the server
    // FastLeaderElection would pick last (ties go to the highest sid).
    let target = cluster
        .client_addrs()
        .keys()
        .copied()
        .find(|&id| id != old)
        .unwrap_or(old);
    let fault = match failure {
        Failure::Kill => cluster.kill(old).await,
        Failure::Isolate => cluster.isolate(old).await,
        Failure::Transfer => cluster.transfer(old, target).await,
    };
    let t0 = match fault {
        Ok(t0) => t0,
        Err(e) => {
            writer.abort();
            return Err(e.into());
        }
    };
    // What the isolated node knows committed once it is cut off: read before the
    // fault, the writes still in flight between that read and the cut would count
    // against it (one Paxos trial showed 30 under a loaded machine).
    let commit_before = match failure {
        Failure::Isolate => live_commit(old_addr, tls.as_ref()).await,
        Failure::Kill | Failure::Transfer => 0,
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
            cluster
                .verify_killed(old, old_addr)
                .await
                .map_err(MeasureError::FaultNotVerified)?;
        }
        Failure::Isolate => {
            let commit_after = live_commit(old_addr, tls.as_ref()).await;
            if commit_after > commit_before + 8 {
                return Err(MeasureError::FaultNotVerified(format!(
                    "isolated node {old} kept committing ({commit_before} -> {commit_after})"
                )));
            }
            cluster.heal().await.map_err(Into::into)?;
        }
        Failure::Transfer => {
            if new_leader != target {
                return Err(MeasureError::FaultNotVerified(format!(
                    "leadership went to node {new_leader}, not to the transfer's target {target}"
                )));
            }
        }
    }
    let events = cluster.bus().snapshot();
    let phases = failover_phases(&events, t0, old, old_term, first_write)
        .ok_or(MeasureError::Timeout(timeout, "the failover's events"))?;
    let extra_rounds = extra_rounds(events.get(cursor..).unwrap_or_default(), new.at, Some(old));
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
        extra_rounds,
        timer_lateness: cluster.bus().timer_lateness(),
    })
}

/// A node's commit index, asked through its client port (never stale). The client
/// port is not subject to the fault filter, so an isolated node still answers.
async fn live_commit(addr: std::net::SocketAddr, tls: Option<&runtime::tls::ClientTls>) -> u64 {
    runtime::client::status_with(addr, tls, Duration::from_secs(2))
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
    /// CPU time of every node and client during the counted period, if it could be
    /// read.
    pub cpu: Option<crate::cpu::CpuTime>,
}

/// [`throughput`] on a cluster just started; the caller stops the cluster.
pub async fn throughput_on<C: Cluster>(
    cluster: &C,
    workload: &crate::workload::Workload,
    timeout: Duration,
) -> Result<ThroughputSample, MeasureError> {
    throughput_routed_on(cluster, None, workload, timeout).await
}

/// [`throughput_on`]; with `masters` (Redis Cluster's initial masters), once every
/// master is ready, the clients split into one lane per master, each writing keys of
/// that master's slots ([`crate::loaded::redis_lanes`]).
pub async fn throughput_routed_on<C: Cluster>(
    cluster: &C,
    masters: Option<&[NodeId]>,
    workload: &crate::workload::Workload,
    timeout: Duration,
) -> Result<ThroughputSample, MeasureError> {
    let Some(ready) = cluster.wait_ready(0, None, 0, timeout).await else {
        return Err(MeasureError::Timeout(timeout, "a leader"));
    };
    let lanes = match masters {
        Some(masters) => {
            for &m in masters {
                cluster
                    .bus()
                    .wait_for(0, timeout, |s| {
                        s.node == m && matches!(s.event, Event::LeaderReady { .. })
                    })
                    .await
                    .ok_or(MeasureError::Timeout(timeout, "every master ready"))?;
            }
            crate::loaded::redis_lanes(masters)
        }
        None => vec![crate::workload::Lane {
            start: ready.node,
            keys: None,
        }],
    };
    let warm = crate::workload::Workload {
        duration: Duration::ZERO,
        ..workload.clone()
    };
    let tls = cluster.client_tls();
    let _ = crate::workload::run_lanes(cluster.client_addrs(), tls.as_ref(), &lanes, &warm).await;
    // The warm-up's clients have stopped: once every node has shared its counters,
    // none of the warm-up's messages is left to fall into the counted window.
    let before = settled_message_counts(cluster).await;
    let cpu = |c: &C| Some(crate::cpu::this_process()? + c.node_process_cpu()?);
    let cpu_before = cpu(cluster);
    let counted = crate::workload::Workload {
        warmup: Duration::ZERO,
        ..workload.clone()
    };
    let result =
        crate::workload::run_lanes(cluster.client_addrs(), tls.as_ref(), &lanes, &counted).await;
    // Read before the settling pause, which would only add idle heartbeats.
    let cpu_spent = cpu_before
        .zip(cpu(cluster))
        .map(|(before, after)| after.since(before));
    let messages = settled_message_counts(cluster).await.minus(&before);
    Ok(ThroughputSample {
        result,
        messages,
        cpu: cpu_spent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(ms: u64, node: NodeId, role: Role, term: u64, t0: Instant) -> Stamped {
        Stamped {
            at: t0 + Duration::from_millis(ms),
            node,
            event: Event::RoleChanged { role, term },
        }
    }

    #[test]
    fn extra_rounds_count_campaign_terms_and_restarted_elections() {
        let t0 = Instant::now();
        let ready = t0 + Duration::from_millis(100);
        // Raft: a split vote in term 1, won in term 2; a term-3 campaign after ready
        // does not count.
        let raft = [
            role(10, 1, Role::Candidate, 1, t0),
            role(11, 2, Role::Candidate, 1, t0),
            role(60, 2, Role::Candidate, 2, t0),
            role(150, 3, Role::Candidate, 3, t0),
        ];
        assert_eq!(extra_rounds(&raft, ready, None), 1);
        // ZAB: every server LOOKING once is one clean FastLeaderElection ...
        let zab = [
            role(0, 1, Role::Looking, 0, t0),
            role(0, 2, Role::Looking, 0, t0),
            role(0, 3, Role::Looking, 0, t0),
        ];
        assert_eq!(extra_rounds(&zab, ready, None), 0);
        // ... and a server LOOKING again before the leader was ready started over.
        let restarted = [zab.as_slice(), &[role(80, 3, Role::Looking, 0, t0)]].concat();
        assert_eq!(extra_rounds(&restarted, ready, None), 1);
    }
}
