//! The client workload shared by every benchmark: C closed-loop clients, each sending
//! (with [`Workload::read_percent`] of them reads, a `get` of one of its own keys, served
//! by the run's read path) one put of a P-byte value with an 8-byte key (as etcd's benchmark tool does, a
//! [`KvOp::Set`](kv::KvOp::Set): like etcd's put without `prev_kv`, the answer
//! carries no value), waiting for the answer, then sending the next. Latency is
//! measured per operation, client side, from send to acknowledged commit.
//!
//! Clients share connections, [`CLIENTS_PER_CONNECTION`] to a connection (like etcd's
//! benchmark tool, whose `--clients` are multiplexed over `--conns`): each client still
//! waits for its own answer before its next request, but the requests that meet on a
//! connection travel in one write and their answers in one read. All clients run in
//! the benchmark's process on the same cores as the nodes, so a syscall pair per
//! operation on the client side would be measured as the protocols' cost.

use bytes::Bytes;
use protocols::NodeId;
use runtime::client::SharedClient;
use runtime::events::Latencies;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shape of a closed-loop run.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Concurrent clients.
    pub clients: u32,
    /// Value size in bytes.
    pub value_bytes: usize,
    /// Operations before this long are not counted.
    pub warmup: Duration,
    /// Counted period.
    pub duration: Duration,
    /// Percent of operations that are reads (`get` of a key the client wrote, served
    /// by the run's read path, `protocols::read`); 0 is the write-only workload.
    pub read_percent: u32,
    /// How many clients share one connection: [`CLIENTS_PER_CONNECTION`] normally, 1
    /// when the run compares with systems whose clients each hold their own connection
    /// (`cwb bench --peers`).
    pub clients_per_connection: u32,
    /// Reads go to every node in turn (client `c` reads at the `c % n`-th node) while
    /// writes go to the lane's node: for read paths a follower serves itself
    /// (ZooKeeper's local reads and `sync`), whose point is to spread reads over the
    /// ensemble. Otherwise reads go where writes go.
    pub read_from_every_node: bool,
}

/// What a closed-loop run measured.
#[derive(Clone, Debug)]
pub struct WorkloadResult {
    /// Operations acknowledged in the counted period.
    pub ops: u64,
    /// Failed operations (timeouts, refusals) in the counted period.
    pub errors: u64,
    /// The counted period as actually run.
    pub elapsed: Duration,
    /// Per-operation latency (summary only).
    pub latency: Latencies,
    /// Of `ops`, the reads.
    pub reads: u64,
    /// Latency of the reads alone, and of the writes alone.
    pub read_latency: Latencies,
    /// See `read_latency`.
    pub write_latency: Latencies,
}

impl WorkloadResult {
    /// Nothing acknowledged yet over a run of `elapsed`: the sum the clients' counts
    /// are added to.
    pub fn empty(elapsed: Duration) -> WorkloadResult {
        WorkloadResult {
            ops: 0,
            errors: 0,
            elapsed,
            latency: Latencies::new(),
            reads: 0,
            read_latency: Latencies::new(),
            write_latency: Latencies::new(),
        }
    }

    /// Acknowledged operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How many closed-loop clients share one connection per node.
pub const CLIENTS_PER_CONNECTION: u32 = 16;

/// An 8-byte key for operation `n` of client `c`: the whole run writes a fixed key
/// space of 64k slots (client `c` cycles through 1024 of them; with more than 64
/// clients they overlap), so the state machine reaches a steady size instead of
/// growing with the run's length. The slot in lower-case hex.
pub fn key(c: u32, n: u64) -> Bytes {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = (u64::from(c) << 10 | (n & 0x3ff)) & 0xffff;
    let mut k = [0u8; 8];
    for (i, d) in k.iter_mut().enumerate() {
        *d = HEX[((v >> (28 - 4 * i)) & 0xf) as usize];
    }
    Bytes::copy_from_slice(&k)
}

/// Whether operation `n` of client `c` is a read under `read_percent`: a fixed
/// pseudo-random choice (SplitMix64 of the pair), the same in every run, so every
/// protocol and read path gets the same sequence of operations.
pub fn is_read(c: u32, n: u64, read_percent: u32) -> bool {
    if read_percent == 0 {
        return false;
    }
    let mut x = (u64::from(c) << 40) ^ n;
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    x % 100 < u64::from(read_percent)
}

/// Runs the workload against the cluster whose client ports are `nodes`. Every
/// client starts at `leader`: the clients of all three protocols
/// then send straight to the leader, as Raft's and Paxos's end up doing after one
/// `NotLeader` answer. (A ZAB follower would serve them too, by forwarding each
/// command to its leader as ZooKeeper does; that extra hop is not the commit path
/// being compared.)
pub async fn run(
    nodes: &BTreeMap<NodeId, SocketAddr>,
    leader: NodeId,
    w: &Workload,
) -> WorkloadResult {
    run_with(nodes, None, leader, w).await
}

/// [`run`], over TLS to the client ports when `tls` is given.
pub async fn run_with(
    nodes: &BTreeMap<NodeId, SocketAddr>,
    tls: Option<&runtime::tls::ClientTls>,
    leader: NodeId,
    w: &Workload,
) -> WorkloadResult {
    let lane = Lane {
        start: leader,
        keys: None,
    };
    run_lanes(nodes, tls, &[lane], w).await
}

/// Where a share of the clients sends and which keys it writes: a cluster that serves
/// each key at one node (Redis Cluster's masters, each serving its hash slots) gets one
/// lane per serving node, so that the load spreads over all of them and each client
/// finds its keys' node at once (a client that keeps a slot map). A client still
/// follows redirections (`NotLeader`, Redis's `MOVED`) if its keys move.
#[derive(Clone, Debug)]
pub struct Lane {
    /// The node the lane's clients send to first.
    pub start: NodeId,
    /// The lane's keys, cycled through by each client from its own offset; `None`:
    /// the shared key space of [`key`].
    pub keys: Option<Arc<[Bytes]>>,
}

/// The 8-byte keys of [`key`]'s 64k key space that `keep` accepts, in order: the keys
/// of one lane (for Redis Cluster, those whose hash slot a given master serves).
pub fn keys_where(keep: impl Fn(&[u8]) -> bool) -> Arc<[Bytes]> {
    (0..64u32)
        .flat_map(|c| (0..1024u64).map(move |n| key(c, n)))
        .filter(|k| keep(k))
        .collect::<Vec<_>>()
        .into()
}

/// [`run_with`] over several [`Lane`]s: client `c` belongs to lane `c % lanes`, the
/// clients of a lane share their connections ([`Workload::clients_per_connection`]).
pub async fn run_lanes(
    nodes: &BTreeMap<NodeId, SocketAddr>,
    tls: Option<&runtime::tls::ClientTls>,
    lanes: &[Lane],
    w: &Workload,
) -> WorkloadResult {
    let fallback = [Lane {
        start: nodes.keys().next().copied().unwrap_or(1),
        keys: None,
    }];
    let lanes = if lanes.is_empty() {
        &fallback[..]
    } else {
        lanes
    };
    let lane_count = lanes.len() as u32;
    let value = Bytes::from(vec![b'x'; w.value_bytes]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let per_connection = w.clients_per_connection.max(1);
    // shared[lane][i]: the connections of a lane's clients, `per_connection` to each.
    let shared: Vec<Vec<Arc<SharedClient>>> = lanes
        .iter()
        .enumerate()
        .map(|(l, lane)| {
            let in_lane = (w.clients + lane_count - 1 - l as u32) / lane_count;
            (0..in_lane.div_ceil(per_connection))
                .map(|_| {
                    let mut client = SharedClient::new(nodes.clone()).with_tls(tls.cloned());
                    client.deadline = Duration::from_secs(5);
                    client.start_at(lane.start);
                    Arc::new(client)
                })
                .collect()
        })
        .collect();
    // With reads spread over the nodes: one shared connection per node for them, kept
    // on that node (a node that serves reads itself never redirects them).
    let readers: Vec<Arc<SharedClient>> = if w.read_from_every_node && w.read_percent > 0 {
        nodes
            .keys()
            .map(|&id| {
                let mut client = SharedClient::new(nodes.clone()).with_tls(tls.cloned());
                client.deadline = Duration::from_secs(5);
                client.start_at(id);
                Arc::new(client)
            })
            .collect()
    } else {
        Vec::new()
    };
    // Every connection is open before the clock starts: a measured window without a
    // warm-up of its own (the bench warms the cluster in a run of its own) would
    // otherwise count each connection's set-up in its first requests' latency, and
    // the clients sharing a connection raced to open one each (of 256 at once, some
    // waited a second for theirs).
    let mut opening = tokio::task::JoinSet::new();
    for client in shared.iter().flatten().chain(readers.iter()) {
        let client = Arc::clone(client);
        opening.spawn(async move { client.connect().await });
    }
    // A connection that did not open is opened by its clients' first request, as
    // before.
    while opening.join_next().await.is_some() {}
    let start = Instant::now();
    let counted_from = start + w.warmup;
    let end = counted_from + w.duration;
    // Each closed-loop client is a client of the state machine with its own session.
    let sessions = kv::Session::new_client_id();
    for c in 0..w.clients {
        let lane = (c % lane_count) as usize;
        let Some(client) = shared
            .get(lane)
            .and_then(|s| s.get(((c / lane_count) / per_connection) as usize))
            .cloned()
        else {
            continue;
        };
        let lane_keys = lanes.get(lane).and_then(|l| l.keys.clone());
        let key = move |c: u32, n: u64| match &lane_keys {
            Some(keys) if !keys.is_empty() => {
                // Each client of the lane from its own offset, 1024 keys apart.
                let i = (u64::from(c / lane_count) << 10).wrapping_add(n);
                keys[(i % keys.len() as u64) as usize].clone()
            }
            _ => key(c, n),
        };
        let reader = readers
            .get(c as usize % readers.len().max(1))
            .cloned()
            .unwrap_or_else(|| client.clone());
        let session_client = sessions.wrapping_add(u64::from(c)).max(1);
        let value = value.clone();
        let stop = stop.clone();
        let read_percent = w.read_percent;
        tasks.push(tokio::spawn(async move {
            // One histogram recorded per operation, by kind (each is about 360 KB, so a
            // record is a cache miss): the overall one is their sum, made at the end.
            let mut read_lat = Latencies::new();
            let mut write_lat = Latencies::new();
            let (mut ops, mut reads, mut errors, mut n) = (0u64, 0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let sent = Instant::now();
                let read = is_read(c, n, read_percent);
                let ok = if read {
                    // A read of a key this client writes; reads need no session.
                    let op = kv::KvOp::Get { key: key(c, n) };
                    reader.kv(kv::Session::NONE, op).await.is_ok()
                } else {
                    let session = kv::Session {
                        client: session_client,
                        seq: n,
                    };
                    client.set(session, key(c, n), value.clone()).await.is_ok()
                };
                let done = Instant::now();
                if done >= end {
                    break;
                }
                if sent >= counted_from {
                    if ok {
                        ops += 1;
                        if read {
                            reads += 1;
                            read_lat.record_summary_only(done - sent);
                        } else {
                            write_lat.record_summary_only(done - sent);
                        }
                    } else {
                        errors += 1;
                    }
                }
            }
            (ops, reads, errors, read_lat, write_lat)
        }));
    }
    tokio::time::sleep_until((end).into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut result = WorkloadResult::empty(w.duration);
    for t in tasks {
        if let Ok((ops, reads, errors, read_lat, write_lat)) = t.await {
            result.ops += ops;
            result.reads += reads;
            result.errors += errors;
            result.latency.merge(&read_lat);
            result.latency.merge(&write_lat);
            result.read_latency.merge(&read_lat);
            result.write_latency.merge(&write_lat);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_eight_hex_digits_over_64k_slots() {
        assert_eq!(&key(0, 1)[..], b"00000001");
        assert_eq!(&key(1, 1)[..], b"00000401");
        assert_eq!(&key(63, 0x3ff)[..], b"0000ffff");
        assert_eq!(&key(64, 0x401)[..], b"00000001", "wraps to 64k slots");
    }

    #[test]
    fn the_read_share_is_close_to_the_percent_asked_and_fixed() {
        for percent in [0, 5, 50, 95, 100] {
            let reads = (1..=10_000).filter(|&n| is_read(3, n, percent)).count();
            let want = 100 * percent as usize;
            assert!(reads.abs_diff(want) <= 300, "{percent}%: {reads} of 10000");
        }
        assert_eq!(is_read(1, 7, 50), is_read(1, 7, 50));
    }
}
