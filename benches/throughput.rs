//! Commit throughput of all three protocols on a real loopback TCP cluster: C
//! closed-loop clients putting 256-byte values (docs/DESIGN.md, "commit throughput"; the
//! shape of [`drivers::workload::Workload`] and of `cwb bench --measure throughput`).
//!
//! Each benchmark starts ONE 3-node in-process cluster (real sockets, WAL files in a
//! temporary directory, `fsync = batch`, default timing), waits for a ready leader and
//! connects C clients, each with one acknowledged warm-up put (so finding the leader
//! and connecting is not counted). As in `cwb bench`, clients start at the leader that
//! became ready and keys are the workload's ([`drivers::workload::key`]); unlike it,
//! each client has a connection of its own. Every criterion iteration is then a fixed number of
//! operations ([`ops_per_iteration`]) shared by the C clients: each client takes the
//! next operation as soon as its previous put is acknowledged (closed loop), and the
//! iteration's measured time is first operation sent -> last operation acknowledged.
//! Criterion gets those durations through `iter_custom` and reports them as
//! operations per second (`Throughput::Elements`). The cluster is started lazily, on
//! the benchmark's first iteration, so a filtered-out benchmark starts nothing.

/// The allocator `cwb` runs with (src/main.rs), so both measure the same hot path.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use drivers::cluster::{ClusterOptions, LocalCluster};
use drivers::workload::key;
use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::zab::Zab;
use protocols::{NodeId, Protocol};
use runtime::client::Client;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// Cluster size.
const NODES: u64 = 3;
/// Value size of every put, in bytes.
const VALUE_BYTES: usize = 256;
/// Closed-loop client counts measured.
const CLIENTS: [u32; 2] = [1, 64];
/// How long to wait for the first leader, and for one put (the client retries across
/// nodes until then).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Operations in one criterion iteration: 16 per client, so that the tail of an
/// iteration (clients running out of work one by one) stays a small part of it.
fn ops_per_iteration(clients: u32) -> u64 {
    16 * u64::from(clients)
}

/// C connected clients of one cluster, kept across criterion's calls.
struct ClosedLoop {
    /// One client per closed loop, each already talking to the leader.
    clients: Vec<Client>,
    /// The value every put writes.
    value: Bytes,
    /// Operations issued so far by each client, for its keys.
    issued: Vec<u64>,
}

impl ClosedLoop {
    /// Connects `clients` clients to the cluster, each with one acknowledged put.
    async fn connect<P: Protocol>(
        cluster: &LocalCluster<P>,
        leader: NodeId,
        clients: u32,
    ) -> Result<ClosedLoop, String> {
        let value = Bytes::from(vec![b'x'; VALUE_BYTES]);
        let mut tasks = Vec::new();
        for c in 0..clients as usize {
            let mut client = cluster.client();
            client.deadline = TIMEOUT;
            client.start_at(leader);
            let value = value.clone();
            tasks.push(tokio::spawn(async move {
                client
                    .set(key(c as u32, 0), value)
                    .await
                    .map(|()| client)
                    .map_err(|e| format!("warm-up put of client {c}: {e}"))
            }));
        }
        let mut connected = Vec::new();
        for t in tasks {
            connected.push(t.await.map_err(|e| format!("client task: {e}"))??);
        }
        Ok(ClosedLoop {
            issued: vec![1; connected.len()],
            clients: connected,
            value,
        })
    }

    /// Runs `ops` puts over all clients in closed loop; returns first sent -> last
    /// acknowledged.
    async fn run(&mut self, ops: u64) -> Result<Duration, String> {
        let remaining = Arc::new(AtomicU64::new(ops));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (c, mut client) in self.clients.drain(..).enumerate() {
            let remaining = remaining.clone();
            let value = self.value.clone();
            let mut n = self.issued.get(c).copied().unwrap_or(0);
            tasks.push(tokio::spawn(async move {
                while remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                    .is_ok()
                {
                    n += 1;
                    if let Err(e) = client.set(key(c as u32, n), value.clone()).await {
                        return Err(format!("put {n} of client {c}: {e}"));
                    }
                }
                Ok((client, n))
            }));
        }
        let mut finished = Vec::with_capacity(tasks.len());
        for t in tasks {
            finished.push(t.await.map_err(|e| format!("client task: {e}"))??);
        }
        let elapsed = start.elapsed();
        (self.clients, self.issued) = finished.into_iter().unzip();
        Ok(elapsed)
    }
}

/// A running cluster with its closed-loop clients and the directory it lives in.
struct Running<P: Protocol> {
    /// The cluster.
    cluster: LocalCluster<P>,
    /// Its connected clients.
    clients: ClosedLoop,
    /// Holds the WAL directories until the cluster is shut down.
    _dir: TempDir,
}

/// Starts a cluster of `P`, waits for a ready leader, connects `clients` clients.
async fn start<P: Protocol>(clients: u32) -> Result<Running<P>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let opts = ClusterOptions::new(NODES, dir.path().to_path_buf());
    let cluster = LocalCluster::<P>::start(opts)
        .await
        .map_err(|e| format!("cluster start: {e}"))?;
    let Some(ready) = cluster.wait_ready(0, None, 0, TIMEOUT).await else {
        cluster.shutdown().await;
        return Err(format!("no leader ready within {TIMEOUT:?}"));
    };
    match ClosedLoop::connect(&cluster, ready.node, clients).await {
        Ok(clients) => Ok(Running {
            cluster,
            clients,
            _dir: dir,
        }),
        Err(e) => {
            cluster.shutdown().await;
            Err(e)
        }
    }
}

/// Registers `throughput/put_256B/<protocol>/c<clients>` in `group` for protocol `P`.
fn register<P: Protocol>(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, clients: u32) {
    let ops = ops_per_iteration(clients);
    group.throughput(Throughput::Elements(ops));
    let mut running: Option<Running<P>> = None;
    group.bench_function(BenchmarkId::new(P::NAME, format!("c{clients}")), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut r = match running.take() {
                    Some(r) => r,
                    None => match start::<P>(clients).await {
                        Ok(r) => r,
                        Err(e) => panic!("{} c={clients}: {e}", P::NAME),
                    },
                };
                let measured = r.clients.run(iters.saturating_mul(ops)).await;
                running = Some(r);
                match measured {
                    Ok(elapsed) => elapsed,
                    Err(e) => panic!("{} c={clients}: {e}", P::NAME),
                }
            })
        })
    });
    if let Some(r) = running.take() {
        rt.block_on(r.cluster.shutdown());
    }
}

fn throughput(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build the tokio runtime: {e}"),
    };
    let mut group = c.benchmark_group(format!("throughput/put_{VALUE_BYTES}B"));
    group.sampling_mode(SamplingMode::Flat);
    for clients in CLIENTS {
        register::<Raft>(&mut group, &rt, clients);
        register::<Zab>(&mut group, &rt, clients);
        register::<Paxos>(&mut group, &rt, clients);
    }
    group.finish();
}

/// Small samples and short times (2-core machine); command-line flags such as
/// `--measurement-time` or `--quick` override them.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = throughput
}
criterion_main!(benches);
