//! The client workload shared by every benchmark: C closed-loop clients, each sending
//! one put of a P-byte value with an 8-byte key (as etcd's benchmark tool does), waiting
//! for the answer, then sending the next. Latency is measured per operation, client
//! side, from send to acknowledged commit.

use crate::client::Client;
use crate::metrics::Latencies;
use bytes::Bytes;
use protocols::NodeId;
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
}

impl WorkloadResult {
    /// Acknowledged operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// An 8-byte key for operation `n` of client `c` (keys spread over 64k slots).
fn key(c: u32, n: u64) -> Bytes {
    Bytes::from(format!(
        "{:08x}",
        (u64::from(c) << 16 | (n & 0xffff)) & 0xffff_ffff
    ))
}

/// Runs the workload against the cluster whose client ports are `nodes`.
pub async fn run(nodes: &BTreeMap<NodeId, SocketAddr>, w: &Workload) -> WorkloadResult {
    let value = Bytes::from(vec![b'x'; w.value_bytes]);
    let start = Instant::now();
    let counted_from = start + w.warmup;
    let end = counted_from + w.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..w.clients {
        let mut client = Client::new(nodes.clone());
        client.deadline = Duration::from_secs(5);
        let value = value.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::new();
            let (mut ops, mut errors, mut n) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let sent = Instant::now();
                let ok = client.put(key(c, n), value.clone()).await.is_ok();
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
            }
            (ops, errors, lat)
        }));
    }
    tokio::time::sleep_until((end).into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut result = WorkloadResult {
        ops: 0,
        errors: 0,
        elapsed: w.duration,
        latency: Latencies::new(),
    };
    for t in tasks {
        if let Ok((ops, errors, lat)) = t.await {
            result.ops += ops;
            result.errors += errors;
            result.latency.merge(&lat);
        }
    }
    result
}
