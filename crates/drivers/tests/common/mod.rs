//! Helpers shared by the loopback snapshot tests (`snapshot.rs`, `paxos_snapshot.rs`,
//! `snapshot_chunks.rs`): what a node has applied, waiting for it to catch up, and the
//! files in a data directory.

#![allow(dead_code)] // each test file uses its own share

use bytes::Bytes;
use drivers::cluster::LocalCluster;
use protocols::{NodeId, Protocol};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a test waits for a node to catch up.
pub const WAIT: Duration = Duration::from_secs(30);

/// The key of write `i`.
pub fn key(i: u32) -> Bytes {
    Bytes::from(format!("k{i:04}"))
}

/// The stored snapshot files in `dir`, oldest first: not a `.tmp` one still being
/// written in the background.
pub fn snapshots(dir: &Path) -> Vec<String> {
    files(dir, "snap-")
        .into_iter()
        .filter(|n| n.ends_with(".snap"))
        .collect()
}

/// The stored snapshot files in `dir` once no snapshot is being written (no `.tmp`
/// file, and the older files past `storage`'s two already deleted), waiting at most
/// `WAIT` for the background writer to finish the one it may be writing.
pub async fn settled_snapshots(dir: &Path) -> Vec<String> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let all = files(dir, "snap-");
        let done = all.iter().all(|n| n.ends_with(".snap")) && all.len() <= 2;
        if done || std::time::Instant::now() > deadline {
            return snapshots(dir);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The names in `dir` that start with `prefix`, sorted.
pub fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Entries (slots) node `id` has applied, per its latest status.
pub fn applied<P: Protocol>(cluster: &LocalCluster<P>, id: NodeId) -> u64 {
    cluster
        .node(id)
        .and_then(|h| h.status())
        .map_or(0, |s| s.applied)
}

/// Waits (up to [`WAIT`]) until node `id` has applied at least `target` entries.
pub async fn caught_up<P: Protocol>(cluster: &LocalCluster<P>, id: NodeId, target: u64) {
    let deadline = Instant::now() + WAIT;
    while applied(cluster, id) < target {
        assert!(
            Instant::now() < deadline,
            "node {id} applied {} of {target} entries",
            applied(cluster, id)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
