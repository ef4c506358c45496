//! The bench's two measures against a real ensemble: the closed-loop workload (the
//! shape of `drivers::workload`: C clients, each with its own connection to the
//! leader, putting P-byte values under the same 8-byte keys, one request in flight,
//! latency from send to acknowledgement) and the kill-the-leader failover (time from
//! the `SIGKILL` to the first acknowledged write sent after it).

use crate::ensemble::{Ensemble, PeerKind};
use crate::etcd::EtcdClient;
use crate::zk::ZkClient;
use crate::PeerError;
use drivers::workload::{key, Workload, WorkloadResult};
use runtime::events::Latencies;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one operation may take before it counts as failed (the protocols'
/// workload client waits as long).
pub const OP_DEADLINE: Duration = Duration::from_secs(5);
/// The session timeout a ZooKeeper client asks for.
pub const ZK_SESSION: Duration = Duration::from_secs(10);

/// A client connection of either system.
pub enum Conn {
    /// A ZooKeeper session.
    Zk(ZkClient),
    /// An etcd connection.
    Etcd(EtcdClient),
}

impl Conn {
    /// Connects to the server at `addr`.
    pub async fn connect(kind: PeerKind, addr: SocketAddr) -> Result<Conn, PeerError> {
        Ok(match kind {
            PeerKind::Zookeeper => Conn::Zk(ZkClient::connect(addr, ZK_SESSION).await?),
            PeerKind::Etcd => Conn::Etcd(EtcdClient::connect(addr).await?),
        })
    }

    /// Writes `value` under `key` (ZooKeeper: the znode `/k<key>`, created by this
    /// write when `first` says this client has not written the key before) and waits
    /// for the acknowledgement.
    pub async fn put(&mut self, key: &[u8], value: &[u8], first: bool) -> Result<(), PeerError> {
        match self {
            Conn::Zk(c) => {
                let path = format!("/k{}", String::from_utf8_lossy(key));
                if first {
                    c.put_new(&path, value).await
                } else {
                    c.put(&path, value).await
                }
            }
            Conn::Etcd(c) => c.put(key, value).await,
        }
    }

    /// Ends the connection politely (ZooKeeper: closes the session).
    pub async fn close(self) {
        if let Conn::Zk(c) = self {
            c.close().await;
        }
    }
}

/// What a throughput point measured.
pub struct PeerSample {
    /// The workload's result.
    pub result: WorkloadResult,
    /// CPU time of the servers and of this process over the counted period, when it
    /// could be read.
    pub cpu: Option<drivers::cpu::CpuTime>,
}

/// A warm-up run, then the counted run, against the leader `leader` of `ensemble`.
pub async fn throughput(
    ensemble: &Ensemble,
    leader: usize,
    w: &Workload,
) -> Result<PeerSample, PeerError> {
    let addr = ensemble
        .members
        .get(leader)
        .map(|m| m.client)
        .ok_or_else(|| PeerError::NotReady {
            system: ensemble.kind.as_str(),
            detail: format!("no server {leader}"),
        })?;
    let warm = Workload {
        duration: Duration::ZERO,
        ..w.clone()
    };
    closed_loop(ensemble.kind, addr, &warm).await;
    // This process (the clients) and the servers, as `drivers::measure` sums a
    // process cluster's nodes: `None` if any cannot be read.
    let cpu = || {
        let servers: Option<drivers::cpu::CpuTime> =
            ensemble.pids().into_iter().map(drivers::cpu::process).sum();
        Some(drivers::cpu::this_process()? + servers?)
    };
    let before = cpu();
    let counted = Workload {
        warmup: Duration::ZERO,
        ..w.clone()
    };
    let result = closed_loop(ensemble.kind, addr, &counted).await;
    let cpu = before.zip(cpu()).map(|(b, a)| a.since(b));
    Ok(PeerSample { result, cpu })
}

/// `w.clients` closed-loop clients, each on its own connection to `addr`.
pub async fn closed_loop(kind: PeerKind, addr: SocketAddr, w: &Workload) -> WorkloadResult {
    let value: Arc<[u8]> = vec![b'x'; w.value_bytes].into();
    let start = Instant::now();
    let counted_from = start + w.warmup;
    let end = counted_from + w.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..w.clients {
        let value = value.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::new();
            let (mut ops, mut errors, mut n) = (0u64, 0u64, 0u64);
            let mut conn: Option<Conn> = None;
            // The slots (`key`'s low 10 bits) this client has written: a ZooKeeper
            // client creates a key's znode on its first write, then sets it.
            let mut written = vec![false; 1024];
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let sent = Instant::now();
                let slot = (n & 0x3ff) as usize;
                let first = !written.get(slot).copied().unwrap_or(true);
                let ok = tokio::time::timeout(OP_DEADLINE, async {
                    if conn.is_none() {
                        conn = Some(Conn::connect(kind, addr).await?);
                    }
                    match conn.as_mut() {
                        Some(conn) => conn.put(&key(c, n), &value, first).await,
                        None => Ok(()),
                    }
                })
                .await;
                let ok = matches!(ok, Ok(Ok(())));
                if ok {
                    if let Some(w) = written.get_mut(slot) {
                        *w = true;
                    }
                }
                if !ok {
                    conn = None;
                }
                let done = Instant::now();
                if done >= end {
                    break;
                }
                if sent >= counted_from {
                    if ok {
                        ops += 1;
                        lat.record_summary_only(done - sent);
                    } else {
                        errors += 1;
                    }
                }
                if !ok {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            if let Some(conn) = conn {
                conn.close().await;
            }
            (ops, errors, lat)
        }));
    }
    tokio::time::sleep_until(end.into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut result = WorkloadResult::empty(w.duration);
    for t in tasks {
        if let Ok((ops, errors, lat)) = t.await {
            result.ops += ops;
            result.errors += errors;
            result.latency.merge(&lat);
            result.write_latency.merge(&lat);
        }
    }
    result
}

/// Writers per surviving server during a failover trial.
pub const FAILOVER_WRITERS_PER_SERVER: usize = 4;
/// How long a failover writer waits for one write before retrying (a write sent to a
/// follower whose leader is gone may never be answered).
pub const FAILOVER_ATTEMPT: Duration = Duration::from_millis(50);
/// How long a failover trial waits for the first write after the kill.
pub const FAILOVER_TIMEOUT: Duration = Duration::from_secs(15);

/// One kill-the-leader trial's figures, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct FailoverSample {
    /// From the kill to the first acknowledged write sent after it.
    pub total_ms: f64,
    /// From the last write acknowledged before the kill to that first write.
    pub unavailability_ms: f64,
}

/// Writes continuously through every server but the leader, kills the leader, and
/// times the first acknowledged write sent after the kill.
pub async fn failover(
    ensemble: &mut Ensemble,
    leader: usize,
    value_bytes: usize,
) -> Result<FailoverSample, PeerError> {
    let kind = ensemble.kind;
    let targets = ensemble.others(leader);
    let value: Arc<[u8]> = vec![b'x'; value_bytes].into();
    // (sent, acknowledged) of every acknowledged write.
    let acks: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (t, addr) in targets.iter().enumerate() {
        for w in 0..FAILOVER_WRITERS_PER_SERVER {
            let (addr, value, acks, stop) = (*addr, value.clone(), acks.clone(), stop.clone());
            let client = u32::try_from(t * FAILOVER_WRITERS_PER_SERVER + w).unwrap_or(0);
            tasks.push(tokio::spawn(async move {
                let mut conn: Option<Conn> = None;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let sent = Instant::now();
                    let attempt = tokio::time::timeout(FAILOVER_ATTEMPT, async {
                        if conn.is_none() {
                            conn = Some(Conn::connect(kind, addr).await?);
                        }
                        match conn.as_mut() {
                            // Failover writers start on a fresh ensemble: one key
                            // each, created by the first write.
                            Some(c) => c.put(&key(client, 0), &value, n == 1).await,
                            None => Ok(()),
                        }
                    })
                    .await;
                    if matches!(attempt, Ok(Ok(()))) {
                        if let Ok(mut a) = acks.lock() {
                            a.push((sent, Instant::now()));
                        }
                    } else {
                        conn = None;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }));
        }
    }
    let acked_since = |from: Instant| {
        acks.lock()
            .map(|a| a.iter().filter(|(s, _)| *s >= from).map(|(_, d)| *d).min())
            .unwrap_or(None)
    };
    // Every writer's first write may create a session: wait for steady writes.
    let warm = Instant::now();
    let steady = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if acked_since(warm + Duration::from_millis(100)).is_some() {
            break true;
        }
        if warm.elapsed() > Duration::from_secs(10) {
            break false;
        }
    };
    let outcome = if steady {
        let killed = Instant::now();
        ensemble.kill(leader);
        loop {
            if let Some(first) = acked_since(killed) {
                let last_before = acks
                    .lock()
                    .map(|a| a.iter().map(|(_, d)| *d).filter(|d| *d < killed).max())
                    .unwrap_or(None)
                    .unwrap_or(killed);
                break Ok(FailoverSample {
                    total_ms: (first - killed).as_secs_f64() * 1000.0,
                    unavailability_ms: (first - last_before).as_secs_f64() * 1000.0,
                });
            }
            if killed.elapsed() > FAILOVER_TIMEOUT {
                break Err(PeerError::Timeout(
                    FAILOVER_TIMEOUT,
                    "a write after the leader's kill".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    } else {
        Err(PeerError::Timeout(
            Duration::from_secs(10),
            "steady writes before the kill".into(),
        ))
    };
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    outcome
}
