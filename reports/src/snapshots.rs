//! The log-compaction benchmarks (`cwb bench --measure catchup,recovery,soak`):
//! their part of the results file and their section of the report. How each is
//! measured: docs/METHOD.md, "Snapshots: catch-up, recovery and soak".

use crate::document::{number, Document};
use serde::{Deserialize, Serialize};

/// Everything the compaction measures recorded; each list is empty when not measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotBench {
    /// A follower isolated while entries commit, then healed.
    #[serde(default)]
    pub catchup: Vec<Catchup>,
    /// A follower restarted with a log of a given length.
    #[serde(default)]
    pub recovery: Vec<Recovery>,
    /// Writes at full throughput for a duration, memory and disk sampled.
    #[serde(default)]
    pub soak: Vec<Soak>,
}

/// One catch-up: a follower of a 3-node cluster isolated while `entries` commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catchup {
    /// The protocol measured.
    pub protocol: String,
    /// Snapshot interval (0: no snapshots).
    pub snapshot_every: u64,
    /// Entries committed while the follower was isolated.
    pub entries: u64,
    /// How long committing them took (ms).
    pub write_ms: f64,
    /// Entries the follower lacked at the heal (leader's applied minus its own).
    pub behind: u64,
    /// From the heal to the follower having applied the leader's commit index (ms).
    pub catchup_ms: f64,
    /// Bytes every node sent on peer connections from the heal to the catch-up.
    pub bytes_sent: u64,
    /// Of those, the bytes of snapshot messages (Raft's InstallSnapshot, the pieces
    /// of a Paxos snapshot), and how many were sent.
    pub install_snapshot_bytes: u64,
    /// See `install_snapshot_bytes`.
    pub install_snapshots: u64,
}

/// One restart: a follower stopped with `log_entries` committed, then started again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The protocol measured.
    pub protocol: String,
    /// Snapshot interval (0: no snapshots).
    pub snapshot_every: u64,
    /// Entries committed before the restart.
    pub log_entries: u64,
    /// Bytes in the follower's data directory when it was restarted (WAL and snapshots).
    pub disk_bytes: u64,
    /// From the start of the node to it having applied the leader's commit index (ms).
    pub recovery_ms: f64,
}

/// One soak run: writes at full throughput, sampled periodically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Soak {
    /// The protocol measured.
    pub protocol: String,
    /// Snapshot interval (0: no snapshots).
    pub snapshot_every: u64,
    /// Closed-loop writers.
    pub clients: u32,
    /// How long the writes ran (ms).
    pub duration_ms: f64,
    /// The samples, the first at the start and the last at the end.
    pub samples: Vec<SoakSample>,
}

/// One sample of a soak run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakSample {
    /// Since the writes began (ms).
    pub t_ms: f64,
    /// Resident memory of the benchmark process (all nodes and clients), kB.
    pub rss_kb: u64,
    /// Bytes in the cluster's data directories (WALs and snapshots).
    pub disk_bytes: u64,
    /// Entries the leader had applied.
    pub applied: u64,
}

fn every(n: u64) -> String {
    if n == 0 {
        "off".to_string()
    } else {
        n.to_string()
    }
}

fn mib(bytes: u64) -> String {
    number(bytes as f64 / (1024.0 * 1024.0))
}

/// The report's section: a table per measure that was run.
pub(crate) fn section(doc: &mut Document, bench: &SnapshotBench, prefix: &str) {
    if bench.catchup.is_empty() && bench.recovery.is_empty() && bench.soak.is_empty() {
        return;
    }
    doc.heading(3, format!("{prefix}Snapshots and log compaction"));
    if !bench.catchup.is_empty() {
        doc.paragraph(
            "Catch-up: one follower of a 3-node cluster is isolated while the entries \
             commit, then healed; timed from the heal to the follower having applied the \
             leader's commit index. Bytes: everything the nodes sent on peer connections \
             in that time; snapshot messages are Raft's InstallSnapshot and the pieces \
             of a Paxos snapshot (SnapshotChunk).",
        );
        let rows = bench
            .catchup
            .iter()
            .map(|c| {
                vec![
                    c.protocol.clone(),
                    every(c.snapshot_every),
                    c.entries.to_string(),
                    c.behind.to_string(),
                    number(c.write_ms),
                    number(c.catchup_ms),
                    mib(c.bytes_sent),
                    format!(
                        "{} ({})",
                        mib(c.install_snapshot_bytes),
                        c.install_snapshots
                    ),
                ]
            })
            .collect();
        doc.table(
            &[
                "protocol",
                "snapshot every",
                "entries while isolated",
                "behind at heal",
                "writing ms",
                "catch-up ms",
                "MiB sent",
                "snapshot MiB (messages)",
            ],
            rows,
            2,
        );
    }
    if !bench.recovery.is_empty() {
        doc.paragraph(
            "Recovery: a follower of a 3-node cluster is stopped after the entries \
             committed and started again from its data directory; timed from the start \
             to it having applied the leader's commit index.",
        );
        let rows = bench
            .recovery
            .iter()
            .map(|r| {
                vec![
                    r.protocol.clone(),
                    every(r.snapshot_every),
                    r.log_entries.to_string(),
                    mib(r.disk_bytes),
                    number(r.recovery_ms),
                ]
            })
            .collect();
        doc.table(
            &[
                "protocol",
                "snapshot every",
                "log entries",
                "data dir MiB",
                "recovery ms",
            ],
            rows,
            2,
        );
    }
    for s in &bench.soak {
        doc.paragraph(format!(
            "Soak: {} with {} writers at full throughput for {} s, snapshot every {}. \
             Resident memory is the whole benchmark process (three nodes and the \
             clients); disk is the bytes in the three data directories.",
            s.protocol,
            s.clients,
            number(s.duration_ms / 1000.0),
            every(s.snapshot_every)
        ));
        let rows = s
            .samples
            .iter()
            .map(|p| {
                vec![
                    number(p.t_ms / 1000.0),
                    p.applied.to_string(),
                    number(p.rss_kb as f64 / 1024.0),
                    mib(p.disk_bytes),
                ]
            })
            .collect();
        doc.table(&["t s", "entries applied", "RSS MiB", "disk MiB"], rows, 0);
    }
}
